"""SDSA and the SDT-V1 backbone against hand-worked cases of the official formulas
(../shared/reference/statten-official.md), not against the modules' own output."""

import math

import pytest
import torch

from ds2ta import DS2TA, make_config
from ds2ta.attention import sdsa
from ds2ta.neuron import LIF
from ds2ta.sdt import grid_maxpool, head_token_maxpool

BN = 1 / math.sqrt(1 + 1e-5)  # an eval-mode BN with unit statistics and affine scales x by this


def _t(rows):  # tokens x channels for one step of one sample -> (1, 1, N, D)
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_sdsa_two_steps_by_hand():
    # t0: K*V = [[1,0],[0,1],[1,0]] sums to (2, 1): LIF(tau 2) v = 1.0 and 0.5, both >= 0.5 -> spike
    # t1: K*V sums to (1, 0): v = 0.5 (reset after the spike) -> spike; v = 0 -> none
    q = torch.cat([_t([[1, 0], [1, 1], [0, 1]]), _t([[1, 1], [0, 1], [1, 1]])])
    k = torch.cat([_t([[1, 1], [0, 1], [1, 0]]), _t([[1, 0], [0, 0], [0, 0]])])
    v = torch.cat([_t([[1, 0], [1, 1], [1, 1]]), _t([[1, 0], [0, 0], [1, 1]])])
    z = sdsa(q, k, v, LIF(2.0, 0.5))
    assert torch.equal(z[0, 0], torch.tensor([[1., 0], [1, 1], [0, 1]]))  # = Q[0]: both channels fired
    assert torch.equal(z[1, 0], torch.tensor([[1., 0], [0, 0], [1, 0]]))  # only channel 0 fired


def test_sdsa_leak_keeps_a_sub_threshold_sum():
    # a token sum of 1 every step, threshold 0.8: v = 0.5 (no spike), then v = 0.5 + (1 - 0.5) / 2
    # = 0.75 (no), then 0.875 -> a spike at t2: the talking-heads LIF keeps its state across steps
    q = torch.ones(3, 1, 1, 1)
    kv = torch.ones(3, 1, 1, 1)
    z = sdsa(q, kv, kv, LIF(2.0, 0.8))
    assert z.flatten().tolist() == [0.0, 0.0, 1.0]


def test_grid_maxpool_is_a_3x3_or_on_the_token_grid():
    x = torch.zeros(1, 1, 16, 1)
    x[0, 0, 5, 0] = 1  # row 1, col 1 of a 4 x 4 grid
    got = grid_maxpool(x, 4)[0, 0, :, 0].nonzero().flatten().tolist()
    assert got == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    x = torch.zeros(1, 1, 16, 1)
    x[0, 0, 15, 0] = 1  # corner: only its 2 x 2 neighbourhood
    assert grid_maxpool(x, 4)[0, 0, :, 0].nonzero().flatten().tolist() == [10, 11, 14, 15]


def test_sdsa_with_the_dvs_pool_by_hand():
    # 3 x 3 grid, one channel: K*V = 1 at token 0 -> pooled {0, 1, 3, 4}: sum 4 -> spike;
    # Q = 1 at token 8 -> Z = Q -> pooled {4, 5, 7, 8}. Without the pool the sum is 1 (still a spike).
    q, kv = torch.zeros(1, 1, 9, 1), torch.zeros(1, 1, 9, 1)
    q[0, 0, 8], kv[0, 0, 0] = 1, 1
    z = sdsa(q, kv, kv, LIF(2.0, 0.5), pool=lambda t: grid_maxpool(t, 3))
    assert z[0, 0, :, 0].nonzero().flatten().tolist() == [4, 5, 7, 8]
    assert sdsa(q, kv, kv, LIF(2.0, 0.5))[0, 0, :, 0].nonzero().flatten().tolist() == [8]


def _unit_bn(bn):
    with torch.no_grad():
        bn.running_mean.zero_(), bn.running_var.fill_(1), bn.weight.fill_(1), bn.bias.zero_()


def test_statten_dvs_gate_and_membrane_shortcut_by_hand(monkeypatch):
    """``x + BN(W_o (z * x_pool + x_pool) + b_o)`` with W_o = I, b_o = 0 and unit BN."""
    m = DS2TA(make_config("tiny-dvs", embed_dim=8, heads=1, backbone="sdt", attention="statten")).eval()
    blk = m.blocks[0].attn
    assert blk.dvs and m.cfg.grid == 4
    with torch.no_grad():
        blk.proj.linear.weight.copy_(torch.eye(8)), blk.proj.linear.bias.zero_()
    _unit_bn(blk.proj.bn)
    T = 2
    x = torch.zeros(T, 1, 16, 8)
    x[:, 0, 5, 0] = 2.0  # shortcut LIF: v = 2 / 2 = 1 >= 1 -> a spike at token 5 every step
    current = torch.zeros(T, 1, 16, 8)
    current[:, 0, [0, 15], 0] = 1.0  # attention LIF (threshold 0.5): v = 0.5 -> z = 1 at tokens 0, 15
    monkeypatch.setattr(blk.core, "attend", lambda q, k, v: current)
    out = blk(x)
    gated = torch.zeros(16)
    gated[[1, 2, 4, 5, 6, 8, 9, 10]] = 1  # x_pool around token 5, z = 0 there
    gated[0] = 2  # z = 1 and x_pool = 1: 1 * 1 + 1; token 15: z = 1 but x_pool = 0 -> 0
    for t in range(T):
        torch.testing.assert_close(out[t, 0, :, 0], x[t, 0, :, 0] + gated * BN)
        torch.testing.assert_close(out[t, 0, :, 1:], torch.zeros(16, 7))


def test_sdt_mlp_adds_to_the_membrane_without_a_lif():
    m = DS2TA(make_config("tiny", backbone="sdt")).eval()
    mlp = m.blocks[0].mlp
    with torch.no_grad():
        mlp.fc2.linear.weight.zero_(), mlp.fc2.linear.bias.copy_(torch.linspace(-0.3, 0.4, 64))
    _unit_bn(mlp.fc2.bn)
    x = torch.randn(4, 2, 16, 64) * 3
    torch.testing.assert_close(mlp(x), x + torch.linspace(-0.3, 0.4, 64) * BN)  # negative, real values


def test_sdt_head_fires_on_the_token_mean_of_membranes():
    # mean over tokens 2.0 -> LIF(tau 2, threshold 1): v = 1 -> spike every step -> logits = W 1 + b
    m = DS2TA(make_config("tiny", backbone="sdt")).eval()
    x = torch.zeros(4, 1, 16, 64)
    x[:, :, :8, :3] = 4.0  # half of the tokens at 4: mean 2 on channels 0-2, 0 elsewhere
    logits = m.forward_head(x)
    w, b = m.head.weight.detach(), m.head.bias.detach()
    torch.testing.assert_close(logits[0], w[:, :3].sum(1) + b)


def test_sdt_spikformer_difference_is_the_stream():
    """Spikformer's stream holds spike counts (integers >= 0); SDT's holds membranes (any real)."""
    torch.manual_seed(0)
    x = torch.rand(2, 1, 8, 8) * 3
    f = DS2TA(make_config("tiny")).eval().forward_features(x)
    s = DS2TA(make_config("tiny", backbone="sdt")).eval().forward_features(x)
    assert torch.equal(f, f.round()) and f.min() >= 0
    assert s.min() < 0 and not torch.equal(s, s.round())


def test_dvs_pool_needs_the_sdt_block():
    with pytest.raises(ValueError, match="dvs_pool=True needs backbone='sdt'"):
        make_config("tiny-dvs", dvs_pool=True)
    assert make_config("statten-dvs").dvs_pool and not make_config("statten-cifar10").dvs_pool
    assert make_config("statten-dvs").attn_scale == 1 / (8 * 8 * 5)  # 1 / (H * H * chunk)
    assert make_config("statten-cifar10").attn_scale == 1 / 8  # 1 / H


# -- SDSA's DVS max-pool as the official code applies it (issue 21) ---------------------------------------
def _official_pool(x: torch.Tensor, heads: int) -> torch.Tensor:
    """The official code's pooling written out: tokens (T, B, N, D) -> (T, B, heads, N, hd) with channel
    c = h * hd + d, torch's own ``MaxPool3d((1, 3, 3), 1, (0, 1, 1))`` on that 5-D tensor, and back."""
    T, B, N, D = x.shape
    x5 = x.reshape(T, B, N, heads, D // heads).permute(0, 1, 3, 2, 4)
    y5 = torch.nn.MaxPool3d((1, 3, 3), 1, (0, 1, 1))(x5)
    return y5.permute(0, 1, 3, 2, 4).reshape(T, B, N, D)


@pytest.mark.parametrize("grid,heads,D", [(2, 1, 4), (3, 2, 6), (4, 4, 32), (5, 3, 12), (8, 8, 64)])
def test_head_token_maxpool_equals_torchs_maxpool3d_on_the_official_layout(grid, heads, D):
    g = torch.Generator().manual_seed(grid * 100 + heads)
    x = (torch.rand(3, 2, grid * grid, D, generator=g) < 0.15).float()  # random spikes (T, B, N, D)
    got = head_token_maxpool(x, heads)
    assert torch.equal(got, _official_pool(x, heads))
    assert not torch.equal(got, grid_maxpool(x, grid))  # the two poolings differ on these spikes


def test_head_token_maxpool_wraps_grid_rows_by_hand():
    # 3 x 3 grid, one head of 3 channels; a spike at token 2 = (row 0, col 2), channel 0. Official: the
    # flat tokens 1, 2, 3 (3 = row 1, col 0: the next row's first token) x channels 0, 1 (d = -1 is
    # padding). The grid pool keeps channel 0 and takes tokens 1, 2, 4, 5 (column 2's 3 x 3 square).
    x = torch.zeros(1, 1, 9, 3)
    x[0, 0, 2, 0] = 1
    got = head_token_maxpool(x, heads=1)[0, 0]
    assert got.nonzero().tolist() == [[1, 0], [1, 1], [2, 0], [2, 1], [3, 0], [3, 1]]
    assert grid_maxpool(x, 3)[0, 0].nonzero().tolist() == [[1, 0], [2, 0], [4, 0], [5, 0]]
    # the last token of a row (n = 5) reaches back to n = 4 and forward to n = 6 (row 2, col 0);
    # channels stay inside their head: d = 1 of head 0 (c = 1) does not reach c = 2 (head 1, d = 0)
    x = torch.zeros(1, 1, 9, 4)
    x[0, 0, 5, 1] = 1
    got = head_token_maxpool(x, heads=2)[0, 0]
    assert got.nonzero().tolist() == [[4, 0], [4, 1], [5, 0], [5, 1], [6, 0], [6, 1]]


def test_sdsa_with_the_official_pool_by_hand():
    # 3 x 3 grid, one head of 2 channels. K*V = 1 at (token 2, channel 0) -> pooled over tokens 1..3 and
    # channels 0, 1: token sums (3, 3) -> both talking-heads channels fire (v = 1.5). Q = 1 at
    # (token 6, channel 1) -> Z = Q -> pooled: tokens 5..7 x channels 0, 1. With the grid pool channel 1
    # of K*V stays 0, so Z = Q * kv = 0.
    q, kv = torch.zeros(1, 1, 9, 2), torch.zeros(1, 1, 9, 2)
    q[0, 0, 6, 1], kv[0, 0, 2, 0] = 1, 1
    z = sdsa(q, kv, kv, LIF(2.0, 0.5), pool=lambda t: head_token_maxpool(t, 1))
    assert z[0, 0].nonzero().tolist() == [[5, 0], [5, 1], [6, 0], [6, 1], [7, 0], [7, 1]]
    assert not sdsa(q, kv, kv, LIF(2.0, 0.5), pool=lambda t: grid_maxpool(t, 3)).any()


def test_sdt_block_pools_sdsa_as_configured(monkeypatch):
    """``sdsa_pool`` picks the K*V and output pools; the Q/K/V pools stay on the grid in both."""
    calls = []
    import ds2ta.sdt as sdt_mod
    monkeypatch.setattr(sdt_mod, "head_token_maxpool", lambda t, h: calls.append(("head", h)) or t)
    monkeypatch.setattr(sdt_mod, "grid_maxpool", lambda t, g: calls.append(("grid", g)) or t)
    x = torch.randn(10, 1, 16, 64)
    for pool, want in (("official", [("grid", 4)] * 3 + [("head", 4)] * 2), ("grid", [("grid", 4)] * 5)):
        cfg = make_config("tiny-dvs", backbone="sdt", attention="sdsa", sdsa_pool=pool)
        assert cfg.dvs_pool
        calls.clear()
        DS2TA(cfg).eval().blocks[0].attn(x)
        assert calls == want, pool
    with pytest.raises(ValueError, match="sdsa_pool='max'"):
        make_config("tiny-dvs", sdsa_pool="max")
    assert make_config("statten-dvs", attention="sdsa").sdsa_pool == "official"

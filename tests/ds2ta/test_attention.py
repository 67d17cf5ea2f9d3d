"""Attention forms against each other and against direct computations."""

import numpy as np
import pytest
import torch

from ds2ta import DS2TA, make_config
from ds2ta.attention import block_attention, spatial_scores
from ds2ta.nsad import NSAD


def _spikes(*shape, p=0.4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).float()


def _model(seed=0, **kw):
    torch.manual_seed(seed)
    m = DS2TA(make_config("tiny", **kw)).eval()
    g = torch.Generator().manual_seed(seed + 1)
    for mod in m.modules():  # non-trivial BN statistics so the comparison is not degenerate
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(mod.num_features, generator=g) * 1.5 + 0.3)  # keep firing
    return m


def _images(n=6, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, 1, 8, 8), generator=g).float() / 16


def test_taw1_identity_nsad_equals_spikformer():
    sp = _model(attention="spikformer")
    ds = DS2TA(make_config("tiny", attention="ds2ta", taw=1, nsad=True)).eval()
    missing, unexpected = ds.load_state_dict(sp.state_dict(), strict=False)
    assert unexpected == [] and all("nsad.table" in k for k in missing)  # identity table stays
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(ds(x), sp(x), rtol=0, atol=0)
        # and the model really spikes in attention (not a trivially silent comparison)
        attn, tokens = sp.blocks[0].attn, sp.sps(sp.encode(x))
        q = attn.q(tokens)
        assert 0 < q.mean() < 1 and attn(tokens).sum() > 0


def test_statten_chunk1_equals_spatial_only():
    sp = _model(attention="spikformer")
    # same scale as Spikformer (STAtten's own rule gives 1/4 on the 4 x 4 grid): only the structure differs
    st = DS2TA(make_config("tiny", attention="statten", chunk=1, attn_scale=0.125)).eval()
    st.load_state_dict(sp.state_dict())
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(st(x), sp(x), rtol=0, atol=0)


def test_statten_chunk2_differs_from_spatial_only():
    sp = _model(attention="spikformer")
    st = DS2TA(make_config("tiny", attention="statten", chunk=2, attn_scale=0.125)).eval()  # same scale
    st.load_state_dict(sp.state_dict())
    f_sp, f_st = sp.blocks[0].attn, st.blocks[0].attn
    q, k, v = (_spikes(4, 2, 4, 16, 16, seed=s) for s in (1, 2, 3))
    assert not torch.equal(f_sp.attend(q, k, v), f_st.attend(q, k, v))


@pytest.mark.parametrize("T,chunk", [(4, 2), (6, 3), (4, 4), (4, 1)])
def test_block_attention_equals_direct_QKt_V(T, chunk):
    B, H, N, d = 2, 3, 5, 4
    q, k, v = (_spikes(T, B, H, N, d, seed=s).numpy() for s in (4, 5, 6))
    got = block_attention(*(torch.from_numpy(a) for a in (q, k, v)), chunk).numpy()
    want = np.zeros_like(q)
    for blk in range(T // chunk):
        ts = range(blk * chunk, (blk + 1) * chunk)
        for b in range(B):
            for h in range(H):
                Qb = np.concatenate([q[t, b, h] for t in ts])  # (chunk*N, d), tokens of the block
                Kb = np.concatenate([k[t, b, h] for t in ts])
                Vb = np.concatenate([v[t, b, h] for t in ts])
                out = (Qb @ Kb.T) @ Vb  # direct (Q K^T) V over the whole block, no causality
                for i, t in enumerate(ts):
                    want[t, b, h] = out[i * N:(i + 1) * N]
    np.testing.assert_array_equal(got, want)


def test_spatial_scores_are_integer_overlaps():
    q, k = _spikes(2, 1, 1, 3, 8, seed=7), _spikes(2, 1, 1, 3, 8, seed=8)
    a = spatial_scores(q, k).numpy()
    qn, kn = q.numpy(), k.numpy()
    for t in range(2):
        for i in range(3):
            for j in range(3):
                assert a[t, 0, 0, i, j] == np.logical_and(qn[t, 0, 0, i], kn[t, 0, 0, j]).sum()


def test_nsad_lookup_and_straight_through_slope():
    nsad = NSAD(heads=2, head_dim=4)
    with torch.no_grad():
        nsad.table.copy_(torch.tensor([[0., 1., 4., 9., 16.], [0., -1., 0., 2., 2.]]))
    a = torch.tensor([0., 1., 2., 3., 4.]).view(1, 1, 1, 1, 5).repeat(1, 1, 2, 1, 1).requires_grad_()
    out = nsad(a)
    np.testing.assert_array_equal(out[0, 0, 0, 0].detach().numpy(), [0, 1, 4, 9, 16])
    np.testing.assert_array_equal(out[0, 0, 1, 0].detach().numpy(), [0, -1, 0, 2, 2])
    out.sum().backward()
    # slope = h[i+1] - h[i]; the last entry uses the last difference
    np.testing.assert_array_equal(a.grad[0, 0, 0, 0].numpy(), [1, 3, 5, 7, 7])
    np.testing.assert_array_equal(a.grad[0, 0, 1, 0].numpy(), [-1, 1, 2, 0, 0])
    # the table gets the gathered gradient: each entry used once per head
    np.testing.assert_array_equal(nsad.table.grad.numpy(), np.ones((2, 5)))


def test_ds2ta_tau_and_nsad_receive_gradients_in_the_model():
    m = DS2TA(make_config("tiny"))
    m.train()
    m(_images(8)).logsumexp(-1).sum().backward()
    attn = m.blocks[0].attn
    for p in (attn.q.rho, attn.k.rho, attn.v.rho, attn.o.rho, attn.nsad.table):
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert attn.nsad.table.grad.abs().sum() > 0
    assert sum(p.grad.abs().item() for p in (attn.q.rho, attn.k.rho, attn.v.rho, attn.o.rho)) > 0

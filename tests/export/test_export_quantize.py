"""Quantization primitives, BN folding and the graph quantizer against hand-worked numbers."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from ds2ta.export.bn import fold_bn
from ds2ta.export.graph_quant import quantize_graph
from ds2ta.export.quantize import round_weights
from ds2ta.sims.reference import ReferenceExecutor


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-300, 300, allow_nan=False), min_size=2, max_size=20))
def test_round_weights_survive_lava_mixed_sign_truncation(ws):
    """Lava Dense with mixed signs keeps ``(w >> 1) << 1`` (section 2): our grid loses nothing."""
    w, _ = round_weights(np.array(ws), 8)
    assert w.min() >= -256 and w.max() <= 254
    np.testing.assert_array_equal((w >> 1) << 1, w)


def test_fold_bn_matches_torch():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    bn = nn.BatchNorm2d(4)
    bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.weight.data.uniform_(0.5, 2)
    bn.bias.data.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 5, 5)
    w, b = fold_bn(conv.weight.detach().numpy(), bn)
    ref = bn(conv(x)).detach().double()
    got = torch.nn.functional.conv2d(x.double(), torch.from_numpy(w), torch.from_numpy(b), padding=1)
    assert torch.allclose(ref, got, atol=1e-5)


def _float_graph(W, b_leak, theta, tau=2.0):
    W = np.asarray(W, dtype=float)
    n, m = W.shape
    lif = nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.full(n, tau), r=np.full(n, tau), v_leak=np.asarray(b_leak, float),
                      v_threshold=np.asarray(theta, float), v_reset=np.zeros(n), w_in=np.ones(n))
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([m])), "fc": nir.Linear(np.asarray(W, float)),
                               "lif": lif, "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], metadata={"conventions": {"dt": 1.0}})


def test_quantize_graph_hand_worked():
    """W = [[0.5, -0.25], [0.1, 0.2]], theta = 1, tau = 2, bias (v_leak) 0.2:
    row 0: max|W| 0.5 -> vth = floor(254 * 1 / 0.5) = 508, S = 508: W_int = [254, -127 -> -128 (even)];
    dv = 2048, du = 4095, bias = 64 * S * (dt/tau) * v_leak + 1 (tie) = round(64*508*0.1 = 3251.2) + 1 = 3252."""
    g, rep = quantize_graph(_float_graph([[0.5, -0.25], [0.1, 0.2]], [0.2, 0.0], [1.0, 1.0]))
    lava = g.nodes["lif"].metadata["lava"]
    assert lava["vth"].tolist() == [508, 1270]
    assert g.nodes["fc"].weight[0].tolist() in ([254, -128], [254, -126])
    assert g.nodes["fc"].weight[1].tolist() == [128, 254]   # 0.1 * 1270 = 127 -> 128 (even, half-to-even)
    assert lava["du"].tolist() == [4095, 4095] and lava["dv"].tolist() == [2048, 2048]
    assert lava["bias_mant"].tolist() == [3251 + 1, 1] and lava["bias_exp"].tolist() == [0, 0]
    assert rep["fc"]["clipped"] == 0


def test_calibration_caps_current_to_int16():
    g, _ = quantize_graph(_float_graph([[0.001, 0.001]], [0.0], [1.0]), calib={"lif": np.array([100.0])})
    vth = int(g.nodes["lif"].metadata["lava"]["vth"][0])
    assert vth == 327  # floor(32767 * 1 / 100); without calibration it would be 254000 -> capped
    assert g.nodes["fc"].weight.tolist() == [[0, 0]]  # 0.001 * 327 rounds to 0 on the even grid


def test_identity_nsad_attention_is_exact():
    """Identity table, attn_scale 2^-3, tau 2, theta 0.5: the integer attention current equals
    S * float current exactly (d = 4: S = 256, vth = 128) for random binary q, k, v."""
    from ds2ta.export.nir_nodes import DS2TASpikeAttention
    H, d, g = 2, 4, 3
    D = H * d
    node = DS2TASpikeAttention(channels=D, heads=H, tokens_shape=(g, g),
                               table=np.tile(np.arange(d + 1, dtype=float), (H, 1)), scale=0.125 / 2,
                               operands=["q", "k", "v"])
    shape = (D, g, g)
    lif = nir.CubaLIF(tau_syn=np.ones(shape), tau_mem=np.full(shape, 2.0), r=np.full(shape, 2.0), v_leak=np.zeros(shape),
                      v_threshold=np.full(shape, 0.5), v_reset=np.zeros(shape), w_in=np.ones(shape))
    fg = nir.NIRGraph(nodes={"core": node, "lif": lif,
                             "output": nir.Output(np.array(shape))},
                      edges=[("core", "lif"), ("lif", "output")], type_check=False, metadata={"conventions": {"dt": 1.0}})
    ig, rep = quantize_graph(fg)
    # d = 4: k = floor(log2(127 / 4)) = 4, table_int = 16 A; S = 2^4 / (1/16) = 256; vth = 256 * 0.5
    assert rep["core"]["table_exp"] == 4 and rep["core"]["shift"] == 0
    assert rep["lif"]["vth"] == [128, 128]
    S = rep["lif"]["scale_max"]
    assert S == 256
    rng = np.random.default_rng(1)
    q, k, v = (torch.from_numpy(rng.integers(0, 2, (2, 1, D, g, g))) for _ in range(3))
    from ds2ta.sims.reference.attention import SpikeAttentionK
    kern = SpikeAttentionK("core", ig.nodes["core"])
    out = kern.forward(None, {"q": q, "k": k, "v": v})
    # float: 0.125 / 2 * (Q K^T) V per head
    qh = q.double().reshape(2, 1, H, d, g * g).transpose(-1, -2)
    kh = k.double().reshape(2, 1, H, d, g * g).transpose(-1, -2)
    vh = v.double().reshape(2, 1, H, d, g * g).transpose(-1, -2)
    f = (0.125 / 2) * ((qh @ kh.transpose(-1, -2)) @ vh)
    f = f.transpose(-1, -2).reshape(2, 1, D, g, g)
    assert torch.equal(out.double(), S * f)
    assert float(S * 0.5) == float(ig.nodes["lif"].metadata["lava"]["vth"].max())


def test_third_party_float_graph_is_integerized_by_the_executor():
    """A float Linear/LIF graph (snntorch-style, dt = 1e-4) runs in the reference after integerization."""
    W = np.array([[0.3, 0.1], [-0.2, 0.4]])
    lif = nir.LIF(tau=np.full(2, 2e-4), r=np.full(2, 2.0), v_leak=np.zeros(2), v_threshold=np.full(2, 0.25),
                  v_reset=np.zeros(2))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "fc": nir.Linear(W), "lif": lif,
                            "output": nir.Output(np.array([2]))},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = ReferenceExecutor(g, dt=1e-4)
    x = torch.tensor([[[1, 0]], [[1, 0]], [[0, 1]], [[1, 1]]])
    # float by hand: v = 0.5 v + (r dt / tau = 1) W x; spike v > 0.25 (reset 0)
    v, out = np.zeros(2), []
    for t in range(4):
        v = 0.5 * v + W @ x[t, 0].numpy()
        s = v > 0.25
        v[s] = 0
        out.append(s.astype(int))
    res = ex.run(x, record=True)
    np.testing.assert_array_equal(res.record["lif"][:, 0].numpy(), np.array(out))
    with pytest.raises(ValueError, match="dt"):
        ReferenceExecutor(g)

"""The integer reference against a separate plain-numpy implementation of docs/lava-loihi-semantics.md.

The numpy code below is written from the equations in docs/lava-loihi-semantics.md (sections 1-3), not from
the executor: Python ints / numpy int64, explicit loops over neurons where the rule is elementwise.
"""

from __future__ import annotations

import numpy as np
import nir
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.signal import correlate

from ds2ta.sims.reference import ReferenceExecutor


def np_lif(a_seq, du, dv, vth, bias_mant, bias_exp):
    """Lava PyLifModelBitAcc, section 1 of docs/lava-loihi-semantics.md; a_seq (T, n) ints -> s, u, v (T, n)."""
    T, n = a_seq.shape
    u, v = [0] * n, [0] * n
    S, U, V = (np.zeros((T, n), dtype=np.int64) for _ in range(3))

    def trunc0(p):
        return (1 if p > 0 else -1 if p < 0 else 0) * (abs(p) >> 12)

    for t in range(T):
        for i in range(n):
            ui = trunc0(u[i] * (4096 - (int(du[i]) + 1))) + (int(a_seq[t, i]) << 6)
            if ui > 2 ** 23:
                ui -= 2 ** 24
            elif ui <= -2 ** 23:
                ui += 2 ** 24
            b = int(bias_mant[i]) << int(bias_exp[i]) if bias_exp[i] >= 0 else int(bias_mant[i]) >> -int(bias_exp[i])
            vi = trunc0(v[i] * (4096 - int(dv[i]))) + ui + b
            vi = max(-(2 ** 23 - 1), min(2 ** 23 - 1, vi))
            s = vi > (int(vth[i]) << 6)
            if s:
                vi = 0
            u[i], v[i] = ui, vi
            S[t, i], U[t, i], V[t, i] = s, ui, vi
    return S, U, V


def lif_node(n, du, dv, vth, bm, be):
    lava = dict(du=np.asarray(du), dv=np.asarray(dv), vth=np.asarray(vth), bias_mant=np.asarray(bm),
                bias_exp=np.asarray(be))
    return nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n),
                       v_threshold=np.asarray(vth, dtype=float), metadata={"lava": lava})


def dense_lif_graph(W, du, dv, vth, bm, be):
    n, m = W.shape
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([m])), "fc": nir.Linear(W),
                               "lif": lif_node(n, du, dv, vth, bm, be), "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


neuron_params = st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.integers(0, 4095), min_size=n, max_size=n),      # du
    st.lists(st.integers(0, 4095), min_size=n, max_size=n),      # dv
    st.lists(st.integers(0, 131071), min_size=n, max_size=n),    # vth
    st.lists(st.integers(-4096, 4095), min_size=n, max_size=n),  # bias_mant
    st.lists(st.integers(0, 7), min_size=n, max_size=n),         # bias_exp
))


@settings(max_examples=60, deadline=None)
@given(p=neuron_params, m=st.integers(1, 6), T=st.integers(1, 8), seed=st.integers(0, 2 ** 31 - 1),
       big=st.booleans())
def test_dense_lif_matches_numpy(p, m, T, seed, big):
    """Dense (even 8-bit weights, graded inputs) + LIF over decays, thresholds, biases, signs; ``big``
    drives currents past 2^23 (wrap) and voltages into saturation."""
    n, du, dv, vth, bm, be = p
    rng = np.random.default_rng(seed)
    W = (rng.integers(-128, 128, (n, m)) * 2).astype(np.int16)  # even mantissas in [-256, 254]
    hi = 3000 if big else 3
    x = rng.integers(-hi if big else 0, hi + 1, (T, 1, m))
    a = x[:, 0, :] @ W.astype(np.int64).T                      # Dense: a = W s
    s_np, _, _ = np_lif(a, du, dv, vth, bm, be)
    res = ReferenceExecutor(dense_lif_graph(W, du, dv, vth, bm, be)).run(torch.from_numpy(x), record=True)
    np.testing.assert_array_equal(res.record["lif"][:, 0].numpy(), s_np)


@settings(max_examples=40, deadline=None)
@given(p=neuron_params, T=st.integers(1, 10), seed=st.integers(0, 2 ** 31 - 1))
def test_lif_state_matches_numpy(p, T, seed):
    """u and v (not only spikes) equal the numpy model, including wrap and saturation."""
    from ds2ta.hardware.chip import bias_decode
    from ds2ta.sims.reference.neurons import LavaLIFParams, lif_step
    n, du, dv, vth, bm, be = p
    a = np.random.default_rng(seed).integers(-(2 ** 18), 2 ** 18, (T, n))
    s_np, u_np, v_np = np_lif(a, du, dv, vth, bm, be)
    L = lambda z: torch.tensor(z, dtype=torch.long)
    prm = LavaLIFParams(L(du), L(dv), bias_decode(L(bm), L(be)), L(vth))
    u = v = torch.zeros(1, n, dtype=torch.long)
    for t in range(T):
        s, u, v = lif_step(torch.from_numpy(a[t:t + 1]), u, v, prm)
        assert s[0].tolist() == s_np[t].tolist()
        assert u[0].tolist() == u_np[t].tolist()
        assert v[0].tolist() == v_np[t].tolist()


def test_hand_worked_lif():
    """du=4095, dv=2048, vth=1: inputs 1, 1, 0 -> v = 64, 96 (>64: spike, reset), 0."""
    s, u, v = np_lif(np.array([[1], [1], [0]]), [4095], [2048], [1], [0], [0])
    assert u[:, 0].tolist() == [64, 64, 0] and v[:, 0].tolist() == [64, 0, 0] and s[:, 0].tolist() == [0, 1, 0]
    res = ReferenceExecutor(dense_lif_graph(np.array([[1]], np.int16), [4095], [2048], [1], [0], [0])).run(
        torch.tensor([[[1]], [[1]], [[0]]]), record=True)
    assert res.record["lif"][:, 0, 0].tolist() == [0, 1, 0]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), stride=st.sampled_from([1, 2]), pad=st.sampled_from([0, 1]))
def test_conv_pool_delay_match_numpy(seed, stride, pad):
    """Conv2d (cross-correlation) -> LIF -> SumPool2d -> Delay(2) against scipy/numpy loops."""
    rng = np.random.default_rng(seed)
    C, O, H = 2, 3, 5
    W = (rng.integers(-128, 128, (O, C, 3, 3)) * 2).astype(np.int16)
    x = rng.integers(0, 17, (3, 1, C, H, H))
    conv = nir.Conv2d(input_shape=(H, H), weight=W, stride=stride, padding=pad, dilation=1, groups=1,
                      bias=np.zeros(O))
    Ho = (H + 2 * pad - 3) // stride + 1
    n = O * Ho * Ho
    lif = lif_node(n, [4095] * n, [2048] * n, [300] * n, [0] * n, [0] * n)
    lif = nir.CubaLIF(tau_syn=np.ones((O, Ho, Ho)), tau_mem=np.full((O, Ho, Ho), 2.0), r=np.full((O, Ho, Ho), 2.0),
                      v_leak=np.zeros((O, Ho, Ho)), v_threshold=np.full((O, Ho, Ho), 300.0),
                      metadata={"lava": {k: np.asarray(v).reshape(O, Ho, Ho) for k, v in lif.metadata["lava"].items()}})
    Hp = (Ho + 2 - 3) // 2 + 1
    g = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([C, H, H])), "conv": conv, "lif": lif,
        "pool": nir.SumPool2d(np.array([3, 3]), np.array([2, 2]), np.array([1, 1])),
        "delay": nir.Delay(np.full((O, Hp, Hp), 2)), "output": nir.Output(np.array([O, Hp, Hp]))},
        edges=[("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "delay"), ("delay", "output")],
        type_check=False)
    res = ReferenceExecutor(g).run(torch.from_numpy(x), record=True)
    # numpy: conv as correlate per output channel
    xp = np.pad(x[:, 0], ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    a = np.stack([[correlate(xp[t], W[o].astype(np.int64), mode="valid")[0, ::stride, ::stride]
                   for o in range(O)] for t in range(3)])  # (T, O, Ho, Ho)
    s_np, _, _ = np_lif(a.reshape(3, -1), *([4095] * n, [2048] * n, [300] * n, [0] * n, [0] * n))
    s_np = s_np.reshape(3, O, Ho, Ho)
    np.testing.assert_array_equal(res.record["conv"][:, 0].numpy(), a)
    np.testing.assert_array_equal(res.record["lif"][:, 0].numpy(), s_np)
    sp = np.pad(s_np, ((0, 0), (0, 0), (1, 1), (1, 1)))
    pool = np.array([[[[sp[t, o, 2 * i:2 * i + 3, 2 * j:2 * j + 3].sum() for j in range(Hp)] for i in range(Hp)]
                      for o in range(O)] for t in range(3)])
    np.testing.assert_array_equal(res.record["pool"][:, 0].numpy(), pool)
    delayed = np.concatenate([np.zeros_like(pool[:2]), pool[:1]])
    np.testing.assert_array_equal(res.outputs["output"][:, 0].numpy(), delayed)


def test_recurrent_edge_has_one_step_delay():
    """LIF -> Linear(rec) -> back into the LIF: the recurrent input arrives one step later."""
    n = 2
    g = dense_lif_graph(np.array([[2, 0], [0, 2]], np.int16), [4095] * n, [0] * n, [1] * n, [0] * n, [0] * n)
    g.nodes["rec"] = nir.Linear(np.array([[0, 4], [4, 0]], np.int16))
    g.edges += [("lif", "rec"), ("rec", "lif")]
    x = torch.tensor([[[1, 0]], [[0, 0]], [[0, 0]], [[0, 0]]])  # one input event on neuron 0 at t=0
    res = ReferenceExecutor(g).run(x, record=True)
    # numpy by hand: t0 a=(2,0) v0=128>64 spike; t1 a=(0,4) -> v1=256 spike; t2 a=(4,0) -> v0 spike; ...
    v, s_prev, out = np.zeros(2, int), np.zeros(2, int), []
    for t in range(4):
        a = np.array([[2, 0], [0, 2]]) @ x[t, 0].numpy() + np.array([[0, 4], [4, 0]]) @ s_prev
        v = v + (a << 6)
        s_prev = (v > 64).astype(int)
        v[s_prev == 1] = 0
        out.append(s_prev.copy())
    np.testing.assert_array_equal(res.record["lif"][:, 0].numpy(), np.array(out))
    assert np.array(out)[:, 1].tolist() == [0, 1, 0, 1]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_equals_cpu():
    rng = np.random.default_rng(0)
    W = (rng.integers(-128, 128, (8, 6)) * 2).astype(np.int16)
    g = dense_lif_graph(W, [4095] * 8, [2048] * 8, [50] * 8, [3] * 8, [1] * 8)
    x = torch.from_numpy(rng.integers(0, 17, (6, 4, 6)))
    a = ReferenceExecutor(g).run(x, record=True).record["lif"]
    b = ReferenceExecutor(g, device="cuda").run(x, record=True).record["lif"].cpu()
    assert torch.equal(a, b)

"""The faster models of ``sims/lava/procs/fast.py`` compute what lava-nc's own fixed-point models compute.

Oracle: lava-nc's model itself (``PyLifResetModelBitAcc``, ``PyProdNeuronModelFixed``,
``PyGradedVecModelFixed``, ``PyGradedReluVecModelFixed``, ``PyDenseModelBitAcc``, ``PySparseModelBitAcc``,
``PyDelaySparseModelBitAcc``). Both models get the same Vars and the same random inputs through stand-in
ports and run ``run_spk`` step by step; every message sent (as the int32 channel carries it) and the
state Vars are compared. Each case also asserts that something nonzero happened. A last test runs a small
Lava network twice, with lava-nc's models and with ``fast_models``, and compares the recorded outputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

pytestmark = pytest.mark.lava

I32_MIN = np.iinfo(np.int32).min


class _Port:
    """Stand-in for a Lava port: ``recv`` returns a fresh copy of the next queued vector (a Lava port
    returns a new array each step), ``send`` records what an int32 channel would carry."""

    def __init__(self, queue=()):
        self.queue, self.sent = list(queue), []

    def recv(self):
        return np.array(self.queue.pop(0))

    def send(self, x):
        self.sent.append(np.array(x).astype(np.int32))  # the channel buffer's dtype (int32 ports)


def _copy(x):
    return x.copy() if hasattr(x, "copy") else x


def _run_pair(ref_cls, fast_cls, params: dict, vars_: dict, inputs: dict, steps: int, state=(), out="s_out"):
    """Run lava-nc's model and ours side by side; returns lava-nc's sent messages ``(steps, ...)``."""
    models = []
    for cls in (ref_cls, fast_cls):
        m = cls(dict(params))
        for k, v in vars_.items():
            setattr(m, k, _copy(v))
        for port, queue in inputs.items():
            setattr(m, port, _Port(queue))
        setattr(m, out, _Port())
        models.append(m)
    for t in range(1, steps + 1):
        for m in models:
            m.time_step = t
            m.run_spk()
        for k in state:
            np.testing.assert_array_equal(getattr(models[1], k), getattr(models[0], k), err_msg=f"{k}, step {t}")
    ref, got = (np.stack(getattr(m, out).sent) for m in models)
    np.testing.assert_array_equal(got, ref)
    return ref, models


# -- LIFReset --------------------------------------------------------------------------------------
LIF_CASES = [
    # du, dv, vth, bias_exp, reset_interval, reset_offset, amplitude, input dtype
    (4095, 2048, 40, 0, 1, 0, 200, np.int32),         # threshold units: reset every step, no bias
    (4095, 2048, 60, 2, 5, 2, 300, np.int32),         # paper LIF: no current memory, leak 1/2, bias
    (4095, 4096, 30, 0, 3, 1, 100, np.int32),         # dv = 4096: v forgets (threshold_params)
    (0, 0, 131071, 1, 7, 3, 2 ** 17, np.int32),       # oscillator: u keeps 4095/4096 -> wraps, v saturates
    (1000, 300, 90, 3, 4, 9, 3000, np.int32),         # both decay (float path), offset 9 % 4 = 1
    (2047, 1024, 70, 7, 6, 0, 2 ** 18, np.int32),     # power-of-two decays 2048/3072; near the 24-bit wrap
    (4095, 2048, 50, 0, 4, 0, 2 ** 25, np.int32),     # a << 6 overflows int32: wraps as lava-nc's
    (3000, 2048, 50, 1, 3, 2, 700, np.int16),         # int16 input: a << 6 wraps in int16 first
    (4095, 3000, 50, 4, 2, 1, 2 ** 26, np.int64),     # int64 input: taken modulo 2^32 by the int32 add
]


@pytest.mark.parametrize("du,dv,vth,bias_exp,interval,offset,amp,dtype", LIF_CASES)
def test_lif_reset_equals_lava_nc(du, dv, vth, bias_exp, interval, offset, amp, dtype):
    from lava.proc.lif.models import PyLifResetModelBitAcc

    from ds2ta.sims.lava.procs.neuron.models import PyLifResetModelFast

    rng = np.random.default_rng(du + dv + amp)
    n, T = 48, 14
    a = rng.integers(-amp // 3, amp + 1, (T, n))
    if du == 0:
        a[:, :6], a[:, 6] = amp, -amp  # constant drive: u wraps, v runs into the rail
    a = a.astype(dtype) if dtype != np.int16 else np.clip(a, -2 ** 15, 2 ** 15 - 1).astype(np.int16)
    bias = rng.integers(-4096, 4096, n).astype(np.int16) * (bias_exp > 0)
    vars_ = dict(u=np.zeros(n, np.int32), v=rng.integers(-1000, 1000, n).astype(np.int32), du=du, dv=dv,
                 bias_mant=bias, bias_exp=np.full(n, bias_exp, np.int16), vth=vth)
    s, models = _run_pair(PyLifResetModelBitAcc, PyLifResetModelFast,
                          {"reset_interval": interval, "reset_offset": offset}, vars_, {"a_in": list(a)}, T,
                          state=("u", "v"), out="s_out")
    assert 0 < s.sum() < s.size
    if du == 0:
        assert np.abs(models[0].v).max() == 2 ** 23 - 1  # the rail was reached


@pytest.mark.parametrize("dv,bias_exp", [(2048, 0), (4095, 0), (0, 0), (2048, 2)])
def test_lif_reset_resting_steps_equal_lava_nc(dv, bias_exp):
    """A sequential run's pattern: a burst of input, then quiet steps while the state decays to 0 (or not:
    dv = 0 keeps it; a bias keeps driving it), a reset, quiet steps at rest, another burst. The model's
    rest shortcut (no input, no bias, u = v = 0) must send what lava-nc computes, and keep u, v."""
    from lava.proc.lif.models import PyLifResetModelBitAcc

    from ds2ta.sims.lava.procs.neuron.models import PyLifResetModelFast

    rng = np.random.default_rng(dv + bias_exp)
    n, T = 40, 60
    a = np.zeros((T, n), np.int16)
    a[2:6] = rng.integers(0, 400, (4, n))
    a[33:36] = rng.integers(-50, 400, (3, n))
    bias = (rng.integers(1, 40, n) * (bias_exp > 0)).astype(np.int16)
    vars_ = dict(u=np.zeros(n, np.int32), v=np.zeros(n, np.int32), du=4095, dv=dv, bias_mant=bias,
                 bias_exp=np.full(n, bias_exp, np.int16), vth=60)
    s, models = _run_pair(PyLifResetModelBitAcc, PyLifResetModelFast, {"reset_interval": 30, "reset_offset": 0},
                          vars_, {"a_in": list(a)}, T, state=("u", "v"), out="s_out")
    assert s[2:8].any() and s[33:40].any()
    if dv == 2048 and not bias_exp:
        assert models[1]._rest  # the shortcut was taken by the end


# -- ProdNeuron, GradedVec, GradedReluVec ----------------------------------------------------------
@pytest.mark.parametrize("vth,exp,amp", [(0, 0, 2 ** 12), (0, 3, 2 ** 12), (5, 1, 2 ** 8), (0, 0, 2 ** 20)])
def test_prod_neuron_equals_lava_nc(vth, exp, amp):
    from lava.proc.prodneuron.models import PyProdNeuronModelFixed

    from ds2ta.sims.lava.procs.neuron.models import PyProdNeuronModelFast

    rng = np.random.default_rng(vth + exp + amp)
    n, T = 200, 6
    a1, a2 = (rng.integers(-amp, amp + 1, (T, n)) * (rng.random((T, n)) < 0.3) for _ in range(2))
    a1[0, :2], a2[0, :2] = -(2 ** 16), 2 ** 15  # product = int32 minimum: lava-nc's |v| wraps, sends 0
    a1[2], a2[3] = 0, 0  # a silent factor (the model's shortcut)
    a1, a2 = a1.astype(np.int32), a2.astype(np.int32)
    vars_ = dict(v=np.zeros(n, np.int32), vth=np.array([vth], np.int32), exp=np.array([exp], np.int32))
    s, _ = _run_pair(PyProdNeuronModelFixed, PyProdNeuronModelFast, {}, vars_,
                     {"a_in1": list(a1), "a_in2": list(a2)}, T)
    assert (s > 0).any() and (s < 0).any()
    if amp > 2 ** 16:
        assert (a1.astype(np.int64) * a2 != a1 * a2).any()  # int32 products wrapped, in both models


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("vth,v0", [(0, 0), (7, 0), (0, 5)])
def test_graded_units_equal_lava_nc(relu, vth, v0):
    from lava.proc.graded.models import PyGradedReluVecModelFixed, PyGradedVecModelFixed

    from ds2ta.sims.lava.procs.neuron.models import PyGradedReluVecModelFast, PyGradedVecModelFast

    ref_cls, fast_cls = ((PyGradedReluVecModelFixed, PyGradedReluVecModelFast) if relu else
                         (PyGradedVecModelFixed, PyGradedVecModelFast))
    rng = np.random.default_rng(vth + v0 + relu)
    n, T = 300, 6
    a = (rng.integers(-50, 51, (T, n)) * (rng.random((T, n)) < 0.2)).astype(np.int32)
    a[1, :3] = I32_MIN  # |int32 min| wraps: lava-nc's GradedVec sends 0 there
    vars_ = dict(v=np.full(n, v0, np.int32), vth=np.array([vth], np.int32), exp=np.array([0], np.int32))
    s, models = _run_pair(ref_cls, fast_cls, {}, vars_, {"a_in": list(a)}, T, state=("v",))
    assert (s > 0).any() and (relu or (s < 0).any())
    assert not models[1].v.any()


# -- Dense -----------------------------------------------------------------------------------------
WEIGHTS = {
    "mixed": lambda rng, shape: rng.integers(-300, 300, shape),  # beyond 8 bits: clipped; odd: LSB dropped
    "excitatory": lambda rng, shape: rng.integers(0, 256, shape) * (rng.random(shape) < 0.6),
    "inhibitory": lambda rng, shape: -rng.integers(0, 257, shape) * (rng.random(shape) < 0.6),
}


def _inputs(rng, bits: int, T: int, n: int, amp: int, active: float):
    if bits == 0:
        return list((rng.random((T, n)) < active).astype(np.int32))
    return list((rng.integers(-amp, amp + 1, (T, n)) * (rng.random((T, n)) < active)).astype(np.int32))


@pytest.mark.parametrize("bits,active", [(0, 0.05), (0, 0.5), (24, 0.1), (24, 0.9)])
@pytest.mark.parametrize("sign", sorted(WEIGHTS))
@pytest.mark.parametrize("weight_exp", [0, -3, 2])
def test_dense_equals_lava_nc(bits, active, sign, weight_exp):
    from lava.proc.dense.models import PyDenseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PyDenseModelBLAS

    rng = np.random.default_rng(bits + int(active * 10) + weight_exp + len(sign))
    n_out, n_in, T = 23, 41, 7
    vars_ = dict(weights=WEIGHTS[sign](rng, (n_out, n_in)), a_buff=np.zeros(n_out, np.int32),
                 num_message_bits=np.array([bits]))
    x = _inputs(rng, bits, T, n_in, 2 ** 12, active)
    s, _ = _run_pair(PyDenseModelBitAcc, PyDenseModelBLAS, {"weight_exp": weight_exp, "num_weight_bits": 7},
                     vars_, {"s_in": x}, T, out="a_out")
    assert np.abs(s).sum() > 0


def test_dense_graded_sum_wraps_in_int32_as_lava_nc():
    """lava-nc's graded Dense multiplies in int32: a sum beyond 2^31 wraps there, and here too."""
    from lava.proc.dense.models import PyDenseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PyDenseModelBLAS

    rng = np.random.default_rng(5)
    w = rng.integers(100, 128, (4, 64))
    x = [np.full(64, 2 ** 20, np.int32), rng.integers(-2 ** 22, 2 ** 22, 64).astype(np.int32),
         np.where(rng.random(64) < 0.5, I32_MIN, 3).astype(np.int32), np.zeros(64, np.int32)]
    s, _ = _run_pair(PyDenseModelBitAcc, PyDenseModelBLAS, {"weight_exp": -2}, dict(
        weights=w, a_buff=np.zeros(4, np.int32), num_message_bits=np.array([24])), {"s_in": x}, 4, out="a_out")
    assert s[1].any() and s[3].any()


# -- Sparse ----------------------------------------------------------------------------------------
def _sparse(rng, sign: str, shape, density=0.3):
    return csr_matrix(WEIGHTS[sign](rng, shape) * (rng.random(shape) < density))


@pytest.mark.parametrize("bits,active", [(0, 0.03), (0, 0.6), (24, 0.1), (24, 0.8)])
@pytest.mark.parametrize("sign", sorted(WEIGHTS))
@pytest.mark.parametrize("weight_exp", [0, -1, 3])
def test_sparse_equals_lava_nc(bits, active, sign, weight_exp):
    from lava.proc.sparse.models import PySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PySparseModelEvent

    rng = np.random.default_rng(bits + int(active * 10) + weight_exp + len(sign))
    n_out, n_in, T = 37, 120, 7
    vars_ = dict(weights=_sparse(rng, sign, (n_out, n_in)), a_buff=np.zeros(n_out, np.int32),
                 num_message_bits=np.array([bits]))
    x = _inputs(rng, bits, T, n_in, 2 ** 14, active)  # graded sums stay within int32 (lava-nc's product)
    s, _ = _run_pair(PySparseModelBitAcc, PySparseModelEvent, {"weight_exp": weight_exp}, vars_, {"s_in": x}, T,
                     out="a_out")
    assert np.abs(s).sum() > 0


def test_sparse_keeps_graded_sums_exact_beyond_int32():
    """Graded payloads near 2^20 times 8-bit weights over 64 taps reach 2^34: the sum is exact before
    the shift by -12 (the reference's integers); lava-nc's int32 product wraps there and differs."""
    from lava.proc.sparse.models import PySparseModelBitAcc
    from lava.utils.weightutils import SignMode, clip_weights, truncate_weights

    from ds2ta.sims.lava.procs.synapse.models import PySparseModelEvent

    rng = np.random.default_rng(9)
    w = csr_matrix(rng.integers(200, 256, (5, 64)))
    x = [rng.integers(2 ** 19, 2 ** 20, 64).astype(np.int32), np.full(64, I32_MIN, np.int32),
         np.zeros(64, np.int32)]
    sent = []
    for cls in (PySparseModelBitAcc, PySparseModelEvent):
        m = cls({"weight_exp": -12})
        m.weights, m.a_buff, m.num_message_bits = w.copy(), np.zeros(5, np.int32), np.array([24])
        m.s_in, m.a_out = _Port(x), _Port()
        for t in (1, 2, 3):
            m.time_step = t
            m.run_spk()
        sent.append(np.stack(m.a_out.sent[1:]))  # the sums of x[0] and x[1], each sent one step later
    enc = truncate_weights(clip_weights(w, SignMode.EXCITATORY, 8), SignMode.EXCITATORY, 8).toarray()
    exact = [[sum(int(enc[i, j]) * int(xt[j]) for j in range(64)) >> 12 for i in range(5)] for xt in x[:2]]
    want = np.array(exact, dtype=np.int64).astype(np.int32)  # sent as int32
    np.testing.assert_array_equal(sent[1], want)
    assert max(exact[0]) > 2 ** 21 and min(exact[1]) < -(2 ** 31)
    assert (sent[0] != want).any()  # lava-nc's int32 sum wrapped before its shift


# -- DelaySparse -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [0, 24])
@pytest.mark.parametrize("max_delay,extra_cols,a0", [(3, 0, 0), (2, 2, 0), (0, 0, 0), (3, 0, 7), (3, -2, 0)])
def test_delay_sparse_equals_lava_nc(bits, max_delay, extra_cols, a0):
    """Delays 0..max_delay; a buffer longer than the largest delay (``max_delay`` given), one shorter
    (delays beyond it dropped, as lava-nc's delay matrix drops them), a nonzero initial buffer."""
    from lava.proc.sparse.models import PyDelaySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PyDelaySparseModelEvent

    rng = np.random.default_rng(bits + max_delay + extra_cols + a0)
    n_out, n_in, T = 29, 90, 10
    w = _sparse(rng, "mixed", (n_out, n_in), 0.4)
    d = csr_matrix(np.where(w.toarray() != 0, rng.integers(0, max_delay + 1, w.shape), 0))
    cols = max_delay + 1 + extra_cols
    a_buff = rng.integers(-a0, a0 + 1, (n_out, cols)).astype(np.int32)
    vars_ = dict(weights=w, delays=d, a_buff=a_buff, num_message_bits=np.array([bits]))
    x = _inputs(rng, bits, T, n_in, 2 ** 12, 0.15)
    s, models = _run_pair(PyDelaySparseModelBitAcc, PyDelaySparseModelEvent, {"weight_exp": -1}, vars_,
                          {"s_in": x}, T, out="a_out")
    assert np.abs(s).sum() > 0
    models[1]._store_ring()  # the ring written back in lava-nc's layout is lava-nc's a_buff
    np.testing.assert_array_equal(models[1].a_buff, models[0].a_buff)


@pytest.mark.parametrize("kind", ["Sparse", "DelaySparse"])
def test_kernels_built_before_the_fork_equal_lava_nc(kind):
    """``prebuild_kernels`` builds a Process's kernels from its Vars' initial values (the network does it
    once, before Lava forks): the model that takes them from ``proc_params`` sends what lava-nc's sends,
    and never encodes or indexes the matrix itself."""
    from lava.proc.sparse import models as lava_models
    from lava.proc.sparse.process import DelaySparse, Sparse

    from ds2ta.sims.lava.procs.synapse import models

    rng = np.random.default_rng(4)
    n_out, n_in, T = 23, 70, 8
    w = _sparse(rng, "mixed", (n_out, n_in), 0.4)
    if kind == "Sparse":
        proc = Sparse(weights=w, num_message_bits=0, weight_exp=-1)
        ref, fast, extra = lava_models.PySparseModelBitAcc, models.PySparseModelEvent, {}
    else:
        d = csr_matrix(np.where(w.toarray() != 0, rng.integers(0, 3, w.shape), 0))
        proc = DelaySparse(weights=w, delays=d, num_message_bits=0, weight_exp=-1)
        ref, fast, extra = lava_models.PyDelaySparseModelBitAcc, models.PyDelaySparseModelEvent, {"delays": d}
    assert models.prebuild_kernels([proc]) == 1 and models.prebuild_kernels([proc]) == 0  # once
    vars_ = dict(weights=w, a_buff=np.zeros(proc.a_buff.shape, np.int32), num_message_bits=np.array([0]), **extra)
    x = _inputs(rng, 0, T, n_in, 1, 0.3)
    s, ms = _run_pair(ref, fast, dict(proc.proc_params._parameters), vars_, {"s_in": x}, T, out="a_out")
    assert np.abs(s).sum() > 0
    kernels = ms[1]._kernel if kind == "Sparse" else ms[1]._kernels
    assert kernels is proc.proc_params[models.PREBUILT]  # the prebuilt kernels ran


# -- a Lava network ----------------------------------------------------------------------------------
def _network(T: int):
    """source -> Dense -> LIFReset -> {Sparse, DelaySparse} -> ProdNeuron -> Sparse (graded) -> GradedReluVec,
    ProdNeuron -> Dense (graded) -> GradedVec; sinks on every population."""
    from lava.proc.dense.process import Dense
    from lava.proc.graded.process import GradedReluVec, GradedVec
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIFReset
    from lava.proc.prodneuron.process import ProdNeuron
    from lava.proc.sparse.process import DelaySparse, Sparse

    rng = np.random.default_rng(3)
    n_in, n = 30, 40
    src = Source(data=(rng.random((n_in, T)) < 0.4).astype(np.int32))
    dense = Dense(weights=rng.integers(-60, 120, (n, n_in)), num_message_bits=0)
    lif = LIFReset(shape=(n,), du=4095, dv=2048, vth=40, bias_mant=rng.integers(-200, 400, n), bias_exp=2,
                   reset_interval=5, reset_offset=2)
    w1 = csr_matrix(rng.integers(1, 100, (n, n)) * (rng.random((n, n)) < 0.3))
    w2 = csr_matrix(rng.integers(-90, 90, (n, n)) * (rng.random((n, n)) < 0.3))
    syn1 = Sparse(weights=w1, weight_exp=-1)
    syn2 = DelaySparse(weights=w2, delays=csr_matrix(np.where(w2.toarray() != 0, rng.integers(0, 3, (n, n)), 0)))
    prod = ProdNeuron(shape=(n,), vth=0, exp=4)
    syn3 = Sparse(weights=csr_matrix(rng.integers(-50, 50, (n, n)) * (rng.random((n, n)) < 0.2)),
                  num_message_bits=24, weight_exp=-3)
    relu = GradedReluVec(shape=(n,), vth=0)
    syn4 = Dense(weights=rng.integers(-128, 128, (n, n)), num_message_bits=24, weight_exp=-5)
    graded = GradedVec(shape=(n,), vth=0)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(syn1.s_in)
    lif.s_out.connect(syn2.s_in)
    syn1.a_out.connect(prod.a_in1)
    syn2.a_out.connect(prod.a_in2)
    prod.s_out.connect(syn3.s_in)
    prod.s_out.connect(syn4.s_in)
    syn3.a_out.connect(relu.a_in)
    syn4.a_out.connect(graded.a_in)
    sinks = {}
    for name, proc in (("lif", lif), ("prod", prod), ("relu", relu), ("graded", graded)):
        sinks[name] = Sink(shape=(n,), buffer=T)
        proc.s_out.connect(sinks[name].a_in)
    return src, [src, dense, lif, syn1, syn2, prod, syn3, relu, syn4, graded], sinks


def test_lava_network_with_fast_models_equals_lava_nc_models():
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from ds2ta.sims.lava.procs.fast import FAST_MODELS, fast_models

    T, out = 16, []
    for fast in (False, True):
        src, procs, sinks = _network(T)
        models = fast_models(procs) if fast else {}
        assert len(models) == (len(procs) - 1 if fast else 0)  # every process but the source
        cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
        try:
            src.run(condition=RunSteps(num_steps=T), run_cfg=cfg)
            out.append({k: s.data.get().astype(np.int64) for k, s in sinks.items()})
        finally:
            src.stop()
    for k in out[0]:
        np.testing.assert_array_equal(out[1][k], out[0][k], err_msg=k)
    assert 0 < out[0]["lif"].sum() < out[0]["lif"].size
    assert all(np.abs(out[0][k]).sum() > 0 for k in ("prod", "relu", "graded"))
    assert set(FAST_MODELS.values()) >= set(models.values())

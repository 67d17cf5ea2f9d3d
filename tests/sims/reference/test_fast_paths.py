"""The reference executor's fast paths against their definitions.

* Synaptic operations through a fan-out map (``kernels.fanout_map``) equal ``sum(conv(c, ones))`` /
  ``sum(sumpool(c))``, the definition, on random strides, paddings, dilations and groups.
* ``neurons.lif_sequence`` (int32, the decay as a rounding shift) equals ``chip.lif_step`` step by step,
  on and around its limits (``|a| < 2^17``, power-of-two decays, bias, graded neurons).
* A whole run of an exported tiny model: every count equals the counting rules applied here to the
  recorded outputs (``sum_i |x_i| fanout_i`` with ``fanout`` a convolution with ones), and a run without
  recording gives the same outputs and counts as a recorded one, for both attention lowerings.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from ds2ta.hardware import chip
from ds2ta.sims.reference import ReferenceExecutor
from ds2ta.sims.reference.executor import count_map, spike_tallies
from ds2ta.sims.reference.kernels import Conv2dK, SumPoolK
from ds2ta.sims.reference.neurons import LavaLIFParams, _decay_shift, lif_run, lif_sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/sims helpers
from firing_tiny import firing_tiny  # noqa: E402


class _Node:  # the fields a Conv2d / SumPool2d kernel reads
    def __init__(self, **kw):
        self.__dict__.update(kw)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), k=st.sampled_from([(1, 1), (3, 3), (3, 2), (2, 3)]),
       stride=st.integers(1, 3), pad=st.integers(0, 2), dil=st.integers(1, 2),
       groups=st.sampled_from([1, 2, 4]))
def test_conv_fanout_map_equals_conv_with_ones(seed, k, stride, pad, dil, groups):
    rng = np.random.default_rng(seed)
    C, O = 4, 8
    w = rng.integers(-3, 4, (O, C // groups, *k))
    kern = Conv2dK("c", _Node(weight=w, bias=None, stride=np.array([stride, stride]),
                              padding=np.array([pad, pad]), dilation=np.array([dil, dil]), groups=groups))
    cnt = torch.from_numpy(rng.integers(0, 5, (3, 2, C, 7, 6)))
    ones = torch.ones(w.shape, dtype=torch.float64)
    want = F.conv2d(cnt.flatten(0, 1).double(), ones, None, stride, pad, dil, groups).sum()
    assert int(kern.fanout(cnt)) == int(want)
    assert int(kern.fanout(cnt[:1, :1])) == int(F.conv2d(cnt[0, :1].double(), ones, None, stride, pad, dil,
                                                         groups).sum())  # the map is per sample


def test_conv_fanout_map_with_string_padding():
    w = np.ones((3, 2, 3, 3), np.int64)
    kern = Conv2dK("c", _Node(weight=w, bias=None, stride=1, padding="same", dilation=1, groups=1))
    cnt = torch.from_numpy(np.random.default_rng(1).integers(0, 3, (2, 2, 2, 5, 5)))
    want = F.conv2d(cnt.flatten(0, 1).double(), torch.ones(3, 2, 3, 3, dtype=torch.float64), None, 1, "same").sum()
    assert int(kern.fanout(cnt)) == int(want)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), k=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 1))
def test_sumpool_fanout_map_equals_pool_sum(seed, k, stride, pad):
    pad = min(pad, k // 2)  # avg_pool2d: padding at most half the kernel
    kern = SumPoolK("p", _Node(kernel_size=np.array([k, k]), stride=np.array([stride, stride]),
                               padding=np.array([pad, pad])))
    cnt = torch.from_numpy(np.random.default_rng(seed).integers(0, 4, (2, 3, 2, 6, 5)))
    want = F.avg_pool2d(cnt.flatten(0, 1).double(), k, stride, pad, count_include_pad=True, divisor_override=1).sum()
    assert int(kern.fanout(cnt)) == int(want)
    x = torch.from_numpy(np.random.default_rng(seed).integers(-9, 9, (2, 3, 2, 6, 5)))
    y = F.avg_pool2d(x.flatten(0, 1).double(), k, stride, pad, count_include_pad=True, divisor_override=1)
    assert torch.equal(kern.forward(x, {}), y.long().reshape(2, 3, *y.shape[1:]))


@settings(max_examples=200, deadline=None)
@given(v=st.integers(-(2 ** 23 - 1), 2 ** 23 - 1), k=st.integers(0, 12))
def test_decay_shift_is_trunc0(v, k):
    """``sign(v) (|v| >> (12 - k))`` = ``chip.decay(v, 2^k)`` (rounding toward zero), on int32."""
    got = _decay_shift(torch.tensor([v], dtype=torch.int32), chip.DECAY_SHIFT - k)
    assert int(got) == int(chip.decay(np.int64(v), 1 << k))


def _params(shape, dv, bias, vth, du=chip.NO_CURRENT_MEMORY):
    full = lambda a: torch.as_tensor(np.broadcast_to(a, shape).copy(), dtype=torch.int64)
    return LavaLIFParams(full(du), full(dv), full(bias), None if vth is None else full(vth))


def _steps(a, p):
    """``chip.lif_step`` over the steps of ``a`` (T, B, ...), the definition."""
    u = v = torch.zeros_like(a[0])
    out = []
    for t in range(a.shape[0]):
        s, u, v = chip.lif_step(a[t], u, v, p.chip)
        out.append(v if s is None else s.long())
    return torch.stack(out)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), dv=st.sampled_from([0, 2048, 3072, 4095, 4096, 4064, 1000]),
       amp=st.sampled_from([3, 3000, 2 ** 17 - 1, 2 ** 17, 2 ** 20]), graded=st.booleans(),
       bias=st.sampled_from([0, 1, -4095 << 7, 4095 << 7]), du=st.sampled_from([4095, 4000]))
def test_lif_sequence_equals_lif_step(seed, dv, amp, graded, bias, du):
    """Fast (du = 4095, dv with 4096 - dv a power of two or 0, |a| < 2^17) and fallback cases alike."""
    rng = np.random.default_rng(seed)
    shape = (3, 4)
    vth = None if graded else rng.integers(0, 4000, shape)
    p = _params(shape, dv, bias, vth, du)
    a = torch.from_numpy(rng.integers(-amp, amp + 1, (5, 2, *shape)))
    a.reshape(-1)[0] = amp  # the range's edge is reached
    want = _steps(a, p)
    got = lif_sequence(a, p)
    assert got.dtype == (torch.int64 if graded else torch.uint8)
    assert torch.equal(got.long(), want)
    assert torch.equal(lif_run(a, p)[0], want)
    if du == 4095 and dv in (2048, 3072, 4095, 4096) and amp < 2 ** 17:
        assert p.fast is not None  # the int32 path ran
    for dt in (torch.int32, torch.uint8):  # the executor passes int32 sums and uint8 spikes as they are
        if amp < 256 or dt == torch.int32:
            small = a.clamp(0, 255) if dt == torch.uint8 else a
            assert torch.equal(lif_sequence(small.to(dt), p).long(), _steps(small, p))


def test_lif_sequence_does_not_write_its_input():
    p = _params((4,), 2048, 0, 10)
    a = torch.arange(8, dtype=torch.int32).reshape(2, 1, 4)
    before = a.clone()
    lif_sequence(a, p)
    assert torch.equal(a, before)


def test_spike_tallies_and_count_map():
    out = torch.from_numpy(np.random.default_rng(0).integers(0, 2, (300, 3, 2, 5))).to(torch.uint8)  # T > 255
    per_sample, per_neuron = spike_tallies(out)
    assert per_sample.tolist() == out.long().sum((0, 2, 3)).tolist()
    assert torch.equal(per_neuron, out.long().sum((0, 1)))
    assert torch.equal(count_map(out), out.long().sum((0, 1)))


# -- whole runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    return firing_tiny(5)


def _synapse_events(ex, n, rec, x):
    """``sum_i |x_i| fanout_i`` (spike sources) or ``sum_i [x_i != 0] fanout_i`` for node ``n``, with the
    fan-out as the node applied with every weight 1 (a convolution / pool / matrix of ones)."""
    inp = sum(rec[p].long() if p in rec else x for p in ex.preds[n])
    c = inp.abs() if ex.from_spikes[n] else (inp != 0).long()
    node, kind = ex.nodes[n], type(ex.nodes[n]).__name__
    if kind == "Conv2d":
        k = ex.kernels[n]
        ones = torch.ones(k.w.shape, dtype=torch.float64)
        ev = F.conv2d(c.flatten(0, 1).double(), ones, None, k.stride, k.pad, k.dil, k.groups).sum()
    elif kind == "SumPool2d":
        k = ex.kernels[n]
        ev = F.avg_pool2d(c.flatten(0, 1).double(), k.k, k.s, k.p, count_include_pad=True, divisor_override=1).sum()
    else:
        ev = c.sum() * np.asarray(node.weight).shape[0]
    return int(ev)


@pytest.mark.parametrize("lowering", ["neurons", "core"])
def test_counts_equal_the_rules_on_recorded_outputs(tiny, lowering):
    g, x = tiny
    ex = ReferenceExecutor(g, attention_lowering=lowering)
    full = ex.run(x, record=True)
    rec = full.record
    synapses = [n for n in ex.order if ex.kernels[n].kind == "synapse"]
    assert any(len(ex.preds[n]) > 1 for n in synapses) and any(not ex.from_spikes[n] for n in synapses)
    for n in synapses:
        key = "synops" if ex.from_spikes[n] else "graded_synops"
        assert full.counts[n][key] == _synapse_events(ex, n, rec, x.long()), n
    for n in ex.order:
        if ex.kernels[n].spiking:
            assert full.counts[n]["spikes"] == int(rec[n].long().sum())
            assert full.sample_spikes[n].tolist() == rec[n].long().sum((0, *range(2, rec[n].dim()))).tolist()
    fast = ex.run(x)
    assert fast.record == {} and fast.counts == full.counts and fast.max_abs_input == full.max_abs_input
    assert torch.equal(fast.prediction, full.prediction)
    assert all(torch.equal(fast.outputs[o], full.outputs[o]) and fast.outputs[o].dtype == torch.int64
               for o in full.outputs)
    assert {n: v.tolist() for n, v in fast.sample_spikes.items()} == \
        {n: v.tolist() for n, v in full.sample_spikes.items()}
    assert all(v.dtype == (torch.int8 if ex.kernels[n].spiking else torch.int64)
               for n, v in rec.items() if n in ex.kernels)


# -- attention cores ------------------------------------------------------------------------------------
def _attention_by_definition(q, k, v, table, shift, H):
    """(T, B, D, N) int64 operands: per step, sample and head ``shr(table[h][Q K^T] V, shift)``."""
    T, B, D, Nt = q.shape
    d = D // H
    out = np.zeros((T, B, D, Nt), np.int64)
    for t in range(T):
        for b in range(B):
            for h in range(H):
                ch = slice(h * d, (h + 1) * d)
                A = q[t, b, ch].T @ k[t, b, ch]
                y = v[t, b, ch] @ table[h][A].T
                out[t, b, ch] = y >> shift if shift >= 0 else y << -shift
    return out


@pytest.mark.parametrize("scale", [1, 2 ** 22], ids=["float32", "float64"])
def test_spike_attention_core_exact_and_ops_per_operands(scale):
    """A table large enough that ``N max|table|`` passes 2^24 runs in float64; the output equals the
    definition either way, and ``ops`` of other operands than the last ``forward``'s is computed anew."""
    from ds2ta.export.nir_nodes import DS2TASpikeAttention
    from ds2ta.sims.reference.attention import SpikeAttentionK

    H, d, G = 2, 3, 3
    table = np.array([[0, 3, 5, -2], [1, 1, 4, 9]]) * scale + 1
    node = DS2TASpikeAttention(channels=H * d, heads=H, tokens_shape=(G, G), table=table, shift=1,
                               operands=["q", "k", "v"])
    kern = SpikeAttentionK("a", node)
    rng = np.random.default_rng(0)
    envs = [{n: torch.from_numpy(rng.integers(0, 2, (2, 2, H * d, G, G))).to(torch.uint8) for n in "qkv"}
            for _ in range(2)]
    for env in envs:
        y = kern.forward(None, env)
        q, k, v = (env[n].reshape(2, 2, H * d, -1).long().numpy() for n in "qkv")
        want = _attention_by_definition(q, k, v, table, 1, H)
        np.testing.assert_array_equal(y.reshape(2, 2, H * d, -1).numpy(), want)
    assert kern.ops(envs[0]) == SpikeAttentionK("b", node).ops(envs[0]) != kern.ops(envs[1])

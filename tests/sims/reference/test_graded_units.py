"""``DS2TAGraded`` units in the integer reference and the float executor (export/nir_graded.py).

Oracle: independent numpy (explicit window loops, ``np.einsum``), never the kernels under test. The graph
(tests/sims/graded_graphs.py) max-pools graded values through a comparison tree of graded units.
"""

from __future__ import annotations

import os
import sys

import nir
import numpy as np
import torch

from ds2ta.export.nir_graded import DS2TAGraded, DS2TAGradedMaxPool2d
from ds2ta.hardware import chip
from ds2ta.sims.reference import ReferenceExecutor
from ds2ta.sims.reference.executor import is_integer_graph
from ds2ta.sims.reference.float_nir import FloatExecutor
from ds2ta.sims.reference.kernels import build_kernel

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/sims helpers
from graded_graphs import inputs, maxpool_graph, numpy_maxpool  # noqa: E402

UNITS = [f"r{a}" for a in ("0_0", "0_1", "0_2", "0_3", "1_0", "1_1", "2_0", "3_0")]


def _run(T=3, samples=2):
    g, p = maxpool_graph()
    x = inputs(T, samples)
    return g, p, x, ReferenceExecutor(g).run(torch.from_numpy(x), record=True)


def test_the_unit_type_is_a_population_not_a_quantized_neuron():
    assert "DS2TAGraded" in chip.POPULATIONS and "DS2TAGraded" not in chip.NEURONS
    assert "DS2TAGraded" not in chip.SPIKE_SOURCES
    g, _ = maxpool_graph()
    assert is_integer_graph(g)  # units carry no metadata["lava"] and need none


def test_maxpool_tree_equals_numpy_maxpool():
    _, _, x, r = _run()
    sh, pooled = numpy_maxpool(x)
    np.testing.assert_array_equal(r.record["sh"].numpy(), sh)
    np.testing.assert_array_equal(r.record["feat"].numpy(), pooled)
    assert sh.max() > 1 << 20  # graded values of the size the exporter writes
    for u in UNITS:
        assert r.record[u].min() >= 0  # relu units
    assert any(r.record[u].max() > 0 for u in UNITS) and any((r.record[u] == 0).any() for u in UNITS)


def test_weighted_conv_shifts_after_the_sum_in_int64():
    _, p, x, r = _run()
    feat = r.record["feat"].numpy()
    raw2 = np.einsum("tbchw,ochw->tbo", feat, p["w2"]) + p["b2"]  # full 2x2 valid conv, (T, B, 3)
    assert np.abs(raw2).max() >= 2 ** 31                           # int32 would have wrapped
    np.testing.assert_array_equal(r.record["to_lif2"].numpy().reshape(raw2.shape), raw2 >> -p["e2"])
    raw1 = feat * p["w1"].reshape(1, 1, -1, 1, 1) + p["b1"].reshape(1, 1, -1, 1, 1)
    assert (raw1 < 0).any() and (raw1 % (1 << -p["e1"]) != 0).any()  # negative, inexact: floor matters
    np.testing.assert_array_equal(r.record["to_lif1"].numpy(), raw1 >> -p["e1"])


def test_unit_counts_follow_the_counting_rules():
    g, _, x, r = _run()
    T, B = x.shape[:2]
    for u in UNITS + ["feat", "sh"]:
        c, out = r.counts[u], r.record[u].numpy()
        n = int(np.prod(out.shape[2:]))
        inp = sum(r.record[e[0]].numpy() for e in g.edges if e[1] == u)
        assert c["neurons"] == n and c["neuron_updates"] == n * T * B
        assert c["spikes"] == np.count_nonzero(out)                 # graded messages: nonzero values
        assert c["active_neuron_updates"] == np.count_nonzero(inp)
        assert c["synops"] == 0 and c["graded_synops"] == 0
        assert u not in r.sample_spikes
    # synapses out of a graded unit: one event per nonzero value and stored synapse (1x1: fan-out 1)
    src = r.record["r0_0"].numpy()
    assert r.counts["r1_0.from_r0_0"]["graded_synops"] == np.count_nonzero(src)
    assert r.counts["r1_0.from_r0_0"]["synops"] == 0


def test_latency_counts_a_synapse_per_unit_layer():
    g, _ = maxpool_graph()
    assert ReferenceExecutor(g).latency_steps == 8  # relay, sh, 4 tree levels, feat, lif


def test_step_mode_equals_the_sequence():
    k = build_kernel("u", DS2TAGraded((2, 3), relu=True), {})
    x = torch.randint(-50, 50, (4, 2, 2, 3))
    seq = k.forward(x, {})
    steps = [k.step(x[t], k.init_state(), {})[0] for t in range(4)]
    np.testing.assert_array_equal(torch.stack(steps).numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_array_equal(seq.numpy(), np.maximum(x.numpy(), 0))
    ident = build_kernel("v", DS2TAGraded((2, 3), relu=False), {})
    np.testing.assert_array_equal(ident.forward(x, {}).numpy(), x.numpy())


def test_float_executor_runs_graded_units_and_the_graded_maxpool():
    rng = np.random.default_rng(0)
    C, H, W = 2, 5, 4
    pool = DS2TAGradedMaxPool2d(channels=C, input_shape=(H, W), kernel_size=3, stride=2, padding=1)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([C, H, W])), "pool": pool,
                            "unit": DS2TAGraded((C, *pool.output_hw), relu=True),
                            "output": nir.Output(np.array([C, *pool.output_hw]))},
                     edges=[("input", "pool"), ("pool", "unit"), ("unit", "output")], type_check=False)
    x = rng.normal(-3.0, 1.0, (2, 3, C, H, W))  # mostly negative: zero padding would win if counted
    rec = FloatExecutor(g, dt=1.0).run(torch.from_numpy(x))
    want = np.empty((2, 3, C, *pool.output_hw))
    for i in range(pool.output_hw[0]):
        for j in range(pool.output_hw[1]):
            r0, c0 = 2 * i - 1, 2 * j - 1
            want[..., i, j] = x[..., max(r0, 0):r0 + 3, max(c0, 0):c0 + 3].max(axis=(-2, -1))
    np.testing.assert_allclose(rec["pool"].numpy(), want)
    np.testing.assert_allclose(rec["unit"].numpy(), np.maximum(want, 0))
    assert (want < 0).any()

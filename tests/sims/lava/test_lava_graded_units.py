"""``DS2TAGraded`` units in Lava (lava-nc ``GradedVec`` / ``GradedReluVec``) against the integer reference.

The max-pool tree graph (tests/sims/graded_graphs.py) runs in both backends; the project's compare
(``ds2ta.sims.results``: records of every population, per-layer counts, latency) must report a match,
and the feature map must be the numpy max-pool. Also: the weighted convs became ``Sparse`` synapses with
their exponent (lava-nc's ``Conv`` has none), the mixed-sign odd weights survived lava-nc's 8-bit encoding,
and sums past 2^31 stayed exact. Schedule: ``simulate_lava``'s default for the 2 samples, pipelined.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix

from ds2ta.hardware import chip

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/sims helpers
from graded_graphs import inputs, maxpool_graph, numpy_maxpool  # noqa: E402

pytestmark = pytest.mark.lava


def test_maxpool_tree_runs_in_lava_as_in_the_reference():
    pytest.importorskip("lava")
    from ds2ta.sims.lava.simulate import simulate_lava, time_major_records
    from ds2ta.sims.reference.simulate import simulate
    from ds2ta.sims.results import compare_results, first_divergence

    g, _ = maxpool_graph()
    x = inputs(3, 2)
    labels = [0, 1]
    lava, run = simulate_lava(g, x, labels)
    recs = {}
    ref = simulate(g, torch.from_numpy(x), labels, on_batch=lambda lo, res: recs.update(res.record))
    div = first_divergence(recs, time_major_records(run), list(run.records))
    res = compare_results({"reference": ref, "lava": lava}, div, records_equal=div is None)
    assert res["match"], (res["first_divergence"], res["checks"])
    assert {"sh", "feat", "r3_0", "lif1", "lif2"} <= set(run.records)
    _, pooled = numpy_maxpool(x)
    np.testing.assert_array_equal(np.swapaxes(run.records["feat"], 0, 1).reshape(pooled.shape), pooled)
    classes = run.process_classes
    assert classes.get("lava.proc.graded.process.GradedVec") == 2       # sh, feat
    assert classes.get("lava.proc.graded.process.GradedReluVec") == 8   # the tree's comparisons
    assert classes.get("lava.proc.sparse.process.Sparse") == 3          # to_sh, to_lif1, to_lif2
    assert classes.get("ds2ta.sims.lava.procs.io.process.BiasSource") == 1  # feat's tap-conv bias
    assert lava["layers"]["feat"]["spikes"] == np.count_nonzero(pooled)
    assert 0 < lava["layers"]["lif1"]["spikes"] < lava["layers"]["lif1"]["neuron_updates"]


def test_weighted_conv_becomes_an_exact_sparse_matrix():
    pytest.importorskip("lava")
    from ds2ta.sims.lava.sparse_conv import conv_matrix, lava_weights
    import nir
    from lava.utils.weightutils import SignMode

    from ds2ta.sims.lava.ops import apply_linear

    rng = np.random.default_rng(2)
    for groups, stride, pad in [(1, 1, 0), (3, 2, 1), (3, 1, 2)]:
        w = rng.integers(-128, 128, (6, 3 // groups, 3, 3))
        node = nir.Conv2d(input_shape=(5, 4), weight=w, stride=stride, padding=pad, dilation=1, groups=groups,
                          bias=np.zeros(6), metadata={"weight_exp": -3})
        x = rng.integers(-(1 << 20), 1 << 20, (4, 3 * 5 * 4))
        m = conv_matrix("c", node, (3, 5, 4))
        np.testing.assert_array_equal((m @ x.T).T, apply_linear("c", node, x))
        m2, e2, _ = lava_weights(m, -3, "c")  # mixed signs, odd: doubled, exponent one lower
        assert e2 == -4 and np.array_equal(m2.toarray(), 2 * m.toarray())
        np.testing.assert_array_equal(chip.apply_weight_exp(m2 @ x.T, e2), chip.apply_weight_exp(m @ x.T, -3))
    m3, e3, mode = lava_weights(csr_matrix(np.array([[-256, -4, 0]])), -5, "c")  # one sign clips -256
    assert e3 == -5 and mode == SignMode.MIXED and m3[0, 0] == -256
    with pytest.raises(ValueError, match="8-bit Sparse encoding"):
        lava_weights(csr_matrix(np.array([[201, -3]])), -2, "c")  # odd, mixed, beyond [-128, 127]


def test_inhibitory_weights_of_minus_256_run_in_mixed_mode():
    """A weighted conv whose even weights are all <= 0 with a -256 (lava-nc's inhibitory mode would clip it
    to -255) into a graded unit: Lava equals the reference (numpy ``(W x) >> 3``)."""
    pytest.importorskip("lava")
    import nir

    from ds2ta.export.nir_graded import DS2TAGraded
    from ds2ta.sims.lava.network import LavaNetwork

    w = np.array([-256, -4, -8, 0, -254, -100, -2, -2, -6]).reshape(1, 1, 3, 3)  # the quantizer's even values
    conv = nir.Conv2d(input_shape=(3, 3), weight=w, stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(1), metadata={"weight_exp": -3})
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 3, 3])), "c": conv,
                            "u": DS2TAGraded((1, 3, 3), relu=False), "output": nir.Output(np.array([1, 3, 3]))},
                     edges=[("input", "c"), ("c", "u"), ("u", "output")], type_check=False)
    x = np.random.default_rng(5).integers(-3000, 3000, (2, 4, 1, 3, 3))  # (samples, T, C, H, W)
    run = LavaNetwork(g, T=4).run(x)
    want = np.stack([chip.conv2d(x[s], w, 1, 1) for s in range(2)]) >> 3  # (S, T, 1, 3, 3)
    np.testing.assert_array_equal(run.records["u"], want.reshape(2, 4, 9))

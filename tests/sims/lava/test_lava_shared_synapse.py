"""A synapse node with several spike inputs runs as one Lava Process: ``W (a + b)``, as NIR defines it.

Oracle: a numpy loop of ``chip.lif_step`` (itself checked against lava-nc's LIF model in
tests/hardware/test_chip_lava.py); the two sources fire together on some steps, so the shared
synapse's input carries counts of 2 that a binary synapse input would clip to 1.
"""

import nir
import numpy as np
import pytest

from test_lava_network import _lif, lif_fixed_step

pytestmark = pytest.mark.lava


def _graph(rng):
    Wa = rng.integers(0, 30, (5, 4)) * 2
    Wb = rng.integers(0, 30, (5, 4)) * 2
    Wc = rng.integers(-20, 60, (3, 5)) * 2  # one node read by two populations
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "fa": nir.Linear(Wa), "a": _lif(5, vth=30),
                            "fb": nir.Linear(Wb), "b": _lif(5, vth=40), "fc": nir.Linear(Wc), "c": _lif(3),
                            "output": nir.Output(np.array([3]))},
                     edges=[("input", "fa"), ("fa", "a"), ("input", "fb"), ("fb", "b"), ("a", "fc"),
                            ("b", "fc"), ("fc", "c"), ("c", "output")])
    return g, Wa, Wb, Wc


def test_two_spike_sources_into_one_node_share_a_process_and_sum():
    from ds2ta.sims.lava.network import LavaNetwork

    rng = np.random.default_rng(4)
    g, Wa, Wb, Wc = _graph(rng)
    x = rng.integers(0, 3, (2, 6, 4))
    run = LavaNetwork(g, T=6).run(x)
    dense = {k: v for k, v in run.process_classes.items() if k.endswith(".Dense")}
    assert sum(dense.values()) == 3, run.process_classes  # fa, fb and ONE for fc (was two)
    for s in range(2):
        ua = va = ub = vb = np.zeros(5, int)
        uc = vc = np.zeros(3, int)
        both = 0
        for t in range(6):
            sa, ua, va = lif_fixed_step(ua, va, Wa @ x[s, t], 4095, 2048, 0, 30)
            sb, ub, vb = lif_fixed_step(ub, vb, Wb @ x[s, t], 4095, 2048, 0, 40)
            both += int((sa & sb).sum())
            sc, uc, vc = lif_fixed_step(uc, vc, Wc @ (sa.astype(int) + sb.astype(int)), 4095, 2048, 0, 20)
            np.testing.assert_array_equal(run.records["a"][s, t], sa)
            np.testing.assert_array_equal(run.records["b"][s, t], sb)
            np.testing.assert_array_equal(run.records["c"][s, t], sc)
        assert both > 0  # the sources fired together: the sum was 2 somewhere

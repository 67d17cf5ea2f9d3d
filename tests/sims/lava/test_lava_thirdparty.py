"""Third-party NIR graphs (snntorch, sinabs, a recurrent CubaLIF) run in Lava and match the integer
reference executor spike for spike on every population, after ``integerize_graph``.

Schedule (``LavaNetwork``, 3 samples): ``test_thirdparty_graph_matches_reference`` runs every graph both
**pipelined** (a sample every T steps) and **sequential**; the other comparisons run ``LavaNetwork``'s
default, sequential (the command-line path, pipelined: tests/export/test_bring_your_own_nir.py)."""

from __future__ import annotations

import os
import sys
import warnings

import nir
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/sims helpers
from thirdparty_graphs import GRAPHS, as_subgraph  # noqa: E402

pytestmark = pytest.mark.lava

SPIKING = (nir.LIF, nir.CubaLIF, nir.IF)


def _integer(name):
    from ds2ta.export.graph_quant import integerize_graph
    g, dt, shape = GRAPHS[name]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lossy 8-bit weights: both backends run the same integer graph
        return integerize_graph(g, dt=dt), shape


def _reference(graph, x):
    """Reference records as ``(samples, T, n)`` arrays (it takes and returns time-major tensors)."""
    from ds2ta.sims.reference import ReferenceExecutor
    S, T = x.shape[:2]
    res = ReferenceExecutor(graph).run(torch.from_numpy(x).transpose(0, 1), record=True)
    return {n: r.transpose(0, 1).reshape(S, T, -1).numpy() for n, r in res.record.items()}


def _compare(lava_graph, ref_graph, x, pipelined=False):
    from ds2ta.sims.lava import LavaNetwork
    net = LavaNetwork(lava_graph, x.shape[1], pipelined=pipelined)
    run = net.run(x)
    ref = _reference(ref_graph, x)
    spikes = {}
    for name, pop in net.schedule.populations.items():
        got = run.records[name]
        assert got.shape == ref[name].shape, name
        np.testing.assert_array_equal(got, ref[name], err_msg=f"population {name!r} differs")
        if isinstance(pop.node, SPIKING):
            spikes[name] = int(got.sum())
            assert 0 < spikes[name] < got.size, f"{name}: {spikes[name]} spikes, the check would be vacuous"
    print({"lava_processes": run.processes, "depth": net.latency_steps, "spikes": spikes})
    return net, spikes


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
@pytest.mark.parametrize("name", ["snntorch_lif_mlp", "sinabs_cnn", "snntorch_recurrent_cuba"])
def test_thirdparty_graph_matches_reference(name, pipelined):
    g, shape = _integer(name)
    x = np.random.default_rng(0).integers(0, 4, (3, 10, *shape))
    net, spikes = _compare(g, g, x, pipelined)
    assert net.period == (10 if pipelined else 10 + net.latency_steps)
    assert len(spikes) == {"snntorch_lif_mlp": 2, "sinabs_cnn": 3, "snntorch_recurrent_cuba": 1}[name]


def _lava_nc_lif(a, lava):
    """Spikes ``(S, T, n)`` of lava-nc's own ``LIF`` (``PyLifModelBitAcc``) fed the integer currents
    ``a`` ``(S, T, n)`` straight into ``a_in`` (a source reaches a port in the same step). The samples
    run side by side as ``S x n`` independent neurons, each with its own ``du``, ``dv``, ``vth``, bias."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    S, T, n = a.shape
    per = {k: np.tile(np.asarray(lava[k]), S) for k in ("du", "dv", "vth", "bias_mant", "bias_exp")}
    src = Source(data=a.transpose(0, 2, 1).reshape(S * n, T).astype(np.int32))
    lif = LIF(shape=(S * n,), **per)
    sink = Sink(shape=(S * n,), buffer=T)
    src.s_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        s = sink.data.get()
    finally:
        lif.stop()
    return s.reshape(S, n, T).transpose(0, 2, 1).astype(np.int64)


def test_per_neuron_beta_matches_lava_nc_own_lif():
    """snntorch with a different beta per neuron. The oracle is none of the project's LIF code:
    lava-nc's own LIF with per-neuron ``dv``, fed the currents ``W x + b`` of the integer graph's
    Affine nodes (NIR semantics, computed here in numpy). The project's Lava network and its
    reference must both give its spikes on both layers."""
    from ds2ta.sims.lava import LavaNetwork
    g, shape = _integer("snntorch_lif_mlp_per_neuron_beta")
    x = np.random.default_rng(0).integers(0, 4, (3, 10, *shape))
    W0, b0 = (np.asarray(getattr(g.nodes["0"], k), dtype=np.int64) for k in ("weight", "bias"))
    W2, b2 = (np.asarray(getattr(g.nodes["2"], k), dtype=np.int64) for k in ("weight", "bias"))
    lava1, lava3 = g.nodes["1"].metadata["lava"], g.nodes["3"].metadata["lava"]
    assert np.unique(lava1["dv"]).size == 6  # the decays really differ per neuron
    want1 = _lava_nc_lif(x @ W0.T + b0, lava1)
    want3 = _lava_nc_lif(want1 @ W2.T + b2, lava3)
    assert 0 < want1.sum() < want1.size and 0 < want3.sum() < want3.size
    shared = dict(lava1, dv=np.full(6, int(np.median(lava1["dv"]))))
    assert not np.array_equal(_lava_nc_lif(x @ W0.T + b0, shared), want1), "one shared decay fires the same"

    run = LavaNetwork(g, x.shape[1]).run(x)
    ref = _reference(g, x)
    for name, want in (("1", want1), ("3", want3)):
        np.testing.assert_array_equal(run.records[name], want, err_msg=f"project Lava, population {name}")
        np.testing.assert_array_equal(ref[name], want, err_msg=f"reference, population {name}")


def test_recurrent_subgraph_flattens_like_the_flat_graph():
    """The recurrence written as a NIR subgraph (own Input/Output nodes) runs in Lava exactly as the
    reference runs the flat graph; the subgraph's Input is an identity, not a second graph input."""
    g, shape = _integer("snntorch_recurrent_cuba")
    x = np.random.default_rng(1).integers(0, 4, (3, 8, *shape))
    net, spikes = _compare(as_subgraph(g), g, x)
    assert net.input == "input" and set(spikes) == {"1.lif"}


def test_float_subgraph_integerizes_and_both_backends_run_it_nested():
    """A float graph with a nested subgraph: integerized as it is (the subgraph's Input/Output are
    identities for the quantizer too) and run nested by both backends, spike for spike."""
    from ds2ta.export.graph_quant import integerize_graph
    g, dt, shape = GRAPHS["snntorch_recurrent_cuba"]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nested = integerize_graph(as_subgraph(g), dt=dt)
    x = np.random.default_rng(2).integers(0, 4, (3, 8, *shape))
    net, spikes = _compare(nested, nested, x)
    assert set(spikes) == {"1.lif"}


def test_nonzero_reset_is_refused_by_the_quantizer():
    from ds2ta.export.graph_quant import integerize_graph
    g, dt, _ = GRAPHS["snntorch_lif_mlp"]()
    name = next(n for n, v in g.nodes.items() if isinstance(v, nir.LIF))
    g.nodes[name].v_reset = np.full_like(np.asarray(g.nodes[name].v_threshold, dtype=float), 0.25)
    with pytest.raises(ValueError, match="v_reset"):
        integerize_graph(g, dt=dt)


def test_schedule_types_untyped_nodes_and_times_biases():
    """sinabs leaves Conv2d/SumPool2d untyped: shapes come from the source population. A recurrent
    path's bias reaches the neuron from step 1 (reference: the cycle's last edge carries y[t-1])."""
    from ds2ta.sims.lava.graph import Schedule
    sch = Schedule(_integer("sinabs_cnn")[0])
    (p,) = [p for p in sch.projections if p.dst == "4"]
    assert [n for n, _ in p.ops] == ["2", "3"] and p.ops[1][1].input_shape == (4, 4)
    assert sch.populations["1"].biases[0][1].shape == (4 * 8 * 8,)  # per-channel bias over (C, H, W)
    g = _integer("snntorch_recurrent_cuba")[0]
    starts = sorted(s for s, _ in Schedule(g).populations["1.lif"].biases)
    assert starts == [0, 1]
    w_rec_bias = np.asarray(g.nodes["1.w_rec"].bias)
    (vec,) = [v for s, v in Schedule(g).populations["1.lif"].biases if s == 1]
    np.testing.assert_array_equal(vec, w_rec_bias)


def test_nonzero_reset_is_refused_by_name():
    from ds2ta.sims.lava import LavaNetwork
    g, shape = _integer("snntorch_lif_mlp")
    nodes = dict(g.nodes)
    n = nodes["3"]
    nodes["3"] = nir.LIF(tau=n.tau, r=n.r, v_leak=n.v_leak, v_threshold=n.v_threshold,
                         v_reset=np.full(np.shape(n.v_reset), 2.0), metadata=n.metadata)
    bad = nir.NIRGraph(nodes=nodes, edges=g.edges, type_check=False)
    with pytest.raises(ValueError, match=r"'3'.*v_reset"):
        LavaNetwork(bad, 4).run(np.zeros((1, 4, *shape), int))

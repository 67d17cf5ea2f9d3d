"""Third-party ``AvgPool2d`` (issue 13, case 7): integerized as ``SumPool2d`` with the ``1/k^2`` folded into
the next layer, so the integer reference equals a float simulation of the graph spike for spike (it
used to compute floor(window sum / 4), dropping every window with 1-3 spikes); an integer graph that
still holds ``AvgPool2d`` is refused by name. Latency: a chain of linear nodes is one synapse layer."""

from __future__ import annotations

import os
import sys
import warnings

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/sims helpers
from thirdparty_graphs import GRAPHS, avgpool_net, pool_chain_net  # noqa: E402

from ds2ta.export.graph_quant import integerize_graph  # noqa: E402
from ds2ta.sims.reference import ReferenceExecutor  # noqa: E402


def _float_if(inputs, theta):
    """NIR IF with dt = 1 in float: v += x; spike when v > theta (no ties here); reset to 0."""
    v, out = torch.zeros_like(inputs[0]), []
    for x in inputs:
        v = v + x
        s = v > theta
        v = torch.where(s, torch.zeros_like(v), v)
        out.append(s.double())
    return torch.stack(out)


def float_run(g: nir.NIRGraph, x: torch.Tensor, floor_pool: bool = False) -> dict:
    """The graph of ``avgpool_net`` simulated in float64 (independent of the integer path);
    ``floor_pool`` replaces the average by floor(window sum / 4), the old integer reading."""
    T, B = x.shape[:2]
    n = g.nodes
    c = F.conv2d(x.flatten(0, 1).double(), torch.from_numpy(n["conv"].weight).double(), padding=1)
    s1 = _float_if(c.reshape(T, B, *c.shape[1:]), 3.0)
    p = F.avg_pool2d(s1.flatten(0, 1), 2)
    if floor_pool:  # floor(sum / 4) of binary spikes is 1 for a full window, else 0
        p = (p == 1).double()
    p = p.reshape(T, B, *p.shape[1:])
    out = {"if1": s1}
    if "if2" in n:
        out["if2"] = _float_if(p, 0.9)
    else:
        a = p.reshape(T, B, -1) @ torch.from_numpy(n["fc"].weight).double().T
        out["if3"] = _float_if(a, 3.0)
    return out


def _integer(g, dt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # exact: no lossy-quantization warning may be raised
        return integerize_graph(g, dt=dt)


@pytest.mark.parametrize("head", ["neuron", "affine"])
def test_avgpool_is_exact_against_a_float_simulation(head):
    g, dt, shape = avgpool_net(head)
    gi = _integer(g, dt)
    assert type(gi.nodes["pool"]).__name__ == "SumPool2d" and gi.nodes["pool"].metadata["avgpool_area"] == 4
    x = torch.from_numpy(np.random.default_rng(1).integers(0, 3, (12, 5, *shape)))
    rec = ReferenceExecutor(gi).run(x, record=True).record
    want = float_run(g, x)
    last = "if2" if head == "neuron" else "if3"
    for k, v in want.items():
        np.testing.assert_array_equal(rec[k].double().numpy(), v.numpy(), err_msg=k)
    # not vacuous: windows with 1-3 spikes occur and change the pooled layer's spikes under floor(sum/4)
    win = F.avg_pool2d(want["if1"].flatten(0, 1), 2) * 4
    assert ((win > 0) & (win < 4)).sum() > 50
    assert 0 < int(want[last].sum()) < want[last].numel()
    assert not torch.equal(float_run(g, x, floor_pool=True)[last], want[last])


def test_avgpool_feeding_what_cannot_take_the_fold_is_named():
    g, dt, _ = avgpool_net("neuron")
    g.nodes["pool2"] = nir.AvgPool2d(np.array([2, 2]), np.array([1, 1]), np.array([0, 0]))
    g.edges = [e for e in g.edges if e != ("pool", "if2")] + [("pool", "pool2"), ("pool2", "if2")]
    with pytest.raises(ValueError, match=r"AvgPool2d 'pool': it feeds 'pool2' \(AvgPool2d\).*SumPool2d"):
        integerize_graph(g, dt=dt)


def test_integer_graph_with_avgpool_is_refused_by_name():
    gi = _integer(*avgpool_net("neuron")[:2])
    p = gi.nodes["pool"]
    gi.nodes["pool"] = nir.AvgPool2d(p.kernel_size, p.stride, p.padding)  # as a hand-written graph would
    with pytest.raises(ValueError, match=r"AvgPool2d 'pool': an integer graph holds it.*integerize_graph folds"):
        ReferenceExecutor(gi)


@pytest.mark.parametrize("build,latency", [
    (pool_chain_net, 2),            # conv | pool+flatten+affine: two synapse layers
    (GRAPHS["sinabs_cnn"], 3),      # conv | pool+conv | affine
    (GRAPHS["snntorch_recurrent_cuba"], 1),  # the recurrent Affine is no step on the path
    (lambda: avgpool_net("affine"), 2),
])
def test_latency_counts_one_step_per_synapse_layer(build, latency):
    """Hand-counted: synapse layers between input and the deepest population (a chain of linear
    nodes without a neuron between composes into one synaptic matrix on the chip)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, dt, _ = build()
        assert ReferenceExecutor(integerize_graph(g, dt=dt)).latency_steps == latency

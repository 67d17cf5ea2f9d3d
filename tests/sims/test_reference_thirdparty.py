"""Third-party NIR graphs (sinabs CNN, snntorch recurrent) load and run in the reference, or are refused
with an error naming the node."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch

from ds2ta.sims.reference import ReferenceExecutor


def test_sinabs_cnn_graph_runs():
    import sinabs.layers as sl
    from sinabs.nir import to_nir
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1),
                              sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 3, bias=False),
                              sl.IAFSqueeze(batch_size=1))
    g = to_nir(net, torch.zeros(1, 1, 8, 8))
    assert {type(n).__name__ for n in g.nodes.values()} >= {"Conv2d", "IF", "SumPool2d", "Flatten", "Affine"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = ReferenceExecutor(g, dt=1.0)
    res = ex.run(torch.randint(0, 2, (5, 2, 1, 8, 8)), record=True)
    assert res.outputs["output"].shape == (5, 2, 3)
    assert int(res.record["1"].sum()) > 0  # the first IF layer fires
    # IF in integer form: no leak, gain r*dt = 1, threshold = S * v_threshold
    lava = ex.nodes["1"].metadata["lava"]
    assert np.all(lava["dv"] == 0) and np.all(lava["du"] == 4095)


def test_snntorch_recurrent_graph_runs():
    import snntorch as snn
    from snntorch.export_nir import export_to_nir
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3),
                              snn.RLeaky(beta=0.8, linear_features=3, init_hidden=True, output=True))
    g = export_to_nir(net, torch.zeros(1, 4), ignore_dims=[0])
    assert any(a == "1.w_rec" for a, _ in g.edges)  # LIF -> W_rec -> LIF cycle
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = ReferenceExecutor(g, dt=1e-4)
    assert ex.delayed  # the recurrent edge is delayed by one step
    res = ex.run(torch.randint(0, 4, (6, 2, 4)), record=True)
    assert res.outputs["output"].shape[:2] == (6, 2)


def test_unsupported_node_is_named():
    class FancyConv(nir.Conv1d):  # a type the kind table does not hold
        pass

    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 8])),
                            "c1": FancyConv(input_shape=8, weight=np.ones((2, 2, 3)), stride=1, padding=0,
                                            dilation=1, groups=1, bias=np.zeros(2)),
                            "output": nir.Output(np.array([2, 6]))},
                     edges=[("input", "c1"), ("c1", "output")], type_check=False)
    with pytest.raises(ValueError, match="'c1'.*FancyConv"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ReferenceExecutor(g, dt=1.0)


def test_float_executor_types_an_untyped_sinabs_conv():
    """sinabs 2 leaves Conv2d ``input_shape`` None in memory (the float executor failed with a TypeError):
    it now takes the wired shape, and equals the same graph with the shapes filled in by hand."""
    import copy

    from thirdparty_graphs import sinabs_cnn

    from ds2ta.sims.reference.float_nir import FloatExecutor
    g, dt, shape = sinabs_cnn()
    typed = copy.deepcopy(g)
    typed.nodes["0"].input_shape, typed.nodes["3"].input_shape = np.array([8, 8]), np.array([4, 4])
    x = torch.randint(0, 3, (6, 2) + shape).double()
    a, b = FloatExecutor(g, dt=dt).run(x), FloatExecutor(typed, dt=dt).run(x)
    assert a["7"].sum() > 0 and all(torch.equal(a[k], b[k]) for k in b)

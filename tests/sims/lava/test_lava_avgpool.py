"""Issue 13, case 7 in Lava: a third-party ``AvgPool2d`` runs exactly (as ``SumPool2d`` with the 1/k^2
folded into the next layer), spike for spike with the reference and a float simulation; an integer graph
holding ``AvgPool2d`` is refused with the reference's error; ``--compare`` requires equal latencies and
the pool -> flatten -> affine chain is one synapse layer in both backends. Schedule: ``LavaNetwork``'s
default (sequential) for the float comparison, ``ds2ta-sim``'s (pipelined, 3 samples) for ``--compare``."""

from __future__ import annotations

import json
import os
import sys
import warnings

import nir
import numpy as np
import pytest
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/sims helpers
from test_reference_avgpool import float_run  # noqa: E402
from thirdparty_graphs import avgpool_net, pool_chain_net  # noqa: E402

pytestmark = pytest.mark.lava


def _integer(g, dt):
    from ds2ta.export.graph_quant import integerize_graph
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return integerize_graph(g, dt=dt)


@pytest.mark.parametrize("head", ["neuron", "affine"])
def test_avgpool_in_lava_equals_reference_and_float(head):
    from ds2ta.sims.lava import LavaNetwork
    from ds2ta.sims.reference import ReferenceExecutor
    g, dt, shape = avgpool_net(head)
    gi = _integer(g, dt)
    x = np.random.default_rng(1).integers(0, 3, (3, 8, *shape))  # (samples, T, C, H, W)
    net = LavaNetwork(gi, x.shape[1])
    run = net.run(x)
    ex = ReferenceExecutor(gi)
    xt = torch.from_numpy(x).transpose(0, 1)
    ref = ex.run(xt, record=True).record
    want = float_run(g, xt)
    for name in want:
        lava = run.records[name]  # (samples, T, n)
        np.testing.assert_array_equal(lava, ref[name].transpose(0, 1).reshape(lava.shape).numpy(), err_msg=name)
        np.testing.assert_array_equal(lava, want[name].transpose(0, 1).reshape(lava.shape).numpy(), err_msg=name)
    assert net.latency_steps == ex.latency_steps == 2


def test_integer_avgpool_refused_by_lava_with_the_reference_message():
    from ds2ta.sims.lava.graph import Schedule
    from ds2ta.sims.reference import ReferenceExecutor
    gi = _integer(*avgpool_net("neuron")[:2])
    p = gi.nodes["pool"]
    gi.nodes["pool"] = nir.AvgPool2d(p.kernel_size, p.stride, p.padding)
    msgs = []
    for build in (Schedule, ReferenceExecutor):
        with pytest.raises(ValueError, match="AvgPool2d 'pool'") as e:
            build(gi)
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_compare_cli_latency_of_a_pool_chain(tmp_path, capsys):
    from ds2ta.export.nir_io import write_graph
    from ds2ta.cli.sim import main
    g, dt, shape = pool_chain_net()
    write_graph(tmp_path / "model.nir", _integer(g, dt))
    np.save(tmp_path / "x_int.npy", np.random.default_rng(0).integers(0, 3, (3, *shape)))
    np.save(tmp_path / "labels.npy", np.array([0, 1, 2]))
    assert main([str(tmp_path / "model.nir"), "--compare", "--T", "6", "--dataset", str(tmp_path),
                 "--out", str(tmp_path / "sim"), "--no-progress"]) == 0
    res = json.loads((tmp_path / "sim" / "simulation.json").read_text())
    assert res["match"] is True and res["checks"]["latency_steps"] == {"lava": 2, "reference": 2}

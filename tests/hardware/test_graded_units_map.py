"""``DS2TAGraded`` units on the mapper and the energy model: each is a layer with graded input and output
(``meta["graded_unit"]``), checked against the core limits like any layer and priced with the graded
constants the lowered attention populations use (``graded_synop``, ``graded_neuron_update``,
``graded_message_out``).
"""

from __future__ import annotations

import math
import os
import sys

import torch

from ds2ta.hardware.energy import estimate
from ds2ta.hardware.mapper import check_fits
from ds2ta.hardware.nir_adapter import graph_layers
from ds2ta.hardware.profiles import PROFILES
from ds2ta.sims.reference.simulate import simulate

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims"))
from graded_graphs import inputs, maxpool_graph  # noqa: E402

UNITS = {"sh", "feat", "r0_0", "r0_1", "r0_2", "r0_3", "r1_0", "r1_1", "r2_0", "r3_0"}


def test_graded_units_are_layers_with_summed_fan_in():
    g, _ = maxpool_graph()
    layers = {ls.name: ls for ls in graph_layers(g)[0]}
    assert UNITS | {"relay", "lif1", "lif2"} <= set(layers)
    for u in UNITS:
        assert layers[u].graded_input and layers[u].meta["graded_unit"] in ("relu", "identity")
    assert layers["feat"].meta["graded_unit"] == "identity" and layers["r0_0"].meta["graded_unit"] == "relu"
    assert layers["lif1"].graded_input and "graded_unit" not in layers["lif1"].meta  # fed by a unit
    # r2_0 adds sh's 3x3 window (9) and four 1x1 projections from earlier units
    assert layers["r2_0"].fan_in == 9 + 4 and layers["r2_0"].replicas == 1
    assert layers["sh"].fan_in == 1 and layers["lif2"].fan_in == 2 * 2 * 2


def test_graph_maps_and_prices_its_units():
    g, _ = maxpool_graph()
    m = check_fits(g)
    assert m.total_cores > 0 and m.latency_steps == 8  # the simulators' latency
    for u in UNITS:
        assert m.layer_cores(u)
    x = inputs(3, 2)
    act = simulate(g, torch.from_numpy(x), [0, 1])
    rep = estimate(m, act)
    n = act["samples"]
    for key, prof in PROFILES.items():
        lo = rep.loihi[key]
        terms = {t["name"]: t for t in lo["terms"]}
        syn = terms["graded units: graded synops"]
        into = [s for ls in m.layers if ls.name in UNITS for s in ls.meta["synapse_nodes"]]
        assert syn["count"] == sum(act["layers"][s]["graded_synops"] for s in into) / n
        assert syn["unit_J"] == prof.graded_synop.value and syn["energy_J"] > 0
        upd = terms["graded units: updates"]
        assert upd["unit_J"] == prof.graded_neuron_update.value
        assert upd["count"] == sum(act["layers"][u]["neuron_updates"] for u in UNITS) / n
        msg = terms["graded units: graded messages out"]
        assert msg["count"] == sum(act["layers"][u]["spikes"] for u in UNITS) / n > 0
        assert msg["unit_J"] == prof.graded_message_out.value
        for u in UNITS:
            assert math.isfinite(lo["per_layer_dynamic_J"][u]) and lo["per_layer_dynamic_J"][u] > 0
    assert math.isfinite(rep.paper["total_J"]) and rep.paper["total_J"] > 0

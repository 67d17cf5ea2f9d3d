"""A target's core description reaches mapping, energy, latency, metrics and the report.

A target whose ``CoreSpec`` has other constants than Loihi 2 must change every number that depends
on them; each is checked against the formula worked by hand from the overridden constants.
"""

from __future__ import annotations

import argparse
import json
import math
from types import SimpleNamespace

import nir
import numpy as np
import pytest

from ds2ta.cli.demo import report_stage
from ds2ta.export.nir_io import write_graph
from ds2ta.export.targets import TARGETS, get_target
from ds2ta.hardware import LOIHI2, CoreSpec, LayerSpec, MappingError, dense
from ds2ta.hardware.energy import estimate
from ds2ta.hardware.metrics import neurobench
from ds2ta.report.collect import collect
from ds2ta.report.inputs import write_energy

pJ = 1e-12
P_STATIC = 0.232078 / 74  # W per used core (PilotNet-LIF on Loihi 2; hardware/profiles.py)

# 64 bytes x 8 / 16 bits = 32 synapse entries per core; 8 neurons per core.
SMALL = LOIHI2.replace(name="small test core", neurons_per_core=8, synaptic_memory_bytes=64,
                       synop_time_s=1e-7, neuron_update_time_s=2e-9, barrier_time_s=1e-6,
                       measured_step_s=1e-4, state_bits=16)
N_IN, N_OUT = 10, 20
SAMPLES, T, DEPTH = 2, 4, 5
STEPS = T + DEPTH


@pytest.fixture
def small(monkeypatch):
    """``loihi2`` with the SMALL core, registered as ``loihi2-small`` for this test only."""
    t = get_target("loihi2").with_spec(SMALL, name="loihi2-small")
    monkeypatch.setitem(TARGETS, t.name, t)
    return t


def _layers():
    return [LayerSpec("x", "input", (1, 1, N_IN)), dense("fc", N_IN, N_OUT, sources=["x"])]


def _activity(synapse_node="fc"):
    """Totals over 2 samples: per inference x 10 spikes / 50 updates; fc 3 spikes, 40 synops,
    20 graded synops, 20 updates (15 active), 5 attention ops."""
    fc = {"spikes": 6, "neuron_updates": 40, "active_neuron_updates": 30, "attention_ops": 10}
    syn = {"synops": 80, "graded_synops": 40}
    layers = {"x": {"spikes": 20, "synops": 0, "graded_synops": 0, "neuron_updates": 100, "attention_ops": 0}}
    if synapse_node == "fc":
        layers["fc"] = dict(fc, **syn)
    else:
        layers.update({"fc": fc, synapse_node: syn})
    return {"samples": SAMPLES, "T": T, "latency_steps": DEPTH, "layers": layers}


# Hand-worked from SMALL: x (10 neurons, a column of 10 > 8) splits flat into 8 + 2; an fc neuron
# stores 10 entries, so min(8, 32 // 10) = 3 per core: 3,3,3,3,3,3,2.
CORES = math.ceil(N_IN / 8) + math.ceil(N_OUT / min(8, (64 * 8 // 16) // N_IN))
# Slowest core: a 3-neuron fc core does 3/20 of fc's (40 + 20 + 5) synaptic events per inference,
# spread over the 9 steps, at 1e-7 s each, plus 3 updates at 2e-9 s; then the 1e-6 s barrier.
# (The 8-neuron input core: 8 x 2e-9 = 16 ns, less.)
STEP_S = (40 + 20 + 5) * 3 / 20 / STEPS * 1e-7 + 3 * 2e-9 + 1e-6
# x cores 0-1 sit on router 0; fc cores 2-3 on router 0, 4-7 on router 1 (x=1), 8 on router 2 (x=2).
MSGS_PER_X_SPIKE, EW_HOPS_PER_X_SPIKE = 7, 0 + 0 + 4 * 1 + 2


def _sanafe_dynamic(msgs, ew_hops):
    return (60 * 35.5 + 70 * 51.2 + 65 * 21.6 + 13 * 69.3 + 5 * 35.5 + 10 * msgs * 111 + 10 * ew_hops * 3.0) * pJ


def test_spec_round_trips_through_mapping_json(small, tmp_path):
    m = small.map(_layers())
    path = small.write_mapping(m, tmp_path / "mapping.json")
    assert CoreSpec.from_dict(json.loads(open(path).read())["spec"]) == SMALL
    with pytest.raises(ValueError, match="missing limits"):
        CoreSpec.from_dict({"name": "x", "neurons_per_core": SMALL.neurons_per_core.to_dict()})


def test_cores_and_chips_follow_the_target(small):
    assert CORES == 9
    assert small.map(_layers()).total_cores == CORES
    assert get_target("loihi2").map(_layers()).total_cores == 2
    four = get_target("loihi2").with_spec(SMALL.replace(cores_per_chip=4))
    with pytest.raises(MappingError, match="cores on 1 chip"):
        four.map(_layers(), chips=1)
    assert four.map(_layers(), chips=3).chips == math.ceil(CORES / 4)


def test_energy_latency_and_metrics_follow_the_mapping_spec(small, tmp_path):
    mapping = json.loads(open(small.write_mapping(small.map(_layers()), tmp_path / "m.json")).read())
    r = estimate(mapping, _activity())
    assert r.latency["steps"] == STEPS
    assert r.latency["step_s_model"] == pytest.approx(STEP_S, rel=1e-12)
    assert r.latency["seconds_model"] == pytest.approx(STEPS * STEP_S, rel=1e-12)
    assert r.latency["step_s_pilotnet_measured"] == 1e-4
    assert r.latency["seconds_at_pilotnet_step"] == pytest.approx(STEPS * 1e-4, rel=1e-12)
    assert "small test core" in r.latency["source"] and "100 ns" in r.latency["source"]
    lo = r.loihi["sanafe"]
    assert lo["static_J"]["model_step"] == pytest.approx(P_STATIC * CORES * STEPS * STEP_S, rel=1e-12)
    assert lo["static_J"]["pilotnet_step"] == pytest.approx(P_STATIC * CORES * STEPS * 1e-4, rel=1e-12)
    assert mapping["edges"]["x->fc"]["messages_per_spike"] == MSGS_PER_X_SPIKE
    assert mapping["edges"]["x->fc"]["hops_ew_per_spike"] == EW_HOPS_PER_X_SPIKE
    assert lo["dynamic_J"] == pytest.approx(_sanafe_dynamic(MSGS_PER_X_SPIKE, EW_HOPS_PER_X_SPIKE), rel=1e-12)
    assert r.edp_Js["loihi_sanafe"] == pytest.approx(lo["total_J"]["model_step"] * STEPS * STEP_S, rel=1e-12)
    # u and v of the 20 fc neurons at 16 bits each
    assert neurobench(mapping, _activity())["state_bytes"] == N_OUT * 2 * 16 / 8

    # the same run on Loihi 2's core: two cores on one router, its own times
    base = get_target("loihi2").map(_layers()).to_dict()
    b = estimate(base, _activity())
    s = LOIHI2
    t2 = max(N_IN * s.neuron_update_time_s.value,
             65 / STEPS * s.synop_time_s.value + N_OUT * s.neuron_update_time_s.value) + s.barrier_time_s.value
    assert b.latency["step_s_model"] == pytest.approx(t2, rel=1e-12)
    assert b.loihi["sanafe"]["dynamic_J"] == pytest.approx(_sanafe_dynamic(1, 0), rel=1e-12)
    assert neurobench(base, _activity())["state_bytes"] == N_OUT * 2 * 24 / 8


def test_a_mapping_without_its_spec_is_refused(small):
    mapping = small.map(_layers()).to_dict()
    del mapping["spec"]
    with pytest.raises(ValueError, match="no 'spec'"):
        estimate(mapping, _activity())


def test_report_stage_maps_with_the_graphs_target_and_prices_with_it(small, tmp_path):
    """The demo's report stage maps model.nir onto the core of the target recorded in its metadata;
    energy.json and the report carry that core's numbers."""
    rng = np.random.default_rng(0)
    lif = nir.LIF(tau=np.full(N_OUT, 2.0), r=np.full(N_OUT, 2.0), v_leak=np.zeros(N_OUT),
                  v_threshold=np.full(N_OUT, 100.0))
    g = nir.NIRGraph(nodes={"x": nir.Input(np.array([N_IN])), "fc_w": nir.Affine(rng.integers(-9, 9, (N_OUT, N_IN)) * 2,
                                                                                   np.zeros(N_OUT)),
                            "fc": lif, "output": nir.Output(np.array([N_OUT]))},
                     edges=[("x", "fc_w"), ("fc_w", "fc"), ("fc", "output")],
                     metadata={"target": "loihi2-small"})
    write_graph(tmp_path / "model.nir", g)
    (tmp_path / "simulation.json").write_text(json.dumps(_activity(synapse_node="fc_w")))
    res = report_stage(SimpleNamespace(out=tmp_path, args=argparse.Namespace()))
    assert res["cores"] == CORES
    mapping = json.loads((tmp_path / "mapping.json").read_text())
    assert mapping["spec"]["name"] == "small test core" and mapping["total_cores"] == CORES
    energy = json.loads((tmp_path / "energy.json").read_text())
    assert energy["latency"]["step_s_model"] == pytest.approx(STEP_S, rel=1e-12)
    assert energy["loihi"]["sanafe"]["static_J"]["model_step"] == pytest.approx(P_STATIC * CORES * STEPS * STEP_S,
                                                                                rel=1e-12)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["mapping"]["total_cores"] == CORES and rep["mapping"]["spec"] == "small test core"
    assert rep["neurobench"]["state_bytes"] == N_OUT * 2 * 16 / 8
    assert "100 µs/step" in (tmp_path / "report.html").read_text()

    # without energy.json the report derives energy itself, from the same recorded spec
    (tmp_path / "energy.json").unlink()
    derived = collect(tmp_path, calibration=False)
    assert derived["energy"]["latency"]["step_s_model"] == pytest.approx(STEP_S, rel=1e-12)
    assert write_energy(tmp_path) == str(tmp_path / "energy.json")

"""Energy model against hand-priced events."""

import pytest

from ds2ta.hardware import LayerSpec, dense, map_layers
from ds2ta.hardware.energy import estimate

pJ = 1e-12


def _setup():
    # x (input, 1 core) -> fc (dense 10 -> 4, 1 core); both cores on router 0: zero hops.
    m = map_layers([LayerSpec("x", "input", (1, 1, 10)), dense("fc", 10, 4, sources=["x"])])
    act = {"samples": 2, "T": 4, "latency_steps": 5, "layers": {
        "x": {"spikes": 20, "synops": 0, "graded_synops": 0, "neuron_updates": 100, "attention_ops": 0},
        "fc": {"spikes": 6, "synops": 80, "graded_synops": 40, "neuron_updates": 40, "attention_ops": 10,
               "active_neuron_updates": 30}}}
    return m, act


def test_paper_comparable_by_hand():
    m, act = _setup()
    r = estimate(m, act)
    # per inference: MACs 40/2 = 20 -> 20 * 4.6 pJ; ACs (80 + 10)/2 = 45 -> 45 * 0.9 pJ.
    assert r.paper["total_J"] == pytest.approx(20 * 4.6 * pJ + 45 * 0.9 * pJ)


def test_sanafe_dynamic_by_hand():
    m, act = _setup()
    lo = estimate(m, act).loihi["sanafe"]
    # per inference: synops (80+40)/2=60 dense x 35.5; updates (100+40)/2=70 x 51.2;
    # active: x has none given -> all 50, fc 15 -> 65 x 21.6; spikes (20+6)/2=13 x 69.3;
    # attention 5 x 35.5; messages: x's 10 spikes/inf each to 1 core -> 10 x 111; hops 0.
    want = (60 * 35.5 + 70 * 51.2 + 65 * 21.6 + 13 * 69.3 + 5 * 35.5 + 10 * 111) * pJ
    assert lo["dynamic_J"] == pytest.approx(want)
    assert {t["grade"] for t in lo["terms"]} <= {"M", "D"}


def test_synapse_node_counts_fold_onto_their_layer():
    # A simulator reports the weight node "fc.w" separately; the mapping knows it feeds layer fc.
    m, act = _setup()
    d = m.to_dict()
    d["layer_specs"][1]["meta"] = {"synapse_nodes": ["fc.w"]}
    split = dict(act, layers={"x": act["layers"]["x"], "fc": dict(act["layers"]["fc"], synops=0, graded_synops=0),
                              "fc.w": {"synops": 80, "graded_synops": 40}})
    assert estimate(d, split).paper["total_J"] == pytest.approx(estimate(m, act).paper["total_J"])


def test_static_energy_cores_steps_time():
    m, act = _setup()
    r = estimate(m, act)
    lo = r.loihi["table2"]
    # 0.232078 W / 74 cores x 2 cores x (T 4 + depth 5) steps x 152.8 us
    assert lo["static_J"]["pilotnet_step"] == pytest.approx(0.232078 / 74 * 2 * 9 / 408.91 / 16)
    assert r.latency["steps"] == 9
    assert estimate(m, dict(act, steps_per_inference=4)).latency["steps"] == 4
    assert r.edp_Js["loihi_table2"] == pytest.approx(lo["total_J"]["model_step"] * r.latency["seconds_model"])


def test_gpu_modeled_is_labelled():
    m, act = _setup()
    g = estimate(m, act).gpu
    assert g["kind"] == "modeled" and "not a measurement" in g["label"]
    assert g["flops_per_inference"] == 2 * 4 * (4 * 10)        # 2 FLOP/MAC x T x dense MACs of fc


def test_foreign_activity_rejected_and_routing_nodes_warned():
    m, act = _setup()
    act["layers"]["ghost"] = {"spikes": 1}
    with pytest.warns(UserWarning, match="ghost"):
        estimate(m, act)
    with pytest.raises(ValueError, match="same graph"):
        estimate(m, dict(act, layers={"other": {"spikes": 1}}))
    with pytest.raises(ValueError, match="samples"):
        estimate(m, {"layers": {}, "T": 1})


def test_measured_gpu_runs_carried_with_batch1_headline():
    m, act = _setup()
    runs = {"batch_1": {"energy_J": 2e-3, "energy_idle_subtracted_J": 1e-3, "latency_s": 0.01, "batch_size": 1,
                        "device": "H100", "source": "NVML"},
            "batch_256": {"energy_J": 5e-5, "energy_idle_subtracted_J": 4e-5, "latency_s": 0.02, "batch_size": 256,
                          "device": "H100", "source": "NVML"}}
    r = estimate(m, act, gpu=runs)
    assert r.gpu["kind"] == "measured" and r.gpu["energy_J"] == 2e-3 and set(r.gpu["runs"]) == set(runs)
    assert r.edp_Js["gpu"] == pytest.approx(2e-3 * 0.01)

"""Every report prices its run on the Loihi 2 time and power model (issue 23, item 4): cores of the deployment
table (Intel-like for input/conv/dense, the vendor-limit count for the others), chips, inferences/s chip-bound and
host-fed, energy per inference, power and the model's validation band, from the run's own counts.

The oracle: a hand-built run folder whose Intel-like cores are worked by hand below, and the model's documented
formulas (``hardware/loihi2_model.py`` docstring) evaluated here term by term on the fitted constants."""

import json

import pytest

from ds2ta.cli.report import main
from ds2ta.hardware import LayerSpec, dense, map_layers, write_mapping_json
from ds2ta.hardware.layers import conv
from ds2ta.hardware.loihi2_workloads import fitted_params, validation_band
from ds2ta.hardware.profiles import SANAFE_LOIHI1
from ds2ta.report.units import si

SAMPLES, T, LATENCY = 2, 4, 3
STEPS = T + LATENCY  # no steps_per_inference: sequential, T + latency chip steps per inference
# Intel-like cores, by hand (docs/hardware.md, R1-R3):
#   x input (40, 10, 10): a column is 10 x 10 = 100 neurons; widest power of two w with 100 w <= 4,095 is 32
#     -> ceil(40 / 32) = 2 cores
#   c conv -> (20, 5, 8): a column is 40 neurons -> w = 64 -> 1 core (90 kernel lists x 3 words: far under 12,000)
#   p pool: no Intel-like rule -> the vendor-limit mapper's count
#   fc dense 800 -> 100, 8-bit: 100 neurons: 800 x ceil((100 x 20 + 10) / 64) = 800 x 32 = 25,600 words > 12,000
#     -> r = 3 -> 34 neurons: 800 x ceil(690 / 64) = 800 x 11 = 8,800 words: fits -> ceil(100 / 34) = 3 cores
INTEL = {"x": 2, "c": 1, "fc": 3}
# counts over the 2 samples (simulation.json), per layer
COUNTS = {"x": {"spikes": 400, "synops": 0, "graded_synops": 0, "attention_ops": 0, "neuron_updates": 32000},
          "c": {"spikes": 160, "synops": 3600, "graded_synops": 0, "attention_ops": 0, "neuron_updates": 6400},
          "p": {"spikes": 100, "synops": 160, "graded_synops": 0, "attention_ops": 30, "neuron_updates": 6400},
          "fc": {"spikes": 10, "synops": 2000, "graded_synops": 50, "attention_ops": 0, "neuron_updates": 800}}
FEEDS = {"x": ["c"], "c": ["p"], "p": ["fc"], "fc": []}


def _layers():
    x = LayerSpec("x", "input", (40, 10, 10))
    c = conv("c", (40, 10, 10), 8, kernel=(3, 3), stride=(2, 2), padding=(1, 1), sources=["x"])
    p = LayerSpec("p", "pool", (20, 5, 8), fan_in=1, sources=["c"])
    return [x, c, p, dense("fc", 800, 100, sources=["p"])]


def _run(tmp, counts=COUNTS, simulate=True):
    mapping = map_layers(_layers())
    write_mapping_json(mapping, tmp / "mapping.json")
    if simulate:
        layers = {k: {**v, "active_neuron_updates": v["neuron_updates"], "neurons": 0} for k, v in counts.items()}
        (tmp / "simulation.json").write_text(json.dumps(
            {"backend": "reference", "graph": "g.nir", "samples": SAMPLES, "T": T, "latency_steps": LATENCY,
             "layers": layers, "per_sample": [], "accuracy": None, "wall_s": 0.1}))
    assert main([str(tmp), "--no-calibration"]) == 0
    rep = json.loads((tmp / "report.json").read_text())
    return rep, (tmp / "report.md").read_text(), (tmp / "report.html").read_text(), mapping.to_dict()


def _expected(counts, cores, host_bytes):
    """The model's formulas, written out: per core work, step, throughput, power, energy per inference."""
    p, e = fitted_params(0.0), SANAFE_LOIHI1
    per = {k: {c: v / SAMPLES for c, v in a.items()} for k, a in counts.items()}
    work, dyn = [], 0.0
    for name, a in per.items():
        synops = a["synops"] + a["graded_synops"] + a["attention_ops"]
        messages = a["spikes"] * sum(cores[d] for d in FEEDS[name])
        work.append((a["neuron_updates"] * p.t_nu.value + synops * p.t_syn.value + messages * p.t_msg.value)
                    / (cores[name] * STEPS))
        syn = e.synop_conv.value if name == "c" else e.synop_dense.value
        dyn += (synops * syn + a["neuron_updates"] * e.neuron_update.value + a["spikes"] * e.spike_out.value
                + messages * e.message.value)
    dyn *= p.energy_scale.value
    compute = p.time_scale.value * max(work) + p.t_barrier.value
    out = {}
    for fed, host in (("chip_bound", 0.0), ("host_fed", host_bytes / STEPS / p.host_bytes_per_s.value)):
        step = max(compute, host)
        inf_s = 1 / (step * STEPS)
        total = p.static_chip_W.value * 1 + dyn * inf_s
        out[fed] = {"step_s": step, "inferences_per_s": inf_s, "total_W": total, "energy_J": total / inf_s}
    return out


def test_report_prices_the_run_on_the_loihi2_model(tmp_path):
    rep, md, html, m = _run(tmp_path)
    l2 = rep["loihi2_model"]
    cores = {**INTEL, "p": m["layers"]["p"]["n_cores"]}
    assert (l2["cores"], l2["cores_intel_like"], l2["cores_vendor_limit_layers"]) == (7, 6, 1)
    assert (l2["vendor_limit_cores"], l2["chips"], l2["steps_per_inference"]) == (m["total_cores"], 1, STEPS)
    assert l2["host_bytes"] == 2 * 400 / SAMPLES                     # DELTA_SPARSE_8: 2 bytes per input value
    want = _expected(COUNTS, cores, 2 * 400 / SAMPLES)
    for fed in ("chip_bound", "host_fed"):
        for k, v in want[fed].items():
            assert l2[fed][k] == pytest.approx(v, rel=1e-12), (fed, k)
    assert l2["chip_bound"]["bound"] == "compute"
    band = validation_band()                                          # read from the model, not retyped
    assert l2["band"]["energy_J"] == band["energy_J"] and l2["band"]["total_W"] == band["total_W"]
    assert band["energy_J"] == pytest.approx([-0.297, -0.149], abs=5e-4)  # docs/hardware.md's check on SDNN
    h = rep["headline"]["energy"]
    assert h["loihi2_J"] == l2["chip_bound"]["energy_J"] and h["loihi2_band"] == band["energy_J"]
    assert f"Loihi 2 model {si(h['loihi2_J'], 'J')} chip-bound (validated −30 % .. −15 %)" in h["line"]
    assert l2["line"].startswith(f"Loihi 2 model: {si(want['chip_bound']['energy_J'], 'J')} per inference "
                                 "chip-bound")
    assert "on 7 cores (1 of them vendor-limit) / 1 chip; validated −29.7 % .. −14.9 %" in l2["line"]
    assert l2["line"] in md and "### Loihi 2 time and power model" in md
    assert "| chip-bound | 7 = 6 + 1 [" in md and "| host-fed | 7 = 6 + 1 [" in md
    assert 'id="loihi2"' in html and "validated −29.7 % .. −14.9 %" in html
    assert any(d.startswith("loihi2_model") for d in rep["derived"])


def test_no_input_values_no_host_fed_number(tmp_path):
    counts = {**COUNTS, "x": {**COUNTS["x"], "spikes": 0}}
    rep, md, _, _ = _run(tmp_path, counts)
    l2 = rep["loihi2_model"]
    assert l2["host_fed"] is None and l2["host_bytes"] == 0
    assert l2["chip_bound"]["energy_J"] > 0
    assert "| host-fed | not priced: the run counted no input-layer values |" in md


def test_missing_simulation_says_so_with_no_number(tmp_path):
    rep, md, html, _ = _run(tmp_path, simulate=False)
    l2 = rep["loihi2_model"]
    assert l2["line"] == "not priced: no simulation.json (run ds2ta-sim --compare)"
    assert all(v is None for k, v in l2.items() if k != "line")
    assert rep["headline"]["energy"]["loihi2_J"] is None
    assert l2["line"] in md and l2["line"] in html

"""The report on a --compare simulation.json (match line, Lava's counts priced) and the recorded
H100 GPU measurement (shown only for the model it measured)."""

import json
import os
import re

import pytest

from ds2ta.hardware import LayerSpec, dense, map_layers, write_mapping_json
from ds2ta.cli.report import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAW = os.path.join(ROOT, "docs", "results", "gpu_checks_h100.json")


def _backend(name, synops, acc):
    return {"backend": name, "graph": "g.nir", "samples": 2, "T": 4, "latency_steps": 1,
            "layers": {"x": {"spikes": 20, "synops": 0, "graded_synops": 0, "neuron_updates": 80,
                             "attention_ops": 0, "neurons": 10},
                       "fc": {"spikes": 6, "synops": synops, "graded_synops": 0, "neuron_updates": 32,
                              "attention_ops": 0, "neurons": 4}},
            "per_sample": [], "accuracy": acc, "wall_s": 0.1}


def _compare_dir(tmp_path, match, config=None):
    write_mapping_json(map_layers([LayerSpec("x", "input", (1, 1, 10)), dense("fc", 10, 4, sources=["x"])]),
                       tmp_path / "mapping.json")
    sim = {"backends": {"reference": _backend("reference", 80, 0.5), "lava": _backend("lava", 120, 0.25)},
           "match": match,
           "first_divergence": None if match else {"sample": 1, "layer": "fc", "step": 3, "neuron": 2}}
    (tmp_path / "simulation.json").write_text(json.dumps(sim))
    metrics = {"test_accuracy": 0.75}
    if config is not None:
        metrics["config"] = config
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    assert main([str(tmp_path), "--no-calibration"]) == 0
    return (json.loads((tmp_path / "report.json").read_text()), (tmp_path / "report.html").read_text(),
            (tmp_path / "report.md").read_text())


def test_compare_mismatch_shows_first_divergence_and_prices_lava(tmp_path):
    rep, html, md = _compare_dir(tmp_path, match=False)
    assert rep["accuracy"]["reference"] == 0.5 and rep["accuracy"]["lava"] == 0.25
    assert rep["match"]["match"] is False and rep["match"]["backends"] == ["lava", "reference"]
    line = "MISMATCH: reference and Lava diverge; first divergence at sample 1, layer fc, step 3, neuron 2"
    assert rep["match"]["line"] == line and line in html and line in md
    # energy from Lava's counts: 120 synops / 2 samples x 0.9 pJ (the reference's 80 would give 36 pJ)
    assert rep["energy"]["paper"]["total_J"] == pytest.approx(60 * 0.9e-12)
    assert "lava backend" in rep["activity_source"] and "lava backend" in html
    fc = [r for r in rep["layers"] if r["layer"] == "fc"][0]
    assert fc["synops"] == 60


def test_compare_match_line(tmp_path):
    rep, html, md = _compare_dir(tmp_path, match=True)
    assert rep["match"]["line"].startswith("MATCH: reference and Lava agree spike for spike")
    assert "lava: 2 samples" in rep["match"]["line"] and "MISMATCH" not in html
    assert rep["match"]["line"] in md


def test_compare_without_backends_is_an_error(tmp_path, capsys):
    (tmp_path / "simulation.json").write_text(json.dumps({"backends": {}, "match": True}))
    assert main([str(tmp_path), "--no-calibration"]) == 2
    assert "no backend results" in capsys.readouterr().err


def _tiny_config():
    from ds2ta.config import make_config

    return make_config("tiny").to_dict()


def test_recorded_gpu_shown_for_tiny(tmp_path):
    rep, html, md = _compare_dir(tmp_path, match=True, config=_tiny_config())
    g = rep["gpu_recorded"]
    assert g["shown"] and g["model_preset"] == "tiny" and g["device"] == "NVIDIA H100 80GB HBM3"
    assert rep["energy"]["gpu"]["kind"] == "modeled"                  # the headline stays the estimate
    label = "recorded measurement of model tiny on NVIDIA H100 80GB HBM3"
    assert label in html and label in md and "not measured in this run" in html
    assert "MODELED lower bound" in html                              # both, side by side
    if os.path.exists(RAW):                                           # numbers are the recorded file's
        raw = json.load(open(RAW))
        for key, what in (("energy_float_model", "float model (torch)"),
                          ("energy_integer_reference", "integer reference of the exported graph")):
            for b in ("batch_1", "batch_256"):
                got = g["runs"][what][b]
                assert got["energy_J"] == raw[key][b]["energy_J"]
                assert got["energy_idle_subtracted_J"] == raw[key][b]["energy_idle_subtracted_J"]
    # batch-1 float tiny: 1.195 J total, 16.77 mJ idle-subtracted (docs/gpu.md table)
    assert "1.195 J" in html and "16.77 mJ" in html


@pytest.mark.parametrize("preset", ["cifar10", "tiny-dvs"])
def test_recorded_gpu_not_shown_for_other_models(tmp_path, preset):
    from ds2ta.config import make_config

    rep, html, md = _compare_dir(tmp_path, match=True, config=make_config(preset).to_dict())
    g = rep["gpu_recorded"]
    assert not g["shown"] and "model tiny;" in g["reason"] and "differs" in g["reason"]
    assert " on NVIDIA H100" not in html and " on NVIDIA H100" not in md
    assert g["reason"] in html


def test_recorded_gpu_not_shown_when_model_unknown(tmp_path):
    rep, html, _ = _compare_dir(tmp_path, match=True)
    assert not rep["gpu_recorded"]["shown"] and "unknown" in rep["gpu_recorded"]["reason"]
    assert " on NVIDIA H100" not in html


def test_snapshot_is_the_recorded_file_and_packaged():
    from ds2ta.hardware.gpu_recorded import SNAPSHOT, load_snapshot

    snap = load_snapshot()
    assert SNAPSHOT.parent.name == "hardware" and snap["source_file"] == "docs/results/gpu_checks_h100.json"
    if os.path.exists(RAW):
        assert snap["measurement"] == json.load(open(RAW))
    pyproject = open(os.path.join(ROOT, "pyproject.toml")).read()
    line = re.search(r'^"ds2ta.hardware" = \[(.*)\]', pyproject, re.M).group(1)
    assert '"gpu_recorded_h100.json"' in line


def test_split_layer_reported(tmp_path):
    # fc 40 -> 5 on the tiny core of tests/hardware/test_split.py: 3 groups, 9 partial + 1 merge core.
    from ds2ta.hardware import LOIHI2

    tiny = LOIHI2.replace(neurons_per_core=8, synaptic_memory_bytes=64, fan_in_axons=16)
    m = map_layers([LayerSpec("x", "input", (1, 1, 40)), dense("fc", 40, 5, sources=["x"])], spec=tiny)
    write_mapping_json(m, tmp_path / "mapping.json")
    assert main([str(tmp_path), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["mapping"]["fan_in_splits"] == {"fc": {"groups": 3, "partial_cores": 9, "merge_cores": 1}}
    assert rep["mapping"]["merge_latency_steps"] == 1
    assert "9 partial-sum cores + 1 merge core" in (tmp_path / "report.html").read_text()


def test_demo_stage_writes_energy_json_from_lava_counts(tmp_path):
    """The demo's report stage writes OUT/energy.json (priced from the Lava backend, 120 synops / 2
    samples x 0.9 pJ by hand) so the report lists no missing input."""
    from types import SimpleNamespace

    from ds2ta.cli.demo import report_stage
    _compare_dir(tmp_path, match=True)
    res = report_stage(SimpleNamespace(out=tmp_path, args=SimpleNamespace(chips=1)))
    e = json.loads((tmp_path / "energy.json").read_text())
    assert res["energy"] == str(tmp_path / "energy.json") and "energy.json" not in res["missing"]
    assert e["paper"]["total_J"] == pytest.approx(60 * 0.9e-12) and e["inputs"]["activity_backend"] == "lava"

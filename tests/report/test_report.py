"""ds2ta-report: missing inputs stay missing, numbers come from the inputs, the HTML renders."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from ds2ta.hardware import LayerSpec, dense, map_layers, write_mapping_json
from ds2ta.cli.report import main


def _run_dir(tmp_path, compare=False):
    m = map_layers([LayerSpec("x", "input", (1, 1, 10)), dense("fc", 10, 4, sources=["x"])])
    write_mapping_json(m, tmp_path / "mapping.json")
    sim = {"backend": "reference", "graph": "g.nir", "samples": 2, "T": 4, "latency_steps": 5,
           "layers": {"x": {"spikes": 20, "synops": 0, "graded_synops": 0, "neuron_updates": 80,
                            "attention_ops": 0, "neurons": 10},
                      "fc": {"spikes": 6, "synops": 80, "graded_synops": 0, "neuron_updates": 32,
                             "attention_ops": 0, "neurons": 4}},
           "per_sample": [], "accuracy": 0.5, "wall_s": 0.1}
    if compare:
        lava = dict(sim, backend="lava", accuracy=0.5)
        sim = {"backends": {"reference": sim, "lava": lava}, "match": True, "first_divergence": None}
    (tmp_path / "simulation.json").write_text(json.dumps(sim))
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "metrics.json").write_text(json.dumps({"test_accuracy": 0.9375, "epochs": 3}))
    return tmp_path


def test_empty_folder_reports_everything_missing(tmp_path):
    assert main([str(tmp_path), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert sorted(rep["missing"]) == sorted(["quantization.json", "simulation.json", "mapping.json",
                                             "energy.json", "metrics.json"])
    assert rep["energy"] == "missing" and rep["layers"] == "missing" and rep["neurobench"] == "missing"
    assert set(rep["accuracy"].values()) == {"missing"}
    html = (tmp_path / "report.html").read_text()
    assert "energy missing" in html and "µJ" not in html           # no number invented


def test_numbers_come_from_inputs(tmp_path):
    d = _run_dir(tmp_path, compare=True)
    assert main([str(d), "--no-calibration"]) == 0
    rep = json.loads((d / "report.json").read_text())
    assert rep["accuracy"] == {"float": 0.9375, "quantized": "missing", "reference": 0.5, "lava": 0.5}
    assert rep["match"]["match"] is True
    fc = [r for r in rep["layers"] if r["layer"] == "fc"][0]
    assert fc["firing_rate"] == pytest.approx(6 / (4 * 4 * 2))   # spikes / (neurons x T x samples)
    assert fc["synops"] == 40 and fc["cores"] == 1
    # paper-comparable by hand: (80 ACs / 2 samples) x 0.9 pJ
    assert rep["energy"]["paper"]["total_J"] == pytest.approx(40 * 0.9e-12)
    assert any("computed by ds2ta-report" in s for s in rep["derived"])
    md = (d / "report.md").read_text()
    assert "| 0.9375 |" in md and "NOT a measurement" in md


def test_html_is_self_contained(tmp_path):
    d = _run_dir(tmp_path)
    main([str(d), "--no-calibration"])
    html = (d / "report.html").read_text()
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3
    assert not re.search(r'(src|href)="(https?:|//)', html)


def test_missing_folder_is_an_error(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_calibration_always_included(tmp_path):
    pytest.importorskip("h5py")
    from ds2ta.hardware import pilotnet

    if not pilotnet.available():
        pytest.skip(f"PilotNet-LIF data absent: set {pilotnet.ENV_VAR} to the folder with network.net")
    main([str(tmp_path)])
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["calibration"]["rows"][0]["measured"] == 74
    assert "PilotNet-LIF vs Intel" in (tmp_path / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_renders_in_headless_chromium(tmp_path):
    from matplotlib.image import imread

    d = _run_dir(tmp_path)
    main([str(d), "--no-calibration"])
    shot = d / "shot.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400",
                    f"--screenshot={shot}", (d / "report.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    img = imread(shot)
    assert img.shape[0] == 2400 and img.shape[1] == 1200
    assert np.std(img[..., :3]) > 0.05        # text, tables and plots drew something: not a blank page


def test_energy_json_with_measured_gpu_is_used_not_recomputed(tmp_path):
    from ds2ta.hardware.energy import estimate

    d = _run_dir(tmp_path)
    mapping = json.loads((d / "mapping.json").read_text())
    sim = json.loads((d / "simulation.json").read_text())
    runs = {"batch_1": {"energy_J": 2e-3, "energy_idle_subtracted_J": 1e-3, "latency_s": 0.01, "batch_size": 1,
                        "device": "FakeGPU"},
            "batch_256": {"energy_J": 5e-5, "energy_idle_subtracted_J": 4e-5, "latency_s": 0.02,
                          "batch_size": 256, "device": "FakeGPU"}}
    (d / "energy.json").write_text(json.dumps(estimate(mapping, sim, gpu=runs).to_dict()))
    main([str(d), "--no-calibration"])
    rep = json.loads((d / "report.json").read_text())
    assert rep["energy"]["gpu"]["kind"] == "measured" and not any("energy" in s for s in rep["derived"])
    html = (d / "report.html").read_text()
    assert "batch_256" in html and "FakeGPU" in html and "MODELED" not in html


def test_demo_stage_maps_exported_graph_and_reports(tmp_path):
    import types

    import nir

    from ds2ta.cli.demo import report_stage

    z = np.zeros((4,))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([3])}),
                            "fc": nir.Affine(weight=np.ones((4, 3), int), bias=z),
                            "lif": nir.CubaLIF(tau_syn=z + 1, tau_mem=z + 2, r=z + 2, v_leak=z, v_threshold=z + 1)},
                     edges=[("input", "fc"), ("fc", "lif")])
    (tmp_path / "export").mkdir()
    nir.write(tmp_path / "export" / "model.nir", g)
    res = report_stage(types.SimpleNamespace(out=tmp_path, args=types.SimpleNamespace()))
    assert res["cores"] == 2 and (tmp_path / "mapping.json").exists() and (tmp_path / "report.html").exists()
    assert "simulation.json" in res["missing"]


def test_calibration_snapshot_used_without_pilotnet_data(tmp_path, monkeypatch):
    from ds2ta.hardware import pilotnet

    monkeypatch.delenv(pilotnet.ENV_VAR, raising=False)
    monkeypatch.setattr(pilotnet, "DATA", str(tmp_path / "absent"))
    main([str(tmp_path)])
    rep = json.loads((tmp_path / "report.json").read_text())
    assert "recorded snapshot" in rep["calibration"]["input"]
    assert rep["calibration"]["rows"][0]["measured"] == 74

"""The report answers first: the headline (fit, energy and its band, latency, chip-exact accuracy, Lava vs
reference) opens report.md, report.html and report.json, says what is missing instead of inventing it,
and is on the first screen of report.html in headless Chromium."""

import json
import os
import re
import shutil
import subprocess
from html import unescape

import numpy as np
import pytest

from ds2ta.cli.report import main
from ds2ta.hardware import LayerSpec, dense, map_layers, write_mapping_json
from ds2ta.report.headline import target
from ds2ta.report.units import si, si_range

REQUIRE_BROWSER = "DS2TA_REQUIRE_BROWSER"  # .ci/run sets it: a missing Chromium fails instead of skipping
HEADLINE_BG = np.array([0xEE, 0xF4, 0xFB]) / 255  # templates.py: .headline{background:#eef4fb}


def _backend(name, acc=0.5, labels=True):
    rows = [{"index": i, "label": (i % 2) if labels else None, "prediction": 0, "layers": {}} for i in range(2)]
    return {"backend": name, "graph": "g.nir", "samples": 2, "T": 4, "latency_steps": 5,
            "layers": {"x": {"spikes": 20, "synops": 0, "graded_synops": 0, "neuron_updates": 80,
                             "attention_ops": 0, "neurons": 10},
                       "fc": {"spikes": 6, "synops": 80, "graded_synops": 0, "neuron_updates": 32,
                              "attention_ops": 0, "neurons": 4}},
            "per_sample": rows, "accuracy": acc if labels else None, "wall_s": 0.1}


# energy.json written by hand: the headline must read these numbers, not recompute them
ENERGY = {"samples": 2, "steps_per_inference": 9,
          "paper": {"total_J": 1e-7, "terms": [], "per_layer_J": {}},
          "loihi": {p: {"profile": p, "dynamic_J": dyn, "static_J": {"model_step": 0.0, "pilotnet_step": 0.0},
                        "static_grade": "D", "static_source": "", "terms": [], "per_layer_dynamic_J": {},
                        "total_J": tot}
                    for p, dyn, tot in (("sanafe", 1e-6, {"model_step": 2e-6, "pilotnet_step": 3e-6}),
                                        ("table2", 1e-6, {"model_step": 1.5e-6, "pilotnet_step": 2.5e-6}))},
          "gpu": {"kind": "modeled", "label": "MODELED lower bound, not a measurement", "energy_J": 4e-6,
                  "grade": "D", "source": ""},
          "latency": {"steps": 9, "merge_latency_steps": 0, "step_s_model": 1e-4, "seconds_model": 9e-4,
                      "step_s_pilotnet_measured": 1.5e-4, "seconds_at_pilotnet_step": 1.35e-3},
          "edp_Js": {}, "notes": []}


def _run_dir(tmp, compare=True, match=True, labels=True, energy=True, quant=True):
    """A run folder with known numbers: 2 layers of 10 and 4 neurons (one core each, far under a core's
    8,192), T 4 + 5 synapse steps sequential = 9 steps, hand-written energy.json and accuracies."""
    write_mapping_json(map_layers([LayerSpec("x", "input", (1, 1, 10)), dense("fc", 10, 4, sources=["x"])]),
                       tmp / "mapping.json")
    ref = _backend("reference", 0.5, labels)
    sim = ref
    if compare:
        sim = {"backends": {"reference": ref, "lava": _backend("lava", 0.5, labels)}, "match": match,
               "first_divergence": None if match else {"sample": 1, "layer": "fc", "step": 3, "neuron": 2},
               "samples": 2, "T": 4}
    (tmp / "simulation.json").write_text(json.dumps(sim))
    if energy:
        (tmp / "energy.json").write_text(json.dumps(ENERGY))
    if quant:
        (tmp / "quantization.json").write_text(json.dumps(
            {"target": "loihi2", "bits": 8, "accuracy": {"float": 0.95, "quantized": 0.9375, "samples": 160,
                                                         "split": "test"}}))
    (tmp / "metrics.json").write_text(json.dumps({"test_accuracy": 0.95}))
    assert main([str(tmp), "--no-calibration"]) == 0
    return (json.loads((tmp / "report.json").read_text()), (tmp / "report.html").read_text(),
            (tmp / "report.md").read_text())


def test_headline_says_the_runs_numbers(tmp_path):
    rep, html, md = _run_dir(tmp_path)
    h = rep["headline"]
    assert list(rep)[:4] == ["format", "format_version", "folder", "headline"]
    assert (h["target"]["fits"], h["target"]["cores"], h["target"]["chips"]) == (True, 2, 1)
    assert h["target"]["line"] == ("fits on 2 cores / 1 chip of loihi2 (128 cores per chip; at most 1 chip "
                                   "allowed)")                        # map_layers' default cap: 1 chip
    e = h["energy"]
    assert e["J"] == 2e-6 and e["band_J"] == [1.5e-6, 3e-6]          # sanafe at the modeled step; min, max
    assert (e["profile"], e["step_time"]) == ("sanafe", "model_step")
    assert e["line"].startswith("2 µJ on the chip (band 1.5–3 µJ); beside it paper-comparable "
                                "(Horowitz 45 nm) 100 nJ, GPU 4 µJ (modeled lower bound")
    assert "sanafe and table2" in e["band"] and "modeled and PilotNet-measured" in e["band"]
    lat = h["latency"]
    assert (lat["sample_latency_steps"], lat["steps_per_inference"], lat["pipelined"]) == (9, 9, False)
    assert lat["sample_latency_s"] == pytest.approx(9e-4)               # 9 steps x 100 µs
    assert lat["line"] == ("9 chip steps per sample, input to read-out: 900 µs at the modeled 100 µs/step "
                           "(1.35 ms at PilotNet's measured 150 µs/step); sequential, one inference every "
                           "9 steps (900 µs)")
    acc = h["accuracy"]
    assert (acc["chip_exact"], acc["samples"], acc["float"]) == (0.9375, 160, 0.95)
    assert acc["simulated"] == {"backend": "reference", "accuracy": 0.5, "samples": 2}
    assert acc["line"] == ("93.8 % on 160 test samples (integer reference at export); 50.0 % on the 2 "
                           "simulated samples (reference); float model 95.0 %")
    assert h["lava_vs_reference"] == {"match": True, "first_divergence": None,
                                      "line": "match on every layer and step, spike for spike (2 samples)"}
    for item in h.values():                                           # the same sentences in both reports
        assert item["line"] in md and item["line"] in unescape(html)


def test_headline_first_configuration_last(tmp_path):
    _, html, md = _run_dir(tmp_path)
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert md.index("- **Target:** fits on") < md.index("## ")        # the answer before any section
    assert heads[0] == "Accuracy" and heads[-1] == "Configuration: model and quantization"
    h2 = re.findall(r"<h2>(.*?)</h2>", html)
    assert html.index('id="headline"') < html.index("<h2>")
    assert h2[0] == "Accuracy" and h2[-2:] == ["Configuration: model and quantization", "Derived here"]
    assert "| target | loihi2 |" in md                               # the tables moved, not dropped


def test_mismatch_names_the_first_divergence(tmp_path):
    rep, html, md = _run_dir(tmp_path, match=False)
    m = rep["headline"]["lava_vs_reference"]
    assert m["match"] is False
    assert m["line"] == "MISMATCH: first divergence at sample 1, layer fc, step 3, neuron 2"
    assert f'<dd class="bad">{m["line"]}</dd>' in html and f"**Lava vs reference:** {m['line']}" in md


def test_no_labels_and_no_compare_are_said(tmp_path):
    rep, _, md = _run_dir(tmp_path, compare=False, labels=False, quant=False)
    h = rep["headline"]
    assert h["accuracy"]["chip_exact"] is None
    assert h["accuracy"]["line"] == "no labels for the 2 simulated samples; float model 95.0 %"
    assert h["lava_vs_reference"]["match"] is None
    assert h["lava_vs_reference"]["line"] == ("not compared: only the reference backend ran "
                                              "(run ds2ta-sim --compare)")
    assert h["target"]["line"].startswith("fits on 2 cores / 1 chip of Loihi 2 (vendor limits) (")  # no target


def test_empty_folder_headline_invents_nothing(tmp_path):
    assert main([str(tmp_path), "--no-calibration"]) == 0
    h = json.loads((tmp_path / "report.json").read_text())["headline"]
    assert h["target"]["fits"] is None and h["energy"]["J"] is None
    assert all(v is None for item in h.values() for k, v in item.items() if k != "line")  # every value null
    assert h["latency"]["sample_latency_steps"] is None and h["accuracy"]["chip_exact"] is None
    assert h["lava_vs_reference"]["line"] == "not run: no simulation.json (run ds2ta-sim --compare)"
    assert h["latency"]["line"] == "not simulated: no simulation.json (run ds2ta-sim --compare)"
    assert h["energy"]["line"].startswith("not priced: no mapping.json")
    html = (tmp_path / "report.html").read_text()
    box = html[html.index('id="headline"'):html.index("</section>")]
    assert not re.search(r"\d", box.replace("ds2ta", "").replace("loihi2", ""))  # no number at all


def test_energy_priced_from_mapping_and_simulation(tmp_path):
    """Without energy.json the headline prices the run (ds2ta.hardware.energy) and its band spans every
    profile x step time of that estimate."""
    rep, _, _ = _run_dir(tmp_path, energy=False)
    e, loihi = rep["headline"]["energy"], rep["energy"]["loihi"]
    totals = [v for p in loihi.values() for v in p["total_J"].values()]
    assert e["J"] == loihi["sanafe"]["total_J"]["model_step"]
    assert e["band_J"] == [min(totals), max(totals)] and len(totals) == 4


def test_target_line_many_chips():
    m = {"total_cores": 427, "chips": 4, "chips_allowed": 4,
         "spec": {"name": "Loihi 2 (vendor limits)", "cores_per_chip": {"value": 128}}}
    t = target(m, {"target": "loihi2"})
    assert t["line"] == "fits on 427 cores / 4 chips of loihi2 (128 cores per chip; at most 4 chips allowed)"
    assert target(None, None)["fits"] is None


def test_units():
    assert si(9.8e-5, "J") == "98 µJ" and si(1.35e-3, "s") == "1.35 ms" and si(0, "J") == "0 J"
    assert si_range(9.53e-5, 1.17e-4, "J") == "95.3–117 µJ"
    assert si_range(9.5e-7, 1.2e-6, "J") == "950 nJ – 1.2 µJ"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get(REQUIRE_BROWSER):
        pytest.fail(f"Chromium not found but {REQUIRE_BROWSER} is set (CI): install it (.ci/run does, as root)")
    pytest.skip(f"Chromium not installed (CI sets {REQUIRE_BROWSER} and installs it)")


# Run in the page after layout: the headline's box, the viewport, and whether its centre is the headline
# (nothing covers it), written into the DOM that --dump-dom prints.
PROBE = """<script>
var h = document.getElementById('headline'), r = h.getBoundingClientRect(), s = getComputedStyle(h);
var c = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
var firstH2 = document.querySelector('h2').getBoundingClientRect().top;
var out = {top: r.top, bottom: r.bottom, left: r.left, right: r.right, innerHeight: innerHeight,
           innerWidth: innerWidth, dpr: devicePixelRatio,
           visible: s.visibility === 'visible' && s.display !== 'none', centre_is_headline: !!(c && c.closest('#headline')), first_h2_top: firstH2, text: h.innerText};
document.body.insertAdjacentHTML('beforeend',
                                 '<pre id="probe' + '-out">' + encodeURIComponent(JSON.stringify(out)) + '</pre>');
</script>"""
WINDOW = (1200, 900)


@pytest.mark.slow
def test_headline_on_first_screen_in_headless_chromium(tmp_path):
    from urllib.parse import unquote

    from matplotlib.image import imread

    exe = _chromium()
    d = tmp_path / "run"
    d.mkdir()
    rep, html, _ = _run_dir(d)
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size={WINDOW[0]},{WINDOW[1]}"]
    probe = d / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], check=True, timeout=120, capture_output=True,
                         text=True).stdout
    box = json.loads(unquote(re.search(r'<pre id="probe-out">([^<]*)</pre>', dom).group(1)))
    shot = d / "shot.png"
    subprocess.run(flags + [f"--screenshot={shot}", (d / "report.html").as_uri()], check=True, timeout=120,
                   capture_output=True)
    img = imread(shot)[..., :3]
    screen = min(box["innerHeight"], img.shape[0])
    # at the top of the first screen, before every section, uncovered, with the run's numbers as text
    assert box["visible"] and box["centre_is_headline"] and box["dpr"] == 1
    assert 0 <= box["top"] < 150 and box["bottom"] <= screen and box["bottom"] <= box["first_h2_top"]
    assert box["right"] - box["left"] > 0.8 * box["innerWidth"]
    for item in rep["headline"].values():
        assert item["line"] in box["text"].replace("\n", " ")
    # the screenshot shows the box where the DOM says it is: its background fills most of that rectangle
    top, bottom, left, right = (int(round(box[k])) for k in ("top", "bottom", "left", "right"))
    is_bg = np.all(np.abs(img - HEADLINE_BG) < 3 / 255, axis=-1)
    assert is_bg[top + 3:bottom - 3, left + 3:right - 3].mean() > 0.5
    assert is_bg[:max(top - 3, 1)].mean() < 0.01 and is_bg[bottom + 3:].mean() < 0.01

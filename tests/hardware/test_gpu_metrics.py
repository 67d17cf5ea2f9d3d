"""GPU measurement arithmetic with a fake NVML counter; NeuroBench metrics by hand."""

import sys
import types

import pytest

from ds2ta.hardware import LayerSpec, dense, map_layers
from ds2ta.hardware.gpu_energy import measure, modeled
from ds2ta.hardware.metrics import neurobench


def test_measure_with_fake_counter(monkeypatch):
    # Fake clock: idle 5 s at 50 W, then each batch call takes 0.5 s at 250 W.
    state = {"t": 0.0, "mJ": 0.0, "power": 50.0}

    def advance(dt):
        state["t"] += dt
        state["mJ"] += state["power"] * dt * 1e3

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlDeviceGetHandleByIndex=lambda i: 0, nvmlDeviceGetName=lambda h: "FakeGPU",
        nvmlDeviceGetTotalEnergyConsumption=lambda h: state["mJ"])
    monkeypatch.setitem(sys.modules, "pynvml", fake)

    def run():
        state["power"] = 250.0
        advance(0.5)

    r = measure(run, batch_size=4, min_seconds=10, warmup=2, clock=lambda: state["t"], sleep=advance)
    assert r["calls"] == 20 and r["window_s"] == pytest.approx(10.0)
    assert r["idle_W"] == pytest.approx(50.0)
    assert r["energy_J"] == pytest.approx(250 * 10 / 80)                 # 2500 J over 80 inferences
    assert r["energy_idle_subtracted_J"] == pytest.approx(200 * 10 / 80)
    assert r["latency_s"] == pytest.approx(0.5)


def test_modeled_is_labelled():
    g = modeled(1e9)
    assert "not a measurement" in g["label"] and g["energy_J"] == pytest.approx(0.71e-3)


def test_neurobench_by_hand():
    m = map_layers([LayerSpec("x", "input", (1, 1, 10)), dense("fc", 10, 4, sources=["x"])])
    act = {"samples": 2, "T": 4, "layers": {"x": {"spikes": 20}, "fc": {"spikes": 8, "synops": 80,
                                                                          "graded_synops": 0, "attention_ops": 6}}}
    nb = neurobench(m, act)
    assert nb["effective_ACs"] == (80 + 6) / 2
    assert nb["dense_ops"] == 4 * 10 * 4                     # neurons x fan-in x T
    assert nb["activation_sparsity"] == pytest.approx(1 - 8 / (4 * 4 * 2))
    assert nb["weight_bytes"] == 40 and nb["state_bytes"] == 4 * 6

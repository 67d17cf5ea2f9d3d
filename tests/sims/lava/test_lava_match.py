"""Lava vs the integer reference on exported tiny DS2TA graphs, all three attentions, via ``ds2ta-sim``.

The models are untrained but their BatchNorm statistics are set so that every layer fires (the check
is not vacuous: each spiking layer's spike count is asserted > 0). Equality is checked on every
layer's records (every step and neuron), on the per-layer counts (spikes, synaptic ops, neuron
updates, attention ops) and on the predictions; the hand-worked counter cases are in
test_lava_counters.py.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from ds2ta.config import make_config
from ds2ta.export.model_quant import quantize_model
from ds2ta.export.nir_io import write_graph
from ds2ta.model import DS2TA

pytestmark = pytest.mark.lava


def _exported(attention: str, tmp_path, preset: str = "tiny", samples: int = 5, seed: int = 1, **overrides):
    """Export an untrained model whose BN statistics make every layer fire; returns (graph path, data dir)
    with ``samples`` random digits-range inputs (``x_int.npy``) and labels."""
    torch.manual_seed(seed)
    cfg = make_config(preset, attention=attention, **overrides)
    model = DS2TA(cfg).eval()
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
            if any(f"attn.{p}." in name for p in "qkv"):
                m.running_mean.uniform_(-1.6, -1.0)
    x = np.random.default_rng(0).integers(0, 17, (samples, cfg.in_channels, cfg.img_size, cfg.img_size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, 1 / 16, torch.from_numpy(x).float() / 16,
                                 meta={"conventions": {"dt": 1.0, "T": cfg.T}})
    path = tmp_path / f"{attention}.nir"
    write_graph(path, g)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "x_int.npy", x)
    np.save(data / "labels.npy", np.arange(samples) % 10)
    return path, data


@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten"])
def test_cli_compare_matches_on_every_layer(attention, tmp_path):
    from ds2ta.sims.cli import main

    path, data = _exported(attention, tmp_path)
    out = tmp_path / "sim"
    rc = main([str(path), "--compare", "--dataset", str(data), "--out", str(out), "--no-progress"])
    res = json.loads((out / "simulation.json").read_text())
    assert rc == 0 and res["match"] is True, res["first_divergence"] or res["checks"]["count_mismatches"]
    ref, lava = res["backends"]["reference"], res["backends"]["lava"]
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and not n.startswith("head.")]  # head: graded
    assert len(spiking) >= 10
    for n in spiking:  # not vacuous: every spiking layer fires
        assert ref["layers"][n]["spikes"] > 0, n
    assert ref["layers"]["blocks.0.attn.core"]["attention_ops"] > 0
    assert lava["layers"] == ref["layers"] and lava["latency_steps"] == ref["latency_steps"]
    assert [r["prediction"] for r in lava["per_sample"]] == [r["prediction"] for r in ref["per_sample"]]
    # 12 synapse layers + the core's buffer (STAtten's block core buffers chunk = 2 steps)
    assert ref["latency_steps"] == (14 if attention == "statten" else 13)


def test_compare_reports_the_first_divergence(tmp_path, monkeypatch):
    """A Lava record altered after the run must be caught at its layer, step, sample and neuron."""
    from ds2ta.sims import cli
    from ds2ta.sims.lava import simulate as lava_sim

    path, data = _exported("ds2ta", tmp_path)
    real = lava_sim.simulate_lava

    def corrupted(*a, **k):
        sim, run = real(*a, **k)
        run.records["sps.2.lif"][3, 2, 7] ^= 1  # sample 3, step 2, neuron 7
        return sim, run
    monkeypatch.setattr(lava_sim, "simulate_lava", corrupted)
    out = tmp_path / "bad"
    rc = cli.main([str(path), "--compare", "--dataset", str(data), "--out", str(out), "--no-progress"])
    res = json.loads((out / "simulation.json").read_text())
    assert rc == 1 and res["match"] is False
    assert res["first_divergence"] == {"sample": 3, "layer": "sps.2.lif", "step": 2, "neuron": 7}

"""Lava vs the integer reference on exported tiny DS2TA graphs, all three attentions, via ``ds2ta-sim``.

The models are untrained but their BatchNorm statistics are set so that every layer fires (the check
is not vacuous: each spiking layer's spike count is asserted > 0). Equality is checked on every
layer's records (every step and neuron), on the per-layer counts (spikes, synaptic ops, neuron
updates, attention ops) and on the predictions; the hand-worked counter cases are in
test_lava_counters.py.

Schedule: ``ds2ta-sim``'s default for several samples, **pipelined** (5 samples, a new one every T = 4
steps while the previous ones are still 12-18 steps deep), except the ``sequential`` case of
``test_cli_compare_matches_on_every_layer`` (``--sequential``, which keeps that schedule tested).

Which Lava comparison covers what, and in which schedule (P pipelined, S sequential):

| test | graphs | schedule |
|---|---|---|
| here, ``test_cli_compare_matches_on_every_layer`` | tiny: ds2ta pairwise (NSAD) and associative (linear table), spikformer, statten block (chunk 2), each under ``neurons``; ds2ta, spikformer, statten under ``core`` | P (+ ds2ta pairwise S) |
| test_lava_wide.py | cifar10-like width (256 ch, 32 x 32, 8 x 8 tokens): ds2ta (associative), spikformer, statten, sdsa | P |
| test_lava_sdt.py | SDT backbone (statten-* presets) at 256 ch: statten, sdsa; DVS pooling (OR / AND units) | P |
| test_lava_events.py | event input: tiny-dvs ds2ta (pairwise), statten chunk 5 (neurons, core); SDT + events + DVS pooling (statten-dvs) | P |
| test_lava_thirdparty.py | snntorch MLP, sinabs CNN, snntorch recurrent CubaLIF (``LavaNetwork``) | P and S each |
| tests/export/test_bring_your_own_nir.py | sinabs, snntorch recurrent, norse through the CLI | P |
| test_lava_network.py | recurrent CubaLIF, TASA delay paths (numpy loop oracle) | P and S |
| test_lava_avgpool.py, test_lava_counters.py, test_lava_graded_units.py | pool chain (CLI; its float check S), counters, graded max-pool tree | P |
| tests/sims/test_sim_cli.py | ``--workers`` shards run the parent's schedule | P (1-sample shard), S |
| tests/export/test_bring_your_own_netx.py | PilotNet-LIF (one frame, ``--pipelined``); netx layer checks (``LavaNetwork``, one sample) | P / S |
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


def _exported(attention: str, tmp_path, preset: str = "tiny", samples: int = 5, seed: int = 1,
              nsad: bool = False, **overrides):
    """Export an untrained model whose BN statistics make every layer fire; returns (graph path, data dir)
    with ``samples`` random inputs (``x_int.npy``: digits-range images 0..16, or for an event preset
    ``(samples, T, 2, H, W)`` event counts 0..2) and labels. ``nsad``: give every NSAD table a
    non-linear shape (saturating, with a dip and an offset), as training does, so the attention needs
    the pairwise lowering."""
    torch.manual_seed(seed)
    cfg = make_config(preset, attention=attention, **overrides)
    model = DS2TA(cfg).eval()
    if nsad:
        for m in model.modules():
            if type(m).__name__ == "NSAD":
                a = torch.arange(m.table.shape[1], dtype=torch.float32)
                h = torch.arange(m.table.shape[0], dtype=torch.float32)[:, None]
                m.table.data = torch.clamp(a, max=6.0) - 2.0 * (a > 9) + 0.5 * (h % 2) + 0.25 * h * (a > 3)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
            if any(f"attn.{p}." in name for p in "qkv"):
                m.running_mean.uniform_(-1.6, -1.0)
    events = cfg.encoding == "events"
    frame = (cfg.in_channels, cfg.img_size, cfg.img_size)
    x = np.random.default_rng(0).integers(0, 3 if events else 17, (samples, *((cfg.T,) if events else ()), *frame))
    scale = 1.0 if events else 1 / 16  # event counts x 1, digits 0..16 x 1/16 (docs/architecture.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, scale, torch.from_numpy(x).float() * scale,
                                 meta={"conventions": {"dt": 1.0, "T": cfg.T}})
    path = tmp_path / f"{attention}.nir"
    write_graph(path, g)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "x_int.npy", x)
    np.save(data / "labels.npy", np.arange(samples) % 10)
    return path, data


def compared_in_lava(path, data, out, *args: str) -> dict:
    """``ds2ta-sim PATH --compare ARGS``: asserts a match and equal per-layer counts, and that several
    samples ran pipelined (unless ``--sequential``): a new sample every T steps while the previous one
    is deeper than T steps in the network; returns the reference's result."""
    import json

    from ds2ta.cli.sim import main

    rc = main([str(path), "--compare", "--dataset", str(data), "--out", str(out), "--no-progress", *args])
    res = json.loads((out / "simulation.json").read_text())
    assert rc == 0 and res["match"] is True, res["first_divergence"] or res["checks"]["count_mismatches"]
    ref, lava = res["backends"]["reference"], res["backends"]["lava"]
    assert lava["layers"] == ref["layers"]
    S, T, latency = res["samples"], res["T"], lava["latency_steps"]
    if "--sequential" in args:
        assert not lava["lava"]["pipelined"] and lava["steps_per_inference"] == T + latency
        assert lava["lava"]["steps"] == S * (T + latency)
    else:
        assert S > 1 and lava["lava"]["pipelined"] and lava["steps_per_inference"] == lava["lava"]["period"] == T
        assert lava["lava"]["steps"] == S * T + latency and latency > T  # samples overlap in the pipeline
    return ref


# attention, NSAD table trained (non-linear: pairwise form), lowering, expected form of the neuron
# lowering, latency (12 synapse layers + the attention's steps: core 1, STAtten's block core chunk = 2;
# neurons: the lowering's synapse stages, pairwise 6, associative 4, block 4 + chunk), Lava schedule
CASES = [("ds2ta", True, "neurons", "pairwise", 18, "pipelined"),
         ("ds2ta", False, "neurons", "associative", 16, "pipelined"),  # linear table: Q (K^T V)
         ("spikformer", False, "neurons", "associative", 16, "pipelined"),
         ("statten", False, "neurons", "block", 18, "pipelined"),
         ("ds2ta", True, "core", None, 13, "pipelined"), ("spikformer", False, "core", None, 13, "pipelined"),
         ("statten", False, "core", None, 14, "pipelined"),
         ("ds2ta", True, "neurons", "pairwise", 18, "sequential")]


@pytest.mark.parametrize("attention,nsad,lowering,form,latency,schedule", CASES,
                         ids=[f"{a}{'' if n or a != 'ds2ta' else '-linear'}-{lo}-{s}" for a, n, lo, _, _, s in CASES])
def test_cli_compare_matches_on_every_layer(attention, nsad, lowering, form, latency, schedule, tmp_path):
    from ds2ta.export import read_graph
    from ds2ta.hardware.attention_lowering import plan

    path, data = _exported(attention, tmp_path, nsad=nsad)
    out = tmp_path / "sim"
    compared_in_lava(path, data, out, "--attention-lowering", lowering,
                     *(["--sequential"] if schedule == "sequential" else []))
    res = json.loads((out / "simulation.json").read_text())
    ref, lava = res["backends"]["reference"], res["backends"]["lava"]
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and not n.startswith("head.")]  # head: graded
    assert len(spiking) >= 10
    for n in spiking:  # not vacuous: every layer and every lowered population fires
        assert ref["layers"][n]["spikes"] > 0, n
    core = "blocks.0.attn.core"
    if lowering == "core":
        assert ref["layers"][core]["attention_ops"] > 0
    else:
        low = plan(core, read_graph(path).nodes[core])
        assert low.form == form
        lowered = {f"{core}.{u.suffix}" for u in low.units if u.suffix != "out"}
        assert lowered <= set(ref["layers"])  # each population recorded, compared and counted
        assert ref["layers"][core]["attention_ops"] == 0
        assert lava["lava"]["attention_lowering"] == "neurons"
    assert lava["layers"] == ref["layers"] and lava["latency_steps"] == ref["latency_steps"]
    assert [r["prediction"] for r in lava["per_sample"]] == [r["prediction"] for r in ref["per_sample"]]
    assert ref["latency_steps"] == latency


def test_compare_reports_the_first_divergence(tmp_path, monkeypatch):
    """A Lava record altered after the run must be caught at its layer, step, sample and neuron."""
    from ds2ta.cli import sim as cli
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


# Processes of this package that a Lava network may contain: input, recording, bias injection, the
# alignment delay banks, the graded read-out, per-neuron LIFs and TASA's replica synapses into the q/k/v
# neurons (TapConv; docs/simulation.md); none of them sees q, k or v.
DOCUMENTED_IO = {"MemmapSource", "Recorder", "BiasSource", "DelayBank", "Readout", "PerNeuronLIF", "TapConv"}


@pytest.mark.parametrize("attention", ["ds2ta", "statten"])
def test_default_network_computes_attention_with_library_processes_only(attention, tmp_path):
    """The default Lava network's process classes: the attention is lava-nc ProdNeuron / GradedVec /
    LIFReset / Sparse / DelaySparse; no process or model of this package computes any of it."""
    from ds2ta.export import read_graph
    from ds2ta.sims.lava.network import LavaNetwork

    path, data = _exported(attention, tmp_path, samples=1, nsad=True)
    net = LavaNetwork(read_graph(path), T=4)
    run = net.run(np.load(data / "x_int.npy")[:, None].repeat(4, 1))
    own = {k.rsplit(".", 1)[1] for k in run.process_classes if k.startswith("ds2ta.")}
    assert own <= DOCUMENTED_IO, own - DOCUMENTED_IO
    library = {k.rsplit(".", 1)[1] for k in run.process_classes if k.startswith("lava.proc.")}
    assert {"ProdNeuron", "GradedVec", "Sparse"} <= library
    lowered = [k for k in run.records if k.startswith("blocks.0.attn.core.")]
    assert len(lowered) >= 4, lowered  # the lowered populations were built and recorded
    # ProcessModels chosen by this package: exact replacements of lava-nc synapse models and the I/O
    # above, none for an attention process
    assert not any("attention" in m.lower() for m in run.model_classes.values()), run.model_classes
    assert sum(run.process_classes.values()) == run.processes


def test_compare_catches_a_wrong_lowered_population(tmp_path, monkeypatch):
    """A lowered population is compared like any layer: one altered score is reported where it is."""
    from ds2ta.cli import sim as cli
    from ds2ta.sims.lava import simulate as lava_sim

    path, data = _exported("ds2ta", tmp_path, samples=2, nsad=True)
    real = lava_sim.simulate_lava

    def corrupted(*a, **k):
        sim, run = real(*a, **k)
        run.records["blocks.0.attn.core.score"][1, 3, 5] += 1  # sample 1, step 3, pair 5
        return sim, run
    monkeypatch.setattr(lava_sim, "simulate_lava", corrupted)
    out = tmp_path / "bad"
    rc = cli.main([str(path), "--compare", "--dataset", str(data), "--out", str(out), "--no-progress"])
    res = json.loads((out / "simulation.json").read_text())
    assert rc == 1 and res["match"] is False
    assert res["first_divergence"] == {"sample": 1, "layer": "blocks.0.attn.core.score", "step": 3, "neuron": 5}

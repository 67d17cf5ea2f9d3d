"""The speed benchmark compares like with like: the spikingjelly-built model computes the same thing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from ds2ta import DS2TA, make_config
from ds2ta.neuron import LIF

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "train_speed.py"


def _bench():
    spec = importlib.util.spec_from_file_location("train_speed", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("attention", ["ds2ta", "statten"])
def test_spikingjelly_model_matches_forward_and_gradients(attention):
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based import functional as sjf
    from spikingjelly.activation_based import neuron

    torch.manual_seed(0)
    ours = DS2TA(make_config("tiny", embed_dim=16, heads=2, mlp_ratio=2, attention=attention))
    n_lif = sum(isinstance(m, LIF) for m in ours.modules())
    sj, replaced = _bench().to_spikingjelly(ours, "torch")
    assert replaced == n_lif > 0
    assert not any(isinstance(m, LIF) for m in sj.modules())
    assert sum(isinstance(m, neuron.LIFNode) for m in sj.modules()) == n_lif
    x = torch.rand(4, 1, 8, 8) * 2
    y = torch.tensor([0, 1, 2, 3])
    outs = []
    for model in (ours, sj):
        model.train()
        model.zero_grad()
        out = model(x)
        torch.nn.functional.cross_entropy(out, y).backward()
        outs.append((out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    sjf.reset_net(sj)
    torch.testing.assert_close(outs[0][0], outs[1][0], rtol=1e-5, atol=1e-6)
    for n, g in outs[0][1].items():
        torch.testing.assert_close(g, outs[1][1][n], rtol=1e-4, atol=1e-6, msg=n)


def test_benchmark_runs_speed_and_memory_side_by_side(tmp_path):
    pytest.importorskip("spikingjelly")
    out = tmp_path / "r.json"
    assert _bench().main(["--preset", "tiny", "--batch", "4", "--iters", "1", "--mem-steps", "1",
                          "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    variants = {"ds2ta", "ds2ta-checkpointed", "spikingjelly"}
    assert set(r["samples_per_s"]) == set(r["memory"]["rows"]) == variants
    assert r["max_abs_logit_diff"] == 0 and r["max_abs_logit_diff_checkpointed"] == 0
    rows = r["memory"]["rows"]
    for v in variants:  # each variant ran in its own process: its own peak, at least its start RSS
        assert rows[v]["variant"] == v and len(rows[v]["step_s"]) == 1
        assert rows[v]["peak_rss_mib"] >= rows[v]["rss_before_steps_mib"] > 50
    # same network: spikingjelly keeps about what ds2ta keeps; checkpointed keeps far less
    assert 0.5 < r["saved_ratio_spikingjelly_over_ds2ta"] < 2
    assert r["saved_ratio_checkpointed_over_ds2ta"] < 0.1
    assert r["peak_rss_ratio_checkpointed_over_ds2ta"] == pytest.approx(
        rows["ds2ta-checkpointed"]["peak_rss_mib"] / rows["ds2ta"]["peak_rss_mib"])

"""The speed benchmark compares like with like: the spikingjelly-built model computes the same thing."""

from __future__ import annotations

import importlib.util
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

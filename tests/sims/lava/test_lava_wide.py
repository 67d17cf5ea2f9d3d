"""A wide model through Lava ``--compare``: what would have caught the paper-scale crash.

``cifar10``-like geometry at a CI-friendly size: 256 channels (a depthwise pooling conv of 256 groups
overflowed the int8 ``groups`` Var of lava-nc's Conv model), 32 x 32 input with two pooling stages
(8 x 8 = 64 tokens), TASA window 3, the token-pooling head, one block; each attention. Equality is
checked on every population, step and neuron, on the counts and on the predictions; every spiking
layer must fire (a silent layer proves nothing).
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

WIDE = dict(img_size=32, in_channels=1, embed_dim=256, heads=8, depth=1, mlp_ratio=1, pool_stages="0011")


def _wide_graph(attention: str, tmp_path):
    torch.manual_seed(3)
    cfg = make_config("cifar10", attention=attention, **WIDE)
    model = DS2TA(cfg).eval()
    for name, m in model.named_modules():  # statistics that make every layer fire
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
            if any(f"attn.{p}." in name for p in "qkv"):
                m.running_mean.uniform_(-1.6, -1.0)
    x = np.random.default_rng(0).integers(0, 17, (2, 1, 32, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, 1 / 16, torch.from_numpy(x).float() / 16,
                                 meta={"conventions": {"dt": 1.0, "T": cfg.T}})
    path = tmp_path / f"{attention}.nir"
    write_graph(path, g)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "x_int.npy", x)
    np.save(data / "labels.npy", np.arange(2))
    return g, path, data


@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten"])
def test_wide_model_matches_in_lava(attention, tmp_path):
    from ds2ta.sims.cli import main

    g, path, data = _wide_graph(attention, tmp_path)
    assert g.nodes["sps.3.pool"] is not None and np.asarray(g.nodes["head.fc"].weight).shape == (10, 256)
    assert tuple(g.nodes["blocks.0.attn.core"].tokens_shape) == (8, 8)
    out = tmp_path / "sim"
    rc = main([str(path), "--compare", "--dataset", str(data), "--out", str(out), "--no-progress"])
    res = json.loads((out / "simulation.json").read_text())
    assert rc == 0 and res["match"] is True, res["first_divergence"] or res["checks"]["count_mismatches"]
    ref, lava = res["backends"]["reference"], res["backends"]["lava"]
    assert lava["layers"] == ref["layers"]
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and not n.startswith("head.")]
    silent = [n for n in spiking if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 12 and not silent, silent
    assert ref["layers"]["sps.3.lif"]["neurons"] == 256 * 16 * 16  # the 256-channel stage before the pool

"""An exported tiny DS2TA whose every layer fires (untrained, BatchNorm statistics set so), for tests that
compare counts or records: a silent network would make them pass vacuously."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ds2ta.config import make_config
from ds2ta.export.model_quant import encode_int, quantize_model
from ds2ta.model import DS2TA


def firing_tiny(samples: int, seed: int = 0):
    """``(integer NIR graph, time-major integer input (T, samples, 1, 8, 8))`` of the ``tiny`` preset."""
    torch.manual_seed(seed)
    model = DS2TA(make_config("tiny")).eval()
    for name, m in model.named_modules():  # BN statistics that make every layer fire
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
            if any(f"attn.{p}." in name for p in "qkv"):
                m.running_mean.uniform_(-1.6, -1.0)
    x = torch.from_numpy(np.random.default_rng(seed).integers(0, 17, (samples, 1, 8, 8)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, 1 / 16, x.float() / 16)
    return g, encode_int(model.cfg, x)

"""A wide model through Lava ``--compare``: what would have caught the paper-scale crash.

``cifar10``-like geometry at a CI-friendly size: 256 channels (a depthwise pooling conv of 256 groups
overflowed the int8 ``groups`` Var of lava-nc's Conv model), 32 x 32 input with two pooling stages
(8 x 8 = 64 tokens), TASA window 3, the token-pooling head, one block; each attention. Equality is
checked on every population, step and neuron, on the counts and on the predictions; every spiking
layer must fire (a silent layer proves nothing).

Schedule: pipelined (``ds2ta-sim``'s default for the 2 samples: the second enters T = 4 steps after the
first, while the first is still deep in the network; ``compared_in_lava`` checks it).
"""

from __future__ import annotations

import numpy as np
import pytest

from ds2ta.export.nir_io import read_graph

pytestmark = pytest.mark.lava

WIDE = dict(img_size=32, in_channels=1, embed_dim=256, heads=8, depth=1, mlp_ratio=1, pool_stages="0011")


def _wide_graph(attention: str, tmp_path):
    from test_lava_match import _exported

    path, data = _exported(attention, tmp_path, preset="cifar10", samples=2, seed=3, **WIDE)
    return read_graph(path), path, data


@pytest.mark.parametrize("attention", ["ds2ta", "spikformer", "statten", "sdsa"])
def test_wide_model_matches_in_lava(attention, tmp_path):
    from test_lava_match import compared_in_lava

    g, path, data = _wide_graph(attention, tmp_path)
    assert g.nodes["sps.3.pool"] is not None and np.asarray(g.nodes["head.fc"].weight).shape == (10, 256)
    if attention == "sdsa":  # standard nodes only: 256-group depthwise convs, an 8 x 8 broadcast
        assert tuple(g.nodes["blocks.0.attn.gate_s"].weight.shape) == (256, 1, 8, 8)
    else:
        assert tuple(g.nodes["blocks.0.attn.core"].tokens_shape) == (8, 8)
    ref = compared_in_lava(path, data, tmp_path / "sim")
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and not n.startswith("head.")]
    silent = [n for n in spiking if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 12 and not silent, silent
    assert ref["layers"]["sps.3.lif"]["neurons"] == 256 * 16 * 16  # the 256-channel stage before the pool

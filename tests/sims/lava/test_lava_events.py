"""Event input through Lava ``--compare``: ``(samples, T, 2, H, W)`` event counts, a new frame every step.

The event presets' geometry at CI size: ``tiny-dvs`` (T = 10, 16 x 16 ON/OFF frames, 4 x 4 tokens,
STAtten in blocks of chunk = 5) with DS2TA's backbone, the stand-in of ``dvs``; and the SDT backbone on
events with its DVS pooling (OR units for the spike max-pools, STAtten's gate as an AND population),
the stand-in of ``statten-dvs``. Equality on every population, step and neuron, on the counts and on
the predictions; every spiking layer must fire.

Schedule: **pipelined** (``ds2ta-sim``'s default for several samples): a new sample every T = 10 steps
while the previous one is still 19-30 steps deep in the network (checked by ``compared_in_lava``).
"""

from __future__ import annotations

import numpy as np
import pytest

from ds2ta.export.nir_io import read_graph

pytestmark = pytest.mark.lava

# the SDT test's 16 x 16 DVS-pooling geometry with event input, T = 10 in blocks of 5 (statten-dvs)
SDT_EVENTS = dict(img_size=16, in_channels=2, embed_dim=64, heads=4, depth=1, mlp_ratio=1, pool_stages="0011",
                  backbone="sdt", encoding="events", T=10, chunk=5)


@pytest.mark.parametrize("attention,nsad,lowering,form", [("ds2ta", True, "neurons", "pairwise"),
                                                          ("statten", False, "neurons", "block"),
                                                          ("statten", False, "core", None)],
                         ids=["ds2ta-neurons", "statten-neurons", "statten-core"])
def test_tiny_dvs_events_match_in_lava(attention, nsad, lowering, form, tmp_path):
    from test_lava_match import _exported, compared_in_lava

    from ds2ta.hardware.attention_lowering import plan

    path, data = _exported(attention, tmp_path, preset="tiny-dvs", samples=3, nsad=nsad)
    g = read_graph(path)
    core = g.nodes["blocks.0.attn.core"]
    assert tuple(g.nodes["input"].output_type["output"]) == (2, 16, 16)
    if attention == "statten":
        assert int(core.chunk) == 5
    if form is not None:
        assert plan("blocks.0.attn.core", core).form == form
    ref = compared_in_lava(path, data, tmp_path / "sim", "--attention-lowering", lowering)
    assert ref["T"] == 10
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and not n.startswith("head.")]
    silent = [n for n in spiking if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 10 and not silent, silent


def test_sdt_backbone_on_events_matches_in_lava(tmp_path):
    """STAtten on the SDT backbone with event input and DVS pooling (``dvs_pool`` follows the encoding)."""
    from test_lava_match import _exported, compared_in_lava

    path, data = _exported("statten", tmp_path, preset="cifar10", samples=2, seed=3, **SDT_EVENTS)
    g = read_graph(path)
    assert "blocks.0.attn.core.q_pool.lif" in g.nodes and "blocks.0.attn.gate_lif" in g.nodes
    assert int(g.nodes["blocks.0.attn.core.core"].chunk) == 5  # the block core behind the DVS pools
    units = [n for n, v in g.nodes.items() if type(v).__name__ == "DS2TAGraded"]
    ref = compared_in_lava(path, data, tmp_path / "sim")
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and n.endswith("lif")]
    silent = [n for n in spiking + units if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 10 and units and not silent, silent


# seeds of the untrained models chosen so that every layer fires (SDSA's gate is an AND of sparse maps)
@pytest.mark.parametrize("sdsa_pool,seed", [("official", 1), ("grid", 2)])
def test_tiny_dvs_sdt_sdsa_pools_match_in_lava(sdsa_pool, seed, tmp_path):
    """SDSA on the SDT backbone with event input (``tiny-dvs``): its DVS max-pools of ``K * V`` and of the
    output over each head's (flat token, channel) plane as STAtten's code (``official``: the AND
    populations laid out as ``(heads, hd, N)``, read through conv views), or over the token grid."""
    from test_lava_match import _exported, compared_in_lava

    path, data = _exported("sdsa", tmp_path, preset="tiny-dvs", samples=2, seed=seed, backbone="sdt",
                           sdsa_pool=sdsa_pool)
    g = read_graph(path)
    p, D, heads, grid = "blocks.0.attn.core", 64, 4, 4
    plane = (heads, D // heads, grid * grid) if sdsa_pool == "official" else (D, grid, grid)
    for n in ("kv_lif", "gate_lif"):
        assert tuple(np.shape(g.nodes[f"{p}.{n}"].v_threshold)) == plane, n
    for n in ("kv_pool.lif", "gate_pool.lif"):
        assert tuple(np.shape(g.nodes[f"{p}.{n}"].v_threshold)) == (D, grid, grid), n
    for n in ("kv", "gate_q"):
        assert tuple(np.asarray(g.nodes[f"{p}.{n}"].input_shape)) == plane[1:], n
    ref = compared_in_lava(path, data, tmp_path / "sim")
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and n.endswith("lif")]
    silent = [n for n in spiking if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 10 and f"{p}.gate_pool.lif" in spiking and not silent, silent

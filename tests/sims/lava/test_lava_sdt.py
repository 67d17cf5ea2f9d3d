"""STAtten's SDT-V1 backbone through Lava ``--compare`` at CIFAR geometry (256 channels, 32 x 32 input,
8 x 8 tokens): the membrane stream as direct synapses, the SPS membrane max-pool as a network of graded
units, the head's count relays. Equality on every population, step and neuron, on the counts and on
the predictions; every spiking layer and every comparison unit must be active (a silent one proves
nothing). Schedule: pipelined (``ds2ta-sim``'s default for the 2 samples; ``compared_in_lava`` checks it);
the SDT backbone on event input: test_lava_events.py."""

from __future__ import annotations

import pytest

from ds2ta.export.nir_io import read_graph

pytestmark = pytest.mark.lava

SDT = dict(img_size=32, in_channels=1, embed_dim=256, heads=8, depth=1, mlp_ratio=1, pool_stages="0011",
           backbone="sdt", T=4, chunk=2)


SMALL_DVS = dict(SDT, img_size=16, embed_dim=64, heads=4, dvs_pool=True)


# seeds of the untrained models chosen so that every layer fires (SDSA's gate is an AND of sparse maps)
@pytest.mark.parametrize("attention,geometry,seed", [("statten", SDT, 3), ("sdsa", SDT, 3),
                                                     ("statten", SMALL_DVS, 3), ("sdsa", SMALL_DVS, 2)],
                         ids=["statten", "sdsa", "statten-dvs", "sdsa-dvs"])
def test_sdt_backbone_matches_in_lava(attention, geometry, seed, tmp_path):
    """Also the block's DVS max-pools (OR neurons) and STAtten's gate ``z * x_pool + x_pool`` (an AND
    population and x_pool, both through the projection's weights), on a 4 x 4 grid."""
    from test_lava_match import _exported, compared_in_lava

    path, data = _exported(attention, tmp_path, preset="cifar10", samples=2, seed=seed, **geometry)
    g = read_graph(path)
    D, grid = geometry["embed_dim"], geometry["img_size"] // 4
    units = [n for n, v in g.nodes.items() if type(v).__name__ == "DS2TAGraded"]
    assert len(units) == 10 and tuple(g.nodes["sps.pools.3"].shape) == (D, grid, grid)
    if geometry.get("dvs_pool"):
        assert "blocks.0.attn.core.q_pool.lif" in g.nodes
        assert ("blocks.0.attn.gate_lif" in g.nodes) == (attention == "statten")
    ref = compared_in_lava(path, data, tmp_path / "sim")
    spiking = [n for n, c in ref["layers"].items() if c["neurons"] and n.endswith("lif")]
    silent = [n for n in spiking + units if ref["layers"][n]["spikes"] == 0]
    assert len(spiking) >= 10 and not silent, silent
    # the comparison units carry graded messages: the feat unit sends one per nonzero max
    assert ref["layers"]["sps.pools.3"]["spikes"] > 0
    assert ref["layers"]["sps.pools.3.sh"]["neurons"] == D * (2 * grid) ** 2

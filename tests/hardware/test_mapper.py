"""Mapper against hand-computed layouts (numbers worked out in the comments, not by the code)."""

import json

import pytest

from ds2ta.hardware import LOIHI2, LayerSpec, MappingError, check_fits, conv, dense, map_layers, write_mapping_json

# 128 KB * 8 bits / 16 bits per entry = 65,536 synapse entries per core.
ENTRIES = 65536


def test_synapses_per_core_by_hand():
    assert LOIHI2.synapses_per_core == ENTRIES


def test_dense_needs_seven_cores_by_synaptic_memory():
    # 4000 inputs per neuron -> 65536 // 4000 = 16 neurons per core -> ceil(100 / 16) = 7 cores.
    m = map_layers([LayerSpec("x", "input", (1, 1, 4000)), dense("fc", 4000, 100, sources=["x"])])
    cores = m.layer_cores("fc")
    assert len(cores) == 7
    assert [c.neurons for c in cores] == [16] * 6 + [4]
    assert m.limited_by["fc"] == "synaptic memory"
    assert cores[0].entries == 16 * 4000


def test_conv_split_by_neurons_into_column_slices():
    # out (64, 64, 32) = 131072 neurons; 8192 // (64 * 32) = 4 columns per core -> 16 cores of 8192.
    L = [LayerSpec("x", "input", (64, 64, 8)),
         conv("c", (64, 64, 8), 32, (3, 3), (1, 1), (1, 1), sources=["x"])]
    m = map_layers(L)
    cores = m.layer_cores("c")
    assert len(cores) == 16 and all(c.neurons == 8192 for c in cores)
    assert cores[1].cols == (4, 8) and cores[1].chans == (0, 32)
    assert cores[0].entries == 32 * 8 * 9          # kernel stored once per core, not per neuron
    assert cores[0].fan_in_axons == 6 * 64          # columns 0..3 read input columns 0..5, all 64 rows
    assert m.limited_by["c"] == "neurons"


def test_conv_split_by_channels_when_kernel_too_big():
    # 512 * 9 = 4608 entries per channel -> 65536 // 4608 = 14 channels per core -> ceil(64/14) = 5 cores.
    L = [LayerSpec("x", "input", (6, 6, 512)), conv("c", (6, 6, 512), 64, (3, 3), sources=["x"])]
    cores = map_layers(L).layer_cores("c")
    assert len(cores) == 5
    assert [c.chans for c in cores] == [(0, 14), (14, 28), (28, 42), (42, 56), (56, 64)]


def test_tasa_replicas_multiply_memory():
    # 1000 inputs x 3 replicas = 3000 entries -> 21 per core -> ceil(64 / 21) = 4 cores (1 without).
    base = LayerSpec("x", "input", (1, 1, 1000))
    assert len(map_layers([base, dense("q", 1000, 64, sources=["x"], replicas=3)]).layer_cores("q")) == 4
    assert len(map_layers([base, dense("q", 1000, 64, sources=["x"])]).layer_cores("q")) == 1


def test_placement_four_cores_per_router():
    m = map_layers([LayerSpec("x", "input", (1, 1, 8192 * 40))])
    xy = [c.xy for c in m.cores]
    assert xy[3] == (0, 0) and xy[4] == (1, 0) and xy[32] == (0, 1)


def test_routing_dense_messages_and_hops():
    # x on cores 0..4 (router 0: cores 0-3, router 1: core 4); fc on core 5 (router 1).
    # (fc's fan_in 10 only sizes its synapses; the routing reads the edge x->fc.)
    m = map_layers([LayerSpec("x", "input", (1, 1, 4 * 8192 + 100)), dense("fc", 10, 1, sources=["x"])])
    e = m.edges["x->fc"]
    assert e["messages_per_spike"] == 1.0
    # cores 0-3 (4 x 8192 neurons) are 1 hop east of router 1; core 4 (100 neurons) is on it.
    assert e["hops_ew_per_spike"] == pytest.approx(4 * 8192 / (4 * 8192 + 100))


def test_single_neuron_too_big_raises_named_error():
    # Without fan-in splitting one neuron's 70,000 synapses x 2 bytes must fit one core.
    with pytest.raises(MappingError) as ei:
        map_layers([LayerSpec("x", "input", (1, 1, 70000)), dense("huge", 70000, 10, sources=["x"])],
                   split_fan_in=False)
    err = ei.value
    assert err.layer == "huge" and err.resource == "synaptic memory per core"
    assert err.limit == 128 * 1024 and err.amount == 70000 * 2
    assert "huge" in str(err) and isinstance(err, ValueError)


def test_fan_in_limit():
    with pytest.raises(MappingError, match="fan-in") as ei:
        map_layers([LayerSpec("x", "input", (1, 1, 5000)), dense("wide", 5000, 10, sources=["x"])],
                   split_fan_in=False)
    assert ei.value.amount == 5000 and ei.value.limit == 4096


def test_unsplittable_kinds_still_raise():
    # A conv channel's kernel (shared weights) is not split: 70,000 x 2 bytes > 128 KB.
    with pytest.raises(MappingError, match="synaptic memory") as ei:
        map_layers([LayerSpec("x", "input", (3, 3, 70000)), conv("c", (3, 3, 70000), 1, (1, 1), sources=["x"])])
    assert ei.value.layer == "c" and ei.value.amount == 140000


def test_chip_limit_and_check_fits():
    # 130 x 8192 neurons need 130 cores > 128 on one chip; two chips hold them.
    L = [LayerSpec("big", "input", (1, 1, 130 * 8192))]
    with pytest.raises(MappingError, match="--chips 2") as ei:
        check_fits(L, chips=1)
    assert ei.value.resource == "cores on 1 chip(s)" and ei.value.limit == 128
    m = check_fits(L, chips=2)
    assert m.total_cores == 130 and m.chips == 2 and m.cores[128].chip == 1


def test_chip_rule_names_the_whole_models_need_and_none_maps_onto_it():
    # 3 layers of 100 full cores = 300 cores: 3 chips of 128. A cap of 1 names 300 cores and 3 chips
    # (not the 129th core and 2 chips, where the placement first crossed the cap).
    L = [LayerSpec("x", "input", (1, 1, 100 * 8192))] + [
        LayerSpec(f"h{i}", "input", (1, 1, 100 * 8192)) for i in range(2)]
    with pytest.raises(MappingError, match="Use --chips 3 ") as ei:
        check_fits(L, chips=1)
    assert (ei.value.layer, ei.value.amount, ei.value.limit) == ("<model>", 300, 128)
    assert str(ei.value).startswith("the model does not fit: cores on 1 chip(s) needs 300 cores")
    m = check_fits(L, chips=None)
    assert (m.total_cores, m.chips, m.chips_allowed) == (300, 3, None) and m.cores[-1].chip == 2
    assert m.to_dict()["chips"] == 3 and m.to_dict()["chips_allowed"] is None
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer or None"):
            map_layers(L, chips=bad)


def test_weight_bits_rule():
    with pytest.raises(MappingError, match="weight bits"):
        map_layers([LayerSpec("x", "input", (1, 1, 4)), dense("fc", 4, 2, sources=["x"], weight_bits=9)])


def test_bad_input_messages():
    with pytest.raises(ValueError, match="unknown source"):
        map_layers([dense("fc", 4, 2, sources=["nope"])])
    with pytest.raises(ValueError, match="kind"):
        LayerSpec("a", "lstm", (1, 1, 1), fan_in=1)
    with pytest.raises(ValueError, match="no limit"):
        LOIHI2.replace(bogus=1)


def test_mapping_json_round_trip(tmp_path):
    m = map_layers([LayerSpec("x", "input", (1, 1, 4000)), dense("fc", 4000, 100, sources=["x"])])
    p = write_mapping_json(m, tmp_path / "mapping.json")
    d = json.load(open(p))
    assert d["format"] == "ds2ta-mapping" and d["total_cores"] == 1 + 7
    assert d["layers"]["fc"]["cores"] == [1, 2, 3, 4, 5, 6, 7]
    assert d["spec"]["neurons_per_core"]["grade"] == "V"
    assert LayerSpec.from_dict(d["layer_specs"][1]) == m.layers[1]

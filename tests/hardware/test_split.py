"""Fan-in splitting (partial sums + merge) against layouts counted by hand on a tiny core."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ds2ta.hardware import LOIHI2, LayerSpec, MappingError, dense, map_layers
from ds2ta.hardware.energy import estimate

pJ = 1e-12
# 8 neurons, 64 bytes of synapses = 32 entries at 16 bits, 16 input axons per core.
TINY = LOIHI2.replace(neurons_per_core=8, synaptic_memory_bytes=64, fan_in_axons=16)


def _fc(fan_in, n_out, **kw):
    return [LayerSpec("x", "input", (1, 1, fan_in)), dense("fc", fan_in, n_out, sources=["x"], **kw)]


def test_tiny_spec_by_hand():
    assert TINY.synapses_per_core == 32


def test_split_layout_counted_by_hand():
    # fan-in 40 > 32 entries and > 16 axons. Groups of <= 16 inputs: G_min = ceil(40/16) = 3, sizes
    # 14, 13, 13; each core holds 32 // 14 = 2 (or 32 // 13 = 2) compartments -> 5 outputs need
    # 3 cores per group = 9 partial cores. Merge: 3 inputs per neuron, min(8, 32//3, 16//3) = 5
    # neurons per core -> 1 merge core. (G = 4: 4 x 2 + 2 = 10, G = 5: 12 -> G = 3 is kept.)
    # x: 40 inputs / 8 per core = 5 cores. Total 5 + 9 + 1 = 15.
    m = map_layers(_fc(40, 5), spec=TINY)
    fc = m.layer_cores("fc")
    part = [c for c in fc if c.role == "partial"]
    merge = [c for c in fc if c.role == "merge"]
    assert len(part) == 9 and len(merge) == 1 and m.total_cores == 15
    assert [c.group for c in part[::3]] == [(0, 14), (14, 27), (27, 40)]
    assert [c.neurons for c in part[:3]] == [2, 2, 1]
    assert part[0].entries == 2 * 14 and part[0].fan_in_axons == 14
    assert merge[0].neurons == 5 and merge[0].entries == 5 * 3 and merge[0].fan_in_axons == 15
    assert m.limited_by["fc"] == "fan-in split" and m.merge_latency_steps == 1
    s = m.to_dict()["layers"]["fc"]["fan_in_split"]
    assert s["groups"] == 3 and s["partial_compartments"] == 15 and s["latency_steps"] == 1
    assert s["merge_cores"] == [14] and s["partial_cores"] == list(range(5, 14))
    # every input spike goes to the 3 cores of its group
    assert m.edges["x->fc"]["messages_per_spike"] == pytest.approx(3.0)
    assert m.edges["x->fc"]["max_dest_cores"] == 9          # x's cores span all three groups


def test_more_groups_when_they_need_fewer_cores():
    # fan-in 17, 5 outputs. G = 2 (9, 8): 32//9 = 3, 32//8 = 4 per core -> 2 + 2 cores + 1 merge = 5.
    # G = 3 (6, 6, 5): 5, 5, 6 per core -> 1 + 1 + 1 + merge min(8, 10, 5) = 5 -> 1 = 4 cores. G = 3 wins.
    m = map_layers(_fc(17, 5), spec=TINY)
    assert len(m.layer_cores("fc")) == 4 and m.splits["fc"]["groups"] == 3


def test_split_beyond_one_stage_raises_named_error():
    # At most 16 inputs per group and min(16 axons, 32 entries) = 16 groups: 256 synapses per neuron.
    with pytest.raises(MappingError) as ei:
        map_layers(_fc(300, 2), spec=TINY)
    e = ei.value
    assert (e.layer, e.limit, e.amount, e.unit) == ("fc", 256, 300, "synapses")
    assert "partial-sum" in e.resource and "fc" in str(e)


def test_split_still_checks_chips():
    # 15 cores (as above) on a 12-core chip: the chip rule counts the split layer's cores in the model's.
    with pytest.raises(MappingError, match="--chips 2") as ei:
        map_layers(_fc(40, 5), spec=TINY.replace(cores_per_chip=12))
    assert (ei.value.layer, ei.value.limit, ei.value.amount) == ("<model>", 12, 15)


def test_merge_latency_counts_split_layers_on_the_longest_path():
    # fc2: 200 inputs -> G_min = 13 groups <= 16: also split; the path x -> fc -> fc2 has 2 merges.
    m = map_layers(_fc(40, 5) + [dense("fc2", 200, 2, sources=["fc"])], spec=TINY)
    assert set(m.splits) == {"fc", "fc2"} and m.merge_latency_steps == 2


def test_energy_prices_partial_sums_and_merge_latency():
    # Split fc (3 groups, 1 merge core) vs the same counts on vendor limits (fits one core).
    act = {"samples": 1, "T": 4, "latency_steps": 1, "layers": {
        "x": {"spikes": 10, "neuron_updates": 160},
        "fc": {"spikes": 2, "synops": 100, "neuron_updates": 20}}}
    split = estimate(map_layers(_fc(40, 5), spec=TINY), act)
    whole = estimate(map_layers(_fc(40, 5)), act)
    # +1 merge step: T 4 + depth 1 + 1 = 6 steps
    assert split.latency["steps"] == 6 and whole.latency["steps"] == 5
    assert split.latency["merge_latency_steps"] == 1
    terms = {t["name"]: t for t in split.loihi["sanafe"]["terms"]}
    # partial compartments: 3 groups x 20 updates = 60; graded messages <= min(60, 100 synops) = 60
    assert terms["partial-sum compartment updates"]["count"] == 60
    assert terms["merge graded synops"]["count"] == 60
    assert terms["partial-sum messages"]["count"] == 60
    # Placement (4 cores per router, one mesh row): x = cores 0-4 (routers 0,0,0,0,1; 8 neurons each),
    # groups on cores 5-7 (router 1), 8-10 (router 2), 11 (r2), 12-13 (r3); merge core 14 (r3).
    # x->fc hops per spike, group weights 14/40, 13/40, 13/40: router-0 neurons (32) 3, 6, 8 hops
    # -> 224/40; router-1 neurons (8) 0, 3, 5 -> 104/40; (32 * 224 + 8 * 104) / 40 / 40 = 5.0.
    # partial -> merge: 5 compartments 2 hops, 5 + 2 one hop, 3 on the merge router: 17 / 15.
    hops = 10 * 5.0 + 60 * 17 / 15
    assert terms["mesh hops east-west"]["count"] == pytest.approx(hops)
    # input spikes now fan out to the 3 cores of their group: 10 spikes x (3 - 1) extra messages
    want = (60 * 51.2 + 60 * 35.5 + 60 * 111 + 10 * 2 * 111 + hops * 3.0) * pJ
    got = split.loihi["sanafe"]["dynamic_J"] - whole.loihi["sanafe"]["dynamic_J"]
    assert got == pytest.approx(want)
    assert split.paper["total_J"] == whole.paper["total_J"]     # paper number counts model ops only
    assert any("Fan-in split" in n and "fc" in n for n in split.notes)


@settings(max_examples=60, deadline=None)
@given(fan_in=st.integers(17, 300), n_out=st.integers(1, 20), replicas=st.integers(1, 3))
def test_split_layout_invariants(fan_in, n_out, replicas):
    # Whatever the shape: groups tile the inputs, each group's cores hold every output once, the
    # merge cores hold every output once, and every core is within the tiny core's limits.
    try:
        m = map_layers(_fc(fan_in, n_out, replicas=replicas), spec=TINY, chips=8)
    except MappingError as e:         # one stage: min(16 axons, 32 // replicas) inputs x 16 groups
        assert fan_in > min(16, 32 // replicas) * 16 and e.resource.startswith("fan-in per neuron")
        return
    fc = m.layer_cores("fc")
    groups = sorted({c.group for c in fc if c.role == "partial"})
    assert groups[0][0] == 0 and groups[-1][1] == fan_in
    assert all(a[1] == b[0] for a, b in zip(groups, groups[1:]))
    for g in groups:
        assert sum(c.neurons for c in fc if c.group == g and c.role == "partial") == n_out
    assert sum(c.neurons for c in fc if c.role == "merge") == n_out
    for c in fc:
        assert c.neurons <= 8 and c.entries <= 32 and c.fan_in_axons <= 16

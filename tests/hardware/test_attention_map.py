"""An attention node mapped and priced as its neuron lowering (and still as a core when asked)."""

import nir
import numpy as np
import pytest

from ds2ta.hardware import LOIHI2, check_fits
from ds2ta.hardware import attention_lowering as AL
from ds2ta.hardware import attention_activity as ACT
from ds2ta.hardware.energy import estimate
from ds2ta.hardware.profiles import SANAFE_LOIHI1

E = pytest.importorskip("ds2ta.export")
pytestmark = pytest.mark.filterwarnings("ignore:no activity for layers")
D, H, G = 8, 2, 2          # 8 channels, 2 heads (d = 4), 2 x 2 tokens (N = 4)
d, N = D // H, G * G


def _lif(shape):
    z = np.zeros(shape)
    return nir.CubaLIF(tau_syn=z + 1, tau_mem=z + 2, r=z + 2, v_leak=z, v_threshold=z + 1)


def _graph(table=None, lowering=None):
    n = {"input": nir.Input(input_type={"input": np.array([D, G, G])})}
    e = []
    for k in "qkv":
        n[f"{k}.conv"] = nir.Conv2d(input_shape=(G, G), weight=np.ones((D, D, 1, 1), int), stride=1, padding=0,
                                    dilation=1, groups=1, bias=np.zeros(D))
        n[f"{k}.lif"] = _lif((D, G, G))
        e += [("input", f"{k}.conv"), (f"{k}.conv", f"{k}.lif"), (f"{k}.lif", "core")]
    t = np.tile(np.arange(d + 1) ** 2, (H, 1)) if table is None else table
    n["core"] = E.DS2TASpikeAttention(channels=D, heads=H, tokens_shape=(G, G), table=t,
                                      operands=["q.lif", "k.lif", "v.lif"])
    n["attn_lif"] = _lif((D, G, G))
    e.append(("core", "attn_lif"))
    return nir.NIRGraph(nodes=n, edges=e, metadata={"attention_lowering": lowering} if lowering else {})


def test_neurons_is_the_default_and_each_population_is_a_layer():
    m = check_fits(_graph()).to_dict()
    assert m["attention_lowering"] == "neurons"
    L = m["layers"]
    # pairwise: qk N^2 D = 128 (2 entries each), score N^2 H = 32 (d each), out D N = 32 (N sv products;
    # shift 0: a graded sum, no ones unit)
    assert (L["core.qk"]["neurons"], L["core.qk"]["synapse_entries"]) == (128, 256)
    assert (L["core.score"]["neurons"], L["core.score"]["synapse_entries"]) == (32, 32 * d)
    assert (L["core"]["neurons"], L["core"]["synapse_entries"]) == (32, 32 * N)
    assert "core.ones" not in L
    assert L["attn_lif"]["kind"] == "dense" and L["attn_lif"]["synapse_entries"] == D * N
    # conv 1 step + the lowering's 6 stages; the core: conv 1 + core 1
    assert m["latency_steps"] == 1 + 6
    assert m["attention"]["core"]["out_latency"] == 6
    c = check_fits(_graph(), lowering="core").to_dict()
    assert c["attention_lowering"] == "core" and c["latency_steps"] == 2 and c["layers"]["attn_lif"]["kind"] == "attention"
    assert check_fits(_graph(lowering="core")).to_dict()["attention_lowering"] == "core"  # graph metadata


def test_lowered_layer_split_by_neurons_and_routed_exactly():
    # 16 neurons per core: qk[h, i, j, c] (128) takes 8 cores, one per (h, i). A q spike (h c, i) reaches
    # its (h, i) core only; a k spike (h c, j) reaches the N cores (h, i) for every i.
    spec = LOIHI2.replace(neurons_per_core=16)
    m = check_fits(_graph(), spec=spec, chips=8)
    assert len(m.layer_cores("core.qk")) == 8
    assert m.edges["q.lif->core.qk"]["messages_per_spike"] == 1
    assert m.edges["k.lif->core.qk"]["messages_per_spike"] == N
    # a qk core of 16 products receives 4 q and 16 k... distinct sources: q (c, i): 4 (one i), k (c, j): 16
    assert {c.fan_in_axons for c in m.layer_cores("core.qk")} == {d + N * d}


def test_lowered_layer_split_by_sparse_memory():
    # score neurons store d = 4 entries: a 64-entry memory holds 16 of them -> 32 / 16 = 2 cores
    spec = LOIHI2.replace(synaptic_memory_bytes=64 * 2)
    m = check_fits(_graph(), spec=spec, chips=64)
    assert len(m.layer_cores("core.score")) == 2
    assert m.limited_by["core.score"] == "synaptic memory"


def _activity(lowering, seed=0):
    rng = np.random.default_rng(seed)
    T, B = 4, 2
    q, k, v = (rng.integers(0, 2, (T, B, D, N)) for _ in range(3))
    g = _graph()
    low = AL.plan("core", g.nodes["core"])
    vals = ACT.values(low, q, k, v)
    counts = ACT.unit_counts(low, {**vals, "q": q, "k": k, "v": v})
    layers = {f"core.{s}": c for s, c in counts.items() if s != "out"}
    layers["core"] = dict(counts["out"], attention_ops=0)
    if lowering == "core":
        layers = {"core": {"spikes": 0, "synops": 0, "graded_synops": 0, "neuron_updates": 0, "attention_ops": 50}}
    return {"samples": B, "T": T, "layers": layers}, counts


def test_energy_prices_lowered_populations_by_events():
    act, counts = _activity("neurons")
    m = check_fits(_graph())
    r = estimate(m, act, profile={"sanafe": SANAFE_LOIHI1})
    terms = {t["name"]: t for t in r.loihi["sanafe"]["terms"]}
    assert "attention-core ops" not in terms
    B = act["samples"]
    graded = sum(c["graded_synops"] for c in counts.values()) / B
    assert terms["attention neurons: graded synops"]["count"] == pytest.approx(graded)
    assert terms["attention neurons: graded synops"]["grade"] == "D"
    assert terms["attention neurons: graded synops"]["unit_J"] == SANAFE_LOIHI1.graded_synop.value
    graded_units = ("qk", "score", "nsad", "sv", "out")
    msgs = sum(counts[s]["spikes"] for s in graded_units) / B
    assert terms["attention neurons: graded messages out"]["count"] == pytest.approx(msgs)
    # paper-comparable: every synaptic event into a lowered population is an AC (no first-layer MACs here)
    acs = sum(c["synops"] + c["graded_synops"] for c in counts.values()) / B
    paper = {t["name"]: t for t in r.paper["terms"]}
    assert paper["ACs (synaptic + attention ops)"]["count"] == pytest.approx(acs)
    assert paper["first-layer MACs (graded input)"]["count"] == 0
    # no latency in the activity: T + the mapping's depth (conv 1 + lowering 6)
    assert r.latency["steps"] == 4 + 7
    assert r.gpu["flops_per_inference"] == estimate(check_fits(_graph(), lowering="core"), _activity("core")[0],
                                                    profile={"sanafe": SANAFE_LOIHI1}).gpu["flops_per_inference"]


def test_energy_refuses_counts_of_the_other_lowering():
    with pytest.raises(ValueError, match="same --attention-lowering"):
        estimate(check_fits(_graph()), _activity("core")[0])
    with pytest.raises(ValueError, match="same --attention-lowering"):
        estimate(check_fits(_graph(), lowering="core"), _activity("neurons")[0])


def test_unknown_lowering_named():
    with pytest.raises(ValueError, match="choose one of"):
        check_fits(_graph(), lowering="dense")

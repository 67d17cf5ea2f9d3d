"""NIR -> LayerSpec adapter on small hand-built graphs laid out as docs/nir-format.md describes."""

import nir
import numpy as np
import pytest

from ds2ta.hardware import MappingError, check_fits
from ds2ta.hardware.nir_adapter import layers_from_nir


def _lif(shape):
    z = np.zeros(shape)
    return nir.CubaLIF(tau_syn=z + 1, tau_mem=z + 2, r=z + 2, v_leak=z, v_threshold=z + 1)


def _cnn(c_in=2, hw=8, c=4, classes=3):
    n = {
        "input": nir.Input(input_type={"input": np.array([c_in, hw, hw])}),
        "sps.0.conv": nir.Conv2d(input_shape=(hw, hw), weight=np.ones((c, c_in, 3, 3), int) * 2, stride=1,
                                 padding=1, dilation=1, groups=1, bias=np.zeros(c)),
        "sps.0.lif": _lif((c, hw, hw)),
        "sps.0.pool": nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([2, 2]), padding=np.array([1, 1])),
        "sps.0.pool_lif": _lif((c, hw // 2, hw // 2)),
        "head.flatten": nir.Flatten(input_type={"input": np.array([c, hw // 2, hw // 2])}, start_dim=0),
        "head.fc": nir.Affine(weight=np.ones((classes, c * hw * hw // 4), int), bias=np.zeros(classes)),
        "head.readout": nir.I(r=np.ones(classes)),
        "output": nir.Output(output_type={"output": np.array([classes])}),
    }
    e = [("input", "sps.0.conv"), ("sps.0.conv", "sps.0.lif"), ("sps.0.lif", "sps.0.pool"),
         ("sps.0.pool", "sps.0.pool_lif"), ("sps.0.pool_lif", "head.flatten"), ("head.flatten", "head.fc"),
         ("head.fc", "head.readout"), ("head.readout", "output")]
    return nir.NIRGraph(nodes=n, edges=e)


def test_standard_nodes():
    L = {ls.name: ls for ls in layers_from_nir(_cnn())}
    assert list(L) == ["input", "sps.0.lif", "sps.0.pool_lif", "head.readout"]
    conv = L["sps.0.lif"]
    assert conv.kind == "conv" and conv.out_shape == (8, 8, 4) and conv.fan_in == 2 * 9
    assert conv.in_shape == (8, 8, 2) and conv.graded_input and conv.padding == (1, 1)
    assert L["sps.0.pool_lif"].kind == "pool" and L["sps.0.pool_lif"].stride == (2, 2)
    head = L["head.readout"]
    assert head.kind == "dense" and head.fan_in == 64 and head.sources == ("sps.0.pool_lif",)
    m = check_fits(_cnn(), chips=1)
    assert m.total_cores == 4


def test_tasa_replicas_and_residual_sources():
    # residual sources a, b (both (8, 2, 2)) -> conv0 (direct) and delay1 -> conv1 (replica) -> q.lif
    D = 8
    w = np.ones((D, D, 1, 1), int)
    conv = lambda: nir.Conv2d(input_shape=(2, 2), weight=w, stride=1, padding=0, dilation=1, groups=1,
                              bias=np.zeros(D))
    n = {"input": nir.Input(input_type={"input": np.array([D, 2, 2])}),
         "a.conv": conv(), "a": _lif((D, 2, 2)), "b.conv": conv(), "b": _lif((D, 2, 2)),
         "q.delay1": nir.Delay(delay=np.ones((D, 2, 2))), "q.conv0": conv(), "q.conv1": conv(), "q.lif": _lif((D, 2, 2))}
    e = [("input", "a.conv"), ("a.conv", "a"), ("a", "b.conv"), ("b.conv", "b"),
         ("a", "q.conv0"), ("b", "q.conv0"), ("a", "q.delay1"), ("b", "q.delay1"), ("q.delay1", "q.conv1"),
         ("q.conv0", "q.lif"), ("q.conv1", "q.lif")]
    L = {ls.name: ls for ls in layers_from_nir(nir.NIRGraph(nodes=n, edges=e))}
    q = L["q.lif"]
    assert q.replicas == 2 and q.fan_in == 2 * D and q.sources == ("a", "b")
    assert q.synapse_entries == D * (2 * D) * 2           # kernel per channel x channels, x2 replicas


def test_attention_extension_node():
    ds2ta_export = pytest.importorskip("ds2ta.export")
    D, H, g = 8, 2, 2
    n = {"input": nir.Input(input_type={"input": np.array([D, g, g])})}
    e = []
    for k in "qkv":
        n[f"{k}.conv"] = nir.Conv2d(input_shape=(g, g), weight=np.ones((D, D, 1, 1), int), stride=1, padding=0,
                                    dilation=1, groups=1, bias=np.zeros(D))
        n[f"{k}.lif"] = _lif((D, g, g))
        e += [("input", f"{k}.conv"), (f"{k}.conv", f"{k}.lif"), (f"{k}.lif", "core")]
    n["core"] = ds2ta_export.DS2TASpikeAttention(channels=D, heads=H, tokens_shape=(g, g),
                                                 table=np.tile(np.arange(D // H + 1), (H, 1)),
                                                 operands=["q.lif", "k.lif", "v.lif"])
    n["attn_lif"] = _lif((D, g, g))
    e.append(("core", "attn_lif"))
    L = {ls.name: ls for ls in layers_from_nir(nir.NIRGraph(nodes=n, edges=e), lowering="core")}
    a = L["attn_lif"]
    N, d = g * g, D // H
    assert a.kind == "attention" and a.sources == ("k.lif", "q.lif", "v.lif")
    assert a.fan_in == d + d * N + N and a.rewritten_entries_per_neuron == 2 * N


def test_unknown_node_type_named():
    class FancyOp(nir.Scale):  # a type the kind table does not hold
        pass

    g = _cnn()
    g.nodes["weird"] = FancyOp(scale=np.ones(3))
    with pytest.raises(ValueError, match=r"weird \(FancyOp\).*no hardware mapping"):
        layers_from_nir(g)


def test_too_big_graph_fails_early():
    with pytest.raises(MappingError, match="head.readout"):   # head fan-in 8*100*100 = 80000 entries
        check_fits(_cnn(c_in=2, hw=200, c=8, classes=3), split_fan_in=False)


def test_big_head_is_split_into_partial_sums():
    # fan-in 80,000 > 4,096 axons: ceil(80000 / 4096) = 20 groups of 4,000; 3 neurons x 4,000 entries
    # fit one core per group (65,536 // 4,000 = 16 >= 3) -> 20 partial cores + 1 merge core.
    m = check_fits(_cnn(c_in=2, hw=200, c=8, classes=3))
    s = m.splits["head.readout"]
    assert s["groups"] == 20 and s["group_size_min"] == s["group_size_max"] == 4000
    assert len(s["partial_cores"]) == 20 and len(s["merge_cores"]) == 1 and m.merge_latency_steps == 1

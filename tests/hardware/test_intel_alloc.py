"""Intel-like allocation: the rules reproduce every row of Intel's two PilotNet tables.

Expected numbers are typed from data/pilotnet_lif/README.md and data/pilotnet_sdnn/README.md (Intel's
compiler output, lava-dl's benchmark notebooks), not taken from ``intel_tables`` or from the code.
"""

import dataclasses

import numpy as np
import pytest

from ds2ta.hardware import intel_alloc as I
from ds2ta.hardware import pilotnet as P
from ds2ta.hardware import pilotnet_alloc as A
from ds2ta.hardware.core import Cited
from ds2ta.hardware.layers import LayerSpec, conv, dense
from ds2ta.hardware.mapper import map_layers
from ds2ta.hardware.rules import MappingError

needs_lif = pytest.mark.skipif(not P.available(), reason=f"PilotNet-LIF data not found: set {P.ENV_VAR} to the "
                               "folder with lava-dl's network.net (default: data/pilotnet_lif)")
needs_sdnn = pytest.mark.skipif(not A.sdnn_available(), reason=f"PilotNet SDNN data not found: set {A.SDNN_ENV_VAR} "
                                "to the folder with lava-dl's pilotnet_sdnn network.net (default: data/pilotnet_sdnn)")


# --- the rules, by hand -------------------------------------------------------------------------------

@pytest.mark.parametrize("weights, bits", [
    ([-6, -4, 0, 2, 6], 3),      # all even: mantissa -3..3 -> 3 bits two's complement
    ([-36, 14, 2], 6),           # -18..7 -> 6 bits
    ([-24, 42, 2], 6),           # -12..21 -> 6 bits (21 needs 5 magnitude bits + sign)
    ([-14, 16, 2], 5),           # -7..8 -> 5 bits
    ([0, 2, 4, 6], 2),           # one sign: magnitude 0..3 -> 2 bits
    ([-6, -2, 0], 3),            # a zero beside negatives is the mixed mode: -3..0 -> 3 bits
    ([-6, -2], 2),               # all negative: magnitude - 1 = 2 -> 2 bits
    ([-8], 0),                   # all negative, one power of two: netx gives 0 bits
    ([-128, 2], 7),              # -64..1
    ([-1, 127], 8),
    ([-1, 1], 2),
])
def test_weight_mantissa_bits_by_hand(weights, bits):
    assert I.weight_mantissa_bits(np.array(weights)) == bits


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # netx's 127 / max for max == 0
def test_weight_mantissa_bits_is_lava_dl_netx_rule():
    utils = pytest.importorskip("lava.lib.dl.netx.utils")
    rng = np.random.default_rng(0)
    for lo_max, hi_max in [(-127, 127), (0, 127), (-127, -1), (-127, 0)]:  # mixed, excitatory, inhibitory
        for _ in range(100):
            lo, hi = sorted(rng.integers(lo_max, hi_max + 1, size=2))
            w = rng.integers(lo, hi + 1, size=(7, 5)) * 2 ** int(rng.integers(0, 2))
            if not np.any(w):
                continue
            assert I.weight_mantissa_bits(w) == utils.optimize_weight_bits(w.astype(float))[1], w


def test_list_words_give_the_compilers_logged_allocations():
    # SynMem violations logged for Dense 2560 -> 100 (README: allocation 61,440-66,560 against 12,000):
    # 100 neurons of 3-bit (LIF) / 4-bit (SDNN) weights on one core, then 17 after the split by 6.
    assert 2560 * I.list_words(100, 3) == 61440
    assert 2560 * I.list_words(100, 4) == 66560
    assert 2560 * I.list_words(17, 3) == 12800 and 2560 * I.list_words(17, 4) == 12800
    # by hand: ceil((100 * (3 + 12) + 10) / 64) = ceil(1510 / 64) = 24
    assert I.list_words(100, 3) == 24 and I.list_words(1, 8) == 1


def test_dense_ratio_split_by_hand():
    a = I.allocate(dense("fc", 2560, 100, weight_bits=3), dense_consumer=True)
    # 61,440 words > 12,000 -> ratio 6 -> 17 neurons -> 12,800 > 12,000 -> ratio 2 -> 9 neurons, 7,680 words
    assert [(s["n"], s["amount"], s["ratio"]) for s in a.steps] == [(100, 61440, 6), (17, 12800, 2)]
    assert a.per_core == 9 and a.cores == 12 and a.core_neurons == (9,) * 11 + (1,)
    assert a.words == (7680,) * 11 + (2560,)
    assert a.printed_neurons == 8 and a.printed_words == 7253   # README: 8 neurons, 7,253 synapses
    assert a.limited_by == "synaptic memory"


def test_conv_slices_from_readme_geometry():
    # README geometry; slices of power-of-two width with fewer than 4,096 neurons.
    inp = LayerSpec("in", "input", (200, 66, 3))
    c0 = conv("c0", (200, 66, 3), 24, stride=(2, 2), sources=("in",), weight_bits=5)
    c1 = conv("c1", c0.out_shape, 36, stride=(2, 2), sources=("c0",), weight_bits=4)
    c2 = conv("c2", c1.out_shape, 48, stride=(2, 2), sources=("c1",), weight_bits=4)
    c3 = conv("c3", c2.out_shape, 64, stride=(1, 2), padding=(0, 1), sources=("c2",), weight_bits=4)
    c4 = conv("c4", c3.out_shape, 64, sources=("c3",), weight_bits=4)
    assert [c.out_shape for c in (c0, c3, c4)] == [(99, 32, 24), (22, 4, 64), (20, 2, 64)]
    alloc = I.intel_like_allocation([inp, c0, c1, c2, c3, c4])
    assert [a.cols for a in alloc] == [16, 4, 4, 8, 8, 16]
    assert [a.cores for a in alloc] == [13, 25, 13, 3, 3, 2]
    assert [a.printed_neurons for a in alloc] == [3168, 3072, 2160, 2688, 2048, 2048]
    # a layer feeding a conv maps each (x, y) once, twice when it strides 2 on both axes
    assert [a.axon_map for a in alloc[:5]] == [1015, 253, 113, 112, 29]


def test_neuron_budget_edge():
    assert I.conv_slice_width(4, 64) == 8          # 16 columns would be 4,096 neurons: over 4,095
    small = I.INTEL_LIKE.neuron_budget.value
    assert I.conv_slice_width(1, small) == 1 and I.conv_slice_width(1, small + 1) == 0


def test_conv_kernel_over_budget_splits_channels():
    big = conv("big", (8, 8, 512), 256, weight_bits=8)      # 4,608 lists x ceil((256*20+10)/64)=81 words
    a = I.allocate(big, dense_consumer=True)
    assert a.channel_groups > 1 and a.limited_by == "synaptic memory"
    assert max(a.words) <= I.INTEL_LIKE.synmem_budget.value


def test_unsupported_kinds_and_too_large_units_are_named():
    att = LayerSpec("attn", "attention", (1, 1, 8), fan_in=4)
    with pytest.raises(ValueError, match="'attn'.*attention.*map_layers"):
        I.intel_like_cores([att])
    with pytest.raises(MappingError, match="'fc'.*synaptic memory"):
        I.intel_like_cores([dense("fc", 60000, 2, weight_bits=8)])


def test_constants_are_cited_and_fitted_ones_declared():
    d = I.INTEL_LIKE.to_dict()
    for f in dataclasses.fields(I.IntelLikeSpec):
        if f.name == "name":
            continue
        c = getattr(I.INTEL_LIKE, f.name)
        assert isinstance(c, Cited) and c.source
        assert d[f.name]["fitted"] == (f.name in I.FITTED)
    for name in I.FITTED:
        c = getattr(I.INTEL_LIKE, name)
        assert c.grade == "D" and c.source.startswith("FITTED on PilotNet-LIF")
        assert "checked on PilotNet SDNN" in c.source


# --- the two networks against Intel's tables ----------------------------------------------------------

@needs_lif
def test_pilotnet_lif_every_row_and_74():
    t = A.allocation_table("pilotnet_lif")
    rows = t["rows"]
    assert [r["layer"] for r in rows] == ["input0", "conv1", "conv2", "conv3", "conv4", "conv5",
                                          "dense7", "dense8", "dense9", "dense10"]
    # README: cores 13, 25, 13, 3, 3, 2, 12, 1, 1, 1 = 74
    assert [r["cores"]["ours"] for r in rows] == [13, 25, 13, 3, 3, 2, 12, 1, 1, 1]
    assert t["total"]["ours"] == 74
    assert [r["neurons_printed"]["ours"] for r in rows] == [3168, 3072, 2160, 2688, 2048, 2048, 8, 50, 10, 1]
    assert [r["words"]["ours"] for r in rows[6:]] == [7253, 1300, 150, 10]
    assert [s["amount"] for s in rows[6]["steps"]] == [61440, 12800]
    assert rows[0]["words"]["ours"] == 0


@needs_sdnn
def test_pilotnet_sdnn_every_row_and_61():
    t = A.allocation_table("pilotnet_sdnn")
    rows = t["rows"]
    assert [r["layer"] for r in rows] == ["dense10", "dense9", "dense8", "dense7", "conv5", "conv4", "conv3",
                                          "conv2", "conv1"]
    # README: cores 1, 1, 1, 12, 2, 3, 3, 13, 25 = 61
    assert [r["cores"]["ours"] for r in rows] == [1, 1, 1, 12, 2, 3, 3, 13, 25]
    assert t["total"]["ours"] == 61
    assert [r["neurons_printed"]["ours"] for r in rows] == [1, 10, 50, 8, 2048, 2048, 2688, 2160, 3072]
    assert [r["words"]["ours"] for r in rows[:4]] == [10, 150, 1500, 7253]
    assert [r["axon_in"]["ours"] for r in rows] == [10, 50, 100, 2560, 1, 1, 2, 2, 2]
    assert [r["axon_map"]["ours"] for r in rows] == [1, 10, 50, 8, 1280, 29, 112, 113, 253]
    assert [s["amount"] for s in rows[3]["steps"]] == [66560, 12800]


@needs_lif
@needs_sdnn
def test_vendor_limit_mapping_stays_the_default_and_the_optimistic_bound():
    for network in A.NETWORKS:
        t = A.allocation_table(network)
        default = map_layers(A.network_specs(network)).to_dict()["layers"]   # no spec: vendor limits
        assert [r["cores"]["vendor"] for r in t["rows"]] == [default[r["layer"]]["n_cores"] for r in t["rows"]]
        assert all(r["cores"]["vendor"] <= r["cores"]["ours"] for r in t["rows"])
        assert t["total"]["vendor"] < t["total"]["ours"]


def test_missing_sdnn_data_names_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.delenv(A.SDNN_ENV_VAR, raising=False)
    monkeypatch.setattr(A, "SDNN_DATA", str(tmp_path))
    assert not A.sdnn_available()
    with pytest.raises(ValueError, match="data=.*DS2TA_PILOTNET_SDNN_DIR"):
        A.network_specs("pilotnet_sdnn")
    with pytest.raises(ValueError, match="network 'x'"):
        A.network_specs("x")

"""The comparison network of a graded max-pool (export/maxpool_tree.py) against plain window maxima, and its
int16 bound: every unit's synaptic input stays within 2^15 - 1 for any spikes the relay can receive.

Oracles: window maxima and convolutions by explicit numpy loops, the relay's range from the integer
weights by sums written here, the shift by a loop over the bound's definition; never the module's own
``relay_range`` / ``choose_shift``. The exported network runs in the integer reference on a subgraph
(relay synapse -> relay -> network) fed with constructed worst-case spikes."""

import warnings

import nir
import numpy as np
import pytest
import torch

from ds2ta.export import maxpool_tree as mt

INT16_MAX = 2 ** 15 - 1


def window_max(x: np.ndarray, k: int, s: int, p: int) -> np.ndarray:
    """Max over each k x k window of (C, H, W) integers, padding ignored (independent loop)."""
    C, H, W = x.shape
    Ho, Wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    out = np.zeros((C, Ho, Wo), np.int64)
    for i in range(Ho):
        for j in range(Wo):
            r0, c0 = i * s - p, j * s - p
            win = x[:, max(r0, 0):r0 + k, max(c0, 0):c0 + k]
            out[:, i, j] = win.reshape(C, -1).max(1)
    return out


def run_tree(sh_padded: np.ndarray, k: int, s: int, Ho: int, Wo: int, inputs: list | None = None) -> np.ndarray:
    """Evaluate the network as the chip does: taps read the zero-padded grid, relu units in order
    (``inputs`` receives each relu unit's summed input, then feat's before its bias)."""
    center = (k // 2) * k + k // 2
    relus, final = mt.tree([center] + [t for t in range(k * k) if t != center])
    C = sh_padded.shape[0]
    taps = np.stack([sh_padded[:, t // k:t // k + s * Ho:s, t % k:t % k + s * Wo:s] for t in range(k * k)])
    vals = []

    def combo(c):
        out = np.zeros((C, Ho, Wo), np.int64)
        for (kind, i), coef in c.items():
            out += coef * (taps[i] if kind == "tap" else vals[i])
        return out

    for c in relus:
        x = combo(c)
        if inputs is not None:
            inputs.append(x)
        vals.append(np.maximum(x, 0))
    if inputs is not None:
        inputs.append(combo(final))
    return combo(final)


@pytest.mark.parametrize("hw,k,s,p", [((8, 8), 3, 2, 1), ((7, 5), 3, 2, 1), ((6, 6), 3, 1, 1), ((4, 4), 2, 2, 0)])
def test_tree_is_the_window_max_with_padding_ignored(hw, k, s, p):
    rng = np.random.default_rng(0)
    x = rng.integers(-16000, 16000, size=(3, *hw))
    x[0] = -16000 + rng.integers(0, 3, size=hw)  # all negative: zero padding would win without the offset
    x[2] = rng.integers(100, 200, size=hw)        # all positive: the offset B_c = -lo_c is negative
    lo = x.reshape(3, -1).min(1) - np.array([0, 5, 3])  # per-channel lower bounds (not always attained)
    Ho, Wo = (hw[0] + 2 * p - k) // s + 1, (hw[1] + 2 * p - k) // s + 1
    padded = np.pad(x - lo[:, None, None], ((0, 0), (p, p), (p, p)))  # valid taps carry +B_c, padded read 0
    got = run_tree(padded, k, s, Ho, Wo) + lo[:, None, None]
    assert np.array_equal(got, window_max(x, k, s, p))


def test_every_unit_input_is_within_the_channels_range():
    """Taps in [0, R] (vertices 0, R/2, R and random values; padding 0): each comparison's input lies in
    [-R, R] and feat's in [0, R] (before its -B_c): the bound unit_input_bound states."""
    rng = np.random.default_rng(1)
    R, k, s, p = 32767, 3, 2, 1
    sh = np.concatenate([rng.choice([0, R // 2, R], size=(20000, 5, 5)), rng.integers(0, R + 1, (5000, 5, 5))])
    inputs: list = []
    run_tree(np.pad(sh, ((0, 0), (p, p), (p, p))), k, s, 3, 3, inputs)
    *comparisons, feat = inputs
    assert len(comparisons) == 8
    for x in comparisons:
        assert -R <= x.min() and x.max() <= R
    assert min(x.min() for x in comparisons) == -R and max(x.max() for x in comparisons) == R  # reached
    assert feat.min() >= 0 and feat.max() == R



def test_tree_sizes_for_a_3x3_window():
    relus, final = mt.tree(list(range(9)))
    assert len(relus) == 8  # n - 1 comparisons
    assert sum(v for key, v in final.items() if key[0] == "tap") == 1  # one base tap: the offset B once
    for c in relus:  # a difference of two partial maxima: taps cancel their offsets
        assert sum(v for key, v in c.items() if key[0] == "tap") == 0


def test_shift_bound_of_any_24bit_relay_is_at_most_3():
    v = np.array([-(2 ** 23 - 1)]), np.array([2 ** 23 - 1])  # the whole saturated 24-bit range
    assert mt.choose_shift(*v) == 3 and mt.unit_input_bound(*v, 3)[2] == INT16_MAX
    assert mt.unit_input_bound(*v, 2)[2] > INT16_MAX


# -- the exported network (an SDT model whose SPS stage-4 max-pool reads a relay over 32 channels) --------
from test_export_sdt import SCALE, sdt_model  # noqa: E402  (tests/export is on sys.path under pytest)


@pytest.fixture(scope="module")
def exported():
    m = sdt_model()
    C, S = m.cfg.in_channels, m.cfg.img_size
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ds2ta.export.model_quant import quantize_model
        ig, rep, fg = quantize_model(m, SCALE, torch.rand(16, C, S, S))
    return ig, rep, fg


def relay_oracle(ig):
    """``(W (C, Cin, 3, 3), bias (C,), v_lo, v_hi)`` from the integer relay synapse and relay, by hand:
    spikes are 0 or 1, so a ranges over [sum of negative weights, sum of positive weights]."""
    conv, y = ig.nodes["sps.convs.3"], ig.nodes["sps.y"]
    w = np.asarray(conv.weight).astype(np.int64)
    assert not np.any(np.asarray(conv.bias)) and int(np.asarray(conv.metadata["weight_exp"])) == 0
    lava = y.metadata["lava"]
    assert np.all(lava["dv"] == 4096) and np.all(lava["du"] == 4095)  # memoryless: v = 64 a + bias
    bias = (lava["bias_mant"].astype(np.int64) * 2 ** lava["bias_exp"].astype(np.int64))[:, 0, 0]
    flat = w.reshape(w.shape[0], -1)
    v_lo = 64 * np.where(flat < 0, flat, 0).sum(1) + bias
    v_hi = 64 * np.where(flat > 0, flat, 0).sum(1) + bias
    assert np.abs(np.concatenate([v_lo, v_hi])).max() < 2 ** 23 - 1  # no wrap, no saturation here
    return w, bias, v_lo, v_hi


def test_shift_and_offsets_hold_every_unit_within_int16(exported):
    ig, rep, _ = exported
    _, _, v_lo, v_hi = relay_oracle(ig)

    def worst(k):  # largest |input| of sh, a comparison or feat at shift k (floor division = >>)
        lo, hi = v_lo // 2 ** (6 + k), v_hi // 2 ** (6 + k)
        return int(np.max(np.maximum(hi - lo, np.maximum(np.abs(lo), np.abs(hi))))), lo
    k = next(k for k in range(8) if worst(k)[0] <= INT16_MAX)
    bound, y_lo = worst(k)
    r = rep["sps.pools.3"]
    assert worst(0)[0] > INT16_MAX and k >= 1  # this relay needs the shift: unshifted it could wrap
    assert (r["shift"], r["unit_input_bound"], r["unit_input_bound_unshifted"]) == (k, bound, worst(0)[0])
    sh_in, feat_taps = ig.nodes["sps.pools.3.sh.in"], ig.nodes["sps.pools.3.taps"]
    assert int(np.asarray(sh_in.metadata["weight_exp"])) == -(6 + k)
    np.testing.assert_array_equal(np.asarray(sh_in.bias), -y_lo * 2 ** (6 + k))   # + B_c after the shift
    np.testing.assert_array_equal(np.asarray(feat_taps.bias), y_lo)                # feat's -B_c
    S = float(np.unique(ig.nodes["sps.y"].metadata["scale"])[0])
    assert r["scale"] == pytest.approx(S / 2 ** k, rel=1e-12)


def _subgraph(ig, C_in, hw):
    """relay synapse -> relay -> comparison network, fed by an Input of spikes."""
    keep = {n: v for n, v in ig.nodes.items() if n in ("sps.convs.3", "sps.y") or n.startswith("sps.pools.3")}
    keep["in"] = nir.Input(np.array([C_in, hw, hw]))
    keep["out"] = nir.Output(np.array(ig.nodes["sps.pools.3"].shape))
    edges = [("in", "sps.convs.3")] + [e for e in ig.edges if e[0] in keep and e[1] in keep] + [("sps.pools.3", "out")]
    g = nir.NIRGraph(nodes=keep, edges=edges, type_check=False)
    g.metadata = {"integer": 1, "conventions": ig.metadata["conventions"]}
    return g


def test_worst_case_spikes_reach_the_bound_never_int16_and_feat_is_exact(exported):
    from ds2ta.sims.reference import ReferenceExecutor

    ig, rep, _ = exported
    w, bias, v_lo, v_hi = relay_oracle(ig)
    k = rep["sps.pools.3"]["shift"]
    C, C_in = w.shape[:2]
    hw = int(ig.nodes["sps.y"].metadata["lava"]["du"].shape[-1])
    c = int(np.argmax(v_hi // 2 ** (6 + k) - v_lo // 2 ** (6 + k)))  # the channel with the widest range
    rng = np.random.default_rng(0)
    x = np.zeros((4, 2, C_in, hw, hw), np.int64)
    x[0, 0, :, 1:4, 1:4] = w[c] > 0            # relay (c, 2, 2), a window centre, at its largest v
    x[1, 0, :, 1:4, 1:4] = w[c] < 0            # ... and at its smallest
    x[2, 0] = 1                                 # every input spiking
    x[:, 1] = rng.integers(0, 2, (4, C_in, hw, hw))
    res = ReferenceExecutor(_subgraph(ig, C_in, hw)).run(torch.from_numpy(x), record=True)
    units = [n for n in res.max_abs_input if n.startswith("sps.pools.3")]
    assert len(units) == 10
    assert max(res.max_abs_input[n] for n in units) <= rep["sps.pools.3"]["unit_input_bound"] <= INT16_MAX
    # the bound is tight for sh: the relay's largest v sits exactly R_c above its offset
    R = v_hi[c] // 2 ** (6 + k) - v_lo[c] // 2 ** (6 + k)
    assert int(res.record["sps.pools.3.sh"][0, 0, c, 2, 2]) == R
    assert int(res.record["sps.pools.3.sh"][1, 0, c, 2, 2]) == 0
    # feat equals the max-pool of v >> (6 + k), v from a convolution written out here
    a = np.zeros((4, 2, C, hw, hw), np.int64)
    xp = np.pad(x, ((0, 0), (0, 0), (0, 0), (1, 1), (1, 1)))
    for dy in range(3):
        for dx in range(3):
            a += np.einsum("tbihw,oi->tbohw", xp[..., dy:dy + hw, dx:dx + hw], w[:, :, dy, dx])
    y = (64 * a + bias[None, None, :, None, None]) // 2 ** (6 + k)
    want = np.stack([np.stack([window_max(y[t, b], 3, 2, 1) for b in range(2)]) for t in range(4)])
    np.testing.assert_array_equal(res.record["sps.pools.3"].numpy(), want)


def test_feat_is_the_float_max_pool_within_the_rounding(exported):
    """The same spikes through the float graph's relay and DS2TAGradedMaxPool2d: the integer feat over
    its scale differs by at most (per channel) the weight and bias rounding plus the 2^k floor."""
    from ds2ta.sims.reference import ReferenceExecutor
    from ds2ta.sims.reference.float_nir import FloatExecutor

    ig, rep, fg = exported
    w, bias, _, _ = relay_oracle(ig)
    C, C_in = w.shape[:2]
    hw = int(ig.nodes["sps.y"].metadata["lava"]["du"].shape[-1])
    x = np.random.default_rng(2).integers(0, 2, (3, 4, C_in, hw, hw))
    fsub = {n: fg.nodes[n] for n in ("sps.convs.3", "sps.y", "sps.pools.3")}
    fsub["in"], fsub["out"] = nir.Input(np.array([C_in, hw, hw])), nir.Output(np.array([C, hw // 2, hw // 2]))
    f = FloatExecutor(nir.NIRGraph(nodes=fsub, edges=[("in", "sps.convs.3"), ("sps.convs.3", "sps.y"),
                                                      ("sps.y", "sps.pools.3"), ("sps.pools.3", "out")],
                                   type_check=False), dt=1.0).run(torch.from_numpy(x).double())
    i = ReferenceExecutor(_subgraph(ig, C_in, hw)).run(torch.from_numpy(x), record=True)
    r = rep["sps.pools.3"]
    S, k = float(np.unique(ig.nodes["sps.y"].metadata["scale"])[0]), r["shift"]
    wf = np.asarray(fg.nodes["sps.convs.3"].weight, np.float64)
    bf = np.asarray(fg.nodes["sps.y"].v_leak, np.float64)[:, 0, 0]
    tol = (np.abs(w - S * wf).reshape(C, -1).sum(1) + np.abs(bias / 64 - S * bf) + 2 ** k) / S
    got = i.record["sps.pools.3"].numpy() / r["scale"]
    err = np.abs(got - f["sps.pools.3"].numpy()).max(axis=(0, 1, 3, 4))
    assert np.all(err <= tol + 1e-9), (err - tol).max()
    assert f["sps.pools.3"].abs().max() > 20 * tol.max()  # values well above the rounding


def test_a_relay_fed_by_the_graph_input_is_refused_by_name():
    """An unbounded input (the graph's integer input, not spikes) gives no bound: a named error."""
    from ds2ta.export.graph_build import conv_node, graded_relay
    from ds2ta.export.graph_quant import quantize_graph
    from ds2ta.export.nir_graded import DS2TAGradedMaxPool2d

    w = np.random.default_rng(0).normal(size=(2, 1, 3, 3))
    nodes = {"input": nir.Input(np.array([1, 4, 4])), "conv": conv_node(w, (4, 4), 1), "y": graded_relay((2, 4, 4)),
             "pool": DS2TAGradedMaxPool2d(channels=2, input_shape=(4, 4)), "output": nir.Output(np.array([2, 2, 2]))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "y"), ("y", "pool"), ("pool", "output")],
                     type_check=False)
    with pytest.raises(ValueError, match=r"graded max-pool 'pool': cannot bound the int16 inputs .* relay 'y' "
                                         r"reads 'conv' \(Conv2d\) fed by \[\('input', 'Input'\)\]"):
        quantize_graph(g, dt=1.0)

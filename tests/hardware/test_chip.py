"""The chip's integer arithmetic (ds2ta.hardware.chip): hand-worked cases and property tests.

Oracles: numbers worked out by hand in the comments, Python's unbounded integers for wrap, saturation
and truncation, and a plain-Python loop of the Lava equations (docs/lava-loihi-semantics.md section 1)
for the LIF step. test_chip_lava.py checks the module against lava-nc's own LIF model.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from scipy.signal import correlate

from ds2ta.hardware import chip

I64 = st.integers(-(2 ** 40), 2 ** 40)


def py_trunc0(p: int) -> int:
    q = abs(p) // 4096
    return q if p >= 0 else -q


def py_lif(a_seq, du, dv, bias, vth):
    """Lava PyLifModelBitAcc in Python ints for one neuron: list of (s, u, v) per step."""
    u = v = 0
    out = []
    for a in a_seq:
        u = py_trunc0(u * (4096 - (du + 1))) + a * 64
        if u > 2 ** 23:
            u -= 2 ** 24
        elif u <= -2 ** 23:
            u += 2 ** 24
        v = max(-(2 ** 23 - 1), min(2 ** 23 - 1, py_trunc0(v * (4096 - dv)) + u + bias))
        s = vth is not None and v > vth * 64
        if s:
            v = 0
        out.append((s, u, v))
    return out


# -- hand-worked ----------------------------------------------------------------------------------
def test_trunc0_rounds_toward_zero():
    # -4097 * 4095 = -16777215 = -4095.99976 * 4096: toward zero -4095 (a floor shift would give -4096)
    p = np.array([-4097 * 4095, 4097 * 4095, -1, -4095, -4096, 4096, 0], dtype=np.int64)
    want = [-4095, 4095, 0, 0, -1, 1, 0]
    assert chip.trunc0(p).tolist() == want
    assert chip.trunc0(torch.from_numpy(p)).tolist() == want


@pytest.mark.parametrize("conv", [np.array, torch.tensor])
def test_wraps_and_saturation_at_the_edges(conv):
    e = 2 ** 23
    x = conv([e, e + 1, -e, -e + 1, 0, 3 * e + 5, -e - 1])
    # the current's single wrap: 2^23 stays, -2^23 -> 2^23, 3*2^23 + 5 is wrapped once only
    assert chip.wrap_current(x).tolist() == [e, -e + 1, e, -e + 1, 0, e + 5, e - 1]
    # a Conv accumulator wraps modulo 2^24 into [-2^23, 2^23)
    assert chip.wrap24(x).tolist() == [-e, -e + 1, -e, -e + 1, 0, -e + 5, e - 1]
    assert chip.saturate(x).tolist() == [e - 1, e - 1, -e + 1, -e + 1, 0, e - 1, -e + 1]


def test_wrap_current_returns_input_when_in_range():
    u = torch.tensor([5, -(2 ** 23) + 1, 2 ** 23])
    assert chip.wrap_current(u) is u


def test_two_lif_steps_by_hand():
    # du=1000 -> u decays by 3095/4096; dv=300 -> v by 3796/4096; bias 5 << 2 = 20; vth 3 -> 192
    p = chip.lif_params(np.array([1000]), np.array([300]), chip.bias_decode(5, 2), np.array([3]))
    s, u, v = chip.lif_step(np.array([2]), np.zeros(1), np.zeros(1), p)
    assert (s.tolist(), u.tolist(), v.tolist()) == ([False], [128], [148])  # u = 2<<6, v = 128 + 20
    s, u, v = chip.lif_step(np.array([1]), u, v, p)
    # u = trunc0(128 * 3095) + 64 = 96 + 64; v = trunc0(148 * 3796) + 160 + 20 = 137 + 180 = 317 > 192
    assert (s.tolist(), u.tolist(), v.tolist()) == ([True], [160], [0])
    s, u, v = chip.lif_step(np.array([-2]), np.zeros(1), np.zeros(1), p)
    s, u, v = chip.lif_step(np.array([-1]), u, v, p)
    # u = trunc0(-128 * 3095) - 64 = -96 - 64 (toward zero, not -97); v = trunc0(-108 * 3796) - 160 + 20
    assert (s.tolist(), u.tolist(), v.tolist()) == ([False], [-160], [-240])


def test_spike_test_is_strict():
    p = chip.lif_params(np.array([4095]), np.array([4096]), np.array([0]), np.array([1]))
    s, _, v = chip.lif_step(np.array([1, 2]), np.zeros(2), np.zeros(2), p)  # v = 64, 128 vs 1 << 6
    assert s.tolist() == [False, True] and v.tolist() == [64, 0]


def test_graded_neuron_reports_v_and_no_spikes():
    p = chip.lif_params(np.array([4095]), np.array([4096]), np.array([0]), None)
    s, u, v = chip.lif_step(np.array([3]), np.zeros(1), np.zeros(1), p)
    assert s is None and v.tolist() == [192]


def test_threshold_as_lif():
    # z = x > theta for integer x: theta 1.5 -> vth 1 (x >= 2), theta 2 -> x >= 3
    for theta, want in [(1.5, [0, 0, 1, 1]), (2.0, [0, 0, 0, 1])]:
        q = chip.threshold_params(np.full(4, theta))
        p = chip.lif_params(q["du"], q["dv"], chip.bias_decode(q["bias_mant"], q["bias_exp"]), q["vth"])
        s, _, _ = chip.lif_step(np.arange(4), np.zeros(4), np.zeros(4), p)
        assert s.astype(int).tolist() == want


def test_conv_by_hand():
    x = np.array([[1, 2, 0], [0, 1, 3], [2, 0, 1]]).reshape(1, 1, 3, 3)
    w = np.array([[1, -1], [2, 0]]).reshape(1, 1, 2, 2)
    # y[i, j] = x[i, j] - x[i, j+1] + 2 x[i+1, j]
    assert chip.conv2d(x, w)[0, 0].tolist() == [[-1, 4], [3, -2]]
    # padding 1, stride 2: windows at rows/cols (0, 2) of the zero-padded 5x5 input
    assert chip.conv2d(x, w, stride=2, padding=1)[0, 0].tolist() == [[0, 4], [0, -2]]
    # groups = 2, 1x1 kernels 2 and -3: each channel scaled on its own
    x2 = np.stack([x[0, 0], x[0, 0] + 1])[None]
    y = chip.conv2d(x2, np.array([2, -3]).reshape(2, 1, 1, 1), groups=2)
    assert y[0, 0].tolist() == (2 * x[0, 0]).tolist() and y[0, 1].tolist() == (-3 * (x[0, 0] + 1)).tolist()
    assert torch.equal(chip.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=1),
                       torch.from_numpy(chip.conv2d(x, w, stride=2, padding=1)))


def test_conv_refuses_inexact_float_sums():
    x = torch.full((1, 1, 2, 2), 2 ** 46, dtype=torch.long)
    with pytest.raises(ValueError, match="2\\^53"):
        chip.conv2d(x, torch.full((1, 1, 2, 2), 2 ** 6, dtype=torch.long), name="c")


def test_bias_encode_needs_an_exponent():
    # 5000 > 4095: exponent 1, mantissa 2500; 2079 << 6 = 133056 > 4095 * 2^5: exponent 6
    m, e = chip.bias_encode(np.array([5000, 133056, -4096, 4095 * 128, 7]), exact=True)
    assert m.tolist() == [2500, 2079, -2048, 4095, 7] and e.tolist() == [1, 6, 1, 7, 0]


def test_bias_encode_exact_vs_rounding():
    # 5001 = 2500.5 * 2: the quantizer rounds half to even (2500, error 1); the simulator refuses
    m, e = chip.bias_encode(np.array([5001, 5003]), exact=False)
    assert m.tolist() == [2500, 2502] and e.tolist() == [1, 1]
    with pytest.raises(ValueError, match="lif: bias 5001 .* neuron 0"):
        chip.bias_encode(np.array([5001]), exact=True, name="lif")
    # beyond 4095 << 7: the mantissa clips
    assert chip.bias_encode(np.array([600000]), exact=False)[0].tolist() == [4095]
    with pytest.raises(ValueError):
        chip.bias_encode(np.array([600000]), exact=True)


def test_bias_decode_negative_exponent_is_a_floor_shift():
    assert chip.bias_decode(np.array([5, -5, 3]), np.array([-2, -1, 4])).tolist() == [1, -3, 48]
    assert chip.bias_decode(torch.tensor([5, -5, 3]), torch.tensor([-2, -1, 4])).tolist() == [1, -3, 48]


def test_counting_rules_by_hand():
    # 2 spikes on input 0 (two edges summed), 1 on input 1; fan-outs 3 and 5
    fan = np.array([3, 5])
    inp = np.array([2, 1])
    assert chip.synapse_counts(inp, True, lambda c: (c * fan).sum()) == {"synops": 2 * 3 + 1 * 5}
    # graded payloads -7 and 0: one operation per nonzero value and synapse
    assert chip.synapse_counts(np.array([-7, 0]), False, lambda c: (c * fan).sum()) == {"graded_synops": 3}
    assert chip.neuron_counts(10, 4, 3) == {"neurons": 10, "neuron_updates": 120}
    assert set(chip.empty_counts()) == set(chip.COUNT_KEYS)


def test_longest_path_latency():
    # in -> conv (synapse) -> lif -> core (attention, buffers 2) -> fc (synapse) -> out; in -> fc2 -> out
    kinds = {"in": "input", "conv": "synapse", "lif": "neuron", "core": "attention", "fc": "synapse",
             "fc2": "synapse", "out": "neuron"}
    preds = {"in": [], "conv": ["in"], "lif": ["conv"], "core": ["lif"], "fc": ["core"], "fc2": ["in"],
             "out": ["fc", "fc2"]}
    depth = chip.longest_path(kinds, lambda n: [(p, 0) for p in preds[n]],
                              lambda n: chip.hop_latency(kinds[n], 2 if n == "core" else None))
    assert depth["out"] == 1 + 2 + 1 and depth["fc2"] == 1


# -- properties -----------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.lists(I64, min_size=1, max_size=20))
def test_trunc0_matches_big_ints_on_both_paths(vals):
    want = [py_trunc0(p) for p in vals]
    assert chip.trunc0(np.array(vals, np.int64)).tolist() == want
    assert chip.trunc0(torch.tensor(vals, dtype=torch.long)).tolist() == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-3 * 2 ** 23, 3 * 2 ** 23), min_size=1, max_size=20))
def test_wrap_and_saturate_match_big_ints(vals):
    e = 2 ** 23
    single = [x - 2 * e if x > e else x + 2 * e if x <= -e else x for x in vals]
    modular = [(x + e) % (2 * e) - e for x in vals]
    sat = [max(-(e - 1), min(e - 1, x)) for x in vals]
    for conv in (lambda z: np.array(z, np.int64), lambda z: torch.tensor(z, dtype=torch.long)):
        assert chip.wrap_current(conv(vals)).tolist() == single
        assert chip.wrap24(conv(vals)).tolist() == modular
        assert chip.wrap24(conv(vals), inplace=True).tolist() == modular
        assert chip.saturate(conv(vals)).tolist() == sat


neuron = st.tuples(st.integers(-1, 4095), st.integers(0, 4096), st.integers(-4096, 4095), st.integers(0, 7),
                   st.one_of(st.none(), st.integers(0, 2 ** 17 - 1)))


@settings(max_examples=150, deadline=None)
@given(p=neuron, a=st.lists(st.integers(-(2 ** 17), 2 ** 17), min_size=1, max_size=12))
def test_lif_step_matches_python_ints_on_both_paths(p, a):
    """Spikes, u and v over several steps, including wrap (|a| << 6 up to 2^23) and saturation."""
    du, dv, bm, be, vth = p
    want = py_lif(a, du, dv, bm << be, vth)
    for conv in (lambda z: np.array(z, np.int64), lambda z: torch.tensor(z, dtype=torch.long)):
        prm = chip.lif_params(conv([du]), conv([dv]), chip.bias_decode(conv([bm]), conv([be])),
                              None if vth is None else conv([vth]))
        u = v = conv([0])
        for t, at in enumerate(a):
            s, u, v = chip.lif_step(conv([at]), u, v, prm)
            assert (bool(s[0]) if s is not None else False, int(u[0]), int(v[0])) == want[t]


@settings(max_examples=200, deadline=None)
@given(st.integers(-4096, 4095), st.integers(0, 7))
def test_bias_round_trip(m, e):
    b = chip.bias_decode(np.array([m]), np.array([e]))
    m2, e2 = chip.bias_encode(b, exact=True)
    assert chip.bias_decode(m2, e2).tolist() == b.tolist() and -4096 <= m2[0] <= 4095 and 0 <= e2[0] <= 7


@settings(max_examples=200, deadline=None)
@given(st.integers(-4095 * 128, 4095 * 128))
def test_bias_rounding_error_is_half_a_step(b):
    m, e = chip.bias_encode(np.array([b]), exact=False)
    assert abs(int(chip.bias_decode(m, e)[0]) - b) <= (1 << int(e[0])) // 2


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), stride=st.integers(1, 2), pad=st.integers(0, 2),
       dil=st.integers(1, 2), groups=st.sampled_from([1, 2]))
def test_conv_numpy_torch_scipy_agree(seed, stride, pad, dil, groups):
    rng = np.random.default_rng(seed)
    x = rng.integers(-50, 50, (2, 4, 7, 6))
    w = rng.integers(-256, 255, (6, 4 // groups, 3, 2))
    y = chip.conv2d(x, w, stride, pad, dil, groups)
    yt = chip.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride, pad, dil, groups)
    np.testing.assert_array_equal(yt.numpy(), y)
    if groups == 1 and dil == 1:  # scipy's correlate as an independent oracle
        xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        ref = np.stack([[correlate(xp[b], w[o], mode="valid")[0, ::stride, ::stride] for o in range(6)]
                        for b in range(2)])
        np.testing.assert_array_equal(y, ref)


def test_weight_exponent_is_a_floor_shift_by_hand():
    """``(W x) * 2^e``: left shift for e >= 0, floor (not truncation) for e < 0, as Lava's Dense."""
    import nir

    y = np.array([7, -7, 8, -8, 0])
    np.testing.assert_array_equal(chip.apply_weight_exp(y, -2), [1, -2, 2, -2, 0])  # -7/4 = -1.75 -> -2
    np.testing.assert_array_equal(chip.apply_weight_exp(y, 1), [14, -14, 16, -16, 0])
    node = nir.Affine(weight=np.ones((1, 1)), bias=np.zeros(1), metadata={"weight_exp": np.int32(-3)})
    assert chip.weight_exp(node) == -3 and chip.weight_exp(nir.Affine(np.ones((1, 1)), np.zeros(1))) == 0
    assert chip.ACTIVITY_KEYS == tuple(k for k in chip.COUNT_KEYS if k != "neurons")

"""The shortcuts of ``chip.decay`` / ``chip.lif_step`` (one factor of 0, 4096 or a power of two, float64
``trunc`` for 32-bit states, a step right after a reset, int32 registers) give the plain rule's integers.

Oracle: Python's unbounded integers (``trunc0(x f) = sign(x f) (|x f| // 4096)``) and the int64 path.
lava-nc's own model is the oracle of the int32 registers in tests/sims/lava/test_fast_models.py.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings, strategies as st

from ds2ta.hardware import chip

FACTORS = [0, 1, 2, 1024, 2048, 2049, 3000, 4095, 4096]


def py_decay(x: int, f: int) -> int:
    q = abs(x * f) // 4096
    return q if x * f >= 0 else -q


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), min_size=1, max_size=16), st.sampled_from(FACTORS))
def test_decay_one_factor_matches_python_ints(vals, f):
    want = [py_decay(x, f) for x in vals]
    for dt in (np.int32, np.int64):
        got = chip.decay(np.array(vals, dt), f)
        assert got.dtype == dt and got.tolist() == want
        assert chip.decay(np.array(vals, dt), np.array([f])).tolist() == want  # a shape-(1,) Var
    assert chip.decay(torch.tensor(vals), torch.tensor([f])).tolist() == want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2 ** 31), 2 ** 31 - 1), st.sampled_from(FACTORS)), min_size=2, max_size=16))
def test_decay_per_neuron_factors_match_python_ints(pairs):
    x, f = (list(z) for z in zip(*pairs))
    want = [py_decay(a, b) for a, b in pairs]
    for dt in (np.int32, np.int64):
        assert chip.decay(np.array(x, dt), np.array(f)).tolist() == want


def test_decay_returns_a_new_array():
    x = np.array([5, -7], np.int32)
    for f in (0, 4096, 2048, 3000):
        y = chip.decay(x, f)
        y += 1
    assert x.tolist() == [5, -7]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), du=st.sampled_from([0, 1000, 2047, 4095]),
       dv=st.sampled_from([0, 300, 1024, 2048, 4096]), fresh=st.booleans())
def test_int32_registers_equal_int64_within_24_bits(seed, du, dv, fresh):
    """Without int32 overflow the int32 path is the int64 path (u, v within 24 bits, |a| < 2^17)."""
    rng = np.random.default_rng(seed)
    n = 32
    a = rng.integers(-(2 ** 17), 2 ** 17, n)
    u, v = (rng.integers(-(2 ** 23) + 1, 2 ** 23, n) for _ in range(2))
    bias = rng.integers(-4096, 4096, n) << 3
    p = chip.lif_params(np.full(n, du), np.full(n, dv), bias, np.full(n, 500))
    s64, u64, v64 = chip.lif_step(a, np.zeros(n, np.int64) if fresh else u, np.zeros(n, np.int64) if fresh else v, p)
    s32, u32, v32 = chip.lif_step(a.astype(np.int32), u.astype(np.int32), v.astype(np.int32), p, fresh=fresh)
    assert u32.dtype == np.int32 and v32.dtype == np.int32
    np.testing.assert_array_equal(s32, s64)
    np.testing.assert_array_equal(u32, u64)
    np.testing.assert_array_equal(v32, v64)
    st_, ut, vt = chip.lif_step(torch.from_numpy(a), torch.from_numpy(u), torch.from_numpy(v), p._replace(
        decay_u=torch.from_numpy(p.decay_u), decay_v=torch.from_numpy(p.decay_v), bias=torch.from_numpy(bias),
        vth_v=torch.from_numpy(p.vth_v)), fresh=fresh)
    np.testing.assert_array_equal(vt.numpy(), v64)
    np.testing.assert_array_equal(st_.numpy(), s64)


def test_wrap_current_keeps_int32_and_returns_input_in_range():
    u = np.array([5, -(2 ** 23) + 1, 2 ** 23], np.int32)
    assert chip.wrap_current(u) is u
    w = chip.wrap_current(np.array([2 ** 23 + 1, -(2 ** 23), 2 ** 31 - 1, -(2 ** 31)], np.int32))
    assert w.dtype == np.int32 and w.tolist() == [-(2 ** 23) + 1, 2 ** 23, 2 ** 31 - 1 - 2 ** 24, -(2 ** 31) + 2 ** 24]
    assert chip.wrap_current(np.zeros(0, np.int32)).size == 0
    assert chip.wrap_current(torch.zeros(0, dtype=torch.long)).numel() == 0

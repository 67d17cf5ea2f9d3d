"""``ds2ta.hardware.blas``: float BLAS sums equal integer sums exactly, checked against independent code
(a direct loop over the definition, torch's float64 conv, numpy's int64 products) and at the exactness
limits, where the kernels must switch to a wider type instead of rounding."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import random as sparse_random

from ds2ta.hardware import blas


def direct_conv(x, w, stride, padding, dilation, groups):
    """The cross-correlation by its definition, one output at a time (Python ints: no overflow)."""
    B, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((B, O, Ho, Wo), dtype=object)
    for b in range(B):
        for o in range(O):
            g = o // (O // groups)
            for i in range(Ho):
                for j in range(Wo):
                    s = 0
                    for c in range(Cg):
                        for p in range(kh):
                            for q in range(kw):
                                r, t = i * sh + p * dh - ph, j * sw + q * dw - pw
                                if 0 <= r < H and 0 <= t < W:
                                    s += int(w[o, c, p, q]) * int(x[b, g * Cg + c, r, t])
                    y[b, o, i, j] = s
    return y


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_conv_equals_the_definition(data):
    groups = data.draw(st.sampled_from([1, 2, 3]))
    cg, og = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    kh, kw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    stride = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    padding = (data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2)))
    dilation = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2)))
    H, W = data.draw(st.integers(dilation[0] * (kh - 1) + 1, 7)), data.draw(st.integers(dilation[1] * (kw - 1) + 1, 7))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 31)))
    w = rng.integers(-256, 256, (og * groups, cg, kh, kw))
    binary = data.draw(st.booleans())
    x = rng.integers(0, 2, (2, cg * groups, H, W)) if binary else rng.integers(-2 ** 23, 2 ** 23, (2, cg * groups, H, W))
    got = blas.IntConv2d(w, stride, padding, dilation, groups)(x, binary=binary)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, direct_conv(x, w, stride, padding, dilation, groups).astype(np.int64))


def test_paper_scale_conv_equals_torch_float64():
    """A cifar10 SPS conv (192 -> 384, 16 x 16, 3 x 3, 10 % spikes, 8-bit weights) and its depthwise
    2 x 2 max-pool sum against torch's float64 conv (an independent implementation, exact here)."""
    rng = np.random.default_rng(0)
    w = rng.integers(-255, 256, (384, 192, 3, 3))
    x = (rng.random((1, 192, 16, 16)) < 0.1).astype(np.int64)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), padding=1)
    np.testing.assert_array_equal(blas.IntConv2d(w, 1, 1)(x, binary=True), ref.long().numpy())
    ones = np.ones((192, 1, 2, 2), np.int64)
    ref = torch.nn.functional.conv2d(torch.from_numpy(x).double(), torch.from_numpy(ones).double(), stride=2,
                                     padding=1, groups=192)
    np.testing.assert_array_equal(blas.IntConv2d(ones, 2, 1, groups=192)(x), ref.long().numpy())


def test_dtype_follows_the_bound():
    assert blas.exact_dtype(2 ** 24 - 1) is np.float32
    assert blas.exact_dtype(2 ** 24) is np.float64
    assert blas.exact_dtype(2 ** 53 - 1) is np.float64
    assert blas.exact_dtype(2 ** 53) is None


def test_sums_past_float_precision_stay_exact():
    """Values at which float32 (2^24 + 1) and float64 (2^53 + 1) would round: the kernels must widen."""
    w = np.array([[1, 1]])
    for x in (np.array([2 ** 24, 1]), np.array([2 ** 53, 1]), np.array([2 ** 62, 3])):
        want = int(x[0]) + int(x[1])
        assert int(blas.IntLinear(w)(x)[0]) == want
        assert int(blas.IntSparse(w)(x)[0]) == want
        assert int(blas.IntConv2d(w.reshape(1, 2, 1, 1))(x.reshape(1, 2, 1, 1))[0, 0, 0, 0]) == want


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.0, 1.0), st.booleans(), st.integers(0, 2 ** 31))
def test_linear_and_sparse_equal_int64_products(n_out, n_in, density, binary, seed):
    rng = np.random.default_rng(seed)
    m = sparse_random(n_out, n_in, density=0.3, random_state=seed, format="csr",
                      data_rvs=lambda k: rng.integers(-255, 256, k)).astype(np.int64)
    x = rng.random(n_in) < density
    x = x.astype(np.int64) if binary else (x * rng.integers(-2 ** 23, 2 ** 23, n_in))
    want = m.toarray() @ x
    np.testing.assert_array_equal(blas.IntSparse(m)(x, binary=binary), want)
    got32 = blas.IntSparse(m)(x, binary=binary, out_dtype=np.int32)  # a 32-bit register: modulo 2^32
    assert got32.dtype == np.int32
    np.testing.assert_array_equal(got32, want.astype(np.int32))
    np.testing.assert_array_equal(blas.IntLinear(m.toarray())(x, binary=binary), want)
    xb = np.stack([x, -x, 2 * x])
    np.testing.assert_array_equal(blas.IntLinear(m.toarray())(xb), xb @ m.toarray().T)


def test_sparse_int32_output_wraps_like_a_register():
    """Sums beyond 2^31 into an int32 output: the exact sum modulo 2^32, on the event path (few active
    inputs) and on the full product (most inputs active)."""
    w = np.array([[200, 200, 200, 200], [-200, 1, 0, 0]])
    for x in (np.array([2 ** 23 - 1, 0, 0, 2 ** 23 - 1]), np.full(4, 2 ** 23 - 1), np.array([2 ** 30, 0, 0, 0])):
        want = (w.astype(object) @ x.astype(object))
        got = blas.IntSparse(w)(x, out_dtype=np.int32)
        np.testing.assert_array_equal(got, np.array([int(v) for v in want], dtype=np.int64).astype(np.int32))
        np.testing.assert_array_equal(blas.IntSparse(w)(x), np.array([int(v) for v in want], dtype=np.int64))


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="2-D"):
        blas.IntLinear(np.zeros(3))
    with pytest.raises(ValueError, match="channels"):
        blas.IntConv2d(np.zeros((2, 3, 1, 1)))(np.zeros((1, 4, 2, 2)))

"""``chip.conv2d_torch``: float32 only where the bound ``row_abs_sum(w) max|x| + max|b|`` is below 2^24,
float64 above, exact on both sides of the switch (oracle: Python-int sums written here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from ds2ta.hardware import chip


def conv_by_definition(x, w, b, stride, pad, dil, groups):
    """y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] x[n, g(o) C/g + c, i s + p d - pad, j s + q d - pad], int64."""
    x, w = np.asarray(x, np.int64), np.asarray(w, np.int64)
    N, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Ho = (H + 2 * pad - dil * (kh - 1) - 1) // stride + 1
    Wo = (W + 2 * pad - dil * (kw - 1) - 1) // stride + 1
    y = np.zeros((N, O, Ho, Wo), np.int64)
    for o in range(O):
        g = o // (O // groups)
        for p in range(kh):
            for q in range(kw):
                win = xp[:, g * Cg:(g + 1) * Cg, p * dil:p * dil + stride * (Ho - 1) + 1:stride,
                         q * dil:q * dil + stride * (Wo - 1) + 1:stride]
                y[:, o] += np.einsum("nchw,c->nhw", win, w[o, :, p, q])
    return y + np.asarray(b, np.int64)[None, :, None, None]


def test_float32_below_2_24_float64_from_2_24():
    """A 1x1 conv over two channels, weights (2^23 - 2, 1), x = (2, 2): row_abs_sum 2^23 - 1, so the bound
    is 2^24 - 2 (float32, int32 result); a bias of 1 keeps it below 2^24, a bias of 3 takes it to
    2^24 + 1 (float64, int64), where the sum 2^24 + 1 is one that float32 cannot hold."""
    w = torch.tensor([2 ** 23 - 2, 1]).reshape(1, 2, 1, 1)
    x = torch.tensor([2, 2]).reshape(1, 2, 1, 1)
    y = chip.conv2d_torch(x, w)
    assert y.dtype == torch.int32 and int(y) == 2 ** 24 - 2
    y = chip.conv2d_torch(x, w, bias=torch.tensor([1]))
    assert y.dtype == torch.int32 and int(y) == 2 ** 24 - 1
    y = chip.conv2d_torch(x, w, bias=torch.tensor([3]))
    assert y.dtype == torch.int64 and int(y) == 2 ** 24 + 1
    assert int(torch.tensor(2 ** 24 + 1, dtype=torch.float32)) != 2 ** 24 + 1  # why float64 is needed
    assert chip.conv2d(x, w).dtype == torch.int64  # conv2d's torch path keeps int64


def test_float64_path_exact_up_to_2_53_and_refused_beyond():
    w = torch.tensor([2 ** 40, 3]).reshape(1, 2, 1, 1)
    x = torch.tensor([5, 7]).reshape(1, 2, 1, 1)
    assert int(chip.conv2d_torch(x, w)) == 5 * 2 ** 40 + 21
    with pytest.raises(ValueError, match="2\\^53"):
        chip.conv2d_torch(torch.tensor([2 ** 13, 0]).reshape(1, 2, 1, 1), w)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), stride=st.integers(1, 3), pad=st.integers(0, 2),
       dil=st.integers(1, 2), groups=st.sampled_from([1, 2, 4]), big=st.booleans())
def test_random_convs_equal_the_definition(seed, stride, pad, dil, groups, big):
    """Near the switch: inputs scaled so the bound lands just below 2^24 (float32) or just above (float64)."""
    rng = np.random.default_rng(seed)
    w = rng.integers(-255, 256, (8, 8 // groups, 3, 2))
    b = rng.integers(-4096, 4096, 8)
    row = int(np.abs(w).reshape(8, -1).sum(1).max())
    xmax = max(1, (2 ** 24 - 4096) // row + (2 ** 24 // row if big else 0))
    x = rng.integers(-xmax, xmax + 1, (2, 8, 7, 6))
    x.reshape(-1)[0] = xmax  # the bound is reached by the data, not only by the range
    y = chip.conv2d_torch(torch.from_numpy(x), torch.from_numpy(w), stride, pad, dil, groups,
                          bias=torch.from_numpy(b))
    bound = row * xmax + int(np.abs(b).max())
    assert y.dtype == (torch.int32 if bound < 2 ** 24 else torch.int64)
    np.testing.assert_array_equal(y.long().numpy(), conv_by_definition(x, w, b, stride, pad, dil, groups))

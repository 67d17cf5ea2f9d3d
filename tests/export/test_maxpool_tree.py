"""The comparison network of a graded max-pool (export/maxpool_tree.py) against plain window maxima."""

import numpy as np
import pytest

from ds2ta.export import maxpool_tree as mt


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


def run_tree(sh_padded: np.ndarray, k: int, s: int, Ho: int, Wo: int) -> np.ndarray:
    """Evaluate the network as the chip does: taps read the zero-padded grid, relu units in order."""
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
        vals.append(np.maximum(combo(c), 0))
    return combo(final)


@pytest.mark.parametrize("hw,k,s,p", [((8, 8), 3, 2, 1), ((7, 5), 3, 2, 1), ((6, 6), 3, 1, 1), ((4, 4), 2, 2, 0)])
def test_tree_is_the_window_max_with_padding_ignored(hw, k, s, p):
    rng = np.random.default_rng(0)
    x = rng.integers(-mt.OFFSET + 1, mt.OFFSET, size=(3, *hw))
    x[0] = -mt.OFFSET + 1  # all-negative channel: zero padding would win without the offset
    Ho, Wo = (hw[0] + 2 * p - k) // s + 1, (hw[1] + 2 * p - k) // s + 1
    padded = np.pad(x + mt.OFFSET, ((0, 0), (p, p), (p, p)))  # valid taps carry +B, padded ones read 0
    got = run_tree(padded, k, s, Ho, Wo) - mt.OFFSET
    assert np.array_equal(got, window_max(x, k, s, p))


def test_tree_sizes_for_a_3x3_window():
    relus, final = mt.tree(list(range(9)))
    assert len(relus) == 8  # n - 1 comparisons
    assert sum(v for key, v in final.items() if key[0] == "tap") == 1  # one base tap: the offset B once
    for c in relus:  # a difference of two partial maxima: taps cancel their offsets
        assert sum(v for key, v in c.items() if key[0] == "tap") == 0

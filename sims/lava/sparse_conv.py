"""A ``Conv2d`` with a weight exponent as a lava-nc ``Sparse`` synapse (lava-nc's ``Conv`` ignores ``weight_exp``).

lava-nc's ``Conv`` has no weight exponent (docs/lava-loihi-semantics.md section 3), so a ``Conv2d``
whose ``metadata["weight_exp"]`` is not 0 (the graded max-pool's ``>> e`` into a ``DS2TAGraded`` unit,
a weighted read-out of graded values) becomes a ``Sparse`` whose matrix is the convolution's
``(n_out, n_in)`` connectivity in NIR's C order, built from the kernel taps without a dense
intermediate. Per step it computes ``(W x) << weight_exp`` (a floor shift for a negative exponent),
accumulated in int64 (``procs/synapse/models.PySparseModelInt64``), exactly the reference's
``Conv2dK``. Biases are the population's (``graph.Schedule._biases``).

Weights keep lava-nc's 8-bit encoding: mixed-sign weights lose their lowest bit (``1 -> 0``), so a
mixed-sign matrix with an odd weight in ``[-128, 127]`` is stored doubled with the exponent lowered by
one, ``((2 W) x) >> (1 - e) = (W x) >> -e``: the same integers, nothing dropped (``lava_weights``).
"""

from __future__ import annotations

import nir
import numpy as np
from lava.proc.sparse.process import Sparse
from lava.utils.weightutils import SignMode, clip_weights, determine_sign_mode, truncate_weights
from scipy.sparse import csr_matrix

from ds2ta.hardware import chip
from ds2ta.sims.lava.ops import _integer, _pair

MIXED_ODD_MAX = 128  # |w| of a mixed-sign odd weight that still fits 8 bits doubled ([-256, 254])


def conv_matrix(name: str, node: nir.Conv2d, chw: tuple[int, int, int]) -> csr_matrix:
    """The ``(C_out Ho Wo, C H W)`` int64 matrix of a ``Conv2d`` (cross-correlation, zero padding,
    stride, dilation, groups) on a ``(C, H, W)`` input, flat in C order: ``y = M x`` equals
    ``chip.conv2d``. Built from the nonzero taps and the output positions (nnz entries, no dense
    ``n_out x n_in`` array)."""
    w = _integer(node.weight, f"{name}.weight")
    if isinstance(node.padding, str):
        raise ValueError(f"{name}: string padding {node.padding!r} is not supported; write integers")
    C, H, W = (int(v) for v in chw)
    O, Cg, kh, kw = w.shape
    g = int(node.groups)
    if C != Cg * g:
        raise ValueError(f"{name}: input has {C} channels, weight expects {Cg} x {g} groups")
    (sh, sw), (ph, pw), (dh, dw) = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
    Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    o, c, p, q = np.nonzero(w)                                   # taps
    val = w[o, c, p, q]
    cin = (o // (O // g)) * Cg + c
    i, j = np.arange(Ho), np.arange(Wo)
    r = i[None, :, None] * sh - ph + p[:, None, None] * dh      # (taps, Ho, 1) input row
    s = j[None, None, :] * sw - pw + q[:, None, None] * dw      # (taps, 1, Wo) input column
    ok = (r >= 0) & (r < H) & (s >= 0) & (s < W)                 # (taps, Ho, Wo): inside the image
    t, ii, jj = np.nonzero(ok)
    rows = (o[t] * Ho + ii) * Wo + jj
    cols = (cin[t] * H + r[t, ii, 0]) * W + s[t, 0, jj]
    return csr_matrix((val[t], (rows, cols)), shape=(O * Ho * Wo, C * H * W), dtype=np.int64)


def _kept(m: csr_matrix, mode: SignMode):
    """``(output, input)`` of the first weight lava-nc's 8-bit encoding in ``mode`` changes, else None."""
    diff = (truncate_weights(clip_weights(m.copy(), mode, num_bits=8), mode, 8).astype(np.int64) - m).tocoo()
    diff.eliminate_zeros()
    return (int(diff.row[0]), int(diff.col[0])) if diff.nnz else None


def lava_weights(m: csr_matrix, exp: int, name: str) -> tuple[csr_matrix, int, SignMode | None]:
    """``(M', exp', sign_mode)`` that lava-nc's 8-bit ``Sparse`` encoding keeps exactly with ``(M' x) <<
    exp' == (M x) << exp``, first that works of: ``M`` in its own sign mode; ``M`` as mixed (an even
    ``-256``, which the one-sign modes clip); ``2 M`` with ``exp - 1`` (mixed signs with odd weights in
    ``[-128, 127]``: the doubled weights are even, so the mixed mode's dropped bit is 0).
    ``sign_mode`` None: lava-nc's own choice.

    Raises:
        ValueError: a weight every option would change (names it and the fix).
    """
    for mm, ee, mode in ((m, exp, None), (m, exp, SignMode.MIXED), (m * 2, exp - 1, None),
                         (m * 2, exp - 1, SignMode.MIXED)):
        if mm is not m and (m.data.min(initial=0) < -MIXED_ODD_MAX or m.data.max(initial=0) >= MIXED_ODD_MAX):
            break
        if _kept(mm, mode or determine_sign_mode(mm)) is None:
            return mm, ee, mode
    r, c = _kept(m, determine_sign_mode(m))
    raise ValueError(f"synapse {name!r}: Lava's 8-bit Sparse encoding changes weight {int(m[r, c])} (output {r}, "
                     f"input {c}): mixed signs drop the lowest bit, values are clipped to 8 bits; quantize to "
                     "weights in [-128, 127], even values in [-256, 254], or one sign in [0, 255] / [-255, 0]")


def build_sparse_conv(name: str, node: nir.Conv2d, chw: tuple[int, int, int], graded: bool) -> Sparse:
    """lava-nc ``Sparse`` computing ``Conv2d`` ``node`` with its ``weight_exp`` (graded payload with
    ``num_message_bits = 24``); run it with ``PySparseModelInt64``."""
    m, exp, mode = lava_weights(conv_matrix(name, node, chw), chip.weight_exp(node), name)
    kw = {} if mode is None else {"sign_mode": mode}
    return Sparse(weights=m, weight_exp=exp, num_message_bits=24 if graded else 0, name=name, **kw)

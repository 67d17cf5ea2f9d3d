"""Fixed-point primitives: mantissa/exponent formats and Lava-safe weight rounding.

A value ``x`` is stored as ``m * 2^e`` with an integer mantissa ``m`` of ``bits`` signed bits.
Weights of mixed sign lose their lowest bit in Lava's ``Dense`` (docs/lava-loihi-semantics.md section 2),
so ``weight_levels`` gives the grid that survives: multiples of ``2^(9 - bits)`` in
``[-256, 256 - 2^(9 - bits)]`` (bits = 8: even values in [-256, 254]).
"""

from __future__ import annotations

import math
import warnings
from typing import Tuple

import numpy as np


def choose_exponent(x: np.ndarray, bits: int, signed: bool = True, min_exp: int = -64,
                    max_exp: int = 64) -> int:
    """Smallest exponent ``e`` such that ``round(x / 2^e)`` fits ``bits`` (signed) bits.

    Args:
        x: values to represent.
        bits: mantissa width including the sign bit when ``signed``.
        signed: two's complement range ``[-2^(bits-1), 2^(bits-1) - 1]``, else ``[0, 2^bits - 1]``.
        min_exp, max_exp: allowed exponent range (``e`` is clipped into it).

    Raises:
        ValueError: ``bits < 1`` or non-finite values.
    """
    if bits < 1:
        raise ValueError(f"bits={bits} must be >= 1")
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("choose_exponent: values are not finite (NaN/inf in the model?)")
    hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    amax = float(np.abs(x).max(initial=0.0))
    if amax == 0.0:
        return min_exp
    e = math.ceil(math.log2(amax / hi)) if hi > 0 else max_exp
    while abs(round(amax / 2.0 ** e)) > hi:  # rounding up at the top of the range
        e += 1
    while e > min_exp and abs(round(amax / 2.0 ** (e - 1))) <= hi:
        e -= 1
    return int(min(max(e, min_exp), max_exp))


def quantize(x: np.ndarray, exp: int, bits: int, signed: bool = True) -> np.ndarray:
    """Mantissas ``clip(round(x / 2^exp))`` in the ``bits`` range (int64)."""
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    return np.clip(np.round(np.asarray(x, dtype=np.float64) / 2.0 ** exp), lo, hi).astype(np.int64)


def dequantize(m: np.ndarray, exp: int) -> np.ndarray:
    """``m * 2^exp`` as float64."""
    return np.asarray(m, dtype=np.float64) * 2.0 ** exp


def weight_levels(bits: int) -> Tuple[int, int, int]:
    """``(step, lo, hi)`` of Lava-safe mixed-sign weights for ``bits`` (1..8): values ``step * k``."""
    if not 1 <= bits <= 8:
        raise ValueError(f"--bits {bits}: Loihi weights have 1..8 bits")
    step = 2 ** (9 - bits)
    return step, -256, 256 - step


def round_weights(w: np.ndarray, bits: int) -> Tuple[np.ndarray, int]:
    """Round already-scaled weights to the Lava-safe grid; returns ``(ints, n_clipped)``."""
    step, lo, hi = weight_levels(bits)
    r = np.round(np.asarray(w, dtype=np.float64) / step) * step
    clipped = int(((r < lo) | (r > hi)).sum())
    return np.clip(r, lo, hi).astype(np.int64), clipped


def relative_error(ref: np.ndarray, approx: np.ndarray) -> float:
    """``||ref - approx|| / ||ref||`` (0 for an all-zero reference)."""
    ref = np.asarray(ref, dtype=np.float64)
    n = float(np.linalg.norm(ref))
    return float(np.linalg.norm(ref - np.asarray(approx, dtype=np.float64)) / n) if n else 0.0


def warn_lossy(layer: str, what: str, err: float, tol: float = 0.02) -> None:
    """``warnings.warn`` naming the layer and the relative error when it exceeds ``tol``."""
    if err > tol:
        warnings.warn(f"{layer}: {what} loses precision (relative error {err:.3%})", stacklevel=3)

"""Fixed-point primitives: Lava-safe weight rounding, the calibration margin, error reporting.

Weights of mixed sign lose their lowest bit in Lava's ``Dense`` (docs/lava-loihi-semantics.md section 2),
so ``weight_levels`` gives the grid that survives: multiples of ``2^(9 - bits)`` in
``[-256, 256 - 2^(9 - bits)]`` (bits = 8: even values in [-256, 254]).
"""

from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np

CALIBRATION_MARGIN = 1.5
"""Headroom on the calibrated per-channel maximum current: each neuron's integer scale is capped so
that ``margin x`` the largest current seen on the calibration batches still fits int16 (Lava's
``a_in``) and the read-out accumulator 24 bits. The export records it in ``quantization.json``."""


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

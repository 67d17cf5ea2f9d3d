"""Fold an eval-mode BatchNorm into the preceding weights (and bias)."""

from __future__ import annotations

from typing import Tuple

import numpy as np
from torch import nn


def fold_bn(weight: np.ndarray, bn: nn.modules.batchnorm._BatchNorm,
            bias: np.ndarray | None = None) -> Tuple[np.ndarray, np.ndarray]:
    """``BN(W x + b) = W' x + b'`` with running statistics.

    Args:
        weight: ``(C_out, ...)`` weights of the linear map before the BN.
        bn: BatchNorm1d/2d over ``C_out`` channels (eval statistics are used).
        bias: the linear map's own bias ``b`` (C_out,), or None (bias-free).

    Returns:
        ``(W', b')``: ``W' = W * gamma / sqrt(var + eps)`` per output channel, ``b' = beta + (b - mean) *
        gamma / sqrt(var + eps)`` (float64).
    """
    if bn.running_mean is None:
        raise ValueError("fold_bn: BatchNorm without running statistics (track_running_stats=False)")
    c = weight.shape[0]
    if bn.num_features != c:
        raise ValueError(f"fold_bn: BN has {bn.num_features} channels, weights have {c} outputs")
    var = bn.running_var.detach().double().cpu().numpy()
    mean = bn.running_mean.detach().double().cpu().numpy()
    gamma = bn.weight.detach().double().cpu().numpy() if bn.affine else np.ones(c)
    beta = bn.bias.detach().double().cpu().numpy() if bn.affine else np.zeros(c)
    k = gamma / np.sqrt(var + bn.eps)
    w = np.asarray(weight, dtype=np.float64) * k.reshape((-1,) + (1,) * (weight.ndim - 1))
    b = np.zeros(c) if bias is None else np.asarray(bias, dtype=np.float64).reshape(c)
    return w, beta + (b - mean) * k

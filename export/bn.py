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


def fold_input_normalisation(weight: np.ndarray, bias: np.ndarray, mean, std, hw: int,
                             padding: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first conv of a normalised, zero-padded image as a conv of the raw image plus a bias per neuron.

    The model convolves ``n = (x - m) / s`` (per input channel) padded with zeros *in normalised space*.
    Inside the image ``W n = (W / s) x - W (m / s)``; at the border the padded taps add nothing, so the
    constant differs by position: it is the convolution of the constant image ``-m / s`` with the same
    zero padding. Loihi 2 neurons hold one bias each, so this is exact on the chip.

    Args:
        weight: ``(C_out, C_in, k, k)`` folded weights (stride 1); bias: ``(C_out,)``.
        mean, std: ``C_in`` values; hw: input height = width; padding: the conv's zero padding.

    Returns:
        ``(W / s, b)``: weights for the raw input and the bias ``(C_out, H_out, W_out)`` per neuron.
    """
    import torch

    s = np.asarray(std, dtype=np.float64)
    m = np.asarray(mean, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != s.size or m.size != s.size:
        raise ValueError(f"input normalisation has {s.size} channels; the first conv's weights are {w.shape}")
    const = torch.from_numpy(np.broadcast_to((-m / s).reshape(1, -1, 1, 1), (1, s.size, hw, hw)).copy())
    border = torch.nn.functional.conv2d(const, torch.from_numpy(w), padding=padding)[0].numpy()
    return w / s.reshape(1, -1, 1, 1), np.asarray(bias, dtype=np.float64).reshape(-1, 1, 1) + border

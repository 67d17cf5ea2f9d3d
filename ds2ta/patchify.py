"""Spiking patch splitting (SPS) and relative position embedding, Spikformer layout.

Stage i: conv3x3 -> BN -> LIF [-> maxpool(3, 2, 1) if pool_stages[i] == "1"], widths D/8, D/4,
D/2, D. Then RPE: ``x + LIF(BN(conv3x3(x)))``. Output tokens ``(T, B, N, D)``, N = grid^2, row-major.
"""

from __future__ import annotations

import torch
from torch import nn

from ds2ta.config import DS2TAConfig
from ds2ta.neuron import LIF


class ConvBNLIF(nn.Module):
    """(T, B, C, H, W) -> (T, B, C', H', W') spikes through conv3x3 (no bias), BN, LIF, optional maxpool."""

    def __init__(self, c_in: int, c_out: int, pool: bool, cfg: DS2TAConfig):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)
        self.pool = nn.MaxPool2d(3, 2, 1) if pool else None

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        u = self.bn(self.conv(x.flatten(0, 1)))  # (T*B, C', H, W)
        return u.reshape(T, B, *u.shape[1:])  # (T, B, C', H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lif(self.preactivation(x))  # (T, B, C', H, W)
        if self.pool is not None:
            T, B = s.shape[:2]
            s = self.pool(s.flatten(0, 1))
            s = s.reshape(T, B, *s.shape[1:])
        return s


class SPS(nn.Module):
    """Spiking patchifier: (T, B, C_in, H, W) -> tokens (T, B, N, D)."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        D = cfg.embed_dim
        widths = [cfg.in_channels, D // 8, D // 4, D // 2, D]
        self.stages = nn.ModuleList(
            ConvBNLIF(widths[i], widths[i + 1], cfg.pool_stages[i] == "1", cfg) for i in range(4))
        self.rpe = ConvBNLIF(D, D, False, cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)  # (T, B, C, H, W)
        x = x + self.rpe(x)  # (T, B, D, g, g), values 0..2
        return x.flatten(3).transpose(2, 3)  # (T, B, N, D)

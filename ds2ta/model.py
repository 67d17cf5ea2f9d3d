"""DS2TA spiking vision transformer (Spikformer backbone, TASA + NSAD attention).

    image -> SPS -> depth x [x = x + Attn(x); x = x + MLP(x)] -> mean over tokens -> Linear -> mean over T

The residual stream holds integer spike counts (sums of binary spike tensors).
"""

from __future__ import annotations

import torch
from torch import nn

from ds2ta.attention import SpikingAttention
from ds2ta.config import DS2TAConfig
from ds2ta.patchify import SPS
from ds2ta.tasa import SpikingProjection


class MLP(nn.Module):
    """(T, B, N, D) -> (T, B, N, D): Linear(D, rD) BN LIF, Linear(rD, D) BN LIF."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        D, H = cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim
        kw = dict(v_threshold=cfg.v_threshold, lif_tau=cfg.lif_tau, alpha=cfg.surrogate_alpha)
        self.fc1 = SpikingProjection(D, H, **kw)
        self.fc2 = SpikingProjection(H, D, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


class Block(nn.Module):
    """Encoder block on (T, B, N, D)."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.attn = SpikingAttention(cfg)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class DS2TA(nn.Module):
    """Classifier. Input: direct ``(B, C, H, W)`` or events ``(B, T, C, H, W)``; output logits ``(B, classes)``."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.cfg = cfg
        self.sps = SPS(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Network input per time step, (T, B, C, H, W)."""
        c = self.cfg
        if c.encoding == "direct":
            if x.dim() != 4 or x.shape[1:] != (c.in_channels, c.img_size, c.img_size):
                raise ValueError(f"direct encoding expects (B, {c.in_channels}, {c.img_size}, "
                                 f"{c.img_size}), got {tuple(x.shape)}")
            return x.unsqueeze(0).expand(c.T, *x.shape)  # (T, B, C, H, W), same image each step
        if x.dim() != 5 or x.shape[1:] != (c.T, c.in_channels, c.img_size, c.img_size):
            raise ValueError(f"event encoding expects (B, {c.T}, {c.in_channels}, {c.img_size}, "
                             f"{c.img_size}), got {tuple(x.shape)}")
        return x.transpose(0, 1)  # (B, T, C, H, W) -> (T, B, C, H, W)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Residual stream after the last block, (T, B, N, D)."""
        x = self.sps(self.encode(x))  # (T, B, N, D)
        for blk in self.blocks:
            x = blk(x)
        return x

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        """(T, B, N, D) -> logits (B, classes): mean over tokens, Linear, mean over time."""
        return self.head(x.mean(2)).mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

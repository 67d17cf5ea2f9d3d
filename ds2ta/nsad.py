"""NSAD: nonlinear spiking attention denoiser, a learnable lookup table on integer attention scores.

With binary Q and K, ``A = Q K^T`` takes integer values ``0..d_head``. NSAD replaces every score by
``h[head, A]`` from a table of ``d_head + 1`` learnable entries per head (initialised to the
identity ``h[i] = i``). The table gets the gathered gradient; ``A`` gets a straight-through gradient
equal to the local slope of the table (linear interpolation between neighbouring entries).
"""

from __future__ import annotations

import torch
from torch import nn


class NSAD(nn.Module):
    """Per-head lookup ``(T, B, H, N, N)`` integer scores -> denoised scores, same shape."""

    def __init__(self, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.table = nn.Parameter(torch.arange(head_dim + 1, dtype=torch.float32).repeat(heads, 1))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        H, L = self.heads, self.head_dim + 1
        if a.shape[-3] != H:
            raise ValueError(f"NSAD expects heads on axis -3 ({H}), got shape {tuple(a.shape)}")
        idx = a.detach().round().long().clamp_(0, L - 1)  # (T, B, H, N, N)
        offset = (torch.arange(H, device=a.device) * L).view(H, 1, 1)
        flat = self.table.reshape(-1)
        out = flat[idx + offset]  # gathered table values, gradient flows to the table
        # straight-through gradient to the scores: slope of the table at each index
        nxt = (idx + 1).clamp(max=L - 1)
        prv = (nxt - 1)
        slope = (flat[nxt + offset] - flat[prv + offset]).detach()
        return out + (a - a.detach()) * slope

    def extra_repr(self) -> str:
        return f"heads={self.heads}, entries={self.head_dim + 1}"

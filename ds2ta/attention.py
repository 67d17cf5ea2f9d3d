"""Spiking self-attention with three drop-in forms on one backbone.

``ds2ta``      TASA projections (window TAW) and NSAD:  Z[t] = LIF_0.5( s * h[Q[t] K[t]^T] V[t] )
``spikformer`` spatial-only SSA (Spikformer):           Z[t] = LIF_0.5( s * (Q[t] K[t]^T) V[t] )
``statten``    STAtten block-wise spatio-temporal:      Z_b  = LIF_0.5( s * Q_b (K_b^T V_b) )
               where a block concatenates ``chunk`` consecutive steps' tokens (non-causal inside).
``sdsa``       Spike-driven self-attention (SDT-V1):    Z[t] = Q[t] * LIF_0.5( sum_n K[t] * V[t] )
               element-wise products and a sum over tokens per channel, no scale (the talking-heads LIF).
Output: O-projection (TASA in ``ds2ta``) of the spikes Z. No softmax anywhere.
"""

from __future__ import annotations

import torch
from torch import nn

from ds2ta.config import DS2TAConfig
from ds2ta.neuron import LIF
from ds2ta.nsad import NSAD
from ds2ta.tasa import SpikingProjection


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(T, B, N, D) -> (T, B, H, N, D/H)."""
    T, B, N, D = x.shape
    return x.reshape(T, B, N, heads, D // heads).permute(0, 1, 3, 2, 4)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(T, B, H, N, d) -> (T, B, N, H*d)."""
    T, B, H, N, d = x.shape
    return x.permute(0, 1, 3, 2, 4).reshape(T, B, N, H * d)


def spatial_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per-step attention map ``A[t] = Q[t] K[t]^T``: (T, B, H, N, d) x2 -> (T, B, H, N, N)."""
    return q @ k.transpose(-2, -1)


def block_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int, scale: float = 1.0) -> torch.Tensor:
    """STAtten: ``Q_b ((K_b^T V_b) * scale)`` over blocks of ``chunk`` steps; (T, B, H, N, d) -> same shape.

    The scale is applied where the official code applies it (module/ms_conv.py), before the product with
    ``Q``: with a scale that is not a power of two (1/1280 on 64 x 64 event data) the float sums round
    differently from ``(Q K^T V) * scale``, and a current that lands on the threshold fires in one order
    and not in the other; this order keeps an imported official model equal spike for spike."""
    T, B, H, N, d = q.shape
    if T % chunk:
        raise ValueError(f"T={T} is not divisible by chunk={chunk}")

    def blocks(x):  # (T, B, H, N, d) -> (T/c, B, H, c*N, d): time folded into the token axis
        return x.reshape(T // chunk, chunk, B, H, N, d).permute(0, 2, 3, 1, 4, 5).reshape(
            T // chunk, B, H, chunk * N, d)

    qb, kb, vb = blocks(q), blocks(k), blocks(v)
    out = qb @ ((kb.transpose(-2, -1) @ vb) * scale)  # (T/c, B, H, c*N, d)
    return out.reshape(T // chunk, B, H, chunk, N, d).permute(0, 3, 1, 2, 4, 5).reshape(T, B, H, N, d)


def sdsa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, talk_lif: nn.Module,
         pool=None) -> torch.Tensor:
    """SDSA ``Q * LIF(sum over tokens of K * V)`` on token tensors (T, B, N, D) -> (T, B, N, D).

    ``pool`` (the SDT block's DVS max-pool, ``sdt.head_token_maxpool`` or the token grid's, or None)
    is applied to ``K * V`` before the sum and to the result, as the official block does on event data.
    """
    kv = k * v
    if pool is not None:
        kv = pool(kv)
    z = q * talk_lif(kv.sum(2, keepdim=True))  # (T, B, 1, D) spikes broadcast over the tokens
    return pool(z) if pool is not None else z


class SpikingAttention(nn.Module):
    """(T, B, N, D) spikes -> (T, B, N, D) spikes."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.mode, self.heads, self.scale, self.chunk = cfg.attention, cfg.heads, cfg.attn_scale, cfg.chunk
        D = cfg.embed_dim
        taw = cfg.taw if cfg.attention == "ds2ta" else 1
        proj = dict(taw=taw, tau_init=cfg.tau_init, learn_tau=cfg.learn_tau, form=cfg.attenuation,
                    v_threshold=cfg.v_threshold, lif_tau=cfg.lif_tau, alpha=cfg.surrogate_alpha)
        self.q, self.k, self.v = (SpikingProjection(D, D, **proj) for _ in range(3))
        self.nsad = NSAD(cfg.heads, cfg.head_dim) if (cfg.attention == "ds2ta" and cfg.nsad) else None
        self.attn_lif = LIF(cfg.lif_tau, cfg.attn_threshold, cfg.surrogate_alpha)
        self.o = SpikingProjection(D, D, **proj)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Attention current before the attention LIF, (T, B, H, N, d) each -> (T, B, N, D)."""
        if self.mode == "statten":
            return merge_heads(block_attention(q, k, v, self.chunk, self.scale))
        else:
            a = spatial_scores(q, k)  # (T, B, H, N, N), integers 0..d
            if self.nsad is not None:
                a = self.nsad(a)
            out = a @ v  # (T, B, H, N, d)
        return merge_heads(out * self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "sdsa":  # channel-wise: no heads; attn_lif is the talking-heads LIF
            return self.o(sdsa(self.q(x), self.k(x), self.v(x), self.attn_lif))
        q, k, v = (split_heads(p(x), self.heads) for p in (self.q, self.k, self.v))  # (T, B, H, N, d)
        z = self.attn_lif(self.attend(q, k, v))  # (T, B, N, D)
        return self.o(z)

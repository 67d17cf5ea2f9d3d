"""Spike-driven Transformer V1 backbone, as STAtten's official code builds it (``backbone="sdt"``).

Formulas from ``../shared/reference/statten-official.md`` (module/ms_conv.py, module/sps.py,
model/spikeformer.py of Intelligent-Computing-Lab-Yale/STAtten); the project's own code:

    SPS   conv3x3 BN LIF [pool], conv BN LIF [pool], conv BN LIF [pool], conv BN [max-pool of the
          membrane] = x_feat;  x = BN(conv3x3(LIF(x_feat))) + x_feat          (widths D/8 .. D)
    Attn  s = LIF(x) [x_pool = maxpool(s) on events];  Q, K, V = LIF(BN(W s)) [maxpool on events]
          statten: z = LIF_0.5(Q_b (K_b^T V_b) * scale) [z = z * x_pool + x_pool on events]
          sdsa:    z = Q * LIF_0.5(sum_n K * V)          [max-pools of K * V and z on events over each
                   head's (flat token n, channel d) plane: head_token_maxpool, or the grid (sdsa_pool)]
          (spikformer / ds2ta attentions also run here: z = LIF_0.5(s * h[Q K^T] V))
          x = x + BN(W_o z + b_o)                     (membrane shortcut: no LIF after the projection)
    MLP   x = x + BN(W_2 LIF(BN(W_1 LIF(x) + b_1)) + b_2)
    Head  logits = mean_t Linear(LIF(mean over tokens of x))

The residual stream carries membrane (real) values, not spikes. Tensors are tokens ``(T, B, N, D)``;
a 1x1 conv is a Linear over channels, BN normalises channels.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ds2ta.attention import SpikingAttention, merge_heads, sdsa, split_heads
from ds2ta.config import DS2TAConfig
from ds2ta.neuron import LIF


def grid_maxpool(x: torch.Tensor, grid: int) -> torch.Tensor:
    """3x3 stride-1 max-pool over the token grid (MaxPool3d (1, 3, 3) of the official block):
    (T, B, N, D) -> (T, B, N, D), N = grid * grid, row-major tokens."""
    T, B, N, D = x.shape
    img = x.permute(0, 1, 3, 2).reshape(T * B, D, grid, grid)
    y = nn.functional.max_pool2d(img, 3, 1, 1)
    return y.reshape(T, B, D, N).permute(0, 1, 3, 2)


def head_token_maxpool(x: torch.Tensor, heads: int) -> torch.Tensor:
    """SDSA's max-pool on event data as the official code applies ``MaxPool3d((1, 3, 3), 1, (0, 1, 1))``
    to its ``(T, B, heads, N, hd)`` tensor: 3x3 stride 1 over each head's (flat token ``n``, channel
    ``d``) plane, padding ignored at ``n = 0, N - 1`` and ``d = 0, hd - 1``. Grid rows wrap: tokens
    ``y g + g - 1`` and ``(y + 1) g`` are neighbours. (T, B, N, D) -> (T, B, N, D), ``c = h hd + d``."""
    T, B, N, D = x.shape
    hd = D // heads
    planes = split_heads(x, heads).reshape(T * B * heads, 1, N, hd)  # (T*B*heads, 1, N, hd)
    y = nn.functional.max_pool2d(planes, 3, 1, 1)
    return merge_heads(y.reshape(T, B, heads, N, hd))  # (T, B, N, D)


class LinearBN(nn.Module):
    """``BN(W x + b)`` on tokens (T, B, N, D_in) -> (T, B, N, D_out): the official Conv1x1 + BN."""

    def __init__(self, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=bias)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv1x1_bn(x, self.linear, self.bn)


def conv1x1_bn(x: torch.Tensor, linear: nn.Linear, bn: nn.BatchNorm1d) -> torch.Tensor:
    """``BN(W x + b)`` on tokens (T, B, N, D_in) -> (T, B, N, D_out), computed as the official code does:
    a 1 x 1 ``conv2d`` on contiguous channel-major ``(T*B, D, g, g)`` maps, then the BN over channels. A ``Linear``
    gives the same values summed in another order; float32 then rounds a few membranes that sit on a
    threshold the other way (325 of 16.8 M spikes in a cifar10 model, 64 images), and an imported
    official checkpoint would not fire spike for spike as the official model does."""
    T, B, N, D = x.shape
    g = math.isqrt(N)  # the token grid is square; the kernel's blocking depends on the map's shape
    # the official (T*B, C, H, W), contiguous: a strided view (x is often a transposed one) makes conv2d take
    # its channels-last path, which sums in yet another order
    maps = x.permute(0, 1, 3, 2).reshape(T * B, D, g, N // g).contiguous()
    y = nn.functional.conv2d(maps, linear.weight[:, :, None, None], linear.bias)  # (T*B, D_out, H, W)
    return bn(y.flatten(2)).reshape(T, B, -1, N).transpose(2, 3)  # (T, B, N, D_out)


class SDTSPS(nn.Module):
    """SDT-V1 patchifier: (T, B, C_in, H, W) -> membrane tokens (T, B, N, D)."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        D = cfg.embed_dim
        widths = [cfg.in_channels, D // 8, D // 4, D // 2, D]
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1, bias=False) for i in range(4))
        self.bns = nn.ModuleList(nn.BatchNorm2d(widths[i + 1]) for i in range(4))
        self.lifs = nn.ModuleList(LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha) for _ in range(3))
        self.pools = [c == "1" for c in cfg.pool_stages]
        self.rpe_lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)
        self.rpe_conv = nn.Conv2d(D, D, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        x = x.flatten(0, 1)  # (T*B, C, H, W)
        for i in range(4):
            x = self.bns[i](self.convs[i](x))
            if i < 3:
                x = self.lifs[i](x.reshape(T, B, *x.shape[1:])).flatten(0, 1)
            if self.pools[i]:  # stage 3: a max over membrane values
                x = nn.functional.max_pool2d(x, 3, 2, 1)
        feat = x
        s = self.rpe_lif(feat.reshape(T, B, *feat.shape[1:])).flatten(0, 1)
        x = self.rpe_bn(self.rpe_conv(s)) + feat  # (T*B, D, g, g)
        return x.reshape(T, B, x.shape[1], -1).transpose(2, 3)  # (T, B, N, D)


class SDTAttention(nn.Module):
    """SDT-V1 attention block with STAtten's attention (or SDSA, Spikformer SSA, DS2TA) inside;
    returns the shortcut sum ``x + BN(W_o z + b_o)``."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.mode, self.heads, self.grid, self.dvs = cfg.attention, cfg.heads, cfg.grid, cfg.dvs_pool
        self.sdsa_pool = cfg.sdsa_pool
        self.shortcut_lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)
        # q, k, v projections (Conv1x1 without bias, BN, LIF), NSAD table, attention / talking-heads LIF
        self.core = SpikingAttention(cfg)
        del self.core.o  # the SDT block projects with Conv1x1 + BN, no LIF
        self.proj = LinearBN(cfg.embed_dim, cfg.embed_dim, bias=True)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        return grid_maxpool(x, self.grid)

    def sdsa_pool_of(self, x: torch.Tensor) -> torch.Tensor:
        """SDSA's max-pool of ``K * V`` and of its output on event data (``cfg.sdsa_pool``)."""
        return head_token_maxpool(x, self.heads) if self.sdsa_pool == "official" else self.pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.shortcut_lif(x)  # (T, B, N, D) spikes
        c = self.core
        # Q, K, V: the official 1 x 1 conv + BN (TASA's time window, taw > 1, keeps its own path)
        q, k, v = (p.lif(conv1x1_bn(s, p.linear, p.bn)) if p.taw == 1 else p(s) for p in (c.q, c.k, c.v))
        if self.dvs:
            q, k, v = self.pool(q), self.pool(k), self.pool(v)
        if self.mode == "sdsa":
            z = sdsa(q, k, v, c.attn_lif, self.sdsa_pool_of if self.dvs else None)
        else:
            z = c.attn_lif(c.attend(*(split_heads(t, self.heads) for t in (q, k, v))))
            if self.dvs:
                s_pool = self.pool(s)
                z = z * s_pool + s_pool
        return x + self.proj(z)


class SDTMLP(nn.Module):
    """``x + BN(W_2 LIF(BN(W_1 LIF(x) + b_1)) + b_2)`` on membrane tokens."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        D, H = cfg.embed_dim, cfg.mlp_ratio * cfg.embed_dim
        self.fc1_lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)
        self.fc1 = LinearBN(D, H)
        self.fc2_lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)
        self.fc2 = LinearBN(H, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.fc2_lif(self.fc1(self.fc1_lif(x))))


class SDTBlock(nn.Module):
    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.attn = SDTAttention(cfg)
        self.mlp = SDTMLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.attn(x))


class SDTHeadLIF(nn.Module):
    """The head's LIF on the token mean of the membrane stream: (T, B, N, D) -> spikes (T, B, D)."""

    def __init__(self, cfg: DS2TAConfig):
        super().__init__()
        self.lif = LIF(cfg.lif_tau, cfg.v_threshold, cfg.surrogate_alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(x.transpose(2, 3).contiguous().mean(3))  # as the official (T, B, C, N).mean(3)


"""DS2TA spiking vision transformer (Spikformer backbone, TASA + NSAD attention).

    image -> SPS -> depth x [x = x + Attn(x); x = x + MLP(x)] -> mean over tokens -> Linear -> mean over T

The residual stream holds integer spike counts (sums of binary spike tensors). ``backbone="sdt"``
builds the Spike-driven Transformer V1 instead (membrane shortcut; ``ds2ta/sdt.py``).

Activation checkpointing (``checkpoint_activations``) trades compute for memory in training: each SPS
stage, the RPE and each encoder block keep only their input for backward and run their forward again when the
gradient reaches them. Nothing in the forward is random and every LIF starts from ``v = 0`` on each
call over the whole ``(T, ...)`` sequence, so the second run recomputes the same spikes; BatchNorm
normalises with the same batch statistics but must not update its running statistics twice, so they
are put back after the recomputation (:func:`restored_bn_statistics`).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from ds2ta.attention import SpikingAttention
from ds2ta.config import DS2TAConfig
from ds2ta.encoding import time_major
from ds2ta.patchify import SPS
from ds2ta.sdt import SDTSPS, SDTBlock, SDTHeadLIF
from ds2ta.tasa import SpikingProjection


@contextlib.contextmanager
def restored_bn_statistics(module: nn.Module) -> Iterator[None]:
    """Put the running statistics of every BatchNorm in ``module`` back as they were on entry.

    Wraps the recomputation of a checkpointed segment: a training-mode BN normalises by the batch
    statistics (the same as in the first run) and would also update its running mean, variance and
    batch count a second time. Switching the tracking off instead would change what BN saves for
    backward, which the recomputation check rejects.
    """
    bns = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    names = ("running_mean", "running_var", "num_batches_tracked")
    before = [[getattr(m, n).clone() for n in names] for m in bns]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, values in zip(bns, before):
                for n, v in zip(names, values):
                    getattr(m, n).copy_(v)


def run_checkpointed(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` keeping only ``x`` for backward; the recomputation restores BN running statistics."""
    def contexts():
        return contextlib.nullcontext(), restored_bn_statistics(module)

    return checkpoint(module, x, use_reentrant=False, context_fn=contexts)


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
    """Classifier. Input: direct ``(B, C, H, W)`` or events ``(B, T, C, H, W)``; output logits ``(B, classes)``.

    Attributes:
        checkpoint_activations: in training, recompute each SPS stage and every block in backward
            instead of storing their activations (less memory, same gradients, about one more forward of
            compute). A run-time switch, not part of ``cfg``: weights and checkpoints are unchanged.
    """

    def __init__(self, cfg: DS2TAConfig, checkpoint_activations: bool = False):
        super().__init__()
        self.cfg = cfg
        self.checkpoint_activations = checkpoint_activations
        sdt = cfg.backbone == "sdt"
        self.sps = SDTSPS(cfg) if sdt else SPS(cfg)
        self.blocks = nn.ModuleList((SDTBlock if sdt else Block)(cfg) for _ in range(cfg.depth))
        self.head_lif = SDTHeadLIF(cfg) if sdt else None  # SDT: LIF on the token mean of membranes
        self.head = nn.Linear(cfg.embed_dim, cfg.num_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Network input per time step, (T, B, C, H, W), normalised per channel when the config has
        ``input_mean`` / ``input_std`` (the model takes what every ds2ta model takes, pixels / 255)."""
        c = self.cfg
        if c.encoding == "direct":
            if x.dim() != 4 or x.shape[1:] != (c.in_channels, c.img_size, c.img_size):
                raise ValueError(f"direct encoding expects (B, {c.in_channels}, {c.img_size}, "
                                 f"{c.img_size}), got {tuple(x.shape)}")
        elif x.dim() != 5 or x.shape[1:] != (c.T, c.in_channels, c.img_size, c.img_size):
            raise ValueError(f"event encoding expects (B, {c.T}, {c.in_channels}, {c.img_size}, "
                             f"{c.img_size}), got {tuple(x.shape)}")
        x = time_major(x, c.T, c.encoding)  # (T, B, C, H, W)
        if c.input_mean is not None:  # (x - mean) / std per channel, as torchvision's Normalize
            mean = x.new_tensor(c.input_mean).view(1, 1, -1, 1, 1)
            std = x.new_tensor(c.input_std).view(1, 1, -1, 1, 1)
            x = (x - mean) / std
        return x

    def segment_runner(self) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        """How SPS and blocks are called: checkpointed when switched on and a gradient is recorded."""
        if self.checkpoint_activations and self.training and torch.is_grad_enabled():
            return run_checkpointed
        return nn.Module.__call__

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Residual stream after the last block, (T, B, N, D)."""
        run = self.segment_runner()
        x = self.encode(x)  # (T, B, C, H, W)
        if run is run_checkpointed and self.cfg.backbone == "spikformer":
            x = self.sps_by_segments(x, run)
        else:
            x = run(self.sps, x)  # (T, B, N, D)
        for blk in self.blocks:
            x = run(blk, x)  # (T, B, N, D)
        return x

    def sps_by_segments(self, x: torch.Tensor, run) -> torch.Tensor:
        """``self.sps(x)`` with every SPS stage and the RPE as its own segment (``SPS.forward``'s steps).

        One segment for the whole SPS would hold all its activations at once in backward, most of
        the total at 128x128 (dvs preset); stage by stage holds one stage's. Equality with
        ``self.sps`` is tested (tests/ds2ta/test_model.py).
        """
        for stage in self.sps.stages:
            x = run(stage, x)  # (T, B, C, H, W)
        x = x + run(self.sps.rpe, x)  # (T, B, D, g, g)
        return x.flatten(3).transpose(2, 3)  # (T, B, N, D)

    def forward_head(self, x: torch.Tensor, steps: bool = False) -> torch.Tensor:
        """(T, B, N, D) -> logits (B, classes): mean over tokens, [SDT: LIF,] Linear, mean over time;
        ``steps``: the per-step logits (T, B, classes) before the mean (TET loss)."""
        out = self.head(self.head_lif(x)) if self.head_lif is not None else self.head(x.mean(2))
        return out if steps else out.mean(0)

    def forward(self, x: torch.Tensor, steps: bool = False) -> torch.Tensor:
        return self.forward_head(self.forward_features(x), steps)

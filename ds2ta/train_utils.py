"""Training helpers: recipe dataclass, warmup + cosine schedule, mixup, seeding, torch.distributed set-up."""

from __future__ import annotations

import dataclasses
import math
import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F


@dataclass
class TrainConfig:
    """Training recipe (all fields are CLI options of ``ds2ta-train``).

    Attributes:
        epochs: length of the cosine schedule and of the run.
        batch_size: global batch (split evenly over torchrun processes).
        lr: peak AdamW learning rate (reached after the warmup).
        weight_decay: AdamW decoupled weight decay.
        warmup_epochs: linear warmup length in epochs (may be fractional).
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        label_smoothing: cross-entropy label smoothing.
        mixup: Beta(alpha, alpha) mixup strength; 0 switches it off.
        loss: ``"mean"`` (cross-entropy of the time-mean logits) or ``"tet"`` (Temporal Efficient
            Training, used by STAtten's DVS configs: see ``tet_loss``).
        tet_lambda: weight of TET's MSE term (the official code's ``lamb = 1e-3``).
        seed: seeds model init, shuffling, augmentation and mixup.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: mixed precision (bfloat16, else float16 with a grad scaler) — CUDA only.
        num_workers: DataLoader workers.
        eval_every: evaluate on the test split every N epochs (and always after the last one).
        progress: show tqdm bars (rank 0 only).
        checkpoint_activations: recompute the SPS and each encoder block in backward instead of
            storing their activations (:class:`ds2ta.DS2TA` only): less memory, same gradients,
            one more forward pass per step (docs/training.md, "Memory").
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.1
    mixup: float = 0.0
    loss: str = "mean"
    tet_lambda: float = 1e-3
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    num_workers: int = 0
    eval_every: int = 1
    progress: bool = True
    checkpoint_activations: bool = False

    def __post_init__(self) -> None:
        checks = [(self.epochs >= 1, "epochs must be >= 1"),
                  (self.batch_size >= 1, "batch_size must be >= 1"),
                  (self.lr > 0, "lr must be positive"),
                  (self.weight_decay >= 0, "weight_decay must be >= 0"),
                  (self.warmup_epochs >= 0, "warmup_epochs must be >= 0"),
                  (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
                  (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
                  (self.mixup >= 0, "mixup must be >= 0 (0 = off)"),
                  (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
                  (0 <= self.tet_lambda < 1, "tet_lambda must be in [0, 1)"),
                  (self.eval_every >= 1, "eval_every must be >= 1")]
        for ok, msg in checks:
            if not ok:
                raise ValueError(f"TrainConfig: {msg}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Learning-rate multiplier: linear ``(step+1)/warmup`` then cosine from 1 down to ``min_ratio``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(opt: torch.optim.Optimizer, tcfg: TrainConfig, steps_per_epoch: int):
    """Per-step ``LambdaLR`` with :func:`warmup_cosine`."""
    total = tcfg.epochs * steps_per_epoch
    warm = int(round(tcfg.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total, warm, tcfg.min_lr_ratio))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases, norm parameters, TASA decays and NSAD tables (1-D or scalar)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 and "nsad" not in name else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


LOSSES = ("mean", "tet")
TET_MEANS = 1.0  # the MSE target of TET's regulariser (official code: means=1.0)


def tet_loss(steps: torch.Tensor, y: torch.Tensor, label_smoothing: float, lamb: float) -> torch.Tensor:
    """TET (Deng et al., ICLR 2022), as STAtten / SDT train their DVS configs:
    ``(1 - lamb) mean_t CE(o_t, y) + lamb MSE(o, TET_MEANS)`` over per-step logits ``steps`` (T, B, C)."""
    T = steps.shape[0]
    ce = sum(F.cross_entropy(steps[t], y, label_smoothing=label_smoothing) for t in range(T)) / T
    if lamb == 0:
        return ce
    return (1 - lamb) * ce + lamb * F.mse_loss(steps, torch.full_like(steps, TET_MEANS))


def mixup_batch(x: torch.Tensor, y: torch.Tensor, alpha: float, gen: torch.Generator):
    """Mix a batch with a shuffled copy: returns ``(x_mixed, y, y_shuffled, lam)``."""
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                .beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=gen).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], y, y[perm], lam


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def check_device(name: str, option: str = "--device") -> torch.device:
    """A torch device this machine has, or a ValueError naming the option and the fix."""
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"{option} {name!r}: not a torch device; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{option} {name}: this machine has no CUDA device; use {option} cpu")
    return dev


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available (the local rank's GPU under torchrun), else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available: use --device cpu")
        if dev.index is None:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    return dev


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1; returns ``(rank, world_size)``.

    Uses NCCL on CUDA and gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum numbers over all processes (no-op without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()

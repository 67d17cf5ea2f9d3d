"""Quantization-aware fine-tuning: straight-through rounding of weights to the export grid.

Each conv/linear weight is replaced in the forward pass by its per-output-channel rounding to
``2^(bits-1)`` levels of ``max|W_c| / (2^(bits-1) - 1)`` steps (the grid the export uses after
folding BN and the LIF gain, which scale whole output channels); gradients pass straight through.
BatchNorm statistics stay frozen so the folding the export does matches what was trained.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import parametrize
from tqdm import tqdm


class FakeQuant(nn.Module):
    """Per-output-channel symmetric rounding with a straight-through gradient."""

    def __init__(self, bits: int):
        super().__init__()
        self.levels = 2 ** (bits - 1) - 1

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        amax = w.detach().abs().flatten(1).amax(1).clamp(min=1e-12)
        step = (amax / self.levels).view(-1, *([1] * (w.dim() - 1)))
        return w + (torch.round(w / step) * step - w).detach()


def qat_finetune(model, train_x: torch.Tensor, train_y: torch.Tensor, epochs: int, bits: int = 8,
                 lr: float = 1e-4, batch_size: int = 64, seed: int = 0, progress: bool = True):
    """Fine-tune ``model`` in place for ``epochs`` with fake-quantized weights; returns the model."""
    if epochs <= 0:
        return model
    targets = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    for m in targets:
        parametrize.register_parametrization(m, "weight", FakeQuant(bits))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    dev = next(model.parameters()).device  # batches go where the model is (CPU or CUDA)
    try:
        for _ in tqdm(range(epochs), desc="QAT", disable=not progress):
            model.train()
            for m in model.modules():  # freeze BN statistics (the export folds them)
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
            perm = torch.randperm(train_x.shape[0], generator=g)
            for lo in range(0, len(perm), batch_size):
                idx = perm[lo:lo + batch_size]
                loss = nn.functional.cross_entropy(model(train_x[idx].to(dev)), train_y[idx].to(dev))
                opt.zero_grad()
                loss.backward()
                opt.step()
    finally:
        for m in targets:  # keep the latent float weights; the export rounds them onto the same grid
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
        model.eval()
    return model

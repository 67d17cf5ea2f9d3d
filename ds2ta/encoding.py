"""Input encoding: what the network (float model or chip) receives at each time step, time-major.

``direct``: a static frame ``(B, ...)`` is presented at every one of the ``T`` steps;
``events``: event frames ``(B, T, ...)`` are presented one per step. Both give ``(T, B, ...)``
(docs/architecture.md, time-axis conventions). Used by the float model, the exporter's integer
evaluation and the simulators' sample loader, on torch tensors or numpy arrays alike.
"""

from __future__ import annotations

import numpy as np
import torch

ENCODINGS = ("direct", "events")


def time_major(x, T: int, encoding: str):
    """``(T, B, ...)`` view of ``x``: ``direct`` repeats ``x`` (B, ...) over T steps, ``events``
    swaps the axes of ``x`` (B, T, ...).

    Raises:
        ValueError: an unknown encoding.
    """
    if encoding == "direct":
        if isinstance(x, torch.Tensor):
            return x.unsqueeze(0).expand(T, *x.shape)  # (T, B, ...), the same frame each step
        return np.broadcast_to(x[None], (T, *x.shape))
    if encoding == "events":
        return x.transpose(0, 1) if isinstance(x, torch.Tensor) else np.swapaxes(x, 0, 1)  # (B, T) -> (T, B)
    raise ValueError(f"encoding {encoding!r}: choose one of {ENCODINGS}")

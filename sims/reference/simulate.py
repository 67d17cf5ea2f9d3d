"""Whole-dataset runs of the reference executor in the brief's ``simulation.json`` shape."""

from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence, Union

import nir
import numpy as np
import torch
from tqdm import tqdm

from ds2ta.sims.reference.executor import COUNT_KEYS, ReferenceExecutor


def simulate(graph: Union[str, os.PathLike, nir.NIRGraph, ReferenceExecutor], x_int: torch.Tensor,
             labels: Sequence[int], batch_size: int = 64, device: str = "cpu",
             progress: bool = False) -> dict:
    """Run the integer reference over samples; returns the ``simulation.json`` dict of the brief.

    Args:
        graph: exported graph (path or object) or a ready executor.
        x_int: integer inputs ``(T, S, *input_shape)`` (time-major; S samples).
        labels: S integer labels.
        batch_size: samples per executor call.
        device: torch device when ``graph`` is not an executor.
        progress: show a tqdm bar.
    """
    ex = graph if isinstance(graph, ReferenceExecutor) else ReferenceExecutor(graph, device=device)
    labels = [int(v) for v in labels]
    S = x_int.shape[1]
    if len(labels) != S:
        raise ValueError(f"{len(labels)} labels for {S} samples")
    t0 = time.perf_counter()
    totals: Dict[str, Dict[str, int]] = {}
    per_sample: List[dict] = []
    correct = 0
    for lo in tqdm(range(0, S, batch_size), disable=not progress, desc="reference"):
        res = ex.run(x_int[:, lo:lo + batch_size])
        for n, c in res.counts.items():
            acc = totals.setdefault(n, dict.fromkeys(COUNT_KEYS, 0))
            for k in COUNT_KEYS:
                acc[k] = c[k] if k == "neurons" else acc[k] + c[k]
        for b, p in enumerate(res.prediction.tolist()):
            lab = labels[lo + b]
            correct += int(p == lab)
            per_sample.append({"label": lab, "prediction": int(p),
                               "layers": {n: {"spikes": int(v[b])} for n, v in res.sample_spikes.items()}})
    src = graph if isinstance(graph, (str, os.PathLike)) else None
    return {"backend": "reference", "graph": None if src is None else str(src), "samples": S,
            "T": int(x_int.shape[0]), "latency_steps": ex.latency_steps, "layers": totals,
            "per_sample": per_sample, "accuracy": correct / max(S, 1),
            "wall_s": time.perf_counter() - t0}


def first_divergence(rec_a: Dict[str, torch.Tensor], rec_b: Dict[str, torch.Tensor],
                     order: Sequence[str]) -> Optional[dict]:
    """First (layer in ``order``, then step, sample, neuron) where two spike recordings differ.

    Args:
        rec_a, rec_b: ``{node: (T, B, *shape)}`` recordings (e.g. ``RunResult.record``).
        order: node names in execution order; nodes missing from either recording are skipped.

    Returns:
        ``None`` when equal, else ``{"sample", "layer", "step", "neuron"}`` (neuron = flat index).
    """
    for n in order:
        if n not in rec_a or n not in rec_b:
            continue
        a = torch.as_tensor(np.asarray(rec_a[n])).long().cpu()
        b = torch.as_tensor(np.asarray(rec_b[n])).long().cpu()
        if a.shape != b.shape:
            raise ValueError(f"layer {n!r}: recordings have shapes {tuple(a.shape)} and {tuple(b.shape)}")
        diff = (a != b).reshape(a.shape[0], a.shape[1], -1)
        if diff.any():
            t, s, j = (int(v) for v in diff.nonzero()[0])
            return {"sample": s, "layer": n, "step": t, "neuron": j}
    return None

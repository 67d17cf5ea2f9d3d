"""Whole-dataset runs of the reference executor in the ``simulation.json`` shape (``ds2ta.sims.results``)."""

from __future__ import annotations

import os
import time
from typing import Callable, Dict, Optional, Sequence, Union

import nir
import torch
from tqdm import tqdm

from ds2ta.sims.reference.executor import ReferenceExecutor, RunResult
from ds2ta.sims.results import add_counts, first_divergence, result_dict, sample_rows

__all__ = ["simulate", "first_divergence"]


def simulate(graph: Union[str, os.PathLike, nir.NIRGraph, ReferenceExecutor], x_int: torch.Tensor,
             labels: Sequence[Optional[int]], batch_size: int = 64, device: str = "cpu",
             progress: bool = False, first_index: int = 0,
             on_batch: Optional[Callable[[int, RunResult], None]] = None) -> dict:
    """Run the integer reference over samples; returns one backend's ``simulation.json`` dict.

    Args:
        graph: exported graph (path or object) or a ready executor.
        x_int: integer inputs ``(T, S, *input_shape)`` (time-major; S samples).
        labels: S integer labels (``None`` entries for unlabelled samples).
        batch_size: samples per executor call.
        device: torch device when ``graph`` is not an executor.
        progress: show a tqdm bar.
        first_index: global index of the first sample (shards of a longer run).
        on_batch: called as ``on_batch(lo, result)`` with every batch's ``RunResult`` recorded
            (``record=True``), e.g. to compare it with another backend.
    """
    ex = graph if isinstance(graph, ReferenceExecutor) else ReferenceExecutor(graph, device=device)
    S = x_int.shape[1]
    if len(labels) != S:
        raise ValueError(f"{len(labels)} labels for {S} samples")
    t0 = time.perf_counter()
    totals: Dict[str, dict] = {}
    rows = []
    with tqdm(total=S, disable=not progress, desc="reference", unit="sample") as bar:
        for lo in range(0, S, batch_size):
            res = ex.run(x_int[:, lo:lo + batch_size], record=on_batch is not None)
            add_counts(totals, res.counts)
            n = int(res.prediction.shape[0])
            rows += sample_rows(first_index + lo, list(labels[lo:lo + n]), res.prediction.tolist(),
                                {k: v.tolist() for k, v in res.sample_spikes.items()})
            if on_batch is not None:
                on_batch(lo, res)
            bar.update(n)
    src = graph if isinstance(graph, (str, os.PathLike)) else None
    return result_dict("reference", None if src is None else str(src), int(x_int.shape[0]), ex.latency_steps,
                       totals, rows, time.perf_counter() - t0, device=str(ex.device))

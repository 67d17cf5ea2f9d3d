"""Integer samples for a graph: a built-in dataset by name, or a folder with ``x_int.npy``.

The chip receives integers (``x_int = round(x / input_scale)``): static images are repeated over the
T steps (direct encoding), event frames are used step by step. Never downloads (``ds2ta.data``).
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import nir
import numpy as np

from ds2ta.encoding import time_major
from ds2ta.hardware import graph as meta


def graph_T(graph: nir.NIRGraph, T: Optional[int]) -> int:
    """Steps per sample: ``T`` when given, else the exported graph's ``conventions.T``."""
    if T is not None:
        if int(T) < 1:
            raise ValueError(f"--T {T}: give a positive number of steps")
        return int(T)
    T = meta.graph_T(graph)
    if T is None:
        raise ValueError("the graph does not say how many steps a sample takes (no metadata "
                         "conventions.T, e.g. a third-party graph): pass --T")
    return T


def graph_input_shape(graph: nir.NIRGraph) -> Tuple[int, ...]:
    """Shape of the graph's single top-level Input node."""
    ins = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
    if len(ins) != 1:
        raise ValueError(f"the graph needs exactly one top-level Input node, found {len(ins)}")
    return tuple(int(v) for v in np.asarray(ins[0].input_type["input"]).reshape(-1))


def _time_major(x: np.ndarray, in_shape: tuple, T: int, where: str) -> np.ndarray:
    """(S, *in) static -> (T, S, *in) repeated; (S, T, *in) events -> (T, S, *in)."""
    n_in = int(np.prod(in_shape))
    if x.ndim >= 2 and int(np.prod(x.shape[1:])) == n_in:
        return time_major(x.reshape(x.shape[0], *in_shape), T, "direct")
    if x.ndim >= 3 and x.shape[1] == T and int(np.prod(x.shape[2:])) == n_in:
        return np.ascontiguousarray(time_major(x.reshape(x.shape[0], T, *in_shape), T, "events"))
    raise ValueError(f"{where}: samples of shape {x.shape[1:]} fit neither the graph input {in_shape} "
                     f"(static, repeated over T) nor (T={T}, *{in_shape}) (events)")


def _load_npy(f: Path) -> np.ndarray:
    try:
        return np.load(f, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{f}: not a readable .npy array ({e}); write it with numpy.save") from None


def _check_range(start: int, end: Optional[int], available: int, what: str) -> None:
    """``--start``/``--samples`` must select samples that exist (no silent clamping)."""
    if start >= available:
        raise ValueError(f"--start {start}: {what} has {available} samples (indices 0..{available - 1})")
    if end is not None and end > available:
        raise ValueError(f"--start {start} --samples {end - start}: {what} has only {available} samples; "
                         f"pass --samples {available - start} or fewer, or leave it out for all")


def load_samples(graph: nir.NIRGraph, dataset: Optional[str], samples: Optional[int], T: int,
                 data_dir: Optional[str] = None, start: int = 0
                 ) -> Tuple[np.ndarray, List[Optional[int]], dict]:
    """Test samples ``[start, start + samples)`` as integer inputs for ``graph``.

    Args:
        graph: the NIR graph (input shape; metadata names the training dataset).
        dataset: a folder with ``x_int.npy`` (and optional ``labels.npy``), a dataset name from
            ``ds2ta.data.DATASETS``, or None for the graph's own dataset (``metadata.dataset.name``).
        samples: how many (None: all from ``start``).
        T: steps per sample.
        data_dir: folder with CIFAR/DVS files for those datasets.
        start: index of the first sample.

    Returns:
        ``(x_int (T, S, *input_shape) int64, labels (None when unknown), info)``.
    """
    in_shape = graph_input_shape(graph)
    if dataset is None:
        dataset = meta.dataset_name(graph)
        if dataset is None:
            raise ValueError("the graph does not name its dataset: pass --dataset NAME or a folder with x_int.npy")
    path = Path(dataset)
    if start < 0:
        raise ValueError(f"--start {start}: the first sample index must be >= 0")
    if samples is not None and int(samples) < 1:
        raise ValueError(f"--samples {samples}: give at least 1 (or leave it out for all)")
    end = None if samples is None else start + int(samples)
    if path.is_dir():
        xf = path / "x_int.npy"
        if not xf.exists():
            raise ValueError(f"--dataset {path}: expected x_int.npy (integer inputs, (S, *input) or "
                             "(S, T, *input)) and optionally labels.npy in the folder")
        x_all = _load_npy(xf)
        _check_range(start, end, x_all.shape[0], str(xf))
        x = x_all[start:end]
        if x.dtype.kind == "f" and np.any(x != np.round(x)):
            raise ValueError(f"{xf}: inputs must be integers (the chip gets x_int, not floats)")
        yf = path / "labels.npy"
        labels = [None] * x.shape[0]
        if yf.exists():
            y_all = _load_npy(yf)
            if y_all.shape[:1] != x_all.shape[:1]:
                raise ValueError(f"{yf}: {y_all.shape[0] if y_all.ndim else 0} labels for {x_all.shape[0]} "
                                 f"samples in {xf.name}; write one label per sample")
            labels = [int(v) for v in y_all[start:end]]
        info = {"dataset": str(path), "split": "folder"}
    else:
        from ds2ta.data import get_dataset, to_int

        _, test, dinfo = get_dataset(dataset, data_dir=data_dir, T=T, augment=False)
        _check_range(start, end, len(test), f"the {dataset} test split")
        stop = len(test) if end is None else min(end, len(test))
        if start >= stop:
            raise ValueError(f"--samples/--start select nothing: the {dataset} test split has {len(test)} samples")
        items = [test[i] for i in range(start, stop)]
        import torch

        x = to_int(torch.stack([it[0] for it in items]), dinfo).long().numpy()
        labels = [int(it[1]) for it in items]
        info = {"dataset": dataset, "split": "test", "input_scale": dinfo.get("input_scale")}
    x = np.asarray(x).astype(np.int64)
    if x.shape[0] == 0:
        raise ValueError(f"no samples selected from {dataset} (start {start}, samples {samples})")
    return _time_major(x, in_shape, T, str(dataset)), labels, info


def shard_range(total: int, shard: str) -> Tuple[int, int, int, int]:
    """``"I/N"`` -> ``(index, count, start, stop)``: contiguous, near-equal blocks of ``total`` samples."""
    try:
        i, n = (int(v) for v in shard.split("/"))
    except ValueError:
        raise ValueError(f"--shard {shard!r}: write I/N, e.g. 0/4 for the first of four shards") from None
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"--shard {shard!r}: need 0 <= I < N")
    lo, hi = (total * i) // n, (total * (i + 1)) // n
    return i, n, lo, hi


def count_samples(dataset: Optional[str], graph: nir.NIRGraph, data_dir: Optional[str], T: int) -> int:
    """Number of test samples a dataset (name or folder) has."""
    if dataset is not None and Path(dataset).is_dir():
        return int(np.load(Path(dataset) / "x_int.npy", mmap_mode="r").shape[0])
    from ds2ta.data import get_dataset

    name = dataset or meta.dataset_name(graph)
    if name is None:
        raise ValueError("the graph does not name its dataset: pass --dataset")
    return len(get_dataset(name, data_dir=data_dir, T=T, augment=False)[1])


__all__ = ["graph_T", "graph_input_shape", "load_samples", "shard_range", "count_samples"]

"""GPU energy per inference from NVML's cumulative energy counter (pynvml), or a labelled model.

NVML's ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load, Volta+) updates every
20-100 ms and H100 power sensing samples only part of the time, so each figure integrates a window
of at least ``min_seconds`` (default 10 s) of repeated, synchronised, warmed-up inference. Idle
power is measured over its own window and subtracted for the "idle-subtracted" figure.
"""

from __future__ import annotations

import time
from typing import Callable

from .profiles import GPU_J_PER_FLOP


def available(index: int = 0) -> bool:
    """Whether NVML reports a GPU with an energy counter."""
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return True
    except Exception:  # no driver, no GPU, or no counter: all mean "cannot measure"
        return False


def measure(run_batch: Callable[[], None], batch_size: int, min_seconds: float = 10.0, warmup: int = 3,
            idle_seconds: float = 5.0, index: int = 0, clock=time.perf_counter, sleep=time.sleep) -> dict:
    """Energy per inference of ``run_batch`` (one synchronised forward of ``batch_size`` samples).

    Args:
        run_batch: Runs one batch and returns after the device has finished (call
            ``torch.cuda.synchronize()`` inside).
        batch_size: Samples per call.
        min_seconds: Shortest measured window (>= 10 s recommended for NVML).
        warmup: Calls before measuring.
        idle_seconds: Idle window for the idle power.
        index: GPU index.

    Returns:
        Dict with ``energy_J`` (total per inference), ``energy_idle_subtracted_J``, ``idle_W``,
        ``avg_W``, ``latency_s`` (per batch), ``window_s``, ``calls``, ``batch_size``, grade M.
    """
    import pynvml

    if batch_size < 1 or min_seconds <= 0:
        raise ValueError(f"batch_size={batch_size} and min_seconds={min_seconds} must be positive")
    pynvml.nvmlInit()
    h = pynvml.nvmlDeviceGetHandleByIndex(index)
    name = pynvml.nvmlDeviceGetName(h)
    e0, t0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h), clock()
    sleep(idle_seconds)
    idle_W = (pynvml.nvmlDeviceGetTotalEnergyConsumption(h) - e0) / 1e3 / max(clock() - t0, 1e-9)
    for _ in range(warmup):
        run_batch()
    calls = 0
    e0, t0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(h), clock()
    while clock() - t0 < min_seconds:
        run_batch()
        calls += 1
    window = clock() - t0
    energy = (pynvml.nvmlDeviceGetTotalEnergyConsumption(h) - e0) / 1e3
    n = calls * batch_size
    return {"device": name if isinstance(name, str) else name.decode(), "batch_size": batch_size,
            "calls": calls, "window_s": window, "energy_J": energy / n,
            "energy_idle_subtracted_J": (energy - idle_W * window) / n, "idle_W": idle_W,
            "avg_W": energy / window, "latency_s": window / calls, "grade": "M",
            "source": "NVML nvmlDeviceGetTotalEnergyConsumption over a >= %.0f s window" % min_seconds}


def modeled(flops_per_inference: float) -> dict:
    """A clearly labelled lower bound when no GPU is present (never a measurement)."""
    return {"kind": "modeled", "label": "MODELED lower bound, not a measurement (no GPU present)",
            "flops_per_inference": flops_per_inference,
            "energy_J": flops_per_inference * GPU_J_PER_FLOP.value, "grade": GPU_J_PER_FLOP.grade,
            "source": GPU_J_PER_FLOP.source}


def measure_torch(model, x, batch_sizes=(1, 256), min_seconds: float = 10.0, device: str = "cuda") -> dict:
    """Batch-1 and batched NVML measurements of a torch model's forward pass.

    Args:
        model: A torch module taking ``x``-shaped batches (e.g. ``ds2ta.DS2TA``).
        x: One batch of inputs (first dim = batch); it is repeated/cut to each batch size.
        batch_sizes: Batch sizes to measure (default 1 and 256).
        min_seconds: Window per measurement.
        device: CUDA device.

    Returns:
        ``{"batch_<n>": measure(...) dict}``; pass it as ``estimate(..., gpu=...)``.
    """
    import torch

    model = model.to(device).eval()
    out = {}
    for b in batch_sizes:
        reps = -(-b // x.shape[0])
        xb = x.repeat((reps,) + (1,) * (x.dim() - 1))[:b].to(device)

        def run():
            with torch.no_grad():
                model(xb)
            torch.cuda.synchronize()

        out[f"batch_{b}"] = measure(run, b, min_seconds=min_seconds)
    return out

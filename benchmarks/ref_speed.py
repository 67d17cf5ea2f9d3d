"""Benchmark: the integer reference executor against the float model's forward, on CPU (issue 20, item 5).

The same ``--samples`` test samples of the graph's dataset go through the float PyTorch model (eval,
``no_grad``) and through ``ReferenceExecutor(graph, attention_lowering=L).run`` for both lowerings
(``neurons``: the attention as its library-neuron populations, ``core``: one opaque core), in batches of
``--batch``, with ``--threads`` torch threads. Each timing is the fastest of ``--repeats`` passes over all
samples, the three kinds of pass interleaved so that a busy spell of a shared machine hits each of them
(the executors are built once, outside the timing); process CPU seconds are reported beside wall time.
Prints ms per sample side by side with the ratio reference / float.

Usage::

    python benchmarks/ref_speed.py --ckpt runs/scale/cifar10/train/model.pt \\
        --graph runs/scale/cifar10/export-neurons/model.nir [--samples 16 --batch 16 --repeats 3]
        [--threads 2] [--out runs/ref_speed/ref_speed.json] [--profile neurons|core]

``--profile L`` prints where one reference run of lowering ``L`` spends its time: per node its input sum,
kernel and counting seconds, totals per kernel kind, and the Python functions with the most own time
(``cProfile``: the convolutions, the LIF steps, the lowered attention's ``attention_activity`` work,
dtype conversions).

``measure(ckpt, graph, samples, batch, repeats, threads)`` returns the numbers as a dict
(``benchmarks/sim_speed.py`` imports it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch

LOWERINGS = ("neurons", "core")


def _graph(graph):
    import nir

    from ds2ta.export.nir_io import read_graph
    return graph if isinstance(graph, nir.NIRGraph) else read_graph(graph)


def load_inputs(graph, model, samples: int) -> Tuple[torch.Tensor, torch.Tensor, list]:
    """The first ``samples`` test samples of the graph's dataset: integer input ``(T, S, *shape)`` for the
    reference, float input for the model (``x_int * input_scale``: ``(S, C, H, W)`` images or
    ``(S, T, C, H, W)`` event frames), and the labels."""
    from ds2ta.sims.data import graph_T, load_samples

    x_int, labels, info = load_samples(graph, None, samples, graph_T(graph, None), None)
    x_int = torch.from_numpy(x_int.copy())
    scale = info.get("input_scale")
    if scale is None:
        raise ValueError("the graph's dataset gives no input_scale: the float model's input is unknown")
    if model.cfg.encoding == "direct":  # the image repeated over T: step 0 is the image
        x_float = x_int[0].float() * float(scale)
    else:
        x_float = x_int.transpose(0, 1).float() * float(scale)
    return x_int, x_float, labels


def _timed_call(fn) -> Tuple[float, float]:
    """Wall and process CPU seconds (all threads) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _batches(n: int, batch: int):
    return [(lo, min(n, lo + batch)) for lo in range(0, n, batch)]


def measure(ckpt, graph, samples: int = 16, batch: int = 16, repeats: int = 3, threads: int = 2,
            lowerings: Sequence[str] = LOWERINGS) -> dict:
    """Float forward vs the integer reference (each lowering) on the same samples, best of ``repeats``.

    Args:
        ckpt: the float model's checkpoint (``model.pt``).
        graph: its exported graph (``model.nir`` path or ``nir.NIRGraph``).
        samples: test samples of the graph's dataset; batch: samples per forward / reference run;
        repeats: passes over all samples (the fastest counts); threads: ``torch.set_num_threads``.

    Returns:
        ``{"float_ms_per_sample", "reference_ms_per_sample": {L: ms}, "ratio": {L: ref / float},
        "float_cpu_ms_per_sample", "reference_cpu_ms_per_sample": {L: ms}, "cpu_ratio": {L: ...},
        "float_s_all", "reference_s_all": {L: [s]}, "build_s": {L: s}, "samples", "batch", "repeats",
        "threads", "T", "loadavg_start", "loadavg_end", ...}`` (wall times fastest of the repeats, CPU
        times least of them).
    """
    from ds2ta.checkpoint import load_checkpoint
    from ds2ta.sims.reference import ReferenceExecutor

    torch.set_num_threads(int(threads))
    g = _graph(graph)
    model, _ = load_checkpoint(ckpt)
    model.eval()
    x_int, x_float, _ = load_inputs(g, model, samples)
    S = int(x_int.shape[1])
    parts = _batches(S, batch)
    load0 = os.getloadavg()

    @torch.no_grad()
    def float_pass():
        for lo, hi in parts:
            model(x_float[lo:hi])

    execs = {}
    build = {}
    for low in lowerings:
        t0 = time.perf_counter()
        execs[low] = ReferenceExecutor(g, attention_lowering=low)
        build[low] = time.perf_counter() - t0
    passes = {"float": float_pass,
              **{low: (lambda ex=ex: [ex.run(x_int[:, lo:hi]) for lo, hi in parts]) for low, ex in execs.items()}}
    wall: Dict[str, list] = {k: [] for k in passes}
    cpu: Dict[str, list] = {k: [] for k in passes}
    for _ in range(max(1, repeats)):  # interleaved: a busy spell of a shared machine hits every column
        for key, fn in passes.items():
            w, c = _timed_call(fn)
            wall[key].append(w)
            cpu[key].append(c)
    f_best, f_cpu = min(wall["float"]), min(cpu["float"])
    res = {"samples": S, "batch": int(batch), "repeats": int(repeats), "threads": int(threads),
           "T": int(x_int.shape[0]), "float_ms_per_sample": 1e3 * f_best / S, "float_s_all": wall["float"],
           "float_cpu_ms_per_sample": 1e3 * f_cpu / S, "reference_ms_per_sample": {}, "reference_s_all": {},
           "reference_cpu_ms_per_sample": {}, "ratio": {}, "cpu_ratio": {}, "build_s": build}
    for low in lowerings:
        best, every, c = min(wall[low]), wall[low], min(cpu[low])
        res["reference_ms_per_sample"][low] = 1e3 * best / S
        res["reference_s_all"][low] = every
        res["reference_cpu_ms_per_sample"][low] = 1e3 * c / S
        res["ratio"][low] = best / f_best
        res["cpu_ratio"][low] = c / f_cpu
    res.update(loadavg_start=load0, loadavg_end=os.getloadavg(), cpu_count=os.cpu_count(),
               torch=torch.__version__, python=platform.python_version())
    return res


# -- profile --------------------------------------------------------------------------------------
@contextmanager
def _timed(ex, table: Dict[str, Dict[str, float]]):
    """Patch ``ex``'s input sums, kernels and counting (on the instances) to add seconds per node."""
    current = {"node": None}
    sum_inputs, count = ex._sum_inputs, ex._count

    def wrap(fn, key, node_of):
        def inner(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                table[node_of(a)][key] += time.perf_counter() - t0
        return inner

    ex._sum_inputs = wrap(sum_inputs, "inputs", lambda a: a[0])
    ex._count = wrap(count, "count", lambda a: a[0])
    for n, k in ex.kernels.items():
        k.forward = wrap(k.forward, "kernel", lambda a, n=n: n)
    try:
        yield
    finally:
        del ex._sum_inputs, ex._count
        for k in ex.kernels.values():
            del k.forward


def profile(ckpt, graph, lowering: str = "neurons", samples: int = 16, batch: int = 16, threads: int = 2,
            top: int = 25, file=sys.stdout) -> dict:
    """Print where one reference run (first ``batch`` samples) spends its time; returns per-node seconds."""
    from ds2ta.checkpoint import load_checkpoint
    from ds2ta.sims.reference import ReferenceExecutor

    torch.set_num_threads(int(threads))
    g = _graph(graph)
    model, _ = load_checkpoint(ckpt)
    x_int, _, _ = load_inputs(g, model, samples)
    x = x_int[:, :batch]
    ex = ReferenceExecutor(g, attention_lowering=lowering)
    ex.run(x)  # warm-up (allocator, oneDNN primitives)
    table: Dict[str, Dict[str, float]] = defaultdict(lambda: defaultdict(float))
    with _timed(ex, table):
        t0 = time.perf_counter()
        ex.run(x)
        wall = time.perf_counter() - t0
    S = int(x.shape[1])
    print(f"reference, lowering {lowering!r}: {1e3 * wall:.0f} ms for {S} samples "
          f"({1e3 * wall / S:.1f} ms/sample), {threads} threads", file=file)
    rows = sorted(table.items(), key=lambda kv: -sum(kv[1].values()))
    print(f"{'node':40s} {'kind':16s} {'inputs':>8s} {'kernel':>8s} {'count':>8s} {'total':>8s}  (ms)", file=file)
    kinds: Dict[str, Dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for n, t in rows:
        kind = type(ex.kernels[n]).__name__
        for key, v in t.items():
            kinds[kind][key] += v
    for n, t in rows[:top]:
        print(f"{n:40s} {type(ex.kernels[n]).__name__:16s} {1e3 * t['inputs']:8.1f} {1e3 * t['kernel']:8.1f} "
              f"{1e3 * t['count']:8.1f} {1e3 * sum(t.values()):8.1f}", file=file)
    print("per kernel type:", file=file)
    for kind, t in sorted(kinds.items(), key=lambda kv: -sum(kv[1].values())):
        print(f"  {kind:16s} inputs {1e3 * t['inputs']:8.1f}  kernel {1e3 * t['kernel']:8.1f}  "
              f"count {1e3 * t['count']:8.1f}  total {1e3 * sum(t.values()):8.1f}", file=file)
    accounted = sum(sum(t.values()) for t in table.values())
    print(f"  (outside nodes: {1e3 * (wall - accounted):.1f} ms)", file=file)
    prof = cProfile.Profile()
    prof.enable()
    ex.run(x)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    print(buf.getvalue(), file=file)
    return {n: dict(t) for n, t in table.items()}


def _print(res: dict, file=sys.stdout) -> None:
    print(f"{res['samples']} samples, batch {res['batch']}, T={res['T']}, {res['threads']} threads, best of "
          f"{res['repeats']}; load average {res['loadavg_start'][0]:.2f} -> {res['loadavg_end'][0]:.2f} "
          f"({res['cpu_count']} CPUs)", file=file)
    print(f"{'':18s} {'ms/sample':>10s} {'x float':>8s} {'cpu ms/sample':>14s} {'x float':>8s}", file=file)
    print(f"{'float forward':18s} {res['float_ms_per_sample']:10.1f} {1.0:8.2f} "
          f"{res['float_cpu_ms_per_sample']:14.1f} {1.0:8.2f}", file=file)
    for low, ms in res["reference_ms_per_sample"].items():
        print(f"{'reference ' + low:18s} {ms:10.1f} {res['ratio'][low]:8.2f} "
              f"{res['reference_cpu_ms_per_sample'][low]:14.1f} {res['cpu_ratio'][low]:8.2f}", file=file)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt", required=True, help="float checkpoint (model.pt)")
    p.add_argument("--graph", required=True, help="its exported graph (model.nir)")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lowerings", default=",".join(LOWERINGS), help="comma-separated: neurons,core")
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    p.add_argument("--profile", choices=LOWERINGS, default=None,
                   help="print a per-node time breakdown of one reference run of this lowering (no timing table)")
    a = p.parse_args(argv)
    if a.profile:
        profile(a.ckpt, a.graph, a.profile, a.samples, a.batch, a.threads)
        return 0
    res = measure(a.ckpt, a.graph, a.samples, a.batch, a.repeats, a.threads,
                  [s for s in a.lowerings.split(",") if s])
    _print(res)
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1))
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

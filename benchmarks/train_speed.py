"""Benchmark: training throughput and memory of a preset, ds2ta's LIF vs spikingjelly's LIFNode.

Builds the ``cifar10`` preset twice with identical weights: once as is, once with every
:class:`ds2ta.neuron.LIF` replaced by spikingjelly's multi-step ``LIFNode`` with the same dynamics
(tau=2, decay_input, v_reset=0, detach_reset, sigmoid surrogate alpha=4, ``step_mode='m'``; backend
``torch`` on CPU, ``cupy`` on CUDA when installed), plus ds2ta with activation checkpointing
(``checkpoint_activations``: SPS and blocks recomputed in backward). Checks all give the same
logits, then:

* speed: times forward + backward (no optimizer step; identical for all) at ``--batch``,
  interleaving the models so background load hits them alike, and prints samples/s from the fastest
  step of each (the one least disturbed by other processes; medians are reported too) and the
  ratios (> 1: ds2ta faster; checkpointed / plain < 1: the price of the recomputation);
* memory (``--mem-steps`` > 0): each variant in its own fresh process (so peaks do not mix) runs
  ``--mem-steps`` full training steps (forward, backward, AdamW) at the same batch and reports its
  peak RSS (``VmHWM``), its RSS before the first step, and the bytes autograd keeps for backward
  after the first forward (distinct storages of the saved tensors still held by the graph, seen
  through saved-tensor hooks: independent of the allocator and of other processes).
  spikingjelly is not run checkpointed: its ``LIFNode`` keeps its membrane state after a forward,
  so a recomputation would start from the wrong ``v``.

Usage::

    python benchmarks/train_speed.py [--iters 3] [--batch 8] [--mem-steps 2] [--device cpu|cuda]
                                     [--attention ds2ta] [--out result.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
import weakref

VARIANTS = ("ds2ta", "ds2ta-checkpointed", "spikingjelly")
MIB = 2 ** 20


def to_spikingjelly(model, backend: str):
    """A deep copy of ``model`` whose LIF modules are spikingjelly multi-step ``LIFNode``s."""
    from spikingjelly.activation_based import neuron, surrogate

    from ds2ta.neuron import LIF

    sj = copy.deepcopy(model)
    targets = [(name, m) for name, m in sj.named_modules() if isinstance(m, LIF)]
    for name, m in targets:
        p = m.params
        node = neuron.LIFNode(tau=p.tau, decay_input=True, v_threshold=p.v_threshold, v_reset=0.0,
                              surrogate_function=surrogate.Sigmoid(alpha=p.alpha),
                              detach_reset=p.detach_reset, step_mode="m", backend=backend)
        parent_name, _, attr = name.rpartition(".")
        setattr(sj.get_submodule(parent_name) if parent_name else sj, attr, node)
    return sj, len(targets)


def build_variant(variant: str, preset: str, attention: str, backend: str, device):
    """``(model, reset, lif_modules_replaced)`` for one of :data:`VARIANTS`, seed-0 weights."""
    import torch
    from spikingjelly.activation_based import functional as sjf

    from ds2ta import DS2TA, make_config

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}: choose one of {VARIANTS}")
    torch.manual_seed(0)
    model = DS2TA(make_config(preset, attention=attention),
                  checkpoint_activations=variant == "ds2ta-checkpointed")
    if variant == "spikingjelly":
        model, n = to_spikingjelly(model, backend)
        return model.to(device), sjf.reset_net, n
    return model.to(device), None, 0


def make_batch(cfg, batch: int, device):
    """A seeded input batch in the preset's layout (images or event frames) and labels."""
    import torch

    g = torch.Generator().manual_seed(1)
    if cfg.encoding == "events":
        x = torch.randint(0, 3, (batch, cfg.T, cfg.in_channels, cfg.img_size, cfg.img_size),
                          generator=g).float()
    else:
        x = torch.rand(batch, cfg.in_channels, cfg.img_size, cfg.img_size, generator=g)
    y = torch.randint(0, cfg.num_classes, (batch,), generator=g)
    return x.to(device), y.to(device)


def step_time(model, x, y, reset, device) -> float:
    """Seconds for one forward + backward (``reset`` clears stateful neurons afterwards)."""
    import torch
    from torch.nn import functional as F

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    if reset is not None:
        reset(model)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def rss_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process from Linux ``/proc/self/status``, in MiB.

    The peak is read there and not from ``getrusage``: after fork + exec, Linux carries the parent's
    peak into the child's ``ru_maxrss``, so a child started by a big parent would report the
    parent's peak; ``VmHWM`` belongs to the child's own address space.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only)")


def saved_bytes(packed: list) -> int:
    """Bytes of the distinct storages behind the still-alive saved tensors (weak references)."""
    storages = {}
    for ref in packed:
        t = ref()
        if t is not None:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def memory_child(variant: str, preset: str, attention: str, batch: int, steps: int, threads: int,
                 backend: str, device_name: str) -> dict:
    """Run in a fresh process: ``steps`` training steps of one variant; peak RSS and saved bytes."""
    import torch
    from torch.nn import functional as F

    torch.set_num_threads(threads)
    device = torch.device(device_name)
    model, reset, _ = build_variant(variant, preset, attention, backend, device)
    model.train()
    x, y = make_batch(model.cfg, batch, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    packed = []

    def pack(t):  # the graph holds what pack returns: a weak reference dies with its node
        packed.append(weakref.ref(t))
        return t

    rss_before = rss_mib("VmRSS")
    times, saved = [], 0
    for i in range(steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if i == 0:  # count what autograd keeps for backward (outside checkpointed segments)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                loss = F.cross_entropy(model(x), y)
            saved = saved_bytes(packed)
        else:
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        del loss  # nothing of the graph survives into the next step
        if reset is not None:
            reset(model)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    out = dict(variant=variant, peak_rss_mib=rss_mib("VmHWM"),
               rss_before_steps_mib=rss_before, saved_for_backward_mib=saved / MIB,
               step_s=times)
    if device.type == "cuda":
        out["cuda_peak_allocated_mib"] = torch.cuda.max_memory_allocated(device) / MIB
    return out


def measure_memory(args, backend: str) -> dict:
    """:func:`memory_child` of every variant, each in its own subprocess, one after the other."""
    rows = {}
    for variant in VARIANTS:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", variant, "--preset", args.preset,
               "--attention", args.attention, "--batch", str(args.batch), "--mem-steps",
               str(args.mem_steps), "--threads", str(args.threads), "--sj-backend", backend,
               "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory run of {variant} failed ({proc.returncode}):\n{proc.stderr}")
        rows[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cifar10")
    ap.add_argument("--attention", default="ds2ta", choices=["ds2ta", "spikformer", "statten"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per model (after 1 warm-up)")
    ap.add_argument("--mem-steps", type=int, default=2,
                    help="training steps per variant in the memory runs (0: no memory runs)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--sj-backend", default=None, help="spikingjelly backend (default torch / cupy)")
    ap.add_argument("--out", default=None, help="write the result JSON here")
    ap.add_argument("--child", choices=VARIANTS, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.batch < 1 or args.iters < 1 or args.mem_steps < 0:
        raise ValueError(f"--batch {args.batch}, --iters {args.iters} must be >= 1 and --mem-steps "
                         f"{args.mem_steps} >= 0")

    import torch

    backend = args.sj_backend
    if backend is None:
        backend = "torch"
        if torch.device(args.device).type == "cuda":
            try:
                import cupy  # noqa: F401
                backend = "cupy"
            except ImportError:
                pass
    if args.child is not None:
        print(json.dumps(memory_child(args.child, args.preset, args.attention, args.batch,
                                      max(args.mem_steps, 1), args.threads, backend, args.device)))
        return 0

    from ds2ta.fileio import atomic_write_json

    # Memory first, while this process holds no model: its own RSS then stays small beside the
    # children's peaks on a machine with little memory.
    mem = measure_memory(args, backend) if args.mem_steps > 0 else None
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = {v: build_variant(v, args.preset, args.attention, backend, device) for v in VARIANTS}
    n_lif = models["spikingjelly"][2]
    cfg = models["ds2ta"][0].cfg
    x, y = make_batch(cfg, args.batch, device)

    with torch.no_grad():  # same dynamics: same logits (eval mode, fixed BN statistics)
        ref = models["ds2ta"][0].eval()(x)
        diff = {}
        for v in VARIANTS[1:]:
            model, reset, _ = models[v]
            diff[v] = float((ref - model.eval()(x)).abs().max())
            if reset is not None:
                reset(model)
    for model, _, _ in models.values():
        model.train()

    times = {v: [] for v in VARIANTS}
    order = list(VARIANTS)
    for it in range(args.iters + 1):
        for v in order[it % len(order):] + order[:it % len(order)]:  # rotate who goes first
            model, reset, _ = models[v]
            t = step_time(model, x, y, reset, device)
            if it > 0:  # first round is warm-up
                times[v].append(t)
    del models
    # The fastest step is the least disturbed by other processes (timeit's rule); medians shown too.
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    sps = {k: args.batch / v for k, v in best.items()}
    result = dict(preset=args.preset, attention=args.attention, batch=args.batch, iters=args.iters,
                  device=str(device), threads=torch.get_num_threads(), sj_backend=backend,
                  lif_modules_replaced=n_lif, max_abs_logit_diff=diff["spikingjelly"],
                  max_abs_logit_diff_checkpointed=diff["ds2ta-checkpointed"],
                  min_step_s=best, median_step_s=med, samples_per_s=sps, step_times_s=times,
                  ratio_ds2ta_over_spikingjelly=sps["ds2ta"] / sps["spikingjelly"],
                  ratio_of_medians=med["spikingjelly"] / med["ds2ta"],
                  ratio_checkpointed_over_ds2ta=sps["ds2ta-checkpointed"] / sps["ds2ta"],
                  torch_version=torch.__version__)
    lines = [f"{args.preset} ({args.attention}) batch {args.batch} on {device}: ds2ta LIF "
             f"{sps['ds2ta']:.2f} samples/s, spikingjelly LIFNode ({backend}) "
             f"{sps['spikingjelly']:.2f} samples/s, ratio {result['ratio_ds2ta_over_spikingjelly']:.2f} "
             f"(> 1: ds2ta faster); checkpointed ds2ta {sps['ds2ta-checkpointed']:.2f} samples/s "
             f"({result['ratio_checkpointed_over_ds2ta']:.2f}x plain)"]
    if mem is not None:
        peak = {v: r["peak_rss_mib"] for v, r in mem.items()}
        saved = {v: r["saved_for_backward_mib"] for v, r in mem.items()}
        result.update(
            memory=dict(steps=args.mem_steps, optimizer="AdamW", rows=mem),
            peak_rss_ratio_spikingjelly_over_ds2ta=peak["spikingjelly"] / peak["ds2ta"],
            peak_rss_ratio_checkpointed_over_ds2ta=peak["ds2ta-checkpointed"] / peak["ds2ta"],
            saved_ratio_spikingjelly_over_ds2ta=saved["spikingjelly"] / saved["ds2ta"],
            saved_ratio_checkpointed_over_ds2ta=saved["ds2ta-checkpointed"] / saved["ds2ta"])
        for v in VARIANTS:
            lines.append(f"  {v:19s} peak RSS {peak[v] / 1024:6.2f} GiB (before steps "
                         f"{mem[v]['rss_before_steps_mib'] / 1024:.2f}), saved for backward "
                         f"{saved[v] / 1024:6.2f} GiB")
        lines.append(f"  peak RSS ratios: spikingjelly / ds2ta "
                     f"{result['peak_rss_ratio_spikingjelly_over_ds2ta']:.2f}, checkpointed / ds2ta "
                     f"{result['peak_rss_ratio_checkpointed_over_ds2ta']:.2f}; saved-for-backward "
                     f"ratios {result['saved_ratio_spikingjelly_over_ds2ta']:.2f}, "
                     f"{result['saved_ratio_checkpointed_over_ds2ta']:.3f}")
    result["load_average"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    print("\n".join(lines))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

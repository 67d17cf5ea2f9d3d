"""Benchmark: training throughput of the ``cifar10`` preset, ds2ta's LIF vs spikingjelly's LIFNode.

Builds the ``cifar10`` preset twice with identical weights: once as is, once with every
:class:`ds2ta.neuron.LIF` replaced by spikingjelly's multi-step ``LIFNode`` with the same dynamics
(tau=2, decay_input, v_reset=0, detach_reset, sigmoid surrogate alpha=4, ``step_mode='m'``; backend
``torch`` on CPU, ``cupy`` on CUDA when installed). Checks both give the same logits, then times
forward + backward (no optimizer step; identical for both) at batch 8, interleaving the two models
so background load hits both alike, and prints samples/s from the fastest step of each (the one least
disturbed by other processes; medians are reported too) and the ratio (> 1: ds2ta faster).

Usage::

    python benchmarks/train_speed.py [--iters 3] [--batch 8] [--device cpu|cuda] [--attention ds2ta]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cifar10")
    ap.add_argument("--attention", default="ds2ta", choices=["ds2ta", "spikformer", "statten"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per model (after 1 warm-up)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--sj-backend", default=None, help="spikingjelly backend (default torch / cupy)")
    ap.add_argument("--out", default=None, help="write the result JSON here")
    args = ap.parse_args(argv)

    import torch
    from spikingjelly.activation_based import functional as sjf

    from ds2ta import DS2TA, make_config
    from ds2ta.checkpoint import atomic_write_json

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    backend = args.sj_backend
    if backend is None:
        backend = "torch"
        if device.type == "cuda":
            try:
                import cupy  # noqa: F401
                backend = "cupy"
            except ImportError:
                pass
    torch.manual_seed(0)
    ours = DS2TA(make_config(args.preset, attention=args.attention)).to(device)
    sj, n_lif = to_spikingjelly(ours, backend)
    sj.to(device)
    cfg = ours.cfg
    x = torch.rand(args.batch, cfg.in_channels, cfg.img_size, cfg.img_size, device=device)
    y = torch.randint(0, cfg.num_classes, (args.batch,), device=device)

    with torch.no_grad():  # same dynamics: same logits (eval mode, fixed BN statistics)
        ours.eval(), sj.eval()
        diff = float((ours(x) - sj(x)).abs().max())
        sjf.reset_net(sj)
    ours.train(), sj.train()

    times = {"ds2ta": [], "spikingjelly": []}
    runs = [("ds2ta", ours, None), ("spikingjelly", sj, sjf.reset_net)]
    for it in range(args.iters + 1):
        for name, model, reset in (runs if it % 2 == 0 else runs[::-1]):
            t = step_time(model, x, y, reset, device)
            if it > 0:  # first round is warm-up
                times[name].append(t)
    # The fastest step is the least disturbed by other processes (timeit's rule); medians shown too.
    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    sps = {k: args.batch / v for k, v in best.items()}
    result = dict(preset=args.preset, attention=args.attention, batch=args.batch, iters=args.iters,
                  device=str(device), threads=torch.get_num_threads(), sj_backend=backend,
                  lif_modules_replaced=n_lif, max_abs_logit_diff=diff,
                  min_step_s=best, median_step_s=med, samples_per_s=sps, step_times_s=times,
                  ratio_ds2ta_over_spikingjelly=sps["ds2ta"] / sps["spikingjelly"],
                  ratio_of_medians=med["spikingjelly"] / med["ds2ta"],
                  load_average=os.getloadavg(), torch_version=torch.__version__)
    print(json.dumps(result, indent=2))
    print(f"{args.preset} ({args.attention}) batch {args.batch} on {device}: ds2ta LIF "
          f"{sps['ds2ta']:.2f} samples/s, spikingjelly LIFNode ({backend}) {sps['spikingjelly']:.2f} "
          f"samples/s, ratio {result['ratio_ds2ta_over_spikingjelly']:.2f} (> 1: ds2ta faster)")
    if args.out:
        atomic_write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: tiny DS2TA on the built-in digits must reach >= 95 % test accuracy within 10 minutes (CPU).

Usage::

    python benchmarks/train_digits.py [--out DIR] [--epochs 20] [--attention ds2ta] [--backbone sdt] [--force]

Trains with the ``digits`` recipe of ``ds2ta-train`` (AdamW lr 2e-3, batch 64, 1 warmup epoch,
cosine, label smoothing 0.1, 20 epochs), prints accuracy and wall time, writes ``OUT/benchmark.json``
and exits non-zero when the target is missed. The wall time includes data loading and per-epoch
evaluation; on a machine shared with other jobs it is inflated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

TARGET_ACCURACY = 0.95
TIME_LIMIT_S = 600.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="default: runs/bench_digits/ATTENTION-BACKBONE")
    p.add_argument("--force", action="store_true", help="replace another run's model in --out")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--attention", default=None, choices=["ds2ta", "spikformer", "statten", "sdsa"])
    p.add_argument("--backbone", default=None, choices=["spikformer", "sdt"])
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from ds2ta.fileio import atomic_write_json
    from ds2ta.cli.train import TrainOptions, train

    torch.set_num_threads(args.threads)
    if args.out is None:
        args.out = os.path.join("runs", "bench_digits", f"{args.attention or 'ds2ta'}-{args.backbone or 'spikformer'}")
    opts = TrainOptions(out=args.out, preset="tiny", dataset="digits", device="cpu", seed=args.seed,
                        no_progress=True, epochs=args.epochs, attention=args.attention, backbone=args.backbone,
                        force=args.force)
    t0 = time.perf_counter()
    m = train(opts)
    wall = time.perf_counter() - t0
    ok = m["test_accuracy"] >= TARGET_ACCURACY and wall <= TIME_LIMIT_S
    first = next((h["epoch"] for h in m["history"]
                  if (h["test_accuracy"] or 0) >= TARGET_ACCURACY), None)
    result = dict(test_accuracy=m["test_accuracy"], epochs=m["epochs"], wall_seconds=round(wall, 1),
                  train_seconds=m["seconds"], first_epoch_at_target=first, threads=args.threads,
                  attention=args.attention or "ds2ta", backbone=args.backbone or "spikformer", cpu_count=os.cpu_count(),
                  load_average=os.getloadavg(), target=TARGET_ACCURACY, time_limit_s=TIME_LIMIT_S,
                  passed=ok)
    atomic_write_json(os.path.join(args.out, "benchmark.json"), result)
    print(json.dumps(result))
    print(f"tiny DS2TA on digits: test accuracy {m['test_accuracy']:.4f} in {wall:.0f} s "
          f"(target >= {TARGET_ACCURACY:.0%} within {TIME_LIMIT_S:.0f} s): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

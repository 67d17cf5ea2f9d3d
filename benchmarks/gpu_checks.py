"""GPU checks, run on a CUDA machine (the lead runs it on a lent H100; see docs/gpu.md).

1. The integer reference on CUDA equals the CPU run exactly (spikes, counts, read-out) on an
   exported graph.
2. NVML-measured GPU energy per inference (batch 1 and batched, total and idle-subtracted) of the
   float model and of the integer reference, over >= 10 s windows.

Usage: python benchmarks/gpu_checks.py MODEL.pt MODEL.nir --out DIR [--samples 360] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("graph")
    ap.add_argument("--out", required=True)
    ap.add_argument("--samples", type=int, default=360)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--attention-lowering", default="core", choices=("core", "neurons"),
                    help="core: same integers, far less memory at paper scale (a cifar10 block's "
                         "pairwise lowering is 1.6 M units per step and sample)")
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("gpu_checks.py needs CUDA: no GPU is visible")

    from ds2ta.checkpoint import load_checkpoint
    from ds2ta.data import get_dataset, to_int
    from ds2ta.encoding import time_major
    from ds2ta.hardware.gpu_energy import measure_torch
    from ds2ta.sims.reference import ReferenceExecutor

    model, ckpt = load_checkpoint(args.checkpoint)
    info = ckpt["dataset"]
    _, test, _ = get_dataset(info["name"], T=model.cfg.T)
    xs = torch.stack([test[i][0] for i in range(min(args.samples, len(test)))])
    labels = torch.tensor([int(test[i][1]) for i in range(len(xs))])
    x_int = to_int(xs, info)
    T = model.cfg.T
    x_seq = time_major(x_int, T, model.cfg.encoding)

    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "samples": len(xs),
              "graph": args.graph, "attention_lowering": args.attention_lowering}
    runs = {}
    for dev in ("cpu", "cuda"):
        ex = ReferenceExecutor(args.graph, device=dev, attention_lowering=args.attention_lowering)
        t0 = time.perf_counter()
        res = ex.run(x_seq.to(dev), record=True)
        if dev == "cuda":
            torch.cuda.synchronize()
        runs[dev] = (res, time.perf_counter() - t0)
    (rc, tc), (rg, tg) = runs["cpu"], runs["cuda"]
    same_rec = all(torch.equal(rc.record[k].cpu(), rg.record[k].cpu()) for k in rc.record)
    same_counts = rc.counts == rg.counts
    same_pred = torch.equal(rc.prediction.cpu(), rg.prediction.cpu())
    result["reference_cpu_vs_cuda"] = {
        "every_node_output_equal": bool(same_rec), "counts_equal": bool(same_counts),
        "predictions_equal": bool(same_pred), "nodes": len(rc.record),
        "accuracy": float((rg.prediction.cpu() == labels).float().mean()),
        "cpu_s": tc, "cuda_s": tg, "samples_per_s_cpu": len(xs) / tc, "samples_per_s_cuda": len(xs) / tg}
    print(json.dumps(result["reference_cpu_vs_cuda"], indent=1), flush=True)

    # NVML energy: the float model (dense GPU compute) and the integer reference (batched)
    result["energy_float_model"] = measure_torch(model, xs.cuda(), batch_sizes=(1, 256),
                                                 min_seconds=args.seconds)
    ex = ReferenceExecutor(args.graph, device="cuda", attention_lowering=args.attention_lowering)

    class RefModule(torch.nn.Module):
        def forward(self, x):  # x: (B, ...) integer sample batch -> time-major for the executor
            seq = time_major(x, T, model.cfg.encoding)
            return ex.run(seq).prediction

    result["energy_integer_reference"] = measure_torch(RefModule(), x_int.cuda(), batch_sizes=(1, 256),
                                                       min_seconds=args.seconds)
    print(json.dumps({k: v for k, v in result.items() if k.startswith("energy")}, indent=1))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_checks.json").write_text(json.dumps(result, indent=2, default=str))
    return 0 if (same_rec and same_counts and same_pred) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Must-show of issues 4 and 11: trained tiny DS2TA / Spikformer / STAtten, Lava vs the reference, 50 test
samples, with the attention lowered to library neurons (every lowered population compared) and as the core.

Usage::

    python benchmarks/lava_match.py [--out runs/lava_match] [--epochs 20] [--samples 50] [--workers 1]
                                    [--lowerings neurons,core]

For each attention: train ``tiny`` on the built-in digits (``ds2ta-train``; an existing
``OUT/ATTN/train/model.pt`` is reused), export it (``ds2ta-export --target loihi2``), then run
``ds2ta-sim --compare`` on the first N digits test samples (pipelined, the command's default for
more than one sample; rows recorded before 2026-12 ran sequential). Prints one row per attention (match, spikes
and synaptic ops per inference, accuracies, latency, Lava processes and time), writes
``OUT/lava_match.json`` and, with ``--record``, docs/results/lava_match.json. Exits 1 when any
attention does not match spike for spike.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ATTENTIONS = ("ds2ta", "spikformer", "statten")
RECORD = Path(__file__).resolve().parents[1] / "docs" / "results" / "lava_match.json"


def one(attn: str, out: Path, args, lowering: str) -> dict:
    from ds2ta.cli.export import ExportOptions, run_export
    from ds2ta.cli.sim import SimOptions, run_sim
    from ds2ta.cli.train import TrainOptions, train

    ckpt = out / "train" / "model.pt"
    if not ckpt.exists():
        train(TrainOptions(out=str(ckpt.parent), preset="tiny", dataset="digits", attention=attn,
                           epochs=args.epochs, seed=args.seed, no_progress=True))
    graph = out / "export" / "model.nir"
    if not graph.exists():
        run_export(ExportOptions(str(ckpt), target="loihi2", out=str(graph.parent), no_progress=True))
    sim_dir = out / f"sim-{lowering}"
    t0 = time.perf_counter()
    res = run_sim(SimOptions(str(graph), compare=True, samples=args.samples, out=str(sim_dir),
                             attention_lowering=lowering, workers=args.workers, no_progress=True))
    wall = time.perf_counter() - t0
    return summarize(attn, lowering, res, json.loads((graph.parent / "quantization.json").read_text()), wall)


def summarize(attn: str, lowering: str, res: dict, quant: dict, wall: float) -> dict:
    """One row from a ``--compare`` result and the export's quantization report. Spikes per inference
    count the network's spiking layers; the attention's lowered populations (messages, most of them
    graded) are reported apart."""
    ref, lava = res["backends"]["reference"], res["backends"]["lava"]
    n = res["samples"]
    cores = {k for k in lava["layers"] if k.endswith(".attn.core")}
    lowered = sorted(k for k in lava["layers"] if k.rsplit(".", 1)[0] in cores)
    spiking = {k: c for k, c in lava["layers"].items() if c["spikes"] and k not in lowered and k not in cores}
    return {"attention": attn, "attention_lowering": lowering, "match": res["match"],
            "lowered_populations_compared": len(lowered),
            "attention_messages_per_inference": sum(lava["layers"][k]["spikes"] for k in lowered) / n,
            "first_divergence": res["first_divergence"],
            "samples": n, "T": res["T"], "latency_steps": res["checks"]["latency_steps"],
            "spiking_layers": len(spiking), "spikes_per_inference": sum(c["spikes"] for c in spiking.values()) / n,
            "synops_per_inference": sum(c["synops"] + c["graded_synops"] for c in lava["layers"].values()) / n,
            "attention_ops_per_inference": sum(c["attention_ops"] for c in lava["layers"].values()) / n,
            "accuracy": {"float_full_test": quant["accuracy"]["float"],
                         "quantized_full_test": quant["accuracy"]["quantized"],
                         "reference": ref["accuracy"], "lava": lava["accuracy"]},
            "lava_processes": lava.get("lava", {}).get("processes"), "lava_s": lava["wall_s"],
            "lava_pipelined": lava.get("lava", {}).get("pipelined"),
            "reference_s": ref["wall_s"], "wall_s": wall}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/lava_match")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--samples", type=int, default=50)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--attentions", default=",".join(ATTENTIONS))
    p.add_argument("--lowerings", default="neurons,core", help="attention lowerings to compare (neurons, core)")
    p.add_argument("--record", action="store_true", help=f"also write {RECORD}")
    args = p.parse_args(argv)
    from ds2ta.fileio import atomic_write_json

    rows = [one(a, Path(args.out) / a, args, lo) for a in args.attentions.split(",")
            for lo in args.lowerings.split(",")]
    print(f"\n{'attention':<11}{'lowering':>9}{'pops':>5}{'match':>6}{'spk/inf':>10}{'synops/inf':>12}{'attn ops/inf':>13}"
          f"{'acc ref':>9}{'acc lava':>9}{'latency':>8}{'procs':>6}{'lava s':>8}")
    for r in rows:
        print(f"{r['attention']:<11}{r['attention_lowering']:>9}{r['lowered_populations_compared']:>5}"
              f"{str(r['match']):>6}{r['spikes_per_inference']:>10.0f}"
              f"{r['synops_per_inference']:>12.0f}{r['attention_ops_per_inference']:>13.0f}"
              f"{r['accuracy']['reference']:>9.3f}{r['accuracy']['lava']:>9.3f}"
              f"{r['latency_steps']['lava']:>8}{r['lava_processes'] or 0:>6}{r['lava_s']:>8.1f}")
    import lava  # noqa: F401  (version for the record)
    from importlib.metadata import version
    doc = {"benchmark": "lava_match", "date": time.strftime("%Y-%m-%d"), "epochs": args.epochs,
           "machine": {"python": platform.python_version(), "lava-nc": version("lava-nc"),
                       "torch": version("torch"), "cpus": __import__("os").cpu_count()},
           "rows": rows}
    atomic_write_json(Path(args.out) / "lava_match.json", doc)
    if args.record:
        atomic_write_json(RECORD, doc)
    return 0 if all(r["match"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: every preset through the whole chain at its own scale (issue 9).

Usage::

    python benchmarks/scale.py --presets cifar10,cifar100,dvs --samples 2 --out runs/scale [--record]
                               [--lowerings neurons,core]

Per preset, each stage runs as its own process, so its memory is its own:
1. train: a brief training run (``--steps`` AdamW steps at ``--batch``, then the BatchNorm statistics
   re-estimated on 64 training samples, so every layer sees data-shaped currents) on the preset's
   built-in stand-in data: CIFAR presets on ``digits32``, DVS presets on a generated event set of
   their own input size (``digits-events128`` for ``dvs``), ``tiny`` on ``digits``;
2. export: ``ds2ta-export --target loihi2 --chips 64`` (quantize, NIR, mapping);
3. reference: ``ds2ta-sim --backend reference`` on the first ``--samples`` test samples;
4. lava: ``ds2ta-sim --backend lava --compare`` on the same samples (match spike for spike; pipelined,
   the command's default for more than one sample: a sample every T steps).
Stages 2-4 run once per attention lowering (``--lowerings``: library neurons, row ``PRESET``; the opaque
core, row ``PRESET:core``); rows already in ``OUT/scale.json`` are kept.
Recorded per preset: parameters, cores and chips, seconds and peak memory of each stage, reference ms
per sample, Lava seconds per sample and processes, the match, and every spiking layer's firing rate
(silent layers listed: they prove nothing). Memory: a stage's peak RSS (``wait4``) and, sampled every
0.2 s over the whole process tree, the peak of the summed proportional set sizes (PSS): a Lava run is
hundreds of forked processes whose RSS counts the same shared pages many times.

Writes ``OUT/scale.json`` (``{"presets": {name: {"match": bool, "peak_rss_gb": {...}, "seconds":
{...}, ...}}}``) and, with ``--record``, ``docs/results/scale.json``. Exits 1 when a preset does not
match or a stage fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "results" / "scale.json"
PRESET_DATA = {"tiny": "digits", "tiny-dvs": "digits-events", "cifar10": "digits32", "cifar100": "digits32",
               "statten-cifar10": "digits32",
               "dvs": "digits-events128"}
GB = 1e9


def brief_train(preset: str, dataset: str, steps: int, batch: int, out: Path, seed: int = 0) -> dict:
    """A few AdamW steps, then BatchNorm statistics from data; writes a checkpoint, returns facts."""
    import torch
    import torch.nn.functional as F

    from ds2ta.checkpoint import save_checkpoint
    from ds2ta.data import get_dataset
    from ds2ta.training import build_model

    torch.manual_seed(seed)
    train, _, info = get_dataset(dataset)
    model = build_model(preset, info, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(train), (batch,), generator=gen).tolist()
        x = torch.stack([train[i][0] for i in idx])
        y = torch.tensor([int(train[i][1]) for i in idx])
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:  # cumulative average over the statistics pass
        m.reset_running_stats()
        m.momentum = None
    with torch.no_grad():
        for lo in range(0, 64, batch):
            model(torch.stack([train[i][0] for i in range(lo, min(64, lo + batch))]))
    for m in bns:
        m.momentum = 0.1
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    save_checkpoint(out, model, info, {"steps": steps, "batch": batch, "train_loss": losses, "note":
                                       "brief training for benchmarks/scale.py"})
    return {"parameters": params, "loss_first": losses[0] if losses else None,
            "loss_last": losses[-1] if losses else None}


def _tree_pss(procs) -> tuple[float, float, int]:
    """(sum of PSS, sum of RSS, processes) of ``procs`` and their descendants, in bytes."""
    import psutil

    pss = rss = n = 0
    for top in procs:
        try:
            members = [top] + top.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for p in members:
            try:
                mi = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            pss, rss, n = pss + mi.pss, rss + mi.rss, n + 1
    return pss, rss, n


# A small launcher between this process and the stage: a child's ru_maxrss starts at the RSS of the
# process it was forked from, so forking the stage from a benchmark that imported torch would report
# at least that. The launcher (a bare interpreter) forks the stage and writes its wait4 rusage.
LAUNCHER = """import json, os, subprocess, sys
p = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(p.pid, 0)
rc = os.waitstatus_to_exitcode(status)
json.dump({"rc": rc, "maxrss_kb": ru.ru_maxrss}, open(sys.argv[1], "w"))
sys.exit(0)
"""


def run_stage(cmd: list[str], log: Path, poll_s: float = 0.2) -> dict:
    """Run ``cmd`` to completion; wall seconds, peak RSS of its largest process (``wait4``, through a
    small launcher) and the sampled peak of its process tree's summed PSS (the launcher excluded)."""
    import psutil

    t0 = time.perf_counter()
    usage = log.with_suffix(".rusage.json")
    with open(log, "w") as fh:
        p = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(usage), *cmd], stdout=fh,
                             stderr=subprocess.STDOUT, cwd=ROOT)
        peak = {"pss": 0, "rss_sum": 0, "procs": 0}
        stop = threading.Event()

        def sample():
            try:
                launcher = psutil.Process(p.pid)
            except psutil.NoSuchProcess:
                return
            while not stop.is_set():
                try:
                    pss, rss, n = _tree_pss(launcher.children())
                except psutil.NoSuchProcess:
                    return
                peak["pss"], peak["rss_sum"] = max(peak["pss"], pss), max(peak["rss_sum"], rss)
                peak["procs"] = max(peak["procs"], n)
                stop.wait(poll_s)
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            p.wait()
        except BaseException:
            p.kill()
            raise
        finally:
            stop.set()
            th.join()
    ru = json.loads(usage.read_text()) if usage.exists() else {"rc": p.returncode, "maxrss_kb": 0}
    return {"rc": ru["rc"], "seconds": time.perf_counter() - t0, "peak_rss_gb": ru["maxrss_kb"] * 1024 / GB,
            "peak_pss_gb": peak["pss"] / GB, "peak_rss_sum_gb": peak["rss_sum"] / GB,
            "processes": peak["procs"], "log": str(log)}


def firing_rates(layers: dict, graph) -> dict:
    """Spikes per neuron update of every spiking layer (neuron nodes with a threshold)."""
    spiking = {n for n, node in graph.nodes.items() if type(node).__name__ in ("CubaLIF", "LIF", "IF")}
    return {n: c["spikes"] / c["neuron_updates"] for n, c in layers.items()
            if n in spiking and c["neuron_updates"]}


def one(preset: str, out: Path, args, lowering: str = "neurons") -> dict:
    """Train (shared by both lowerings), then export, reference and Lava ``--compare`` with the attention
    lowered to library neurons or as the opaque core (outputs in ``export-LOWERING`` etc.)."""
    from ds2ta.export import read_graph

    out.mkdir(parents=True, exist_ok=True)
    py, bin_ = sys.executable, Path(sys.executable).parent
    dataset = PRESET_DATA[preset]
    ckpt, exp, sim, ref_dir = (out / "train" / "model.pt", out / f"export-{lowering}", out / f"sim-{lowering}",
                               out / f"ref-{lowering}")
    row: dict = {"preset": preset, "dataset": dataset, "attention_lowering": lowering, "seconds": {},
                 "peak_rss_gb": {}, "peak_pss_gb": {}}
    low = ["--attention-lowering", lowering]
    stages = [
        ("train", [py, __file__, "--train-stage", preset, dataset, str(ckpt), str(args.steps), str(args.batch)]),
        ("export", [str(bin_ / "ds2ta-export"), str(ckpt), "--target", "loihi2", "--chips", "64", "--max-eval",
                    str(args.max_eval), "--out", str(exp), "--no-progress", *low]),
        ("reference", [str(bin_ / "ds2ta-sim"), str(exp / "model.nir"), "--backend", "reference", "--samples",
                       str(args.samples), "--batch-size", "16", "--out", str(ref_dir), "--no-progress", *low]),
        ("lava", [str(bin_ / "ds2ta-sim"), str(exp / "model.nir"), "--backend", "lava", "--compare", "--samples",
                  str(args.samples), "--out", str(sim), "--no-progress", *low]),
    ]
    outputs = {"train": ckpt, "export": exp / "model.nir", "reference": ref_dir / "simulation.json",
               "lava": sim / "simulation.json"}  # a stage recorded in stages.json with its output is reused
    (out / "train").mkdir(exist_ok=True)
    done_file = out / f"stages-{lowering}.json"  # measurements of an earlier run whose outputs are reused
    done = json.loads(done_file.read_text()) if done_file.exists() else {}
    for other in sorted(out.glob("stages-*.json")):  # the training stage is shared by both lowerings
        if "train" not in done and other != done_file:
            done.update({k: v for k, v in json.loads(other.read_text()).items() if k == "train"})
    for name, cmd in stages:
        if name in done and done[name] and not args.fresh and outputs[name].exists():
            for key in ("seconds", "peak_rss_gb", "peak_pss_gb"):
                row[key][name] = done[name][key]
            continue
        print(f"[{preset}] {name}: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))}",
              flush=True)
        st = run_stage(cmd, out / (f"{name}.log" if name == "train" else f"{name}-{lowering}.log"))
        row["seconds"][name] = round(st["seconds"], 1)
        row["peak_rss_gb"][name] = round(st["peak_rss_gb"], 3)
        row["peak_pss_gb"][name] = round(st["peak_pss_gb"], 3)
        done[name] = {k: row[k][name] for k in ("seconds", "peak_rss_gb", "peak_pss_gb")}
        if st["rc"] == 0 or name == "lava":
            json_write(done_file, done)
        if name == "lava":
            row["lava_processes_peak"] = st["processes"]
            row["lava_rss_sum_gb"] = round(st["peak_rss_sum_gb"], 2)
        if st["rc"] not in (0, 1) or (st["rc"] == 1 and name != "lava"):
            row["error"] = f"{name} exited {st['rc']}: see {st['log']}"
            row["match"] = False
            return row
    if ckpt.with_name("facts.json").exists():
        row.update(json.loads(ckpt.with_name("facts.json").read_text()))
    q = json.loads((exp / "quantization.json").read_text())
    m = json.loads((exp / "mapping.json").read_text())
    row["accuracy"] = {"float": q["accuracy"]["float"], "quantized": q["accuracy"]["quantized"],
                       "samples": q["accuracy"]["samples"]}
    row["cores"], row["chips"] = m["total_cores"], m["chips"]
    row["head_cores"] = {n: m["layers"][n]["n_cores"] for n in ("head.pool_li", "head.readout") if n in m["layers"]}
    row["fan_in_splits"] = sorted(n for n, v in m["layers"].items() if v.get("fan_in_split"))
    ref = json.loads((ref_dir / "simulation.json").read_text())
    res = json.loads((sim / "simulation.json").read_text())
    lava = res["backends"]["lava"]
    row["match"] = bool(res["match"])
    row["samples"] = res["samples"]
    row["latency_steps"] = lava["latency_steps"]
    row["reference_ms_per_sample"] = round(1000 * ref["wall_s"] / ref["samples"], 1)
    row["lava_s_per_sample"] = round(lava["wall_s"] / res["samples"], 1)
    # the Lava schedule: pipelined for --samples > 1 (ds2ta-sim's default since 2026-12), else sequential
    row["lava"] = {k: lava["lava"].get(k) for k in ("processes", "compile_s", "run_s", "steps", "period", "pipelined")}
    row["attention"] = m.get("attention", {})
    rates = firing_rates(lava["layers"], read_graph(exp / "model.nir"))
    row["firing_rate"] = {k: round(v, 5) for k, v in rates.items()}
    row["silent_layers"] = sorted(k for k, v in rates.items() if v == 0)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="cifar10,cifar100,dvs")
    ap.add_argument("--samples", type=int, default=2, help="test samples simulated per preset")
    ap.add_argument("--steps", type=int, default=8, help="brief-training optimizer steps")
    ap.add_argument("--batch", type=int, default=8, help="brief-training batch")
    ap.add_argument("--max-eval", type=int, default=64, help="test samples of the export's accuracy check")
    ap.add_argument("--out", default="runs/scale")
    ap.add_argument("--lowerings", default="neurons",
                    help="attention lowerings, comma-separated (neurons, core); rows 'PRESET' and 'PRESET:core'")
    ap.add_argument("--record", action="store_true", help="also write docs/results/scale.json")
    ap.add_argument("--fresh", action="store_true",
                    help="run every stage again (default: reuse stages recorded in OUT/PRESET/stages.json)")
    ap.add_argument("--train-stage", nargs=5, metavar=("PRESET", "DATASET", "CKPT", "STEPS", "BATCH"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.train_stage:
        preset, dataset, ck, steps, batch = args.train_stage
        facts = brief_train(preset, dataset, int(steps), int(batch), Path(ck))
        Path(ck).with_name("facts.json").write_text(json.dumps(facts))
        return 0
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    bad = [p for p in presets if p not in PRESET_DATA]
    if bad:
        ap.error(f"unknown preset(s) {bad}: choose from {sorted(PRESET_DATA)}")
    out = Path(args.out)
    rows = json.loads((out / "scale.json").read_text()).get("presets", {}) if (out / "scale.json").exists() else {}
    for p in presets:
        for lo in [x.strip() for x in args.lowerings.split(",") if x.strip()]:
            rows[p if lo == "neurons" else f"{p}:{lo}"] = one(p, out / p, args, lo)
            json_write(out / "scale.json", result(rows, args))
    res = result(rows, args)
    json_write(out / "scale.json", res)
    if args.record:
        json_write(RECORD, res)
    print(f"\n{'preset':9s} {'match':5s} {'params':>9s} {'cores':>5s} {'chips':>5s} {'export GB':>9s} "
          f"{'ref ms/s':>8s} {'lava s/s':>8s} {'procs':>5s} {'lava PSS GB':>11s} silent")
    for p, r in rows.items():
        print(f"{p:9s} {str(r.get('match')):5s} {r.get('parameters', 0):9d} {r.get('cores', 0):5d} "
              f"{r.get('chips', 0):5d} {r['peak_rss_gb'].get('export', float('nan')):9.2f} "
              f"{r.get('reference_ms_per_sample', float('nan')):8.0f} {r.get('lava_s_per_sample', float('nan')):8.1f} "
              f"{r.get('lava', {}).get('processes', 0):5d} {r['peak_pss_gb'].get('lava', float('nan')):11.2f} "
              f"{len(r.get('silent_layers', [])) if 'silent_layers' in r else r.get('error', '')}")
    print(f"wrote {out / 'scale.json'}")
    return 0 if all(r.get("match") and not r.get("silent_layers") for r in rows.values()) else 1


def result(rows: dict, args) -> dict:
    return {"benchmark": "scale", "samples": args.samples, "train_steps": args.steps, "train_batch": args.batch,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "date": time.strftime("%Y-%m-%d"), "presets": rows}


def json_write(path: Path, obj) -> None:
    from ds2ta.fileio import atomic_write_json
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, obj)


if __name__ == "__main__":
    sys.exit(main())

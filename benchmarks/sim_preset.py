"""``benchmarks/sim_speed.py --preset NAME``: one preset's exported graph through Lava and the reference, side
by side in one run (issue 20, item 6).

What one run measures, on the same test samples of the graph's dataset:

1. **Lava, sequential** (a sample every ``T + latency`` steps) on ``--seq-samples`` samples and **Lava,
   pipelined** (a sample every ``T`` steps) on ``--pipe-samples``: build+compile and run seconds, run
   seconds per sample, Lava processes; each run's records are checked equal to the reference on every
   population, step and neuron (``sim_speed._check_equal``: the timings compare equal work); each run is
   profiled (``sims/lava/profile.py``): CPU seconds of the busiest processes, and per step the wall time,
   the processes' arithmetic, their runtime overhead and the runtime service.
2. **One sample end to end**: ``ds2ta-sim MODEL --compare --samples 1`` as a user runs it (imports, graph,
   build, compile, run, reference, comparison), its wall seconds and the peak summed PSS of its process
   tree (``scale.run_stage``: Lava's forked processes share pages, so RSS overcounts).
3. **Reference and float model** (``ref_speed.measure``): ms per sample of the float PyTorch forward and
   of the integer reference with each attention lowering, batch ``--batch``.

The graph: ``--graph`` if given, else the preset trained briefly and exported as ``benchmarks/scale.py``
does (cifar10: digits32 stand-in, 8 AdamW steps, BatchNorm statistics from data; tiny: 3 epochs on
digits), kept in ``--work`` and reused.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scale  # noqa: E402  (benchmarks/scale.py: brief training, run_stage)

TOP = 10  # processes listed in the profile


def prepare(preset: str, work: Path, graph: str | None = None) -> tuple[Path, Path | None]:
    """``(model.nir, model.pt or None)`` for ``preset``: ``graph`` as given, or trained and exported into
    ``work`` (reused when present)."""
    if graph:
        ckpt = Path(graph).parent.parent / "train" / "model.pt"
        return Path(graph), ckpt if ckpt.exists() else None
    work.mkdir(parents=True, exist_ok=True)
    ckpt, nir_path = work / "train" / "model.pt", work / "export" / "model.nir"
    bin_ = Path(sys.executable).parent
    if not ckpt.exists():
        if preset == "tiny":
            cmd = [str(bin_ / "ds2ta-train"), "--preset", "tiny", "--dataset", "digits", "--epochs", "3",
                   "--out", str(ckpt.parent), "--no-progress"]
        else:
            cmd = [sys.executable, str(HERE / "scale.py"), "--train-stage", preset, scale.PRESET_DATA[preset],
                   str(ckpt), "8", "8"]
        subprocess.run(cmd, check=True, cwd=HERE.parent)
    if not nir_path.exists():
        subprocess.run([str(bin_ / "ds2ta-export"), str(ckpt), "--target", "loihi2", "--chips", "64",
                        "--max-eval", "64", "--out", str(nir_path.parent), "--no-progress"], check=True,
                       cwd=HERE.parent)
    return nir_path, ckpt


def equal_to_reference(g, run, x, check_equal, batch: int = 4) -> list:
    """Check a Lava run against the reference, ``batch`` samples at a time (a recorded reference run of
    cifar10's lowered attention holds 0.5 GB per population and 20 samples); returns the compared
    populations. ``check_equal(run, ref, executor, T, S)`` raises ``AssertionError`` naming the first
    difference (``sim_speed._check_equal``, applied to each batch's slice of the Lava records)."""
    from types import SimpleNamespace

    from ds2ta.sims.reference import ReferenceExecutor

    ex = ReferenceExecutor(g, "cpu")
    T, S = int(x.shape[0]), int(x.shape[1])
    layers = []
    for lo in range(0, S, batch):
        hi = min(S, lo + batch)
        part = SimpleNamespace(records={k: v[lo:hi] for k, v in run.records.items()})
        layers = check_equal(part, ex.run(x[:, lo:hi], record=True), ex, T, hi - lo)
    return layers


def shown(path: Path) -> str:
    """A path as recorded: relative to the repository when inside it, else its last three parts (no
    path of the machine that ran the benchmark goes into docs/results)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(HERE.parent))
    except ValueError:
        return str(Path(*path.parts[-3:]))


def code_version() -> dict:
    """The commit of the ds2ta code that ran (the imported package's tree, which may be another checkout),
    and whether that tree had uncommitted changes."""
    import ds2ta.sims

    tree = Path(ds2ta.sims.__file__).resolve().parent
    git = lambda *a: subprocess.run(["git", "-C", str(tree), *a], capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "--short", "HEAD"), "modified": bool(git("status", "--porcelain", "."))}


def lava_row(net, run, samples: int) -> dict:
    """Timings and the profile summary of one Lava run."""
    p = run.profile
    return {"pipelined": net.pipelined, "samples": samples, "processes": run.processes, "steps": run.steps,
            "period": run.period, "latency_steps": net.latency_steps, "compile_s": round(run.compile_s, 3),
            "run_s": round(run.run_s, 3), "run_s_per_sample": round(run.run_s / samples, 4),
            "samples_per_s": round(samples / run.run_s, 3),
            "per_step_ms": {k: round(p[k], 2) for k in ("wall_ms_per_step", "arithmetic_cpu_ms_per_step",
                                                       "model_process_overhead_cpu_ms_per_step",
                                                       "runtime_service_cpu_ms_per_step")},
            "busiest": p["processes"][:TOP],
            "by_model": by_model(p["processes"])}


def by_model(rows: list) -> list:
    """CPU seconds summed per (Process class, ProcessModel), busiest first."""
    acc: dict = {}
    for r in rows:
        a = acc.setdefault((r["kind"], r["model"]), {"kind": r["kind"], "model": r["model"], "processes": 0,
                                                     "cpu_s": 0.0, "arithmetic_s": 0.0})
        a["processes"] += 1
        a["cpu_s"] += r["cpu_s"]
        a["arithmetic_s"] += r["arithmetic_s"]
    out = sorted(acc.values(), key=lambda a: -a["cpu_s"])
    for a in out:
        a["cpu_s"], a["arithmetic_s"] = round(a["cpu_s"], 3), round(a["arithmetic_s"], 3)
    return out


def end_to_end(graph: Path, out: Path, repeats: int = 3) -> dict:
    """``ds2ta-sim GRAPH --compare --samples 1``: ``repeats`` timed runs (this machine's timings vary by
    10-20 % run to run; the median counts), then one more with its memory sampled (summed PSS of the
    process tree every 0.2 s: reading ~120 processes' page maps takes most of a core, so that run is not
    timed); processes, match."""
    import json

    sim = out / "one-sample"
    cmd = [str(Path(sys.executable).parent / "ds2ta-sim"), str(graph), "--compare", "--samples", "1",
           "--out", str(sim), "--no-progress"]
    walls, rcs = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        with open(out / "one-sample.log", "w") as log:
            rcs.append(subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=HERE.parent).returncode)
        walls.append(round(time.perf_counter() - t0, 2))
    mem = scale.run_stage(cmd, out / "one-sample.log")
    res = json.loads((sim / "simulation.json").read_text()) if (sim / "simulation.json").exists() else {}
    lava = res.get("backends", {}).get("lava", {}).get("lava", {})
    walls.sort()
    return {"command": "ds2ta-sim MODEL --compare --samples 1", "rc": max(rcs + [mem["rc"]]),
            "wall_s": walls[len(walls) // 2], "wall_s_all": walls, "peak_pss_gb": round(mem["peak_pss_gb"], 3),
            "peak_rss_gb": round(mem["peak_rss_gb"], 3), "processes": mem["processes"], "match": res.get("match"),
            "lava_compile_s": lava.get("compile_s"), "lava_run_s": lava.get("run_s")}


def run_preset(preset: str, work: Path, graph: str | None, seq_samples: int, pipe_samples: int, batch: int,
               repeats: int, threads: int, out: Path, check_equal) -> dict:
    """Everything above for one preset; ``check_equal(run, ref, executor, T, S)`` raises ``AssertionError``
    if a Lava run differs from the reference (``sim_speed._check_equal``)."""
    import torch

    from ds2ta.export import read_graph
    from ds2ta.sims.data import graph_T, load_samples
    from ds2ta.sims.lava import LavaNetwork

    path, ckpt = prepare(preset, work, graph)
    g = read_graph(path)
    T = graph_T(g, None)
    n = max(seq_samples, pipe_samples)
    x_np, labels, info = load_samples(g, None, n, T)
    x_TB = torch.from_numpy(np.ascontiguousarray(x_np))
    row: dict = {"preset": preset, "graph": shown(path), "data": info, "T": T, "code": code_version(), "lava": {}}
    for mode, S in (("sequential", seq_samples), ("pipelined", pipe_samples)):
        x = x_TB[:, :S]
        net = LavaNetwork(g, T, pipelined=mode == "pipelined")
        t0 = time.perf_counter()
        run = net.run(x.transpose(0, 1).numpy(), profile=True)  # Lava first: it forks from a lean process
        wall = time.perf_counter() - t0
        layers = equal_to_reference(g, run, x, check_equal)
        row["lava"][mode] = {**lava_row(net, run, S), "wall_s": round(wall, 2), "compared_populations": len(layers)}
        print(f"[{preset}] Lava {mode}: {S} samples, {run.processes} processes, compile {run.compile_s:.1f} s, "
              f"run {run.run_s:.2f} s = {run.run_s / S:.3f} s/sample; equal to the reference on {len(layers)} "
              "populations", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    row["end_to_end"] = end_to_end(path, out)
    print(f"[{preset}] one sample end to end: {row['end_to_end']['wall_s']} s (median of "
          f"{row['end_to_end']['wall_s_all']}), "
          f"{row['end_to_end']['peak_pss_gb']} GB summed PSS, match {row['end_to_end']['match']}", flush=True)
    if ckpt is not None:
        import ref_speed

        torch.set_num_threads(threads)
        row["reference"] = ref_speed.measure(ckpt, g, samples=min(n, 16) if preset != "tiny" else n, batch=batch,
                                             repeats=repeats, threads=threads)
    return row


def print_row(row: dict) -> None:
    """The side-by-side table of one preset."""
    print(f"\n{row['preset']}: {row['graph']} (T={row['T']})")
    print(f"  {'run':34s} {'s/sample':>9s} {'samples/s':>9s} {'processes':>9s} {'compile s':>9s}")
    for mode, r in row["lava"].items():
        print(f"  {'Lava ' + mode + ' (' + str(r['samples']) + ' samples)':34s} {r['run_s_per_sample']:9.3f} "
              f"{r['samples_per_s']:9.2f} {r['processes']:9d} {r['compile_s']:9.2f}")
    ref = row.get("reference") or {}
    if ref:
        rows = {"float PyTorch forward": ref["float_ms_per_sample"],
                **{f"reference, attention {k}": v for k, v in ref["reference_ms_per_sample"].items()}}
        for name, ms in rows.items():
            print(f"  {name + ' (batch ' + str(ref['batch']) + ')':34s} {ms / 1e3:9.4f} {1e3 / ms:9.2f}")
    e = row["end_to_end"]
    print(f"  one sample end to end (ds2ta-sim --compare): {e['wall_s']} s wall (median of {e['wall_s_all']}), "
          f"{e['peak_pss_gb']} GB summed PSS, "
          f"{e['processes']} processes, match {e['match']}")
    for mode, r in row["lava"].items():
        ps = r["per_step_ms"]
        print(f"  profile, {mode}: {ps['wall_ms_per_step']:.1f} ms/step wall; CPU ms/step: arithmetic "
              f"{ps['arithmetic_cpu_ms_per_step']:.1f}, process overhead {ps['model_process_overhead_cpu_ms_per_step']:.1f}"
              f", runtime service {ps['runtime_service_cpu_ms_per_step']:.1f}")
        for b in r["busiest"][:TOP]:
            print(f"    {b['cpu_s']:7.2f} s CPU ({b['arithmetic_s']:6.2f} arithmetic) {b['kind']:12s} "
                  f"{b['model']:28s} {b['name']}")


def default_work(preset: str) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"ds2ta-sim-speed-{preset}"


def samples_for(preset: str) -> tuple[int, int]:
    """Default (sequential, pipelined) sample counts: cifar10-sized runs take 2 sequential samples."""
    return (20, 20) if preset.startswith("tiny") else (2, 20)


def main(args, check_equal, machine_info, default_work_arg: str) -> int:
    """``sim_speed.py --preset``: ``run_preset`` and its row merged into ``--out`` under ``presets``."""
    import json

    import torch

    from ds2ta.fileio import atomic_write_json

    seq, pipe = samples_for(args.preset)
    work = Path(args.work) if args.work != default_work_arg else default_work(args.preset)
    torch.set_num_threads(args.threads)
    info = machine_info()
    try:
        row = run_preset(args.preset, work, args.graph, args.seq_samples or seq, args.pipe_samples or pipe,
                         args.batch, args.repeats or 3, args.threads, work, check_equal)
    except (ValueError, AssertionError) as e:
        print(f"sim_speed: error: {e}", file=sys.stderr)
        return 2
    info["loadavg_1m_end"] = os.getloadavg()[0]
    row["machine"] = info
    print_row(row)
    if args.out:
        path = Path(args.out)
        old = json.loads(path.read_text()) if path.exists() else {"benchmark": "sim_speed"}
        slot = old.setdefault("presets", {}).setdefault(args.preset, {})
        if "lava" in slot:  # a row written before labels existed
            slot.clear()
        slot[args.label] = row
        atomic_write_json(path, old)
        print(f"\nwrote {path} (presets.{args.preset}.{args.label})")
    return 0

"""Benchmark: Lava vs the integer reference on the same samples, and Lava's per-step cost vs process count.

Part 1 runs the same test samples of one exported graph through ``ds2ta.sims.lava.LavaNetwork`` and
through ``ds2ta.sims.reference.ReferenceExecutor`` (all samples in one batch, on CPU, and on CUDA when
available), checks that every population Lava records is spike-for-spike equal to the reference (so the
timings compare equal work), and reports samples/s of each, the ratio reference/Lava, Lava's
build+compile seconds apart from its run seconds, and Lava's wall time per Lava step.

Part 2 builds synthetic integer chains ``Input -> (Affine -> CubaLIF) x depth -> Output`` of fixed width
and reports Lava's wall time per step against ``LavaRun.processes`` with a least-squares slope
(ms per process per step).

Usage::

    python benchmarks/sim_speed.py [--graph MODEL.nir] [--samples 16] [--out docs/results/sim_speed.json]
    python benchmarks/sim_speed.py --quick          # small sizes, a smoke run (~20 s)
    python benchmarks/sim_speed.py --preset cifar10 [--graph MODEL.nir]   # one preset side by side:
        # Lava sequential and pipelined (profiled), one sample end to end, reference and float model
        # (benchmarks/sim_preset.py); recorded under "presets" in the --out file, other presets kept

Without ``--graph`` a ``tiny`` DS2TA is trained for 3 epochs on digits and exported into ``--work``
(reused when ``--work`` already holds ``export/model.nir``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from importlib import metadata
from types import SimpleNamespace

try:  # Lava sets the 'fork' start method on first import; do it before torch picks anything
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
except Exception:  # pragma: no cover - lava absent: main() reports it
    pass

import nir
import numpy as np

QUICK = dict(samples=2, depths=[1, 2, 3], width=16, chain_T=4, chain_samples=2, repeats=1, chain_repeats=1)
FULL = dict(samples=16, depths=[1, 2, 4, 8, 16, 32], width=64, chain_T=8, chain_samples=8, repeats=5, chain_repeats=2)


def machine_info() -> dict:
    """CPU count, load, Python and package versions of this run."""
    import torch

    def ver(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None
    return {"cpu_count": os.cpu_count(), "loadavg_1m_start": os.getloadavg()[0],
            "python": platform.python_version(), "platform": platform.platform(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "lava-nc": ver("lava-nc"), "nir": ver("nir"), "cuda": torch.cuda.is_available(),
            "note": "2 CPU cores shared with other agents while measured: Lava's OS processes and "
                    "torch threads compete with them; see docs/sim-speed.md"}


def build_default_graph(work: str, epochs: int = 3) -> str:
    """Train ``tiny`` on digits for ``epochs`` and export it into ``work``; returns the .nir path."""
    from ds2ta.cli.train import main as train_main
    from ds2ta.cli.export import main as export_main

    graph = os.path.join(work, "export", "model.nir")
    if os.path.exists(graph):
        return graph
    ckpt = os.path.join(work, "train", "model.pt")
    if not os.path.exists(ckpt):
        if train_main(["--preset", "tiny", "--dataset", "digits", "--epochs", str(epochs),
                       "--out", os.path.dirname(ckpt), "--no-progress"]) != 0:
            raise RuntimeError("training the default tiny model failed (see the message above)")
    if export_main([ckpt, "--out", os.path.dirname(graph), "--no-progress", "--max-eval", "64"]) != 0:
        raise RuntimeError("exporting the default tiny model failed (see the message above)")
    return graph


def load_samples(graph: nir.NIRGraph, dataset: str, n: int):
    """First ``n`` test samples of ``dataset`` as the graph's integer input ``(T, n, *shape)`` and labels."""
    import torch

    from ds2ta.data import get_dataset
    from ds2ta.export.model_quant import encode_int

    conv = graph.metadata.get("conventions", {}) if isinstance(graph.metadata, dict) else {}
    mcfg = graph.metadata.get("model_config", {}) if isinstance(graph.metadata, dict) else {}
    if "T" not in conv or "input_scale" not in conv:
        raise ValueError("graph metadata lacks conventions.T / input_scale: pass a graph written by ds2ta-export")
    T, scale = int(conv["T"]), float(conv["input_scale"])
    _, test, _ = get_dataset(dataset, T=T, augment=False)
    if not 1 <= n <= len(test):
        raise ValueError(f"--samples {n}: the {dataset} test set has {len(test)} samples")
    x = torch.stack([test[i][0] for i in range(n)])
    y = [int(test[i][1]) for i in range(n)]
    x_int = (x / scale).round().long()
    return encode_int(SimpleNamespace(encoding=mcfg.get("encoding", "direct"), T=T), x_int), y  # (T, n, ...)


def _prediction(rec: np.ndarray) -> np.ndarray:
    """Reference rule: spike count over T for spiking outputs, else the last step; rec (samples, T, n)."""
    return (rec.sum(1) if rec.dtype == np.uint8 else rec[:, -1]).argmax(-1)


def _time_reference(ex, x_TB, repeats: int) -> list:
    """Wall seconds of ``repeats`` batched runs (after one warm-up on CUDA)."""
    import torch

    cuda = ex.device.type == "cuda"
    if cuda:
        ex.run(x_TB)
        torch.cuda.synchronize()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        ex.run(x_TB)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def _lava_run(graph: nir.NIRGraph, x_TB, pipelined: bool, lowering: str = "neurons") -> tuple:
    """One Lava run of ``x_TB`` (T, samples, *shape); returns ``(LavaRun, timing dict)``."""
    from ds2ta.sims.lava import LavaNetwork

    S = int(x_TB.shape[1])
    net = LavaNetwork(graph, int(x_TB.shape[0]), pipelined=pipelined, attention_lowering=lowering)
    run = net.run(x_TB.transpose(0, 1).numpy())
    return run, {"pipelined": pipelined, "attention_lowering": lowering, "processes": run.processes, "steps": run.steps, "period": run.period,
                 "latency_steps": net.latency_steps, "compile_s": run.compile_s, "run_s": run.run_s,
                 "ms_per_step": 1e3 * run.run_s / run.steps, "samples_per_s": S / run.run_s,
                 "samples_per_s_with_compile": S / (run.compile_s + run.run_s)}


def _check_equal(run, ref, ex, T: int, S: int) -> list:
    """Assert every recorded Lava population (and the prediction) equals the reference; returns the layers."""
    import torch

    from ds2ta.sims.reference import first_divergence

    lava_rec = {n: torch.from_numpy(np.ascontiguousarray(v.swapaxes(0, 1)).astype(np.int64))
                for n, v in run.records.items()}                              # (T, S, n)
    ref_rec = {n: ref.record[n].reshape(T, S, -1) for n in lava_rec if n in ref.record}
    if len(ref_rec) < 2:
        raise AssertionError(f"only {sorted(ref_rec)} of Lava's populations are reference nodes: nothing to compare")
    div = first_divergence(lava_rec, ref_rec, ex.order)
    if div is not None:
        raise AssertionError(f"Lava and the reference differ: {div}")
    out_src = [a for a, b in ex.edges if b in ex.outputs and a in run.records]
    if not out_src:
        raise AssertionError("no recorded Lava population feeds the graph's Output: predictions cannot be compared")
    if not np.array_equal(_prediction(run.records[out_src[0]]), ref.prediction.numpy()):
        raise AssertionError("Lava and reference predictions differ")
    return sorted(ref_rec)


def compare_backends(graph: nir.NIRGraph, x_TB, repeats: int = 3, modes=(False, True)) -> dict:
    """Run ``x_TB`` (T, samples, *shape) through Lava (once per mode in ``modes``: ``pipelined`` False /
    True) and the batched reference (CPU, and CUDA when available); check equality; time each.

    Raises:
        AssertionError: a recorded Lava population differs from the reference (names the first
            diverging layer, step, sample and neuron) or the predictions differ.
    """
    import torch

    from ds2ta.sims.reference import ReferenceExecutor, first_divergence

    T, S = int(x_TB.shape[0]), int(x_TB.shape[1])
    runs = [_lava_run(graph, x_TB, p) for p in modes]                         # Lava first: fork before CUDA
    t0 = time.perf_counter()
    ex = ReferenceExecutor(graph, "cpu")
    build_ref = time.perf_counter() - t0
    ref = ex.run(x_TB, record=True)
    layers = [_check_equal(run, ref, ex, T, S) for run, _ in runs][0]
    spikes = {n: int(v.sum()) for n, v in runs[0][0].records.items() if v.dtype == np.uint8}
    lava = {("pipelined" if t["pipelined"] else "sequential"): t for _, t in runs}
    res = {"samples": S, "T": T, "compared_layers": layers, "spikes_per_layer": spikes,
           "predictions_equal": True, "predictions": ref.prediction.tolist(), "lava": lava, "reference": {}}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        e = ex if dev == "cpu" else ReferenceExecutor(graph, dev)
        if dev != "cpu":
            got = e.run(x_TB, record=True).record
            bad = first_divergence({n: v.cpu() for n, v in got.items()}, ref.record, ex.order)
            if bad is not None:
                raise AssertionError(f"reference on {dev} differs from CPU: {bad}")
        times = _time_reference(e, x_TB, repeats)
        best = min(times)
        res["reference"][dev] = {"run_s": best, "run_s_all": times, "run_s_median": float(np.median(times)),
                                 "samples_per_s": S / best, "batch": S,
                                 "ratio_over_lava": {m: (S / best) / t["samples_per_s"] for m, t in lava.items()}}
    res["reference"]["cpu"]["build_s"] = build_ref
    return res


def compare_lowerings(graph: nir.NIRGraph, x_TB, repeats: int = 1) -> dict:
    """Lava (sequential) with the attention as library neurons and as the opaque core, same samples, side
    by side: seconds per sample (fastest of ``repeats`` runs), processes, and the ratio neurons / core
    (issue 11's goal: <= 1.5). Both runs' shared populations (all but the lowered ones) must be equal."""
    from ds2ta.sims.reference import first_divergence

    S = int(x_TB.shape[1])
    best = {}
    for lowering in ("core", "neurons"):
        runs = [_lava_run(graph, x_TB, False, lowering) for _ in range(max(1, repeats))]
        best[lowering] = min(runs, key=lambda r: r[1]["run_s"])
    core, neurons = best["core"][0], best["neurons"][0]
    shared = [n for n in core.records if n in neurons.records]
    div = first_divergence({n: core.records[n].swapaxes(0, 1) for n in shared},
                           {n: neurons.records[n].swapaxes(0, 1) for n in shared}, shared)
    if div is not None:
        raise AssertionError(f"the two lowerings differ outside the attention: {div}")
    rows = {lo: {**t, "s_per_sample": t["run_s"] / S} for lo, (_, t) in best.items()}
    return {"samples": S, "repeats": repeats, "rows": rows, "shared_populations_equal": len(shared),
            "lowered_populations": len(neurons.records) - len(shared),
            "ratio_neurons_over_core": rows["neurons"]["s_per_sample"] / rows["core"]["s_per_sample"],
            "ratio_with_compile": (rows["neurons"]["compile_s"] + rows["neurons"]["run_s"])
            / (rows["core"]["compile_s"] + rows["core"]["run_s"])}


def chain_graph(depth: int, width: int, rng: np.random.Generator) -> nir.NIRGraph:
    """``Input -> (Affine -> CubaLIF) x depth -> Output``, integer weights and Lava LIF parameters.

    Weights are even integers in [-80, 78] and ``vth`` 20: with inputs 0..3 every layer fires at a
    steady ~40 % rate (neither silent nor saturated), however deep the chain."""
    if depth < 1 or width < 1:
        raise ValueError(f"depth={depth}, width={width}: both must be >= 1")
    nodes, edges, prev = {"input": nir.Input(np.array([width]))}, [], "input"
    for i in range(depth):
        lava = {"du": np.full(width, 4095), "dv": np.full(width, 2048), "vth": np.full(width, 20),
                "bias_mant": np.zeros(width, int), "bias_exp": np.zeros(width, int)}
        nodes[f"fc{i}"] = nir.Affine(rng.integers(-40, 40, (width, width)) * 2, np.zeros(width))
        nodes[f"lif{i}"] = nir.CubaLIF(tau_syn=np.ones(width), tau_mem=np.full(width, 2.0),
                                       r=np.full(width, 2.0), v_leak=np.zeros(width),
                                       v_threshold=np.full(width, 20.0), v_reset=np.zeros(width),
                                       w_in=np.ones(width), metadata={"lava": lava})
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(np.array([width]))
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges)


def per_step_scaling(depths, width: int = 64, T: int = 8, samples: int = 4, seed: int = 0,
                     repeats: int = 1, progress: bool = True) -> dict:
    """Lava ms/step for chains of each depth; rows ``{depth, processes, steps, ms_per_step, ...}`` and a
    least-squares fit ``ms_per_step = slope * processes + intercept`` (and the log-log exponent).

    Each depth runs ``repeats`` times; the fastest run counts (the least disturbed by other load)."""
    from tqdm import tqdm

    from ds2ta.sims.lava import LavaNetwork

    rng = np.random.default_rng(seed)
    rows = []
    for d in tqdm(list(depths), desc="lava chains", disable=not progress):
        x = rng.integers(0, 4, (samples, T, width))
        net = LavaNetwork(chain_graph(d, width, rng), T)
        runs = [net.run(x) for _ in range(max(1, repeats))]
        run = min(runs, key=lambda r: r.run_s)
        rows.append({"depth": d, "processes": run.processes, "steps": run.steps, "compile_s": run.compile_s,
                     "run_s": run.run_s, "ms_per_step": 1e3 * run.run_s / run.steps,
                     "ms_per_step_all": [1e3 * r.run_s / r.steps for r in runs],
                     "spikes": (sp := int(sum(int(v.sum()) for n, v in run.records.items() if n != "input"))),
                     "spike_rate": sp / (d * samples * T * width)})
    fit = {}
    if len(rows) >= 2:
        p, ms = np.array([r["processes"] for r in rows], float), np.array([r["ms_per_step"] for r in rows])
        slope, icpt = np.polyfit(p, ms, 1)
        expo = np.polyfit(np.log(p), np.log(ms), 1)[0]  # ms/step ~ processes**expo (1 = linear)
        fit = {"ms_per_process_per_step": float(slope), "intercept_ms": float(icpt),
               "loglog_exponent": float(expo)}
    return {"width": width, "T": T, "samples": samples, "repeats": repeats, "rows": rows, "fit": fit}


def print_tables(part1: dict | None, part2: dict) -> None:
    """Human-readable summary on stdout."""
    if part1:
        acc = part1.get("accuracy", float("nan"))
        print(f"\nPart 1: {part1['graph']} - {part1['samples']} samples, T={part1['T']}, "
              f"{len(part1['compared_layers'])} layers equal spike for spike, accuracy {acc:.3f}")
        for mode, lv in part1["lava"].items():
            print(f"  Lava {mode}: {lv['processes']} processes, {lv['steps']} steps (period {lv['period']}), "
                  f"build+compile {lv['compile_s']:.2f} s, run {lv['run_s']:.2f} s = {lv['ms_per_step']:.1f} "
                  f"ms/step, {lv['samples_per_s']:.2f} samples/s ({lv['samples_per_s_with_compile']:.2f} "
                  "with compile)")
        for dev, r in part1["reference"].items():
            ratios = ", ".join(f"{v:.0f}x Lava {m}" for m, v in r["ratio_over_lava"].items())
            print(f"  reference {dev}: batch {r['batch']}, {r['run_s'] * 1e3:.1f} ms, "
                  f"{r['samples_per_s']:.1f} samples/s -> {ratios}")
        lo = part1.get("attention_lowering")
        if lo:
            for name, t in lo["rows"].items():
                print(f"  Lava attention as {name}: {t['processes']} processes, {t['s_per_sample']:.2f} s/sample, "
                      f"compile {t['compile_s']:.2f} s")
            print(f"  neurons / core: {lo['ratio_neurons_over_core']:.2f}x per sample "
                  f"({lo['ratio_with_compile']:.2f}x with compile; {lo['lowered_populations']} lowered populations)")
    print(f"\nPart 2: Lava chains, width {part2['width']}, T={part2['T']}, {part2['samples']} samples")
    print(f"  {'depth':>5} {'processes':>9} {'steps':>6} {'compile_s':>9} {'ms/step':>8}")
    for r in part2["rows"]:
        print(f"  {r['depth']:5d} {r['processes']:9d} {r['steps']:6d} {r['compile_s']:9.2f} {r['ms_per_step']:8.2f}")
    if part2["fit"]:
        f = part2["fit"]
        print(f"  fit: {f['ms_per_process_per_step']:.3f} ms per process per step + {f['intercept_ms']:.2f} ms; "
              f"ms/step ~ processes^{f['loglog_exponent']:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graph", default=None, help="exported .nir (default: train+export tiny into --work)")
    ap.add_argument("--work", default=ap_default_work(),
                    help="folder for the default graph (reused when it already holds export/model.nir)")
    ap.add_argument("--dataset", default="digits", help="test samples of this dataset (the graph's)")
    ap.add_argument("--samples", type=int, default=None, help="samples in part 1 (default 16; --quick 2)")
    ap.add_argument("--depths", type=int, nargs="+", default=None, help="chain depths in part 2")
    ap.add_argument("--width", type=int, default=None, help="chain width in part 2 (default 64)")
    ap.add_argument("--repeats", type=int, default=None, help="timed reference runs; the best counts")
    ap.add_argument("--lava-mode", choices=["both", "sequential", "pipelined"], default="both",
                    help="part 1 Lava schedule: a sample every T + depth steps, every T steps, or both")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads")
    ap.add_argument("--skip-part1", action="store_true", help="only the process-count scaling")
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--out", default="docs/results/sim_speed.json", help="result JSON ('' to skip)")
    ap.add_argument("--preset", default=None, help="run one preset side by side (benchmarks/sim_preset.py): "
                    "tiny, cifar10, ...; --graph gives its export, else it is trained briefly and exported")
    ap.add_argument("--seq-samples", type=int, default=None, help="--preset: Lava sequential samples")
    ap.add_argument("--pipe-samples", type=int, default=None, help="--preset: Lava pipelined samples")
    ap.add_argument("--batch", type=int, default=16, help="--preset: reference / float batch")
    ap.add_argument("--label", default="current", help="--preset: the row's name under presets.PRESET in --out "
                    "(e.g. 'before' for a run of an older checkout, side by side with 'current')")
    args = ap.parse_args(argv)
    if args.preset:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import sim_preset

        return sim_preset.main(args, _check_equal, machine_info, ap_default_work())
    size = dict(QUICK if args.quick else FULL)
    for k in ("samples", "depths", "width", "repeats"):
        if getattr(args, k) is not None:
            size[k] = getattr(args, k)
    try:
        import ds2ta.sims.lava  # noqa: F401
    except ImportError as e:
        print(f"sim_speed: error: Lava is not importable ({e}); install lava-nc (Python 3.10)", file=sys.stderr)
        return 2
    import torch

    from ds2ta.fileio import atomic_write_json
    from ds2ta.export import read_graph

    torch.set_num_threads(args.threads)
    modes = {"both": (False, True), "sequential": (False,), "pipelined": (True,)}[args.lava_mode]
    info = machine_info()
    part1 = None
    try:
        if not args.skip_part1:
            path = args.graph or build_default_graph(args.work)
            graph = read_graph(path)
            x_TB, labels = load_samples(graph, args.dataset, size["samples"])
            part1 = {"graph": str(path), "dataset": args.dataset,
                     **compare_backends(graph, x_TB, size["repeats"], modes)}
            part1["accuracy"] = float(np.mean(np.array(part1["predictions"]) == np.array(labels)))
            part1["attention_lowering"] = compare_lowerings(graph, x_TB, size["chain_repeats"])
        part2 = per_step_scaling(size["depths"], size["width"], size["chain_T"], size["chain_samples"],
                                 repeats=size["chain_repeats"])
    except ValueError as e:
        print(f"sim_speed: error: {e}", file=sys.stderr)
        return 2
    info["loadavg_1m_end"] = os.getloadavg()[0]
    print_tables(part1, part2)
    result = {"benchmark": "sim_speed", "quick": args.quick, "machine": info, "lava_vs_reference": part1,
              "lava_step_vs_processes": part2}
    if args.out:
        atomic_write_json(args.out, result)
        print(f"\nwrote {args.out}")
    return 0


def ap_default_work() -> str:
    return os.path.join(os.environ.get("TMPDIR", "/tmp"), "ds2ta-sim-speed")


if __name__ == "__main__":
    sys.exit(main())

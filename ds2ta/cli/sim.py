"""``ds2ta-sim``: run an exported NIR graph in Lava or the integer reference, or compare both.

    ds2ta-sim MODEL.nir --backend lava|reference [--dataset digits|DIR] [--samples N] [--compare]
              [--out DIR] [--workers N] [--shard I/N] [--pipelined | --sequential]
    ds2ta-sim merge --out DIR SHARD/simulation.json ...

Writes ``simulation.json`` (docs/simulation.md): per-layer counts, per-sample spikes and predictions,
accuracy, latency in steps and wall time; with ``--compare`` both backends, ``"match"`` and the first
diverging layer, step and neuron. ``--workers N`` runs N shards as local processes and merges them;
the same ``--shard I/N`` + ``merge`` commands run the shards on a cluster.

Lava schedule: a run of more than one sample is pipelined (a new sample enters every ``T`` steps, as
the chip runs); ``--sequential`` runs each sample through the whole pipeline before the next enters.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

from ds2ta.sims.results import array_sha256, file_sha256


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ds2ta-sim", description=__doc__.splitlines()[0])
    p.add_argument("model", help="exported graph (model.nir from ds2ta-export, or any integer NIR graph)")
    p.add_argument("--backend", choices=("lava", "reference"), default="lava")
    p.add_argument("--compare", action="store_true",
                   help="run both backends and check every layer's spikes, counts and outputs are identical")
    p.add_argument("--dataset", default=None,
                   help="dataset name (default: the graph's own) or a folder with x_int.npy [+ labels.npy]")
    p.add_argument("--data-dir", default=None, help="folder with CIFAR/DVS files for those datasets")
    p.add_argument("--samples", type=int, default=None, help="number of test samples (default: all)")
    p.add_argument("--start", type=int, default=0, help="index of the first test sample")
    p.add_argument("--T", type=int, default=None, help="steps per sample (default: the graph's metadata)")
    p.add_argument("--out", default=None, help="output folder (default: next to MODEL, sim/)")
    p.add_argument("--workers", type=int, default=1, help="local processes, each running a shard")
    p.add_argument("--shard", default=None, help="run only shard I/N of the selected samples (cluster use)")
    p.add_argument("--batch-size", type=int, default=64, help="reference samples per batch")
    p.add_argument("--device", default="cpu", help="reference device: cpu | cuda")
    sched = p.add_argument_group("Lava schedule (records and counts are the same in both; docs/simulation.md)")
    sched.add_argument("--pipelined", action="store_true",
                       help="a new sample enters every T steps while earlier ones are still in deeper layers, "
                            "as the chip runs (the default when more than one sample is selected); "
                            "simulation.json: steps_per_inference = T, the chip's throughput")
    sched.add_argument("--sequential", action="store_true",
                       help="each sample goes through the whole pipeline (T + latency steps) before the next "
                            "enters (the default for one sample): the network holds one sample's activity at a "
                            "time, to inspect one sample's wave through the layers in Lava's own time steps, or "
                            "to reproduce runs recorded before pipelining was the default; simulation.json: "
                            "steps_per_inference = T + latency_steps (a sample holds the chip through its drain)")
    p.add_argument("--chunk", type=int, default=1, help="Lava: samples per runtime call (progress step)")
    p.add_argument("--attention-lowering", choices=("neurons", "core"), default=None,
                   help="attention as Loihi-2 library neurons and synapses (every population checked by "
                        "--compare; default, or the graph's metadata choice) or as one opaque core per node")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--progress-file", default=None, help=argparse.SUPPRESS)  # used by --workers
    p.add_argument("--watch-parent", action="store_true", help=argparse.SUPPRESS)  # a shard: stop with it
    return p


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, ``kill``): unwinds like Ctrl-C, so Lava's processes and memory are freed."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        if argv[:1] == ["merge"]:
            return merge_main(argv[1:])
        args = build_parser().parse_args(argv)
        args.model = str(model_file(args.model))
        if args.workers > 1 and args.shard is None:
            return run_workers(args, argv)
        return run(args)
    except ValueError as e:
        print(f"ds2ta-sim: error: {e}", file=sys.stderr)
        return 2
    except Terminated:
        print("ds2ta-sim: terminated (SIGTERM); Lava processes stopped, nothing written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("ds2ta-sim: interrupted; Lava processes stopped, nothing written", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def check_args(args) -> None:
    """Options checked before any work: counts, one Lava schedule, the reference's device, a writable
    ``--out``."""
    for opt in ("batch_size", "workers", "chunk"):
        if getattr(args, opt) < 1:
            raise ValueError(f"--{opt.replace('_', '-')} {getattr(args, opt)}: give at least 1")
    if args.pipelined and args.sequential:
        raise ValueError("--pipelined and --sequential both given: choose one Lava schedule (default: "
                         "pipelined for more than one sample)")
    if args.compare or args.backend == "reference":
        from ds2ta.train_utils import check_device

        check_device(args.device)
    check_out_writable(_out_dir(args))


def check_out_writable(out: Path) -> None:
    """``--out`` can be written: the folder, or the nearest folder above it that exists (it is created
    only when the run has its result, so a failed run leaves no empty folder)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; pass a folder")
    probe = out
    while not probe.exists():
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".write-check-"):
            pass
    except OSError as e:
        raise ValueError(f"--out {out}: cannot write there ({e.strerror or e}); pass a writable folder") from None


def model_file(model: str) -> Path:
    """The NIR file to run: ``model`` itself, or ``model/model.nir`` when ``model`` is a folder (the one
    ``ds2ta-export --out`` writes)."""
    p = Path(model)
    if p.is_dir():
        if (p / "model.nir").is_file():
            return p / "model.nir"
        raise ValueError(f"{p} is a folder without model.nir; give the NIR file, or the folder ds2ta-export "
                         "--out wrote (it holds model.nir)")
    return p


def pipelined_schedule(args, total: int) -> bool:
    """The Lava schedule of a run selecting ``total`` samples (all shards together): ``--pipelined`` or
    ``--sequential`` if given, else pipelined for more than one sample. One sample runs the same Lava
    steps either way (``T + latency``); the schedules differ then only in ``steps_per_inference``."""
    if args.pipelined or args.sequential:
        return bool(args.pipelined)
    return total > 1


def lowering_of(graph, chosen: Optional[str]) -> str:
    """``--attention-lowering`` if given, else the export's choice (``metadata["attention_lowering"]``),
    else the default (``neurons``)."""
    from ds2ta.hardware.attention_lowering import DEFAULT_LOWERING, LOWERINGS

    meta = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else {}
    low = chosen or meta.get("attention_lowering") or DEFAULT_LOWERING
    if low not in LOWERINGS:
        raise ValueError(f"the graph's metadata names attention lowering {low!r}; pass --attention-lowering "
                         f"one of {LOWERINGS}")
    return low


def _out_dir(args) -> Path:
    return Path(args.out) if args.out else Path(args.model).resolve().parent / "sim"


def _read(model: str):
    from ds2ta.export import read_graph

    if not Path(model).exists():
        raise ValueError(f"{model}: no such file; export one with `ds2ta-export CHECKPOINT --target loihi2`")
    return read_graph(model)


def run(args) -> int:
    """One process: select samples (and a shard of them), run the backend(s), write simulation.json."""
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.data import count_samples, graph_T, load_samples, shard_range

    check_args(args)
    if args.watch_parent:  # a --workers shard: its parent's death (even SIGKILL) stops it cleanly
        from ds2ta.sims.lifetime import watch_parent
        watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    graph = _read(args.model)
    T = graph_T(graph, args.T)
    args.attention_lowering = lowering_of(graph, args.attention_lowering)
    first, n, shard, total = args.start, args.samples, None, None
    if args.shard is not None:
        total = args.samples if args.samples is not None else \
            count_samples(args.dataset, graph, args.data_dir, T) - args.start
        i, k, lo, hi = shard_range(total, args.shard)
        first, n, shard = args.start + lo, hi - lo, {"index": i, "count": k, "start": args.start + lo,
                                                     "stop": args.start + hi}
        if n == 0:
            raise ValueError(f"--shard {args.shard}: no samples fall into this shard ({total} in all)")
    x, labels, info = load_samples(graph, args.dataset, n, T, args.data_dir, start=first)
    # the schedule of the whole selection: every shard of a multi-sample run is pipelined, one of 1 sample too
    pipe = pipelined_schedule(args, x.shape[1] if total is None else total)
    progress = not args.no_progress
    on_sample = _progress_writer(args.progress_file)
    if args.compare:
        result = compare(graph, x, labels, args, first, progress, on_sample, pipe)
    elif args.backend == "reference":
        result = _reference(graph, x, labels, args, first, progress)
        on_sample(x.shape[1])
    else:
        from ds2ta.sims.lava.simulate import simulate_lava

        result, _ = simulate_lava(graph, x, labels, progress=progress, first_index=first,
                                  pipelined=pipe, chunk=args.chunk, T=T, on_sample=on_sample,
                                  attention_lowering=args.attention_lowering)
    result.update(graph=str(args.model), graph_sha256=file_sha256(args.model), data=info,
                  data_sha256=array_sha256(x, labels), **({"shard": shard} if shard else {}))
    out = _out_dir(args)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return 1 if args.compare and not result["match"] else 0


def _reference(graph, x, labels, args, first, progress, on_batch=None) -> dict:
    import numpy as np
    import torch

    from ds2ta.sims.reference import ReferenceExecutor
    from ds2ta.sims.reference.simulate import simulate

    ex = ReferenceExecutor(graph, device=args.device, attention_lowering=args.attention_lowering)
    return simulate(ex, torch.from_numpy(np.ascontiguousarray(x)), labels, batch_size=args.batch_size, progress=progress,
                    first_index=first, on_batch=on_batch)


def compare(graph, x, labels, args, first, progress, on_sample, pipelined: bool) -> dict:
    """Lava (schedule ``pipelined``) and the reference on the same samples; records compared on every
    layer, step and neuron."""
    from ds2ta.sims.lava.simulate import simulate_lava, time_major_records
    from ds2ta.sims.results import compare_results, first_divergence

    lava, run = simulate_lava(graph, x, labels, progress=progress, first_index=first,
                              pipelined=pipelined, chunk=args.chunk, T=x.shape[0], on_sample=on_sample,
                              attention_lowering=args.attention_lowering)
    lrec = time_major_records(run)
    order = list(run.records)
    divs = []

    def check(lo, res):  # reference batch [lo, lo + B) against the same slice of Lava's records
        if divs:
            return
        part = {k: v[:, lo:lo + res.prediction.shape[0]] for k, v in lrec.items()}
        d = first_divergence(res.record, part, order, sample_offset=first + lo)
        if d is not None:
            divs.append(d)

    ref = _reference(graph, x, labels, args, first, progress, on_batch=check)
    return compare_results({"reference": ref, "lava": lava}, divs[0] if divs else None, records_equal=not divs)


def _progress_writer(path: Optional[str]):
    if path is None:
        return lambda n: None

    from ds2ta.fileio import atomic_write_text

    def write(n: int) -> None:
        atomic_write_text(path, str(int(n)))
    return write


def _summary(res: dict, path: Path) -> None:
    if "backends" in res:
        acc = res["checks"]["accuracy"]
        print(f"ds2ta-sim: {res['samples']} samples, T={res['T']}: reference vs Lava match = {res['match']}"
              f" (accuracy reference {acc.get('reference')}, lava {acc.get('lava')}; latency "
              f"{res['checks']['latency_steps']} steps)")
        if not res["match"]:
            print(f"  first divergence: {res['first_divergence']}; count mismatches: "
                  f"{res['checks']['count_mismatches'][:3]}; latency equal: {res['checks'].get('latency_equal')}")
    else:
        print(f"ds2ta-sim: {res['backend']}: {res['samples']} samples, T={res['T']}, accuracy {res['accuracy']}, "
              f"latency {res['latency_steps']} steps, {res['wall_s']:.1f} s")
    print(f"  wrote {path}")


def run_workers(args, argv: List[str]) -> int:
    """``--workers N``: N shard processes of this same command, then ``merge``."""
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.data import count_samples, graph_T
    from ds2ta.sims.results import merge
    from ds2ta.sims.workers import read_int, stop_interrupted, strip_args
    from tqdm import tqdm

    check_args(args)
    graph = _read(args.model)
    T = graph_T(graph, args.T)
    args.attention_lowering = lowering_of(graph, args.attention_lowering)
    total = args.samples if args.samples is not None else \
        count_samples(args.dataset, graph, args.data_dir, T) - args.start
    n = min(args.workers, max(total, 1))
    out = _out_dir(args)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    base = strip_args(argv, ("--workers", "--out", "--shard", "--progress-file"),
                      ("--no-progress", "--watch-parent", "--pipelined", "--sequential"))
    # every shard runs the parent's schedule, decided on all the samples (a shard may hold only one)
    base.append("--pipelined" if pipelined_schedule(args, total) else "--sequential")
    procs, logs, files = [], [], []
    try:
        for i in range(n):
            d = shard_dir / str(i)
            d.mkdir(exist_ok=True)
            pf = d / "progress"
            pf.write_text("0")
            log = open(d / "log.txt", "w")
            logs.append(log)
            cmd = [sys.executable, "-m", "ds2ta.cli.sim", *base, "--shard", f"{i}/{n}", "--out", str(d),
                   "--no-progress", "--progress-file", str(pf), "--watch-parent"]
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            files.append(d / "simulation.json")
        with tqdm(total=total, desc=f"{'compare' if args.compare else args.backend} x{n}", unit="sample",
                  disable=args.no_progress) as bar:
            while any(p.poll() is None for p in procs):
                bar.n = sum(read_int(shard_dir / str(i) / "progress") for i in range(n))
                bar.refresh()
                time.sleep(0.5)
            bar.n = sum(read_int(shard_dir / str(i) / "progress") for i in range(n))
            bar.refresh()
    except BaseException:
        stop_interrupted(procs)  # SIGINT, then SIGTERM, then SIGKILL; frees what killed shards held
        raise
    finally:
        for log in logs:
            log.close()
    failed = [(i, p.returncode) for i, p in enumerate(procs) if p.returncode not in (0, 1)]
    if failed:
        i, rc = failed[0]
        tail = (shard_dir / str(i) / "log.txt").read_text()[-1500:]
        raise ValueError(f"shard {i}/{n} exited with {rc}; its log ({shard_dir / str(i) / 'log.txt'}) ends:\n{tail}")
    result = merge([json.loads(f.read_text()) for f in files])
    result.update(graph=str(args.model), graph_sha256=file_sha256(args.model), workers=n)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return 1 if args.compare and not result["match"] else 0


def merge_main(argv: List[str]) -> int:
    """``ds2ta-sim merge --out DIR FILE...``: one simulation.json from shard results."""
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.results import merge

    p = argparse.ArgumentParser(prog="ds2ta-sim merge", description="merge shard simulation.json files")
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--allow-partial", action="store_true",
                   help="merge an incomplete set of --shard results (the result says which shards it holds)")
    args = p.parse_args(argv)
    parts = []
    for f in args.files:
        if not Path(f).exists():
            raise ValueError(f"{f}: no such file (did that shard finish?)")
        parts.append(json.loads(Path(f).read_text()))
    result = merge(parts, allow_partial=args.allow_partial)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return 1 if "match" in result and not result["match"] else 0


if __name__ == "__main__":
    sys.exit(main())

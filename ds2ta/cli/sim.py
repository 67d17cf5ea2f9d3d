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

From Python: ``run_sim(SimOptions(model, compare=True, ...))`` (what ``ds2ta demo`` calls). This module
parses, checks the input, selects the samples and writes the result; the backends, the lowering and
schedule choices and the comparison are ``ds2ta.sims.backends``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ds2ta.cli.interrupts import SIGINT_STATUS, SIGTERM_STATUS, Terminated, sigterm_raises
from ds2ta.sims.backends import BACKENDS, lowering_of, pipelined_schedule, shard_selection, simulate_samples
from ds2ta.sims.results import array_sha256, file_sha256


@dataclass
class SimOptions:
    """One ``ds2ta-sim`` run: the fields are its options (``--no-progress`` -> ``no_progress``) with the
    same defaults (tests/ds2ta/test_cli.py checks they agree)."""

    model: str                                  # model.nir, or the folder ds2ta-export wrote
    backend: str = "lava"                       # "lava" | "reference" (one backend, without compare)
    compare: bool = False                       # both backends, compared on every layer, step and neuron
    dataset: Optional[str] = None               # dataset name or x_int.npy folder; None: the graph's own
    data_dir: Optional[str] = None              # CIFAR / DVS files for those datasets
    samples: Optional[int] = None               # test samples; None: all from start
    start: int = 0                              # index of the first test sample
    T: Optional[int] = None                     # steps per sample; None: the graph's conventions.T
    out: Optional[str] = None                   # output folder; None: MODEL's folder / sim
    workers: int = 1                            # local shard processes, merged into one result
    shard: Optional[str] = None                 # "I/N": only that shard of the selected samples
    batch_size: int = 64                        # reference samples per batch
    device: str = "cpu"                         # the reference's device
    pipelined: bool = False                     # Lava: a new sample every T steps (default for > 1 sample)
    sequential: bool = False                    # Lava: each sample through the whole pipeline first
    chunk: int = 1                              # Lava samples per runtime call
    attention_lowering: Optional[str] = None    # "neurons" | "core"; None: the graph's choice
    no_progress: bool = False                   # no progress bars
    progress_file: Optional[str] = None         # a --workers shard: samples done, for the parent's bar
    watch_parent: bool = False                  # a --workers shard: stop when the parent dies


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


def main(argv: Optional[List[str]] = None) -> int:
    """``ds2ta-sim``: 0, 1 when ``--compare`` finds a difference, 2 on bad input, 130 on Ctrl-C, 143 on
    SIGTERM (Lava's processes stopped, nothing written)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    with sigterm_raises():
        try:
            if argv[:1] == ["merge"]:
                return merge_main(argv[1:])
            opts = SimOptions(**vars(build_parser().parse_args(argv)))
            result = run_sim(opts)
            return 1 if opts.compare and not result["match"] else 0
        except ValueError as e:
            print(f"ds2ta-sim: error: {e}", file=sys.stderr)
            return 2
        except Terminated:
            print("ds2ta-sim: terminated (SIGTERM); Lava processes stopped, nothing written", file=sys.stderr)
            return SIGTERM_STATUS
        except KeyboardInterrupt:
            print("ds2ta-sim: interrupted; Lava processes stopped, nothing written", file=sys.stderr)
            return SIGINT_STATUS


def check_args(opts: SimOptions) -> None:
    """Options checked before any work: counts, one backend, one Lava schedule, the reference's device,
    a writable ``--out``."""
    for opt in ("batch_size", "workers", "chunk"):
        if getattr(opts, opt) < 1:
            raise ValueError(f"--{opt.replace('_', '-')} {getattr(opts, opt)}: give at least 1")
    if opts.backend not in BACKENDS:
        raise ValueError(f"--backend {opts.backend}: choose one of {BACKENDS}")
    if opts.pipelined and opts.sequential:
        raise ValueError("--pipelined and --sequential both given: choose one Lava schedule (default: "
                         "pipelined for more than one sample)")
    if opts.compare or opts.backend == "reference":
        from ds2ta.train_utils import check_device

        check_device(opts.device)
    check_out_writable(_out_dir(opts))


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


def _out_dir(opts: SimOptions) -> Path:
    return Path(opts.out) if opts.out else Path(opts.model).resolve().parent / "sim"


def _read(model: str):
    from ds2ta.export import read_graph

    if not Path(model).exists():
        raise ValueError(f"{model}: no such file; export one with `ds2ta-export CHECKPOINT --target loihi2`")
    return read_graph(model)


def run_sim(opts: SimOptions) -> dict:
    """Select the samples (and a shard of them), run the backend(s), write ``OUT/simulation.json``.

    ``opts.workers > 1`` without ``opts.shard`` runs the shards as processes (:func:`run_workers`).

    Returns:
        The ``simulation.json`` dict (docs/simulation.md); with ``compare``, ``result["match"]``.

    Raises:
        ValueError: Bad input (named), or a shard process that failed.
    """
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.data import count_samples, graph_T, load_samples
    from ds2ta.sims.workers import progress_writer

    opts = dataclasses.replace(opts, model=str(model_file(opts.model)))  # the caller's options stay as given
    if opts.workers > 1 and opts.shard is None:
        return run_workers(opts)
    check_args(opts)
    if opts.watch_parent:  # a --workers shard: its parent's death (even SIGKILL) stops it cleanly
        from ds2ta.sims.lifetime import watch_parent
        watch_parent(lambda: os.kill(os.getpid(), signal.SIGTERM))
    graph = _read(opts.model)
    T = graph_T(graph, opts.T)
    opts.attention_lowering = lowering_of(graph, opts.attention_lowering)
    first, n, shard, total = opts.start, opts.samples, None, None
    if opts.shard is not None:
        total = opts.samples if opts.samples is not None else \
            count_samples(opts.dataset, graph, opts.data_dir, T) - opts.start
        shard = shard_selection(opts.shard, opts.start, total)
        first, n = shard["start"], shard["stop"] - shard["start"]
    x, labels, info = load_samples(graph, opts.dataset, n, T, opts.data_dir, start=first)
    # the schedule of the whole selection: every shard of a multi-sample run is pipelined, one of 1 sample too
    pipe = pipelined_schedule(opts.pipelined, opts.sequential, x.shape[1] if total is None else total)
    result = simulate_samples(graph, x, labels, backend=opts.backend, compare=opts.compare,
                              attention_lowering=opts.attention_lowering, pipelined=pipe, first_index=first,
                              device=opts.device, batch_size=opts.batch_size, chunk=opts.chunk,
                              progress=not opts.no_progress, on_sample=progress_writer(opts.progress_file))
    result.update(graph=str(opts.model), graph_sha256=file_sha256(opts.model), data=info,
                  data_sha256=array_sha256(x, labels), **({"shard": shard} if shard else {}))
    out = _out_dir(opts)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return result


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


def command_line(opts: SimOptions) -> List[str]:
    """The ``ds2ta-sim`` arguments that parse back into ``opts`` (options at their default left out)."""
    argv = [str(opts.model)]
    for action in build_parser()._actions:
        if not action.option_strings or action.dest == "help":
            continue
        value = getattr(opts, action.dest)
        if value != action.default:
            flag = action.option_strings[0]
            argv += [flag] if action.nargs == 0 else [flag, str(value)]
    return argv


def run_workers(opts: SimOptions) -> dict:
    """``--workers N``: N shard processes of this same command (``--shard I/N``), then ``merge``."""
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.data import count_samples, graph_T
    from ds2ta.sims.results import merge
    from ds2ta.sims.workers import read_int, stop_interrupted
    from tqdm import tqdm

    check_args(opts)
    graph = _read(opts.model)
    T = graph_T(graph, opts.T)
    lowering = lowering_of(graph, opts.attention_lowering)
    total = opts.samples if opts.samples is not None else \
        count_samples(opts.dataset, graph, opts.data_dir, T) - opts.start
    n = min(opts.workers, max(total, 1))
    out = _out_dir(opts)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    # every shard runs the parent's schedule, decided on all the samples (a shard may hold only one)
    pipe = pipelined_schedule(opts.pipelined, opts.sequential, total)
    procs, logs, files = [], [], []
    try:
        for i in range(n):
            d = shard_dir / str(i)
            d.mkdir(exist_ok=True)
            pf = d / "progress"
            pf.write_text("0")
            log = open(d / "log.txt", "w")
            logs.append(log)
            shard = dataclasses.replace(opts, workers=1, shard=f"{i}/{n}", out=str(d), attention_lowering=lowering,
                                        pipelined=pipe, sequential=not pipe, no_progress=True,
                                        progress_file=str(pf), watch_parent=True)
            cmd = [sys.executable, "-m", "ds2ta.cli.sim", *command_line(shard)]
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
            files.append(d / "simulation.json")
        with tqdm(total=total, desc=f"{'compare' if opts.compare else opts.backend} x{n}", unit="sample",
                  disable=opts.no_progress) as bar:
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
    result.update(graph=str(opts.model), graph_sha256=file_sha256(opts.model), workers=n)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return result


def merge_main(argv: List[str]) -> int:
    """``ds2ta-sim merge --out DIR FILE...``: one simulation.json from shard results."""
    p = argparse.ArgumentParser(prog="ds2ta-sim merge", description="merge shard simulation.json files")
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--allow-partial", action="store_true",
                   help="merge an incomplete set of --shard results (the result says which shards it holds)")
    args = p.parse_args(argv)
    result = run_merge(args.files, args.out, allow_partial=args.allow_partial)
    return 1 if "match" in result and not result["match"] else 0


def run_merge(files: List[str], out: str, allow_partial: bool = False) -> dict:
    """Merge shard ``simulation.json`` files into ``OUT/simulation.json``; returns the merged result."""
    from ds2ta.fileio import atomic_write_json
    from ds2ta.sims.results import merge

    parts = []
    for f in files:
        if not Path(f).exists():
            raise ValueError(f"{f}: no such file (did that shard finish?)")
        parts.append(json.loads(Path(f).read_text()))
    result = merge(parts, allow_partial=allow_partial)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "simulation.json", result)
    _summary(result, out / "simulation.json")
    return result


if __name__ == "__main__":
    sys.exit(main())

"""``ds2ta demo``: the main job end to end, as an ordered list of stages.

Stages: train the ``tiny`` preset on the built-in digits, export it to a Loihi-2 NIR graph, simulate
a handful of test samples in Lava and in the integer reference and check they match spike for spike,
and write the report (mapping, energy from the simulated activity). Each stage takes the shared
:class:`DemoContext` and returns a summary dict that later stages can read from ``ctx.results[name]``
(for example the checkpoint path).

A stage calls the same function as its command (``train``, ``run_export``, ``run_sim``, ``run_report``
in ``ds2ta/cli/``) with typed options; a ``ValueError`` from it stops the demo with one line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ds2ta.cli.interrupts import SIGINT_STATUS, SIGTERM_STATUS, Terminated, sigterm_raises
from ds2ta.hardware.attention_lowering import DEFAULT_LOWERING, LOWERINGS


@dataclass
class DemoContext:
    """State shared by the stages.

    Attributes:
        out: the demo's output folder.
        args: parsed command-line arguments.
        results: summary dict of every finished stage, by stage name.
    """

    out: Path
    args: argparse.Namespace
    results: dict = field(default_factory=dict)


@dataclass
class Stage:
    """One step of the demo: ``run(ctx) -> summary dict``; ``describe`` is printed before it runs."""

    name: str
    describe: str
    run: Callable[[DemoContext], dict]


def train_stage(ctx: DemoContext) -> dict:
    """Train tiny DS2TA on digits into ``OUT/train``; returns accuracy, seconds and the checkpoint."""
    from ds2ta.cli.train import TrainOptions, train

    out = ctx.out / "train"
    m = train(TrainOptions(out=str(out), preset="tiny", dataset="digits", seed=ctx.args.seed,
                           device=ctx.args.device, epochs=ctx.args.epochs, no_progress=ctx.args.no_progress,
                           force=ctx.args.force))
    print(f"[train] tiny DS2TA on digits: test accuracy {m['test_accuracy']:.4f} "
          f"after {m['epochs']} epochs ({m['seconds']:.0f} s)")
    return dict(checkpoint=str(out / "model.pt"), metrics=str(out / "metrics.json"),
                test_accuracy=m["test_accuracy"], epochs=m["epochs"], seconds=m["seconds"])


def export_stage(ctx: DemoContext) -> dict:
    """Quantize the trained checkpoint to Loihi fixed point and write ``OUT/export/model.nir``."""
    from ds2ta.cli.export import ExportOptions, run_export

    ckpt = ctx.results.get("train", {}).get("checkpoint", str(ctx.out / "train" / "model.pt"))
    res = run_export(ExportOptions(ckpt, target=ctx.args.target, out=str(ctx.out / "export"),
                                   attention_lowering=getattr(ctx.args, "attention_lowering", None) or DEFAULT_LOWERING,
                                   no_progress=ctx.args.no_progress))
    q = res.summary
    return dict(graph=str(res.graph), quantization=str(res.quantization),
                float_accuracy=q["accuracy"]["float"], quantized_accuracy=q["accuracy"]["quantized"])


def sim_stage(ctx: DemoContext) -> dict:
    """Run ``--sim-samples`` digits test samples in Lava and the reference (``ds2ta-sim --compare``).

    Lava runs them pipelined (``ds2ta-sim``'s default for more than one sample: a new sample every T
    steps, as the chip runs), so the report prices the chip's throughput (``steps_per_inference = T``)."""
    from ds2ta.cli.sim import SimOptions, run_sim

    graph = ctx.results.get("export", {}).get("graph", str(ctx.out / "export" / "model.nir"))
    out = ctx.out / "sim"
    res = run_sim(SimOptions(graph, compare=True, samples=ctx.args.sim_samples, out=str(out),
                             no_progress=ctx.args.no_progress))
    lava = res["backends"]["lava"]
    print(f"[sim] Lava vs reference on {res['samples']} test samples: "
          f"{'MATCH, spike for spike on every layer' if res['match'] else 'MISMATCH'}; "
          f"Lava accuracy {lava['accuracy']:.4f}, latency {lava['latency_steps']} steps, "
          f"{'pipelined' if lava['lava']['pipelined'] else 'sequential'} (a sample every {lava['lava']['period']} "
          f"steps), {lava['lava']['processes']} Lava processes, {lava['wall_s']:.1f} s")
    if not res["match"]:
        raise ValueError(f"Lava and the reference differ: first divergence {res['first_divergence']}")
    return dict(simulation=str(out / "simulation.json"), match=res["match"], samples=res["samples"],
                lava_accuracy=lava["accuracy"], reference_accuracy=res["backends"]["reference"]["accuracy"],
                latency_steps=lava["latency_steps"], pipelined=lava["lava"]["pipelined"],
                steps_per_inference=lava["steps_per_inference"])


def report_stage(ctx: DemoContext) -> dict:
    """Map onto cores when the export did not, estimate energy and write ``OUT/report.html`` / ``report.md``
    / ``report.json`` (``ds2ta-report OUT``).

    Uses ``ctx.args.target`` for a graph that records no target, and ``ctx.args.chips`` when present
    (without it the graph maps onto the fewest chips it fits on, as ``--chips auto``).

    Returns:
        ``{"report": html path, "mapping": path or None, "cores": int or None, "energy": path or None,
        "missing": [...]}``.
    """
    from ds2ta.cli.report import run_report
    from ds2ta.report.inputs import prepare_inputs

    inputs = prepare_inputs(ctx.out, target=getattr(ctx.args, "target", None), chips=getattr(ctx.args, "chips", None))
    res = run_report(str(ctx.out))
    rep, html = res["report"], res["paths"]["html"]
    print(f"[report] {html} (missing inputs: {', '.join(rep['missing']) or 'none'})")
    cores = inputs["cores"]
    if cores is None:  # mapped by the export: the report read its mapping.json
        cores = (rep.get("mapping") or {}).get("total_cores")
    return {"report": html, "mapping": inputs["mapping"], "cores": cores, "energy": inputs["energy"],
            "missing": rep["missing"]}


# In running order.
STAGES: list[Stage] = [
    Stage("train", "train the tiny preset on the built-in digits", train_stage),
    Stage("export", "quantize to Loihi fixed point and write the NIR graph", export_stage),
    Stage("sim", "simulate test samples in Lava (fixed point) and the integer reference; compare", sim_stage),
    Stage("report", "map onto Loihi-2 cores, estimate energy, write the report", report_stage),
]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ds2ta demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the digits recipe)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--target", default="loihi2", help="export target (ds2ta.export.targets): its core "
                   "description maps and prices the model")
    p.add_argument("--attention-lowering", choices=LOWERINGS, default=DEFAULT_LOWERING,
                   help="attention on the chip, recorded in the exported graph (ds2ta-export): its mapping "
                        "and energy; the report shows both lowerings side by side")
    p.add_argument("--sim-samples", type=int, default=10, help="test samples simulated in Lava")
    p.add_argument("--stages", default=None,
                   help=f"comma-separated subset of {[s.name for s in STAGES]} (default: all)")
    p.add_argument("--force", action="store_true",
                   help="replace a model of another run (other epochs or seed) in OUT/train")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the stages in order; writes ``OUT/demo.json`` with every stage's summary.

    Returns 0, 2 when a stage fails (one line naming it and the error), 130 on Ctrl-C, 143 on SIGTERM
    (a stage's outputs are those of its last completed write: the commands write atomically)."""
    from ds2ta.fileio import atomic_write_json, json_default

    args = build_parser().parse_args(argv)
    names = [s.name for s in STAGES]
    chosen = names if args.stages is None else [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in names]
    if unknown:
        print(f"ds2ta demo: error: unknown stages {unknown}: choose from {names}", file=sys.stderr)
        return 2
    ctx = DemoContext(out=Path(args.out), args=args)
    ctx.out.mkdir(parents=True, exist_ok=True)
    with sigterm_raises():  # SIGTERM unwinds like Ctrl-C: Lava's processes of the sim stage are stopped
        for stage in STAGES:
            if stage.name not in chosen:
                continue
            print(f"[{stage.name}] {stage.describe}")
            try:
                ctx.results[stage.name] = stage.run(ctx)
            except ValueError as e:
                print(f"ds2ta demo: stage {stage.name!r} failed: {e}", file=sys.stderr)
                return 2
            except Terminated:
                print(f"ds2ta demo: terminated (SIGTERM) in stage {stage.name!r}", file=sys.stderr)
                return SIGTERM_STATUS
            except KeyboardInterrupt:
                print(f"ds2ta demo: interrupted in stage {stage.name!r}", file=sys.stderr)
                return SIGINT_STATUS
            atomic_write_json(ctx.out / "demo.json", ctx.results)
    print(json.dumps(ctx.results, indent=2, default=json_default))
    return 0


if __name__ == "__main__":
    sys.exit(main())

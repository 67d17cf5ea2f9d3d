"""``ds2ta-export model.pt --target loihi2 [--out DIR] [--calib-data digits|DIR] [--bits 8] [--qat-epochs N]``.

Writes ``model.nir``, ``quantization.json`` and ``mapping.json`` as one set into ``--out`` (staged beside
it, then swapped in whole: ``ds2ta.outfolder``) and prints a summary.
``--attention-lowering neurons|core`` (default neurons) is recorded in the graph's
``metadata["attention_lowering"]`` and in quantization.json; the mapping (``mapping.json``) places the
attention as that lowering. The accuracy is evaluated with the attention core, which computes the same
integers as the neuron lowering (``ds2ta.hardware.attention_lowering``) far faster.
``--chips auto`` (the default) maps onto the fewest chips the model fits on; ``--chips N`` refuses a
model that needs more, before the accuracy evaluation (``ds2ta.cli.export_chips``).
An output folder that holds anything but a previous export is refused; nothing is overwritten then.

A top-layer command (docs/architecture.md, "Layers"): it composes ``ds2ta.export`` (quantization,
NIR), ``ds2ta.hardware`` (the target's mapping) and ``ds2ta.sims.reference`` (accuracy of the
integer graph), so it lives beside the other commands rather than inside ``export/``.

From Python: ``run_export(ExportOptions("runs/tiny/model.pt", out="runs/tiny/export"))`` (what ``ds2ta
demo`` calls) returns an :class:`ExportResult`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time
import warnings
from dataclasses import dataclass
from typing import List, Optional, Union

import numpy as np
import torch
from tqdm import tqdm

from ds2ta.checkpoint import load_checkpoint, save_checkpoint
from ds2ta.fileio import atomic_write_json
from ds2ta.cli.export_chips import AUTO, chips_line, chips_record, parse_chips
from ds2ta.cli.export_graph import run_graph_source
from ds2ta.data import get_dataset
from ds2ta.export.model_quant import batched_accuracy, batched_spike_agreement, encode_int, graph_metadata
from ds2ta.export.nir_io import write_graph
from ds2ta.export.qat import qat_finetune
from ds2ta.export.quantize import CALIBRATION_MARGIN
from ds2ta.export.sources import source_kind
from ds2ta.export.targets import TARGETS, get_target
from ds2ta.hardware.attention_lowering import DEFAULT_LOWERING, LOWERINGS
from ds2ta.outfolder import check_writable, is_temporary, staged_folder
from ds2ta.sims.reference import ReferenceExecutor
from ds2ta.train_utils import check_device

OUR_FILES = {"model.nir", "quantization.json", "mapping.json", "model.pt"}  # model.pt: an imported checkpoint
REPORT_FORMAT = "ds2ta-quantization"
CALIB_BATCH = 64          # samples per --calib-batches batch
AGREEMENT_SAMPLES = 64    # test samples whose float and integer spikes are compared layer by layer
A_IN_MAX = 2 ** 15 - 1    # Lava LIF's a_in is int16: larger synaptic input wraps on the chip
INT16_CHECK_SAMPLES = 64  # calibration samples the integer graph runs to find a_in that still wraps


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ds2ta-export", description=__doc__.splitlines()[0])
    p.add_argument("checkpoint", metavar="MODEL",
                   help="model.pt written by ds2ta-train, a NIR graph (graph.nir) or a lava-dl netx network "
                        "(network.net); the kind is read from the file's content (docs/bring-your-own.md)")
    p.add_argument("--target", default="loihi2", help=f"export target ({', '.join(sorted(TARGETS))})")
    p.add_argument("--out", default=None, help="output folder (default: <checkpoint folder>/export)")
    p.add_argument("--calib-data", default=None,
                   help="'digits' / another dataset name, or a folder with x_int.npy and labels.npy "
                        "(default: the checkpoint's dataset)")
    p.add_argument("--data-dir", default=None, help="folder with CIFAR / DVS files for --calib-data names")
    p.add_argument("--attention-lowering", choices=LOWERINGS, default=DEFAULT_LOWERING,
                   help="attention on the chip: 'neurons' (Loihi-2 library neurons and synapses) or 'core' "
                        "(one opaque attention core); recorded in the graph and used by the mapping")
    p.add_argument("--chips", default=AUTO,
                   help="chips available: 'auto' (default) maps onto the fewest the model fits on; a positive "
                        "integer N is a cap, and a model that needs more is refused before the evaluation")
    p.add_argument("--bits", type=int, default=8, help="weight bits (8: even values in [-256, 254])")
    p.add_argument("--calib-batches", type=int, default=4, help=f"batches of {CALIB_BATCH} used for calibration")
    p.add_argument("--qat-epochs", type=int, default=0, help="quantization-aware fine-tune epochs (0 = PTQ)")
    p.add_argument("--batch-size", type=int, default=16,
                   help="batch of the accuracy evaluation (memory grows with it: ~55 MB per cifar10 sample)")
    p.add_argument("--device", default="cpu", help="device of the integer reference (cpu, cuda)")
    p.add_argument("--max-eval", type=int, default=None, help="evaluate at most this many test samples")
    p.add_argument("--dt", type=float, default=None,
                   help="NIR source: the time step its float dynamics assume when the graph does not record it "
                        "(snntorch 1e-4, sinabs 1)")
    p.add_argument("--T", type=int, default=None,
                   help="NIR/netx source: steps per sample (default: the graph's conventions.T, netx tSample)")
    p.add_argument("--seed", type=int, default=0,
                   help="NIR source without --calib-data: seed of the Poisson inputs of the float-vs-integer check")
    p.add_argument("--from", dest="from_", choices=("statten",), default=None,
                   help="MODEL is a checkpoint of another code base: 'statten' (what STAtten's official train.py "
                        "writes, or its bare state dict); imported as OUT/model.pt, then exported "
                        "(docs/bring-your-own.md, 'Official STAtten checkpoint')")
    p.add_argument("--config", default=None,
                   help="with --from statten: the official yml the model was trained with "
                        "(conf/cifar10/2_256_200E_t4.yml, ...)")
    p.add_argument("--attention-mode", default="STAtten", choices=("STAtten", "SDT"),
                   help="with --from statten: the official model's attention_mode (train.py builds STAtten)")
    p.add_argument("--no-progress", action="store_true")
    return p


@dataclass
class ExportOptions:
    """One export: the fields are ``ds2ta-export``'s options (``--no-progress`` -> ``no_progress``, ``--from``
    -> ``from_``) with the same defaults (tests/ds2ta/test_cli.py checks they agree)."""

    checkpoint: str                                 # model.pt, a NIR graph or a netx network (read by content)
    target: str = "loihi2"                          # export target (ds2ta.export.targets.TARGETS)
    out: Optional[str] = None                       # output folder; None: <checkpoint folder>/export
    calib_data: Optional[str] = None                # dataset name or x_int.npy + labels.npy folder
    data_dir: Optional[str] = None                  # CIFAR / DVS files for calib_data names
    attention_lowering: str = DEFAULT_LOWERING      # "neurons" | "core": recorded in the graph, mapped
    chips: Union[str, int] = AUTO                   # "auto" (the fewest that fit) or a positive cap
    bits: int = 8                                   # weight bits
    calib_batches: int = 4                          # calibration batches of CALIB_BATCH samples
    qat_epochs: int = 0                             # quantization-aware fine-tune epochs (0 = PTQ)
    batch_size: int = 16                            # batch of the accuracy evaluation
    device: str = "cpu"                             # device of the integer reference
    max_eval: Optional[int] = None                  # evaluate at most this many test samples
    dt: Optional[float] = None                      # NIR source: the time step of its float dynamics
    T: Optional[int] = None                         # NIR / netx source: steps per sample
    seed: int = 0                                   # NIR source: seed of the Poisson check inputs
    from_: Optional[str] = None                     # "statten": checkpoint of the official code base
    config: Optional[str] = None                    # with from_: the official yml
    attention_mode: str = "STAtten"                 # with from_: "STAtten" | "SDT"
    no_progress: bool = False                       # no progress bars


@dataclass
class ExportResult:
    """What an export wrote into ``out`` (one consistent set, swapped in whole)."""

    out: pathlib.Path                               # the output folder
    graph: pathlib.Path                             # out / model.nir
    quantization: Optional[pathlib.Path]            # out / quantization.json (None: netx, integer NIR)
    mapping: Optional[pathlib.Path]                 # out / mapping.json (None: the target does not map)
    summary: Optional[dict]                         # quantization.json's content


def check_out_dir(out: pathlib.Path) -> None:
    """Refuse a folder that holds something other than a previous ds2ta export."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder")
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name not in OUR_FILES and not is_temporary(p.name))
        if other:
            raise ValueError(f"--out {out} already holds {other[:5]}: choose an empty or new folder")
        q = out / "quantization.json"
        if q.exists():
            try:
                fmt = json.loads(q.read_text()).get("format")
            except (OSError, ValueError):
                fmt = None
            if fmt != REPORT_FORMAT:
                raise ValueError(f"--out {out}: quantization.json is not a ds2ta export; choose another folder")
    check_writable(out)


def load_data(name_or_dir: str, ckpt: dict, data_dir: Optional[str], train_limit: Optional[int] = None,
              test_limit: Optional[int] = None):
    """``(train_x_int, train_y, test_x_int, test_y, input_scale)`` as int32 tensors.

    ``train_limit`` / ``test_limit`` read only the first samples of each split (the calibration needs
    a few batches; a whole CIFAR training split as int64 would take over a gigabyte)."""
    info = ckpt.get("dataset", {})
    scale = float(info.get("input_scale", 1.0))
    path = pathlib.Path(name_or_dir)
    if path.is_dir():
        x, y = path / "x_int.npy", path / "labels.npy"
        if not (x.exists() and y.exists()):
            raise ValueError(f"--calib-data {path}: expected x_int.npy and labels.npy in the folder")
        xi, yi = torch.from_numpy(np.load(x)).int(), torch.from_numpy(np.load(y)).long()
        return xi[:train_limit], yi[:train_limit], xi[:test_limit], yi[:test_limit], scale
    tr, te, dinfo = get_dataset(name_or_dir, data_dir=data_dir, T=info.get("T"), augment=False)
    scale = float(dinfo.get("input_scale", scale))

    def ints(ds, limit):
        n = len(ds) if limit is None else min(len(ds), limit)
        x = torch.stack([(ds[i][0] / scale).round().int() for i in range(n)])
        y = torch.tensor([int(ds[i][1]) for i in range(n)])
        return x, y
    return (*ints(tr, train_limit), *ints(te, test_limit), scale)


def main(argv: Optional[List[str]] = None) -> int:
    """``ds2ta-export``: 0, 2 on bad input (one line), 130 on Ctrl-C (nothing written)."""
    opts = ExportOptions(**vars(build_parser().parse_args(argv)))
    try:
        run_export(opts)
        return 0
    except ValueError as e:
        print(f"ds2ta-export: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # the staged outputs are removed; --out keeps the previous export
        print("ds2ta-export: interrupted; nothing written", file=sys.stderr)
        return 130


def run_export(opts: ExportOptions) -> ExportResult:
    """Quantize (or convert) ``opts.checkpoint`` for ``opts.target``, evaluate it, map it and write
    ``model.nir``, ``quantization.json`` and ``mapping.json`` into the output folder; prints a summary.

    Raises:
        ValueError: Bad options or input (named), a model that does not fit ``chips`` (``MappingError``);
            the output folder is left as it was.
    """
    t0 = time.perf_counter()
    args = dataclasses.replace(opts)  # the caller's options stay as given
    args.chips = parse_chips(args.chips)  # None: auto
    target = get_target(args.target)
    if not 1 <= args.bits <= target.max_weight_bits:
        raise ValueError(f"--bits {args.bits}: target {target.name} stores 1..{target.max_weight_bits} bits")
    ck = pathlib.Path(args.checkpoint)
    out = pathlib.Path(args.out) if args.out else ck.resolve().parent / "export"
    check_out_dir(out)
    imported = None
    kind = "checkpoint" if args.from_ is not None else source_kind(ck)  # --from: the importer reads it
    if args.from_ is not None or args.config is not None:
        if args.from_ is None or args.config is None:
            raise ValueError("--from statten and --config YML go together: give both to import an official "
                             "STAtten checkpoint")
        from ds2ta.export.statten_import import import_official
        imported = import_official(ck, args.config, args.attention_mode)
        cfg_i = imported[0].cfg
        if cfg_i.encoding == "events" and not (args.calib_data and pathlib.Path(args.calib_data).is_dir()):
            raise ValueError(f"--from statten with an event-data config ({cfg_i.img_size} x {cfg_i.img_size} frames, "
                             f"T {cfg_i.T}) needs --calib-data DIR holding x_int.npy (S, {cfg_i.T}, "
                             f"{cfg_i.in_channels}, {cfg_i.img_size}, {cfg_i.img_size}) made by the official "
                             "pipeline (its frames are resized to img_size); ds2ta's DVS loaders make 128 x 128 frames")
    elif kind != "checkpoint":  # a NIR graph or a lava-dl netx network (ds2ta/cli/export_graph.py)
        return export_result(out, run_graph_source(args, kind, target, out))
    device = check_device(args.device)
    if imported is not None:  # the official weights as a ds2ta model; written as OUT/model.pt below
        model, dataset_info, provenance = imported
        ckpt = {"dataset": dataset_info, "config": model.cfg.to_dict(), "imported": provenance}
    else:
        model, ckpt = load_checkpoint(ck)
    cfg = model.cfg
    name = args.calib_data or ckpt.get("dataset", {}).get("name", "digits")
    xtr, ytr, xte, yte, scale = load_data(name, ckpt, args.data_dir,
                                          None if args.qat_epochs > 0 else CALIB_BATCH * args.calib_batches,
                                          args.max_eval or None)
    calib_x = xtr[: CALIB_BATCH * args.calib_batches].float() * scale
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size}: give at least 1")
    model.to(device)  # the float evaluation and QAT run where the integer reference runs
    float_acc = batched_accuracy(model, xte.float() * scale, yte, args.batch_size)
    if args.qat_epochs > 0:
        qat_finetune(model, xtr.float() * scale, ytr, args.qat_epochs, bits=args.bits,
                     progress=not args.no_progress)
        float_acc_qat = batched_accuracy(model, xte.float() * scale, yte, args.batch_size)
    model.cpu()  # quantization and the float-vs-integer spike agreement work on CPU tensors
    meta = graph_metadata(model, ckpt, ck, target.name, scale)
    graph, report, caught, refit = quantize_within_int16(target, model, scale, calib_x, args.bits, meta,
                                                         xtr[: min(calib_x.shape[0], INT16_CHECK_SAMPLES)],
                                                         args.device)
    graph.metadata["attention_lowering"] = args.attention_lowering
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # a cap the model exceeds fails here (MappingError is a ValueError), before the accuracy evaluation
    mapping = target.map(graph, args.chips)
    ex = ReferenceExecutor(graph, device=args.device, attention_lowering="core")  # same integers, faster
    preds, max_in = [], {}
    for lo in tqdm(range(0, xte.shape[0], args.batch_size), desc="integer reference",
                   disable=args.no_progress):
        res = ex.run(encode_int(cfg, xte[lo:lo + args.batch_size]))
        preds.append(res.prediction)
        for k, v in res.max_abs_input.items():
            max_in[k] = max(max_in.get(k, 0), v)
    over = {k: v for k, v in max_in.items() if v > A_IN_MAX}
    if over:
        warnings.warn(f"synaptic input beyond int16 (Lava LIF a_in) on the test data: {over}")
    int_acc = float((torch.cat(preds) == yte).double().mean())
    nb = min(AGREEMENT_SAMPLES, xte.shape[0])
    agree = batched_spike_agreement(model, ex, xte[:nb], scale, args.batch_size)
    summary = {
        "format": REPORT_FORMAT, "format_version": 1, "target": target.name, "bits": args.bits,
        "checkpoint": str(ck), "attention_lowering": args.attention_lowering, "calibration": {"data": name, "samples": int(calib_x.shape[0]), "margin": CALIBRATION_MARGIN},
        "qat_epochs": args.qat_epochs,
        "accuracy": {"float": float_acc, "quantized": int_acc, "split": "test" if not pathlib.Path(name).is_dir()
                     else "calib-data folder", "samples": int(xte.shape[0]),
                     **({"float_after_qat": float_acc_qat} if args.qat_epochs > 0 else {})},
        "spike_agreement_float_vs_int": agree,
        "warnings": [str(w.message) for w in caught] + ([f"a_in beyond int16: {over}"] if over else []),
        "max_abs_input": max_in, "int16_refit": refit,
        "layers": report, "seconds": time.perf_counter() - t0,
        "latency_steps": mapping.latency_steps if mapping is not None else ex.latency_steps,
        **({"chips": chips_record(mapping, args.chips)} if mapping is not None else {}),
    }
    summary = _jsonable(summary)
    with staged_folder(out) as stage:  # the files replace the folder together, never mixed with older ones
        if imported is not None:
            save_checkpoint(stage / "model.pt", model, ckpt["dataset"], {"imported": ckpt["imported"]},
                            recipe=ckpt["imported"])
        write_graph(stage / "model.nir", graph)
        atomic_write_json(stage / "quantization.json", summary)
        if mapping is not None:
            target.write_mapping(mapping, stage / "mapping.json")
    print(f"ds2ta-export: {ck} -> {out / 'model.nir'} (target {target.name}, {args.bits}-bit weights, "
          f"attention lowering {args.attention_lowering})")
    print(f"  accuracy on {xte.shape[0]} samples: float {float_acc:.4f}  quantized {int_acc:.4f} "
          f"(delta {100 * (int_acc - float_acc):+.2f} pp)")
    if mapping is not None:
        print(f"  {chips_line(mapping, args.chips)}; {out / 'mapping.json'}")
    print(f"  {len(graph.nodes)} nodes, latency {summary['latency_steps']} steps, {len(caught)} warnings; "
          f"report {out / 'quantization.json'}")
    return export_result(out, summary)


def export_result(out: pathlib.Path, summary: Optional[dict]) -> ExportResult:
    """The :class:`ExportResult` of the folder just written (``summary``: quantization.json's content)."""
    mapping = out / "mapping.json"
    return ExportResult(out=out, graph=out / "model.nir",
                        quantization=None if summary is None else out / "quantization.json",
                        mapping=mapping if mapping.is_file() else None, summary=summary)


def quantize_within_int16(target, model, scale, calib_x, bits, meta, x_check, device, rounds: int = 2):
    """Quantize, then run the integer graph on ``x_check`` (the first calibration samples, integers): a
    neuron whose int16 synaptic input ``a_in`` wraps there (the integer model's currents can pass the float
    model's, quantization error building up upstream) has its calibrated current raised by the ratio to
    ``A_IN_MAX / CALIBRATION_MARGIN`` and the model is quantized again (at most ``rounds`` times).

    Returns ``(graph, report, warnings of the last pass, {neuron: factor}``)."""
    boost: dict = {}
    for attempt in range(rounds + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            graph, report, _ = target.quantize(model, scale, calib_x, bits, meta,
                                               **({"boost": boost} if boost else {}))
        if attempt == rounds or x_check.shape[0] == 0:
            break
        ex = ReferenceExecutor(graph, device=device, attention_lowering="core")
        seen = ex.run(encode_int(model.cfg, x_check)).max_abs_input
        over = {n: v for n, v in seen.items() if v > A_IN_MAX and report.get(n, {}).get("kind") == "w"}
        if not over:
            break
        for n, v in over.items():
            boost[n] = boost.get(n, 1.0) * v / (A_IN_MAX / CALIBRATION_MARGIN)
    return graph, report, caught, {n: float(f) for n, f in boost.items()}


def _jsonable(o):
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return o


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

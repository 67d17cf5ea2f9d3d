"""``ds2ta-export`` for models that are not ds2ta checkpoints: a NIR graph or a lava-dl netx network.

Writes the same folder as for a checkpoint (``ds2ta.outfolder``: one consistent set), so ``ds2ta-sim``
and ``ds2ta-report`` work unchanged:

- ``model.nir``: the integer graph (docs/nir-format.md) with the conventions assumed in
  ``metadata["conventions"]`` (docs/bring-your-own.md).
- ``quantization.json`` (float NIR sources only): per-node formats and errors, and the float-vs-integer
  agreement on the same samples — spike-count correlation and exact-spike agreement per spiking node,
  prediction agreement — with the float graph run by ``ds2ta.sims.reference.float_nir`` (the
  project's float semantics at the source ``dt``). Samples: ``--calib-data DIR`` (``x_int.npy``,
  optional ``labels.npy``), else Poisson integer inputs drawn with ``--seed``; which one is recorded.
- ``mapping.json``: the target's mapping, onto ``args.chips`` chips (None: the fewest it fits on;
  ``ds2ta.cli.export_chips``).

A netx network and an already integer NIR graph have no float source: they are converted exactly
(``ds2ta.export.netx_import``) and get ``model.nir`` and ``mapping.json``.
"""

from __future__ import annotations

import pathlib
import time
import warnings
from typing import Optional

import numpy as np
import torch

from ds2ta.fileio import atomic_write_json
from ds2ta.cli.export_chips import chips_line, chips_record
from ds2ta.export.netx_import import netx_conventions, netx_to_nir
from ds2ta.export.nir_io import write_graph
from ds2ta.hardware.graph import graph_T
from ds2ta.export.nir_source import integer_source, is_integer, read_source, source_dt
from ds2ta.hardware.netx import read_net_file
from ds2ta.outfolder import staged_folder
from ds2ta.sims.data import graph_input_shape, load_samples
from ds2ta.sims.reference import ReferenceExecutor
from ds2ta.sims.reference.float_nir import FloatExecutor

REPORT_FORMAT = "ds2ta-quantization"  # the same format name as a checkpoint export (check_out_dir)
POISSON_LAM = 1.0                      # mean input per element and step of the generated samples
DEFAULT_SAMPLES = 32                   # generated samples when no --calib-data is given


def sample_inputs(graph, args, T: int) -> tuple:
    """``(x_int (T, S, *in) int64, labels or None, description)`` from ``--calib-data DIR`` or Poisson."""
    if args.calib_data:
        if not pathlib.Path(args.calib_data).is_dir():
            raise ValueError(f"--calib-data {args.calib_data}: for a NIR or netx source give a folder with "
                             "x_int.npy (integer inputs, (S, *input) or (S, T, *input)) and optional labels.npy")
        x, labels, _ = load_samples(graph, args.calib_data, args.max_eval, T)
        x = np.array(x)  # a writable copy (load_samples maps the file read-only)
        labels = None if all(v is None for v in labels) else labels
        return x, labels, {"kind": "calib-data folder", "folder": str(args.calib_data), "samples": int(x.shape[1])}
    n = args.max_eval or DEFAULT_SAMPLES
    rng = np.random.default_rng(args.seed)
    x = rng.poisson(POISSON_LAM, (T, n, *graph_input_shape(graph))).astype(np.int64)
    return x, None, {"kind": "poisson", "lam": POISSON_LAM, "seed": int(args.seed), "samples": n,
                     "note": "random integer inputs: no --calib-data folder was given"}


def agreement(float_rec: dict, int_rec: dict, spiking: set, pred_f, pred_i, labels) -> dict:
    """Float vs integer on the same samples: per spiking node the Pearson correlation of the per-sample,
    per-neuron spike counts and the fraction of equal (step, neuron) spikes; prediction agreement."""
    nodes = {}
    for n in sorted(spiking):
        if n not in int_rec:
            continue
        f = float_rec[n].reshape(float_rec[n].shape[0], float_rec[n].shape[1], -1).numpy()
        i = int_rec[n].reshape(int_rec[n].shape[0], int_rec[n].shape[1], -1).numpy().astype(np.float64)
        cf, ci = f.sum(0).ravel(), i.sum(0).ravel()
        corr = float(np.corrcoef(cf, ci)[0, 1]) if cf.std() > 0 and ci.std() > 0 else None
        nodes[n] = {"spike_count_correlation": corr, "spike_agreement": float((f == i).mean()),
                    "spikes_float": int(cf.sum()), "spikes_int": int(ci.sum())}
    out = {"nodes": nodes, "prediction_agreement": float((pred_f == pred_i).double().mean())}
    if labels is not None:
        y = torch.tensor(labels)
        out["accuracy_float"] = float((pred_f == y).double().mean())
        out["accuracy_int"] = float((pred_i == y).double().mean())
    return out


def _netx(args, path):
    layers = read_net_file(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph, notes = netx_to_nir(layers)
    T = args.T if args.T is not None else layers[0]["file"]["tSample"]
    if T is None:
        raise ValueError(f"{path} records no simulation/tSample: pass --T (steps per sample)")
    graph.metadata = {"format": "ds2ta-nir", "format_version": 1, "target": args.target, "integer": 1,
                      "source": {"kind": "netx", "file": str(path)},
                      "conventions": {"dt": 1.0, "T": int(T), **netx_conventions(graph),
                                      "flatten_order": "netx (W, H, C) -> (C, H, W) -> C order",
                                      "notes": notes}}
    return graph, None, notes, caught


def _nir(args, path, target):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fgraph = read_source(path)
        if is_integer(fgraph):
            return fgraph, None, ["an integer ds2ta graph: written as it is (no float source)"], caught
        dt = source_dt(fgraph, args.dt)
        T = args.T if args.T is not None else graph_T(fgraph)
        if T is None:
            raise ValueError("the NIR graph does not say how many steps a sample takes: pass --T")
        graph, report, lines = integer_source(fgraph, dt, args.bits, int(T), path)
    if args.calib_data:
        graph.metadata["dataset"] = {"name": str(args.calib_data)}
    x, labels, inputs = sample_inputs(graph, args, int(T))
    fex = FloatExecutor(fgraph, dt)
    frec = fex.run(torch.from_numpy(x))
    ex = ReferenceExecutor(graph)
    res = ex.run(torch.from_numpy(x), record=fex.spiking)
    agree = agreement(frec, res.record, fex.spiking, fex.prediction(frec), res.prediction, labels)
    summary = {"format": REPORT_FORMAT, "format_version": 1, "target": target.name, "bits": args.bits,
               "source": {"kind": "nir", "file": str(path), "dt": dt}, "conventions": graph.metadata["conventions"],
               "inputs": {**inputs, "T": int(T)}, "agreement_float_vs_int": agree,
               "prediction_agreement_float_vs_int": agree["prediction_agreement"],  # scalars: shown by the report
               "agreement_inputs": f"{inputs['kind']}, {inputs['samples']} samples",
               "float_semantics": "ds2ta.sims.reference.float_nir (exact dt/tau decays, v >= theta, reset to 0)",
               "layers": report, "max_abs_input": res.max_abs_input,
               "warnings": [str(w.message) for w in caught]}
    if labels is not None:  # the checkpoint export's accuracy block, so the report shows it
        summary["accuracy"] = {"float": agree["accuracy_float"], "quantized": agree["accuracy_int"],
                               "split": "calib-data folder", "samples": int(x.shape[1])}
    return graph, summary, lines, caught


def check_source_options(args, kind: str) -> None:
    """``--T`` and ``--dt`` of a graph source, checked before any work: a step count of at least 1 (0 used
    to mean "not given", a negative one ended in numpy's "negative dimensions"), a positive ``dt``, and
    no ``--dt`` for a netx network (it is integer: one step per time step; the value used to be ignored)."""
    if args.T is not None and args.T < 1:
        raise ValueError(f"--T {args.T}: give the steps per sample, at least 1")
    if args.dt is not None and not args.dt > 0:
        raise ValueError(f"--dt {args.dt}: give the time step of the graph's float dynamics, a positive number "
                         "(snntorch 1e-4, sinabs 1)")
    if kind == "netx" and args.dt is not None:
        raise ValueError(f"--dt {args.dt}: a lava-dl netx network is integer and runs one step per time step; "
                         "drop --dt (--T sets the steps per sample)")


def run_graph_source(args, kind: str, target, out: pathlib.Path) -> Optional[dict]:
    """Convert, map and write the folder for a ``"nir"`` or ``"netx"`` source; print what was assumed.

    Args:
        args: the export's options (``ds2ta.cli.export.ExportOptions``, ``chips`` parsed: a cap or None).

    Returns:
        quantization.json's content, None when there is none (a netx network, an integer NIR graph)."""
    t0 = time.perf_counter()
    if args.qat_epochs:
        raise ValueError(f"--qat-epochs {args.qat_epochs}: fine-tuning needs a ds2ta checkpoint; a {kind} "
                         "source is converted as it is")
    path = pathlib.Path(args.checkpoint)
    check_source_options(args, kind)
    graph, summary, lines, warned = _netx(args, path) if kind == "netx" else _nir(args, path, target)
    for w in warned:  # shown once the conversion is done (type-check failures, conventions, lossy steps)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    graph.metadata.setdefault("attention_lowering", args.attention_lowering)
    mapping = target.map(graph, args.chips)  # args.chips: a positive cap, or None (auto)
    if summary is not None:
        summary.update(seconds=time.perf_counter() - t0,
                       latency_steps=mapping.latency_steps if mapping is not None else None)
        if mapping is not None:
            summary["chips"] = chips_record(mapping, args.chips)
    with staged_folder(out) as stage:  # the files replace the folder together, never mixed with older ones
        write_graph(stage / "model.nir", graph)
        if summary is not None:
            atomic_write_json(stage / "quantization.json", summary)
        if mapping is not None:
            target.write_mapping(mapping, stage / "mapping.json")
    print(f"ds2ta-export: {path} ({kind}) -> {out / 'model.nir'} (target {target.name})")
    for line in lines:
        print(f"  {line}")
    if summary is not None:
        a, inp = summary["agreement_float_vs_int"], summary["inputs"]
        corr = {n: (None if v["spike_count_correlation"] is None else round(v["spike_count_correlation"], 4))
                for n, v in a["nodes"].items()}
        print(f"  float vs integer on {inp['samples']} samples ({inp['kind']}"
              f"{', seed ' + str(inp['seed']) if 'seed' in inp else ''}), T={inp['T']}: prediction agreement "
              f"{a['prediction_agreement']:.4f}, spike-count correlation {corr}")
    if mapping is not None:
        print(f"  {chips_line(mapping, args.chips)}; {out / 'mapping.json'}")
    print(f"  {len(graph.nodes)} nodes, {len(warned)} warnings"
          + (f"; report {out / 'quantization.json'}" if summary is not None else ""))
    return summary

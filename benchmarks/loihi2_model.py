"""Loihi 2 time and power model: fit on PilotNet-LIF, check on PilotNet SDNN, then price the DS2TA presets.

Run:  .venv/bin/python benchmarks/loihi2_model.py [--presets tiny,cifar10,...] [--record]
      (PilotNet SDNN's activity: benchmarks/loihi2_sdnn_activity.py, recorded in hardware/)

Writes ``docs/results/loihi2_model.json`` with ``--record`` and prints the fit/check and deployment tables
of docs/hardware.md ("Loihi 2 time and power model").

Presets: the untrained model of each preset (``quantize_model``, seed 0, as tests/hardware/test_presets_map.py)
mapped with the vendor-limit mapper (``check_fits``, ``--chips auto``); layers of the kinds the Intel-like
rules cover (input, conv, dense, readout) take their Intel-like core counts, the others (attention, lowered
populations, pools) keep the vendor-limit mapper's. Activity: an assumed firing rate ``--rate`` on every
layer (default 0.03, about the median firing rate of the briefly trained presets in docs/results/scale.json):
per step a layer updates all its neurons, emits ``rate x neurons`` spikes, each reaching every core of each
consumer, and receives ``rate x synaptic inputs`` synaptic events (``neurons x fan_in x replicas`` for
conv/dense, stored entries for the others). Host input per inference: the image through ``DELTA_SPARSE_8``
(2 bytes per nonzero value, every value nonzero: an upper bound) at the host rate fitted on PilotNet SDNN.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

from ds2ta.hardware.loihi2_workloads import SDNN_MEASURED as SDNN

from ds2ta.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "results" / "loihi2_model.json"
FAST = ("tiny", "tiny-dvs", "dvs", "statten-dvs64", "statten-dvs", "cifar10", "cifar100", "statten-cifar10")


def fit_check(static_core_share: float) -> dict:
    from ds2ta.hardware.loihi2_model import errors, fit_host, fit_on_lif, predict
    from ds2ta.hardware.loihi2_workloads import lif_workload, sdnn_workload
    from ds2ta.hardware.pilotnet import MEASURED

    lif, sd = lif_workload(), sdnn_workload()
    p = fit_on_lif(lif, MEASURED, static_core_share)
    lif_meas = {"inferences_per_s": MEASURED["inferences_per_s"], "step_s": MEASURED["step_s"],
                "total_W": MEASURED["static_W"] + MEASURED["dynamic_W"], "energy_J": MEASURED["total_J"],
                "dynamic_W": MEASURED["dynamic_W"], "static_W": MEASURED["static_W"]}
    sd_meas = dict(SDNN, step_s=1 / SDNN["inferences_per_s"])
    chip_only = predict(sd, p)  # SDNN with the LIF constants and no host term: the chip's own bound
    p_host = fit_host(sd, SDNN["inferences_per_s"], p)
    lp, sp = predict(lif, p_host), predict(sd, p_host)
    return {"static_core_share": static_core_share, "params": p_host.to_dict(),
            "fit": {"network": "PilotNet-LIF", "predicted": lp, "measured": lif_meas, "error": errors(lp, lif_meas)},
            "check": {"network": "PilotNet SDNN", "predicted": sp, "measured": sd_meas, "error": errors(sp, sd_meas),
                      "chip_only_step_s": chip_only["step_s"], "chip_only_inferences_per_s": chip_only["inferences_per_s"]}}


def reverse_check() -> dict:
    """Sourced constants only (nothing PilotNet-LIF decides), SDNN's static on the chip and its host rate."""
    import dataclasses

    from ds2ta.hardware.core import Cited
    from ds2ta.hardware.loihi2_model import Loihi2Params, errors, fit_host, predict
    from ds2ta.hardware.loihi2_workloads import lif_workload, sdnn_workload
    from ds2ta.hardware.pilotnet import MEASURED

    p = dataclasses.replace(Loihi2Params(), static_chip_W=Cited(SDNN["static_W"], "W", "PilotNet SDNN static", "M"))
    p = fit_host(sdnn_workload(), SDNN["inferences_per_s"], p)
    lp = predict(lif_workload(), p)
    meas = {"inferences_per_s": MEASURED["inferences_per_s"], "total_W": MEASURED["static_W"] + MEASURED["dynamic_W"],
            "energy_J": MEASURED["total_J"], "dynamic_J": MEASURED["dynamic_J"]}
    return {"predicted": lp, "measured": meas, "error": errors(lp, meas)}


def preset_workload(preset: str, lowering: str, rate: float, host_Bps: float):
    import torch

    from ds2ta.config import make_config
    from ds2ta.export.model_quant import quantize_model
    from ds2ta.hardware import check_fits
    from ds2ta.hardware.intel_alloc import ALLOCATED_KINDS, intel_like_cores
    from ds2ta.hardware.layers import LayerSpec
    from ds2ta.hardware.loihi2_model import LayerLoad, Workload
    from ds2ta.model import DS2TA

    cfg = make_config(preset)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, _, _ = quantize_model(DS2TA(cfg), 1 / 16, None)
    m = check_fits(graph, chips=None, lowering=lowering)
    d = m.to_dict()
    specs = {ls["name"]: ls for ls in d["layer_specs"]}
    alloc = [LayerSpec.from_dict(ls) for ls in d["layer_specs"] if ls["kind"] in ALLOCATED_KINDS]
    intel = intel_like_cores(alloc)
    consumers: dict[str, list[str]] = {}
    for name, ls in specs.items():
        for s in ls.get("sources") or ():
            consumers.setdefault(s, []).append(name)
    cores = {k: intel.get(k, v["n_cores"]) for k, v in d["layers"].items()}
    T = int(getattr(cfg, "T", 4))
    loads = []
    for name, lay in d["layers"].items():
        ls = specs[name]
        n = int(lay["neurons"])
        inputs = (n * int(ls.get("fan_in") or 0) * int(ls.get("replicas") or 1) if ls["kind"] in ALLOCATED_KINDS
                  else int(lay["synapse_entries"]))
        spikes = rate * n * T
        dest = sum(cores.get(c, 1) for c in consumers.get(name, []))
        loads.append(LayerLoad(name, cores[name], n, float(n * T), rate * inputs * T, spikes, spikes * dest,
                               ls["kind"] == "conv"))
    pixels = cfg.img_size * cfg.img_size * cfg.in_channels
    chips = math.ceil(sum(cores.values()) / 128)
    return Workload(f"{preset}:{lowering}", tuple(loads), T, 2.0 * pixels, chips), {
        "vendor_cores": m.total_cores, "intel_like_layers": len(intel), "other_layers": len(cores) - len(intel)}


def price_presets(presets, lowerings, rate, params, band) -> list[dict]:
    from ds2ta.hardware.loihi2_model import predict

    rows = []
    for preset in presets:
        for low in lowerings:
            t0 = time.perf_counter()
            try:
                w, info = preset_workload(preset, low, rate, params.host_bytes_per_s.value)
            except Exception as e:  # a preset that does not build or map is named, not priced
                rows.append({"preset": preset, "lowering": low, "error": f"{type(e).__name__}: {e}"[:200]})
                continue
            chip = predict(w, params)
            w0 = w.__class__(w.name, w.layers, w.steps_per_inference, 0.0, w.chips)
            chip_bound = predict(w0, params)
            rows.append({"preset": preset, "lowering": low, "cores": w.cores, "chips": w.chips, **info,
                         "inferences_per_s": {"chip_bound": chip_bound["inferences_per_s"],
                                              "host_fed": chip["inferences_per_s"]},
                         "energy_J": {"chip_bound": chip_bound["energy_J"], "host_fed": chip["energy_J"]},
                         "total_W": {"chip_bound": chip_bound["total_W"], "host_fed": chip["total_W"]},
                         "step_s": chip_bound["step_s"], "host_bytes": w.host_bytes, "band": band,
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{preset}:{low} {w.cores} cores {rows[-1]['seconds']} s", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default=",".join(FAST))
    ap.add_argument("--lowerings", default="neurons,core")
    ap.add_argument("--rate", type=float, default=0.03)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args(argv)
    fits = {share: fit_check(share) for share in (0.0, 1.0)}
    from ds2ta.hardware.loihi2_model import fit_host, fit_on_lif
    from ds2ta.hardware.loihi2_workloads import lif_workload, sdnn_workload
    from ds2ta.hardware.pilotnet import MEASURED

    params = fit_host(sdnn_workload(), SDNN["inferences_per_s"], fit_on_lif(lif_workload(), MEASURED, 0.0))
    band = {k: [min(f["check"]["error"][k] for f in fits.values()), max(f["check"]["error"][k] for f in fits.values())]
            for k in ("total_W", "energy_J")}
    presets = [p for p in args.presets.split(",") if p]
    out = {"model": "ds2ta.hardware.loihi2_model", "fit_check": [fits[0.0], fits[1.0]], "reverse": reverse_check(),
           "presets": price_presets(presets, args.lowerings.split(","), args.rate, params, band),
           "rate": args.rate, "recorded_by": "benchmarks/loihi2_model.py"}
    text = json.dumps(out, indent=1, default=float)
    if args.record:
        atomic_write_text(RECORD, text + "\n")
    for f in out["fit_check"]:
        print(f"static_core_share={f['static_core_share']}:", json.dumps(f["check"]["error"]), file=sys.stderr)
    print(json.dumps(out["presets"], indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

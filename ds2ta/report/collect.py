"""Gather the run's JSON files into one report dict. Missing inputs are reported, never invented.

The dict opens with the ``headline`` (``headline.py``: fit, energy and its band, latency, chip-exact
accuracy, Lava vs reference), then the detail.

Derived numbers (energy, NeuroBench metrics) are computed with ``ds2ta.hardware`` only when their
inputs (``mapping.json`` and ``simulation.json``) exist, and say so in ``derived``.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .attention import compare_lowerings
from .headline import headline
from .loihi2 import loihi2_model

INPUTS = ("quantization.json", "simulation.json", "mapping.json", "energy.json", "metrics.json")
MISSING = "missing"


def find_inputs(root: str | os.PathLike) -> dict[str, str | None]:
    """Path of each input file under ``root`` (shallowest first), or None."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"report folder {str(root)!r} does not exist; pass the run's output folder")
    found = {}
    for name in INPUTS:
        hits = sorted(root.rglob(name), key=lambda p: (len(p.parts), str(p)))
        found[name] = str(hits[0]) if hits else None
    return found


def _load(path: str | None):
    if path is None:
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        warnings.warn(f"could not read {path}: {e}; reported as missing", stacklevel=2)
        return None
    if not isinstance(data, dict):  # every ds2ta command writes one JSON object per file
        raise ValueError(f"{path} holds a JSON {type(data).__name__}, not the object the ds2ta command that "
                         "writes it produces: write it again (or remove it to report it as missing)")
    return data


def _first(d: dict | None, *keys):
    """First present key, searching nested dicts one level down (formats from other parts vary)."""
    if not isinstance(d, dict):
        return None
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    for v in d.values():
        if isinstance(v, dict):
            for k in keys:
                if v.get(k) is not None:
                    return v[k]
    return None


def split_simulation(sim: dict | None) -> tuple[dict | None, dict]:
    """(primary activity, {backend: result}) from a plain or a ``--compare`` simulation.json.

    The primary activity (priced for energy) is the Lava backend's when present: it is what the
    chip-level program counted."""
    if sim is None:
        return None, {}
    if "backends" in sim:
        b = sim["backends"]
        if not isinstance(b, dict) or not b:
            raise ValueError("simulation.json has 'backends' but no backend results; rerun ds2ta-sim --compare")
        return b.get("lava") or b.get("reference"), b
    return sim, {sim.get("backend", "unknown"): sim}


def match_summary(sim: dict) -> dict:
    """The reference-vs-Lava verdict of a ``--compare`` simulation.json as one readable line."""
    b = sim.get("backends", {})
    samples = {k: v.get("samples") for k, v in b.items() if isinstance(v, dict)}
    fd = sim.get("first_divergence")
    if sim.get("match") is True:
        line = (f"MATCH: reference and Lava agree spike for spike on every layer and step "
                f"({', '.join(f'{k}: {n} samples' for k, n in sorted(samples.items()))})")
    elif sim.get("match") is False:
        where = (", ".join(f"{k} {fd[k]}" for k in ("sample", "layer", "step", "neuron") if k in fd)
                 if isinstance(fd, dict) else "not recorded")
        line = f"MISMATCH: reference and Lava diverge; first divergence at {where}"
    else:
        line = "match not recorded in simulation.json"
    return {"match": sim.get("match"), "first_divergence": fd, "backends": sorted(b), "samples": samples,
            "line": line}


def model_config(data: dict, root: str | os.PathLike) -> tuple[dict | None, str | None]:
    """The model's config and where it came from: metrics/quantization JSON, else model.nir metadata."""
    for name in ("metrics.json", "quantization.json"):
        d = data.get(name)
        cfg = _first(d, "config", "model_config") if isinstance(d, dict) else None
        if isinstance(cfg, dict) and "embed_dim" in cfg:
            return cfg, name
    for nir_path in sorted(Path(root).rglob("model.nir"), key=lambda p: (len(p.parts), str(p))):
        try:
            import h5py

            with h5py.File(nir_path, "r") as f:
                g = f["node"]["metadata"]["model_config"]
                cfg = {k: _plain(g[k][()]) for k in g.keys()}
            return cfg, str(nir_path)
        except (ImportError, OSError, KeyError):
            continue  # a graph without ds2ta metadata (third-party NIR): config unknown
    return None, None


def _plain(v):
    """h5py scalar -> plain Python (bytes -> str, numpy -> int/float/bool)."""
    if isinstance(v, bytes):
        return v.decode()
    return v.item() if hasattr(v, "item") else v


def collect(root: str | os.PathLike, calibration: bool = True) -> dict:
    """Build the report dict for the run folder ``root``."""
    paths = find_inputs(root)
    data = {k: _load(p) for k, p in paths.items()}
    sim, backends = split_simulation(data["simulation.json"])
    mapping, quant, train = data["mapping.json"], data["quantization.json"], data["metrics.json"]
    derived = []
    rep = {"format": "ds2ta-report", "format_version": 1, "folder": str(root),
           "inputs": {k: (p or MISSING) for k, p in paths.items()},
           "missing": [k for k, v in data.items() if v is None]}

    cfg, cfg_src = model_config(data, root)
    rep["model"] = (cfg or _first(train, "config") or _first(quant, "config")
                    or ({k: quant[k] for k in ("target", "bits", "checkpoint", "latency_steps") if k in quant}
                        if quant else None) or MISSING)
    rep["quantization"] = quantization_summary(quant) if quant else MISSING
    qacc = (quant or {}).get("accuracy") if isinstance((quant or {}).get("accuracy"), dict) else {}
    acc = {"float": _first(train, "test_accuracy") or qacc.get("float"),
           "quantized": qacc.get("quantized"),
           "reference": (backends.get("reference") or {}).get("accuracy"),
           "lava": (backends.get("lava") or {}).get("accuracy")}
    rep["accuracy"] = {k: (MISSING if v is None else v) for k, v in acc.items()}
    qn = qacc.get("samples")
    rep["accuracy_samples"] = {"float": f"{qn} test" if qn else MISSING, "quantized": f"{qn} test" if qn else MISSING,
                               **{b: (f"{backends[b].get('samples')} simulated" if b in backends else MISSING)
                                  for b in ("reference", "lava")}}
    if data["simulation.json"] and "backends" in data["simulation.json"]:
        rep["match"] = match_summary(data["simulation.json"])
    else:
        rep["match"] = MISSING
    rep["activity_source"] = (MISSING if sim is None else
                              f"{sim.get('backend', 'unknown')} backend of {paths['simulation.json']}"
                              + (" (--compare: Lava's counts are priced)" if len(backends) > 1 else ""))

    energy = data["energy.json"]
    if energy is None and mapping is not None and sim is not None:
        from ds2ta.hardware.energy import estimate

        energy = estimate(mapping, sim).to_dict()
        derived.append("energy: computed by ds2ta-report from mapping.json + simulation.json")
    rep["energy"] = energy or MISSING
    rep["loihi2_model"] = loihi2_model(mapping, sim)
    if rep["loihi2_model"]["cores"] is not None:
        derived.append("loihi2_model: the Loihi 2 time and power model on mapping.json + simulation.json")
    rep["schedule"] = schedule_summary(sim, (mapping or {}).get("merge_latency_steps", 0))
    rep["model_config_source"] = cfg_src or MISSING
    rep["gpu_recorded"] = _gpu_recorded(energy, cfg)
    if mapping is not None and sim is not None:
        from ds2ta.hardware.metrics import neurobench

        rep["neurobench"] = neurobench(mapping, sim)
        derived.append("neurobench: computed from mapping.json + simulation.json")
    else:
        rep["neurobench"] = MISSING
    rep["mapping"] = ({"total_cores": mapping["total_cores"], "chips": mapping["chips"],
                       "chips_allowed": mapping.get("chips_allowed"), "spec": mapping["spec"]["name"],
                       "merge_latency_steps": mapping.get("merge_latency_steps", 0),
                       "fan_in_splits": {k: {"groups": v["fan_in_split"]["groups"],
                                             "partial_cores": len(v["fan_in_split"]["partial_cores"]),
                                             "merge_cores": len(v["fan_in_split"]["merge_cores"])}
                                         for k, v in mapping["layers"].items() if v.get("fan_in_split")}}
                      if mapping else MISSING)
    rep["attention_lowerings"] = compare_lowerings(root, mapping, sim)
    if rep["attention_lowerings"] != MISSING:
        derived.append("attention lowerings: both mapped from model.nir; energy of the lowering not simulated "
                       "derived from the same run where exact, else missing")
    rep["layers"] = layer_table(mapping, sim, energy if isinstance(energy, dict) else None)
    rep["cores"] = mapping["cores"] if mapping else MISSING
    rep["calibration"] = _calibration() if calibration else MISSING
    rep["derived"] = derived
    head = headline(data, rep, sim)
    return {**{k: rep[k] for k in ("format", "format_version", "folder")}, "headline": head, **rep}


def schedule_summary(sim: dict | None, merge_steps: int = 0) -> dict | str:
    """How the priced activity ran (docs/simulation.md, "Schedules"): chip steps per inference (what
    static energy is priced over: T pipelined, T + latency sequential) and one sample's latency in steps
    (from its first input step until its read-out is complete: T + latency + merge steps, the same in
    both schedules)."""
    if sim is None or not sim.get("T"):
        return MISSING
    T, lat, per = int(sim["T"]), int(sim.get("latency_steps") or 0), sim.get("steps_per_inference")
    latency = T + lat + int(merge_steps or 0)
    if per is not None and int(per) == T:
        line = f"pipelined: one sample every {T} steps; a sample's latency {latency} steps"
    else:
        line = f"sequential: one sample at a time through the pipeline; a sample's latency {latency} steps"
    return {"pipelined": per is not None and int(per) == T, "sample_latency_steps": latency, "line": line}


def quantization_summary(quant: dict) -> dict:
    """The scalar facts of quantization.json (target, bits, calibration, warnings), not its per-layer dump."""
    out = {k: v for k, v in quant.items() if not isinstance(v, (list, dict)) and k not in ("format", "format_version")}
    cal = quant.get("calibration")
    if isinstance(cal, dict):
        out["calibration"] = f"{cal.get('samples')} samples of {cal.get('data')} (margin {cal.get('margin')})"
    if isinstance(quant.get("layers"), dict):
        out["quantized layers"] = len(quant["layers"])
    if isinstance(quant.get("warnings"), list):
        out["warnings"] = len(quant["warnings"])
    return out


def layer_table(mapping: dict | None, sim: dict | None, energy: dict | None) -> list[dict] | str:
    """Per-layer rows: spikes, firing rate, synops, cores and energy per inference."""
    if sim is None and mapping is None:
        return MISSING
    names = list((mapping or {}).get("layers", {})) or list(sim["layers"])
    n = (sim or {}).get("samples") or 1
    T = (sim or {}).get("T") or 1
    acts = (sim or {}).get("layers", {})
    if mapping is not None and sim is not None:
        from ds2ta.hardware.energy import align_activity

        acts = align_activity(mapping, acts)
    rows = []
    for name in names:
        a = acts.get(name)
        ml = (mapping or {}).get("layers", {}).get(name)
        neurons = (ml or {}).get("neurons") or (a or {}).get("neurons")
        row = {"layer": name, "kind": (ml or {}).get("kind", MISSING), "neurons": neurons or MISSING,
               "cores": ml["n_cores"] if ml else MISSING}
        if a:
            row.update(spikes=a.get("spikes", 0) / n, synops=(a.get("synops", 0) + a.get("graded_synops", 0)) / n,
                       attention_ops=a.get("attention_ops", 0) / n,
                       firing_rate=(a.get("spikes", 0) / (neurons * T * n)) if neurons else MISSING)
        else:
            row.update(spikes=MISSING, synops=MISSING, attention_ops=MISSING, firing_rate=MISSING)
        for key, sec in (("energy_sanafe_J", ("loihi", "sanafe", "per_layer_dynamic_J")),
                         ("energy_paper_J", ("paper", "per_layer_J"))):
            d = energy
            for s in sec:
                d = d.get(s) if isinstance(d, dict) else None
            row[key] = d.get(name, MISSING) if isinstance(d, dict) else MISSING
        rows.append(row)
    return rows


def _gpu_recorded(energy, cfg) -> dict:
    """The recorded H100 measurement beside a modeled GPU figure, only for the model it measured."""
    gpu = energy.get("gpu") if isinstance(energy, dict) else None
    if isinstance(gpu, dict) and gpu.get("kind") == "measured":
        return {"shown": False, "reason": "this run carries its own GPU measurement"}
    try:
        from ds2ta.hardware.gpu_recorded import recorded_for

        return recorded_for(cfg)
    except ValueError as e:
        return {"shown": False, "reason": str(e)}


def _calibration():
    try:
        from ds2ta.hardware.pilotnet import calibration

        cal = calibration()
        cal.pop("activity", None)
        return cal
    except ValueError as e:  # PilotNet data not present on this machine: use the recorded snapshot
        snap = Path(__file__).resolve().parents[2] / "hardware" / "pilotnet_calibration.json"
        try:
            import ds2ta.hardware as hw

            snap = Path(hw.__file__).parent / "pilotnet_calibration.json"
        except ImportError:
            pass
        if snap.exists():
            cal = json.loads(snap.read_text())
            cal["input"] = f"{cal.get('input')} — recorded snapshot ({e})"
            return cal
        warnings.warn(f"PilotNet calibration unavailable: {e}", stacklevel=2)
        return MISSING

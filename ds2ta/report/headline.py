"""The report's answer first: does the model fit the target, what one inference costs and takes, how
accurate the chip is and whether Lava agrees with the reference — five items, each with its numbers
and one sentence, read from the run's files and never invented (an absent input is said, with the
command that produces it).

Each item is a dict of values plus ``line`` (the sentence report.md and report.html print):

- ``target``: the mapping's cores and chips (``mapping.json``; it exists only when the model fits).
- ``energy``: the Loihi event model's total (dynamic + static) per inference, SANA-FE profile at the
  modeled step time, with its band: the lowest and highest total over the model's profiles (SANA-FE,
  Table 2) and step times (modeled, PilotNet-measured). The band is the spread of the model's own
  inputs, not a confidence interval; Loihi 1 event costs are an upper bound on Loihi 2's dynamic energy.
- ``latency``: chip steps from a sample's first input step to its read-out, steps per inference, and
  their time at the modeled and the PilotNet-measured step time.
- ``accuracy``: chip-exact accuracy, from the integer reference (``quantization.json``'s test-split
  evaluation and the simulated backends), with the float model's beside it; "no labels" when the
  simulated samples had none.
- ``lava_vs_reference``: the ``--compare`` verdict.
"""

from __future__ import annotations

from ds2ta.hardware.energy import steps_per_inference

from .units import pct, plural, si, si_range, signed_pct

CENTRAL = ("sanafe", "model_step")  # the silicon-fitted profile at the step time the latency uses
SIMULATE = "run ds2ta-sim --compare"
STEP_TIMES = {"model_step": "modeled", "pilotnet_step": "PilotNet-measured"}
KEYS = {  # every item has all its keys; null where the run does not tell (docs/report.md)
    "target": ("fits", "name", "spec", "cores", "chips", "chips_allowed", "cores_per_chip"),
    "energy": ("J", "band_J", "profile", "step_time", "band", "paper_J", "gpu_J", "gpu_kind", "loihi2_J",
               "loihi2_band"),
    "latency": ("sample_latency_steps", "steps_per_inference", "pipelined", "step_s_model", "step_s_measured",
                "sample_latency_s", "inference_interval_s"),
    "accuracy": ("chip_exact", "source", "samples", "float", "simulated"),
    "lava_vs_reference": ("match", "first_divergence"),
}


def headline(data: dict, rep: dict, activity: dict | None) -> dict:
    """The headline dict of a report.

    Args:
        data: the run's inputs, ``{"mapping.json": dict or None, "simulation.json": ..., ...}``.
        rep: the report dict so far (``energy`` and ``schedule`` as ``collect`` builds them).
        activity: the priced backend's result (``collect.split_simulation``), or None.
    """
    sim = data.get("simulation.json")
    items = {"target": target(data.get("mapping.json"), data.get("quantization.json")),
             "energy": energy(rep.get("energy"), data.get("mapping.json"), sim, rep.get("loihi2_model")),
             "latency": latency(rep.get("schedule"), rep.get("energy"), activity),
             "accuracy": accuracy(sim, data.get("quantization.json"), data.get("metrics.json")),
             "lava_vs_reference": lava_vs_reference(sim)}
    return {k: {**dict.fromkeys(KEYS[k]), **v} for k, v in items.items()}


def target(mapping: dict | None, quant: dict | None) -> dict:
    """Whether and how the model fits: cores and chips of the mapping's target."""
    name = (quant or {}).get("target")
    if mapping is None:
        return {"fits": None, "name": name,
                "line": "not mapped: no mapping.json (ds2ta-export --target loihi2 writes it)"}
    spec = mapping.get("spec") or {}
    per_chip = (spec.get("cores_per_chip") or {}).get("value")
    cores, chips, cap = int(mapping["total_cores"]), int(mapping["chips"]), mapping.get("chips_allowed")
    where = name or spec.get("name", "the target")
    notes = [f"{per_chip:,} cores per chip"] if per_chip else []
    if cap:
        notes.append(f"at most {plural(int(cap), 'chip')} allowed")
    line = f"fits on {plural(cores, 'core')} / {plural(chips, 'chip')} of {where}"
    return {"fits": True, "name": name, "spec": spec.get("name"), "cores": cores, "chips": chips,
            "chips_allowed": cap, "cores_per_chip": per_chip,
            "line": line + (f" ({'; '.join(notes)})" if notes else "")}


def energy(e, mapping: dict | None, sim: dict | None, loihi2: dict | None = None) -> dict:
    """The Loihi event model's energy per inference and its band (module docstring), and the Loihi 2 model's
    chip-bound energy with its validation band when the report priced it (``report.loihi2``)."""
    if not isinstance(e, dict) or not isinstance(e.get("loihi"), dict) or not e["loihi"]:
        need = [n for n, d in (("mapping.json", mapping), ("simulation.json", sim)) if d is None]
        how = {"mapping.json": "ds2ta-export writes it", "simulation.json": SIMULATE}
        return {"J": None, "line": "not priced: no " + " and no ".join(f"{n} ({how[n]})" for n in need)
                if need else "not priced: energy.json holds no Loihi event model"}
    totals = {(p, s): float(v) for p, prof in e["loihi"].items() for s, v in prof["total_J"].items()}
    central = CENTRAL if CENTRAL in totals else next(iter(totals))
    lo, hi = min(totals.values()), max(totals.values())
    profiles = list(dict.fromkeys(p for p, _ in totals))
    steps = list(dict.fromkeys(STEP_TIMES.get(s, s) for _, s in totals))
    band = (f"lowest to highest total (dynamic + static) over the Loihi event model's cost profiles "
            f"{' and '.join(profiles)} (Loihi 1 event costs, an upper bound on Loihi 2's dynamic energy) x "
            f"{' and '.join(steps)} step times; the value is {central[0]} at the "
            f"{STEP_TIMES.get(central[1], central[1])} step time")
    out = {"J": totals[central], "band_J": [lo, hi], "profile": central[0], "step_time": central[1],
           "band": band, "paper_J": (e.get("paper") or {}).get("total_J"),
           "gpu_J": (e.get("gpu") or {}).get("energy_J"), "gpu_kind": (e.get("gpu") or {}).get("kind")}
    line = f"{si(out['J'], 'J')} on the chip (band {si_range(lo, hi, 'J')})"
    others = []
    if out["paper_J"] is not None:
        others.append(f"paper-comparable (Horowitz 45 nm) {si(out['paper_J'], 'J')}")
    if out["gpu_J"] is not None:
        others.append(f"GPU {si(out['gpu_J'], 'J')}"
                      + (" (modeled lower bound, not a measurement)" if out["gpu_kind"] == "modeled"
                         else f" ({out['gpu_kind']})"))
    if isinstance(loihi2, dict) and loihi2.get("chip_bound"):
        out["loihi2_J"] = loihi2["chip_bound"]["energy_J"]
        out["loihi2_band"] = loihi2["band"]["energy_J"]
        lo, hi = out["loihi2_band"]
        others.append(f"Loihi 2 model {si(out['loihi2_J'], 'J')} chip-bound (validated "
                      f"{signed_pct(lo, 0)} .. {signed_pct(hi, 0)})")
    out["line"] = line + ("; beside it " + ", ".join(others) if others else "")
    return out


def latency(schedule, e, activity: dict | None) -> dict:
    """Chip steps per sample and per inference, and their time where the energy model gives a step time."""
    if not isinstance(schedule, dict):
        return {"sample_latency_steps": None,
                "line": f"not simulated: no simulation.json ({SIMULATE})" if activity is None
                else "not known: simulation.json records no T"}
    lat = e.get("latency") if isinstance(e, dict) else None
    steps = int(schedule["sample_latency_steps"])
    per = int(lat["steps"]) if isinstance(lat, dict) and lat.get("steps") else None
    if per is None and activity is not None:  # not priced (so not mapped): the simulation's own schedule
        per = steps_per_inference(activity)
    out = {"sample_latency_steps": steps, "steps_per_inference": per, "pipelined": schedule.get("pipelined")}
    line = f"{plural(steps, 'chip step')} per sample, input to read-out"
    step = None
    if isinstance(lat, dict) and lat.get("step_s_model"):
        step = out["step_s_model"] = float(lat["step_s_model"])
        out["step_s_measured"] = lat.get("step_s_pilotnet_measured")
        out["sample_latency_s"] = steps * step
        line += f": {si(steps * step, 's')} at the modeled {si(step, 's')}/step"
        if out["step_s_measured"]:
            meas = float(out["step_s_measured"])
            line += f" ({si(steps * meas, 's')} at PilotNet's measured {si(meas, 's')}/step)"
    else:
        line += " (step time not modeled: needs mapping.json)"
    if per:
        mode = "pipelined" if schedule.get("pipelined") else "sequential"
        line += f"; {mode}, one inference every {plural(per, 'step')}"
        if step:
            out["inference_interval_s"] = per * step
            line += f" ({si(per * step, 's')})"
    out["line"] = line
    return out


def accuracy(sim: dict | None, quant: dict | None, train: dict | None) -> dict:
    """Chip-exact accuracy: the integer reference's on the export's test split and on the simulated
    samples (Lava's when only Lava ran: bit-accurate too), the float model's beside it."""
    qacc = (quant or {}).get("accuracy") if isinstance((quant or {}).get("accuracy"), dict) else {}
    backends = {}
    if isinstance(sim, dict):
        backends = sim["backends"] if "backends" in sim else {sim.get("backend", "unknown"): sim}
    one = "reference" if "reference" in backends else next(iter(sorted(backends)), None)
    run = backends.get(one) or {}
    flt = qacc.get("float") if qacc.get("float") is not None else (train or {}).get("test_accuracy")
    out = {"chip_exact": None, "source": None, "samples": None, "float": flt,
           "simulated": ({"backend": one, "accuracy": run.get("accuracy"), "samples": run.get("samples")}
                         if one else None)}
    parts = []
    if qacc.get("quantized") is not None:
        out.update(chip_exact=qacc["quantized"], source="integer reference at export (quantization.json)",
                   samples=qacc.get("samples"))
        parts.append(f"{pct(qacc['quantized'])} on {qacc.get('samples', '?')} {qacc.get('split', 'test')} "
                     "samples (integer reference at export)")
    if one and run.get("accuracy") is not None:
        if out["chip_exact"] is None:
            out.update(chip_exact=run["accuracy"], source=f"{one} backend (simulation.json)",
                       samples=run.get("samples"))
        parts.append(f"{pct(run['accuracy'])} on the {run.get('samples')} simulated samples ({one})")
    elif one:
        parts.append(f"no labels for the {run.get('samples')} simulated samples")
    if not parts:
        parts.append(f"not simulated: no simulation.json ({SIMULATE}) and no accuracy in quantization.json")
    if flt is not None:
        parts.append(f"float model {pct(flt)}")
    out["line"] = "; ".join(parts)
    return out


def lava_vs_reference(sim: dict | None) -> dict:
    """``match on every layer`` / ``first divergence at ...`` / ``not run`` (and why)."""
    if sim is None:
        return {"match": None, "line": f"not run: no simulation.json ({SIMULATE})"}
    if "backends" not in sim:
        return {"match": None, "line": f"not compared: only the {sim.get('backend', 'unknown')} backend ran "
                                       f"({SIMULATE})"}
    fd, checks = sim.get("first_divergence"), sim.get("checks") or {}
    samples = sorted({v.get("samples") for v in sim["backends"].values() if isinstance(v, dict)} - {None})
    n = f" ({', '.join(map(str, samples))} samples)" if samples else ""
    if sim.get("match") is True:
        return {"match": True, "first_divergence": None,
                "line": f"match on every layer and step, spike for spike{n}"}
    if sim.get("match") is False:
        if isinstance(fd, dict):
            where = ", ".join(f"{k} {fd[k]}" for k in ("sample", "layer", "step", "neuron") if k in fd)
            return {"match": False, "first_divergence": fd, "line": f"MISMATCH: first divergence at {where}"}
        why = []
        if checks.get("count_mismatches"):
            why.append("counts differ at " + ", ".join(
                str(c.get("layer", f"sample {c.get('sample', '?')}")) for c in checks["count_mismatches"][:3]))
        if checks.get("latency_equal") is False:
            why.append(f"latency differs {checks.get('latency_steps')}")
        return {"match": False, "first_divergence": fd,
                "line": "MISMATCH: " + ("; ".join(why) or "no divergence location recorded")}
    return {"match": None, "line": "not recorded: simulation.json has both backends but no match verdict"}

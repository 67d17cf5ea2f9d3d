"""The run on the Loihi 2 time and power model (docs/hardware.md), beside the Loihi 1 event profiles.

``loihi2_model(mapping, activity)`` prices the run's own counted events (``hardware.loihi2_run``) with the
model's fitted constants (``loihi2_workloads.fitted_params``: static on the chip) twice: **chip-bound** (no host
input: the slowest core and the barrier bound the step) and **host-fed** (the run's input values sent through
``DELTA_SPARSE_8`` at the host rate fitted on PilotNet SDNN). The validation band is the model's own check
(``loihi2_workloads.validation_band``: PilotNet SDNN, total power and energy per inference), read, not retyped.
A missing input is said, with no number.
"""

from __future__ import annotations

import dataclasses

from ds2ta.hardware.loihi2_model import predict
from ds2ta.hardware.loihi2_run import deployment_cores, run_workload
from ds2ta.hardware.loihi2_workloads import fitted_params, validation_band

from .units import rate, si, signed_pct

KEYS = ("cores", "cores_intel_like", "cores_vendor_limit_layers", "vendor_limit_cores", "chips",
        "steps_per_inference", "host_bytes", "chip_bound", "host_fed", "band", "constants", "notes")
QUANTITIES = ("inferences_per_s", "energy_J", "total_W", "static_W", "dynamic_W", "step_s", "bound", "slowest_layer")


def band_line(band: dict, detail: bool = True) -> str:
    """``validated −29.7 % .. −14.9 %`` and, with ``detail``, what was fitted and checked where."""
    lo, hi = band["energy_J"]
    short = f"validated {signed_pct(lo)} .. {signed_pct(hi)}"
    return short if not detail else (
        f"{short} (model / measured − 1, energy per inference and total power; fitted on {band['fitted_on']}, "
        f"checked on {band['checked_on']}; the model reads low; step time not validated beyond the fit)")


def missing(line: str) -> dict:
    return {**dict.fromkeys(KEYS), "line": line}


def loihi2_model(mapping: dict | None, activity: dict | None) -> dict:
    """The report's ``loihi2_model`` item (module docstring); ``line`` is the sentence both reports print."""
    need = [n for n, d in (("mapping.json", mapping), ("simulation.json", activity)) if d is None]
    if need:
        how = {"mapping.json": "ds2ta-export --target loihi2 writes it", "simulation.json": "run ds2ta-sim --compare"}
        return missing("not priced: no " + " and no ".join(f"{n} ({how[n]})" for n in need))
    try:
        params, band = fitted_params(0.0), validation_band()
    except (ValueError, OSError) as e:
        return missing(f"not priced: the model's fit needs PilotNet's network files ({e})")
    try:
        w = run_workload(mapping, activity)
        cores, intel = deployment_cores(mapping)
    except ValueError as e:  # MappingError included
        return missing(f"not priced: the run's layers do not take the deployment table's cores ({e})")
    fed = predict(w, params)
    chip = predict(dataclasses.replace(w, host_bytes=0.0), params)
    host_fed = ({k: fed[k] for k in QUANTITIES} if w.host_bytes > 0 else None)
    notes = ["Messages: every spike to every core of each consumer (an upper bound)",
             "static power on the chip (0.232 W per chip, fitted on PilotNet-LIF); chip-to-chip links not modelled"]
    if any((v or {}).get("fan_in_split") for v in mapping["layers"].values()):
        notes.append("fan-in split partial sums are not in the Loihi 2 model's events")
    out = {"cores": w.cores, "cores_intel_like": sum(cores[k] for k in intel),
           "cores_vendor_limit_layers": sum(v for k, v in cores.items() if k not in intel),
           "vendor_limit_cores": int(mapping["total_cores"]), "chips": w.chips,
           "steps_per_inference": w.steps_per_inference, "host_bytes": w.host_bytes,
           "chip_bound": {k: chip[k] for k in QUANTITIES}, "host_fed": host_fed,
           "band": {**band, "line": band_line(band)},
           "constants": {k: params.to_dict()[k] for k in ("time_scale", "energy_scale", "static_chip_W",
                                                          "host_bytes_per_s")},
           "notes": notes if host_fed else notes + ["host-fed not priced: the run counted no input-layer values"]}
    line = (f"Loihi 2 model: {si(chip['energy_J'], 'J')} per inference chip-bound "
            f"({rate(chip['inferences_per_s'])} inferences/s, {si(chip['total_W'], 'W')})")
    if host_fed:
        line += (f", {si(fed['energy_J'], 'J')} host-fed ({rate(fed['inferences_per_s'])} inferences/s)")
    where = f"{w.cores:,} cores" + (f" ({out['cores_vendor_limit_layers']:,} of them vendor-limit)"
                                    if out["cores_vendor_limit_layers"] else " (Intel-like)")
    out["line"] = (line + f" on {where} / {w.chips} chip{'s' if w.chips != 1 else ''}; "
                   f"{band_line(band, detail=False)}")
    return out

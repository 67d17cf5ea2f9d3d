"""The recorded H100 NVML measurement, shown beside the modeled GPU figure when no GPU is present.

``gpu_recorded_h100.json`` (package data) wraps ``docs/results/gpu_checks_h100.json`` verbatim with
the model it measured (the float ``tiny`` preset and its exported integer graph), the date and the
source file. ``recorded_for(model_config)`` returns it only when the report's model has the same
architecture (``ARCH_KEYS``): a measurement of one model is never shown as another model's.
"""

from __future__ import annotations

import json
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("gpu_recorded_h100.json")
# Fields that set the GPU work of one inference (weights do not).
ARCH_KEYS = ("img_size", "in_channels", "num_classes", "embed_dim", "depth", "heads", "mlp_ratio", "T",
             "pool_stages", "encoding", "attention", "taw")
RUNS = {"energy_float_model": "float model (torch)", "energy_integer_reference": "integer reference of the exported graph"}


def load_snapshot(path: str | Path | None = None) -> dict:
    """The packaged snapshot (raises ``ValueError`` naming the file when it is absent or unreadable)."""
    p = Path(path) if path else SNAPSHOT
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"recorded GPU measurement {str(p)!r} unreadable ({e}); reinstall the package") from e


def _differences(model_config: dict, recorded: dict) -> list[str]:
    return [f"{k}={model_config.get(k)} (recorded {recorded.get(k)})" for k in ARCH_KEYS
            if model_config.get(k) != recorded.get(k)]


def recorded_for(model_config: dict | None, path: str | Path | None = None) -> dict:
    """The recorded measurement for this model, or why it is not shown.

    Args:
        model_config: The report's model config (``DS2TAConfig.to_dict()``), or None if unknown.
        path: Snapshot file (default: the packaged one).

    Returns:
        ``{"shown": False, "reason": ...}`` when the model is unknown or differs, else ``{"shown":
        True, "label", "model_preset", "device", "date", "source_file", "doc", "script", "runs":
        {what: {"batch_1": {...}, "batch_256": {...}}}}`` with NVML's per-inference total and
        idle-subtracted joules, latency per batch and average power.
    """
    snap = load_snapshot(path)
    preset = snap["model_preset"]
    if not isinstance(model_config, dict):
        return {"shown": False, "reason": f"the report's model config is unknown, so the recorded measurement "
                f"of model {preset} is not shown"}
    diff = _differences(model_config, snap["model_config"])
    if diff:
        return {"shown": False, "reason": f"recorded measurement is of model {preset}; this model differs "
                f"({', '.join(diff)}), so it is not shown"}
    meas = snap["measurement"]
    runs = {}
    for key, what in RUNS.items():
        if key in meas:
            runs[what] = {b: {k: r.get(k) for k in ("batch_size", "energy_J", "energy_idle_subtracted_J",
                                                    "latency_s", "avg_W", "idle_W", "window_s")}
                          for b, r in meas[key].items()}
    return {"shown": True, "model_preset": preset, "device": meas.get("device"), "date": snap.get("date"),
            "source_file": snap.get("source_file"), "doc": snap.get("doc"), "script": snap.get("script"),
            "model_note": snap.get("model_note"), "grade": "M",
            "label": f"recorded measurement of model {preset} on {meas.get('device')} ({snap.get('date')}, "
                     f"{snap.get('source_file')}); not measured in this run",
            "runs": runs}

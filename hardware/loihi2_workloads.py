"""PilotNet-LIF and PilotNet SDNN as ``loihi2_model.Workload``s: events per layer on Intel-like cores.

- PilotNet-LIF: the calibration's counted events (``pilotnet.activity``: one frame held 16 steps, Lava's
  fixed-point semantics; recorded in ``pilotnet_calibration.json``), 16 steps per inference, every layer's
  neurons updated every step, **no host input during the run** (lava-dl's benchmark writes the frame once
  into the input layer's bias "to avoid IO bottleneck").
- PilotNet SDNN: graded messages per layer from lava-dl netx's own Lava model of ``network.net`` driven by
  ``image.npy`` (``benchmarks/loihi2_model.py --sdnn-activity`` records them in ``pilotnet_sdnn_activity.json``):
  the wave of one new frame through the layers, one chip step per frame (Intel's 2,000 steps carry one frame
  each), every neuron updated every step, the input layer on the host (``skip_layers=1``) whose
  ``DELTA_SPARSE_8`` frame is the host input.

Cores are the Intel-like allocation (``intel_alloc``: 74 and 61, Intel's own counts). A spike's messages are
its destination cores: all cores of a dense consumer; for a conv consumer the cores whose column slice
(``conv_slice_width``) reads the spike's column (``conv_dest_cores``), averaged over columns.
"""

from __future__ import annotations

import json
import math
import os
from functools import lru_cache
from pathlib import Path

from . import pilotnet
from .intel_alloc import conv_slice_width, intel_like_cores
from .layers import LayerSpec
from .loihi2_model import LayerLoad, Loihi2Params, Workload, errors, fit_host, fit_on_lif, predict
from .pilotnet_alloc import network_specs

SDNN_ACTIVITY = Path(__file__).with_name("pilotnet_sdnn_activity.json")
LIF_CALIBRATION = Path(__file__).with_name("pilotnet_calibration.json")
LIF_STEPS = pilotnet.STEPS


def conv_dest_cores(in_w: int, out_w: int, kernel: int, stride: int, pad: int, slice_w: int) -> float:
    """Mean number of column slices (cores) of a conv consumer that read one input column.

    Output column ``o`` reads input columns ``[o s - p, o s - p + k - 1]``; a core holds ``slice_w``
    output columns (all rows and channels).
    """
    total = 0
    for x in range(in_w):
        lo = max(0, -(-(x + pad - kernel + 1) // stride))
        hi = min(out_w - 1, (x + pad) // stride)
        total += len({o // slice_w for o in range(lo, hi + 1)})
    return total / in_w


def dest_cores(consumer: LayerSpec | None, src: LayerSpec, cores: dict) -> float:
    """Destination cores of one spike of ``src`` (0 for the last layer: its output leaves the chip)."""
    if consumer is None:
        return 0.0
    if consumer.kind != "conv":
        return float(cores[consumer.name])
    w = conv_slice_width(consumer.out_shape[1], consumer.out_shape[2])
    return conv_dest_cores(src.out_shape[0], consumer.out_shape[0], consumer.kernel[0], consumer.stride[0],
                           consumer.padding[0], w)


def _loads(specs: list[LayerSpec], cores: dict, events: dict, updates_per_neuron: int) -> tuple[LayerLoad, ...]:
    out = []
    for i, ls in enumerate(specs):
        nxt = specs[i + 1] if i + 1 < len(specs) else None
        n = int(math.prod(ls.out_shape))
        ev = events[ls.name]
        out.append(LayerLoad(ls.name, cores[ls.name], n, float(n * updates_per_neuron), float(ev["synops"]),
                             float(ev["spikes"]), float(ev["spikes"]) * dest_cores(nxt, ls, cores), ls.kind == "conv"))
    return tuple(out)


def lif_workload(data: str | os.PathLike | None = None) -> Workload:
    """PilotNet-LIF on its Intel-like cores with the recorded calibration's events (``data``: the netx
    folder for the geometry, see ``pilotnet.data_dir``)."""
    specs = network_specs("pilotnet_lif", data)
    rec = json.loads(LIF_CALIBRATION.read_text())
    events = {r["layer"]: {"synops": r["synops"], "spikes": r["spikes"]} for r in rec["per_layer"]}
    return Workload("PilotNet-LIF", _loads(specs, intel_like_cores(specs), events, LIF_STEPS), LIF_STEPS, 0.0)


def sdnn_workload(data: str | os.PathLike | None = None, activity: dict | None = None) -> Workload:
    """PilotNet SDNN (no input layer) on its Intel-like cores with the recorded netx Lava activity."""
    specs = network_specs("pilotnet_sdnn", data)
    act = activity or json.loads(SDNN_ACTIVITY.read_text())
    events = {k: {"synops": v["synops_in"], "spikes": v["messages_out"]} for k, v in act["layers"].items()}
    return Workload("PilotNet SDNN", _loads(specs, intel_like_cores(specs), events, 1), 1, float(act["host_bytes"]))


# PilotNet SDNN on Loihi 2 as Intel measured it (data/pilotnet_sdnn/README.md): the model's check
SDNN_MEASURED = {"inferences_per_s": 16.87, "total_W": 0.275709, "static_W": 0.281775, "energy_J": 16.343833e-3}
STATIC_CORE_SHARES = (0.0, 1.0)  # the static split the data cannot decide: all on the chip / all on the used cores


@lru_cache(maxsize=None)
def fitted_params(static_core_share: float = 0.0) -> Loihi2Params:
    """The model's constants as docs/hardware.md uses them: ``k_t``, ``k_e`` and the static power fitted on
    PilotNet-LIF (``static_core_share`` of it on the used cores), ``B_host`` fitted on PilotNet SDNN.

    Raises:
        ValueError: PilotNet's ``network.net`` files are not found (``pilotnet.data_dir``).
    """
    p = fit_on_lif(lif_workload(), pilotnet.MEASURED, static_core_share)
    return fit_host(sdnn_workload(), SDNN_MEASURED["inferences_per_s"], p)


@lru_cache(maxsize=None)
def validation_band() -> dict:
    """The check's relative errors (predicted / measured - 1) on PilotNet SDNN, lowest and highest over the
    undecided static split: ``{"total_W": [lo, hi], "energy_J": [lo, hi], "checked_on", "fitted_on",
    "step_s"}`` (``step_s`` is None: no public figure checks a step time the fit did not decide)."""
    errs = [errors(predict(sdnn_workload(), fitted_params(s)), SDNN_MEASURED) for s in STATIC_CORE_SHARES]
    band = {k: [min(e[k] for e in errs), max(e[k] for e in errs)] for k in ("total_W", "energy_J")}
    return {**band, "step_s": None, "checked_on": "PilotNet SDNN (Intel's Loihi 2 measurement)",
            "fitted_on": "PilotNet-LIF (Intel's Loihi 2 measurement)",
            "static_core_shares": list(STATIC_CORE_SHARES)}

"""PilotNet-LIF (lava-dl netx HDF5) on the project's counting, mapping and energy path.

The network file is read with the generic netx reader (``hardware.netx.read_net``). Activity is
simulated in numpy with the chip's arithmetic (``chip.lif_step``, ``chip.conv2d`` with the Conv's 24-bit wrap; docs/lava-loihi-semantics.md):
per step ``u = a << 6`` (du = 4095), ``v = trunc0(v * (4096 - dv)) + u + (bias << 6)``, spike if
``v > vth << 6``, reset v to 0. Intel ran the chip with ``reset_interval=16`` and one layer-offset per
layer, so in steady state every layer sees its source's 16-step window from a fresh state: one
inference = 16 steps of every layer. The input layer is an LIF driven by the frame through its bias
(``bias_mant = pixel``, ``bias_exp = 6``); this reproduces ``input.npy`` bit for bit (tested).

Data: lava-dl's ``network.net``, ``image.npy`` and ``input.npy`` (BSD-3-Clause) in one folder, found as
the ``data_dir`` argument, else ``$DS2TA_PILOTNET_DIR``, else ``DATA``: the copy in the repository checkout
(``<checkout>/data/pilotnet_lif``, see its README.md; not in an installed wheel). Without them the
functions raise a ``ValueError`` saying what to pass, and the report falls back to the recorded
calibration snapshot.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import chip
from .intel_tables import INTEL_LIF
from .layers import LayerSpec
from .netx import read_net

ENV_VAR = "DS2TA_PILOTNET_DIR"
DATA = str(Path(__file__).resolve().parents[1] / "data" / "pilotnet_lif")  # in the checkout
STEPS = 16       # reset_interval Intel used: time steps per inference
INPUT_BIAS_EXP = 6  # the input layer's bias_exp: bias = pixel << 6


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding the PilotNet-LIF files: ``path``, else ``$DS2TA_PILOTNET_DIR``, else ``DATA``.

    Raises:
        ValueError: the folder has no ``network.net``; the message names the argument and variable.
    """
    folder = Path(path if path is not None else os.environ.get(ENV_VAR) or DATA)
    if not (folder / "network.net").is_file():
        raise ValueError(f"PilotNet-LIF data not found in {str(folder)!r} (no network.net): pass data_dir= "
                         f"or set {ENV_VAR} to a folder with lava-dl's network.net and image.npy "
                         "(tutorials/lava/lib/dl/netx/pilotnet_snn)")
    return folder


def available(path: str | os.PathLike | None = None) -> bool:
    """True when ``data_dir(path)`` finds the files."""
    try:
        data_dir(path)
    except ValueError:
        return False
    return True


def load_network(data: str | os.PathLike | None = None) -> list[dict]:
    """Read ``network.net`` of the ``data_dir(data)`` folder into layer dicts (numpy, (W, H, C) shapes)
    with the generic netx reader (``hardware.netx.read_net``)."""
    return read_net(data_dir(data) / "network.net")


def _synaptic_input(d: dict, src: np.ndarray) -> tuple[np.ndarray, dict]:
    """A layer's synaptic input ``a`` for every step (steps, W, H, C) and its synapse counts.

    Conv: ``chip.conv2d`` in (C, H, W) layout (netx weights are torch-layout, stride/padding (H, W)),
    wrapped to 24 bits as Lava's Conv; dense: ``W s``. Synops by ``chip.synapse_counts`` (spikes x
    structural fan-out: the layer applied with unit weights).
    """
    steps, shape = src.shape[0], d["shape"]
    w = d["weight"].astype(np.int64)
    if d["type"] == "conv":
        x = src.astype(np.int64).transpose(0, 3, 2, 1)  # (steps, W, H, C) -> (steps, C, H, W)
        g = int(np.asarray(d.get("groups", 1)).reshape(-1)[0])
        conv = lambda z, k: chip.conv2d(z, k, d["stride"], d["padding"], 1, g, name=f"conv{d['index']}")
        a = chip.wrap24(conv(x, w)).transpose(0, 3, 2, 1)  # (steps, W', H', C')
        syn = chip.synapse_counts(x, True, lambda c: conv(c, np.ones_like(w)).sum())
    else:  # dense: weight (out, in); src (steps, in)
        x = src.astype(np.int64).reshape(steps, -1)
        a = (x @ w.reshape(shape[-1], -1).T).reshape((steps,) + shape)
        syn = chip.synapse_counts(x, True, lambda c: c.sum() * shape[-1])  # every input reaches all outputs
    return a, syn


def run_layer(d: dict, src: np.ndarray | None, steps: int, image: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """One layer for ``steps`` steps from a fresh state.

    Args:
        d: Layer dict from ``load_network`` (not ``flatten``).
        src: Source spikes ``(steps, W, H, C)`` (conv) or ``(steps, N)`` (dense); None for input.
        steps: Time steps.
        image: The frame for the input layer (drives its bias).

    Returns:
        Output spikes ``(steps, W, H, C)`` and the layer's counts.
    """
    nr, shape = d["neuron"], d["shape"]
    counts = chip.empty_counts()
    if d["type"] == "input":
        bias = chip.bias_decode(np.asarray(image, np.int64).reshape(shape), INPUT_BIAS_EXP)  # bias_mant = pixel
        a = np.zeros((steps,) + shape, np.int64)
    else:
        per_channel = np.broadcast_to(d["bias"].astype(np.int64), shape[2:] if d["type"] == "conv" else shape[-1:])
        bias = chip.bias_decode(per_channel, INPUT_BIAS_EXP)
        a, syn = _synaptic_input(d, src[:steps])
        counts.update(syn)
    p = chip.lif_params(nr["du"], nr["dv"], bias, nr["vth"])
    u = v = np.zeros(shape, np.int64)
    out = np.zeros((steps,) + shape, bool)
    for t in range(steps):
        out[t], u, v = chip.lif_step(a[t], u, v, p)
    counts.update(chip.neuron_counts(np.prod(shape), steps, 1), spikes=chip.spike_count(out))
    counts["active_neuron_updates"] = int(np.count_nonzero(a))
    return out, counts


def simulate(layers: list[dict], image: np.ndarray, steps: int = STEPS) -> dict:
    """One inference: every layer runs ``steps`` steps from a fresh state on its source's window.

    Args:
        layers: From ``load_network``.
        image: int (W, H, C) frame, (200, 66, 3).
        steps: Time steps per inference.

    Returns:
        ``{"layers": {name: counts}, "spikes": {name: (steps, W, H, C) bool}, "latency_steps": int}``;
        latency by ``chip.longest_path``: one synapse layer between consecutive layers.
    """
    counts, trains, order = {}, {}, []
    src = None
    for d in layers:
        if d["type"] == "flatten":
            src = src.transpose(0, 3, 2, 1).reshape(steps, -1)  # netx: (W,H,C) -> (C,H,W) -> flat
            continue
        name = f"{d['type']}{d['index']}"
        out, counts[name] = run_layer(d, src, steps, image)
        trains[name] = out
        order.append(name)
        src = out
    depth = chip.longest_path(order, lambda n: [] if n == order[0] else
                              [(order[order.index(n) - 1], chip.hop_latency("synapse"))])
    return {"layers": counts, "spikes": trains, "latency_steps": max(depth.values())}


def layer_specs(layers: list[dict]) -> list[LayerSpec]:
    """Neutral ``LayerSpec``s of the netx network (names as in ``simulate``)."""
    specs, prev = [], None
    for d in layers:
        if d["type"] == "flatten":
            continue
        name = f"{d['type']}{d['index']}"
        sources = (prev.name,) if prev else ()
        if d["type"] == "input":
            ls = LayerSpec(name, "input", d["shape"])
        elif d["type"] == "conv":
            w = d["weight"]
            ls = LayerSpec(name, "conv", d["shape"], fan_in=int(w.shape[1] * w.shape[2] * w.shape[3]),
                           sources=sources, in_shape=prev.out_shape, kernel=(int(w.shape[3]), int(w.shape[2])),
                           stride=(int(d["stride"][1]), int(d["stride"][0])),
                           padding=(int(d["padding"][1]), int(d["padding"][0])), shared_weights=True)
        else:
            ls = LayerSpec(name, "dense", (1, 1, d["shape"][-1]), fan_in=int(d["weight"].reshape(d["shape"][-1], -1).shape[1]),
                           sources=sources)
        specs.append(ls)
        prev = ls
    return specs


def activity(image: np.ndarray | None = None, data: str | os.PathLike | None = None, steps: int = STEPS) -> dict:
    """``simulation.json``-shaped activity of one PilotNet-LIF inference on ``image`` (default: the
    data folder's ``image.npy``); ``data`` as for ``data_dir``."""
    import time

    t0 = time.perf_counter()
    folder = data_dir(data)
    layers = load_network(folder)
    if image is None:
        image = np.load(folder / "image.npy")
    sim = simulate(layers, image, steps)
    return {"backend": "numpy (Lava fixed-point semantics)", "graph": str(folder / "network.net"),
            "samples": 1, "T": steps, "latency_steps": sim["latency_steps"], "steps_per_inference": steps,
            "layers": sim["layers"],
            "per_sample": [], "accuracy": None, "wall_s": time.perf_counter() - t0,
            "note": "one driving frame (image.npy) presented for 16 steps, as Intel ran the benchmark; "
                    "pipelined: one inference every 16 steps, first output after 16 + 9 layer delays"}


# Intel's measurement and compiler placement (data/pilotnet_lif/README.md; grade M).
MEASURED = {"cores": 74, "dynamic_J": 1.093544e-3, "total_J": 1.661103e-3, "dynamic_W": 0.447156,
            "static_W": 0.232078, "inferences_per_s": 408.91, "step_s": 1.0 / 408.91 / STEPS}
INTEL_CORES = {r.layer: r.cores for r in INTEL_LIF}
INTEL_NEURONS_PER_CORE = {r.layer: r.neurons for r in INTEL_LIF}  # as printed: a dense layer's mean


def calibration(spec=None, data: str | os.PathLike | None = None) -> dict:
    """Predicted vs measured for PilotNet-LIF on one Loihi 2 chip (cores, energy, power, step time).

    ``data``: the PilotNet-LIF folder (see ``data_dir``); raises ``ValueError`` when it is absent.

    Returns:
        ``{"rows": [{"quantity", "predicted", "measured", "ratio", "grade", "note"}], "per_layer":
        [...], "activity": ..., "energy": ...}``; ratio = predicted / measured.
    """
    from .core import LOIHI2
    from .energy import estimate
    from .mapper import map_layers

    spec = spec or LOIHI2
    net = load_network(data)
    act = activity(data=data)
    specs = layer_specs(net)
    m = map_layers(specs, spec=spec)
    e = estimate(m, act).to_dict()
    capped = map_layers(specs, spec=spec.replace(neurons_per_core=max(INTEL_NEURONS_PER_CORE.values())))
    rows = []

    def row(q, pred, meas, grade, note):
        rows.append({"quantity": q, "predicted": pred, "measured": meas,
                     "ratio": (pred / meas) if meas else None, "grade": grade, "note": note})

    row("neuro cores", m.total_cores, MEASURED["cores"], "D vs M", "project mapper, vendor limits")
    row("neuro cores (3168 neurons/core cap)", capped.total_cores, MEASURED["cores"], "D vs M",
        "same mapper with Intel's largest observed per-core population as the neuron limit")
    for k, lp in e["loihi"].items():
        row(f"dynamic energy / inference [J] ({lp['profile']})", lp["dynamic_J"], MEASURED["dynamic_J"],
            "M-fit" if k == "sanafe" else "S", "Loihi 1 event costs x counted events")
        row(f"dynamic power [W] ({k}) at 408.91 inf/s", lp["dynamic_J"] * MEASURED["inferences_per_s"],
            MEASURED["dynamic_W"], "D", "dynamic energy x measured throughput")
        row(f"total energy / inference [J] ({k}, measured step time)", lp["total_J"]["pilotnet_step"],
            MEASURED["total_J"], "D", "static = 3.14 mW x predicted cores x 16 x 152.8 us")
        row(f"total energy / inference [J] ({k}, modeled step time)", lp["total_J"]["model_step"],
            MEASURED["total_J"], "D", "static with the modeled step time")
    row("time per step [s] (model)", e["latency"]["step_s_model"], MEASURED["step_s"], "D",
        "slowest core's work + barrier vs 1 / (408.91 x 16)")
    per_layer = []
    d = m.to_dict()["layers"]
    dc = capped.to_dict()["layers"]
    for name, lay in d.items():
        per_layer.append({"layer": name, "neurons": lay["neurons"], "predicted_cores": lay["n_cores"],
                          "predicted_cores_capped": dc[name]["n_cores"], "intel_cores": INTEL_CORES.get(name),
                          "limited_by": lay["limited_by"], "max_neurons_per_core": lay["max_neurons_per_core"],
                          "intel_neurons_per_core": INTEL_NEURONS_PER_CORE.get(name),
                          "spikes": act["layers"][name]["spikes"], "synops": act["layers"][name]["synops"]})
    return {"network": "PilotNet-LIF (lava-dl netx)", "input": "image.npy, one driving frame, 16 steps",
            "rows": rows, "per_layer": per_layer, "activity": act, "energy": e}

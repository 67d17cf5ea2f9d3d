"""A Loihi 2 time and power model, fitted on PilotNet-LIF and checked on PilotNet SDNN (issue 23, item 3).

Time per chip step (seconds)::

    t_core  = k_t * (updates * t_nu + synops * t_syn + messages * t_msg)   # per core, per step
    compute = max over cores (t_core) + t_barrier
    host    = host_bytes_per_step / B_host                                  # input frames from the host
    step    = max(compute, host)                                            # pipelined stages: the slowest bounds

``max``, not ``sum``: Lava streams the next frame to the chip's embedded cores while the neurocores run
the current step, so the two are concurrent stages. The data cannot tell the two apart: PilotNet-LIF sends
no input during its run (max = sum), and on PilotNet SDNN the chip's compute is 1.2 % of the host time and
the host rate is fitted there, so either rule reproduces it.

Power (watts) and energy per inference (joules)::

    P_static = P_chip * chips + p_core * cores
    E_dyn    = k_e * sum_layers (synops * e_syn + updates * e_nu + spikes * e_spike + messages * e_msg)
    P_total  = P_static + E_dyn * inferences_per_s,   E_inf = P_total / inferences_per_s

``t_*`` and ``e_*`` are sourced (Loihi 1 figures, ``profiles.SANAFE_LOIHI1``, ``core.LOIHI2``): they fix the
*ratios* between the terms; one time scale ``k_t`` and one energy scale ``k_e`` are fitted on PilotNet-LIF
(one measured step time, one measured dynamic energy: one constant each is all they decide). The static
split between the chip and its used cores is not decided by any public figure (``static_core_share``).
The host bandwidth is decided only by PilotNet SDNN (``fit_host``). Numpy only; docs/hardware.md, "Loihi 2
time and power model".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .core import LOIHI2, Cited
from .profiles import SANAFE_LOIHI1

_DAVIES_T2 = "Davies et al. 2018 Table 2 (Loihi 1): spike within tile 2.1 ns (recalled from the paper, not in " \
             "the project's reference sheet)"
_LIF = "PilotNet-LIF on Loihi 2 (lava-dl benchmark, data/pilotnet_lif/README.md)"
_SDNN = "PilotNet SDNN on Loihi 2 (lava-dl benchmark, data/pilotnet_sdnn/README.md)"


@dataclass(frozen=True)
class LayerLoad:
    """One layer's events per inference and the cores that share them evenly.

    Attributes:
        name: Layer name.
        cores: Cores holding the layer.
        neurons: Neurons of the layer.
        updates: Neuron updates per inference.
        synops: Synaptic events into the layer per inference (binary or graded).
        spikes: Spikes (or graded messages) the layer emits per inference.
        messages: Messages delivered per inference: ``spikes`` x destination cores.
        conv: Shared-kernel synapses (priced with the conv synop energy).
    """

    name: str
    cores: int
    neurons: int
    updates: float
    synops: float
    spikes: float
    messages: float
    conv: bool = False


@dataclass(frozen=True)
class Workload:
    """A network on the chip: its layers, chip steps per inference and host input per inference."""

    name: str
    layers: tuple[LayerLoad, ...]
    steps_per_inference: int
    host_bytes: float  # bytes the host sends per inference
    chips: int = 1

    @property
    def cores(self) -> int:
        return sum(ly.cores for ly in self.layers)


@dataclass(frozen=True)
class Loihi2Params:
    """The model's constants, each a ``Cited``; ``time_scale``, ``energy_scale`` and the static figures are
    fitted (``fit_on_lif``), ``host_bytes_per_s`` is fitted on SDNN (``fit_host``)."""

    t_syn: Cited = LOIHI2.synop_time_s
    t_nu: Cited = LOIHI2.neuron_update_time_s
    t_msg: Cited = Cited(0.21e-9, "s", _DAVIES_T2 + " / Loihi 2's 10x faster spike generation (Intel brief, V)", "D")
    t_barrier: Cited = LOIHI2.barrier_time_s
    time_scale: Cited = Cited(1.0, "", "unfitted: the sourced times as they are", "D")
    energy_scale: Cited = Cited(1.0, "", "unfitted: SANA-FE's Loihi 1 energies as they are", "D")
    static_chip_W: Cited = Cited(0.232078, "W", _LIF + ": static 0.232078 W, all on the chip", "M")
    static_core_W: Cited = Cited(0.0, "W", "no per-used-core static (static_core_share = 0)", "D")
    host_bytes_per_s: Cited = Cited(math.inf, "B/s", "no host bound", "D")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name).to_dict() for f in dataclasses.fields(self)}


def _e(ly: LayerLoad) -> float:
    """SANA-FE's Loihi 1 energy of a layer's events (J per inference) before the fitted scale."""
    p = SANAFE_LOIHI1
    syn = p.synop_conv.value if ly.conv else p.synop_dense.value
    return (ly.synops * syn + ly.updates * p.neuron_update.value + ly.spikes * p.spike_out.value
            + ly.messages * p.message.value)


def core_work_s(ly: LayerLoad, steps: int, p: Loihi2Params) -> float:
    """Unscaled seconds one of the layer's cores works per step (its even share of the layer's events)."""
    per = 1.0 / (max(ly.cores, 1) * max(steps, 1))
    return per * (ly.updates * p.t_nu.value + ly.synops * p.t_syn.value + ly.messages * p.t_msg.value)


def step_time(w: Workload, p: Loihi2Params) -> dict:
    """Seconds per chip step: ``{"compute_s", "host_s", "step_s", "bound", "slowest_layer", "sum_s"}``."""
    work = {ly.name: core_work_s(ly, w.steps_per_inference, p) for ly in w.layers}
    slowest = max(work, key=work.get)
    compute = p.time_scale.value * work[slowest] + p.t_barrier.value
    host = (w.host_bytes / w.steps_per_inference) / p.host_bytes_per_s.value
    return {"compute_s": compute, "host_s": host, "step_s": max(compute, host), "sum_s": compute + host,
            "bound": "host input" if host > compute else "compute", "slowest_layer": slowest}


def predict(w: Workload, p: Loihi2Params) -> dict:
    """Throughput, power and energy per inference of ``w`` under ``p``."""
    t = step_time(w, p)
    inf_s = 1.0 / (t["step_s"] * w.steps_per_inference)
    static = p.static_chip_W.value * w.chips + p.static_core_W.value * w.cores
    dyn_J = p.energy_scale.value * sum(_e(ly) for ly in w.layers)
    total = static + dyn_J * inf_s
    return {"workload": w.name, "cores": w.cores, "chips": w.chips, **t, "inferences_per_s": inf_s,
            "static_W": static, "dynamic_W": dyn_J * inf_s, "dynamic_J": dyn_J, "total_W": total,
            "energy_J": total / inf_s}


def fit_on_lif(w: Workload, measured: dict, static_core_share: float = 0.0,
               p: Loihi2Params = Loihi2Params()) -> Loihi2Params:
    """Fit ``time_scale``, ``energy_scale`` and the static power on PilotNet-LIF's one measurement.

    Args:
        w: PilotNet-LIF's workload (no host input: Intel wrote the frame once into the input layer's bias).
        measured: ``{"step_s", "dynamic_J", "static_W"}``.
        static_core_share: Fraction of the measured static power put on the used cores (the rest on the
            chip). Not decided by the data: one static figure cannot split into two constants.

    Returns:
        The fitted parameters; ``predict(w, fitted)`` reproduces the measurement by construction.
    """
    if not 0.0 <= static_core_share <= 1.0:
        raise ValueError(f"static_core_share={static_core_share}: give a fraction in [0, 1]")
    work = max(core_work_s(ly, w.steps_per_inference, p) for ly in w.layers)
    k_t = (measured["step_s"] - p.t_barrier.value) / work
    k_e = measured["dynamic_J"] / sum(_e(ly) for ly in w.layers)
    st = measured["static_W"]
    return dataclasses.replace(
        p,
        time_scale=Cited(k_t, "", f"FITTED on {_LIF}: measured {measured['step_s'] * 1e6:.4g} us per step", "D"),
        energy_scale=Cited(k_e, "", f"FITTED on {_LIF}: measured dynamic {measured['dynamic_J'] * 1e3:.5g} mJ "
                           "per inference over SANA-FE's Loihi 1 energies of the counted events", "D"),
        static_chip_W=Cited(st * (1 - static_core_share) / w.chips, "W", f"FITTED on {_LIF}: static {st} W x "
                            f"{1 - static_core_share:g} per chip (the split is not decided by the data)", "D"),
        static_core_W=Cited(st * static_core_share / w.cores, "W", f"FITTED on {_LIF}: static {st} W x "
                            f"{static_core_share:g} / {w.cores} used cores (the split is not decided by the data)",
                            "D"))


def fit_host(w: Workload, measured_inferences_per_s: float, p: Loihi2Params) -> Loihi2Params:
    """Fit the host link's bytes per second on a host-bound network (PilotNet SDNN: the only public one)."""
    bps = w.host_bytes * measured_inferences_per_s
    return dataclasses.replace(p, host_bytes_per_s=Cited(
        bps, "B/s", f"FITTED on {_SDNN}: {w.host_bytes:,.0f} bytes per frame (DELTA_SPARSE_8) x "
        f"{measured_inferences_per_s} frames/s; PilotNet-LIF sends no input during its run, so it cannot decide it", "D"))


def delta_sparse_8_bytes(values: np.ndarray) -> int:
    """Bytes of one frame under Lava's ``DELTA_SPARSE_8`` compression (``lava.proc.io.encoder``).

    Per nonzero value one data byte and one index byte (the gap to the previous nonzero, less one; the
    first is its index); a first index past 255 gets a leading (0, 0) pair; a gap ``g >= 255`` adds
    ``g // 255 // 255 + 1`` escape pairs; each array is packed 4 bytes to an int32 word, zero padded.
    """
    idx = np.flatnonzero(np.asarray(values).reshape(-1)).astype(np.int64)
    if idx.size == 0:
        idx = np.zeros(1, np.int64)  # the encoder sends one (0, 0) pair
    if idx[0] > 255:
        idx = np.concatenate([[0], idx])
    gaps = np.concatenate([idx[:1], np.diff(idx) - 1])
    big = gaps[gaps >= 255]
    n = idx.size + int(np.sum(big // 255 // 255 + 1))
    return 2 * 4 * math.ceil(n / 4)


def errors(pred: dict, measured: dict) -> dict:
    """Relative errors ``pred / measured - 1`` of the keys both have."""
    return {k: pred[k] / measured[k] - 1.0 for k in measured if k in pred and measured[k]}

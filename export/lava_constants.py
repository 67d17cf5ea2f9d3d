"""Lava neuron constants of a float NIR neuron node: decays, input gain, leak and threshold for a time
step ``dt`` (used by the quantizer, ``graph_quant``, and by the float executor, ``sims/reference/float_nir``)."""

from __future__ import annotations

import numpy as np

from ds2ta.hardware import chip

DV_MAX = chip.DECAY_UNITY - 1             # 12-bit dv register (4096 only on a graded relay)


def _arr(node, key, default=None):
    v = getattr(node, key, default)
    return None if v is None else np.asarray(v, dtype=np.float64)


def neuron_constants(node, dt: float) -> dict:
    """Lava constants and the input gain of a float NIR neuron node for time step ``dt``."""
    t = type(node).__name__
    if t in ("CubaLIF", "CubaLI"):
        tau_m, tau_s = _arr(node, "tau_mem"), _arr(node, "tau_syn")
        gain = _arr(node, "w_in", 1.0) * (dt / tau_s).clip(max=1.0) * _arr(node, "r") * dt / tau_m
        du = np.clip(np.round(chip.DECAY_UNITY * dt / tau_s) - chip.DU_OFFSET, 0, chip.NO_CURRENT_MEMORY)
        dv = np.clip(np.round(chip.DECAY_UNITY * dt / tau_m), 0, DV_MAX)
        leak = dt / tau_m * _arr(node, "v_leak")
    elif t in ("LIF", "LI"):
        tau = _arr(node, "tau")
        gain, du = _arr(node, "r") * dt / tau, np.full(tau.shape, float(chip.NO_CURRENT_MEMORY))
        # tau = dt on a non-spiking LI is a graded relay (v = input each step): dv = 4096 forgets all
        dv_max = np.where((tau == dt) & (t == "LI"), chip.DECAY_UNITY, DV_MAX)
        dv, leak = np.clip(np.round(chip.DECAY_UNITY * dt / tau), 0, dv_max), dt / tau * _arr(node, "v_leak")
    elif t in ("IF", "I"):
        r = _arr(node, "r")
        gain, du = r * dt, np.full(r.shape, float(chip.NO_CURRENT_MEMORY))
        dv, leak = np.zeros(r.shape), np.zeros(r.shape)
    else:
        raise ValueError(f"not a neuron node type: {t}")
    theta = _arr(node, "v_threshold") if t in chip.SPIKING_NEURONS else None
    shape = np.broadcast_shapes(*(np.shape(a) for a in (gain, du, dv, leak)))
    b = lambda a: np.broadcast_to(a, shape).astype(np.float64)
    return dict(gain=b(gain), du=b(du), dv=b(dv), leak=b(leak), theta=None if theta is None else b(theta))


def _per_channel(a: np.ndarray) -> np.ndarray:
    """Axis-0 channel values of a per-neuron array (max over the other axes)."""
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1).max(1) if a.ndim > 1 else a.reshape(-1)

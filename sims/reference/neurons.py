"""Lava fixed-point LIF (``PyLifModelBitAcc``) as batched torch integer code.

Per step (see docs/nir-format.md and the shared reference lava-loihi-semantics.md)::

    u = wrap24( trunc0(u * (4096 - (du + 1))) + (a << 6) )
    v = sat24( trunc0(v * (4096 - dv)) + u + bias )        bias = bias_mant << bias_exp (>> if < 0)
    s = v > (vth << 6);  v[s] = 0                          (spiking neurons only)

All arithmetic is int64 (exact on CPU and CUDA); ``trunc0(p) = sign(p) * (|p| >> 12)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

U_MAX = 2 ** 23          # Lava max_uv_val (24-bit state)
V_LIMIT = 2 ** 23 - 1    # v saturates to [-V_LIMIT, V_LIMIT]


def trunc0(p: torch.Tensor) -> torch.Tensor:
    """``sign(p) * (|p| >> 12)``: the decay product rounded toward zero (int64)."""
    return torch.sign(p) * (p.abs() >> 12)


def wrap24(u: torch.Tensor) -> torch.Tensor:
    """Lava's current wrap: ``u > 2^23 -> u - 2^24``; ``u <= -2^23 -> u + 2^24`` (one wrap)."""
    w = torch.where(u > U_MAX, u - 2 * U_MAX, u)
    return torch.where(w <= -U_MAX, u + 2 * U_MAX, w)


def effective_bias(bias_mant: torch.Tensor, bias_exp: torch.Tensor) -> torch.Tensor:
    """``bias_mant << bias_exp`` (right shift for negative exponents), as Lava's ``scale_bias``."""
    bias_mant, bias_exp = bias_mant.long(), bias_exp.long()
    return torch.where(bias_exp >= 0, bias_mant << bias_exp.clamp(min=0), bias_mant >> (-bias_exp).clamp(min=0))


@dataclass
class LavaLIFParams:
    """Per-neuron integer parameters (int64 tensors of the neuron shape, or broadcastable).

    ``vth = None`` makes a non-spiking neuron (I/LI read-outs): the output is ``v``.
    """

    du: torch.Tensor
    dv: torch.Tensor
    bias: torch.Tensor
    vth: Optional[torch.Tensor]

    def __post_init__(self) -> None:
        self.decay_u = 4096 - (self.du + 1)          # u's decay factor (of 4096)
        self.decay_v = 4096 - self.dv                # v's decay factor (of 4096)
        self.no_current_memory = bool(torch.all(self.du == 4095))  # u = a << 6 each step
        self.has_bias = bool(torch.any(self.bias != 0))
        self.vth_v = None if self.vth is None else self.vth << 6   # threshold in v units

    def to(self, device) -> "LavaLIFParams":
        return LavaLIFParams(self.du.to(device), self.dv.to(device), self.bias.to(device),
                             None if self.vth is None else self.vth.to(device))


def _decay(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``trunc0(x * factor)`` as one integer division toward zero (exact in int64)."""
    return torch.div(x * factor, 4096, rounding_mode="trunc")


def lif_step(a: torch.Tensor, u: torch.Tensor, v: torch.Tensor, p: LavaLIFParams):
    """One step for int64 input ``a`` (B, *shape); returns ``(out, u, v)``: spikes (int64 0/1) or v.

    Same arithmetic as the module docstring; the common cases (``du = 4095``: no current memory,
    ``u`` inside 24 bits, zero bias) skip work that cannot change the result.
    """
    u = (a << 6) if p.no_current_memory else _decay(u, p.decay_u) + (a << 6)
    if bool((u > U_MAX).any() or (u <= -U_MAX).any()):
        u = wrap24(u)
    v = _decay(v, p.decay_v)
    v += u
    if p.has_bias:
        v += p.bias
    v.clamp_(-V_LIMIT, V_LIMIT)
    if p.vth is None:
        return v, u, v  # the next step builds a new v: this output is never written again
    s = v > p.vth_v
    v.masked_fill_(s, 0)
    return s.long(), u, v


def lif_run(a: torch.Tensor, p: LavaLIFParams, record_v: bool = False):
    """Run ``lif_step`` over the time axis of ``a`` (T, B, *shape) from ``u = v = 0``.

    Returns:
        ``(out, v_trace)``: outputs (T, B, *shape) int64 and, when ``record_v``, the membrane after
        reset (T, B, *shape), else None.
    """
    u = torch.zeros_like(a[0])
    v = torch.zeros_like(a[0])
    outs, vs = [], []
    for t in range(a.shape[0]):
        o, u, v = lif_step(a[t], u, v, p)
        outs.append(o)
        if record_v:
            vs.append(v)
    return torch.stack(outs), (torch.stack(vs) if record_v else None)

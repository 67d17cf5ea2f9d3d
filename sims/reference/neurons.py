"""Lava fixed-point LIF (``PyLifModelBitAcc``) over batched torch int64 tensors, via ``ds2ta.hardware.chip``.

The arithmetic is ``chip.lif_step`` (docs/lava-loihi-semantics.md section 1)::

    u = wrap_current( trunc0(u * (4096 - (du + 1))) + (a << 6) )
    v = saturate( trunc0(v * (4096 - dv)) + u + bias )          bias = bias_mant << bias_exp
    s = v > (vth << 6);  v[s] = 0                               (spiking neurons only)

This module holds the per-population parameters on a device and runs the step over time; it is
exact in int64 on CPU and CUDA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ds2ta.hardware import chip


@dataclass
class LavaLIFParams:
    """Per-neuron integer parameters (int64 tensors of the neuron shape, or broadcastable).

    ``bias`` is in v units (``chip.bias_decode(bias_mant, bias_exp)``); ``vth = None`` makes a
    non-spiking neuron (I/LI read-outs): the output is ``v``.
    """

    du: torch.Tensor
    dv: torch.Tensor
    bias: torch.Tensor
    vth: Optional[torch.Tensor]

    def __post_init__(self) -> None:
        self.chip = chip.lif_params(self.du, self.dv, self.bias, self.vth)

    def to(self, device) -> "LavaLIFParams":
        return LavaLIFParams(self.du.to(device), self.dv.to(device), self.bias.to(device),
                             None if self.vth is None else self.vth.to(device))


def lif_step(a: torch.Tensor, u: torch.Tensor, v: torch.Tensor, p: LavaLIFParams):
    """One step for int64 input ``a`` (B, *shape); returns ``(out, u, v)``: spikes (int64 0/1) or v."""
    s, u, v = chip.lif_step(a, u, v, p.chip)
    if s is None:
        return v, u, v  # the next step builds a new v: this output is never written again
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

"""Lava fixed-point LIF (``PyLifModelBitAcc``) over batched torch int64 tensors, via ``ds2ta.hardware.chip``.

The arithmetic is ``chip.lif_step`` (docs/lava-loihi-semantics.md section 1)::

    u = wrap_current( trunc0(u * (4096 - (du + 1))) + (a << 6) )
    v = saturate( trunc0(v * (4096 - dv)) + u + bias )          bias = bias_mant << bias_exp
    s = v > (vth << 6);  v[s] = 0                               (spiking neurons only)

This module holds the per-population parameters on a device and runs the step over time; it is
exact in int64 on CPU and CUDA. ``lif_sequence`` is the executor's fast path for the common chip
neuron (``du = 4095``, one power-of-two voltage decay ``4096 - dv = 2^k``, input small enough that the
current never wraps): the same integers in int32 with the decay as a rounding shift, tested equal to
``chip.lif_step``; any other population runs ``chip.lif_step`` step by step.
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
        self.fast = _fast_params(self.chip)

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


# -- fast path --------------------------------------------------------------------------------------
A_FAST = 1 << (chip.UV_BITS - 1 - chip.ACT_SHIFT)  # |a| < 2^17: a << 6 stays inside the current's range
FAST_LIMIT = 1 << chip.UV_BITS                    # |bias|, |vth << 6| below this keep every sum in int32


@dataclass
class _FastLIF:
    """``LIFParams`` of a population that ``lif_sequence`` runs in int32 (see ``_fast_params``)."""

    shift: Optional[int]              # trunc0(v (4096 - dv)) = sign(v) (|v| >> shift); None: v decays to 0
    bias: Optional[torch.Tensor]      # int32, None when zero everywhere
    vth_v: Optional[torch.Tensor]     # int32 (vth << 6), None for a graded neuron


def _fast_params(p: chip.LIFParams) -> Optional[_FastLIF]:
    """The int32 form of ``p`` when it has no current memory, one voltage decay factor ``2^k`` (or 0) for
    every neuron, and bias and threshold below 2^24 in magnitude; else None (``chip.lif_step`` runs)."""
    if not p.no_current_memory:
        return None
    f = torch.as_tensor(p.decay_v)
    if f.numel() == 0 or not bool((f == f.reshape(-1)[0]).all()):
        return None
    f = int(f.reshape(-1)[0])
    if f == 0:
        shift = None
    elif f > 0 and f & (f - 1) == 0 and f <= chip.DECAY_UNITY:
        shift = chip.DECAY_SHIFT - (f.bit_length() - 1)
    else:
        return None
    small = lambda t: t is None or not t.numel() or int(t.abs().max()) < FAST_LIMIT
    if not (small(p.bias) and small(p.vth_v)):
        return None
    return _FastLIF(shift, p.bias.to(torch.int32) if p.has_bias else None,
                    None if p.vth_v is None else p.vth_v.to(torch.int32))


def _decay_shift(v: torch.Tensor, shift: int) -> torch.Tensor:
    """``sign(v) (|v| >> shift)`` (int32, in place): add ``2^shift - 1`` to negative values, then an
    arithmetic shift (which floors), so the result rounds toward zero as ``chip.trunc0`` does."""
    if shift == 0:
        return v
    v += (v >> 31) & ((1 << shift) - 1)
    return v.bitwise_right_shift_(shift)


def lif_sequence(a: torch.Tensor, p: LavaLIFParams) -> torch.Tensor:
    """``lif_run(a, p)[0]`` for ``a`` (T, B, *shape): spikes as uint8 (a graded neuron: ``v``, int64).

    The int32 fast path (``p.fast``) needs ``|a| < 2^17``, where ``a << 6`` never wraps; with ``|v| <= 2^23``,
    ``|bias| < 2^24`` every intermediate stays below 2^26. Other inputs and populations run ``lif_step``.
    """
    fp = p.fast
    if fp is None or not a.numel() or a.dtype.is_floating_point:
        out = lif_run(a, p)[0]
        return out.to(torch.uint8) if p.vth is not None else out
    lo, hi = torch.aminmax(a)
    if int(lo) <= -A_FAST or int(hi) >= A_FAST:
        out = lif_run(a, p)[0]
        return out.to(torch.uint8) if p.vth is not None else out
    u = a.to(torch.int32)  # (T, B, ...): the current a << 6, which never wraps here
    u = u << chip.ACT_SHIFT if u is a else u.bitwise_left_shift_(chip.ACT_SHIFT)
    T = a.shape[0]
    out = torch.empty(a.shape, dtype=torch.uint8 if fp.vth_v is not None else torch.int64, device=a.device)
    v = torch.zeros_like(u[0])
    for t in range(T):
        if fp.shift is None:
            v.zero_()
        else:
            _decay_shift(v, fp.shift)
        v += u[t]
        if fp.bias is not None:
            v += fp.bias
        v.clamp_(-chip.V_LIMIT, chip.V_LIMIT)
        if fp.vth_v is None:
            out[t] = v
            continue
        s = v > fp.vth_v
        out[t] = s
        v.masked_fill_(s, 0)
    return out

"""Leaky integrate-and-fire neuron: a pure step function and a thin multi-step module.

The update (spikingjelly ``LIFNode(tau, decay_input=True, v_reset=0)``, one time step, unitless
membrane potential ``v`` measured in units of the threshold's scale)::

    h[t] = v[t-1] + (x[t] - v[t-1]) / tau          # = (1 - 1/tau) v + x / tau; tau=2: 0.5 v + 0.5 x
    s[t] = H(h[t] - v_th)                          # spike when h >= v_th
    v[t] = h[t] * (1 - s[t])                       # hard reset to 0 (s detached when detach_reset)

Loihi mapping (see docs/quantization.md): decay ``1 - 1/tau`` is Lava's ``dv = 4096 / tau`` and the
input gain ``1/tau`` is folded into the synaptic weights.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class LIFParams(NamedTuple):
    """Parameters of the LIF step.

    Attributes:
        tau: membrane time constant in steps (2.0 gives leak 0.5 and input gain 0.5).
        v_threshold: firing threshold.
        alpha: steepness of the sigmoid surrogate gradient.
        detach_reset: stop gradients through the reset term (Spikformer's choice).
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    alpha: float = 4.0
    detach_reset: bool = True


class LIFState(NamedTuple):
    """Membrane potential after the previous step (same shape as the input of one step)."""

    v: torch.Tensor


class SigmoidSurrogate(torch.autograd.Function):
    """Heaviside forward, derivative of ``sigmoid(alpha * x)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # noqa: D102
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # noqa: D102
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * x)
        return grad * ctx.alpha * sg * (1.0 - sg), None


def spike_fn(x: torch.Tensor, alpha: float) -> torch.Tensor:
    """Heaviside step ``x >= 0`` with a sigmoid surrogate gradient of steepness ``alpha``."""
    return SigmoidSurrogate.apply(x, alpha)


def lif_step(x: torch.Tensor, state: LIFState, p: LIFParams) -> tuple[torch.Tensor, LIFState]:
    """One LIF time step; returns ``(spikes, new_state)``. See the module docstring for the equations."""
    h = state.v + (x - state.v) / p.tau
    s = spike_fn(h - p.v_threshold, p.alpha)
    s_reset = s.detach() if p.detach_reset else s
    return s, LIFState(v=h * (1.0 - s_reset))


def lif_multistep(x: torch.Tensor, p: LIFParams) -> torch.Tensor:
    """Run ``lif_step`` over the leading time axis: ``x`` is ``(T, ...)``; returns spikes ``(T, ...)``."""
    state = LIFState(v=torch.zeros_like(x[0]))
    out = []
    for t in range(x.shape[0]):
        s, state = lif_step(x[t], state, p)
        out.append(s)
    return torch.stack(out)


class LIF(nn.Module):
    """Multi-step LIF layer over ``(T, B, ...)`` tensors; state starts at zero for every call."""

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, alpha: float = 4.0,
                 detach_reset: bool = True):
        super().__init__()
        if tau < 1.0:
            raise ValueError(f"LIF tau must be >= 1 step (got {tau}); tau=1 means no memory")
        self.params = LIFParams(float(tau), float(v_threshold), float(alpha), bool(detach_reset))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (T, B, ...) -> (T, B, ...)
        return lif_multistep(x, self.params)

    def extra_repr(self) -> str:
        p = self.params
        return f"tau={p.tau}, v_threshold={p.v_threshold}, alpha={p.alpha}"

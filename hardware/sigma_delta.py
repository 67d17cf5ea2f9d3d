"""The sigma-delta neuron's integer dynamics (lava-nc ``Delta``, ``SigmaDelta``, ``Sigma`` fixed-point models, as
lava-dl netx builds an SDNN), one home for the reference, the Lava process model and the tests.

Per step, on int64 values (numpy or torch), with ``k = spike_exp + state_exp`` (netx: 6 + 6)::

    delta:        act = x << k                                   lava-nc PyDeltaModelFixed (a_in << k)
    sigma_delta:  sigma = sigma + x;  act = relu?(sigma + (bias << k))   PySigmaDeltaModelFixed
    both:         d = act - act_prev + residue
                  s = d where |d| >= vth << k, else 0;   residue = d - s;   act_prev = act
                  out = s >> state_exp                           (arithmetic shift: floor)
    sigma:        sigma = sigma + x;  out = sigma                PySigmaModelFixed

``x`` is the summed synaptic input of the step (Lava ``a_in``). The state (``sigma``, ``act_prev``,
``residue``) starts at 0 with every sample. ``out`` is the graded message the population sends; a zero is
no message. lava-nc's models hold these registers as int32 and send 24-bit ports without clamping; netx
gives the messages 16 bits (``num_message_bits``); here every value is exact in int64 (docs/simulation.md).

numpy only at import (torch tensors are handled through ``chip``'s helpers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import chip

MODES = ("delta", "sigma_delta", "sigma")
NETX_SPIKE_EXP = NETX_STATE_EXP = 6   # lava-dl netx: spike_exp = 6 (Network default), state_exp = 6
NETX_MESSAGE_BITS = 16               # netx's num_message_bits for SDNN layers (its default)


@dataclass(frozen=True)
class SigmaDeltaParams:
    """A population's constants, scaled as lava-nc scales them (``vth << k``, ``bias << k``)."""

    mode: str
    relu: bool
    vth: Any          # threshold in state units (int64, per neuron)
    bias: Any         # bias in state units (int64, per neuron)
    shift: int        # k = spike_exp + state_exp
    state_exp: int


class SigmaDeltaState(NamedTuple):
    sigma: Any
    act: Any
    residue: Any


def params(node) -> SigmaDeltaParams:
    """The constants of a ``DS2TASigmaDelta`` node (flat C-order per-neuron arrays)."""
    k = int(node.spike_exp) + int(node.state_exp)
    flat = lambda a: np.asarray(a, dtype=np.int64).reshape(-1)
    return SigmaDeltaParams(node.mode, bool(node.relu), flat(node.vth) << k, flat(node.bias) << k, k,
                            int(node.state_exp))


def zero_state(x) -> SigmaDeltaState:
    """The state at a sample's start: every register 0, shaped and typed like ``x`` (int64)."""
    z = chip.as_int64(x) * 0
    return SigmaDeltaState(z, z, z)


def step(x, state: SigmaDeltaState, p: SigmaDeltaParams):
    """One step on the summed input ``x`` (``(..., n)`` int64, numpy or torch): ``(out, new state)``.
    ``p``'s arrays broadcast over the last axis (numpy arrays are turned into ``x``'s tensor type)."""
    x = chip.as_int64(x)
    vth, bias = _like(p.vth, x), _like(p.bias, x)
    if p.mode == "delta":
        act, sigma = x << p.shift, state.sigma
    else:
        sigma = state.sigma + x
        if p.mode == "sigma":
            return sigma, SigmaDeltaState(sigma, state.act, state.residue)
        act = chip.graded_unit(sigma + bias, p.relu)
    d = act - state.act + state.residue
    s = d * (abs(d) >= vth)
    return s >> p.state_exp, SigmaDeltaState(sigma, act, d - s)


def run(x, p: SigmaDeltaParams):
    """Every step of a sample sequence ``x`` ``(T, ..., n)`` from the zero state: ``(T, ..., n)`` outputs."""
    xp = chip._xp(x)
    state, outs = zero_state(x[0]), []
    for t in range(x.shape[0]):
        o, state = step(x[t], state, p)
        outs.append(o)
    return xp.stack(outs)


def _like(a: np.ndarray, x):
    if chip._is_torch(x):
        return chip._xp(x).as_tensor(a, device=x.device)
    return a

"""Spiking projections, with TASA's temporally attenuated weight replicas.

For a projection P with shared weight ``W`` (TASA, arXiv 2409.15375)::

    u[t] = BN( sum_{k=0}^{min(t, TAW-1)} a_k(tau) * W x[t-k] )        P[t] = LIF(u[t])
    a_0 = 1,  a_k = exp(-k / tau)  (or 1 / (1 + k/tau)),  tau = softplus(rho) > 0, init 4

Computed as ``W (sum_k a_k x[t-k])``: one matmul on a causally filtered input. ``TAW = 1`` is a
plain ``Linear -> BN -> LIF`` projection (Spikformer's), and then no tau parameter exists.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from ds2ta.neuron import LIF

ATTENUATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "exp": lambda k, tau: torch.exp(-k / tau),
    "hyperbolic": lambda k, tau: 1.0 / (1.0 + k / tau),
}


def attenuation(form: str, taw: int, tau: torch.Tensor) -> torch.Tensor:
    """Coefficients ``a_0..a_{TAW-1}`` (``a_0 = 1``) for decay ``tau``; differentiable in tau."""
    if form not in ATTENUATIONS:
        raise ValueError(f"attenuation={form!r}: choose one of {sorted(ATTENUATIONS)}")
    k = torch.arange(taw, dtype=tau.dtype, device=tau.device)
    return ATTENUATIONS[form](k, tau)


def temporal_filter(x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """``y[t] = sum_{k < min(t+1, K)} coeffs[k] * x[t-k]`` over the leading time axis of ``x`` (T, ...)."""
    y = coeffs[0] * x
    for k in range(1, min(coeffs.shape[0], x.shape[0])):
        y = y + coeffs[k] * F.pad(x[:-k], [0, 0] * (x.dim() - 1) + [k, 0])  # shift by k along T
    return y


class SpikingProjection(nn.Module):
    """``(T, B, N, D_in)`` spikes -> ``(T, B, N, D_out)`` spikes through (TASA-)Linear, BN, LIF."""

    def __init__(self, d_in: int, d_out: int, taw: int = 1, tau_init: float = 4.0,
                 learn_tau: bool = True, form: str = "exp", v_threshold: float = 1.0,
                 lif_tau: float = 2.0, alpha: float = 4.0):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out, bias=False)
        self.bn = nn.BatchNorm1d(d_out)
        self.lif = LIF(lif_tau, v_threshold, alpha)
        self.taw, self.form = taw, form
        if form not in ATTENUATIONS:
            raise ValueError(f"attenuation={form!r}: choose one of {sorted(ATTENUATIONS)}")
        if taw > 1:
            rho = torch.tensor(math.log(math.expm1(tau_init)))  # softplus(rho) = tau_init
            self.rho = nn.Parameter(rho, requires_grad=learn_tau)

    @property
    def tau(self) -> torch.Tensor:
        """Positive decay exponent (softplus of the raw parameter)."""
        return F.softplus(self.rho)

    def coeffs(self) -> torch.Tensor:
        """TASA weights ``a_0..a_{TAW-1}``; ``[1.]`` when TAW = 1."""
        if self.taw == 1:
            return torch.ones(1, device=self.linear.weight.device)
        return attenuation(self.form, self.taw, self.tau)

    def preactivation(self, x: torch.Tensor) -> torch.Tensor:
        """BN(TASA-Linear(x)): the input current of the LIF, ``(T, B, N, D_out)``."""
        T, B, N, _ = x.shape
        if self.taw > 1:
            x = temporal_filter(x, self.coeffs())  # (T, B, N, D_in)
        u = self.linear(x)  # (T, B, N, D_out)
        return self.bn(u.flatten(0, 2)).reshape(T, B, N, -1)  # BN over channels; (T, B, N, D_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lif(self.preactivation(x))

"""SigmaDeltaUnit: a sigma-delta neuron population (NIR ``DS2TASigmaDelta``) that resets at its window start."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class SigmaDeltaUnit(AbstractProcess):
    """lava-nc's ``Delta`` / ``SigmaDelta`` / ``Sigma`` fixed-point dynamics in one process
    (``ds2ta.hardware.sigma_delta``), with the state (sigma, act, residue) set to 0 at the population's window
    start, as the project's other populations reset (lava-nc's sigma-delta processes have no reset).

    Args:
        shape: ``(n,)``.
        mode: ``"delta"``, ``"sigma_delta"`` or ``"sigma"``.
        relu: ReLU activation (sigma_delta).
        vth, bias: per-neuron mantissas (flat, C order), scaled by ``2^(spike_exp + state_exp)`` in the model.
        spike_exp, state_exp: the fixed-point exponents.
        period: Lava steps per sample.
        depth: window start (Lava step within a period).
    """

    def __init__(self, *, shape: tuple[int, ...], mode: str, relu: bool, vth: np.ndarray, bias: np.ndarray,
                 spike_exp: int, state_exp: int, period: int, depth: int, name: str | None = None):
        super().__init__(shape=shape, mode=mode, relu=relu, vth=np.asarray(vth), bias=np.asarray(bias),
                         spike_exp=spike_exp, state_exp=state_exp, period=period, depth=depth, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)

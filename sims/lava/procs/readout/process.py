"""Readout: a non-spiking Loihi compartment (NIR ``I`` / ``LI`` / ``CubaLI``) that reports ``v``."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class Readout(AbstractProcess):
    """Lava's fixed-point LIF sub-threshold dynamics without spiking; sends ``v`` (graded) each step.

    Loihi reads such a compartment's voltage by probing; here it is an output port so the recorder
    can store it. State resets at the population's window start, as ``LIFReset`` does.

    Args:
        shape: ``(n,)``.
        du: current decay (12-bit, Lava's convention: 4095 = no current memory).
        dv: voltage decay (12-bit; 0 = perfect integrator).
        bias: per-unit bias in ``v`` units.
        period: Lava steps per sample.
        depth: window start (Lava step within a period).
    """

    def __init__(self, *, shape: tuple[int, ...], du: int, dv: int, bias: np.ndarray, period: int,
                 depth: int, name: str | None = None):
        super().__init__(shape=shape, du=du, dv=dv, bias=np.asarray(bias), period=period, depth=depth,
                         name=name)
        self.a_in = InPort(shape=shape)
        self.v_out = OutPort(shape=shape)

"""LIF population with per-neuron decays (Lava's ``LIF`` takes one ``du``/``dv`` per population)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class PerNeuronLIF(AbstractProcess):
    """Lava's fixed-point LIF (``PyLifModelBitAcc`` equations) with per-neuron ``du``, ``dv``, ``vth``
    and ``bias`` (``v`` units); state resets at the population's window start, as ``LIFReset`` does.

    Loihi 2 neurons are programmable, so per-neuron decays are a compartment parameter there; lava-nc's
    ``LIF`` only exposes one per population. Used when a graph (snntorch with per-neuron ``beta``)
    gives its neurons different decays.

    Args:
        shape: ``(n,)``.  du, dv: 12-bit decays, per neuron.  vth: threshold (``v > vth << 6``).
        bias: per-neuron bias in ``v`` units.  period: Lava steps per sample.  depth: window start.
    """

    def __init__(self, *, shape: tuple[int, ...], du: np.ndarray, dv: np.ndarray, vth: np.ndarray,
                 bias: np.ndarray, period: int, depth: int, name: str | None = None):
        b = lambda a: np.broadcast_to(np.asarray(a, dtype=np.int64), shape).copy()
        super().__init__(shape=shape, du=b(du), dv=b(dv), vth=b(vth), bias=b(bias), period=period,
                         depth=depth, name=name)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)

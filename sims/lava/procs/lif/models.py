"""numpy ProcessModel of PerNeuronLIF (``chip.lif_step`` through ``ops.WindowedLIFState``)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.ops import WindowedLIFState
from ds2ta.sims.lava.procs.lif.process import PerNeuronLIF
from ds2ta.sims.lava.procs.ports import recv


@implements(proc=PerNeuronLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPerNeuronLIFModel(WindowedLIFState, PyLoihiProcessModel):
    """u, v: 24-bit registers (int64 here, wrapped/saturated as on the chip); a_in is int16 as in Lava."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.init_lif(proc_params)

    def run_spk(self):
        self.s_out.send(self.lif_step(recv(self.a_in)).astype(np.int32))

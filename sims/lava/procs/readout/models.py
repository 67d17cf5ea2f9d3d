"""numpy ProcessModel of Readout (``chip.lif_step``, the equations of ``PyLifModelBitAcc``)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.ops import WindowedLIFState
from ds2ta.sims.lava.procs.readout.process import Readout
from ds2ta.sims.lava.procs.ports import recv


@implements(proc=Readout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyReadoutModel(WindowedLIFState, PyLoihiProcessModel):
    """u, v: 24-bit registers (int64 here, wrapped/saturated as on the chip)."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    v_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.init_lif(proc_params, threshold=False)  # reports v

    def run_spk(self):
        self.lif_step(recv(self.a_in))
        self.v_out.send(self.v.astype(np.int32))

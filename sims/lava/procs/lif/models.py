"""numpy ProcessModel of PerNeuronLIF (same equations as ``ops.lif_fixed_step``)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.ops import lif_fixed_step
from ds2ta.sims.lava.procs.lif.process import PerNeuronLIF


@implements(proc=PerNeuronLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyPerNeuronLIFModel(PyLoihiProcessModel):
    """u, v: 24-bit registers (int64 here, wrapped/saturated as on the chip); a_in is int16 as in Lava."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int16, precision=16)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.du, self.dv, self.vth, self.bias = (np.asarray(p[k], np.int64) for k in ("du", "dv", "vth", "bias"))
        self.period, self.depth = p["period"], p["depth"]
        self.u = np.zeros(p["shape"], dtype=np.int64)
        self.v = np.zeros(p["shape"], dtype=np.int64)

    def run_spk(self):
        a = self.a_in.recv()
        if (self.time_step - 1 - self.depth) % self.period == 0:  # window start: new sample
            self.u[:] = 0
            self.v[:] = 0
        s, self.u, self.v = lif_fixed_step(self.u, self.v, a, self.du, self.dv, self.bias, self.vth)
        self.s_out.send(s.astype(np.int32))

"""numpy ProcessModel of SigmaDeltaUnit (``hardware.sigma_delta.step``, the equations of lava-nc's
``PyDeltaModelFixed`` / ``PySigmaDeltaModelFixed`` / ``PySigmaModelFixed``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.hardware import sigma_delta as sd
from ds2ta.sims.lava.procs.ports import recv
from ds2ta.sims.lava.procs.sigma_delta.process import SigmaDeltaUnit


@implements(proc=SigmaDeltaUnit, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySigmaDeltaUnitModel(PyLoihiProcessModel):
    """sigma, act, residue: int64 here (lava-nc holds int32 registers; every value of the networks run stays
    far inside them). Sends ``s >> state_exp`` (``sigma`` in the sigma mode) as a 24-bit graded message;
    the state resets at the window start ``(time_step - 1 - depth) % period == 0``."""

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        node = SimpleNamespace(mode=p["mode"], relu=p["relu"], vth=p["vth"], bias=p["bias"],
                               spike_exp=p["spike_exp"], state_exp=p["state_exp"])
        self.params = sd.params(node)
        self.period, self.depth = p["period"], p["depth"]
        self.state = None

    def run_spk(self):
        a = recv(self.a_in).astype(np.int64)
        if self.state is None or (self.time_step - 1 - self.depth) % self.period == 0:  # window start
            self.state = sd.zero_state(a)
        out, self.state = sd.step(a, self.state, self.params)
        self.s_out.send(out.astype(np.int32))

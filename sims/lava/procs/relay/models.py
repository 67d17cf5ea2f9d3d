"""numpy ProcessModel of SpikeRelay."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.procs.relay.process import SpikeRelay


@implements(proc=SpikeRelay, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySpikeRelayModel(PyLoihiProcessModel):
    """Ring buffer of ``delay`` vectors; with ``delay >= 1`` it sends before it receives (no deadlock
    in cycles), with ``delay == 0`` it receives, gates and sends in the same step."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.delay, self.period, self.src_depth = p["delay"], p["period"], p["src_depth"]
        self.lo, self.hi = p["lo"], p["hi"]
        self.buf = np.zeros((max(self.delay, 1), *p["shape"]), dtype=np.int32)

    def _gate(self, x: np.ndarray, emitted_at: int) -> np.ndarray:
        j = (emitted_at - self.src_depth) % self.period
        return x if self.lo <= j <= self.hi else np.zeros_like(x)

    def run_spk(self):
        i = self.time_step - 1
        if self.delay == 0:
            self.s_out.send(self._gate(self.s_in.recv(), i))
            return
        slot = i % self.delay  # holds the input received at step i - delay
        self.s_out.send(self._gate(self.buf[slot], i - self.delay))
        self.buf[slot] = self.s_in.recv()

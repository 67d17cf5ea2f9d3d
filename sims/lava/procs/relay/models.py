"""numpy ProcessModel of DelayBank (``bank_model(n)``: one class per number of lines)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.procs.relay.process import DelayBank
from ds2ta.sims.lava.procs.ports import recv


class AbstractPyDelayBankModel(PyLoihiProcessModel):
    """A ring buffer of the last ``max(delays)`` inputs. Each step: the delayed lines send first (their
    values were received in earlier steps, so a cycle through the bank cannot deadlock), then the input
    is received and stored, then the delay-0 lines (pure gates) send it."""

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.delays, self.lo, self.hi = p["delays"], p["lo"], p["hi"]
        self.period, self.src_depth = p["period"], p["src_depth"]
        self.depth = max(max(self.delays), 1)
        self.buf = np.zeros((self.depth, *p["shape"]), dtype=np.int32)
        self.zero = np.zeros(p["shape"], dtype=np.int32)
        self.later = [k for k, d in enumerate(self.delays) if d > 0]
        self.now = [k for k, d in enumerate(self.delays) if d == 0]

    def _gated(self, k: int, x: np.ndarray, emitted_at: int) -> np.ndarray:
        j = (emitted_at - self.src_depth) % self.period
        return x if self.lo[k] <= j <= self.hi[k] else self.zero

    def run_spk(self):
        i = self.time_step - 1
        ports = self.out_ports
        for k in self.later:
            d = self.delays[k]
            ports[k].send(self._gated(k, self.buf[(i - d) % self.depth], i - d))
        x = recv(self.s_in)
        self.buf[i % self.depth] = x
        for k in self.now:
            ports[k].send(self._gated(k, x, i))


def bank_model(lines: int) -> type:
    """A DelayBank ProcessModel class declaring ports ``out_0 .. out_{lines-1}`` (Lava needs one
    ``LavaPyType`` class attribute per port, so the class is made per number of lines)."""
    attrs = {f"out_{k}": LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24) for k in range(lines)}
    attrs["out_ports"] = property(lambda self: [getattr(self, f"out_{k}") for k in range(lines)])
    cls = type(f"PyDelayBankModel{lines}", (AbstractPyDelayBankModel,), attrs)
    return implements(proc=DelayBank, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(cls)))

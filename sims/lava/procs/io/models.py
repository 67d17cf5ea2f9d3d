"""numpy ProcessModels of the memmap source and recorder."""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from ds2ta.sims.lava.procs.io.process import BiasSource, MemmapSource, Recorder
from ds2ta.sims.lava.procs.ports import recv


@implements(proc=MemmapSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyMemmapSourceModel(PyLoihiProcessModel):
    """Reads one row per step from the memmap opened in the (forked) child process."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.T, self.period, self.samples = p["T"], p["period"], p["samples"]
        self.data = np.memmap(p["path"], dtype=np.int32, mode="r", shape=(p["samples"], p["T"], *p["shape"]))
        self.zero = np.zeros(p["shape"], dtype=np.int32)

    def run_spk(self):
        i = self.time_step - 1  # 0-based Lava step
        s, t = divmod(i, self.period)
        self.s_out.send(self.data[s, t] if (s < self.samples and t < self.T) else self.zero)


class AbstractPyRecorderModel(PyLoihiProcessModel):
    """Writes window steps of every port into its memmap; ports are added by ``recorder_model``."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.T, self.period, self.samples, self.depths = p["T"], p["period"], p["samples"], p["depths"]
        self.files = [np.memmap(path, dtype=dt, mode="r+", shape=(p["samples"], p["T"], n))
                      for path, dt, n in zip(p["paths"], p["dtypes"], p["sizes"])]
        self.n_ports = len(p["sizes"])

    def run_spk(self):
        i = self.time_step - 1
        ports = [getattr(self, f"in_{k}") for k in range(self.n_ports)]
        for port, f, d in zip(ports, self.files, self.depths):
            x = recv(port)
            s, t = divmod(i - d, self.period)
            if 0 <= s < self.samples and t < self.T:
                f[s, t] = x


def recorder_model(n_ports: int) -> type:
    """A Recorder ProcessModel class declaring ports ``in_0 .. in_{n-1}`` (Lava needs one
    ``LavaPyType`` class attribute per port, so the class is made per network)."""
    attrs = {f"in_{i}": LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24) for i in range(n_ports)}
    cls = type(f"PyRecorderModel{n_ports}", (AbstractPyRecorderModel,), attrs)
    return implements(proc=Recorder, protocol=LoihiProtocol)(requires(CPU)(tag("fixed_pt")(cls)))


@implements(proc=BiasSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyBiasSourceModel(PyLoihiProcessModel):
    """Sends ``table[t]`` at window step ``t < T`` of every period, zeros at the other steps."""

    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        self.table = np.asarray(p["table"], dtype=np.int32)  # (T, n)
        self.period, self.depth = p["period"], p["depth"]
        self.zero = np.zeros(self.table.shape[1], dtype=np.int32)

    def run_spk(self):
        t = (self.time_step - 1 - self.depth) % self.period
        self.a_out.send(self.table[t] if t < len(self.table) else self.zero)

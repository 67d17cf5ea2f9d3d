"""Exact integer numpy ProcessModel for lava-nc's ``Conv`` (replaces ``PyConvModelFixed``).

lava-nc's fixed-point Conv model calls ``torch.nn.functional.conv2d`` in float32 inside the forked
process when torch is importable: exact only below 2^24 and a deadlock hazard after the parent used
torch's thread pool. This model computes the same true convolution in int64 numpy (``chip.conv2d``),
then wraps the result to 24 bits as Loihi's dendritic accumulator (``chip.wrap24``, lava-nc's
``signed_clamp(x, bits=24)``).
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv.process import Conv

from ds2ta.hardware import chip


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_numpy")
class PyConvModelNumpy(PyLoihiProcessModel):
    """Input ``(W, H, C)``, weight ``(C_out, kW, kH, C_in)`` flipped (Lava's layout), output ``(W', H', C')``.

    Geometry Vars (kernel size, stride, padding, dilation, groups) are int32: lava-nc's own model
    declares them int8, so a depthwise conv of 192 channels read back ``groups = -64`` (paper scale).
    """

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    a_buf: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    weight: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    kernel_size: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    stride: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    padding: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    dilation: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    groups: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=16)
    num_message_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)
    weight_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    num_weight_bits: np.ndarray = LavaPyType(np.ndarray, np.int8, precision=5)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.w_torch = None

    def run_spk(self):
        if self.w_torch is None:  # back to PyTorch layout: (C_out, C_in, kH, kW), unflipped
            self.w_torch = np.ascontiguousarray(
                self.weight.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]).astype(np.int64)
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        if int(self.num_message_bits.item()) == 0:
            s_in = s_in.astype(bool)
        x = np.asarray(s_in, np.int64).transpose(2, 1, 0)[None]  # (1, C, H, W)
        rev = lambda a: tuple(int(v) for v in np.asarray(a)[::-1])  # XY -> (H, W)
        y = chip.conv2d(x, self.w_torch, rev(self.stride), rev(self.padding), rev(self.dilation),
                        int(self.groups.item() if np.size(self.groups) == 1 else self.groups[0]))
        y = y[0].transpose(2, 1, 0)  # (W', H', C')
        self.a_buf = chip.wrap24(y).astype(np.int32)

"""Exact integer ProcessModel for lava-nc's ``Conv`` at BLAS speed (replaces ``PyConvModelFixed``).

lava-nc's fixed-point Conv model calls ``torch.nn.functional.conv2d`` in float32 inside the forked
process when torch is importable: exact only below 2^24 and a deadlock hazard after the parent used
torch's thread pool. This model computes the same true convolution with ``ds2ta.hardware.blas.IntConv2d``
(one im2col GEMM in float32 or float64, chosen per step by the bound ``row_abs_sum(W) max|x|`` that
proves every partial sum an exact integer; int64 beyond it), then wraps the result to 24 bits as
Loihi's dendritic accumulator (``chip.wrap24``, lava-nc's ``signed_clamp(x, bits=24)``). Binary spikes
(``num_message_bits = 0``) need no pass for ``max|x|``: it is 1.
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
from ds2ta.hardware.blas import IntConv2d


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_blas")
class PyConvModelBLAS(PyLoihiProcessModel):
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
        self.kernel = None

    def _build_kernel(self) -> IntConv2d:
        """The convolution in PyTorch layout: weight (C_out, C_in/g, kH, kW), unflipped."""
        w = self.weight.transpose(0, 3, 2, 1)[:, :, ::-1, ::-1]
        rev = lambda a: tuple(int(v) for v in np.asarray(a).reshape(-1)[::-1])  # XY -> (H, W)
        groups = int(np.asarray(self.groups).reshape(-1)[0])
        return IntConv2d(w, rev(self.stride), rev(self.padding), rev(self.dilation), groups)

    def run_spk(self):
        if self.kernel is None:
            self.kernel = self._build_kernel()
        self.a_out.send(self.a_buf)
        s_in = self.s_in.recv()
        binary = int(self.num_message_bits.item()) == 0
        x = (s_in != 0 if binary else s_in).transpose(2, 1, 0)  # (C, H, W)
        y = self.kernel(x, binary=binary).transpose(2, 1, 0)  # (W', H', C')
        self.a_buf = chip.wrap24(y, inplace=True).astype(np.int32)

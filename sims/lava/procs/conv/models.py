"""Exact integer ProcessModels at BLAS speed for lava-nc's ``Conv`` (replaces ``PyConvModelFixed``) and for
``TapConv`` (TASA's delayed replicas in one process).

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
from ds2ta.hardware.blas import IntConv2d, abs_max
from ds2ta.sims.lava.procs.conv.process import TapConv
from ds2ta.sims.lava.procs.ports import recv


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
        self.kernel, self.zero = None, None  # the kernel and a zero output, made on first use

    def _set_var(self):
        if self.zero is not None and self.a_buf is self.zero:  # a Var write lands in a_buf in place
            self.a_buf = self.zero.copy()
        super()._set_var()

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
        s_in = recv(self.s_in)
        if not s_in.any():  # no input, no synaptic current (most steps of a sequential run)
            if self.zero is None:
                self.zero = np.zeros(self.a_buf.shape, np.int32)
            self.a_buf = self.zero
            return
        binary = int(self.num_message_bits.item()) == 0
        x = (s_in != 0 if binary else s_in).transpose(2, 1, 0)  # (C, H, W)
        y = self.kernel(x, binary=binary).transpose(2, 1, 0)  # (W', H', C')
        self.a_buf = chip.wrap24(y, inplace=True).astype(np.int32)


@implements(proc=TapConv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_blas")
class PyTapConvModel(PyLoihiProcessModel):
    """``TapConv``: a ring of the last ``max(d_k) + 1`` inputs; per step send the buffered result, receive,
    then ``a = sum_k wrap24(W_k * gate_k(x(t - d_k)))``.

    When no tap's sum can reach 2^23 (``row_abs_sum(W_k) max|x| < 2^23`` for every ``k``, checked each
    step: the 24-bit wrap is then the identity) the K taps are one GEMM over the stacked delayed inputs
    (``IntConv2d`` with the taps as extra input channels of each group); otherwise each tap is computed
    and wrapped on its own. Exact either way (``ds2ta.hardware.blas``).
    """

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        p = proc_params
        w = np.asarray(p["weights"], dtype=np.int64)  # (K, O, Cg, kh, kw)
        K, O, cg, kh, kw = w.shape
        g = p["groups"]
        self.delays, self.period, self.depth = list(p["delays"]), p["period"], p["depth"]
        self.in_shape, self.graded = p["in_shape"], p["graded"]
        geometry = (p["stride"], p["padding"], p["dilation"])
        self.taps = [IntConv2d(w[k], *geometry, g) for k in range(K)]
        # the taps as input channels: group gi's channels are [tap 0's C/g, tap 1's C/g, ...]
        stacked = w.reshape(K, g, O // g, cg, kh, kw).transpose(1, 2, 0, 3, 4, 5).reshape(O, K * cg, kh, kw)
        self.stacked = IntConv2d(stacked, *geometry, g)
        self.tap_row_abs_sum = max(t.row_abs_sum for t in self.taps)
        self.ring = np.zeros((max(self.delays) + 1, int(np.prod(self.in_shape))), dtype=np.int32)
        self.ring_max = np.zeros(len(self.ring), dtype=np.int64)  # max |x| of each held input
        self.zero = np.zeros_like(self.ring[0])
        self.zero_out = np.zeros(int(np.prod(p["out_shape"])), dtype=np.int32)
        self.a_buf = self.zero_out

    def _delayed(self, i: int, k: int) -> tuple:
        """Tap ``k``'s input at Lava step ``i`` and its ``max|x|``: the input received ``d_k`` steps ago, or
        zero when its sample-local step was beyond ``period - 1 - d_k`` (it belongs to the previous sample)."""
        d = self.delays[k]
        j = (i - d - (self.depth - 1)) % self.period  # sample-local step of that input at the destination
        slot = (i - d) % len(self.ring)
        return (self.ring[slot], int(self.ring_max[slot])) if j <= self.period - 1 - d else (self.zero, 0)

    def run_spk(self):
        i = self.time_step - 1
        self.a_out.send(self.a_buf)
        slot = i % len(self.ring)
        self.ring[slot] = recv(self.s_in)
        self.ring_max[slot] = abs_max(self.ring[slot]) if self.graded else int(self.ring[slot].any())
        C, H, W = self.in_shape
        xs, maxes = zip(*(self._delayed(i, k) for k in range(len(self.delays))))
        xmax = max(maxes)
        if xmax == 0:  # every tap reads zeros: no current (most steps of a sequential run)
            self.a_buf = self.zero_out
            return
        g = self.stacked.groups
        if self.tap_row_abs_sum * xmax < chip.U_LIMIT:  # no tap wraps: one GEMM over the stacked inputs
            x = np.stack([x.reshape(g, C // g, H, W) for x in xs], 1).reshape(-1, H, W)
            y = self.stacked(x, binary=not self.graded, x_abs_max=xmax)
        else:
            y = sum(chip.wrap24(tap(x.reshape(C, H, W), x_abs_max=xmax)) for tap, x in zip(self.taps, xs))
        self.a_buf = y.reshape(-1).astype(np.int32)

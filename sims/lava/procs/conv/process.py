"""This family holds a numpy ProcessModel for lava-nc's own ``Conv`` and ``TapConv``: the delayed copies of
one convolution geometry into one population (TASA's replicas) as one synapse process."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.proc.conv.process import Conv  # noqa: F401  (the Process PyConvModelBLAS implements)


class TapConv(AbstractProcess):
    """``y(t) = sum_k W_k * x(t - d_k)``: K convolutions of one geometry, tap ``k`` reading the input
    ``d_k`` steps back (an axonal delay per synapse group, as Loihi 2 stores them), sent one step later
    like every synapse (Lava's ``Conv``/``Dense`` timing).

    TASA's attention projection is ``sum_k a_k W x[t - k]`` over a window of past steps; the exporter
    writes it as K NIR ``Delay(k) -> Conv2d`` replicas into one neuron population. As separate lava-nc
    ``Conv`` processes each replica costs the runtime one process and every source one delay line per
    replica; here the K replicas are one process and each source one line. Each tap's result is its own
    ``Conv`` result (24-bit wrap per tap, ``chip.wrap24``) and the taps add at the population's input,
    as K processes' outputs add at a port; a tap whose delayed input left the sample (the input's
    sample-local step ``j > period - 1 - d_k``, which a ``Delay(d_k)`` zeroes) contributes nothing.

    Args:
        weights: ``(K, O, C/g, kh, kw)`` integer taps (PyTorch layout, unflipped).
        delays: ``(K,)`` steps each tap reads back (the NIR ``Delay`` on its path).
        in_shape: ``(C, H, W)`` of the input; ports are flat in NIR's C order.
        stride, padding, dilation, groups: the shared geometry.
        graded: the input is a graded payload (spike counts of several sources summed), not 0/1 spikes.
        period: Lava steps per sample.  depth: the destination population's window start (its step 0).
    """

    def __init__(self, *, weights: np.ndarray, delays, in_shape: tuple, stride, padding, dilation, groups: int,
                 out_shape: tuple, graded: bool, period: int, depth: int, name: str | None = None):
        w = np.asarray(weights)
        if w.ndim != 5 or len(delays) != w.shape[0] or min(delays) < 0:
            raise ValueError(f"TapConv {name!r}: weights (K, O, C/g, kh, kw) and K delays >= 0, got "
                             f"{w.shape} and {list(delays)}")
        n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        super().__init__(weights=w, delays=[int(d) for d in delays], in_shape=tuple(map(int, in_shape)),
                         stride=stride, padding=padding, dilation=dilation, groups=int(groups),
                         out_shape=tuple(map(int, out_shape)), graded=bool(graded), period=int(period),
                         depth=int(depth), name=name)
        self.s_in = InPort(shape=(n_in,))
        self.a_out = OutPort(shape=(n_out,))

"""SpikeRelay: a delay line with a sample-window gate (NIR ``Delay``, path alignment, recurrence)."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class SpikeRelay(AbstractProcess):
    """Output at Lava step ``i`` = input at step ``i - delay`` if its source-local step is in range.

    The source emits its sample-local step ``j`` at Lava step ``s * period + src_depth + j``. An input
    whose local step ``j mod period`` lies outside ``[lo, hi]`` is replaced by zero: NIR ``Delay(k)``
    uses ``[0, period - 1 - k]`` (``x[t - k] = 0`` for ``t < k``), a recurrent edge ``[0, T - 2 - k]``
    (the last step's spikes do not leak into the next sample), path alignment ``[0, period - 1]``.
    On the chip this is an axonal delay (up to 62 steps on Loihi 2) or a chain of relay neurons.

    Args:
        shape: ``(n,)``.
        delay: steps of delay (0: same step, pure gate).
        period: Lava steps per sample.
        src_depth: window start of the source population.
        lo: first source-local step passed.
        hi: last source-local step passed.
    """

    def __init__(self, *, shape: tuple[int, ...], delay: int, period: int, src_depth: int, lo: int,
                 hi: int):
        if delay < 0:
            raise ValueError(f"SpikeRelay delay={delay} must be >= 0")
        super().__init__(shape=shape, delay=delay, period=period, src_depth=src_depth, lo=lo, hi=hi)
        self.s_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)

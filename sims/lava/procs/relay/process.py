"""DelayBank: every delay line of one source population in one process (NIR ``Delay``, path alignment,
recurrence)."""

from __future__ import annotations

from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class DelayBank(AbstractProcess):
    """Line ``k``'s output at Lava step ``i`` = the input at step ``i - delays[k]`` if its source-local
    step is in ``[lo[k], hi[k]]``, else zero.

    The source emits its sample-local step ``j`` at Lava step ``s * period + src_depth + j``. An input
    whose local step ``j mod period`` lies outside ``[lo, hi]`` is replaced by zero: NIR ``Delay(k)``
    uses ``[0, period - 1 - k]`` (``x[t - k] = 0`` for ``t < k``), a recurrent edge ``[0, T - 2 - k]``
    (the last step's spikes do not leak into the next sample), path alignment ``[0, period - 1]``.
    On the chip each line is an axonal delay (up to 62 steps on Loihi 2) or a chain of relay neurons.

    One bank serves every line of its source: it keeps one history of the source's output (as long as
    the longest delay) however many lines read it, and costs the runtime one process instead of one
    per line (lava-nc's per-process cost per step is the same for a relay that copies one vector as for
    a synapse that multiplies matrices; docs/sim-speed.md).

    Args:
        shape: ``(n,)``.
        delays: steps of delay per line (0: same step, a pure gate).
        lo, hi: first and last source-local step passed, per line.
        period: Lava steps per sample.
        src_depth: window start of the source population.
    """

    def __init__(self, *, shape: tuple[int, ...], delays: list[int], lo: list[int], hi: list[int], period: int,
                 src_depth: int, name: str | None = None):
        if not delays or len(delays) != len(lo) or len(delays) != len(hi):
            raise ValueError(f"DelayBank needs one (delay, lo, hi) per line, got {len(delays)}, {len(lo)}, {len(hi)}")
        if min(delays) < 0:
            raise ValueError(f"DelayBank delays {delays} must be >= 0")
        super().__init__(shape=shape, delays=list(map(int, delays)), lo=list(map(int, lo)), hi=list(map(int, hi)),
                         period=period, src_depth=src_depth, name=name)
        self.s_in = InPort(shape=shape)
        for k in range(len(delays)):
            setattr(self, f"out_{k}", OutPort(shape=shape))

    @property
    def lines(self) -> int:
        return len(self.proc_params["delays"])

    def line(self, k: int) -> OutPort:
        """Output port of line ``k``."""
        return getattr(self, f"out_{k}")

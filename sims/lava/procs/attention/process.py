"""SpikeAttentionCore: the attention core a neuromorphic chip lacks (Q K^T, NSAD table, S V, STAtten)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class SpikeAttentionCore(AbstractProcess):
    """Integer attention current from binary ``q, k, v`` spikes (docs/nir-format.md, extension nodes).

    ``mode="spatial"`` (``DS2TASpikeAttention``), per step and head h::

        A = Q_h K_h^T  (0..d),  S = table[h, A],  out_h = shr(S V_h, shift)

    ``mode="block"`` (``DS2TABlockAttention``): the ``chunk`` steps of a block are buffered, then
    ``out_b = shr(Q_b (K_b^T V_b), shift)`` is emitted one step per step. Like a synapse layer the core
    sends its result one step after the inputs arrive (``chunk`` steps for blocks: out_latency).
    Spike x spike MACs (the reference's counting) are accumulated per sample into a memmap file.

    Args:
        shape: ``(D * N,)``; operands and output are flat ``(D, g, g)`` in C order.
        heads: H.  tokens: N.  table: ``(H, d + 1)`` int NSAD table (ignored in block mode).
        shift: result shift.  mode: ``"spatial"`` or ``"block"``.  chunk: steps per block.
        period, depth, T, samples: schedule (window start = ``depth``).  counter_path: int64 memmap.
    """

    def __init__(self, *, shape, heads: int, tokens: int, table: np.ndarray, shift: int, mode: str,
                 chunk: int, period: int, depth: int, T: int, samples: int, counter_path: str,
                 name: str | None = None):
        super().__init__(shape=shape, heads=heads, tokens=tokens, table=np.asarray(table), shift=shift,
                         mode=mode, chunk=chunk, period=period, depth=depth, T=T, samples=samples,
                         counter_path=counter_path, name=name)
        self.q = InPort(shape=shape)
        self.k = InPort(shape=shape)
        self.v = InPort(shape=shape)
        self.a_out = OutPort(shape=shape)
        self.counter_path, self.samples = counter_path, samples

    def read_counters(self) -> np.ndarray:
        """Per-sample attention ops written by the model (call after the run)."""
        return np.array(np.memmap(self.counter_path, dtype=np.int64, mode="r", shape=(self.samples,)))

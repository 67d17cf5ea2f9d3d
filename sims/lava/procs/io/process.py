"""Input source, per-step bias source and spike recorder Processes (memory-mapped files, no Var transfers)."""

from __future__ import annotations

import numpy as np
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess


class MemmapSource(AbstractProcess):
    """Sends sample ``s``'s step ``t`` (an integer vector) at Lava step ``s * period + t``; zeros otherwise.

    Args:
        shape: output shape ``(n,)``.
        path: file holding an int32 memmap of shape ``(samples, T, n)`` (written by the parent).
        samples: number of samples in the file.
        T: time steps per sample.
        period: Lava steps between two samples' starts.
    """

    def __init__(self, *, shape: tuple[int, ...], path: str, samples: int, T: int, period: int):
        super().__init__(shape=shape, path=path, samples=samples, T=T, period=period)
        self.s_out = OutPort(shape=shape)


class Recorder(AbstractProcess):
    """Records each input port's value during its population's window into its own memmap file.

    Port ``in_i`` records ``(samples, T, n_i)`` values: Lava step ``s * period + depth_i + t`` goes to
    ``[s, t]`` for ``t < T``. Counting and comparisons read these files after the run, so recording
    changes nothing the network computes.

    Args:
        sizes: units per port.
        paths: one memmap file per port.
        dtypes: numpy dtype name per port (``"uint8"`` for spikes, ``"int32"`` for graded values).
        depths: window start (Lava step within a period) per port.
        samples: samples in the run.
        T: time steps per sample.
        period: Lava steps between two samples' starts.
    """

    def __init__(self, *, sizes: list[int], paths: list[str], dtypes: list[str], depths: list[int],
                 samples: int, T: int, period: int):
        super().__init__(sizes=sizes, paths=paths, dtypes=dtypes, depths=depths, samples=samples,
                         T=T, period=period)
        for i, n in enumerate(sizes):
            setattr(self, f"in_{i}", InPort(shape=(n,)))


class BiasSource(AbstractProcess):
    """Per-step synaptic bias of one population, sent straight into its ``a_in`` (no synapse delay).

    NIR adds an Affine/Conv2d ``bias`` to the synaptic input each step. Lava's LIF ``bias`` adds to
    ``v`` instead, which equals it only without current memory (``du = 4095``) and when it fits
    ``bias_mant << bias_exp``; otherwise this source adds ``table[t]`` to ``a_in`` at sample step ``t``.

    Args:
        table: ``(T, n)`` integer bias per sample step (synaptic units).
        period: Lava steps per sample.  depth: the population's window start (Lava step in a period).
    """

    def __init__(self, *, table: np.ndarray, period: int, depth: int, name: str | None = None):
        table = np.asarray(table)
        super().__init__(table=table, period=period, depth=depth, name=name)
        self.a_out = OutPort(shape=(table.shape[1],))

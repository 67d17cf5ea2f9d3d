"""NIR's memoryless linear nodes for the Lava backend (their arithmetic is ``ds2ta.hardware.kinds``'s
``LinearOp``), chains composed into one matrix, and the LIF state of this package's models.

Used to compose chains of linear nodes into one synapse layer, inside this package's numpy
ProcessModels (never torch: process models are forked, see docs/simulation.md), and by the counters.
The arithmetic (integer convolution, the LIF step) is ``ds2ta.hardware.chip``'s. All arrays are
int64; a population is a flat vector in NIR's C order (``(C, H, W)`` -> ``C*H*W``).
"""

from __future__ import annotations

import nir
import numpy as np

from ds2ta.hardware import chip, kinds


_pair, _integer = kinds.pair, kinds.integer_values


def input_shape(node: nir.NIRNode) -> tuple[int, ...]:
    """The node's input shape (first input port)."""
    return tuple(int(s) for s in np.asarray(next(iter(node.input_type.values()))))


def linear_out_shape(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of a linear node for input ``shape`` (its kind's ``LinearOp.out_shape``)."""
    return kinds.linear_op(name, node).out_shape(name, node, shape)


def typed_linear(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[nir.NIRNode, tuple]:
    """A shallow copy of a linear node with input/output types (and a conv's ``input_shape``) set from the
    shape wired into it, as some writers (sinabs) leave them ``None``; returns ``(node, out_shape)``."""
    return kinds.linear_op(name, node).typed(name, node, shape)


def apply_linear(name: str, node: nir.NIRNode, x: np.ndarray) -> np.ndarray:
    """One linear NIR node on a batch of flat vectors ``(B, n_in) -> (B, n_out)``, int64, with bias (its
    kind's ``LinearOp.apply``)."""
    return kinds.linear_op(name, node).apply(name, node, x)


compose = kinds.compose  # a chain of linear nodes as one (W, b) pair, exact in int64


class WindowedLIFState:
    """Mixin for numpy ProcessModels of a fixed-point LIF population (``chip.lif_step``) whose state
    resets at its window start (``(time_step - 1 - depth) % period == 0``), as ``LIFReset`` does.
    Call ``init_lif(proc_params)`` in ``__init__`` and ``lif_step(a)`` in ``run_spk``."""

    def init_lif(self, p, threshold: bool = True) -> None:
        du, dv, bias = (np.asarray(p[k], np.int64) for k in ("du", "dv", "bias"))
        self.params = chip.lif_params(du, dv, bias, np.asarray(p["vth"], np.int64) if threshold else None)
        self.period, self.depth = p["period"], p["depth"]
        self.u = np.zeros(p["shape"], dtype=np.int64)
        self.v = np.zeros(p["shape"], dtype=np.int64)

    def lif_step(self, a: np.ndarray) -> np.ndarray:
        """One step on synaptic input ``a``; returns the spikes (all False without a threshold)."""
        if (self.time_step - 1 - self.depth) % self.period == 0:  # window start: new sample
            self.u[:] = 0
            self.v[:] = 0
        s, self.u, self.v = chip.lif_step(a, self.u, self.v, self.params)
        return np.zeros(self.v.shape, dtype=bool) if s is None else s

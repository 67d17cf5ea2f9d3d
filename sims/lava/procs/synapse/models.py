"""lava-nc's ``DelaySparse`` with its delay-sorted weight matrix built once instead of every step.

``PyDelaySparseModelBitAcc.calc_act`` rebuilds ``get_delay_wgts_mat(weights, delays)`` (a ``vstack`` of
one masked copy of the weights per delay, plus a sparsity-changing assignment) at every time step:
seconds per step for the attention lowering's fan-out synapses. The weights and delays of a
non-learning ``DelaySparse`` never change, so this model builds that matrix on the first step and
reuses it; everything else (8-bit weight encoding, the rolling ``a_buff``, ``weight_exp``) is lava-nc's
own code, inherited unchanged.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.sparse.models import PyDelaySparseModelBitAcc
from lava.proc.sparse.process import DelaySparse


@implements(proc=DelaySparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_cached")
class PyDelaySparseModelCached(PyDelaySparseModelBitAcc):
    """``PyDelaySparseModelBitAcc`` with ``get_delay_wgts_mat`` evaluated once (static weights)."""

    _delay_mat = None

    def calc_act(self, s_in) -> np.ndarray:
        if self._delay_mat is None:
            self._delay_mat = self.get_delay_wgts_mat(self.weights, self.delays, self.a_buff.shape[-1] - 1)
        return np.reshape(self._delay_mat.dot(s_in), (self.a_buff.shape[-1], self.weights.shape[0])).T

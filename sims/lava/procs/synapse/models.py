"""Faster exact ProcessModels for lava-nc's ``Sparse`` and ``DelaySparse`` (the lowered attention's synapses).

``PyDelaySparseModelCached``: lava-nc's ``DelaySparse`` with its delay-sorted weight matrix built once
instead of every step.

``PyDelaySparseModelBitAcc.calc_act`` rebuilds ``get_delay_wgts_mat(weights, delays)`` (a ``vstack`` of
one masked copy of the weights per delay, plus a sparsity-changing assignment) at every time step:
seconds per step for the attention lowering's fan-out synapses. The weights and delays of a
non-learning ``DelaySparse`` never change, so this model builds that matrix on the first step and
reuses it; everything else (8-bit weight encoding, the rolling ``a_buff``, ``weight_exp``) is lava-nc's
own code, inherited unchanged.

``PySparseModelInt64``: lava-nc's ``Sparse`` step with the weighted sum in int64 (graded payloads of a
conv with a weight exponent, ``sims/lava/sparse_conv.py``), where lava-nc's int32 sum would wrap.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.sparse.models import PyDelaySparseModelBitAcc, PySparseModelBitAcc
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights


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



@implements(proc=Sparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_dot")
class PySparseModelDot(PySparseModelBitAcc):
    """``PySparseModelBitAcc`` with binary spikes summed as one sparse product ``W @ s``.

    lava-nc sums the weight columns of the spiking inputs with ``weights[:, s].sum(axis=1)``: column
    selection on a CSR matrix, which copies the selected columns every step (the lowered attention's
    threshold units fan in from 16 k to 1.6 M columns). ``W @ s`` over 0/1 spikes is the same integer
    sum. The rest is lava-nc's step: the 8-bit weight encoding on the first step (``clip_weights``,
    ``truncate_weights``), the buffered output (one step of synaptic delay) and ``weight_exp``.
    """

    def run_spk(self):
        if not self.weights_set:
            mode = self.proc_params.get("sign_mode") or determine_sign_mode(self.weights)
            self.weights = truncate_weights(clip_weights(self.weights, mode, num_bits=8), mode,
                                            self.proc_params.get("num_weight_bits", 8))
            self.weights_set = True
        exp = self.proc_params.get("weight_exp", 0)
        self.a_out.send(self.a_buff)
        s_in = self.s_in.recv()
        if self.num_message_bits.item() == 0:
            s_in = s_in.astype(bool).astype(np.int32)
        acc = self.weights.dot(s_in)
        self.a_buff = np.left_shift(acc, exp) if exp > 0 else np.right_shift(acc, -exp)


@implements(proc=Sparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_int64")
class PySparseModelInt64(PySparseModelBitAcc):
    """``PySparseModelBitAcc`` accumulating in int64 (graded payloads of a weighted conv, ``sparse_conv.py``).

    lava-nc's model sums ``W @ s_in`` in the inputs' int32: graded values near 2^20 times 8-bit weights
    over a 64-tap window reach 2^34 and wrap. This model keeps lava-nc's step - the 8-bit weight
    encoding on the first step, the buffered output (one step of synaptic delay), the floor shift by
    ``weight_exp`` - with the sum in int64, as the reference computes it; the shifted result is sent
    as int32 (the graph keeps synaptic input within 24 bits).
    """

    def run_spk(self):
        if not self.weights_set:
            mode = self.proc_params.get("sign_mode") or determine_sign_mode(self.weights)
            self.weights = truncate_weights(clip_weights(self.weights, mode, num_bits=8), mode,
                                            self.proc_params.get("num_weight_bits", 8)).astype(np.int64)
            self.weights_set = True
        exp = self.proc_params.get("weight_exp", 0)
        self.a_out.send(self.a_buff)
        s_in = self.s_in.recv()
        if self.num_message_bits.item() == 0:
            s_in = s_in.astype(bool)
        acc = self.weights.dot(np.asarray(s_in, dtype=np.int64))
        self.a_buff = (np.left_shift(acc, exp) if exp > 0 else np.right_shift(acc, -exp)).astype(np.int32)

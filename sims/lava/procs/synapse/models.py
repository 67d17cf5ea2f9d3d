"""Exact ProcessModels at BLAS speed or event-driven for lava-nc's ``Dense``, ``Sparse`` and ``DelaySparse``.

lava-nc's bit-accurate models sum binary spikes by selecting the weight columns of the active inputs
(a copy of those columns every step: the lowered attention's threshold units fan in from 16 k to 1.6 M
columns) and graded payloads with an int32 product; ``DelaySparse`` also rebuilds its delay-sorted
weight matrix and rolls its whole buffer every step. These models keep lava-nc's step - the 8-bit
weight encoding on the first step (lava-nc's own ``clip_weights`` / ``truncate_weights``), the
buffered output (one step of synaptic delay), the floor shift by ``weight_exp`` - with the sums of
``ds2ta.hardware.blas``: ``IntLinear`` (dense: the rows of the active inputs, or one GEMV in float32 /
float64 where the bound ``row_abs_sum max|x|`` proves it exact) and ``IntSparse`` (only the stored
synapses of nonzero inputs are visited; one ``bincount``). Kernels are built once, on the first step,
and hold the only copy of the encoded matrix (int32 row indices); the Process's ``weights`` Var keeps
the matrix it was given.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.dense.models import PyDenseModelBitAcc
from lava.proc.dense.process import Dense
from lava.proc.sparse.models import PyDelaySparseModelBitAcc, PySparseModelBitAcc
from lava.proc.sparse.process import DelaySparse, Sparse
from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
from scipy.sparse import csr_matrix

from ds2ta.hardware import chip
from ds2ta.hardware.blas import IntLinear, IntSparse
from ds2ta.sims.lava.procs.ports import recv

MAX_DELAY = 63  # Loihi 2: 6-bit synaptic delays (lava-nc's DelaySparse check)
PREBUILT = "ds2ta_kernels"  # proc_params key of kernels built before the fork (prebuild_kernels)


def encode_weights(weights, proc_params: dict):
    """lava-nc's first-step weight encoding: ``clip_weights`` to 8 bits, then ``truncate_weights`` to
    ``num_weight_bits`` (mixed sign drops one more LSB), sign mode given or determined; int32."""
    mode = proc_params.get("sign_mode") or determine_sign_mode(weights)
    return truncate_weights(clip_weights(weights, mode, num_bits=8), mode, proc_params.get("num_weight_bits", 8))


def _graded(s_in: np.ndarray) -> np.ndarray:
    """A graded payload for the ``blas`` kernels: int64 only when it holds its type's minimum, whose
    negation (the kernels' ``max|x|``) would wrap; otherwise as received (no pass of conversion)."""
    if s_in.dtype.itemsize < 8 and s_in.size and s_in.min() == np.iinfo(s_in.dtype).min:
        return s_in.astype(np.int64)
    return s_in


def _shifted(acc: np.ndarray, exp: int) -> np.ndarray:
    """``acc << exp`` (floor ``acc >> -exp`` for a negative ``exp``) as lava-nc's synapses; no pass for 0."""
    return chip.apply_weight_exp(acc, exp) if exp else acc


@implements(proc=Dense, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_blas")
class PyDenseModelBLAS(PyDenseModelBitAcc):
    """``PyDenseModelBitAcc`` with its sums from ``blas.IntLinear``.

    ``a_buff(t) = (W x(t-1)) << weight_exp`` (floor ``>>`` for a negative exponent), ``W`` the 8-bit
    encoded weights (int32 Var), sent one step later. Binary input (``num_message_bits = 0``):
    ``x = s_in != 0`` and ``W x`` is the sum of the weight columns of the active inputs, exact in int64
    as lava-nc's ``weights[:, s].sum(axis=1)`` (numpy sums int32 in int64). Graded input: lava-nc's
    ``weights.dot(s_in)`` is an int32 product, so the exact sum is wrapped to the product's type
    (modulo 2^32) before the shift, giving lava-nc's integers even where its sum overflows.
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._kernel = None

    def _set_var(self):
        super()._set_var()
        self._kernel = None  # weights set between runs are used as set (lava-nc encodes only once)

    def run_spk(self):
        self.weight_exp = self.proc_params.get("weight_exp", 0)
        if not self.weights_set:
            self.weights = encode_weights(self.weights, self.proc_params)
            self.weights_set = True
        if self._kernel is None:
            self._kernel = IntLinear(self.weights)
        self.a_out.send(self.a_buff)
        s_in = recv(self.s_in)
        if self.num_message_bits.item() > 0:
            acc = self._kernel(_graded(s_in))
            product = np.result_type(self.weights.dtype, s_in.dtype)
            if product.itemsize < 8:
                acc = acc.astype(product)  # lava-nc's int32 dot: the exact sum modulo 2^32
        else:
            acc = self._kernel(s_in.astype(bool), binary=True)
        self.a_buff = _shifted(acc, self.weight_exp)


@implements(proc=Sparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_event")
class PySparseModelEvent(PySparseModelBitAcc):
    """``PySparseModelBitAcc``, event-driven, with sums exact beyond int32 (``blas.IntSparse``).

    ``a_buff(t) = int32((W x(t-1)) << weight_exp)`` (floor ``>>`` for a negative exponent), ``W`` the
    8-bit encoded weights, ``x = s_in != 0`` for binary input (``num_message_bits = 0``), else the
    graded payload; ``W x`` is the exact integer sum (int64), from the stored synapses of the nonzero
    inputs only. Equal to lava-nc's model: its binary sum is int64 too (a column sum), its graded
    ``weights.dot(s_in)`` is int32 and wraps; the two agree wherever that sum stays within int32 and,
    for ``weight_exp >= 0``, everywhere (the shift commutes with the wrap modulo 2^32). Beyond int32
    with a negative exponent this model keeps the exact sum, as the reference does (the graded payloads
    of a conv with a weight exponent, ``sims/lava/sparse_conv.py``, reach 2^34 before their shift);
    the result is sent as int32 (the graph keeps synaptic input within 24 bits).
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._kernel, self._source = None, None  # IntSparse and the weights Var it was built from
        self._zero = None  # the output of a step without input

    def _set_var(self):
        if self._zero is not None and self.a_buff is self._zero:  # a Var write lands in a_buff in place
            self.a_buff = self._zero.copy()
        super()._set_var()

    def _sums(self) -> IntSparse:
        if self._kernel is None or self.weights is not self._source:  # first step, or weights set
            prebuilt = self.proc_params.get(PREBUILT) if self._kernel is None and not self.weights_set else None
            w = self.weights
            if not self.weights_set:
                w = None if prebuilt is not None else encode_weights(w, self.proc_params)
                self.weights_set = True
            self._kernel, self._source = prebuilt or IntSparse(w), self.weights
        return self._kernel

    def run_spk(self):
        self.weight_exp = self.proc_params.get("weight_exp", 0)
        kernel = self._sums()
        self.a_out.send(self.a_buff)
        s_in = recv(self.s_in)
        if not s_in.any():  # no input, no current: one pass, no new array (most steps of a sequential run)
            if self._zero is None:
                self._zero = np.zeros(kernel.n_out, np.int32)
            self.a_buff = self._zero
            return
        binary = self.num_message_bits.item() == 0
        # without an exponent the int32 result is the exact sum modulo 2^32 (a_buff's type): no int64 pass
        acc = kernel(s_in != 0 if binary else _graded(s_in), binary=binary,
                     out_dtype=np.int64 if self.weight_exp else np.int32)
        self.a_buff = _shifted(acc, self.weight_exp).astype(np.int32, copy=False)


def entry_delays(w: csr_matrix, delays) -> np.ndarray:
    """The delay of every stored entry of ``w`` (COO order of ``w.tocoo()``): ``delays[r, c]``, 0 where
    ``delays`` stores nothing (one sorted search over the linear indices, not a dense lookup)."""
    n_in = w.shape[1]
    d = csr_matrix(delays, copy=True)
    d.sum_duplicates()  # canonical: sorted row-major, so the linear keys are sorted
    dc, wc = d.tocoo(), w.tocoo()
    keys = dc.row.astype(np.int64) * n_in + dc.col
    want = wc.row.astype(np.int64) * n_in + wc.col
    pos = np.minimum(np.searchsorted(keys, want), max(keys.size - 1, 0))
    hit = keys[pos] == want if keys.size else np.zeros(want.shape, bool)
    return np.where(hit, dc.data[pos] if keys.size else 0, 0).astype(np.int64)


def check_delays(delays) -> None:
    """lava-nc's limit: Loihi 2 stores 6-bit synaptic delays."""
    if np.max(delays) > MAX_DELAY:
        raise ValueError(f"DelaySparse Process 'delays' expects values between 0 and {MAX_DELAY} "
                         f"for Loihi, got {delays}.")


def delay_kernels(w, delays, D: int) -> list:
    """``[(k, IntSparse of the delay-k synapses)]`` of encoded weights ``w`` for a buffer of ``D + 1``
    slots (delays above ``D`` dropped, all delays 0 when ``D == 0``, as lava-nc's ``get_delay_wgts_mat``)."""
    w = csr_matrix(w)
    if D == 0:
        return [(0, IntSparse(w))]
    wc = w.tocoo()
    d = entry_delays(w, delays)
    kernels = []
    for k in np.unique(d[d <= D]):
        m = d == k
        kernels.append((int(k), IntSparse(csr_matrix((wc.data[m], (wc.row[m], wc.col[m])), shape=w.shape))))
    return kernels


def prebuild_kernels(processes) -> int:
    """Build the event-driven kernels of the ``Sparse`` / ``DelaySparse`` processes in ``processes`` once,
    in the process that builds the network, and hand them to the models through ``proc_params``
    (``PREBUILT``): the forked processes inherit them instead of each encoding and indexing its matrix
    on its first step, all at once (cifar10: 24 attention links of up to 786 k synapses, seconds of the
    first step on 2 cores). The weights are encoded as the model would (``encode_weights``). Returns the
    number of kernels built."""
    n = 0
    for p in processes:
        if type(p) not in (Sparse, DelaySparse) or PREBUILT in p.proc_params._parameters:
            continue
        w = encode_weights(p.weights.init.copy(), p.proc_params)
        if type(p) is Sparse:
            kernel = IntSparse(w)
        else:
            check_delays(p.delays.init)
            kernel = delay_kernels(w, p.delays.init, p.a_buff.shape[-1] - 1)
        p.proc_params.overwrite(PREBUILT, kernel)
        n += 1
    return n


@implements(proc=DelaySparse, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_event")
class PyDelaySparseModelEvent(PyDelaySparseModelBitAcc):
    """``PyDelaySparseModelBitAcc`` with one event-driven ``IntSparse`` per delay and a ring buffer.

    ``a_buff`` holds the next ``D + 1`` steps of input (``D`` = max delay). Per step: send slot 0; then
    every synapse of delay ``k`` adds ``(W_k x) << weight_exp`` (int32, modulo 2^32) to the slot sent
    ``k + 1`` steps later. lava-nc stacks the delay-masked weights into one matrix each step, zeroes
    ``a_buff[:, 0]`` and ``np.roll``-s the whole flattened buffer by -1: with column 0 zeroed first that
    is a shift of every row by one column with a zero entering at the end. Here the rows stay in place
    and a pointer turns (``_ring[(ptr + k) % (D + 1)]`` is lava-nc's column ``k``); a step without input
    adds nothing. Delays above ``D`` are dropped and delays of a ``D = 0`` buffer ignored, as lava-nc's
    ``get_delay_wgts_mat`` does. Sums as ``PySparseModelEvent`` (exact, int32 on the buffer; equal to
    lava-nc's int32 products wherever those do not wrap, and for ``weight_exp >= 0`` everywhere).
    ``a_buff`` is written back in lava-nc's layout before a Var is read or set.
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._kernels = None  # [(delay, IntSparse)], built from the weights and delays Vars below
        self._sources = (None, None)
        self._ring, self._ptr = None, 0  # (D + 1, n_out) int32; None: to be read from a_buff

    def _store_ring(self):
        if self._ring is not None:
            order = (self._ptr + np.arange(self._ring.shape[0])) % self._ring.shape[0]
            self.a_buff[:] = self._ring[order].T

    def _get_var(self):
        self._store_ring()
        super()._get_var()

    def _set_var(self):
        self._store_ring()
        super()._set_var()
        self._ring = None  # a_buff may have been set: read it again

    def _build(self) -> list:
        prebuilt = self.proc_params.get(PREBUILT) if self._kernels is None and not self.weights_set else None
        if prebuilt is not None:
            self.weights_set = True
            return prebuilt
        w = self.weights
        if not self.weights_set:
            w = encode_weights(w, self.proc_params)
            self.weights_set = True
            check_delays(self.delays)
        return delay_kernels(w, self.delays, self.a_buff.shape[-1] - 1)

    def run_spk(self):
        self.weight_exp = self.proc_params.get("weight_exp", 0)
        if self._kernels is None or self._sources[0] is not self.weights or self._sources[1] is not self.delays:
            self._kernels = self._build()  # first step, or weights / delays set
            self._sources = (self.weights, self.delays)
        if self._ring is None:
            self._ring, self._ptr = np.ascontiguousarray(self.a_buff.T, dtype=np.int32), 0
        n_slots = self._ring.shape[0]
        self.a_out.send(self._ring[self._ptr])
        binary = self.num_message_bits.item() == 0
        s_in = recv(self.s_in)
        self._ring[self._ptr] = 0
        self._ptr = (self._ptr + 1) % n_slots
        if s_in.any():
            x = s_in != 0 if binary else _graded(s_in)
            for k, kernel in self._kernels:
                slot = self._ring[(self._ptr + k) % n_slots]
                out = np.int64 if self.weight_exp else np.int32  # int32 sums are the int64 ones modulo 2^32
                slot += _shifted(kernel(x, binary=binary, out_dtype=out), self.weight_exp)  # into int32: modulo 2^32

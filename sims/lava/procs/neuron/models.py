"""Faster exact ProcessModels for the lava-nc neurons the project uses: ``LIFReset``, ``ProdNeuron``,
``GradedVec``, ``GradedReluVec`` (up to 1.6 M units per process at paper scale).

Each model subclasses lava-nc's fixed-point model, so the ports and Vars keep lava-nc's declared types
(int16 ``a_in`` and int32 registers for the LIF, int32 graded ports), and computes the same integers
with fewer array passes: work that cannot change the result is skipped (a multiply by 1, a shift by
0, a decay of a state just reset to 0), parameters are read once and again only after a Var is set.
``tests/sims/lava/test_fast_models.py`` runs lava-nc's model and these on the same inputs, step by step.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.graded.models import PyGradedReluVecModelFixed, PyGradedVecModelFixed
from lava.proc.graded.process import GradedReluVec, GradedVec
from lava.proc.lif.models import PyLifResetModelBitAcc
from lava.proc.lif.process import LIFReset
from lava.proc.prodneuron.models import PyProdNeuronModelFixed
from lava.proc.prodneuron.process import ProdNeuron

from ds2ta.hardware import chip
from ds2ta.sims.lava.procs.ports import recv


def _scalar(x) -> int:
    """A one-element parameter (Python int, numpy scalar or shape-(1,) Var) as an int."""
    return int(np.asarray(x).reshape(-1)[0])


def graded_output(v: np.ndarray, vth: np.ndarray, relu: bool, may_hold_min: bool = True) -> np.ndarray:
    """lava-nc's graded output ``v * (|v| > vth)`` (``v * (v > vth)`` when ``relu``), in ``v``'s dtype.

    With ``vth = 0`` (every graded unit of the project) no mask is built: ``relu`` is ``max(v, 0)``
    (in place), otherwise the output is ``v`` itself except where ``v`` is the type's minimum, whose
    ``abs`` wraps to itself (negative, so lava-nc sends 0 there); ``may_hold_min = False`` skips that
    check (``v`` was shifted right). ``v`` may be overwritten.
    """
    if np.any(vth != 0):
        return v * ((v > vth) if relu else (np.abs(v) > vth))
    if relu:
        return np.maximum(v, 0, out=v)
    low = np.iinfo(v.dtype).min
    if may_hold_min and v.size and v.min() == low:
        v[v == low] = 0
    return v


@implements(proc=LIFReset, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_fast")
class PyLifResetModelFast(PyLifResetModelBitAcc):
    """``PyLifResetModelBitAcc`` as one ``chip.lif_step`` on lava-nc's int32 registers.

    Per step ``t`` (``u``, ``v`` int32 registers of 24-bit values; ``a`` the received input)::

        if t % reset_interval == reset_offset:  u = v = 0                        (reset, then the step)
        u = wrap_current( trunc0(u (4096 - du - 1)) + (a << 6) )                 int32 sums, 24-bit wrap once
        v = clip( trunc0(v (4096 - dv)) + u + (bias_mant << bias_exp), +-(2^23 - 1) )
        s = v > vth << 6;  v[s] = 0;  send s

    Equal to lava-nc's model: ``lif_step`` on int32 state does lava-nc's operations in its types (the
    decay products in int64 then back to int32, ``a << 6`` and the sums modulo 2^32; an int16/int8 input
    is shifted in its own type first, as lava-nc does), and the bias and threshold come from lava-nc's
    own ``scale_bias`` / ``scale_threshold``. Faster: the bias is scaled once (again only after a Var
    is set; the threshold once, as lava-nc), ``du = 4095`` drops the current's decay, a step right after
    a reset skips both decays (``u = v = 0``), ``dv`` a power of two decays by a rounding shift, the
    wrap costs two reductions when nothing is out of range, a zero bias is not added, and a step with
    no input, no bias and ``u = v = 0`` (after a reset, or once the state has decayed to 0) sends no
    spikes without computing (``u``, ``v`` stay 0).
    """

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._params = None  # chip.LIFParams; None: read from the Vars at the next step
        self._rest = False  # u and v known to be 0 (set by a step that left them 0)
        self._no_spikes = None

    def _set_var(self):
        super()._set_var()
        self._params = None  # a Var was set between runs: lava-nc reads bias, du, dv every step
        self._rest = False

    def _read_params(self) -> chip.LIFParams:
        self.scale_bias()  # lava-nc's: int32(bias_mant) << bias_exp (>> -bias_exp)
        if not self.isthrscaled:
            self.scale_threshold()  # lava-nc's, once: vth << 6
        fu = chip.DECAY_UNITY - (_scalar(self.du) + self.ds_offset)
        fv = chip.DECAY_UNITY - (_scalar(self.dv) + self.dm_offset)
        bias = np.asarray(self.effective_bias, dtype=np.int32)
        return chip.LIFParams(fu, fv, bias, self.effective_vth, fu == 0, bool(bias.any()))

    def run_spk(self):
        a = recv(self.a_in)
        if a.dtype.itemsize < 4:  # lava-nc shifts in the received type: its wrap, then int32
            a = np.left_shift(a, self.act_shift).astype(np.int32) >> self.act_shift
        if self._params is None:
            self._params = self._read_params()
        fresh = (self.time_step % self.reset_interval) == self.reset_offset
        quiet = not a.any()
        if quiet and (fresh or self._rest) and not self._params.has_bias:
            # u = v = 0, no input, no bias: the step leaves them 0 and nothing spikes (a sequential run's
            # populations rest most steps: before their window and once their state has decayed to 0)
            if fresh and not self._rest:
                self.u[:] = 0
                self.v[:] = 0
            self._rest = True
            if self._no_spikes is None:
                self._no_spikes = np.zeros(self.u.shape, bool)
            self.s_out.send(self._no_spikes)
            return
        s, u, v = chip.lif_step(a, self.u, self.v, self._params, fresh=fresh)
        self.u[:] = u
        self.v[:] = v
        self._rest = quiet and not (u.any() or v.any())  # decayed to 0: the next quiet step is a rest
        self.s_out.send(s)


@implements(proc=ProdNeuron, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_fast")
class PyProdNeuronModelFast(PyProdNeuronModelFixed):
    """``PyProdNeuronModelFixed``: ``v = (a_in1 a_in2) >> exp``, send ``v * (|v| > vth)``.

    Inputs are 24-bit graded values on int32 ports; the product is taken in their type, int32, so it
    wraps modulo 2^32 exactly as lava-nc's (which multiplies the same arrays the same way), then the
    same arithmetic ``>>= exp``. Faster: the product is written into the first input's buffer,
    ``exp = 0`` skips the shift and ``vth = 0`` the mask (``graded_output``: ``v`` itself, 0 where ``v``
    is the int32 minimum, whose wrapped ``abs`` is not above 0 in lava-nc either).
    """

    def run_spk(self) -> None:
        a1, a2 = recv(self.a_in1), recv(self.a_in2)
        for a in (a1, a2):
            if not a.any():  # a factor zero everywhere: v = 0, and that factor is the zeros to send
                self.s_out.send(a)
                return
        v = np.multiply(a1, a2, out=a1) if a1.dtype == np.result_type(a1, a2) else a1 * a2
        if np.any(self.exp != 0):
            v >>= self.exp
        self.s_out.send(graded_output(v, self.vth, relu=False, may_hold_min=not bool(np.all(self.exp > 0))))


class _GradedFast:
    """lava-nc's graded unit step: ``v += a_in``; send ``v * (|v| > vth)`` (relu: ``v > vth``); ``v = 0``.

    ``v`` is 0 at every step's start (lava-nc zeroes it after sending) unless a Var was set, so ``v``
    is the input itself (cast to int32 as the in-place add casts it); the output is ``graded_output``.
    """

    relu = False

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self._v_zero = False  # v known to be 0: checked on the first step and after a Var is set

    def _set_var(self):
        super()._set_var()
        self._v_zero = False

    def run_spk(self) -> None:
        a = recv(self.a_in)
        if self._v_zero:
            v = a.astype(self.v.dtype, copy=False)
        else:
            v = self.v.copy()
            v += a
            self.v[:] = 0
            self._v_zero = True
        self.s_out.send(graded_output(v, self.vth, relu=self.relu))


@implements(proc=GradedVec, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_fast")
class PyGradedVecModelFast(_GradedFast, PyGradedVecModelFixed):
    """``PyGradedVecModelFixed``: send ``v * (|v| > vth)`` of ``v = a_in`` (int32); see ``_GradedFast``."""


@implements(proc=GradedReluVec, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "ds2ta_fast")
class PyGradedReluVecModelFast(_GradedFast, PyGradedReluVecModelFixed):
    """``PyGradedReluVecModelFixed``: send ``v * (v > vth)`` of ``v = a_in`` (int32; ``max(v, 0)`` for
    ``vth = 0``); see ``_GradedFast``."""

    relu = True

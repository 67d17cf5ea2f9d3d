"""The chip's integer arithmetic, in one place: every executor and the exporter call these functions.

Loihi-2-class fixed point as Lava 0.10 computes it (``PyLifModelBitAcc``, ``PyConvModelFixed``; see
docs/lava-loihi-semantics.md). Per time step of a neuron, with ``trunc0(p) = sign(p) * (|p| >> 12)``::

    u = wrap_current( trunc0(u * (4096 - (du + 1))) + (a << 6) )      current, 24-bit, wraps once
    v = saturate( trunc0(v * (4096 - dv)) + u + bias )                 voltage, 24-bit, saturates
    s = v > (vth << 6);   v[s] = 0                                     strict test, reset to zero

``bias = bias_mant << bias_exp`` (v units). A Conv result wraps modulo 2^24 (``wrap24``).

Functions take numpy arrays or torch tensors (the reference runs on CUDA) and keep int64 exactness;
the torch path uses integer division and in-place updates for speed and is tested equal to the numpy
path. This module imports only numpy: a torch tensor is recognised by its type, never imported here.
Also here: the neuron node types, the count keys and counting rules, and the latency definition that
both backends report. (The time-major input encoding, shared with the float model, is
``ds2ta.encoding``: the core layer imports no other layer.)
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Iterable, NamedTuple, Optional

import numpy as np


DECAY_SHIFT = 12                       # du, dv are fractions of 2^12
DECAY_UNITY = 1 << DECAY_SHIFT         # 4096: a decay factor of 1
DU_OFFSET = 1                          # Lava's ds_offset: u decays by (du + 1) / 4096
ACT_SHIFT = 6                          # synaptic input and threshold are MSB-aligned by 6 bits
UV_BITS = 24                           # u and v are 24-bit registers
U_LIMIT = 1 << (UV_BITS - 1)           # 2^23, Lava's max_uv_val
V_LIMIT = U_LIMIT - 1                  # v saturates to [-(2^23 - 1), 2^23 - 1]
NO_CURRENT_MEMORY = DECAY_UNITY - DU_OFFSET  # du = 4095: u = a << 6 each step (plain LIF)
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << 12), (1 << 12) - 1   # 13-bit signed bias_mant
BIAS_EXP_MAX = 7                       # 3-bit bias_exp
SYNAPSE_DELAY = 1                      # steps a Dense/Conv adds: it sends last step's sums first
CORE_BUFFER = 1                        # steps an attention core holds a step (a block core: chunk)


# -- array namespace ------------------------------------------------------------------------------
def _is_torch(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _xp(x):
    """numpy, or torch when ``x`` is a tensor (torch is then already imported)."""
    return sys.modules["torch"] if _is_torch(x) else np


def as_int64(x):
    """``x`` as int64 (no copy when it already is)."""
    return x.long() if _is_torch(x) else np.asarray(x, dtype=np.int64)


# -- rounding, wrap, saturation -------------------------------------------------------------------
def _shift0(x: np.ndarray, s: int):
    """``x / 2^s`` rounded toward zero (numpy integers): ``(x + (2^s - 1 if x < 0 else 0)) >> s``."""
    q = x >> (8 * x.itemsize - 1)  # -1 where x < 0 (arithmetic shift), else 0
    if s == 1:
        q = x - q
    else:
        q &= (1 << s) - 1
        q += x
    q >>= s
    return q


def trunc0(p):
    """``sign(p) * (|p| >> 12)``: a decay product rounded toward zero (integer division by 4096).

    numpy: ``_shift0`` (one new array; Lava's sign-magnitude form makes four); torch: one integer
    division with ``rounding_mode="trunc"`` (the same integers, tested).
    """
    if _is_torch(p):
        return _xp(p).div(p, DECAY_UNITY, rounding_mode="trunc")
    return _shift0(np.asarray(p), DECAY_SHIFT)


def decay(x, factor):
    """``trunc0(x * factor)``, a new array of ``x``'s dtype: a state decayed by ``factor / 4096``.

    The product is taken as Lava takes it, in int64 (an int32 register is not multiplied in int32,
    the result is cast back). numpy with one factor ``f`` for all neurons skips the product:
    ``f = 0`` -> 0, ``f = 4096`` -> ``x``, ``f = 2^(12 - s)`` -> ``_shift0(x, s)``; other factors of
    a state of at most 32 bits use float64 ``trunc(x * (f / 4096))``, exact as ``|x f| < 2^43``.
    """
    if _is_torch(x):
        return trunc0(x * factor)
    x, f = np.asarray(x), np.asarray(factor)
    if f.size == 1 and f.ndim <= x.ndim:  # one factor: the result has x's shape
        fi = int(f.reshape(-1)[0])
        if fi in (0, DECAY_UNITY):
            return np.zeros_like(x) if fi == 0 else x.copy()
        if 0 < fi < DECAY_UNITY and fi & (fi - 1) == 0:
            return _shift0(x, DECAY_SHIFT + 1 - fi.bit_length())
    if x.itemsize <= 4 and np.abs(f).max(initial=0) <= DECAY_UNITY:
        y = x * (f / DECAY_UNITY)
        return np.trunc(y, out=y).astype(x.dtype)
    y = trunc0(x.astype(np.int64, copy=False) * f)
    return y if x.dtype == np.int64 else y.astype(x.dtype)


def wrap_current(u):
    """Lava's single 24-bit wrap of the current: ``u > 2^23 -> u - 2^24``; ``u <= -2^23 -> u + 2^24``.

    Not modular: ``2^23`` stays, ``-2^23`` becomes ``2^23``, a value beyond ``3 * 2^23`` is not brought
    into range. Returns ``u`` itself when nothing is out of range (checked by two reductions). In
    ``u``'s dtype: an int32 ``u`` (Lava's register) cannot overflow here.
    """
    if _is_torch(u):
        lo, hi = _xp(u).aminmax(u) if u.numel() else (0, 0)
        inside = bool(hi <= U_LIMIT) and bool(lo > -U_LIMIT)
    else:
        inside = u.size == 0 or (u.max() <= U_LIMIT and u.min() > -U_LIMIT)
    if inside:
        return u
    xp = _xp(u)
    w = xp.where(u > U_LIMIT, u - 2 * U_LIMIT, u)
    return xp.where(w <= -U_LIMIT, u + 2 * U_LIMIT, w)


def wrap24(x, inplace: bool = False):
    """Two's complement wrap to 24 bits (a Conv accumulator, lava ``signed_clamp``):
    ``((x + 2^23) mod 2^24) - 2^23``, in ``[-2^23, 2^23)``; ``inplace`` overwrites ``x``."""
    if not inplace:
        return (x + U_LIMIT) % (2 * U_LIMIT) - U_LIMIT
    if _is_torch(x):
        return x.add_(U_LIMIT).remainder_(2 * U_LIMIT).sub_(U_LIMIT)
    np.add(x, U_LIMIT, out=x)
    np.remainder(x, 2 * U_LIMIT, out=x)
    return np.subtract(x, U_LIMIT, out=x)


def saturate(v, inplace: bool = False):
    """``v`` clipped to ``[-(2^23 - 1), 2^23 - 1]`` (the voltage register saturates)."""
    if _is_torch(v):
        return v.clamp_(-V_LIMIT, V_LIMIT) if inplace else v.clamp(-V_LIMIT, V_LIMIT)
    return np.clip(v, -V_LIMIT, V_LIMIT, out=v if inplace else None)


# -- bias ----------------------------------------------------------------------------------------
def bias_decode(mant, exp):
    """``mant << exp`` (``mant >> -exp`` for a negative exponent), as Lava's ``scale_bias``; v units."""
    xp, mant, exp = _xp(mant), as_int64(mant), as_int64(exp)
    pos = xp.where(exp > 0, exp, 0)
    return xp.where(exp >= 0, mant << pos, mant >> (pos - exp))


def bias_encode(bias_v, exact: bool, name: str = "bias"):
    """Bias in v units -> ``(bias_mant, bias_exp)`` int64 arrays: 13-bit signed mantissa, exponent 0..7.

    ``bias_exp`` is the smallest ``e <= 7`` with ``|b| <= 4095 * 2^e``; ``bias_mant = round(b / 2^e)``
    (half to even), clipped to ``[-4096, 4095]``. A bias must not be passed pre-shifted: Lava stores
    ``bias_mant`` in an int16 register.

    Args:
        bias_v: per-neuron bias (v units), integers or floats.
        exact: raise unless ``bias_mant << bias_exp == bias_v`` for every neuron (a simulator that
            must reproduce the graph); False rounds (the quantizer, which reports the error).
        name: what the bias belongs to, for the error message.

    Raises:
        ValueError: ``exact`` and some bias is not ``mant << exp`` with a 13-bit mantissa.
    """
    b = np.asarray(bias_v)
    mag = np.abs(b)
    exp = np.zeros(b.shape, dtype=np.int64)
    for _ in range(BIAS_EXP_MAX):
        exp = np.where(mag > BIAS_MANT_MAX * 2.0 ** exp, exp + 1, exp)
    mant = np.clip(np.round(b / 2.0 ** exp), BIAS_MANT_MIN, BIAS_MANT_MAX).astype(np.int64)
    if exact:
        bad = np.flatnonzero(bias_decode(mant, exp) != b)
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"{name}: bias {b.reshape(-1)[i]} (v units) of neuron {i} is not mant << exp "
                             "with a 13-bit mantissa and exp <= 7; Lava's LIF cannot hold it")
    return mant, exp


# -- the LIF step ---------------------------------------------------------------------------------
class LIFParams(NamedTuple):
    """Per-neuron integers of a population, ready for ``lif_step`` (arrays broadcastable to the state).

    Attributes:
        decay_u: ``4096 - (du + 1)``, the current's decay factor.
        decay_v: ``4096 - dv``, the voltage's decay factor.
        bias: ``bias_mant << bias_exp`` (v units).
        vth_v: ``vth << 6`` (v units); None for a graded (non-spiking) neuron.
        no_current_memory: ``du == 4095`` everywhere: ``u = a << 6``.
        has_bias: some bias is nonzero.
    """

    decay_u: Any
    decay_v: Any
    bias: Any
    vth_v: Optional[Any]
    no_current_memory: bool
    has_bias: bool


def lif_params(du, dv, bias, vth) -> LIFParams:
    """``LIFParams`` from Lava's ``du``, ``dv`` (0..4095, dv up to 4096), bias (v units), ``vth`` or None.

    All arrays of one namespace (numpy or torch on the state's device).
    """
    du, dv, bias = as_int64(du), as_int64(dv), as_int64(bias)
    return LIFParams(DECAY_UNITY - (du + DU_OFFSET), DECAY_UNITY - dv, bias,
                     None if vth is None else as_int64(vth) << ACT_SHIFT,
                     bool((du == NO_CURRENT_MEMORY).all()), bool((bias != 0).any()))


def threshold_params(theta) -> dict:
    """NIR ``Threshold`` (``z = x > theta``, no state) as a chip LIF: ``du = 4095`` and ``dv = 4096``
    forget everything each step, ``vth = floor(theta)``; for integer input ``x << 6 > floor(theta) << 6``
    is exactly ``x > theta``. Returns Lava's parameters (``du, dv, vth, bias_mant, bias_exp``)."""
    vth = np.floor(np.asarray(theta, dtype=np.float64)).astype(np.int64)
    return dict(du=NO_CURRENT_MEMORY, dv=DECAY_UNITY, vth=vth, bias_mant=0, bias_exp=0)


def lif_step(a, u, v, p: LIFParams, fresh: bool = False):
    """One Loihi step (``PyLifModelBitAcc``) for synaptic input ``a`` (int, any shape of the state).

    ``u = wrap_current(trunc0(u (4096 - du - 1)) + (a << 6))``,
    ``v = saturate(trunc0(v (4096 - dv)) + u + bias)``, ``s = v > vth << 6``, ``v[s] = 0``.
    In int64 (the reference), or in int32 when ``u`` is int32 (Lava's registers: ``a << 6`` and the sums
    then wrap modulo 2^32 as in lava-nc's model). Work that cannot change the result is skipped (``u``'s
    decay when ``du = 4095``, both decays when ``fresh``, a zero bias, the wrap when nothing is out of
    range). ``u`` and ``v`` are not modified; ``fresh``: they were just reset to 0 (they give the dtype).

    Returns:
        ``(s, u, v)``: spikes (bool; None for a graded neuron, whose output is ``v``) and the new state.
    """
    torch = _is_torch(u)
    if torch:
        a, u, v = as_int64(a) << ACT_SHIFT, as_int64(u), as_int64(v)
    else:
        dt = np.int32 if np.asarray(u).dtype == np.int32 else np.int64
        a = np.left_shift(np.asarray(a).astype(dt, copy=False), ACT_SHIFT)  # a new array
        u, v = np.asarray(u).astype(dt, copy=False), np.asarray(v).astype(dt, copy=False)
    if not (fresh or p.no_current_memory):
        a += decay(u, p.decay_u)
    u = wrap_current(a)
    if fresh:
        v = u.clone() if torch else u.copy()
    else:
        v = decay(v, p.decay_v)  # a new array: updated in place below
        v += u
    if p.has_bias:
        v += p.bias
    saturate(v, inplace=True)
    if p.vth_v is None:
        return None, u, v
    s = v > p.vth_v
    if torch:
        v.masked_fill_(s, 0)
    else:
        np.multiply(v, ~s, out=v)  # v[s] = 0 without a boolean scatter (10x slower at many spikes)
    return s, u, v


# -- integer convolution (hardware/intconv.py) ------------------------------------------------------
from ds2ta.hardware.intconv import EXACT_FLOAT, conv2d, conv2d_torch  # noqa: E402,F401  (the chip's conv)


# -- neuron node types (the one table: ``ds2ta.hardware.kinds.KINDS``, by role) -------------------
from ds2ta.hardware import kinds as _kinds  # noqa: E402  (numpy only; imports nothing of chip)

SPIKING_NEURONS = _kinds.names(_kinds.NEURON)           # a Lava LIF with a threshold: binary spikes
GRADED_NEURONS = _kinds.names(_kinds.GRADED_NEURON)     # a Lava LIF without threshold: emits v (read-out, relay)
NEURONS = SPIKING_NEURONS + GRADED_NEURONS              # NIR nodes carrying metadata["lava"] (du, dv, vth, bias)
THRESHOLD = _kinds.names(_kinds.THRESHOLD_ROLE)[0]      # stateless z = x > theta (max-pool of spikes), see
#                                                         threshold_params
GRADED_UNITS = _kinds.names(_kinds.GRADED_UNIT)         # memoryless graded unit (export/nir_graded.py): out = in,
#                                                         or max(in, 0); lava GradedVec / GradedReluVec (vth = 0)
SIGMA_DELTAS = _kinds.names(_kinds.SIGMA_DELTA)         # sigma-delta population (hardware/sigma_delta.py)
GRADED_MESSAGES = _kinds.names(*_kinds.GRADED_MESSAGE_ROLES)  # populations whose nonzero outputs are messages
SPIKE_SOURCES = _kinds.names(*_kinds.SPIKING_ROLES)     # nodes whose output is binary spikes
POPULATIONS = _kinds.names(*_kinds.POPULATION_ROLES)    # nodes that become a neuron population on the chip


def graded_unit(x, relu: bool):
    """A ``DS2TAGraded`` unit's output for its summed input ``x`` (one step or many: it has no state):
    ``max(x, 0)`` when ``relu`` (``GradedReluVec(vth=0)`` sends ``v`` where ``v > 0``), else ``x``
    (``GradedVec(vth=0)`` sends ``v`` where ``|v| > 0``). int64, numpy or torch."""
    x = as_int64(x)
    if not relu:
        return x
    return x.clamp(min=0) if _is_torch(x) else np.maximum(x, 0)


def message_count(out) -> int:
    """Graded messages a population sends: its nonzero outputs over steps, samples and units (a graded
    unit sends nothing where its value is 0)."""
    return int(_xp(out).count_nonzero(out))


# -- weight exponents ------------------------------------------------------------------------------
def weight_exp(node) -> int:
    """A weight node's exponent (``metadata["weight_exp"]``, 0 when absent): the synapse computes
    ``W_int x`` then shifts by it (Lava's ``Dense``; its ``Conv`` has none)."""
    meta = getattr(node, "metadata", None)
    return int(np.asarray(meta.get("weight_exp", 0))) if isinstance(meta, dict) else 0


def apply_weight_exp(y, exp: int):
    """``y << exp`` for ``exp >= 0``, else the arithmetic (floor) shift ``y >> -exp``, as Lava's
    ``Dense`` does to its accumulated ``W x`` (numpy or torch integers)."""
    return y << exp if exp >= 0 else y >> -exp


# -- counting rules -------------------------------------------------------------------------------
# active_neuron_updates: neuron-steps with a nonzero synaptic input (the energy model's "active neuron
# extra"; a population computed from the attention lowering's plan counts every update as active)
COUNT_KEYS = ("spikes", "synops", "graded_synops", "neuron_updates", "active_neuron_updates", "attention_ops",
              "neurons")
ACTIVITY_KEYS = COUNT_KEYS[:-1]  # the counts that grow with samples (energy's per-inference activity)


# metadata flag of a synapse node that stands for the host writing the input into a neuron layer's
# bias (lava-dl netx's input layer, export/netx_import.py): no synapse on the chip, no active update
HOST_BIAS_DRIVE = "host_bias_drive"


def host_drive(node) -> bool:
    """Whether ``node`` is a host bias drive (see ``HOST_BIAS_DRIVE``)."""
    return bool((getattr(node, "metadata", None) or {}).get(HOST_BIAS_DRIVE))


def empty_counts() -> dict:
    """Every count of one node at zero."""
    return dict.fromkeys(COUNT_KEYS, 0)


def neuron_counts(neurons: int, steps: int, samples: int) -> dict:
    """A population's size and updates: ``neuron_updates = neurons x T x B`` (each neuron, each step)."""
    return {"neurons": int(neurons), "neuron_updates": int(neurons) * int(steps) * int(samples)}


def synapse_counts(inp, from_spikes: bool, fanout: Callable[[Any], Any]) -> dict:
    """Synaptic operations of one synapse node for its summed input ``inp`` (all steps and samples).

    ``fanout(c)`` must return ``sum_i c_i * fanout_i``: input ``i``'s weight times the number of
    synapses it reaches. From spike sources every delivered spike drives its fan-out:
    ``synops = sum_i |x_i| fanout_i`` (``x_i`` counts spikes summed over edges); a graded payload costs
    one operation per nonzero value and synapse: ``graded_synops = sum_i [x_i != 0] fanout_i``.
    """
    if from_spikes:
        return {"synops": int(fanout(abs(as_int64(inp))))}
    return {"graded_synops": int(fanout(as_int64(inp != 0)))}


def spike_count(out) -> int:
    """Spikes emitted: the sum of a binary output over steps, samples and neurons."""
    return int(as_int64(out).sum())


# -- latency --------------------------------------------------------------------------------------
def hop_latency(kind: str, buffering: Optional[int] = None) -> int:
    """Steps a node adds to a path on the chip: ``SYNAPSE_DELAY`` for a synapse layer, the core's
    buffering for an attention core (``CORE_BUFFER``, STAtten's block core: ``chunk``), else 0."""
    if kind == "synapse":
        return SYNAPSE_DELAY
    if kind == "attention":
        return CORE_BUFFER if buffering is None else int(buffering)
    return 0


def longest_path(order: Iterable[str], arrivals: Callable[[str], Iterable[tuple]],
                 node_steps: Callable[[str], int] = lambda n: 0) -> dict:
    """``depth(n) = node_steps(n) + max over (p, k) in arrivals(n) of depth(p) + k`` (0 without inputs),
    in topological ``order``; edges that close a cycle must be left out of ``arrivals``.

    Latency (both backends): ``max depth`` with synapse layers and core buffering as steps
    (``hop_latency``), i.e. the synapse layers plus attention-core buffering on the longest path.
    """
    depth: dict = {}
    for n in order:
        depth[n] = node_steps(n) + max((depth[p] + k for p, k in arrivals(n)), default=0)
    return depth


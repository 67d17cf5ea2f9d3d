"""Every NIR node type the project knows, in one table (``KINDS``), each with its role on the chip.

A kind's *role* tells every consumer what to do with it (docs/architecture.md, "Node kinds"): the integer
reference (``sims/reference/kernels.py``), the float executor (``sims/reference/float_nir.py``), Lava
(``sims/lava/graph.py``, ``builders.py``, ``counters.py``), the mapper (``hardware/nir_adapter.py``), the
quantizer (``export/graph_quant.py``) and the one latency rule (``hardware/graph.py``) dispatch on the role,
not on type names. A memoryless linear kind (roles ``synapse`` and ``pool``) also carries its arithmetic
here, in one ``LinearOp``: output shape, exact integer map, float map, unit-weight copy (synaptic fan-out)
and the mapper's geometry; every consumer reads that one definition (a consumer may add a faster path for
a kind, tested equal to it). Adding a node type: docs/architecture.md, "Adding a node type".

Roles:

=============== ======================================================================================
input, output   the graph's boundary (a subgraph's own Input/Output are identities)
synapse         weighted linear map (``LinearOp``; the quantizer scales ``op.weight_attr``)
pool            unit-weight linear map (the quantizer leaves it, its neuron takes ``S = 1``)
routing         memoryless re-wiring: ``Flatten`` (shape only), ``Delay`` (steps)
neuron          spiking Loihi LIF (``metadata["lava"]``: du, dv, vth, bias)
graded_neuron   Loihi LIF without threshold: emits ``v`` (read-out, relay)
threshold       stateless spiking unit ``z = x > theta`` (a LIF with no memory)
graded_unit     memoryless graded unit (``DS2TAGraded``: ``x`` or ``max(x, 0)``)
sigma_delta     sigma-delta population (``DS2TASigmaDelta``): graded messages, state (``hardware/sigma_delta.py``)
attention       an attention extension node (operands q, k, v; ``attention_lowering.plan``)
float_only      exists only in float graphs: the quantizer rewrites it, integer consumers refuse it
=============== ======================================================================================

numpy only (torch is never imported here).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

INPUT, OUTPUT = "input", "output"
SYNAPSE, POOL, ROUTING = "synapse", "pool", "routing"
NEURON, GRADED_NEURON, THRESHOLD_ROLE, GRADED_UNIT = "neuron", "graded_neuron", "threshold", "graded_unit"
ATTENTION, FLOAT_ONLY, SIGMA_DELTA = "attention", "float_only", "sigma_delta"
ROLES = (INPUT, OUTPUT, SYNAPSE, POOL, ROUTING, NEURON, GRADED_NEURON, THRESHOLD_ROLE, GRADED_UNIT, SIGMA_DELTA,
         ATTENTION, FLOAT_ONLY)
LINEAR_ROLES = (SYNAPSE, POOL)                                   # carry a LinearOp
POPULATION_ROLES = (NEURON, GRADED_NEURON, THRESHOLD_ROLE, GRADED_UNIT, SIGMA_DELTA)  # a population on the chip
GRADED_MESSAGE_ROLES = (GRADED_UNIT, SIGMA_DELTA)                # send a graded message per nonzero output
SPIKING_ROLES = (NEURON, THRESHOLD_ROLE)                         # emit binary spikes


def pair(v) -> Tuple[int, int]:
    """``(a, b)`` of a scalar or a 1/2-element array (NIR stores both)."""
    a = np.atleast_1d(np.asarray(v)).astype(int).reshape(-1)
    return (int(a[0]), int(a[-1]))


def integer_values(a, what: str) -> np.ndarray:
    """``a`` as int64, refusing non-integer floats (naming ``what``)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{what} holds non-integer values: integer executors run the quantized graph; "
                             "export it with `ds2ta-export` (or quantize weights to integers)")
    return a.astype(np.int64)


def _bits(w: np.ndarray) -> int:
    """Weight bits the mapper stores: sign + magnitude of integer weights, 8 for float ones."""
    m = int(np.abs(w).max()) if w.size else 0
    integer = np.issubdtype(w.dtype, np.integer) or np.all(w == np.round(w))
    return max(1, m.bit_length() + 1) if integer else 8


def _first_input_shape(node) -> tuple:
    return tuple(int(s) for s in np.asarray(next(iter(node.input_type.values()))).reshape(-1))


def conv_float(x: np.ndarray, w: np.ndarray, stride, padding, dilation, groups: int) -> np.ndarray:
    """Float cross-correlation in PyTorch layout (``(B, C, H, W)``, ``(O, C/g, kh, kw)``), zero padding."""
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    B, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]                      # (B, C, Ho, Wo, kh, kw)
    og = O // groups
    out = [np.einsum("bchwpq,ocpq->bohw", win[:, g * Cg:(g + 1) * Cg], w[g * og:(g + 1) * og])
           for g in range(groups)]
    return np.concatenate(out, axis=1)


class LinearOp:
    """The arithmetic of one memoryless linear kind, on flat C-order vectors ``(B, n)``.

    Attributes:
        weight_attr: the node attribute holding its weights, scaled per output (first axis) by the
            quantizer; None for unit weights (a pool).
        geometry_kind: the mapper's layer kind (``"dense"``, ``"conv"``, ``"pool"``).
    """

    weight_attr: Optional[str] = "weight"
    has_bias = True

    def out_shape(self, name: str, node, shape: tuple) -> tuple:
        """Output shape (NIR's, no batch or time axes) for the input ``shape`` wired into it."""
        raise NotImplementedError

    def typed(self, name: str, node, shape: tuple):
        """``(copy, out_shape)``: a shallow copy with input/output types set from the wired shape (some
        writers, e.g. sinabs, leave them None)."""
        out = self.out_shape(name, node, shape)
        node = copy.copy(node)
        node.input_type = {"input": np.array(self.in_shape(name, node, shape))}
        node.output_type = {"output": np.array(out)}
        return node, out

    def in_shape(self, name: str, node, shape: tuple) -> tuple:
        return tuple(shape)

    def apply(self, name: str, node, x: np.ndarray) -> np.ndarray:
        """Exact integer map with bias, ``(B, n_in) -> (B, n_out)`` int64 (no weight exponent)."""
        raise NotImplementedError

    def float_apply(self, node, x: np.ndarray) -> np.ndarray:
        """The float map with bias, ``(B, n_in) -> (B, n_out)`` float64 (the float executor's)."""
        raise NotImplementedError

    def unit(self, node):
        """A copy with every weight 1 and no bias: ``apply`` of it sums each input's synapses (fan-out)."""
        unit = copy.copy(node)
        if self.weight_attr and getattr(node, self.weight_attr, None) is not None:
            setattr(unit, self.weight_attr, np.ones(np.shape(getattr(node, self.weight_attr)), dtype=np.int64))
        if getattr(node, "bias", None) is not None:
            unit.bias = np.zeros(np.shape(node.bias), dtype=np.int64)
        return unit

    def geometry(self, node) -> dict:
        """The mapper's view: ``kind``, ``fan_in`` (synapses per neuron), ``shared`` (one weight set for
        all positions), ``bits``; convs and pools also ``kernel``, ``stride``, ``padding`` as (x, y)."""
        raise NotImplementedError

    @staticmethod
    def bias(name: str, node, n_out: int, integer: bool = True) -> Optional[np.ndarray]:
        b = getattr(node, "bias", None)
        if b is None:
            return None
        b = np.broadcast_to(np.asarray(b), (n_out,))
        return integer_values(b, f"{name}.bias") if integer else b.astype(np.float64)


class AffineOp(LinearOp):
    """``Affine`` (``W x + b``) and ``Linear`` (``W x``): a dense synapse matrix."""

    def __init__(self, has_bias: bool = True):
        self.has_bias = has_bias

    def out_shape(self, name, node, shape):
        n, w = int(np.prod(shape)), np.asarray(node.weight)
        if w.ndim != 2 or w.shape[1] != n:
            raise ValueError(f"{name}: weight {w.shape} does not take the {n} inputs it is wired to "
                             f"(input shape {tuple(shape)})")
        return (int(w.shape[0]),)

    def apply(self, name, node, x):
        w = integer_values(node.weight, f"{name}.weight")
        y = np.asarray(x, dtype=np.int64) @ w.T
        b = self.bias(name, node, w.shape[0]) if self.has_bias else None
        return y if b is None else y + b

    def float_apply(self, node, x):
        w = np.asarray(node.weight, dtype=np.float64)
        y = np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1) @ w.reshape(w.shape[0], -1).T
        b = self.bias("", node, w.shape[0], integer=False) if self.has_bias else None
        return y if b is None else y + b

    def geometry(self, node):
        w = np.asarray(node.weight)
        return {"kind": "dense", "fan_in": int(np.prod(w.shape[1:])), "shared": False, "bits": _bits(w)}


class _ConvBase(LinearOp):
    """Shared by ``Conv2d``, ``Conv1d`` and ``SumPool2d``: input planes, zero padding, output size."""

    def chw(self, name, node, shape) -> Tuple[int, int, int]:
        """``(C, H, W)`` fed to the node: its declared ``input_shape`` or input type when set, else the
        shape wired to it (a flat vector needs a declared one)."""
        n = int(np.prod(shape))
        hw = getattr(node, "input_shape", None)
        if hw is not None:
            H, W = self.plane(hw)
            if n % (H * W):
                raise ValueError(f"{name}: {n} inputs do not split into channels of {H}x{W}")
            return (n // (H * W), H, W)
        if len(shape) == self.dims + 1:
            return self.to_chw(tuple(int(v) for v in shape))
        try:
            declared = _first_input_shape(node)
        except (TypeError, ValueError, StopIteration, AttributeError):
            declared = ()
        if len(declared) != self.dims + 1 or int(np.prod(declared)) != n:
            raise ValueError(f"{name}: cannot tell the ({'C, H, W' if self.dims == 2 else 'C, L'}) shape of its "
                             f"{n} inputs; set the node's input_shape / input_type, or feed it from a node with "
                             "such an output type")
        return self.to_chw(declared)

    dims = 2

    def plane(self, hw) -> Tuple[int, int]:
        return pair(hw)

    def to_chw(self, s: tuple) -> Tuple[int, int, int]:
        return s  # (C, H, W)

    def in_shape(self, name, node, shape):
        C, H, W = self.chw(name, node, shape)
        return (C, H, W) if self.dims == 2 else (C, W)

    def window(self, node) -> Tuple[int, tuple, tuple, tuple, tuple]:
        """``(out channels or None, (kh, kw), stride, padding, dilation)`` as (h, w) pairs."""
        raise NotImplementedError

    def out_shape(self, name, node, shape):
        C, H, W = self.chw(name, node, shape)
        O, (kh, kw), (sh, sw), (ph, pw), (dh, dw) = self.window(node)
        Ho, Wo = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
        return (O or C, Ho, Wo) if self.dims == 2 else (O or C, Wo)

    def typed(self, name, node, shape):
        node, out = super().typed(name, node, shape)
        if getattr(node, "input_shape", None) is not None or self.weight_attr:
            C, H, W = self.chw(name, node, shape)
            node.input_shape = (H, W) if self.dims == 2 else W
        return node, out

    def _kernel(self, name, node, C, integer=True):
        raise NotImplementedError

    def _run(self, name, node, x, integer: bool):
        from ds2ta.hardware.intconv import conv2d  # numpy BLAS, exact (imports nothing of kinds)
        B = x.shape[0]
        C, H, W = self.chw(name, node, (x.shape[1],))
        w, groups = self._kernel(name, node, C, integer)
        _, _, stride, padding, dilation = self.window(node)
        xs = np.asarray(x).reshape(B, C, H, W)
        if integer:
            y = conv2d(xs.astype(np.int64), w, stride, padding, dilation, groups, name=name)
        else:
            y = conv_float(xs.astype(np.float64), w.astype(np.float64), stride, padding, dilation, groups)
        b = self.bias(name, node, y.shape[1], integer) if self.has_bias else None
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1)
        return y.reshape(B, -1)

    def apply(self, name, node, x):
        return self._run(name, node, x, True)

    def float_apply(self, node, x):
        return self._run(type(node).__name__, node, x, False)

    def geometry(self, node):
        w = np.asarray(getattr(node, self.weight_attr)) if self.weight_attr else None
        O, (kh, kw), (sh, sw), (ph, pw), _ = self.window(node)
        if w is None:
            return {"kind": "pool", "fan_in": kh * kw, "shared": True, "kernel": (kw, kh), "stride": (sw, sh),
                    "padding": (pw, ph), "bits": 1}
        return {"kind": "conv", "fan_in": int(np.prod(w.shape[1:])), "shared": True, "kernel": (kw, kh),
                "stride": (sw, sh), "padding": (pw, ph), "bits": _bits(w)}


class Conv2dOp(_ConvBase):
    """``Conv2d``: weight ``(O, C/g, kh, kw)``, input ``(C, H, W)``."""

    def window(self, node):
        w = np.asarray(node.weight)
        if isinstance(node.padding, str):
            raise ValueError(f"Conv2d: string padding {node.padding!r} is not supported; write integers")
        return int(w.shape[0]), pair(w.shape[2:]), pair(node.stride), pair(node.padding), pair(node.dilation)

    def _kernel(self, name, node, C, integer=True):
        w = integer_values(node.weight, f"{name}.weight") if integer else np.asarray(node.weight, np.float64)
        return w, int(node.groups)


class Conv1dOp(_ConvBase):
    """``Conv1d``: weight ``(O, C/g, k)``, input ``(C, L)``; computed as a ``Conv2d`` over ``(C, 1, L)``. The
    mapper sees its ``(C, L)`` populations as ``(W, H, C) = (1, L, C)``, so its window runs along H."""

    dims = 1

    def plane(self, hw) -> Tuple[int, int]:
        return (1, int(np.asarray(hw).reshape(-1)[0]))

    def to_chw(self, s: tuple) -> Tuple[int, int, int]:
        return (s[0], 1, s[1])

    def window(self, node):
        w = np.asarray(node.weight)
        if isinstance(node.padding, str):
            raise ValueError(f"Conv1d: string padding {node.padding!r} is not supported; write integers")
        one = lambda v: int(np.asarray(v).reshape(-1)[0])
        return (int(w.shape[0]), (1, int(w.shape[2])), (1, one(node.stride)), (0, one(node.padding)),
                (1, one(node.dilation)))

    def _kernel(self, name, node, C, integer=True):
        w = integer_values(node.weight, f"{name}.weight") if integer else np.asarray(node.weight, np.float64)
        return w[:, :, None, :], int(node.groups)

    def geometry(self, node):
        g = super().geometry(node)
        swap = lambda p: (p[1], p[0])
        return {**g, "kernel": swap(g["kernel"]), "stride": swap(g["stride"]), "padding": swap(g["padding"])}


class SumPool2dOp(_ConvBase):
    """``SumPool2d``: window sums, a depthwise kernel of ones (unit weights, no bias)."""

    weight_attr = None
    has_bias = False

    def window(self, node):
        return None, pair(node.kernel_size), pair(node.stride), pair(node.padding), (1, 1)

    def _kernel(self, name, node, C, integer=True):
        kh, kw = pair(node.kernel_size)
        return np.ones((C, 1, kh, kw), dtype=np.int64), C


class ScaleOp(LinearOp):
    """``Scale``: ``x * s`` per element, a diagonal synapse matrix (one synapse per neuron)."""

    weight_attr = "scale"
    has_bias = False

    def out_shape(self, name, node, shape):
        s = np.asarray(node.scale)
        if s.size not in (1, int(np.prod(shape))):
            raise ValueError(f"{name}: {s.size} scale values for {int(np.prod(shape))} inputs")
        return tuple(shape)

    def apply(self, name, node, x):
        return np.asarray(x, dtype=np.int64) * integer_values(node.scale, f"{name}.scale").reshape(1, -1)

    def float_apply(self, node, x):
        return np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1) \
            * np.asarray(node.scale, dtype=np.float64).reshape(1, -1)

    def geometry(self, node):
        s = np.asarray(node.scale)
        return {"kind": "dense", "fan_in": 1, "shared": False, "bits": _bits(s)}


# -- neuron kinds: float dynamics and the Lava integers ------------------------------------------
DV_MAX = (1 << 12) - 1          # 12-bit dv register (4096 = chip.DECAY_UNITY only on a graded relay)


def _arr(node, key, default=None):
    v = getattr(node, key, default)
    return None if v is None else np.asarray(v, dtype=np.float64)


class NeuronOp:
    """A neuron kind's float dynamics for a time step ``dt`` and the node rebuilt from its Lava integers.

    Float semantics (every consumer's, docs/quantization.md)::

        u = keep_u u + I;   v = keep_v v + gain u + leak;   spike if v >= theta (spiking kinds), v = 0

    ``constants(node, dt)`` gives ``gain``, ``du``, ``dv``, ``leak``, ``theta`` (None for graded kinds) per
    neuron, ``decays(node, dt)`` the exact float ``(keep_u, keep_v)``, ``rebuild(node, fields)`` the
    integer-unit node of the same type from the fields ``integer_fields`` derives from the Lava integers.
    """

    spiking = True

    def raw(self, node, dt: float) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(gain, du, dv, leak, tau)`` before broadcasting (``tau``: the membrane time constant)."""
        raise NotImplementedError

    def keep_u(self, node, dt: float):
        return 0.0

    def constants(self, node, dt: float) -> dict:
        gain, du, dv, leak, _ = self.raw(node, dt)
        theta = _arr(node, "v_threshold") if self.spiking else None
        shape = np.broadcast_shapes(*(np.shape(a) for a in (gain, du, dv, leak)))
        b = lambda a: np.broadcast_to(a, shape).astype(np.float64)
        return dict(gain=b(gain), du=b(du), dv=b(dv), leak=b(leak), theta=None if theta is None else b(theta))

    def decays(self, node, dt: float, shape) -> Tuple[np.ndarray, np.ndarray]:
        tau = self.raw(node, dt)[4]
        keep_v = 1.0 - np.clip(dt / np.asarray(tau, dtype=np.float64), 0.0, 1.0)
        return (np.broadcast_to(self.keep_u(node, dt), shape).astype(np.float64),
                np.broadcast_to(keep_v, shape).astype(np.float64))

    def rebuild(self, node, f: dict):
        """The node of the same type with integer-unit fields ``f`` (``tau_m``, ``tau_s``, ``leak``, ``vth``,
        ``zeros``, ``ones``) and ``f["metadata"]``."""
        raise NotImplementedError


class CubaOp(NeuronOp):
    """``CubaLIF`` / ``CubaLI``: a current with its own decay (``tau_syn``), input gain ``w_in``."""

    def __init__(self, spiking: bool):
        self.spiking = spiking

    def raw(self, node, dt):
        from .chip import DECAY_UNITY, DU_OFFSET, NO_CURRENT_MEMORY
        tau_m, tau_s = _arr(node, "tau_mem"), _arr(node, "tau_syn")
        gain = _arr(node, "w_in", 1.0) * (dt / tau_s).clip(max=1.0) * _arr(node, "r") * dt / tau_m
        du = np.clip(np.round(DECAY_UNITY * dt / tau_s) - DU_OFFSET, 0, NO_CURRENT_MEMORY)
        dv = np.clip(np.round(DECAY_UNITY * dt / tau_m), 0, DV_MAX)
        return gain, du, dv, dt / tau_m * _arr(node, "v_leak"), tau_m

    def keep_u(self, node, dt):
        return 1.0 - np.clip(dt / _arr(node, "tau_syn"), 0.0, 1.0)

    def rebuild(self, node, f):
        common = dict(tau_syn=f["tau_s"], tau_mem=f["tau_m"], r=f["tau_m"].copy(), v_leak=f["leak"], w_in=f["ones"],
                      metadata=f["metadata"])
        if self.spiking:
            common.update(v_threshold=f["vth"], v_reset=f["zeros"])
        return type(node)(**common)


class LeakyOp(NeuronOp):
    """``LIF`` / ``LI``: no current memory (Lava ``du = 4095``); an ``LI`` with ``tau = dt`` is a graded relay
    (``dv = 4096``: ``v`` = this step's input)."""

    def __init__(self, spiking: bool):
        self.spiking = spiking

    def raw(self, node, dt):
        from .chip import DECAY_UNITY, NO_CURRENT_MEMORY
        tau = _arr(node, "tau")
        gain, du = _arr(node, "r") * dt / tau, np.full(tau.shape, float(NO_CURRENT_MEMORY))
        dv_max = np.where((tau == dt) & (not self.spiking), DECAY_UNITY, DV_MAX)
        dv = np.clip(np.round(DECAY_UNITY * dt / tau), 0, dv_max)
        return gain, du, dv, dt / tau * _arr(node, "v_leak"), tau

    def rebuild(self, node, f):
        common = dict(tau=f["tau_m"], r=f["tau_m"].copy(), v_leak=f["leak"], metadata=f["metadata"])
        if self.spiking:
            common.update(v_threshold=f["vth"], v_reset=f["zeros"])
        return type(node)(**common)


class IntegratorOp(NeuronOp):
    """``IF`` / ``I``: no leak, no current memory (``dv = 0``, ``du = 4095``)."""

    def __init__(self, spiking: bool):
        self.spiking = spiking

    def raw(self, node, dt):
        from .chip import NO_CURRENT_MEMORY
        r = _arr(node, "r")
        return r * dt, np.full(r.shape, float(NO_CURRENT_MEMORY)), np.zeros(r.shape), np.zeros(r.shape), \
            np.full(r.shape, np.inf)

    def rebuild(self, node, f):
        common = dict(r=f["ones"], metadata=f["metadata"])
        if self.spiking:
            common.update(v_threshold=f["vth"], v_reset=f["zeros"])
        return type(node)(**common)


def neuron_op(name: str, node) -> NeuronOp:
    """The ``NeuronOp`` of a neuron node; any other node is refused by name and type."""
    k = kind_of(node)
    if k is None or k.neuron is None:
        raise ValueError(f"node {name!r} ({type(node).__name__}) is not a neuron node")
    return k.neuron


def neuron_constants(node, dt: float) -> dict:
    """Lava constants and the input gain of a float NIR neuron node for time step ``dt`` (its ``NeuronOp``)."""
    return neuron_op(type(node).__name__, node).constants(node, dt)


def compose(ops, n_in: int) -> Tuple[np.ndarray, np.ndarray]:
    """A chain ``[(name, node), ...]`` of linear nodes as one ``(W (n_out, n_in), b (n_out,))`` pair, exact
    in int64 (each node typed for the shape wired into it)."""
    eye = np.eye(n_in, dtype=np.int64)
    zero = np.zeros((1, n_in), dtype=np.int64)
    for name, node in ops:
        op = linear_op(name, node)
        eye, zero = op.apply(name, node, eye), op.apply(name, node, zero)
    b = zero[0]
    return (eye - b).T, b


@dataclass(frozen=True)
class Kind:
    """One NIR node type: ``name`` (its class name), ``role`` (``ROLES``), ``op`` (linear roles only),
    ``refusal`` (float_only: why integer consumers refuse it, completed by ``refuse``), ``neuron`` (neuron roles:
    its float dynamics and Lava integers)."""

    name: str
    role: str
    op: Optional[LinearOp] = None
    refusal: str = ""
    neuron: Optional[NeuronOp] = None

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"kind {self.name}: unknown role {self.role!r} (choose one of {ROLES})")
        if (self.role in LINEAR_ROLES) != (self.op is not None):
            raise ValueError(f"kind {self.name}: a {self.role} kind {'needs' if self.op is None else 'takes no'} "
                             "LinearOp")
        if (self.role in (NEURON, GRADED_NEURON)) != (self.neuron is not None):
            raise ValueError(f"kind {self.name}: a {self.role} kind {'needs' if self.neuron is None else 'takes no'} "
                             "NeuronOp")
        if self.role == FLOAT_ONLY and not self.refusal:
            raise ValueError(f"kind {self.name}: a float_only kind must say why integer consumers refuse it")


AVGPOOL_REFUSAL = ("the chip sums spikes (SumPool2d) and cannot divide them: integerize the float graph "
                   "(ds2ta.export.graph_quant.integerize_graph folds 1/k^2 into the next layer's weights or "
                   "threshold) or write SumPool2d and scale the next layer yourself")

KINDS: Dict[str, Kind] = {k.name: k for k in (
    Kind("Input", INPUT), Kind("Output", OUTPUT),
    Kind("Affine", SYNAPSE, AffineOp()), Kind("Linear", SYNAPSE, AffineOp(has_bias=False)),
    Kind("Conv2d", SYNAPSE, Conv2dOp()), Kind("Conv1d", SYNAPSE, Conv1dOp()), Kind("Scale", SYNAPSE, ScaleOp()),
    Kind("SumPool2d", POOL, SumPool2dOp()),
    Kind("Flatten", ROUTING), Kind("Delay", ROUTING),
    Kind("LIF", NEURON, neuron=LeakyOp(True)), Kind("CubaLIF", NEURON, neuron=CubaOp(True)),
    Kind("IF", NEURON, neuron=IntegratorOp(True)),
    Kind("LI", GRADED_NEURON, neuron=LeakyOp(False)), Kind("CubaLI", GRADED_NEURON, neuron=CubaOp(False)),
    Kind("I", GRADED_NEURON, neuron=IntegratorOp(False)),
    Kind("Threshold", THRESHOLD_ROLE),
    Kind("DS2TAGraded", GRADED_UNIT), Kind("DS2TASigmaDelta", SIGMA_DELTA),
    Kind("DS2TASpikeAttention", ATTENTION), Kind("DS2TABlockAttention", ATTENTION),
    Kind("AvgPool2d", FLOAT_ONLY, refusal=AVGPOOL_REFUSAL),
    Kind("DS2TAGradedMaxPool2d", FLOAT_ONLY, refusal="a graded max-pool exists only in float graphs: "
         "ds2ta-export rewrites it as a comparison network of graded units (export/maxpool_tree.py)"),
)}


def names(*roles: str) -> Tuple[str, ...]:
    """Kind names of the given roles, in table order."""
    return tuple(k for k, v in KINDS.items() if v.role in roles)


def kind_of(node) -> Optional[Kind]:
    """The node's ``Kind`` (by class name), None for a type the table does not hold."""
    return KINDS.get(type(node).__name__)


def role_of(node) -> Optional[str]:
    k = kind_of(node)
    return k.role if k else None


def linear_op(name: str, node) -> LinearOp:
    """The ``LinearOp`` of a linear node; any other node is refused by name and type."""
    k = kind_of(node)
    if k is None or k.op is None:
        raise ValueError(f"node {name!r} ({type(node).__name__}) is not a linear node")
    return k.op


def unknown(name: str, node, who: str) -> ValueError:
    """The one error for a node type the table does not hold (names node, type, consumer, the table)."""
    return ValueError(f"node {name!r} has type {type(node).__name__!r}, which {who} does not support "
                      f"(supported: {sorted(KINDS)}; see docs/architecture.md, 'Adding a node type')")


def refuse(name: str, node) -> ValueError:
    """The one error every integer consumer gives for a float_only node (names node, type and why)."""
    k = kind_of(node)
    return ValueError(f"{type(node).__name__} {name!r}: an integer graph holds it; {k.refusal}")

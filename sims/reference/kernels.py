"""Integer kernels, one per NIR node type, on (T, B, *shape) integer tensors.

Weighted sums run as float convolutions / matmuls: every operand is an integer and the bound
``max_row sum|W| * max|x|`` picks float32 below 2^24 and float64 below 2^53 (``blas.exact_dtype``; larger
sums are refused), so every partial sum is an exactly representable integer and the result is exact in
any summation order, on CPU and on CUDA (which has no integer matmul).

Synaptic operations (``fanout``) are ``sum_i c_i fanout_i`` with ``fanout_i`` the number of synapses input
``i`` reaches: a per-layer fan-out map (``fanout_map``, taken once per input shape) dotted with the counts
summed over steps and samples, instead of a second convolution of the counts with a ones kernel.
"""

from __future__ import annotations

from typing import Callable, Dict

import numpy as np
import torch
import torch.nn.functional as F

from ds2ta.hardware import chip, kinds
from ds2ta.hardware import sigma_delta as sd
from ds2ta.hardware.blas import exact_dtype
from ds2ta.sims.reference.neurons import LavaLIFParams, lif_sequence, lif_step

EXACT_LIMIT = chip.EXACT_FLOAT
WRAP_LIMIT = 1 << (chip.UV_BITS - 1)  # a Conv result in [-2^23, 2^23) is its own 24-bit wrap


def abs_max(x: torch.Tensor) -> int:
    """``max |x|`` (0 when empty) in one pass, without an ``abs`` copy."""
    if not x.numel():
        return 0
    if x.dtype == torch.bool:
        return int(x.any())
    lo, hi = torch.aminmax(x)
    return max(-int(lo), int(hi))


def float_dtype(bound: float, device=None):
    """The torch float type whose sums of integers bounded by ``bound`` are exact (``blas.exact_dtype``),
    or None beyond float64. On CUDA with TF32 matmuls allowed (operands rounded to 10-bit mantissas)
    float32 is not exact: float64 then."""
    dt = exact_dtype(bound)
    if dt is None:
        return None
    tf32 = device is not None and torch.device(device).type == "cuda" and torch.backends.cuda.matmul.allow_tf32
    return torch.float32 if dt == np.float32 and not tf32 else torch.float64


def fanout_map(op: Callable[[torch.Tensor], torch.Tensor], in_shape, device) -> torch.Tensor:
    """Per input element of one sample ``(*in_shape)``: how many terms of the linear map ``op``'s outputs
    read it with weight 1 (``op`` applied with every weight set to 1): the gradient of ``sum(op(x))``,
    int64. ``sum(c * map)`` is then ``sum(op(c))`` for any counts ``c`` of that shape."""
    x = torch.zeros((1, *in_shape), dtype=torch.float64, device=device, requires_grad=True)
    with torch.enable_grad():
        op(x).sum().backward()
    return x.grad[0].round().long()


def _map_dot(cnt: torch.Tensor, fmap: torch.Tensor) -> torch.Tensor:
    """``sum(cnt * fmap)`` for counts ``(T, B, *shape)`` and a per-sample map ``(*shape)``, int64."""
    return (cnt.sum((0, 1), dtype=torch.int64) * fmap).sum()


def _pair(v) -> tuple:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def _check_exact(name: str, row_abs_sum: float, x: torch.Tensor) -> None:
    xmax = float(x.abs().max()) if x.numel() else 0.0
    bound = row_abs_sum * xmax
    if bound >= EXACT_LIMIT:
        raise ValueError(f"{name}: partial sums may reach {bound:.3g} >= 2^53, so float64 is not exact; "
                         "inputs or weights are far outside the Loihi integer ranges")


def _require_int(name: str, w: np.ndarray) -> np.ndarray:
    w = np.asarray(w)
    if not np.all(np.isfinite(w)) or not np.array_equal(w, np.round(w)):
        raise ValueError(f"node {name!r}: weights are not integers; integerize the graph first "
                         "(ds2ta.export.graph_quant.integerize_graph) or pass an exported graph")
    return w.astype(np.float64)


class Kernel:
    """Base kernel: stateless, time-batched ``forward``; ``step`` runs it on one step."""

    kind = "other"          # "synapse" (counts synops), "neuron", "attention", "other"
    spiking = False         # output is binary spikes
    neurons = 0
    record = False          # set by the executor when the node is recorded (sub-populations kept)
    reads_input = True      # forward uses its summed input (the attention kernels read their operands)

    def __init__(self, name: str, node):
        self.name, self.node = name, node

    def to(self, device) -> "Kernel":
        return self

    def forward(self, x: torch.Tensor, env: Dict[str, torch.Tensor]) -> torch.Tensor:
        return x

    def init_state(self):
        return None

    def step(self, x_t: torch.Tensor, state, env_t: Dict[str, torch.Tensor]):
        return self.forward(x_t[None], {k: v[None] for k, v in env_t.items()})[0], state

    def fanout(self, mask: torch.Tensor) -> torch.Tensor:
        """Synaptic events for input counts ``mask`` (T, B, ...): sum over inputs of count x fan-out."""
        return torch.zeros((), dtype=torch.float64)


class Identity(Kernel):
    pass


class Conv2dK(Kernel):
    """``Conv2d``: ``y = W * x + b``, then, as Lava computes it, the 24-bit wrap of its ``Conv``
    accumulator (``chip.wrap24``) when ``metadata["weight_exp"]`` is 0, else the weight exponent's shift
    ``(W * x + b) >> -weight_exp`` (``chip.apply_weight_exp``; the Lava backend builds such a conv as a
    ``Sparse`` synapse with that exponent, int64, no wrap). The wrap is skipped when every sum already
    lies in its range (then it changes nothing).

    The input is read as ``(C, *input_shape)`` of its C-order values, as Lava and the float executor
    read it: a flat vector, or a population of another shape with as many values (SDSA's head planes,
    docs/nir-format.md)."""

    kind = "synapse"

    def __init__(self, name, node):
        super().__init__(name, node)
        self.w = torch.from_numpy(_require_int(name, node.weight))
        b = np.asarray(node.bias) if node.bias is not None else np.zeros(1)
        self.b = torch.from_numpy(_require_int(name, np.broadcast_to(b, (self.w.shape[0],)).copy()))
        self.stride, self.dil, self.groups = _pair(node.stride), _pair(node.dilation), int(node.groups)
        pad = node.padding
        self.pad = pad if isinstance(pad, str) else _pair(pad)
        hw = getattr(node, "input_shape", None)
        self.hw = None if hw is None else _pair(hw)
        self.b = self.b.long()
        self.exp = chip.weight_exp(node)
        self._fanout: Dict[tuple, torch.Tensor] = {}

    def to(self, device):
        self.w, self.b = self.w.to(device), self.b.to(device)
        self._fanout = {}
        return self

    def planes(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, B, ...)`` -> ``(T, B, C, *input_shape)``; a size that does not split is named."""
        if self.hw is None or tuple(x.shape[3:]) == self.hw:
            return x
        n = int(np.prod(x.shape[2:]))
        if n % (self.hw[0] * self.hw[1]):
            raise ValueError(f"{self.name}: {n} inputs per sample do not split into channels of "
                             f"{self.hw[0]}x{self.hw[1]} (its input_shape)")
        return x.reshape(*x.shape[:2], -1, *self.hw)

    def forward(self, x, env):
        """``W * x + b`` (int32 where every sum is below 2^24, else int64), shifted or wrapped."""
        T, B = x.shape[:2]
        y = chip.conv2d_torch(self.planes(x).flatten(0, 1), self.w, self.stride, self.pad, self.dil, self.groups,
                              bias=self.b, name=self.name)
        y = y.reshape(T, B, *y.shape[1:])
        if self.exp:
            return chip.apply_weight_exp(y.long(), self.exp)  # a left shift may leave int32
        lo, hi = torch.aminmax(y) if y.numel() else (0, 0)
        if int(lo) < -WRAP_LIMIT or int(hi) >= WRAP_LIMIT:
            y = chip.wrap24(y.long(), inplace=True)  # Lava's Conv result wraps at 24 bits
        return y

    def fanout(self, cnt):
        """``sum(conv(cnt, ones))``: the counts summed over steps and samples, dotted with the fan-out map."""
        cnt = self.planes(cnt)
        shape = tuple(cnt.shape[2:])
        if shape not in self._fanout:
            ones = torch.ones(self.w.shape, dtype=torch.float64, device=cnt.device)
            self._fanout[shape] = fanout_map(
                lambda z: F.conv2d(z, ones, None, self.stride, self.pad, self.dil, self.groups), shape, cnt.device)
        return _map_dot(cnt, self._fanout[shape])


class AffineK(Kernel):
    kind = "synapse"

    def __init__(self, name, node):
        super().__init__(name, node)
        self.w = torch.from_numpy(_require_int(name, node.weight))
        b = getattr(node, "bias", None)
        self.b = torch.from_numpy(_require_int(name, np.zeros(self.w.shape[0]) if b is None else
                                               np.broadcast_to(b, (self.w.shape[0],)).copy()))
        self.exp = chip.weight_exp(node)
        self.row = float(self.w.abs().sum(1).max()) + float(self.b.abs().max())

    def to(self, device):
        self.w, self.b = self.w.to(device), self.b.to(device)
        return self

    def forward(self, x, env):
        _check_exact(self.name, self.row, x)
        x = x.reshape(*x.shape[:2], -1).double()
        y = (x @ self.w.T + self.b).round().long()
        return chip.apply_weight_exp(y, self.exp)

    def fanout(self, cnt):
        return cnt.sum() * self.w.shape[0]


class SumPoolK(Kernel):
    kind = "synapse"

    def __init__(self, name, node):
        super().__init__(name, node)
        self.k, self.s, self.p = _pair(node.kernel_size), _pair(node.stride), _pair(node.padding)
        self._fanout: Dict[tuple, torch.Tensor] = {}

    def _pool(self, z):
        return F.avg_pool2d(z, self.k, self.s, self.p, count_include_pad=True, divisor_override=1)

    def forward(self, x, env):
        T, B = x.shape[:2]
        dtype = float_dtype(self.k[0] * self.k[1] * abs_max(x))
        if dtype is None:
            raise ValueError(f"{self.name}: window sums may reach 2^53, so float64 is not exact")
        y = self._pool(x.flatten(0, 1).to(dtype)).long()  # exact integer sums
        return y.reshape(T, B, *y.shape[1:])

    def fanout(self, cnt):
        """``sum(pool(cnt))``: the counts summed over steps and samples, dotted with the fan-out map."""
        shape = tuple(cnt.shape[2:])
        if shape not in self._fanout:
            self._fanout[shape] = fanout_map(self._pool, shape, cnt.device)
        return _map_dot(cnt, self._fanout[shape])


class FlattenK(Kernel):
    def forward(self, x, env):
        return x.reshape(*x.shape[:2], -1)


class DelayK(Kernel):
    def __init__(self, name, node):
        super().__init__(name, node)
        d = np.asarray(node.delay)
        if not np.array_equal(d, np.round(d)) or d.min() < 0:
            raise ValueError(f"node {name!r}: Delay needs non-negative integer steps, got {d}")
        self.d = torch.from_numpy(d.astype(np.int64))
        self.uniform = int(d.reshape(-1)[0]) if d.size and np.all(d == d.reshape(-1)[0]) else None

    def to(self, device):
        self.d = self.d.to(device)
        return self

    def forward(self, x, env):  # y[t] = x[t - d] (0 for t < d), per element
        T = x.shape[0]
        if self.uniform is not None:  # one delay for every element: a shift of the time axis
            d = self.uniform
            y = torch.zeros_like(x)
            if d < T:
                y[d:] = x[:T - d]
            return y
        t = torch.arange(T, device=x.device).view(T, *([1] * (x.dim() - 1)))
        src = t - self.d.view(1, 1, *self.d.shape) if self.d.dim() else t - self.d
        src = src.expand_as(x)
        y = torch.gather(x, 0, src.clamp(min=0))
        return torch.where(src >= 0, y, torch.zeros_like(y))

    def init_state(self):
        return []

    def step(self, x_t, state, env_t):
        state = (state + [x_t])[-(int(self.d.max()) + 1):]
        hist = torch.stack(state)  # (L, B, ...), last = now
        y = self.forward(torch.cat([torch.zeros((int(self.d.max()) + 1 - len(state), *x_t.shape),
                                                dtype=x_t.dtype, device=x_t.device), hist]), {})
        return y[-1], state


class ThresholdK(Kernel):
    """NIR ``Threshold`` (``z = x > theta``) as the chip runs it: a stateless LIF
    (``chip.threshold_params``), so every step of the whole sequence is one ``lif_step``."""

    spiking = True

    def __init__(self, name, node):
        super().__init__(name, node)
        q = chip.threshold_params(node.threshold)
        L = lambda k: torch.as_tensor(np.asarray(q[k]), dtype=torch.int64)
        self.p = LavaLIFParams(L("du"), L("dv"), chip.bias_decode(L("bias_mant"), L("bias_exp")), L("vth"))
        self.neurons = int(np.prod(np.shape(q["vth"])))

    def to(self, device):
        self.p = self.p.to(device)
        return self

    def forward(self, x, env):  # du = 4095, dv = 4096: no state carries over, so all steps at once
        return lif_step(x, torch.zeros_like(x), torch.zeros_like(x), self.p)[0]


class LavaLIFK(Kernel):
    """Any NIR neuron node carrying ``metadata["lava"]`` (exported or integerized graphs). Its summed
    input is taken in the neuron's own shape (C order), as Lava and the float executor take it: a
    synapse may deliver the same values in another shape (SDSA's head planes, docs/nir-format.md)."""

    kind = "neuron"

    def __init__(self, name, node):
        super().__init__(name, node)
        lava = node.metadata.get("lava") if isinstance(node.metadata, dict) else None
        if not lava:
            raise ValueError(f"node {name!r} ({type(node).__name__}) has no integer parameters "
                             "(metadata['lava']); integerize the graph first")
        g = lambda k, default=0: torch.from_numpy(np.asarray(lava.get(k, default), dtype=np.int64))
        vth = lava.get("vth", None)
        spiking = type(node).__name__ in chip.SPIKING_NEURONS and vth is not None
        self.p = LavaLIFParams(g("du"), g("dv"), chip.bias_decode(g("bias_mant"), g("bias_exp")),
                               g("vth") if spiking else None)
        self.spiking = spiking
        shape = np.broadcast_shapes(*(np.shape(lava.get(k, 0)) for k in ("du", "dv", "vth", "bias_mant")))
        self.neurons = int(np.prod(shape)) if shape else 1
        self.shape = tuple(int(s) for s in shape)

    def to(self, device):
        self.p = self.p.to(device)
        return self

    def own_shape(self, x: torch.Tensor, lead: int) -> torch.Tensor:
        """``x`` (``lead`` leading axes) in the neuron's shape when it holds one value per neuron in
        another shape; else as it is (parameters that broadcast, or a mismatch torch names)."""
        if not self.shape or tuple(x.shape[lead:]) == self.shape or int(np.prod(x.shape[lead:])) != self.neurons:
            return x
        return x.reshape(*x.shape[:lead], *self.shape)

    def forward(self, x, env):
        return lif_sequence(self.own_shape(x, 2), self.p)

    def init_state(self):
        return None

    def step(self, x_t, state, env_t):
        x_t = self.own_shape(x_t, 1)
        u, v = state if state is not None else (torch.zeros_like(x_t), torch.zeros_like(x_t))
        o, u, v = lif_step(x_t, u, v, self.p)
        return o, (u, v)


class GradedUnitK(Kernel):
    """``DS2TAGraded`` (``chip.GRADED_UNITS``): a memoryless graded population, ``max(x, 0)`` or ``x`` of
    its summed input at each step (``chip.graded_unit``); the whole sequence at once, no state.
    Counted as a neuron population whose messages (``spikes``) are its nonzero outputs."""

    kind = "neuron"
    graded_messages = True

    def __init__(self, name, node):
        super().__init__(name, node)
        self.relu = bool(node.relu)
        self.neurons = int(np.prod(node.shape))

    def forward(self, x, env):
        return chip.graded_unit(x, self.relu)


class SigmaDeltaK(Kernel):
    """``DS2TASigmaDelta`` (``chip.SIGMA_DELTAS``): a sigma-delta population, ``hardware.sigma_delta.step`` on its
    summed input step by step (int64, state from 0 at every sample start). Counted as a neuron population
    whose messages (``spikes``) are its nonzero outputs."""

    kind = "neuron"
    graded_messages = True

    def __init__(self, name, node):
        super().__init__(name, node)
        self.p = sd.params(node)
        self.shape = tuple(node.shape)
        self.neurons = int(np.prod(node.shape))

    def forward(self, x, env):  # (T, B, *shape): the neuron axis flat, as the parameters are
        T, B = x.shape[:2]
        return sd.run(x.reshape(T, B, self.neurons), self.p).reshape(T, B, *self.shape)

    def init_state(self):
        return None

    def step(self, x_t, state, env_t):
        x_t = x_t.reshape(x_t.shape[0], self.neurons)
        o, state = sd.step(x_t, state if state is not None else sd.zero_state(x_t), self.p)
        return o.reshape(o.shape[0], *self.shape), state


class LinearK(Kernel):
    """Any linear kind without a faster kernel here: its ``LinearOp`` (``ds2ta.hardware.kinds``), exact in
    int64 numpy on the flat C-order input, then the weight exponent's shift. Synaptic operations: the
    node with unit weights applied to the counts (``LinearOp.unit``)."""

    kind = "synapse"

    def __init__(self, name, node):
        super().__init__(name, node)
        self.op = kinds.linear_op(name, node)
        self.exp = chip.weight_exp(node)
        self._typed = {}

    def _node(self, shape):
        if shape not in self._typed:
            self._typed[shape] = self.op.typed(self.name, self.node, shape)
        return self._typed[shape]

    def forward(self, x, env):
        T, B = x.shape[:2]
        node, out = self._node(tuple(x.shape[2:]))
        y = self.op.apply(self.name, node, x.reshape(T * B, -1).cpu().numpy())
        y = chip.apply_weight_exp(torch.from_numpy(y).to(x.device), self.exp)
        return y.reshape(T, B, *out)

    def fanout(self, cnt):
        node, _ = self._node(tuple(cnt.shape[2:]))
        c = cnt.reshape(-1, int(np.prod(cnt.shape[2:]))).sum(0, keepdims=True).cpu().numpy()
        return torch.tensor(int(self.op.apply(self.name, self.op.unit(node), c).sum()))


# kinds with a kernel of their own (faster or exact on CUDA); every other linear kind runs ``LinearK``
LINEAR_KERNELS: Dict[str, Callable] = {"Conv2d": Conv2dK, "Affine": AffineK, "Linear": AffineK,
                                       "SumPool2d": SumPoolK}
ROUTING_KERNELS: Dict[str, Callable] = {"Flatten": FlattenK, "Delay": DelayK}
ROLE_KERNELS: Dict[str, Callable] = {kinds.INPUT: Identity, kinds.OUTPUT: Identity,
                                     kinds.NEURON: LavaLIFK, kinds.GRADED_NEURON: LavaLIFK,
                                     kinds.THRESHOLD_ROLE: ThresholdK, kinds.GRADED_UNIT: GradedUnitK,
                                     kinds.SIGMA_DELTA: SigmaDeltaK}


def build_kernel(name: str, node, attention_kernels: Dict[str, Callable]) -> Kernel:
    """Kernel for one (integer) NIR node, by its role (``ds2ta.hardware.kinds``); a type the table does
    not hold, or a float-only one, raises ``ValueError`` naming the node and its type."""
    k = kinds.kind_of(node)
    if k is None:
        raise kinds.unknown(name, node, "the reference executor")
    if k.role == kinds.FLOAT_ONLY:
        raise kinds.refuse(name, node)
    if k.role in kinds.LINEAR_ROLES:
        return LINEAR_KERNELS.get(k.name, LinearK)(name, node)
    if k.role == kinds.ROUTING:
        return ROUTING_KERNELS[k.name](name, node)
    if k.role == kinds.ATTENTION:
        if k.name not in attention_kernels:
            raise kinds.unknown(name, node, "the reference executor's attention table")
        return attention_kernels[k.name](name, node)
    return ROLE_KERNELS[k.role](name, node)

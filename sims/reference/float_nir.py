"""Float executor of a float NIR graph with the project's float semantics (the discretization that
``ds2ta.export.graph_quant`` maps to Lava's integers), to measure what integerization changes.

Per step ``t`` with the source time step ``dt``, nodes in topological order (zero delay; an edge that
closes a cycle carries the previous step, as in the integer reference). With ``I`` the summed weighted
input and ``gain``, ``leak``, ``theta`` from the kind's ``NeuronOp`` (``ds2ta.hardware.kinds``)::

    DS2TAGraded:      out = I, or max(I, 0) with relu    # memoryless graded unit (export/nir_graded.py)
    DS2TAGradedMaxPool2d: out = max_pool2d(I)            # padding ignored, as torch's max_pool2d
    LIF, IF, LI, I:   u = I                              # no current memory (Lava du = 4095)
    CubaLIF, CubaLI:  u = (1 - dt / tau_syn) u + I
    v = (1 - dt / tau) v + gain * u + leak               # tau = tau_mem; IF and I: no decay
    s = v >= theta;  v[s] = 0                            # spiking nodes emit s, graded nodes emit v

The integer graph computes the same with ``v_int = 64 S v`` (per-channel scale ``S``), rounded decays
and weights, and the strict ``v > vth << 6`` with a +1 tie-break bias. The decays here are exact
(``dt / tau``), not the chip's 12-bit ``dv``. Units: ``v`` in the graph's own float units.
"""

from __future__ import annotations

from typing import Callable, Dict

import nir
import numpy as np
import torch
import torch.nn.functional as F

from ds2ta.export.nir_io import flatten_graph
from ds2ta.hardware import chip, kinds
from ds2ta.hardware.graph import GraphView


def _t(a) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64))  # a copy: the node keeps its arrays


def _pair(v) -> tuple:
    a = np.atleast_1d(np.asarray(v)).astype(int)
    return (int(a[0]), int(a[-1]))


def _affine(node, x, state):
    y = x.reshape(x.shape[0], -1) @ _t(node.weight).reshape(np.shape(node.weight)[0], -1).T
    b = getattr(node, "bias", None)
    return (y + _t(b) if b is not None else y), state


def _conv(node, x, state):
    if getattr(node, "input_shape", None) is None:  # untyped (sinabs 2 in memory): the wired shape decides
        node, _ = kinds.linear_op("Conv2d", node).typed("Conv2d", node, tuple(x.shape[1:]))
    shape = tuple(int(v) for v in np.asarray(node.input_shape).reshape(-1))
    x = x.reshape(x.shape[0], -1, *shape)
    pad = node.padding if isinstance(node.padding, str) else _pair(node.padding)
    b = getattr(node, "bias", None)
    return F.conv2d(x, _t(node.weight), None if b is None else _t(b).reshape(-1), _pair(node.stride), pad,
                    _pair(node.dilation), int(node.groups)), state


def _sumpool(node, x, state):
    k = _pair(node.kernel_size)
    return F.avg_pool2d(x, k, _pair(node.stride), _pair(node.padding), count_include_pad=True) * (k[0] * k[1]), state


def _flatten(node, x, state):
    return x.flatten(int(node.start_dim) + 1 if int(node.start_dim) >= 0 else int(node.start_dim),
                     int(node.end_dim) if int(node.end_dim) < 0 else int(node.end_dim) + 1), state


def _delay(node, x, state):
    k = int(np.unique(np.asarray(node.delay))[0])
    buf = (state or []) + [x]
    return (buf[0] if len(buf) > k else torch.zeros_like(x)), buf[-k:] if k else []


def _identity(node, x, state):
    return x, state


def _graded_unit(node, x, state):  # DS2TAGraded: the summed input, or its relu (no state)
    return (x.clamp(min=0.0) if node.relu else x), state


def _graded_maxpool(node, x, state):  # DS2TAGradedMaxPool2d: padded positions never win (-inf padding)
    x = x.reshape(x.shape[0], node.channels, *node.input_shape)
    return F.max_pool2d(x, node.kernel_size, node.stride, node.padding), state


def _avgpool(node, x, state):  # AvgPool2d (float graphs only): window means, zero padding counted
    return F.avg_pool2d(x, _pair(node.kernel_size), _pair(node.stride), _pair(node.padding),
                        count_include_pad=True), state


def _threshold(node, x, state):  # Threshold: z = x > theta (the chip's strict test, no state)
    return (x > _t(node.threshold).reshape(x.shape[1:])).to(x.dtype), state


def _generic_linear(name, node):
    """A linear kind without a torch function here: its ``LinearOp.float_apply`` (numpy float64) on the
    node typed for the shape wired into it."""
    op = kinds.linear_op(name, node)

    def run(x, state):
        typed, out = op.typed(name, node, tuple(x.shape[1:]))
        y = op.float_apply(typed, x.reshape(x.shape[0], -1).numpy())
        return torch.from_numpy(y).reshape(x.shape[0], *out), state
    return run


# by kind name (ds2ta.hardware.kinds); any other linear kind runs its LinearOp (``_generic_linear``)
UPDATES: Dict[str, Callable] = {"Affine": _affine, "Linear": _affine, "Conv2d": _conv, "SumPool2d": _sumpool,
                                "Flatten": _flatten, "Delay": _delay, "Input": _identity, "Output": _identity,
                                "Threshold": _threshold, "DS2TAGraded": _graded_unit,
                                "DS2TAGradedMaxPool2d": _graded_maxpool, "AvgPool2d": _avgpool}


# roles this executor refuses by name, and why
REFUSED_ROLES: Dict[str, str] = {
    kinds.ATTENTION: "the float executor has no attention update: a graph with attention nodes comes from "
                     "ds2ta-export, whose float reference is the PyTorch model itself (the export's float-vs-integer "
                     "check, quantization.json)",
    kinds.SIGMA_DELTA: "the float executor has no sigma-delta update: a sigma-delta network comes from lava-dl as "
                       "integers and is written as it is (ds2ta-export of a netx .net file); run it with the "
                       "integer reference or Lava"}


class FloatNeuron:
    """One neuron node's float update (see the module docstring)."""

    def __init__(self, node, dt: float):
        op = kinds.neuron_op(type(node).__name__, node)
        c = op.constants(node, dt)
        self.gain, self.leak = _t(c["gain"]), _t(c["leak"])
        self.theta = None if c["theta"] is None else _t(c["theta"])
        keep_u, keep_v = op.decays(node, dt, c["gain"].shape)
        self.keep_u, self.keep_v = _t(keep_u), _t(keep_v)
        self.shape = c["gain"].shape

    def step(self, x, state):
        x = x.reshape(x.shape[0], *self.shape)
        u, v = state if state is not None else (torch.zeros_like(x), torch.zeros_like(x))
        u = self.keep_u * u + x
        v = self.keep_v * v + self.gain * u + self.leak
        if self.theta is None:
            return v, (u, v)
        s = (v >= self.theta).to(v.dtype)
        return s, (u, v * (1 - s))


class FloatExecutor:
    """Run a float NIR graph (time step ``dt``) on inputs ``(T, B, *input_shape)``; records every node.

    Raises:
        ValueError: a node type without a float update here (named), or not exactly one Input.
    """

    def __init__(self, graph: nir.NIRGraph, dt: float):
        self.nodes, self.edges = flatten_graph(graph)
        self.view = GraphView(self.nodes, self.edges)
        self.order, self.delayed, self.preds = self.view.order, self.view.delayed, self.view.preds
        self.kernels, bad = {}, []
        for n, node in self.nodes.items():
            role = self.view.role(n)
            if role in REFUSED_ROLES:
                raise ValueError(f"{type(node).__name__} {n!r}: {REFUSED_ROLES[role]}")
            if role in (kinds.NEURON, kinds.GRADED_NEURON):
                self.kernels[n] = FloatNeuron(node, dt).step
            elif type(node).__name__ in UPDATES:
                self.kernels[n] = lambda x, s, node=node: UPDATES[type(node).__name__](node, x, s)
            elif role in kinds.LINEAR_ROLES:
                self.kernels[n] = _generic_linear(n, node)
            else:
                bad.append(f"{n} ({type(node).__name__})")
        if bad:
            raise ValueError(f"no float update for node(s) {bad}; supported: neurons {chip.NEURONS}, the linear "
                             f"kinds {kinds.names(*kinds.LINEAR_ROLES)} and {sorted(UPDATES)}")
        self.spiking = {n for n in self.nodes if self.view.role(n) in kinds.SPIKING_ROLES}
        self.inputs, self.outputs = self.view.inputs(), self.view.outputs()
        if len(self.inputs) != 1:
            raise ValueError(f"the float executor needs exactly one Input node, found {self.inputs}")

    def run(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Every node's output ``(T, B, ...)`` (float64; spikes as 0/1)."""
        x = x.to(torch.float64)
        state: Dict[str, object] = {n: None for n in self.order}
        hist: Dict[str, list] = {n: [] for n in self.order}
        for t in range(x.shape[0]):
            cur: Dict[str, torch.Tensor] = {}
            for n in self.order:
                if n in self.inputs:
                    inp = x[t]
                else:
                    parts = [(hist[p][t - 1] if t else None) if (p, n) in self.delayed else cur[p]
                             for p in self.preds[n]]
                    parts = [q for q in parts if q is not None]
                    if not parts:  # only delayed inputs at t = 0: nothing has arrived yet
                        inp = None
                    else:
                        inp = parts[0].reshape(parts[0].shape[0], -1) if len(parts) > 1 else parts[0]
                        for q in parts[1:]:
                            inp = inp + q.reshape(q.shape[0], -1)
                if inp is None:
                    raise ValueError(f"node {n!r} has only recurrent inputs; not supported by the float executor")
                cur[n], state[n] = self.kernels[n](inp, state[n])
                hist[n].append(cur[n])
        return {n: torch.stack(v) for n, v in hist.items()}

    def prediction(self, rec: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Argmax of the output's spike count (spiking output) or of its last value (graded), as the
        integer reference predicts."""
        out = self.outputs[0] if self.outputs else self.order[-1]
        src = self.preds.get(out) or [out]
        y = rec[out].reshape(rec[out].shape[0], rec[out].shape[1], -1)
        spiking = all(s in self.spiking for s in src)
        return (y.sum(0) if spiking else y[-1]).argmax(-1)

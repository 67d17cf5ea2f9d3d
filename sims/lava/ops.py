"""Exact integer numpy versions of NIR's memoryless nodes, and the LIF state of this package's models.

Used to compose chains of linear nodes into one synapse layer, inside this package's numpy
ProcessModels (never torch: process models are forked, see docs/simulation.md), and by the counters.
The arithmetic (integer convolution, the LIF step) is ``ds2ta.hardware.chip``'s. All arrays are
int64; a population is a flat vector in NIR's C order (``(C, H, W)`` -> ``C*H*W``).
"""

from __future__ import annotations

import copy

import nir
import numpy as np

from ds2ta.hardware import chip


def _pair(v) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v)).astype(int)
    return (int(a[0]), int(a[-1]))


def input_shape(node: nir.NIRNode) -> tuple[int, ...]:
    """The node's input shape (first input port)."""
    return tuple(int(s) for s in np.asarray(next(iter(node.input_type.values()))))


def linear_out_shape(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of a linear node for input ``shape`` (NIR's, without batch or time axes)."""
    n = int(np.prod(shape))
    if isinstance(node, (nir.Affine, nir.Linear)):
        w = np.asarray(node.weight)
        if w.ndim != 2 or w.shape[1] != n:
            raise ValueError(f"{name}: weight {w.shape} does not take the {n} inputs it is wired to "
                             f"(input shape {shape})")
        return (int(w.shape[0]),)
    if isinstance(node, nir.Scale):
        return tuple(shape)
    if isinstance(node, (nir.Conv2d, nir.SumPool2d)):
        C, H, W = conv_input_shape(name, node, shape)
        if isinstance(node, nir.Conv2d):
            if isinstance(node.padding, str):
                raise ValueError(f"{name}: string padding {node.padding!r} is not supported; write integers")
            O, k = int(np.asarray(node.weight).shape[0]), _pair(np.asarray(node.weight).shape[2:])
            (sh, sw), (ph, pw), (dh, dw) = _pair(node.stride), _pair(node.padding), _pair(node.dilation)
        else:
            O, k = C, _pair(node.kernel_size)
            (sh, sw), (ph, pw), (dh, dw) = _pair(node.stride), _pair(node.padding), (1, 1)
        return (O, (H + 2 * ph - dh * (k[0] - 1) - 1) // sh + 1, (W + 2 * pw - dw * (k[1] - 1) - 1) // sw + 1)
    raise ValueError(f"{name}: {type(node).__name__} is not a linear node")


def conv_input_shape(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[int, int, int]:
    """``(C, H, W)`` fed to a Conv2d/SumPool2d: its declared ``input_shape`` (Conv2d, ``(H, W)``) or
    input type when set, else the shape of what is wired to it (a flat vector needs a declared one)."""
    n = int(np.prod(shape))
    hw = getattr(node, "input_shape", None)
    if hw is not None:
        H, W = _pair(hw)
        if n % (H * W):
            raise ValueError(f"{name}: {n} inputs do not split into channels of {H}x{W}")
        return (n // (H * W), H, W)
    if len(shape) == 3:
        return tuple(int(v) for v in shape)
    try:
        chw = input_shape(node)
    except (TypeError, ValueError, StopIteration):
        chw = ()
    if len(chw) != 3 or int(np.prod(chw)) != n:
        raise ValueError(f"{name}: cannot tell the (C, H, W) shape of its {n} inputs; set the node's "
                         "input_shape / input_type, or feed it from a node with a (C, H, W) output type")
    return chw


def typed_linear(name: str, node: nir.NIRNode, shape: tuple[int, ...]) -> tuple[nir.NIRNode, tuple]:
    """A shallow copy of a linear node with input/output types (and Conv2d ``input_shape``) set from the
    shape wired into it, as some writers (sinabs) leave them ``None``; returns ``(node, out_shape)``."""
    out = linear_out_shape(name, node, shape)
    node = copy.copy(node)
    if isinstance(node, (nir.Conv2d, nir.SumPool2d)):
        chw = conv_input_shape(name, node, shape)
        if isinstance(node, nir.Conv2d):
            node.input_shape = chw[1:]
        node.input_type = {"input": np.array(chw)}
    else:
        node.input_type = {"input": np.array(shape)}
    node.output_type = {"output": np.array(out)}
    return node, out


def _integer(a, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise ValueError(f"{what} holds non-integer values: the Lava backend runs the quantized "
                             "graph; export it with `ds2ta-export` (or quantize weights to integers)")
    return a.astype(np.int64)


def apply_linear(name: str, node: nir.NIRNode, x: np.ndarray) -> np.ndarray:
    """One linear NIR node on a batch of flat vectors ``(B, n_in) -> (B, n_out)``, int64, with bias."""
    x = np.asarray(x, dtype=np.int64)
    B = x.shape[0]
    if isinstance(node, (nir.Affine, nir.Linear)):
        y = x @ _integer(node.weight, f"{name}.weight").T
        if isinstance(node, nir.Affine) and node.bias is not None:
            y = y + _integer(node.bias, f"{name}.bias")
        return y
    if isinstance(node, nir.Conv2d):
        w = _integer(node.weight, f"{name}.weight")
        H, W = _pair(node.input_shape)
        if isinstance(node.padding, str):
            raise ValueError(f"{name}: string padding {node.padding!r} is not supported; write integers")
        y = chip.conv2d(x.reshape(B, -1, H, W), w, node.stride, node.padding, node.dilation,
                        int(node.groups), name=name)
        if node.bias is not None:
            y = y + _integer(node.bias, f"{name}.bias").reshape(1, -1, 1, 1)
        return y.reshape(B, -1)
    if isinstance(node, nir.SumPool2d):
        C, H, W = input_shape(node)
        kh, kw = _pair(node.kernel_size)
        ones = np.zeros((C, 1, kh, kw), dtype=np.int64) + 1
        y = chip.conv2d(x.reshape(B, C, H, W), ones, node.stride, node.padding, 1, C, name=name)
        return y.reshape(B, -1)
    if isinstance(node, nir.Scale):
        return x * _integer(node.scale, f"{name}.scale").reshape(1, -1)
    raise ValueError(f"{name}: {type(node).__name__} is not a linear node")


def compose(ops: list[tuple[str, nir.NIRNode]], n_in: int) -> tuple[np.ndarray, np.ndarray]:
    """A chain of linear nodes as one ``(W (n_out, n_in), b (n_out,))`` pair, exact in int64."""
    eye = np.eye(n_in, dtype=np.int64)
    zero = np.zeros((1, n_in), dtype=np.int64)
    for name, node in ops:
        eye, zero = apply_linear(name, node, eye), apply_linear(name, node, zero)
    b = zero[0]
    return (eye - b).T, b


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

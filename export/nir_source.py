"""A third-party NIR file (snntorch, norse, sinabs, rockpool, ...) as a ``ds2ta-export`` source.

``read_source`` reads the file (a file that fails NIR's own type check is read without it, with a
``NIRTypeCheckWarning`` naming the failure), ``input_transforms`` names what the file's conventions
change about the input and the first steps, and ``integer_source`` integerizes a float graph with
``graph_quant.quantize_graph`` (per-neuron scales, ``dt`` from ``--dt`` or the graph) and writes the
conventions it assumed into ``metadata["conventions"]``:

- **dt**: the source step ``dt``; the integer graph runs at ``dt = 1`` step (``source_dt`` recorded).
- **reset**: to zero, as Lava's LIF; a neuron with ``v_reset != 0`` is refused by name (graph_quant).
- **input gain**: NIR's ``r * dt / tau`` (``dt / tau_mem`` times ``dt / tau_syn`` for CubaLIF) folded
  into the weights: rockpool's ``r``, snntorch's ``r = tau / dt`` and norse's ``r = 1`` all hold.
- **initial state**: ``v = 0`` and ``u = 0`` at the first step of every sample. norse starts ``v`` at
  ``v_leak``: neurons with ``v_leak != 0`` are named in a ``ConventionWarning`` (their first steps
  differ from a norse run; ``v_leak`` itself becomes a bias every step).
- **bias timing**: an ``Affine``/``Conv2d`` bias is a synaptic input at every step from step 0 (also
  on a recurrent edge, which delivers from step 1), as the integer reference adds it.
- **Flatten order**: C order over channel-first ``(C, H, W)`` tensors (PyTorch, sinabs); a graph
  written in another layout must be permuted before export.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import nir
import numpy as np

from ds2ta.export.graph_quant import quantize_graph
from ds2ta.export.nir_io import flatten_graph, read_graph
from ds2ta.hardware import chip
from ds2ta.hardware.graph import conventions, graph_dt

CONVENTIONS = {
    "reset": "zero (Lava LIF); v_reset != 0 is refused",
    "input_gain": "r * dt / tau (NIR) folded into the weights per neuron (rockpool r, snntorch r = tau/dt, "
                  "norse r = 1 all hold)",
    "initial_state": "u = v = 0 at step 0 of every sample (norse starts v at v_leak)",
    "bias_timing": "Affine/Conv2d bias: synaptic input every step from step 0 (a recurrent edge's from step 1); "
                   "v_leak: a per-neuron bias every step",
    "flatten_order": "C order over channel-first (C, H, W) tensors (PyTorch/sinabs)",
    "threshold": "float v >= v_threshold; integer strict v > vth << 6 with a +1 bias tie-break on leaky neurons",
    "neuron_model": "lava PyLifModelBitAcc",
}


class NIRTypeCheckWarning(UserWarning):
    """The file fails NIR's own type check (``nir.read(type_check=True)``); it was read without it."""


class ConventionWarning(UserWarning):
    """A convention of the source framework that the chip does not share (named nodes)."""


def read_source(path: str | Path) -> nir.NIRGraph:
    """Read a NIR file; a type-check failure becomes a ``NIRTypeCheckWarning`` naming it.

    Raises:
        ValueError: not a readable NIR file, or a node type nobody defines (``nir_io.read_graph``).
    """
    graph = read_graph(path, type_check=False)
    try:
        read_graph(path, type_check=True)
    except Exception as e:  # noqa: BLE001 - NIR raises bare AssertionError/ValueError/KeyError from its checks
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        warnings.warn(NIRTypeCheckWarning(f"{path} fails NIR's own type check ({type(e).__name__}: {msg[:200]}); "
                                          "read without it: check the node shapes the graph declares"))
    return graph


def is_integer(graph: nir.NIRGraph) -> bool:
    """Every neuron node carries Lava integers (``metadata["lava"]``): a ds2ta-written integer graph."""
    nodes, _ = flatten_graph(graph)
    neurons = [n for n in nodes.values() if type(n).__name__ in chip.NEURONS]
    return bool(neurons) and all(isinstance(n.metadata, dict) and n.metadata.get("lava") for n in neurons)


def input_transforms(graph: nir.NIRGraph) -> List[str]:
    """Lines naming the source conventions the conversion handles differently (also warned).

    ``v_leak != 0`` (norse starts ``v`` there, the chip at 0) warns with the node names; nonzero
    ``v_reset`` is refused later by the quantizer, naming the node.
    """
    nodes, _ = flatten_graph(graph)
    notes = []
    leak = [n for n, x in nodes.items() if type(x).__name__ in ("LIF", "CubaLIF", "LI", "CubaLI")
            and np.any(np.asarray(getattr(x, "v_leak", 0)) != 0)]
    if leak:
        msg = (f"neurons {leak} have v_leak != 0: the chip starts v at 0 (norse starts it at v_leak), so the "
               "first steps differ from a norse run; v_leak becomes a bias every step")
        warnings.warn(ConventionWarning(msg))
        notes.append(msg)
    r_odd = [n for n, x in nodes.items() if type(x).__name__ in ("LIF", "LI") and getattr(x, "r", None) is not None
             and not np.allclose(np.asarray(x.r, dtype=float), 1.0)
             and not np.allclose(np.asarray(x.r, dtype=float), np.asarray(x.tau, dtype=float))]
    if r_odd:
        notes.append(f"neurons {r_odd} have an input gain r that is neither 1 nor tau (rockpool-style): folded "
                     "into the weights as r * dt / tau")
    return notes


def _pair(v) -> np.ndarray:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    return np.array([a[0], a[-1]])


def fold_pool_into_conv(graph: nir.NIRGraph) -> Tuple[nir.NIRGraph, List[str]]:
    """``SumPool2d -> Conv2d`` (sinabs CNNs) as one strided ``Conv2d``, exactly.

    A sum pool with kernel = stride = ``k`` (non-overlapping windows, no padding) on a ``(C, H, W)``
    input with ``H, W`` multiples of ``k``, followed by a conv ``(O, C, a, b)`` with stride ``s``,
    padding ``p``, dilation 1, equals one conv with kernel ``(a k, b k)`` (each weight repeated over
    its ``k x k`` block), stride ``s k`` and padding ``p k``. The chip composes the two linear maps
    into one synapse layer anyway; folding them lets the mapper see one conv. Other pool -> synapse
    chains are left as they are (the mapper then names them).
    """
    nodes, edges = flatten_graph(graph)
    notes = []
    for name in [n for n, v in nodes.items() if isinstance(v, nir.SumPool2d)]:
        pool = nodes[name]
        outs = [b for a, b in edges if a == name]
        ins = [a for a, b in edges if b == name]
        if len(outs) != 1 or len(ins) != 1 or not isinstance(nodes[outs[0]], nir.Conv2d):
            continue
        conv, k = nodes[outs[0]], _pair(pool.kernel_size)
        src_shape = np.shape(getattr(nodes[ins[0]], "v_threshold", None) if hasattr(nodes[ins[0]], "v_threshold")
                             else getattr(nodes[ins[0]], "r", None))
        if (np.any(_pair(pool.stride) != k) or np.any(_pair(pool.padding) != 0) or isinstance(conv.padding, str)
                or np.any(_pair(conv.dilation) != 1) or len(src_shape) != 3 or np.any(np.array(src_shape[1:]) % k)):
            continue
        w = np.repeat(np.repeat(np.asarray(conv.weight), k[0], axis=2), k[1], axis=3)
        nodes[outs[0]] = nir.Conv2d(input_shape=np.array(src_shape[1:]), weight=w, stride=_pair(conv.stride) * k,
                                    padding=_pair(conv.padding) * k, dilation=np.array([1, 1]), groups=conv.groups,
                                    bias=conv.bias, metadata={**(conv.metadata or {}), "folded_sumpool": name})
        del nodes[name]
        edges = [(a, b) for a, b in edges if name not in (a, b)] + [(ins[0], outs[0])]
        notes.append(f"SumPool2d {name!r} ({int(k[0])}x{int(k[1])}) -> Conv2d {outs[0]!r} folded into one conv with "
                     f"kernel {tuple(int(v) for v in w.shape[2:])}, "
                     f"stride {tuple(int(v) for v in _pair(conv.stride) * k)}"
                     " (exact: non-overlapping windows)")
    if not notes:
        return graph, notes
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph.metadata, type_check=False), notes


def source_dt(graph: nir.NIRGraph, dt: Optional[float]) -> float:
    """``--dt`` if given, else the graph's ``metadata["conventions"]["dt"]``.

    Raises:
        ValueError: neither (names ``--dt`` and the usual values).
    """
    if dt is not None:
        if not dt > 0:
            raise ValueError(f"--dt {dt}: give the source's positive time step in seconds (or steps)")
        return float(dt)
    if graph_dt(graph) is not None:
        return graph_dt(graph)
    raise ValueError("the NIR graph does not record its time step: pass --dt (snntorch exports: 1e-4, "
                     "sinabs: 1, norse: the dt you ran it with, rockpool: its dt, e.g. 1e-3)")


def integer_source(graph: nir.NIRGraph, dt: float, bits: int, T: int,
                   source: str) -> Tuple[nir.NIRGraph, Dict[str, dict], List[str]]:
    """Integer graph, per-node quantization report and the convention lines to print.

    The graph's metadata gets ``format``, ``target``, ``source`` and ``conventions`` (``CONVENTIONS``
    plus ``dt = 1``, ``source_dt`` and ``T``).
    """
    notes = input_transforms(graph)
    graph, folded = fold_pool_into_conv(graph)
    notes += folded
    g, report = quantize_graph(graph, dt=dt, bits=bits)
    conv = dict(conventions(g))
    conv.update(CONVENTIONS, dt=1.0, source_dt=float(dt), T=int(T))
    g.metadata = {**g.metadata, "format": "ds2ta-nir", "format_version": 1, "target": "loihi2",
                  "source": {"kind": "nir", "file": str(source)}, "conventions": conv, "integer": 1}
    lines = [f"conventions assumed: dt = {dt} per step (integer graph: 1 step), T = {T}"]
    lines += [f"  {k}: {v}" for k, v in CONVENTIONS.items()]
    return g, report, lines + notes

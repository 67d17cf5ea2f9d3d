"""NIR graph -> ``LayerSpec`` list (one layer per neuron population with its incoming synapses).

Dispatch tables name every node type handled; an unknown type raises ``ValueError``. The graph
layout follows docs/nir-format.md: synapse nodes (``Conv2d``, ``Affine``, ``Linear``,
``SumPool2d``, ``DS2TASpikeAttention``, ``DS2TABlockAttention``) feed neuron nodes (``CubaLIF``,
``LIF``, ``IF``, ``LI``, ``I``) and memoryless graded units (``DS2TAGraded``: a layer with graded input and
output, ``meta["graded_unit"]``, its fan-in the sum over the projections it adds); ``Delay`` and
``Flatten`` are routing (a Delay before a weight node makes that weight node a TASA replica); several
edges into a node are summed, so a synapse node fed by s source populations stores its weights once per
source (each source has its own axons).
NIR tensors are channel-first ``(C, H, W)``; LayerSpec shapes are ``(W, H, C)``.
An attention node becomes an opaque core (``lowering="core"``) or its neuron lowering's populations
(``"neurons"``, the default; ``attention_map.py``); ``graph_layers`` also returns the lowerings.
"""

from __future__ import annotations

import numpy as np

from .attention_lowering import DEFAULT_LOWERING, LOWERINGS, OPERANDS, Lowering, plan
from .attention_map import attn_input_layer, core_fan_in, core_hop_steps, lowered_layers
from .chip import GRADED_NEURONS, GRADED_UNITS, NEURONS  # graded: emit v / a value as a graded message
from .layers import LayerSpec
ROUTING = {"Delay", "Flatten"}
IGNORED = {"Output"}
POPULATIONS = set(NEURONS) | set(GRADED_UNITS)  # a layer each: neurons and memoryless graded units
GRADED_SOURCES = set(GRADED_NEURONS) | set(GRADED_UNITS) | {"Input"}  # their output is a graded payload
from .chip import host_drive as _drive


def _whc(shape) -> tuple[int, int, int]:
    s = [int(x) for x in np.atleast_1d(shape)]
    if len(s) == 1:
        return (1, 1, s[0])
    if len(s) == 3:
        c, h, w = s
        return (w, h, c)
    if len(s) == 2:
        return (1, s[1], s[0])
    raise ValueError(f"cannot map a tensor of shape {s} to (W, H, C)")


def _pair(x) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(x)).astype(int)
    return (int(a[0]), int(a[-1]))


def _conv(node) -> dict:
    w = np.asarray(node.weight)                               # (C_out, C_in, kH, kW)
    sh, sw = _pair(node.stride)
    pad = node.padding if not isinstance(node.padding, str) else 0
    ph, pw = _pair(pad)
    return {"kind": "conv", "fan_in": int(w.shape[1] * w.shape[2] * w.shape[3]), "shared": True,
            "kernel": (int(w.shape[3]), int(w.shape[2])), "stride": (sw, sh), "padding": (pw, ph),
            "bits": _bits(w)}


def _affine(node) -> dict:
    w = np.asarray(node.weight)                               # (out, in)
    return {"kind": "dense", "fan_in": int(np.prod(w.shape[1:])), "shared": False, "bits": _bits(w)}


def _pool(node) -> dict:
    kh, kw = _pair(node.kernel_size)
    sh, sw = _pair(node.stride)
    ph, pw = _pair(node.padding)
    return {"kind": "pool", "fan_in": kh * kw, "shared": True, "kernel": (kw, kh), "stride": (sw, sh),
            "padding": (pw, ph), "bits": 1}


def _attention(node) -> dict:
    # Approximation of the opaque core, grade D (docs/hardware.md; attention_map.core_fan_in).
    return core_fan_in(node)


def _bits(w: np.ndarray) -> int:
    m = int(np.abs(w).max()) if w.size else 0
    return max(1, m.bit_length() + 1) if np.issubdtype(w.dtype, np.integer) or np.all(w == np.round(w)) else 8


SYNAPSES = {"Conv2d": _conv, "Affine": _affine, "Linear": _affine, "SumPool2d": _pool,
            "DS2TASpikeAttention": _attention, "DS2TABlockAttention": _attention}


def _neuron_shape(node) -> tuple[int, int, int]:
    for attr in ("v_threshold", "r", "tau_mem"):
        a = getattr(node, attr, None)
        if a is not None and np.ndim(a) >= 1:
            return _whc(np.shape(a))
    return _whc(node.input_type["input"])


def graph_lowering(graph, lowering: str | None = None) -> str:
    """``lowering``, else the graph's ``metadata["attention_lowering"]``, else the default (neurons).

    Raises:
        ValueError: an unknown lowering name.
    """
    low = lowering or (getattr(graph, "metadata", None) or {}).get("attention_lowering") or DEFAULT_LOWERING
    if low not in LOWERINGS:
        raise ValueError(f"attention lowering {low!r}: choose one of {LOWERINGS}")
    return low


def layers_from_nir(graph, lowering: str | None = None) -> list[LayerSpec]:
    """Turn a ``nir.NIRGraph`` into mapper layers in topological order (see ``graph_layers``)."""
    return graph_layers(graph, lowering)[0]


def graph_layers(graph, lowering: str | None = None) -> tuple[list[LayerSpec], dict[str, Lowering]]:
    """Mapper layers in topological order and the neuron lowering of every attention node.

    Args:
        graph: a ``nir.NIRGraph``.
        lowering: ``"neurons"`` or ``"core"``; None reads ``graph_lowering``.

    Returns:
        ``(layers, {attention node: Lowering})`` (the dict is empty under ``core``).

    Raises:
        ValueError: A node type no table handles (names it and the supported types), or an
            attention the neuron lowering cannot hold (``attention_lowering.plan``).
    """
    lowering = graph_lowering(graph, lowering)
    nodes = graph.nodes
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        preds[b].append(a)
    kinds = {k: type(v).__name__ for k, v in nodes.items()}
    known = POPULATIONS | ROUTING | IGNORED | set(SYNAPSES) | {"Input"}
    bad = sorted({t for t in kinds.values() if t not in known})
    if bad:
        raise ValueError(f"NIR node types {bad} have no hardware mapping; supported: {sorted(known)}")

    def sources(name: str, delayed=False) -> list[tuple[str, bool]]:
        """Neuron/Input populations reaching ``name`` through routing nodes (and whether delayed)."""
        out = []
        for p in preds[name]:
            t = kinds[p]
            if t in POPULATIONS or t == "Input":
                out.append((p, delayed))
            elif t in ROUTING:
                out += sources(p, delayed or t == "Delay")
            else:
                raise ValueError(f"edge {p!r} -> {name!r}: a {t} must feed a neuron node, not a synapse")
        return out

    specs: dict[str, LayerSpec] = {}
    before: dict[str, list[LayerSpec]] = {}  # lowered populations, emitted before the layer they feed
    lowerings: dict[str, Lowering] = {}
    order = _topo(nodes, [e for e in graph.edges if e not in _back_edges(nodes, graph.edges)])
    for name in order:
        t = kinds[name]
        if t == "Input" and not all(_drive(nodes[b]) for a, b in graph.edges if a == name):
            specs[name] = LayerSpec(name, "input", _whc(nodes[name].input_type["input"]))
        if t not in POPULATIONS:
            continue
        syn = [p for p in preds[name] if kinds[p] in SYNAPSES]
        if not syn:
            continue  # a neuron fed by nothing (not expected in exported graphs)
        if all(_drive(nodes[p]) for p in syn):  # the host writes its input into the biases: no synapses
            specs[name] = LayerSpec(name, "input", _neuron_shape(nodes[name]), meta={"synapse_nodes": []})
            continue
        # a recurrent synapse (fed by this neuron itself, e.g. snntorch's RSynaptic w_rec) adds its fan-in
        rec = [p for p in syn if any(s == name for s, _ in sources(p))]
        syn_ff = [p for p in syn if p not in rec] or syn
        infos = [(SYNAPSES[kinds[p]](nodes[p]), sources(p)) for p in syn]
        info, srcs = infos[syn.index(syn_ff[0])]
        all_src = sorted({s for _, ss in infos for s, _ in ss})
        undelayed = max(1, len({s for s, d in srcs if not d}) or len(srcs))
        fan_in = info["fan_in"] * (1 if info["kind"] == "attention" else undelayed)
        fan_in += sum(SYNAPSES[kinds[p]](nodes[p])["fan_in"] for p in rec if p not in syn_ff)
        syn_n = len(syn_ff)
        unit = t in GRADED_UNITS
        if unit:  # a graded unit sums several projections (the max-pool tree): every one is fan-in
            fan_in = sum(SYNAPSES[kinds[p]](nodes[p])["fan_in"] * max(1, len({s for s, _ in sources(p)}))
                         for p in syn)
            syn_n = 1
        first_src = specs.get(srcs[0][0]) if srcs else None
        if info["kind"] == "attention":
            if len(syn) > 1:
                raise ValueError(f"neuron {name!r} sums an attention node with {syn[1:]}: the mapper needs an "
                                 "attention node to feed its own neuron node (docs/nir-format.md)")
            node = nodes[syn[0]]
            if lowering == "neurons":
                ops = {o: _population(n, kinds, sources) for o, n in zip(OPERANDS, node.operands)}
                low = lowerings[syn[0]] = plan(syn[0], node)
                before[name] = lowered_layers(low, ops)
                specs[name] = attn_input_layer(name, _neuron_shape(nodes[name]), low, node,
                                               {"synapse_nodes": []})
                continue
            info = dict(info, hop_steps=core_hop_steps(node))
        specs[name] = LayerSpec(
            name, info["kind"], _neuron_shape(nodes[name]), fan_in=fan_in, sources=tuple(all_src),
            in_shape=first_src.out_shape if (info["shared"] and first_src) else None,
            kernel=info.get("kernel", (1, 1)), stride=info.get("stride", (1, 1)),
            padding=info.get("padding", (0, 0)), shared_weights=info["shared"] and first_src is not None,
            replicas=syn_n if info["kind"] in ("conv", "dense") else 1,
            rewritten_entries_per_neuron=info.get("rewritten", 0), weight_bits=min(8, info["bits"]),
            graded_input=any(kinds[s] in GRADED_SOURCES for s in all_src),
            meta={"synapse_nodes": syn, **({"hop_steps": info["hop_steps"]} if "hop_steps" in info else {}),
                  **({"graded_unit": "relu" if nodes[name].relu else "identity"} if unit else {})})
    layers = [ls for n in order if n in specs for ls in (*before.get(n, []), specs[n])]
    return layers, lowerings


def _population(name: str, kinds: dict, sources) -> str:
    """The neuron population behind an attention operand (through routing nodes such as Flatten)."""
    if kinds.get(name) in NEURONS:
        return name
    found = sources(name) if kinds.get(name) in ROUTING else []
    if len(found) != 1:
        raise ValueError(f"attention operand {name!r} must be one neuron node (or reach one through "
                         "Flatten/Delay); re-export the graph with ds2ta-export")
    return found[0][0]


def _back_edges(nodes, edges) -> set:
    """Edges that close a cycle (a recurrent synapse back into its neuron), found by depth-first search
    from the graph's sources; the mapper places the layer once and counts the edge as fan-in."""
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
    state: dict[str, int] = {}
    back = set()
    starts = [k for k in nodes if not any(b == k for _, b in edges)] + list(nodes)
    for root in starts:
        if root in state:
            continue
        stack = [(root, iter(succ[root]))]
        state[root] = 1
        while stack:
            n, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[n] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((n, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return back


def _topo(nodes, edges) -> list[str]:
    indeg = {k: 0 for k in nodes}
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        indeg[b] += 1
    ready = [k for k in nodes if indeg[k] == 0]
    out = []
    while ready:
        k = ready.pop(0)
        out.append(k)
        for s in succ[k]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    if len(out) != len(nodes):
        raise ValueError("the NIR graph has a cycle; the mapper needs a feed-forward graph")
    return out

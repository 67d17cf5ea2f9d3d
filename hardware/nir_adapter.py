"""NIR graph -> ``LayerSpec`` list (one layer per neuron population with its incoming synapses).

Dispatch tables name every node type handled; an unknown type raises ``ValueError``. The graph
layout follows docs/nir-format.md: synapse nodes (``Conv2d``, ``Affine``, ``Linear``,
``SumPool2d``, ``DS2TASpikeAttention``, ``DS2TABlockAttention``) feed neuron nodes (``CubaLIF``,
``LIF``, ``IF``, ``LI``, ``I``) and memoryless graded units (``DS2TAGraded``: a layer with graded input and
output, ``meta["graded_unit"]``, its fan-in the sum over the projections it adds) and sigma-delta populations
(``DS2TASigmaDelta``: graded input and output, ``meta["sigma_delta"]`` and ``meta["message_bits"]``); ``Delay`` and
``Flatten`` are routing (a Delay before a weight node makes that weight node a TASA replica); several
edges into a node are summed, so a synapse node fed by s source populations stores its weights once per
source (each source has its own axons).
NIR tensors are channel-first ``(C, H, W)``; LayerSpec shapes are ``(W, H, C)``.
An attention node becomes an opaque core (``lowering="core"``) or its neuron lowering's populations
(``"neurons"``, the default; ``attention_map.py``); ``graph_layers`` also returns the lowerings.
"""

from __future__ import annotations

import numpy as np

from . import kinds as K
from .attention_lowering import DEFAULT_LOWERING, LOWERINGS, OPERANDS, Lowering, plan
from .attention_map import attn_input_layer, core_fan_in, core_hop_steps, lowered_layers
from .chip import hop_latency
from .chip import host_drive as _drive
from .graph import GraphView, attention_lowering
from .layers import LayerSpec

ROUTING = set(K.names(K.ROUTING))
POPULATIONS = set(K.names(*K.POPULATION_ROLES))  # a layer each: neurons, threshold units, graded units
GRADED_SOURCES = set(K.names(K.GRADED_NEURON, K.GRADED_UNIT, K.SIGMA_DELTA, K.INPUT))  # graded payload out


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


def _geometry(node) -> dict:
    """The mapper's view of one synapse node: its kind's ``LinearOp.geometry``, or the opaque attention
    core's approximation, grade D (docs/hardware.md; ``attention_map.core_fan_in``)."""
    k = K.kind_of(node)
    return core_fan_in(node) if k.role == K.ATTENTION else k.op.geometry(node)


SYNAPSE_ROLES = K.LINEAR_ROLES + (K.ATTENTION,)


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
    low = attention_lowering(graph, lowering, DEFAULT_LOWERING)
    if low not in LOWERINGS:
        raise ValueError(f"attention lowering {low!r} (the graph's metadata or --attention-lowering): choose one "
                         f"of {LOWERINGS}")
    return low


def graph_latency(graph, lowerings: dict[str, Lowering]) -> int:
    """The graph's latency by the one rule (``GraphView.latency``, as both simulators count it): an
    attention node holds a step for its lowering's ``out_latency`` (``lowerings``), else its core's."""
    def buffering(n):
        low = lowerings.get(n)
        return low.out_latency if low is not None else core_hop_steps(graph.nodes[n])
    return GraphView.of(graph).latency(lambda n: hop_latency("attention", buffering(n)))


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
    view = GraphView.of(graph)
    preds = view.preds
    kinds = {k: type(v).__name__ for k, v in nodes.items()}
    for n in nodes:
        if view.role(n) == K.FLOAT_ONLY:
            raise K.refuse(n, nodes[n])
    bad = view.unknown_nodes()
    if bad:
        raise ValueError(f"node(s) {', '.join(bad)} have no hardware mapping; supported: {sorted(K.KINDS)} "
                         "(docs/architecture.md, 'Adding a node type')")
    if view.memoryless_cycle():
        raise ValueError(view.cycle_refusal())

    def sources(name: str, delayed=False) -> list[tuple[str, bool]]:
        """Populations reaching ``name`` through routing and linear nodes (and whether through a Delay)."""
        out = []
        for p in preds[name]:
            r = view.role(p)
            if t_is_population(p):
                out.append((p, delayed))
            elif r == K.ROUTING or r in K.LINEAR_ROLES or view.passes_through(p):
                out += sources(p, delayed or kinds[p] == "Delay")
            else:
                raise ValueError(f"edge {p!r} -> {name!r}: a {kinds[p]} cannot feed a synapse")
        return out

    def _size(p: str) -> int:
        shape = _neuron_shape(nodes[p]) if kinds[p] in POPULATIONS else _whc(nodes[p].input_type["input"])
        return int(np.prod(shape))

    def t_is_population(p: str) -> bool:
        return kinds[p] in POPULATIONS or view.is_boundary_input(p) or view.role(p) == K.ATTENTION

    def chain(name: str) -> list[str]:
        """The linear nodes between ``name`` and the populations feeding it (composed with it into one
        synapse layer, as Lava composes such a chain into one ``Dense``)."""
        out, stack = [], list(preds[name])
        while stack:
            p = stack.pop()
            if t_is_population(p) or p in out:
                continue
            if view.role(p) in K.LINEAR_ROLES:
                out.append(p)
            stack += preds[p]
        return out

    def feeding(name: str) -> list[str]:
        """The synapse nodes (linear or attention) feeding population ``name``, directly or through routing."""
        out, stack = [], list(preds[name])
        while stack:
            p = stack.pop()
            if view.role(p) in SYNAPSE_ROLES:
                out.append(p) if p not in out else None
            elif not t_is_population(p) and (view.role(p) == K.ROUTING or view.passes_through(p)):
                stack += preds[p]
        return out[::-1]

    def geometry(p: str) -> dict:
        """A synapse node's geometry; a chain of linear nodes ending at it is one dense matrix over its
        source populations (what Lava builds for it)."""
        up = chain(p) if view.role(p) in K.LINEAR_ROLES else []
        if not up:
            return _geometry(nodes[p])
        n_in = max(_size(s) for s, _ in sources(p))
        return {"kind": "dense", "fan_in": n_in, "shared": False, "bits": 8}

    specs: dict[str, LayerSpec] = {}
    before: dict[str, list[LayerSpec]] = {}  # lowered populations, emitted before the layer they feed
    lowerings: dict[str, Lowering] = {}
    order = view.order
    for name in order:
        t = kinds[name]
        if view.is_boundary_input(name) and not all(_drive(nodes[b]) for b in view.succs[name]):
            specs[name] = LayerSpec(name, "input", _whc(nodes[name].input_type["input"]))
        if t not in POPULATIONS:
            continue
        syn = feeding(name)
        if not syn:
            continue  # a neuron fed by nothing (not expected in exported graphs)
        if all(_drive(nodes[p]) for p in syn):  # the host writes its input into the biases: no synapses
            specs[name] = LayerSpec(name, "input", _neuron_shape(nodes[name]), meta={"synapse_nodes": []})
            continue
        # a recurrent synapse (fed by this neuron itself, e.g. snntorch's RSynaptic w_rec) adds its fan-in
        rec = [p for p in syn if any(s == name for s, _ in sources(p))]
        syn_ff = [p for p in syn if p not in rec] or syn
        infos = [(geometry(p), sources(p)) for p in syn]
        info, srcs = infos[syn.index(syn_ff[0])]
        all_src = sorted({s for _, ss in infos for s, _ in ss})
        undelayed = max(1, len({s for s, d in srcs if not d}) or len(srcs))
        fan_in = info["fan_in"] * (1 if info["kind"] == "attention" else undelayed)
        fan_in += sum(geometry(p)["fan_in"] for p in rec if p not in syn_ff)
        syn_n = len(syn_ff)
        unit = view.role(name) == K.GRADED_UNIT
        if unit:  # a graded unit sums several projections (the max-pool tree): every one is fan-in
            fan_in = sum(geometry(p)["fan_in"] * max(1, len({s for s, _ in sources(p)}))
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
            meta={"synapse_nodes": syn + [c for p in syn for c in chain(p)], **({"hop_steps": info["hop_steps"]} if "hop_steps" in info else {}),
                  **({"graded_unit": "relu" if nodes[name].relu else "identity"} if unit else {}),
                  **(_sigma_delta_meta(nodes[name]) if view.role(name) == K.SIGMA_DELTA else {})})
    layers = [ls for n in order if n in specs for ls in (*before.get(n, []), specs[n])]
    return layers, lowerings


def _sigma_delta_meta(node) -> dict:
    """A sigma-delta layer's entry in ``meta``: its mode and the payload bits of its graded messages (the node's
    ``metadata["num_message_bits"]``, netx's 16 for an SDNN; 24, the chip's graded spike, when absent)."""
    bits = int((getattr(node, "metadata", None) or {}).get("num_message_bits", 24))
    return {"sigma_delta": node.mode, "message_bits": bits}


def _population(name: str, kinds: dict, sources) -> str:
    """The neuron population behind an attention operand (through routing nodes such as Flatten)."""
    if kinds.get(name) in K.names(K.NEURON, K.GRADED_NEURON):
        return name
    found = sources(name) if kinds.get(name) in ROUTING else []
    if len(found) != 1:
        raise ValueError(f"attention operand {name!r} must be one neuron node (or reach one through "
                         "Flatten/Delay); re-export the graph with ds2ta-export")
    return found[0][0]

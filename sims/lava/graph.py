"""NIR graph -> populations, projections and a hardware-faithful schedule (no Lava import).

A *population* is a group of units that emits one value per step: the graph ``Input`` (graded
payload), every neuron node (binary spikes) and every extension node that emits (attention core).
A *projection* is a path from one population through memoryless nodes (``Affine``, ``Linear``,
``Conv2d``, ``SumPool2d``, ``Scale``, ``Flatten``, ``Delay``, subgraph ``Input``/``Output``) to the
input of another population. Several edges into one node are summed (NIR), so a node with two inputs
is distributed over two projections: ``W (a + b) = W a + W b``.

Timing (Loihi / Lava, see ``docs/simulation.md``): every synapse layer delays by one step. With the
graph ``Input`` emitting sample step ``t`` at Lava step ``t`` (depth 0), a population's *depth* is
the Lava step at which it emits its own step 0 (``GraphView.depths``, the one latency rule)::

    depth(dst) = max over feed-forward projections p into dst of
                 depth(src_p) + out_latency(src_p) + synapse_steps(p)

and each shorter projection gets ``align = depth(dst) - arrival(p)`` extra steps so that paths that
meet are aligned. A NIR ``Delay`` of k steps is added on top (``total_delay = delay + align``): the
destination's step t then sees the source's step t - k, as in the reference, and the relay zeroes the
k source steps that would wrap into the next sample. A projection that closes a cycle (recurrent edge) keeps exactly its one
step (+ NIR delay): it carries ``s[t - 1 - delay]``, the same as the integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from ds2ta.export.nir_io import flatten_graph
from ds2ta.hardware import chip, kinds
from ds2ta.hardware.graph import GraphView
from ds2ta.sims.lava.ops import apply_linear, typed_linear


@dataclass
class Population:
    """A group of units emitting one value per step.

    Attributes:
        name: NIR node name (subgraph members as ``"sub.node"``).
        node: the NIR node.
        kind: ``"input"``, ``"neuron"`` or ``"extension"``.
        size: number of units (flattened in NIR's C order).
        depth: Lava step (0-based, within a sample period) at which it emits its step 0.
        ports: input port names (``["input"]`` for neurons, operand names for extension nodes).
        out_latency: steps from receiving its step-j inputs to emitting step j (0 for neurons; an
            attention core buffers like a synapse: 1, STAtten's block core: ``chunk``).
    """

    name: str
    node: nir.NIRNode
    kind: str
    size: int
    depth: int = 0
    ports: list[str] = field(default_factory=lambda: ["input"])
    out_latency: int = 0  # extra steps between receiving step j and emitting it (attention cores)
    biases: list = field(default_factory=list)  # [(first sample step, (size,) int64 synaptic units)]


@dataclass
class Projection:
    """A path src population -> memoryless nodes -> dst population port.

    Attributes:
        src: source population name.
        dst: destination population name.
        port: destination input port.
        ops: the linear nodes along the path, in order, as ``(name, node)``.
        delay: sum of the NIR ``Delay`` steps along the path (zero-padded at the sample start).
        align: extra steps of delay added so that paths meeting at ``dst`` are aligned.
        recurrent: the path closes a cycle (carries the previous step).
    """

    src: str
    dst: str
    port: str
    ops: list[tuple[str, nir.NIRNode]]
    delay: int = 0
    align: int = 0
    recurrent: bool = False
    src_shape: tuple = ()  # the source population's unflattened output shape
    op_delays: list = field(default_factory=list)  # NIR Delay steps met before each op (parallel to ops)

    @property
    def total_delay(self) -> int:
        """Steps from the source's emission to the destination's update, minus the synapse step."""
        return self.delay + self.align


def flatten_shape(node: nir.Flatten, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Shape after a NIR ``Flatten`` (dims ``start_dim..end_dim`` of the batch-free shape merged);
    the flat C-order vector is unchanged, so only later Conv2d/SumPool2d nodes see the difference."""
    nd = len(shape)
    a, b = int(node.start_dim), int(node.end_dim)
    a, b = a + nd if a < 0 else a, b + nd if b < 0 else b
    if not (0 <= a <= b < nd):
        return (int(np.prod(shape)),)
    return tuple(shape[:a]) + (int(np.prod(shape[a:b + 1])),) + tuple(shape[b + 1:])


def node_size(node: nir.NIRNode) -> int:
    """Number of output units of a node, from its output type."""
    shapes = [np.asarray(s) for s in node.output_type.values()]
    if not shapes or any(s.size == 0 for s in shapes):
        raise ValueError(f"{type(node).__name__} node has no output shape: write per-neuron parameter "
                         "arrays (not scalars) so NIR can infer the shape")
    return int(np.prod(shapes[0]))


class Schedule:
    """Populations, projections, depths and alignment delays of one flattened NIR graph.

    Args:
        graph: the NIR graph.
        extension_ports: ``{type_name: [port, ...]}`` for extension populations (operands are named
            by the edge's target port ``"node.port"``; a plain edge goes to port ``"input"``).
    """

    def __init__(self, graph: nir.NIRGraph, extension_ports: dict[str, list[str]] | None = None,
                 extension_latency: dict | None = None):
        ext = extension_ports or {}
        lat = extension_latency or {}
        self.nodes, self.edges = flatten_graph(graph)
        # an edge into an extension node's port ("node.port") is an edge into the node
        self.view = GraphView(self.nodes, [(a, b if b in self.nodes else b.rpartition(".")[0]) for a, b in self.edges])
        self.populations: dict[str, Population] = {}
        self.outputs: list[str] = []  # populations feeding the top-level Output nodes
        unknown = []
        for name, node in self.nodes.items():
            tname, role = type(node).__name__, self.view.role(name)
            if self.view.is_boundary_input(name):
                self.populations[name] = Population(name, node, "input", node_size(node))
            elif role in kinds.POPULATION_ROLES:
                self.populations[name] = Population(name, node, "neuron", node_size(node))
            elif tname in ext:
                buffering = int(lat[tname](node)) if tname in lat else None
                self.populations[name] = Population(name, node, "extension", node_size(node),
                                                    ports=list(ext[tname]),
                                                    out_latency=chip.hop_latency("attention", buffering))
            elif role == kinds.FLOAT_ONLY:  # the same refusal as the reference's
                raise kinds.refuse(name, node)
            elif role not in kinds.LINEAR_ROLES + (kinds.ROUTING, kinds.INPUT, kinds.OUTPUT):
                unknown.append(f"{name} ({tname})")
        if unknown:
            raise ValueError(f"no Lava mapping for node(s): {', '.join(unknown)}. Supported: "
                             f"{sorted(set(kinds.KINDS) - set(kinds.names(kinds.FLOAT_ONLY, kinds.ATTENTION)))}"
                             f" and extension types {sorted(ext)} (docs/architecture.md, 'Adding a node type')")
        if not any(p.kind == "input" for p in self.populations.values()):
            raise ValueError("the graph has no top-level Input node")
        if self.view.memoryless_cycle():
            raise ValueError(self.view.cycle_refusal())
        self.projections = self._trace()
        self._schedule()
        self._biases()

    # -- structure ------------------------------------------------------------------------------
    def _targets(self, name: str) -> list[str]:
        return [b for a, b in self.edges if a == name]

    def _resolve(self, target: str) -> tuple[str, str] | None:
        """A target that is a population (or a port ``"pop.port"`` of one) -> (pop, port)."""
        if target in self.populations:
            return target, "input"
        head, _, port = target.rpartition(".")
        if head in self.populations and self.populations[head].kind == "extension":
            return head, port
        return None

    def _trace(self) -> list[Projection]:
        projections = []
        for src in self.populations:
            src_shape = tuple(int(v) for v in np.asarray(next(iter(self.nodes[src].output_type.values()))).reshape(-1))
            stack = [(t, [], 0, src_shape, [], (src, t) in self.view.delayed) for t in self._targets(src)]
            while stack:
                name, ops, delay, shape, op_delays, back = stack.pop()
                hit = self._resolve(name)
                if hit is not None:
                    port = hit[1]
                    operands = getattr(self.populations[hit[0]].node, "operands", None)
                    if self.populations[hit[0]].kind == "extension" and port == "input" and operands:
                        if src not in operands:
                            raise ValueError(f"edge {src!r} -> {hit[0]!r}: {src!r} is not one of the "
                                             f"node's operands {list(operands)}")
                        port = self.populations[hit[0]].ports[list(operands).index(src)]
                    projections.append(Projection(src, hit[0], port, ops, delay, recurrent=back,
                                                  src_shape=src_shape, op_delays=op_delays))
                    continue
                node = self.nodes[name]
                if isinstance(node, nir.Output) and not self._targets(name):
                    if not ops and delay == 0:
                        self.outputs.append(src)
                    continue
                role = self.view.role(name)
                if isinstance(node, nir.Delay):
                    d = np.unique(np.asarray(node.delay))
                    if d.size != 1 or d[0] < 0 or d[0] != int(d[0]):
                        raise ValueError(f"Delay node {name!r}: one non-negative integer delay (in steps) "
                                         f"per node is supported, got {node.delay}")
                    delay += int(d[0])
                elif role in kinds.LINEAR_ROLES:
                    typed, shape = typed_linear(name, node, shape)  # fills in types some writers omit
                    ops, op_delays = ops + [(name, typed)], op_delays + [delay]
                elif isinstance(node, nir.Flatten):
                    shape = flatten_shape(node, shape)
                stack += [(t, ops, delay, shape, op_delays, back or (name, t) in self.view.delayed)
                          for t in self._targets(name)]
        for p in projections:
            if p.port not in self.populations[p.dst].ports:
                raise ValueError(f"edge into {p.dst!r} port {p.port!r}: that node has ports "
                                 f"{self.populations[p.dst].ports}")
        return projections

    def _schedule(self) -> None:
        """Recurrent projections (those holding an edge ``GraphView`` delays), depths by the one latency
        rule (``GraphView.depths``), alignment delays."""
        incoming = {n: [p for p in self.projections if p.dst == n] for n in self.populations}
        order = [n for n in self.view.order if n in self.populations]
        for p in self.projections:
            if p.recurrent and p.src != p.dst:
                raise ValueError(f"cycle through {p.src!r} -> {p.dst!r} spans more than one neuron layer: the "
                                 "chip's one-step synapses cannot give it the one-step semantics of the "
                                 "reference; only self-recurrent populations are supported")
        ff = {n: [p for p in incoming[n] if not p.recurrent] for n in order}
        for n in order:
            if self.populations[n].kind != "input" and not ff[n]:
                raise ValueError(f"population {n!r} is reached only through recurrent edges")
        depth = self.view.depths(lambda n: self.populations[n].out_latency)
        for n in order:
            self.populations[n].depth = depth[n]
        for n in order:
            for p in ff[n]:
                p.align = depth[n] - self.arrival(p)

    def _biases(self) -> None:
        """Synapse biases (Affine/Conv2d ``bias``) into each population, in synaptic units, with the
        first sample step at which the reference adds them.

        NIR sums the inputs of a node before applying it, so a bias on a node shared by several
        projections into the same population counts once. A bias met before ``k`` NIR ``Delay`` steps
        arrives from step ``k`` (the Delay emits zeros before), one on a recurrent path one step later
        still (the reference feeds the cycle's last edge ``y[t - 1]``, zero at ``t = 0``).
        """
        found: dict = {}
        for p in self.projections:
            for i, (nm, nd) in enumerate(p.ops):
                b = getattr(nd, "bias", None)
                if b is None or not np.any(np.asarray(b)):
                    continue
                n_in = int(np.prod(np.asarray(nd.input_type["input"])))
                y = apply_linear(nm, nd, np.zeros((1, n_in), np.int64))
                e = chip.weight_exp(nd)
                if e < 0 and np.any(y % (1 << -e)):
                    raise ValueError(f"{nm}: with weight_exp {e} the bias must be a multiple of 2^{-e} "
                                     "(then (W x + b) >> -e = (W x >> -e) + b >> -e, as Lava adds it)")
                y = chip.apply_weight_exp(y, e)
                for nm2, nd2 in p.ops[i + 1:]:
                    y = apply_linear(nm2, nd2, y) - apply_linear(nm2, nd2, np.zeros_like(y))
                start = p.delay - p.op_delays[i] + int(p.recurrent)
                key = (nm, tuple(n for n, _ in p.ops[i + 1:]), p.dst)
                found[key] = (min(start, found[key][0]) if key in found else start, y[0])
        for (_, _, dst), (start, vec) in found.items():
            self.populations[dst].biases.append((start, vec))

    # -- queries --------------------------------------------------------------------------------
    def synapse_steps(self, p: Projection) -> int:
        """1 when the projection has a synapse layer in Lava (Dense/Conv), 0 when wired directly
        (into an attention core's operand port, or out of a core straight into a neuron)."""
        src, dst = self.populations[p.src], self.populations[p.dst]
        if dst.kind == "extension" or (src.kind == "extension" and not p.ops):
            return 0
        return chip.SYNAPSE_DELAY

    def arrival(self, p: Projection) -> int:
        """Lava step (within a period) at which ``p`` would deliver its source's step 0 without NIR delays
        and alignment. A NIR ``Delay`` is part of the computation (TASA's offsets), not of the pipeline:
        it shifts its path by ``delay`` steps on top of the alignment."""
        src = self.populations[p.src]
        return src.depth + src.out_latency + self.synapse_steps(p)

    @property
    def depth(self) -> int:
        """Pipeline depth: Lava steps from the input's step 0 to the deepest population's step 0."""
        return max(p.depth for p in self.populations.values())

    def incoming(self, name: str) -> list[Projection]:
        """Projections into population ``name``."""
        return [p for p in self.projections if p.dst == name]

    def input_name(self) -> str:
        """Name of the (single) top-level input population."""
        names = [n for n, p in self.populations.items() if p.kind == "input"]
        if len(names) != 1:
            raise ValueError(f"exactly one top-level Input node is supported, found {names}")
        return names[0]

"""One view of a NIR graph for every consumer: kinds, neighbours, order, cycles, reachability, latency,
and the graph's metadata (docs/architecture.md, "Graph view").

The reference and float executors, Lava's schedule and counters, the mapper and the quantizer all read a
graph through ``GraphView``: one topological order, one rule for which edges close a cycle, one rule for
what reaches a node, one latency rule. Graph-level metadata is read through the accessors at the end
(``graph_T``, ``graph_dt``, ``attention_lowering``, ``dataset_name``, ``conventions``), never as raw dict
lookups. numpy only; the graph is a ``nir.NIRGraph`` or its flattened ``(nodes, edges)``.

Rules:

- **Cycles.** A depth-first search from the nodes without inputs (then from any node left, in insertion
  order) marks every edge back onto the search stack as *delayed*: it carries the previous step (a
  recurrent synapse); the rest is the feed-forward graph.
- **Order.** Kahn's order of the feed-forward graph, first-in first-out, insertion order breaking ties.
- **Latency.** A *population* emits one value per step (a node of a population role, an attention node,
  a node without inputs). Everything between two populations is one *projection*: its linear nodes
  compose into one synaptic matrix, so the chain adds ``chip.SYNAPSE_DELAY`` once. A projection into an
  attention node's operand is wired without a synapse (0 steps); one out of an attention node with no
  linear node on it reaches its neuron directly (0); a direct population -> population edge is an
  identity synapse (1). What leaves an attention node leaves ``buffering`` steps later. NIR ``Delay`` is
  part of the computation, not of the pipeline; delayed edges are left out::

      depth(pop) = max over projections p into pop of depth(src_p) + buffering(src_p) + steps(p)
      latency    = max over populations of depth(pop)
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

import numpy as np

from . import kinds as K
from .chip import SYNAPSE_DELAY

Edge = Tuple[str, str]


class GraphView:
    """Neighbours, kinds, order and delayed edges of one graph (its nodes as given: flatten subgraphs
    first with ``ds2ta.export.nir_io.flatten_graph``).

    Raises:
        ValueError: an edge naming a node that is not in the graph.
    """

    def __init__(self, nodes: Dict[str, object], edges: Iterable[Edge]):
        self.nodes = dict(nodes)
        self.edges: List[Edge] = [tuple(e) for e in edges]
        self.preds: Dict[str, List[str]] = {n: [] for n in self.nodes}
        self.succs: Dict[str, List[str]] = {n: [] for n in self.nodes}
        for a, b in self.edges:
            if a not in self.nodes or b not in self.nodes:
                raise ValueError(f"edge ({a!r} -> {b!r}) names a node that is not in the graph")
            self.preds[b].append(a)
            self.succs[a].append(b)
        self.delayed: Set[Edge] = self._back_edges()
        self.order: List[str] = self._topo()

    @classmethod
    def of(cls, graph) -> "GraphView":
        """The view of a ``nir.NIRGraph`` as it is (subgraphs not flattened)."""
        return cls(graph.nodes, graph.edges)

    # -- kinds ----------------------------------------------------------------------------------
    def type(self, n: str) -> str:
        return type(self.nodes[n]).__name__

    def kind(self, n: str) -> Optional[K.Kind]:
        return K.KINDS.get(self.type(n))

    def role(self, n: str) -> Optional[str]:
        k = self.kind(n)
        return k.role if k else None

    def unknown_nodes(self) -> List[str]:
        """``"name (Type)"`` of every node whose type the kind table does not hold."""
        return [f"{n} ({self.type(n)})" for n in self.nodes if self.kind(n) is None]

    def is_boundary_input(self, n: str) -> bool:
        """The graph's own Input (a subgraph's Input has an edge into it and is an identity)."""
        return self.role(n) == K.INPUT and not self.preds[n]

    def is_boundary_output(self, n: str) -> bool:
        return self.role(n) == K.OUTPUT and not self.succs[n]

    def inputs(self) -> List[str]:
        return [n for n in self.order if self.is_boundary_input(n)]

    def outputs(self) -> List[str]:
        return [n for n in self.order if self.is_boundary_output(n)]

    def passes_through(self, n: str) -> bool:
        """A routing node, or a subgraph's own Input/Output (an identity with an input edge)."""
        r = self.role(n)
        return r == K.ROUTING or (r in (K.INPUT, K.OUTPUT) and bool(self.preds[n]))

    def is_population(self, n: str) -> bool:
        """Emits one value per step: a population role, an attention node, or a node without inputs."""
        return self.role(n) in K.POPULATION_ROLES + (K.ATTENTION,) or not self.preds[n]

    # -- structure ------------------------------------------------------------------------------
    def _back_edges(self) -> Set[Edge]:
        state: Dict[str, int] = {}
        back: Set[Edge] = set()
        starts = [n for n in self.nodes if not self.preds[n]] + list(self.nodes)
        for root in starts:
            if root in state:
                continue
            stack = [(root, iter(self.succs[root]))]
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
                    stack.append((nxt, iter(self.succs[nxt])))
        return back

    def _topo(self) -> List[str]:
        indeg = {n: 0 for n in self.nodes}
        for a, b in self.edges:
            if (a, b) not in self.delayed:
                indeg[b] += 1
        ready = [n for n in self.nodes if indeg[n] == 0]
        out: List[str] = []
        while ready:
            n = ready.pop(0)
            out.append(n)
            for s in self.succs[n]:
                if (n, s) in self.delayed:
                    continue
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        return out

    def feed_forward_preds(self, n: str) -> List[str]:
        return [p for p in self.preds[n] if (p, n) not in self.delayed]

    def memoryless_cycle(self) -> Optional[List[str]]:
        """A cycle through no population (it would have no step to carry), as a node list, or None."""
        for a, b in sorted(self.delayed):
            path = self._path(b, a, lambda m: not self.is_population(m))
            if path is not None and not self.is_population(a) and not self.is_population(b):
                return path + [b]
        return None

    def _path(self, src: str, dst: str, ok: Callable[[str], bool]) -> Optional[List[str]]:
        """A path src -> dst through nodes where ``ok`` holds (src and dst included), or None."""
        prev, stack = {src: None}, [src]
        while stack:
            n = stack.pop()
            if n == dst:
                path = [n]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return path[::-1]
            for s in self.succs[n]:
                if s not in prev and ok(s):
                    prev[s] = n
                    stack.append(s)
        return None

    def spike_fed(self, n: str, spiking: Callable[[str], bool]) -> bool:
        """Every path into ``n`` starts at a node for which ``spiking`` holds, through pass-through nodes
        (routing, a subgraph's Input/Output): its input is a spike count, not a graded payload."""
        stack, seen = list(self.preds[n]), set()
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            if spiking(p):
                continue
            if self.passes_through(p):
                stack.extend(self.preds[p])
                continue
            return False
        return True

    def projections_into(self, n: str) -> List[Tuple[str, List[str], bool]]:
        """``(source population, memoryless nodes from it to n in order, delayed)`` for every path from a
        population into ``n`` through memoryless nodes (routing, linear, subgraph identities)."""
        out: List[Tuple[str, List[str], bool]] = []
        stack = [(p, [], (p, n) in self.delayed) for p in self.preds[n]]
        while stack:
            p, chain, delayed = stack.pop()
            if self.is_population(p) or not self.preds[p]:
                out.append((p, chain[::-1], delayed))
                continue
            if len(chain) > len(self.nodes):
                raise ValueError(self.cycle_refusal())
            stack += [(q, chain + [p], delayed or (q, p) in self.delayed) for q in self.preds[p]]
        return out[::-1]

    def cycle_refusal(self) -> str:
        cyc = self.memoryless_cycle() or []
        return (f"the cycle {' -> '.join(cyc)} runs through no neuron: a cycle needs a neuron (a population) "
                "to carry its step")

    # -- latency (the one rule, see the module docstring) ---------------------------------------
    def depths(self, buffering: Callable[[str], int] = lambda n: 0) -> Dict[str, int]:
        """Depth of every population (``buffering(n)``: steps an attention node holds a step)."""
        att = lambda n: self.role(n) == K.ATTENTION
        depth: Dict[str, int] = {}
        reach: Dict[str, Dict[Tuple[bool, bool], int]] = {}
        for n in self.order:
            arrivals: Dict[Tuple[bool, bool], int] = {}
            for p in self.feed_forward_preds(n):
                if self.is_population(p):
                    came = {(False, att(p)): depth[p] + (int(buffering(p)) if att(p) else 0)}
                else:
                    came = reach[p]
                for key, d in came.items():
                    arrivals[key] = max(arrivals.get(key, d), d)
            if self.is_population(n):
                steps = [d + (0 if att(n) or (src_att and not linear) else SYNAPSE_DELAY)
                         for (linear, src_att), d in arrivals.items()]
                depth[n] = max(steps, default=0)
            else:
                lin = self.role(n) in K.LINEAR_ROLES
                reach[n] = {}
                for (linear, src_att), d in arrivals.items():
                    key = (linear or lin, src_att)
                    reach[n][key] = max(reach[n].get(key, d), d)
        return depth

    def latency(self, buffering: Callable[[str], int] = lambda n: 0) -> int:
        """Chip steps from the input's step 0 to the deepest population's step 0."""
        return max(self.depths(buffering).values(), default=0)


# -- graph metadata (docs/nir-format.md, "Graph metadata") ---------------------------------------
def metadata(graph) -> dict:
    """The graph's metadata dict ({} when absent or not a dict)."""
    meta = getattr(graph, "metadata", None)
    return meta if isinstance(meta, dict) else {}


def conventions(graph) -> dict:
    """``metadata["conventions"]`` ({} when absent): dt, T, input gain, scales."""
    c = metadata(graph).get("conventions")
    return c if isinstance(c, dict) else {}


def graph_dt(graph) -> Optional[float]:
    """The time step the graph's float dynamics were written for, None when unrecorded."""
    dt = conventions(graph).get("dt")
    return None if dt is None else float(dt)


def graph_T(graph) -> Optional[int]:
    """Time steps per sample the graph was exported for, None when unrecorded."""
    T = conventions(graph).get("T")
    return None if T is None else int(np.asarray(T))


def attention_lowering(graph, override: Optional[str] = None, default: Optional[str] = None) -> Optional[str]:
    """``override``, else ``metadata["attention_lowering"]``, else ``default``."""
    return override or metadata(graph).get("attention_lowering") or default


def dataset_name(graph) -> Optional[str]:
    """``metadata["dataset"]["name"]``: the dataset the graph was exported with, None when unrecorded."""
    d = metadata(graph).get("dataset")
    return d.get("name") if isinstance(d, dict) else None


def target_name(graph) -> Optional[str]:
    """``metadata["target"]``: the export target (``ds2ta.export.targets``), None when unrecorded."""
    return metadata(graph).get("target")

"""Latency of an integer NIR graph on the chip, counted per projection as the Lava backend counts it.

A *population* is a node that holds state and emits one value per step: a neuron node
(``chip.POPULATIONS``) or an attention node. Everything between two populations (``Affine``, ``Conv2d``,
``SumPool2d``, ``Scale``, ``Flatten``, ``Delay``, subgraph ``Input``/``Output``) is one *projection*:
its linear nodes compose into one synaptic matrix, so the whole chain adds ``chip.SYNAPSE_DELAY`` once
(``SumPool2d -> Flatten -> Affine`` is one synapse layer, not two). A projection into an attention node's
operand is wired without a synapse (0 steps); one out of an attention node with no linear node on it
reaches its neuron directly (0 steps); a direct neuron -> neuron edge is an identity synapse (1 step).
What leaves an attention node leaves ``buffering`` steps later (``chip.hop_latency``). NIR ``Delay`` is
part of the computation, not of the pipeline, and recurrent edges are left out::

    depth(pop) = max over projections p into pop of depth(src_p) + buffering(src_p) + steps(p)
    latency    = max over populations of depth(pop)

This is ``sims/lava/graph.py``'s ``Schedule`` rule, so ``--compare`` can require both latencies equal.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Set, Tuple

from ds2ta.hardware import chip

LINEAR = ("Affine", "Linear", "Conv2d", "SumPool2d", "Scale")


def graph_latency(order: Iterable[str], nodes: Dict[str, object], preds: Dict[str, List[str]],
                  delayed: Set[Tuple[str, str]], buffering: Callable[[str], int],
                  is_attention: Callable[[str], bool]) -> int:
    """Chip steps from the input's step 0 to the deepest population's step 0.

    Args:
        order: node names in topological order (of the graph without ``delayed`` edges).
        nodes: name -> NIR node.
        preds: name -> names of the nodes feeding it.
        delayed: edges that close a cycle (left out).
        buffering: steps an attention node holds a step (``chip.hop_latency("attention", ...)``).
        is_attention: whether a node is an attention node (a population with operand ports).
    """
    def population(n):
        return type(nodes[n]).__name__ in chip.POPULATIONS or is_attention(n) or not preds[n]

    # (depth of the projection's source, whether a linear node lies on it, source is attention) per
    # memoryless node and path; the longest path wins, so keep the max arrival of each kind
    depth: Dict[str, int] = {}
    reach: Dict[str, Dict[Tuple[bool, bool], int]] = {}
    for n in order:
        arrivals: Dict[Tuple[bool, bool], int] = {}
        for p in preds[n]:
            if (p, n) in delayed:
                continue
            if population(p):
                came = {(False, is_attention(p)): depth[p] + (buffering(p) if is_attention(p) else 0)}
            else:
                came = reach[p]
            for key, d in came.items():
                arrivals[key] = max(arrivals.get(key, d), d)
        if population(n):
            steps = [d + (0 if is_attention(n) or (src_att and not linear) else chip.SYNAPSE_DELAY)
                     for (linear, src_att), d in arrivals.items()]
            depth[n] = max(steps, default=0)
        else:
            lin = type(nodes[n]).__name__ in LINEAR
            reach[n] = {}
            for (linear, src_att), d in arrivals.items():
                key = (linear or lin, src_att)
                reach[n][key] = max(reach[n].get(key, d), d)
    return max(depth.values(), default=0)

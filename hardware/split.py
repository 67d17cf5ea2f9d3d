"""Fan-in splitting: partial-sum compartments on several cores, summed by a merge compartment.

A dense (unshared-weight) neuron whose synapses exceed one core (synaptic memory or fan-in axons)
is computed in two stages, the way a graded-spike chip can do it:

1. **Partial sums.** The neuron's inputs are cut into ``G`` contiguous groups of at most
   ``g_max = min(fan_in_axons, synapses_per_core // replicas)`` inputs (balanced: sizes differ by
   at most one). ``G`` is the smallest count in ``[G_min, 4 G_min]`` (``G_min = ceil(fan_in /
   g_max)``) that minimises the layer's total cores (smaller groups pack more compartments per
   core but need more merge inputs). For every output neuron and group there is one partial-sum compartment that holds
   that group's synapses and, every step, sends its accumulated input as a *graded spike* (an
   integer payload; Loihi 2 graded spikes carry up to 32 bits, Intel brief 2021, V). Group ``j``'s
   compartments are packed ``min(neurons_per_core, synapses_per_core // (g_j * replicas))`` per
   core; every core of a group receives the group's ``g_j`` input axons.
2. **Merge.** The original neuron (its LIF dynamics, threshold, reset) lives on a merge core and
   receives its ``G`` partial sums as graded inputs of weight 1: ``G`` synapse entries and ``G``
   input axons per neuron, so ``min(neurons_per_core, synapses_per_core // G, fan_in_axons // G)``
   neurons per merge core.

The partial sums arrive one step later, so each split adds one chip step of latency on its path
(``Mapping.merge_latency_steps``). One split stage handles a fan-in up to ``g_max * min(
fan_in_axons, synapses_per_core)`` synapses; beyond that ``MappingError`` names the layer.

Why this scheme (grade D): no public Loihi 2 document describes how Intel's compiler handles a
fan-in beyond one core. Loihi 1's documented mechanism for summing inputs, multi-compartment
dendritic joins (Davies et al. 2018), keeps all compartments of a neuron on one core, so it cannot
escape the per-core synaptic memory; Loihi 2's graded spikes make a cross-core partial sum a
two-layer network of ordinary compartments, which any Lava program can express.
"""

from __future__ import annotations

import math

from .core import CoreSpec
from .layers import LayerSpec
from .rules import MappingError, rule_synaptic_memory

SPLITTABLE = ("dense", "readout")
METHOD = ("fan-in split: partial-sum compartments send graded spikes (integer payload) to a merge "
          "compartment on another core; +1 step latency (grade D: no published Loihi 2 compiler scheme)")


def needs_split(ls: LayerSpec, spec: CoreSpec) -> bool:
    """Whether one neuron of an unshared-weight layer exceeds one core's memory or fan-in."""
    if ls.shared_weights or ls.kind not in SPLITTABLE:
        return False
    return ls.entries_per_neuron > spec.synapses_per_core or ls.fan_in > spec.fan_in_axons.value


def max_split_fan_in(ls: LayerSpec, spec: CoreSpec) -> int:
    """Largest fan-in one partial-sum stage can handle for this layer's replicas."""
    g_max = min(int(spec.fan_in_axons.value), spec.synapses_per_core // ls.replicas)
    return g_max * min(int(spec.fan_in_axons.value), spec.synapses_per_core)


def _balanced(fan_in: int, G: int) -> list[int]:
    return [fan_in // G + (1 if j < fan_in % G else 0) for j in range(G)]


def _cores(ls: LayerSpec, spec: CoreSpec, sizes: list[int]) -> tuple[list[int], int]:
    """(compartments per partial core for each group, merge neurons per core)."""
    npc, spc, G = int(spec.neurons_per_core.value), spec.synapses_per_core, len(sizes)
    per = [min(npc, spc // (g * ls.replicas)) for g in sizes]
    return per, min(npc, spc // G, int(spec.fan_in_axons.value) // G)


def _total_cores(ls: LayerSpec, spec: CoreSpec, sizes: list[int]) -> int:
    per, merge = _cores(ls, spec, sizes)
    return sum(math.ceil(ls.neurons / p) for p in per) + math.ceil(ls.neurons / merge)


def group_sizes(ls: LayerSpec, spec: CoreSpec) -> list[int]:
    """Balanced partial-sum group sizes of a layer that needs splitting (fewest total cores).

    Raises:
        MappingError: One synapse's replicas exceed a core, or the fan-in exceeds what one
            partial-sum stage can merge.
    """
    axons, spc = int(spec.fan_in_axons.value), spec.synapses_per_core
    g_max = min(axons, spc // ls.replicas)
    if g_max < 1:
        rule_synaptic_memory(ls.name, ls.replicas, spec)      # raises: one input's replicas do not fit
    limit = max_split_fan_in(ls, spec)
    if ls.fan_in > limit:
        raise MappingError(ls.name, "fan-in per neuron (one partial-sum split stage)", limit, ls.fan_in,
                           "synapses", f"At most {g_max} inputs per partial-sum group and "
                           f"{min(axons, spc)} groups per merge neuron: reduce the layer's fan-in "
                           f"(e.g. pool tokens before the head).")
    g_min = math.ceil(ls.fan_in / g_max)
    best = None
    for G in range(g_min, min(4 * g_min, min(axons, spc), ls.fan_in) + 1):
        sizes = _balanced(ls.fan_in, G)
        cost = _total_cores(ls, spec, sizes)
        if best is None or cost < best[0]:
            best = (cost, sizes)
    return best[1]


def partition_split(ls: LayerSpec, spec: CoreSpec) -> tuple[list[tuple], str]:
    """Parts ``(cols, chans, neurons, entries, fan_in_axons, extra)`` of partial and merge cores.

    ``extra`` is ``{"role": "partial"|"merge", "group": (lo, hi)}``: the input range [lo, hi) a
    partial core sums, or ``(0, G)`` for a merge core.
    """
    sizes = group_sizes(ls, spec)
    G, n = len(sizes), ls.neurons
    pers, merge_per = _cores(ls, spec, sizes)
    parts, lo = [], 0
    for g, per in zip(sizes, pers):
        for c0 in range(0, n, per):
            c1 = min(n, c0 + per)
            parts.append(((0, 1), (c0, c1), c1 - c0, (c1 - c0) * g * ls.replicas, g,
                          {"role": "partial", "group": (lo, lo + g)}))
        lo += g
    for c0 in range(0, n, merge_per):
        c1 = min(n, c0 + merge_per)
        parts.append(((0, 1), (c0, c1), c1 - c0, (c1 - c0) * G, (c1 - c0) * G,
                      {"role": "merge", "group": (0, G)}))
    return parts, "fan-in split"


def split_record(ls: LayerSpec, cores: list, spec: CoreSpec) -> dict:
    """The ``fan_in_split`` entry of ``mapping.json`` for a split layer (after placement)."""
    partial = [c for c in cores if c.role == "partial"]
    merge = [c for c in cores if c.role == "merge"]
    groups: dict[tuple, list[int]] = {}
    for c in partial:
        groups.setdefault(tuple(c.group), []).append(c.index)
    sizes = [hi - lo for lo, hi in groups]
    return {"method": METHOD, "groups": len(groups), "group_size_min": min(sizes), "group_size_max": max(sizes),
            "partial_compartments": ls.neurons * len(groups), "partial_cores": [c.index for c in partial],
            "merge_cores": [c.index for c in merge], "merge_fan_in": len(groups), "latency_steps": 1,
            "max_fan_in": max_split_fan_in(ls, spec),
            "group_detail": [{"inputs": list(k), "cores": v} for k, v in groups.items()]}


def merge_latency_steps(layers: list[LayerSpec], split_names) -> int:
    """Extra chip steps on the longest path: one per split layer it passes (layers in topo order)."""
    depth: dict[str, int] = {}
    for ls in layers:
        depth[ls.name] = (1 if ls.name in split_names else 0) + max((depth.get(s, 0) for s in ls.sources), default=0)
    return max(depth.values(), default=0)

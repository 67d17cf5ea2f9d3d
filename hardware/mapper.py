"""Partition layers onto cores (by neurons, synaptic memory and fan-in) and cores onto chips.

Layout rules (hand-checkable):
- ``input`` layers: ``ceil(neurons / neurons_per_core)`` cores, no synapses.
- Unshared weights (dense, attention, read-out): a neuron needs ``fan_in * replicas +
  rewritten`` entries; ``per_core = min(neurons_per_core, synapses_per_core // entries)``;
  ``cores = ceil(neurons / per_core)``.
- Shared weights (conv): a core holding ``c`` output channels stores ``c * C_in*kW*kH*replicas``
  entries whatever its spatial extent. Channels are grouped so the kernel fits, then each group is
  split along W into column slices of ``ws`` columns with ``ws * H * c <= neurons_per_core`` and the
  slice's receptive field within the fan-in limit.
- Fan-in split (dense/read-out neurons too big for one core; ``split.py``): partial-sum cores per
  input group plus merge cores, +1 step of latency per split layer on a path.
- Lowered attention populations (``attention_map.py``): neurons in flat order fill a core until the
  8,192-neuron limit or its stored sparse entries (``entry_runs``) would exceed the synaptic memory.
Cores are numbered in layer order and placed on chips in that order, four per mesh router, so the
model needs ``ceil(cores / cores_per_chip)`` chips; ``chips=None`` maps onto exactly that many (``ds2ta-export
--chips auto``), an integer cap below it raises ``MappingError`` naming the whole model's need.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field

from .attention_map import latency_steps, mapping_lowering
from .core import LOIHI2, CoreSpec
from .layers import LOWERED, LayerSpec
from .nir_adapter import graph_latency, graph_layers
from .rules import (MODEL, MappingError, chips_needed, rule_chips, rule_fan_in, rule_fan_out,
                    rule_neurons_per_core, rule_synaptic_memory, rule_weight_bits)
from .routing import route, route_lowered
from .split import merge_latency_steps, needs_split, partition_split, split_record

MAPPING_FORMAT = "ds2ta-mapping"


@dataclass
class CoreSlice:
    """One core's share of a layer."""

    layer: str
    index: int                  # global core id
    neurons: int
    entries: int                # synapse entries stored on this core
    fan_in_axons: int
    cols: tuple[int, int]       # output columns [x0, x1) along W
    chans: tuple[int, int]      # output channels [c0, c1)
    chip: int = 0
    xy: tuple[int, int] = (0, 0)  # router position in the chip mesh
    role: str = ""              # "" (whole neurons), "partial" or "merge" (fan-in split, split.py)
    group: tuple[int, int] = (0, 0)  # partial: input range [lo, hi) summed; merge: (0, groups)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Mapping:
    """Result of ``map_layers``: layer -> cores, core -> chip/router, and routing per edge."""

    spec: CoreSpec
    layers: list[LayerSpec]
    cores: list[CoreSlice]
    chips: int                  # chips used: the fewest that hold the cores
    chips_allowed: int | None   # the cap mapped against; None: as many as needed (--chips auto)
    limited_by: dict[str, str]
    edges: dict[str, dict] = field(default_factory=dict)   # "src->dst" -> routing summary
    splits: dict[str, dict] = field(default_factory=dict)  # layer -> fan_in_split record (split.py)
    merge_latency_steps: int = 0                            # extra chip steps from merge stages
    latency_steps: int = 0                                  # input -> output steps (attention_map)
    attention_lowering: str | None = None                   # "neurons" | "core" | None (no attention)
    attention: dict[str, dict] = field(default_factory=dict)  # node -> lowering summary (neurons)

    @property
    def total_cores(self) -> int:
        return len(self.cores)

    def layer_cores(self, name: str) -> list[CoreSlice]:
        return [c for c in self.cores if c.layer == name]

    def to_dict(self) -> dict:
        syn_cap = self.spec.synapses_per_core
        per_layer = {}
        for ls in self.layers:
            cs = self.layer_cores(ls.name)
            per_layer[ls.name] = {
                "kind": ls.kind, "neurons": ls.neurons, "synapse_entries": sum(c.entries for c in cs),
                "cores": [c.index for c in cs], "n_cores": len(cs), "limited_by": self.limited_by[ls.name],
                "max_neurons_per_core": max(c.neurons for c in cs),
                "max_entries_per_core": max(c.entries for c in cs),
                "fan_in_split": self.splits.get(ls.name),
            }
        return {
            "format": MAPPING_FORMAT, "format_version": 1, "spec": self.spec.to_dict(),
            "total_cores": self.total_cores, "chips": self.chips, "chips_allowed": self.chips_allowed,
            "merge_latency_steps": self.merge_latency_steps,
            "latency_steps": self.latency_steps, "attention_lowering": self.attention_lowering,
            "attention": self.attention,
            "layers": per_layer,
            "cores": [dict(c.to_dict(), neuron_occupancy=c.neurons / self.spec.neurons_per_core.value,
                           memory_occupancy=c.entries / syn_cap) for c in self.cores],
            "edges": self.edges,
            "layer_specs": [ls.to_dict() for ls in self.layers],
        }


def _conv_slice_fan_in(ls: LayerSpec, ws: int) -> int:
    """Input axons feeding ``ws`` output columns of a conv layer.

    Loihi 2 conv connectivity uses population axons: one axon per input position (x, y) carries
    the spikes of all its channels (assumption, grade D; Intel's own 4-column Conv1 slices need
    9 x 32 x 24 = 6912 per-neuron axons, more than the 4,096 Loihi 1 limit, so per-neuron counting
    cannot be what the chip does)."""
    w_in, h_in, _ = ls.in_shape
    cols_in = min(w_in, (ws - 1) * ls.stride[0] + ls.kernel[0])
    return cols_in * h_in


def _partition_unshared(ls: LayerSpec, spec: CoreSpec) -> tuple[list[tuple], str]:
    e = ls.entries_per_neuron
    rule_synaptic_memory(ls.name, e, spec)          # one neuron must fit a core
    rule_fan_in(ls.name, ls.fan_in, spec)
    by_mem = spec.synapses_per_core // e if e else math.inf
    per_core = int(min(spec.neurons_per_core.value, by_mem))
    why = "synaptic memory" if by_mem < spec.neurons_per_core.value else "neurons"
    n, c = ls.neurons, ls.channels
    out, start = [], 0
    while start < n:  # dense layers are (1, 1, N): slices are channel ranges
        stop = min(n, start + per_core)
        out.append(((0, 1), (start, stop), stop - start, (stop - start) * e, ls.fan_in))
        start = stop
    assert ls.out_shape[:2] == (1, 1) or c * ls.out_shape[0] * ls.out_shape[1] == n
    return out, why


def _partition_shared(ls: LayerSpec, spec: CoreSpec) -> tuple[list[tuple], str]:
    w, h, c = ls.out_shape
    kc = ls.entries_per_channel
    rw = ls.rewritten_entries_per_neuron
    rule_synaptic_memory(ls.name, kc + rw, spec)     # one channel's kernel must fit a core
    nlim = int(spec.neurons_per_core.value)
    cg = min(c, spec.synapses_per_core // kc)
    why = "synaptic memory" if cg < c else "neurons"
    cg = min(cg, max(1, nlim // h))
    rule_neurons_per_core(ls.name, h, spec)          # one column of one channel must fit
    while True:
        ws = max(1, min(w, nlim // (h * cg)))
        while ws > 1 and (_conv_slice_fan_in(ls, ws) > spec.fan_in_axons.value
                          or cg * kc + ws * h * cg * rw > spec.synapses_per_core):
            ws -= 1
            why = "fan-in or memory"
        entries = cg * kc + ws * h * cg * rw
        if entries <= spec.synapses_per_core or cg == 1:
            break
        cg -= 1
    rule_fan_in(ls.name, _conv_slice_fan_in(ls, ws), spec)
    out = []
    for c0 in range(0, c, cg):
        c1 = min(c, c0 + cg)
        for x0 in range(0, w, ws):
            x1 = min(w, x0 + ws)
            nn = (x1 - x0) * h * (c1 - c0)
            out.append(((x0, x1), (c0, c1), nn, (c1 - c0) * kc + nn * rw, _conv_slice_fan_in(ls, x1 - x0)))
    return out, why


def _partition_lowered(ls: LayerSpec, spec: CoreSpec) -> tuple[list[tuple], str]:
    """Flat neuron ranges: a core takes neurons until the neuron limit or its sparse entries are full."""
    npc, spc = int(spec.neurons_per_core.value), spec.synapses_per_core
    out, start, n, e, why = [], 0, 0, 0, "neurons"
    for count, per in ls.entry_runs:
        rule_synaptic_memory(ls.name, per, spec)            # one neuron's synapses must fit a core
        while count:
            take = min(count, npc - n, (spc - e) // per if per else count)
            if take == 0:
                why = "neurons" if n == npc else "synaptic memory"
                out.append(((0, 1), (start, start + n), n, e, 0))
                start, n, e = start + n, 0, 0
                continue
            n, e, count = n + take, e + take * per, count - take
    if n:
        out.append(((0, 1), (start, start + n), n, e, 0))
    return out, why


def _partition(ls: LayerSpec, spec: CoreSpec, split_fan_in: bool = True) -> tuple[list[tuple], str]:
    rule_weight_bits(ls.name, ls.weight_bits, spec)
    if ls.kind == LOWERED:
        return _partition_lowered(ls, spec)
    if ls.kind == "input":
        per = int(spec.neurons_per_core.value)
        w, h, c = ls.out_shape
        cols = max(1, per // (h * c)) if h * c <= per else None
        if cols is None:  # a column does not fit: split flat
            n = ls.neurons
            return [((0, 1), (i, min(n, i + per)), min(n, i + per) - i, 0, 0) for i in range(0, n, per)], "neurons"
        return [((x0, min(w, x0 + cols)), (0, c), (min(w, x0 + cols) - x0) * h * c, 0, 0)
                for x0 in range(0, w, cols)], "neurons"
    if ls.shared_weights:
        return _partition_shared(ls, spec)
    if split_fan_in and needs_split(ls, spec):
        return partition_split(ls, spec)
    return _partition_unshared(ls, spec)


def map_layers(layers: list[LayerSpec], spec: CoreSpec = LOIHI2, chips: int | None = 1,
               split_fan_in: bool = True, lowerings: dict | None = None, latency: int | None = None) -> Mapping:
    """Partition every layer onto cores and the cores onto ``chips`` chips.

    Args:
        layers: Layers in topological order (sources before consumers).
        spec: Core limits.
        chips: Chips available; None: as many as the cores need (``Mapping.chips`` says how many).
        split_fan_in: Split a dense neuron too big for one core into partial sums + merge
            (``split.py``); False makes such a layer raise ``MappingError`` instead.
        lowerings: ``{attention node: Lowering}`` of lowered layers (``nir_adapter.graph_layers``):
            their links give exact messages, hops and input axons per core (``routing.route_lowered``);
            without it a lowered layer is routed like a dense one (every core of the consumer).
        latency: the graph's latency (``nir_adapter.graph_latency``, the simulators' rule); None: from the
            layers (``attention_map.latency_steps``, for layers given without a graph).

    Returns:
        The ``Mapping``; every core has passed every rule.

    Raises:
        MappingError: A layer (or the model: ``layer == "<model>"``, its cores on ``chips`` chips, the
            fix naming the chips needed) does not fit; the message names layer, resource, limit and amount.
        ValueError: Duplicate layer names or unknown sources, ``chips`` not None or a positive integer.
    """
    if chips is not None and (isinstance(chips, bool) or not isinstance(chips, numbers.Integral) or chips < 1):
        raise ValueError(f"chips={chips!r} must be a positive integer or None (as many as needed)")
    names = [ls.name for ls in layers]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate layer names in {names}")
    for ls in layers:
        for s in ls.sources:
            if s not in names:
                raise ValueError(f"layer {ls.name!r} lists unknown source {s!r}; known: {names}")
    cores: list[CoreSlice] = []
    why: dict[str, str] = {}
    cpc, cpr, cols = (int(spec.cores_per_chip.value), int(spec.cores_per_router.value), int(spec.mesh_cols.value))
    for ls in layers:
        parts, why[ls.name] = _partition(ls, spec, split_fan_in)
        if len(parts) == 1:
            why[ls.name] = "fits one core"
        for part in parts:
            cols_, chans, nn, entries, fan_in = part[:5]
            extra = part[5] if len(part) > 5 else {}
            idx = len(cores)
            local = idx % cpc
            router = local // cpr
            cs = CoreSlice(ls.name, idx, nn, entries, fan_in, tuple(cols_), tuple(chans),
                           chip=idx // cpc, xy=(router % cols, router // cols),
                           role=extra.get("role", ""), group=tuple(extra.get("group", (0, 0))))
            rule_neurons_per_core(ls.name, cs.neurons, spec)
            rule_synaptic_memory(ls.name, cs.entries, spec)
            rule_fan_in(ls.name, cs.fan_in_axons, spec)  # lowered: axons are counted by route_lowered
            cores.append(cs)
    if chips is not None:  # the whole model against the cap, so the fix names what the model needs
        rule_chips(MODEL, len(cores), chips, spec)
    m = Mapping(spec, list(layers), cores, chips=chips_needed(len(cores), spec), chips_allowed=chips,
                limited_by=why)
    m.splits = {ls.name: split_record(ls, m.layer_cores(ls.name), spec) for ls in layers
                if why[ls.name] == "fan-in split"}
    m.merge_latency_steps = merge_latency_steps(layers, m.splits)
    m.edges = route(m)
    m.latency_steps = latency_steps(m.layers) if latency is None else int(latency)
    m.attention_lowering = mapping_lowering(m.layers)
    if lowerings:
        m.edges.update(route_lowered(m, lowerings))
        m.attention = {k: {"form": low.form, "out_latency": low.out_latency, "neurons": low.neurons,
                           "synapse_entries": low.synapse_entries, "units": low.sizes()}
                       for k, low in lowerings.items()}
    for key, e in m.edges.items():
        rule_fan_out(key.split("->")[0], e["max_dest_cores"], spec)
    return m


def check_fits(graph_or_layers, chips: int | None = 1, spec: CoreSpec = LOIHI2, split_fan_in: bool = True,
               lowering: str | None = None) -> Mapping:
    """Fail early if a model cannot fit ``chips`` chips; return the mapping when it does.

    Args:
        graph_or_layers: A ``nir.NIRGraph`` (converted with ``nir_adapter.layers_from_nir``) or a
            list of ``LayerSpec``.
        chips: Chips available (``--chips N``); None: as many as needed (``--chips auto``).
        spec: Core limits.
        split_fan_in: Split too-large dense neurons into partial sums + merge (see ``map_layers``).
        lowering: attention lowering of a graph (``"neurons"`` | ``"core"``); None: the graph's
            ``metadata["attention_lowering"]``, else neurons (``nir_adapter.graph_lowering``).

    Raises:
        MappingError: Naming the layer, resource, limit and amount.
    """
    lowerings = latency = None
    if isinstance(graph_or_layers, (list, tuple)):
        layers = list(graph_or_layers)
    else:
        layers, lowerings = graph_layers(graph_or_layers, lowering)
        latency = graph_latency(graph_or_layers, lowerings)
    return map_layers(layers, spec=spec, chips=chips, split_fan_in=split_fan_in, lowerings=lowerings,
                      latency=latency)


def write_mapping_json(mapping: Mapping, path: str | os.PathLike) -> str:
    """Write ``mapping.json`` atomically (``ds2ta.fileio``: temp file, fsync, rename; a full disk is a named
    ``ValueError``). Returns the path."""
    from ds2ta.fileio import atomic_write_json
    return os.fspath(atomic_write_json(path, mapping.to_dict(), indent=1, sort_keys=False))

"""Spike routing between placed cores: messages and mesh hops per spike of each edge.

A spike leaves its core once per destination core that holds a neuron it feeds (Loihi sends one
message per destination core; the core's axon table fans it out to synapses). A destination core
of a conv layer needs a spike only when the source column falls in its receptive field. Hops are
Manhattan distances between the routers of source and destination core (east-west = x,
north-south = y); messages that cross chips are counted separately.

A fan-in-split layer (``split.py``) receives a source's spikes only on the partial cores of the
input groups that source feeds. The source's inputs are taken as a contiguous range of the
layer's input vector (source ``k`` of ``s`` holds inputs ``[k F, (k+1) F)``, ``F = fan_in / s``)
and its neurons as spread evenly over the groups that range overlaps: per-spike values are exact
averages when groups align with sources (as in the DS2TA head), an approximation (D) otherwise.
Partial sums travel to the one merge core holding their output neuron (``merge_routing``).
Lowered attention populations are routed link by link (``route_lowered``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .mapper import Mapping


def _needs(dst_layer, dst_core, src_cols: tuple[int, int]) -> bool:
    """Whether ``dst_core`` (a conv slice) reads any input column in ``src_cols`` = [x0, x1)."""
    a, b = dst_core.cols
    lo = a * dst_layer.stride[0] - dst_layer.padding[0]
    hi = (b - 1) * dst_layer.stride[0] - dst_layer.padding[0] + dst_layer.kernel[0]  # exclusive
    return src_cols[0] < hi and lo < src_cols[1]


def _dist(a, b) -> tuple[int, int, int]:
    return abs(a.xy[0] - b.xy[0]), abs(a.xy[1] - b.xy[1]), int(a.chip != b.chip)


def _split_edge(mapping: "Mapping", dst, src_name: str, split: dict) -> dict:
    """Routing summary of ``src -> dst`` when ``dst`` is fan-in split (see module docstring)."""
    k = dst.sources.index(src_name)
    F = dst.fan_in / len(dst.sources)
    lo_s, hi_s = k * F, (k + 1) * F
    by_index = {c.index: c for c in mapping.layer_cores(dst.name)}
    groups = []
    for g in split["group_detail"]:
        w = max(0.0, min(g["inputs"][1], hi_s) - max(g["inputs"][0], lo_s)) / F
        if w > 0:
            groups.append((w, [by_index[i] for i in g["cores"]]))
    tot_n = msgs = ew = ns = chip_x = 0.0
    for sc in mapping.layer_cores(src_name):
        n = sc.neurons
        tot_n += n
        for w, dcs in groups:
            msgs += n * w * len(dcs)
            for dc in dcs:
                dx, dy, dc_ = _dist(sc, dc)
                ew, ns, chip_x = ew + n * w * dx, ns + n * w * dy, chip_x + n * w * dc_
    tot_n = max(tot_n, 1.0)
    return {"src": src_name, "dst": dst.name, "messages_per_spike": msgs / tot_n, "hops_ew_per_spike": ew / tot_n,
            "hops_ns_per_spike": ns / tot_n, "chip_crossings_per_spike": chip_x / tot_n,
            "max_dest_cores": sum(len(dcs) for _, dcs in groups)}


def merge_routing(mapping: "Mapping", name: str) -> dict:
    """Per partial-sum message of a split layer: hops and chip crossings to its merge core."""
    cores = mapping.layer_cores(name)
    merge = [c for c in cores if c.role == "merge"]
    n = ew = ns = chip_x = 0.0
    for pc in (c for c in cores if c.role == "partial"):
        for mc in merge:
            k = max(0, min(pc.chans[1], mc.chans[1]) - max(pc.chans[0], mc.chans[0]))
            dx, dy, dc = _dist(pc, mc)
            n, ew, ns, chip_x = n + k, ew + k * dx, ns + k * dy, chip_x + k * dc
    n = max(n, 1.0)
    return {"messages_per_partial_sum": 1.0, "hops_ew_per_message": ew / n, "hops_ns_per_message": ns / n,
            "chip_crossings_per_message": chip_x / n}


def route(mapping: "Mapping") -> dict[str, dict]:
    """Routing summary for every edge ``src->dst`` of the mapped layers.

    Returns:
        ``{"src->dst": {"src", "dst", "messages_per_spike", "hops_ew_per_spike",
        "hops_ns_per_spike", "chip_crossings_per_spike", "max_dest_cores"}}``; per-spike values
        are averages over the source neurons.
    """
    by_name = {ls.name: ls for ls in mapping.layers}
    edges = {}
    for dst in mapping.layers:
        dst_cores = mapping.layer_cores(dst.name)
        split = mapping.splits.get(dst.name)
        if split:
            split.update(merge_routing(mapping, dst.name))
        for src_name in dst.sources:
            if split:
                edges[f"{src_name}->{dst.name}"] = _split_edge(mapping, dst, src_name, split)
                continue
            src = by_name[src_name]
            spatial = (dst.in_shape is not None and dst.kind in ("conv", "pool")
                       and src.out_shape[0] == dst.in_shape[0] and src.out_shape[0] > 1)
            tot_n = msgs = ew = ns = chip_x = 0.0
            max_dest = 0
            for sc in mapping.layer_cores(src_name):
                dests = [dc for dc in dst_cores if not spatial or _needs(dst, dc, sc.cols)]
                max_dest = max(max_dest, len(dests))
                n = sc.neurons
                tot_n += n
                msgs += n * len(dests)
                ew += n * sum(abs(dc.xy[0] - sc.xy[0]) for dc in dests)
                ns += n * sum(abs(dc.xy[1] - sc.xy[1]) for dc in dests)
                chip_x += n * sum(dc.chip != sc.chip for dc in dests)
            tot_n = max(tot_n, 1.0)
            edges[f"{src_name}->{dst.name}"] = {
                "src": src_name, "dst": dst.name, "messages_per_spike": msgs / tot_n,
                "hops_ew_per_spike": ew / tot_n, "hops_ns_per_spike": ns / tot_n,
                "chip_crossings_per_spike": chip_x / tot_n, "max_dest_cores": max_dest,
            }
    return edges


def neuron_cores(mapping: "Mapping", name: str) -> np.ndarray:
    """Global core index of every neuron of layer ``name``, in the NIR flat order ``(C, H, W)``.

    Conv, pool and column-sliced input layers are cut into channel x column blocks (``chans`` and
    ``cols``); every other layer into flat neuron ranges (``chans``).
    """
    ls = next(x for x in mapping.layers if x.name == name)
    cores = mapping.layer_cores(name)
    w, h, c = ls.out_shape
    arr = np.full(ls.neurons, -1, np.int64)
    spatial = ls.kind in ("conv", "pool") or (ls.kind == "input" and all(cs.chans == (0, c) for cs in cores))
    grid = arr.reshape(c, h, w)
    for cs in cores:
        if spatial:
            grid[cs.chans[0]:cs.chans[1], :, cs.cols[0]:cs.cols[1]] = cs.index
        else:
            arr[cs.chans[0]:cs.chans[1]] = cs.index
    assert (arr >= 0).all(), f"layer {name}: some neurons are on no core"
    return arr


def route_lowered(mapping: "Mapping", lowerings: dict) -> dict[str, dict]:
    """Exact routing of the links of lowered attention populations (``attention_map.py``).

    A source neuron sends one message per distinct destination core its stored synapses reach, per
    synapse process (a ``DelaySparse`` of each delay is its own process); hops are the Manhattan
    distances between the routers of its core and each destination core. The identity link from the
    ``out`` population into ``attn_lif`` is routed the same way. Each core's ``fan_in_axons`` becomes
    the distinct source neurons (per link) that reach it: recorded, not checked against
    ``fan_in_axons`` (docs/hardware.md, "Known gaps").

    Returns:
        ``{"src->dst": routing summary}`` (as ``route``) for every edge into a lowered population
        and out of each ``out`` population.
    """
    n_all = len(mapping.cores)
    x = np.array([c.xy[0] for c in mapping.cores])
    y = np.array([c.xy[1] for c in mapping.cores])
    chip = np.array([c.chip for c in mapping.cores])
    where: dict[str, np.ndarray] = {}
    sums: dict[tuple, list] = {}
    axons = np.zeros(n_all, np.int64)

    def cores_of(name):
        if name not in where:
            where[name] = neuron_cores(mapping, name)
        return where[name]

    def add(src, dst, rows, cols):
        src_c, dst_c = cores_of(src), cores_of(dst)
        key = np.unique(cols.astype(np.int64) * n_all + dst_c[rows])
        s_core, d_core = src_c[key // n_all], key % n_all
        acc = sums.setdefault((src, dst), [0.0, 0.0, 0.0, 0.0, 0])
        acc[0] += key.size
        acc[1] += float(np.abs(x[s_core] - x[d_core]).sum())
        acc[2] += float(np.abs(y[s_core] - y[d_core]).sum())
        acc[3] += float((chip[s_core] != chip[d_core]).sum())
        pairs = np.unique(s_core * n_all + d_core) // n_all
        acc[4] += int(np.bincount(pairs).max(initial=0))
        np.add.at(axons, d_core, 1)

    by_name = {ls.name: ls for ls in mapping.layers}
    for name, low in lowerings.items():
        lowered = {ls.meta["unit"]: ls for ls in mapping.layers if ls.meta.get("attention") == name}
        ops = dict(zip(("q", "k", "v"), lowered["out"].meta["operand_layers"]))
        for link in (lk for lk in low.links if lk.entries):
            src = ops.get(link.src) or lowered[link.src].name
            add(src, lowered[link.dst].name, link.rows, link.cols)
        for ls in mapping.layers:
            if ls.meta.get("attention_input") == name:
                ident = np.arange(ls.neurons)
                add(lowered["out"].name, ls.name, ident, ident)
    for c in mapping.cores:
        if axons[c.index]:
            c.fan_in_axons = int(axons[c.index])
    edges = {}
    for (src, dst), (msgs, ew, ns, cx, max_dest) in sums.items():
        n = max(by_name[src].neurons, 1)
        edges[f"{src}->{dst}"] = {"src": src, "dst": dst, "messages_per_spike": msgs / n,
                                  "hops_ew_per_spike": ew / n, "hops_ns_per_spike": ns / n,
                                  "chip_crossings_per_spike": cx / n, "max_dest_cores": max_dest}
    return edges

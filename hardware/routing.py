"""Spike routing between placed cores: messages and mesh hops per spike of each edge.

A spike leaves its core once per destination core that holds a neuron it feeds (Loihi sends one
message per destination core; the core's axon table fans it out to synapses). A destination core
of a conv layer needs a spike only when the source column falls in its receptive field. Hops are
Manhattan distances between the routers of source and destination core (east-west = x,
north-south = y); messages that cross chips are counted separately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .mapper import Mapping


def _needs(dst_layer, dst_core, src_cols: tuple[int, int]) -> bool:
    """Whether ``dst_core`` (a conv slice) reads any input column in ``src_cols`` = [x0, x1)."""
    a, b = dst_core.cols
    lo = a * dst_layer.stride[0] - dst_layer.padding[0]
    hi = (b - 1) * dst_layer.stride[0] - dst_layer.padding[0] + dst_layer.kernel[0]  # exclusive
    return src_cols[0] < hi and lo < src_cols[1]


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
        for src_name in dst.sources:
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

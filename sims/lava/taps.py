"""Delayed replicas of one convolution into one population, found in a schedule and built as one ``TapConv``.

TASA (DS2TA's attention projections) reads a window of past steps: the exporter writes ``q`` as K replicas
``Delay(k) -> Conv2d(a_k W)`` of one geometry, all fed by the same spike sources, all into ``q``'s LIF.
Built one by one, each replica is a lava-nc ``Conv`` process and each source needs one delay line per
replica (cifar10: 48 replica processes, 3 lines per source). A ``TapConv`` computes them together:
one process per group and one line per source (its path alignment only; the replicas' NIR delays are
the taps' read-back steps). The arithmetic per tap is unchanged (``procs/conv/process.py``).

A group is every projection into one population port whose single node is a ``Conv2d`` of the same
geometry (weight shape, stride, padding, dilation, groups, input shape) without a weight exponent, from
spike sources, not recurrent, when at least two nodes take part, each node's projections carry one NIR
delay, and every node is fed by the same sources. Anything else is built as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import nir
import numpy as np

from ds2ta.hardware import chip
from ds2ta.sims.lava.graph import Projection, Schedule
from ds2ta.sims.lava.ops import _integer, _pair, linear_out_shape


@dataclass
class TapGroup:
    """Projections computed by one ``TapConv``.

    Attributes:
        dst, port: the destination population and port.
        taps: ``[(node name, Conv2d node, NIR delay)]`` in a fixed order.
        sources: the spike populations feeding every tap.
        projections: the member projections (one per source and tap).
    """

    dst: str
    port: str
    taps: list
    sources: list
    projections: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return "+".join(n for n, _, _ in self.taps)


def _geometry(node: nir.Conv2d) -> tuple:
    pad = node.padding
    return (np.asarray(node.weight).shape, _pair(node.stride), pad if isinstance(pad, str) else _pair(pad),
            _pair(node.dilation), int(node.groups), _pair(node.input_shape) if node.input_shape is not None else None)


def tap_groups(schedule: Schedule, spiking) -> dict:
    """``{id(projection): TapGroup}`` for every projection that belongs to a group (module docstring).

    Args:
        spiking: ``spiking(population) -> bool``, binary spike output.
    """
    candidates: dict = {}
    for p in schedule.projections:
        if len(p.ops) != 1 or p.recurrent:
            continue
        name, node = p.ops[0]
        src, dst = schedule.populations[p.src], schedule.populations[p.dst]
        if (not isinstance(node, nir.Conv2d) or isinstance(node.padding, str) or chip.weight_exp(node)
                or dst.kind == "extension" or not spiking(src)):
            continue
        candidates.setdefault((p.dst, p.port, _geometry(node)), []).append(p)
    out = {}
    for (dst, port, _), projs in candidates.items():
        by_node: dict = {}
        for p in projs:
            by_node.setdefault(p.ops[0][0], []).append(p)
        if len(by_node) < 2:
            continue
        delays = {n: {p.delay for p in ps} for n, ps in by_node.items()}
        sources = {n: sorted(p.src for p in ps) for n, ps in by_node.items()}
        first = next(iter(sources.values()))
        if any(len(d) != 1 for d in delays.values()) or any(s != first or len(set(s)) != len(s)
                                                            for s in sources.values()):
            continue
        taps = [(n, ps[0].ops[0][1], next(iter(delays[n]))) for n, ps in by_node.items()]
        group = TapGroup(dst, port, taps, first, projs)
        out.update({id(p): group for p in projs})
    return out


def tap_line(p: Projection, period: int) -> tuple | None:
    """The delay line a tap group's member needs: its path alignment only, every step passed (the NIR
    delay is the tap's own read-back, gated inside ``TapConv``); None when aligned already."""
    return (p.align, 0, period - 1) if p.align else None


def build_tap_conv(group: TapGroup, schedule: Schedule, period: int):
    """The group's ``TapConv`` (graded input when several sources add at its port)."""
    from ds2ta.sims.lava.procs.conv.process import TapConv

    name0, node0, _ = group.taps[0]
    chw = tuple(int(v) for v in np.asarray(node0.input_type["input"]).reshape(-1))  # typed by the schedule
    out_shape = linear_out_shape(name0, node0, chw)
    weights = np.stack([_integer(node.weight, f"{name}.weight") for name, node, _ in group.taps])
    if np.abs(weights).max(initial=0) < 2 ** 15:  # a compact copy: the parent holds it while Lava forks
        weights = weights.astype(np.int16)
    return TapConv(weights=weights, delays=[d for _, _, d in group.taps], in_shape=chw, stride=_pair(node0.stride),
                   padding=_pair(node0.padding), dilation=_pair(node0.dilation), groups=int(node0.groups),
                   out_shape=out_shape, graded=len(group.sources) > 1, period=period,
                   depth=schedule.populations[group.dst].depth, name=group.name)

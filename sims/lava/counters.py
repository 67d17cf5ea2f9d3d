"""Per-layer activity counters of a Lava run, in the reference executor's counting rules.

Spikes and read-out values are what the Lava processes emitted (the recorder's memory-mapped
windows; a graded unit's or a sigma-delta population's messages are its nonzero values); attention operations are counted inside the attention core process. Synaptic operations
are *delivered events x structural fan-out*: every NIR synapse node (Affine, Linear, Conv2d,
SumPool2d) gets, at each sample step, the sum of what its incoming paths carry (recorded population
outputs through Delay/Flatten and other memoryless nodes, in numpy); an event from a spike source
counts ``|value| x fan-out``, a graded payload ``1 x fan-out`` per nonzero value. These are the rules
of ``ds2ta.hardware.chip`` that the reference also applies (docs/nir-format.md), evaluated here on
Lava's own outputs, in numpy, so
the comparison between the two backends checks the counts as well as the spikes. Recording and
counting read the outputs only; they do not change what the network computes.
"""

from __future__ import annotations

import nir
import numpy as np

from ds2ta.hardware import chip, kinds
from ds2ta.hardware.attention_activity import unit_counts as chip_counts
from ds2ta.sims.lava.graph import Schedule
from ds2ta.sims.lava.ops import apply_linear



class _Evaluator:
    """Values ``(T, S, n)`` of every node, from recorded population outputs through memoryless nodes."""

    def __init__(self, schedule: Schedule, records: dict, spiking: dict):
        self.sch, self.spiking = schedule, spiking
        # the schedule's copies of the linear nodes carry the shapes it inferred (some writers omit them)
        self.typed = {n: nd for p in schedule.projections for n, nd in p.ops}
        self.preds = {n: [] for n in schedule.nodes}
        for a, b in schedule.edges:
            self.preds[b].append(a)
        self.records, self.values = records, {}  # records are converted to (T, S, n) int64 when first used:
        # a lowered attention's products (cifar10: 8 of 786 k units) are counted from the records directly
        self.S, self.T = next(iter(records.values())).shape[:2]

    def node_input(self, name: str) -> np.ndarray:
        """Sum of the predecessors' values (NIR: several edges into a node add)."""
        parts = [self.value(p) for p in self.preds[name]]
        if not parts:
            raise ValueError(f"node {name!r} has no input edge")
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        return total

    def value(self, name: str) -> np.ndarray:
        if name in self.values:
            return self.values[name]
        if name in self.records:
            y = self.values[name] = np.ascontiguousarray(np.swapaxes(self.records[name], 0, 1)).astype(np.int64)
            return y
        if name in self.sch.populations:
            raise ValueError(f"population {name!r} was not recorded")
        node, x = self.node(name), self.node_input(name)
        if isinstance(node, nir.Delay):
            k = int(np.unique(np.asarray(node.delay))[0])
            y = np.zeros_like(x)
            if k < self.T:
                y[k:] = x[:self.T - k]
        elif kinds.role_of(node) in kinds.LINEAR_ROLES:
            flat = apply_linear(name, node, x.reshape(self.T * self.S, -1))
            y = chip.apply_weight_exp(flat, chip.weight_exp(node)).reshape(self.T, self.S, -1)
        else:  # Flatten, subgraph Input/Output: C-order flat vectors are unchanged
            y = x
        self.values[name] = y
        return y

    def node(self, name: str):
        """The node, typed by the schedule when it lies on a projection."""
        return self.typed.get(name, self.sch.nodes[name])

    def from_spikes(self, name: str) -> bool:
        """Every path into ``name`` starts at a spiking population (``GraphView.spike_fed``)."""
        return self.sch.view.spike_fed(name, lambda p: self.spiking.get(p, False))


def active_updates(ev: _Evaluator, name: str) -> int:
    """Neuron-steps of population ``name`` whose summed synaptic input is nonzero (its inputs'
    values evaluated from Lava's records as for the synaptic counts; a population without input
    edges, e.g. driven by its bias alone or by the host's bias write, has none)."""
    parts = [ev.value(p) for p in ev.preds[name] if not chip.host_drive(ev.sch.nodes[p])]
    return int(np.count_nonzero(sum(parts[1:], parts[0]))) if parts else 0


def fanout_events(name: str, node, weight: np.ndarray) -> int:
    """Sum over inputs of ``weight x`` the number of synapses that input reaches (structural fan-out):
    the node applied with every weight set to 1 and no bias, summed over its outputs. The map is linear,
    so it is applied once, to the weights summed over steps and samples."""
    T, S, n = weight.shape
    unit = kinds.linear_op(name, node).unit(node)
    return int(apply_linear(name, unit, weight.reshape(T * S, n).sum(0, keepdims=True)).sum())


def lowered_counts(schedule: Schedule, records: dict, name: str, low) -> dict:
    """``attention_activity.unit_counts`` of a lowered attention node from Lava's records: its
    populations ``"<name>.<suffix>"``, its output ``name`` and its operands (the q/k/v sources)."""
    vals = {u.suffix: records[f"{name}.{u.suffix}"] for u in low.units if u.suffix != "out"}
    vals["out"] = records[name]
    for p in schedule.incoming(name):
        x = records[p.src]
        if p.delay:  # a NIR Delay on the operand path: step t sees the source's step t - delay
            x = np.concatenate([np.zeros_like(x[:, :p.delay]), x[:, :x.shape[1] - p.delay]], axis=1)
        vals[p.port] = x
    return chip_counts(low, vals)


def count_layers(schedule: Schedule, records: dict, extra: dict, T: int,
                 lowerings: dict | None = None) -> tuple[dict, dict]:
    """Per-node totals and per-sample spikes of one Lava run.

    Args:
        schedule: the run's ``Schedule``.
        records: population -> ``(S, T, n)`` outputs (``LavaRun.records``).
        extra: population -> per-sample attention-operation counters (``LavaRun.extra``).
        T: steps per sample.
        lowerings: attention node -> its ``Lowering`` when the run used the neuron lowering: the node
            gets its output population's counts, each other population an entry ``"<node>.<suffix>"``.

    Returns:
        ``(totals, per_sample)``: ``{node: {key: int for key in chip.COUNT_KEYS}}`` for every
        flattened node, and ``{spiking node: (S,) spikes per sample}``.
    """
    pops = schedule.populations
    spiking = {n: (p.kind == "neuron" and type(p.node).__name__ in chip.SPIKE_SOURCES) for n, p in pops.items()}
    ev = _Evaluator(schedule, records, spiking)
    S = ev.S
    totals, per_sample = {}, {}
    for name, node in schedule.nodes.items():
        c = chip.empty_counts()
        pop = pops.get(name)
        if pop is not None and pop.kind == "neuron":
            c.update(chip.neuron_counts(pop.size, T, S))
            c["active_neuron_updates"] = active_updates(ev, name)
        if pop is not None and type(node).__name__ in chip.GRADED_MESSAGES:  # one message per nonzero value
            c["spikes"] = chip.message_count(records[name])
        if spiking.get(name):
            c["spikes"] = chip.spike_count(records[name])
            per_sample[name] = records[name].reshape(S, -1).astype(np.int64).sum(1)
        if pop is not None and pop.kind == "extension" and name in extra:
            c["attention_ops"] = int(np.asarray(extra[name], dtype=np.int64).sum())
        if kinds.role_of(node) in kinds.LINEAR_ROLES and pop is None:
            c.update(chip.synapse_counts(ev.node_input(name), ev.from_spikes(name),
                                         lambda w: fanout_events(name, ev.node(name), w)))
        totals[name] = c
    for name, low in (lowerings or {}).items():
        units = lowered_counts(schedule, records, name, low)
        totals[name] = units.pop("out")
        totals.update({f"{name}.{s}": c for s, c in units.items()})
    return totals, per_sample

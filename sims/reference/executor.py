"""Batched integer executor of a NIR graph (the project's "GPU reference"; docs/nir-format.md).

All nodes of one time step run in topological order (zero delay, like the float model). Acyclic
graphs run node by node over the whole (T, B, ...) sequence; graphs with cycles run step by step
with a one-step delay on each edge that closes a cycle.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple, Union

import nir
import torch

from ds2ta.export.nir_io import flatten_graph
from ds2ta.hardware import chip
from ds2ta.hardware.attention_lowering import DEFAULT_LOWERING
from ds2ta.hardware.chip import COUNT_KEYS
from ds2ta.hardware.graph import GraphView
from ds2ta.sims.reference.attention import attention_kernels
from ds2ta.sims.reference.kernels import abs_max, build_kernel


@dataclass
class RunResult:
    """What ``ReferenceExecutor.run`` returns (see docs/nir-format.md)."""

    outputs: Dict[str, torch.Tensor]
    prediction: torch.Tensor
    counts: Dict[str, Dict[str, int]]
    sample_spikes: Dict[str, torch.Tensor]
    record: Dict[str, torch.Tensor] = field(default_factory=dict)
    max_abs_input: Dict[str, int] = field(default_factory=dict)


class ReferenceExecutor:
    """Integer executor for an exported (or integerized third-party) NIR graph.

    Args:
        graph: ``nir.NIRGraph`` or a path to a ``.nir`` file.
        device: torch device ("cpu", "cuda").
        dt: time step used to integerize float-only graphs (neurons without ``metadata["lava"]``);
            taken from ``graph.metadata["conventions"]["dt"]`` when present, else required.
        attention_lowering: ``"neurons"`` executes each attention node as its neuron lowering
            (every lowered population counted, and recorded when its node is,
            ``ds2ta.hardware.attention_lowering``), ``"core"`` as one opaque attention core.
    """

    def __init__(self, graph: Union[nir.NIRGraph, str, os.PathLike], device: str = "cpu",
                 dt: Optional[float] = None, attention_lowering: str = DEFAULT_LOWERING):
        if not isinstance(graph, nir.NIRGraph):
            from ds2ta.export.nir_io import read_graph
            graph = read_graph(graph)
        if not is_integer_graph(graph):
            from ds2ta.export.graph_quant import integerize_graph
            warnings.warn("graph has float parameters: integerizing it for the reference executor "
                          "(per-neuron scales, 8-bit even weights); see docs/quantization.md")
            graph = integerize_graph(graph, dt=dt)
        self.graph = graph
        self.device = torch.device(device)
        self.nodes, self.edges = flatten_graph(graph)
        self.view = GraphView(self.nodes, self.edges)
        self.order, self.delayed, self.preds = self.view.order, self.view.delayed, self.view.preds
        self.consumers = {n: len(self.view.succs[n]) for n in self.nodes}
        self.attention_lowering = attention_lowering
        table = attention_kernels(attention_lowering)
        self.kernels = {n: build_kernel(n, self.nodes[n], table).to(self.device) for n in self.order}
        # the graph's own Input/Output: a nested subgraph's Input/Output nodes have edges on both sides
        self.inputs, self.outputs = self.view.inputs(), self.view.outputs()
        if len(self.inputs) != 1:
            raise ValueError(f"the reference executor needs exactly one Input node, found {self.inputs}")
        self.latency_steps = self._latency()
        self.from_spikes = {n: self._spike_sources(n) for n in self.order if self.kernels[n].kind == "synapse"}

    def _latency(self) -> int:
        """Chip steps from input to the deepest population: one synapse step per projection (a chain
        of linear nodes is one synapse layer) and attention-core buffering, as Lava schedules them
        (``GraphView.latency``, the one rule; recurrent edges left out)."""
        return self.view.latency(lambda n: chip.hop_latency("attention", getattr(self.kernels[n], "latency", None)))

    def run(self, x: torch.Tensor, record: Union[bool, Set[str]] = False) -> RunResult:
        """Run the graph on integer input ``x`` (T, B, *input_shape); see ``RunResult``.

        ``record``: True records every node's output, a set of names records those nodes, False none.
        Acyclic graphs stream: each node's counts are taken right after it runs and its output is
        freed once its last consumer has run (spikes are held as uint8), so memory stays near the
        largest layer's working set instead of the sum of all activations.
        """
        if x.dtype.is_floating_point and not torch.equal(x, x.round()):
            raise ValueError("reference input must be integers (x_int; the float model sees x_int * input_scale)")
        x = x.to(self.device).long()
        keep = set(self.order) if record is True else set(record or ())
        if self.delayed:
            outs = self._run_steps(x)
            tally = _Tally(x.shape[:2])
            for n in self.order:
                self._count(n, outs, x, tally)
            return self._result(outs, tally, {n: outs[n] for n in keep})
        tally = _Tally(x.shape[:2])
        left = dict(self.consumers)
        outs: Dict[str, torch.Tensor] = {}
        sub: Dict[str, torch.Tensor] = {}  # lowered attention populations (recorded with their node)
        for n in self.order:
            k = self.kernels[n]
            inp = x if n in self.inputs else (self._sum_inputs(n, outs, x) if k.reads_input else None)
            k.record = n in keep
            y = k.forward(inp, outs)
            outs[n] = y.to(torch.uint8) if self.kernels[n].spiking else y
            if n in keep:
                sub.update(getattr(self.kernels[n], "sub_records", {}))
            self._count(n, outs, x, tally, inp)
            del inp
            for p in set(self.preds[n]):
                left[p] -= sum(1 for a in self.preds[n] if a == p)
                if left[p] == 0 and p not in keep and p not in self.outputs:
                    del outs[p]
        return self._result(outs, tally, {**{n: outs[n] for n in keep}, **sub})

    def _sum_inputs(self, n, outs, x):
        """The node's input: its sources' outputs summed (NIR sums multiple input edges), in a type that
        holds every sum: uint8 for at most 255 spike sources (each 0/1), int32 for at most 64 sources held
        as uint8 or int32 (kernels return int32 only below 2^25 in magnitude), else int64. A single
        source is passed as it is (kernels never write into their input)."""
        srcs = self.preds[n]
        if not srcs:
            raise ValueError(f"node {n!r} has no input edge")
        parts = [outs[s] for s in srcs]
        if len(parts) == 1:
            return parts[0]
        if len(parts) <= 255 and all(self.kernels[s].spiking for s in srcs):
            dtype = torch.uint8
        elif len(parts) <= 64 and all(p.dtype in (torch.uint8, torch.int32) for p in parts):
            dtype = torch.int32
        else:
            dtype = torch.int64
        total = parts[0].to(dtype) + parts[1].to(dtype)  # a new tensor: the rest adds in place
        for p in parts[2:]:
            total += p.to(dtype)
        return total

    def _run_steps(self, x):
        T = x.shape[0]
        states = {n: self.kernels[n].init_state() for n in self.order}
        hist: Dict[str, List[torch.Tensor]] = {n: [] for n in self.order}
        for t in range(T):
            cur: Dict[str, torch.Tensor] = {}
            for n in self.order:
                if n in self.inputs:
                    inp = x[t]
                else:
                    parts = []
                    for p in self.preds[n]:
                        if (p, n) in self.delayed:
                            parts.append(hist[p][t - 1] if t > 0 else None)
                        else:
                            parts.append(cur[p])
                    ref = next((q for q in parts if q is not None), None)
                    if ref is None:  # only delayed inputs at t = 0: zeros of the producer's shape
                        ref = torch.zeros_like(self._zero_like(n, x))
                    inp = sum(q if q is not None else torch.zeros_like(ref) for q in parts)
                cur[n], states[n] = self.kernels[n].step(inp, states[n], cur)
                hist[n].append(cur[n])
        return {n: torch.stack(v) for n, v in hist.items()}

    def _zero_like(self, n, x):
        shape = self.nodes[n].input_type.get("input") if hasattr(self.nodes[n], "input_type") else None
        if shape is None:
            raise ValueError(f"node {n!r}: cannot infer its input shape at t=0 in a recurrent graph")
        return torch.zeros((x.shape[1], *[int(s) for s in shape]), dtype=torch.long, device=x.device)

    def _count(self, n, outs, x, tally: "_Tally", inp: Optional[torch.Tensor] = None) -> None:
        """Counts of node ``n`` (docs/simulation.md: counting rules) from its input and output."""
        T, B = tally.shape
        k = self.kernels[n]
        c = chip.empty_counts()
        if k.kind == "neuron" or k.spiking:
            c.update(chip.neuron_counts(k.neurons, T, B))
        if getattr(k, "graded_messages", False):  # a graded unit: one message per nonzero value
            c["spikes"] = chip.message_count(outs[n])
        if k.spiking:
            per_sample, tally.maps[n] = spike_tallies(outs[n])
            c["spikes"] = chip.spike_count(per_sample)  # the sum of the outputs, through its per-sample sums
            tally.per_sample[n] = per_sample.cpu()
        if k.kind in ("synapse", "neuron") and inp is None:
            inp = self._sum_inputs(n, outs, x)
        if k.kind == "synapse":
            maps = self._source_maps(n, outs, tally) if self.from_spikes[n] else None
            if maps is not None and all(m.shape == inp.shape[2:] for m in maps):
                # spike counts are nonnegative (|x| = x) and fanout is linear: the synops need only each
                # source's counts summed over steps and samples, taken once per source
                cnt = maps[0] if len(maps) == 1 else torch.stack(maps).sum(0)
                c.update(chip.synapse_counts(cnt.reshape(1, 1, *cnt.shape), True, k.fanout))
            else:
                c.update(chip.synapse_counts(inp, self.from_spikes[n], k.fanout))
        if k.kind == "neuron":
            tally.max_in[n] = abs_max(inp)
            drives = [p for p in self.preds[n] if chip.host_drive(self.nodes[p])]
            syn = inp - sum(outs[p] for p in drives) if drives else inp  # the host's bias write is no synapse
            c["active_neuron_updates"] = int(torch.count_nonzero(syn))
        if k.kind == "attention":
            c["attention_ops"] = int(k.ops(outs))
        lowered = getattr(k, "unit_counts", None)
        if lowered:  # neuron lowering: the node is its "out" population, the others are named after it
            c = dict(lowered["out"])
            tally.counts.update({f"{n}.{s}": v for s, v in lowered.items() if s != "out"})
        tally.counts[n] = c

    def _source_maps(self, n, outs, tally: "_Tally") -> List[torch.Tensor]:
        """Per input edge of ``n``, its source's output summed over steps and samples (cached per run)."""
        for p in set(self.preds[n]):
            if p not in tally.maps:
                tally.maps[p] = count_map(outs[p])
        return [tally.maps[p] for p in self.preds[n]]

    def _result(self, outs, tally: "_Tally", rec: Dict[str, torch.Tensor]) -> RunResult:
        T, B = tally.shape
        final = {o: outs[o].long() for o in self.outputs}
        last = final[self.outputs[0]] if self.outputs else outs[self.order[-1]]
        pred_src = last.reshape(T, B, -1)
        pred = (pred_src.sum(0) if self._is_spiking_output() else pred_src[-1]).argmax(-1)
        rec = {n: v if n not in self.kernels else v.to(torch.int8) if self.kernels[n].spiking else v.long()
               for n, v in rec.items()}  # node outputs as int64 (spikes int8), whatever type they ran in
        return RunResult(final, pred.cpu(), tally.counts, tally.per_sample, rec, tally.max_in)

    def _spike_sources(self, n) -> bool:
        """True when every path into ``n`` starts at spiking nodes (``GraphView.spike_fed``)."""
        return self.view.spike_fed(n, lambda m: self.kernels[m].spiking)

    def _is_spiking_output(self) -> bool:
        if not self.outputs:
            return False
        srcs = self.preds[self.outputs[0]]
        return bool(srcs) and all(self.kernels[s].spiking for s in srcs)


@dataclass
class _Tally:
    """Counts gathered node by node during one run."""

    shape: Tuple[int, int]  # (T, B)
    counts: Dict[str, Dict[str, int]] = field(default_factory=dict)
    per_sample: Dict[str, torch.Tensor] = field(default_factory=dict)
    max_in: Dict[str, int] = field(default_factory=dict)
    maps: Dict[str, torch.Tensor] = field(default_factory=dict)  # node -> output summed over (T, B), int64


def spike_tallies(out: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Spikes of a binary output ``(T, B, *shape)`` per sample ``(B,)`` and per neuron ``(*shape)``, int64:
    the steps are added in uint8 (int32 beyond 255 steps), then each sum is taken in int64."""
    T, B = out.shape[:2]
    flat = out.reshape(T, B, -1)
    steps = flat[0].to(torch.uint8 if T < 256 else torch.int32, copy=True)
    for t in range(1, T):
        steps += flat[t]
    return steps.sum(1, dtype=torch.int64), steps.sum(0, dtype=torch.int64).reshape(out.shape[2:])


def count_map(x: torch.Tensor) -> torch.Tensor:
    """``x`` ``(T, B, *shape)`` summed over steps and samples, int64 ``(*shape)``."""
    return x.reshape(-1, *x.shape[2:]).sum(0, dtype=torch.int64)


def is_integer_graph(graph: nir.NIRGraph) -> bool:
    """True when every neuron node carries ``metadata["lava"]`` (nested graphs included)."""
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            if not is_integer_graph(node):
                return False
        elif type(node).__name__ in chip.NEURONS and not (node.metadata or {}).get("lava"):
            return False
    return True

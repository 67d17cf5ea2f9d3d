"""Attention extension nodes as mapper layers, for either ``--attention-lowering``.

- ``core``: the attention-output neuron layer (``attn_lif``) is one ``attention`` layer whose memory is
  the K/V operand share an opaque core rewrites every step (grade D, docs/hardware.md); it adds
  ``chip.hop_latency("attention", chunk)`` steps (1, or STAtten's ``chunk``).
- ``neurons``: every population of ``attention_lowering.plan`` becomes a ``lowered`` layer of
  ``Unit.size`` neurons whose synaptic memory is the stored sparse entries of the links into it
  (``entry_runs``); the ``out`` population carries the attention node's own name (the simulators
  report its counts under it) and feeds ``attn_lif`` one to one (an identity synapse: one entry per
  neuron, no step: the simulators connect it straight into the neuron, as the core). A lowered
  population emits its step 0 ``Unit.stage`` steps after the operands, so the attention adds
  ``Lowering.out_latency`` steps.
"""

from __future__ import annotations

import numpy as np

from . import chip
from .attention_lowering import OPERANDS, Lowering
from .layers import LOWERED, LayerSpec

BLOCK = "DS2TABlockAttention"


def core_fan_in(node) -> dict:
    """The opaque core's layer facts: output neuron (channel c, token i) reads q (d), k (d x N), v (N);
    the core rewrites its K row share and V column (2N entries per output neuron) every step."""
    n, d = int(np.prod(node.tokens_shape)), int(node.channels) // int(node.heads)
    return {"kind": "attention", "fan_in": d + d * n + n, "shared": False, "rewritten": 2 * n, "bits": 8,
            "operands": 3}


def core_hop_steps(node) -> int:
    """Steps the opaque core adds: 1, or a block core's ``chunk`` (``chip.hop_latency``)."""
    return chip.hop_latency("attention", int(node.chunk) if type(node).__name__ == BLOCK else None)


def unit_layer_name(low: Lowering, suffix: str) -> str:
    """``"<node>.<suffix>"``; the ``out`` population is the node itself (as the simulators name it)."""
    return low.name if suffix == "out" else f"{low.name}.{suffix}"


def _runs(per_neuron: np.ndarray) -> list[list[int]]:
    """Run-length encoding ``[[count, value], ...]`` of a per-neuron entry count."""
    if per_neuron.size == 0:
        return []
    cut = np.flatnonzero(np.diff(per_neuron)) + 1
    starts = np.concatenate([[0], cut])
    counts = np.diff(np.concatenate([starts, [per_neuron.size]]))
    return [[int(c), int(per_neuron[s])] for s, c in zip(starts, counts)]


def lowered_layers(low: Lowering, operand_layers: dict[str, str]) -> list[LayerSpec]:
    """The lowered populations of one attention node as ``lowered`` layers, in emission order.

    Args:
        low: ``attention_lowering.plan(name, node)``.
        operand_layers: ``{"q": layer, "k": layer, "v": layer}``: the neuron layers of the operands.
    """
    out = []
    for u in low.units:
        into = [link for link in low.links if link.dst == u.suffix and link.entries]
        per = np.zeros(u.size, np.int64)
        for link in into:
            per += np.bincount(link.rows, minlength=u.size)
        srcs = sorted({operand_layers[lk.src] if lk.src in OPERANDS else unit_layer_name(low, lk.src)
                       for lk in into})
        graded = any(lk.src not in OPERANDS and not low.unit(lk.src).spiking for lk in into)
        out.append(LayerSpec(
            unit_layer_name(low, u.suffix), LOWERED, (1, 1, u.size), fan_in=int(per.max(initial=0)),
            sources=tuple(srcs), graded_input=graded,
            meta={"attention": low.name, "form": low.form, "unit": u.suffix, "process": u.process,
                  "spiking": u.spiking, "stage": u.stage, "entry_runs": _runs(per),
                  "operand_layers": [operand_layers[o] for o in OPERANDS]}))
    return out


def attn_input_layer(name: str, shape, low: Lowering, node, sources_meta: dict) -> LayerSpec:
    """The attention-output neuron layer fed one to one by the lowering's ``out`` population."""
    model = core_fan_in(node)["fan_in"]
    return LayerSpec(name, "dense", shape, fan_in=1, sources=(low.name,), weight_bits=1, graded_input=True,
                     meta={**sources_meta, "attention_input": low.name, "hop_steps": 0, "model_fan_in": model})


def latency_steps(layers: list[LayerSpec]) -> int:
    """Chip steps from input to output on the mapped layers (the executors' ``chip.longest_path`` rule):
    a layer adds ``meta["hop_steps"]`` when set (an attention core: 1 or ``chunk``; ``attn_lif`` fed by
    a lowered ``out``: 0), a lowered population sits ``stage`` steps after its operands, any other
    layer with synapses adds ``chip.SYNAPSE_DELAY``; layers in topological order."""
    depth: dict[str, int] = {}
    for ls in layers:
        if ls.kind == "input":
            depth[ls.name] = 0
        elif ls.kind == LOWERED:
            ops = ls.meta.get("operand_layers", [])
            depth[ls.name] = max((depth.get(o, 0) for o in ops), default=0) + int(ls.meta["stage"])
        else:
            hop = int(ls.meta.get("hop_steps", chip.SYNAPSE_DELAY))
            depth[ls.name] = hop + max((depth.get(s, 0) for s in ls.sources), default=0)
    return max(depth.values(), default=0)


def mapping_lowering(layers: list[LayerSpec]) -> str | None:
    """``"neurons"`` when the layers hold a lowered attention, ``"core"`` for an attention core, else None."""
    kinds = {ls.kind for ls in layers}
    return "neurons" if LOWERED in kinds else ("core" if "attention" in kinds else None)


UNIT_SUFFIXES = ("qk", "score", "level", "nsad", "sv", "kv", "kvsum", "qkv", "kvblock", "ones", "clock")


def activity_lowering(activity: dict) -> str | None:
    """The attention lowering a simulation counted: its ``attention_lowering`` when recorded, else
    ``"neurons"`` when it reports lowered populations (``"<node>.qk"`` beside ``"<node>"``), ``"core"``
    when it reports attention-core ops, else None (no attention, or nothing to tell)."""
    if activity.get("attention_lowering"):
        return activity["attention_lowering"]
    layers = activity.get("layers", {}) or {}
    for n in layers:
        head, _, tail = n.rpartition(".")
        if tail in UNIT_SUFFIXES and head in layers:
            return "neurons"
    return "core" if any((a or {}).get("attention_ops", 0) for a in layers.values()) else None

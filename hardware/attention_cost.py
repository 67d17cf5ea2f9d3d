"""What the spiking attention costs on Loihi-2-class cores, neuron lowering vs opaque core, per preset.

One function, ``cost_table``, builds each preset's attention (operands ``q, k, v`` as input layers of
``D x N`` neurons), maps it with ``map_layers`` under both lowerings and reports, summed over the
preset's blocks: neurons, stored synapse entries, cores, and the steps the attention adds to the
latency. The attention's own populations are counted: under ``neurons`` the lowered populations plus
``attn_lif`` (fed one to one by ``out``), under ``core`` the ``attn_lif`` layer whose memory is the
operand share an opaque core rewrites each step (2N entries per neuron, grade D). The form follows
the attention: DS2TA's NSAD table is non-linear -> pairwise (here ``t[h, m] = m^2``: every step
nonzero and ``t[h, 0] = 0``); Spikformer's identity table -> associative ``Q (K^T V)``; STAtten ->
block ``Q_b (K_b^T V_b)`` with the preset's chunk. docs/hardware.md shows the table;
tests/hardware/test_attention_cost.py checks it against hand-worked formulas.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .attention_lowering import LOWERINGS, Lowering, plan_form
from . import chip
from .attention_map import attn_input_layer, core_fan_in, lowered_layers
from .core import LOIHI2, CoreSpec
from .layers import LayerSpec
from .mapper import map_layers

FORMS = {"ds2ta": "pairwise", "spikformer": "associative", "statten": "block"}
CHIPS = 10_000  # enough chips that the cost is never cut short by rule_chips


@dataclass(frozen=True)
class AttentionCost:
    """One row: a preset's attention under one lowering, summed over its blocks."""

    preset: str
    attention: str
    form: str
    lowering: str
    blocks: int
    neurons: int
    synapse_entries: int
    cores: int
    latency_steps: int   # steps one attention adds between its operands and attn_lif's input

    def to_dict(self) -> dict:
        return asdict(self)


class _Node:
    """The sizes an opaque-core layer needs (``attention_map.core_fan_in`` reads these fields)."""

    def __init__(self, channels: int, heads: int, tokens: int, chunk: int):
        self.channels, self.heads, self.tokens_shape, self.chunk = channels, heads, (tokens, 1), chunk


def table_for(form: str, heads: int, head_dim: int) -> np.ndarray | None:
    """The NSAD table the cost assumes: ``m^2`` (pairwise), identity (associative), none (block)."""
    m = np.arange(head_dim + 1)
    return {"pairwise": np.tile(m * m, (heads, 1)), "associative": np.tile(m, (heads, 1))}.get(form)


def _operands(D: int, N: int) -> tuple[list[LayerSpec], dict[str, str]]:
    layers = [LayerSpec(o, "input", (1, 1, D * N)) for o in ("q", "k", "v")]
    return layers, {o: o for o in ("q", "k", "v")}


def block_cost(form: str, D: int, H: int, N: int, chunk: int, lowering: str,
               spec: CoreSpec = LOIHI2) -> dict:
    """One attention block's ``neurons``, ``synapse_entries``, ``cores`` and ``latency_steps``.

    Raises:
        ValueError: an unknown lowering or form.
    """
    if lowering not in LOWERINGS:
        raise ValueError(f"lowering {lowering!r}: choose one of {LOWERINGS}")
    ops, names = _operands(D, N)
    node = _Node(D, H, N, chunk)
    if lowering == "neurons":
        low: Lowering = plan_form("attn", form, H, D, N, table=table_for(form, H, D // H), chunk=chunk)
        own = [*lowered_layers(low, names), attn_input_layer("attn_lif", (1, 1, D * N), low, node, {})]
        latency = low.out_latency
    else:
        info = core_fan_in(node)
        own = [LayerSpec("attn_lif", "attention", (1, 1, D * N), fan_in=info["fan_in"], sources=("k", "q", "v"),
                         rewritten_entries_per_neuron=info["rewritten"])]
        latency = chip.hop_latency("attention", chunk if form == "block" else None)
    m = map_layers(ops + own, spec=spec, chips=CHIPS)
    names_own = {ls.name for ls in own}
    return {"neurons": sum(ls.neurons for ls in own), "synapse_entries": sum(ls.synapse_entries for ls in own),
            "cores": sum(1 for c in m.cores if c.layer in names_own), "latency_steps": int(latency)}


def cost_table(presets: dict[str, dict], spec: CoreSpec = LOIHI2) -> list[AttentionCost]:
    """The attention cost of every preset, attention and lowering.

    Args:
        presets: ``{name: {"embed_dim", "heads", "tokens", "depth", "chunk"}}`` (``tokens``: N after
            the patchifier, e.g. ``DS2TAConfig.num_tokens``).
        spec: core limits.

    Returns:
        One ``AttentionCost`` per preset x attention (``FORMS``) x lowering, in that order.
    """
    rows, cache = [], {}
    for name, p in presets.items():
        D, H, N, depth, chunk = (int(p[k]) for k in ("embed_dim", "heads", "tokens", "depth", "chunk"))
        for attention, form in FORMS.items():
            for lowering in LOWERINGS:
                key = (form, D, H, N, chunk, lowering)
                if key not in cache:
                    cache[key] = block_cost(form, D, H, N, chunk, lowering, spec)
                c = cache[key]
                rows.append(AttentionCost(name, attention, form, lowering, depth, depth * c["neurons"],
                                          depth * c["synapse_entries"], depth * c["cores"], c["latency_steps"]))
    return rows


def markdown(rows: list[AttentionCost]) -> str:
    """The table as docs/hardware.md shows it: neuron lowering / core, per preset and attention."""
    by = {(r.preset, r.attention, r.lowering): r for r in rows}
    out = ["| preset | attention (form) | blocks | neurons: neurons / core | synapse entries: neurons / core "
           "| cores: neurons / core | latency steps: neurons / core |", "|---|---|---|---|---|---|---|"]
    for (preset, attention, lowering), r in by.items():
        if lowering != "neurons":
            continue
        c = by[(preset, attention, "core")]
        out.append(f"| {preset} | {attention} ({r.form}) | {r.blocks} | {r.neurons:,} / {c.neurons:,} | "
                   f"{r.synapse_entries:,} / {c.synapse_entries:,} | {r.cores:,} / {c.cores:,} | "
                   f"{r.latency_steps} / {c.latency_steps} |")
    return "\n".join(out)

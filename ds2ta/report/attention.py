"""The attention under both lowerings, side by side: neurons, synapse entries, cores, chips, energy
per inference (the three numbers) and latency.

Structural numbers come from the run's ``model.nir`` alone, mapped under each lowering. Energy needs
counted events: the simulated lowering's are the run's own; the other lowering's are derived from the
same run where that is exact, else reported as missing with the command that would count them:
- neurons -> core: the core's attention-core ops are the products the lowering counted (pairwise:
  ``qk`` + ``sv`` messages, exact when every ``t[h, 0] = 0``; block: ``kv`` + ``qkv`` messages).
  The associative form keeps no pairwise products, so a Spikformer core cannot be derived.
- core -> neurons: the lowered populations' events are not in a core run (run ``ds2ta-sim
  --attention-lowering neurons``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ds2ta.export import read_graph
from ds2ta.hardware import check_fits
from ds2ta.hardware.attention_lowering import LOWERINGS
from ds2ta.hardware.attention_map import activity_lowering
from ds2ta.hardware.core import spec_of
from ds2ta.hardware.energy import estimate
from ds2ta.hardware.layers import LOWERED

MISSING = "missing"
CHIPS = 10_000  # structural comparison: never cut short by --chips (the rows say how many are needed)


def _attention_layers(m) -> list:
    return [ls for ls in m.layers if ls.kind in (LOWERED, "attention") or "attention_input" in ls.meta]


def derived_core_activity(graph, mapping_neurons, sim: dict) -> tuple[dict | None, str]:
    """A core-lowering activity from a neuron-lowering run, and how it was derived (or why not)."""
    layers = dict(sim.get("layers", {}))
    attn = mapping_neurons.attention
    for name, info in attn.items():
        node = graph.nodes[name]
        if info["form"] == "associative":
            return None, (f"{name}: the associative form counts no pairwise products; run ds2ta-sim "
                          "--attention-lowering core")
        keys = ("qk", "sv") if info["form"] == "pairwise" else ("kv", "qkv")
        if any(f"{name}.{k}" not in layers for k in keys):
            return None, f"{name}: the simulation holds no {keys} counts"
        exact = info["form"] == "block" or not np.any(np.asarray(node.table)[:, 0])
        if not exact:
            return None, f"{name}: t[h, 0] != 0, so the core's [S != 0] products differ from the lowering's"
        ops = sum(layers[f"{name}.{k}"].get("spikes", 0) for k in keys)
        for suffix in info["units"]:
            layers.pop(f"{name}.{suffix}", None)
        layers[name] = {"spikes": 0, "synops": 0, "graded_synops": 0, "neuron_updates": 0, "attention_ops": ops}
    out = dict(sim, layers=layers, attention_lowering="core")
    out.pop("latency_steps", None)  # the core program's depth comes from its mapping
    if out.get("steps_per_inference") != out.get("T"):  # sequential: T + the neuron lowering's drain
        out.pop("steps_per_inference", None)  # the core's own: T + its mapping's latency
    return out, "derived from the neuron run (attention-core ops = the lowering's product messages, exact)"


def _row(lowering: str, m, energy, source: str, T, pipelined: bool) -> dict:
    """One lowering's row; ``steps_per_inference`` is what its energy was priced with (``pipelined``:
    one inference every T steps, else T + the lowering's latency; plus merge steps, as the energy model)."""
    own = _attention_layers(m)
    d = m.to_dict()
    steps = d["latency_steps"] + d["merge_latency_steps"]
    per_inference = (T + (d["merge_latency_steps"] if pipelined else steps)) if T else MISSING
    row = {"lowering": lowering, "attention_neurons": sum(ls.neurons for ls in own),
           "attention_synapse_entries": sum(ls.synapse_entries for ls in own),
           "attention_cores": sum(1 for c in m.cores if c.layer in {ls.name for ls in own}),
           "total_cores": d["total_cores"], "chips": d["chips"], "latency_steps": steps,
           "steps_per_inference": energy.latency["steps"] if energy is not None else per_inference,
           "energy_source": source}
    if energy is None:
        row.update(paper_J=MISSING, loihi_sanafe_J=MISSING, loihi_table2_J=MISSING, gpu_J=MISSING)
    else:
        lo = energy.loihi
        row.update(paper_J=energy.paper["total_J"], loihi_sanafe_J=lo["sanafe"]["total_J"]["model_step"],
                   loihi_table2_J=lo["table2"]["total_J"]["model_step"], gpu_J=energy.gpu["energy_J"],
                   gpu_kind=energy.gpu["kind"])
    return row


def compare_lowerings(root: str | Path, mapping: dict | None, sim: dict | None) -> dict | str:
    """Both lowerings' attention costs for the run folder ``root`` (needs its ``model.nir``).

    Returns:
        ``{"rows": [row per lowering], "simulated": lowering or None, "forms": {node: form}}`` or
        ``"missing"`` when the folder holds no graph with an attention node.
    """
    nirs = sorted(Path(root).rglob("model.nir"), key=lambda p: (len(p.parts), str(p)))
    if not nirs:
        return MISSING
    graph = read_graph(nirs[0])
    if not any(type(n).__name__ in ("DS2TASpikeAttention", "DS2TABlockAttention") for n in graph.nodes.values()):
        return MISSING
    spec = spec_of(mapping) if mapping else None
    kw = {"spec": spec} if spec else {}
    maps = {low: check_fits(graph, chips=CHIPS, lowering=low, **kw) for low in LOWERINGS}
    simulated = activity_lowering(sim) if sim else None
    T = (sim or {}).get("T")
    pipelined = bool(T) and (sim or {}).get("steps_per_inference") == T  # ds2ta-sim's schedule (docs/simulation.md)
    rows = []
    for low in LOWERINGS:
        m, energy, source = maps[low], None, MISSING
        if sim is not None and simulated == low:
            energy, source = estimate(m, sim), "counted by the simulation"
        elif sim is not None and simulated == "neurons" and low == "core":
            act, source = derived_core_activity(graph, maps["neurons"], sim)
            energy = estimate(m, act) if act is not None else None
        elif sim is not None:
            source = f"not simulated: run ds2ta-sim --attention-lowering {low}"
        rows.append(_row(low, m, energy, source, T, pipelined))
    return {"rows": rows, "simulated": simulated or MISSING, "graph": str(nirs[0]),
            "forms": {k: v["form"] for k, v in maps["neurons"].attention.items()}}

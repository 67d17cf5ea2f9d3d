"""Energy and latency per inference as a pure function of counted activity and cited constants.

Three numbers, side by side, never one:

1. Paper-comparable (Horowitz 45 nm): ``E = 4.6 pJ * graded_synops + 0.9 pJ * (synops + attention_ops)``
   per inference, i.e. the spreadsheet formula of spiking-transformer papers with the firing rates
   replaced by counted events (attention products included). Under the neuron lowering every
   synaptic event into a lowered attention population (binary or graded) is an attention AC.
2. Loihi-class event model, per profile (silicon-fitted SANA-FE and Table-2 Loihi 1 costs):
   ``E_dyn = sum_l synops_l e_syn(kind_l) + updates_l e_nu + active_l e_act + spikes_l (e_spike +
   msgs_l e_msg + hops_ew_l e_ew + hops_ns_l e_ns) + attention_ops_l e_att`` and
   ``E_static = P_static_per_core * cores * steps * t_step``. A fan-in-split layer (mapper,
   ``split.py``) adds its partial-sum compartment updates (``G x`` the layer's updates), graded
   messages to the merge core and merge synops (each ``<= min(G x updates, layer synops)``: every
   nonzero partial sum sent every step, an upper bound) and their hops; its cores are in the static
   term and its merge stage adds ``merge_latency_steps`` chip steps per inference. A lowered
   attention population (``attention_map.py``) is priced by the same events, its graded ones with the
   graded constants (``graded_synop``, ``graded_message_out``, ``graded_neuron_update``: grade D, the
   binary ones stand in); there is no ``attention-core ops`` term under ``neurons``. A graded unit
   (``DS2TAGraded``, the graded max-pool) is priced with the same graded constants: its graded synops,
   updates and messages (its nonzero values, counted as ``spikes``).
3. GPU: measured (NVML) when given, else a modeled lower bound clearly labelled ``modeled``.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

from .chip import ACTIVITY_KEYS as COUNT_KEYS  # per-inference activity: the chip's counts less "neurons"
from .attention_map import activity_lowering
from .core import Cited, CoreSpec, spec_of
from .layers import LOWERED, LayerSpec
from .profiles import GPU_J_PER_FLOP, HOROWITZ_AC, HOROWITZ_MAC, PROFILES, STATIC_PER_CORE_W, EventProfile


@dataclass
class Term:
    """One priced term: ``count * unit = energy``, with the unit's evidence."""

    name: str
    count: float
    unit_J: float
    energy_J: float
    grade: str
    source: str


@dataclass
class EnergyReport:
    """Per-inference energy, latency and energy-delay product. All energies in joules."""

    samples: int
    steps_per_inference: int
    paper: dict
    loihi: dict
    gpu: dict
    latency: dict
    edp_Js: dict
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _term(name: str, count: float, c: Cited) -> Term:
    return Term(name, float(count), c.value, float(count) * c.value, c.grade, c.source)


def _mapping_dict(mapping) -> dict:
    return mapping.to_dict() if hasattr(mapping, "to_dict") else mapping


def align_activity(mapping: dict, layers: dict) -> dict[str, dict]:
    """Fold per-node counts of a simulated NIR graph onto the mapping's layers.

    A mapping layer is a neuron population; the simulator also reports its synapse nodes (``*.conv``,
    ``head.fc``, the attention core), whose synops belong to the layer they feed
    (``layer_specs[i]["meta"]["synapse_nodes"]``). Routing nodes (Delay, Flatten, Output) carry no
    events on the chip and are dropped with a warning when they report any.
    """
    alias = {}
    for ls in mapping.get("layer_specs", []):
        for node in (ls.get("meta") or {}).get("synapse_nodes", []):
            alias[node] = ls["name"]
    out: dict[str, dict] = {}
    dropped = []
    for name, a in layers.items():
        target = name if name in mapping["layers"] else alias.get(name)
        if target is None:
            if any(a.get(k, 0) for k in COUNT_KEYS):
                dropped.append(name)
            continue
        acc = out.setdefault(target, {})
        for k, v in a.items():
            if isinstance(v, (int, float)) and k != "neurons":
                acc[k] = acc.get(k, 0) + v
    if layers and not out:
        raise ValueError(f"none of the simulated nodes {sorted(layers)[:8]}... is a layer of the mapping "
                         f"({sorted(mapping['layers'])[:8]}...); map the same graph that was simulated")
    if dropped:
        warnings.warn(f"activity of nodes {dropped} is not on any mapped layer (routing nodes?): ignored",
                      stacklevel=3)
    return out


def per_inference_counts(mapping: dict, activity: dict) -> dict[str, dict]:
    """Per-layer counts divided by the number of samples; layers absent from activity count zero."""
    n = activity.get("samples")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"activity['samples']={n!r}: need a positive int (simulation.json 'samples')")
    act = align_activity(mapping, activity.get("layers", {}))
    missing = [k for k in mapping["layers"] if k not in act and mapping["layers"][k]["kind"] != "input"]
    if missing:
        warnings.warn(f"no activity for layers {missing}: counted as zero", stacklevel=3)
    out = {}
    for name in mapping["layers"]:
        a = act.get(name, {})
        d = {k: a.get(k, 0) / n for k in COUNT_KEYS}
        d["active_neuron_updates"] = a.get("active_neuron_updates", a.get("neuron_updates", 0)) / n
        out[name] = d
    return out


def split_counts(mapping: dict, counts: dict) -> dict[str, dict]:
    """Per-inference extra events of fan-in-split layers: partial-sum updates and graded messages."""
    out = {}
    for name, lay in mapping["layers"].items():
        sp = lay.get("fan_in_split")
        if not sp:
            continue
        c = counts[name]
        updates = sp["groups"] * c["neuron_updates"]
        out[name] = {"updates": updates, "messages": min(updates, c["synops"] + c["graded_synops"]), "split": sp}
    return out


def step_time_model(mapping: dict, counts: dict, steps: int) -> float:
    """Modeled seconds per step: slowest core's synaptic + neuron work, plus the mesh barrier, with
    the times of the core description the mapping was made for (``mapping["spec"]``).

    A partial-sum core does its group's share of the layer's synops (by stored entries); a merge
    core adds ``groups`` graded synops per neuron per step."""
    spec = spec_of(mapping)
    by_layer = mapping["layers"]
    partial_entries: dict[str, int] = {}
    for core in mapping["cores"]:
        if core.get("role") == "partial":
            partial_entries[core["layer"]] = partial_entries.get(core["layer"], 0) + core["entries"]
    worst = 0.0
    for core in mapping["cores"]:
        lay = by_layer[core["layer"]]
        c = counts[core["layer"]]
        role = core.get("role", "")
        if role == "merge":
            t = core["neurons"] * (lay["fan_in_split"]["groups"] * spec.synop_time_s.value
                                   + spec.neuron_update_time_s.value)
            worst = max(worst, t)
            continue
        share = (core["entries"] / max(partial_entries[core["layer"]], 1) if role == "partial"
                 else core["neurons"] / max(lay["neurons"], 1))
        syn = (c["synops"] + c["graded_synops"] + c["attention_ops"]) * share / max(steps, 1)
        t = syn * spec.synop_time_s.value + core["neurons"] * spec.neuron_update_time_s.value
        worst = max(worst, t)
    return worst + spec.barrier_time_s.value


def _latency_source(spec: CoreSpec) -> str:
    ns = 1e9
    return (f"{spec.name}: slowest core's synops x {spec.synop_time_s.value * ns:.3g} ns + neurons x "
            f"{spec.neuron_update_time_s.value * ns:.3g} ns + {spec.barrier_time_s.value * ns:.3g} ns barrier "
            f"({spec.synop_time_s.source}; {spec.neuron_update_time_s.source}; {spec.barrier_time_s.source}); "
            f"measured step {spec.measured_step_s.value * 1e6:.4g} us ({spec.measured_step_s.source})")


def _lowered_meta(mapping: dict) -> dict[str, dict]:
    """``{layer: meta}`` of the mapping's lowered attention populations."""
    return {ls["name"]: ls.get("meta") or {} for ls in mapping.get("layer_specs", []) if ls["kind"] == LOWERED}


def _graded_units(mapping: dict) -> dict:
    """Layers whose neurons send graded messages, with the label of their terms: memoryless graded units
    (``DS2TAGraded``, ``meta["graded_unit"]``) and sigma-delta populations (``meta["sigma_delta"]``)."""
    out = {}
    for ls in mapping.get("layer_specs", []):
        meta = ls.get("meta") or {}
        if meta.get("graded_unit"):
            out[ls["name"]] = "graded units"
        elif meta.get("sigma_delta"):
            out[ls["name"]] = "sigma-delta neurons"
    return out


def _loihi(mapping: dict, counts: dict, prof: EventProfile, static_s: dict) -> dict:
    kinds = {k: v["kind"] for k, v in mapping["layers"].items()}
    lowered = _lowered_meta(mapping)
    units = _graded_units(mapping)
    out_edges: dict[str, list] = {}
    for e in mapping["edges"].values():
        out_edges.setdefault(e["src"], []).append(e)
    terms: dict[str, Term] = {}
    per_layer = {}

    def add(name, count, c, layer):
        t = _term(name, count, c)
        if name in terms:
            terms[name].count += t.count
            terms[name].energy_J += t.energy_J
        else:
            terms[name] = t
        per_layer[layer] = per_layer.get(layer, 0.0) + t.energy_J

    for name, c in counts.items():
        syn = prof.synop_conv if kinds[name] == "conv" else prof.synop_dense
        low = lowered.get(name)
        if name in units:  # graded units, sigma-delta neurons: graded updates and messages (grade D stand-ins)
            label = units[name]
            add("synaptic ops", c["synops"], syn, name)
            add(f"{label}: graded synops", c["graded_synops"], prof.graded_synop, name)
            add(f"{label}: updates", c["neuron_updates"], prof.graded_neuron_update, name)
            add(f"{label}: graded messages out", c["spikes"], prof.graded_message_out, name)
        elif low is None:
            add("synaptic ops", c["synops"] + c["graded_synops"], syn, name)
            add("neuron updates", c["neuron_updates"], prof.neuron_update, name)
            add("spikes out", c["spikes"], prof.spike_out, name)
        else:  # a lowered attention population: graded events priced apart (grade D stand-ins)
            graded = not low.get("spiking")
            add("attention neurons: binary synops", c["synops"], prof.synop_dense, name)
            add("attention neurons: graded synops", c["graded_synops"], prof.graded_synop, name)
            add("attention neurons: updates", c["neuron_updates"],
                prof.graded_neuron_update if graded else prof.neuron_update, name)
            add("attention neurons: graded messages out" if graded else "spikes out", c["spikes"],
                prof.graded_message_out if graded else prof.spike_out, name)
        add("active neuron extra", c["active_neuron_updates"], prof.neuron_active_extra, name)
        if mapping.get("attention_lowering") != "neurons":
            add("attention-core ops", c["attention_ops"], prof.attention_op, name)
        for e in out_edges.get(name, []):
            add("spike messages", c["spikes"] * e["messages_per_spike"], prof.message, name)
            add("mesh hops east-west", c["spikes"] * e["hops_ew_per_spike"], prof.hop_ew, name)
            add("mesh hops north-south", c["spikes"] * e["hops_ns_per_spike"], prof.hop_ns, name)
    for name, x in split_counts(mapping, counts).items():
        sp = x["split"]
        add("partial-sum compartment updates", x["updates"], prof.neuron_update, name)
        add("partial-sum messages", x["messages"] * sp.get("messages_per_partial_sum", 1.0), prof.message, name)
        add("merge graded synops", x["messages"], prof.synop_dense, name)
        add("mesh hops east-west", x["messages"] * sp.get("hops_ew_per_message", 0.0), prof.hop_ew, name)
        add("mesh hops north-south", x["messages"] * sp.get("hops_ns_per_message", 0.0), prof.hop_ns, name)
    dynamic = sum(t.energy_J for t in terms.values())
    cores = mapping["total_cores"]
    static = {k: STATIC_PER_CORE_W.value * cores * s for k, s in static_s.items()}
    return {
        "profile": prof.name, "dynamic_J": dynamic,
        "static_J": static, "static_grade": STATIC_PER_CORE_W.grade, "static_source": STATIC_PER_CORE_W.source,
        "total_J": {k: dynamic + v for k, v in static.items()},
        "terms": [asdict(t) for t in terms.values()], "per_layer_dynamic_J": per_layer,
    }


def check_lowering(mapping: dict, activity: dict) -> str | None:
    """The attention lowering the activity was counted with; it must be the mapping's.

    Raises:
        ValueError: the simulation ran one lowering and the mapping holds the other.
    """
    sim = activity_lowering(activity)
    mapped = mapping.get("attention_lowering")
    if sim and mapped and sim != mapped:
        raise ValueError(f"the simulation counted the attention as '{sim}' but the mapping lowers it to "
                         f"'{mapped}': map and simulate with the same --attention-lowering")
    return sim


def steps_per_inference(activity: dict) -> int:
    """Chip steps per inference: ``steps_per_inference`` if given (pipelined runs), else ``T +
    latency_steps`` (one sample, then reset: docs/architecture.md), else ``T``."""
    if activity.get("steps_per_inference"):
        return int(activity["steps_per_inference"])
    T = int(activity.get("T") or 0)
    if T < 1:
        raise ValueError("activity needs 'T' >= 1 (model steps) or 'steps_per_inference'")
    return T + int(activity.get("latency_steps") or 0)


def estimate(mapping, activity: dict, profile=None, gpu: dict | None = None) -> EnergyReport:
    """Price one inference of the simulated model on the mapped system.

    Args:
        mapping: ``Mapping`` or the ``mapping.json`` dict; its ``spec`` (the core description it was
            mapped for) gives the step times, as its cores give the static energy.
        activity: ``simulation.json`` dict (totals over ``samples``; ``T`` model steps,
            ``latency_steps`` synapse depth; chip steps per inference = ``T + latency_steps`` unless
            ``steps_per_inference`` is given), plus the mapping's ``merge_latency_steps``.
        profile: An ``EventProfile``, a dict of them, or None for both Loihi 1 profiles.
        gpu: Optional measured GPU result: one ``gpu_energy.measure`` dict or the ``measure_torch``
            dict of runs (batch 1 and batched); else a modeled bound.

    Returns:
        ``EnergyReport`` with the three numbers, latency and energy-delay products.
    """
    m = _mapping_dict(mapping)
    check_lowering(m, activity)
    counts = per_inference_counts(m, activity)
    merge_steps = int(m.get("merge_latency_steps") or 0)
    if not activity.get("latency_steps") and m.get("latency_steps") is not None:
        activity = dict(activity, latency_steps=m["latency_steps"])  # the mapped program's depth
    steps = steps_per_inference(activity) + merge_steps
    profiles = PROFILES if profile is None else ({"custom": profile} if isinstance(profile, EventProfile) else profile)

    # 1. paper-comparable
    lowered = _lowered_meta(m)
    macs = {k: 0 if k in lowered else c["graded_synops"] for k, c in counts.items()}
    acs = {k: c["synops"] + c["attention_ops"] + (c["graded_synops"] if k in lowered else 0)
           for k, c in counts.items()}
    paper_terms = [_term("first-layer MACs (graded input)", sum(macs.values()), HOROWITZ_MAC),
                   _term("ACs (synaptic + attention ops)", sum(acs.values()), HOROWITZ_AC)]
    paper = {"total_J": sum(t.energy_J for t in paper_terms), "terms": [asdict(t) for t in paper_terms],
             "per_layer_J": {k: macs[k] * HOROWITZ_MAC.value + acs[k] * HOROWITZ_AC.value for k in counts}}

    # latency
    spec = spec_of(m)
    t_model = step_time_model(m, counts, steps)
    t_meas = spec.measured_step_s.value
    latency = {"steps": steps, "merge_latency_steps": merge_steps, "mapping_latency_steps": m.get("latency_steps"),
               "attention_lowering": m.get("attention_lowering"), "step_s_model": t_model, "seconds_model": steps * t_model,
               "step_s_pilotnet_measured": t_meas, "seconds_at_pilotnet_step": steps * t_meas,
               "grade": "D", "source": _latency_source(spec)}
    static_s = {"model_step": steps * t_model, "pilotnet_step": steps * t_meas}

    # 2. Loihi event model
    loihi = {k: _loihi(m, counts, p, static_s) for k, p in profiles.items()}

    # 3. GPU
    if gpu is not None:
        runs = gpu if "energy_J" not in gpu else {f"batch_{gpu.get('batch_size', 1)}": gpu}
        first = min(runs.values(), key=lambda r: r.get("batch_size", 1))
        gpu_out = {"kind": "measured", "runs": runs, "energy_J": first["energy_J"],
                   "energy_idle_subtracted_J": first.get("energy_idle_subtracted_J"),
                   "latency_s": first.get("latency_s"), "batch_size": first.get("batch_size"),
                   "device": first.get("device"), "grade": "M", "source": first.get("source", "NVML")}
    else:
        T = int(activity.get("T") or steps)
        flops = 2.0 * T * sum(LayerSpec.from_dict(ls).model_macs_per_step for ls in m.get("layer_specs", []))
        gpu_out = {"kind": "modeled", "label": "MODELED lower bound, not a measurement (no GPU run given)",
                   "flops_per_inference": flops, "energy_J": flops * GPU_J_PER_FLOP.value,
                   "grade": GPU_J_PER_FLOP.grade, "source": GPU_J_PER_FLOP.source}
    edp = {f"loihi_{k}": v["total_J"]["model_step"] * latency["seconds_model"] for k, v in loihi.items()}
    if gpu_out.get("latency_s") and gpu_out.get("energy_J"):
        edp["gpu"] = gpu_out["energy_J"] * gpu_out["latency_s"]
    notes = ["Loihi 2 per-event energies are unpublished: Loihi 1 costs are an upper bound on dynamic energy.",
             "Chip-to-chip crossings are counted in mapping.json but not priced (no public figure)."]
    splits = {k: v["fan_in_split"] for k, v in m["layers"].items() if v.get("fan_in_split")}
    if splits:
        notes.append(f"Fan-in split (partial sums + merge, grade D) in {sorted(splits)}: "
                     f"{sum(len(s['partial_cores']) + len(s['merge_cores']) for s in splits.values())} cores, "
                     f"+{merge_steps} step(s) latency; partial-sum messages and merge synops are upper bounds "
                     "(every nonzero partial sum sent every step); the paper-comparable number counts model "
                     "operations only, without the merge additions.")
    return EnergyReport(int(activity["samples"]), steps, paper, loihi, gpu_out, latency, edp, notes)

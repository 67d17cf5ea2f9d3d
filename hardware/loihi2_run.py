"""A run's own network on the Loihi 2 model (``loihi2_model``): its ``mapping.json`` layers on the cores of the
deployment table and its ``simulation.json`` counted events (issue 23, item 4: "the same in each report").

Cores (as docs/hardware.md's deployment table): the Intel-like count (``intel_alloc``) for ``input``, ``conv``,
``dense`` and ``readout`` layers without rewritten entries; the vendor-limit mapper's ``n_cores`` for every other
layer (attention, lowered populations, pools, graded units: no Intel-like rule exists for them). Chips:
``ceil(cores / cores_per_chip)`` of the mapping's spec.

Events per inference (``energy.per_inference_counts``: the priced backend's counts / samples), per layer::

    updates  = neuron_updates
    synops   = synops + graded_synops + attention_ops      # every accumulate into the layer
    spikes   = spikes                                      # binary spikes or graded messages
    messages = spikes * sum(cores of each consumer)        # every core of each consumer (an upper bound)

Steps per inference: ``energy.steps_per_inference`` (``T`` pipelined, ``T + latency`` sequential). Host input per
inference: Lava's ``DELTA_SPARSE_8`` sends one data byte and one index byte per nonzero value, so
``host_bytes = 2 x`` the input layers' counted values per inference (escape pairs and word padding left out).
"""

from __future__ import annotations

import math

from .energy import per_inference_counts, steps_per_inference
from .intel_alloc import ALLOCATED_KINDS, intel_like_cores
from .layers import LayerSpec
from .loihi2_model import LayerLoad, Workload

DELTA_SPARSE_8_BYTES_PER_VALUE = 2  # lava.proc.io.encoder DELTA_SPARSE_8: a data byte and an index byte


def deployment_cores(mapping: dict) -> tuple[dict[str, int], set[str]]:
    """Cores per mapped layer (``{name: cores}``) and the names that took the Intel-like count."""
    specs = mapping["layer_specs"]
    ruled = [LayerSpec.from_dict(ls) for ls in specs
             if ls["kind"] in ALLOCATED_KINDS and not ls.get("rewritten_entries_per_neuron")]
    intel = intel_like_cores(ruled) if ruled else {}
    cores = {k: int(intel.get(k, v["n_cores"])) for k, v in mapping["layers"].items()}
    return cores, set(intel) & set(cores)


def consumers(mapping: dict) -> dict[str, list[str]]:
    """The layers each layer's spikes feed (``sources`` read backwards)."""
    out: dict[str, list[str]] = {}
    for ls in mapping["layer_specs"]:
        for s in ls.get("sources") or ():
            out.setdefault(s, []).append(ls["name"])
    return out


def run_workload(mapping: dict, activity: dict, name: str = "run") -> Workload:
    """The run as a ``loihi2_model.Workload`` (module docstring).

    Args:
        mapping: ``mapping.json`` (vendor-limit mapping with ``layer_specs``).
        activity: one backend's ``simulation.json`` result (``samples``, ``T``, ``layers``).
    """
    cores, _ = deployment_cores(mapping)
    counts = per_inference_counts(mapping, activity)
    feeds = consumers(mapping)
    kinds = {k: v["kind"] for k, v in mapping["layers"].items()}
    loads = []
    for lname, c in counts.items():
        spikes = float(c["spikes"])
        dest = sum(cores.get(d, 0) for d in feeds.get(lname, ()))
        loads.append(LayerLoad(lname, cores[lname], int(mapping["layers"][lname]["neurons"]),
                               float(c["neuron_updates"]),
                               float(c["synops"] + c["graded_synops"] + c["attention_ops"]),
                               spikes, spikes * dest, kinds[lname] == "conv"))
    host = DELTA_SPARSE_8_BYTES_PER_VALUE * sum(float(counts[k]["spikes"]) for k in counts if kinds[k] == "input")
    per_chip = int(mapping["spec"]["cores_per_chip"]["value"])
    chips = math.ceil(sum(cores.values()) / per_chip)
    return Workload(name, tuple(loads), steps_per_inference(activity), host, chips)

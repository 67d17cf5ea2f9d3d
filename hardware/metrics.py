"""NeuroBench-style metrics (Yik et al., Nature Communications 2025) from counted activity.

- Effective ACs: synaptic ops driven by binary spikes (``synops``) plus spike x spike attention
  products (``attention_ops``) — NeuroBench's hooks miss the latter inside ``torch.matmul``.
- Effective MACs: synaptic ops driven by graded (integer) input (``graded_synops``).
- Dense ops: every synapse of every layer active at every model step (NeuroBench "Dense"), of the
  model (``LayerSpec.model_macs_per_step``: a lowered attention counts as the model's attention).
- Activation sparsity: zeros / all neuron outputs, over spiking (non-input) layers and model steps.
- Footprint: bytes of stored weights (conv kernels once, TASA replicas counted) at the layer's
  weight width, plus ``u`` and ``v`` state per neuron at the mapping's ``spec.state_bits`` (24 on Loihi 2).
All per inference.
"""

from __future__ import annotations

from .core import spec_of
from .energy import align_activity
from .layers import LOWERED, LayerSpec

STATE_VARS = 2  # u and v per neuron


def neurobench(mapping, activity: dict) -> dict:
    """Per-inference NeuroBench-style metrics.

    Args:
        mapping: ``Mapping`` or ``mapping.json`` dict (uses its ``layer_specs``).
        activity: ``simulation.json`` dict.
    """
    m = mapping.to_dict() if hasattr(mapping, "to_dict") else mapping
    n = activity.get("samples") or 0
    if n < 1:
        raise ValueError("activity['samples'] must be >= 1")
    T = int(activity.get("T") or activity.get("latency_steps") or 1)
    specs = {s["name"]: s for s in m["layer_specs"]}
    state_bytes_per_neuron = STATE_VARS * spec_of(m).state_bits.value / 8
    acts = align_activity(m, activity.get("layers", {}))
    acs = sum(a.get("synops", 0) + a.get("attention_ops", 0) for a in acts.values()) / n
    macs = sum(a.get("graded_synops", 0) for a in acts.values()) / n
    dense = sum(LayerSpec.from_dict(s).model_macs_per_step for s in specs.values()) * T
    outs = zeros = 0
    for name, a in acts.items():
        s = specs.get(name)
        if s is None or s["kind"] == "input":
            continue
        total = s["neurons"] * T * n
        outs += total
        zeros += total - a.get("spikes", 0)
    weight_bytes = state_bytes = 0.0
    for s in specs.values():
        if s["kind"] == "input":
            continue
        per = s["fan_in"] * s.get("replicas", 1)
        stored = (s["synapse_entries"] if s["kind"] == LOWERED else
                  s["out_shape"][2] * per if s.get("shared_weights") else s["neurons"] * per)
        weight_bytes += stored * s.get("weight_bits", 8) / 8
        state_bytes += s["neurons"] * state_bytes_per_neuron
    return {"effective_ACs": acs, "effective_MACs": macs, "dense_ops": dense,
            "activation_sparsity": (zeros / outs) if outs else None,
            "footprint_bytes": weight_bytes + state_bytes, "weight_bytes": weight_bytes,
            "state_bytes": state_bytes, "T": T,
            "definition": "NeuroBench (Yik et al. 2025) definitions applied to counted events; attention "
                          "products counted as ACs"}

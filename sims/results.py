"""The ``simulation.json`` shape shared by both backends: building, merging shards, comparing.

One backend's result (docs/simulation.md)::

    {"backend", "graph", "samples", "T", "latency_steps",
     "layers": {node: {spikes, synops, graded_synops, neuron_updates, attention_ops, neurons}},
     "per_sample": [{"index", "label", "prediction", "layers": {node: {"spikes"}}}],
     "accuracy", "wall_s"}

``--compare`` wraps two of them: ``{"backends": {...}, "match", "first_divergence", "checks"}``.
numpy only (no torch, no lava), so the CLI can merge shards anywhere; the count keys are
``ds2ta.hardware.chip.COUNT_KEYS``.
"""

from __future__ import annotations

import hashlib
from typing import Dict, List, Optional, Sequence

import numpy as np

from ds2ta.hardware.chip import COUNT_KEYS

FORMAT = "ds2ta-simulation"


def result_dict(backend: str, graph: Optional[str], T: int, latency_steps: int, layers: Dict[str, dict],
                per_sample: List[dict], wall_s: float, **extra) -> dict:
    """One backend's ``simulation.json`` dict; accuracy from the per-sample labels/predictions."""
    n = len(per_sample)
    correct = sum(int(p["prediction"] == p["label"]) for p in per_sample if p.get("label") is not None)
    labelled = sum(1 for p in per_sample if p.get("label") is not None)
    return {"format": FORMAT, "format_version": 1, "backend": backend, "graph": graph, "samples": n,
            "T": int(T), "latency_steps": int(latency_steps),
            "layers": {k: {c: int(v.get(c, 0)) for c in COUNT_KEYS} for k, v in layers.items()},
            "per_sample": per_sample, "accuracy": (correct / labelled) if labelled else None,
            "wall_s": float(wall_s), **extra}


def sample_rows(first_index: int, labels: Sequence[Optional[int]], predictions: Sequence[int],
                spikes: Dict[str, Sequence[int]]) -> List[dict]:
    """Per-sample rows: global index, label, prediction and spikes per spiking layer."""
    rows = []
    for b, pred in enumerate(predictions):
        lab = labels[b]
        rows.append({"index": first_index + b, "label": None if lab is None else int(lab),
                     "prediction": int(pred),
                     "layers": {n: {"spikes": int(v[b])} for n, v in spikes.items()}})
    return rows


def add_counts(total: Dict[str, dict], part: Dict[str, dict]) -> Dict[str, dict]:
    """Accumulate per-node counts (``neurons`` is a size, not a count: kept, and checked equal)."""
    for n, c in part.items():
        acc = total.setdefault(n, dict.fromkeys(COUNT_KEYS, 0))
        for k in COUNT_KEYS:
            if k == "neurons":
                if acc[k] and c.get(k, 0) != acc[k]:
                    raise ValueError(f"layer {n!r} has {acc[k]} neurons in one part and {c[k]} in another: "
                                     "the parts come from different graphs")
                acc[k] = int(c.get(k, 0))
            else:
                acc[k] += int(c.get(k, 0))
    return total


def check_shard_set(parts: Sequence[dict], allow_partial: bool = False) -> None:
    """The parts are shards of one run: the same graph *content* (``graph_sha256``, whatever its path),
    the same data source, and, for ``--shard i/N`` results, every shard ``0..N-1`` once.

    Raises:
        ValueError: naming what differs or which shards are missing (``allow_partial`` accepts an
            incomplete set of shards).
    """
    hashes = {p.get("graph_sha256") for p in parts}
    if len(hashes) > 1:
        short = sorted(str(h)[:12] for h in hashes)
        raise ValueError(f"the results come from different graphs (content sha256 {', '.join(short)}): "
                         "merge shards of one export only")
    sources = {repr(sorted((p.get("data") or {}).items())) for p in parts}
    if len(sources) > 1:
        raise ValueError(f"the results read different data ({' vs '.join(sorted(sources))}); merge shards "
                         "of one run only")
    shards = [p.get("shard") for p in parts]
    if not any(shards):
        return
    if not all(shards):
        raise ValueError("some results are --shard runs and some are whole runs; merge the shards of one run")
    counts = {int(s["count"]) for s in shards}
    if len(counts) > 1:
        raise ValueError(f"the shards were cut into different counts {sorted(counts)}; merge shards of one run")
    n = counts.pop()
    have = [int(s["index"]) for s in shards]
    if len(set(have)) != len(have):
        raise ValueError(f"shard(s) {sorted({i for i in have if have.count(i) > 1})} given twice")
    missing = sorted(set(range(n)) - set(have))
    if missing and not allow_partial:
        raise ValueError(f"shard(s) {missing} of {n} are missing: wait for them, or pass --allow-partial to "
                         f"merge only {len(have)} of {n} shards")


def merge(parts: Sequence[dict], allow_partial: bool = False) -> dict:
    """Merge shard results (same graph, backend and T) into one, samples in index order.

    Raises:
        ValueError: the parts come from different graphs (content hash) or data, disagree on
            backend, T or Lava schedule (``steps_per_inference``), overlap, miss shards (unless
            ``allow_partial``), or are compare results of different shapes.
    """
    if not parts:
        raise ValueError("nothing to merge: give at least one simulation.json")
    check_shard_set(parts, allow_partial)
    out = _merge(parts)
    for key in ("graph_sha256", "data"):
        if parts[0].get(key) is not None:
            out[key] = parts[0][key]
    if any(p.get("shard") for p in parts):
        out["shards_merged"] = sorted(int(p["shard"]["index"]) for p in parts)
        out["shard_count"] = int(parts[0]["shard"]["count"])
    return out


def _merge(parts: Sequence[dict]) -> dict:
    if all("backends" in p for p in parts):
        names = sorted(parts[0]["backends"])
        if any(sorted(p["backends"]) != names for p in parts):
            raise ValueError("the compare results name different backends; merge shards of one run")
        backends = {b: _merge([p["backends"][b] for p in parts]) for b in names}
        divs = [p.get("first_divergence") for p in parts if p.get("first_divergence")]
        divs.sort(key=lambda d: d.get("sample", 0))
        out = compare_results(backends, divs[0] if divs else None,
                              records_equal=all(p.get("checks", {}).get("records_equal", True) for p in parts))
        out["shards"] = sum(int(p.get("shards", 1)) for p in parts)
        return out
    if any("backends" in p for p in parts):
        raise ValueError("cannot merge a --compare result with a single-backend result")
    first = parts[0]
    # content over path; steps_per_inference: the Lava schedule (T pipelined, T + latency sequential)
    keys = ("backend", "T", "steps_per_inference") + (() if first.get("graph_sha256") else ("graph",))
    for p in parts[1:]:
        for key in keys:
            if p.get(key) != first.get(key):
                raise ValueError(f"shards differ in {key!r}: {first.get(key)!r} vs {p.get(key)!r}")
    rows = sorted((r for p in parts for r in p["per_sample"]), key=lambda r: r.get("index", 0))
    idx = [r.get("index") for r in rows]
    if None not in idx and len(set(idx)) != len(idx):
        raise ValueError("shards overlap: some sample indices appear twice")
    layers: Dict[str, dict] = {}
    for p in parts:
        add_counts(layers, p["layers"])
    out = result_dict(first["backend"], first.get("graph"), first["T"], first["latency_steps"], layers, rows,
                      wall_s=max(float(p.get("wall_s", 0.0)) for p in parts))
    if first.get("steps_per_inference") is not None:  # chip steps per sample (Lava: T pipelined), checked equal
        out["steps_per_inference"] = first["steps_per_inference"]
    out["shards"] = sum(int(p.get("shards", 1)) for p in parts)
    out["wall_s_sum"] = sum(float(p.get("wall_s_sum", p.get("wall_s", 0.0))) for p in parts)
    return out


def file_sha256(path) -> str:
    """Content hash of a file (the exported graph): ``merge`` compares it, not the path."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def array_sha256(x, labels) -> str:
    """Content hash of the simulated data slice (integer inputs and labels)."""
    h = hashlib.sha256(np.ascontiguousarray(x).tobytes())
    h.update(repr(None if labels is None else [v if v is None else int(v) for v in labels]).encode())
    return h.hexdigest()


def count_mismatches(a: dict, b: dict) -> List[dict]:
    """Layers whose totals differ between two results, and samples whose spikes/prediction differ."""
    bad = []
    for n in sorted(set(a["layers"]) | set(b["layers"])):
        ca, cb = a["layers"].get(n), b["layers"].get(n)
        if ca != cb:
            bad.append({"layer": n, a["backend"]: ca, b["backend"]: cb})
    for ra, rb in zip(a["per_sample"], b["per_sample"]):
        if ra["prediction"] != rb["prediction"] or ra["layers"] != rb["layers"]:
            bad.append({"sample": ra.get("index"), "prediction": [ra["prediction"], rb["prediction"]]})
            break
    if a["samples"] != b["samples"]:
        bad.append({"samples": [a["samples"], b["samples"]]})
    return bad


def compare_results(backends: Dict[str, dict], first_divergence: Optional[dict],
                    records_equal: bool) -> dict:
    """The ``--compare`` dict: match = equal records on every layer, step and neuron, equal per-layer
    counts and per-sample spikes/predictions, and equal latency (steps from input to read-out)."""
    names = sorted(backends)
    mism = count_mismatches(backends[names[0]], backends[names[1]]) if len(names) == 2 else []
    lat = {b: backends[b]["latency_steps"] for b in names}
    lat_equal = len(set(lat.values())) <= 1
    return {"format": FORMAT, "format_version": 1, "backends": backends,
            "match": bool(records_equal and not mism and first_divergence is None and lat_equal),
            "first_divergence": first_divergence,
            "checks": {"records_equal": bool(records_equal and first_divergence is None),
                       "count_mismatches": mism[:20], "latency_steps": lat, "latency_equal": lat_equal,
                       "accuracy": {b: backends[b]["accuracy"] for b in names}},
            "samples": backends[names[0]]["samples"], "T": backends[names[0]]["T"]}


def first_divergence(rec_a: Dict[str, object], rec_b: Dict[str, object], order: Sequence[str],
                     sample_offset: int = 0) -> Optional[dict]:
    """First (layer in ``order``, then step, sample, neuron) where two recordings differ.

    Args:
        rec_a, rec_b: ``{node: (T, B, ...)}`` arrays or tensors (trailing dims are flattened, so a
            ``(T, B, C, H, W)`` reference record compares with a ``(T, B, C*H*W)`` Lava record).
        order: node names in execution order; nodes missing from either recording are skipped.
        sample_offset: added to the sample index (for batches of a longer run).

    Returns:
        ``None`` when equal, else ``{"sample", "layer", "step", "neuron"}`` (neuron = flat index).
    """
    for n in order:
        if n not in rec_a or n not in rec_b:
            continue
        a, b = _np(rec_a[n]), _np(rec_b[n])
        if a.shape[:2] != b.shape[:2] or a[0, 0].size != b[0, 0].size:
            raise ValueError(f"layer {n!r}: recordings have shapes {a.shape} and {b.shape}")
        diff = a.reshape(a.shape[0], a.shape[1], -1) != b.reshape(b.shape[0], b.shape[1], -1)
        if diff.any():
            t, s, j = (int(v) for v in np.argwhere(diff)[0])
            return {"sample": s + sample_offset, "layer": n, "step": t, "neuron": j}
    return None


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(np.int64)

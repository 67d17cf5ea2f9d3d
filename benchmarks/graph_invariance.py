"""Graph-handling invariance record: every number a refactor of the graph code must leave unchanged.

For a fixed set of integer NIR graphs this records what the three consumers of a graph compute:

- the integer reference (``ds2ta.sims.reference``): per-node counts (every ``COUNT_KEYS`` entry, one row
  per node in the file's ``count_keys`` order), latency, node order (``ReferenceExecutor.order`` and
  ``.delayed``), predictions, the largest synaptic inputs, and a hash of every recorded node output;
- the Lava backend (``ds2ta.sims.lava.simulate.simulate_lava``, as ``ds2ta-sim`` runs it: pipelined for
  several samples, sequential for one): per-node counts, latency, ``steps_per_inference``, Lava steps,
  processes and process classes, predictions, and the same record hashes; ``lava_equals_reference``
  says whether both agree (Lava's counts are stored as ``"same as reference"`` when they do);
- the hardware mapping (the ``loihi2`` export target, ``--chips auto``, as ``ds2ta-export`` writes
  ``mapping.json``): layers in order with kind, neurons, cores and limits, the nir_adapter's layer specs,
  total cores, chips, latency, the attention lowering, hashes of the per-core and per-edge tables; and
  ``hardware.energy.estimate`` / ``hardware.metrics.neurobench`` of the reference's activity.

A consumer that refuses a graph records its error message instead (a refusal is a behaviour too); one
failing case or consumer does not stop the others (``GRAPH_INVARIANCE_TRACEBACK=1`` prints their
tracebacks). Timings and paths go under ``"meta"``, which ``--compare`` ignores. Each case records its
graph's fingerprint (node names and types, edge and parameter hashes) and an input hash, so a
difference there says the *graph* changed, not its handling.

Cases (``--only`` groups):

- ``tiny``: the ``tiny`` preset with each attention (ds2ta with a non-linear NSAD table and with the
  linear one, spikformer, statten, sdsa), untrained with BN statistics set so every layer fires, 2
  samples, exported as tests/sims/lava/test_lava_match.py does; under both attention lowerings
  (``neurons``, ``core``);
- ``wide``: the 256-channel, 32 x 32 graphs of tests/sims/lava/test_lava_wide.py, each attention, both lowerings;
- ``sdt``: the SDT backbone (tests/sims/lava/test_lava_sdt.py: statten, sdsa, and their DVS-pooling variants);
- ``events``: event input (tests/sims/lava/test_lava_events.py: tiny-dvs ds2ta / statten, SDT statten, SDT sdsa);
- ``pilotnet``: PilotNet-LIF, ``ds2ta-export network.net`` (its mapping.json as written), the ``image.npy`` frame;
- ``thirdparty``: tests/sims/thirdparty_graphs.py (snntorch, sinabs, norse, the recurrent CubaLIF flat and as a
  subgraph, the AvgPool2d and pool-chain graphs), edges sorted (their writers' order changes from run to
  run), integerized (``integerize_graph``), 10 steps of random inputs; plus the float graph in ``FloatExecutor``;
- ``graded``: the ``DS2TAGraded`` max-pool tree of tests/sims/graded_graphs.py;
- ``refusal``: a Conv1d graph, float and integer.

Usage::

    python benchmarks/graph_invariance.py --out after.json [--only tiny,pilotnet] [--no-lava]
    python benchmarks/graph_invariance.py --compare docs/results/graph_invariance_before.json after.json

``--compare`` prints every difference (path, before, after; an order as its first differing entries) and
exits 1 when there is any (``--rtol`` lets floats differ by that relative amount; default exact).
A whole run takes 2-5 minutes on 2 idle cores (most of it Lava); ``kill -USR1 PID`` prints the stack of
a run that seems stuck.

The script imports the ``ds2ta`` code of the checkout it lives in (``ds2ta/``, ``export/``, ``hardware/``,
``sims/`` beside this folder), even when the virtual environment has the package installed editable from
another checkout: copy it into a ``git worktree`` of another commit and run it there with the same
Python to record that commit (``meta.code`` says which folders were imported).
docs/results/graph_invariance_before.json was recorded so, from commit bf26ebe (before the node-kind
table, graph view and latency refactor of issue 22).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.abc
import importlib.util
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMAT = "ds2ta-graph-invariance"
PACKAGES = {"ds2ta": "ds2ta", "ds2ta.export": "export", "ds2ta.hardware": "hardware", "ds2ta.sims": "sims"}
ATTENTIONS = ("ds2ta", "spikformer", "statten", "sdsa")
LOWERINGS = ("neurons", "core")
WIDE = dict(img_size=32, in_channels=1, embed_dim=256, heads=8, depth=1, mlp_ratio=1, pool_stages="0011")
# SDT backbone (tests/sims/lava/test_lava_sdt.py) and event input (tests/sims/lava/test_lava_events.py)
SDT = dict(img_size=32, in_channels=1, embed_dim=256, heads=8, depth=1, mlp_ratio=1, pool_stages="0011",
           backbone="sdt", T=4, chunk=2)
SMALL_DVS = dict(SDT, img_size=16, embed_dim=64, heads=4, dvs_pool=True)
SDT_EVENTS = dict(img_size=16, in_channels=2, embed_dim=64, heads=4, depth=1, mlp_ratio=1, pool_stages="0011",
                  backbone="sdt", encoding="events", T=10, chunk=5)
GROUPS = ("tiny", "wide", "sdt", "events", "pilotnet", "thirdparty", "graded", "refusal")


# ---------------------------------------------------------------------------------------------------
# import the package of this checkout (pyproject's package-dir mapping), not an editable install's
# ---------------------------------------------------------------------------------------------------
class _ThisCheckout(importlib.abc.MetaPathFinder):
    """Finds ``ds2ta`` and its mapped sub-packages in ``ROOT`` before any installed finder does."""

    def find_spec(self, fullname, path=None, target=None):
        sub = PACKAGES.get(fullname)
        if sub is None:
            return None
        folder = ROOT / sub
        return importlib.util.spec_from_file_location(fullname, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])


def use_this_checkout() -> None:
    if any(m == p or m.startswith(p + ".") for m in sys.modules for p in PACKAGES):
        raise RuntimeError("ds2ta was imported before the checkout finder was installed")
    sys.meta_path.insert(0, _ThisCheckout())


def imported_code() -> dict:
    """Where each mapped package was imported from; raises if any is outside ``ROOT``."""
    import importlib
    out = {}
    for name, sub in PACKAGES.items():
        f = Path(importlib.import_module(name).__file__).resolve()
        if f.parent != (ROOT / sub).resolve():
            raise RuntimeError(f"{name} imported from {f}, not from this checkout {ROOT / sub}")
        out[name] = str(f.parent)
    return out


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------
def err(e: BaseException) -> dict:
    """A refusal or failure as recorded: the exception's type and message (no traceback, no paths of
    temporary folders)."""
    msg = str(e)
    for tmp in _TMP_DIRS:
        msg = msg.replace(tmp, "<tmp>")
    return {"error": f"{type(e).__name__}: {msg}"}


_TMP_DIRS: list = []
META: dict = {}  # what a case found (folders), written under "meta"


def attempt(fn, *a, **k):
    try:
        return fn(*a, **k)
    except Exception as e:  # noqa: BLE001 - every refusal is recorded
        if os.environ.get("GRAPH_INVARIANCE_TRACEBACK"):
            traceback.print_exc()
        return err(e)


def digest(a) -> str:
    """sha256 (16 hex) of an integer array with its shape."""
    import numpy as np
    arr = np.ascontiguousarray(np.asarray(a).astype(np.int64))
    h = hashlib.sha256(repr(arr.shape).encode())
    h.update(arr.tobytes())
    return h.hexdigest()[:16]


def json_digest(obj) -> str:
    from ds2ta.fileio import json_default
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=json_default).encode()).hexdigest()[:16]


def _canon(v):
    """A JSON-able canonical form of a NIR node attribute (arrays by dtype kind, shape and hash)."""
    import numpy as np
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    if isinstance(v, np.ndarray) or hasattr(v, "numpy"):
        a = np.asarray(v)
        if a.dtype.kind in "SUO":  # strings (h5 metadata read back as bytes)
            return [x.decode() if isinstance(x, bytes) else _canon(x) for x in a.ravel().tolist()]
        if a.dtype.kind in "iub" or (a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a))):
            return {"shape": list(a.shape), "int_sha": digest(a)}
        h = hashlib.sha256(repr(a.shape).encode())
        h.update(np.ascontiguousarray(a.astype(np.float64)).tobytes())
        return {"shape": list(a.shape), "float_sha": h.hexdigest()[:16]}
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return repr(type(v).__name__)


def graph_fingerprint(graph) -> dict:
    """Node names and types in the graph's order, edges, and a hash of every node's parameters: what the
    consumers were given (a difference here means the graph, not its handling, changed)."""
    import nir

    def nodes_of(g, prefix=""):
        out = []
        for name, node in g.nodes.items():
            out.append([prefix + name, type(node).__name__])
            if isinstance(node, nir.NIRGraph):
                out += nodes_of(node, f"{prefix}{name}.")
        return out

    params = {}

    def walk(g, prefix=""):
        for name, node in g.nodes.items():
            if isinstance(node, nir.NIRGraph):
                walk(node, f"{prefix}{name}.")
            else:
                params[prefix + name] = _canon({k: v for k, v in vars(node).items()})
    walk(graph)
    meta = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else {}
    meta = {k: v for k, v in meta.items() if k not in ("source", "checkpoint", "package_version", "created")}
    edges = [list(e) for e in graph.edges]
    return {"nodes": nodes_of(graph), "n_edges": len(edges), "edges_sha": json_digest(edges),
            "params_sha": json_digest(params), "metadata_sha": json_digest(_canon(meta))}


def records_digest(records: dict, time_major: bool) -> dict:
    """Per node, the hash of its output as ``(T, S, -1)`` int64 (Lava records are ``(S, T, n)``)."""
    import numpy as np
    out = {}
    for k, v in records.items():
        a = np.asarray(v.cpu().numpy() if hasattr(v, "cpu") else v)
        if not time_major:
            a = np.swapaxes(a, 0, 1)
        out[k] = digest(a.reshape(a.shape[0], a.shape[1], -1))
    return out


def sim_summary(sim: dict) -> dict:
    """The deterministic part of one backend's ``simulation.json`` dict (no wall times, no paths)."""
    keep = ("samples", "T", "latency_steps", "steps_per_inference", "accuracy")
    out = {k: sim.get(k) for k in keep if k in sim}
    from ds2ta.hardware.chip import COUNT_KEYS
    # per node one row of counts in the file's "count_keys" order (--compare names them again)
    out["layers"] = {n: [int(c.get(k, 0)) for k in COUNT_KEYS] for n, c in sim["layers"].items()}
    out["layer_order"] = list(sim["layers"])
    out["predictions"] = [r["prediction"] for r in sim["per_sample"]]
    out["labels"] = [r["label"] for r in sim["per_sample"]]
    # per-sample spikes per layer: one hash (every record is hashed besides, spike for spike)
    out["per_sample_sha"] = json_digest(sim["per_sample"])
    lava = sim.get("lava")
    if lava:
        out["lava"] = {k: lava.get(k) for k in ("processes", "steps", "period", "pipelined", "attention_lowering",
                                                 "process_classes")}
    return out


def load_x(graph, folder: Path, T: int):
    """Samples as ``ds2ta-sim --dataset FOLDER`` loads them."""
    import numpy as np
    from ds2ta.sims.data import load_samples
    x, labels, _ = load_samples(graph, str(folder), None, T)
    return np.array(x), labels


# ---------------------------------------------------------------------------------------------------
# the three consumers
# ---------------------------------------------------------------------------------------------------
def run_reference(graph, x, labels, lowering: str) -> dict:
    import torch
    from ds2ta.sims.reference import ReferenceExecutor
    from ds2ta.sims.reference.simulate import simulate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = ReferenceExecutor(graph, device="cpu", attention_lowering=lowering)
    recs, max_in = {}, {}

    def keep(lo, res):
        recs.update(res.record)
        max_in.update(res.max_abs_input)
    sim = simulate(ex, torch.from_numpy(x), labels, batch_size=64, on_batch=keep)
    out = sim_summary(sim)
    out["order"] = list(getattr(ex, "order", []))
    out["delayed_edges"] = sorted(list(e) for e in getattr(ex, "delayed", ()))
    out["max_abs_input"] = {k: int(v) for k, v in max_in.items()}
    out["records"] = records_digest(recs, time_major=True)
    return out, sim


def run_lava(graph, x, labels, lowering: str) -> dict:
    from ds2ta.sims.lava.simulate import simulate_lava

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim, run = simulate_lava(graph, x, labels, pipelined=None, T=x.shape[0], attention_lowering=lowering)
    out = sim_summary(sim)
    out["records"] = records_digest(run.records, time_major=False)
    out["record_order"] = list(run.records)
    return out


def mapping_summary(d: dict) -> dict:
    """``mapping.json`` (a dict) as recorded: everything but the per-core and per-edge tables, which are
    hashed (and counted) instead."""
    out = {k: v for k, v in d.items() if k not in ("cores", "edges", "layers", "spec", "layer_specs")}
    out["spec_sha"] = json_digest(d.get("spec"))
    out["layer_order"] = list(d["layers"])
    out["layers"] = {k: dict(v, cores=runs(v["cores"])) for k, v in d["layers"].items()}
    out["layer_specs"] = {ls["name"]: {k: v for k, v in ls.items() if k != "name"} for ls in d.get("layer_specs", [])}
    out["layer_specs_order"] = [ls["name"] for ls in d.get("layer_specs", [])]
    out["cores_sha"] = json_digest(d.get("cores"))
    out["edges_sha"] = json_digest(d.get("edges"))
    out["n_edges"] = len(d.get("edges") or {})
    out["chips_of_cores"] = sorted({c.get("chip", 0) for c in d.get("cores", [])})
    return out


def runs(ids) -> list:
    """Core ids as ``[first, last]`` runs of consecutive ids."""
    out = []
    for i in ids:
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def run_mapping(graph, lowering: str | None) -> dict:
    """The loihi2 target's mapping, chips auto, as ``ds2ta-export`` maps (the lowering from the graph's
    metadata, set here as the export sets it)."""
    from ds2ta.export.targets import get_target

    meta = graph.metadata if isinstance(getattr(graph, "metadata", None), dict) else None
    old = None if meta is None else meta.get("attention_lowering", "<absent>")
    if meta is not None and lowering is not None:
        meta["attention_lowering"] = lowering
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = get_target("loihi2").map(graph, None)
        return m.to_dict()
    finally:
        if meta is not None:
            if old == "<absent>":
                meta.pop("attention_lowering", None)
            else:
                meta["attention_lowering"] = old


def run_energy(mapping: dict, activity_sim: dict) -> dict:
    from ds2ta.hardware.energy import estimate
    from ds2ta.hardware.metrics import neurobench

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = estimate(mapping, activity_sim).to_dict()
        nb = attempt(neurobench, mapping, activity_sim)
    loihi = {k: {"dynamic_J": v["dynamic_J"], "total_J": v["total_J"],
                 "term_counts": {t["name"]: t["count"] for t in v["terms"]}} for k, v in rep["loihi"].items()}
    return {"steps_per_inference": rep["steps_per_inference"], "paper_total_J": rep["paper"]["total_J"],
            "paper_term_counts": {t["name"]: t["count"] for t in rep["paper"]["terms"]}, "loihi": loihi,
            "latency": {k: v for k, v in rep["latency"].items() if k != "source"}, "edp_Js": rep["edp_Js"],
            "gpu_modeled_flops": rep["gpu"].get("flops_per_inference"), "neurobench": nb,
            "sha": json_digest(rep)}


def consumers(graph, x, labels, lowering: str | None, lava: bool, mapping_dict: dict | None = None) -> dict:
    """Reference, Lava and mapping (+ energy) of one graph under one attention lowering."""
    low = lowering or "neurons"
    out, t = {}, {}
    t0 = time.perf_counter()
    ref_sim = {}

    def ref():
        r, sim = run_reference(graph, x, labels, low)
        ref_sim.update(sim)
        return r
    out["reference"] = attempt(ref)
    t["reference_s"] = time.perf_counter() - t0
    if lava:
        t0 = time.perf_counter()
        out["lava"] = attempt(run_lava, graph, x, labels, low)
        t["lava_s"] = time.perf_counter() - t0
        r, l = out["reference"], out["lava"]
        if "error" not in r and "error" not in l:
            out["lava_equals_reference"] = {
                "layers": r["layers"] == l["layers"], "layer_order": r["layer_order"] == l["layer_order"],
                "latency": r["latency_steps"] == l["latency_steps"],
                "predictions": r["predictions"] == l["predictions"],
                "records": all(l["records"].get(k) == v for k, v in r["records"].items() if k in l["records"]),
                "records_compared": sum(1 for k in r["records"] if k in l["records"])}
            for k in ("layers", "layer_order"):  # stored once: the reference's, when Lava's is the same
                if out["lava_equals_reference"][k]:
                    l[k] = "same as reference"
    t0 = time.perf_counter()
    m = mapping_dict
    if m is None:
        m = attempt(run_mapping, graph, lowering)
    out["mapping"] = m if "error" in m else mapping_summary(m)
    if "error" not in m and ref_sim:
        out["energy"] = attempt(run_energy, m, ref_sim)
    t["mapping_s"] = time.perf_counter() - t0
    return out, t


# ---------------------------------------------------------------------------------------------------
# graphs
# ---------------------------------------------------------------------------------------------------
def exported_model(attention: str, work: Path, preset: str = "tiny", samples: int = 2, seed: int = 1,
                   nsad: bool = False, **overrides):
    """An untrained model whose BN statistics make every layer fire, quantized and written as
    tests/sims/lava/test_lava_match.py ``_exported`` does; returns (graph read back, data folder, T)."""
    import numpy as np
    import torch
    from ds2ta.config import make_config
    from ds2ta.export.model_quant import quantize_model
    from ds2ta.export.nir_io import read_graph, write_graph
    from ds2ta.model import DS2TA

    torch.manual_seed(seed)
    cfg = make_config(preset, attention=attention, **overrides)
    model = DS2TA(cfg).eval()
    if nsad:
        for m in model.modules():
            if type(m).__name__ == "NSAD":
                a = torch.arange(m.table.shape[1], dtype=torch.float32)
                h = torch.arange(m.table.shape[0], dtype=torch.float32)[:, None]
                m.table.data = torch.clamp(a, max=6.0) - 2.0 * (a > 9) + 0.5 * (h % 2) + 0.25 * h * (a > 3)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
            if any(f"attn.{p}." in name for p in "qkv"):
                m.running_mean.uniform_(-1.6, -1.0)
    events = cfg.encoding == "events"
    frame = (cfg.in_channels, cfg.img_size, cfg.img_size)
    x = np.random.default_rng(0).integers(0, 3 if events else 17, (samples, *((cfg.T,) if events else ()), *frame))
    scale = 1.0 if events else 1 / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, scale, torch.from_numpy(x).float() * scale,
                                 meta={"conventions": {"dt": 1.0, "T": cfg.T}})
    path = work / "model.nir"
    write_graph(path, g)
    data = work / "data"
    data.mkdir(exist_ok=True)
    np.save(data / "x_int.npy", x)
    np.save(data / "labels.npy", np.arange(samples) % 10)
    return read_graph(path), data, cfg.T


def case_model(attention: str, work: Path, lava: bool, preset: str, lowerings, **kw) -> tuple:
    from ds2ta.sims.data import graph_T
    graph, data, T = exported_model(attention, work, preset=preset, **kw)
    x, labels = load_x(graph, data, graph_T(graph, None))
    rec = {"graph": graph_fingerprint(graph), "inputs_sha": digest(x)}
    times = {}
    for low in lowerings:
        rec[low], times[low] = consumers(graph, x, labels, low, lava)
    return rec, times


def pilotnet_dir() -> Path | None:
    for d in (os.environ.get("DS2TA_PILOTNET_DIR"), ROOT.parent / "shared" / "data" / "pilotnet_lif",
              ROOT / "data" / "pilotnet_lif"):
        if d and (Path(d) / "network.net").is_file() and (Path(d) / "image.npy").is_file():
            return Path(d)
    return None


def case_pilotnet(work: Path, lava: bool) -> tuple:
    """``ds2ta-export network.net`` (its mapping.json as written), then reference and Lava on the
    ``image.npy`` frame (one sample: sequential, ``ds2ta-sim``'s default)."""
    import numpy as np
    from ds2ta.export import read_graph
    from ds2ta.sims.data import graph_T
    from ds2ta.cli.export import main as export_main

    src = pilotnet_dir()
    if src is None:
        return {"skipped": "no PilotNet-LIF data (../shared/data/pilotnet_lif, data/pilotnet_lif)"}, {}
    META["pilotnet_dir"] = str(src)
    out = work / "export"
    buf = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rc = export_main([str(src / "network.net"), "--out", str(out), "--no-progress"])
    if rc != 0:
        raise RuntimeError(f"ds2ta-export network.net exited {rc}: {buf.getvalue()[-800:]}")
    export_s = time.perf_counter() - t0
    graph = read_graph(out / "model.nir")
    mapping = json.loads((out / "mapping.json").read_text())
    frame = work / "frame"
    frame.mkdir()
    np.save(frame / "x_int.npy", np.load(src / "image.npy").transpose(2, 1, 0)[None].astype(np.int64))
    x, labels = load_x(graph, frame, graph_T(graph, None))
    rec = {"data_sha": {f: hashlib.sha256((src / f).read_bytes()).hexdigest()[:16] for f in ("network.net", "image.npy")},
           "graph": graph_fingerprint(graph), "inputs_sha": digest(x)}
    rec["export"], times = consumers(graph, x, labels, None, lava, mapping_dict=mapping)
    # the same graph mapped in process (target.map), which must equal the mapping.json the export wrote
    again = attempt(run_mapping, graph, None)
    rec["export"]["mapping_in_process_equals_mapping_json"] = ("error" not in again and
                                                              json_digest(again) == json_digest(mapping))
    times["export_s"] = export_s
    return rec, times


def _tests_sims():
    p = str(ROOT / "tests" / "sims")
    if p not in sys.path:
        sys.path.insert(0, p)


def thirdparty_builders() -> dict:
    """name -> () -> (float graph, dt, per-step input shape)."""
    _tests_sims()
    import thirdparty_graphs as tg
    b = {name: fn for name, fn in tg.GRAPHS.items()}
    b["snntorch_recurrent_cuba_subgraph"] = lambda: (tg.as_subgraph(tg.snntorch_recurrent_cuba()[0]), 1e-4, (4,))
    b["avgpool_net_affine"] = lambda: tg.avgpool_net("affine")
    b["avgpool_net_neuron"] = lambda: tg.avgpool_net("neuron")
    b["pool_chain_net"] = tg.pool_chain_net
    b["norse_lif_mlp"] = tg.norse_lif_mlp
    return b


def sort_edges(graph) -> None:
    """Edges in sorted order (nested graphs too): snntorch, sinabs and norse write them in an order that
    changes from one process to the next (set iteration), and the record must not."""
    import nir
    graph.edges = sorted(tuple(e) for e in graph.edges)
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            sort_edges(node)


def case_thirdparty(name: str, work: Path, lava: bool, T: int = 10, samples: int = 2) -> tuple:
    """Integerized (``integerize_graph``, as tests/sims/lava/test_lava_thirdparty.py), inputs 0..3 per step;
    plus the float graph in ``FloatExecutor`` (the float semantics ``ds2ta-export graph.nir`` checks
    against)."""
    import numpy as np
    import torch
    from ds2ta.export.graph_quant import integerize_graph

    fgraph, dt, shape = thirdparty_builders()[name]()
    sort_edges(fgraph)
    rec, times = {"dt": dt, "float_graph": graph_fingerprint(fgraph)}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = integerize_graph(fgraph, dt=dt)
    rec["graph"] = graph_fingerprint(graph)
    # (T, S, *shape): every step its own input (as the Lava third-party tests feed them)
    x = np.ascontiguousarray(np.swapaxes(np.random.default_rng(0).integers(0, 4, (samples, T, *shape)), 0, 1))
    labels = [int(v) for v in np.arange(samples) % 3]
    rec["inputs_sha"] = digest(x)

    def float_run():
        from ds2ta.sims.reference.float_nir import FloatExecutor
        fex = FloatExecutor(fgraph, dt)
        frec = fex.run(torch.from_numpy(x))
        return {"order": list(fex.order), "delayed_edges": sorted(list(e) for e in fex.delayed),
                "predictions": fex.prediction(frec).tolist(),
                "spikes": {n: digest(frec[n].numpy()) for n in sorted(fex.spiking) if n in frec}}
    rec["float_reference"] = attempt(float_run)
    rec["integer"], times["integer"] = consumers(graph, x, labels, None, lava)
    return rec, times


def case_graded(work: Path, lava: bool) -> tuple:
    import numpy as np
    _tests_sims()
    from graded_graphs import inputs, maxpool_graph

    graph, _ = maxpool_graph()
    x = inputs(3, 2)
    labels = [0, 1]
    rec = {"graph": graph_fingerprint(graph), "inputs_sha": digest(x)}
    rec["integer"], times = consumers(graph, np.asarray(x, dtype=np.int64), labels, None, lava)
    return rec, {"integer": times}


def case_refusal(work: Path, lava: bool) -> tuple:
    """A Conv1d graph (no consumer supports it): every consumer's refusal message, for the float graph
    (the quantizer refuses it first) and for an integer one (each consumer's own node tables)."""
    import nir
    import numpy as np
    rec, times = {}, {}
    for kind in ("float", "integer"):
        meta = {"lava": {"du": np.full((2, 6), 4095), "dv": np.full((2, 6), 2048), "vth": np.full((2, 6), 10),
                         "bias_mant": np.zeros((2, 6), np.int64), "bias_exp": np.zeros((2, 6), np.int64)}} \
            if kind == "integer" else {}
        g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 8])),
                                "c1": nir.Conv1d(input_shape=8, weight=np.ones((2, 2, 3)), stride=1, padding=0,
                                                 dilation=1, groups=1, bias=np.zeros(2)),
                                "lif": nir.LIF(tau=np.full((2, 6), 2.0), r=np.full((2, 6), 2.0), v_leak=np.zeros((2, 6)),
                                               v_threshold=np.ones((2, 6)), v_reset=np.zeros((2, 6)), metadata=meta),
                                "output": nir.Output(np.array([2, 6]))},
                         edges=[("input", "c1"), ("c1", "lif"), ("lif", "output")], type_check=False,
                         metadata={"conventions": {"dt": 1.0}})
        x = np.random.default_rng(0).integers(0, 4, (4, 2, 2, 8))
        rec[f"conv1d_{kind}"], times[f"conv1d_{kind}"] = consumers(g, x, [0, 1], None, lava)
    return rec, times


def all_cases(groups) -> list:
    """(name, builder(work, lava) -> (record, times)) in a fixed order."""
    cases = []
    if "tiny" in groups:
        for a in ATTENTIONS:
            kw = {"nsad": True} if a == "ds2ta" else {}
            cases.append((f"tiny/{a}", lambda w, l, a=a, kw=kw: case_model(a, w, l, "tiny", LOWERINGS, **kw)))
        cases.append(("tiny/ds2ta-linear", lambda w, l: case_model("ds2ta", w, l, "tiny", LOWERINGS)))
    if "wide" in groups:
        for a in ATTENTIONS:
            cases.append((f"wide/{a}", lambda w, l, a=a: case_model(a, w, l, "cifar10", LOWERINGS, seed=3, **WIDE)))
    if "sdt" in groups:
        for name, a, geo, seed in (("statten", "statten", SDT, 3), ("sdsa", "sdsa", SDT, 3),
                                   ("statten-dvs", "statten", SMALL_DVS, 3), ("sdsa-dvs", "sdsa", SMALL_DVS, 2)):
            cases.append((f"sdt/{name}", lambda w, l, a=a, geo=geo, seed=seed:
                          case_model(a, w, l, "cifar10", LOWERINGS, seed=seed, **geo)))
    if "events" in groups:
        cases.append(("events/tiny-dvs-ds2ta", lambda w, l: case_model("ds2ta", w, l, "tiny-dvs", LOWERINGS, nsad=True)))
        cases.append(("events/tiny-dvs-statten", lambda w, l: case_model("statten", w, l, "tiny-dvs", LOWERINGS)))
        cases.append(("events/sdt-statten", lambda w, l: case_model("statten", w, l, "cifar10", LOWERINGS, seed=3,
                                                                     **SDT_EVENTS)))
        cases.append(("events/tiny-dvs-sdt-sdsa-official", lambda w, l: case_model(
            "sdsa", w, l, "tiny-dvs", LOWERINGS, seed=1, backbone="sdt", sdsa_pool="official")))
    if "pilotnet" in groups:
        cases.append(("pilotnet_lif", case_pilotnet))
    if "thirdparty" in groups:
        for n in ("snntorch_lif_mlp", "snntorch_lif_mlp_per_neuron_beta", "sinabs_cnn", "snntorch_recurrent_cuba",
                  "snntorch_recurrent_cuba_subgraph", "avgpool_net_affine", "avgpool_net_neuron",
                  "pool_chain_net", "norse_lif_mlp"):
            cases.append((f"thirdparty/{n}", lambda w, l, n=n: case_thirdparty(n, w, l)))
    if "graded" in groups:
        cases.append(("graded/maxpool_tree", case_graded))
    if "refusal" in groups:
        cases.append(("refusal/unsupported_node", case_refusal))
    return cases


def dumps(obj, indent: int = 0, width: int = 120) -> str:
    """JSON with sorted keys, one line per value that fits in ``width`` characters (a node's counts, a
    layer), nested otherwise: compact, and a changed number shows as one changed line in ``git diff``."""
    from ds2ta.fileio import json_default
    flat = json.dumps(obj, sort_keys=True, default=json_default)
    if len(flat) + indent <= width or not isinstance(obj, (dict, list)) or not obj:
        return flat
    pad = " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{pad}{json.dumps(str(k))}: {dumps(v, indent + 1, width)}" for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{dumps(v, indent + 1, width)}" for v in obj]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


# ---------------------------------------------------------------------------------------------------
# compare
# ---------------------------------------------------------------------------------------------------
def diff(a, b, path: str, out: list, rtol: float) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append((f"{path}/{k}", "<absent>", b[k]))
            elif k not in b:
                out.append((f"{path}/{k}", a[k], "<absent>"))
            else:
                diff(a[k], b[k], f"{path}/{k}", out, rtol)
    elif isinstance(a, list) and isinstance(b, list):
        scalar = all(isinstance(v, (str, int, bool)) or v is None for v in a + b)
        if scalar and a != b:  # an order or a list of names: one line, at the first difference
            i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            out.append((f"{path} (first difference at [{i}] of {len(a)} / {len(b)})",
                        a[i:i + 4] + (["..."] if len(a) > i + 4 else []),
                        b[i:i + 4] + (["..."] if len(b) > i + 4 else [])))
            return
        if len(a) != len(b):
            out.append((f"{path}", f"list of {len(a)}: {_short(a)}", f"list of {len(b)}: {_short(b)}"))
            return
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out, rtol)
    elif (isinstance(a, float) or isinstance(b, float)) and isinstance(a, (int, float)) and \
            isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        if not (a == b or (rtol > 0 and math.isclose(a, b, rel_tol=rtol))):
            out.append((path, a, b))
    elif a != b or type(a) is not type(b):
        out.append((path, a, b))


def named_counts(obj, keys):
    """Rows of counts (under a ``"layers"`` key) back into ``{count key: value}`` dicts."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "layers" and isinstance(v, dict) and v and all(
                    isinstance(r, list) and len(r) == len(keys) for r in v.values()):
                out[k] = {n: dict(zip(keys, r)) for n, r in v.items()}
            else:
                out[k] = named_counts(v, keys)
        return out
    if isinstance(obj, list):
        return [named_counts(v, keys) for v in obj]
    return obj


def _short(v, n: int = 160) -> str:
    s = json.dumps(v, default=str)
    return s if len(s) <= n else s[:n] + "..."


def compare(fa: str, fb: str, rtol: float, limit: int) -> int:
    a, b = (json.loads(Path(f).read_text()) for f in (fa, fb))
    for f, d in ((fa, a), (fb, b)):
        if d.get("format") != FORMAT:
            print(f"{f}: not a {FORMAT} file", file=sys.stderr)
            return 2
    out: list = []
    if a.get("count_keys") != b.get("count_keys"):
        out.append(("count_keys", a.get("count_keys"), b.get("count_keys")))
    ca, cb = (named_counts(d.get("cases", {}), d.get("count_keys", [])) for d in (a, b))
    cases = []
    for name in sorted(set(ca) | set(cb)):
        n = len(out)
        diff(ca.get(name, "<absent>"), cb.get(name, "<absent>"), f"cases/{name}", out, rtol)
        if len(out) > n:
            cases.append(name)
    if not out:
        print(f"identical: {len(ca)} cases ({fa} vs {fb})")
        return 0
    print(f"{len(out)} difference(s) in {len(cases)} case(s): {', '.join(cases)}")
    for p, x, y in out[:limit]:
        print(f"  {p}\n    before: {_short(x)}\n    after:  {_short(y)}")
    if len(out) > limit:
        print(f"  ... {len(out) - limit} more (--limit)")
    return 1


# ---------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", help="JSON file to write the record to")
    p.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="print differences; exit 1 if any")
    p.add_argument("--rtol", type=float, default=0.0, help="--compare: relative tolerance on floats (default exact)")
    p.add_argument("--limit", type=int, default=200, help="--compare: differences printed at most")
    p.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of cases ({', '.join(GROUPS)})")
    p.add_argument("--no-lava", action="store_true", help="skip the Lava backend (recorded as skipped)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.compare:
        try:
            return compare(*args.compare, rtol=args.rtol, limit=args.limit)
        except BrokenPipeError:  # | head
            return 1
    if not args.out:
        build_parser().error("give --out FILE.json (or --compare A.json B.json)")
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        build_parser().error(f"--only {bad}: choose from {GROUPS}")
    use_this_checkout()
    import faulthandler
    import signal
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints where a stuck run waits
    use_lava = not args.no_lava
    if use_lava:
        try:  # Lava sets the 'fork' start method on first import: before torch picks one
            importlib.import_module("lava.magma.runtime.message_infrastructure.multiprocessing")
        except Exception as e:  # noqa: BLE001
            print(f"lava unavailable ({e}): recording without it", file=sys.stderr)
            use_lava = False
    import torch
    from tqdm import tqdm

    from ds2ta.fileio import atomic_write_text
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    code = imported_code()
    cases = all_cases(groups)
    results, timing = {}, {}
    t_all = time.perf_counter()
    bar = tqdm(cases, desc="graph invariance", unit="case", disable=args.no_progress)
    for name, build in bar:
        bar.set_postfix_str(name)
        with tempfile.TemporaryDirectory(prefix="inv-") as tmp:
            _TMP_DIRS[:] = [tmp, os.path.realpath(tmp)]
            t0 = time.perf_counter()
            try:
                rec, times = build(Path(tmp), use_lava)
            except Exception as e:  # noqa: BLE001 - the case's graph could not be built: recorded
                if os.environ.get("GRAPH_INVARIANCE_TRACEBACK"):
                    traceback.print_exc()
                rec, times = err(e), {}
            results[name] = rec
            timing[name] = {"total_s": round(time.perf_counter() - t0, 2),
                            **{k: ({kk: round(vv, 2) for kk, vv in v.items()} if isinstance(v, dict) else round(v, 2))
                               for k, v in times.items()}}
    wall = time.perf_counter() - t_all
    meta = {"note": "ignored by --compare", "code": code, "python": platform.python_version(),
            "torch": torch.__version__, "lava": use_lava, "groups": groups, "wall_s": round(wall, 1),
            "timing_s": timing, "argv": sys.argv[1:], **META}
    try:
        import subprocess
        meta["git_head"] = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                          text=True, timeout=10).stdout.strip()
        meta["git_dirty"] = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                                                capture_output=True, text=True, timeout=10).stdout.strip())
    except Exception:  # noqa: BLE001
        pass
    from ds2ta.hardware.chip import COUNT_KEYS
    atomic_write_text(args.out, dumps({"format": FORMAT, "format_version": 1, "count_keys": list(COUNT_KEYS),
                                       "meta": meta, "cases": results}) + "\n")
    errors = [(n, p) for n, r in results.items() for p in _error_paths(r, n)]
    print(f"graph_invariance: {len(results)} cases in {wall:.0f} s -> {args.out}; "
          f"{len(errors)} recorded refusal(s)/error(s)")
    for n, p in errors:
        print(f"  {p}")
    return 0


def _error_paths(rec, path) -> list:
    out = []
    if isinstance(rec, dict):
        if "error" in rec and isinstance(rec["error"], str):
            out.append(f"{path}: {rec['error'][:200]}")
        for k, v in rec.items():
            if k != "error":
                out += _error_paths(v, f"{path}/{k}")
    return out


if __name__ == "__main__":
    sys.exit(main())

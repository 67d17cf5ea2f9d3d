"""ds2ta-report shows the attention under both lowerings; the unsimulated one is derived or missing."""

import json

import nir
import numpy as np
import pytest

from ds2ta.hardware import attention_lowering as AL
from ds2ta.hardware import attention_activity as ACT
from ds2ta.hardware import check_fits, write_mapping_json
from ds2ta.cli.report import main

E = pytest.importorskip("ds2ta.export")
pytestmark = pytest.mark.filterwarnings("ignore:no activity for layers")
D, H, G, T, B = 8, 2, 2, 4, 2
d, N = D // H, G * G


def _lif(shape):
    z = np.zeros(shape)
    return nir.CubaLIF(tau_syn=z + 1, tau_mem=z + 2, r=z + 2, v_leak=z, v_threshold=z + 1)


def _graph(table):
    n = {"input": nir.Input(input_type={"input": np.array([D, G, G])})}
    e = []
    for k in "qkv":
        n[f"{k}.conv"] = nir.Conv2d(input_shape=(G, G), weight=np.ones((D, D, 1, 1), int), stride=1, padding=0,
                                    dilation=1, groups=1, bias=np.zeros(D))
        n[f"{k}.lif"] = _lif((D, G, G))
        e += [("input", f"{k}.conv"), (f"{k}.conv", f"{k}.lif"), (f"{k}.lif", "core")]
    n["core"] = E.DS2TASpikeAttention(channels=D, heads=H, tokens_shape=(G, G), table=table,
                                      operands=["q.lif", "k.lif", "v.lif"])
    n["attn_lif"] = _lif((D, G, G))
    e.append(("core", "attn_lif"))
    return nir.NIRGraph(nodes=n, edges=e, metadata={"attention_lowering": "neurons"})


def _run(tmp_path, table, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.integers(0, 2, (T, B, D, N)) for _ in range(3))
    g = _graph(table)
    E.write_graph(tmp_path / "model.nir", g)
    write_mapping_json(check_fits(g), tmp_path / "mapping.json")
    low = AL.plan("core", g.nodes["core"])
    counts = ACT.unit_counts(low, {**ACT.values(low, q, k, v), "q": q, "k": k, "v": v})
    layers = {f"core.{s}": c for s, c in counts.items() if s != "out"}
    layers["core"] = dict(counts["out"], attention_ops=0)
    sim = {"backend": "reference", "samples": B, "T": T, "layers": layers, "attention_lowering": "neurons",
           "per_sample": [], "accuracy": 0.0}
    (tmp_path / "simulation.json").write_text(json.dumps(sim))
    return q, k, v


def _core_ops(q, k, v, table):
    """The opaque core's count (sims/reference/attention.py rule, written out): sum_{i,j,c} q_ic k_jc
    + sum_{i,j,c} [S_ij != 0] v_jc with S = table[h, A], per step, sample and head."""
    Q, K, V = (z.reshape(T, B, H, d, N) for z in (q, k, v))
    A = np.einsum("tbhci,tbhcj->tbhij", Q, K)
    S = table[np.arange(H)[:, None, None], A]
    return int(A.sum() + np.einsum("tbhij,tbhcj->", (S != 0).astype(int), V))


def test_both_lowerings_side_by_side_core_derived(tmp_path):
    table = np.tile(np.arange(d + 1) ** 2, (H, 1))       # pairwise, t[h, 0] = 0: the core is derivable
    q, k, v = _run(tmp_path, table)
    assert main([str(tmp_path), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    a = rep["attention_lowerings"]
    rows = {r["lowering"]: r for r in a["rows"]}
    assert a["simulated"] == "neurons" and a["forms"] == {"core": "pairwise"}
    n, c = rows["neurons"], rows["core"]
    # neurons by hand: qk, level, sv N^2 D each, score and nsad N^2 H, out D N, attn_lif D N (shift 0: no ones)
    assert n["attention_neurons"] == 3 * N * N * D + 2 * N * N * H + 2 * D * N
    assert c["attention_neurons"] == D * N and c["attention_synapse_entries"] == D * N * 2 * N
    assert (n["latency_steps"], c["latency_steps"]) == (1 + 6, 1 + 1)
    assert n["energy_source"] == "counted by the simulation" and c["energy_source"].startswith("derived")
    # the core's paper-comparable energy: its ops (independent rule) x 0.9 pJ per inference
    assert c["paper_J"] == pytest.approx(_core_ops(q, k, v, table) / B * 0.9e-12)
    assert n["gpu_J"] == c["gpu_J"]                        # the GPU runs the model, not a lowering
    md = (tmp_path / "report.md").read_text()
    assert "## Attention: neuron lowering vs core" in md
    assert "Attention on the chip" in (tmp_path / "report.html").read_text()


def test_core_not_derivable_is_missing(tmp_path):
    table = np.tile(np.arange(d + 1) ** 2 + 1, (H, 1))   # t[h, 0] = 1: [S != 0] differs from the lowering
    _run(tmp_path, table)
    assert main([str(tmp_path), "--no-calibration"]) == 0
    rows = {r["lowering"]: r for r in json.loads((tmp_path / "report.json").read_text())["attention_lowerings"]["rows"]}
    assert rows["core"]["paper_J"] == "missing" and "t[h, 0]" in rows["core"]["energy_source"]
    assert rows["core"]["attention_cores"] >= 1                # structure is still shown


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "sequential"])
def test_rows_price_the_schedule_the_simulation_ran(tmp_path, pipelined):
    """Chip steps per inference (static energy) follow the Lava schedule of simulation.json: pipelined,
    one inference every T steps under both lowerings; sequential, T + each lowering's own latency (the
    derived core row is not priced with the neuron lowering's longer drain)."""
    table = np.tile(np.arange(d + 1) ** 2, (H, 1))
    _run(tmp_path, table)
    sim = json.loads((tmp_path / "simulation.json").read_text())
    sim.update(latency_steps=1 + 6, steps_per_inference=T if pipelined else T + 1 + 6)
    (tmp_path / "simulation.json").write_text(json.dumps(sim))
    assert main([str(tmp_path), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    rows = {r["lowering"]: r for r in rep["attention_lowerings"]["rows"]}
    assert rows["core"]["energy_source"].startswith("derived")
    want = {"neurons": T, "core": T} if pipelined else {"neurons": T + 1 + 6, "core": T + 1 + 1}
    assert {k: r["steps_per_inference"] for k, r in rows.items()} == want
    assert rep["energy"]["latency"]["steps"] == want["neurons"]
    assert rep["schedule"] == {"pipelined": pipelined, "sample_latency_steps": T + 1 + 6,
                               "line": rep["schedule"]["line"]}
    assert rep["schedule"]["line"].startswith("pipelined" if pipelined else "sequential")

"""simulate() output shape (the brief's simulation.json) and first_divergence on an exported tiny model."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

from ds2ta.sims.reference import COUNT_KEYS, ReferenceExecutor, first_divergence, simulate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/sims helpers
from firing_tiny import firing_tiny  # noqa: E402


@pytest.fixture(scope="module")
def graph():
    return firing_tiny(6)


@pytest.mark.parametrize("lowering", ["core", "neurons"])
def test_simulate_shape_and_totals(graph, lowering):
    g, x = graph
    labels = [0, 1, 2, 3, 4, 5]
    sim = simulate(ReferenceExecutor(g, attention_lowering=lowering), x, labels, batch_size=4)
    assert sim["backend"] == "reference" and sim["samples"] == 6 and sim["T"] == 4
    # 12 synapse layers + the attention: a core buffers 1 step; the (linear-table, associative) neuron
    # lowering takes 4 synapse stages: k,v -> kv -> kvsum -> qkv -> out
    assert sim["latency_steps"] == (13 if lowering == "core" else 16) and 0.0 <= sim["accuracy"] <= 1.0
    assert set(sim["layers"]["sps.0.lif"]) == set(COUNT_KEYS)
    assert len(sim["per_sample"]) == 6 and sim["per_sample"][0]["label"] == 0
    # totals are the sums of per-sample spikes (batches of 4 + 2 were accumulated)
    for n, c in sim["layers"].items():
        if n in sim["per_sample"][0]["layers"]:
            assert c["spikes"] == sum(p["layers"][n]["spikes"] for p in sim["per_sample"])
    assert sim["layers"]["sps.0.lif"]["neurons"] == 8 * 8 * 8
    assert sim["layers"]["sps.0.lif"]["neuron_updates"] == 8 * 8 * 8 * 4 * 6
    assert sim["layers"]["sps.0.conv"]["graded_synops"] > 0 and sim["layers"]["sps.0.conv"]["synops"] == 0
    assert sim["layers"]["sps.1.conv"]["synops"] > 0
    if lowering == "core":
        assert sim["layers"]["blocks.0.attn.core"]["attention_ops"] > 0
    else:  # no opaque operations: the lowered populations carry the work
        assert sim["layers"]["blocks.0.attn.core"]["attention_ops"] == 0
        assert sim["layers"]["blocks.0.attn.core.qkv"]["spikes"] > 0
        assert sim["layers"]["blocks.0.attn.core.qkv"]["neurons"] == 4 * 16 * 16 * 16  # H N d d


def test_synops_hand_count():
    """A 1x1-kernel check of the synop counter: every input spike drives C_out synapses."""
    import nir
    W = np.full((3, 2, 1, 1), 2, np.int16)
    n = (3, 2, 2)
    lava = {k: np.zeros(n, np.int32) for k in ("du", "dv", "bias_mant", "bias_exp")}
    lava["vth"] = np.full(n, 1000, np.int32)
    lif = nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.ones(n), r=np.ones(n), v_leak=np.zeros(n),
                      v_threshold=np.ones(n), metadata={"lava": lava})
    src = nir.CubaLIF(tau_syn=np.ones((2, 2, 2)), tau_mem=np.ones((2, 2, 2)), r=np.ones((2, 2, 2)),
                      v_leak=np.zeros((2, 2, 2)), v_threshold=np.ones((2, 2, 2)),
                      metadata={"lava": {"du": np.full((2, 2, 2), 4095), "dv": np.full((2, 2, 2), 4095),
                                         "vth": np.zeros((2, 2, 2)), "bias_mant": np.zeros((2, 2, 2)),
                                         "bias_exp": np.zeros((2, 2, 2))}})
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 2, 2])), "s": src,
                            "conv": nir.Conv2d((2, 2), W, 1, 0, 1, 1, np.zeros(3)), "lif": lif,
                            "output": nir.Output(np.array(n))},
                     edges=[("input", "s"), ("s", "conv"), ("conv", "lif"), ("lif", "output")], type_check=False)
    x = torch.zeros(2, 1, 2, 2, 2, dtype=torch.long)
    x[0, 0, 0, 0, 0] = x[1, 0, 1, 1, 1] = x[1, 0, 0, 1, 0] = 1   # 3 source spikes
    c = ReferenceExecutor(g).run(x).counts
    assert c["s"]["spikes"] == 3 and c["conv"]["synops"] == 3 * 3 and c["conv"]["graded_synops"] == 0


def test_first_divergence(graph):
    g, x = graph
    rec = ReferenceExecutor(g).run(x, record=True).record
    ex = ReferenceExecutor(g)
    assert first_divergence(rec, rec, ex.order) is None
    other = {k: v.clone() for k, v in rec.items()}
    other["sps.2.lif"][3, 1].view(-1)[5] ^= 1
    other["blocks.0.mlp.fc1.lif"][0, 0].view(-1)[0] ^= 1
    assert first_divergence(rec, other, ex.order) == {"sample": 1, "layer": "sps.2.lif", "step": 3, "neuron": 5}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_exported_graph_cuda_equals_cpu(graph):
    """Every node output of the exported tiny graph is identical on CUDA (float64 sums below 2^53)."""
    g, x = graph
    a = ReferenceExecutor(g).run(x, record=True)
    b = ReferenceExecutor(g, device="cuda").run(x, record=True)
    for n, v in a.record.items():
        assert torch.equal(v, b.record[n].cpu()), n
    assert a.counts == b.counts and torch.equal(a.prediction, b.prediction)

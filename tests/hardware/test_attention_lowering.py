"""The neuron-level attention lowering (ds2ta.hardware.attention_lowering, .attention_activity) against independent oracles.

* The output equals the attention written here directly from the paper's equations (per head
  ``shr(table[A] V, shift)`` with ``A = Q K^T``; STAtten ``shr(Q_b (K_b^T V_b), shift)``), for NSAD
  tables that force the pairwise form (mixed-sign steps, a nonzero ``t[0]``), linear tables
  (associative form) and blocks of 1, 2 and 4 steps.
* The links (stored synapses and their delays) reproduce every population from its sources when
  executed step by step with the chip's timing (one step per synapse, ``delay`` more), with
  ProdNeuron / GradedVec / threshold-unit arithmetic written here.
* Counts on a 1-head, 2-token case are worked by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from ds2ta.export.nir_nodes import DS2TABlockAttention, DS2TASpikeAttention
from ds2ta.hardware import attention_activity as act
from ds2ta.hardware import attention_lowering as al

H, d, G = 2, 4, 3
D, N, T, B = H * d, G * G, 4, 3


def _spatial(table, shift=0):
    return DS2TASpikeAttention(channels=D, heads=H, tokens_shape=(G, G), table=np.asarray(table),
                               shift=shift, operands=["q", "k", "v"])


def _block(chunk, shift=0):
    return DS2TABlockAttention(channels=D, heads=H, tokens_shape=(G, G), chunk=chunk, shift=shift,
                               operands=["q", "k", "v"])


def _shr(x, s):
    return x >> s if s >= 0 else x << -s


def attention_by_definition(q, k, v, table, shift):
    """Per step, sample and head: out[c, i] = shr(sum_j table[h, A_ij] v[c, j], shift)."""
    out = np.zeros((T, B, D, N), np.int64)
    for t in range(T):
        for b in range(B):
            for h in range(H):
                ch = slice(h * d, (h + 1) * d)
                A = q[t, b, ch].T @ k[t, b, ch]  # (N, N)
                out[t, b, ch] = _shr(v[t, b, ch] @ table[h][A].T, shift)
    return out


def statten_by_definition(q, k, v, chunk, shift):
    out = np.zeros((T, B, D, N), np.int64)
    for t0 in range(0, T, chunk):
        for b in range(B):
            for h in range(H):
                ch = slice(h * d, (h + 1) * d)
                kv = sum(k[t, b, ch] @ v[t, b, ch].T for t in range(t0, t0 + chunk))  # (d, d): sum_j k_cj v_ej
                for t in range(t0, t0 + chunk):
                    out[t, b, ch] = _shr(kv.T @ q[t, b, ch], shift)
    return out


@pytest.fixture
def qkv():
    rng = np.random.default_rng(3)
    return [rng.integers(0, 2, (T, B, D, N)) for _ in range(3)]


NONLINEAR = np.array([[0, 3, 5, -2, 7], [1, 1, 4, 4, 9]])   # mixed-sign steps, t[0] = 1 on head 1
LINEAR = np.array([[0, 2, 4, 6, 8], [0, -1, -2, -3, -4]])


@pytest.mark.parametrize("table,form", [(NONLINEAR, "pairwise"), (LINEAR, "associative")])
@pytest.mark.parametrize("shift", [0, 2, -1])
def test_spatial_output_equals_the_definition(qkv, table, form, shift):
    low = al.plan("a", _spatial(table, shift))
    assert low.form == form
    np.testing.assert_array_equal(act.values(low, *qkv)["out"], attention_by_definition(*qkv, table, shift))


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_block_output_equals_the_definition(qkv, chunk):
    low = al.plan("a", _block(chunk, shift=1))
    np.testing.assert_array_equal(act.values(low, *qkv)["out"], statten_by_definition(*qkv, chunk, 1))


def _execute_links(low, q, k, v):
    """Each population from its links' sources with the chip's timing (population local step j gets
    source step j + stage(dst) - stage(src) - 1 - delay: positive for STAtten's hold links, which
    deliver a block's last step to the block's earlier output steps), then the neuron's arithmetic."""
    vals = act.values(low, q, k, v)
    src = {"q": q.reshape(T, B, -1), "k": k.reshape(T, B, -1), "v": v.reshape(T, B, -1)}
    got = {}
    for u in low.units:
        inputs = {}
        for link in (li for li in low.links if li.dst == u.suffix):
            s_stage = 0 if link.src in al.OPERANDS else low.unit(link.src).stage
            lag = u.stage - (s_stage + 1 + link.delay)
            x = src[link.src] if link.src in al.OPERANDS else vals[link.src].reshape(T, B, -1)
            W = np.zeros((u.size, x.shape[-1]), np.int64)
            np.add.at(W, (link.rows, link.cols), link.weights)
            y = np.zeros((T, B, u.size), np.int64)
            for j in range(T):
                if 0 <= j + lag < T:
                    y[j] = x[j + lag] @ W.T
            inputs[link.port] = inputs.get(link.port, 0) + y
        if u.process == "ProdNeuron":
            got[u.suffix] = (inputs["a_in1"] * inputs["a_in2"]) >> u.exp
        elif u.process == "GradedVec":
            got[u.suffix] = inputs["a_in"]
        elif u.params["period"] == 1:  # threshold unit: v = (a << 6) + bias after a reset, spike if v > vth << 6
            got[u.suffix] = ((inputs["a_in"] << 6) + u.params["bias_mant"] > (u.params["vth"] << 6)).astype(int)
    return vals, got


@pytest.mark.parametrize("node", [_spatial(NONLINEAR, 1), _spatial(LINEAR, 0), _block(2, 0), _block(4, 2)],
                         ids=["pairwise", "associative", "block2", "block4"])
def test_links_reproduce_every_population(qkv, node):
    low = al.plan("a", node)
    vals, got = _execute_links(low, *qkv)
    assert set(got) >= {u.suffix for u in low.units if u.process != "LIFReset" or u.params["period"] == 1}
    for name, y in got.items():
        np.testing.assert_array_equal(y, vals[name].reshape(T, B, -1), err_msg=name)


def test_latencies():
    """Synapse stages from the operands to the output: 6 pairwise, 4 associative, 4 + chunk block."""
    assert al.plan("a", _spatial(NONLINEAR)).out_latency == 6
    assert al.plan("a", _spatial(LINEAR)).out_latency == 4
    assert [al.plan("a", _block(c)).out_latency for c in (1, 2, 4)] == [5, 6, 8]


def test_counts_by_hand():
    """H = 1, d = 2, N = 2 tokens, one step, table [0, 5, 7] (pairwise), shift 0.

    q = [[1, 0], [1, 1]] (channel x token), k = [[1, 1], [0, 1]], v = [[0, 1], [1, 1]].
    Products q_ci k_cj: (i,j) = (0,0): c0 -> 1;  (0,1): c0, c1 -> 2;  (1,0): 0;  (1,1): c1 -> 1. So 4
    nonzero products, scores A = [[1, 2], [0, 1]] (3 messages), levels [A>=1, A>=2]: 3 + 1 = 4 spikes,
    nsad = t[A] - t[0] = [[5, 7], [0, 5]]: 3 messages; sv_ije = nsad_ij v_ej with v_e0 = (0, 1),
    v_e1 = (1, 1): (0,0): e1;  (0,1): e0, e1;  (1,1): e0, e1 -> 5 messages;
    out[e, i] = sum_j nsad_ij v_ej: e0: (7, 5), e1: (12, 5) -> 4 messages.
    Synaptic events into qk: q has 3 spikes x fan-out N = 2 -> 6, k has 3 spikes x 2 -> 6: 12.
    """
    table = np.array([[0, 5, 7]])
    node = DS2TASpikeAttention(channels=2, heads=1, tokens_shape=(1, 2), table=table, operands=["q", "k", "v"])
    low = al.plan("a", node)
    q = np.array([[1, 0], [1, 1]]).reshape(1, 1, 2, 2)
    k = np.array([[1, 1], [0, 1]]).reshape(1, 1, 2, 2)
    v = np.array([[0, 1], [1, 1]]).reshape(1, 1, 2, 2)
    vals = act.values(low, q, k, v)
    np.testing.assert_array_equal(vals["out"][0, 0], [[7, 5], [12, 5]])
    c = act.unit_counts(low, {**vals, "q": q, "k": k, "v": v})
    assert "ones" not in c  # shift 0: out is a graded sum, no shift unit
    assert {s: c[s]["spikes"] for s in ("qk", "score", "level", "nsad", "sv", "out")} == \
        {"qk": 4, "score": 3, "level": 4, "nsad": 3, "sv": 5, "out": 4}
    assert c["qk"]["synops"] == 12 and c["qk"]["neurons"] == 8
    # score <- qk: 4 graded messages, one synapse each; level <- score: 3 messages x d = 2 units
    assert c["score"]["graded_synops"] == 4 and c["level"]["graded_synops"] == 6
    # nsad <- level: 4 spikes, one synapse each (steps 5, 2 both nonzero)
    assert c["nsad"]["synops"] == 4


def test_errors_name_the_limit():
    wide = DS2TASpikeAttention(channels=130, heads=1, tokens_shape=(1, 1),
                               table=np.r_[0, np.ones(130)].reshape(1, -1), operands=["q", "k", "v"])
    with pytest.raises(ValueError, match="head width 130"):
        al.plan("a", wide)
    with pytest.raises(ValueError, match="8-bit"):
        al.plan("a", _spatial(np.array([[0, 300, 0, 0, 0], [0, 1, 2, 3, 4]])))
    with pytest.raises(ValueError, match="6-bit delays"):
        al.plan("a", DS2TABlockAttention(channels=D, heads=H, tokens_shape=(G, G), chunk=64,
                                         operands=["q", "k", "v"]))


def test_plan_is_reused_per_node_until_its_fields_change():
    """Lava and the reference plan the same node once; a changed table is planned again, and a plan of
    one node is never handed to another."""
    from ds2ta.export.nir_nodes import DS2TASpikeAttention

    def node(table):
        return DS2TASpikeAttention(heads=2, channels=8, tokens_shape=np.array([2, 2]), table=table, shift=0,
                                   operands=["q", "k", "v"])
    n = node(np.arange(5)[None].repeat(2, 0).astype(float))
    first = al.plan("a", n)
    assert al.plan("a", n) is first and first.form == "associative"
    n.table = np.minimum(np.arange(5), 2)[None].repeat(2, 0).astype(float)  # saturating: pairwise
    again = al.plan("a", n)
    assert again is not first and again.form == "pairwise"
    other = node(n.table.copy())
    assert al.plan("a", other) is not again and al.plan("a", other).form == "pairwise"

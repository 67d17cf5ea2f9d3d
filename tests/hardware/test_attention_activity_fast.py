"""``attention_activity.output_and_messages`` (the reference's path when nothing is recorded) against the
recording path: the same ``out`` and, through ``counts_from_messages``, the same counts as ``values`` +
``unit_counts`` for every form (pairwise with mixed-sign NSAD steps and ``t[0] != 0``, associative,
block of 1, 2, 4 steps), shifts and operand densities; each population's messages against its
``values`` array counted here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ds2ta.hardware import attention_activity as act
from ds2ta.hardware import attention_lowering as al
from ds2ta.sims.reference.attention import LoweredAttentionK
from test_attention_lowering import _block, _spatial  # the same nodes (tests/hardware is on sys.path)

H, d, G = 2, 4, 3
D, N, T, B = H * d, G * G, 4, 3
NONLINEAR = np.array([[0, 3, 5, -2, 7], [1, 1, 4, 4, 9]])
LINEAR = np.array([[0, 2, 4, 6, 8], [0, -1, -2, -3, -4]])

NODES = [_spatial(NONLINEAR, s) for s in (0, 2, -1)] + [_spatial(LINEAR, s) for s in (0, 1, -2)] + \
    [_block(c, s) for c, s in ((1, 0), (2, 1), (4, -1))]


@pytest.mark.parametrize("density", [0.1, 0.5, 0.95])
@pytest.mark.parametrize("node", NODES, ids=lambda n: f"{type(n).__name__[5:9]}-{getattr(n, 'chunk', '')}-{n.shift}")
def test_fast_path_equals_values_and_unit_counts(node, density):
    low = al.plan("a", node)
    rng = np.random.default_rng(7)
    q, k, v = ((rng.random((T, B, D, N)) < density).astype(np.uint8) for _ in range(3))
    vals = act.values(low, q, k, v)
    out, msgs = act.output_and_messages(low, q, k, v)
    np.testing.assert_array_equal(out, vals["out"])
    assert out.dtype == vals["out"].dtype
    for u in low.units:  # each population's messages: its nonzero values per neuron over steps and samples
        want = np.count_nonzero(vals[u.suffix].reshape(T * B, -1), axis=0)
        np.testing.assert_array_equal(msgs[u.suffix], want, err_msg=u.suffix)
    full = {**vals, "q": q, "k": k, "v": v}
    assert act.counts_from_messages(low, msgs, T, B) == act.unit_counts(low, full)
    fan = [low.fanout(link) for link in low.links]
    assert act.counts_from_messages(low, msgs, T, B, fan) == act.unit_counts(low, full)


def test_matmul_switches_to_float64_at_2_24():
    """``_matmul`` sums in float32 only below its bound 2^24: 2^23 + 2^23 + 1 needs float64."""
    a = np.array([[2 ** 23, 2 ** 23, 1]])
    b = np.ones((3, 1), np.int64)
    assert int(act._matmul(a, b, 2 ** 24 + 1)[0, 0]) == 2 ** 24 + 1
    assert int(act._matmul(a, b, 2 ** 60)[0, 0]) == 2 ** 24 + 1  # int64 beyond float64
    assert int(np.float32(2 ** 24) + np.float32(1)) == 2 ** 24  # float32 would lose it


@pytest.mark.parametrize("node", [NODES[1], NODES[4], NODES[7]], ids=["pairwise", "associative", "block"])
def test_reference_kernel_records_only_when_asked(node):
    """The kernel computes every population (``sub_records``) when recorded, else only ``out``; the
    output and the counts are the same either way."""
    kern = LoweredAttentionK("a", node)
    rng = np.random.default_rng(3)
    env = {n: torch.from_numpy((rng.random((T, B, D, G, G)) < 0.4).astype(np.uint8)) for n in "qkv"}
    kern.record = True
    y_rec = kern.forward(None, env)
    counts_rec, subs = kern.unit_counts, kern.sub_records
    assert set(subs) == {f"a.{u.suffix}" for u in kern.low.units if u.suffix != "out"}
    kern.record = False
    y = kern.forward(None, env)
    assert torch.equal(y, y_rec) and kern.unit_counts == counts_rec and kern.sub_records == {}

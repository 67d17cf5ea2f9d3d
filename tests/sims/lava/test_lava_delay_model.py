"""The event-driven Sparse and DelaySparse models compute what lava-nc's own bit-accurate models compute,
step by step (more cases: test_fast_models.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

pytestmark = pytest.mark.lava


class _Port:
    """Stand-in for a Lava port: ``recv`` returns the next queued vector, ``send`` records."""

    def __init__(self, queue=()):
        self.queue, self.sent = list(queue), []

    def recv(self):
        return self.queue.pop(0)

    def send(self, x):
        self.sent.append(np.array(x))


@pytest.mark.parametrize("bits", [0, 24])
def test_sparse_event_model_equals_lava_nc_model(bits):
    """Binary spikes (lava-nc: column selection and sum) and graded payloads, mixed-sign weights (the
    8-bit encoding drops odd LSBs in both), weight_exp -1: the same outputs step by step."""
    from lava.proc.sparse.models import PySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PySparseModelEvent

    rng = np.random.default_rng(1)
    w = csr_matrix(rng.integers(-9, 10, (7, 11)) * (rng.random((7, 11)) < 0.6))
    steps = [rng.integers(0, 2, 11) if bits == 0 else rng.integers(-50, 50, 11) for _ in range(5)]
    sent = []
    for cls in (PySparseModelBitAcc, PySparseModelEvent):
        m = cls({"weight_exp": -1})
        m.weights, m.a_buff = w.copy(), np.zeros(7, np.int32)
        m.num_message_bits = np.array([bits])
        m.s_in, m.a_out = _Port(steps), _Port()
        for _ in steps:
            m.run_spk()
        sent.append(np.stack(m.a_out.sent))
    np.testing.assert_array_equal(sent[1], sent[0])
    assert np.abs(sent[0]).sum() > 0


@pytest.mark.parametrize("bits", [0, 24])
def test_delay_sparse_event_model_equals_lava_nc_model(bits):
    """Delays 0..3 per synapse, binary and graded inputs: the same outputs step by step."""
    from lava.proc.sparse.models import PyDelaySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PyDelaySparseModelEvent

    rng = np.random.default_rng(0)
    dense = rng.integers(-5, 6, (6, 9)) * (rng.random((6, 9)) < 0.5)
    w = csr_matrix(dense)
    delays = csr_matrix(np.where(dense != 0, rng.integers(0, 4, dense.shape), 0))
    steps = [rng.integers(0, 2, 9) if bits == 0 else rng.integers(-7, 8, 9) for _ in range(8)]
    sent = []
    for cls in (PyDelaySparseModelBitAcc, PyDelaySparseModelEvent):
        m = cls({"weight_exp": 0})
        m.weights, m.delays, m.a_buff = w.copy(), delays.copy(), np.zeros((6, 4), np.int32)
        m.num_message_bits = np.array([bits])
        m.s_in, m.a_out = _Port(steps), _Port()
        for _ in steps:
            m.run_spk()
        sent.append(np.stack(m.a_out.sent))
    np.testing.assert_array_equal(sent[1], sent[0])
    assert np.abs(sent[0]).sum() > 0

"""The cached DelaySparse model computes what lava-nc's own bit-accurate model computes, step by step."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix

pytestmark = pytest.mark.lava


def test_cached_delay_matrix_equals_lava_nc_model():
    from lava.proc.sparse.models import PyDelaySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PyDelaySparseModelCached

    rng = np.random.default_rng(0)
    dense = rng.integers(-5, 6, (6, 9)) * (rng.random((6, 9)) < 0.5)
    w = csr_matrix(dense)
    delays = csr_matrix(np.where(dense != 0, rng.integers(0, 4, dense.shape), 0))
    models = []
    for cls in (PyDelaySparseModelBitAcc, PyDelaySparseModelCached):
        m = cls.__new__(cls)  # calc_act needs only these attributes
        m.weights, m.delays, m.a_buff = w, delays, np.zeros((6, 4), np.int32)
        models.append(m)
    for _ in range(6):  # graded and binary inputs; the cached model reuses its matrix
        s = rng.integers(-7, 8, 9)
        ref, got = (m.calc_act(s) for m in models)
        np.testing.assert_array_equal(got, ref)
    assert models[1]._delay_mat is not None


class _Port:
    """Stand-in for a Lava port: ``recv`` returns the next queued vector, ``send`` records."""

    def __init__(self, queue=()):
        self.queue, self.sent = list(queue), []

    def recv(self):
        return self.queue.pop(0)

    def send(self, x):
        self.sent.append(np.array(x))


@pytest.mark.parametrize("bits", [0, 24])
def test_sparse_dot_model_equals_lava_nc_model(bits):
    """Binary spikes (lava-nc: column selection and sum) and graded payloads, mixed-sign weights (the
    8-bit encoding drops odd LSBs in both), weight_exp -1: the same outputs step by step."""
    from lava.proc.sparse.models import PySparseModelBitAcc

    from ds2ta.sims.lava.procs.synapse.models import PySparseModelDot

    rng = np.random.default_rng(1)
    w = csr_matrix(rng.integers(-9, 10, (7, 11)) * (rng.random((7, 11)) < 0.6))
    steps = [rng.integers(0, 2, 11) if bits == 0 else rng.integers(-50, 50, 11) for _ in range(5)]
    sent = []
    for cls in (PySparseModelBitAcc, PySparseModelDot):
        m = cls.__new__(cls)
        m.weights, m.weights_set, m.a_buff = w.copy(), False, np.zeros(7, np.int32)
        m.num_message_bits = np.array([bits])
        m.__dict__["proc_params"] = {"weight_exp": -1}
        m.s_in, m.a_out = _Port(steps), _Port()
        for _ in steps:
            m.run_spk()
        sent.append(np.stack(m.a_out.sent))
    np.testing.assert_array_equal(sent[1], sent[0])
    assert np.abs(sent[0]).sum() > 0

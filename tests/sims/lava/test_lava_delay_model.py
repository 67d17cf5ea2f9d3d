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

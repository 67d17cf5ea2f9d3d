"""One Dense + LIF layer: the integer reference against Lava's own fixed-point models (4 processes).

Lava's Dense delivers at step t+1 what it received at step t (docs/lava-loihi-semantics.md section 2),
so Lava's spikes at step t+1 must equal the reference's (zero-delay) spikes at step t.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from ds2ta.sims.reference import ReferenceExecutor

pytestmark = pytest.mark.lava

try:  # Lava sets the 'fork' start method on first import; do it at collection, before other tests
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
except Exception:  # pragma: no cover - lava absent (Python >= 3.11): the tests skip themselves
    pass


def _graph(W, du, dv, vth, bm, be):
    n, m = W.shape
    lava = dict(du=np.full(n, du), dv=np.full(n, dv), vth=np.full(n, vth), bias_mant=np.asarray(bm),
                bias_exp=np.full(n, be))
    lif = nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.full(n, 2.0), r=np.full(n, 2.0), v_leak=np.zeros(n),
                      v_threshold=np.full(n, float(vth)), metadata={"lava": lava})
    return nir.NIRGraph(nodes={"input": nir.Input(np.array([m])), "fc": nir.Linear(W), "lif": lif,
                               "output": nir.Output(np.array([n]))},
                        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])


@pytest.mark.parametrize("du,dv,vth,be", [(4095, 2048, 200, 0), (1000, 300, 90, 2)])
def test_dense_lif_matches_lava_fixed_point(du, dv, vth, be):
    pytest.importorskip("lava")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(3)
    n, m, T = 6, 5, 12
    W = (rng.integers(-128, 128, (n, m)) * 2).astype(np.int16)      # mixed signs, even: nothing lost
    bm = rng.integers(-300, 300, n)
    x = rng.integers(0, 2, (T, 1, m))                                 # binary spikes
    ref = ReferenceExecutor(_graph(W, du, dv, vth, bm, be)).run(torch.from_numpy(x), record=True)
    ref_s = ref.record["lif"][:, 0].numpy().astype(int)               # (T, n)

    src = Source(data=np.concatenate([x[:, 0].T, np.zeros((m, 1))], axis=1).astype(int))  # (m, T+1)
    dense = Dense(weights=W.astype(int))
    lif = LIF(shape=(n,), du=du, dv=dv, vth=vth, bias_mant=bm.astype(int), bias_exp=be)
    sink = Sink(shape=(n,), buffer=T + 1)
    src.s_out.connect(dense.s_in)
    dense.a_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=T + 1), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        got = sink.data.get().astype(int)  # (n, T+1)
    finally:
        lif.stop()
    assert ref_s.sum() > 0
    np.testing.assert_array_equal(got[:, 1:].T, ref_s)

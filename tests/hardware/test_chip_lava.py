"""ds2ta.hardware.chip against an independent oracle: lava-nc's own fixed-point LIF (PyLifModelBitAcc).

A ring buffer drives the LIF's ``a_in`` directly (no synapse, so no delay); monitors read ``u`` and
``v`` every step. Cases cover decay of both states, bias with an exponent, the current's 24-bit wrap
(a slow current decay integrating large inputs) and the voltage's saturation.
"""

from __future__ import annotations

import numpy as np
import pytest

from ds2ta.hardware import chip

pytestmark = pytest.mark.lava


def _lava_lif(a: np.ndarray, du: int, dv: int, vth: int, bias_mant: np.ndarray, bias_exp: int):
    """Run lava-nc's LIF on ``a`` (T, n); returns s, u, v (T, n) int64."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.monitor.process import Monitor

    T, n = a.shape
    src = Source(data=a.T.astype(np.int32))
    lif = LIF(shape=(n,), du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)
    sink = Sink(shape=(n,), buffer=T)
    mu, mv = Monitor(), Monitor()
    mu.probe(lif.u, T)
    mv.probe(lif.v, T)
    src.s_out.connect(lif.a_in)
    lif.s_out.connect(sink.a_in)
    try:
        lif.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        s = sink.data.get().T
        u = mu.get_data()[lif.name]["u"]
        v = mv.get_data()[lif.name]["v"]
    finally:
        lif.stop()
    return (np.asarray(z, dtype=np.int64).reshape(T, n) for z in (s, u, v))


@pytest.mark.parametrize("du,dv,vth,bias_exp,amp", [
    (4095, 2048, 200, 0, 300),        # plain LIF (no current memory), leak 1/2
    (1000, 300, 90, 3, 300),          # both states decay, bias with an exponent
    (0, 0, 131071, 2, 2 ** 15 - 1),   # u keeps 4095/4096 of itself: wraps; v never leaks: saturates
])
def test_chip_lif_step_equals_lava_lif(du, dv, vth, bias_exp, amp):
    pytest.importorskip("lava")
    rng = np.random.default_rng(du + dv)
    T, n = 24, 5
    a = rng.integers(-amp // 2, amp + 1, (T, n))
    if du == 0:
        a[:, :3] = amp  # constant drive: u grows past 2^23 and wraps, v runs into the rail
        a[:, 3] = -amp
    bm = rng.integers(-300, 300, n)
    s_l, u_l, v_l = _lava_lif(a, du, dv, vth, bm, bias_exp)

    p = chip.lif_params(np.full(n, du), np.full(n, dv), chip.bias_decode(bm, bias_exp), np.full(n, vth))
    u = v = np.zeros(n, np.int64)
    s_c, u_c, v_c = [], [], []
    for t in range(T):
        s, u, v = chip.lif_step(a[t], u, v, p)
        s_c.append(s), u_c.append(u), v_c.append(v)
    np.testing.assert_array_equal(np.array(u_c), u_l)
    np.testing.assert_array_equal(np.array(v_c), v_l)
    np.testing.assert_array_equal(np.array(s_c).astype(np.int64), s_l)
    if du == 0:  # the case reached the wrap and the rail
        assert (np.diff(u_l[:, 0]) < 0).any() and np.abs(v_l).max() == 2 ** 23 - 1
    else:
        assert 0 < s_l.sum() < s_l.size


def test_spike_test_is_strict_like_lava():
    """v reaching exactly vth << 6 does not spike, in lava-nc as in the chip module (2 << 6 = 128)."""
    pytest.importorskip("lava")
    a = np.array([[2, 3], [2, 1], [3, 2], [1, 2]])  # v = a << 6 (dv = 4095 forgets all but 1/4096)
    s_l, _, v_l = _lava_lif(a, 4095, 4095, 2, np.zeros(2, int), 0)
    p = chip.lif_params(np.full(2, 4095), np.full(2, 4095), np.zeros(2, int), np.full(2, 2))
    u = v = np.zeros(2, np.int64)
    for t in range(4):
        s, u, v = chip.lif_step(a[t], u, v, p)
        np.testing.assert_array_equal(s.astype(int), s_l[t])
    assert s_l[:, 0].tolist() == [0, 0, 1, 0] and v_l[1, 0] == 128  # the tie stays below threshold

"""Loihi 2 time and power model (hardware/loihi2_model.py): each term by hand, the fit on PilotNet-LIF
(reproduced by construction) and the check on PilotNet SDNN at the error docs/hardware.md reports."""

import math

import numpy as np
import pytest

from ds2ta.hardware.core import Cited
from ds2ta.hardware.loihi2_model import (LayerLoad, Loihi2Params, Workload, delta_sparse_8_bytes, fit_host,
                                         fit_on_lif, predict, step_time)
from ds2ta.hardware.loihi2_workloads import conv_dest_cores
from ds2ta.hardware.pilotnet_alloc import sdnn_available

ns = 1e-9


def _p(**kw):
    base = dict(t_syn=Cited(1 * ns, "s", "t", "D"), t_nu=Cited(10 * ns, "s", "t", "D"),
                t_msg=Cited(2 * ns, "s", "t", "D"), t_barrier=Cited(100 * ns, "s", "t", "D"))
    base.update(kw)
    return Loihi2Params(**base)


def test_step_time_by_hand():
    # one layer on 2 cores, 4 steps: per core per step 1,000 updates, 8,000 synops, 500 messages
    # -> 1,000 x 10 + 8,000 x 1 + 500 x 2 = 19,000 ns, + 100 ns barrier
    w = Workload("w", (LayerLoad("a", 2, 10, 8000, 64000, 100, 4000),), 4, 0.0)
    t = step_time(w, _p())
    assert t["compute_s"] == pytest.approx(19_100 * ns) and t["host_s"] == 0 and t["bound"] == "compute"
    # host: 4,000 bytes per inference over 4 steps at 1e6 B/s = 1 ms per step > compute: host-bound (max)
    w = Workload("w", w.layers, 4, 4000.0)
    t = step_time(w, _p(host_bytes_per_s=Cited(1e6, "B/s", "t", "D")))
    assert t["step_s"] == pytest.approx(1e-3) and t["sum_s"] == pytest.approx(1e-3 + 19_100 * ns)
    assert t["bound"] == "host input"


def test_power_and_energy_by_hand():
    # SANA-FE: conv synop 24.0 pJ, update 51.2 pJ, spike 69.3 pJ, message 111 pJ; k_e = 0.5
    ly = LayerLoad("a", 3, 10, 100, 1000, 10, 20, conv=True)
    e = (1000 * 24.0 + 100 * 51.2 + 10 * 69.3 + 20 * 111) * 1e-12 * 0.5
    w = Workload("w", (ly,), 1, 0.0, chips=2)
    p = _p(energy_scale=Cited(0.5, "", "t", "D"), static_chip_W=Cited(0.1, "W", "t", "D"),
           static_core_W=Cited(0.01, "W", "t", "D"))
    r = predict(w, p)
    inf_s = 1 / ((100 * 10 + 1000 * 1 + 20 * 2) * ns / 3 + 100 * ns)  # 3 cores share the layer
    assert r["inferences_per_s"] == pytest.approx(inf_s)
    assert r["static_W"] == pytest.approx(2 * 0.1 + 3 * 0.01)
    assert r["dynamic_J"] == pytest.approx(e)
    assert r["total_W"] == pytest.approx(0.23 + e * inf_s)
    assert r["energy_J"] == pytest.approx(r["total_W"] / inf_s)


def test_fit_reproduces_its_measurement_by_construction():
    w = Workload("w", (LayerLoad("a", 2, 10, 8000, 64000, 100, 4000),), 4, 0.0)
    meas = {"step_s": 50e-6, "dynamic_J": 2e-6, "static_W": 0.3}
    p = fit_on_lif(w, meas, static_core_share=0.5, p=_p())
    assert p.time_scale.value == pytest.approx((50e-6 - 100 * ns) / 19_000e-9)
    r = predict(w, p)
    assert r["step_s"] == pytest.approx(50e-6) and r["dynamic_J"] == pytest.approx(2e-6)
    assert r["static_W"] == pytest.approx(0.3) and p.static_core_W.value == pytest.approx(0.15 / 2)
    with pytest.raises(ValueError, match="static_core_share"):
        fit_on_lif(w, meas, 1.5)
    # the host rate: bytes per inference x measured inferences per second
    assert fit_host(Workload("h", w.layers, 1, 500.0), 20.0, p).host_bytes_per_s.value == 10_000.0


def test_delta_sparse_8_bytes_by_hand():
    assert delta_sparse_8_bytes(np.zeros(10)) == 8  # one (0, 0) pair padded to a word per array
    assert delta_sparse_8_bytes(np.array([0, 5, 0, 7, 1])) == 8  # 3 pairs -> 4 bytes per array
    assert delta_sparse_8_bytes(np.ones(5)) == 16  # 5 pairs -> 8 bytes per array
    x = np.zeros(1000)
    x[[300, 900]] = 1  # first index 300 > 255: (0,0) lead; gaps 299 and 599 -> one escape pair each
    assert delta_sparse_8_bytes(x) == 2 * 4 * math.ceil(5 / 4)


def test_delta_sparse_8_bytes_is_lavas_encoder():
    enc = pytest.importorskip("lava.proc.io.encoder").PyDeltaEncoderModelSparse.encode_delta_sparse_8
    rng = np.random.default_rng(0)
    for _ in range(50):
        x = rng.integers(1, 100, 2000) * (rng.random(2000) < rng.random() * 0.05)
        d, i = enc(None, x)
        assert delta_sparse_8_bytes(x) == 4 * (len(d) + len(i))


def test_conv_dest_cores_by_hand():
    # k=3, s=1, p=0, 4 input columns -> 2 output columns, one core each (slice 1): x=0 -> {0}, 1 -> {0,1},
    # 2 -> {0,1}, 3 -> {1}: (1 + 2 + 2 + 1) / 4
    assert conv_dest_cores(4, 2, 3, 1, 0, 1) == 1.5
    assert conv_dest_cores(4, 2, 3, 1, 0, 2) == 1.0  # one slice holds both


needs_data = pytest.mark.skipif(not sdnn_available(), reason="PilotNet SDNN data absent (DS2TA_PILOTNET_SDNN_DIR)")


@needs_data
def test_fit_on_lif_check_on_sdnn_errors_as_reported():
    """Fitted on PilotNet-LIF (reproduced by construction), checked on PilotNet SDNN: total power and energy
    per inference -14.9 % (static all on the chip) / -29.7 % (static all on the used cores); SDNN's step time
    is the host term, whose rate only SDNN decides (fitted there: no check)."""
    from ds2ta.hardware.loihi2_workloads import lif_workload, sdnn_workload
    from ds2ta.hardware.pilotnet import MEASURED

    lif, sd = lif_workload(), sdnn_workload()
    assert (lif.cores, sd.cores) == (74, 61)
    for share, err in ((0.0, -0.149), (1.0, -0.297)):
        p = fit_host(sd, 16.87, fit_on_lif(lif, MEASURED, share))
        r = predict(lif, p)
        assert r["step_s"] == pytest.approx(MEASURED["step_s"]) and r["dynamic_J"] == pytest.approx(MEASURED["dynamic_J"])
        assert r["total_W"] == pytest.approx(0.679234, rel=1e-5)
        s = predict(sd, p)
        assert s["bound"] == "host input" and s["compute_s"] < 0.02 * s["host_s"]
        assert s["total_W"] / 0.275709 - 1 == pytest.approx(err, abs=0.001)
        assert s["energy_J"] / 16.343833e-3 - 1 == pytest.approx(err, abs=0.001)
        assert abs(s["dynamic_W"]) < 0.006066  # SDNN's dynamic power is below the measurement's resolution

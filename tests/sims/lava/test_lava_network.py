"""Lava backend vs a numpy loop of the chip's LIF step (docs/simulation.md).

The oracle is ``ds2ta.hardware.chip.lif_step``, itself checked against lava-nc's own LIF model in
tests/hardware/test_chip_lava.py; the network runs lava-nc's ``LIFReset`` and this package's models.
Schedule: the recurrent CubaLIF and the delay paths run both pipelined and sequential; the rest
``LavaNetwork``'s default, sequential.
"""

import os

import nir
import numpy as np
import pytest

from ds2ta.hardware import chip
from ds2ta.sims.lava.graph import Schedule

pytestmark = pytest.mark.lava


def _lif(n, du=4095, dv=2048, vth=20):
    lava = {"du": np.full(n, du), "dv": np.full(n, dv), "vth": np.full(n, vth),
            "bias_mant": np.zeros(n, int), "bias_exp": np.zeros(n, int)}
    return nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.ones(n) * 2, r=np.ones(n) * 2, v_leak=np.zeros(n),
                       v_threshold=np.ones(n) * vth, v_reset=np.zeros(n), w_in=np.ones(n), metadata={"lava": lava})


def _recurrent_graph(rng):
    W1 = rng.integers(-20, 40, (6, 4)) * 2
    W2 = rng.integers(-30, 60, (3, 6)) * 2
    R = rng.integers(-30, 30, (3, 3)) * 2
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "fc1": nir.Affine(W1, np.zeros(6)), "l1": _lif(6),
                            "fc2": nir.Linear(W2), "l2": _lif(3, du=2000), "rec": nir.Linear(R),
                            "output": nir.Output(np.array([3]))},
                     edges=[("input", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "l2"), ("l2", "rec"),
                            ("rec", "l2"), ("l2", "output")])
    return g, W1, W2, R


def lif_fixed_step(u, v, a, du, dv, bias, vth):
    """``chip.lif_step`` with scalar decays and threshold; returns ``(s, u, v)``."""
    n = np.shape(u)[-1]
    p = chip.lif_params(np.full(n, du), np.full(n, dv), np.broadcast_to(bias, (n,)), np.full(n, vth))
    return chip.lif_step(a, u, v, p)


def _numpy_loop(x, W1, W2, R):
    """Independent loop: all layers within one step, recurrent edge carries s[t-1]."""
    S, T = x.shape[:2]
    o1, o2 = np.zeros((S, T, 6), np.uint8), np.zeros((S, T, 3), np.uint8)
    for s in range(S):
        u1 = v1 = np.zeros(6, int)
        u2 = v2 = np.zeros(3, int)
        s2 = np.zeros(3, int)
        for t in range(T):
            z1, u1, v1 = lif_fixed_step(u1, v1, W1 @ x[s, t], 4095, 2048, 0, 20)
            s2, u2, v2 = lif_fixed_step(u2, v2, W2 @ z1 + R @ s2, 2000, 2048, 0, 20)
            s2 = s2.astype(int)
            o1[s, t], o2[s, t] = z1, s2
    return o1, o2


def test_schedule_depths_and_recurrence():
    g, *_ = _recurrent_graph(np.random.default_rng(0))
    sch = Schedule(g)
    assert sch.populations["l1"].depth == 1 and sch.populations["l2"].depth == 2
    rec = [p for p in sch.projections if p.recurrent]
    assert len(rec) == 1 and rec[0].src == rec[0].dst == "l2"


def test_unknown_node_type_named():
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "x": nir.AvgPool2d(2, 2, 0)},
                     edges=[("input", "x")], type_check=False)
    with pytest.raises(ValueError, match="AvgPool2d"):
        Schedule(g)


@pytest.mark.parametrize("pipelined", [False, True])
def test_recurrent_cuba_matches_numpy_loop(pipelined):
    from ds2ta.sims.lava import LavaNetwork
    rng = np.random.default_rng(0)
    g, W1, W2, R = _recurrent_graph(rng)
    x = rng.integers(0, 3, (3, 5, 4))
    run = LavaNetwork(g, 5, pipelined=pipelined).run(x)
    o1, o2 = _numpy_loop(x, W1, W2, R)
    assert o1.sum() > 0 and o2.sum() > 0  # the check is not vacuous
    np.testing.assert_array_equal(run.records["l1"], o1)
    np.testing.assert_array_equal(run.records["l2"], o2)


def _plain_lif(n, vth, bias_mant=0, bias_exp=0):
    lava = {"du": np.full(n, 4095), "dv": np.full(n, 2048), "vth": np.full(n, vth),
            "bias_mant": np.broadcast_to(bias_mant, (n,)).copy(), "bias_exp": np.broadcast_to(bias_exp, (n,)).copy()}
    return nir.CubaLIF(tau_syn=np.ones(n), tau_mem=np.ones(n) * 2, r=np.ones(n) * 2, v_leak=np.zeros(n),
                       v_threshold=np.ones(n) * vth, v_reset=np.zeros(n), w_in=np.ones(n), metadata={"lava": lava})


def test_delay_paths_keep_their_offset_and_large_biases_survive():
    """TASA-style y[t] = W0 x[t] + W2 x[t-2] (Delay(2) on one path) into neurons whose bias needs
    bias_exp 6 (2079 << 6 overflows Lava's int16 bias_mant if passed pre-shifted)."""
    from ds2ta.sims.lava import LavaNetwork
    rng = np.random.default_rng(3)
    n_in, n = 5, 4
    W0 = rng.integers(-20, 40, (n, n_in)) * 2
    W2 = rng.integers(-20, 40, (n, n_in)) * 2
    mant, exp = np.array([2079, -3487, 1000, 0]), np.array([6, 2, 0, 0])
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([n_in])), "w0": nir.Linear(W0),
                            "d2": nir.Delay(np.full(n_in, 2.0)), "w2": nir.Linear(W2),
                            "lif": _plain_lif(n, 3000, mant, exp), "output": nir.Output(np.array([n]))},
                     edges=[("input", "w0"), ("input", "d2"), ("d2", "w2"), ("w0", "lif"), ("w2", "lif"),
                            ("lif", "output")])
    T, S = 7, 3
    x = rng.integers(0, 4, (S, T, n_in))
    want = np.zeros((S, T, n), np.uint8)
    bias = mant << exp  # v units
    for s in range(S):
        u = v = np.zeros(n, int)
        for t in range(T):
            a = W0 @ x[s, t] + (W2 @ x[s, t - 2] if t >= 2 else 0)
            z, u, v = lif_fixed_step(u, v, a, 4095, 2048, bias, 3000)
            want[s, t] = z
    assert 0 < want.sum() < want.size  # neither silent nor saturated
    for pipelined in (False, True):
        net = LavaNetwork(g, T, pipelined=pipelined)
        assert net.latency_steps == 1  # one synapse layer; the Delay is computation, not pipeline
        np.testing.assert_array_equal(net.run(x).records["lif"], want)


def _lava_leftovers(before=None):
    """``(child processes, /dev/shm entries)``; given the entries ``before`` a run, only the new ones that
    no live process maps or holds open (the run's orphans: other jobs' live segments do not count)."""
    import multiprocessing as mp
    import time
    entries = set(os.listdir("/dev/shm"))
    if before is None:
        return len(mp.active_children()), entries
    time.sleep(1.0)
    live = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as f:
                paths = [ln[ln.index("/dev/shm/"):] for ln in f if "/dev/shm/" in ln]
            paths += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            live |= {p.split("/")[3].split()[0] for p in paths if p.startswith("/dev/shm/")}
        except OSError:
            continue
    new = {n for n in set(os.listdir("/dev/shm")) - before[1] if n not in live}
    return len(mp.active_children()), new


def test_interrupted_and_failed_runs_stop_processes_and_free_shared_memory(monkeypatch):
    """Ctrl-C between runtime calls, and an exception inside a forked process model: both leave no
    scratch folder, no child process and no shared-memory segment behind."""
    from ds2ta.sims.lava import LavaNetwork
    from ds2ta.sims.lava.procs.relay import models as relay_models
    g, *_ = _recurrent_graph(np.random.default_rng(0))
    x = np.random.default_rng(1).integers(0, 3, (4, 5, 4))
    before = _lava_leftovers()

    def interrupt(n):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        LavaNetwork(g, 5).run(x, progress=interrupt, chunk=1)
    assert _lava_leftovers(before) == (before[0], set())

    def boom(self):
        if self.time_step == 7:
            raise RuntimeError("process model failed at step 7")
        return original(self)
    original = relay_models.AbstractPyDelayBankModel.run_spk
    monkeypatch.setattr(relay_models.AbstractPyDelayBankModel, "run_spk", boom)  # inherited by the forked children
    with pytest.raises(Exception):
        LavaNetwork(g, 5).run(x)
    assert _lava_leftovers(before) == (before[0], set())


def test_forked_processes_run_one_blas_thread(monkeypatch, tmp_path):
    """Every forked Lava process's BLAS and OpenMP pools hold one thread (set before the forks), while the
    parent keeps its own pools (docs/simulation.md: one BLAS thread per Lava process)."""
    import json

    from threadpoolctl import threadpool_info

    from ds2ta.sims.lava import LavaNetwork
    from ds2ta.sims.lava.procs.io import models as io_models

    original = io_models.PyMemmapSourceModel.run_spk
    out = tmp_path / "threads.json"

    def report(self):
        if self.time_step == 1:
            out.write_text(json.dumps([i["num_threads"] for i in threadpool_info()]))
        return original(self)
    monkeypatch.setattr(io_models.PyMemmapSourceModel, "run_spk", report)  # inherited by the forked children
    before = [i["num_threads"] for i in threadpool_info()]
    g, *_ = _recurrent_graph(np.random.default_rng(0))
    LavaNetwork(g, 5).run(np.random.default_rng(1).integers(0, 3, (2, 5, 4)))
    child = json.loads(out.read_text())
    assert child and all(n == 1 for n in child), child
    assert [i["num_threads"] for i in threadpool_info()] == before

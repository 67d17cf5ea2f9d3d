"""Issue 13, case 2 (and parent death): signals sent to a real ``ds2ta-sim`` Lava run.

- SIGTERM (``kill PID``, as a scheduler or an OOM handler sends it) while it runs, and Ctrl-C to its
  process group while Lava is still forking its processes: exit 143 / 130 with one line and no
  traceback; no process, ``/dev/shm`` segment or scratch folder of the run is left; nothing written.
- SIGKILL of the ``ds2ta-sim`` process itself: its forked Lava processes notice, free the segments
  they map and the scratch folder, and exit (they used to wait on shared memory forever).
"""

from __future__ import annotations

import os
import signal
import sys

import psutil
import pytest

from fault_helpers import (ROOT, SIM, assert_nothing_left, kill_session, long_run, progress, shm_entries, shm_of,
                           start, wait_for, wait_gone)

sys.path.insert(0, str(ROOT / "tests" / "sims" / "lava"))
pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    from test_lava_match import _exported
    path, data = _exported("ds2ta", tmp_path_factory.mktemp("graph"), samples=40)
    long_run(data)  # 200 samples, pipelined
    return path, data


def _run(graph, tmp_path):
    path, data = graph
    pf = tmp_path / "progress"
    cmd = [*SIM, str(path), "--backend", "lava", "--dataset", str(data), "--out", str(tmp_path / "sim"),
           "--no-progress", "--chunk", "1", "--progress-file", str(pf)]
    return start(cmd, tmp_path / "log.txt"), pf


@pytest.mark.parametrize("how", ["sigterm-running", "sigint-forking"])
def test_signal_stops_a_lava_run_and_frees_everything(graph, tmp_path, how):
    before = shm_entries()
    proc, pf = _run(graph, tmp_path)
    try:
        if how == "sigterm-running":
            wait_for(lambda: progress(pf) > 0, 240, "a finished sample", proc, tmp_path / "log.txt")
        else:  # Lava forks its ~80 processes in create_runtime: interrupt in the middle of it
            wait_for(lambda: len(psutil.Process(proc.pid).children(recursive=True)) >= 10, 240,
                     "Lava's first forks", proc, tmp_path / "log.txt")
        tree = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        held = shm_of(tree)
        assert len(tree) > 10 and held  # the run's processes, segments and scratch folder exist
        if how == "sigterm-running":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
        rc = proc.wait(timeout=120)
        err = (tmp_path / "log.txt").read_text()
        want = (143, "terminated (SIGTERM)") if how == "sigterm-running" else (130, "interrupted")
        assert rc == want[0] and want[1] in err, err
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert wait_gone(proc.pid, 10) == []
        assert_nothing_left(held, before)
        assert not (tmp_path / "sim" / "simulation.json").exists()  # nothing half-written
    finally:
        kill_session(proc.pid)


def test_lava_processes_end_with_a_sigkilled_parent(graph, tmp_path):
    before = shm_entries()
    proc, pf = _run(graph, tmp_path)
    try:
        wait_for(lambda: progress(pf) > 0, 240, "a finished sample", proc, tmp_path / "log.txt")
        children = psutil.Process(proc.pid).children(recursive=True)
        held = shm_of([proc.pid] + [c.pid for c in children])
        assert len(children) > 10 and held
        proc.kill()  # SIGKILL: no handler runs in ds2ta-sim
        proc.wait()
        assert wait_gone(proc.pid, 20) == []  # the children noticed and ended
        assert_nothing_left(held, before)
    finally:
        kill_session(proc.pid)

"""Issue 13, case 1: ``ds2ta-sim --workers 2`` (two shard processes, each with its own Lava runtime).

- Ctrl-C to the process group while the shards' Lava runtimes are still forking (a Ctrl-C while they
  run is the single run's case, ``test_lava_signals.py``): the parent exits 130 with one line; each shard stops itself cleanly (its log says so; none had to be
  killed); no process, ``/dev/shm`` segment or scratch folder of the run is left (it used to leave ~576
  segments: a Ctrl-C landing in a fork callback was lost, the shards ran past the 30 s grace and were
  killed); nothing is written.
- SIGKILL of the parent: each shard notices, stops its runtime like ``kill PID`` would, and exits.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from fault_helpers import (ROOT, SIM, assert_nothing_left, kill_session, long_run, progress, shm_entries, shm_of,
                           start, wait_for, wait_gone)

pytestmark = pytest.mark.lava


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    import sys
    sys.path.insert(0, str(ROOT / "tests" / "sims" / "lava"))
    from test_lava_match import _exported
    path, data = _exported("ds2ta", tmp_path_factory.mktemp("graph"), samples=40)
    long_run(data)  # 200 samples, pipelined
    return path, data


def _workers(graph, tmp_path):
    path, data = graph
    out = tmp_path / "sim"
    cmd = [*SIM, str(path), "--backend", "lava", "--dataset", str(data), "--workers", "2", "--out", str(out),
           "--no-progress"]
    return start(cmd, tmp_path / "log.txt"), out


def _tree(proc):
    return [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]


def _shard_logs(out):
    return [(out / "shards" / str(i) / "log.txt").read_text() for i in range(2)]


def test_ctrl_c_while_the_shards_fork_stops_every_shard_cleanly(graph, tmp_path):
    before = shm_entries()
    proc, out = _workers(graph, tmp_path)
    try:
        # both shards started, still forking their ~80 Lava processes each (the Ctrl-C at 20 s)
        wait_for(lambda: len(_tree(proc)) >= 25, 240, "the shards' first forks", proc, tmp_path / "log.txt")
        held = shm_of(_tree(proc))
        assert held
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        rc = proc.wait(timeout=120)
        stop_s = time.monotonic() - t0
        log = (tmp_path / "log.txt").read_text()
        assert rc == 130 and "interrupted" in log and "Traceback" not in log, log
        for shard in _shard_logs(out):  # stopped by themselves, well inside the 30 s grace
            assert "interrupted" in shard and "Traceback" not in shard and "Exception ignored" not in shard, shard
        assert stop_s < 25, stop_s
        assert wait_gone(proc.pid, 10) == []
        assert_nothing_left(held, before)
        assert not (out / "simulation.json").exists()
    finally:
        kill_session(proc.pid)


def test_shards_stop_when_the_parent_is_sigkilled(graph, tmp_path):
    before = shm_entries()
    proc, out = _workers(graph, tmp_path)
    try:
        wait_for(lambda: all(progress(out / "shards" / str(i) / "progress") > 0 for i in range(2)), 300,
                 "a finished sample in each shard", proc, tmp_path / "log.txt")
        held = shm_of(_tree(proc))
        proc.kill()
        proc.wait()
        assert wait_gone(proc.pid, 30) == []
        for shard in _shard_logs(out):
            assert "terminated (SIGTERM)" in shard and "Traceback" not in shard, shard
        assert_nothing_left(held, before)
    finally:
        kill_session(proc.pid)

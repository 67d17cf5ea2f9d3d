"""SIGTERM (``kill PID``, as a scheduler or an OOM handler sends it) to a real ``ds2ta-sim`` Lava run:
the run stops with one line and exit 143, and leaves no child process, no shared-memory segment and no
scratch folder behind (issue 13, case 2)."""

from __future__ import annotations

import glob
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.lava


def _shm():
    return set(glob.glob("/dev/shm/psm_*")) | set(glob.glob("/dev/shm/lava*")) | set(glob.glob("/dev/shm/ds2ta-lava-*"))


def test_sigterm_stops_a_lava_run_and_frees_everything(tmp_path):
    from test_lava_match import _exported

    path, data = _exported("ds2ta", tmp_path, samples=40)
    before = _shm()
    progress = tmp_path / "progress"
    cmd = [sys.executable, "-m", "ds2ta.sims.cli", str(path), "--backend", "lava", "--dataset", str(data),
           "--out", str(tmp_path / "sim"), "--no-progress", "--chunk", "1", "--progress-file", str(progress)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:  # wait until Lava has run a sample
        if progress.exists() and (progress.read_text() or "0").strip() not in ("", "0"):
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) > 10  # the forked Lava processes
    during = _shm() - before
    assert during  # the run's segments and scratch folder exist while it runs
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated (SIGTERM)" in err and "Traceback" not in err
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.pid for p in alive]
    assert not (_shm() & during)  # every segment and folder of the run is gone
    assert not (tmp_path / "sim" / "simulation.json").exists()  # nothing half-written

"""Helpers of the fault suite: start real commands as a fresh session, find what a run left behind.

Everything is counted for *this* run only (other developers and CI jobs run Lava on the same machine):
processes by session id (each command starts its own session), ``/dev/shm`` entries by what the run's
processes mapped while it ran, plus new entries that no live process maps (orphans) after it ended.
The ``/proc`` reading here is written independently of ``ds2ta.sims.lifetime``.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
SIM = [sys.executable, "-m", "ds2ta.cli.sim"]


def long_run(data: Path, copies: int = 5) -> None:
    """Repeat the samples of ``data`` (``x_int.npy``, ``labels.npy``) ``copies`` times, in place. The
    runs here must still be running when the signal comes: ds2ta-sim pipelines several samples (a new one
    every T steps), which runs tiny DS2TA's 40 samples in ~5x fewer steps than the sequential schedule
    these timings were first set for; 200 pipelined samples last about as long."""
    import numpy as np
    for name in ("x_int.npy", "labels.npy"):
        a = np.load(data / name)
        np.save(data / name, np.concatenate([a] * copies))


def start(cmd, log: Path) -> subprocess.Popen:
    """``cmd`` in a new session (so a signal to its group reaches nothing else), SIGINT at its default
    (a background shell starts children with SIGINT ignored), output into ``log``."""
    def fresh():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=fresh)


def session(sid: int) -> list:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except (OSError, psutil.Error):
            pass
    return out


def wait_gone(sid: int, timeout: float = 30.0) -> list:
    """Processes of the session still alive after ``timeout`` seconds (empty when all ended)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        left = session(sid)
        if not left:
            return []
        time.sleep(0.25)
    return session(sid)


def kill_session(sid: int) -> None:
    """Test teardown: SIGKILL whatever the session still runs."""
    for p in session(sid):
        try:
            p.kill()
        except psutil.Error:
            pass


def shm_of(pids) -> set:
    """``/dev/shm`` top-level entries the processes map or hold open (names)."""
    names = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                paths = [ln.split()[-1] for ln in f if "/dev/shm/" in ln]
            paths += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        names |= {p.split("/")[3] for p in paths if p.startswith("/dev/shm/")}
    return names


def shm_entries() -> set:
    return {os.path.basename(p) for p in glob.glob("/dev/shm/*")}


def orphans(new: set, settle: float = 2.0) -> set:
    """Entries of ``new`` that still exist and that no live process maps or holds open."""
    time.sleep(settle)
    live = shm_of(int(p) for p in os.listdir("/proc") if p.isdigit())
    return {n for n in new if os.path.exists(f"/dev/shm/{n}") and n not in live}


def left_of(held: set) -> set:
    """Entries of ``held`` (recorded while the run ran) that still exist."""
    return {n for n in held if os.path.exists(f"/dev/shm/{n}")}


def assert_nothing_left(held: set, before: set) -> None:
    """No segment the run mapped (``held``) and no new unmapped /dev/shm entry since ``before`` remains."""
    assert left_of(held) == set()
    assert orphans(shm_entries() - before) == set()


def wait_for(pred, timeout: float, what: str, proc: subprocess.Popen | None = None, log: Path | None = None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended ({proc.returncode}) before {what}: "
                                 f"{Path(log).read_text()[-2000:] if log else ''}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def progress(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def tiny_checkpoint(path: Path, seed: int = 0) -> Path:
    """An untrained tiny DS2TA checkpoint (the export's input)."""
    import torch

    from ds2ta import DS2TA, make_config
    from ds2ta.checkpoint import save_checkpoint
    torch.manual_seed(seed)
    save_checkpoint(path, DS2TA(make_config("tiny")).eval(),
                    {"name": "digits", "input_scale": 1 / 16, "encoding": "direct"},
                    {"test_accuracy": 0.1, "epochs": 0, "seconds": 0.0})
    return path


def run_limited(cmd, max_file_bytes: int) -> subprocess.CompletedProcess:
    """``cmd`` with every file it writes capped at ``max_file_bytes`` (RLIMIT_FSIZE, SIGXFSZ ignored): a
    write beyond it fails with EFBIG, as one on a full disk fails with ENOSPC (root ignores permission
    bits, so an unwritable folder cannot stand in for a full disk here)."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, preexec_fn=limit, timeout=600)

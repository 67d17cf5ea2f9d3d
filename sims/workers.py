"""``ds2ta-sim --workers N``: the shard processes' lifetime and progress files (no Lava import).

Each shard is ``ds2ta-sim ... --shard I/N --watch-parent``: it stops itself (SIGTERM to itself, the same
clean stop as ``kill PID``) when the parent dies, SIGKILL included. An interrupted parent stops the shards
in steps and frees what a killed shard's Lava processes held::

    SIGINT each running shard (it stops its Lava runtime: children ended, segments unlinked)
    -> after GRACE_S, SIGTERM the ones still running -> after TERM_S more, SIGKILL them
    -> SIGKILL every process recorded below the shards, unlink the /dev/shm files they mapped
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, List, Optional

import psutil

from ds2ta.fileio import atomic_write_text
from ds2ta.sims.lifetime import mapped_shm, remove_shm

GRACE_S = 30.0   # a shard's clean stop after SIGINT (measured: 2-4 s at tiny, 2 shards on 2 cores)
TERM_S = 10.0    # after SIGTERM, before SIGKILL


def descendants(procs) -> list:
    """Every process below the shard processes (their forked Lava processes), as psutil handles."""
    out = []
    for p in procs:
        try:
            out += psutil.Process(p.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            pass
    return out


def kill_all(handles, timeout: float = 5.0) -> None:
    """SIGKILL the given processes that are still alive (a shard's clean stop already ended them)."""
    alive = [h for h in handles if h.is_running()]
    for h in alive:
        try:
            h.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=timeout)


def stop_shards(procs: List[subprocess.Popen], grace_s: float = GRACE_S, term_s: float = TERM_S) -> None:
    """SIGINT every running shard, SIGTERM those still running after ``grace_s``, SIGKILL after ``term_s``
    more; one deadline per step for all shards (they stop in parallel)."""
    for sig, wait in ((signal.SIGINT, grace_s), (signal.SIGTERM, term_s), (signal.SIGKILL, 5.0)):
        live = [p for p in procs if p.poll() is None]
        if not live:
            return
        for p in live:
            p.send_signal(sig)
        end = time.monotonic() + wait
        for p in live:
            try:
                p.wait(timeout=max(0.0, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def stop_interrupted(procs: List[subprocess.Popen]) -> None:
    """Stop the shards of an interrupted run and everything below them; nothing they held is left.

    The process trees and the shared memory they map are taken first: a shard that has to be killed
    leaves orphans that cannot be found afterwards (re-parented) and segments nobody unlinks."""
    trees = descendants(procs)
    held = set()
    for h in trees:
        held |= mapped_shm(h.pid)
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:  # a second Ctrl-C must not cut the stop short
        stop_shards(procs)
        kill_all(trees)
        remove_shm(held)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def progress_writer(path: Optional[str]) -> Callable[[int], None]:
    """A shard's progress: ``write(n)`` records ``n`` samples done in ``path`` (read back by
    :func:`read_int`); a no-op without ``path``."""
    if path is None:
        return lambda n: None

    def write(n: int) -> None:
        atomic_write_text(path, str(int(n)))
    return write


def read_int(path: Path) -> int:
    """The number a :func:`progress_writer` left in ``path``; 0 while there is none."""
    try:
        return int(path.read_text() or 0)
    except (OSError, ValueError):
        return 0

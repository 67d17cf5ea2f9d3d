"""Processes that end with their parent, and the ``/dev/shm`` files a process holds (no Lava import).

Used by the Lava runtime's children (``sims/lava/runtime_guard.py``) and by ``ds2ta-sim --workers``
shards: a process that must not outlive its parent calls :func:`watch_parent`; whoever cleans up after
a killed process frees what :func:`mapped_shm` listed for it.
"""

from __future__ import annotations

import os
import select
import shutil
import threading
import time

SHM = "/dev/shm"
SCRATCH_PREFIX = "ds2ta-lava-"  # a Lava run's scratch folder (memory-mapped input and records)


def watch_parent(on_death, poll_s: float = 0.5) -> threading.Thread:
    """Call ``on_death()`` from a daemon thread once this process's parent has exited (a pidfd made
    readable by the exit where the kernel has them, else ``getppid`` polled every ``poll_s``)."""
    ppid = os.getppid()

    def watch():
        try:
            fd = os.pidfd_open(ppid)
        except (AttributeError, OSError):  # no pidfd (old kernel or Python): poll
            fd = None
        if fd is not None:  # poll(), not select(): a Lava process holds fds beyond select's 1024
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while os.getppid() == ppid and not poller.poll(5000):  # readable when the parent exits
                pass
            os.close(fd)
        else:
            while os.getppid() == ppid:
                time.sleep(poll_s)
        on_death()
    t = threading.Thread(target=watch, daemon=True, name="ds2ta-parent-watch")
    t.start()
    return t


def mapped_shm(pid: int | str = "self") -> set:
    """The ``/dev/shm`` entries a process maps or holds open: segments (``psm_*``) and, for files in a
    run's scratch folder, the folder (paths)."""
    found = set()
    try:
        with open(f"/proc/{pid}/maps") as f:
            names = [line.split(None, 5)[5].strip() for line in f if f"{SHM}/" in line]
        names += [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except (OSError, IndexError):
        return found
    for p in names:
        if p.startswith(f"{SHM}/"):
            top = p[len(SHM) + 1:].split("/")[0].replace(" (deleted)", "")
            if top.startswith(("psm_", SCRATCH_PREFIX)):
                found.add(os.path.join(SHM, top))
    return found


def remove_shm(paths) -> int:
    """Unlink segments and remove scratch folders (already gone: fine); returns how many it removed."""
    n = 0
    for p in paths:
        try:
            if os.path.isdir(p):
                shutil.rmtree(p)
            else:
                os.unlink(p)
            n += 1
        except OSError:  # gone already, or removed by a sibling meanwhile
            pass
    return n

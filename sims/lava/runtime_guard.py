"""The lifetime of a Lava run's OS processes and shared memory: no child outlives the run, whatever ends it.

lava-nc 0.10 forks one OS process per Lava process (plus a shared-memory manager) inside
``create_runtime`` and talks to them over ``/dev/shm/psm_*`` segments. What ends a run, and what this
module does about it:

- Ctrl-C / SIGTERM: the parent stops the runtime (``kill_runtime``: terminate every child, then the
  manager unlinks every segment). The signals are *held* while Lava forks (``signals_held``): one that
  lands inside a fork callback is swallowed by Python ("Exception ignored in ... _releaseLock:
  KeyboardInterrupt") and the run went on; the shards of an interrupted ``--workers`` run then ran past
  their parent's 30 s grace, were killed, and left ~290 segments each (issue 13). Held, it is raised
  once the forks are done.
- The children ignore SIGINT (the parent handles Ctrl-C for the process group) and die on SIGTERM.
- The parent dies without cleaning up (SIGKILL, OOM killer): every child watches its parent
  (``pidfd`` where the kernel has it, else polling ``getppid``); when it is gone the child unlinks the
  ``/dev/shm`` files it maps (its channels' segments, the run's scratch folder) and exits. PR_SET_PDEATHSIG
  is not used: it fires when the *thread* that forked ends, not the process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time

from lava.magma.core.run_conditions import RunSteps

from ds2ta.sims.lifetime import SCRATCH_PREFIX, SHM, mapped_shm, remove_shm, watch_parent

HELD = (signal.SIGINT, signal.SIGTERM)
_RUNNING: list = [None]  # the scratch folder while LavaNetwork.run builds and steps a runtime (read in children)


@contextlib.contextmanager
def one_blas_thread():
    """BLAS (OpenBLAS, MKL) and OpenMP pools of this process limited to one thread while the block runs
    (around ``create_runtime`` and the steps, where Lava forks its processes).

    A forked Lava process inherits the thread count its parent's BLAS library had at the fork. Left at
    the default (one thread per core), each of a network's hundreds of processes would run its GEMMs on
    every core at once: threads oversubscribe the cores and spin while waiting for each other, when the
    processes themselves already keep every core busy. One thread each is set here, before the forks,
    with ``threadpoolctl``; the parent's own limit is restored when the block ends.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


@contextlib.contextmanager
def frozen_heap():
    """Every object of this process moved to the collector's permanent generation while the block runs
    (``gc.freeze``, around the forks), then back (``gc.unfreeze``).

    A forked process shares its parent's memory until it writes to a page. Python's cyclic garbage
    collector writes to the header of every object it examines: a full collection in a Lava process would
    walk the whole inherited heap (torch, lava, the graph) and copy every page that holds an object, tens
    of MB per process (tiny DS2TA: 2.4 GB summed PSS over 45 processes, 0.8 GB with the heap frozen).
    Frozen objects are never examined, so those pages stay shared; objects the child makes itself are
    collected as usual."""
    import gc

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def begin_run() -> str:
    """A new scratch folder for one run (``/dev/shm`` where writable); until :func:`end_run` processes
    forked here are quiet, parent-watching children that remove it if the parent dies."""
    base = SHM if os.access(SHM, os.W_OK) else None
    _RUNNING[0] = tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=base)
    return _RUNNING[0]


def end_run(workdir: str) -> None:
    """Remove the run's scratch folder; processes forked from now on are ordinary."""
    shutil.rmtree(workdir, ignore_errors=True)
    _RUNNING[0] = None


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM away from ``os.fork`` while Lava forks its processes (use around
    ``create_runtime``, main thread only).

    Python runs a signal's handler at the next bytecode, which may be inside a fork callback (logging's,
    threading's), where a KeyboardInterrupt is printed as "Exception ignored" and lost: the run went on.
    Blocking the signal in the kernel is not enough (another thread takes it, the main thread still runs
    the handler). So from the first fork on, the handlers only note a signal; it is raised again under
    the previous handlers at the start of the next fork (every child forked so far is recorded by then,
    so the runtime's teardown finds it) or when the block ends. A child keeps the dispositions its fork
    hook (``_quiet_child``) gave it.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    real_fork, noted, previous = os.fork, [], {}

    def deliver():
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        previous.clear()
        pending = list(dict.fromkeys(noted))
        noted.clear()
        for s in pending:
            signal.raise_signal(s)

    def fork():
        if threading.current_thread() is not threading.main_thread():
            return real_fork()  # handlers belong to the main thread; Lava forks from it here
        if noted:
            deliver()  # raises KeyboardInterrupt / Terminated here, outside any fork callback
        if not previous:
            previous.update({s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in HELD})
        return real_fork()

    os.fork = fork
    try:
        yield
    finally:
        os.fork = real_fork
        deliver()


@contextlib.contextmanager
def shielded():
    """Ignore SIGINT and SIGTERM while a run is being torn down (main thread): a second Ctrl-C, or the
    ``--workers`` parent's SIGINT after the terminal's, must not cut the teardown short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in HELD}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def _quiet_child() -> None:
    """In a process Lava forks: Ctrl-C to the process group is the parent's to handle (it stops every
    child and frees the shared memory), and SIGTERM, which the parent uses to stop a child, ends it
    without a Python traceback (a handler the parent installed, e.g. ds2ta-sim's, is not inherited).
    The child then watches its parent."""
    if _RUNNING[0]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        scratch = _RUNNING[0]
        watch_parent(on_death=lambda: _orphaned(scratch))


os.register_at_fork(after_in_child=_quiet_child)


def _orphaned(scratch: str) -> None:
    """A Lava child whose parent died: free the segments it maps and the run's scratch folder (each
    child tries; whoever comes first removes it), then end at once."""
    remove_shm(mapped_shm() | {scratch})
    os._exit(1)


def kill_runtime(runtime) -> None:
    """Tear down a runtime after a failure or an interrupt, without Lava's stop handshake (which waits
    forever on a failed child) and without its messaging ``stop()`` (which joins children that are
    still waiting for commands): terminate (then kill) every forked process, then shut down Lava's
    shared-memory manager, which unlinks every channel's segment."""
    mi = getattr(runtime, "_messaging_infrastructure", None)
    _stop_processes(list(getattr(mi, "_actors", []) or []))
    smm = getattr(mi, "_smm", None)
    if smm is not None:
        try:
            smm.shutdown()
        except Exception:  # noqa: BLE001 - already down
            pass
    for flag in ("_is_running", "_is_started"):
        if hasattr(runtime, flag):
            setattr(runtime, flag, False)


def _stop_processes(procs: list) -> None:
    """Terminate every process (all first, so they stop in parallel), then join each, killing any that
    is still alive after 5 s."""
    import multiprocessing as mp

    for a in procs:
        try:
            if a.is_alive():
                a.terminate()
        except (OSError, ValueError, AssertionError):
            pass
    for a in procs:
        try:
            mp.Process.join(a, timeout=5)  # SystemProcess.join has no timeout
            if a.is_alive():
                a.kill()
                mp.Process.join(a, timeout=5)
        except (OSError, ValueError, AssertionError):
            pass


def reap_new_children(before: set, settle_s: float = 1.0, limit_s: float = 15.0) -> None:
    """Terminate (then kill) this process's children that are not in ``before``, until none has
    appeared for ``settle_s``: an interrupt can land while lava-nc's run thread is still forking its
    processes, after ``_kill_runtime`` took the list of the ones it knew (issue 13: orphaned shards)."""
    import multiprocessing as mp

    quiet, end = time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < end:
        new = [c for c in mp.active_children() if c not in before]
        if not new:
            if time.monotonic() - quiet > settle_s:
                return
            time.sleep(0.05)
            continue
        quiet = time.monotonic()
        _stop_processes(new)


def _finished(done: threading.Event, poll_s: float) -> bool:
    """``done`` is set, else sleep ``poll_s`` and look again. A plain sleep, not ``Event.wait``: a Ctrl-C or
    SIGTERM handler that raises inside ``Event.wait``'s lock bookkeeping can turn into "RuntimeError: release
    unlocked lock" (seen once under load in tests/faults/test_workers_signals.py); raised from ``time.sleep``
    it unwinds as itself."""
    if done.is_set():
        return True
    time.sleep(poll_s)
    return done.is_set()


def run_watched(proc, steps: int, poll_s: float = 0.05) -> None:
    """``proc.run(RunSteps(steps))`` that returns an error instead of hanging when a Lava process dies.

    lava-nc 0.10's runtime waits forever for the answer of a process model that raised (the parent
    blocks in ``_get_resp_for_run``). The run therefore happens in a daemon thread while this thread
    watches the forked processes: one that exited early raises ``RuntimeError`` with its traceback
    (the caller then kills the runtime). Ctrl-C reaches this thread, not Lava's wait.
    """
    runtime = proc.runtime
    actors = list(getattr(getattr(runtime, "_messaging_infrastructure", None), "_actors", []) or [])
    done, err = threading.Event(), []

    def target():
        try:
            proc.run(condition=RunSteps(num_steps=steps))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            err.append(e)
        finally:
            done.set()
    threading.Thread(target=target, daemon=True, name="lava-run").start()
    if not actors:  # first call: the runtime forks its processes inside run()
        while not _finished(done, poll_s) and not actors:
            actors = list(getattr(runtime._messaging_infrastructure, "_actors", []) or [])
    while not _finished(done, poll_s):
        dead = [a for a in actors if not a.is_alive()]
        if dead:
            info = next((a.exception for a in dead if a.exception), None)
            detail = f": {info[0]!r}\n{info[1]}" if info else f" (exit code {dead[0].exitcode})"
            raise RuntimeError(f"a Lava process failed during the run{detail}")
    if err:
        raise err[0]


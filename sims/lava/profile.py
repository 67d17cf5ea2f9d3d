"""Where a Lava run's time goes: CPU seconds of every forked process, split into its model's arithmetic and
the runtime's overhead (``LavaNetwork.run(profile=True)``; ``benchmarks/sim_speed.py`` prints it).

lava-nc forks one OS process per Lava process. While a profiled network forks, ``PyLoihiProcessModel._spike``
(the spiking phase's command handler, which calls the model's ``run_spk``) is wrapped: in each child the
model's ``run_spk`` is timed with ``time.thread_time`` (CPU seconds of the model's thread: its numpy
arithmetic and the copies of its port reads and writes; a blocked ``recv`` waits on a semaphore and costs
none), and after every step the child writes that sum, its whole process CPU time (``time.process_time``:
the port helper threads and the phase handshakes too) and its step count into one row of a shared
memory-mapped table. The parent reads the table after the run; the rows of the runtime service and the
shared-memory manager, which run no model, come from ``psutil``. Nothing is timed unless asked for: the
wrapper is in place only while a profiled runtime forks.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel

_ORIGINAL_SPIKE = PyLoihiProcessModel._spike
_TABLE: list = [None]  # (path, {model_id: row}, rows) while a profiled runtime forks (read in the children)
COLUMNS = ("pid", "arithmetic_cpu_s", "process_cpu_s_first_step", "process_cpu_s_last_step", "steps")


def _profiled_spike(self) -> None:
    rec = self.__dict__.get("_ds2ta_profile_row")
    if rec is None:
        rec = _attach(self)
    _ORIGINAL_SPIKE(self)
    if rec is not False:
        rec[3] = time.process_time()
        rec[4] += 1


def _attach(model):
    """First step of a model in its child: its row of the table, and ``run_spk`` timed."""
    path, rows, n = _TABLE[0] or (None, {}, 0)
    row = rows.get(model.model_id)
    if row is None:
        model.__dict__["_ds2ta_profile_row"] = False
        return False
    rec = np.memmap(path, dtype=np.float64, mode="r+", shape=(n, len(COLUMNS)))[row]
    rec[0] = os.getpid()
    rec[2] = time.process_time()  # the model's build and fork before its first step are not the run's
    run_spk = model.run_spk

    def timed():
        t0 = time.thread_time()
        run_spk()
        rec[1] += time.thread_time() - t0

    model.__dict__["run_spk"] = timed
    model.__dict__["_ds2ta_profile_row"] = rec
    return rec


@dataclass
class ProcessProfile:
    """One forked process's CPU seconds over the run.

    Attributes:
        name: the Lava process's name (its NIR node, lowered population or synapse).
        kind: its Process class.  model: the ProcessModel class that ran it.
        arithmetic_s: CPU seconds inside the model's ``run_spk`` (its thread).
        cpu_s: CPU seconds of the whole OS process (all threads) from its first step to its last.
        steps: steps it ran.
    """

    name: str
    kind: str
    model: str
    arithmetic_s: float
    cpu_s: float
    steps: int

    @property
    def overhead_s(self) -> float:
        """CPU seconds outside the model's arithmetic: port helper threads, phase handshakes."""
        return max(self.cpu_s - self.arithmetic_s, 0.0)


@contextlib.contextmanager
def profiling(workdir: str, processes: list):
    """Wrap the spiking phase of every model forked inside the block (around ``create_runtime``) so that
    each of ``processes`` writes its CPU seconds to a table in ``workdir``; yields a callable that reads
    the table (``{process: row}``, columns ``COLUMNS``) once the run's steps are done."""
    path = os.path.join(workdir, "profile.bin")
    n = max(len(processes), 1)
    np.memmap(path, dtype=np.float64, mode="w+", shape=(n, len(COLUMNS))).flush()
    _TABLE[0] = (path, {p.id: i for i, p in enumerate(processes)}, n)
    PyLoihiProcessModel._spike = _profiled_spike
    try:
        yield lambda: {p: tuple(row) for p, row in
                       zip(processes, np.array(np.memmap(path, dtype=np.float64, mode="r", shape=(n, len(COLUMNS)))))}
    finally:
        PyLoihiProcessModel._spike = _ORIGINAL_SPIKE
        _TABLE[0] = None


def summarize(table: dict, wall_s: float, steps: int, labels: dict | None = None) -> dict:
    """The profile of one run: every process (busiest first), the processes that ran no model (runtime
    service, shared-memory manager: their whole CPU seconds from ``psutil``, taken before the runtime
    stops), and per step: wall milliseconds, model arithmetic and runtime overhead in CPU milliseconds
    summed over processes.

    Args:
        table: ``{process: row}`` from :func:`profiling` (each process's ``model_class`` is the model
            the compiler chose).
        labels: names for processes whose class takes none (lava-nc's ``ProdNeuron``, ``GradedVec``).
    """
    import psutil

    rows, pids = [], set()
    for proc, (pid, arith, cpu0, cpu1, n) in table.items():
        pids.add(int(pid))
        model = getattr(proc, "model_class", None)
        rows.append(ProcessProfile((labels or {}).get(proc, proc.name), type(proc).__name__, getattr(model, "__name__", "?"),
                                   float(arith), max(float(cpu1) - float(cpu0), 0.0), int(n)))
    rows.sort(key=lambda r: -r.cpu_s)
    other = 0.0
    for c in psutil.Process().children(recursive=True):
        if c.pid in pids:
            continue
        with contextlib.suppress(psutil.Error):
            t = c.cpu_times()
            other += t.user + t.system
    arith = sum(r.arithmetic_s for r in rows)
    overhead = sum(r.overhead_s for r in rows)
    per = 1e3 / max(steps, 1)
    return {"steps": steps, "wall_ms_per_step": wall_s * per,
            "arithmetic_cpu_ms_per_step": arith * per,
            "model_process_overhead_cpu_ms_per_step": overhead * per,
            "runtime_service_cpu_ms_per_step": max(other, 0.0) * per,
            "processes": [dict(name=r.name, kind=r.kind, model=r.model, cpu_s=round(r.cpu_s, 3),
                               arithmetic_s=round(r.arithmetic_s, 3), overhead_s=round(r.overhead_s, 3),
                               steps=r.steps) for r in rows]}

"""Build a NIR graph as Lava processes and run samples through it with hardware-faithful timing.

Samples follow each other every ``period`` Lava steps: ``T + depth`` by default (one sample fully
through the pipeline, then the next), or ``T`` with ``pipelined=True`` (the next sample enters while
the previous one is still in deeper layers, as on the chip). Each population resets its state at its
own window start (``LIFReset``'s offset = its depth), so no state leaks between samples in either mode.
A recorder process stores every population's window into memory-mapped files; a run that fails or is
interrupted stops the Lava runtime (freeing its shared memory) and removes the files.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import nir
import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv

from ds2ta.sims.lava.builders import (POPULATION_BUILDERS, BuildContext, build_synapse, is_spiking)
from ds2ta.sims.lava.extensions import (EXTENSION_BUILDERS, EXTENSION_LATENCY, EXTENSION_PORTS,
                                         extension_models)
from ds2ta.hardware import attention_lowering as al
from ds2ta.sims.lava.graph import Schedule
from ds2ta.sims.lava.lowering import LoweredAttention
from ds2ta.sims.lava.ops import input_shape
from ds2ta.sims.lava.procs.conv.models import PyConvModelNumpy
from ds2ta.sims.lava.procs.io.models import PyMemmapSourceModel, recorder_model
from ds2ta.sims.lava.procs.io.process import MemmapSource, Recorder
from ds2ta.sims.lava.procs.readout.models import PyReadoutModel
from ds2ta.sims.lava.procs.readout.process import Readout
from ds2ta.sims.lava.procs.relay.models import PySpikeRelayModel
from ds2ta.sims.lava.procs.relay.process import SpikeRelay


# Messages each Lava channel buffers in shared memory. lava-nc's default is 64; the Loihi protocol
# synchronizes every step, so a channel never holds more than one step's message before it is read.
# At paper scale (cifar10: 374 processes, channels up to 196,608 values) the default's buffers made
# up most of the run's 8.8 GB (summed PSS); see docs/scale.md.
CHANNEL_DEPTH = 2


_RUNNING = [False]  # set while LavaNetwork.run builds and steps a runtime (read in forked children)


def _quiet_child() -> None:
    """In a process Lava forks: Ctrl-C to the process group is the parent's to handle (it stops every
    child and frees the shared memory), and SIGTERM, which the parent uses to stop a child, ends it
    without a Python traceback (a handler the parent installed, e.g. ds2ta-sim's, is not inherited)."""
    if _RUNNING[0]:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


os.register_at_fork(after_in_child=_quiet_child)


@dataclass
class LavaRun:
    """What one Lava run produced.

    Attributes:
        records: population -> ``(samples, T, n)`` outputs in sample-local time (spikes uint8, graded int32).
        extra: population -> per-sample counters reported by extension processes (attention ops).
        steps: Lava steps executed.  period: steps per sample.  processes: Lava processes built.
        compile_s, run_s: wall seconds for build+compile and for the steps.
    """

    records: dict
    extra: dict = field(default_factory=dict)
    steps: int = 0
    period: int = 0
    processes: int = 0
    compile_s: float = 0.0
    run_s: float = 0.0
    process_classes: dict = field(default_factory=dict)  # "module.Class" -> count, every process built
    model_classes: dict = field(default_factory=dict)    # process class -> ProcessModel chosen here


def _scratch_dir() -> str:
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    return tempfile.mkdtemp(prefix="ds2ta-lava-", dir=base)


def _kill_runtime(runtime) -> None:
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


def _reap_new_children(before: set, settle_s: float = 1.0, limit_s: float = 15.0) -> None:
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


def _run_watched(proc, steps: int, poll_s: float = 0.05) -> None:
    """``proc.run(RunSteps(steps))`` that returns an error instead of hanging when a Lava process dies.

    lava-nc 0.10's runtime waits forever for the answer of a process model that raised (the parent
    blocks in ``_get_resp_for_run``). The run therefore happens in a daemon thread while this thread
    watches the forked processes: one that exited early raises ``RuntimeError`` with its traceback
    (the caller then kills the runtime). Ctrl-C reaches this thread, not Lava's wait.
    """
    import threading

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
        while not done.wait(poll_s) and not actors:
            actors = list(getattr(runtime._messaging_infrastructure, "_actors", []) or [])
    while not done.wait(poll_s):
        dead = [a for a in actors if not a.is_alive()]
        if dead:
            info = next((a.exception for a in dead if a.exception), None)
            detail = f": {info[0]!r}\n{info[1]}" if info else f" (exit code {dead[0].exitcode})"
            raise RuntimeError(f"a Lava process failed during the run{detail}")
    if err:
        raise err[0]


class LavaNetwork:
    """A NIR graph scheduled for Lava (see ``graph.Schedule``); ``run`` builds and runs it.

    Args:
        graph: a ``nir.NIRGraph`` (integer parameters; see docs/nir-format.md) or a path to one.
        T: time steps per sample.
        pipelined: start a new sample every ``T`` steps instead of every ``T + depth``.
        attention_lowering: ``"neurons"``: each attention node becomes lava-nc library neurons and
            synapses (``sims.lava.lowering``), every population recorded as ``"<node>.<suffix>"``;
            ``"core"``: one opaque numpy attention core per node.
    """

    def __init__(self, graph: nir.NIRGraph | str, T: int, pipelined: bool = False,
                 attention_lowering: str = al.DEFAULT_LOWERING):
        if isinstance(graph, (str, os.PathLike)):
            from ds2ta.export import read_graph
            graph = read_graph(graph)
        if not isinstance(T, int) or T < 1:
            raise ValueError(f"T={T!r} must be a positive integer number of steps")
        if attention_lowering not in al.LOWERINGS:
            raise ValueError(f"attention lowering {attention_lowering!r}: choose one of {al.LOWERINGS}")
        self.graph, self.T, self.attention_lowering = graph, T, attention_lowering
        latency = EXTENSION_LATENCY
        self.lowerings: dict = {}
        if attention_lowering == "neurons":
            def latency_of(node):  # the schedule asks per node; plans are kept for the build
                key = id(node)
                if key not in self.lowerings:
                    self.lowerings[key] = al.plan(type(node).__name__, node)
                return self.lowerings[key].out_latency
            latency = {t: latency_of for t in EXTENSION_LATENCY}
        self.schedule = Schedule(graph, EXTENSION_PORTS, latency)
        self.input = self.schedule.input_name()
        self.in_shape = input_shape(self.schedule.populations[self.input].node)
        self.depth = max(p.depth + p.out_latency for p in self.schedule.populations.values())
        self.period = T if pipelined else T + self.depth
        self.pipelined = pipelined

    def lowered(self) -> dict:
        """Attention node -> its ``Lowering`` (empty with the core lowering)."""
        return {n: self.lowerings[id(p.node)] for n, p in self.schedule.populations.items()
                if p.kind == "extension" and id(p.node) in self.lowerings}

    @property
    def latency_steps(self) -> int:
        """Lava steps from a sample's first input step to the read-out's first step."""
        return self.depth

    # -- build ------------------------------------------------------------------------------------
    def _build(self, samples: int, workdir: str, x_path: str):
        sch = self.schedule
        ctx = BuildContext(T=self.T, period=self.period, workdir=workdir, samples=samples)
        procs, models, outs = {}, {}, {}
        units, n_lowered = {}, 0  # lowered attention populations: name -> (port, size, depth, spiking)
        for name, pop in sch.populations.items():
            t = type(pop.node).__name__
            if pop.kind == "input":
                proc = MemmapSource(shape=(pop.size,), path=x_path, samples=samples, T=self.T, period=self.period)
                models[proc] = PyMemmapSourceModel
                outs[name] = proc.s_out
            elif pop.kind == "extension" and self.attention_lowering == "neurons":
                proc = LoweredAttention(name, self.lowerings[id(pop.node)], pop.depth, self.period)
                outs[name] = proc.a_out
                units.update(proc.units)
                models.update(proc.models)
                n_lowered += len(proc.processes) - 1
            elif pop.kind == "extension":
                proc = EXTENSION_BUILDERS[t](pop, ctx)
                models.update(extension_models(proc))
                outs[name] = proc.a_out
            else:
                if t not in POPULATION_BUILDERS:
                    raise ValueError(f"node {name!r}: no Lava builder for {t}")
                proc = POPULATION_BUILDERS[t](pop, ctx)
                if isinstance(proc, Readout):
                    models[proc] = PyReadoutModel
                    outs[name] = proc.v_out
                else:
                    outs[name] = proc.s_out
            procs[name] = proc
        relays, n_extra, synapses = {}, 0, []
        for p in sch.projections:
            src, dst = sch.populations[p.src], sch.populations[p.dst]
            port = outs[p.src]
            lo, hi = 0, self.period - 1
            if p.recurrent:
                hi = self.T - 2 - p.delay
            elif p.delay:
                hi = self.period - 1 - p.delay
            if p.total_delay or hi < self.period - 1:
                key = (p.src, p.total_delay, lo, hi)
                if key not in relays:
                    r = SpikeRelay(shape=(src.size,), delay=p.total_delay, period=self.period,
                                   src_depth=src.depth + src.out_latency, lo=lo, hi=max(hi, -1))
                    port.connect(r.s_in)
                    models[r] = PySpikeRelayModel
                    relays[key] = r
                port = relays[key].s_out
            if dst.kind == "extension" or (src.kind == "extension" and not p.ops):
                if p.ops:
                    raise ValueError(f"{p.src} -> {p.dst}: weights in front of an attention operand are "
                                     "not supported; operands must be spike sources")
                if isinstance(procs[p.dst], LoweredAttention):
                    procs[p.dst].connect_operand(p.port, port)
                else:
                    port.connect(procs[p.dst].a_in if dst.kind != "extension" else getattr(procs[p.dst], p.port))
                continue
            dst_port = procs[p.dst].a_in
            syn, chw, out_lava = build_synapse(p, src.size, dst.size, graded=not is_spiking(src))
            n_extra += 1
            synapses.append(syn)
            if chw is None:
                port.connect(syn.s_in)
                syn.a_out.connect(dst_port)
            else:
                port.reshape(chw).transpose([2, 1, 0]).connect(syn.s_in)
                syn.a_out.transpose([2, 1, 0]).reshape((dst.size,)).connect(dst_port)
            if isinstance(syn, Conv):
                models[syn] = PyConvModelNumpy
        built = [x for p in procs.values() for x in getattr(p, "processes", [p])]
        built += list(relays.values()) + synapses + ctx.helpers
        assert len(built) == len(procs) + len(relays) + n_extra + len(ctx.helpers) + n_lowered
        return procs, outs, units, models, built

    # -- run --------------------------------------------------------------------------------------
    def run(self, x: np.ndarray, progress: Optional[Callable[[int], None]] = None,
            chunk: int = 1) -> LavaRun:
        """Run samples ``x`` of shape ``(samples, T, *input_shape)`` (integers) through Lava.

        Args:
            x: integer inputs, sample-major.
            progress: called with the number of samples finished after every ``chunk`` samples
                (e.g. ``tqdm.update``); the runtime runs ``chunk * period`` steps per call, so a
                Ctrl-C lands between calls and stops the processes cleanly.
            chunk: samples per runtime call when ``progress`` is given.

        Returns:
            ``LavaRun`` with every population's outputs in sample-local time.
        """
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[1] != self.T or int(np.prod(x.shape[2:])) != int(np.prod(self.in_shape)):
            raise ValueError(f"x must be (samples, T={self.T}, *{self.in_shape}), got {x.shape}")
        if x.dtype.kind == "f" and np.any(x != np.round(x)):
            raise ValueError("x holds non-integer values: the chip gets integer graded input (x_int)")
        S = x.shape[0]
        import multiprocessing as mp
        children_before = set(mp.active_children())
        _RUNNING[0] = True
        workdir = _scratch_dir()
        t0 = time.perf_counter()
        runtime_owner = None
        try:
            x_path = os.path.join(workdir, "input.bin")
            mm = np.memmap(x_path, dtype=np.int32, mode="w+", shape=(S, self.T, int(np.prod(self.in_shape))))
            mm[:] = x.reshape(S, self.T, -1)
            mm.flush()
            procs, outs, units, models, built = self._build(S, workdir, x_path)
            pops = self.schedule.populations
            info = {}  # recorded ports in execution order: a lowered attention's populations before its output
            for n in outs:
                info.update({u: units[u] for u in units if u.startswith(f"{n}.")})
                info[n] = (outs[n], pops[n].size, pops[n].depth + pops[n].out_latency, is_spiking(pops[n]))
            names = list(info)
            sizes = [info[n][1] for n in names]
            spiking = [info[n][3] for n in names]
            paths = [os.path.join(workdir, f"rec{i}.bin") for i in range(len(names))]
            for path, size, sp in zip(paths, sizes, spiking):
                np.memmap(path, dtype=np.uint8 if sp else np.int32, mode="w+", shape=(S, self.T, size)).flush()
            rec = Recorder(sizes=sizes, paths=paths, dtypes=["uint8" if sp else "int32" for sp in spiking],
                           depths=[info[n][2] for n in names], samples=S, T=self.T, period=self.period)
            for i, n in enumerate(names):
                info[n][0].connect(getattr(rec, f"in_{i}"))
            models[rec] = recorder_model(len(names))
            steps = S * self.period + (self.depth if self.pipelined else 0)
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
            runtime_owner = rec
            rec.create_runtime(run_cfg=cfg, compile_config={"pypy_channel_size": CHANNEL_DEPTH})
            t1 = time.perf_counter()
            per_call = steps if progress is None else max(1, int(chunk)) * self.period
            done = 0
            while done < steps:
                n = min(per_call, steps - done)
                _run_watched(rec, n)
                done += n
                if progress is not None:
                    progress(min(S, done // self.period) - min(S, (done - n) // self.period))
            t2 = time.perf_counter()
            records = {n: np.array(np.memmap(p, dtype=np.uint8 if sp else np.int32, mode="r",
                                             shape=(S, self.T, size)))
                       for n, p, sp, size in zip(names, paths, spiking, sizes)}
            extra = {n: procs[n].read_counters() for n in procs
                     if pops[n].kind == "extension" and hasattr(procs[n], "read_counters")}
            built.append(rec)
            classes: dict = {}
            for p in built:
                key = f"{type(p).__module__}.{type(p).__qualname__}"
                classes[key] = classes.get(key, 0) + 1
            chosen = {f"{type(p).__module__}.{type(p).__qualname__}": f"{m.__module__}.{m.__qualname__}"
                      for p, m in models.items()}
            return LavaRun(records, extra, steps, self.period, len(built), t1 - t0, t2 - t1, classes, chosen)
        except BaseException:
            if runtime_owner is not None and getattr(runtime_owner, "runtime", None) is not None:
                _kill_runtime(runtime_owner.runtime)  # stop() waits forever on a failed child
                runtime_owner = None
            _reap_new_children(children_before)  # Lava may still be forking when an interrupt lands
            raise
        finally:
            if runtime_owner is not None:
                try:
                    runtime_owner.stop()
                except Exception:  # noqa: BLE001 - the runtime may never have started
                    pass
            shutil.rmtree(workdir, ignore_errors=True)
            _RUNNING[0] = False

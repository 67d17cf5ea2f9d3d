"""Build a NIR graph as Lava processes and run samples through it with hardware-faithful timing.

Samples follow each other every ``period`` Lava steps: ``T + depth`` by default (one sample fully
through the pipeline, then the next), or ``T`` with ``pipelined=True`` (the next sample enters while
the previous one is still in deeper layers, as on the chip). Each population resets its state at its
own window start (``LIFReset``'s offset = its depth), so no state leaks between samples in either mode.
A recorder process stores every population's window into memory-mapped files; a run that fails or is
interrupted stops the Lava runtime (freeing its shared memory) and removes the files.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

import nir
import numpy as np
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.conv.process import Conv

from ds2ta.sims.lava.builders import (POPULATION_BUILDERS, BuildContext, build_synapse, is_spiking,
                                      shared_fan_in_key)
from ds2ta.sims.lava.extensions import (EXTENSION_BUILDERS, EXTENSION_LATENCY, EXTENSION_PORTS,
                                         extension_models)
from ds2ta.hardware import attention_lowering as al
from ds2ta.sims.lava.graph import Schedule
from ds2ta.sims.lava.lowering import LoweredAttention
from ds2ta.sims.lava.ops import input_shape
from ds2ta.sims.lava.procs.conv.models import PyConvModelBLAS, PyTapConvModel
from ds2ta.sims.lava.procs.io.models import PyMemmapSourceModel, recorder_model
from ds2ta.sims.lava.procs.io.process import MemmapSource, Recorder
from ds2ta.sims.lava.procs.readout.models import PyReadoutModel
from ds2ta.sims.lava.procs.readout.process import Readout
from ds2ta.sims.lava.procs.sigma_delta.models import PySigmaDeltaUnitModel
from ds2ta.sims.lava.procs.sigma_delta.process import SigmaDeltaUnit
from ds2ta.sims.lava.procs.relay.models import bank_model
from ds2ta.sims.lava.procs.relay.process import DelayBank
from ds2ta.sims.lava.procs.fast import fast_models
from ds2ta.sims.lava.procs.synapse.models import PyDelaySparseModelEvent, PySparseModelEvent, prebuild_kernels
from ds2ta.sims.lava.profile import profiling, summarize
from ds2ta.sims.lava.taps import build_tap_conv, tap_groups, tap_line
from ds2ta.sims.lava.runtime_guard import (begin_run, end_run, frozen_heap, kill_runtime, one_blas_thread,
                                           reap_new_children, run_watched, shielded, signals_held)


# Messages each Lava channel buffers in shared memory. lava-nc's default is 64; the Loihi protocol
# synchronizes every step, so a channel never holds more than one step's message before it is read.
# At paper scale (cifar10: 374 processes, channels up to 196,608 values) the default's buffers made
# up most of the run's 8.8 GB (summed PSS); see docs/scale.md.
CHANNEL_DEPTH = 2
RECORDERS = 2  # recorder processes (one per core of the 2-core machine this was measured on)




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
    profile: Optional[dict] = None  # with run(profile=True): CPU seconds per process (sims/lava/profile.py)


class LavaNetwork:
    """A NIR graph scheduled for Lava (see ``graph.Schedule``); ``run`` builds and runs it.

    Args:
        graph: a ``nir.NIRGraph`` (integer parameters; see docs/nir-format.md) or a path to one.
        T: time steps per sample.
        pipelined: start a new sample every ``T`` steps instead of every ``T + depth``. Default False
            (sequential) for this Python API; ``ds2ta-sim`` and ``simulate_lava(pipelined=None)`` pipeline
            runs of more than one sample (docs/simulation.md, "Schedules").
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
        self.taps = tap_groups(self.schedule, lambda pop: is_spiking(pop))  # id(projection) -> TapGroup

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
                elif isinstance(proc, SigmaDeltaUnit):
                    models[proc] = PySigmaDeltaUnitModel
                    outs[name] = proc.s_out
                else:
                    outs[name] = proc.s_out
            procs[name] = proc
        banks, n_extra, synapses, shared = self._delay_banks(outs, models), 0, [], {}
        keys = {id(p): shared_fan_in_key(p, sch.populations[p.src]) for p in sch.projections}
        fan_in = Counter(k for k in keys.values() if k is not None)
        tapped: dict = {}  # TapGroup name -> (TapConv, sources connected)
        for p in sch.projections:
            src, dst = sch.populations[p.src], sch.populations[p.dst]
            line = self._line(p)
            port = outs[p.src] if line is None else banks[p.src][0].line(banks[p.src][1][line])
            group = self.taps.get(id(p))
            if group is not None:  # TASA's replicas: one TapConv, each source connected once
                if group.name not in tapped:
                    syn = build_tap_conv(group, sch, self.period)
                    syn.a_out.connect(procs[p.dst].a_in)
                    models[syn] = PyTapConvModel
                    synapses.append(syn)
                    n_extra += 1
                    tapped[group.name] = (syn, set())
                syn, connected = tapped[group.name]
                if p.src not in connected:
                    port.connect(syn.s_in)
                    connected.add(p.src)
                continue
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
            key = keys[id(p)] if fan_in[keys[id(p)]] > 1 else None
            if key in shared:  # one more source into a shared synapse: its input sums the spikes
                syn, chw = shared[key]
                (port if chw is None else port.reshape(chw).transpose([2, 1, 0])).connect(syn.s_in)
                continue
            # a shared synapse receives spike counts (graded payload), not single spikes
            syn, chw, out_lava = build_synapse(p, src.size, dst.size, graded=not is_spiking(src) or key is not None)
            n_extra += 1
            synapses.append(syn)
            if key is not None:
                shared[key] = (syn, chw)
            if chw is None:
                port.connect(syn.s_in)
                syn.a_out.connect(dst_port)
            else:
                port.reshape(chw).transpose([2, 1, 0]).connect(syn.s_in)
                syn.a_out.transpose([2, 1, 0]).reshape((dst.size,)).connect(dst_port)
            if isinstance(syn, Conv):
                models[syn] = PyConvModelBLAS
        built = [x for p in procs.values() for x in getattr(p, "processes", [p])]
        built += [b for b, _ in banks.values()] + synapses + ctx.helpers
        assert len(built) == len(procs) + len(banks) + n_extra + len(ctx.helpers) + n_lowered
        # lava-nc library processes: faster exact models (procs/fast.py); a conv with a weight exponent
        # (sparse_conv.py) is a Sparse whose model keeps its graded sums exact beyond int32
        models.update({p: m for p, m in fast_models(built).items() if p not in models})
        prebuild_kernels([p for p in built if models.get(p) in (PySparseModelEvent, PyDelaySparseModelEvent)])
        return procs, outs, units, models, built

    def _recorders(self, names: list, info: dict, paths: list, samples: int, models: dict) -> list:
        """``RECORDERS`` Recorder processes sharing the recorded ports, balanced by bytes per step: a
        paper-scale run records up to 25 MB per step (the lowered attention's products), the largest single
        process's work, which the lock-step runtime waits for at every step."""
        nbytes = [info[n][1] * (1 if info[n][3] else 4) for n in names]
        groups, load = [[] for _ in range(RECORDERS)], [0] * RECORDERS
        for i in sorted(range(len(names)), key=lambda i: -nbytes[i]):
            g = load.index(min(load))
            groups[g].append(i)
            load[g] += nbytes[i]
        recs = []
        for group in (sorted(g) for g in groups if g):
            rec = Recorder(sizes=[info[names[i]][1] for i in group], paths=[paths[i] for i in group],
                           dtypes=["uint8" if info[names[i]][3] else "int32" for i in group],
                           depths=[info[names[i]][2] for i in group], samples=samples, T=self.T, period=self.period)
            for j, i in enumerate(group):
                info[names[i]][0].connect(getattr(rec, f"in_{j}"))
            models[rec] = recorder_model(len(group))
            recs.append(rec)
        return recs

    def _line(self, p) -> tuple | None:
        """``(delay, lo, hi)`` of the delay line projection ``p`` needs (``DelayBank``), None if none:
        its alignment plus NIR delay, and the source-local steps it passes (``hi < period - 1`` drops the
        steps that would leak into the next sample)."""
        if id(p) in self.taps:
            return tap_line(p, self.period)
        lo, hi = 0, self.period - 1
        if p.recurrent:
            hi = self.T - 2 - p.delay
        elif p.delay:
            hi = self.period - 1 - p.delay
        if p.total_delay or hi < self.period - 1:
            return (p.total_delay, lo, max(hi, -1))
        return None

    def _delay_banks(self, outs: dict, models: dict) -> dict:
        """One ``DelayBank`` per source population that needs delay lines, fed by its output:
        ``{source: (bank, {(delay, lo, hi): line index})}``."""
        lines: dict = {}
        for p in self.schedule.projections:
            line = self._line(p)
            if line is not None:
                index = lines.setdefault(p.src, {})
                index.setdefault(line, len(index))
        banks = {}
        for name, index in lines.items():
            src = self.schedule.populations[name]
            spec = sorted(index, key=index.get)
            bank = DelayBank(shape=(src.size,), delays=[d for d, _, _ in spec], lo=[lo for _, lo, _ in spec],
                             hi=[hi for _, _, hi in spec], period=self.period,
                             src_depth=src.depth + src.out_latency, name=f"{name}.delays")
            outs[name].connect(bank.s_in)
            models[bank] = bank_model(len(spec))
            banks[name] = (bank, index)
        return banks

    # -- run --------------------------------------------------------------------------------------
    def run(self, x: np.ndarray, progress: Optional[Callable[[int], None]] = None,
            chunk: int = 1, profile: bool = False) -> LavaRun:
        """Run samples ``x`` of shape ``(samples, T, *input_shape)`` (integers) through Lava.

        Args:
            x: integer inputs, sample-major.
            progress: called with the number of samples finished after every ``chunk`` samples
                (e.g. ``tqdm.update``); the runtime runs ``chunk * period`` steps per call, so a
                Ctrl-C lands between calls and stops the processes cleanly.
            chunk: samples per runtime call when ``progress`` is given.
            profile: record every process's CPU seconds, arithmetic apart from runtime overhead
                (``LavaRun.profile``; ``sims/lava/profile.py``).

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
        workdir = begin_run()
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
            recs = self._recorders(names, info, paths, S, models)
            steps = S * self.period + (self.depth if self.pipelined else 0)
            cfg = Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=models)
            rec = runtime_owner = recs[0]  # any process of the network compiles and runs all of it
            built += recs
            with contextlib.ExitStack() as stack:
                stack.enter_context(one_blas_thread())  # inherited by every forked process
                stack.enter_context(frozen_heap())  # the forked processes' collector skips the parent's objects
                table = stack.enter_context(profiling(workdir, built)) if profile else None
                with signals_held():  # Lava forks here: a Ctrl-C inside a fork callback would be lost
                    rec.create_runtime(run_cfg=cfg, compile_config={"pypy_channel_size": CHANNEL_DEPTH})
                t1 = time.perf_counter()
                per_call = steps if progress is None else max(1, int(chunk)) * self.period
                done = 0
                while done < steps:
                    n = min(per_call, steps - done)
                    run_watched(rec, n)
                    done += n
                    if progress is not None:
                        progress(min(S, done // self.period) - min(S, (done - n) // self.period))
                t2 = time.perf_counter()
                labels = {r: f"recorder {i}" for i, r in enumerate(recs)}
                labels.update({q: f"{n}.{suffix}" for n, p in procs.items() if isinstance(p, LoweredAttention)
                               for suffix, q in p.procs.items()})
                prof = summarize(table(), t2 - t1, steps, labels) if profile else None
            records = {n: np.array(np.memmap(p, dtype=np.uint8 if sp else np.int32, mode="r",
                                             shape=(S, self.T, size)))
                       for n, p, sp, size in zip(names, paths, spiking, sizes)}
            extra = {n: procs[n].read_counters() for n in procs
                     if pops[n].kind == "extension" and hasattr(procs[n], "read_counters")}
            classes: dict = {}
            for p in built:
                key = f"{type(p).__module__}.{type(p).__qualname__}"
                classes[key] = classes.get(key, 0) + 1
            chosen = {f"{type(p).__module__}.{type(p).__qualname__}": f"{m.__module__}.{m.__qualname__}"
                      for p, m in models.items()}
            return LavaRun(records, extra, steps, self.period, len(built), t1 - t0, t2 - t1, classes, chosen, prof)
        except BaseException:
            with shielded():
                if runtime_owner is not None and getattr(runtime_owner, "runtime", None) is not None:
                    kill_runtime(runtime_owner.runtime)  # stop() waits forever on a failed child
                    runtime_owner = None
                reap_new_children(children_before)  # a child forked as the interrupt landed
            raise
        finally:
            if runtime_owner is not None:  # the records are copied out: end the processes, free the memory
                with shielded():
                    # as after a failure: terminate every process and unlink every segment, instead of
                    # lava-nc's stop handshake (each process answers STOP, each channel's threads are
                    # joined one by one: 2.5 s of a one-sample cifar10 run's 20 s)
                    kill_runtime(runtime_owner.runtime)
            end_run(workdir)

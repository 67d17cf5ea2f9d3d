"""Lava runs in the ``simulation.json`` shape (``ds2ta.sims.results``), with per-layer counters."""

from __future__ import annotations

import os
import time
from typing import Optional, Sequence, Union

import nir
import numpy as np
from tqdm import tqdm

from ds2ta.hardware.attention_lowering import DEFAULT_LOWERING
from ds2ta.sims.lava.counters import count_layers
from ds2ta.sims.lava.network import LavaNetwork, LavaRun
from ds2ta.sims.results import result_dict, sample_rows


def predictions(net: LavaNetwork, run: LavaRun) -> np.ndarray:
    """Class per sample from the population feeding the graph's Output: spike counts over T for a
    spiking read-out, else the value at the last step (the reference's rule)."""
    from ds2ta.sims.lava.builders import is_spiking

    outs = net.schedule.outputs or [list(run.records)[-1]]
    name = outs[0]
    rec = run.records[name].astype(np.int64)  # (S, T, n)
    score = rec.sum(1) if is_spiking(net.schedule.populations[name]) else rec[:, -1]
    return score.argmax(-1)


def simulate_lava(graph: Union[str, os.PathLike, nir.NIRGraph, LavaNetwork], x_int: np.ndarray,
                  labels: Sequence[Optional[int]], progress: bool = False, first_index: int = 0,
                  pipelined: Optional[bool] = None, chunk: int = 1, T: Optional[int] = None,
                  on_sample=None, attention_lowering: str = DEFAULT_LOWERING) -> tuple[dict, LavaRun]:
    """Run samples through Lava; returns ``(simulation dict, LavaRun)``.

    Args:
        graph: exported graph (path or object) or a ready ``LavaNetwork``.
        x_int: integer inputs ``(T, S, *input_shape)`` (time-major, like the reference).
        labels: S labels (``None`` entries for unlabelled samples).
        progress: tqdm bar over samples.
        first_index: global index of the first sample.
        pipelined: a new sample enters every T steps (``True``) or after the previous one left the
            pipeline (``False``: every ``T + latency`` steps); ``None``: pipelined for more than one
            sample, as ``ds2ta-sim``. A ready ``LavaNetwork`` runs its own schedule (an explicit value
            that differs raises). ``simulation.json`` records it (``lava.pipelined``) and its
            ``steps_per_inference`` (= ``lava.period``: T pipelined, ``T + latency_steps`` sequential).
        chunk: samples per runtime call (progress granularity).
        T: steps per sample when ``graph`` is not a ``LavaNetwork`` (default: ``x_int.shape[0]``).
        on_sample: optional callable(n_done) called as samples finish (e.g. a progress file).
        attention_lowering: ``"neurons"`` or ``"core"`` when ``graph`` is not a ``LavaNetwork``.
    """
    x = np.asarray(x_int)
    Tx, S = x.shape[:2]
    if isinstance(graph, LavaNetwork):
        net = graph
        if pipelined is not None and bool(pipelined) != net.pipelined:
            raise ValueError(f"pipelined={pipelined} but the LavaNetwork was built with pipelined={net.pipelined}: "
                             "build it with the schedule to run, or leave pipelined out")
    else:
        net = LavaNetwork(graph, int(T or Tx), pipelined=S > 1 if pipelined is None else bool(pipelined),
                          attention_lowering=attention_lowering)
    if Tx != net.T:
        raise ValueError(f"inputs have {Tx} steps but the network runs T={net.T}")
    if len(labels) != S:
        raise ValueError(f"{len(labels)} labels for {S} samples")
    t0 = time.perf_counter()
    done = [0]
    with tqdm(total=S, disable=not progress, desc="lava", unit="sample") as bar:
        def tick(n):
            bar.update(n)
            done[0] += n
            if on_sample is not None:
                on_sample(done[0])
        run = net.run(np.swapaxes(x, 0, 1), progress=tick, chunk=chunk)
    totals, per_sample = count_layers(net.schedule, run.records, run.extra, net.T, net.lowered())
    pred = predictions(net, run)
    rows = sample_rows(first_index, list(labels), pred.tolist(), {k: v.tolist() for k, v in per_sample.items()})
    src = graph if isinstance(graph, (str, os.PathLike)) else None
    lava = {"processes": run.processes, "steps": run.steps, "period": run.period, "pipelined": net.pipelined,
            "attention_lowering": net.attention_lowering, "compile_s": run.compile_s, "run_s": run.run_s,
            "process_classes": run.process_classes}
    sim = result_dict("lava", None if src is None else str(src), net.T, net.latency_steps, totals, rows,
                      time.perf_counter() - t0, steps_per_inference=run.period, lava=lava)
    return sim, run


def time_major_records(run: LavaRun) -> dict:
    """``LavaRun.records`` as ``{name: (T, S, n)}`` for ``ds2ta.sims.results.first_divergence``."""
    return {k: np.swapaxes(v, 0, 1) for k, v in run.records.items()}

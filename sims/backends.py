"""One simulation run's choices and backends: what ``ds2ta-sim`` (``ds2ta/cli/sim.py``) and the demo call.

- :func:`lowering_of`: the attention lowering a run uses (given, else the export's, else the default).
- :func:`pipelined_schedule`: Lava's schedule for a selection of samples.
- :func:`shard_selection`: which samples shard ``I/N`` of a selection holds.
- :func:`simulate_samples`: integer samples ``(T, S, *in)`` through Lava, the reference, or both compared
  layer by layer (:func:`compare_backends`), as the ``simulation.json`` dict (docs/simulation.md).

Lava is imported only when a Lava run is asked for, so the reference runs without lava-nc.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np

BACKENDS = ("lava", "reference")


def lowering_of(graph, chosen: Optional[str]) -> str:
    """``--attention-lowering`` if given, else the export's choice (``metadata["attention_lowering"]``),
    else the default (``neurons``): the mapper's one resolution, ``nir_adapter.graph_lowering``."""
    from ds2ta.hardware.nir_adapter import graph_lowering
    return graph_lowering(graph, chosen)


def pipelined_schedule(pipelined: bool, sequential: bool, total: int) -> bool:
    """The Lava schedule of a run selecting ``total`` samples (all shards together): ``pipelined`` or
    ``sequential`` if asked for, else pipelined for more than one sample. One sample runs the same Lava
    steps either way (``T + latency``); the schedules differ then only in ``steps_per_inference``."""
    if pipelined or sequential:
        return bool(pipelined)
    return total > 1


def shard_selection(shard: str, start: int, total: int) -> dict:
    """Shard ``shard`` (``"I/N"``) of the ``total`` samples from index ``start``: the result's ``"shard"``
    record ``{"index", "count", "start", "stop"}`` (absolute sample indices, ``stop`` excluded).

    Raises:
        ValueError: A malformed ``shard``, or a shard that holds no sample.
    """
    from ds2ta.sims.data import shard_range

    i, k, lo, hi = shard_range(total, shard)
    if hi == lo:
        raise ValueError(f"--shard {shard}: no samples fall into this shard ({total} in all)")
    return {"index": i, "count": k, "start": start + lo, "stop": start + hi}


def run_reference(graph, x: np.ndarray, labels: List[Optional[int]], *, device: str, attention_lowering: str,
                  batch_size: int, first_index: int, progress: bool, on_batch=None) -> dict:
    """The integer reference on ``x`` (T, S, *in) in batches of ``batch_size``; ``on_batch(lo, result)``
    sees each batch's records (the comparison with Lava)."""
    import torch

    from ds2ta.sims.reference import ReferenceExecutor
    from ds2ta.sims.reference.simulate import simulate

    ex = ReferenceExecutor(graph, device=device, attention_lowering=attention_lowering)
    return simulate(ex, torch.from_numpy(np.ascontiguousarray(x)), labels, batch_size=batch_size, progress=progress,
                    first_index=first_index, on_batch=on_batch)


def compare_backends(graph, x: np.ndarray, labels: List[Optional[int]], *, device: str, attention_lowering: str,
                     batch_size: int, chunk: int, first_index: int, progress: bool,
                     on_sample: Callable[[int], None], pipelined: bool) -> dict:
    """Lava (schedule ``pipelined``) and the reference on the same samples; records compared on every
    layer, step and neuron."""
    from ds2ta.sims.lava.simulate import simulate_lava, time_major_records
    from ds2ta.sims.results import compare_results, first_divergence

    lava, run = simulate_lava(graph, x, labels, progress=progress, first_index=first_index,
                              pipelined=pipelined, chunk=chunk, T=x.shape[0], on_sample=on_sample,
                              attention_lowering=attention_lowering)
    lrec = time_major_records(run)
    order = list(run.records)
    divs = []

    def check(lo, res):  # reference batch [lo, lo + B) against the same slice of Lava's records
        if divs:
            return
        part = {k: v[:, lo:lo + res.prediction.shape[0]] for k, v in lrec.items()}
        d = first_divergence(res.record, part, order, sample_offset=first_index + lo)
        if d is not None:
            divs.append(d)

    ref = run_reference(graph, x, labels, device=device, attention_lowering=attention_lowering,
                        batch_size=batch_size, first_index=first_index, progress=progress, on_batch=check)
    return compare_results({"reference": ref, "lava": lava}, divs[0] if divs else None, records_equal=not divs)


def simulate_samples(graph, x: np.ndarray, labels: List[Optional[int]], *, backend: str = "lava",
                     compare: bool = False, attention_lowering: str, pipelined: bool, first_index: int = 0,
                     device: str = "cpu", batch_size: int = 64, chunk: int = 1, progress: bool = True,
                     on_sample: Callable[[int], None] = lambda n: None) -> dict:
    """Run ``x`` (T, S, *in) integer samples on ``backend``, or on both compared (``compare``).

    Args:
        graph: the integer NIR graph.
        x: the samples, time-major; their first index in the data set is ``first_index``.
        labels: one label (or None) per sample.
        backend: ``"lava"`` or ``"reference"`` (ignored with ``compare``).
        compare: run both and compare every layer's spikes, counts and outputs.
        attention_lowering: ``"neurons"`` or ``"core"`` (:func:`lowering_of`).
        pipelined: Lava's schedule (:func:`pipelined_schedule`).
        device: the reference's device.
        batch_size: reference samples per batch.
        chunk: Lava samples per runtime call.
        progress: show progress bars.
        on_sample: called with the number of samples done (a shard's progress file).

    Returns:
        The ``simulation.json`` dict, without the graph's and the data's provenance.
    """
    if compare:
        return compare_backends(graph, x, labels, device=device, attention_lowering=attention_lowering,
                                batch_size=batch_size, chunk=chunk, first_index=first_index, progress=progress,
                                on_sample=on_sample, pipelined=pipelined)
    if backend == "reference":
        result = run_reference(graph, x, labels, device=device, attention_lowering=attention_lowering,
                               batch_size=batch_size, first_index=first_index, progress=progress)
        on_sample(x.shape[1])
        return result
    if backend != "lava":
        raise ValueError(f"backend {backend!r}: choose one of {BACKENDS}")
    from ds2ta.sims.lava.simulate import simulate_lava

    result, _ = simulate_lava(graph, x, labels, progress=progress, first_index=first_index,
                              pipelined=pipelined, chunk=chunk, T=x.shape[0], on_sample=on_sample,
                              attention_lowering=attention_lowering)
    return result

"""Dispatch table for the ds2ta NIR extension nodes (docs/nir-format.md) -> attention core Processes."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from ds2ta.sims.lava.graph import Population
from ds2ta.sims.lava.procs.attention.models import PySpikeAttentionCoreModel
from ds2ta.sims.lava.procs.attention.process import SpikeAttentionCore

EXTENSION_PORTS = {"DS2TASpikeAttention": ["q", "k", "v"], "DS2TABlockAttention": ["q", "k", "v"]}
EXTENSION_LATENCY = {"DS2TASpikeAttention": lambda node: 1, "DS2TABlockAttention": lambda node: int(node.chunk)}


def _table(name: str, node) -> np.ndarray:
    t = np.asarray(node.table)
    if np.any(t != np.round(t)):
        raise ValueError(f"node {name!r}: the NSAD table is not integer; export the graph with ds2ta-export")
    return t.astype(np.int64)


def _core(pop: Population, ctx, mode: str, table: np.ndarray, chunk: int) -> SpikeAttentionCore:
    node = pop.node
    path = os.path.join(ctx.workdir, f"attn_ops_{abs(hash(pop.name))}.bin")
    np.memmap(path, dtype=np.int64, mode="w+", shape=(ctx.samples,)).flush()
    return SpikeAttentionCore(shape=(pop.size,), heads=int(node.heads), tokens=int(np.prod(node.tokens_shape)),
                              table=table, shift=int(node.shift), mode=mode, chunk=chunk, period=ctx.period,
                              depth=pop.depth, T=ctx.T, samples=ctx.samples, counter_path=path, name=pop.name)


def build_spike_attention(pop: Population, ctx) -> SpikeAttentionCore:
    """``DS2TASpikeAttention`` -> spatial core with the NSAD table."""
    return _core(pop, ctx, "spatial", _table(pop.name, pop.node), 1)


def build_block_attention(pop: Population, ctx) -> SpikeAttentionCore:
    """``DS2TABlockAttention`` -> block core buffering ``chunk`` steps."""
    node = pop.node
    if ctx.T % int(node.chunk):
        raise ValueError(f"node {pop.name!r}: T={ctx.T} is not a multiple of chunk={node.chunk}")
    d = int(node.channels) // int(node.heads)
    return _core(pop, ctx, "block", np.zeros((int(node.heads), d + 1), np.int64), int(node.chunk))


EXTENSION_BUILDERS: dict[str, Callable] = {
    "DS2TASpikeAttention": build_spike_attention,
    "DS2TABlockAttention": build_block_attention,
}


def extension_models(proc) -> dict:
    """ProcessModels to pass in ``exception_proc_model_map`` for an extension process."""
    return {proc: PySpikeAttentionCoreModel} if isinstance(proc, SpikeAttentionCore) else {}

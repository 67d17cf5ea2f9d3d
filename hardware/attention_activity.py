"""What every population of an attention lowering computes, and its counts (``attention_lowering``).

``values`` is the integer semantics of each lowered population per step - the integer reference executes
it, and Lava's lava-nc processes must produce the same records; ``unit_counts`` applies the counting
rules of ``ds2ta.hardware.chip`` to those outputs, for both backends.
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from ds2ta.hardware import chip
from ds2ta.hardware.attention_lowering import OPERANDS, Lowering


def _heads(x: np.ndarray, H: int) -> np.ndarray:
    """(T, B, D, N) -> (T, B, H, d, N) int64."""
    T, B, D, N = x.shape
    return np.asarray(x, np.int64).reshape(T, B, H, D // H, N)


def _shr(x: np.ndarray, shift: int) -> np.ndarray:
    return x >> shift if shift >= 0 else x << (-shift)


def values(low: Lowering, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> Dict[str, np.ndarray]:
    """Every lowered population's output per step: ``{suffix: (T, B, *unit.shape)}`` (integers; spikes 0/1).

    ``q, k, v``: binary ``(T, B, D, N)``. ``values(...)["out"]`` is the attention current (int64).
    Binary products and spikes are held as int8 and sums as int32 (cifar10's pairwise populations
    hold 1.6 M values per step and sample); every value stays exact (a head's sums are below 2^31).
    """
    H, d, N = low.heads, low.head_dim, low.tokens
    Q, K, V = (_heads(z, H).astype(np.int8) for z in (q, k, v))  # (T, B, H, d, N)
    T, B = Q.shape[:2]
    ones = np.ones((T, B, 1), np.int8)
    Qt, Vt = Q.transpose(0, 1, 2, 4, 3), V.transpose(0, 1, 2, 4, 3)  # (T, B, H, N, d)
    if low.form == "pairwise":
        qk = Qt[:, :, :, :, None, :] * K.transpose(0, 1, 2, 4, 3)[:, :, :, None, :, :]  # (T, B, H, N, N, d)
        score = qk.sum(-1, dtype=np.int32)  # (T, B, H, N, N)
        level = (score[..., None] >= np.arange(1, d + 1, dtype=np.int32)).astype(np.int8)
        t = low.table
        nsad = (t[np.arange(H)[:, None, None], score] - t[:, 0][:, None, None]).astype(np.int32)
        sv = nsad[..., None] * Vt[:, :, :, None, :, :]  # (T, B, H, N(i), N(j), d) int32
        pre = sv.sum(4, dtype=np.int64).transpose(0, 1, 2, 4, 3) + \
            t[:, 0][:, None, None] * V.sum(-1, keepdims=True, dtype=np.int64)
        out = _shr(pre, low.shift).reshape(T, B, H * d, N)
        return _present(low, {"qk": qk, "score": score, "level": level, "nsad": nsad, "sv": sv, "ones": ones,
                              "out": out})
    kv = K[:, :, :, :, None, :] * V[:, :, :, None, :, :]  # (T, B, H, c, e, N) int8
    weight = low.alpha if low.form == "associative" else np.ones(H, np.int64)
    kvsum = (kv.sum(-1, dtype=np.int64) * weight[:, None, None]).astype(np.int32)  # (T, B, H, d, d)
    res = {"kv": kv, "kvsum": kvsum}
    if low.form == "block":
        c = low.chunk
        if T % c:
            raise ValueError(f"attention {low.name!r}: T={T} is not a multiple of chunk={c}")
        clock = ((np.arange(T) % c) == c - 1).astype(np.int8)
        blocks = kvsum.reshape(T // c, c, B, H, d, d).sum(1, dtype=np.int32)  # K_b^T V_b
        kvblock = np.zeros_like(kvsum)
        kvblock[c - 1::c] = blocks
        held = np.repeat(blocks, c, axis=0)  # K_b^T V_b at every step of block b
        res.update(clock=np.broadcast_to(clock[:, None, None], (T, B, 1)).copy(), kvblock=kvblock)
    else:
        held = kvsum
    qkv = Qt[..., None].astype(np.int32) * held[:, :, :, None, :, :]  # (T, B, H, N, c, e)
    out = _shr(qkv.sum(4, dtype=np.int64).transpose(0, 1, 2, 4, 3), low.shift).reshape(T, B, H * d, N)
    res.update(qkv=qkv, ones=ones, out=out)
    return _present(low, res)


def _present(low: Lowering, vals: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Only the populations the plan has (no ``ones`` without a shift)."""
    have = {u.suffix for u in low.units}
    return {k: v for k, v in vals.items() if k in have}


def unit_counts(low: Lowering, vals: Dict[str, np.ndarray]) -> Dict[str, dict]:
    """Counts per lowered population (``chip.COUNT_KEYS``) from its and its sources' outputs.

    ``vals``: ``values(...)`` or the same arrays recorded from another executor (``(T, B, ...)`` or
    ``(B, T, ...)``: only sums over steps and samples are taken). Operands ``q, k, v`` must be included.
    """
    T, B = vals["out"].shape[:2]
    msgs = {n: np.count_nonzero(np.asarray(a).reshape(T * B, -1), axis=0) for n, a in vals.items()}
    out = {}
    for u in low.units:
        c = chip.empty_counts()
        c.update(chip.neuron_counts(u.size, T, B))
        c["active_neuron_updates"] = c["neuron_updates"]  # priced as active at every step (upper bound)
        c["spikes"] = int(msgs[u.suffix].sum())
        out[u.suffix] = c
    for link in low.links:
        spiking_src = link.src in OPERANDS or low.unit(link.src).spiking
        events = int(msgs[link.src].astype(np.int64) @ low.fanout(link))
        out[link.dst]["synops" if spiking_src else "graded_synops"] += events
    return out

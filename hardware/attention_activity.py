"""What every population of an attention lowering computes, and its counts (``attention_lowering``).

``values`` is the integer semantics of each lowered population per step - the integer reference executes
it, and Lava's lava-nc processes must produce the same records; ``unit_counts`` applies the counting
rules of ``ds2ta.hardware.chip`` to those outputs, for both backends. ``output_and_messages`` is the
reference's fast path when no population is recorded: the ``out`` population and every population's
messages per neuron (what ``counts_from_messages`` counts), from sums and matrix products over steps and
samples instead of the per-step arrays of the large product populations (``qk``/``sv``, ``kv``/``qkv``
hold ``T B N^2 D`` or ``T B N d D`` values); it equals ``values`` + ``unit_counts`` (tested).
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ds2ta.hardware import chip
from ds2ta.hardware.attention_lowering import OPERANDS, Lowering
from ds2ta.hardware.blas import exact_dtype


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
    held = _held(low, kvsum, res)
    qkv = Qt[..., None].astype(np.int32) * held[:, :, :, None, :, :]  # (T, B, H, N, c, e)
    out = _shr(qkv.sum(4, dtype=np.int64).transpose(0, 1, 2, 4, 3), low.shift).reshape(T, B, H * d, N)
    res.update(qkv=qkv, ones=ones, out=out)
    return _present(low, res)


def _held(low: Lowering, kvsum: np.ndarray, res: Dict[str, np.ndarray]) -> np.ndarray:
    """What ``qkv`` multiplies by ``q`` at each step: ``kvsum``, or (block) ``K_b^T V_b`` held over the
    block's steps; adds the block form's ``clock`` and ``kvblock`` to ``res``."""
    if low.form != "block":
        return kvsum
    T, B, H, d = kvsum.shape[:4]
    c = low.chunk
    if T % c:
        raise ValueError(f"attention {low.name!r}: T={T} is not a multiple of chunk={c}")
    clock = ((np.arange(T) % c) == c - 1).astype(np.int8)
    blocks = kvsum.reshape(T // c, c, B, H, d, d).sum(1, dtype=np.int32)  # K_b^T V_b
    kvblock = np.zeros_like(kvsum)
    kvblock[c - 1::c] = blocks
    res.update(clock=np.broadcast_to(clock[:, None, None], (T, B, 1)).copy(), kvblock=kvblock)
    return np.repeat(blocks, c, axis=0)  # K_b^T V_b at every step of block b


def _present(low: Lowering, vals: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Only the populations the plan has (no ``ones`` without a shift)."""
    have = {u.suffix for u in low.units}
    return {k: v for k, v in vals.items() if k in have}


def messages(vals: Dict[str, np.ndarray], T: int, B: int) -> Dict[str, np.ndarray]:
    """Per population, its messages per neuron: the nonzero outputs of each neuron over steps and samples
    (``vals``: ``(T, B, ...)`` or ``(B, T, ...)`` arrays; int64 vectors of the population's flat size)."""
    return {n: np.count_nonzero(np.asarray(a).reshape(T * B, -1), axis=0) for n, a in vals.items()}


def unit_counts(low: Lowering, vals: Dict[str, np.ndarray]) -> Dict[str, dict]:
    """Counts per lowered population (``chip.COUNT_KEYS``) from its and its sources' outputs.

    ``vals``: ``values(...)`` or the same arrays recorded from another executor (``(T, B, ...)`` or
    ``(B, T, ...)``: only sums over steps and samples are taken). Operands ``q, k, v`` must be included.
    """
    T, B = vals["out"].shape[:2]
    return counts_from_messages(low, messages(vals, T, B), T, B)


def counts_from_messages(low: Lowering, msgs: Dict[str, np.ndarray], T: int, B: int,
                         fanouts: Optional[Sequence[np.ndarray]] = None) -> Dict[str, dict]:
    """``unit_counts`` from the messages per neuron of every population and operand (``messages``).

    A population's ``spikes`` are its messages; each link adds ``messages(src) . fanout`` synaptic events
    to its destination (``synops`` from binary sources, ``graded_synops`` from graded ones); every
    neuron update is counted as active. ``fanouts``: ``low.fanout(link)`` per link of ``low.links``,
    when the caller keeps them (they are recomputed otherwise).
    """
    out = {}
    for u in low.units:
        c = chip.empty_counts()
        c.update(chip.neuron_counts(u.size, T, B))
        c["active_neuron_updates"] = c["neuron_updates"]  # priced as active at every step (upper bound)
        c["spikes"] = int(msgs[u.suffix].sum())
        out[u.suffix] = c
    for i, link in enumerate(low.links):
        spiking_src = link.src in OPERANDS or low.unit(link.src).spiking
        fan = low.fanout(link) if fanouts is None else fanouts[i]
        events = int(np.asarray(msgs[link.src]).astype(np.int64) @ fan)
        out[link.dst]["synops" if spiking_src else "graded_synops"] += events
    return out


# -- fast path: the output and the messages without the product populations' per-step arrays ---------
def _matmul(a: np.ndarray, b: np.ndarray, bound: float) -> np.ndarray:
    """``a @ b`` of integer arrays, exact: in the float type ``blas.exact_dtype(bound)`` allows (``bound``
    must bound every partial sum's magnitude), else int64; returns int64."""
    dt = exact_dtype(bound) or np.int64
    # contiguous operands: numpy's matmul calls BLAS only on contiguous matrices (a strided one loops in C)
    y = np.matmul(np.ascontiguousarray(a, dtype=dt), np.ascontiguousarray(b, dtype=dt))
    return y.astype(np.int64, copy=False)


def _abs_max(x: np.ndarray) -> int:
    return int(np.abs(x).max(initial=0))


def output_and_messages(low: Lowering, q: np.ndarray, k: np.ndarray, v: np.ndarray
                        ) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """``values(low, q, k, v)["out"]`` and ``messages`` of every population and operand, without the
    per-step arrays of the product populations.

    A product population's neuron (``qk[h,i,j,c] = q[hc,i] k[hc,j]``, ``sv``, ``kv``, ``qkv``) sends a
    message at a step when both factors are nonzero, so its messages are a sum over steps and samples of
    a product of two indicators: one matrix product per head (and token or channel) over the ``T B``
    axis. ``level`` (``score >= m``) is counted from a histogram of the scores. Sums of integers run as
    float matrix products where ``blas.exact_dtype`` proves them exact.

    Args:
        q, k, v: binary ``(T, B, D, N)``.
    Returns:
        ``(out (T, B, D, N) int64, {suffix or operand: messages per neuron (flat, int64)})``.
    """
    H, d, N = low.heads, low.head_dim, low.tokens
    T, B = q.shape[:2]
    TB = T * B
    msgs = messages({"q": q, "k": k, "v": v}, T, B)
    Q, K, V = (np.asarray(z).reshape(TB, H, d, N).astype(np.float32) for z in (q, k, v))  # binary
    msgs["ones"] = np.full(1, TB, np.int64)
    if low.form == "pairwise":
        Qt = Q.transpose(0, 1, 3, 2)                                      # (TB, H, N, d)
        score = _matmul(Qt, K, d).astype(np.int32)                        # (TB, H, N, N)
        # qk[h,i,j,c]: sum_tb q[tb,h,c,i] k[tb,h,c,j]
        msgs["qk"] = _matmul(Q.transpose(1, 2, 3, 0), K.transpose(1, 2, 0, 3), TB).transpose(0, 2, 3, 1).ravel()
        msgs["score"] = np.count_nonzero(score.reshape(TB, -1), axis=0)
        pairs = H * N * N
        hist = np.bincount((score.reshape(TB, pairs) + (d + 1) * np.arange(pairs)).ravel(),
                           minlength=pairs * (d + 1)).reshape(pairs, d + 1)
        at_least = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1]             # [p, m]: steps with score >= m
        msgs["level"] = at_least[:, 1:].ravel()
        t = low.table
        nsad = (t[np.arange(H)[:, None, None], score] - t[:, 0][:, None, None]).astype(np.int32)
        msgs["nsad"] = np.count_nonzero(nsad.reshape(TB, -1), axis=0)
        # sv[h,i,j,e]: sum_tb [nsad[tb,h,i,j] != 0] v[tb,h,e,j]
        active = (nsad != 0).astype(np.float32).transpose(1, 3, 2, 0)     # (H, N_j, N_i, TB)
        msgs["sv"] = _matmul(active, V.transpose(1, 3, 0, 2), TB).transpose(0, 2, 1, 3).ravel()
        sv_sum = _matmul(nsad, V.transpose(0, 1, 3, 2), _abs_max(nsad) * N)  # (TB, H, N_i, e)
        pre = sv_sum.transpose(0, 1, 3, 2).reshape(T, B, H, d, N) + \
            t[:, 0][:, None, None] * np.asarray(v).reshape(T, B, H, d, N).sum(-1, keepdims=True, dtype=np.int64)
        return _with_out(_shr(pre, low.shift).reshape(T, B, H * d, N), msgs)
    # kv[h,c,e,j]: sum_tb k[tb,h,c,j] v[tb,h,e,j]
    msgs["kv"] = _matmul(K.transpose(1, 3, 2, 0), V.transpose(1, 3, 0, 2), TB).transpose(0, 2, 3, 1).ravel()
    weight = low.alpha if low.form == "associative" else np.ones(H, np.int64)
    kvsum = (_matmul(K, V.transpose(0, 1, 3, 2), N).reshape(T, B, H, d, d) * weight[:, None, None]
             ).astype(np.int32)
    res = {"kvsum": kvsum}
    held = _held(low, kvsum, res)
    msgs.update(messages(res, T, B))
    held = held.reshape(TB, H, d, d)
    # qkv[h,i,c,e]: sum_tb q[tb,h,c,i] [held[tb,h,c,e] != 0]
    nz = (held != 0).astype(np.float32).transpose(1, 2, 0, 3)            # (H, c, TB, e)
    msgs["qkv"] = _matmul(Q.transpose(1, 2, 3, 0), nz, TB).transpose(0, 2, 1, 3).ravel()
    out = _matmul(held.transpose(0, 1, 3, 2), Q, _abs_max(held) * d)     # (TB, H, e, N): sum_c held q
    return _with_out(_shr(out.reshape(T, B, H, d, N), low.shift).reshape(T, B, H * d, N), msgs)


def _with_out(out: np.ndarray, msgs: Dict[str, np.ndarray]) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """``(out, msgs)`` with ``out``'s own messages added."""
    T, B = out.shape[:2]
    msgs.update(messages({"out": out}, T, B))
    return out, msgs

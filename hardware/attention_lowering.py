"""Spiking attention on neuro cores: the neuron-level lowering of the two attention extension nodes.

The NIR graph keeps one ``DS2TASpikeAttention`` / ``DS2TABlockAttention`` node (NIR has no two-operand
node); this module expands it, deterministically from the node's fields, into populations of
Loihi-2 library neurons (lava-nc ``ProdNeuron``, ``GradedVec``, ``LIFReset``) joined by ``Sparse`` /
``DelaySparse`` synapses. The Lava builder (``ds2ta.sims.lava.lowering``), the integer reference
(``ds2ta.sims.reference.attention``), the mapper and the energy model all read the same ``Lowering``:
one home for the arithmetic. Operands ``q, k, v`` are binary ``(D, N)`` (channel ``h d + c``, token
``n``); H heads of width d. Per step (sample-local time ``t``)::

    pairwise  (any NSAD table t[h, 0..d]; DS2TA):
        qk[h,i,j,c]  = q[hc,i] k[hc,j]                      ProdNeuron          stage 1
        score[h,i,j] = sum_c qk                              GradedVec           stage 2
        level[h,i,j,m-1] = [score >= m], m = 1..d            LIFReset threshold  stage 3
        nsad[h,i,j]  = sum_m (t[h,m] - t[h,m-1]) level       GradedVec           stage 4   (= t[h,A] - t[h,0])
        sv[h,i,j,e]  = nsad[h,i,j] v[he,j]                   ProdNeuron          stage 5
        out[he,i]    = (sum_j sv + t[h,0] sum_j v[he,j]) * ones >> shift          stage 6
    associative (a linear table t[h,m] = alpha_h m; Spikformer SSA, DS2TA without NSAD):
        kv[h,c,e,j]  = k[hc,j] v[he,j]   stage 1;   kvsum[h,c,e] = alpha_h sum_j kv   stage 2
        qkv[h,i,c,e] = q[hc,i] kvsum     stage 3;   out[he,i] = (sum_c qkv) * ones >> shift   stage 4
    block (STAtten, chunk c; out_b = Q_b (K_b^T V_b) over the c steps of block b):
        kv, kvsum (weight 1) as above    stages 1, 2
        kvblock[h,c,e] = (sum_{s<c} kvsum[t-s]) * clock[t]   stage 3: c DelaySparse (delays 0..c-1);
                         the clock fires at t = c-1 mod c, the block's last step, so kvblock = K_b^T V_b
        qkv[h,i,c,e]   = q[hc,i] K_b^T V_b for t in block b   stage 3 + c: kvblock reaches qkv through
                         c DelaySparse (delays 0..c-1) that hold it for the block's c steps; q is
                         delayed c + 2 steps (the block buffer of the core, as synaptic delays)
        out            = (sum_c qkv) * ones >> shift          stage 4 + c

``stage`` is the Lava step (after the operands' step 0 is emitted) at which a population emits its
step 0: each synapse adds one step (``chip.SYNAPSE_DELAY``), a ``DelaySparse`` ``k`` more. ``ones``
(every step) and ``clock`` (every c-th step) are one-neuron ``LIFReset`` oscillators; ``ones`` feeds
the product unit whose ``exp`` is the node's shift, the only exact ``>> shift`` after a sum that Loihi's
library neurons offer (the per-step values and counts: ``attention_activity``). With ``shift == 0`` ``out`` is a ``GradedVec`` (the sum itself) and there is no
``ones``; links that would store nothing (``t[h, 0] = 0``) are not built. Counting (both backends, ``unit_counts``): a population's messages are its
nonzero outputs (spikes of the threshold units); synaptic events into it are ``messages x stored
synapses`` per source neuron, binary sources as ``synops``, graded as ``graded_synops``.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ds2ta.hardware import chip

LOWERINGS = ("neurons", "core")
DEFAULT_LOWERING = "neurons"
OPERANDS = ("q", "k", "v")
MAX_LEVELS = 64            # threshold units: bias 1 - 64 m must fit the 13-bit bias mantissa (m <= 64)
MAX_WEIGHT = 255           # one-signed 8-bit synaptic weight magnitude (lava-nc Sparse, sign mode 2/3)
INDEX_LIMIT = 1 << 31      # a link's stored entries use int32 unit indices


@dataclass(frozen=True)
class Unit:
    """One lowered population.

    Attributes:
        suffix: name after the attention node's (``"<node>.<suffix>"``).
        process: lava-nc process class: ``"ProdNeuron"``, ``"GradedVec"`` or ``"LIFReset"``.
        shape: population shape (flat size = prod).
        stage: Lava steps from the operands' emission of step 0 to this population's step 0.
        spiking: binary spikes (threshold units, oscillators) rather than graded values.
        exp: ProdNeuron ``exp`` (the result shift).
        params: LIFReset parameters (``bias_mant`` per neuron, ``vth``, ``period``: reset interval
            1 for memoryless threshold units, None for the sample window).
    """

    suffix: str
    process: str
    shape: tuple
    stage: int
    spiking: bool = False
    exp: int = 0
    params: dict = field(default_factory=dict, compare=False)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass(frozen=True)
class Link:
    """One synapse process: ``dst.port += W @ src`` arriving ``1 + delay`` steps after ``src`` emits.

    ``rows``/``cols``/``weights`` are the stored entries (flat C-order indices of dst and src).
    """

    src: str
    dst: str
    port: str
    delay: int
    rows: np.ndarray = field(compare=False)
    cols: np.ndarray = field(compare=False)
    weights: np.ndarray = field(compare=False)

    @property
    def entries(self) -> int:
        return int(self.rows.size)


@dataclass
class Lowering:
    """The expansion of one attention node: ``form``, units, links and the output's latency."""

    name: str
    form: str                 # "pairwise" | "associative" | "block"
    heads: int
    head_dim: int
    tokens: int
    shift: int
    chunk: int
    units: List[Unit]
    links: List[Link]
    table: Optional[np.ndarray] = None   # (H, d + 1) int (pairwise)
    alpha: Optional[np.ndarray] = None   # (H,) int (associative)

    @property
    def out_latency(self) -> int:
        """Steps from the operands' emission of step j to the attention output's step j."""
        return self.unit("out").stage

    def unit(self, suffix: str) -> Unit:
        return next(u for u in self.units if u.suffix == suffix)

    def sizes(self) -> Dict[str, int]:
        return {u.suffix: u.size for u in self.units}

    def fanout(self, link: Link) -> np.ndarray:
        """Stored synapses per source neuron of ``link`` (its structural fan-out)."""
        n_src = self.operand_size if link.src in OPERANDS else self.unit(link.src).size
        return np.bincount(link.cols, minlength=n_src)

    @property
    def operand_size(self) -> int:
        """D x N: the flat size of each operand and of the output."""
        return self.heads * self.head_dim * self.tokens

    @property
    def neurons(self) -> int:
        return sum(u.size for u in self.units)

    @property
    def synapse_entries(self) -> int:
        return sum(link.entries for link in self.links)


# -- choosing the form ----------------------------------------------------------------------------
def linear_slope(table: np.ndarray) -> Optional[np.ndarray]:
    """``alpha`` (H,) when ``table[h, m] == alpha_h * m`` for every head and level, else None."""
    t = np.asarray(table, dtype=np.int64)
    alpha = t[:, 1] - t[:, 0]
    m = np.arange(t.shape[1])
    return alpha if np.array_equal(t, alpha[:, None] * m[None, :]) else None


def _check_weights(w: np.ndarray, what: str, name: str) -> None:
    if w.size and int(np.abs(w).max()) > MAX_WEIGHT:
        raise ValueError(f"attention {name!r}: {what} weight {int(np.abs(w).max())} exceeds the 8-bit "
                         f"synaptic weight (|w| <= {MAX_WEIGHT}); use --attention-lowering core or "
                         "re-export with a smaller attention scale")


_PLANS: dict = {}  # id(node) -> (weak reference to the node, its fields, Lowering)


def plan(name: str, node) -> Lowering:
    """The neuron-level lowering of an attention extension node (see the module docstring).

    Planned once per node and its fields: ``ds2ta-sim --compare`` plans each node for Lava and for the
    reference (cifar10: 4 blocks of 4.7 M synapse entries, 0.3 s each time); a node whose fields change
    is planned again.

    Raises:
        ValueError: a head wider than ``MAX_LEVELS`` (pairwise), a table step or slope beyond 8 bits.
    """
    fields = (name, type(node).__name__, int(node.heads), int(node.channels),
              tuple(np.asarray(node.tokens_shape).reshape(-1).tolist()), int(node.shift),
              int(getattr(node, "chunk", 1)), np.asarray(getattr(node, "table", 0), np.float64).tobytes())
    hit = _PLANS.get(id(node))
    if hit is not None and hit[0]() is node and hit[1] == fields:
        return hit[2]
    low = _plan(name, node)
    key = id(node)
    _PLANS[key] = (weakref.ref(node, lambda _ref: _PLANS.pop(key, None)), fields, low)
    return low


def _plan(name: str, node) -> Lowering:
    H, D = int(node.heads), int(node.channels)
    d, N, shift = D // H, int(np.prod(node.tokens_shape)), int(node.shift)
    if type(node).__name__ == "DS2TABlockAttention":
        return _block(name, H, d, N, shift, int(node.chunk))
    table = np.asarray(node.table)
    if np.any(table != np.round(table)):
        raise ValueError(f"node {name!r}: the NSAD table is not integer; export the graph with ds2ta-export")
    table = table.astype(np.int64)
    alpha = linear_slope(table)
    if alpha is not None:
        return _associative(name, H, d, N, shift, alpha)
    return _pairwise(name, H, d, N, shift, table)


def plan_form(name: str, form: str, heads: int, channels: int, tokens: int, shift: int = 0,
              table: Optional[np.ndarray] = None, chunk: int = 1) -> Lowering:
    """The lowering of a given ``form`` from the attention's sizes alone (cost tables, no NIR node).

    Args:
        form: ``"pairwise"`` (needs ``table`` (H, d + 1)), ``"associative"`` (``table`` linear or
            None for slope 1) or ``"block"`` (``chunk``).
    Raises:
        ValueError: an unknown form, or a table that does not fit the form.
    """
    H, d = int(heads), int(channels) // int(heads)
    if form == "block":
        return _block(name, H, d, int(tokens), int(shift), int(chunk))
    t = (np.arange(d + 1)[None, :].repeat(H, 0) if table is None else np.asarray(table)).astype(np.int64)
    if form == "associative":
        alpha = linear_slope(t)
        if alpha is None:
            raise ValueError(f"attention {name!r}: the associative form needs a linear table t[h, m] = a_h m")
        return _associative(name, H, d, int(tokens), int(shift), alpha)
    if form == "pairwise":
        return _pairwise(name, H, d, int(tokens), int(shift), t)
    raise ValueError(f"attention {name!r}: form {form!r}; choose pairwise, associative or block")


# -- index helpers (flat C-order) -----------------------------------------------------------------
def _grid(*dims):
    return np.meshgrid(*[np.arange(n) for n in dims], indexing="ij")


def _link(src, dst, port, delay, rows, cols, weights) -> Link:
    """A link's stored entries, compact: int32 indices, int16 weights (8-bit values, checked by
    ``_check_weights``). cifar10's four lowered blocks hold 19 M entries: 190 MB instead of 450 MB in int64,
    held by every process that builds or maps the plan (and copied into each forked Lava process's page
    tables)."""
    rows, cols = np.broadcast_arrays(np.asarray(rows, np.int64), np.asarray(cols, np.int64))
    w = np.broadcast_to(np.asarray(weights, np.int64), rows.shape).ravel()
    rows, cols = rows.ravel(), cols.ravel()
    if rows.size and max(int(rows.max()), int(cols.max())) >= INDEX_LIMIT:
        raise ValueError(f"attention link {src}->{dst}: {max(int(rows.max()), int(cols.max())) + 1} units "
                         f"exceed int32 indices; the lowering is far beyond a chip's size")
    keep = w != 0
    return Link(src, dst, port, int(delay), rows[keep].astype(np.int32), cols[keep].astype(np.int32),
                w[keep].astype(np.int16))


def _out_units(stage: int, shift: int, D: int, N: int) -> List[Unit]:
    return [Unit("ones", "LIFReset", (1,), stage - 1, spiking=True,
                 params={"bias_mant": np.array([1]), "vth": 0, "period": None}),
            Unit("out", "ProdNeuron", (D, N), stage, exp=max(shift, 0))]


def _finish(name, form, H, d, N, shift, chunk, units, links, **kw) -> Lowering:
    """Drop links that store nothing (e.g. the ``t[0]`` term of a table with ``t[h, 0] = 0``) and, with
    ``shift == 0``, the shift unit: ``out`` is then a ``GradedVec`` summing its inputs (no ``ones``)."""
    links = [li for li in links if li.entries]
    if shift == 0:
        units = [Unit("out", "GradedVec", u.shape, u.stage) if u.suffix == "out" else u
                 for u in units if u.suffix != "ones"]
        links = [Link(li.src, li.dst, "a_in", li.delay, li.rows, li.cols, li.weights) if li.dst == "out" else li
                 for li in links if li.src != "ones"]
    return Lowering(name, form, H, d, N, shift, chunk, units, links, **kw)


def _ones_link(D: int, N: int, shift: int) -> Link:
    w = 1 << max(-shift, 0)  # a left shift rides on the constant operand
    return _link("ones", "out", "a_in2", 0, np.arange(D * N), np.zeros(D * N), w)


def _pairwise(name, H, d, N, shift, table) -> Lowering:
    if d > MAX_LEVELS:
        raise ValueError(f"attention {name!r}: head width {d} > {MAX_LEVELS}: the threshold units' bias "
                         "1 - 64 m leaves the 13-bit mantissa; use --attention-lowering core")
    D = H * d
    steps = np.diff(table, axis=1)  # (H, d): t[m] - t[m-1]
    _check_weights(steps, "NSAD step", name)
    _check_weights(table[:, 0], "NSAD offset t[0]", name)
    h, i, j, c = _grid(H, N, N, d)
    pair = ((h * N + i) * N + j)  # (H, N, N) flat
    quad = pair * d + c           # (H, N, N, d) flat
    q_idx, k_idx, v_idx = (h * d + c) * N + i, (h * d + c) * N + j, (h * d + c) * N + j
    m = np.arange(1, d + 1)
    units = [Unit("qk", "ProdNeuron", (H, N, N, d), 1),
             Unit("score", "GradedVec", (H, N, N), 2),
             Unit("level", "LIFReset", (H, N, N, d), 3, spiking=True,
                  params={"bias_mant": np.broadcast_to(1 - (m << chip.ACT_SHIFT), (H, N, N, d)).ravel(),
                          "vth": 0, "period": 1}),
             Unit("nsad", "GradedVec", (H, N, N), 4),
             Unit("sv", "ProdNeuron", (H, N, N, d), 5),
             *_out_units(6, shift, D, N)]
    he, ii, jj = _grid(H * d, N, N)  # out[he, i] gathers sv[h, i, j, e] and v[he, j]
    hh, ee = he // d, he % d
    links = [_link("q", "qk", "a_in1", 0, quad, q_idx, 1),
             _link("k", "qk", "a_in2", 0, quad, k_idx, 1),
             _link("qk", "score", "a_in", 0, pair, quad, 1),
             _link("score", "level", "a_in", 0, quad, pair, 1),
             _link("level", "nsad", "a_in", 0, pair, quad, steps[h, c]),
             _link("nsad", "sv", "a_in1", 0, quad, pair, 1),
             _link("v", "sv", "a_in2", 4, quad, v_idx, 1),
             _link("sv", "out", "a_in1", 0, he * N + ii, ((hh * N + ii) * N + jj) * d + ee, 1),
             _link("v", "out", "a_in1", 5, he * N + ii, he * N + jj, table[hh, 0]),
             _ones_link(D, N, shift)]
    return _finish(name, "pairwise", H, d, N, shift, 1, units, links, table=table)


def _kv_links(H, d, N, alpha) -> tuple:
    h, c, e, j = _grid(H, d, d, N)
    kv = ((h * d + c) * d + e) * N + j
    return [_link("k", "kv", "a_in1", 0, kv, (h * d + c) * N + j, 1),
            _link("v", "kv", "a_in2", 0, kv, (h * d + e) * N + j, 1),
            _link("kv", "kvsum", "a_in", 0, (h * d + c) * d + e, kv, alpha[h])]


def _qkv_links(H, d, N, src, q_delay, src_delays) -> tuple:
    h, i, c, e = _grid(H, N, d, d)
    qkv = ((h * N + i) * d + c) * d + e
    links = [_link("q", "qkv", "a_in1", q_delay, qkv, (h * d + c) * N + i, 1)]
    links += [_link(src, "qkv", "a_in2", s, qkv, (h * d + c) * d + e, 1) for s in src_delays]
    links.append(_link("qkv", "out", "a_in1", 0, (h * d + e) * N + i, qkv, 1))
    return links


def _associative(name, H, d, N, shift, alpha) -> Lowering:
    _check_weights(alpha, "attention slope", name)
    D = H * d
    units = [Unit("kv", "ProdNeuron", (H, d, d, N), 1), Unit("kvsum", "GradedVec", (H, d, d), 2),
             Unit("qkv", "ProdNeuron", (H, N, d, d), 3), *_out_units(4, shift, D, N)]
    links = [*_kv_links(H, d, N, alpha), *_qkv_links(H, d, N, "kvsum", 2, [0]), _ones_link(D, N, shift)]
    return _finish(name, "associative", H, d, N, shift, 1, units, links, alpha=alpha)


def _block(name, H, d, N, shift, c) -> Lowering:
    D = H * d
    if c < 1 or c > 63:
        raise ValueError(f"attention {name!r}: chunk {c} needs synaptic delays up to {c - 1}; Loihi 2 "
                         "stores 6-bit delays (<= 63)")
    units = [Unit("kv", "ProdNeuron", (H, d, d, N), 1), Unit("kvsum", "GradedVec", (H, d, d), 2),
             Unit("clock", "LIFReset", (1,), 2, spiking=True,
                  params={"bias_mant": np.array([1 << chip.ACT_SHIFT]), "vth": c - 1, "period": None}),
             Unit("kvblock", "ProdNeuron", (H, d, d), 3),
             Unit("qkv", "ProdNeuron", (H, N, d, d), 3 + c), *_out_units(4 + c, shift, D, N)]
    n = H * d * d
    links = [*_kv_links(H, d, N, np.ones(H, np.int64)),
             *[_link("kvsum", "kvblock", "a_in1", s, np.arange(n), np.arange(n), 1) for s in range(c)],
             _link("clock", "kvblock", "a_in2", 0, np.arange(n), np.zeros(n), 1),
             *_qkv_links(H, d, N, "kvblock", c + 2, range(c)), _ones_link(D, N, shift)]
    return _finish(name, "block", H, d, N, shift, c, units, links)

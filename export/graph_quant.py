"""Float NIR graph -> integer NIR graph in Lava's fixed-point semantics (docs/quantization.md).

Every neuron node gets a per-channel scale ``S`` (integer units per float unit of ``v``): the weight
nodes feeding it become ``W_int = grid(S * gain * W)`` (8-bit even values), its threshold becomes
``vth = S * theta`` (``S`` is chosen so this is an integer), its bias ``64 * S * bias`` as
``bias_mant << bias_exp``. Neurons fed by unit-weight synapses (SumPool2d) have ``S = 1``; neurons fed
by an attention node get ``S = 2^(k - shift) / scale`` from the node's table exponent ``k``.
Third-party float graphs (sinabs, snntorch, rockpool) go through the same code with their ``dt``.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Dict, Optional, Tuple

import nir
import numpy as np

from ds2ta.export import maxpool_tree
from ds2ta.export.nir_io import flatten_graph
from ds2ta.export.quantize import relative_error, round_weights, warn_lossy, weight_levels
from ds2ta.hardware import chip, kinds
from ds2ta.hardware.graph import GraphView, conventions, graph_dt, metadata

WEIGHT_TYPES = kinds.names(kinds.SYNAPSE)     # weighted linear kinds: their LinearOp.weight_attr is quantized
PASS_TYPES = kinds.names(kinds.ROUTING)
ATTENTION = kinds.names(kinds.ATTENTION)
A_MAX = 2 ** 15 - 1     # Lava LIF a_in is int16: keep every synaptic current inside it
ACT_GAIN = float(1 << chip.ACT_SHIFT)     # 64: synaptic input and bias are MSB-aligned by 6 bits
VTH_MAX = 2 ** 17 - 1   # 17-bit threshold mantissa
BIAS_V_MAX = chip.BIAS_MANT_MAX << chip.BIAS_EXP_MAX   # largest |bias| (v units) a Lava LIF holds
GRADED_EXP_MAX = 16     # weight exponents of graded links (as the read-out's)


# roles the quantizer refuses in a float graph, and why
REFUSED_ROLES = {kinds.GRADED_UNIT: "a float graph cannot hold a graded unit: the quantizer writes them itself "
                                    "(a graded max-pool's comparison network, export/maxpool_tree.py)",
                 kinds.SIGMA_DELTA: "a sigma-delta network comes from lava-dl as integers and is written as it is "
                                    "(ds2ta-export of a netx .net file): there is nothing to quantize"}


class GraphQuantizer:
    """State of one ``quantize_graph`` call: nodes, edges, per-neuron scales and the report."""

    def __init__(self, graph: nir.NIRGraph, dt: float, bits: int, calib: Optional[dict],
                 per_channel: bool = True, tie_break: bool = True):
        self.per_channel, self.tie_break = per_channel, tie_break
        self.nodes, self.edges = flatten_graph(graph)
        self.nodes = {k: copy.deepcopy(v) for k, v in self.nodes.items()}
        self.view = GraphView(self.nodes, self.edges)
        self.preds, self.succs = self.view.preds, self.view.succs
        self.dt, self.bits, self.calib = dt, bits, calib or {}
        self.report: Dict[str, dict] = {}
        self.fixed_scale: Dict[str, float] = {}  # attention node -> S of the neuron it feeds
        self.scales: Dict[str, np.ndarray] = {}  # neuron node -> per-channel S (once quantized)
        self.pool_area: Dict[str, int] = {}  # AvgPool2d made SumPool2d -> the window area it divided by
        self.unit_scale: Dict[str, float] = {}  # DS2TAGraded unit read by weight nodes -> its scale

    def type(self, n):
        return type(self.nodes[n]).__name__

    def weight(self, n) -> np.ndarray:
        """The weights of weight node ``n`` (its kind's ``LinearOp.weight_attr``), float64."""
        return np.asarray(getattr(self.nodes[n], kinds.linear_op(n, self.nodes[n]).weight_attr), dtype=np.float64)

    def set_weight(self, n, w) -> None:
        setattr(self.nodes[n], kinds.linear_op(n, self.nodes[n]).weight_attr, w)

    def producers(self, n):
        """Nearest non-pass-through nodes feeding ``n``."""
        out, stack = [], list(self.preds[n])
        while stack:
            p = stack.pop()
            if self.view.passes_through(p):  # routing, a subgraph's own Input/Output (identities)
                stack.extend(self.preds[p])
            elif p not in out:
                out.append(p)
        return out

    def consumers(self, n):
        """Nearest non-pass-through nodes fed by ``n``."""
        out, stack = [], list(self.succs[n])
        while stack:
            c = stack.pop()
            if self.view.passes_through(c):
                stack.extend(self.succs[c])
            elif c not in out:
                out.append(c)
        return out

    def fold_avgpool(self, n):
        """``AvgPool2d`` -> ``SumPool2d`` (the chip sums integer spikes exactly) with its ``1/k^2`` folded
        into what it feeds: the float weights of a weight node it alone feeds (quantized after), or the
        scale of a neuron (``S = k^2``: threshold ``k^2 theta`` against the window sums)."""
        node = self.nodes[n]
        area = int(np.prod(np.broadcast_to(np.asarray(node.kernel_size), (2,))))
        pool = nir.SumPool2d(kernel_size=node.kernel_size, stride=node.stride, padding=node.padding)
        pool.input_type, pool.output_type = node.input_type, node.output_type
        pool.metadata = {**(getattr(node, "metadata", None) or {}), "avgpool_area": area}
        self.nodes[n], self.pool_area[n] = pool, area
        for c in self.consumers(n):
            if self.type(c) in WEIGHT_TYPES and self.producers(c) == [n]:
                self.set_weight(c, self.weight(c) / area)
            elif self.type(c) not in chip.NEURONS:
                raise ValueError(avgpool_refusal(n, f"it feeds {c!r} ({self.type(c)}), which can take its 1/{area} "
                                                    "neither in weights it alone feeds nor in a neuron threshold"))

    def run(self) -> nir.NIRGraph:
        unknown = self.view.unknown_nodes()
        if unknown:
            raise ValueError(f"node(s) {', '.join(unknown)}: no quantization rule for that type (supported: "
                             f"{sorted(kinds.KINDS)}; docs/architecture.md, 'Adding a node type')")
        if self.view.memoryless_cycle():
            raise ValueError(self.view.cycle_refusal())
        for n in self.nodes:
            if self.view.role(n) in REFUSED_ROLES:
                raise ValueError(f"{self.type(n)} {n!r}: {REFUSED_ROLES[self.view.role(n)]}")
        for n in list(self.nodes):
            if self.type(n) == "AvgPool2d":
                self.fold_avgpool(n)
        for n in list(self.nodes):
            if self.type(n) in ATTENTION:
                self.attention(n)
        for n in list(self.nodes):
            if self.type(n) == "DS2TAGradedMaxPool2d":
                maxpool_tree.quantize(self, n)
        for n in list(self.nodes):
            if self.type(n) in chip.NEURONS and n not in self.scales:
                self.neuron(n)
            elif self.type(n) in ("Output", chip.THRESHOLD):
                prods = [p for p in self.producers(n) if self.type(p) in WEIGHT_TYPES]
                if prods and not any(self.type(p) in chip.NEURONS for p in self.producers(n)):
                    self.weights_only(n, prods)
        for n in self.nodes:
            if self.type(n) in WEIGHT_TYPES and "weight_scale" not in self.nodes[n].metadata:
                raise ValueError(f"weight node {n!r} feeds no neuron, threshold or output; the integer "
                                 "executor cannot give it a scale")
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, type_check=False)

    def attention(self, n):
        node = self.nodes[n]
        hi = 2 ** (self.bits - 1) - 1
        tokens = int(np.prod(node.tokens_shape))
        if self.type(n) == "DS2TASpikeAttention":
            tab = np.asarray(node.table, dtype=np.float64)
            amax = float(np.abs(tab).max(initial=0.0)) or 1.0
            k = int(math.floor(math.log2(hi / amax)))
            t_int = np.round(tab * 2.0 ** k).astype(np.int64)
            err = relative_error(tab * 2.0 ** k, t_int)
            warn_lossy(n, "NSAD table", err, tol=0.0)
            worst = tokens * int(np.abs(t_int).max(initial=0))
        else:
            k, t_int, err = 0, None, 0.0
            worst = node.chunk * tokens * node.head_dim
        shift = max(0, math.ceil(math.log2(worst / A_MAX))) if worst > A_MAX else 0
        if shift:
            warnings.warn(f"{n}: attention sums up to {worst} exceed int16; result shifted right by {shift}")
        node.shift = shift
        if t_int is not None:
            node.table = t_int.astype(np.int32)
        self.fixed_scale[n] = 2.0 ** (k - shift) / node.scale
        node.metadata = {**node.metadata, "table_exp": k, "float_scale": node.scale}
        self.report[n] = {"type": self.type(n), "table_exp": k, "shift": shift, "table_rel_error": err,
                          "worst_case_sum": worst, "consumer_scale": self.fixed_scale[n]}

    def neuron(self, n):
        node, t = self.nodes[n], self.type(n)
        v_reset = getattr(node, "v_reset", None)
        if v_reset is not None and np.any(np.asarray(v_reset) != 0):
            raise ValueError(f"neuron {n!r} ({t}) resets to v_reset={np.unique(np.asarray(v_reset))[:4]} but "
                             "Loihi's LIF resets to 0: shift v_threshold and v_leak by -v_reset (v' = v - v_reset) "
                             "and export again")
        c = kinds.neuron_constants(node, self.dt)
        shape = c["gain"].shape
        prods = self.producers(n)
        inputs = {("w" if self.type(p) in WEIGHT_TYPES else "att" if self.type(p) in ATTENTION else "unit")
                  for p in prods}
        if len(inputs) != 1:
            raise ValueError(f"neuron {n!r} mixes weighted, attention and unit-weight inputs "
                             f"({[self.type(p) for p in prods]}); not supported")
        kind = inputs.pop()
        theta = c["theta"]
        gain_c = _per_channel(c["gain"])
        if kind == "w":
            hi = weight_levels(self.bits)[2]
            wmax = np.zeros_like(gain_c)
            for p in prods:  # a spiking neuron's graded inputs arrive at their own scale (integer units)
                src = self.source_scale(p) if theta is not None else 1.0
                w = np.abs(self.weight(p)) / src
                wmax = np.maximum(wmax, _rows(w, gain_c.size).max(1) * np.abs(gain_c))
            wmax = np.where(wmax > 0, wmax, 1.0)
            if theta is not None:
                th_c = _per_channel(theta)
                S = np.floor(np.minimum(hi * th_c / wmax, VTH_MAX)) / th_c
            else:  # read-out: one scale for all outputs (argmax compares them)
                S = np.full_like(wmax, hi / wmax.max())
            cal = self.calib.get(n)
            if cal is not None:
                cap = A_MAX / np.maximum(np.asarray(cal, dtype=np.float64), 1e-12)
                if theta is not None:
                    S = np.minimum(S, np.floor(cap * th_c) / th_c)
                else:
                    S = np.minimum(S, float(np.min(cap)))
            leak_c = _per_channel(np.abs(c["leak"]))  # the largest |bias| of each channel
            if theta is not None and np.any(leak_c > 0):  # the bias 64 S leak must fit mant << exp
                bcap = BIAS_V_MAX / (ACT_GAIN * np.maximum(leak_c, 1e-12))
                S = np.minimum(S, np.floor(bcap * th_c) / th_c)
            if not self.per_channel and theta is not None:  # one threshold per node (snntorch needs it)
                S = np.full_like(S, float(np.min(S * th_c))) / th_c  # common vth = smallest channel's
            if np.any(S <= 0):
                bad = int(np.argmin(S))
                warnings.warn(f"{n}: channel {bad} threshold is below one weight step; using vth = 1")
                S = np.where(S > 0, S, 1.0 / th_c)
            exp = self.readout_exponent(prods, S * gain_c) if theta is None else 0
            for p in prods:
                graded = self.source_scale(p) != 1.0
                self.quantize_weights(p, S * gain_c, self.graded_exponent(p, S * gain_c) if graded else exp)
        elif kind == "att":
            S = np.full_like(gain_c, self.fixed_scale[prods[0]] / gain_c.max())
        else:
            if not np.allclose(c["gain"], 1.0):
                raise ValueError(f"neuron {n!r}: unit-weight input with gain {c['gain'].max()} != 1 cannot be "
                                 "folded into weights")
            areas = {self.pool_area.get(p, 1) for p in prods}  # an AvgPool2d's window sums: S = k^2
            if len(areas) != 1:
                raise ValueError(f"neuron {n!r}: pools with different windows feed it ({sorted(areas)} spikes "
                                 "per window); one threshold cannot average them all")
            S = np.full_like(gain_c, float(areas.pop()))
        S_n = S.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape)
        du, dv = c["du"].astype(np.int64), c["dv"].astype(np.int64)
        lava = {"du": du, "dv": dv}
        err_th = 0.0
        tie = np.zeros(shape)
        if theta is not None:
            st = S_n * theta
            is_int = np.isclose(st, np.round(st), rtol=0, atol=1e-6)
            vth = np.where(is_int, np.round(st), np.floor(st))
            tie = np.where(is_int & (dv > 0) & self.tie_break, 1.0, 0.0)  # strict v > vth<<6 acts as >= on ties
            if np.any(vth > VTH_MAX):
                raise ValueError(f"{n}: threshold {vth.max()} exceeds the 17-bit vth range")
            lava["vth"] = vth.astype(np.int64)
            if kind != "unit":  # unit weights: integer sums, so v > floor(S theta) is exactly sum >= S theta
                err_th = relative_error(st, vth)
                warn_lossy(n, "threshold", err_th, tol=0.0)
        bias_f = ACT_GAIN * S_n * c["leak"]
        mant, bexp = chip.bias_encode(np.round(bias_f) + tie, exact=False)  # rounds; error reported below
        lava["bias_mant"], lava["bias_exp"] = mant, bexp
        err_b = relative_error(bias_f, chip.bias_decode(mant, bexp) - tie)
        warn_lossy(n, "bias", err_b)
        lava = {k: v.astype(np.int32) for k, v in lava.items()}
        self.nodes[n] = self.integer_node(node, lava, S)
        self.scales[n] = np.asarray(S, dtype=np.float64)
        self.report[n] = {"type": t, "kind": kind, "scale_min": float(S.min()), "scale_max": float(S.max()),
                          "vth": [int(lava["vth"].min()), int(lava["vth"].max())] if "vth" in lava else None,
                          "du": sorted({int(v) for v in np.unique(du)}), "dv": sorted({int(v) for v in np.unique(dv)}),
                          "bias_exp_max": int(bexp.max()), "bias_rel_error": err_b, "threshold_rel_error": err_th}

    def integer_node(self, node, lava, S):
        """The neuron with integer-unit float fields (docs/nir-format.md) and ``metadata['lava']``."""
        t, sh = type(node).__name__, lava["du"].shape
        dv = lava["dv"].astype(np.float64)
        tau_m = np.where(dv > 0, chip.DECAY_UNITY / np.maximum(dv, 1), np.inf)
        tau_s = chip.DECAY_UNITY / (lava["du"] + float(chip.DU_OFFSET))
        bias = chip.bias_decode(lava["bias_mant"], lava["bias_exp"]).astype(np.float64)
        leak = np.where(np.isfinite(tau_m), bias * np.where(np.isfinite(tau_m), tau_m, 0) / ACT_GAIN, 0.0)
        meta = {**(node.metadata or {}), "lava": lava, "scale": np.asarray(S, dtype=np.float64)}
        vth = lava.get("vth", np.zeros(sh)).astype(np.float64)
        fields = dict(tau_m=tau_m, tau_s=tau_s, leak=leak, vth=vth, zeros=np.zeros(sh), ones=np.ones(sh), metadata=meta)
        return kinds.neuron_op(t, node).rebuild(node, fields)

    def source_scale(self, p) -> float:
        """Integer units per float unit of what weight node ``p`` receives: 1 for spikes and the graph
        input (``x_int``), ``64 S`` for a non-spiking neuron (it emits ``v``, MSB-aligned by 6 bits)."""
        units = [q for q in self.producers(p) if q in self.unit_scale]
        if units:
            if len(units) != len(self.producers(p)):
                raise ValueError(f"weight node {p!r} mixes a graded max-pool with other sources; not supported")
            return self.unit_scale[units[0]]
        graded = [q for q in self.producers(p) if self.type(q) in chip.GRADED_NEURONS]
        if not graded:
            return 1.0
        if len(graded) != len(self.producers(p)):
            raise ValueError(f"weight node {p!r} mixes spikes and graded neuron outputs; not supported")
        scales = set()
        for q in graded:
            if q not in self.scales:
                self.neuron(q)
            scales.update(np.unique(self.scales[q]).tolist())
        if len(scales) != 1:
            raise ValueError(f"weight node {p!r}: its graded sources {graded} have per-channel scales "
                             f"{sorted(scales)[:4]}; one scale per source is supported")
        return ACT_GAIN * scales.pop()

    def readout_exponent(self, prods, scale_c) -> int:
        """Weight exponent ``e <= 0`` of a read-out's dense synapses: the read-out scale (capped by the
        int16 input and the 24-bit accumulator) can leave the ideal weights far below the 8-bit range;
        ``W_int = round(ideal * 2^-e)`` with ``a = (W_int x) >> -e`` keeps the full mantissa. Lava's
        ``Dense`` applies ``weight_exp``; its ``Conv`` ignores it, so conv read-outs keep ``e = 0``."""
        if not all(self.type(p) in ("Affine", "Linear") for p in prods):
            return 0
        hi = weight_levels(self.bits)[2]
        top = max(float(np.abs(_rows(self.weight(p), np.size(scale_c))
                               * np.asarray(scale_c).reshape(-1, 1)).max(initial=0.0)) / self.source_scale(p)
                  for p in prods)
        if top <= 0 or top >= hi / 2:
            return 0
        return -min(int(math.floor(math.log2(hi / top))), 16)

    def graded_exponent(self, p, scale_c) -> int:
        """Weight exponent ``e <= 0`` of a weight node reading graded values: their scale (e.g. ``64 S`` of a
        relay) leaves the ideal weights far below the 8-bit range; ``W_int = round(ideal 2^-e)``."""
        hi = weight_levels(self.bits)[2]
        w = _rows(self.weight(p), np.size(scale_c))
        top = float(np.abs(w * np.asarray(scale_c).reshape(-1, 1)).max(initial=0.0)) \
            / self.source_scale(p)
        if top <= 0 or top >= hi / 2:
            return 0
        return -min(int(math.floor(math.log2(hi / top))), GRADED_EXP_MAX)

    def quantize_weights(self, p, scale_c, exp: int = 0):
        """Weights of node ``p`` for consumer scale ``scale_c``: ``W_int = round(W S / src 2^exp)``;
        a bias is stored pre-shift as a multiple of ``2^-exp`` so ``(W x + b) >> -exp`` adds it exactly."""
        node = self.nodes[p]
        w = self.weight(p)
        if "weight_scale" in node.metadata:
            raise ValueError(f"weight node {p!r} feeds more than one neuron node; give each its own weights")
        sc = np.asarray(scale_c, dtype=np.float64).reshape(-1)
        if w.shape[0] != sc.size and sc.size and w.shape[0] % sc.size == 0:  # rows per channel (C-order): a
            sc = np.repeat(sc, w.shape[0] // sc.size)                       # Scale's element-wise weights
        sc = sc.reshape((-1,) + (1,) * (w.ndim - 1)) / self.source_scale(p)
        ideal = w * sc * 2.0 ** -exp
        w_int, clipped = round_weights(ideal, self.bits)
        err = relative_error(ideal, w_int)
        warn_lossy(p, f"{self.bits}-bit weights", err)
        self.set_weight(p, w_int.astype(np.int16))
        bias = getattr(node, "bias", None)
        if bias is not None:
            b = np.broadcast_to(np.asarray(bias, dtype=np.float64), (w.shape[0],)) * sc.reshape(-1) \
                * self.source_scale(p)
            node.bias = (np.round(b).astype(np.int64) << -exp).astype(np.int32)
        node.metadata = {**(node.metadata or {}), "weight_scale": sc.reshape(-1).copy(), "weight_exp": exp,
                         "num_weight_bits": self.bits}
        step = weight_levels(self.bits)[0]
        self.report[p] = {"type": type(node).__name__, "format": f"{self.bits}-bit mantissa, step {step}, exp {exp}",
                          "weight_exp": exp, "clipped": clipped, "rel_error": err,
                          "scale_min": float(sc.min()), "scale_max": float(sc.max())}

    def weights_only(self, n, prods):
        wmax = max(float(np.abs(self.weight(p)).max(initial=0)) for p in prods) or 1.0
        S = weight_levels(self.bits)[2] / wmax
        for p in prods:
            self.quantize_weights(p, np.full(self.weight(p).shape[0], S))
        if self.type(n) == "Threshold":
            node = self.nodes[n]
            node.threshold = np.floor(np.asarray(node.threshold, dtype=np.float64) * S)


def _per_channel(a: np.ndarray) -> np.ndarray:
    """Axis-0 channel values of a per-neuron array (max over the other axes)."""
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1).max(1) if a.ndim > 1 else a.reshape(-1)


def _rows(w: np.ndarray, channels: int) -> np.ndarray:
    """Weights as ``(channels, -1)`` rows of their consumer's channels: one row per output channel, or a
    channel's several C-order rows together (a Scale's element-wise weights)."""
    w = np.asarray(w)
    if w.shape[0] != channels and channels and w.shape[0] % channels == 0:
        return w.reshape(channels, -1)
    return w.reshape(w.shape[0], -1)


def avgpool_refusal(name: str, why: str) -> str:
    """The one error both backends and the quantizer give for an ``AvgPool2d`` they cannot run exactly."""
    return f"AvgPool2d {name!r}: {why}; {kinds.AVGPOOL_REFUSAL}"


def quantize_graph(graph: nir.NIRGraph, dt: Optional[float] = None, bits: int = 8,
                   calib: Optional[dict] = None, per_channel: bool = True,
                   tie_break: bool = True) -> Tuple[nir.NIRGraph, Dict[str, dict]]:
    """Integer version of a float NIR graph and a per-node report (formats, scales, errors).

    Args:
        graph: float graph (exported by ``build_float_graph`` or third-party).
        dt: time step of the float dynamics (``graph.metadata['conventions']['dt']`` when present).
        bits: weight bits (8: even values in [-256, 254]).
        calib: ``{neuron_node: per-channel max |input current|}`` in float units, to keep every
            integer current within int16 (Lava's ``a_in``).
        per_channel: one scale per output channel (threshold per channel); False: one per node.
        tie_break: add 1 to the bias of leaky neurons whose ``S * theta`` is an integer, so the chip's
            strict ``v > vth<<6`` fires on ties like the float model's ``h >= theta``.

    Raises:
        ValueError: no ``dt``, or a structure the integer semantics cannot express (named).
    """
    meta = metadata(graph)
    if dt is None:
        dt = graph_dt(graph)
    if dt is None:
        raise ValueError("quantize_graph: the graph does not record its time step; pass dt= (e.g. dt=1e-4 "
                         "for snntorch exports, dt=1 for sinabs)")
    q = GraphQuantizer(graph, float(dt), bits, calib, per_channel, tie_break)
    g = q.run()
    conv = dict(conventions(graph))
    conv.update(dt=1.0, source_dt=float(dt))
    g.metadata = {**meta, "conventions": conv, "integer": 1}
    return g, q.report


def integerize_graph(graph: nir.NIRGraph, dt: Optional[float] = None, bits: int = 8) -> nir.NIRGraph:
    """``quantize_graph`` without the report (used by the reference executor for float graphs)."""
    return quantize_graph(graph, dt=dt, bits=bits)[0]

"""A max-pool of graded values as a comparison network of Loihi-2 graded units (quantizer step).

``DS2TAGradedMaxPool2d`` over a graded relay ``y`` (an ``LI`` with tau = dt, ``v = 64 a + bias``) becomes,
in the integer graph (every unit a ``DS2TAGraded``, every link an integer ``Conv2d``)::

    sh   = (v_y >> (6 + k)) + B_c            GradedVec   (depthwise 1x1, weight 1, exp -(6 + k), bias B_c)
    r    = relu(m_b - m_a)                   GradedReluVec, pairwise over the window (center first)
    m'   = m_a + r                           (max(a, b) = a + relu(b - a)), until one value is left
    feat = m_final - B_c                     GradedVec:  max over the window of (v_y >> (6 + k))

**No unit's synaptic input can leave int16** (``UNIT_INPUT_MAX``, as a LIF's ``a_in``), whatever spikes
reach the relay. ``relay_range`` bounds the relay's ``v`` per channel from its quantized synapses: inputs
are spikes (0 or 1), so ``a`` lies between the sum of the channel's negative and of its positive integer
weights (plus their biases), and ``v = sat24(wrap24(a << 6) + bias)`` (``chip.lif_step``; every 24-bit
value where ``a << 6`` could wrap). With ``y = v >> (6 + k)`` in ``[y_lo_c, y_hi_c]`` and ``B_c = -y_lo_c``,
every valid ``sh`` lies in ``[0, R_c]``, ``R_c = y_hi_c - y_lo_c``; a padded tap, which a convolution reads
as 0, is never above a valid one, so the window max ignores padding as ``max_pool2d`` does. A comparison's
input is the difference of two partial maxima of taps (each in ``[0, R_c]``), so ``|input| <= R_c``;
``sh`` receives ``[0, R_c]``, ``feat`` ``[y_lo_c, y_hi_c]``. ``choose_shift`` takes the smallest ``k`` with
``max_c max(R_c, |y_lo_c|, |y_hi_c|) <= 2^15 - 1`` (``unit_input_bound``); ``k > 0`` drops ``k`` bits of the
pooled value (its scale, ``S_relay / 2^k``, is what the readers of ``feat`` see). ``k <= 3`` holds any 24-bit
``v``, so only a relay whose input cannot be bounded (not spikes) is refused, by name.

Window taps are read by depthwise ``Conv2d`` nodes (kernel, stride and padding of the pool) with weights
in {-1, 0, 1}; partial maxima are linear in the taps and earlier relu units, so each unit's input is
one tap conv plus one 1x1 conv per relu unit it depends on (the Lava schedule aligns the paths).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import nir
import numpy as np

from ds2ta.export.nir_graded import DS2TAGraded
from ds2ta.hardware import chip

SH_EXP = chip.ACT_SHIFT   # v >> 6: back to the relay's a units (then >> k more, choose_shift)
UNIT_INPUT_MAX = 2 ** 15 - 1  # a unit's synaptic input is held to int16, as a Lava LIF's a_in
SPIKE_RANGE = (0, 1)      # what a synapse reading spikes receives per input


def _conv(w: np.ndarray, hw, stride: int, padding: int, groups: int, exp: int = 0) -> nir.Conv2d:
    node = nir.Conv2d(input_shape=tuple(int(v) for v in hw), weight=w.astype(np.int16), stride=stride,
                      padding=padding, dilation=1, groups=groups, bias=np.zeros(w.shape[0], np.int32))
    node.metadata = {"weight_scale": np.ones(w.shape[0]), "weight_exp": exp, "num_weight_bits": 8,
                     "fixed_integer": 1}
    return node


def tree(order: List[int]) -> Tuple[List[Dict], Dict]:
    """Pairwise max tree over taps ``order`` (first = base): relu units as ``{key: coef}`` inputs
    (keys ``("tap", k)`` or ``("relu", i)``) and the final max as such a combination."""
    items = [{("tap", k): 1} for k in order]
    relus: List[Dict] = []

    def add(a, b, s=1):
        out = dict(a)
        for k, v in b.items():
            out[k] = out.get(k, 0) + s * v
        return {k: v for k, v in out.items() if v}

    while len(items) > 1:
        nxt = []
        for i in range(0, len(items) - 1, 2):
            a, b = items[i], items[i + 1]
            relus.append(add(b, a, -1))                       # r = relu(m_b - m_a)
            nxt.append(add(a, {("relu", len(relus) - 1): 1}))  # m = m_a + r
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return relus, items[0]


def relay_range(q, relay: str, pool: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(v_lo, v_hi)`` per channel (int64, v units): every ``v`` the quantized relay can hold, over every
    spike pattern its synapses can receive (see the module docstring).

    Raises:
        ValueError: a synapse of the relay reads something other than spikes (its input has no bound
            here), naming the max-pool, the relay, the synapse and its source.
    """
    lava = q.nodes[relay].metadata["lava"]
    C = int(np.asarray(lava["du"]).shape[0])
    a_lo, a_hi = np.zeros(C, np.int64), np.zeros(C, np.int64)
    for p in q.producers(relay):
        bad = [(s, q.type(s)) for s in q.producers(p) if q.type(s) not in chip.SPIKE_SOURCES]
        if q.type(p) not in ("Conv2d", "Affine", "Linear") or bad:
            raise ValueError(f"graded max-pool {pool!r}: cannot bound the int16 inputs of its comparison units: "
                             f"relay {relay!r} reads {p!r} ({q.type(p)}) fed by {bad or 'no spikes'}; only "
                             "synapses from spike sources (0 or 1 per input) give the bound")
        node = q.nodes[p]
        w = np.asarray(node.weight).astype(np.int64).reshape(C, -1)
        b = getattr(node, "bias", None)
        b = np.zeros(C, np.int64) if b is None else np.broadcast_to(np.asarray(b).astype(np.int64), (C,))
        lo, hi = SPIKE_RANGE
        e = chip.weight_exp(node)
        a_lo += chip.apply_weight_exp((np.minimum(w * lo, w * hi)).sum(1) + b, e)  # floor shifts keep order
        a_hi += chip.apply_weight_exp((np.maximum(w * lo, w * hi)).sum(1) + b, e)
    bias = chip.bias_decode(lava["bias_mant"], lava["bias_exp"]).reshape(C, -1)
    par = chip.lif_params(np.asarray(lava["du"]).reshape(C, -1), np.asarray(lava["dv"]).reshape(C, -1), bias, None)
    ones = np.ones((1, bias.shape[1]), np.int64)
    v_lo = chip.lif_step(a_lo[:, None] * ones, np.zeros_like(bias), np.zeros_like(bias), par, fresh=True)[2]
    v_hi = chip.lif_step(a_hi[:, None] * ones, np.zeros_like(bias), np.zeros_like(bias), par, fresh=True)[2]
    v_lo, v_hi = v_lo.min(1), v_hi.max(1)
    wraps = (np.maximum(-a_lo, a_hi) << chip.ACT_SHIFT) >= chip.U_LIMIT  # u could wrap: any 24-bit v
    return np.where(wraps, -chip.V_LIMIT, v_lo), np.where(wraps, chip.V_LIMIT, v_hi)


def unit_input_bound(v_lo: np.ndarray, v_hi: np.ndarray, shift: int) -> Tuple[np.ndarray, np.ndarray, int]:
    """``(y_lo, y_hi, worst)``: per channel the range of ``y = v >> (6 + shift)``, and the largest
    ``|synaptic input|`` any unit of the network receives, ``max_c max(y_hi - y_lo, |y_lo|, |y_hi|)``."""
    e = SH_EXP + shift
    y_lo, y_hi = np.asarray(v_lo, np.int64) >> e, np.asarray(v_hi, np.int64) >> e
    worst = int(np.max(np.maximum(y_hi - y_lo, np.maximum(np.abs(y_lo), np.abs(y_hi))), initial=0))
    return y_lo, y_hi, worst


def choose_shift(v_lo: np.ndarray, v_hi: np.ndarray) -> int:
    """The smallest ``k >= 0`` whose ``unit_input_bound`` fits ``UNIT_INPUT_MAX`` (at most 3 for 24-bit v)."""
    k = 0
    while unit_input_bound(v_lo, v_hi, k)[2] > UNIT_INPUT_MAX:
        k += 1
    return k


def expand(q, n: str, relay: str, shift: int, offset: np.ndarray) -> None:
    """Replace max-pool node ``n`` (fed by the quantized relay ``relay``) by its comparison network in
    quantizer ``q`` (nodes, edges, preds, succs), ``sh = (v >> (6 + shift)) + offset_c``; ``n`` becomes the
    ``feat`` unit (same consumers)."""
    node = q.nodes[n]
    C, (H, W) = node.channels, node.input_shape
    k, s, p = node.kernel_size, node.stride, node.padding
    Ho, Wo = node.output_hw
    center = (k // 2) * k + k // 2
    order = [center] + [t for t in range(k * k) if t != center]
    relus, final = tree(order)
    new_nodes: Dict[str, nir.NIRNode] = {}
    new_edges: List[Tuple[str, str]] = []
    sh = f"{n}.sh"
    new_nodes[sh] = DS2TAGraded((C, H, W), relu=False)
    offset = np.asarray(offset, np.int64)
    new_nodes[f"{sh}.in"] = _conv(np.ones((C, 1, 1, 1)), (H, W), 1, 0, C, exp=-(SH_EXP + shift))
    new_nodes[f"{sh}.in"].bias = offset << (SH_EXP + shift)  # pre-shift: + B_c after the shift
    new_edges += [(relay, f"{sh}.in"), (f"{sh}.in", sh)]
    names = [f"{n}.relu{i}" for i in range(len(relus))]

    def wire(unit: str, combo: Dict, bias=0) -> None:
        taps = np.zeros((C, 1, k, k))
        for key, coef in combo.items():
            if key[0] == "tap":
                taps[:, 0, key[1] // k, key[1] % k] = coef
            else:
                conv = f"{unit}.from{key[1]}"
                new_nodes[conv] = _conv(np.full((C, 1, 1, 1), float(coef)), (Ho, Wo), 1, 0, C)
                new_edges.extend([(names[key[1]], conv), (conv, unit)])
        if np.any(taps):
            new_nodes[f"{unit}.taps"] = _conv(taps, (H, W), s, p, C)
            new_nodes[f"{unit}.taps"].bias = np.broadcast_to(np.asarray(bias), (C,)).astype(np.int32)
            new_edges.extend([(sh, f"{unit}.taps"), (f"{unit}.taps", unit)])

    for name, combo in zip(names, relus):
        new_nodes[name] = DS2TAGraded((C, Ho, Wo), relu=True)
        wire(name, combo)
    feat = DS2TAGraded((C, Ho, Wo), relu=False)
    feat.metadata = {"maxpool": {"kernel_size": k, "stride": s, "padding": p, "offset": offset.copy(),
                                 "shift": int(shift), "relay": relay, "units": len(relus) + 2}}
    new_nodes[n] = feat
    wire(n, final, bias=-offset)  # the base tap's +B_c removed: feat = max of (v_y >> (6 + shift))
    q.edges = [e for e in q.edges if e != (relay, n)] + new_edges
    q.nodes.update(new_nodes)
    q.preds = {m: [a for a, b in q.edges if b == m] for m in q.nodes}
    q.succs = {m: [b for a, b in q.edges if a == m] for m in q.nodes}


def quantize(q, n: str) -> None:
    """Quantize the relay feeding max-pool ``n`` in quantizer ``q`` (as any read-out: its ``a`` within
    int16 on the calibration data), bound its ``v`` over every input (``relay_range``), choose the shift
    that holds every comparison unit's input within int16, expand ``n`` into its comparison network and
    record the scale its readers see (``S_relay / 2^shift``) and the bound in the report.

    Raises:
        ValueError: ``n`` does not read one relay (LI with tau = dt), or the relay's input has no bound.
    """
    prods = q.producers(n)
    if len(prods) != 1 or q.type(prods[0]) != "LI":
        raise ValueError(f"graded max-pool {n!r} must read one graded relay (LI with tau = dt), got "
                         f"{[q.type(p) for p in prods]}")
    relay = prods[0]
    q.neuron(relay)
    lava = q.nodes[relay].metadata["lava"]
    if np.any(lava["dv"] != chip.DECAY_UNITY) or np.any(lava["du"] != chip.NO_CURRENT_MEMORY):
        raise ValueError(f"graded max-pool {n!r}: {relay!r} is not a relay (tau = dt)")
    v_lo, v_hi = relay_range(q, relay, n)
    shift = choose_shift(v_lo, v_hi)
    y_lo, y_hi, worst = unit_input_bound(v_lo, v_hi, shift)
    expand(q, n, relay, shift, -y_lo)
    q.unit_scale[n] = float(np.unique(q.scales[relay]).max()) / 2 ** shift
    q.report[n] = {"type": "DS2TAGraded", "kind": "maxpool comparison network", "scale": q.unit_scale[n],
                   "shift": shift, "offset_max": int(np.abs(y_lo).max()), "relay_v_range": [int(v_lo.min()),
                   int(v_hi.max())], "unit_input_bound": worst, "unit_input_bound_unshifted":
                   unit_input_bound(v_lo, v_hi, 0)[2], "units": q.nodes[n].metadata["maxpool"]["units"]}

"""A max-pool of graded values as a comparison network of Loihi-2 graded units (quantizer step).

``DS2TAGradedMaxPool2d`` over a graded relay ``y`` (an ``LI`` with tau = dt, ``v = 64 a + bias``) becomes,
in the integer graph (every unit a ``DS2TAGraded``, every link an integer ``Conv2d``)::

    sh   = (v_y >> 6) + B                    GradedVec   (depthwise 1x1, weight 1, weight_exp -6, bias B)
    r    = relu(m_b - m_a)                   GradedReluVec, pairwise over the window (center first)
    m'   = m_a + r                           (max(a, b) = a + relu(b - a)), until one value is left
    feat = m_final                           GradedVec:  max over the window of sh

``v_y >> 6`` is the relay's ``a + bias`` (its synaptic input, int16 on the chip, plus its bias), and
``B = 2^15 - 1`` (a constant synaptic input, the largest the chip's 16-bit input takes) makes every valid
``sh`` positive, so a padded tap, which a convolution reads as 0, is below every valid one: the window
max ignores padding as ``max_pool2d`` does. The comparisons see differences, where ``B`` cancels; ``feat``
reads its base tap through a conv whose bias is ``-B``, so it is the exact max of ``v_y >> 6`` at the
relay's scale (a bias below ``-2^15`` would need the relay's input to leave int16 first).

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

SH_EXP = 6                # sh = v >> 6: back to the relay's a units
OFFSET = 2 ** 15 - 1      # B: the offset sh carries (a synaptic bias; the chip's input is 16-bit)


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


def expand(q, n: str, relay: str) -> None:
    """Replace max-pool node ``n`` (fed by the quantized relay ``relay``) by its comparison network in
    quantizer ``q`` (nodes, edges, preds, succs); ``n`` becomes the ``feat`` unit (same consumers)."""
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
    new_nodes[f"{sh}.in"] = _conv(np.ones((C, 1, 1, 1)), (H, W), 1, 0, C, exp=-SH_EXP)
    new_nodes[f"{sh}.in"].bias = np.full(C, OFFSET << SH_EXP, np.int64)  # pre-shift: + B after the shift
    new_edges += [(relay, f"{sh}.in"), (f"{sh}.in", sh)]
    names = [f"{n}.relu{i}" for i in range(len(relus))]

    def wire(unit: str, combo: Dict, bias: int = 0) -> None:
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
            new_nodes[f"{unit}.taps"].bias = np.full(C, bias, np.int32)
            new_edges.extend([(sh, f"{unit}.taps"), (f"{unit}.taps", unit)])

    for name, combo in zip(names, relus):
        new_nodes[name] = DS2TAGraded((C, Ho, Wo), relu=True)
        wire(name, combo)
    feat = DS2TAGraded((C, Ho, Wo), relu=False)
    feat.metadata = {"maxpool": {"kernel_size": k, "stride": s, "padding": p, "offset": OFFSET,
                                 "relay": relay, "units": len(relus) + 2}}
    new_nodes[n] = feat
    wire(n, final, bias=-OFFSET)  # the base tap's +B removed: feat = max of (v_y >> 6)
    q.edges = [e for e in q.edges if e != (relay, n)] + new_edges
    q.nodes.update(new_nodes)
    q.preds = {m: [a for a, b in q.edges if b == m] for m in q.nodes}
    q.succs = {m: [b for a, b in q.edges if a == m] for m in q.nodes}


def quantize(q, n: str) -> None:
    """Quantize the relay feeding max-pool ``n`` in quantizer ``q`` (as any read-out: its ``a`` within
    int16), expand ``n`` into its comparison network and record the scale its readers see."""
    prods = q.producers(n)
    if len(prods) != 1 or q.type(prods[0]) != "LI":
        raise ValueError(f"graded max-pool {n!r} must read one graded relay (LI with tau = dt), got "
                         f"{[q.type(p) for p in prods]}")
    relay = prods[0]
    q.neuron(relay)
    lava = q.nodes[relay].metadata["lava"]
    if np.any(lava["dv"] != chip.DECAY_UNITY) or np.any(lava["du"] != chip.NO_CURRENT_MEMORY):
        raise ValueError(f"graded max-pool {n!r}: {relay!r} is not a relay (tau = dt)")
    expand(q, n, relay)
    q.unit_scale[n] = float(np.unique(q.scales[relay]).max())
    q.report[n] = {"type": "DS2TAGraded", "kind": "maxpool comparison network", "scale": q.unit_scale[n],
                   "offset": OFFSET, "units": q.nodes[n].metadata["maxpool"]["units"]}

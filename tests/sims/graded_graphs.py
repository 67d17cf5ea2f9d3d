"""A small integer NIR graph with ``DS2TAGraded`` units: a 3x3 / stride 2 / padding 1 max-pool of graded
values as a comparison tree, ``max(a, b) = a + relu(b - a)``, between an ``LI`` relay and two LIF layers.

    input (C, 4, 4) --in (1x1, bias B)--> relay (LI, tau = dt: v = a << 6)
      --to_sh (1x1 weight 1, weight_exp -2)--> sh (DS2TAGraded identity): sh = v >> 2 >= 0
      --(3x3 / s2 / p1 taps +-1) and (1x1 +-1 between units)--> 8 relu units (C, 2, 2) --> feat (identity,
      its tap conv with bias -FEAT_OFFSET: feat = max - FEAT_OFFSET)
      feat --(1x1, mixed-sign odd 8-bit weights, weight_exp, bias)--> lif1 (C, 2, 2)
      feat --(2x2 valid, full, 8-bit weights near 255, weight_exp -18, bias)--> lif2 (3, 1, 1) --> output

The offset ``B`` keeps every value of ``sh`` positive, so zero padding never wins a window (as the
exporter's padding offset does). ``sh`` reaches ~2^21: the 2x2 conv's weighted sum passes 2^31 (int64
needed) before its shift. Used by tests/sims/reference, tests/sims/lava and tests/hardware.
"""

from __future__ import annotations

import nir
import numpy as np

from ds2ta.export.nir_graded import DS2TAGraded

C, H, W = 2, 4, 4
K, S, P = 3, 2, 1
HO = (H + 2 * P - K) // S + 1          # 2
B = (1 << 16) + (1 << 15)              # input offset: relay input a = x + B in [2^15, 2^17)
SH_EXP = -2                            # sh = (a << 6) >> 2
X_MAX = 1 << 15
FEAT_OFFSET = 1 << 12                  # feat = max - FEAT_OFFSET: a bias into a graded unit


def _conv(w, hw, stride=1, padding=0, groups=1, bias=None, exp=0):
    meta = {"weight_exp": int(exp)} if exp else {}
    w = np.asarray(w, dtype=np.int64)
    return nir.Conv2d(input_shape=tuple(hw), weight=w, stride=stride, padding=padding, dilation=1, groups=groups,
                      bias=np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64),
                      metadata=meta)


def _lava_lif(shape, dv, vth, graded=False):
    lava = {"du": np.full(shape, 4095), "dv": np.full(shape, dv), "bias_mant": np.zeros(shape, np.int64),
            "bias_exp": np.zeros(shape, np.int64)}
    if graded:  # the LI relay: tau = dt, v = a << 6
        return nir.LI(tau=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape), metadata={"lava": lava})
    lava["vth"] = np.full(shape, vth)
    return nir.LIF(tau=np.full(shape, 4.0), r=np.full(shape, 4.0), v_leak=np.zeros(shape),
                   v_threshold=np.full(shape, float(vth)), v_reset=np.zeros(shape), metadata={"lava": lava})


class _Builder:
    def __init__(self):
        self.nodes, self.edges = {}, []

    def add(self, name, node, srcs=()):
        self.nodes[name] = node
        self.edges += [(s, name) for s in srcs]
        return name

    def unit(self, name, relu, combo, bias=0):
        """A graded unit fed by ``combo``: ``{tap k of sh: coef, unit name: coef}`` (coefs +-1); ``bias``
        on the tap conv (a constant synaptic input, as the exporter removes its offset)."""
        self.add(name, DS2TAGraded((C, HO, HO), relu=relu))
        taps = {k: c for k, c in combo.items() if isinstance(k, int) and c}
        if taps:
            w = np.zeros((C, 1, K, K), np.int64)
            for k, c in taps.items():
                w[:, 0, k // K, k % K] = c
            self.add(f"{name}.from_sh", _conv(w, (H, W), S, P, groups=C, bias=np.full(C, bias)), ["sh"])
            self.edges.append((f"{name}.from_sh", name))
        for src, c in combo.items():
            if isinstance(src, str) and c:
                self.add(f"{name}.from_{src}", _conv(np.full((C, 1, 1, 1), c), (HO, HO), groups=C), [src])
                self.edges.append((f"{name}.from_{src}", name))
        return name


def _plus(a: dict, b: dict, sign: int = 1) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
    return out


def maxpool_graph(seed: int = 0) -> tuple[nir.NIRGraph, dict]:
    """The graph and its integer parameters (``w1``, ``e1``, ``b1``, ``w2``, ``e2``, ``b2``)."""
    rng = np.random.default_rng(seed)
    b = _Builder()
    b.add("input", nir.Input(np.array([C, H, W])))
    b.add("in", _conv(np.ones((C, 1, 1, 1)), (H, W), groups=C, bias=np.full(C, B)), ["input"])
    b.add("relay", _lava_lif((C, H, W), 4096, 0, graded=True), ["in"])
    b.add("to_sh", _conv(np.ones((C, 1, 1, 1)), (H, W), groups=C, exp=SH_EXP), ["relay"])
    b.add("sh", DS2TAGraded((C, H, W), relu=False), ["to_sh"])
    vals, level = [{k: 1} for k in range(K * K)], 0
    while len(vals) > 1:  # pairwise: max(a, b) = a + relu(b - a)
        nxt = []
        for i in range(0, len(vals) - 1, 2):
            r = b.unit(f"r{level}_{i // 2}", True, _plus(vals[i + 1], vals[i], -1))
            nxt.append(_plus(vals[i], {r: 1}))
        vals, level = nxt + ([vals[-1]] if len(vals) % 2 else []), level + 1
    b.unit("feat", False, vals[0], bias=-FEAT_OFFSET)
    p = {"w1": np.array([77, -51])[:C], "e1": -14, "b1": np.array([3, -2])[:C] << 14,
         "w2": rng.integers(200, 256, (3, C, HO, HO)), "e2": -18, "b2": np.array([1, 0, -1]) << 18}
    b.add("to_lif1", _conv(p["w1"].reshape(C, 1, 1, 1), (HO, HO), groups=C, bias=p["b1"], exp=p["e1"]), ["feat"])
    b.add("lif1", _lava_lif((C, HO, HO), 1024, 12000), ["to_lif1"])
    b.add("to_lif2", _conv(p["w2"], (HO, HO), bias=p["b2"], exp=p["e2"]), ["feat"])
    b.add("lif2", _lava_lif((3, 1, 1), 1024, 20000), ["to_lif2"])
    b.add("output", nir.Output(np.array([3, 1, 1])), ["lif2"])
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata={"integer": 1}, type_check=False), p


def inputs(T: int, samples: int, seed: int = 0) -> np.ndarray:
    """Integer inputs ``(T, samples, C, H, W)`` in ``[-2^15, 2^15)``, with ties inside some windows."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-X_MAX, X_MAX, (T, samples, C, H, W))
    x[0, 0, 0, :2, :2] = 1234  # equal values in one window
    return x


def numpy_maxpool(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Independent oracle: ``sh = ((x + B) << 6) >> 2`` and ``feat``, its 3x3 / s2 / p1 max-pool (padded
    positions ignored, explicit loops over the windows) less ``FEAT_OFFSET``."""
    sh = ((x.astype(np.int64) + B) << 6) >> -SH_EXP
    out = np.empty(sh.shape[:-2] + (HO, HO), np.int64)
    for i in range(HO):
        for j in range(HO):
            r0, c0 = i * S - P, j * S - P
            win = sh[..., max(r0, 0):r0 + K, max(c0, 0):c0 + K]
            out[..., i, j] = win.max(axis=(-2, -1)) - FEAT_OFFSET
    return sh, out

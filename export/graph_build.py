"""DS2TA model -> float NIR graph (BN and the LIF input gain folded; names of docs/nir-format.md).

Float meaning of every node (``dt = 1``): a ``CubaLIF`` with ``tau_syn = 1, tau_mem = tau, r = tau,
v_leak = bias_bn`` does ``v = (1 - 1/tau) v + W' x + bias_bn / tau``, which is the model's
``h = (1 - 1/tau) v + BN(W x) / tau`` with ``W' = W * gamma / (sigma * tau)`` (the weights carry the
gain and BN; the first conv also carries ``input_scale`` so the graph takes ``x_int``).
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import nir
import numpy as np
import torch

from ds2ta.export.bn import fold_bn, fold_input_normalisation
from ds2ta.export.nir_nodes import DS2TABlockAttention, DS2TASpikeAttention


class _Builder:
    def __init__(self):
        self.nodes: Dict[str, nir.NIRNode] = {}
        self.edges: List[Tuple[str, str]] = []

    def add(self, name, node, srcs):
        if name in self.nodes:
            raise ValueError(f"duplicate node name {name!r}")
        self.nodes[name] = node
        self.edges.extend((s, name) for s in srcs)
        return name


def float_lif(shape, tau: float, theta: float, bias: np.ndarray | None = None) -> nir.CubaLIF:
    """Float CubaLIF of the model's LIF (per-neuron arrays; ``bias`` per channel on axis 0, or one per
    neuron)."""
    shape = tuple(int(s) for s in shape)
    if bias is None:
        b = np.zeros(shape)
    elif np.shape(bias) == shape:  # one bias per neuron (the first conv of a normalised input)
        b = np.asarray(bias, dtype=np.float64).copy()
    else:
        b = np.broadcast_to(np.asarray(bias, dtype=np.float64).reshape((-1,) + (1,) * (len(shape) - 1)),
                            shape).copy()
    return nir.CubaLIF(tau_syn=np.ones(shape), tau_mem=np.full(shape, float(tau)), r=np.full(shape, float(tau)),
                       v_leak=b, v_threshold=np.full(shape, float(theta)), v_reset=np.zeros(shape),
                       w_in=np.ones(shape))


def graded_relay(shape) -> nir.LI:
    """A non-spiking population that re-emits its summed input each step: ``LI`` with ``tau = dt = 1``,
    ``r = 1``, ``v_leak = 0`` (Euler: ``v[t] = v + (0 - v + x) = x[t]``); on the chip a graded-spike
    relay (Lava: ``du = 4095, dv = 4096``, so ``v = a << 6``, sent as a 24-bit graded message)."""
    shape = tuple(int(s) for s in shape)
    return nir.LI(tau=np.ones(shape), r=np.ones(shape), v_leak=np.zeros(shape))


def conv_node(w: np.ndarray, hw, padding: int, groups: int = 1) -> nir.Conv2d:
    return nir.Conv2d(input_shape=tuple(int(v) for v in hw), weight=w.astype(np.float64), stride=1,
                      padding=padding, dilation=1, groups=groups, bias=np.zeros(w.shape[0]))


def depthwise(D: int, k: int, value: float) -> np.ndarray:
    """Depthwise ``k x k`` kernel of ``value`` for ``D`` channels: weight (D, 1, k, k), groups = D."""
    return np.full((D, 1, k, k), float(value))


def sdsa_nodes(b: "_Builder", p: str, q: str, k: str, v: str, D: int, g: int, tau: float, theta: float,
               pool=None, heads: int | None = None) -> str:
    """SDSA ``Q * LIF(sum_n K * V)`` from standard NIR nodes; returns the node of the gated spikes.

    A product of two spikes is an AND: a neuron with no memory (``tau = dt``) summing both through
    unit weights and firing at 1.5. The sum over the tokens is a depthwise ``g x g`` conv (weights
    ``1/tau``: the LIF's input gain) into the talking-heads LIF of shape ``(D, 1, 1)``; its spikes
    reach every token through a depthwise ``g x g`` conv of ones padded by ``g - 1`` (a broadcast).
    ``pool(name, node) -> node`` (the SDT block's DVS max-pool) is applied to ``K * V`` and to the result.

    ``heads`` (STAtten's official pooling, ``sdsa_pool="official"``): the two AND populations are laid
    out as each head's (channel ``d``, flat token ``n``) plane, ``(heads, hd, N)``, which is the flat
    order of ``(D, g, g)`` (``c = h hd + d``, ``n = y g + x``), so ``pool``'s 3x3 ``SumPool2d`` reads
    ``n - 1 .. n + 1`` x ``d - 1 .. d + 1`` of one head, rows wrapping, into an OR population that is
    ``(D, g, g)`` again. Their input convs read the ``(D, g, g)`` sources through that view
    (``input_shape (hd, N)``, ``groups = heads``; the broadcast reads the talking heads as ``(hd, 1)``),
    so each conv's output channels are the AND population's channels (docs/nir-format.md, "Head planes").
    """
    if heads is None:
        plane, unit = (D, g, g), lambda: conv_node(depthwise(D, 1, 1.0), (g, g), 0, D)
        bcast = conv_node(depthwise(D, g, 1.0), (1, 1), g - 1, D)
    else:
        hd, N = D // heads, g * g
        plane, unit = (heads, hd, N), lambda: conv_node(depthwise(heads, 1, 1.0), (hd, N), 0, heads)
        bcast = conv_node(np.ones((heads, 1, 1, N)), (hd, 1), (0, N - 1), heads)
    kv = b.add(f"{p}.kv", unit(), [k, v])
    kv_and = b.add(f"{p}.kv_lif", float_lif(plane, 1.0, 1.5), [kv])
    if pool is not None:
        kv_and = pool(f"{p}.kv_pool", kv_and)
    total = b.add(f"{p}.kv_sum", conv_node(depthwise(D, g, 1.0 / tau), (g, g), 0, D), [kv_and])
    talk = b.add(f"{p}.attn_lif", float_lif((D, 1, 1), tau, theta), [total])
    gq = b.add(f"{p}.gate_q", unit(), [q])
    gs = b.add(f"{p}.gate_s", bcast, [talk])
    gate = b.add(f"{p}.gate_lif", float_lif(plane, 1.0, 1.5), [gq, gs])
    return gate if pool is None else pool(f"{p}.gate_pool", gate)


def first_conv(cfg, w: np.ndarray, bias: np.ndarray, hw: int) -> Tuple[np.ndarray, np.ndarray]:
    """The first (3 x 3, padding 1) conv's folded weights and bias, the model's input normalisation
    (``cfg.input_mean`` / ``input_std``) folded in exactly (a bias per neuron, see
    :func:`~ds2ta.export.bn.fold_input_normalisation`); unchanged without one."""
    if cfg.input_mean is None:
        return w, bias
    return fold_input_normalisation(w, bias, cfg.input_mean, cfg.input_std, hw, padding=1)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def projection(b: _Builder, prefix: str, proj, inputs: List[str], delays: Dict[int, str], g: int,
               tau: float) -> str:
    """TASA projection: replica k reads Delay(k) and has weights a_k W'; all sum into one LIF."""
    w, bias = fold_bn(_np(proj.linear.weight), proj.bn)
    coeffs = _np(proj.coeffs()).reshape(-1)
    convs = []
    for k, a in enumerate(coeffs):
        ins = inputs if k == 0 else [delays[k]]
        wk = (a * w / tau)[:, :, None, None]
        convs.append(b.add(f"{prefix}.conv{k}", conv_node(wk, (g, g), 0), ins))
    return b.add(f"{prefix}.lif", float_lif((w.shape[0], g, g), tau, proj.lif.params.v_threshold, bias), convs)


def delays_for(b: _Builder, prefix: str, inputs: List[str], taw: int, D: int, g: int) -> Dict[int, str]:
    return {k: b.add(f"{prefix}.delay{k}", nir.Delay(np.full((D, g, g), float(k))), inputs)
            for k in range(1, taw)}


def attention_spikes(b: _Builder, p: str, at, stream: List[str], D: int, g: int, tau: float,
                     pool=None, head_planes: bool = False) -> Tuple[str, int]:
    """q, k, v projections of ``stream`` and the attention (core + LIF, or SDSA); returns the node of
    the attention's output spikes and the TASA window. ``pool(name, node) -> node``: the SDT block's DVS
    max-pool of q, k, v (and inside SDSA); ``head_planes``: SDSA pools each head's (token, channel)
    plane (``sdsa_pool="official"``, see ``sdsa_nodes``) instead of the grid."""
    taw = at.q.taw
    dl = delays_for(b, p, stream, taw, D, g)
    q, k, v = (projection(b, f"{p}.{n}", getattr(at, n), stream, dl, g, tau) for n in "qkv")
    if pool is not None:
        q, k, v = (pool(f"{p}.{n}_pool", o) for n, o in zip("qkv", (q, k, v)))
    ap = at.attn_lif.params
    scale = at.scale / ap.tau  # attention current = s * (S V) / tau_attn
    if at.mode == "sdsa":
        heads = at.heads if (pool is not None and head_planes) else None
        return sdsa_nodes(b, p, q, k, v, D, g, ap.tau, ap.v_threshold, pool, heads), taw
    if at.mode == "statten":
        core = DS2TABlockAttention(channels=D, heads=at.heads, tokens_shape=(g, g), chunk=at.chunk,
                                   scale=scale, operands=[q, k, v])
    else:
        d = D // at.heads
        table = (_np(at.nsad.table) if at.nsad is not None else
                 np.tile(np.arange(d + 1, dtype=np.float64), (at.heads, 1)))
        core = DS2TASpikeAttention(channels=D, heads=at.heads, tokens_shape=(g, g), table=table,
                                   scale=scale, operands=[q, k, v])
    core = b.add(f"{p}.core", core, [q, k, v])
    return b.add(f"{p}.attn_lif", float_lif((D, g, g), ap.tau, ap.v_threshold), [core]), taw


def build_float_graph(model, input_scale: float) -> nir.NIRGraph:
    """Float NIR graph of a :class:`ds2ta.DS2TA` in eval mode (see module docstring)."""
    cfg = model.cfg
    if cfg.backbone == "sdt":
        from ds2ta.export.graph_sdt import build_sdt_graph  # imports this module
        return build_sdt_graph(model, input_scale)
    tau, theta = cfg.lif_tau, cfg.v_threshold
    b = _Builder()
    C, S = cfg.in_channels, cfg.img_size
    src = [b.add("input", nir.Input(np.array([C, S, S])), [])]
    hw = S
    for i, st in enumerate(model.sps.stages):
        w, bias = fold_bn(_np(st.conv.weight), st.bn)
        if i == 0:
            w, bias = first_conv(cfg, w, bias, hw)
        w = w / tau * (input_scale if i == 0 else 1.0)
        conv = b.add(f"sps.{i}.conv", conv_node(w, (hw, hw), 1), src)
        lif = b.add(f"sps.{i}.lif", float_lif((w.shape[0], hw, hw), tau, theta, bias), [conv])
        src = [lif]
        if st.pool is not None:
            hw_out = (hw + 2 - 3) // 2 + 1
            pool = b.add(f"sps.{i}.pool", nir.SumPool2d(np.array([3, 3]), np.array([2, 2]), np.array([1, 1])), src)
            src = [b.add(f"sps.{i}.pool_lif", float_lif((w.shape[0], hw_out, hw_out), 1.0, 0.5), [pool])]
            hw = hw_out
    D, g = cfg.embed_dim, hw
    w, bias = fold_bn(_np(model.sps.rpe.conv.weight), model.sps.rpe.bn)
    conv = b.add("sps.rpe.conv", conv_node(w / tau, (g, g), 1), src)
    stream = src + [b.add("sps.rpe.lif", float_lif((D, g, g), tau, theta, bias), [conv])]

    for bi, blk in enumerate(model.blocks):
        at, p = blk.attn, f"blocks.{bi}.attn"
        alif, taw = attention_spikes(b, p, at, stream, D, g, tau)
        o = projection(b, f"{p}.o", at.o, [alif], delays_for(b, f"{p}.o", [alif], taw, D, g), g, tau)
        stream = stream + [o]
        h1 = projection(b, f"blocks.{bi}.mlp.fc1", blk.mlp.fc1, stream, {}, g, tau)
        stream = stream + [projection(b, f"blocks.{bi}.mlp.fc2", blk.mlp.fc2, [h1], {}, g, tau)]
    # Token-pooling head: each channel's spikes summed over the tokens on the chip (SumPool2d over the
    # whole grid into a graded relay LI with tau = dt, i.e. v[t] = input[t]), then W over channels.
    # The model's mean over tokens and time is the 1/(N T) of the head weights; the quantizer folds it
    # into the read-out scale with a weight exponent, so W keeps its full 8-bit precision.
    N, T = g * g, cfg.T
    pool = b.add("head.pool", nir.SumPool2d(np.array([g, g]), np.array([g, g]), np.array([0, 0])), stream)
    relay = b.add("head.pool_li", graded_relay((D, 1, 1)), [pool])
    flat = b.add("head.flatten", nir.Flatten(input_type={"input": np.array([D, 1, 1])}, start_dim=0,
                                             end_dim=-1), [relay])
    wh, bh = _np(model.head.weight), _np(model.head.bias)
    fc = b.add("head.fc", nir.Affine(weight=wh / (N * T), bias=bh / T), [flat])  # (classes, D)
    ro = b.add("head.readout", nir.I(r=np.ones(wh.shape[0])), [fc])
    b.add("output", nir.Output(np.array([wh.shape[0]])), [ro])
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, type_check=False)

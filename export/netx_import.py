"""A lava-dl netx network (``.net``) -> the project's integer NIR graph, exactly as netx runs it in Lava.

What ``lava.lib.dl.netx.hdf5.Network`` builds (lava-dl 0.6) and how each part is written here:

- **Neurons** (``LOIHI``/``CUBA``): Lava ``LIF`` with ``du = iDecay - 1``, ``dv = vDecay``,
  ``vth = vThMant``, ``bias_mant`` = the layer's per-channel ``bias``, ``bias_exp = 6``. Written as a
  ``CubaLIF`` with ``metadata["lava"]`` holding exactly these integers (docs/nir-format.md).
- **Conv**: lava-nc ``Conv`` of the file's torch-layout weights (netx flips and transposes them;
  stride/padding/dilation are stored (H, W)); ``Conv`` ignores weight exponents. Written as a NIR
  ``Conv2d`` with the file's integer weights, no bias.
- **Dense**: netx's ``optimize_weight_bits`` stores ``W << k`` with ``weight_exp = -k`` (the 8-bit
  mantissa at full precision, ``k = floor(log2(scale)) + signed``); Lava then computes
  ``(W' s) >> k = W s``. Written as an ``Affine`` with ``W' = W << k`` and ``metadata["weight_exp"] = -k``
  (same integers, same stored mantissas, so the mapping prices the same 8-bit synapses).
- **Flatten**: netx connects ``out.transpose([2, 1, 0]).flatten()``: (W, H, C) -> (C, H, W) -> flat,
  which is PyTorch's C-order flatten of the (C, H, W) tensors the NIR graph holds.
- **Input layer**: netx's ``Input`` block is an LIF whose ``a_in`` is not connected; the input enters
  as its ``bias_mant`` (``bias_exp = 6``; lava-dl's PilotNet tutorial writes each frame there). With
  ``du = 4095`` Lava's ``u = a << 6``, so a synaptic input ``a = x`` is the same integer as the bias
  ``x << 6``: the graph ``Input`` (C, H, W) drives the input LIF through a 1x1 identity ``Conv2d``
  (``metadata["host_bias_drive"]``: the mapping treats it as the host writing biases, not a synapse).
  The block's ``transform`` (the file's scalar input ``weight``/``bias``) is stored but never applied
  by netx; it is not applied here either, and named in a warning.

**Sigma-delta networks** (``SDNN`` neurons; ``sdnn_to_nir``): netx builds the input layer as lava-nc
``Delta`` (``vth = vThMant``, spike_exp = state_exp = 6; its ``a_in`` takes the frame each step), every
other layer as ``SigmaDelta`` (``vth = vThMant``, ``bias`` = the layer's bias, ReLU whatever the file's
``activation`` says, exponents 6 and 6), a layer whose neuron group has ``sigma_output`` as ``Sigma`` (sends
its sum, no bias). Each becomes a ``DS2TASigmaDelta`` (mode ``delta`` / ``sigma_delta`` / ``sigma``) with the
file's integers; the synapses are written as for LIF networks (conv: the file's weights; dense: ``W << k``
with ``weight_exp = -k``), and they receive graded messages (netx: ``num_message_bits`` 16). The graph
``Input`` drives the input layer through the same 1x1 identity ``Conv2d`` (``host_bias_drive``: the host
writes the frame; not a synapse on the chip), so ``x`` reaches ``a_in`` unchanged.

Anything netx does not run as above (RF neurons, recurrent or complex dense, synaptic delays, graded
messages from LIF layers, pooling, a network mixing LIF and SDNN layers) is refused by name.
"""

from __future__ import annotations

import warnings
from typing import List, Tuple

import nir
import numpy as np

from ds2ta.hardware import chip
from ds2ta.export.nir_graded import DS2TASigmaDelta
from ds2ta.hardware.netx import NETX_TYPES, SIGMA_DELTA_NEURONS, SPIKING_NEURONS
from ds2ta.hardware.sigma_delta import NETX_MESSAGE_BITS, NETX_SPIKE_EXP, NETX_STATE_EXP
from ds2ta.hardware.chip import HOST_BIAS_DRIVE as DRIVE  # the input layer's bias write

NETX_BIAS_EXP = 6          # netx: bias_exp = 6 for every LOIHI/CUBA neuron


def dense_encoding(w: np.ndarray) -> Tuple[np.ndarray, int]:
    """``(W << k, -k)`` as lava-dl netx's ``optimize_weight_bits`` stores an integer dense matrix.

    ``scale = min(127 / max, -128 / min)`` for mixed signs (``255 / max`` excitatory, ``-256 / min``
    inhibitory), ``k = floor(log2(scale)) + signed``. Only ``k >= 0`` is exact (netx clips larger
    weights); other cases are refused.
    """
    w = np.asarray(w, dtype=np.int64)
    hi, lo = int(w.max(initial=0)), int(w.min(initial=0))
    if hi == 0 and lo == 0:
        return w, 0
    if lo < 0 < hi:
        scale, signed = min(127 / hi, -128 / lo), 1
    elif lo < 0:
        scale, signed = -256 / lo, 0
    else:
        scale, signed = 255 / hi, 0
    k = int(np.floor(np.log2(scale))) + signed
    if k < 0:
        raise ValueError(f"dense weights in [{lo}, {hi}] exceed netx's 8-bit synapse (netx clips them); "
                         "retrain or rescale the layer to |w| <= 254")
    return w << k, -k


# datasets each layer type needs (netx.hdf5 reads them without a default)
NETX_REQUIRED = {"conv": ("weight", "stride", "padding"), "dense": ("weight",)}


def _check_layer(d: dict) -> None:
    i, t = d["index"], d["type"]
    if t not in NETX_TYPES:
        raise ValueError(f"netx layer {i} has type {t!r}: only {NETX_TYPES} layers convert (lava-dl netx "
                         "itself builds no other type except dense_rec/dense_comp, which have no NIR mapping here)")
    missing = [k for k in NETX_REQUIRED.get(t, ()) if k not in d]
    if missing:
        raise ValueError(f"netx layer {i} ({t}) has no {', '.join(repr(k) for k in missing)} dataset: the file is "
                         "incomplete; export the network again (lava-dl netx.hdf5 / slayer export_hdf5)")
    if t == "flatten" or (t == "input" and "neuron" not in d):
        return
    n = d.get("neuron")
    if n is None:
        raise ValueError(f"netx layer {i} ({t}) has no neuron group: netx would give it a non-leaky "
                         "CUBA integrator with a 2^17 threshold; write the neuron explicitly")
    gone = [k for k, f in (("vth", "vThMant"), ("dv", "vDecay"), ("du", "iDecay")) if n.get(k) is None]
    if gone and n["type"] in SPIKING_NEURONS:
        raise ValueError(f"netx layer {i} ({t}) has a {n['type']} neuron group without "
                         f"{', '.join(dict(vth='vThMant', dv='vDecay', du='iDecay')[k] for k in gone)}: the file is "
                         "incomplete; export the network again")
    if n["type"] in SIGMA_DELTA_NEURONS:
        if n.get("vth") is None:
            raise ValueError(f"netx layer {i} ({t}) has an SDNN neuron group without vThMant: the file is incomplete")
        if "delay" in d:
            raise ValueError(f"netx layer {i} ({t}) has synaptic delays: not supported by this converter")
        if d.get("weight_complex") or "weight_rec" in d:
            raise ValueError(f"netx layer {i} ({t}) has complex or recurrent weights: not supported")
        return
    if n["type"] not in SPIKING_NEURONS:
        raise ValueError(f"netx layer {i} ({t}) has {n['type']} neurons: only LOIHI/CUBA (Lava LIF) and SDNN "
                         "(sigma-delta) convert; resonate-and-fire neurons have no NIR node here")
    if n.get("messageBits", 0):
        raise ValueError(f"netx layer {i} ({t}) sends graded spikes (messageBits={n['messageBits']}): "
                         "only binary LIF spikes convert")
    if "delay" in d:
        raise ValueError(f"netx layer {i} ({t}) has synaptic delays: not supported by this converter")
    if d.get("weight_complex") or "weight_rec" in d:
        raise ValueError(f"netx layer {i} ({t}) has complex or recurrent weights: not supported")


def _neuron(d: dict, shape_chw: tuple, bias_c) -> nir.CubaLIF:
    """A netx neuron as a ``CubaLIF`` with its integers in ``metadata["lava"]`` (float fields per
    docs/nir-format.md: ``tau_syn = 4096 / (du + 1)``, ``tau_mem = 4096 / dv``, ``r = tau_mem``)."""
    n = d["neuron"]
    full = lambda v: np.full(shape_chw, v, dtype=np.int64)
    bias = np.broadcast_to(np.asarray(bias_c, dtype=np.int64).reshape((-1,) + (1,) * (len(shape_chw) - 1)),
                           shape_chw) if np.ndim(bias_c) else full(int(bias_c))
    lava = {"du": full(n["du"]), "dv": full(n["dv"]), "vth": full(n["vth"]),
            "bias_mant": np.array(bias, dtype=np.int64), "bias_exp": full(NETX_BIAS_EXP)}
    if np.abs(lava["bias_mant"]).max(initial=0) > 4095:
        raise ValueError(f"netx layer {d['index']}: bias beyond Lava's 13-bit bias_mant")
    dv = lava["dv"].astype(np.float64)
    tau_m = np.where(dv > 0, chip.DECAY_UNITY / np.maximum(dv, 1), np.inf)
    tau_s = chip.DECAY_UNITY / (lava["du"] + float(chip.DU_OFFSET))
    b = chip.bias_decode(lava["bias_mant"], lava["bias_exp"]).astype(np.float64)
    leak = np.where(np.isfinite(tau_m), b * np.where(np.isfinite(tau_m), tau_m, 0) / (1 << chip.ACT_SHIFT), 0.0)
    meta = {"lava": {k: v.astype(np.int32) for k, v in lava.items()}, "scale": np.ones(shape_chw[0]),
            "netx_layer": d["index"]}
    return nir.CubaLIF(tau_syn=tau_s, tau_mem=tau_m, r=tau_m.copy(), v_leak=leak,
                       v_threshold=lava["vth"].astype(np.float64), v_reset=np.zeros(shape_chw),
                       w_in=np.ones(shape_chw), metadata=meta)


def _chw(shape_whc: tuple) -> tuple:
    return tuple(int(v) for v in shape_whc[::-1])


def _pair(v) -> np.ndarray:
    a = np.atleast_1d(np.asarray(v)).astype(np.int64)
    return np.array([a[0], a[-1]])


def _input_layer(first: dict, nodes: dict, edges: list, notes: list) -> str:
    """netx's input neuron layer: the graph ``Input`` drives ``input0`` through a 1x1 identity conv that
    stands for the host writing ``bias_mant = x`` (see the module docstring); returns ``"input0"``."""
    if first["neuron"]["du"] != chip.NO_CURRENT_MEMORY:
        raise ValueError(f"netx input layer 0 has iDecay {first['neuron']['du'] + chip.DU_OFFSET} (current memory): "
                         "its bias input equals a synaptic drive only with iDecay 4096; not supported")
    in_chw = _input_drive(first, nodes, edges, notes, "the input enters as bias_mant = x, bias_exp 6")
    nodes["input0"] = _neuron(first, in_chw, 0)
    return "input0"


def _input_drive(first: dict, nodes: dict, edges: list, notes: list, how: str) -> tuple:
    """The graph ``Input`` and the 1x1 identity ``Conv2d`` ``input0.drive`` (the host writing the input,
    ``metadata["host_bias_drive"]``) into the input layer ``input0`` (added by the caller); a stored input
    transform, which netx's Input block never applies, is named (``how``: how the input enters instead).
    Returns the input's ``(C, H, W)``."""
    in_chw = _chw(first["shape"])
    in_chw = in_chw + (1,) * (3 - len(in_chw))  # (C, H, W), also for a 1-D input
    nodes["input"] = nir.Input(np.array(in_chw))
    tr = {k: float(np.asarray(first[k]).reshape(-1)[0]) for k in ("weight", "bias") if k in first}
    if tr:
        msg = (f"netx input layer 0 stores a transform {tr} that lava-dl netx's Input block does not apply "
               f"({how}): converted as netx runs it, without it")
        warnings.warn(msg)
        notes.append(msg)
    C = in_chw[0]
    eye = np.eye(C, dtype=np.int16).reshape(C, C, 1, 1)
    nodes["input0.drive"] = nir.Conv2d(input_shape=np.array(in_chw[1:]), weight=eye,
                                       stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(C),
                                       metadata={DRIVE: 1, "weight_exp": 0, "num_weight_bits": 8})
    edges += [("input", "input0.drive"), ("input0.drive", "input0")]
    return in_chw


def _sigma_delta(d: dict, shape_chw: tuple, mode: str) -> DS2TASigmaDelta:
    """An SDNN layer's neurons as netx builds them (``mode``: delta for the input layer, sigma for
    ``sigma_output``, else sigma_delta), bias per channel broadcast over (C, H, W)."""
    n, i = d["neuron"], d["index"]
    bias = np.asarray(d.get("bias", 0))
    if mode != "sigma_delta" and np.any(bias):
        raise ValueError(f"netx layer {i} ({d['type']}) has a bias but netx builds it as lava-nc "
                         f"{'Delta' if mode == 'delta' else 'Sigma'}, which takes none (netx itself fails on it)")
    if np.any(bias != np.round(bias)):
        raise ValueError(f"netx layer {i} ({d['type']}): non-integer bias; netx truncates it")
    if bias.ndim:
        bias = bias.astype(np.int64).reshape((-1,) + (1,) * (len(shape_chw) - 1))
    meta = {"netx_layer": i, "num_message_bits": int(n.get("messageBits", NETX_MESSAGE_BITS))}
    return DS2TASigmaDelta(shape=shape_chw, vth=int(n["vth"]), bias=np.broadcast_to(bias.astype(np.int64), shape_chw),
                           mode=mode, relu=mode == "sigma_delta", spike_exp=NETX_SPIKE_EXP,
                           state_exp=NETX_STATE_EXP, metadata=meta)


def _synapse(d: dict, prev_chw: tuple, flat: bool, prev: str, nodes: dict, edges: list) -> Tuple[str, tuple]:
    """The layer's synapse node as netx stores it (see the module docstring), wired from ``prev``; returns
    ``(the node it is fed from, the layer's (C, H, W) or (n,))``."""
    name, chw = f"{d['type']}{d['index']}", _chw(d["shape"])
    w = np.asarray(d["weight"])
    if np.any(w != np.round(w)):
        raise ValueError(f"netx layer {d['index']} ({d['type']}): non-integer weights; netx truncates them")
    src = prev
    if d["type"] == "conv":
        if flat:
            raise ValueError(f"netx layer {d['index']}: a conv after a flatten")
        syn = nir.Conv2d(input_shape=prev_chw[1:], weight=w.astype(np.int16), stride=_pair(d["stride"]),
                         padding=_pair(d["padding"]), dilation=_pair(d.get("dilation", 1)),
                         groups=int(np.asarray(d.get("groups", 1)).reshape(-1)[0]), bias=np.zeros(chw[0]),
                         metadata={"weight_exp": 0, "num_weight_bits": 8})
    else:
        n_out = int(np.prod(chw))
        wm, exp = dense_encoding(w.reshape(n_out, -1).astype(np.int64))
        syn = nir.Affine(weight=wm.astype(np.int16), bias=np.zeros(n_out),
                         metadata={"weight_exp": exp, "num_weight_bits": 8, "netx_weight_shift": -exp})
        if flat or len(prev_chw) > 1:  # netx: (W,H,C) -> transpose -> (C,H,W) -> C-order flat
            nodes[f"{name}.flatten"] = nir.Flatten(input_type={"input": np.array(prev_chw)}, start_dim=0)
            edges.append((prev, f"{name}.flatten"))
            src = f"{name}.flatten"
        chw = (n_out,)
    nodes[f"{name}.syn"] = syn
    edges.append((src, f"{name}.syn"))
    return f"{name}.syn", chw


def sdnn_to_nir(layers: List[dict]) -> Tuple[nir.NIRGraph, List[str]]:
    """The integer NIR graph of a netx sigma-delta network (every neuron group ``SDNN``; see the module
    docstring). Node names as ``netx_to_nir``'s: ``input0`` (Delta), ``conv1`` ... (SigmaDelta), the
    ``sigma_output`` layer (Sigma); synapses ``f"{name}.syn"``; the input drive ``input0.drive``."""
    first = layers[0]
    if first["type"] != "input" or "neuron" not in first:
        raise ValueError("netx SDNN layer 0 is not an input layer with SDNN neurons: netx then feeds graded "
                         "messages straight into the first synapse, which this converter does not take; add the "
                         "input layer (slayer's block Input) and export again")
    nodes, edges, notes = {}, [], []
    in_chw = _input_drive(first, nodes, edges, notes, "the frame enters the Delta's a_in as it is")
    nodes["input0"] = _sigma_delta(dict(first, bias=0), in_chw, "delta")
    prev, prev_chw, flat = "input0", in_chw, False
    for d in layers[1:]:
        if d["type"] == "flatten":
            flat = True
            continue
        if d["type"] == "input":
            raise ValueError(f"netx layer {d['index']} is a second input layer: not supported")
        name = f"{d['type']}{d['index']}"
        syn, chw = _synapse(d, prev_chw, flat, prev, nodes, edges)
        flat = False
        mode = "sigma" if "sigma_output" in d["neuron"] else "sigma_delta"
        act = d["neuron"].get("activation", "relu")
        if mode == "sigma_delta" and act.lower() != "relu":
            msg = f"netx layer {d['index']}: activation {act!r} is stored, but netx's SigmaDelta applies ReLU; converted as netx runs it"
            warnings.warn(msg)
            notes.append(msg)
        nodes[name] = _sigma_delta(d, chw, mode)
        edges.append((syn, name))
        prev, prev_chw = name, chw
    nodes["output"] = nir.Output(np.array(prev_chw))
    edges.append((prev, "output"))
    notes.append(f"netx SDNN conventions: input layer lava-nc Delta, hidden layers SigmaDelta (ReLU, bias << 12), "
                 f"sigma_output layers Sigma; vth = vThMant << 12, messages s >> 6 ({NETX_MESSAGE_BITS}-bit in netx), "
                 "no reset (the project resets every state at each sample start), dense weights W << k with "
                 "weight_exp -k, flatten (W,H,C) -> (C,H,W)")
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), notes


def netx_to_nir(layers: List[dict]) -> Tuple[nir.NIRGraph, List[str]]:
    """The integer NIR graph of netx layers (``hardware.netx.read_net``) and the notes to print.

    Node names follow the PilotNet calibration: neuron ``f"{type}{index}"`` (``input0``, ``conv1``,
    ``dense7``), its synapse ``f"{name}.syn"``, the input drive ``input0.drive``.

    An all-SDNN network goes to ``sdnn_to_nir``.

    Raises:
        ValueError: a layer netx would not run as a LIF chain or a sigma-delta chain (named by index and type).
    """
    for d in layers:
        _check_layer(d)
    if not layers:
        raise ValueError("the netx network has no layers")
    groups = [(d["index"], d["type"], d["neuron"]["type"] in SIGMA_DELTA_NEURONS, d["neuron"]["type"])
              for d in layers if "neuron" in d]
    if any(sd for _, _, sd, _ in groups):
        mixed = [g for g in groups if g[2] != groups[0][2]]
        if mixed:
            i, t, _, kind = mixed[0]
            raise ValueError(f"netx layer {i} ({t}) has {kind} neurons but layer {groups[0][0]} has "
                             f"{groups[0][3]}: the network mixes neuron types; only all-LIF or all-SDNN networks "
                             "convert")
        return sdnn_to_nir(layers)
    nodes, edges, notes = {}, [], []
    first = layers[0]
    if first["type"] == "input" and "neuron" in first:
        prev = _input_layer(first, nodes, edges, notes)
        prev_chw = tuple(int(v) for v in nodes["input"].input_type["input"])
        rest = layers[1:]
    elif first["type"] == "input" or first["type"] == "dense":  # netx feeds spikes into the first synapse
        shape = _chw(first["shape"]) if first["type"] == "input" else (int(np.asarray(first["weight"]).reshape(
            int(np.prod(first["shape"])), -1).shape[1]),)
        nodes["input"] = nir.Input(np.array(shape))
        prev, prev_chw = "input", shape
        rest = layers[1:] if first["type"] == "input" else layers
        notes.append(f"no input neuron layer: binary input spikes of shape {shape} go straight into the first "
                     "synapse, as netx's Network.inp does. netx's layer windows then start one step before "
                     "the input reaches them: a nonzero bias acts one step earlier in netx's own run")
    else:
        raise ValueError(f"netx layer 0 is a {first['type']!r} layer without an input layer before it: its input "
                         "shape is not in the file; add an 'input' layer (slayer's block Input) and export again")
    flat = False
    for d in rest:
        if d["type"] == "flatten":
            flat = True
            continue
        name = f"{d['type']}{d['index']}"
        syn, chw = _synapse(d, prev_chw, flat, prev, nodes, edges)
        flat = False
        nodes[name] = _neuron(d, chw, d.get("bias", 0))
        edges.append((syn, name))
        prev, prev_chw = name, chw
    nodes["output"] = nir.Output(np.array(prev_chw))
    edges.append((prev, "output"))
    notes.append("netx conventions: Lava LIF reset to 0, strict v > vth << 6, bias_exp 6, du = iDecay - 1, "
                 "dense weights W << k with weight_exp -k (optimize_weight_bits), flatten (W,H,C) -> (C,H,W)")
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), notes


def netx_conventions(graph: nir.NIRGraph) -> dict:
    """The graph metadata's conventions for a converted netx network (LIF or sigma-delta)."""
    if any(isinstance(n, DS2TASigmaDelta) for n in graph.nodes.values()):
        return {"reset": "zero at every sample start (netx's sigma-delta neurons never reset)",
                "threshold": "|delta| >= vth << 12 (lava-nc Delta / SigmaDelta)",
                "neuron_model": "lava-nc PyDeltaModelFixed / PySigmaDeltaModelFixed / PySigmaModelFixed",
                "input": "x_int (C, H, W) = the netx frame (W, H, C) transposed, the input Delta's a_in each step"}
    return {"reset": "zero (Lava LIF)", "threshold": "strict v > vth << 6", "neuron_model": "lava PyLifModelBitAcc",
            "input": "x_int (C, H, W) = the netx frame (W, H, C) transposed; it is the input layer's bias_mant "
                     "(bias_exp 6), driven here as a = x"}

"""Post-training quantization of a DS2TA model: calibration, integer graph, accuracy and diagnostics.

Calibration runs the float model on a few batches and records, per LIF, the largest synaptic input
current per channel (``|BN(W x) - b| / tau``: the bias goes into ``v``, not into the int16 ``a_in``),
and for the read-out the largest per-step and accumulated
logit; ``quantize_graph`` caps every neuron's scale so that the integer currents stay inside int16
(Lava's ``a_in``) and the read-out accumulator inside 24 bits (calibrated bound x ``margin``).
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

import nir
import numpy as np
import torch

from ds2ta.encoding import time_major
from ds2ta.export.graph_build import build_float_graph
from ds2ta.export.graph_quant import quantize_graph


def node_name(module_path: str) -> str:
    """Model module path of a LIF -> graph node name (``sps.stages.0.lif`` -> ``sps.0.lif``)."""
    return re.sub(r"^sps\.stages\.(\d+)\.", r"sps.\1.", module_path)


def _lif_modules(model):
    from ds2ta.neuron import LIF
    return {node_name(n): m for n, m in model.named_modules() if isinstance(m, LIF)}


def _channel_max(x: torch.Tensor) -> np.ndarray:
    """Per-channel max |x| of a (T, B, C, H, W) or (T, B, N, D) tensor."""
    x = x.detach()
    if x.dim() == 5:
        return x.abs().amax(dim=(0, 1, 3, 4)).double().cpu().numpy()
    return x.abs().reshape(-1, x.shape[-1]).amax(0).double().cpu().numpy()


def _model_layout(bias: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """A graph-layout per-neuron array ``(C, H, W)`` / ``(D, g, g)`` / ``(D, 1, 1)`` in the layout of the
    LIF input ``x``: maps ``(T, B, C, H, W)``, tokens ``(T, B, N, D)`` or the head's ``(T, B, D)``."""
    b = torch.as_tensor(np.asarray(bias, dtype=np.float64), dtype=x.dtype, device=x.device)
    if x.dim() == 5:
        return b.reshape(x.shape[2:])
    if x.dim() == 4:
        return b.reshape(x.shape[3], x.shape[2]).T
    return b.reshape(x.shape[-1])


@torch.no_grad()
def calibrate(model, x_float: torch.Tensor, batch_size: int = 32, margin: float = 1.5,
              bias: Optional[Dict[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """``{neuron_node: per-channel max |synaptic current|}`` (float units) over ``x_float`` batches, times
    ``margin``. ``bias``: the ``v_leak`` the graph gives each LIF node (graph layout); on the chip a bias
    is added to ``v`` (``bias_mant``), not to the int16 synaptic input ``a_in``, so it is taken out of the
    current measured here (``|BN(W x) - b| / tau``)."""
    model.eval()
    stats: Dict[str, np.ndarray] = {}
    handles = []
    bias = bias or {}
    for name, m in _lif_modules(model).items():
        def hook(mod, inp, out, name=name):
            x = inp[0]
            if name in bias:
                x = x - _model_layout(bias[name], x)
            c = _channel_max(x) / mod.params.tau
            stats[name] = np.maximum(stats.get(name, 0), c)
        handles.append(m.register_forward_hook(hook))

    def head_hook(mod, inp, out):  # out: (T, B, classes) per-step logits; the read-out adds out / T
        T = out.shape[0]
        step = (out / T).abs().amax((0, 1))
        acc = (out / T).cumsum(0).abs().amax((0, 1)) / 4.0  # |acc| <= 2^17 <=> 64 |acc| < 2^23
        stats["head.readout"] = np.maximum(stats.get("head.readout", 0), torch.maximum(step, acc).double().numpy())
    handles.append(model.head.register_forward_hook(head_hook))
    if model.cfg.backbone == "sdt":  # the graded relay of SPS stage 4: |BN(conv)| (bias included)
        def y_hook(mod, inp, out):
            stats["sps.y"] = np.maximum(stats.get("sps.y", 0), _channel_max(out.unsqueeze(0)))
        handles.append(model.sps.bns[3].register_forward_hook(y_hook))
    try:
        for lo in range(0, x_float.shape[0], batch_size):
            model(x_float[lo:lo + batch_size])
    finally:
        for h in handles:
            h.remove()
    return {k: v * margin for k, v in stats.items()}


@torch.no_grad()
def float_spikes(model, x_float: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Spikes of every LIF (and SPS max-pool) of the float model in graph layout (T, B, *node shape)."""
    rec: Dict[str, torch.Tensor] = {}
    handles = []
    for name, m in _lif_modules(model).items():
        def hook(mod, inp, out, name=name):
            rec[name] = out.permute(0, 1, 3, 2).reshape(*out.shape[:2], out.shape[3], *([int(out.shape[2] ** 0.5)] * 2)) \
                if out.dim() == 4 else out
        handles.append(m.register_forward_hook(hook))
    for i, st in enumerate(getattr(model.sps, "stages", [])):  # Spikformer SPS (SDT's pools are not hooked)
        if st.pool is not None:
            def phook(mod, inp, out, i=i):
                rec[f"sps.{i}.pool_lif"] = out  # (T*B, C, H, W), reshaped below
            handles.append(st.pool.register_forward_hook(phook))
    try:
        model(x_float)
    finally:
        for h in handles:
            h.remove()
    T, B = model.cfg.T, x_float.shape[0]
    return {k: (v.reshape(T, B, *v.shape[1:]) if v.shape[0] == T * B and k.endswith("pool_lif") else v)
            for k, v in rec.items()}


def graph_metadata(model, ckpt: dict, source: str, target: str, input_scale: float) -> dict:
    from ds2ta.version import __version__
    from ds2ta.export.nir_nodes import EXTENSION_NODES, EXTENSION_VERSION
    return {"format": "ds2ta-nir", "format_version": 1, "package_version": __version__,
            "source_checkpoint": str(source), "target": target,
            "extensions": ",".join(EXTENSION_NODES) + f" (ds2ta.export v{EXTENSION_VERSION})",
            "conventions": {"dt": 1.0, "reset": "zero", "input_gain": "1/tau folded into weights",
                            "threshold": "strict v > vth<<6", "input_scale": float(input_scale),
                            "T": int(model.cfg.T), "neuron_model": "lava PyLifModelBitAcc",
                            "readout": "argmax of head.readout after T steps",
                            "time": "zero delay within a step; chip adds one step per synapse layer"},
            "model_config": {k: v for k, v in model.cfg.to_dict().items() if isinstance(v, (int, float, str))},
            "dataset": {k: v for k, v in (ckpt.get("dataset") or {}).items() if isinstance(v, (int, float, str))}}


def quantize_model(model, input_scale: float, calib_x_float: Optional[torch.Tensor], bits: int = 8,
                   meta: Optional[dict] = None, boost: Optional[Dict[str, float]] = None
                   ) -> Tuple[nir.NIRGraph, Dict[str, dict], nir.NIRGraph]:
    """``(integer graph, per-node report, float graph)`` of a DS2TA model (PTQ). ``boost``: factors on
    the calibrated currents of named neurons (the integer model's own inputs measured larger than the float
    model's: ``ds2ta.cli.export`` measures them and quantizes again)."""
    model.eval()
    fg = build_float_graph(model, input_scale)
    fg.metadata = dict(meta or {"conventions": {"dt": 1.0}})
    bias = {n: v.v_leak for n, v in fg.nodes.items() if isinstance(v, nir.CubaLIF)}  # the model's LIFs
    calib = calibrate(model, calib_x_float, bias=bias) if calib_x_float is not None else None
    if calib is not None and boost:
        calib = {n: v * float(boost.get(n, 1.0)) for n, v in calib.items()}
    ig, report = quantize_graph(fg, dt=1.0, bits=bits, calib=calib)
    return ig, report, fg


def encode_int(cfg, x_int: torch.Tensor) -> torch.Tensor:
    """Integer model input (B, C, H, W) or events (B, T, C, H, W) -> time-major (T, B, C, H, W)."""
    return time_major(x_int, cfg.T, cfg.encoding)


def spike_agreement(float_rec: Dict[str, torch.Tensor], int_rec: Dict[str, torch.Tensor]) -> Dict[str, float]:
    """Fraction of equal spike entries per layer (float model vs integer reference)."""
    return {k: e / n for k, (e, n) in _agreement_counts(float_rec, int_rec).items()}


def _agreement_counts(float_rec, int_rec) -> Dict[str, Tuple[int, int]]:
    out = {}
    for k, v in float_rec.items():
        if k in int_rec and int_rec[k].shape == v.shape:
            out[k] = (int((int_rec[k].cpu().long() == v.cpu().long()).sum()), v.numel())
    return out


@torch.no_grad()
def batched_accuracy(model, x_float: torch.Tensor, y: torch.Tensor, batch_size: int = 32) -> float:
    """Float model accuracy over ``x_float`` in batches (a whole CIFAR split at once needs tens of GB)."""
    model.eval()
    dev = next(model.parameters()).device
    with torch.no_grad():
        hits = sum(int((model(x_float[lo:lo + batch_size].to(dev)).argmax(-1).cpu() == y[lo:lo + batch_size]).sum())
                   for lo in range(0, x_float.shape[0], batch_size))
    return hits / max(1, x_float.shape[0])


def batched_spike_agreement(model, executor, x_int: torch.Tensor, input_scale: float,
                            batch_size: int = 16) -> Dict[str, float]:
    """``spike_agreement`` over ``x_int`` in batches: only the compared layers are recorded."""
    total: Dict[str, list] = {}
    for lo in range(0, x_int.shape[0], batch_size):
        xb = x_int[lo:lo + batch_size]
        fr = float_spikes(model, xb.float() * input_scale)
        ir = executor.run(encode_int(model.cfg, xb), record=set(fr)).record
        for k, (e, n) in _agreement_counts(fr, ir).items():
            acc = total.setdefault(k, [0, 0])
            acc[0] += e
            acc[1] += n
    return {k: e / n for k, (e, n) in total.items()}

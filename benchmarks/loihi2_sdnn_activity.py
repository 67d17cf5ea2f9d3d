"""PilotNet SDNN's activity per layer from lava-dl netx's own Lava model (for the Loihi 2 time and power model).

Run:  .venv/bin/python benchmarks/loihi2_sdnn_activity.py [--steps 12]     (about 2 minutes on 2 cores)

``netx.hdf5.Network(net_config=data/pilotnet_sdnn/network.net)`` runs in Lava (``Loihi2SimCfg``, fixed point);
``image.npy`` (data/pilotnet_lif, one 200x66x3 frame) drives the input layer's Delta neuron through its
``a_in`` every step; every block's output is recorded with a ``RingBuffer`` sink. Layer ``i`` sees the frame
first at step ``i`` (one step per block); the frame's wave, one inference, is layer ``i``'s graded messages at
step ``i`` (earlier steps carry the bias-only start-up, later ones nothing: the frame is constant). Its
synaptic events into layer ``i + 1`` are the nonzero messages times their structural fan-out (the layer applied
with unit weights). The input layer's wave is the frame the host sends (Intel: ``skip_layers=1``, delta
encoder with ``DELTA_SPARSE_8``): its compressed bytes are the host input. A whole new frame is an upper bound
of a video's frame-to-frame delta. Writes ``hardware/pilotnet_sdnn_activity.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ds2ta.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "hardware" / "pilotnet_sdnn_activity.json"


def lava_outputs(net_file: Path, image: np.ndarray, steps: int) -> list[np.ndarray]:
    """Every block's output (``(..., steps)``) of netx's Lava model driven by ``image`` on every step."""
    from lava.lib.dl import netx
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    net = netx.hdf5.Network(net_config=str(net_file))
    src = io.source.RingBuffer(data=np.repeat(image[..., None], steps, axis=-1))
    src.s_out.connect(net.in_layer.neuron.a_in)  # the Input block takes no inp: drive the Delta's a_in
    sinks = []
    for layer in net.layers:
        sinks.append(io.sink.RingBuffer(shape=layer.out.shape, buffer=steps))
        layer.out.connect(sinks[-1].a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        return [s.data.get() for s in sinks]
    finally:
        net.stop()


def synops_into(d: dict, src_nonzero: np.ndarray) -> int:
    """Synaptic events into netx layer ``d`` from its source's nonzero messages (W, H, C) or (N,)."""
    from ds2ta.hardware import chip

    w = np.ones_like(d["weight"], dtype=np.int64)
    if d["type"] == "conv":
        x = src_nonzero.astype(np.int64).transpose(2, 1, 0)[None]  # (W, H, C) -> (1, C, H, W)
        return int(chip.conv2d(x, w, d["stride"], d["padding"], 1, 1, name="sdnn").sum())
    return int(np.count_nonzero(src_nonzero)) * int(d["shape"][-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="Lava steps (>= the 10 blocks)")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    from ds2ta.hardware.loihi2_model import delta_sparse_8_bytes
    from ds2ta.hardware.netx import read_net
    from ds2ta.hardware.pilotnet_alloc import sdnn_data_dir

    net_file = sdnn_data_dir() / "network.net"
    image = np.load(ROOT / "data" / "pilotnet_lif" / "image.npy").astype(np.int32)
    t0 = time.perf_counter()
    outs = lava_outputs(net_file, image, args.steps)
    layers = [d for d in read_net(net_file) if d["type"] != "flatten"]
    waves = [o[..., i] for i, o in enumerate(outs)]  # layer i's messages at step i: the frame's wave
    rec = {}
    for i, d in enumerate(layers):
        name = f"{d['type']}{d['index']}"
        src = waves[i - 1] if i else None
        if src is not None and d["type"] == "dense" and src.ndim == 3:
            src = src.transpose(2, 1, 0).reshape(-1)  # netx flatten: (W, H, C) -> (C, H, W) -> flat
        rec[name] = {"messages_out": int(np.count_nonzero(waves[i])),
                     "synops_in": synops_into(d, (waves[i - 1] if d["type"] == "conv" else src) != 0) if i else 0,
                     "messages_per_step": [int(np.count_nonzero(outs[i][..., t])) for t in range(args.steps)]}
    out = {"network": "PilotNet SDNN (lava-dl netx network.net, Lava Loihi2SimCfg fixed_pt)",
           "input": "data/pilotnet_lif/image.npy held on the input Delta's a_in", "steps": args.steps,
           "host_bytes": delta_sparse_8_bytes(waves[0]), "host_values": int(np.count_nonzero(waves[0])),
           "layers": {k: v for k, v in rec.items() if not k.startswith("input")},
           "input_layer": rec[f"input{layers[0]['index']}"], "wall_s": round(time.perf_counter() - t0, 1),
           "recorded_by": "benchmarks/loihi2_sdnn_activity.py"}
    atomic_write_text(args.out, json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "layers"}, indent=1))
    for k, v in out["layers"].items():
        print(k, v["messages_out"], v["synops_in"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""lava-dl netx sigma-delta networks (SDNN) through ``ds2ta-export``: PilotNet-SDNN converted exactly, every layer
equal to lava-dl netx's own Lava processes step by step, ``ds2ta-sim --compare`` and ``ds2ta-report`` on it, and
a hand-built SDNN with a hand-worked sequence.

netx's sigma-delta processes never reset (netx ignores ``reset_interval`` for SDNN, with a warning), so before
its first input a layer already runs on its bias alone. The project resets every population at its window
start; the oracle here is netx's own network with each layer's state (sigma, act, residue) set to 0 through its
Vars at the step its first input arrives (layer i at Lava step i), the reset netx's ``reset_interval`` gives the
LIF comparison (tests/export/test_bring_your_own_netx.py).

Data: ``data/pilotnet_sdnn`` in the checkout (lava-dl's network.net) or ``$DS2TA_PILOTNET_SDNN_DIR``; the frame
is ``image.npy`` of PilotNet-LIF (``hardware.pilotnet.data_dir``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from ds2ta.cli.export import main as export_main
from ds2ta.export.nir_graded import DS2TASigmaDelta
from ds2ta.export.netx_import import netx_to_nir
from ds2ta.hardware import pilotnet as P
from ds2ta.hardware.netx import read_net

from test_bring_your_own_netx import _net_file

SDNN_ENV = "DS2TA_PILOTNET_SDNN_DIR"
SDNN_DIR = Path(os.environ.get(SDNN_ENV) or Path(__file__).resolve().parents[2] / "data" / "pilotnet_sdnn")
needs_data = pytest.mark.skipif(not ((SDNN_DIR / "network.net").is_file() and P.available()),
                                reason=f"PilotNet-SDNN data not found: set {SDNN_ENV} to a folder with lava-dl's "
                                       f"pilotnet_sdnn network.net, and data/pilotnet_lif (or ${P.ENV_VAR}) for image.npy")
NAMES = ["input0", "conv1", "conv2", "conv3", "conv4", "conv5", "dense7", "dense8", "dense9", "dense10"]
T = 6  # one burst per layer from the constant frame, then residues: every layer has responded by step 0


def _frame() -> np.ndarray:
    """``image.npy`` (W, H, C) as the graph's (C, H, W) integer input."""
    return np.load(P.data_dir() / "image.npy").transpose(2, 1, 0).astype(np.int64)


def netx_sdnn_run(path, frames: np.ndarray) -> list:
    """lava-dl netx's own Lava run of an SDNN ``.net``: ``frames`` ``(steps, *shape (W, H, C))`` into the input
    Delta's ``a_in`` (one per step), layer i's state set to 0 before its step i (see the module docstring);
    every layer's output recorded, ``(*shape, steps)`` each."""
    netx = pytest.importorskip("lava.lib.dl.netx")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    net = netx.hdf5.Network(net_config=str(path))
    steps = frames.shape[0]
    src = io.source.RingBuffer(data=np.moveaxis(frames, 0, -1).astype(np.int32))
    src.s_out.connect(net.in_layer.neuron.a_in)
    sinks = [io.sink.RingBuffer(shape=layer.out.shape, buffer=steps) for layer in net.layers]
    for layer, sink in zip(net.layers, sinks):
        layer.out.connect(sink.a_in)
    cfg, last = Loihi2SimCfg(select_tag="fixed_pt"), len(net.layers) - 1
    try:
        for i, layer in enumerate(net.layers):
            for var in (getattr(layer.neuron, v, None) for v in ("sigma", "act", "residue")):
                if i and var is not None:
                    var.set(np.zeros(var.shape, dtype=np.int32))
            net.run(condition=RunSteps(num_steps=1 if i < last else steps - last), run_cfg=cfg)
        return [s.data.get() for s in sinks]
    finally:
        net.stop()


def windows(theirs: list, T: int) -> list:
    """netx layer i's outputs at Lava steps i .. i + T - 1 (its window), as ``(T, C, H, W)`` or ``(T, n)``."""
    out = []
    for i, o in enumerate(theirs):
        win = np.moveaxis(o[..., i:i + T], -1, 0)
        out.append(win.transpose(0, 3, 2, 1) if win.ndim == 4 else win)
    return out


@needs_data
def test_conversion_keeps_the_files_integers():
    import h5py

    g, notes = netx_to_nir(read_net(SDNN_DIR / "network.net"))
    modes = {n: g.nodes[n].mode for n in NAMES}
    assert modes == {**dict.fromkeys(NAMES, "sigma_delta"), "input0": "delta", "dense10": "sigma"}
    assert all(isinstance(g.nodes[n], DS2TASigmaDelta) for n in NAMES) and "SDNN" in notes[-1]
    with h5py.File(SDNN_DIR / "network.net", "r") as f:
        c2 = g.nodes["conv2"]
        np.testing.assert_array_equal(c2.bias[:, 0, 0], f["layer/2/bias"][()].astype(int))
        assert np.all(c2.vth == f["layer/2/neuron/vThMant"][()]) and c2.relu and (c2.spike_exp, c2.state_exp) == (6, 6)
        np.testing.assert_array_equal(g.nodes["conv2.syn"].weight, f["layer/2/weight"][()].astype(int))
        syn = g.nodes["dense7.syn"]
        np.testing.assert_array_equal(syn.weight >> -syn.metadata["weight_exp"], f["layer/7/weight"][()].astype(int))
    assert g.nodes["dense7"].metadata["num_message_bits"] == 16


@needs_data
@pytest.mark.lava
@pytest.mark.slow
def test_every_layer_matches_netx_own_lava_run():
    """All ten layers, T steps each, value for value: the converted graph in the project's Lava backend and the
    integer reference against netx's own processes (Delta, SigmaDelta, Sigma, its Conv and Dense)."""
    import torch

    from ds2ta.sims.lava import LavaNetwork
    from ds2ta.sims.reference.executor import ReferenceExecutor

    g, _ = netx_to_nir(read_net(SDNN_DIR / "network.net"))
    x = _frame()[None, None].repeat(T, 1)                                    # (S=1, T, C, H, W)
    theirs = windows(netx_sdnn_run(SDNN_DIR / "network.net",
                                   np.repeat(_frame().transpose(2, 1, 0)[None], T + len(NAMES) - 1, 0)), T)
    mine = LavaNetwork(g, T).run(x).records
    ref = ReferenceExecutor(g).run(torch.from_numpy(x[0][:, None]), record=set(NAMES)).record
    compared = 0
    for name, win in zip(NAMES, theirs):
        np.testing.assert_array_equal(mine[name][0].reshape(win.shape), win, err_msg=f"Lava: layer {name}")
        np.testing.assert_array_equal(ref[name][:, 0].numpy().reshape(win.shape), win, err_msg=f"reference: {name}")
        assert np.count_nonzero(win[0]), name                               # every layer responds
        compared += win.size
        if name != "dense10":  # netx's 16-bit messages: the 24-bit synapses reading them are exact
            assert np.abs(win).max() < 2 ** 15, name
    assert compared == T * sum(int(np.prod(g.nodes[n].shape)) for n in NAMES)


@needs_data
@pytest.mark.lava
@pytest.mark.slow
def test_export_sim_compare_and_report(tmp_path, capsys):
    """``ds2ta-export network.net --T 6 && ds2ta-sim --compare && ds2ta-report``: Lava == reference, the
    sigma-delta layers' messages counted and priced as graded spikes."""
    from ds2ta.cli.report import main as report_main
    from ds2ta.cli.sim import main as sim_main

    out = tmp_path / "run" / "X"
    assert export_main([str(SDNN_DIR / "network.net"), "--T", str(T), "--target", "loihi2", "--out", str(out)]) == 0
    frames = tmp_path / "frame"
    frames.mkdir()
    np.save(frames / "x_int.npy", _frame()[None])
    sim = tmp_path / "run" / "sim"
    assert sim_main([str(out / "model.nir"), "--compare", "--dataset", str(frames), "--out", str(sim),
                     "--no-progress"]) == 0
    res = json.loads((sim / "simulation.json").read_text())
    assert res["match"] is True
    lava, ref = res["backends"]["lava"]["layers"], res["backends"]["reference"]["layers"]
    assert lava["conv1"]["spikes"] == ref["conv1"]["spikes"] > 0               # messages: nonzero outputs
    assert lava["conv2.syn"]["graded_synops"] > 0 and lava["conv2.syn"]["synops"] == 0
    mapping = json.loads((out / "mapping.json").read_text())
    meta = {ls["name"]: ls.get("meta") or {} for ls in mapping["layer_specs"]}
    assert meta["conv1"]["sigma_delta"] == "sigma_delta" and meta["conv1"]["message_bits"] == 16
    (tmp_path / "run" / "mapping.json").write_text((out / "mapping.json").read_text())
    assert report_main([str(tmp_path / "run"), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["match"]["match"] is True
    terms = {t["name"] for t in rep["energy"]["loihi"]["sanafe"]["terms"]}
    assert "sigma-delta neurons: graded messages out" in terms


# a hand-built SDNN: input (1 neuron, vth 1) -> dense 0.5 (bias 1, vth 2) -> dense 1.0 (sigma_output)
SDNN = {"type": b"SDNN", "vThMant": 1, "activation": b"relu"}
X = np.array([1, 1, 3, 3, 0, 2])
WANT = {"input0": [64, 0, 128, 0, -192, 128],          # (x_t - x_t-1) << 6 where |.| >= 1 << 6
        "dense1": [0, 0, 160, 0, 0, 0],                 # a = 32 s: act = relu(sigma + 4096); 6144, 6144 < 8192
        "dense2": [0, 0, 10240, 10240, 10240, 10240]}   # sigma of 64 x 160


def _small_net(path):
    return _net_file(path, [
        {"type": "input", "shape": [1], "neuron": SDNN},
        {"type": "dense", "shape": [1], "weight": np.array([[32.0]]), "bias": np.array([1.0]),
         "neuron": dict(SDNN, vThMant=2)},
        {"type": "dense", "shape": [1], "weight": np.array([[64.0]]), "neuron": dict(SDNN, sigma_output=True)}])


def test_hand_built_sdnn_hand_worked(tmp_path):
    """Hand-worked: the input Delta's message, a SigmaDelta's threshold and residue (its bias below
    threshold twice, then the input's step over it), the Sigma's running sum (docstrings' arithmetic)."""
    import torch

    from ds2ta.sims.reference.executor import ReferenceExecutor

    g, _ = netx_to_nir(read_net(_small_net(tmp_path / "s.net")))
    assert g.nodes["dense1.syn"].metadata["weight_exp"] == -2
    rec = ReferenceExecutor(g).run(torch.from_numpy(X.reshape(-1, 1, 1, 1, 1)), record=True).record
    for name, want in WANT.items():
        np.testing.assert_array_equal(rec[name].reshape(-1).numpy(), want, err_msg=name)


@pytest.mark.lava
def test_hand_built_sdnn_matches_netx_own_lava_run(tmp_path):
    from ds2ta.sims.lava import LavaNetwork

    path = _small_net(tmp_path / "s.net")
    g, _ = netx_to_nir(read_net(path))
    frames = np.concatenate([X, np.zeros(2, X.dtype)]).reshape(-1, 1)  # netx input shape (1,)
    theirs = windows(netx_sdnn_run(path, frames), len(X))
    mine = LavaNetwork(g, len(X)).run(X.reshape(1, -1, 1, 1, 1)).records
    for (name, want), win in zip(WANT.items(), theirs):
        np.testing.assert_array_equal(win.reshape(-1), want, err_msg=f"netx: {name}")
        np.testing.assert_array_equal(mine[name][0].reshape(-1), want, err_msg=f"Lava: {name}")


def test_mixed_lif_and_sdnn_is_refused(tmp_path):
    lif = {"type": b"LOIHI", "vThMant": 25, "vDecay": 1024, "iDecay": 4096, "refDelay": 1}
    path = _net_file(tmp_path / "m.net", [{"type": "input", "shape": [1], "neuron": SDNN},
                                          {"type": "dense", "shape": [1], "weight": np.ones((1, 1)), "neuron": lif}])
    with pytest.raises(ValueError, match="netx layer 1 .dense. has LOIHI neurons.*mixes neuron types"):
        netx_to_nir(read_net(path))

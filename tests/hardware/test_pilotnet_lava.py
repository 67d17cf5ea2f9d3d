"""The numpy PilotNet simulation is bit-exact against lava-dl netx running in Lava (fixed_pt models)."""

import numpy as np
import pytest

from ds2ta.hardware import pilotnet as P

pytestmark = [pytest.mark.lava, pytest.mark.slow,
              pytest.mark.skipif(not P.available(), reason=f"PilotNet-LIF data not found: set {P.ENV_VAR}")]


def _lava_run(skip: int, upto: int, src: np.ndarray, steps: int) -> np.ndarray:
    netx = pytest.importorskip("lava.lib.dl.netx")
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc import io

    net = netx.hdf5.Network(net_config=str(P.data_dir() / "network.net"), skip_layers=skip, num_layers=upto)
    data = np.zeros(net.inp.shape + (steps,))
    data[..., :src.shape[0]] = np.moveaxis(src.reshape((src.shape[0],) + net.inp.shape), 0, -1)
    source = io.source.RingBuffer(data=data)
    sink = io.sink.RingBuffer(shape=net.out.shape, buffer=steps)
    source.s_out.connect(net.inp)
    net.out.connect(sink.a_in)
    try:
        net.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        out = sink.data.get()
    finally:
        net.stop()
    return np.moveaxis(out, -1, 0)                                   # (steps, ...)


def _delayed(x: np.ndarray, k: int, steps: int | None = None) -> np.ndarray:
    """Shift by k steps (zeros first) and zero-pad / cut to ``steps``."""
    steps = steps or x.shape[0] + k
    out = np.zeros((steps,) + x.shape[1:], bool)
    n = min(steps - k, x.shape[0])
    out[k:k + n] = x[:n]
    return out


@pytest.mark.parametrize("idx,src", [(4, "conv3"), (1, "input0")])
def test_single_conv_layer_matches_lava(idx, src):
    # Lava's Conv adds one step of delay: the numpy layer sees a zero step first.
    net = P.load_network()
    sim = P.simulate(net[: idx + 1], np.load(P.data_dir() / "image.npy"), 8)
    lava = _lava_run(idx, idx + 1, sim["spikes"][src], 9)
    mine, _ = P.run_layer(net[idx], _delayed(sim["spikes"][src], 1), 9)
    np.testing.assert_array_equal(lava.reshape(mine.shape), mine)


def test_conv_flatten_dense_chain_matches_lava():
    # conv5 -> flatten -> dense7 (two synaptic delays): checks netx's (W,H,C) -> (C,H,W) flatten order.
    net = P.load_network()
    sim = P.simulate(net[:8], np.load(P.data_dir() / "image.npy"), 12)
    lava = _lava_run(5, 8, sim["spikes"]["conv4"], 14)
    c5, _ = P.run_layer(net[5], _delayed(sim["spikes"]["conv4"], 1, 14), 14)
    flat = c5.transpose(0, 3, 2, 1).reshape(14, -1)
    mine, _ = P.run_layer(net[7], _delayed(flat, 1, 14), 14)
    assert mine.sum() > 0
    np.testing.assert_array_equal(lava.reshape(mine.shape), mine)

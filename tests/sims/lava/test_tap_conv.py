"""TASA's delayed replicas as one ``TapConv`` compute what separate lava-nc ``Conv`` processes compute.

The graph: two spike populations of different depths (one needs a path alignment) feed three replicas
``Delay(k) -> Conv2d_k`` (k = 0, 1, 2; one geometry, their own weights) into one LIF, as the exporter
writes TASA. Oracles: the same graph built with one lava-nc ``Conv`` process per replica and a delay line
per replica and source (``tap_groups`` switched off), and the integer reference; both schedules (in
sequential mode a sample's last steps must not leak into the next through a tap's delay, in pipelined
mode the next sample enters while the taps still hold the previous one's steps).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.lava

C, H, W = 2, 4, 4


def _lif(shape, vth=200, dv=2048):
    lava = {"du": np.full(shape, 4095), "dv": np.full(shape, dv), "vth": np.full(shape, vth),
            "bias_mant": np.zeros(shape, int), "bias_exp": np.zeros(shape, int)}
    f = lambda v: np.full(shape, float(v))
    return nir.CubaLIF(tau_syn=f(1), tau_mem=f(2), r=f(2), v_leak=f(0), v_threshold=f(vth), v_reset=f(0),
                       w_in=f(1), metadata={"lava": lava})


def _conv(rng, cin, cout, k=3):
    return nir.Conv2d((H, W), rng.integers(-40, 60, (cout, cin, k, k)) * 2, stride=1, padding=k // 2, dilation=1,
                      groups=1, bias=np.zeros(cout))


def tasa_graph(seed: int = 0) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {"input": nir.Input(np.array([C, H, W])), "ca": _conv(rng, C, C), "a": _lif((C, H, W)),
             "cb": _conv(rng, C, C), "b": _lif((C, H, W)), "cc": _conv(rng, C, C), "c": _lif((C, H, W)),
             "d": _lif((3, H, W), vth=600), "output": nir.Output(np.array([3, H, W]))}
    edges = [("input", "ca"), ("ca", "a"), ("input", "cb"), ("cb", "b"), ("b", "cc"), ("cc", "c"),
             ("d", "output")]
    for k in range(3):  # TASA: replica k reads k steps back, from both sources (NIR sums them)
        nodes[f"delay{k}"] = nir.Delay(np.full((C, H, W), float(k)))
        nodes[f"rep{k}"] = _conv(rng, C, 3)
        edges += [("a", f"delay{k}"), ("c", f"delay{k}"), (f"delay{k}", f"rep{k}"), (f"rep{k}", "d")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def _run(g, x, pipelined: bool, taps: bool, monkeypatch):
    from ds2ta.sims.lava import network

    with monkeypatch.context() as m:
        if not taps:
            m.setattr(network, "tap_groups", lambda schedule, spiking: {})
        net = network.LavaNetwork(g, x.shape[1], pipelined=pipelined)
        return net, net.run(x)


@pytest.mark.parametrize("pipelined", [False, True])
def test_tap_conv_equals_separate_convs_and_reference(pipelined, monkeypatch):
    from ds2ta.sims.reference import ReferenceExecutor

    g = tasa_graph()
    x = np.random.default_rng(1).integers(0, 2, (4, 6, C, H, W))  # 4 samples, T = 6
    net, tapped = _run(g, x, pipelined, True, monkeypatch)
    _, separate = _run(g, x, pipelined, False, monkeypatch)
    count = lambda run, cls: sum(v for k, v in run.process_classes.items() if k.endswith(f".{cls}"))
    assert (count(tapped, "TapConv"), count(tapped, "Conv"), count(separate, "Conv")) == (1, 3, 6)
    # delay lines: c (aligned) needs none with taps (was: 1 and 2 steps), a one of 1 step (was: 1, 2, 3)
    assert (count(tapped, "DelayBank"), count(separate, "DelayBank")) == (1, 2)
    assert net.schedule.populations["c"].depth - net.schedule.populations["a"].depth == 1  # a is aligned
    ref = ReferenceExecutor(g).run(torch.from_numpy(np.swapaxes(x, 0, 1)), record=True).record
    for name in ("a", "c", "d"):
        np.testing.assert_array_equal(tapped.records[name], separate.records[name], err_msg=name)
        np.testing.assert_array_equal(tapped.records[name].swapaxes(0, 1).reshape(6, 4, -1),
                                      ref[name].reshape(6, 4, -1).numpy(), err_msg=name)
    d = tapped.records["d"]
    for name in ("a", "c", "d"):  # every layer fires, none saturates (the comparison is not vacuous)
        assert 0.1 < tapped.records[name].mean() < 0.7, name
    assert d[:, -1].any()  # also at the last steps, whose taps reach back


def test_replicas_with_other_geometry_are_not_grouped():
    """A replica with another kernel size is a different geometry: no group, each its own Conv."""
    from ds2ta.sims.lava.builders import is_spiking
    from ds2ta.sims.lava.graph import Schedule
    from ds2ta.sims.lava.taps import tap_groups

    g = tasa_graph()
    assert len({id(v) for v in tap_groups(Schedule(g), is_spiking).values()}) == 1
    g.nodes["rep2"] = _conv(np.random.default_rng(5), C, 3, k=1)
    groups = {id(v): v for v in tap_groups(Schedule(g), is_spiking).values()}
    assert [sorted(n for n, _, _ in grp.taps) for grp in groups.values()] == [["rep0", "rep1"]]


class _Port:
    def __init__(self, queue=()):
        self.queue, self.sent = list(queue), []

    def recv(self):
        return np.array(self.queue.pop(0))

    def send(self, x):
        self.sent.append(np.array(x))


@pytest.mark.parametrize("scale", [1, 2 ** 16])
def test_tap_model_wraps_each_tap_like_a_conv(scale):
    """Graded input large enough that a tap's sum leaves 24 bits (scale 2^16): each tap wraps on its own, as
    separate Conv processes do, then the taps add; small input (scale 1) takes the stacked GEMM. Oracle:
    torch's float64 conv per tap (exact here), wrapped as Lava's Conv wraps, delayed and gated by hand."""
    from ds2ta.hardware import chip
    from ds2ta.sims.lava.procs.conv.models import PyTapConvModel

    rng = np.random.default_rng(3)
    w = rng.integers(-120, 120, (3, 4, 2, 3, 3))  # (K, O, C/g, kh, kw), 2 groups of 2 channels
    delays, period, depth, steps = [0, 1, 2], 5, 3, 12
    xs = [rng.integers(-3, 4, (4, 5, 5)) * scale for _ in range(steps)]
    m = PyTapConvModel(dict(weights=w, delays=delays, in_shape=(4, 5, 5), stride=(1, 1), padding=(1, 1),
                            dilation=(1, 1), groups=2, out_shape=(4, 5, 5), graded=True, period=period, depth=depth))
    m.s_in, m.a_out = _Port([x.reshape(-1).astype(np.int32) for x in xs]), _Port()
    for t in range(1, steps + 1):
        m.time_step = t
        m.run_spk()
    want = [np.zeros(100, np.int64)]
    for i in range(steps - 1):  # what was received at step i is sent at step i + 1
        y = np.zeros((4, 5, 5), np.int64)
        for k, d in enumerate(delays):
            j = (i - d - (depth - 1)) % period  # sample-local step of the delayed input
            if i - d < 0 or j > period - 1 - d:
                continue
            x = torch.from_numpy(xs[i - d][None]).double()
            conv = torch.nn.functional.conv2d(x, torch.from_numpy(w[k]).double(), padding=1, groups=2)
            y += chip.wrap24(conv[0].long().numpy())
        want.append(y.reshape(-1).astype(np.int32).astype(np.int64))
    got = np.stack(m.a_out.sent).astype(np.int64)
    np.testing.assert_array_equal(got, np.stack(want))
    assert np.abs(got).max() > (2 ** 23 if scale > 1 else 0)

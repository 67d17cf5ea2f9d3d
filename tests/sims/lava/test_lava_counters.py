"""Lava per-layer counters against hand-worked fan-outs (and the reference's counts of the same run).

Schedule: ``simulate_lava``'s default for two samples, pipelined (checked here, with the refusal of an
explicit schedule that a ready ``LavaNetwork`` does not run)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

pytestmark = pytest.mark.lava


def _lif(shape, vth, bias_mant=0):
    lava = {"du": np.full(shape, 4095), "dv": np.full(shape, 2048), "vth": np.full(shape, vth),
            "bias_mant": np.full(shape, bias_mant), "bias_exp": np.zeros(shape, int)}
    one = np.ones(shape)
    return nir.CubaLIF(tau_syn=one, tau_mem=one * 2, r=one * 2, v_leak=one * 0, v_threshold=one * vth,
                       v_reset=one * 0, w_in=one, metadata={"lava": lava})


REACH = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]])  # 3x3 kernel, padding 1, on a 3x3 map: outputs reached


def test_conv_delay_affine_fanouts_by_hand():
    """input (1,3,3) graded -> conv 3x3 pad 1 (2 ch) -> LIF -> Delay(2) -> conv 3x3 pad 1 (1 ch) -> LIF
    -> Flatten -> Affine (4 outputs) -> LIF."""
    from ds2ta.sims.lava.simulate import simulate_lava
    from ds2ta.sims.reference.simulate import simulate

    rng = np.random.default_rng(5)
    w1 = rng.integers(1, 40, (2, 1, 3, 3)) * 2
    w2 = rng.integers(1, 30, (1, 2, 3, 3)) * 2
    wa = rng.integers(-20, 60, (4, 9)) * 2
    g = nir.NIRGraph(nodes={
        "input": nir.Input(np.array([1, 3, 3])),
        "c1": nir.Conv2d((3, 3), w1, 1, 1, 1, 1, np.zeros(2)), "l1": _lif((2, 3, 3), 200),
        "d": nir.Delay(np.full((2, 3, 3), 2.0)),
        "c2": nir.Conv2d((3, 3), w2, 1, 1, 1, 1, np.zeros(1)), "l2": _lif((1, 3, 3), 60),
        "flat": nir.Flatten(start_dim=0, input_type={"input": np.array([1, 3, 3])}),
        "fc": nir.Affine(wa, np.zeros(4)), "l3": _lif((4,), 40), "output": nir.Output(np.array([4]))},
        edges=[("input", "c1"), ("c1", "l1"), ("l1", "d"), ("d", "c2"), ("c2", "l2"), ("l2", "flat"),
               ("flat", "fc"), ("fc", "l3"), ("l3", "output")], type_check=False)
    T, S = 6, 2
    x = np.zeros((T, S, 1, 3, 3), np.int64)
    x[:, :, 0, 1, 1] = 9   # the centre pixel every step: reaches 9 positions x 2 channels
    x[0, 0, 0, 0, 0] = 5   # a corner once: reaches 4 positions x 2 channels
    x[1, 1, 0, 0, 1] = 7   # an edge once: 6 positions x 2 channels
    sim, run = simulate_lava(g, x, [0, 1])
    L, rec = sim["layers"], run.records
    assert L["c1"]["graded_synops"] == (T * S * 9 + 4 + 6) * 2 and L["c1"]["synops"] == 0
    l1 = rec["l1"].reshape(S, T, 2, 3, 3).astype(int)
    assert l1.sum() > 0 and rec["l2"].sum() > 0 and rec["l3"].sum() > 0  # not vacuous
    # Delay(2): only the spikes of steps 0..T-3 reach c2 inside the sample window
    assert L["c2"]["synops"] == int((l1[:, :T - 2] * REACH).sum()) * 1
    assert L["fc"]["synops"] == int(rec["l2"].sum()) * 4
    assert L["l1"]["spikes"] == int(l1.sum()) and L["l1"]["neurons"] == 18
    assert L["l1"]["neuron_updates"] == 18 * T * S and L["l3"]["neuron_updates"] == 4 * T * S
    assert sim["per_sample"][1]["layers"]["l2"]["spikes"] == int(rec["l2"][1].sum())
    ref = simulate(g, torch.from_numpy(x), [0, 1])
    assert ref["layers"] == L
    # pipelined by default (two samples): a new sample every T steps, the drain (3 synapse layers) once
    assert sim["lava"]["pipelined"] and sim["steps_per_inference"] == run.period == T
    assert run.steps == S * T + sim["latency_steps"] and sim["latency_steps"] == 3
    from ds2ta.sims.lava import LavaNetwork
    with pytest.raises(ValueError, match="pipelined=True but the LavaNetwork was built with pipelined=False"):
        simulate_lava(LavaNetwork(g, T), x, [0, 1], pipelined=True)


def test_attention_ops_counted_in_the_core_equal_reference(tmp_path):
    """The attention core counts its own products; the numbers equal the reference kernel's."""
    from test_lava_match import _exported

    from ds2ta.export import read_graph
    from ds2ta.sims.lava.simulate import simulate_lava
    from ds2ta.sims.reference import ReferenceExecutor
    from ds2ta.sims.reference.simulate import simulate

    path, data = _exported("ds2ta", tmp_path)
    g = read_graph(path)
    x = np.broadcast_to(np.load(data / "x_int.npy")[:2][None], (4, 2, 1, 8, 8)).copy()
    lava, run = simulate_lava(g, x, [None, None], attention_lowering="core")
    ref = simulate(ReferenceExecutor(g, attention_lowering="core"), torch.from_numpy(x), [None, None])
    per = np.asarray(run.extra["blocks.0.attn.core"])
    assert per.shape == (2,) and per.min() > 0
    assert lava["layers"]["blocks.0.attn.core"]["attention_ops"] == int(per.sum()) == \
        ref["layers"]["blocks.0.attn.core"]["attention_ops"]
    assert lava["accuracy"] is None  # unlabelled samples

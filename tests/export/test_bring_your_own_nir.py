"""Third-party NIR files through ``ds2ta-export`` -> ``ds2ta-sim --compare`` -> ``ds2ta-report`` from the
command line (the CLI ``main`` functions), plus the conversions' named errors and warnings.

The graphs are written by the libraries themselves (tests/sims/thirdparty_graphs.py): a sinabs CNN,
a snntorch recurrent CubaLIF (RSynaptic), a norse LIF MLP, the NIR paper's CNN (sinabs; its
``SumPool2d -> Flatten -> Affine`` is one synapse layer) and a hand-written Conv1d network. ``ds2ta-sim --compare`` runs their 3
samples pipelined (its default for several samples).
"""

from __future__ import annotations

import json
import os
import sys
import warnings

import nir
import numpy as np
import pytest
import torch

from ds2ta.cli.export import main as export_main
from ds2ta.export.nir_source import ConventionWarning, NIRTypeCheckWarning, fold_pool_into_conv, read_source
from ds2ta.export.sources import source_kind
from ds2ta.sims.reference.float_nir import FloatExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims"))
from thirdparty_graphs import GRAPHS, conv1d_net, nir_paper_cnn, norse_lif_mlp  # noqa: E402

BUILDERS = {"sinabs_cnn": GRAPHS["sinabs_cnn"], "snntorch_recurrent_cuba": GRAPHS["snntorch_recurrent_cuba"],
            "norse_lif_mlp": norse_lif_mlp,
            "nir_paper_cnn": nir_paper_cnn,  # SumPool2d -> Flatten -> Affine: one synapse layer (issue 22)
            "conv1d_net": conv1d_net}
T = 10


def _write(tmp_path, name):
    """The library's graph written with ``nir.write``; sinabs 2 leaves Conv2d ``input_shape`` and
    Flatten ``input_type`` as None, which ``nir.write`` cannot store: fill them in, as a user must."""
    g, dt, shape = BUILDERS[name]()
    if name == "sinabs_cnn":
        g.nodes["0"].input_shape, g.nodes["3"].input_shape = np.array([8, 8]), np.array([4, 4])
        g.nodes["5"].input_type = {"input": np.array([4, 4, 4])}
    path = tmp_path / f"{name}.nir"
    nir.write(path, g)
    return path, g, dt, shape


def _data(tmp_path, shape, n=3, seed=1, labels=None):
    d = tmp_path / "data"
    d.mkdir(exist_ok=True)
    np.save(d / "x_int.npy", np.random.default_rng(seed).poisson(1.0, (n, T) + shape).astype(np.int64))
    if labels is not None:
        np.save(d / "labels.npy", np.asarray(labels))
    return d


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_export_sim_compare_report_from_the_command_line(name, tmp_path, capsys):
    from ds2ta.cli.report import main as report_main
    from ds2ta.cli.sim import main as sim_main

    path, g, dt, shape = _write(tmp_path, name)
    assert source_kind(path) == "nir"
    out = tmp_path / "X"
    assert export_main([str(path), "--target", "loihi2", "--dt", str(dt), "--T", str(T), "--out", str(out),
                        "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "conventions assumed" in printed and "poisson" in printed and "seed 3" in printed
    assert sorted(p.name for p in out.iterdir()) == ["mapping.json", "model.nir", "quantization.json"]
    q = json.loads((out / "quantization.json").read_text())
    assert q["inputs"]["kind"] == "poisson" and q["inputs"]["seed"] == 3 and q["source"]["dt"] == dt
    agree = q["agreement_float_vs_int"]
    assert 0.0 <= agree["prediction_agreement"] <= 1.0 and agree["nodes"]
    for node, a in agree["nodes"].items():
        assert a["spikes_float"] > 0 and a["spikes_int"] > 0, node  # both fire: the correlation means something
        assert a["spike_count_correlation"] > 0.8, (node, a)
    meta = nir.read(out / "model.nir", type_check=False).metadata
    conv = meta["conventions"]
    assert float(conv["source_dt"]) == dt and int(conv["T"]) == T and "zero" in str(conv["reset"])
    assert "flatten_order" in conv and "bias_timing" in conv and "initial_state" in conv

    data = _data(tmp_path, shape)
    sim = tmp_path / "run" / "sim"
    assert sim_main([str(out / "model.nir"), "--compare", "--dataset", str(data), "--out", str(sim),
                     "--no-progress"]) == 0
    res = json.loads((sim / "simulation.json").read_text())
    assert res["match"] is True and res["T"] == T
    spikes = {k: v["spikes"] for k, v in res["backends"]["lava"]["layers"].items() if v["spikes"]}
    assert spikes, "no layer fired: the match would be vacuous"
    (tmp_path / "run" / "mapping.json").write_text((out / "mapping.json").read_text())
    assert report_main([str(tmp_path / "run"), "--no-calibration"]) == 0
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["match"]["match"] is True
    assert rep["energy"]["loihi"]["sanafe"]["dynamic_J"] > 0
    mapping = json.loads((out / "mapping.json").read_text())  # one latency rule: mapping == both simulators
    assert mapping["latency_steps"] == res["backends"]["lava"]["latency_steps"] \
        == res["backends"]["reference"]["latency_steps"]


def test_float_executor_against_an_independent_numpy_lif():
    """norse's LIF graph in the float executor equals a numpy loop written from NIR's equation
    (``v += dt/tau (v_leak - v) + r dt/tau I``, spike at ``v >= v_th``, reset to 0)."""
    g, dt, shape = norse_lif_mlp()
    x = np.random.default_rng(0).poisson(1.0, (T, 5) + shape).astype(np.float64)
    rec = FloatExecutor(g, dt).run(torch.from_numpy(x))
    h = x
    for lin, neu in (("0", "1"), ("2", "3")):
        W, b = (np.asarray(getattr(g.nodes[lin], k), dtype=np.float64) for k in ("weight", "bias"))
        tau, r = (np.asarray(getattr(g.nodes[neu], k), dtype=np.float64) for k in ("tau", "r"))
        th = np.asarray(g.nodes[neu].v_threshold, dtype=np.float64)
        v, out = np.zeros((5, W.shape[0])), []
        for t in range(T):
            v = v + dt / tau * (0.0 - v) + r * dt / tau * (h[t] @ W.T + b)
            s = (v >= th).astype(np.float64)
            v = v * (1 - s)
            out.append(s)
        h = np.stack(out)
        np.testing.assert_array_equal(rec[neu].numpy(), h, err_msg=f"layer {neu}")
        assert 0 < h.sum() < h.size


def test_sumpool_conv_fold_is_exact():
    """The folded strided conv gives the same float spikes as SumPool2d followed by the conv."""
    g, dt, shape = GRAPHS["sinabs_cnn"]()
    g.nodes["0"].input_shape, g.nodes["3"].input_shape = np.array([8, 8]), np.array([4, 4])
    folded, notes = fold_pool_into_conv(g)
    assert "2" not in folded.nodes and notes and folded.nodes["3"].weight.shape[2:] == (6, 6)
    x = torch.from_numpy(np.random.default_rng(0).poisson(1.0, (T, 4) + shape).astype(np.float64))
    a, b = FloatExecutor(g, dt).run(x), FloatExecutor(folded, dt).run(x)
    for n in ("4", "7"):
        np.testing.assert_array_equal(a[n].numpy(), b[n].numpy())
        assert a[n].sum() > 0


def test_calib_data_folder_is_used_and_labels_give_accuracy(tmp_path, capsys):
    path, g, dt, shape = _write(tmp_path, "norse_lif_mlp")
    data = _data(tmp_path, shape, n=6, labels=[0, 1, 2, 0, 1, 2])
    out = tmp_path / "X"
    assert export_main([str(path), "--dt", str(dt), "--T", str(T), "--calib-data", str(data), "--out", str(out)]) == 0
    q = json.loads((out / "quantization.json").read_text())
    assert q["inputs"]["kind"] == "calib-data folder" and q["inputs"]["samples"] == 6
    assert {"accuracy_float", "accuracy_int"} <= set(q["agreement_float_vs_int"])


def test_named_errors_exit_2(tmp_path, capsys):
    path, g, dt, shape = _write(tmp_path, "norse_lif_mlp")
    assert export_main([str(path), "--T", str(T), "--out", str(tmp_path / "a")]) == 2
    assert "--dt" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert export_main([str(path), "--dt", str(dt), "--out", str(tmp_path / "b")]) == 2
    assert "--T" in capsys.readouterr().err
    junk = tmp_path / "model.bin"
    junk.write_bytes(b"not a model at all")
    assert export_main([str(junk), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "neither a torch checkpoint" in err and "NIR graph" in err and "netx" in err
    g.nodes["3"].v_reset = np.full(3, 0.25)
    nir.write(tmp_path / "reset.nir", g)
    assert export_main([str(tmp_path / "reset.nir"), "--dt", str(dt), "--T", str(T), "--out", str(tmp_path / "d")]) == 2
    assert "'3'" in capsys.readouterr().err


def test_convention_and_type_check_warnings_name_what(tmp_path):
    g, dt, shape = norse_lif_mlp()
    g.nodes["1"].v_leak = np.full(6, 0.1)
    g.nodes["input"] = nir.Input(np.array([1, 4]))  # a batch dimension, as norse writes with batched samples
    nir.write(tmp_path / "g.nir", g)
    with pytest.warns(NIRTypeCheckWarning, match="type check"):
        read_source(tmp_path / "g.nir")
    from ds2ta.export.nir_source import input_transforms
    with pytest.warns(ConventionWarning, match=r"\['1'\].*v_leak"):
        input_transforms(g)


def test_rockpool_style_gain_is_named_and_folded():
    """An LIF whose ``r`` is neither 1 nor ``tau`` (rockpool) is named; its gain ``r dt / tau`` is folded."""
    from ds2ta.export.graph_quant import quantize_graph
    from ds2ta.export.nir_source import input_transforms
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "lin": nir.Linear(weight=np.array([[1.0, 0.5]])),
                            "lif": nir.LIF(tau=np.array([0.02]), r=np.array([19.0]), v_leak=np.zeros(1),
                                           v_threshold=np.ones(1)), "output": nir.Output(np.array([1]))},
                     edges=[("input", "lin"), ("lin", "lif"), ("lif", "output")])
    assert any("['lif']" in n and "r * dt / tau" in n for n in input_transforms(g))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q, _ = quantize_graph(g, dt=1e-3)
    S = float(q.nodes["lif"].metadata["scale"][0])
    np.testing.assert_allclose(q.nodes["lin"].weight[0, 0], round(S * 19.0 * 1e-3 / 0.02 / 2) * 2, atol=2)

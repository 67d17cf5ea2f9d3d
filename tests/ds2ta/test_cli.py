"""CLI: ds2ta dispatcher, ds2ta-train, ds2ta demo (one short epoch each)."""

from __future__ import annotations

import json

import nir
import pytest
import torch

from ds2ta.checkpoint import load_checkpoint
from ds2ta.cli import demo, main, train
from ds2ta.config import make_config
from ds2ta.hardware import LOIHI2
from ds2ta.neuron import LIF


def test_dispatcher_help_and_errors(capsys):
    assert main.main(["--help"]) == 0
    assert "train" in capsys.readouterr().out
    assert main.main([]) == 2
    assert main.main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err


def test_unavailable_subcommand_is_clear(capsys, monkeypatch):
    monkeypatch.setitem(main.SUBCOMMANDS, "report", ("ds2ta.no_such_module", "x"))
    assert main.main(["report"]) == 2
    err = capsys.readouterr().err
    assert "command 'report' is not available" in err and "ds2ta.no_such_module" in err


def test_dispatcher_calls_the_module_main(monkeypatch):
    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        return 7

    monkeypatch.setattr(train, "main", fake_main)
    assert main.main(["train", "--epochs", "1"]) == 7
    assert seen["argv"] == ["--epochs", "1"]


def test_recipe_defaults_and_overrides():
    args = train.build_parser().parse_args(["--dataset", "cifar10", "--out", "x", "--lr", "0.01"])
    r = train.recipe_from_args(args)
    assert r.lr == 0.01 and r.batch_size == 128 and r.weight_decay == 0.06 and r.mixup == 0.5
    assert r.checkpoint_activations is False
    args = train.build_parser().parse_args(["--out", "x", "--checkpoint-activations"])
    assert train.recipe_from_args(args).checkpoint_activations is True


def test_every_dataset_has_a_recipe_and_a_preset():
    from ds2ta.config import PRESETS
    from ds2ta.data import DATASETS

    assert set(train.RECIPES) == set(DATASETS) == set(train.DEFAULT_PRESET)
    assert set(train.DEFAULT_PRESET.values()) <= set(PRESETS)
    assert train.DEFAULT_PRESET["digits-events128"] == "dvs"


@pytest.mark.parametrize("module, options, argv, required", [
    ("ds2ta.cli.train", "TrainOptions", ["--out", "o"], {"out": "o"}),
    ("ds2ta.cli.export", "ExportOptions", ["m.pt"], {"checkpoint": "m.pt"}),
    ("ds2ta.cli.sim", "SimOptions", ["m.nir"], {"model": "m.nir"}),
])
def test_each_commands_options_are_its_parsers(module, options, argv, required):
    """The typed options the demo passes are the command line's: the same names and defaults."""
    import dataclasses
    import importlib

    mod = importlib.import_module(module)
    parsed = vars(mod.build_parser().parse_args(argv))
    assert parsed == dataclasses.asdict(getattr(mod, options)(**required))


def test_sim_shard_command_line_parses_back_into_its_options():
    """``--workers`` shards are given the parent's options as a command line (``command_line``)."""
    from ds2ta.cli import sim

    opts = sim.SimOptions("m.nir", compare=True, dataset="d", samples=7, start=2, T=4, out="o", shard="1/3",
                          batch_size=8, device="cpu", pipelined=True, chunk=2, attention_lowering="core",
                          no_progress=True, progress_file="p", watch_parent=True)
    assert sim.SimOptions(**vars(sim.build_parser().parse_args(sim.command_line(opts)))) == opts
    assert sim.command_line(sim.SimOptions("m.nir")) == ["m.nir"]


@pytest.mark.parametrize("error, rc, line", [
    (ValueError("the checkpoint is bad"), 2, "ds2ta demo: stage 'export' failed: the checkpoint is bad"),
    (KeyboardInterrupt(), 130, "ds2ta demo: interrupted in stage 'export'"),
])
def test_demo_calls_the_commands_function_and_reports_its_error(tmp_path, capsys, monkeypatch, error, rc, line):
    """The export stage calls ``run_export`` (the function ``ds2ta-export`` calls) with typed options; its
    error is one line naming the stage, and demo.json keeps the stages that finished."""
    from ds2ta.cli import export

    seen = {}

    def fake(opts):
        seen["opts"] = opts
        raise error
    monkeypatch.setattr(export, "run_export", fake)
    assert demo.main(["--out", str(tmp_path), "--stages", "export", "--target", "loihi2", "--no-progress"]) == rc
    assert capsys.readouterr().err.strip().splitlines() == [line]
    opts = seen["opts"]
    assert isinstance(opts, export.ExportOptions) and opts.checkpoint == str(tmp_path / "train" / "model.pt")
    assert opts.out == str(tmp_path / "export") and opts.no_progress and opts.target == "loihi2"
    assert not (tmp_path / "demo.json").exists()


def test_missing_cifar_dir_is_an_error_not_a_traceback(tmp_path, capsys):
    rc = train.main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "cifar-10-batches-py lacks" in capsys.readouterr().err


def test_train_one_epoch_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main.main(["train", "--preset", "tiny", "--dataset", "digits", "--epochs", "1",
                    "--attention", "spikformer", "--T", "1", "--batch-size", "128", "--out", str(out),
                    "--no-progress", "--device", "cpu", "--attn-scale", "0.25", "--input-mean", "0.3",
                    "--input-std", "0.2"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["test_accuracy"] == metrics["test_accuracy"] and metrics["epochs"] == 1
    model, ckpt = load_checkpoint(out / "model.pt")
    assert model.cfg.attention == "spikformer" and model.cfg.img_size == 8 and model.cfg.T == 1
    assert model.cfg.attn_scale == 0.25  # --attn-scale overrides the default 1/8
    assert model.cfg.input_mean == (0.3,) and model.cfg.input_std == (0.2,)  # the model normalises itself
    assert ckpt["dataset"]["preset"] == "tiny" and ckpt["metrics"]["epochs"] == 1


def _digits_test_split():
    """The digits test split as docs/architecture.md states it, built here with scikit-learn alone:
    stratified 20 %, random_state 0; images 0..16, model input x / 16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    _, x, _, y = train_test_split(d.images, d.target, test_size=0.2, stratify=d.target, random_state=0)
    return torch.from_numpy(x).float().unsqueeze(1) / 16, torch.from_numpy(y)


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path, capsys):
    """Each stage's output against facts computed here, not read back from the stage."""
    rc = demo.main(["--out", str(tmp_path), "--epochs", "1", "--sim-samples", "10", "--no-progress"])
    assert rc == 0
    res = json.loads((tmp_path / "demo.json").read_text())
    assert set(res) == {"train", "export", "sim", "report"}
    assert "[train] tiny DS2TA on digits: test accuracy" in capsys.readouterr().out
    x_test, y_test = _digits_test_split()

    # train: the checkpoint's float accuracy on the test split, evaluated here in one batch (batching
    # may move a borderline float spike: one sample of 360 allowed)
    model, ckpt = load_checkpoint(res["train"]["checkpoint"])
    with torch.no_grad():
        acc = float((model.eval()(x_test).argmax(-1) == y_test).double().mean())
    metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert model.cfg.embed_dim == make_config("tiny").embed_dim and metrics["epochs"] == 1
    assert res["train"]["test_accuracy"] == metrics["test_accuracy"]
    assert abs(metrics["test_accuracy"] - acc) <= 1 / len(y_test) + 1e-12

    # export: the same float accuracy on the whole split; a readable NIR graph; a consistent mapping
    q = json.loads((tmp_path / "export" / "quantization.json").read_text())
    assert q["accuracy"]["samples"] == len(y_test) == 360
    assert abs(q["accuracy"]["float"] - acc) <= 1 / len(y_test) + 1e-12
    assert res["export"]["quantized_accuracy"] == q["accuracy"]["quantized"]
    g = nir.read(res["export"]["graph"], type_check=False)  # nir's own reader
    assert g.metadata["target"] == "loihi2" and int(g.metadata["conventions"]["T"]) == model.cfg.T
    lifs = sum(isinstance(n, nir.CubaLIF) for n in g.nodes.values())
    assert lifs >= sum(isinstance(m, LIF) for m in model.modules())  # every float LIF is a chip neuron
    mapping = json.loads((tmp_path / "export" / "mapping.json").read_text())
    assert mapping["total_cores"] == len(mapping["cores"]) == sum(v["n_cores"] for v in mapping["layers"].values())
    assert max(c["neurons"] for c in mapping["cores"]) <= LOIHI2.neurons_per_core.value

    # sim: the first 10 test samples with their true labels; accuracy and the match recomputed here
    sim = json.loads((tmp_path / "sim" / "simulation.json").read_text())
    assert sim["samples"] == 10 and sim["match"] is True
    lava, ref = sim["backends"]["lava"], sim["backends"]["reference"]
    rows = sorted(lava["per_sample"], key=lambda r: r["index"])
    assert [r["index"] for r in rows] == list(range(10))
    assert [r["label"] for r in rows] == y_test[:10].tolist()
    assert lava["accuracy"] == sum(r["prediction"] == r["label"] for r in rows) / 10 == res["sim"]["lava_accuracy"]
    assert [r["prediction"] for r in rows] == [r["prediction"] for r in sorted(ref["per_sample"],
                                                                               key=lambda r: r["index"])]
    # pipelined (ds2ta-sim's default for 10 samples): a new sample every T steps, as the chip runs
    assert lava["lava"]["pipelined"] is True and res["sim"]["pipelined"] is True
    assert lava["steps_per_inference"] == res["sim"]["steps_per_inference"] == lava["lava"]["period"] == lava["T"]
    assert lava["lava"]["steps"] == 10 * lava["T"] + lava["latency_steps"]

    # report: energy priced from Lava's counts by the paper formula, worked here; static energy from
    # the mapped cores; every input found
    energy = json.loads((tmp_path / "energy.json").read_text())
    per_inf = lambda key: sum(c.get(key, 0) for c in lava["layers"].values()) / lava["samples"]  # noqa: E731
    paper = per_inf("graded_synops") * 4.6e-12 + (per_inf("synops") + per_inf("attention_ops")) * 0.9e-12
    assert energy["paper"]["total_J"] == pytest.approx(paper, rel=1e-9) and paper > 0
    steps = lava["T"] + mapping["merge_latency_steps"]  # pipelined: the chip's throughput, an inference per T steps
    assert energy["latency"]["steps"] == steps
    assert energy["loihi"]["sanafe"]["static_J"]["model_step"] == pytest.approx(
        0.232078 / 74 * mapping["total_cores"] * steps * energy["latency"]["step_s_model"], rel=1e-9)
    report = json.loads((tmp_path / "report.json").read_text())
    assert res["report"]["missing"] == report["missing"] == []
    assert res["report"]["cores"] == mapping["total_cores"]  # demo.json said null when the export mapped
    assert report["mapping"]["total_cores"] == mapping["total_cores"]
    assert report["accuracy"]["lava"] == lava["accuracy"] and (tmp_path / "report.html").stat().st_size > 0
    assert report["schedule"]["pipelined"] is True
    latency = lava["T"] + lava["latency_steps"] + mapping["merge_latency_steps"]  # one sample, either schedule
    assert report["schedule"]["sample_latency_steps"] == latency

    assert demo.main(["--out", str(tmp_path), "--stages", "fly"]) == 2

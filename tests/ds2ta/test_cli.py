"""CLI: ds2ta dispatcher, ds2ta-train, ds2ta demo (one short epoch each)."""

from __future__ import annotations

import json

import pytest

from ds2ta.checkpoint import load_checkpoint
from ds2ta.cli import demo, main, train


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


def test_missing_cifar_dir_is_an_error_not_a_traceback(tmp_path, capsys):
    rc = train.main(["--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "cifar-10-batches-py lacks" in capsys.readouterr().err


def test_train_one_epoch_writes_checkpoint_and_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main.main(["train", "--preset", "tiny", "--dataset", "digits", "--epochs", "1",
                    "--attention", "spikformer", "--T", "1", "--batch-size", "128", "--out", str(out),
                    "--no-progress", "--device", "cpu"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-2])
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["test_accuracy"] == metrics["test_accuracy"] and metrics["epochs"] == 1
    model, ckpt = load_checkpoint(out / "model.pt")
    assert model.cfg.attention == "spikformer" and model.cfg.img_size == 8 and model.cfg.T == 1
    assert ckpt["dataset"]["preset"] == "tiny" and ckpt["metrics"]["epochs"] == 1


@pytest.mark.slow
def test_demo_runs_train_stage(tmp_path, capsys):
    rc = demo.main(["--out", str(tmp_path), "--epochs", "1", "--no-progress"])
    assert rc == 0
    res = json.loads((tmp_path / "demo.json").read_text())
    metrics = json.loads((tmp_path / "train" / "metrics.json").read_text())
    assert res["train"]["test_accuracy"] == metrics["test_accuracy"]
    assert "[train] tiny DS2TA on digits: test accuracy" in capsys.readouterr().out
    assert demo.main(["--out", str(tmp_path), "--stages", "fly"]) == 2

"""Issue 13, case 6 (training): no silent surprises from ``ds2ta-train``.

``--out`` holding another model is refused without ``--force``; ``--resume`` of a finished run trains
and writes nothing and says so; recipe options on resume are refused by name when they contradict the
run, and unset ones take the run's recipe (not the dataset's defaults); an interrupt before the first
saved epoch names no checkpoint.
"""

from __future__ import annotations

import json

import pytest

from ds2ta import training
from ds2ta.checkpoint import read_checkpoint
from ds2ta.cli.train import RECIPES, main

QUICK = ["--epochs", "1", "--T", "1", "--batch-size", "128", "--threads", "1", "--no-progress"]


def _train(out, *extra):
    return main(["--out", str(out), *QUICK, *extra])


def test_out_with_another_model_needs_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    before = (out / "model.pt").read_bytes()
    capsys.readouterr()
    assert _train(out, "--seed", "1") == 2  # another recipe (seed) into the same folder
    err = capsys.readouterr().err
    assert "already holds another model" in err and "'seed'" in err and "--force" in err
    assert (out / "model.pt").read_bytes() == before
    assert main(["--out", str(out), *QUICK, "--attention", "spikformer"]) == 2  # another model config
    assert "'attention'" in capsys.readouterr().err and (out / "model.pt").read_bytes() == before
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "model.pt").write_text("not a checkpoint")
    assert _train(tmp_path / "junk") == 2
    assert "not a readable ds2ta checkpoint" in capsys.readouterr().err
    assert _train(out) == 0  # the same command again may rewrite its own run
    assert _train(out, "--seed", "1", "--force") == 0
    assert read_checkpoint(out / "model.pt")["train_state"]["recipe"]["seed"] == 1


def test_resume_of_a_finished_run_writes_nothing_and_says_so(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    other = tmp_path / "elsewhere"
    assert main(["--resume", str(out / "model.pt"), "--out", str(other), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "already finished its 1 epochs" in printed and "nothing written" in printed
    assert str(other) not in printed and not other.exists()  # no path it never wrote
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_recipe_options_on_resume_are_refused_by_name(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--lr", "0.003") == 0
    capsys.readouterr()
    ck = str(out / "model.pt")
    assert main(["--resume", ck, "--out", str(out), "--lr", "0.01", "--epochs", "5"]) == 2
    err = capsys.readouterr().err
    assert "--lr 0.01 (the run has 0.003)" in err and "--epochs 5 (the run has 1)" in err
    assert main(["--resume", ck, "--out", str(out), "--dataset", "digits-events"]) == 2
    assert "--dataset digits-events (the run has digits)" in capsys.readouterr().err
    assert main(["--resume", ck, "--out", str(out), "--attention", "statten"]) == 2
    assert "--attention statten (the run has ds2ta)" in capsys.readouterr().err
    # the run's own values are no contradiction
    assert main(["--resume", ck, "--out", str(out), "--lr", "0.003", "--no-progress"]) == 0


def test_resume_continues_the_runs_recipe_not_the_dataset_defaults(tmp_path, capsys):
    from ds2ta.data import get_dataset
    from ds2ta.train_utils import TrainConfig

    train_ds, test_ds, info = get_dataset("digits")
    tcfg = TrainConfig(epochs=2, batch_size=128, lr=0.004, seed=3, progress=False)
    model = training.build_model("tiny", info, seed=3, T=1)
    out = tmp_path / "run"
    training.fit(model, train_ds, test_ds, {**info, "preset": "tiny"}, tcfg, out_dir=out, stop_after=1)
    assert RECIPES["digits"]["epochs"] != 2 and RECIPES["digits"]["lr"] != 0.004  # defaults differ
    assert main(["--resume", str(out / "model.pt"), "--out", str(out), "--threads", "1", "--no-progress"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs"] == 2 and m["finished"] and m["recipe"]["lr"] == 0.004 and m["recipe"]["seed"] == 3
    assert m["history"][1]["lr"] == pytest.approx(0.004 * tcfg.min_lr_ratio)  # the schedule ended at 2


def test_interrupt_before_the_first_epoch_names_no_checkpoint(tmp_path, capsys, monkeypatch):
    def stop(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(training, "_train_step", stop)
    out = tmp_path / "run"
    assert _train(out) == 130
    printed = capsys.readouterr().out
    assert "interrupted before the first epoch finished: nothing written" in printed
    assert "--resume" not in printed and not (out / "model.pt").exists()

"""``ds2ta-sim``: shards and workers give the unsharded result, merge refuses overlaps (the fault cases, merge
by content and named bad input, are in tests/faults/test_sim_bad_input.py); ``--workers`` shards run the
parent's Lava schedule (pipelined by default, even a one-sample shard; ``--sequential``), and both
schedule flags together are refused."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from ds2ta.config import make_config
from ds2ta.export.model_quant import quantize_model
from ds2ta.export.nir_io import write_graph
from ds2ta.model import DS2TA
from ds2ta.cli.sim import main
from ds2ta.sims.results import merge


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim")
    torch.manual_seed(0)
    model = DS2TA(make_config("tiny")).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.6, 0.1), m.running_var.uniform_(0.2, 0.5)
    x = np.random.default_rng(1).integers(0, 17, (7, 1, 8, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g, _, _ = quantize_model(model, 1 / 16, torch.from_numpy(x).float() / 16,
                                 meta={"conventions": {"dt": 1.0, "T": 4}})
    write_graph(tmp / "model.nir", g)
    np.save(tmp / "x_int.npy", x)
    np.save(tmp / "labels.npy", np.array([0, 1, 2, 3, 4, 5, 6]))
    return tmp


def _run(args):
    assert main(args) == 0
    return json.loads((__import__("pathlib").Path(args[args.index("--out") + 1]) / "simulation.json").read_text())


def test_shards_and_workers_equal_one_run(exported):
    base = [str(exported / "model.nir"), "--backend", "reference", "--dataset", str(exported), "--no-progress"]
    whole = _run(base + ["--out", str(exported / "whole")])
    shards = [_run(base + ["--shard", f"{i}/3", "--out", str(exported / f"s{i}")]) for i in range(3)]
    assert [s["shard"]["start"] for s in shards] == [0, 2, 4] and sum(s["samples"] for s in shards) == 7
    merged = merge(shards)
    assert merged["layers"] == whole["layers"] and merged["per_sample"] == whole["per_sample"]
    assert merged["accuracy"] == whole["accuracy"] and whole["samples"] == 7
    spikes = sum(r["layers"]["sps.1.lif"]["spikes"] for r in whole["per_sample"])
    assert whole["layers"]["sps.1.lif"]["spikes"] == spikes > 0
    workers = _run(base + ["--workers", "2", "--out", str(exported / "w")])
    assert workers["layers"] == whole["layers"] and workers["per_sample"] == whole["per_sample"]
    assert workers["workers"] == 2 and (exported / "w" / "shards" / "1" / "simulation.json").exists()


def test_merge_rejects_overlapping_or_foreign_shards(exported):
    base = [str(exported / "model.nir"), "--backend", "reference", "--dataset", str(exported), "--no-progress"]
    a = _run(base + ["--samples", "3", "--out", str(exported / "m1")])
    with pytest.raises(ValueError, match="overlap"):
        merge([a, a])
    b = dict(a, T=8)
    with pytest.raises(ValueError, match="'T'"):
        merge([a, b])


def test_both_schedules_refused_in_one_line(exported, capsys):
    args = [str(exported / "model.nir"), "--dataset", str(exported), "--pipelined", "--sequential",
            "--out", str(exported / "both")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("ds2ta-sim: error: --pipelined and --sequential both given: choose one Lava schedule "
                   "(default: pipelined for more than one sample)")
    assert main(args + ["--workers", "2"]) == 2 and "--pipelined and --sequential" in capsys.readouterr().err


@pytest.mark.lava
@pytest.mark.parametrize("flag", [None, "--sequential"], ids=["default", "sequential"])
def test_workers_run_the_parent_schedule(exported, flag):
    """``--workers 2`` over 3 samples: the shards hold 1 and 2 samples and both run the parent's schedule
    (pipelined by default: a one-sample shard on its own would be sequential, and merge refuses shards
    of different schedules); Lava's counts equal the reference's."""
    base = [str(exported / "model.nir"), "--dataset", str(exported), "--samples", "3", "--no-progress"]
    out = exported / f"lava-{flag}"
    res = _run(base + ["--workers", "2", "--out", str(out)] + ([flag] if flag else []))
    shards = [json.loads((out / "shards" / str(i) / "simulation.json").read_text()) for i in range(2)]
    assert sorted(s["samples"] for s in shards) == [1, 2] and res["workers"] == 2
    T, latency = res["T"], res["latency_steps"]
    pipelined = flag is None
    for s in shards:
        assert s["lava"]["pipelined"] is pipelined
        assert s["steps_per_inference"] == s["lava"]["period"] == (T if pipelined else T + latency)
    assert res["steps_per_inference"] == (T if pipelined else T + latency)
    ref = _run(base + ["--backend", "reference", "--out", str(exported / f"ref-{flag}")])
    assert res["layers"] == ref["layers"] and res["per_sample"] == ref["per_sample"]
    with pytest.raises(ValueError, match="steps_per_inference"):  # shards of two schedules never merge
        merge([shards[0], dict(shards[1], steps_per_inference=shards[1]["steps_per_inference"] + 1)])

"""``ds2ta-sim``: shards and workers give the unsharded result, merge checks its inputs, bad input is named."""

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
from ds2ta.sims.cli import main
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


def test_bad_input_named(exported, tmp_path, capsys):
    assert main([str(tmp_path / "nope.nir"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    args = [str(exported / "model.nir"), "--backend", "reference", "--dataset", str(exported)]
    assert main(args + ["--shard", "3/2", "--out", str(tmp_path / "o")]) == 2
    assert "0 <= I < N" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(exported / "model.nir"), "--dataset", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "x_int.npy" in capsys.readouterr().err
    assert not (tmp_path / "o" / "simulation.json").exists()  # nothing half-written


def test_merge_checks_graph_content_and_complete_shard_sets(exported, tmp_path, capsys):
    """Shards are identified by the graph's content, not its path; a missing shard is refused."""
    import shutil

    model = exported / "model.nir"
    base = ["--backend", "reference", "--dataset", str(exported), "--no-progress"]
    s0 = _run([str(model), *base, "--shard", "0/2", "--out", str(tmp_path / "s0")])
    copy = tmp_path / "copied" / "model.nir"  # the same graph under another path merges
    copy.parent.mkdir()
    shutil.copy(model, copy)
    s1 = _run([str(copy), *base, "--shard", "1/2", "--out", str(tmp_path / "s1")])
    assert s0["graph_sha256"] == s1["graph_sha256"] and s0["data_sha256"] != s1["data_sha256"]
    merged = merge([s0, s1])
    assert merged["samples"] == 7 and merged["shards_merged"] == [0, 1]
    # a different graph written to the same path as shard 0 was: refused, naming the content hashes
    other = dict(s1, graph=s0["graph"], graph_sha256="f" * 64)
    with pytest.raises(ValueError, match="different graphs"):
        merge([s0, other])
    # a lone shard 0/2: refused unless --allow-partial
    with pytest.raises(ValueError, match=r"shard\(s\) \[1\] of 2 are missing"):
        merge([s0])
    assert main(["merge", "--out", str(tmp_path / "m"), str(tmp_path / "s0" / "simulation.json")]) == 2
    assert "--allow-partial" in capsys.readouterr().err
    assert main(["merge", "--allow-partial", "--out", str(tmp_path / "m"),
                 str(tmp_path / "s0" / "simulation.json")]) == 0
    part = json.loads((tmp_path / "m" / "simulation.json").read_text())
    assert part["shards_merged"] == [0] and part["shard_count"] == 2 and part["samples"] == 3  # 7 = 3 + 4


def test_more_bad_input_named_before_any_work(exported, tmp_path, capsys):
    """Issue 13: each of these was a raw traceback or a silent surprise; now exit 2 with the fix."""
    model = str(exported / "model.nir")
    base = [model, "--backend", "reference", "--dataset", str(exported)]
    cases = [
        (base + ["--samples", "100000"], "has only 7 samples"),     # was clamped silently
        (base + ["--start", "-3"], "--start -3"),                    # was accepted
        (base + ["--batch-size", "0"], "--batch-size 0"),            # was "range() arg 3 must not be zero"
        (base + ["--device", "banana"], "not a torch device"),
        (base + ["--out", str(exported / "model.nir" / "sub")], "cannot write there"),  # --out under a file
    ]
    if not torch.cuda.is_available():
        cases.append((base + ["--device", "cuda"], "no CUDA device"))
    for args, msg in cases:
        if "--out" not in args:
            args = args + ["--out", str(tmp_path / "o")]
        assert main(args + ["--no-progress"]) == 2, args
        assert msg in capsys.readouterr().err, args
    for name, content in (("empty.nir", b""), ("random.nir", bytes(range(256)) * 8)):
        bad = tmp_path / name
        bad.write_bytes(content)
        assert main([str(bad), "--out", str(tmp_path / "o")]) == 2
        assert "not a readable NIR file" in capsys.readouterr().err
    truncated = tmp_path / "truncated.nir"
    truncated.write_bytes((exported / "model.nir").read_bytes()[:3000])
    assert main([str(truncated), "--out", str(tmp_path / "o")]) == 2
    assert "export it again" in capsys.readouterr().err
    labels = tmp_path / "data"
    labels.mkdir()
    np.save(labels / "x_int.npy", np.load(exported / "x_int.npy"))
    np.save(labels / "labels.npy", np.arange(3))
    assert main([model, "--backend", "reference", "--dataset", str(labels), "--out", str(tmp_path / "o")]) == 2
    assert "3 labels for 7 samples" in capsys.readouterr().err

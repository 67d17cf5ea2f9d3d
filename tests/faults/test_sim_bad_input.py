"""Issue 13, cases 3 and 5 (``ds2ta-sim``): merge identifies shards by content and refuses incomplete sets;
bad input (missing, empty, random or truncated graphs, out-of-range options, a file as --out, wrong labels)
is refused by name with exit 2 before any work, and nothing is written."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch

from fault_helpers import ROOT

sys.path.insert(0, str(ROOT / "tests" / "sims"))
from test_sim_cli import _run, exported  # noqa: E402,F401  (the tiny exported graph, module-scoped)

from ds2ta.sims.cli import main  # noqa: E402
from ds2ta.sims.results import merge  # noqa: E402


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

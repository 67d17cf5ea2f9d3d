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

from ds2ta.cli.sim import main  # noqa: E402
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


def test_export_folder_runs_and_failed_runs_leave_no_out_folder(exported, tmp_path, capsys):
    """Issue 22: ``ds2ta-sim DIR`` runs DIR/model.nir (the folder ds2ta-export wrote) and names a folder
    without one; a run that fails creates no ``--out`` folder (it used to leave an empty one)."""
    args = ["--backend", "reference", "--dataset", str(exported), "--samples", "2", "--no-progress"]
    by_folder = _run([str(exported), *args, "--out", str(tmp_path / "a")])
    by_file = _run([str(exported / "model.nir"), *args, "--out", str(tmp_path / "b")])
    assert by_folder["graph"] == str(exported / "model.nir")
    assert by_folder["layers"] == by_file["layers"] and by_folder["samples"] == 2
    capsys.readouterr()
    empty = tmp_path / "no_model"
    empty.mkdir()
    out = tmp_path / "deep" / "out"
    assert main([str(empty), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "folder without model.nir" in err[0] and str(empty) in err[0]
    assert main([str(tmp_path / "nope.nir"), *args, "--out", str(out)]) == 2
    assert main([str(exported / "model.nir"), "--dataset", str(empty), "--out", str(out)]) == 2
    assert not (tmp_path / "deep").exists()  # no folder left by the three failed runs
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([str(exported / "model.nir"), *args, "--out", str(blocker)]) == 2
    assert "is a file" in capsys.readouterr().err


def _float_nir(path):
    """A small float NIR graph: Input(4) -> Affine -> LIF -> Output."""
    import nir
    rng = np.random.default_rng(0)
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])),
                            "fc": nir.Affine(weight=rng.normal(0, 1, (3, 4)), bias=np.zeros(3)),
                            "lif": nir.LIF(tau=np.full(3, 2.0), r=np.full(3, 2.0), v_leak=np.zeros(3),
                                           v_threshold=np.ones(3)),
                            "output": nir.Output(np.array([3]))},
                     edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")])
    nir.write(path, g)
    return path


@pytest.mark.parametrize("flags,match", [(["--T", "0"], "--T 0: give the steps per sample"),
                                         (["--T", "-5"], "--T -5: give the steps per sample"),
                                         (["--dt", "-1"], "--dt -1.0: give the time step"),
                                         (["--dt", "0"], "--dt 0.0: give the time step")])
def test_export_of_a_nir_file_names_bad_T_and_dt(tmp_path, capsys, flags, match):
    """Issue 22: ``--T 0`` on a NIR file meant "no T", ``--T -5`` ended in numpy's "negative dimensions"."""
    from ds2ta.cli.export import main as export_main
    src = _float_nir(tmp_path / "g.nir")
    assert export_main([str(src), "--dt", "1", *flags, "--out", str(tmp_path / "X"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0], err
    assert not (tmp_path / "X").exists()


def test_export_of_a_netx_file_names_bad_T_dt_and_missing_datasets(tmp_path, capsys):
    """Issue 22: a netx ``--T 0`` silently became the file's tSample, ``--dt`` was ignored, and a layer
    without ``weight`` (or a neuron without ``vThMant``) ended in a KeyError traceback."""
    sys.path.insert(0, str(ROOT / "tests" / "export"))
    from test_bring_your_own_netx import NEURON, _net_file

    from ds2ta.cli.export import main as export_main
    ok = [{"type": "input", "shape": [4, 1, 1], "neuron": NEURON},
          {"type": "dense", "shape": [3, 1, 1], "weight": np.ones((3, 4)), "neuron": NEURON}]
    no_weight = [ok[0], {k: v for k, v in ok[1].items() if k != "weight"}]
    no_vth = [ok[0], dict(ok[1], neuron={k: v for k, v in NEURON.items() if k != "vThMant"})]
    cases = [(ok, ["--T", "0"], "--T 0: give the steps per sample"),
             (ok, ["--T", "4", "--dt", "-1"], "--dt -1.0: give the time step"),
             (ok, ["--T", "4", "--dt", "0.5"], "a lava-dl netx network is integer"),
             (no_weight, ["--T", "4"], "netx layer 1 (dense) has no 'weight' dataset"),
             (no_vth, ["--T", "4"], "without vThMant")]
    for i, (layers, flags, match) in enumerate(cases):
        path = _net_file(tmp_path / f"n{i}.net", layers)
        assert export_main([str(path), *flags, "--out", str(tmp_path / "X"), "--no-progress"]) == 2, match
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0] and "Traceback" not in err[0], (match, err)
        assert not (tmp_path / "X").exists()
    assert export_main([str(_net_file(tmp_path / "ok.net", ok)), "--T", "4", "--out", str(tmp_path / "X"),
                        "--no-progress"]) == 0


def test_export_names_a_cycle_through_no_neuron(tmp_path, capsys):
    """Issue 22: a cycle of memoryless nodes was refused at export as "'a' feeds no neuron" (the simulator
    named the cycle); every consumer now names it (``GraphView.memoryless_cycle``)."""
    import nir
    from ds2ta.cli.export import main as export_main
    rng = np.random.default_rng(0)
    aff = lambda: nir.Affine(weight=rng.normal(0, 1, (4, 4)), bias=np.zeros(4))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([4])), "a": aff(), "b": aff(),
                            "lif": nir.LIF(tau=np.full(4, 2.0), r=np.full(4, 2.0), v_leak=np.zeros(4),
                                           v_threshold=np.ones(4), v_reset=np.zeros(4)),
                            "output": nir.Output(np.array([4]))},
                     edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "lif"), ("lif", "output")],
                     type_check=False)
    nir.write(tmp_path / "g.nir", g)
    assert export_main([str(tmp_path / "g.nir"), "--dt", "1", "--T", "4", "--out", str(tmp_path / "X"),
                        "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the cycle a -> b -> a runs through no neuron" in err[0], err
    assert not (tmp_path / "X").exists()

"""Issue 13, cases 4 and 5 (outputs): Ctrl-C during ``ds2ta-export``, full disks, a bad report input.

Each run is a real child process; the disk is "full" through RLIMIT_FSIZE (writes fail with EFBIG, the
way a full disk fails them with ENOSPC). Asserted: exit code, a message naming the problem and the fix,
no partial output and no temporary left, the previous outputs unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import psutil
import pytest

from fault_helpers import ROOT, SIM, run_limited, start, tiny_checkpoint, wait_for

EXPORT = [sys.executable, "-m", "ds2ta.cli.export"]
FAST = ["--max-eval", "8", "--calib-batches", "1", "--no-progress"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A checkpoint and a finished export of it (the 'previous outputs')."""
    from ds2ta.cli.export import main
    tmp = tmp_path_factory.mktemp("exp")
    ck = tiny_checkpoint(tmp / "run" / "model.pt")
    assert main([str(ck), "--out", str(tmp / "export"), *FAST]) == 0
    return ck, tmp / "export"


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _leftovers(folder):
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(".tmp-"))


def test_ctrl_c_during_export_says_one_line_and_keeps_the_previous_export(exported, tmp_path):
    ck, out = exported
    old = _snapshot(out)
    # three fine-tune epochs keep it working ~18 CPU-seconds on a 2-core machine (a plain export of the tiny
    # model is ~4 s since issue 20 made the integer reference fast, too close to the 4 s mark below)
    proc = start([*EXPORT, str(ck), "--out", str(out), "--no-progress", "--qat-epochs", "3"], tmp_path / "log.txt")
    # interrupt while it works (its CPU time grows), not while Python starts
    wait_for(lambda: psutil.Process(proc.pid).cpu_times().user > 4.0, 120, "the export's work", proc,
             tmp_path / "log.txt")
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    log = (tmp_path / "log.txt").read_text()
    assert log.strip().splitlines()[-1] == "ds2ta-export: interrupted; nothing written"
    assert "Traceback" not in log, log
    assert _snapshot(out) == old and _leftovers(out) == []


def test_full_disk_during_export_is_named_and_keeps_the_previous_export(exported):
    ck, out = exported
    old = _snapshot(out)
    r = run_limited([*EXPORT, str(ck), "--out", str(out), *FAST], 100_000)  # model.nir is ~1 MB
    assert r.returncode == 2, r.stderr[-2000:]  # h5py used to crash (SIGSEGV) writing to a full disk
    assert "cannot write" in r.stderr and "File too large" in r.stderr and "free space" in r.stderr
    assert f"cannot write {out / 'model.nir'}" in r.stderr  # the folder given, not the staging folder
    assert "Traceback" not in r.stderr
    assert _snapshot(out) == old and _leftovers(out) == []


def test_full_disk_during_sim_and_train_is_named(exported, tmp_path):
    ck, out = exported
    import numpy as np
    np.save(tmp_path / "x_int.npy", np.random.default_rng(0).integers(0, 17, (3, 1, 8, 8)))
    r = run_limited([*SIM, str(out / "model.nir"), "--backend", "reference", "--dataset", str(tmp_path),
                     "--out", str(tmp_path / "sim"), "--no-progress"], 2_000)
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert [p.name for p in (tmp_path / "sim").iterdir()] == []  # no simulation.json, no temporary
    r = run_limited([sys.executable, "-m", "ds2ta.cli.train", "--out", str(tmp_path / "train"), "--epochs", "1",
                     "--T", "1", "--batch-size", "128", "--threads", "1", "--no-progress"], 50_000)
    assert r.returncode == 2 and "cannot write" in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert [p.name for p in (tmp_path / "train").iterdir()] == []  # no model.pt, no temporary


def test_bad_output_folders_and_devices_are_named_before_any_work(exported, tmp_path, capsys):
    from ds2ta.cli.export import main
    ck, _ = exported
    (tmp_path / "file").write_text("x")
    for args, msg in (([str(ck), "--out", str(tmp_path / "file" / "sub")], "is a file, not a folder"),
                      ([str(ck), "--out", str(tmp_path / "a"), "--device", "banana"], "not a torch device")):
        assert main(args + FAST) == 2
        assert msg in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_report_input_that_is_not_an_object_is_named(tmp_path, capsys):
    from ds2ta.cli.report import main
    (tmp_path / "simulation.json").write_text(json.dumps([1, 2, 3]))
    assert main([str(tmp_path), "--no-calibration"]) == 2
    err = capsys.readouterr().err
    assert "simulation.json holds a JSON list" in err and "write it again" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["simulation.json"]  # no report written


def test_full_disk_while_writing_the_report_is_named_and_leaves_no_temporary(exported):
    """Issue 22, item 5: the report's files go through the one atomic writer (ds2ta.fileio) too, so a full
    disk is the named one-line error (exit 2) and no temporary stays beside the report."""
    ck, out = exported
    run = out.parent
    r = run_limited([sys.executable, "-m", "ds2ta.cli.report", str(run), "--no-calibration"], 2_000)
    assert r.returncode == 2 and "cannot write" in r.stderr and "free space" in r.stderr, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]

"""Folders written as one set (ds2ta/outfolder.py): swap, fallback, failure, stale staging folders."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ds2ta import outfolder
from ds2ta.outfolder import check_writable, remove_stale_stages, staged_folder, stale_stages


def _dead_pid() -> int:
    """The id of a process that has ended (an independent fact: we waited for it)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _files(d):
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


def _write_set(d, tag, names=("a.json", "b.json", "c.json")):
    for n in names:
        (d / n).write_text(tag)


@pytest.mark.parametrize("exchange", [True, False])
def test_new_set_replaces_the_old_one_whole(tmp_path, monkeypatch, exchange):
    if not exchange:  # systems without renameat2: the old folder is renamed aside first
        monkeypatch.setattr(outfolder, "_exchange", lambda a, b: False)
    out = tmp_path / "exp"
    out.mkdir()
    _write_set(out, "old")
    with staged_folder(out) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".tmp-exp-") and not list(stage.iterdir())
        _write_set(stage, "new", ("a.json", "b.json"))  # this run has no c.json
    assert _files(out) == {"a.json": "new", "b.json": "new"}  # the old c.json is not left beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]


def test_first_write_and_permissions(tmp_path):
    out = tmp_path / "deep" / "exp"
    with staged_folder(out) as stage:
        _write_set(stage, "x")
    assert _files(out) == {"a.json": "x", "b.json": "x", "c.json": "x"}
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # like any new folder, not mkdtemp's 0700


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_the_old_set_and_no_staging(tmp_path, exc):
    out = tmp_path / "exp"
    out.mkdir()
    _write_set(out, "old")
    with pytest.raises(exc):
        with staged_folder(out) as stage:
            (stage / "a.json").write_text("half")
            raise exc()
    assert _files(out) == {"a.json": "old", "b.json": "old", "c.json": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]


def test_symlinked_target_is_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    _write_set(real, "old")
    link = tmp_path / "link"
    link.symlink_to(real)
    with staged_folder(link) as stage:
        _write_set(stage, "new", ("a.json",))
    assert link.is_symlink() and _files(real) == {"a.json": "new"}


def test_stale_staging_of_dead_runs_are_removed_live_and_foreign_kept(tmp_path):
    out = tmp_path / "exp"
    dead, live = _dead_pid(), os.getppid()
    stale = [tmp_path / f".tmp-exp-{dead}-abcd", tmp_path / f".tmp-exp-{dead}-old-ef01"]
    for s in stale:
        s.mkdir()
        (s / "model.nir").write_text("half")
    running = tmp_path / f".tmp-exp-{live}-1234"   # another export still writing
    other = tmp_path / f".tmp-other-{dead}-5678"   # staging of a different target
    mine = tmp_path / ".tmp-exp-notapid"           # not a staging name: left alone
    for d in (running, other, mine):
        d.mkdir()
    assert stale_stages(out) == sorted(stale)
    with staged_folder(out) as stage:
        _write_set(stage, "new", ("a.json",))
    assert not any(s.exists() for s in stale)
    assert running.is_dir() and other.is_dir() and mine.is_dir()
    assert remove_stale_stages(out) == []


def test_check_writable_names_the_problem(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_writable(f / "sub" / "exp")
    check_writable(tmp_path / "new" / "deeper")  # creates nothing
    assert not (tmp_path / "new").exists()
    if os.geteuid() != 0:  # root may write anywhere: the permission case is only checkable as a user
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        with pytest.raises(ValueError, match="permission denied"):
            check_writable(ro / "exp")

"""Output folders written as one set: staged beside the target, then put in its place whole.

A command whose files belong together (``ds2ta-export``: ``model.nir``, ``quantization.json``,
``mapping.json``) writes them into a staging folder ``.tmp-<name>-<pid>-<random>`` beside the target
and then swaps that folder in. On Linux ``renameat2(RENAME_EXCHANGE)`` makes the swap one atomic step
(a reader sees the old set or the new set, never a mix); where it is missing the old folder is
renamed aside first, so a kill between the two renames leaves no target folder rather than a mixed
one. A run killed outright (SIGKILL, power loss) leaves only its staging folder: the next run into the
same target removes every staging folder whose process is gone, so a stale one never blocks it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator, List

from ds2ta.fileio import DISK_ERRORS, write_error

STAGE_PREFIX = ".tmp-"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h


def is_temporary(name: str) -> bool:
    """Whether a file name is one of this package's temporaries (staging folders, atomic-write files)."""
    return name.startswith(STAGE_PREFIX) or name.endswith(".tmp")


def check_writable(target: Path) -> None:
    """Raise ``ValueError`` (naming the folder and the fix) when ``target`` cannot be created or replaced.

    Creates nothing: the nearest existing folder above ``target`` must be a folder we may write in.
    """
    target = Path(target).absolute()
    parent = target.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"--out {target}: {parent} is a file, not a folder; give a folder path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"--out {target}: cannot write in {parent} (permission denied); pass a writable folder")


def _stage_owner(path: Path, target_name: str) -> int | None:
    """The process id recorded in a staging folder's name for ``target_name``, or None."""
    head = f"{STAGE_PREFIX}{target_name}-"
    if not path.name.startswith(head):
        return None
    pid = path.name[len(head):].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_stages(target: Path) -> List[Path]:
    """Staging folders beside ``target`` left by processes that no longer run."""
    target = Path(target).absolute()
    if not target.parent.is_dir():
        return []
    out = []
    for p in target.parent.iterdir():
        pid = _stage_owner(p, target.name)
        if pid is not None and not _alive(pid):
            out.append(p)
    return sorted(out)


def remove_stale_stages(target: Path) -> List[Path]:
    """Remove :func:`stale_stages` of ``target``; returns what was removed."""
    gone = stale_stages(target)
    for p in gone:
        _remove(p)
    return gone


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux renameat2); False where the system cannot."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


def _new_stage(target: Path, tag: str = "") -> Path:
    return target.parent / f"{STAGE_PREFIX}{target.name}-{os.getpid()}-{tag}{secrets.token_hex(4)}"


def replace_folder(stage: Path, target: Path) -> None:
    """Put the folder ``stage`` in the place of ``target`` (absent or a folder), removing the old one."""
    if not target.exists():
        os.rename(stage, target)
        return
    if _exchange(stage, target):
        _remove(stage)  # now holds the previous set
        return
    old = _new_stage(target, "old-")
    os.rename(target, old)
    os.rename(stage, target)
    _remove(old)


@contextlib.contextmanager
def staged_folder(target: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success it replaces ``target`` whole.

    On any exception (Ctrl-C included) the staging folder is removed and ``target`` is left as it was.
    Stale staging folders of ``target`` (from killed runs) are removed first. A symlinked ``target``
    is followed: the folder it points to is replaced.
    """
    target = Path(target).absolute()
    if target.is_symlink():
        target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_stages(target)
    stage = _new_stage(target)
    os.mkdir(stage)  # mode 0o777 less the umask, like any new folder
    try:
        yield stage
        replace_folder(stage, target)
    except BaseException as e:
        _remove(stage)
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:
            raise ValueError(write_error(target, e)) from None
        if isinstance(e, ValueError) and str(stage) in str(e):  # name the folder the user gave
            raise ValueError(str(e).replace(str(stage), str(target))) from None
        raise

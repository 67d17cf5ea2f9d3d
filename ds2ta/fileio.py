"""Atomic output files: the one writer every command and library layer uses (base layer: no torch, no
other project module, so hardware, core and everything above may import it; docs/architecture.md).

A file is written to a temporary file in its folder, flushed and fsynced, then renamed over the
destination (``os.replace``): an interrupted or failed write leaves the previous file as it was and no
temporary behind. A full disk, a quota, a read-only or unwritable folder is one ``ValueError`` naming the
file and the fix.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR)


def write_error(path, e: OSError) -> str:
    """The named error for an output that cannot be written (full disk, quota, read-only, permissions)."""
    return (f"cannot write {path}: {e.strerror or e} (errno {errno.errorcode.get(e.errno, e.errno)}); free space "
            "there or choose another output folder; the previous file, if any, is unchanged")


def atomic_write_bytes(path: str | os.PathLike, write_fn: Callable) -> Path:
    """Write a file atomically: ``write_fn(fileobj)`` fills a temp file that then replaces ``path``.

    Args:
        path: destination file; its parent folder is created when missing.
        write_fn: callable taking a binary file object.

    Returns:
        The destination path.

    Raises:
        ValueError: the disk or folder refuses the write (``DISK_ERRORS``), named by ``write_error``.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno in DISK_ERRORS:
            raise ValueError(write_error(path, e)) from None
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    data = text.encode("utf-8")
    return atomic_write_bytes(path, lambda f: f.write(data))


def json_default(obj):
    """numpy / torch scalars and arrays, paths -> plain Python (for JSON and weights-only loading)."""
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"cannot store {type(obj).__name__} as JSON: use numbers, strings, lists and dicts")


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2, sort_keys: bool = True) -> Path:
    """Write ``obj`` as indented JSON atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys, default=json_default) + "\n")

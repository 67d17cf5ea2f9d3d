"""Reading and writing NIR files: atomic writes, and reads that name unknown node types clearly."""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Union

import h5py
import nir

from ds2ta.export.nir_nodes import EXTENSION_NODES, register

PathLike = Union[str, os.PathLike]


def node_types(path: PathLike) -> dict:
    """``{node_name: type}`` of every node in a NIR file (nested graphs as ``"g.child"``), read with h5py."""
    out = {}

    def walk(group, prefix):
        for name, node in group["nodes"].items():
            t = node["type"][()]
            t = t.decode() if isinstance(t, bytes) else str(t)
            out[prefix + name] = t
            if t == "NIRGraph":
                walk(node, prefix + name + ".")

    with h5py.File(path, "r") as f:
        walk(f["node"], "")
    return out


def read_graph(path: PathLike, type_check: bool = False) -> nir.NIRGraph:
    """Read a NIR file, with a clear error for node types neither NIR nor ds2ta knows.

    Args:
        path: ``.nir`` file.
        type_check: passed to ``nir.read`` (off by default: extension nodes take 3 operands).

    Raises:
        ValueError: missing file, or a node type that is unknown (named, with the node).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"NIR file {path} does not exist")
    register()
    known = set(getattr(nir.ir, "__all_ir"))
    for name, t in node_types(path).items():
        if t not in known:
            raise ValueError(f"node {name!r} has type {t!r}, which neither NIR {nir.version} nor the ds2ta "
                             f"extensions ({sorted(EXTENSION_NODES)}) define: the file needs another "
                             "package's extension node types")
    return nir.read(path, type_check=type_check)


def write_graph(path: PathLike, graph: nir.NIRGraph) -> None:
    """``nir.write`` to a temporary file in the target folder, then ``os.replace`` (atomic)."""
    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".nir", dir=path.parent)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

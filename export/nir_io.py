"""Reading and writing NIR files: atomic writes, and reads that name unknown node types clearly."""

from __future__ import annotations

import io
import os
import pathlib
from typing import Dict, List, Tuple, Union

import h5py
import nir

from ds2ta.fileio import atomic_write_bytes
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
        ValueError: missing, truncated or non-NIR file, or a node type that is unknown (named, with the
            node).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"NIR file {path} does not exist")
    register()
    known = set(getattr(nir.ir, "__all_ir"))
    try:
        types = node_types(path)
    except (OSError, KeyError, ValueError) as e:  # h5py: truncated, empty or not HDF5; no "node" group
        raise ValueError(f"{path} is not a readable NIR file ({type(e).__name__}: {e}); it may be truncated "
                         "or from an interrupted write: export it again (ds2ta-export)") from None
    for name, t in types.items():
        if t not in known:
            raise ValueError(f"node {name!r} has type {t!r}, which neither NIR {nir.version} nor the ds2ta "
                             f"extensions ({sorted(EXTENSION_NODES)}) define: the file needs another "
                             "package's extension node types")
    try:
        return nir.read(path, type_check=type_check)
    except (OSError, KeyError) as e:
        raise ValueError(f"{path}: NIR could not read a node ({type(e).__name__}: {e}); the file is damaged "
                         "or incomplete: export it again (ds2ta-export)") from None


def write_graph(path: PathLike, graph: nir.NIRGraph) -> None:
    """``nir.write`` into memory, then the bytes to a temporary file that replaces ``path`` (atomic).

    HDF5 writing straight to a full disk crashes the process (segmentation fault in h5py); the bytes
    written from Python fail with a named error instead (``atomic_write_bytes``)."""
    buf = io.BytesIO()
    nir.write(buf, graph)
    atomic_write_bytes(path, lambda f: f.write(buf.getbuffer()))


def flatten_graph(graph: nir.NIRGraph, prefix: str = "") -> Tuple[Dict[str, object], List[Tuple[str, str]]]:
    """Inline nested ``NIRGraph`` nodes: returns ``(nodes, edges)`` with names ``"outer.inner"``.

    A subgraph's own ``Input``/``Output`` nodes stay as identity nodes: an outer edge into the subgraph
    goes to its ``Input`` node(s), an outer edge out of it leaves from its ``Output`` node(s), and an
    edge naming ``"sub.node"`` reaches that inner node directly. Both executors rely on this: a
    subgraph's ``Input``/``Output`` has edges on both sides, the graph's own has edges on one.

    Raises:
        ValueError: an edge names a node the graph does not have.
    """
    nodes, edges = {}, []
    sub_in, sub_out = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            n2, e2 = flatten_graph(node, full + ".")
            nodes.update(n2)
            edges.extend(e2)
            sub_in[full] = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            sub_out[full] = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        edges.extend((s, d) for s in sub_out.get(a, [a]) for d in sub_in.get(b, [b]))
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise ValueError(f"edge {a!r} -> {b!r} names {end!r}, which is not a node of the graph")
    return nodes, edges

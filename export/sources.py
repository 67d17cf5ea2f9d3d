"""What kind of model file ``ds2ta-export`` was given, read from the content (not only the suffix).

- ``"checkpoint"``: a torch zip archive (``torch.save``'s format since torch 1.6) — ``ds2ta-train``'s
  ``model.pt``.
- ``"nir"``: HDF5 with NIR's layout (a ``/node`` group, with ``nodes`` and ``edges`` inside).
- ``"netx"``: HDF5 with lava-dl netx's layout (a ``/layer`` group of numbered layers with a ``type``).

Anything else raises a ``ValueError`` naming the three kinds, so the CLI can exit 2 with it.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import h5py

from ds2ta.hardware.netx import is_netx_file

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KINDS = ("checkpoint", "nir", "netx")


def _hdf5_kind(path: Path) -> str | None:
    try:
        with h5py.File(path, "r") as f:
            if "node" in f:  # NIR's layout; an incomplete one gets read_graph's named error later
                return "nir"
            if is_netx_file(f):
                return "netx"
            top = sorted(f.keys())[:6]
    except OSError as e:
        raise ValueError(f"{path}: an HDF5 file h5py cannot read ({e}); the file is damaged or incomplete") from None
    raise ValueError(f"{path}: HDF5, but neither a NIR graph (no /node group) nor a "
                     f"lava-dl netx network (no /layer/0/type); its top-level groups are {top}")


def source_kind(path: str | os.PathLike) -> str:
    """``"checkpoint"``, ``"nir"`` or ``"netx"`` from the file's content.

    Raises:
        ValueError: no such file, or a file of none of the three kinds (the message names them).
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"{p}: no such file; give a ds2ta-train checkpoint (model.pt), a NIR graph (.nir) "
                         "or a lava-dl netx network (.net)")
    if p.is_dir():
        raise ValueError(f"{p} is a folder; give the model file itself (model.pt, graph.nir or network.net)")
    with open(p, "rb") as f:
        head = f.read(8)
    if head == HDF5_MAGIC:
        return _hdf5_kind(p)
    if zipfile.is_zipfile(p):
        return "checkpoint"
    raise ValueError(f"{p}: not a model file this command reads: neither a torch checkpoint (zip archive, "
                     "ds2ta-train's model.pt), a NIR graph (HDF5 written by nir.write) nor a lava-dl netx "
                     f"network (HDF5 .net); its first bytes are {head!r}")

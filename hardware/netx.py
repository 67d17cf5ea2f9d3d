"""Read a lava-dl netx network file (``.net``, HDF5) into plain layer dicts (numpy, h5py only).

The layout lava-dl's ``netx.hdf5.Network`` reads (lava-dl 0.6, ``lava/lib/dl/netx/hdf5.py``)::

    /layer/<i>/type         b"input" | b"conv" | b"flatten" | b"dense" | ...
    /layer/<i>/shape        (C, H, W) (netx reverses it to (W, H, C))
    /layer/<i>/neuron/      type (b"LOIHI" / b"CUBA" / b"SDNN"), vThMant, vDecay, iDecay, refDelay, ...;
                            SDNN: activation, sigma_output (the last layer sends sigma), messageBits
    /layer/<i>/weight       conv (C_out, C_in, kH, kW) torch layout; dense (out, in); input: a scalar
    /layer/<i>/bias         per channel (the neuron's ``bias_mant``, ``bias_exp = 6``); input: a scalar
    /layer/<i>/stride, padding, dilation (H, W), groups
    /simulation/tSample     steps per sample the network was trained with (optional)

netx turns ``iDecay`` into Lava's ``du = iDecay - 1`` and ``vDecay`` into ``dv``; ``vThMant`` is
``vth``. Values that netx reads but does not use (``refDelay``, ``wgtExp``, the input layer's
``weight``/``bias`` transform) are kept in the dict so a converter can name them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .chip import DU_OFFSET

# layer types lava-dl 0.6 netx builds; the others it names raise NotImplementedError there
NETX_TYPES = ("input", "conv", "flatten", "dense")
NETX_UNSUPPORTED = ("dense_rec", "dense_comp", "pool", "convT", "unpool", "average", "concat")
SPIKING_NEURONS = ("LOIHI", "CUBA")  # netx's LIF neurons (SDNN and RF neurons are not LIF)
SIGMA_DELTA_NEURONS = ("SDNN",)     # netx's sigma-delta neurons (lava-nc Delta / SigmaDelta / Sigma)


def _text(ds) -> str:
    v = ds[()]
    v = v.reshape(-1)[0] if isinstance(v, np.ndarray) else v
    return v.decode() if isinstance(v, bytes) else str(v)


def is_netx_file(f) -> bool:
    """True for an open ``h5py.File`` with netx's layout (a ``/layer`` group of numbered layers with types)."""
    grp = f.get("layer")
    return grp is not None and hasattr(grp, "keys") and "0" in grp and "type" in grp["0"]


def read_net(path: str | os.PathLike) -> list[dict]:
    """The layers of a netx ``.net`` file, in order.

    Returns:
        One dict per layer: ``index``, ``type``, ``shape`` (W, H, C), ``neuron`` (``vth``, ``dv``,
        ``du``, ``type``, ``refDelay``, ``wgtExp``, ``messageBits``, ``sigma_output``, ``activation`` when
        present) and the arrays present
        among ``weight``, ``bias``, ``stride``, ``padding``, ``dilation``, ``kernelSize``, ``groups``,
        ``delay``, ``weight_rec``. ``path`` and ``tSample`` (None when absent) are in every dict's
        ``file`` entry.

    Raises:
        ValueError: the file is not a netx network (names what is missing).
    """
    import h5py

    layers = []
    with h5py.File(path, "r") as f:
        if not is_netx_file(f):
            raise ValueError(f"{path}: not a lava-dl netx network (no /layer/0/type group); export it with "
                             "lava-dl's netx.hdf5 or slayer's block export_hdf5")
        grp = f["layer"]
        t_sample = int(np.asarray(f["simulation/tSample"][()])) if "simulation/tSample" in f else None
        for i in range(len(grp)):
            g = grp[str(i)] if str(i) in grp else None
            if g is None or "type" not in g or "shape" not in g:
                what = "is missing" if g is None else "has no 'type' or no 'shape' dataset"
                raise ValueError(f"{path}: netx layer {i} {what}: the file is incomplete; export the network again")
            shape = tuple(int(s) for s in np.atleast_1d(g["shape"][()])[::-1])  # (C, H, W) -> (W, H, C)
            d = {"index": i, "type": _text(g["type"]), "shape": shape, "file": {"path": str(path), "tSample": t_sample}}
            if "neuron" in g:
                n = g["neuron"]
                d["neuron"] = {"type": _text(n["type"]) if "type" in n else "LOIHI",
                               "vth": int(n["vThMant"][()]) if "vThMant" in n else None,
                               "dv": int(n["vDecay"][()]) if "vDecay" in n else None,
                               "du": int(n["iDecay"][()]) - DU_OFFSET if "iDecay" in n else None}
                for k in ("refDelay", "wgtExp", "messageBits"):
                    if k in n:
                        d["neuron"][k] = int(n[k][()])
                if "sigma_output" in n:  # netx builds a Sigma for an SDNN layer with this key, whatever its value
                    d["neuron"]["sigma_output"] = bool(n["sigma_output"][()])
                if "activation" in n:
                    d["neuron"]["activation"] = _text(n["activation"])
            for k in ("weight", "bias", "stride", "padding", "dilation", "kernelSize", "groups", "delay",
                      "weight_rec"):
                if k in g and isinstance(g[k], h5py.Dataset):
                    d[k] = np.asarray(g[k][()])
            if "weight" in g and not isinstance(g["weight"], h5py.Dataset):
                d["weight_complex"] = True  # weight/real + weight/imag (ComplexDense)
            layers.append(d)
    return layers


def read_net_file(path: str | os.PathLike) -> list[dict]:
    """``read_net`` with a ``ValueError`` naming a missing file instead of h5py's ``OSError``."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: no such netx network file")
    try:
        return read_net(path)
    except OSError as e:
        raise ValueError(f"{path}: not readable as HDF5 ({e})") from None

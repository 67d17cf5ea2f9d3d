"""Intel-like allocation of lava-dl's two PilotNet networks beside Intel's tables and the vendor limits.

``allocation_table("pilotnet_lif" | "pilotnet_sdnn")`` gives, per layer in the README's order, the cores
of the Intel-like rules (``intel_alloc``), Intel's compiler (``intel_tables``) and the project's default
mapping with vendor limits (``mapper.map_layers`` with ``LOIHI2``: the optimistic bound), with the
figures the compiler prints (neurons, synapse words, axon map per core).

Layer geometry and weights come from the netx files, read with ``hardware.netx.read_net``; a layer's
``weight_bits`` is ``intel_alloc.weight_mantissa_bits`` of its weights. Intel ran PilotNet SDNN with
``skip_layers=1`` (the host encodes frames), so its table and ours have no input layer.

Data: PilotNet-LIF as ``pilotnet.data_dir``; PilotNet SDNN's ``network.net`` (lava-dl, BSD-3-Clause) in
the ``data`` argument, else ``$DS2TA_PILOTNET_SDNN_DIR``, else ``SDNN_DATA`` (the checkout's
``data/pilotnet_sdnn``; not in an installed wheel). A missing file is a ``ValueError`` naming what to pass.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from . import pilotnet
from .core import LOIHI2, CoreSpec
from .intel_alloc import INTEL_LIKE, IntelLikeSpec, intel_like_allocation, weight_mantissa_bits
from .intel_tables import INTEL_LIF, INTEL_SDNN
from .layers import LayerSpec
from .mapper import map_layers
from .netx import read_net

SDNN_ENV_VAR = "DS2TA_PILOTNET_SDNN_DIR"
SDNN_DATA = str(Path(__file__).resolve().parents[1] / "data" / "pilotnet_sdnn")  # in the checkout
NETWORKS = {"pilotnet_lif": INTEL_LIF, "pilotnet_sdnn": INTEL_SDNN}


def sdnn_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder holding PilotNet SDNN's ``network.net``: ``path``, else ``$DS2TA_PILOTNET_SDNN_DIR``,
    else ``SDNN_DATA``.

    Raises:
        ValueError: the folder has no ``network.net``; the message names the argument and variable.
    """
    folder = Path(path if path is not None else os.environ.get(SDNN_ENV_VAR) or SDNN_DATA)
    if not (folder / "network.net").is_file():
        raise ValueError(f"PilotNet SDNN data not found in {str(folder)!r} (no network.net): pass data= or set "
                         f"{SDNN_ENV_VAR} to a folder with lava-dl's network.net "
                         "(tutorials/lava/lib/dl/netx/pilotnet_sdnn)")
    return folder


def sdnn_available(path: str | os.PathLike | None = None) -> bool:
    """True when ``sdnn_data_dir(path)`` finds the file."""
    try:
        sdnn_data_dir(path)
    except ValueError:
        return False
    return True


def network_specs(network: str, data: str | os.PathLike | None = None) -> list[LayerSpec]:
    """The network's ``LayerSpec``s (``pilotnet.layer_specs`` names) with each layer's weight mantissa bits;
    PilotNet SDNN without its input layer (Intel's ``skip_layers=1``)."""
    if network == "pilotnet_lif":
        layers = pilotnet.load_network(data)
    elif network == "pilotnet_sdnn":
        layers = read_net(sdnn_data_dir(data) / "network.net")
    else:
        raise ValueError(f"network {network!r}: choose one of {sorted(NETWORKS)}")
    bits = {f"{d['type']}{d['index']}": weight_mantissa_bits(d["weight"]) for d in layers
            if d["type"] in ("conv", "dense")}
    specs = [dataclasses.replace(ls, weight_bits=bits.get(ls.name, ls.weight_bits))
             for ls in pilotnet.layer_specs(layers)]
    if network == "pilotnet_sdnn":
        first = specs[1]
        specs = [dataclasses.replace(first, sources=())] + specs[2:]
    return specs


def allocation_table(network: str, data: str | os.PathLike | None = None, spec: IntelLikeSpec = INTEL_LIKE,
                     vendor: CoreSpec = LOIHI2) -> dict:
    """Per layer (README order): Intel-like cores and printed figures against Intel's, and the vendor-limit
    mapping's cores.

    Returns:
        ``{"network", "rows": [{"layer", "label", "weight_bits", "neurons", "per_core", "limited_by",
        "cores": {"ours", "intel", "vendor"}, "neurons_printed": {"ours", "intel"}, "words": {"ours",
        "intel"} (ours None for a conv: not reproduced), "words_bound" (conv: R2's upper bound), "axon_map":
        {"ours", "intel"}, "axon_in": {"ours", "intel"}, "steps"}], "total": {"ours", "intel", "vendor"},
        "spec": ...}``.
    """
    specs = network_specs(network, data)
    ours = {a.name: a for a in intel_like_allocation(specs, spec)}
    vend = map_layers(specs, spec=vendor).to_dict()["layers"]
    bits = {ls.name: ls.weight_bits for ls in specs}
    rows = []
    for r in NETWORKS[network]:
        a = ours[r.layer]
        rows.append({"layer": r.layer, "label": r.label, "weight_bits": bits[r.layer] if a.kind != "input" else None,
                     "neurons": a.neurons, "per_core": a.per_core, "limited_by": a.limited_by,
                     "cores": {"ours": a.cores, "intel": r.cores, "vendor": vend[r.layer]["n_cores"]},
                     "neurons_printed": {"ours": a.printed_neurons, "intel": r.neurons},
                     "words": {"ours": a.printed_words, "intel": r.synapses},
                     "words_bound": max(a.words) if a.kind == "conv" else None,
                     "axon_map": {"ours": a.axon_map, "intel": r.axon_map},
                     "axon_in": {"ours": a.axon_in, "intel": r.axon_in}, "steps": list(a.steps)})
    total = {k: sum(row["cores"][k] for row in rows) for k in ("ours", "intel", "vendor")}
    return {"network": network, "rows": rows, "total": total, "spec": spec.to_dict(), "vendor_spec": vendor.name}


def markdown(table: dict) -> str:
    """The table as docs/hardware.md shows it."""
    out = ["| layer | weight bits | neurons | cores: ours / Intel / vendor limits | neurons per core printed: "
           "ours / Intel | synapse words per core: ours / Intel | axon map per core: ours / Intel | limited by |",
           "|---|---|---|---|---|---|---|---|"]
    for r in table["rows"]:
        words = f"{r['words']['ours']:,}" if r["words"]["ours"] is not None else f"(<= {r['words_bound']:,})"
        out.append(f"| {r['label']} | {r['weight_bits'] or '-'} | {r['neurons']:,} | {r['cores']['ours']} / "
                   f"{r['cores']['intel']} / {r['cores']['vendor']} | {r['neurons_printed']['ours']:,} / "
                   f"{r['neurons_printed']['intel']:,} | {words} / {r['words']['intel']:,} | "
                   f"{r['axon_map']['ours']:,} / {r['axon_map']['intel']:,} | {r['limited_by']} |")
    t = table["total"]
    out.append(f"| **total** | | | **{t['ours']} / {t['intel']} / {t['vendor']}** | | | | |")
    return "\n".join(out)

"""The report's priced inputs for a run folder: map the exported graph if not mapped yet and price its
energy (``mapping.json``, ``energy.json``), so that ``ds2ta-report`` (``ds2ta.cli.report.run_report``)
shows the mapping and the energy; the demo's report stage calls both.

The mapping uses the core description of the graph's export target (``graph.metadata["target"]``,
looked up in ``ds2ta.export.targets``); energy and latency use the one ``mapping.json`` records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from ds2ta.fileio import atomic_write_json
from ds2ta.cli.export_chips import parse_chips
from ds2ta.export import read_graph
from ds2ta.export.targets import get_target
from ds2ta.hardware.energy import estimate
from ds2ta.hardware import graph as graph_meta

from .collect import _load, find_inputs, split_simulation

DEFAULT_TARGET = "loihi2"


def target_name(graph, default: Optional[str] = None) -> str:
    """The target a graph was exported for (its metadata), else ``default``, else loihi2."""
    return graph_meta.target_name(graph) or default or DEFAULT_TARGET


def prepare_inputs(out: Union[str, Path], target: Optional[str] = None,
                   chips: Union[str, int, None] = None) -> dict:
    """Write ``OUT/mapping.json`` from ``OUT/**/model.nir`` when the run has none, then ``OUT/energy.json``.

    Args:
        out: the run folder.
        target: the export target when the graph does not record one (default loihi2).
        chips: chips to map onto: a positive cap, or None / ``"auto"`` for the fewest the model fits on.

    Returns:
        ``{"mapping": path or None, "cores": int or None (None: the run had its mapping.json already),
        "energy": path or None}``.

    Raises:
        MappingError: The exported model does not fit the chosen chips (a ValueError: the demo
            reports it and stops).
    """
    out = Path(out)
    mapping = next(iter(sorted(out.rglob("mapping.json"), key=lambda p: len(p.parts))), None)
    cores = None
    if mapping is None:
        nirs = sorted(out.rglob("model.nir"), key=lambda p: len(p.parts))
        if nirs:
            graph = read_graph(nirs[0])
            tgt = get_target(target_name(graph, target))
            m = tgt.map(graph, chips=parse_chips(chips))
            if m is not None:
                mapping = Path(tgt.write_mapping(m, out / "mapping.json"))
                cores = m.total_cores
    return {"mapping": str(mapping) if mapping else None, "cores": cores, "energy": write_energy(out)}


def write_energy(out: Path) -> str | None:
    """``OUT/energy.json`` priced from the run's mapping.json and simulation.json (the Lava backend's
    counts of a ``--compare`` run), written atomically; None when either input is absent."""
    paths = find_inputs(out)
    if paths["energy.json"] is not None:
        return paths["energy.json"]
    mapping, sim = _load(paths["mapping.json"]), split_simulation(_load(paths["simulation.json"]))[0]
    if mapping is None or sim is None:
        return None
    rep = estimate(mapping, sim).to_dict()
    rep["inputs"] = {"mapping": paths["mapping.json"], "simulation": paths["simulation.json"],
                     "activity_backend": sim.get("backend")}
    atomic_write_json(out / "energy.json", rep)
    return str(out / "energy.json")

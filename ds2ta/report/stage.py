"""The demo's last stage (``ds2ta.cli.demo.STAGES``): map the exported graph if not mapped yet,
price its energy and write the report.

The mapping uses the core description of the graph's export target (``graph.metadata["target"]``,
looked up in ``ds2ta.export.targets``); energy and latency use the one ``mapping.json`` records.
"""

from __future__ import annotations

from pathlib import Path

from ds2ta.fileio import atomic_write_json
from ds2ta.cli.export_chips import parse_chips
from ds2ta.export import read_graph
from ds2ta.export.targets import get_target
from ds2ta.hardware.energy import estimate

from .collect import _load, collect, find_inputs, split_simulation
from .render import render

DEFAULT_TARGET = "loihi2"


def target_name(graph, args=None) -> str:
    """The target a graph was exported for (its metadata), else ``args.target``, else loihi2."""
    return ((graph.metadata or {}).get("target") or getattr(args, "target", None) or DEFAULT_TARGET)


def report_stage(ctx) -> dict:
    """Write ``OUT/mapping.json`` from ``OUT/**/model.nir`` when absent, then the report into OUT.

    Args:
        ctx: ``DemoContext`` (uses ``ctx.out``, and ``ctx.args.chips`` / ``ctx.args.target`` when present;
            without ``chips`` the graph is mapped onto the fewest chips it fits on, as ``--chips auto``).

    Returns:
        ``{"report": html path, "mapping": path or None, "cores": int or None, "missing": [...]}``.

    Raises:
        MappingError: The exported model does not fit the chosen chips (a ValueError: the demo
            reports it and stops).
    """
    out = Path(ctx.out)
    mapping = next(iter(sorted(out.rglob("mapping.json"), key=lambda p: len(p.parts))), None)
    cores = None
    if mapping is None:
        nirs = sorted(out.rglob("model.nir"), key=lambda p: len(p.parts))
        if nirs:
            graph = read_graph(nirs[0])
            target = get_target(target_name(graph, ctx.args))
            m = target.map(graph, chips=parse_chips(getattr(ctx.args, "chips", None)))
            if m is not None:
                mapping = Path(target.write_mapping(m, out / "mapping.json"))
                cores = m.total_cores
    energy = write_energy(out)
    rep = collect(out)
    paths = render(rep, str(out))
    print(f"[report] {paths['html']} (missing inputs: {', '.join(rep['missing']) or 'none'})")
    if cores is None:  # mapped by the export: the report read its mapping.json
        cores = (rep.get("mapping") or {}).get("total_cores")
    return {"report": paths["html"], "mapping": str(mapping) if mapping else None, "cores": cores,
            "energy": energy, "missing": rep["missing"]}


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

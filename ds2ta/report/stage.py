"""The demo's last stage: map the exported graph (if not mapped yet) and write the report.

Append to ``ds2ta.cli.demo.STAGES``::

    from ds2ta.report.stage import report_stage
    Stage("report", "map onto Loihi 2 cores, price energy, write report.html", report_stage)
"""

from __future__ import annotations

from pathlib import Path


def report_stage(ctx) -> dict:
    """Write ``OUT/mapping.json`` from ``OUT/**/model.nir`` when absent, then the report into OUT.

    Args:
        ctx: ``DemoContext`` (uses ``ctx.out`` and ``ctx.args.chips`` when present).

    Returns:
        ``{"report": html path, "mapping": path or None, "cores": int or None, "missing": [...]}``.

    Raises:
        MappingError: The exported model does not fit the chosen chips (a ValueError: the demo
            reports it and stops).
    """
    from ds2ta.hardware import check_fits, write_mapping_json

    from .collect import collect
    from .render import render

    out = Path(ctx.out)
    mapping = next(iter(sorted(out.rglob("mapping.json"), key=lambda p: len(p.parts))), None)
    cores = None
    if mapping is None:
        nirs = sorted(out.rglob("model.nir"), key=lambda p: len(p.parts))
        if nirs:
            from ds2ta.export import read_graph

            m = check_fits(read_graph(nirs[0]), chips=int(getattr(ctx.args, "chips", 1) or 1))
            mapping = Path(write_mapping_json(m, out / "mapping.json"))
            cores = m.total_cores
    energy = write_energy(out)
    rep = collect(out)
    paths = render(rep, str(out))
    print(f"[report] {paths['html']} (missing inputs: {', '.join(rep['missing']) or 'none'})")
    return {"report": paths["html"], "mapping": str(mapping) if mapping else None, "cores": cores,
            "energy": energy, "missing": rep["missing"]}


def write_energy(out: Path) -> str | None:
    """``OUT/energy.json`` priced from the run's mapping.json and simulation.json (the Lava backend's
    counts of a ``--compare`` run), written atomically; None when either input is absent."""
    from ds2ta.checkpoint import atomic_write_json
    from ds2ta.hardware.energy import estimate

    from .collect import _load, find_inputs, split_simulation

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

"""Report figures (matplotlib, Agg backend) returned as base64 PNG strings for inline embedding."""

from __future__ import annotations

import base64
import io

MISSING = "missing"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def firing_rates(layers) -> str | None:
    """Bar chart: spikes per neuron per model step, per layer."""
    if not isinstance(layers, list):
        return None
    rows = [r for r in layers if _num(r.get("firing_rate"))]
    if not rows:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(rows)), 3.5))
    ax.bar(range(len(rows)), [r["firing_rate"] for r in rows], color="#3b6ea8")
    ax.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("firing rate (spikes / neuron / step)")
    ax.set_title("Firing rate per layer")
    return _png(fig)


def energy_breakdown(energy, layers) -> str | None:
    """Two panels: Loihi event-model terms per profile (stacked) and dynamic energy per layer."""
    if not isinstance(energy, dict) or "loihi" not in energy:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4))
    profs = list(energy["loihi"])
    terms = sorted({t["name"] for p in profs for t in energy["loihi"][p]["terms"]})
    bottom = [0.0] * len(profs)
    cmap = plt.get_cmap("tab10")
    for i, term in enumerate(terms):
        vals = [sum(t["energy_J"] for t in energy["loihi"][p]["terms"] if t["name"] == term) * 1e6 for p in profs]
        a1.bar(profs, vals, bottom=bottom, label=term, color=cmap(i % 10))
        bottom = [b + v for b, v in zip(bottom, vals)]
    stat = [energy["loihi"][p]["static_J"]["model_step"] * 1e6 for p in profs]
    a1.bar(profs, stat, bottom=bottom, label="static (model step)", color="#bbbbbb", hatch="//")
    a1.bar(["paper (Horowitz)"], [energy["paper"]["total_J"] * 1e6], color="#8c564b", label="paper-comparable")
    a1.set_ylabel("energy per inference (µJ)")
    a1.set_title("Energy by term")
    a1.legend(fontsize=7)
    rows = [r for r in layers if _num(r.get("energy_sanafe_J"))] if isinstance(layers, list) else []
    a2.bar(range(len(rows)), [r["energy_sanafe_J"] * 1e6 for r in rows], color="#d62728")
    a2.set_xticks(range(len(rows)), [r["layer"] for r in rows], rotation=70, ha="right", fontsize=7)
    a2.set_ylabel("dynamic energy per inference (µJ)")
    a2.set_title("Energy by layer (SANA-FE profile, incl. outgoing spikes)")
    return _png(fig)


def core_occupancy(cores) -> str | None:
    """Per-core neuron and synaptic-memory occupancy (fraction of the core's limit)."""
    if not isinstance(cores, list) or not cores:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 0.12 * len(cores)), 3.5))
    x = list(range(len(cores)))
    ax.bar([i - 0.2 for i in x], [c["neuron_occupancy"] for c in cores], width=0.4, label="neurons")
    ax.bar([i + 0.2 for i in x], [c["memory_occupancy"] for c in cores], width=0.4, label="synaptic memory")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_xlabel("core")
    ax.set_ylabel("fraction of core limit")
    ax.set_title(f"Core occupancy ({len(cores)} cores)")
    ax.legend(fontsize=8)
    return _png(fig)


def all_plots(rep: dict) -> dict[str, str | None]:
    return {"firing_rate": firing_rates(rep.get("layers")),
            "energy": energy_breakdown(rep.get("energy"), rep.get("layers")),
            "cores": core_occupancy(rep.get("cores"))}

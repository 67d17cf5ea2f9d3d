"""Render the report dict to report.json, report.html (self-contained) and report.md, atomically."""

from __future__ import annotations

import json
import os
import jinja2

from ds2ta.fileio import atomic_write_text

from .plots import all_plots
from .templates import HTML, MARKDOWN
from .units import num, rate, uj


def _short(v) -> str:
    s = json.dumps(v) if isinstance(v, (dict, list)) else str(v)
    return s if len(s) < 300 else s[:297] + "..."


def _env() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined)
    env.filters.update(num=num, uj=uj, short=_short, rate=rate)
    return env


def render(rep: dict, out_dir: str) -> dict[str, str]:
    """Write report.json, report.html, report.md into ``out_dir``; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    plots = all_plots(rep)
    env = _env()
    html = env.from_string(HTML).render(r=rep, plots=plots)
    md = jinja2.Environment(undefined=jinja2.StrictUndefined)
    md.filters.update(num=num, uj=uj, short=_short, rate=rate)
    text = md.from_string(MARKDOWN).render(r=rep)
    paths = {k: os.path.join(out_dir, f"report.{k}") for k in ("json", "html", "md")}
    atomic_write_text(paths["json"], json.dumps(rep, indent=1, default=str))
    atomic_write_text(paths["html"], html)
    atomic_write_text(paths["md"], text)
    return paths

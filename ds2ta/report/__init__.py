"""Readable run reports: ``ds2ta-report DIR`` -> report.json, self-contained report.html, report.md."""

from .collect import collect
from .render import render

__all__ = ["collect", "render"]

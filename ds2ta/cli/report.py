"""``ds2ta-report DIR``: read the run's JSON files in DIR and write report.json/.html/.md there."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from ds2ta.report.collect import collect
from ds2ta.report.render import render


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ds2ta-report", description=__doc__.splitlines()[0])
    p.add_argument("dir", help="run folder holding quantization/simulation/mapping/energy/metrics .json")
    p.add_argument("--out", default=None, help="where to write the report (default: DIR)")
    p.add_argument("--no-calibration", action="store_true",
                   help="skip the PilotNet calibration (it is reported as missing)")
    return p


def run_report(run_dir: str, out: Optional[str] = None, calibration: bool = True) -> dict:
    """Collect the run's JSON files under ``run_dir`` and write report.json/.html/.md into ``out``
    (default: ``run_dir``).

    Returns:
        ``{"report": the collected report dict, "paths": {"json", "html", "md"} written}``.

    Raises:
        ValueError: An unreadable input, or a full disk while writing (``ds2ta.fileio``'s named error).
    """
    rep = collect(run_dir, calibration=calibration)
    paths = render(rep, out or run_dir)
    return {"report": rep, "paths": paths}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        res = run_report(args.dir, args.out, calibration=not args.no_calibration)
    except ValueError as e:
        print(f"ds2ta-report: {e}", file=sys.stderr)
        return 2
    print(f"report: {res['paths']['html']} (missing inputs: {', '.join(res['report']['missing']) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

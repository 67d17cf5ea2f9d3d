"""``ds2ta-report DIR``: read the run's JSON files in DIR and write report.json/.html/.md there."""

from __future__ import annotations

import argparse
import sys

from ds2ta.report.collect import collect
from ds2ta.report.render import render


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ds2ta-report", description=__doc__.splitlines()[0])
    p.add_argument("dir", help="run folder holding quantization/simulation/mapping/energy/metrics .json")
    p.add_argument("--out", default=None, help="where to write the report (default: DIR)")
    p.add_argument("--no-calibration", action="store_true",
                   help="skip the PilotNet calibration (it is reported as missing)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rep = collect(args.dir, calibration=not args.no_calibration)
        paths = render(rep, args.out or args.dir)  # a full disk: ds2ta.fileio's named ValueError
    except ValueError as e:
        print(f"ds2ta-report: {e}", file=sys.stderr)
        return 2
    print(f"report: {paths['html']} (missing inputs: {', '.join(rep['missing']) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

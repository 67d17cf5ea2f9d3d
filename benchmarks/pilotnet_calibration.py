"""PilotNet-LIF calibration: the project's counting, mapping and energy path vs Intel's Loihi 2 measurement.

Run:  .venv/bin/python benchmarks/pilotnet_calibration.py [--json out.json] [--markdown]
Prints predicted / measured / ratio side by side (cores, dynamic and total energy per inference,
dynamic power, time per step) and the per-layer core table against Intel's compiler placement.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile


def markdown(cal: dict) -> str:
    lines = ["| quantity | predicted | measured | predicted/measured | grade | note |", "|---|---|---|---|---|---|"]
    for r in cal["rows"]:
        lines.append(f"| {r['quantity']} | {r['predicted']:.4g} | {r['measured']:.4g} | {r['ratio']:.3f} | "
                     f"{r['grade']} | {r['note']} |")
    lines += ["", "| layer | neurons | cores (vendor limits) | cores (3168 cap) | Intel cores | limited by | "
              "max neurons/core | Intel neurons/core | spikes/inf | synops/inf |", "|---|---|---|---|---|---|---|---|---|---|"]
    for p in cal["per_layer"]:
        lines.append(f"| {p['layer']} | {p['neurons']} | {p['predicted_cores']} | {p['predicted_cores_capped']} | "
                     f"{p['intel_cores']} | {p['limited_by']} | {p['max_neurons_per_core']} | "
                     f"{p['intel_neurons_per_core']} | {p['spikes']} | {p['synops']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ds2ta.hardware.pilotnet import calibration

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="also write the full calibration (incl. activity and energy) here")
    args = ap.parse_args(argv)
    cal = calibration()
    print(markdown(cal))
    if args.json:
        d = os.path.dirname(os.path.abspath(args.json))
        fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(cal, f, indent=1)
        os.replace(tmp, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

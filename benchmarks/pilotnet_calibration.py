"""PilotNet-LIF calibration: the project's counting, mapping and energy path vs Intel's Loihi 2 measurement.

Run:  .venv/bin/python benchmarks/pilotnet_calibration.py [--json out.json] [--markdown]
Prints predicted / measured / ratio side by side (cores, dynamic and total energy per inference,
dynamic power, time per step) and the per-layer core table against Intel's compiler placement.
"""

from __future__ import annotations

import argparse
import os
import sys


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
    ap.add_argument("--data-dir", help="folder with lava-dl's PilotNet-LIF network.net and image.npy "
                    "(default: $DS2TA_PILOTNET_DIR, else data/pilotnet_lif in the checkout)")
    ap.add_argument("--json", help="also write the full calibration (incl. activity and energy) here")
    ap.add_argument("--update-snapshot", action="store_true",
                    help="rewrite hardware/pilotnet_calibration.json (used by reports without the data)")
    args = ap.parse_args(argv)
    cal = calibration(data=args.data_dir)
    print(markdown(cal))
    if args.json:
        _write(args.json, cal)
    if args.update_snapshot:
        import ds2ta.hardware as hw

        snap = {k: v for k, v in cal.items() if k not in ("activity", "energy")}
        snap["snapshot"] = "recorded by benchmarks/pilotnet_calibration.py; used when the PilotNet data is absent"
        _write(os.path.join(os.path.dirname(hw.__file__), "pilotnet_calibration.json"), snap)
    return 0


def _write(path: str, obj: dict) -> None:
    from ds2ta.fileio import atomic_write_json
    atomic_write_json(path, obj, indent=1, sort_keys=False)


if __name__ == "__main__":
    sys.exit(main())

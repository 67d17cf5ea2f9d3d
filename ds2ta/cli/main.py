"""``ds2ta``: one command with subcommands, each a module with ``main(argv) -> int``.

Subcommand modules are imported only when used, so a missing optional part (for example the Lava
simulator on a machine without lava-nc) affects only its own subcommand.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": ("ds2ta.cli.train", "train a preset on a dataset (same as ds2ta-train)"),
    "demo": ("ds2ta.cli.demo", "the main job end to end: train tiny on digits, then later stages"),
    "export": ("ds2ta.cli.export", "quantize a checkpoint (or convert a NIR or netx file) for Loihi, write NIR"),
    "sim": ("ds2ta.cli.sim", "run an exported graph on the reference or Lava simulator"),
    "report": ("ds2ta.cli.report", "write the hardware / accuracy report"),
}


def usage() -> str:
    lines = ["usage: ds2ta <command> [options]   (ds2ta <command> --help for a command's options)",
             "", "commands:"]
    lines += [f"  {name:<8} {helptext}" for name, (_, helptext) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def load_subcommand(name: str):
    """The ``main`` function of subcommand ``name``; ``ValueError`` when unknown or unavailable."""
    if name not in SUBCOMMANDS:
        raise ValueError(f"unknown command {name!r}: choose one of {list(SUBCOMMANDS)}")
    module_name = SUBCOMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"command {name!r} is not available: importing {module_name} failed "
                         f"({e}); is that part of the package installed and complete?") from e
    entry = getattr(module, "main", None)
    if not callable(entry):
        raise ValueError(f"command {name!r} is not available: {module_name} has no main(argv)")
    return entry


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``ds2ta <command> ...``; returns the command's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    try:
        entry = load_subcommand(argv[0])
    except ValueError as e:
        print(f"ds2ta: error: {e}\n\n{usage()}", file=sys.stderr)
        return 2
    return int(entry(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())

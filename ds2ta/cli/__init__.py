"""Command-line entry points: ``ds2ta`` (subcommands, :mod:`ds2ta.cli.main`) and ``ds2ta-train``."""

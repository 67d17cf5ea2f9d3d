"""The package version (a submodule, so it resolves however ``ds2ta`` itself was found)."""

__version__ = "0.1.0"

"""Package placeholder; see docs/architecture.md."""

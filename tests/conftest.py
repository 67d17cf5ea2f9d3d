"""Import Lava's multiprocessing layer at collection time, when present.

Lava calls ``multiprocessing.set_start_method('fork')`` (not forced) when that module is first
imported; if any earlier test already fixed the start method (torch, DataLoader workers), the import
raises "context has already been set". Importing it before any test runs avoids that.
"""

try:  # pragma: no cover - depends on the environment
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
except Exception:  # lava absent (Python >= 3.11) or broken: Lava tests skip themselves
    pass

"""Lava backend: a NIR graph as Lava processes on Loihi 2 fixed-point models (``import ds2ta.sims.lava``).

``LavaNetwork(graph, T).run(x)`` builds lava-nc ``Dense``/``Conv``/``LIFReset`` processes (and this
package's numpy processes for the attention core, read-outs, delays and recording) with Lava's
one-step synaptic delay, aligned paths and per-population resets; ``simulate_lava`` returns the
``simulation.json`` dict. Only this sub-package imports lava (see docs/simulation.md).
"""

import multiprocessing as _mp


def _import_lava_runtime() -> None:
    """Import Lava's multiprocessing layer even when the start method is already fixed.

    On first import Lava calls ``multiprocessing.set_start_method('fork')``, which raises "context has
    already been set" once anything in the process (a torch DataLoader with workers, an earlier
    ``get_start_method()``) fixed the method — e.g. ``ds2ta demo`` trains before it simulates. Lava needs
    'fork' (its processes inherit the built network); a different method already in use is an error.
    """
    import sys

    if "lava.magma.runtime.message_infrastructure.multiprocessing" in sys.modules:
        return
    current = _mp.get_start_method(allow_none=True)
    if current is None:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
        return
    if current != "fork":
        raise RuntimeError(f"multiprocessing start method is {current!r}; Lava needs 'fork'. Run the Lava "
                           "backend in a process that has not chosen another start method")
    original = _mp.set_start_method
    _mp.set_start_method = lambda *a, **k: None  # already 'fork': Lava's call would only raise
    try:
        import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401
    finally:
        _mp.set_start_method = original


_import_lava_runtime()

from ds2ta.sims.lava.graph import Schedule  # noqa: E402
from ds2ta.sims.lava.network import LavaNetwork, LavaRun  # noqa: E402

__all__ = ["LavaNetwork", "LavaRun", "Schedule"]

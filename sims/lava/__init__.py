"""Lava backend: a NIR graph as Lava processes on Loihi 2 fixed-point models (``import ds2ta.sims.lava``).

``LavaNetwork(graph, T).run(x)`` builds lava-nc ``Dense``/``Conv``/``LIFReset`` processes (and this
package's numpy processes for the attention core, read-outs, delays and recording) with Lava's
one-step synaptic delay, aligned paths and per-population resets; ``simulate_lava`` returns the
``simulation.json`` dict. Only this sub-package imports lava (see docs/simulation.md).
"""

from ds2ta.sims.lava.graph import Schedule
from ds2ta.sims.lava.network import LavaNetwork, LavaRun

__all__ = ["LavaNetwork", "LavaRun", "Schedule"]

"""Integer reference executor of exported NIR graphs (torch, CPU and CUDA, exact).

See docs/nir-format.md for the node semantics and the API.
"""

from ds2ta.sims.reference.executor import COUNT_KEYS, ReferenceExecutor, RunResult, is_integer_graph
from ds2ta.sims.reference.neurons import LavaLIFParams, lif_run, lif_step
from ds2ta.sims.reference.simulate import first_divergence, simulate

__all__ = ["COUNT_KEYS", "ReferenceExecutor", "RunResult", "is_integer_graph", "LavaLIFParams", "lif_run",
           "lif_step", "first_divergence", "simulate"]

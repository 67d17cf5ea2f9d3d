"""Loihi fixed-point export of DS2TA models to NIR (``import ds2ta.export``).

Importing this package registers the ds2ta NIR extension node types with ``nir`` (see
docs/nir-format.md), so ``nir.read`` understands exported graphs.
"""

from ds2ta.export.nir_nodes import (EXTENSION_NODES, DS2TABlockAttention, DS2TASpikeAttention,
                                    register, unregistered)
from ds2ta.export.nir_io import read_graph, write_graph

register()

__all__ = ["EXTENSION_NODES", "DS2TABlockAttention", "DS2TASpikeAttention", "register", "unregistered",
           "read_graph", "write_graph"]

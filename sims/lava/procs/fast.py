"""The one registry of this package's faster exact ProcessModels for lava-nc library processes.

Every model computes what lava-nc's own fixed-point model computes (tests/sims/lava/test_fast_models.py
runs both on the same inputs), at BLAS speed or event-driven. The network (``sims/lava/network.py``)
and the lowered attention (``sims/lava/lowering.py``) pass ``fast_models(processes)`` to Lava's
``exception_proc_model_map``.
"""

from __future__ import annotations

from typing import Iterable

from lava.proc.dense.process import Dense
from lava.proc.graded.process import GradedReluVec, GradedVec
from lava.proc.lif.process import LIFReset
from lava.proc.prodneuron.process import ProdNeuron
from lava.proc.sparse.process import DelaySparse, Sparse

from ds2ta.sims.lava.procs.neuron.models import (PyGradedReluVecModelFast, PyGradedVecModelFast,
                                                 PyLifResetModelFast, PyProdNeuronModelFast)
from ds2ta.sims.lava.procs.synapse.models import PyDelaySparseModelEvent, PyDenseModelBLAS, PySparseModelEvent

# lava-nc Process class -> faster exact model; looked up by the exact class: a subclass (DelaySparse
# of Sparse, LIFReset of LIF, LearningSparse of Sparse) has its own step and gets no inherited entry
FAST_MODELS: dict[type, type] = {
    LIFReset: PyLifResetModelFast,
    ProdNeuron: PyProdNeuronModelFast,
    GradedVec: PyGradedVecModelFast,
    GradedReluVec: PyGradedReluVecModelFast,
    Dense: PyDenseModelBLAS,
    Sparse: PySparseModelEvent,
    DelaySparse: PyDelaySparseModelEvent,
}


def fast_models(processes: Iterable) -> dict:
    """``{process: model}`` for every built process whose class is in ``FAST_MODELS`` (others left out)."""
    return {p: FAST_MODELS[type(p)] for p in processes if type(p) in FAST_MODELS}

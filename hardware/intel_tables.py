"""Intel's per-core distribution tables for lava-dl's two PilotNet networks on one Loihi 2 chip (grade M).

Printed by Lava's Loihi 2 compiler in lava-dl's benchmark notebooks
(``tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb`` and ``pilotnet_sdnn/benchmark.ipynb``, lava-dl
commit b9e3691, 2023-01-10; the two earlier versions print the same tables) and typed into
``data/pilotnet_lif/README.md`` and ``data/pilotnet_sdnn/README.md``. Rows in each README's order. The
compiler prints, per group of identical cores: input axons, neurons, synapse words, axon-map and
axon-memory entries per core, and the cores. PilotNet-LIF's README omits the axon columns; they are taken
from the same notebook output. Data only: the rules that reproduce these numbers are ``intel_alloc``.
"""

from __future__ import annotations

from typing import NamedTuple


class IntelRow(NamedTuple):
    """One row of the compiler's table.

    Attributes:
        layer: The layer's name in ``pilotnet.layer_specs`` (``conv1`` = netx layer 1 = Intel's Conv0).
        label: The row as the README names it.
        axon_in: 'AxonIn' (input axons per core).
        neurons: 'Neurons' per core as printed (a conv slice; a dense layer's mean).
        synapses: 'Synapses' per core as printed (synaptic-memory words).
        axon_map: 'AxonMap' entries per core.
        axon_mem: 'AxonMem' entries per core.
        cores: 'Cores'.
    """

    layer: str
    label: str
    axon_in: int
    neurons: int
    synapses: int
    axon_map: int
    axon_mem: int
    cores: int


INTEL_LIF = (  # 74 cores; README order (input first)
    IntelRow("input0", "Input 200x66x3, slice (16, 66, 3)", 1, 3168, 0, 1015, 731, 13),
    IntelRow("conv1", "Conv0 -> 99x32x24, slice (4, 32, 24)", 2, 3072, 81, 253, 93, 25),
    IntelRow("conv2", "Conv1 -> 49x15x36, slice (4, 15, 36)", 2, 2160, 864, 113, 32, 13),
    IntelRow("conv3", "Conv2 -> 24x7x48, slice (8, 7, 48)", 2, 2688, 1620, 112, 46, 3),
    IntelRow("conv4", "Conv3 -> 22x4x64, slice (8, 4, 64)", 1, 2048, 2160, 29, 9, 3),
    IntelRow("conv5", "Conv4 -> 20x2x64, slice (16, 2, 64)", 1, 2048, 2880, 1280, 0, 2),
    IntelRow("dense7", "Dense 2560 -> 100", 2560, 8, 7253, 8, 0, 12),
    IntelRow("dense8", "Dense 100 -> 50", 100, 50, 1300, 50, 0, 1),
    IntelRow("dense9", "Dense 50 -> 10", 50, 10, 150, 10, 0, 1),
    IntelRow("dense10", "Dense 10 -> 1", 10, 1, 10, 1, 0, 1),
)

INTEL_SDNN = (  # 61 cores; README order (the compiler's, last layer first); input skipped (skip_layers=1)
    IntelRow("dense10", "Dense 10 -> 1", 10, 1, 10, 1, 0, 1),
    IntelRow("dense9", "Dense 50 -> 10", 50, 10, 150, 10, 0, 1),
    IntelRow("dense8", "Dense 100 -> 50", 100, 50, 1500, 50, 0, 1),
    IntelRow("dense7", "Dense 2560 -> 100", 2560, 8, 7253, 8, 0, 12),
    IntelRow("conv5", "Conv (16, 2, 64) slices", 1, 2048, 2880, 1280, 0, 2),
    IntelRow("conv4", "Conv (8, 4, 64)", 1, 2048, 2592, 29, 9, 3),
    IntelRow("conv3", "Conv (8, 7, 48)", 2, 2688, 1620, 112, 46, 3),
    IntelRow("conv2", "Conv (4, 15, 36)", 2, 2160, 864, 113, 32, 13),
    IntelRow("conv1", "Conv (4, 32, 24)", 2, 3072, 81, 253, 93, 25),
)

# The compiler's logged SynMem violations before it settled (Dense 2560 -> 100, core 3, budget 12,000):
# the whole layer on one core, then after its first split (max_ratio=6).
INTEL_SYNMEM_LOG = {"pilotnet_lif": (61440, 12800), "pilotnet_sdnn": (66560, 12800)}

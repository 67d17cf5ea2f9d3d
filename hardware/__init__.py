"""Loihi-2-class hardware model: core limits, layer mapping, evidence-graded energy and latency.

Imports only numpy (and h5py for the PilotNet calibration); see docs/hardware.md and docs/energy.md.
"""

from .core import LOIHI2, Cited, CoreSpec
from .layers import LayerSpec, conv, dense
from .mapper import Mapping, check_fits, map_layers, write_mapping_json
from .rules import MappingError

__all__ = ["LOIHI2", "Cited", "CoreSpec", "LayerSpec", "conv", "dense", "Mapping", "MappingError",
           "check_fits", "map_layers", "write_mapping_json"]

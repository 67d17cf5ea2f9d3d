"""Export targets: a registry so more chips can be added next to ``loihi2``.

A target names its integer constraints, the function that turns a float model into an integer
graph, and the core description (``CoreSpec``) its mapping, energy and latency use: ``ds2ta-export``
maps onto ``target.spec`` and ``mapping.json`` records it, so ``estimate`` and the report price a
run with the constants of the target it was exported for. The CLI looks targets up by name and lists
them in its error for an unknown one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from ds2ta.export.model_quant import quantize_model
from ds2ta.hardware import LOIHI2, CoreSpec, check_fits, write_mapping_json


@dataclass(frozen=True)
class Target:
    """An export target.

    Attributes:
        name: ``--target`` value.
        description: one line for ``--help`` and errors.
        max_weight_bits: largest ``--bits`` the target stores.
        quantize: ``(model, input_scale, calib_x_float, bits, meta, boost=None) -> (graph, report, float_graph)``;
            ``boost``: factors on named neurons' calibrated currents (a second pass after the integer check).
        spec: the core description mapping, energy and latency use; ``None`` when the target has no
            resource model.
        place: ``(graph, chips, spec) -> mapping`` that raises ``MappingError`` (a ``ValueError``)
            naming the layer, resource, limit and amount when the graph cannot fit ``chips`` chips;
            ``chips=None``: the fewest chips the graph fits on.
        write_mapping: ``(mapping, path)`` writing ``mapping.json`` atomically.
    """

    name: str
    description: str
    max_weight_bits: int
    quantize: Callable
    spec: Optional[CoreSpec] = None
    place: Optional[Callable] = None
    write_mapping: Optional[Callable] = None

    def map(self, graph, chips: Optional[int] = 1):
        """The graph mapped onto ``chips`` chips of ``self.spec`` (None: onto as many as it needs, which
        ``mapping.chips`` gives); None without a resource model."""
        if self.place is None or self.spec is None:
            return None
        return self.place(graph, chips, self.spec)

    def with_spec(self, spec: CoreSpec, name: Optional[str] = None) -> "Target":
        """The same target with another core description (e.g. ``LOIHI2.replace(...)``), renamed."""
        return dataclasses.replace(self, spec=spec, name=name or self.name)


TARGETS: Dict[str, Target] = {}


def register_target(target: Target) -> None:
    """Add (or replace) a target under ``target.name``."""
    TARGETS[target.name] = target


def get_target(name: str) -> Target:
    """The registered target; ``ValueError`` listing the known ones otherwise."""
    if name not in TARGETS:
        raise ValueError(f"unknown --target {name!r}: choose one of {sorted(TARGETS)}")
    return TARGETS[name]


def _loihi2_quantize(model, input_scale, calib_x_float, bits, meta, boost=None):
    return quantize_model(model, input_scale, calib_x_float, bits=bits, meta=meta, boost=boost)


def _place(graph, chips, spec):
    return check_fits(graph, chips=chips, spec=spec)


register_target(Target("loihi2", "Loihi-2-class core, Lava fixed-point LIF (PyLifModelBitAcc) semantics",
                       int(LOIHI2.weight_bits.value), _loihi2_quantize, LOIHI2, _place, write_mapping_json))

"""Export targets: a registry so more chips can be added next to ``loihi2``.

A target names its integer constraints and the function that turns a float model into an integer
graph; the CLI looks targets up by name and lists them in its error for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional


@dataclass(frozen=True)
class Target:
    """An export target.

    Attributes:
        name: ``--target`` value.
        description: one line for ``--help`` and errors.
        max_weight_bits: largest ``--bits`` the target stores.
        quantize: ``(model, input_scale, calib_x_float, bits, meta) -> (graph, report, float_graph)``.
        place: ``(graph, chips) -> mapping`` that raises ``MappingError`` (a ``ValueError``) naming the
            layer, resource, limit and amount when the graph cannot fit ``chips`` chips; ``None``
            when the target has no resource model.
        write_mapping: ``(mapping, path)`` writing ``mapping.json`` atomically.
    """

    name: str
    description: str
    max_weight_bits: int
    quantize: Callable
    place: Optional[Callable] = None
    write_mapping: Optional[Callable] = None


TARGETS: Dict[str, Target] = {}


def register_target(target: Target) -> None:
    """Add (or replace) a target under ``target.name``."""
    TARGETS[target.name] = target


def get_target(name: str) -> Target:
    """The registered target; ``ValueError`` listing the known ones otherwise."""
    if name not in TARGETS:
        raise ValueError(f"unknown --target {name!r}: choose one of {sorted(TARGETS)}")
    return TARGETS[name]


def _loihi2_quantize(model, input_scale, calib_x_float, bits, meta):
    from ds2ta.export.model_quant import quantize_model
    return quantize_model(model, input_scale, calib_x_float, bits=bits, meta=meta)


def _loihi2_place(graph, chips):
    from ds2ta.hardware import check_fits
    return check_fits(graph, chips=chips)


def _loihi2_write_mapping(mapping, path):
    from ds2ta.hardware import write_mapping_json
    return write_mapping_json(mapping, path)


register_target(Target("loihi2", "Loihi-2-class core, Lava fixed-point LIF (PyLifModelBitAcc) semantics",
                       8, _loihi2_quantize, _loihi2_place, _loihi2_write_mapping))

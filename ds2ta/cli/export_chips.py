"""``ds2ta-export --chips auto|N``: how many chips the export maps onto, for both kinds of source.

``auto`` (the default) maps onto the fewest chips the model fits on: the mapper places the cores in
order, ``spec.cores_per_chip`` per chip, and ``Mapping.chips`` is that count
(``ds2ta.hardware.mapper.map_layers`` with ``chips=None``). A positive integer ``N`` is a cap: a model
that needs more is refused (``MappingError`` naming the cores and chips it needs) before the accuracy
evaluation. The chips used are recorded in ``mapping.json`` (``"chips"``; ``"chips_allowed"`` is the
cap, null with ``auto``) and in ``quantization.json`` (``"chips"``), and printed.
"""

from __future__ import annotations

from typing import Optional, Union

AUTO = "auto"


def parse_chips(value: Union[str, int, None]) -> Optional[int]:
    """``--chips`` as the mapper takes it: None for ``auto``, else the positive integer.

    Raises:
        ValueError: anything else (``0``, ``-1``, ``abc``), naming the value and what to give.
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == AUTO):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        n = value
    else:
        n = int(value) if isinstance(value, str) and value.strip().isdigit() else None
    if n is None or n < 1:
        raise ValueError(f"--chips {value}: give a positive integer (the chips available) or '{AUTO}' "
                         "(the fewest chips the model fits on)")
    return n


def chips_record(mapping, requested: Optional[int]) -> dict:
    """``quantization.json``'s ``"chips"``: what was asked for, the chips and cores used."""
    return {"requested": AUTO if requested is None else int(requested), "used": int(mapping.chips),
            "cores": int(mapping.total_cores)}


def chips_line(mapping, requested: Optional[int]) -> str:
    """The summary's mapping line (without the mapping.json path)."""
    how = "--chips auto: the fewest it fits on" if requested is None else f"of {requested} allowed"
    return f"mapped onto {mapping.total_cores} cores on {mapping.chips} chip(s) ({how})"

"""How the report writes numbers: one home for the tables' filters and the headline's sentences."""

from __future__ import annotations

SI = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def _real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def num(v) -> str:
    """A table cell: ints with thousands separators, floats to 4 significant digits, text as is."""
    if v is None:
        return "—"
    if isinstance(v, bool) or isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def uj(v) -> str:
    """An energy in the tables: J, mJ or µJ to 4 significant digits (the report's energy columns)."""
    if not _real(v):
        return num(v)
    if abs(v) >= 1:
        return f"{v:.4g} J"
    return f"{v * 1e6:.4g} µJ" if abs(v) < 1e-3 else f"{v * 1e3:.4g} mJ"


def si(v: float, unit: str, digits: int = 3) -> str:
    """``v`` with the SI prefix that puts it in [1, 1000): ``si(9.8e-5, "J") == "98 µJ"``."""
    if not _real(v):
        return num(v)
    if v == 0:
        return f"0 {unit}"
    for scale, prefix in SI:
        if abs(v) >= scale:
            return f"{v / scale:.{digits}g} {prefix}{unit}"
    return f"{v:.{digits}g} {unit}"


def plural(n: int, word: str) -> str:
    """``plural(1, "chip") == "1 chip"``, ``plural(4, "chip") == "4 chips"`` (thousands separated)."""
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def pct(fraction: float) -> str:
    """An accuracy as a percentage to 0.1: ``pct(0.98333) == "98.3 %"``."""
    return f"{100 * fraction:.1f} %"


def si_range(lo: float, hi: float, unit: str, digits: int = 3) -> str:
    """``lo–hi`` with one unit when both take the same prefix: ``si_range(9.5e-5, 1.2e-4, "J") ==
    "95–120 µJ"``, else each with its own (``"950 nJ – 1.2 µJ"``)."""
    a, b = si(lo, unit, digits), si(hi, unit, digits)
    ua, ub = a.split(" ", 1)[1], b.split(" ", 1)[1]
    return f"{a.split(' ')[0]}–{b}" if ua == ub else f"{a} – {b}"


def signed_pct(fraction: float, digits: int = 1) -> str:
    """A relative error with its sign and a true minus: ``signed_pct(-0.297) == "−29.7 %"``."""
    return f"{100 * fraction:+.{digits}f} %".replace("-", "\u2212")


def rate(v: float) -> str:
    """A count per second: whole and thousands-separated from 10 up, else 3 significant digits."""
    return f"{v:,.0f}" if v >= 10 else f"{v:.3g}"

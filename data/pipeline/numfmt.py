"""Brazilian-Portuguese number formatting: R$ 1.234,56, 12,5%, 2.000."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _round(value: float, places: int) -> Decimal:
    # Decimal(str()) + ROUND_HALF_UP so 0.125 -> 0,13 as a person would round it.
    quantum = Decimal(1).scaleb(-places)
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


def number(value: float, places: int = 2, *, strip: bool = True) -> str:
    """Format with thousands '.' and decimal ','; strip=True drops trailing zeros."""
    rounded = _round(value, places)
    sign = "-" if rounded < 0 else ""
    text = f"{abs(rounded):,.{places}f}"
    integer, _, frac = text.partition(".")
    integer = integer.replace(",", ".")
    if strip:
        frac = frac.rstrip("0")
    return f"{sign}{integer},{frac}" if frac else f"{sign}{integer}"


def money(value: float) -> str:
    """Format reais as R$ 1.234,56 (always two decimals)."""
    text = number(value, 2, strip=False)
    if text.startswith("-"):
        return f"-R$ {text[1:]}"
    return f"R$ {text}"


def percent(value: float, places: int = 2) -> str:
    """Format a percentage value (25 -> 25%, 12.5 -> 12,5%)."""
    return f"{number(value, places)}%"


def integer(value: int) -> str:
    """Format an integer count with thousands separators (12000 -> 12.000)."""
    return number(value, 0)


def rounded(value: float, places: int = 2) -> float:
    """Round half-up as the formatter does, so answers and checks agree."""
    return float(_round(value, places))

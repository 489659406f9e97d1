"""Formatting counts of any size (naive interleaving counts run to thousands of digits)."""

from __future__ import annotations

from decimal import Decimal


def format_count(n: int) -> str:
    """A count of any size: exact below 10^6, else ``d.ddde+NN`` computed exactly with ``Decimal``.

    ``f"{n:.3e}"`` converts to float first and raises OverflowError past 10^308; ``str(n)`` raises
    ValueError past 4300 digits. This does neither."""
    n = int(n)
    if abs(n) < 10**6:
        return str(n)
    mantissa, _, exp = f"{Decimal(n):.3e}".partition("e")
    return f"{mantissa}e{exp[0]}{int(exp[1:]):02d}"


def exact(n: int) -> str:
    """All the digits of `n` when Python allows the conversion (4300 digits by default), else
    ``format_count`` (no ValueError for a count too long to print)."""
    try:
        return str(int(n))
    except ValueError:
        return format_count(n)

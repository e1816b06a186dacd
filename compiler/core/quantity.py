"""Kubernetes resource quantities ("500m", "16Gi", "1e3") as exact fractions.

The pure core may not import the kubernetes client (its `parse_quantity` lives there), and
ceilings must compare exactly, so this is the small grammar of `resource.Quantity` itself.
"""

from __future__ import annotations

import re
from fractions import Fraction

_QUANTITY = re.compile(
    r"^(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(?P<bin>[KMGTPE]i)|(?P<dec>[numkMGTPE])|[eE](?P<exp>[+-]?[0-9]+))?$"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str | int) -> Fraction | None:
    """The exact value of a quantity, or None when `text` is not one."""
    if isinstance(text, int):
        return Fraction(text)
    match = _QUANTITY.fullmatch(text) if len(text) <= 64 else None
    if match is None:
        return None
    value = Fraction(str(match["num"]))
    if match["bin"]:
        return value * Fraction(1024) ** _BINARY[match["bin"]]
    if match["dec"]:
        return value * Fraction(10) ** _DECIMAL[match["dec"]]
    if match["exp"]:
        exponent = int(match["exp"])
        if abs(exponent) > 30:
            return None
        return value * Fraction(10) ** exponent
    return value

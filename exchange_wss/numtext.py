"""Number text as exchanges write it, for checksums computed over wire text.

Bitfinex's servers are JavaScript: every number on the wire is what
``JSON.stringify`` makes of an IEEE double, i.e. ECMAScript's
``Number::toString`` (shortest round-trip digits, plain notation for
``1e-7 < |x| < 1e21``, otherwise ``1.7e-7``). Because that text is the shortest
round-trip form, the float a JSON decoder produces maps back to exactly the
text the server wrote, so checksums can be computed from decoded floats without
keeping a lossless copy of every frame. Python's own ``repr`` differs
(``1.7e-07``, ``1e-05``, ``1920.0``), which is why FTX (a Python server) needs
:func:`python_number_text` instead.
"""

from __future__ import annotations

import math
import zlib
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import LocalProtocolError

__all__ = ["js_number_text", "python_number_text", "crc32_signed", "decimal_text"]


def js_number_text(value: float | int) -> str:
    """Return the text JavaScript's ``String(value)`` gives for a number.

    Args:
        value: an int or a finite float, as decoded from JSON.

    Returns:
        The ECMAScript ``Number::toString`` text, e.g. ``"0.0000011"``,
        ``"7e-7"``, ``"1920"``, ``"1e+21"``.
    """
    if value.__class__ is int:
        return int.__repr__(value)
    text = float.__repr__(value)
    # Fast path: the common price/amount shape is already JS text, except
    # for Python's trailing ".0" on integral values.
    if "e" not in text:
        if text.endswith(".0"):
            return text[:-2]
        if not text.startswith(("0.0000", "-0.0000")):
            return text
    if value == 0.0:
        return "0"
    if value < 0:
        return "-" + js_number_text(-value)
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    digits = (int_part + frac_part).lstrip("0")
    # Position of the decimal point relative to the digit string: value is
    # 0.<digits> * 10**point, ECMAScript's "n".
    point = len(int_part.lstrip("0")) + exponent if int_part.strip("0") else (
        exponent - (len(frac_part) - len(frac_part.lstrip("0"))))
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * (-point) + digits
    e = point - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{head}e{sign}{abs(e)}"


def python_number_text(value: float | int) -> str:
    """Return the text Python's ``str(float(value))`` gives (FTX's checksum text)."""
    return float.__repr__(float(value))


def crc32_signed(text: str) -> int:
    """CRC32 (IEEE, as zlib) of ``text`` as a signed 32-bit int, as Bitfinex sends it."""
    crc = zlib.crc32(text.encode("ascii"))
    return crc - 0x100000000 if crc & 0x80000000 else crc


def decimal_text(value: Any, what: str = "number") -> str:
    """A number as a plain decimal string without exponent, as exchanges want amounts.

    Floats use their shortest round-trip text (``0.1`` -> ``"0.1"``,
    ``1e-07`` -> ``"0.0000001"``); Decimals and strings keep their digits.

    Raises:
        LocalProtocolError: not a finite number (bools are refused too).
    """
    if isinstance(value, bool):
        raise LocalProtocolError(f"{what} must be a number, got {value!r}")
    if isinstance(value, int):
        return str(value)
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise LocalProtocolError(f"{what} must be finite, got {value!r}")
            dec = Decimal(repr(value))
        elif isinstance(value, Decimal):
            dec = value
        elif isinstance(value, str):
            dec = Decimal(value.strip())
        else:
            raise LocalProtocolError(f"{what} must be a number or numeric string, got {value!r}")
    except InvalidOperation:
        raise LocalProtocolError(f"{what} is not a number: {value!r}") from None
    if not dec.is_finite():
        raise LocalProtocolError(f"{what} must be finite, got {value!r}")
    return format(dec, "f")

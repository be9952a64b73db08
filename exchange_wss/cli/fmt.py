"""Text formatting shared by the terminal views and the plain output: numbers, ages,
rates, clock times, depth bars and sparklines. Pure functions, no ``rich``."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "num", "column", "decimals_of", "age", "rate", "clock", "bar", "sparkline",
    "spread_and_mid", "number", "fixed", "resample",
]

#: Most decimals a price column shows (tiny-price pairs such as 6.5e-7 need ~9).
MAX_PRICE_DECIMALS = 10
#: Most decimals a size column shows: sizes are rounded, prices never are.
MAX_SIZE_DECIMALS = 4

#: Eighth blocks of a sparkline, lowest first.
_SPARK = "▁▂▃▄▅▆▇█"


def number(value: Any) -> float | None:
    """``value`` as a float (Binance sends decimal text), or None when it is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def num(value: Any, spec: str = "g") -> str:
    """Format a number for display; ``-`` for the ``None`` of a field an exchange left out."""
    if value is None:
        return "-"
    if spec == "g":
        as_float = number(value)
        if as_float is None:
            return str(value)
        # Shortest text that reads back as the same float, without an exponent.
        return column([as_float], MAX_PRICE_DECIMALS)[0]
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def fixed(value: Any, places: int) -> str:
    """``value`` with exactly ``places`` decimals (``-`` when not a number)."""
    as_float = number(value)
    return "-" if as_float is None else f"{as_float:.{places}f}"


def decimals_of(value: float) -> int:
    """How many decimals the shortest exact text of ``value`` has (``60046.5`` -> 1,
    ``6.5e-07`` -> 8)."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        mantissa, _, exponent = text.lower().partition("e")
        frac = mantissa.partition(".")[2]
        return max(0, len(frac) - int(exponent))
    frac = text.partition(".")[2]
    return 0 if frac == "0" else len(frac)


def column(values: Iterable[Any], max_decimals: int = MAX_PRICE_DECIMALS) -> list[str]:
    """Format numbers with one common count of decimals, so a column lines up.

    Every value keeps all its decimals up to ``max_decimals`` (prices are never cut:
    ``max_decimals`` only rounds what has more, e.g. sizes).
    """
    floats = [number(v) for v in values]
    places = max((min(decimals_of(v), max_decimals) for v in floats if v is not None),
                 default=0)
    return ["-" if v is None else f"{v:,.{places}f}".replace(",", "") for v in floats]


def age(seconds: float | None) -> str:
    """A short age: ``0.2s``, ``12s``, ``3m05s``, ``2h10m``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def rate(per_second: float | None) -> str:
    """Messages per second: ``38/s``, ``2.5/s``, ``0/s``."""
    if per_second is None:
        return "-"
    if per_second >= 10 or per_second == 0:
        return f"{per_second:.0f}/s"
    return f"{per_second:.1f}/s"


def clock(mts: Any) -> str:
    """An exchange time in ms as ``HH:MM:SS.mmm`` UTC; ``-`` when absent."""
    ms = number(mts)
    if ms is None:
        return "-"
    seconds, millis = divmod(int(ms), 1000)
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}"


def bar(fraction: float, width: int, grow_left: bool = False) -> str:
    """A horizontal bar of ``fraction`` (0..1) of ``width`` cells, in half-cell steps.

    ``grow_left`` right-aligns it (bids grow away from the spread, leftwards).
    """
    if width <= 0:
        return ""
    halves = round(max(0.0, min(1.0, fraction)) * width * 2)
    full, half = divmod(halves, 2)
    if grow_left:
        text = ("▐" if half else "") + "█" * full
        return text.rjust(width)
    return ("█" * full + ("▌" if half else "")).ljust(width)


def sparkline(values: Sequence[float | None], width: int) -> str:
    """The last ``width`` values as a line of eighth blocks scaled to their range;
    ``None`` (no data in that slot) is a space."""
    if width <= 0:
        return ""
    values = list(values)[-width:]
    known = [v for v in values if v is not None]
    if not known:
        return " " * width
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif span == 0:
            out.append(_SPARK[len(_SPARK) // 2])
        else:
            out.append(_SPARK[min(len(_SPARK) - 1, int((v - low) / span * len(_SPARK)))])
    return "".join(out).rjust(width)


def resample(points: Sequence[tuple[float, float]], now: float, span: float,
             slots: int) -> list[float | None]:
    """Last price in each of ``slots`` equal time slots covering ``(now - span, now]``;
    a slot without a point carries the previous slot's price (None before the first)."""
    if slots <= 0:
        return []
    start = now - span
    step = span / slots
    out: list[float | None] = [None] * slots
    last: float | None = None
    for t, price in points:
        if t <= start:
            last = price
            continue
        index = min(slots - 1, int((t - start) / step))
        out[index] = price
    for i in range(slots):
        if out[i] is None:
            out[i] = last
        else:
            last = out[i]
    return out


def spread_and_mid(bid: Any, ask: Any) -> tuple[float | None, float | None,
                                                 float | None]:
    """``(spread, spread in basis points of the mid, mid)``; Nones without both sides."""
    b, a = number(bid), number(ask)
    if b is None or a is None:
        return None, None, None
    mid = (a + b) / 2
    spread = a - b
    return spread, (spread / mid * 10_000 if mid else None), mid

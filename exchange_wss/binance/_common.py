"""Helpers every Binance protocol module shares: the market names, argument
checks that raise :class:`~exchange_wss.errors.LocalProtocolError`, and readers of
Binance's wire values (decimal text, ms times)."""

from __future__ import annotations

import math
import re
from typing import Any, overload

from ..errors import LocalProtocolError

MARKETS = ("spot", "margin", "usdm", "coinm")
FUTURES_MARKETS = frozenset(("usdm", "coinm"))

# Characters that cannot be part of a symbol in a stream name or a URL.
_BAD_SYMBOL = re.compile(r"[\s@/!?&#=%]")


def _fail(message: str) -> LocalProtocolError:
    return LocalProtocolError(message)


def _check_market(market: Any) -> str:
    if market not in MARKETS:
        raise _fail(f"unknown market {market!r}; expected one of {MARKETS}")
    return market


def _rest_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip() or _BAD_SYMBOL.search(symbol.strip()):
        raise _fail(f"bad symbol {symbol!r}")
    return symbol.strip().upper()


def _stream_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip() or _BAD_SYMBOL.search(symbol.strip()):
        raise _fail(f"bad symbol {symbol!r}: a non-empty name without spaces, '@' or '/'")
    return symbol.strip().lower()


def _req_id(req_id: Any) -> Any:
    if isinstance(req_id, bool) or not isinstance(req_id, (int, str)):
        raise _fail(f"request id must be an int or a string, got {req_id!r}")
    return req_id


def _safe_float(value: Any) -> float | None:
    try:
        return None if value is None or value.__class__ is bool else float(value)
    except (TypeError, ValueError):
        return None


def _mts(value: Any) -> int | None:
    """An ms time as an int (``listenKeyExpired`` sends ``E`` as a string); else None."""
    cls = value.__class__
    if cls is int:
        return value
    if cls is str and value.isdigit() and value.isascii():
        return int(value)
    if cls is float and math.isfinite(value):
        return int(value)
    return None


@overload
def _f(value: str | float) -> float: ...
@overload
def _f(value: Any) -> float | None: ...
def _f(value: Any) -> float | None:
    """Decimal text -> float; None stays None; anything else unusable raises.

    Typed: a value read from decoded JSON is ``Any``, so the result is too; the
    overloads say what it is for a value whose type is known."""
    if value.__class__ is str:  # Binance's decimal text: the common case first
        return float(value)
    if value is None:
        return None
    if value.__class__ is bool:
        raise TypeError("boolean where a number was expected")
    return float(value)


def _levels(rows: Any) -> list[tuple[float, float]]:
    if rows.__class__ is not list:
        raise TypeError(f"levels must be an array, got {type(rows).__name__}")
    out = []
    for row in rows:
        if row.__class__ is not list or len(row) < 2:
            raise TypeError(f"bad level {row!r}")
        out.append((_f(row[0]), _f(row[1])))
    return out


def _is_int(value: Any) -> bool:
    return value.__class__ is int

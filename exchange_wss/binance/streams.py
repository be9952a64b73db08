"""Binance market stream names (validated per market), which USDT-M route serves
each, and the SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS control messages."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ._common import FUTURES_MARKETS, _check_market, _fail, _req_id, _stream_symbol

__all__ = ["KLINE_INTERVALS", "FUTURES_KLINE_INTERVALS", "DEPTH_LEVELS", "DEPTH_SPEEDS",
           "stream_name", "stream_route", "subscribe_request", "unsubscribe_request",
           "list_subscriptions_request"]

KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                   "1d", "3d", "1w", "1M")
FUTURES_KLINE_INTERVALS = KLINE_INTERVALS[1:]  # futures have no 1s klines
DEPTH_LEVELS = (5, 10, 20)
#: Diff-depth update speeds; the first is the default, named without a suffix.
DEPTH_SPEEDS = {"spot": ("1000ms", "100ms"), "margin": ("1000ms", "100ms"),
                "usdm": ("250ms", "500ms", "100ms", "0ms"),
                "coinm": ("250ms", "500ms", "100ms", "0ms")}
# Partial depth (depth5/10/20) has no 0ms variant.
_PARTIAL_SPEEDS = {"spot": ("1000ms", "100ms"), "margin": ("1000ms", "100ms"),
                   "usdm": ("250ms", "500ms", "100ms"), "coinm": ("250ms", "500ms", "100ms")}

# Streams USDT-M serves on /public; every other stream is on /market.
_PUBLIC_SUFFIX = re.compile(r"(bookTicker|depth(5|10|20)?(@\d+ms)?)")
_PARTIAL_SUFFIX = re.compile(r"depth(5|10|20)(@\d+ms)?")


def stream_route(stream: str, market: str) -> Optional[str]:
    """USDT-M's route for a stream: ``"public"`` (bookTicker, depth) or ``"market"``.

    Since the 2026 split a routed USDT-M connection only carries its route's
    streams, so book streams and the rest need separate connections. Other
    markets have no routes: None.
    """
    _check_market(market)
    if market != "usdm":
        return None
    suffix = stream.partition("@")[2] if "@" in stream else stream.lstrip("!")
    return "public" if _PUBLIC_SUFFIX.fullmatch(suffix) else "market"


_KINDS = {"trade": "trade", "aggtrade": "aggTrade", "kline": "kline",
          "bookticker": "bookTicker", "ticker": "ticker", "24hrticker": "ticker",
          "depth": "depth", "depth5": "depth", "depth10": "depth", "depth20": "depth"}


def _speed_text(speed: Any, allowed: Tuple[str, ...]) -> str:
    if speed is None:
        return allowed[0]
    if isinstance(speed, int) and not isinstance(speed, bool):
        text = f"{speed}ms"
    elif isinstance(speed, str):
        text = speed.strip()
        if text.isdigit():
            text += "ms"
    else:
        text = repr(speed)
    if text not in allowed:
        raise _fail(f"unknown depth speed {speed!r}; expected one of {allowed}")
    return text


def stream_name(kind: str, symbol: str, *, market: str = "spot", interval: Optional[str] = None,
                speed: Any = None, levels: Optional[int] = None) -> str:
    """A market stream name, validated, symbol lower-cased.

    Args:
        kind: ``"trade"``, ``"aggTrade"``, ``"kline"``, ``"bookTicker"``,
            ``"ticker"`` (24hrTicker), ``"depth"`` (diff; with ``levels``:
            partial) or ``"depth5"``/``"depth10"``/``"depth20"`` (partial).
        symbol: ``"BTCUSDT"`` (any case).
        market: decides the valid intervals and speeds.
        interval: klines only: one of :data:`KLINE_INTERVALS` (futures: no ``1s``).
        speed: depth only: ``"100ms"``/``100``...; the market's default speed
            (spot 1000ms, futures 250ms) is named without a suffix.
        levels: partial depth: 5, 10 or 20.

    Returns:
        e.g. ``"btcusdt@kline_1m"``, ``"btcusdt@depth@100ms"``, ``"btcusdt@depth5"``.

    Raises:
        LocalProtocolError: unknown kind, bad symbol, or an option that is
            invalid or does not belong to ``kind``.
    """
    _check_market(market)
    canonical = _KINDS.get(kind.lower()) if isinstance(kind, str) else None
    if canonical is None:
        raise _fail(f"unknown stream kind {kind!r}; expected one of "
                    "trade, aggTrade, kline, bookTicker, ticker, depth, depth5/10/20")
    sym = _stream_symbol(symbol)
    if canonical != "kline" and interval is not None:
        raise _fail(f"{kind} streams take no interval")
    if canonical != "depth" and (speed is not None or levels is not None):
        raise _fail(f"{kind} streams take no speed or levels")
    if canonical == "kline":
        intervals = FUTURES_KLINE_INTERVALS if market in FUTURES_MARKETS else KLINE_INTERVALS
        if interval not in intervals:
            raise _fail(f"unknown kline interval {interval!r}; expected one of {intervals}")
        return f"{sym}@kline_{interval}"
    if canonical != "depth":
        return f"{sym}@{canonical}"
    kind_levels = kind.lower()[5:]
    if kind_levels:
        if levels is not None and str(levels) != kind_levels:
            raise _fail(f"{kind} conflicts with levels={levels!r}")
        levels = int(kind_levels)
    if levels is not None:
        if isinstance(levels, bool) or levels not in DEPTH_LEVELS:
            raise _fail(f"partial depth levels must be one of {DEPTH_LEVELS}, got {levels!r}")
        allowed = _PARTIAL_SPEEDS[market]
        base = f"{sym}@depth{levels}"
    else:
        allowed = DEPTH_SPEEDS[market]
        base = f"{sym}@depth"
    text = _speed_text(speed, allowed)
    return base if text == allowed[0] else f"{base}@{text}"


def _stream_list(streams: Any) -> List[str]:
    if isinstance(streams, str):
        streams = [streams]
    out = list(streams)
    if not out or not all(isinstance(s, str) and s for s in out):
        raise _fail(f"streams must be non-empty stream names, got {out!r}")
    return out


def subscribe_request(streams: Iterable[str], req_id: Any) -> Dict[str, Any]:
    """``{"method":"SUBSCRIBE","params":[...],"id":N}``; answered by ``{"result":null,"id":N}``."""
    return {"method": "SUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def unsubscribe_request(streams: Iterable[str], req_id: Any) -> Dict[str, Any]:
    """``{"method":"UNSUBSCRIBE","params":[...],"id":N}``."""
    return {"method": "UNSUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def list_subscriptions_request(req_id: Any) -> Dict[str, Any]:
    """``{"method":"LIST_SUBSCRIPTIONS","id":N}``; the result is the list of streams."""
    return {"method": "LIST_SUBSCRIPTIONS", "id": _req_id(req_id)}

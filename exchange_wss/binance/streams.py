"""Binance market stream names (validated per market), which USDT-M route serves
each, and the SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS control messages."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._common import FUTURES_MARKETS, _check_market, _fail, _req_id, _stream_symbol

__all__ = ["KLINE_INTERVALS", "FUTURES_KLINE_INTERVALS", "DEPTH_LEVELS", "DEPTH_SPEEDS",
           "CONTRACT_TYPES", "MARK_PRICE_SPEEDS", "ALL_MARKET_STREAMS", "stream_name",
           "all_market_stream_name", "stream_route", "subscribe_request", "unsubscribe_request",
           "list_subscriptions_request"]

#: Kline intervals of the ``<symbol>@kline_<interval>`` streams (Spot; futures have no ``1s``).
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


def stream_route(stream: str, market: str) -> str | None:
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
          "depth": "depth", "depth5": "depth", "depth10": "depth", "depth20": "depth",
          "miniticker": "miniTicker", "24hrminiticker": "miniTicker",
          "markprice": "markPrice", "pairmarkprice": "pairMarkPrice",
          "forceorder": "forceOrder", "continuouskline": "continuousKline"}

#: Streams some markets lack: kind -> the markets that have it.
_KIND_MARKETS = {"markPrice": FUTURES_MARKETS, "forceOrder": FUTURES_MARKETS,
                 "continuousKline": FUTURES_MARKETS, "pairMarkPrice": frozenset(("coinm",))}
#: Contract types of continuous klines (sent lower-case in the name).
CONTRACT_TYPES = {"usdm": ("perpetual", "current_quarter", "next_quarter", "tradifi_perpetual"),
                  "coinm": ("perpetual", "current_quarter", "next_quarter")}
#: Mark price speeds: the default (3 s) is named without a suffix.
MARK_PRICE_SPEEDS = ("3s", "1s")

#: All-market streams: kind -> (name, the markets that serve it). Spot retired
#: ``!bookTicker`` on 2022-12-07 (SAD CHANGELOG) and ``!ticker@arr`` in late 2025
#: (deprecated 2025-11-14; binance-connector-js spot 25.0.0 of 2025-12-16 removed
#: it); ``!markPrice@arr`` is USDT-M only (COIN-M has ``<pair>@markPrice``).
ALL_MARKET_STREAMS = {
    "ticker": ("!ticker@arr", FUTURES_MARKETS),
    "miniTicker": ("!miniTicker@arr", frozenset(("spot", "margin", "usdm", "coinm"))),
    "markPrice": ("!markPrice@arr", frozenset(("usdm",))),
    "forceOrder": ("!forceOrder@arr", FUTURES_MARKETS),
    "bookTicker": ("!bookTicker", FUTURES_MARKETS),
}


def _speed_text(speed: Any, allowed: tuple[str, ...], what: str = "depth",
                unit: str = "ms") -> str:
    if speed is None:
        return allowed[0]
    if isinstance(speed, int) and not isinstance(speed, bool):
        text = f"{speed}{unit}"
    elif isinstance(speed, str):
        text = speed.strip()
        if text.isdigit():
            text += unit
    else:
        text = repr(speed)
    if text not in allowed:
        raise _fail(f"unknown {what} speed {speed!r}; expected one of {allowed}")
    return text


def _mark_speed(speed: Any) -> str:
    """``"1s"`` (also 1, 1000, "1000ms") or the default 3 s (None, 3, 3000, "3s")."""
    if isinstance(speed, str) and speed.strip().endswith("ms") and speed.strip()[:-2].isdigit():
        speed = int(speed.strip()[:-2])
    if isinstance(speed, int) and not isinstance(speed, bool) and speed in (1000, 3000):
        speed //= 1000
    return _speed_text(speed, MARK_PRICE_SPEEDS, "mark price", "s")


def _check_kind_market(canonical: str, kind: str, market: str) -> None:
    markets = _KIND_MARKETS.get(canonical)
    if markets is not None and market not in markets:
        raise _fail(f"{market} has no {kind} stream (only {', '.join(sorted(markets))})")


def stream_name(kind: str, symbol: str, *, market: str = "spot", interval: str | None = None,
                speed: Any = None, levels: int | None = None,
                contract_type: str | None = None) -> str:
    """A market stream name, validated for ``market``, symbol lower-cased.

    Args:
        kind: ``"trade"``, ``"aggTrade"``, ``"kline"``, ``"bookTicker"``,
            ``"ticker"`` (24hrTicker), ``"miniTicker"``, ``"depth"`` (diff;
            with ``levels``: partial) or ``"depth5"``/``"depth10"``/``"depth20"``
            (partial); futures only: ``"markPrice"``, ``"forceOrder"``
            (liquidations), ``"continuousKline"`` (``symbol`` is then the pair,
            ``"BTCUSDT"``/``"BTCUSD"``); COIN-M only: ``"pairMarkPrice"``
            (``<pair>@markPrice``: every contract of a pair, a list).
        symbol: ``"BTCUSDT"`` (any case).
        market: decides which kinds exist and the valid intervals and speeds.
        interval: klines only: one of :data:`KLINE_INTERVALS` (futures: no ``1s``).
        speed: depth: ``"100ms"``/``100``...; the market's default speed
            (spot 1000ms, futures 250ms) is named without a suffix. Mark
            price: ``"1s"`` (or 1/1000) or the default 3 s.
        levels: partial depth: 5, 10 or 20.
        contract_type: continuous klines: ``"perpetual"``, ``"current_quarter"``,
            ``"next_quarter"`` (USDT-M also ``"tradifi_perpetual"``).

    Returns:
        e.g. ``"btcusdt@kline_1m"``, ``"btcusdt@depth@100ms"``, ``"btcusdt@depth5"``,
        ``"btcusdt@markPrice@1s"``, ``"btcusdt_perpetual@continuousKline_1m"``.

    Raises:
        LocalProtocolError: unknown kind, a kind ``market`` does not serve, bad
            symbol, or an option that is invalid or does not belong to ``kind``.
    """
    _check_market(market)
    canonical = _KINDS.get(kind.lower()) if isinstance(kind, str) else None
    if canonical is None:
        raise _fail(f"unknown stream kind {kind!r}; expected one of "
                    "trade, aggTrade, kline, bookTicker, ticker, miniTicker, depth, "
                    "depth5/10/20, markPrice, pairMarkPrice, forceOrder, continuousKline")
    _check_kind_market(canonical, kind, market)
    sym = _stream_symbol(symbol)
    if canonical not in ("kline", "continuousKline") and interval is not None:
        raise _fail(f"{kind} streams take no interval")
    if canonical != "continuousKline" and contract_type is not None:
        raise _fail(f"{kind} streams take no contract_type")
    if canonical != "depth" and levels is not None:
        raise _fail(f"{kind} streams take no levels")
    if canonical not in ("depth", "markPrice", "pairMarkPrice") and speed is not None:
        raise _fail(f"{kind} streams take no speed")
    if canonical in ("kline", "continuousKline"):
        intervals = FUTURES_KLINE_INTERVALS if market in FUTURES_MARKETS else KLINE_INTERVALS
        if interval not in intervals:
            raise _fail(f"unknown kline interval {interval!r}; expected one of {intervals}")
        if canonical == "kline":
            return f"{sym}@kline_{interval}"
        types = CONTRACT_TYPES[market]
        ctype = contract_type.strip().lower() if isinstance(contract_type, str) else None
        if ctype not in types:
            raise _fail(f"unknown contract type {contract_type!r}; expected one of {types}")
        return f"{sym}_{ctype}@continuousKline_{interval}"
    if canonical in ("markPrice", "pairMarkPrice"):
        text = _mark_speed(speed)
        return f"{sym}@markPrice" if text == MARK_PRICE_SPEEDS[0] else f"{sym}@markPrice@{text}"
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


def all_market_stream_name(kind: str, *, market: str = "spot", speed: Any = None) -> str:
    """The name of an all-market stream, validated for ``market``.

    Args:
        kind: ``"ticker"`` (``!ticker@arr``, futures), ``"miniTicker"``
            (``!miniTicker@arr``, every market), ``"markPrice"``
            (``!markPrice@arr``, USDT-M), ``"forceOrder"`` (``!forceOrder@arr``,
            futures), ``"bookTicker"`` (``!bookTicker``, futures).
        market: the market.
        speed: ``markPrice`` only: ``"1s"`` or the default 3 s.

    Returns:
        e.g. ``"!miniTicker@arr"``, ``"!markPrice@arr@1s"``, ``"!bookTicker"``.

    The ``@arr`` streams carry a list of events per message (the changed
    symbols), except ``!forceOrder@arr``, which carries one liquidation per
    message; ``!bookTicker`` carries one book ticker per message.

    Raises:
        LocalProtocolError: unknown kind, or one ``market`` does not serve.
    """
    _check_market(market)
    canonical = _KINDS.get(kind.lower()) if isinstance(kind, str) else None
    entry = ALL_MARKET_STREAMS.get(canonical) if canonical else None
    if entry is None:
        raise _fail(f"unknown all-market stream kind {kind!r}; expected one of "
                    f"{', '.join(ALL_MARKET_STREAMS)}")
    name, markets = entry
    if market not in markets:
        raise _fail(f"{market} has no {name} stream (only {', '.join(sorted(markets))})")
    if canonical == "markPrice":
        text = _mark_speed(speed)
        return name if text == MARK_PRICE_SPEEDS[0] else f"{name}@{text}"
    if speed is not None:
        raise _fail(f"{name} takes no speed")
    return name


def _stream_list(streams: Any) -> list[str]:
    if isinstance(streams, str):
        streams = [streams]
    out = list(streams)
    if not out or not all(isinstance(s, str) and s for s in out):
        raise _fail(f"streams must be non-empty stream names, got {out!r}")
    return out


def subscribe_request(streams: Iterable[str], req_id: Any) -> dict[str, Any]:
    """``{"method":"SUBSCRIBE","params":[...],"id":N}``; answered by ``{"result":null,"id":N}``."""
    return {"method": "SUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def unsubscribe_request(streams: Iterable[str], req_id: Any) -> dict[str, Any]:
    """``{"method":"UNSUBSCRIBE","params":[...],"id":N}``."""
    return {"method": "UNSUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def list_subscriptions_request(req_id: Any) -> dict[str, Any]:
    """``{"method":"LIST_SUBSCRIPTIONS","id":N}``; the result is the list of streams."""
    return {"method": "LIST_SUBSCRIPTIONS", "id": _req_id(req_id)}

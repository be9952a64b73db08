"""Parsers of Binance market-stream data: one combined frame's ``data`` in, one
typed model out (Trade, Ticker, MiniTicker, BookTicker, Candle, BookDiff,
BookSnapshot, MarkPrice, LiquidationOrder).

All-market ``@arr`` streams carry a list of such payloads: the session applies
the parser to each element.

Typing: a payload is decoded JSON (``Any``), read with ``.get``; ``symbol`` is the
stream's (all-market streams have none and pass None: their payloads name it, ``s``).
"""

from __future__ import annotations

from math import isfinite
from typing import Any

from ..errors import RemoteProtocolError
from ..models import (
    BookDiff,
    BookSnapshot,
    BookTicker,
    Candle,
    LiquidationOrder,
    MarkPrice,
    MiniTicker,
    Ticker,
    Trade,
)
from ..orderbook import OrderBook
from ._common import _f, _is_int, _levels, _mts

_SIGN = {"BUY": 1.0, "SELL": -1.0}


def _num(d: Any, key: str) -> float:
    """A field the model cannot do without: present, a number, finite (else raise)."""
    value = _f(d[key])
    if value is None or not isfinite(value):
        raise ValueError(f"{key} is not a finite number: {value!r}")
    return value


def _trade(d: Any, symbol: str) -> Trade:
    qty = _num(d, "q")
    # m: the buyer was the maker, so the taker sold.
    amount = -qty if d.get("m") is True else qty
    agg = d.get("e") == "aggTrade" if "e" in d else ("f" in d and "l" in d)
    return Trade(d.get("s") or symbol, d.get("a") if agg else d.get("t"),
                 _mts(d.get("T")) or _mts(d.get("E")), amount, _num(d, "p"),
                 "aggTrade" if agg else "trade", d)


def _ticker(d: Any, symbol: str) -> Ticker:
    rel = _f(d.get("P"))
    # Futures tickers carry no best bid/ask (b, B, a, A): those stay None.
    return Ticker(d.get("s") or symbol, _f(d.get("b")), _f(d.get("B")), _f(d.get("a")),
                  _f(d.get("A")), _f(d.get("p")), None if rel is None else rel / 100.0,
                  _num(d, "c"), _f(d.get("v")), _f(d.get("h")), _f(d.get("l")), d)


def _book_ticker(d: Any, symbol: str) -> BookTicker:
    # Futures bookTickers carry T and E; spot ones no time at all, so look
    # before converting (two calls per message saved on spot).
    mts = d.get("T")
    if mts is not None:
        mts = _mts(mts)
    if mts is None:
        mts = d.get("E")
        if mts is not None:
            mts = _mts(mts)
    return BookTicker(d.get("s") or symbol, _num(d, "b"), _f(d.get("B")), _num(d, "a"),
                      _f(d.get("A")), d.get("u"), mts, d)


def _kline(d: Any, symbol: str) -> Candle:
    k = d["k"]
    closed = k.get("x")
    return Candle(k.get("s") or d.get("s") or symbol, k.get("i"), _mts(k.get("t")),
                  _num(k, "o"), _num(k, "c"), _num(k, "h"), _num(k, "l"),
                  _f(k.get("v")), d, closed if closed.__class__ is bool else None)


def _diff(d: Any, symbol: str) -> BookDiff:
    first, last, prev = d["U"], d["u"], d.get("pu")
    if not (_is_int(first) and _is_int(last)) or first > last:
        raise RemoteProtocolError(f"bad update ids U={first!r} u={last!r}")
    if prev is not None and not _is_int(prev):
        raise RemoteProtocolError(f"bad pu {prev!r}")
    return BookDiff(d.get("s") or symbol, _levels(d["b"]), _levels(d["a"]), first, last, prev,
                    _mts(d.get("E")), d)


def _partial(d: Any, symbol: str, book: OrderBook | None) -> BookSnapshot:
    # Spot partial depth: {lastUpdateId, bids, asks}; futures: a depthUpdate-shaped
    # {e, s, U, u, pu, b, a} that is nevertheless the whole top of book.
    bids = _levels(d["bids"] if "bids" in d else d["b"])
    asks = _levels(d["asks"] if "asks" in d else d["a"])
    sym = d.get("s") or symbol
    if book is not None:
        book.set_snapshot(bids, asks)
        return BookSnapshot(sym, book.bids, book.asks, d)
    return BookSnapshot(sym, bids, asks, d)


def _passthrough(d: Any, symbol: str) -> Any:
    return d


def _mini_ticker(d: Any, symbol: str) -> MiniTicker:
    return MiniTicker(d.get("s") or symbol, _f(d.get("o")), _f(d.get("c")), _f(d.get("h")),
                      _f(d.get("l")), _f(d.get("v")), _f(d.get("q")), _mts(d.get("E")),
                      d.get("ps"), d)


def _optional_f(value: Any) -> float | None:
    # Delivery contracts send "" for the funding rate: not a number, not an error.
    return None if value == "" else _f(value)


def _mark_price(d: Any, symbol: str) -> MarkPrice:
    if d.get("e") not in (None, "markPriceUpdate"):
        raise ValueError(f"not a markPriceUpdate: {d.get('e')!r}")
    nxt = _mts(d.get("T"))
    return MarkPrice(d.get("s") or symbol, _f(d.get("p")), _optional_f(d.get("i")),
                     _optional_f(d.get("P")), _optional_f(d.get("r")), nxt or None,
                     _mts(d.get("E")), d)


def _force_order(d: Any, symbol: str) -> LiquidationOrder:
    o = d["o"]
    sign = _SIGN.get(o.get("S"))
    if sign is None:
        raise ValueError(f"unknown side {o.get('S')!r}")
    return LiquidationOrder(o.get("s") or symbol, sign * _f(o["q"]), _f(o.get("p")),
                            _f(o.get("ap")), o.get("X"), _f(o.get("z")), _f(o.get("l")),
                            o.get("o"), o.get("f"), _mts(o.get("T")) or _mts(d.get("E")),
                            o.get("ps"), d)


def _continuous_kline(d: Any, symbol: str) -> Candle:
    # The pair is the symbol (``ps``); the contract type stays in raw["ct"].
    k = d["k"]
    closed = k.get("x")
    return Candle(d.get("ps") or symbol, k.get("i"), _mts(k.get("t")), _f(k.get("o")),
                  _f(k.get("c")), _f(k.get("h")), _f(k.get("l")), _f(k.get("v")), d,
                  closed if closed.__class__ is bool else None)


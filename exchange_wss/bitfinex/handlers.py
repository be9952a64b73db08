"""Bitfinex v2 frames to typed models: row parsers and one handler per bound channel, pure.

A handler is bound to one chanId of one connection by
:class:`~exchange_wss.bitfinex.session.BitfinexSession` and gets every frame of
that chanId. It parses inside ``try`` and delivers outside it: a frame whose
shape does not fit its channel (a missing field, a number that is not a finite
number) becomes a :class:`~exchange_wss._session.MalformedFrame` and is never
delivered, while an exception raised by the user's callback propagates (the
facade guards callbacks).

Arrays are never unpacked to a fixed length: Bitfinex appends fields, the
TIMESTAMP flag appends a time, SEQ_ALL appends sequence numbers. Fields the
models need must be there; fields after them may come or not.
"""

from __future__ import annotations

from collections.abc import Callable
from math import isfinite
from typing import Any

from .._session import MalformedFrame, ResyncNeeded, short
from ..models import (
    BookSnapshot,
    BookUpdate,
    Candle,
    CandlesSnapshot,
    DerivativesStatus,
    Fill,
    FundingBookUpdate,
    FundingRawBookUpdate,
    FundingTicker,
    FundingTrade,
    Liquidation,
    Notification,
    Order,
    Position,
    RawBookUpdate,
    Snapshot,
    Ticker,
    Trade,
    TradesSnapshot,
    Wallet,
    book_level_kind,
)
from ..orderbook import OrderBook

__all__ = ["parse_auth_frame", "make_handler", "AuthHandler", "RawAuthHandler"]


# ------------------------------------------------------------------------ row parsers

def _pad(row: Any, n: int) -> list:
    """``row`` with at least ``n`` items (missing trailing fields become None)."""
    if row.__class__ is not list:
        raise TypeError(f"expected an array, got {type(row).__name__}")
    if len(row) >= n:
        return row
    return row + [None] * (n - len(row))


def _numbers(row: Any, n: int) -> list:
    """``row`` if its first ``n`` items are finite numbers, else raise.

    ``sum`` does the type check in C (it raises on None and strings) and a
    non-finite item makes the sum non-finite, so one call checks all of them.
    """
    if row.__class__ is not list:
        raise TypeError(f"expected an array, got {type(row).__name__}")
    if len(row) < n:
        raise ValueError(f"expected at least {n} fields, got {len(row)}")
    if not isfinite(sum(row[:n])):
        raise ValueError("a number is not finite")
    return row


def _order(row: Any, kind: str, raw: Any) -> Order:
    r = _pad(row, 18)
    return Order(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[13], r[16], r[17],
                 r[12], kind, raw)


def _wallet(row: Any, kind: str, raw: Any) -> Wallet:
    r = _pad(row, 5)
    return Wallet(r[0], r[1], r[2], r[3], r[4], kind, raw)


def _position(row: Any, kind: str, raw: Any) -> Position:
    # [SYMBOL,STATUS,AMOUNT,BASE_PRICE,MARGIN_FUNDING,MARGIN_FUNDING_TYPE,PL,PL_PERC,
    #  PRICE_LIQ,LEVERAGE,_,POSITION_ID,...]
    r = _pad(row, 12)
    return Position(r[0], r[1], r[2], r[3], r[6], r[8], r[9], r[11], kind, raw)


def _fill(row: Any, kind: str, raw: Any) -> Fill:
    # [ID,SYMBOL,MTS_CREATE,ORDER_ID,EXEC_AMOUNT,EXEC_PRICE,ORDER_TYPE,ORDER_PRICE,
    #  MAKER,FEE,FEE_CURRENCY,CID]
    r = _pad(row, 12)
    maker = r[8]
    return Fill(r[0], r[1], r[2], r[3], r[4], r[5], r[9], r[10],
                None if maker is None else maker == 1, r[6], r[7], r[11], None, kind, raw)


_ORDER_REQS = frozenset(("on-req", "ou-req", "oc-req"))
_MULTI_REQS = frozenset(("oc_multi-req", "ox_multi-req"))


def _notification_data(ntype: Any, data: Any) -> Any:
    if data.__class__ is not list:
        return data
    if ntype in _ORDER_REQS:
        if not data or data[0].__class__ is not list:
            return _order(data, ntype, data)
        return data
    if ntype in _MULTI_REQS and data and all(d.__class__ is list for d in data):
        out: list[Order | Notification] = []
        for item in data:
            # ox_multi answers may nest one notification per operation.
            if len(item) > 1 and item[1].__class__ is str:
                out.append(_notification(item, item))
            else:
                out.append(_order(item, ntype, item))
        return out
    return data


def _notification(row: Any, raw: Any) -> Notification:
    # [MTS,TYPE,MESSAGE_ID,null,DATA,CODE,STATUS,TEXT]; MTS kept as sent (ms or s).
    r = _pad(row, 8)
    ntype = r[1]
    return Notification(r[0], ntype, r[6], r[7], _notification_data(ntype, r[4]), raw)


_AUTH_ITEM_PARSERS: dict[str, Callable[[Any, str, Any], Any]] = {
    "on": _order, "ou": _order, "oc": _order,
    "te": _fill, "tu": _fill,
    "wu": _wallet,
    "pn": _position, "pu": _position, "pc": _position,
}
_SNAPSHOT_ITEM_PARSERS: dict[str, Callable[[Any, str, Any], Any]] = {
    "os": _order, "hos": _order, "ps": _position, "ws": _wallet,
}


def _parse_auth(msg: list) -> Any:
    """Chan-0 frame -> typed event, the frame itself, or None (heartbeat). May raise."""
    kind = msg[1]
    if kind == "hb":
        return None
    if kind == "n":
        return _notification(msg[2], msg)
    parser = _AUTH_ITEM_PARSERS.get(kind)
    if parser is not None:
        return parser(msg[2], kind, msg)
    if kind.__class__ is str and kind.endswith("s") and len(msg) > 2:
        payload = msg[2]
        if payload.__class__ is list and all(row.__class__ is list for row in payload):
            item = _SNAPSHOT_ITEM_PARSERS.get(kind)
            items = [item(row, kind, row) for row in payload] if item else list(payload)
            return Snapshot(kind, items, msg)
    return msg


def parse_auth_frame(msg: Any) -> Any:
    """Turn a decoded chan-0 frame into its typed event (for raw-mode users).

    Returns:
        A :class:`~exchange_wss.models.Order`, ``Fill``, ``Wallet``, ``Position``,
        ``Notification`` or ``Snapshot``; the frame itself for streams without a
        model; None for heartbeats and frames that cannot be parsed.
    """
    if msg.__class__ is not list or len(msg) < 2:
        return None
    try:
        return _parse_auth(msg)
    except Exception:
        return None


# ------------------------------------------------------------------------ channel handlers

class _Handler:
    """One bound channel: ``handle(msg)`` gets each frame of its chanId.

    ``sub`` is the :class:`~exchange_wss._subscriptions.Subscription` it
    serves: events go to ``sub.deliver`` (read per event, so callbacks added
    later are reached), its book is ``sub.book``.
    """

    __slots__ = ("session", "sub", "chan_id", "spec", "symbol", "frames")

    def __init__(self, session: Any, sub: Any, chan_id: Any):
        self.session = session
        self.sub = sub
        self.chan_id = chan_id
        self.spec = sub.spec
        self.symbol = self.spec.symbol
        #: data frames handled (heartbeats excluded), for health reports.
        self.frames = 0

    def _label(self) -> str:
        return self.spec.label

    def _bad(self, msg: Any, exc: BaseException) -> None:
        self.session._on_control(MalformedFrame(
            f"{self._label()}: {type(exc).__name__}: {short(str(exc), 80)} in {short(msg)}", msg))

    def _unexpected(self, msg: Any, what: Any) -> None:
        self.session._on_control(MalformedFrame(
            f"{self._label()}: unexpected {short(what, 40)} in {short(msg)}", msg))


class _RawHandler(_Handler):
    """Raw mode: the decoded frame, heartbeats dropped."""

    __slots__ = ()

    def handle(self, msg: list) -> None:
        if len(msg) < 2:
            self._unexpected(msg, "frame without payload")
            return
        if msg[1] == "hb":
            return
        self.frames += 1
        self.sub.deliver(msg)


class _TickerHandler(_Handler):
    __slots__ = ()

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            # A body Bitfinex has grown keeps its first ten; a short one raises
            # ValueError here.
            if len(body) == 10:
                b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = body
            else:
                b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = body[:10]
            # Adding them checks all ten at once: a null, text or list raises
            # TypeError. (orjson yields no NaN or infinity: JSON has none.)
            _ = b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8 + b9
            event = Ticker(self.symbol, b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, msg)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.sub.deliver(event)


class _FundingTickerHandler(_Handler):
    __slots__ = ()

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            # FRR .. LOW are numbers; the two placeholders and FRR_AMOUNT_AVAILABLE may be null.
            b = _pad(_numbers(body, 13), 16)
            event = FundingTicker(self.symbol, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                                  b[8], b[9], b[10], b[11], b[12], b[15], msg)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.sub.deliver(event)


def _mts_id(trade: Any) -> tuple:
    return (trade.mts, trade.id)


class _TradesHandler(_Handler):
    __slots__ = ("funding",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.funding = self.spec.is_funding

    def _row(self, row: Any, kind: str, raw: Any) -> Any:
        if self.funding:
            r = _numbers(row, 5)
            return FundingTrade(self.symbol, r[0], r[1], r[2], r[3], r[4], kind, raw)
        r = _numbers(row, 4)
        return Trade(self.symbol, r[0], r[1], r[2], r[3], kind, raw)

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            event: Trade | FundingTrade | TradesSnapshot
            if body.__class__ is str:
                if body == "te" or body == "tu":
                    r = _numbers(msg[2], 4)
                    event = Trade(self.symbol, r[0], r[1], r[2], r[3], body, msg)
                elif body == "fte" or body == "ftu":
                    r = _numbers(msg[2], 5)
                    event = FundingTrade(self.symbol, r[0], r[1], r[2], r[3], r[4], body, msg)
                elif body == "hb":
                    return
                else:
                    self._unexpected(msg, body)
                    return
            elif body.__class__ is list:
                trades = [self._row(row, "snapshot", row) for row in body]
                # Bitfinex sends newest first; users get oldest first.
                trades.sort(key=_mts_id)
                event = TradesSnapshot(self.symbol, trades, msg)
            else:
                self._unexpected(msg, body)
                return
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.sub.deliver(event)


class _BookHandler(_Handler):
    """Book frames: snapshot, single updates (or bulk batches), ``cs`` and ``hb``.

    An update before the snapshot, or a checksum that differs from the book,
    asks for a resync (:class:`~exchange_wss._session.ResyncNeeded`) once and
    delivers nothing more until the next snapshot: a book known to be wrong
    is never passed on as if it were right.
    """

    __slots__ = ("raw", "kind", "funding", "width", "have_snapshot", "broken", "_make")

    def __init__(self, session: Any, sub: Any, chan_id: Any, raw: bool):
        super().__init__(session, sub, chan_id)
        self.raw = raw
        self.kind = "raw" if self.spec.is_raw_book else "price"
        self.funding = self.spec.is_funding
        self.width = 4 if self.funding else 3
        self.have_snapshot = False
        # Set once a resync was asked for; cleared by the next snapshot.
        self.broken = False
        # Funding levels have one field more (the period): called with 4 or 5 arguments.
        self._make: Callable[..., BookUpdate | RawBookUpdate | FundingBookUpdate
                             | FundingRawBookUpdate]
        if self.funding:
            self._make = FundingRawBookUpdate if self.kind == "raw" else FundingBookUpdate
        else:
            self._make = RawBookUpdate if self.kind == "raw" else BookUpdate

    def _event(self, entry: Any, raw: Any) -> Any:
        if self.funding:
            return self._make(self.symbol, entry[0], entry[1], entry[2], entry[3], raw)
        return self._make(self.symbol, entry[0], entry[1], entry[2], raw)

    def handle(self, msg: list) -> None:
        events = None
        try:
            body = msg[1]
            if body.__class__ is list:
                if body and body[0].__class__ is not list:
                    # One update: the hot path.
                    if not self.have_snapshot:
                        self._out_of_order()
                        return
                    if self.broken:
                        return
                    # Inline check (the hot path): a missing field raises
                    # IndexError, a null or text TypeError (orjson yields no NaN
                    # or infinity).
                    if self.funding:
                        _ = body[0] + body[1] + body[2] + body[3]
                    else:
                        _ = body[0] + body[1] + body[2]
                    book = self.sub.book
                    if book is not None:
                        book.apply_update(body)
                    event = msg if self.raw else self._event(body, msg)
                elif self.have_snapshot and self.session._bulk:
                    # BULK_UPDATES: after the snapshot a list of entries is a batch.
                    if self.broken:
                        return
                    width = self.width
                    for entry in body:
                        _numbers(entry, width)
                    book = self.sub.book
                    if book is not None:
                        for entry in body:
                            book.apply_update(entry)
                    if self.raw:
                        event = msg
                    else:
                        make = self._event
                        events = [make(entry, entry) for entry in body]
                        event = None
                else:
                    event = self._snapshot(body, msg)
            elif body == "cs":
                self._checksum(msg)
                return
            elif body == "hb":
                return
            else:
                self._unexpected(msg, body)
                return
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        if events is None:
            self.sub.deliver(event)
        else:
            deliver = self.sub.deliver
            for event in events:
                deliver(event)

    def _snapshot(self, body: list, msg: list) -> Any:
        width = self.width
        for entry in body:
            _numbers(entry, width)
        book = self.sub.book
        if book is None:
            book = OrderBook(self.symbol, kind=self.kind, funding=self.funding)
        book.apply_snapshot(body)
        self.have_snapshot = True
        self.broken = False
        if self.raw:
            return msg
        return BookSnapshot(self.symbol, book.bids, book.asks, msg,
                            kind=book_level_kind(book.kind, book.funding))

    def _out_of_order(self) -> None:
        if not self.broken:
            self.broken = True
            self.session._on_control(ResyncNeeded(self.sub, "order",
                                                  "book update before its snapshot"))

    def _checksum(self, msg: list) -> None:
        book = self.sub.book
        if book is None or not self.have_snapshot or self.broken:
            return
        expected = msg[2] if len(msg) > 2 else None
        computed = book.checksum()
        if computed is None:  # funding books: not verifiable
            return
        if computed != expected:
            self.broken = True
            book.synced = False
            self.session._on_control(ResyncNeeded(
                self.sub, "checksum", f"checksum {computed} != server {short(expected, 20)}"))


class _CandlesHandler(_Handler):
    __slots__ = ("timeframe",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.timeframe = self.spec.timeframe

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            sym, tf = self.symbol, self.timeframe
            event: Candle | CandlesSnapshot
            if body and body[0].__class__ is not list:
                r = _numbers(body, 6)
                event = Candle(sym, tf, r[0], r[1], r[2], r[3], r[4], r[5], msg)
            else:
                candles = []
                for row in body:
                    r = _numbers(row, 6)
                    candles.append(Candle(sym, tf, r[0], r[1], r[2], r[3], r[4], r[5], row))
                # Bitfinex sends newest first; users get oldest first.
                candles.sort(key=_candle_mts)
                event = CandlesSnapshot(sym, tf, candles, msg)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.sub.deliver(event)


def _candle_mts(candle: Candle) -> Any:
    return candle.mts


def _deriv(key: str, row: Any, raw: Any) -> DerivativesStatus:
    # [MTS,_,DERIV_PRICE,SPOT_PRICE,_,INSURANCE_FUND_BALANCE,_,NEXT_FUNDING_EVT_MTS,
    #  NEXT_FUNDING_ACCRUED,NEXT_FUNDING_STEP,_,CURRENT_FUNDING,_,_,MARK_PRICE,_,_,
    #  OPEN_INTEREST,...]; short rows are common (fields were added over the years).
    r = _pad(row, 18)
    if r[0].__class__ is not int:
        raise ValueError("derivatives status without a time")
    return DerivativesStatus(key, r[0], r[2], r[3], r[5], r[7], r[8], r[9], r[11], r[14],
                             r[17], raw)


def _liquidation(row: Any) -> Liquidation:
    # ["pos",POS_ID,MTS,_,SYMBOL,AMOUNT,BASE_PRICE,_,IS_MATCH,IS_MARKET_SOLD,_,LIQ_PRICE]
    r = _pad(row, 12)
    return Liquidation(r[1], r[2], r[4], r[5], r[6], r[8], r[9], r[11], row)


class _StatusHandler(_Handler):
    __slots__ = ("liq",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.liq = self.spec.key.startswith("liq:")

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            events: list[Any]  # Liquidation or DerivativesStatus, by the channel
            if self.liq:
                # Each row is one liquidation; a snapshot may nest them deeper.
                events = []
                for row in body:
                    if row and row[0].__class__ is list:
                        events.extend(_liquidation(r) for r in row)
                    else:
                        events.append(_liquidation(row))
            elif body and body[0].__class__ is list:
                events = [_deriv(self.spec.key, row, row) for row in body]
            else:
                events = [_deriv(self.spec.key, body, msg)]
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        deliver = self.sub.deliver
        for event in events:
            deliver(event)


class AuthHandler:
    """Chan 0: account streams to models; anything without a model as the frame."""

    __slots__ = ("session", "deliver", "frames")

    def __init__(self, session: Any, deliver: Callable[[Any], None]):
        self.session = session
        self.deliver = deliver
        self.frames = 0

    def handle(self, msg: list) -> None:
        """Deliver one chan-0 frame as its typed event (heartbeats dropped)."""
        try:
            event = _parse_auth(msg)
        except Exception as exc:
            self.session._on_control(MalformedFrame(
                f"account: {type(exc).__name__}: {short(str(exc), 80)} in {short(msg)}", msg))
            return
        if event is not None:
            self.frames += 1
            self.deliver(event)


class RawAuthHandler(AuthHandler):
    """Chan 0 in raw mode: the decoded frames, heartbeats dropped."""

    __slots__ = ()

    def handle(self, msg: list) -> None:
        """Deliver one chan-0 frame as received (heartbeats dropped)."""
        if len(msg) < 2:
            self.session._on_control(MalformedFrame(f"account: frame without payload: "
                                                    f"{short(msg)}", msg))
            return
        if msg[1] == "hb":
            return
        self.frames += 1
        self.deliver(msg)


_TYPED_HANDLERS = {
    "trades": _TradesHandler,
    "candles": _CandlesHandler,
    "status": _StatusHandler,
}


def make_handler(session: Any, sub: Any, chan_id: Any, raw: bool) -> Any:
    """The handler for ``sub``'s channel (its ``spec`` is a ``ChannelSpec``)."""
    channel = sub.spec.channel
    if channel == "book":
        return _BookHandler(session, sub, chan_id, raw)
    if raw:
        return _RawHandler(session, sub, chan_id)
    cls: type[_Handler]
    if channel == "ticker":
        cls = _FundingTickerHandler if sub.spec.is_funding else _TickerHandler
        return cls(session, sub, chan_id)
    cls = _TYPED_HANDLERS.get(channel, _RawHandler)
    return cls(session, sub, chan_id)

"""FTX WebSocket, sans-I/O: decoded JSON in, typed events out; requests in, frames out.

Nothing here imports Twisted or autobahn. The connection layer decodes each
message (``orjson.loads``) and hands it to :meth:`FtxSession.receive`; the
facade builds login, ping and (un)subscribe requests with the module functions
and sends them serialised. One :class:`FtxSession` lives per connection (a
fresh one after every reconnect).

Wire facts follow ``shared/protocol/ftx.md``. FTX shut down in Nov 2022; the
protocol is kept for FTX-protocol venues, simulators and recordings.

- One connection carries everything; data frames are
  ``{"channel","market","type":"partial"|"update","data"}`` (``fills`` and
  ``orders`` have no market) and are routed by ``(channel, market)``.
- Numbers are JSON numbers and become floats. Times: fills, orders and trades
  carry ISO 8601 text, books and tickers float seconds; both become ``mts``
  (integer ms, truncated).
- Book checksums: unsigned CRC32 over the top 100 levels interleaved
  ``bidP:bidS:askP:askS:...``, each number written as Python's ``str(float)``
  (``9805.0``, ``2.262e-05``), not as the wire text (``9805``, ``0.00002262``);
  see :meth:`~exchange_wss.orderbook.OrderBook.ftx_checksum`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, overload

from .._session import (
    MalformedFrame,
    ResyncNeeded,
    SubscribeConfirmed,
    SubscribeRefused,
    Unexpected,
    UnsubscribeConfirmed,
    UnsubscribeRefused,
    short,
)
from ..errors import LocalProtocolError
from ..models import BookDiff, BookSnapshot, Fill, Order, Ticker, Trade, Wallet
from ..orderbook import OrderBook

__all__ = [
    # constants
    "DEFAULT_URL", "PING_INTERVAL", "CHANNELS", "PRIVATE_CHANNELS", "MARKET_CHANNELS",
    "CHECKSUM_DEPTH", "INFO_RESTARTING",
    # requests
    "login_signature", "login_request", "ping_request", "subscribe_request",
    "unsubscribe_request", "DEFAULT_REST_URL", "rest_headers", "order_payload",
    "order_from_rest", "wallets_from_rest",
    # control events (besides the shared ones of exchange_wss._session)
    "Pong", "LoginError", "ErrorEvent", "InfoEvent",
    # session
    "FtxSession",
]

# --------------------------------------------------------------------------- constants

DEFAULT_URL = "wss://ftx.com/ws/"
#: FTX placed orders over REST; paths below are relative to this base.
DEFAULT_REST_URL = "https://ftx.com/api"
#: Seconds between ``{"op":"ping"}`` (FTX: "every 15 seconds").
PING_INTERVAL = 15.0
#: Channels that take no market (need a login).
PRIVATE_CHANNELS = frozenset(("fills", "orders"))
#: Channels that need a market.
MARKET_CHANNELS = frozenset(("ticker", "trades", "orderbook"))
CHANNELS = ("fills", "orders", "ticker", "trades", "orderbook")
#: Levels per side the book checksum covers.
CHECKSUM_DEPTH = 100
#: ``info`` code: "Server restarting, please reconnect".
INFO_RESTARTING = 20001


def _fail(message: str) -> LocalProtocolError:
    return LocalProtocolError(message)


# ----------------------------------------------------------------------------- requests

def login_signature(secret: str, time_ms: int) -> str:
    """Hex HMAC-SHA256 of ``f"{time_ms}websocket_login"`` keyed with ``secret``."""
    return hmac.new(secret.encode(), f"{time_ms}websocket_login".encode(),
                    hashlib.sha256).hexdigest()


def login_request(api_key: str, secret: str, time_ms: int,
                  subaccount: str | None = None) -> dict[str, Any]:
    """``{"op":"login","args":{"key","sign","time"[,"subaccount"]}}``.

    Args:
        api_key: the API key.
        secret: the API secret (used for the signature only, never sent).
        time_ms: the current time in ms (FTX refuses stale times); use a fresh
            one for every login.
        subaccount: the subaccount's name, or None for the main account.

    Raises:
        LocalProtocolError: an empty key or secret, a time that is not a
            non-negative int, or an empty/non-string subaccount.
    """
    if not isinstance(api_key, str) or not api_key:
        raise _fail("an API key is required")
    if not isinstance(secret, str) or not secret:
        raise _fail("an API secret is required")
    if time_ms.__class__ is not int or time_ms < 0:
        raise _fail(f"time_ms must be a non-negative int, got {time_ms!r}")
    args: dict[str, Any] = {"key": api_key, "sign": login_signature(secret, time_ms),
                            "time": time_ms}
    if subaccount is not None:
        if not isinstance(subaccount, str) or not subaccount:
            raise _fail(f"subaccount must be a non-empty string, got {subaccount!r}")
        args["subaccount"] = subaccount
    return {"op": "login", "args": args}


def ping_request() -> dict[str, Any]:
    """``{"op":"ping"}``; the server answers ``{"type":"pong"}``."""
    return {"op": "ping"}


def _check_channel(channel: Any, market: Any) -> str | None:
    if channel.__class__ is not str or channel not in CHANNELS:
        raise _fail(f"unknown channel {channel!r}; expected one of {CHANNELS}")
    if channel in PRIVATE_CHANNELS:
        if market is not None:
            raise _fail(f"the {channel} channel takes no market, got {market!r}")
        return None
    if not isinstance(market, str) or not market or market != market.strip():
        raise _fail(f"the {channel} channel needs a market name, got {market!r}")
    return market


def _channel_request(op: str, channel: str, market: str | None) -> dict[str, Any]:
    market = _check_channel(channel, market)
    req: dict[str, Any] = {"op": op, "channel": channel}
    if market is not None:
        req["market"] = market
    return req


def subscribe_request(channel: str, market: str | None = None) -> dict[str, Any]:
    """``{"op":"subscribe","channel"[,"market"]}``.

    Raises:
        LocalProtocolError: a channel other than fills, orders (no market),
            ticker, trades, orderbook (market required).
    """
    return _channel_request("subscribe", channel, market)


def unsubscribe_request(channel: str, market: str | None = None) -> dict[str, Any]:
    """``{"op":"unsubscribe","channel"[,"market"]}``; validated as :func:`subscribe_request`."""
    return _channel_request("unsubscribe", channel, market)


# ------------------------------------------------------------------------ control events

@dataclass(slots=True)
class Pong:
    """The answer to :func:`ping_request`."""

    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class LoginError:
    """An ``error`` about logging in: invalid credentials, ``"Not logged in"``
    (a private channel without a login), ``"Already logged in"``..."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ErrorEvent:
    """Any other ``error`` (e.g. an invalid market). FTX echoes nothing more than
    ``code`` and ``msg``; the frame is in ``raw``."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class InfoEvent:
    """An ``info`` notice; :data:`INFO_RESTARTING` (20001) means reconnect."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- parsers

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _iso_mts(value: Any) -> int | None:
    """ISO 8601 text -> integer ms since the epoch (naive means UTC); else None."""
    if value.__class__ is not str:
        return None
    try:
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return (dt - _EPOCH) // _MS
    except (ValueError, OverflowError, TypeError):
        return None


def _sec_mts(value: Any) -> int | None:
    """Float seconds (book/ticker ``time``) -> integer ms; else None."""
    cls = value.__class__
    if cls is float or cls is int:
        try:
            ms = float(value) * 1000
        except OverflowError:
            return None
        if math.isfinite(ms):
            return int(ms)
    return None


@overload
def _f(value: float) -> float: ...
@overload
def _f(value: Any) -> float | None: ...
def _f(value: Any) -> float | None:
    """A JSON number -> float; None stays None; anything else raises.

    Typed: a value read from decoded JSON is ``Any``, so the result is too; the
    overloads say what it is for a value whose type is known."""
    cls = value.__class__
    if cls is float:
        return value
    if cls is int:
        return float(value)
    if value is None:
        return None
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _req(d: dict, key: str) -> float:
    value = _f(d.get(key))
    if value is None:
        raise KeyError(f"{key} is missing")
    return value


def _sign(side: Any) -> float:
    if side == "buy":
        return 1.0
    if side == "sell":
        return -1.0
    raise ValueError(f"unknown side {side!r}")


def _obj(data: Any) -> Any:
    """``data`` itself, once it is a JSON object (a dict of decoded, untyped values)."""
    if data.__class__ is not dict:
        raise TypeError(f"data must be an object, got {type(data).__name__}")
    return data


def _levels(rows: Any) -> list[tuple[float, float]]:
    if rows is None:
        return []
    if rows.__class__ is not list:
        raise TypeError(f"levels must be an array, got {type(rows).__name__}")
    out = []
    for row in rows:
        if row.__class__ is not list or len(row) < 2:
            raise TypeError(f"bad level {row!r}")
        price = _f(row[0])
        size = _f(row[1])
        if price is None or size is None or not (math.isfinite(price) and math.isfinite(size)):
            raise ValueError(f"bad level {row!r}")
        out.append((price, size))
    return out


def _fill(d: Any) -> Fill:
    d = _obj(d)
    trade_id = d.get("tradeId")
    liquidity = d.get("liquidity")
    maker = True if liquidity == "maker" else (False if liquidity == "taker" else None)
    return Fill(trade_id if trade_id is not None else d.get("id"), d.get("market"),
                _iso_mts(d.get("time")), d.get("orderId"), _sign(d.get("side")) * _req(d, "size"),
                _req(d, "price"), _f(d.get("fee")), d.get("feeCurrency"), maker, None, None,
                None, _f(d.get("feeRate")), "fill", d)


def _order(d: Any) -> Order:
    d = _obj(d)
    sign = _sign(d.get("side"))
    size = _req(d, "size")
    filled = _f(d.get("filledSize"))
    # What is left unfilled, so that Order.filled == filledSize. FTX's
    # remainingSize drops to 0 when an order closes (cancelled or not), which
    # would make a cancelled, unfilled order look fully filled.
    if filled is not None:
        amount: float | None = sign * (size - filled)
    else:
        remaining = _f(d.get("remainingSize"))
        amount = None if remaining is None else sign * remaining
    return Order(d.get("id"), None, d.get("clientId"), d.get("market"),
                 _iso_mts(d.get("createdAt")), None, amount, sign * size, d.get("type"),
                 d.get("status"), _f(d.get("price")), _f(d.get("avgFillPrice")), None,
                 "update", d)


# ------------------------------------------------------------------------- channel handlers

class _Handler:
    """One subscribed ``(channel, market)``: ``handle(mtype, data, msg)`` gets each frame.

    Parsing happens inside ``try`` and delivery outside it: a bad frame becomes
    :class:`~exchange_wss._session.MalformedFrame`, while an exception raised by
    a callback propagates (the facade guards user callbacks). Events go to
    ``sub.deliver``; ``sub.spec`` is ``(channel, market)``.
    """

    __slots__ = ("session", "sub", "channel", "market", "raw", "frames")

    def __init__(self, session: FtxSession, sub: Any, raw: bool):
        self.session = session
        self.sub = sub
        self.channel, self.market = sub.spec
        self.raw = raw
        self.frames = 0

    def _bad(self, msg: Any, exc: BaseException) -> None:
        label = self.channel if self.market is None else f"{self.channel} {self.market}"
        self.session._on_control(MalformedFrame(
            f"{label}: {type(exc).__name__}: {short(str(exc), 80)} in {short(msg)}", msg))

    def handle(self, mtype: str, data: Any, msg: dict) -> None:
        if self.raw:
            self.frames += 1
            self.sub.deliver(msg)
            return
        try:
            event = self.parse(data)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.sub.deliver(event)

    def parse(self, data: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


class _FillsHandler(_Handler):
    __slots__ = ()

    def parse(self, data: Any) -> Fill:
        return _fill(data)


class _OrdersHandler(_Handler):
    __slots__ = ()

    def parse(self, data: Any) -> Order:
        return _order(data)


class _TickerHandler(_Handler):
    __slots__ = ()

    def parse(self, data: Any) -> Ticker:
        d = _obj(data)
        bid, ask, last = _f(d.get("bid")), _f(d.get("ask")), _f(d.get("last"))
        if bid is None and ask is None and last is None:
            raise ValueError("a ticker without bid, ask or last")
        # FTX's ticker has no daily statistics; its float-seconds time stays in raw.
        return Ticker(self.market, bid, _f(d.get("bidSize")), ask, _f(d.get("askSize")),
                      None, None, last, None, None, None, d)


class _TradesHandler(_Handler):
    """A frame holds a list of trades: one Trade is delivered per item."""

    __slots__ = ()

    def handle(self, mtype: str, data: Any, msg: dict) -> None:
        if self.raw:
            self.frames += 1
            self.sub.deliver(msg)
            return
        try:
            items = data if data.__class__ is list else [_obj(data)]
            market = self.market
            trades = []
            for item in items:
                item = _obj(item)
                trades.append(Trade(market, item.get("id"), _iso_mts(item.get("time")),
                                    _sign(item.get("side")) * _req(item, "size"),
                                    _req(item, "price"), "trade", item))
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        deliver = self.sub.deliver
        for trade in trades:
            deliver(trade)


class _BookHandler(_Handler):
    """Book frames: ``partial`` replaces the book, ``update`` applies levels (size 0
    deletes); after each, the book is checked against the frame's ``checksum``.

    An update before the partial, or a checksum that differs, asks for a
    resync once and nothing more is delivered until the next partial.
    """

    __slots__ = ("book", "have_partial", "broken")

    def __init__(self, session: FtxSession, sub: Any, raw: bool):
        super().__init__(session, sub, raw)
        # Without the caller's book the session keeps its own, so checksums
        # are always verified.
        book = sub.book
        self.book = book if book is not None else OrderBook(self.market, kind="size")
        self.have_partial = False
        self.broken = False

    def handle(self, mtype: str, data: Any, msg: dict) -> None:
        failed = None
        try:
            d = _obj(data)
            bids = _levels(d.get("bids"))
            asks = _levels(d.get("asks"))
            book = self.book
            event: dict[str, Any] | BookSnapshot | BookDiff
            if mtype == "partial":
                book.set_snapshot(bids, asks)
                self.have_partial = True
                self.broken = False
                event = msg if self.raw else BookSnapshot(self.market, book.bids, book.asks, d)
            else:
                if not self.have_partial:
                    self._resync("order", "book update before its partial")
                    return
                if self.broken:
                    return
                set_level = book.set_level
                for price, size in bids:
                    set_level("bid", price, size)
                for price, size in asks:
                    set_level("ask", price, size)
                event = msg if self.raw else BookDiff(self.market, bids, asks, None, None, None,
                                                      _sec_mts(d.get("time")), d)
            expected = d.get("checksum")
            if expected.__class__ is int:
                computed = book.ftx_checksum(CHECKSUM_DEPTH)
                if computed != expected:
                    failed = f"checksum {computed} != server {expected}"
        except Exception as exc:
            self._bad(msg, exc)
            return
        if failed is not None:
            book.synced = False
            self._resync("checksum", failed)
            return
        self.frames += 1
        self.sub.deliver(event)

    def _resync(self, kind: str, reason: str) -> None:
        if not self.broken:
            self.broken = True
            self.session._on_control(ResyncNeeded(self.sub, kind, reason))


_HANDLERS = {"fills": _FillsHandler, "orders": _OrdersHandler, "ticker": _TickerHandler,
             "trades": _TradesHandler}

_LOGIN_WORDS = ("login", "logged in", "log in")


def _is_login_error(text: Any) -> bool:
    if text.__class__ is not str:
        return False
    low = text.lower()
    return any(word in low for word in _LOGIN_WORDS)


# ----------------------------------------------------------------------------- session

# (channel, market) as read from the wire: what a frame names is not checked first.
Key = tuple[str | None, str | None]


class FtxSession:
    """The protocol state of one FTX connection (make a fresh one per connect).

    The facade hands it :class:`~exchange_wss._subscriptions.Subscription`
    objects whose ``spec`` is ``(channel, market)``; it routes their data and
    answers with the shared control events of :mod:`exchange_wss._session`.
    Feed every decoded message to :meth:`receive`:

    - ``partial``/``update`` frames go to the handler of their
      ``(channel, market)`` (one dict lookup); frames of nothing subscribed
      (e.g. still in flight after an unsubscribe) are dropped;
    - ``subscribed``/``unsubscribed`` confirm the oldest request for that
      ``(channel, market)``; FTX's ``error`` echoes nothing, so an error that
      is not about logging in answers the oldest request still waiting (the
      server answers in order); ``pong`` and ``info`` become :class:`Pong`
      and :class:`InfoEvent`.

    Typed data: fills -> Fill (``kind="fill"``, signed amount, ``maker`` from
    ``liquidity``, ``id`` the tradeId, fee as FTX sends it: positive = paid);
    orders -> Order (``kind="update"``, ``amount`` the signed unfilled size so
    that ``Order.filled`` is ``filledSize``); ticker -> Ticker (bid/ask, sizes,
    last; no daily statistics); trades -> one Trade per item (``kind="trade"``);
    orderbook -> BookSnapshot on ``partial`` (levels ``(price, size)`` best
    first), BookDiff per ``update`` (levels as sent, ``mts`` from ``time``).

    ``receive`` never raises for bad input; exceptions raised by ``deliver``
    or ``on_control`` themselves propagate.

    Args:
        on_control: called with each control event.
        raw: deliver each frame dict as received (books are still kept and checked).
    """

    def __init__(self, on_control: Callable[[Any], None], *, raw: bool = False):
        self._on_control = on_control
        self.raw = raw
        self._routes: dict[Key, _Handler] = {}
        # Frames counted by handlers since replaced or removed (a resubscribe):
        # frames_of stays cumulative over the connection.
        self._retired: dict[Any, int] = {}          # subscription -> frames
        self._confirmed: dict[Key, Any] = {}
        # Requests waiting for their answer, oldest first: ("subscribe"|"unsubscribe", sub).
        self._waiting: list[tuple[str, Any]] = []

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, sub: Any) -> dict[str, Any]:
        """Route ``sub``'s data from now on; the subscribe frame to write.

        Raises:
            LocalProtocolError: a bad channel/market pair, or a ``book`` that
                is not a ``"size"`` book of an orderbook channel.
        """
        channel, market = sub.spec
        frame = subscribe_request(channel, market)
        book = sub.book
        if channel == "orderbook":
            if book is not None and (not isinstance(book, OrderBook) or book.kind != "size"):
                raise _fail("book must be an OrderBook(kind='size')")
            handler: _Handler = _BookHandler(self, sub, self.raw)
        else:
            if book is not None:
                raise _fail(f"the {channel} channel keeps no book")
            handler = _HANDLERS[channel](self, sub, self.raw)
        self._retire((channel, market))
        self._routes[(channel, market)] = handler
        self._waiting.append(("subscribe", sub))
        return frame

    def unsubscribe(self, sub: Any) -> dict[str, Any] | None:
        """Stop routing ``sub``'s data at once; the unsubscribe frame, or None if
        the server never confirmed it on this connection."""
        key = tuple(sub.spec)
        if self._confirmed.get(key) is not sub:
            return None
        del self._confirmed[key]
        if self._routes.get(key) is not None and self._routes[key].sub is sub:
            self._retire(key)
        self._waiting.append(("unsubscribe", sub))
        return unsubscribe_request(*key)

    def frames_of(self, sub: Any) -> int:
        """Data frames routed to ``sub`` on this connection, resubscribes included
        (health samples it; it only grows)."""
        handler = self._routes.get(tuple(sub.spec))
        live = handler.frames if handler is not None and handler.sub is sub else 0
        return live + self._retired.get(sub, 0)

    def _retire(self, key: Key) -> None:
        """Stop routing ``key``, keeping its handler's count for :meth:`frames_of`."""
        handler = self._routes.pop(key, None)
        if handler is not None and handler.frames:
            self._retired[handler.sub] = self._retired.get(handler.sub, 0) + handler.frames

    # ---------------------------------------------------------------------- receive

    def receive(self, msg: Any) -> None:
        """Handle one decoded message."""
        if msg.__class__ is not dict:
            self._on_control(MalformedFrame(
                f"unexpected message type {type(msg).__name__}: {short(msg)}", msg))
            return
        mtype = msg.get("type")
        if mtype == "update" or mtype == "partial":
            channel = msg.get("channel")
            try:
                handler = self._routes.get((channel, msg.get("market")))
                if handler is None and channel in PRIVATE_CHANNELS:
                    handler = self._routes.get((channel, None))
            except TypeError:
                self._on_control(MalformedFrame(f"unusable channel or market: {short(msg)}",
                                                msg))
                return
            if handler is not None:
                handler.handle(mtype, msg.get("data"), msg)
            return
        if mtype == "pong":
            event: Any = Pong(msg)
        elif mtype == "subscribed" or mtype == "unsubscribed":
            event = self._answer(mtype, msg)
        elif mtype == "error":
            event = self._error(msg)
        elif mtype == "info":
            event = InfoEvent(msg.get("code"), msg.get("msg"), msg)
        else:
            event = MalformedFrame(f"unknown message type {short(mtype, 40)}: {short(msg)}",
                                   msg)
        self._on_control(event)

    def _answer(self, mtype: str, msg: dict) -> Any:
        op = "subscribe" if mtype == "subscribed" else "unsubscribe"
        channel, market = msg.get("channel"), msg.get("market")
        for i, (kind, sub) in enumerate(self._waiting):
            if kind == op and tuple(sub.spec) == (channel, market):
                del self._waiting[i]
                if op == "subscribe":
                    self._confirmed[(channel, market)] = sub
                    return SubscribeConfirmed(sub, msg)
                return UnsubscribeConfirmed(sub, msg)
        return Unexpected(f"'{mtype}' for {short(channel, 30)} {short(market, 30)} answers "
                          "no request", msg)

    def _error(self, msg: dict) -> Any:
        code, text = msg.get("code"), msg.get("msg")
        if _is_login_error(text):
            return LoginError(code, text, msg)
        if self._waiting:
            kind, sub = self._waiting.pop(0)
            if kind == "subscribe":
                key = tuple(sub.spec)
                handler = self._routes.get(key)
                if handler is not None and handler.sub is sub:
                    self._retire(key)
                duplicate = isinstance(text, str) and "already subscribed" in text.lower()
                return SubscribeRefused(sub, code, text, msg, duplicate=duplicate)
            gone = isinstance(text, str) and "not subscribed" in text.lower()
            if not gone:
                self._confirmed[tuple(sub.spec)] = sub  # to unsubscribe again
            return UnsubscribeRefused(sub, code, text, msg, gone=gone)
        return ErrorEvent(code, text, msg)

# ---------------------------------------------------------------------------- REST (orders)

def rest_headers(key: str, secret: str, ts_ms: int, method: str, path: str, body: bytes = b"",
                 subaccount: str | None = None) -> dict[str, str]:
    """FTX's REST auth headers: ``FTX-SIGN`` is hex HMAC-SHA256 of
    ``ts + METHOD + path + body``, ``path`` with its ``/api`` prefix and query."""
    payload = f"{ts_ms}{method.upper()}{path}".encode() + body
    headers = {"FTX-KEY": key, "FTX-TS": str(ts_ms),
               "FTX-SIGN": hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()}
    if subaccount:
        headers["FTX-SUBACCOUNT"] = subaccount
    return headers


def order_payload(market: str, side: str, price: Any, size: Any, type: str = "limit",
                  client_id: str | None = None, ioc: bool = False, post_only: bool = False,
                  reduce_only: bool = False) -> dict[str, Any]:
    """The body of ``POST /orders``.

    Raises:
        LocalProtocolError: a bad side, type, size or price.
    """
    if side not in ("buy", "sell"):
        raise _fail(f"side must be 'buy' or 'sell', not {side!r}")
    if type not in ("limit", "market"):
        raise _fail(f"type must be 'limit' or 'market', not {type!r}")
    if type == "limit" and price is None:
        raise _fail("a limit order needs a price")
    body: dict[str, Any] = {"market": market, "side": side,
                            "price": None if type == "market" else float(price),
                            "size": float(size), "type": type, "reduceOnly": bool(reduce_only),
                            "ioc": bool(ioc), "postOnly": bool(post_only)}
    if client_id is not None:
        body["clientId"] = client_id
    return body


def order_from_rest(result: Any) -> Order:
    """The :class:`~exchange_wss.models.Order` of a REST order answer."""
    return _order(result)


def wallets_from_rest(result: Any) -> list[Wallet]:
    """``GET /wallet/balances`` rows as :class:`~exchange_wss.models.Wallet` (type ``"main"``)."""
    # A row without coin or total gives a Wallet with None there (FTX sends both).
    return [Wallet("main", r.get("coin"), _f(r.get("total")),  # type: ignore[arg-type]
                   None, _f(r.get("free")), "rest", r)
            for r in result if r.__class__ is dict]

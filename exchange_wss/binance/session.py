"""The protocol state of one Binance connection: routes each decoded message to
its stream handler, response waiter, user-data handler or control callback."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .._session import (
    RequestAnswered,
    SubscribeConfirmed,
    SubscribeRefused,
    Unexpected,
    UnsubscribeConfirmed,
    UnsubscribeRefused,
    short,
)
from ..errors import ExchangeError
from ..models import BookSnapshot, Fill
from ..orderbook import OrderBook
from ._common import _check_market, _fail
from .depth import DepthSync
from .events import (
    BookOutOfSync,
    DuplicateFill,
    MalformedFrame,
    Response,
    SnapshotNeeded,
    UnknownStream,
)
from .market_data import (
    _book_ticker,
    _continuous_kline,
    _diff,
    _force_order,
    _kline,
    _mark_price,
    _mini_ticker,
    _partial,
    _passthrough,
    _ticker,
    _trade,
)
from .streams import _PARTIAL_SUFFIX, subscribe_request, unsubscribe_request
from .user_data import _CONTROL_EVENTS, FillDedup, _control_event, _parse_user
from .ws_api import _exchange_error

__all__ = ["BinanceSession"]

# ------------------------------------------------------------------------- stream handlers

class _Stream:
    """One expected stream. ``handle(data, msg)`` gets the combined frame's ``data``.

    Parsing happens inside ``try`` and delivery outside it: a bad frame becomes
    :class:`MalformedFrame`, while an exception raised by a callback propagates
    (the facade guards user callbacks).
    """

    __slots__ = ("session", "name", "symbol", "target", "frames")

    def __init__(self, session: BinanceSession, name: str, target: Any):
        self.session = session
        self.name = name
        at = name.find("@")
        # All-market streams ("!ticker@arr") name no symbol.
        self.symbol = name[:at].upper() if at > 0 and name[0] != "!" else None
        # Events go to target.deliver, read per event: a subscription's callbacks
        # may grow after it was routed.
        self.target = target
        self.frames = 0

    def _bad(self, msg: Any, exc: BaseException) -> None:
        self.session._on_control(MalformedFrame(
            f"{self.name}: {type(exc).__name__}: {short(str(exc), 80)} in {short(msg)}", msg))


class _RawStream(_Stream):
    __slots__ = ()

    def handle(self, data: Any, msg: Any) -> None:
        self.frames += 1
        self.target.deliver(data)


class _ParsedStream(_Stream):
    __slots__ = ("parse",)

    def __init__(self, session: BinanceSession, name: str, target: Any,
                 parse: Callable[[Any, str | None], Any]):
        super().__init__(session, name, target)
        self.parse = parse

    def handle(self, data: Any, msg: Any) -> None:
        try:
            event = self.parse(data, self.symbol)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.target.deliver(event)


class _ManyStream(_ParsedStream):
    """A stream whose message may be a list of payloads (``!ticker@arr``...): one
    typed event per element, in order. A bad element is reported as
    :class:`MalformedFrame` and the others are still delivered."""

    __slots__ = ()

    def handle(self, data: Any, msg: Any) -> None:
        if data.__class__ is not list:
            super().handle(data, msg)
            return
        parse, symbol = self.parse, self.symbol
        events = []
        for item in data:
            try:
                events.append(parse(item, symbol))
            except Exception as exc:
                self._bad(item, exc)
        self.frames += 1
        deliver = self.target.deliver
        for event in events:
            deliver(event)


class _PartialStream(_Stream):
    __slots__ = ("book", "raw")

    def __init__(self, session: BinanceSession, name: str, target: Any,
                 raw: bool, book: OrderBook | None):
        super().__init__(session, name, target)
        self.raw = raw
        self.book = book

    def handle(self, data: Any, msg: Any) -> None:
        try:
            # A partial-depth stream always names its symbol (<symbol>@depth<n>).
            event = _partial(data, self.symbol, self.book)  # type: ignore[arg-type]
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        self.target.deliver(data if self.raw else event)


class _SyncedStream(_Stream):
    """A diff-depth stream feeding a session-owned :class:`DepthSync`."""

    __slots__ = ("sync", "raw")

    def __init__(self, session: BinanceSession, name: str, target: Any,
                 raw: bool, book: OrderBook):
        super().__init__(session, name, target)
        self.raw = raw
        self.sync = DepthSync(self.symbol or name, session.market, book, stream=name)

    def handle(self, data: Any, msg: Any) -> None:
        try:
            out = self.sync.on_event(data)
        except Exception as exc:
            self._bad(msg, exc)
            return
        self.frames += 1
        if self.raw:
            self.target.deliver(data)
        self._emit(out)

    def snapshot(self, snapshot: Any) -> None:
        try:
            out = self.sync.on_snapshot(snapshot)
        except Exception as exc:
            self._bad(snapshot, exc)
            return
        self._emit(out)

    def _emit(self, out: list[Any]) -> None:
        control = self.session._on_control
        for event in out:
            cls = event.__class__
            if cls is SnapshotNeeded or cls is BookOutOfSync:
                control(event)
            elif not self.raw:
                self.target.deliver(event)
            elif cls is BookSnapshot:
                self.target.deliver(event.raw)  # raw mode: the REST snapshot as received


def _stream_kind(name: str) -> tuple[str, bool]:
    """``(kind, many)``: the parser's kind, and whether a message may carry a
    list of payloads (all-market ``!`` streams and COIN-M ``<pair>@markPrice``)."""
    if name[:1] == "!":
        base = name[1:].partition("@")[0]
        return (base if base in _ALL_KINDS else "other"), True
    suffix = name.partition("@")[2]
    if suffix in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker"):
        return suffix, False
    if suffix.startswith("kline_"):
        return "kline", False
    if suffix == "depth" or suffix.startswith("depth@"):
        return "diff", False
    if _PARTIAL_SUFFIX.fullmatch(suffix):
        return "partial", False
    if suffix == "markPrice" or suffix.startswith("markPrice@"):
        return "markPrice", True
    if suffix == "forceOrder":
        return "forceOrder", True
    if suffix.startswith("continuousKline_"):
        return "continuousKline", False
    return "other", False


# Parsers of decoded payloads; all-market streams give them symbol None (each
# payload names its own symbol), which their ``symbol: str`` leaves unsaid.
_PARSERS: dict[str, Callable[[Any, Any], Any]] = {
            "trade": _trade, "aggTrade": _trade, "bookTicker": _book_ticker,
            "ticker": _ticker, "miniTicker": _mini_ticker, "kline": _kline, "diff": _diff,
            "markPrice": _mark_price, "forceOrder": _force_order,
            "continuousKline": _continuous_kline, "other": _passthrough}
_ALL_KINDS = frozenset(("ticker", "miniTicker", "markPrice", "forceOrder", "bookTicker"))


def _norm_stream(name: str) -> str:
    """Symbol part lower-cased, the rest kept (``aggTrade``/``bookTicker`` are camelCase);
    all-market names (``!miniTicker@arr``) as they are."""
    at = name.find("@")
    return name[:at].lower() + name[at:] if at > 0 and name[0] != "!" else name


# ----------------------------------------------------------------------------- session

class BinanceSession:
    """The protocol state of one Binance connection (make a fresh one per connect).

    Works for combined market streams, the WebSocket API and listenKey
    user-data streams alike. Feed every decoded message to :meth:`receive`:

    - ``{"stream","data"}`` goes to that stream's handler (one dict lookup);
      a stream without ``@`` (a listenKey) or a control event goes to user data;
    - ``{"id",...}`` answers (SUBSCRIBE acks, WebSocket-API responses) go to the
      :meth:`expect_response` callback as ``on_result(result, error)``;
    - ``{"subscriptionId","event"}`` and bare ``{"e":...}`` events go to the
      :meth:`expect_user_data` handler;
    - ``listenKeyExpired``, ``eventStreamTerminated`` and ``serverShutdown``,
      malformed frames, depth-sync events and unexpected data go to
      ``on_control`` as this module's event classes.

    Typed user data: ``executionReport``/``ORDER_TRADE_UPDATE`` -> Order, then a
    Fill when ``x == "TRADE"``; ``TRADE_LITE`` -> Fill (``kind="lite"``, no fee)
    only on a stream without ORDER_TRADE_UPDATE, so that each trade is one Fill
    (:class:`FillDedup`; a repeated trade is a :class:`DuplicateFill` control event);
    ``outboundAccountPosition`` -> ``Snapshot("balances", [Wallet...])`` (one
    event per frame: only the changed assets, balance = free + locked,
    available = free); ``balanceUpdate`` -> BalanceUpdate (a delta, not a
    balance); ``ACCOUNT_UPDATE`` -> ``Snapshot("account", [Wallet..., Position...])``;
    anything else -> UserEvent. Fees are as Binance sends them (positive = paid).

    ``receive`` never raises for bad input; exceptions raised by ``deliver``,
    ``on_result`` or ``on_control`` themselves propagate.

    Args:
        on_control: called with each control event.
        market: ``"spot"``, ``"margin"``, ``"usdm"`` or ``"coinm"`` (depth-sync
            rules, and the ``type`` of Wallets).
    """

    def __init__(self, on_control: Callable[[Any], None], *, market: str = "spot",
                 raw: bool = False):
        self.market = _check_market(market)
        self._on_control = on_control
        self.raw = raw
        self._streams: dict[str, Any] = {}
        self._responses: dict[Any, Callable[[Any, Any], None]] = {}
        self._user: tuple[Callable[[Any], None], bool] | None = None
        #: The exactly-once rule for Fills (see :class:`FillDedup`); its counters
        #: say how many fills were left out and why.
        self.fills = FillDedup()
        # Ids this session puts on the wire, and what each answer settles.
        self._ids = itertools.count(1)
        self._acks: dict[int, tuple[str, list[Any]]] = {}   # id -> (op, subscriptions)
        self._requests: dict[int, Any] = {}                   # id -> request key
        self._confirmed: dict[str, Any] = {}                  # stream -> subscription
        # Frames counted by stream handlers since replaced or removed (a
        # resubscribe): frames_of stays cumulative over the connection.
        self._retired: dict[str, int] = {}                    # stream -> frames

    def next_id(self) -> int:
        """A request id unique on this connection."""
        return next(self._ids)

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, subs: Any, targets: Sequence[Any] | None = None) -> dict[str, Any]:
        """Route the streams of ``subs`` (one subscription or a list; each one's
        ``spec`` is its stream name) and return one ``SUBSCRIBE`` frame for them all.

        The answer confirms (or refuses) every one of them. Each stream's events
        go to ``target.deliver`` (default: the subscription itself; a synced book
        passes the object that keeps it), read per event.
        """
        subs = [subs] if not isinstance(subs, (list, tuple)) else list(subs)
        targets = list(targets) if targets is not None else subs
        names = []
        for sub, target in zip(subs, targets, strict=False):
            name = _norm_stream(sub.spec)
            self._route(name, target, self.raw, sub.book if _stream_kind(name)[0] == "partial"
                        else None)
            names.append(sub.spec)
        req_id = self.next_id()
        self._acks[req_id] = ("subscribe", subs)
        return subscribe_request(names, req_id)

    def unsubscribe(self, sub: Any) -> dict[str, Any] | None:
        """Stop routing ``sub``'s stream at once; the ``UNSUBSCRIBE`` frame, or None
        if the server never confirmed it on this connection."""
        spec = sub.spec
        name = _norm_stream(spec)
        if self._confirmed.get(name) is not sub:
            return None
        del self._confirmed[name]
        self._retire(name)
        req_id = self.next_id()
        self._acks[req_id] = ("unsubscribe", [sub])
        return unsubscribe_request([spec], req_id)

    def request(self, key: Any, frame: dict[str, Any]) -> dict[str, Any]:
        """A WebSocket-API request frame for the registry's request ``key``: a copy
        with this connection's id; its answer comes back as
        :class:`~exchange_wss._session.RequestAnswered`."""
        req_id = self.next_id()
        self._requests[req_id] = key
        return {**frame, "id": req_id}

    def frames_of(self, sub: Any) -> int:
        """Data frames routed for ``sub``'s stream on this connection, resubscribes
        included (health samples it; it only grows)."""
        name = _norm_stream(sub.spec)
        handler = self._streams.get(name)
        return (handler.frames if handler is not None else 0) + self._retired.get(name, 0)

    def _retire(self, name: str) -> None:
        """Stop routing ``name``, keeping its handler's count for :meth:`frames_of`."""
        handler = self._streams.pop(name, None)
        if handler is not None and handler.frames:
            self._retired[name] = self._retired.get(name, 0) + handler.frames

    # ------------------------------------------------------------------ registration

    def expect_stream(self, stream_name: str, deliver: Callable[[Any], None], *,
                      raw: bool = False, book: OrderBook | None = None) -> None:
        """Route a stream's data to ``deliver`` (call before sending SUBSCRIBE).

        The low-level form of :meth:`subscribe`, for streams no subscription
        handle stands for.

        Args:
            stream_name: as subscribed (``"btcusdt@depth@100ms"``).
            deliver: gets typed events: Trade, Ticker, MiniTicker, BookTicker,
                Candle (continuous klines too: symbol = the pair), MarkPrice,
                LiquidationOrder; all-market streams (``!ticker@arr``...) and
                COIN-M ``<pair>@markPrice`` carry lists: one event per element;
                diff depth without ``book``: one BookDiff per event (not synced);
                diff depth with ``book``: a session-owned :class:`DepthSync`
                keeps ``book`` synced, delivering a BookSnapshot once in sync
                and a BookDiff per applied event (feed REST snapshots with
                :meth:`on_depth_snapshot`); partial depth: BookSnapshot (and
                ``book`` replaced); other streams: the ``data`` dict.
            raw: deliver each ``data`` as received (a list for all-market
                streams; a synced book is still
                kept, and its REST snapshot delivered as received).
            book: a ``"size"`` :class:`~exchange_wss.orderbook.OrderBook` (depth).

        Raises:
            LocalProtocolError: an empty name or a non-callable ``deliver``.
        """
        if not isinstance(stream_name, str) or not stream_name:
            raise _fail(f"a stream name is required, got {stream_name!r}")
        if not callable(deliver):
            raise _fail("deliver must be callable")
        self._route(_norm_stream(stream_name), _Sink(deliver), raw, book)

    def _route(self, name: str, target: Any, raw: bool, book: OrderBook | None) -> None:
        kind, many = _stream_kind(name)
        self._retire(name)
        if kind == "diff" and book is not None:
            handler: Any = _SyncedStream(self, name, target, raw, book)
        elif kind == "partial":
            handler = _PartialStream(self, name, target, raw, book)
        elif raw:
            handler = _RawStream(self, name, target)
        elif many:
            handler = _ManyStream(self, name, target, _PARSERS[kind])
        else:
            handler = _ParsedStream(self, name, target, _PARSERS[kind])
        self._streams[name] = handler

    def forget_stream(self, name: str) -> None:
        """Stop routing a stream (after UNSUBSCRIBE); later data is UnknownStream."""
        if isinstance(name, str):
            self._retire(_norm_stream(name))

    def expect_response(self, req_id: Any, on_result: Callable[[Any, Any], None]) -> None:
        """Call ``on_result(result, None)`` or ``on_result(None, ExchangeError)``
        when the answer with this ``id`` arrives (once)."""
        hash(req_id)
        self._responses[req_id] = on_result

    def cancel_response(self, req_id: Any) -> None:
        """Forget a pending :meth:`expect_response`."""
        self._responses.pop(req_id, None)

    def expect_user_data(self, deliver: Callable[[Any], None], *, raw: bool = False,
                         events: Iterable[str] | None = None) -> None:
        """Route user-data events (typed, or with ``raw`` the event dicts, unwrapped).

        Typed delivery gives each exchange trade one Fill (:class:`FillDedup`);
        ``events`` names the events the stream carries (USDⓈ-M ``/private``'s
        ``events=``; None: every event), which decides whether ``TRADE_LITE`` or
        ``ORDER_TRADE_UPDATE`` gives it. Raw delivery passes every event as sent.
        """
        if not callable(deliver):
            raise _fail("deliver must be callable")
        self._user = (deliver, raw)
        self.fills.configure(events)

    def depth_sync(self, stream_name: str) -> DepthSync | None:
        """The session-owned :class:`DepthSync` of a stream expected with a ``book``."""
        handler = self._streams.get(_norm_stream(stream_name))
        return handler.sync if isinstance(handler, _SyncedStream) else None

    def on_depth_snapshot(self, stream_name: str, snapshot: Any) -> None:
        """Feed the REST snapshot asked for by a :class:`SnapshotNeeded` of this stream.

        A malformed snapshot is reported as :class:`MalformedFrame` (the sync
        keeps waiting). A stream that is no longer expected ignores it.
        """
        handler = self._streams.get(_norm_stream(stream_name)) \
            if isinstance(stream_name, str) else None
        if isinstance(handler, _SyncedStream):
            handler.snapshot(snapshot)

    # ---------------------------------------------------------------------- receive

    def receive(self, msg: Any) -> None:
        """Handle one decoded message."""
        if msg.__class__ is not dict:
            self._on_control(MalformedFrame(f"unexpected message type {type(msg).__name__}",
                                            msg))
            return
        stream = msg.get("stream")
        if stream is not None:
            if stream.__class__ is not str:
                self._on_control(MalformedFrame("stream name is not a string", msg))
                return
            handler = self._streams.get(stream)
            if handler is None:
                handler = self._streams.get(_norm_stream(stream))
            if handler is not None:
                handler.handle(msg.get("data"), msg)
            else:
                self._unrouted(stream, msg.get("data"), msg)
            return
        if "e" in msg:
            self._user_event(msg, msg, None)
        elif "event" in msg:
            event = msg["event"]
            if event.__class__ is dict:
                self._user_event(event, msg, msg.get("subscriptionId"))
            else:
                self._on_control(MalformedFrame("event is not an object", msg))
        elif "id" in msg:
            self._response(msg)
        elif "code" in msg and "msg" in msg:
            # A stream-control error without an id ({"code":3,"msg":"Invalid JSON"}).
            self._on_control(Response(None, None, _exchange_error(msg["code"], msg["msg"], msg),
                                      None, msg))
        else:
            self._on_control(MalformedFrame("unrecognised message", msg))

    def _unrouted(self, stream: str, data: Any, msg: dict) -> None:
        # A listenKey subscribed as a combined stream has no '@' in its name;
        # serverShutdown may come on a stream of its own.
        if data.__class__ is dict and "e" in data:
            etype = data["e"]
            if "@" not in stream or (etype.__class__ is str and etype in _CONTROL_EVENTS):
                self._user_event(data, msg, None)
                return
        self._on_control(UnknownStream(stream, msg))

    def _user_event(self, ev: dict, raw: Any, sub_id: Any) -> None:
        etype = ev.get("e")
        if etype.__class__ is str and etype in _CONTROL_EVENTS:
            self._on_control(_control_event(etype, ev, raw, sub_id))
            return
        user = self._user
        if user is None:
            self._on_control(UnknownStream(None, raw))
            return
        deliver, raw_mode = user
        if raw_mode:
            deliver(ev)
            return
        try:
            events = _parse_user(ev, self.market)
        except Exception as exc:
            self._on_control(MalformedFrame(f"user data {etype!r}: {type(exc).__name__}: {exc}",
                                            raw))
            return
        fills = self.fills
        for event in events:
            if event.__class__ is Fill:
                why = fills.admit(event)
                if why is not None:
                    if why == "duplicate":
                        self._on_control(DuplicateFill(event, raw))
                    continue
            deliver(event)

    def _response(self, msg: dict) -> None:
        req_id = msg["id"]
        try:
            hash(req_id)
        except TypeError:
            self._on_control(MalformedFrame(f"unhashable response id: {short(msg)}", msg))
            return
        status = msg.get("status")
        status = status if status.__class__ is int else None
        err = msg.get("error")
        if err is not None or (status is not None and status >= 400) or \
                ("result" not in msg and "code" in msg):
            src = err if err.__class__ is dict else msg
            text = src.get("msg")
            if text is None and status is not None:
                text = f"status {status}"
            error: ExchangeError | None = _exchange_error(src.get("code"), text, msg)
            result = None
        else:
            error = None
            result = msg.get("result")
        ack = self._acks.pop(req_id, None) if req_id.__class__ is int else None
        if ack is not None:
            self._acked(ack, error, msg)
            return
        key = self._requests.pop(req_id, _NONE) if req_id.__class__ is int else _NONE
        if key is not _NONE:
            self._on_control(RequestAnswered(key, result, error, msg))
            return
        on_result = self._responses.pop(req_id, None)
        if on_result is not None:
            on_result(result, error)
        elif error is not None:
            self._on_control(Response(req_id, result, error, status, msg))
        else:
            self._on_control(Unexpected(f"an answer with id {short(req_id, 30)} that no "
                                        f"request of this connection carries: {short(msg)}",
                                        msg))

    def _acked(self, ack: tuple[str, list[Any]], error: ExchangeError | None,
               msg: dict) -> None:
        op, subs = ack
        control = self._on_control
        for sub in subs:
            name = _norm_stream(sub.spec)
            if op == "subscribe":
                if error is None:
                    self._confirmed[name] = sub
                    control(SubscribeConfirmed(sub, msg))
                else:
                    self._retire(name)
                    control(SubscribeRefused(sub, error.code, error.msg, msg))
            elif error is None:
                control(UnsubscribeConfirmed(sub, msg))
            else:
                self._confirmed[name] = sub  # may still be live: to unsubscribe again
                control(UnsubscribeRefused(sub, error.code, error.msg, msg))


class _Sink:
    """A plain callable in the role of a subscription (``expect_stream``)."""

    __slots__ = ("deliver",)

    def __init__(self, deliver: Callable[[Any], None]) -> None:
        self.deliver = deliver


_NONE = object()

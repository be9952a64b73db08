"""Offline replay: a recording fed straight into the clients' protocol sessions.

No socket and no reactor: each recorded connection gets the venue's pure
session (:class:`~exchange_wss.bitfinex.protocol.BitfinexSession`,
:class:`~exchange_wss.binance.protocol.BinanceSession`,
:class:`~exchange_wss.ftx.protocol.FtxSession`), the frames the client sent
register what it asked for exactly as the client did (``expect`` on a
subscribe, ``forget`` on an unsubscribe), and every received frame goes to
``receive`` in recorded order. Books are kept and checked (Bitfinex and FTX
checksums, Bitfinex ``SEQ_ALL`` sequence numbers, Binance update ids with the
recorded REST snapshot), so the events and books are those the client had.
Deterministic and as fast as the parser allows: for backtests.

Streams are named by the labels the clients return from ``subscribe_to_*``:
Bitfinex ``ticker:tBTCUSD``, ``book:tBTCUSD:P0``, ``auth``; Binance
``btcusdt@depth``, ``user``; FTX ``orderbook:BTC-PERP``, ``fills``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

from .. import models
from ..errors import LocalProtocolError
from ..orderbook import OrderBook
from .dialects import _bitfinex_label
from .reader import Recording, open_recording

__all__ = ["OfflineReplay", "OfflineStats"]

Callback = Callable[[Any], Any]


@dataclass
class OfflineStats:
    """What a run saw.

    Attributes:
        frames: received frames fed to sessions.
        events: events delivered to callbacks (all streams).
        checksum_failures, sequence_gaps: books that failed their checks
            (Bitfinex/FTX checksum, Bitfinex SEQ_ALL, Binance update ids).
        malformed: frames the sessions could not use.
        gaps: recorder gaps (records the recorder dropped) met in the file.
        control: control events (subscribed, info, pong...), in order.
    """

    frames: int = 0
    events: int = 0
    checksum_failures: int = 0
    sequence_gaps: int = 0
    malformed: int = 0
    gaps: int = 0
    control: list[Any] = field(default_factory=list)


class OfflineReplay:
    """Replays a recording through the protocol sessions, delivering typed events.

    Args:
        recording: a :class:`~exchange_wss.recording.Recording` or a path to open.
        venue: ``"bitfinex"``, ``"binance"`` or ``"ftx"`` when it cannot be guessed.
        raw: deliver decoded frames as the clients' ``raw=True`` does.
        market: Binance ``"spot"``, ``"usdm"``, ``"coinm"``, ``"margin"``
            (default: from the recorded URL or cryptofeed feed name).
        keep_control: keep control events in :attr:`OfflineStats.control`.

    Example::

        replay = OfflineReplay("recordings/")
        replay.subscribe("book:tBTCUSD:P0", on_book)
        replay.on(lambda label, event: ...)       # every stream
        stats = replay.run()
        print(replay.order_book("book:tBTCUSD:P0").bids[:3], stats.checksum_failures)
    """

    def __init__(self, recording: Any, *, venue: str | None = None, raw: bool = False,
                 market: str | None = None, keep_control: bool = True) -> None:
        if not isinstance(recording, Recording):
            recording = open_recording(recording, venue=venue)
        elif venue is not None:
            recording.venue = venue
        if recording.venue not in _DRIVERS:
            raise LocalProtocolError(f"cannot replay venue {recording.venue!r}; give venue= "
                                     f"one of {sorted(_DRIVERS)}")
        self.recording = recording
        self.raw = raw
        self.market = market
        self.keep_control = keep_control
        self.stats = OfflineStats()
        self.books: dict[str, OrderBook] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._all: list[Callable[[str, Any], Any]] = []
        self._delivers: dict[str, Callback] = {}
        #: Labels of the streams the recording subscribed, in order of first appearance.
        self.labels: list[str] = []

    def subscribe(self, label: str, callback: Callback) -> None:
        """Deliver the events of one stream (by its label) to ``callback``."""
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._callbacks.setdefault(label, []).append(callback)

    def on(self, callback: Callable[[str, Any], Any]) -> None:
        """Deliver every stream's events to ``callback(label, event)``."""
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._all.append(callback)

    def order_book(self, label: str) -> models.BookSnapshot:
        """The book a stream ended with (``book:tBTCUSD:P0``, ``btcusdt@depth``...).

        Raises:
            LocalProtocolError: no book of that label in the recording.
        """
        book = self.books.get(label)
        if book is None:
            raise LocalProtocolError(f"no book {label!r} in the recording "
                                     f"(books: {sorted(self.books)})")
        return models.BookSnapshot(book.symbol, book.bids, book.asks)

    def deliver_for(self, label: str) -> Callback:
        """The function a session calls with the events of ``label``."""
        deliver = self._delivers.get(label)
        if deliver is None:
            if label not in self.labels:
                self.labels.append(label)
            callbacks = tuple(self._callbacks.get(label, ()))
            every = tuple(self._all)
            stats = self.stats

            if not every and len(callbacks) == 1:
                only = callbacks[0]

                def deliver(event: Any) -> None:
                    stats.events += 1
                    only(event)
            else:
                def deliver(event: Any) -> None:
                    stats.events += 1
                    for cb in callbacks:
                        cb(event)
                    for cb_all in every:
                        cb_all(label, event)

            self._delivers[label] = deliver
        return deliver

    def control(self, event: Any) -> None:
        """A session's control event: counted, kept."""
        name = type(event).__name__
        if name == "ResyncNeeded":
            if event.kind == "checksum":
                self.stats.checksum_failures += 1
            else:  # a sequence gap, or an update before its snapshot
                self.stats.sequence_gaps += 1
        elif name in ("SequenceGapEvent", "BookOutOfSync"):
            self.stats.sequence_gaps += 1
        elif name == "MalformedFrame":
            self.stats.malformed += 1
        if self.keep_control:
            self.stats.control.append(event)

    def run(self) -> OfflineStats:
        """Feed the whole recording; returns the statistics (also ``stats``)."""
        driver = _DRIVERS[self.recording.venue](self)
        loads = orjson.loads
        sessions = driver.sessions  # the driver may replace a session (Bitfinex conf)
        stats = self.stats
        for kind, conn, _wall, _mono, data, binary in self.recording.batches():
            if kind == "recv":
                session = sessions.get(conn)
                if session is None or binary:
                    continue
                receive = session.receive
                for frame in (data if data.__class__ is list else (data,)):
                    try:
                        msg = loads(frame)
                    except ValueError:
                        stats.malformed += 1
                        continue
                    stats.frames += 1
                    receive(msg)
            elif kind == "sent":
                if conn in sessions and not binary:
                    for frame in (data if data.__class__ is list else (data,)):
                        try:
                            msg = loads(frame)
                        except ValueError:
                            continue
                        driver.sent(conn, msg)
            elif kind == "open":
                driver.opened(conn, data.get("url", ""))
            elif kind == "close":
                driver.closed(conn)
            elif kind == "http":
                driver.http(data)
            elif kind == "gap":
                stats.gaps += 1
        return stats


# ------------------------------------------------------------------------------ drivers

class _Driver:
    def __init__(self, replay: OfflineReplay) -> None:
        self.replay = replay
        self.sessions: dict[int, Any] = {}

    def opened(self, conn: int, url: str) -> Any:
        raise NotImplementedError

    def sent(self, conn: int, msg: Any) -> None:
        pass

    def closed(self, conn: int) -> None:
        self.sessions.pop(conn, None)

    def http(self, data: dict) -> None:
        pass

    def book(self, label: str, symbol: str, **kwargs: Any) -> OrderBook:
        books = self.replay.books
        if label not in books:
            books[label] = OrderBook(symbol, **kwargs)
        return books[label]


def _subscription(label: str, spec: Any, symbol: Any, book: Any, deliver: Callback) -> Any:
    from .._subscriptions import Subscription
    sub = Subscription(label, spec, symbol, book=book)
    sub.add_callback(deliver)
    return sub


class _Bitfinex(_Driver):
    """Each recorded subscribe becomes a Subscription the session subscribes, in the
    recorded order (so the session puts the same subIds on it); recorded
    unsubscribes name the chanId the session bound it to."""

    def __init__(self, replay: OfflineReplay) -> None:
        super().__init__(replay)
        self.chans: dict[int, dict[Any, Any]] = {}

    def _session(self, conn: int, seq_all: bool) -> Any:
        from ..bitfinex.protocol import BitfinexSession

        chans = self.chans.setdefault(conn, {})
        control = self.replay.control

        def on_control(event: Any) -> None:
            if type(event).__name__ == "SubscribeConfirmed":
                raw = event.raw
                if raw.__class__ is dict:
                    chans[raw.get("chanId")] = event.sub
            control(event)
        return BitfinexSession(on_control, seq_all=seq_all, raw=self.replay.raw)

    def opened(self, conn: int, url: str) -> Any:
        self.chans[conn] = {}
        self.sessions[conn] = session = self._session(conn, False)
        return session

    def sent(self, conn: int, msg: Any) -> None:
        from ..bitfinex import protocol as bfx
        session = self.sessions[conn]
        if msg.__class__ is not dict:
            return
        event = msg.get("event")
        if event == "conf":
            if (msg.get("flags") or 0) & bfx.FLAG_SEQ_ALL:
                # Sent before any subscription: from here a session that checks sequences.
                self.sessions[conn] = self._session(conn, True)
        elif event == "subscribe":
            label = _bitfinex_label(msg)
            if label is None:
                return
            spec = _bitfinex_spec(msg)
            book = None
            if spec.is_book:
                book = self.book(label, spec.symbol, kind="raw" if spec.is_raw_book else "price",
                                 funding=spec.is_funding)
            session.subscribe(_subscription(label, spec, spec.symbol, book,
                                            self.replay.deliver_for(label)))
        elif event == "unsubscribe":
            sub = self.chans.get(conn, {}).pop(msg.get("chanId"), None)
            if sub is not None:
                session.unsubscribe(sub)
        elif event == "auth":
            session.expect_auth(self.replay.deliver_for("auth"))


def _bitfinex_spec(msg: dict) -> Any:
    from ..bitfinex.protocol import ChannelSpec
    channel = msg.get("channel")
    if channel == "ticker":
        return ChannelSpec.ticker(msg["symbol"])
    if channel == "trades":
        return ChannelSpec.trades(msg["symbol"])
    if channel == "book":
        return ChannelSpec.book(msg["symbol"], msg.get("prec", "P0"), msg.get("freq", "F0"),
                                msg.get("len", 25))
    key = msg["key"]
    if channel == "candles":
        return ChannelSpec("candles", key.split(":")[2] if key.count(":") >= 2 else None, key)
    return ChannelSpec.status(key)


def _binance_market(url: str, feed: str | None) -> str:
    host = urlsplit(url).hostname or ""
    if feed == "BINANCE_FUTURES" or host.startswith("fstream"):
        return "usdm"
    if feed == "BINANCE_DELIVERY" or host.startswith("dstream"):
        return "coinm"
    return "spot"


class _Binance(_Driver):
    """Replays as ``BinanceWssClient`` delivers, the account snapshot included: the
    recorded answers to ``account.status``/``openOrders.status`` (Spot) or to the REST
    account, ``positionRisk`` and ``openOrders`` (futures) become the snapshot's events,
    and the user events received while it loaded follow it (the client's
    :class:`~exchange_wss.binance.state.AccountState`, fed from the recording)."""

    def __init__(self, replay: OfflineReplay) -> None:
        from ..binance.state import AccountState
        super().__init__(replay)
        self.depth: dict[str, tuple[Any, str]] = {}  # SYMBOL -> (session, stream)
        self.account = AccountState(self._user())
        self._spot_answers: dict[str, Any] = {}
        self._rest_answers: dict[str, Any] = {}

    def _market(self) -> str:
        """The Binance market, known once a connection opened (answers come after)."""
        return cast(str, self.replay.market)

    def opened(self, conn: int, url: str) -> Any:
        from ..binance.protocol import BinanceSession
        replay = self.replay
        market = replay.market or _binance_market(url, replay.recording.feed)
        replay.market = market
        session = BinanceSession(self._control, market=market)
        path = urlsplit(url).path
        if "/ws/" in path or path.rstrip("/").endswith("/private/ws"):
            session.expect_user_data(self.account.live, raw=replay.raw)
            if market in ("usdm", "coinm"):
                # The client loads the futures snapshot on every open of its user stream.
                self.account.hold()
                self._rest_answers = {}
        self.sessions[conn] = session
        return session

    def _control(self, event: Any) -> None:
        self.replay.control(event)

    def _user(self) -> Callback:
        # As BinanceWssClient delivers user data: snapshots of several items
        # (outboundAccountPosition, ACCOUNT_UPDATE) flattened, one event each.
        deliver = self.replay.deliver_for("user")
        if self.replay.raw:
            return deliver

        def flatten(event: Any) -> None:
            if isinstance(event, models.Snapshot):
                for item in event.items:
                    flatten(item)
            else:
                deliver(event)
        return flatten

    def sent(self, conn: int, msg: Any) -> None:
        from ..binance.session import _norm_stream, _stream_kind
        if msg.__class__ is not dict:
            return
        session = self.sessions[conn]
        replay = self.replay
        method = msg.get("method")
        if method == "SUBSCRIBE":
            for stream in msg.get("params") or ():
                name = str(stream)
                kind = _stream_kind(_norm_stream(name))[0]
                book = None
                if kind == "diff":
                    symbol = name.split("@", 1)[0].upper()
                    book = self.book(name, symbol, kind="size")
                    self.depth[symbol] = (session, name)
                session.expect_stream(name, replay.deliver_for(name), raw=replay.raw, book=book)
            session.expect_response(msg.get("id"), _ignore_result)
        elif method == "UNSUBSCRIBE":
            for stream in msg.get("params") or ():
                session.forget_stream(str(stream))
            session.expect_response(msg.get("id"), _ignore_result)
        elif isinstance(method, str):
            if method.startswith("userDataStream.subscribe"):
                session.expect_user_data(self.account.live, raw=replay.raw)
            elif method == "account.status":
                # Sent as the subscribe's answer is read: the client holds from there.
                self.account.hold()
                self._spot_answers = {}
            if "id" in msg:
                session.expect_response(msg["id"], self._answer(method))

    def _answer(self, method: str) -> Callable[[Any, Any], None]:
        def answered(result: Any, error: Any) -> None:
            if method in ("account.status", "openOrders.status") and self.account.holding:
                self._spot_answered(method, result, error)
            self.replay.control(_ApiAnswer(method, result, error))
        return answered

    def _spot_answered(self, method: str, result: Any, error: Any) -> None:
        from ..binance.account import spot_account_snapshot
        answers = self._spot_answers
        answers[method] = (result, error)
        if len(answers) < 2:
            return
        if any(e is not None for _r, e in answers.values()):
            self.account.release()
            return
        snap = spot_account_snapshot(answers["account.status"][0],
                                     answers["openOrders.status"][0], self._market())
        self._deliver_snapshot(snap)

    def _futures_answered(self, name: str, data: dict) -> None:
        from ..binance.account import futures_account_snapshot
        answers = self._rest_answers
        answers[name] = data
        if len(answers) < 3:
            return
        if any(d.get("status", 200) >= 400 for d in answers.values()):
            self.account.release()
            return
        snap = futures_account_snapshot(answers["account"].get("body"),
                                        answers["positionRisk"].get("body"),
                                        answers["openOrders"].get("body"), self._market())
        self._deliver_snapshot(snap)

    def _deliver_snapshot(self, snap: Any) -> None:
        self.account.snapshot(snap.wallets, snap.positions, snap.orders, snap.raw,
                              wallet_types=[self._market()])

    def http(self, data: dict) -> None:
        path = urlsplit(data.get("url", "")).path.rstrip("/")
        name = path.rsplit("/", 1)[-1]
        if name in ("account", "positionRisk", "openOrders") and self.account.holding:
            self._futures_answered(name, data)
            return
        if not path.endswith("/depth"):
            return
        symbol = str((data.get("params") or {}).get("symbol", "")).upper()
        target = self.depth.get(symbol)
        if target is not None:
            session, stream = target
            session.on_depth_snapshot(stream, data.get("body"))


@dataclass(slots=True)
class _ApiAnswer:
    """The answer to a recorded WebSocket-API request (order.place...)."""

    method: str
    result: Any
    error: Any


def _ignore_result(_result: Any, _error: Any) -> None:
    pass


class _Ftx(_Driver):
    def __init__(self, replay: OfflineReplay) -> None:
        super().__init__(replay)
        self.subs: dict[tuple[int, Any, Any], Any] = {}

    def opened(self, conn: int, url: str) -> Any:
        from ..ftx.protocol import FtxSession
        self.sessions[conn] = session = FtxSession(self.replay.control, raw=self.replay.raw)
        return session

    def sent(self, conn: int, msg: Any) -> None:
        if msg.__class__ is not dict:
            return
        session = self.sessions[conn]
        op = msg.get("op")
        channel, market = msg.get("channel"), msg.get("market")
        if op == "subscribe" and isinstance(channel, str):
            label = channel if market is None else f"{channel}:{market}"
            # An orderbook subscription names its market.
            book = (self.book(label, cast(str, market), kind="size") if channel == "orderbook"
                    else None)
            sub = _subscription(label, (channel, market), market, book,
                                self.replay.deliver_for(label))
            try:
                session.subscribe(sub)
            except LocalProtocolError:
                return
            self.subs[(conn, channel, market)] = sub
        elif op == "unsubscribe" and isinstance(channel, str):
            sub = self.subs.pop((conn, channel, market), None)
            if sub is not None:
                session.unsubscribe(sub)


_DRIVERS = {"bitfinex": _Bitfinex, "binance": _Binance, "ftx": _Ftx}

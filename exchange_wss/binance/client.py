"""``BinanceWssClient``: market streams, user data and orders over the socket.

Same threading model, connection layer, reliability options and typed models as
``WssClient``. Three kinds of connection, each a :class:`~exchange_wss._facade.Link`:

- market streams (combined ``{"stream","data"}``), pooled up to Binance's
  streams-per-connection limit, subscribed with paced ``SUBSCRIBE`` messages;
- the WebSocket API: Spot user data (``userDataStream.subscribe.signature``,
  the only Spot path since the listenKey endpoints were retired on
  2026-02-20) and orders for every market (``order.place``/``order.cancel``);
- futures and margin user data on a listenKey stream, the key created and kept
  alive over REST (off the reactor thread) and replaced when it dies.
"""

from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional

import orjson
from twisted.internet import defer

from .. import models
from .._facade import BaseClient, Callback, Link
from .._rest import RestClient
from ..connection import WebSocketConnection
from ..errors import (ClientStopped, ExchangeError, LocalProtocolError, OrderRejected,
                      OrderStateUnknown)
from ..orderbook import OrderBook
from ..utils import create_cid
from ..pacing import Pacer
from ..symbols import Venue
from .._endpoints import endpoint
from . import protocol as bn

__all__ = ["BinanceWssClient"]

log = logging.getLogger("exchange_wss.binance")


class _StreamSub:
    """One market stream the user asked for; survives reconnects with its callbacks."""

    __slots__ = ("stream", "symbol", "callbacks", "deliver", "book", "sync", "link")

    def __init__(self, stream: str, symbol: str, book: Optional[OrderBook] = None) -> None:
        self.stream = stream
        self.symbol = symbol
        self.callbacks: List[Callback] = []
        self.deliver: Callback = _ignore
        self.book = book
        self.sync: Any = None
        self.link: Optional[_MarketLink] = None

    def add_callback(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        if len(self.callbacks) == 1:
            self.deliver = callback
        else:
            def fan_out(event: Any, _cbs=tuple(self.callbacks)) -> None:
                for cb in _cbs:
                    cb(event)
            self.deliver = fan_out


def _ignore(_event: Any) -> None:
    pass


#: Binance cuts every connection at 24 h; rotate a little before.
DEFAULT_MAX_CONNECTION_AGE = 23.5 * 3600


def _frame_key(msg: Any) -> Any:
    """Identity of a Binance frame across two connections (None: answers to requests).

    Stream frames and account events are byte-identical on both sockets; the
    WebSocket API wraps events with a per-connection subscriptionId, so the
    event inside is the key.
    """
    if msg.__class__ is not dict:
        return None
    if "id" in msg:
        return None
    if "subscriptionId" in msg:
        msg = msg.get("event")
    return orjson.dumps(msg)


class _MarketLink(Link):
    """A combined-stream connection: re-subscribes its streams on every open."""

    def __init__(self, client: "BinanceWssClient", name: str, url: str,
                 route: Optional[str]) -> None:
        super().__init__(client, name, url)
        self.route = route
        self.subs: Dict[str, _StreamSub] = {}
        # Binance counts every incoming message (control JSON, pings and pongs)
        # against a per-second limit and closes the connection beyond it: pace
        # them, never drop. Headroom: one message a window is left for pongs,
        # and the window is 10% longer than a second, since the server measures
        # arrival times that network jitter moves.
        self.pacer = Pacer(max(1, bn.CONTROL_RATE[client.market] - 1), 1.1,
                           client._get_reactor())

    def new_session(self) -> Any:
        return bn.BinanceSession(self.client._market_control(self), market=self.client.market)

    frame_key = staticmethod(_frame_key)

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        rotating = self.retiring is not None
        for sub in self.subs.values():
            self._expect(session, sub)
            if sub.sync is not None and not rotating:
                # A reconnect may have lost diffs: start over from a snapshot.
                # A rotation loses none (the old socket delivers until the new
                # one runs), so the book carries on.
                sub.sync.reset()
        if self.subs:
            self._control(bn.subscribe_request, list(self.subs))

    def _expect(self, session: Any, sub: _StreamSub) -> None:
        if sub.sync is not None:
            session.expect_stream(sub.stream, sub.sync.on_diff, raw=False)
        else:
            session.expect_stream(sub.stream, sub.deliver, raw=self.client.raw)

    def _control(self, build: Callable[..., Any], streams: List[str]) -> None:
        client = self.client
        for i in range(0, len(streams), 200):
            frame = build(streams[i:i + 200], client._next_id())
            self.pacer.call(self._send_now, frame)

    def _send_now(self, frame: Any) -> None:
        if self.session is not None:
            self.conn.send(frame)

    def add(self, sub: _StreamSub) -> None:
        self.subs[sub.stream] = sub
        sub.link = self
        if self.session is not None:
            self._expect(self.session, sub)
            self._control(bn.subscribe_request, [sub.stream])

    def remove(self, sub: _StreamSub) -> None:
        self.subs.pop(sub.stream, None)
        sub.link = None
        if self.session is not None:
            self.session.forget_stream(sub.stream)
            self._control(bn.unsubscribe_request, [sub.stream])

    def closed(self, reason: str) -> None:
        self.pacer.clear()


class _ApiLink(Link):
    """The WebSocket API: Spot user data subscription and signed order requests."""

    def __init__(self, client: "BinanceWssClient", url: str) -> None:
        super().__init__(client, "api", url)
        self.waiting: List[Any] = []      # (frame, on_result) not sent yet
        self.in_flight: Dict[Any, Callable[[Any, Any], None]] = {}
        self.sent_on: Dict[Any, WebSocketConnection] = {}

    def new_session(self) -> Any:
        return bn.BinanceSession(self.client._api_control, market=self.client.market)

    frame_key = staticmethod(_frame_key)

    def retired(self, connection: WebSocketConnection) -> None:
        for rid, conn in list(self.sent_on.items()):
            if conn is connection:
                callback = self.in_flight.pop(rid, None)
                del self.sent_on[rid]
                if callback is not None:
                    callback(None, OrderStateUnknown(
                        "connection rotated before the answer; check the order before "
                        "placing it again"))

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        client = self.client
        if client._user_data_wanted and client.market == "spot":
            session.expect_user_data(client._user_deliver, raw=client.raw)
            rid = client._next_id()
            session.expect_response(rid, client._user_data_subscribed)
            conn.send(bn.user_data_subscribe_request(client.key, client._secret,
                                                     client._timestamp(), rid))
        waiting, self.waiting = self.waiting, []
        for frame, on_result in waiting:
            self._send(frame, on_result)

    def request(self, frame: Any, on_result: Callable[[Any, Any], None]) -> None:
        """Send a request once; its answer goes to ``on_result(result, error)``."""
        if self.session is None:
            self.waiting.append((frame, on_result))
        else:
            self._send(frame, on_result)

    def _send(self, frame: Any, on_result: Callable[[Any, Any], None]) -> None:
        rid = frame["id"]
        self.in_flight[rid] = on_result
        self.sent_on[rid] = self.conn

        def answered(result: Any, error: Any, rid=rid) -> None:
            self.sent_on.pop(rid, None)
            callback = self.in_flight.pop(rid, None)
            if callback is not None:
                callback(result, error)

        self.session.expect_response(rid, answered)
        self.conn.send(frame)

    def closed(self, reason: str) -> None:
        # Requests written before the drop may or may not have reached Binance:
        # never re-send them; tell their callers the state is unknown.
        in_flight, self.in_flight = self.in_flight, {}
        self.sent_on.clear()
        for on_result in in_flight.values():
            on_result(None, OrderStateUnknown(
                f"connection lost before the answer ({reason}); check the order before "
                "placing it again"))


class _UserStreamLink(Link):
    """Futures/margin user data on a listenKey stream, with REST keepalive."""

    def __init__(self, client: "BinanceWssClient") -> None:
        # The real URL carries the listenKey, known only after the REST call.
        super().__init__(client, "user", client.endpoints.stream_url + "/ws/pending")
        self.listen_key: Optional[str] = None
        self._keepalive = None
        self._renewing = False
        self._starting = False

    def new_session(self) -> Any:
        client = self.client
        session = bn.BinanceSession(self._control, market=client.market)
        session.expect_user_data(client._user_deliver, raw=client.raw)
        return session

    frame_key = staticmethod(_frame_key)

    def start(self) -> None:
        """Get a listenKey, then connect on it. Idempotent: a subscription made
        just after ``client.start()`` and ``start()`` itself may both ask."""
        if self._starting:
            return
        self._starting = True
        self._obtain_key().addCallbacks(self._start_with_key, self._key_failed)

    def _obtain_key(self) -> defer.Deferred:
        client = self.client
        path = bn.listen_key_path(client.market)
        return client._rest.call("POST", path).addCallback(lambda body: body["listenKey"])

    def _start_with_key(self, key: str) -> None:
        client = self.client
        if client._stopped:
            return
        self.listen_key = key
        self.conn.set_url(bn.user_stream_url(client.endpoints, client.market, key,
                                             legacy=client.legacy_user_stream))
        self.conn.start()
        self._schedule_keepalive()

    def _key_failed(self, failure: Any) -> None:
        self._starting = False
        self.client._emit_error(failure.value)
        # Try again later: a user stream must not silently stay down.
        self.client._get_reactor().callLater(self.client._conn_options.reconnect_delay * 5,
                                             self.start)

    def _schedule_keepalive(self) -> None:
        interval = self.client.keepalive_interval
        self._keepalive = self.client._get_reactor().callLater(interval, self._send_keepalive)

    def _send_keepalive(self) -> None:
        client = self.client
        path = bn.listen_key_path(client.market)
        d = client._rest.call("PUT", path, {"listenKey": self.listen_key})
        d.addCallbacks(lambda _: self._schedule_keepalive(), self._keepalive_failed)

    def _keepalive_failed(self, failure: Any) -> None:
        err = failure.value
        if isinstance(err, ExchangeError) and err.code == -1125:
            self.renew("listenKey no longer exists (-1125)")
        else:
            self.client._emit_error(err)
            self._schedule_keepalive()

    def renew(self, reason: str) -> None:
        """Get a new listenKey and reconnect on it, keeping the subscription."""
        if self._renewing or self.client._stopped:
            return
        self._renewing = True
        log.info("user stream: %s; getting a new listenKey", reason)

        def switch(key: str) -> None:
            self._renewing = False
            self.listen_key = key
            self.conn.set_url(bn.user_stream_url(self.client.endpoints, self.client.market,
                                                 key, legacy=self.client.legacy_user_stream))
            self.conn.drop(f"new listenKey: {reason}")
            if self._keepalive is None or not self._keepalive.active():
                self._schedule_keepalive()

        def failed(failure: Any) -> None:
            self._renewing = False
            self._key_failed(failure)

        self._obtain_key().addCallbacks(switch, failed)

    def _control(self, event: Any) -> None:
        if isinstance(event, bn.ListenKeyExpired):
            self.renew("listenKeyExpired")
        self.client._generic_control(self, event)

    def stop(self) -> defer.Deferred:
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        return super().stop()


class BinanceWssClient(BaseClient):
    """Threaded, callback-driven Binance client (Spot, margin, USDT-M and COIN-M futures).

    Args:
        key, secret: API key and HMAC secret (user data and orders). The secret
            appears in no log line, repr or exception.
        market: ``"spot"``, ``"margin"``, ``"usdm"`` or ``"coinm"``.
        testnet: use Binance's testnet hosts.
        rest_url, stream_url, api_url: override the REST base, the stream base
            and the whole WebSocket API URL (the sandbox and other venues).
        raw: deliver decoded frames instead of typed models.
        keepalive_interval: seconds between listenKey keepalives (futures, margin).
        legacy_user_stream: use ``/ws/<listenKey>`` for USDT-M too.
        **options: hooks and reliability settings as for ``WssClient``;
            ``max_connection_age`` defaults to 23.5 h here, so connections are
            rotated (new one first) before Binance's 24 h cut.
    """

    def __init__(self, key: Optional[str] = None, secret: Optional[str] = None, *,
                 market: str = "spot", testnet: bool = False, rest_url: Optional[str] = None,
                 stream_url: Optional[str] = None, api_url: Optional[str] = None,
                 raw: bool = False, keepalive_interval: float = 1800.0,
                 legacy_user_stream: bool = False, recv_window: Optional[int] = None,
                 **options: Any) -> None:
        options.setdefault("max_connection_age", DEFAULT_MAX_CONNECTION_AGE)
        super().__init__(**options)
        if market not in bn.MARKETS:
            raise LocalProtocolError(f"market must be one of {bn.MARKETS}, not {market!r}")
        if (key is None) != (secret is None):
            raise LocalProtocolError("give both key and secret, or neither")
        if keepalive_interval <= 0:
            raise LocalProtocolError("keepalive_interval must be positive")
        self.key = key
        self._secret = secret
        self.market = market
        self.venue = Venue("binance", market)
        defaults = bn.default_endpoints(market, testnet)
        rest_url = endpoint(rest_url, "EXCHANGE_WSS_BINANCE_REST_URL")
        stream_url = endpoint(stream_url, "EXCHANGE_WSS_BINANCE_STREAM_URL")
        api_url = endpoint(api_url, "EXCHANGE_WSS_BINANCE_API_URL")
        self.endpoints = bn.Endpoints(rest_url or defaults.rest_url,
                                      (stream_url or defaults.stream_url).rstrip("/"),
                                      api_url or defaults.api_url)
        self.raw = raw
        self.keepalive_interval = keepalive_interval
        self.legacy_user_stream = legacy_user_stream
        self.recv_window = recv_window
        self._streams: Dict[str, _StreamSub] = {}
        self._market_links: List[_MarketLink] = []
        self._api_link: Optional[_ApiLink] = None
        self._user_link: Optional[_UserStreamLink] = None
        self._user_callbacks: List[Callback] = []
        self._user_data_wanted = False
        self._ids = itertools.count(1)
        self._link_names = itertools.count(0)
        self._rest_client: Optional[RestClient] = None

    def __repr__(self) -> str:
        key = f"{self.key[:4]}…" if self.key else None
        return (f"<BinanceWssClient market={self.market!r} key={key!r} "
                f"streams={len(self._streams)} running={self.running}>")

    @property
    def _rest(self) -> RestClient:
        if self._rest_client is None:
            self._rest_client = RestClient(self.endpoints.rest_url, self._get_reactor(),
                                           api_key=self.key)
        return self._rest_client

    def _next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def _timestamp() -> int:
        return int(time.time() * 1000)

    # -- market streams ------------------------------------------------------------
    def subscribe_to_ticker(self, symbol: str, callback: Callback) -> str:
        """24-hour rolling ticker: :class:`~exchange_wss.models.Ticker` events."""
        symbol = self._native(symbol)
        stream = bn.stream_name("ticker", symbol, market=self.market)
        return self._subscribe(stream, symbol, callback)

    def subscribe_to_trades(self, symbol: str, callback: Callback, aggregate: bool = False) -> str:
        """Trades (``aggregate=True``: aggTrade): :class:`~exchange_wss.models.Trade` events."""
        kind = "aggTrade" if aggregate else "trade"
        symbol = self._native(symbol)
        return self._subscribe(bn.stream_name(kind, symbol, market=self.market), symbol, callback)

    def subscribe_to_candles(self, symbol: str, interval: str, callback: Callback) -> str:
        """Klines: :class:`~exchange_wss.models.Candle` events (``interval`` e.g. ``"1m"``)."""
        symbol = self._native(symbol)
        return self._subscribe(bn.stream_name("kline", symbol, market=self.market,
                                              interval=interval), symbol,
                               callback)

    def subscribe_to_book_ticker(self, symbol: str, callback: Callback) -> str:
        """Best bid and ask on every change."""
        symbol = self._native(symbol)
        stream = bn.stream_name("bookTicker", symbol, market=self.market)
        return self._subscribe(stream, symbol, callback)

    def subscribe_to_orderbook(self, symbol: str, callback: Callback, limit: int = 1000,
                               speed: Optional[str] = None) -> str:
        """A book kept in sync from the diff stream and a REST snapshot, by Binance's rules.

        ``callback`` gets a :class:`~exchange_wss.models.BookSnapshot` once in
        sync (and after every resync), then the diffs. Read the book with
        :meth:`order_book`.
        """
        symbol = self._native(symbol)
        stream = bn.stream_name("depth", symbol, market=self.market, speed=speed)
        return self._subscribe(stream, symbol, callback, book_limit=limit)

    def unsubscribe(self, stream: str) -> None:
        """Unsubscribe a stream returned by ``subscribe_to_*``."""
        if stream not in self._streams:
            raise LocalProtocolError(f"no subscription {stream!r}")
        self._call(self._unsubscribe, stream)

    def order_book(self, symbol: str) -> models.BookSnapshot:
        """A consistent copy of the maintained book of ``symbol`` (levels ``(price, size)``)."""
        symbol = self._native(symbol)
        for sub in list(self._streams.values()):
            if sub.book is not None and sub.symbol.upper() == symbol.upper():
                book = sub.book
                return self._call_and_wait(
                    lambda: models.BookSnapshot(sub.symbol.upper(), book.bids, book.asks))
        raise LocalProtocolError(f"no order book subscription for {symbol}")

    def _subscribe(self, stream: str, symbol: str, callback: Callback,
                   book_limit: Optional[int] = None) -> str:
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._call(self._add_stream, stream, symbol, self._safe(callback, stream), book_limit)
        return stream

    def _add_stream(self, stream: str, symbol: str, deliver: Callback,
                    book_limit: Optional[int]) -> None:
        sub = self._streams.get(stream)
        if sub is not None:
            sub.add_callback(deliver)
            return
        sub = _StreamSub(stream, symbol)
        sub.add_callback(deliver)
        if book_limit is not None:
            sub.book = OrderBook(symbol.upper(), kind="size")
            sub.sync = bn.DepthSync(symbol.upper(), self.market, sub.book,
                                    deliver=sub.deliver, raw=self.raw,
                                    request_snapshot=lambda s=sub: self._fetch_snapshot(s),
                                    on_out_of_sync=self._book_out_of_sync)
            sub.sync.limit = book_limit
        self._streams[stream] = sub
        self._market_link_with_room(stream).add(sub)

    def _market_link_with_room(self, stream: str) -> _MarketLink:
        # USDT-M serves book streams on /public and the rest on /market: a link
        # carries streams of one route only.
        route = bn.stream_route(stream, self.market)
        for link in self._market_links:
            if link.route == route and len(link.subs) < bn.MAX_STREAMS[self.market]:
                return link
        url = bn.market_stream_url(self.endpoints, self.market, route=route)
        link = _MarketLink(self, f"market-{next(self._link_names)}", url, route)
        self._market_links.append(link)
        if self.running:
            link.conn.start()
        return link

    def _unsubscribe(self, stream: str) -> None:
        sub = self._streams.pop(stream, None)
        if sub is not None and sub.link is not None:
            sub.link.remove(sub)

    def _fetch_snapshot(self, sub: _StreamSub) -> None:
        path, params = bn.depth_snapshot_request(self.market, sub.symbol, sub.sync.limit)
        d = self._rest.call("GET", path, params)
        # addCallback then addErrback: a malformed body raised by on_snapshot
        # must reach the retry as well as a failed request.
        d.addCallback(sub.sync.on_snapshot)
        d.addErrback(lambda f: self._snapshot_failed(sub, f))

    def _snapshot_failed(self, sub: _StreamSub, failure: Any) -> None:
        self._emit_error(failure.value)
        if sub.stream in self._streams and not self._stopped:
            self._get_reactor().callLater(self._conn_options.reconnect_delay,
                                          self._fetch_snapshot, sub)

    def _book_out_of_sync(self, symbol: str, reason: str) -> None:
        from ..errors import SequenceGap
        self.stats.sequence_gaps += 1
        self._emit_error(SequenceGap(f"{symbol} book: {reason}; resyncing from a new snapshot"))

    def _market_control(self, link: _MarketLink) -> Callable[[Any], None]:
        return lambda event: self._generic_control(link, event)

    # -- user data -------------------------------------------------------------------
    def subscribe_to_user_data(self, callback: Callback) -> None:
        """Every account event, typed: orders, fills, balances, positions, and the rest
        (unknown events arrive as :class:`~exchange_wss.models.UserEvent`)."""
        self._require_credentials()
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._call(self._add_user_callback, self._safe(callback, "user data", droppable=False))

    def subscribe_to_orders(self, callback: Callback) -> None:
        """Order updates only (:class:`~exchange_wss.models.Order`)."""
        self.subscribe_to_user_data(_only(models.Order, callback))

    def subscribe_to_balances(self, callback: Callback) -> None:
        """Balance updates only: :class:`~exchange_wss.models.Wallet` (one per asset)
        and :class:`~exchange_wss.models.BalanceUpdate` (deposits, transfers: deltas)."""
        self.subscribe_to_user_data(_only((models.Wallet, models.BalanceUpdate), callback))

    def subscribe_to_positions(self, callback: Callback) -> None:
        """Position updates only (futures): :class:`~exchange_wss.models.Position`."""
        if self.market not in ("usdm", "coinm"):
            raise LocalProtocolError("positions exist on futures markets only")
        self.subscribe_to_user_data(_only(models.Position, callback))

    def _add_user_callback(self, deliver: Callback) -> None:
        self._user_callbacks.append(deliver)
        if self._user_data_wanted:
            return
        self._user_data_wanted = True
        if self.market == "spot":
            link = self._ensure_api_link()
            if link.session is not None:
                link.replay(link.conn, link.session)
        else:
            self._user_link = _UserStreamLink(self)
            if self.running:
                self._user_link.start()

    def _user_deliver(self, event: Any) -> None:
        # Snapshots of several items are flattened so that the per-type
        # filters see every Wallet and Position.
        if isinstance(event, models.Snapshot) and not self.raw:
            for item in event.items:
                self._user_deliver(item)
            return
        for cb in self._user_callbacks:
            cb(event)

    def _user_data_subscribed(self, result: Any, error: Any) -> None:
        if error is not None:
            self._emit_error(error)
        else:
            self._emit_state("user data subscribed", "api")

    # -- orders ------------------------------------------------------------------------
    def submit_order(self, symbol: str, side: str, order_type: str, quantity: Any,
                     price: Any = None, time_in_force: Optional[str] = None,
                     client_order_id: Optional[str] = None, **extra: Any) -> Future:
        """Place an order over the WebSocket API; a Future of the accepted
        :class:`~exchange_wss.models.Order`, or :class:`~exchange_wss.errors.OrderRejected`.

        The request is sent once. If the connection drops before the answer,
        the Future fails with :class:`~exchange_wss.errors.OrderStateUnknown`.
        """
        self._require_credentials()
        symbol = self._native(symbol)
        if client_order_id is None:
            # Always name the order: it is how its events and its fate after a
            # lost answer are found (Binance allows [.A-Za-z0-9:/_-]{1,36}).
            client_order_id = f"ews-{create_cid()}"
        rid = self._next_id()
        frame = bn.order_place_request(self.key, self._secret, self._timestamp(), rid,
                                       symbol=symbol, side=side, type=order_type,
                                       quantity=quantity, price=price,
                                       time_in_force=time_in_force,
                                       new_client_order_id=client_order_id,
                                       recv_window=self.recv_window, **extra)
        future: Future = Future()
        future.client_order_id = frame["params"].get("newClientOrderId")
        self._call(self._request, frame, _settle_order(future))
        return future

    def new_order(self, symbol: str, side: str, order_type: str, quantity: Any,
                  price: Any = None, **kwargs: Any) -> Future:
        """Alias of :meth:`submit_order` (Binance answers every request)."""
        return self.submit_order(symbol, side, order_type, quantity, price, **kwargs)

    def cancel_order(self, symbol: str, order_id: Optional[int] = None,
                     client_order_id: Optional[str] = None) -> Future:
        """Cancel by ``order_id`` or ``client_order_id``; a Future of the answer."""
        self._require_credentials()
        symbol = self._native(symbol)
        rid = self._next_id()
        frame = bn.order_cancel_request(self.key, self._secret, self._timestamp(), rid,
                                        symbol=symbol, order_id=order_id,
                                        orig_client_order_id=client_order_id,
                                        recv_window=self.recv_window)
        future: Future = Future()
        self._call(self._request, frame, _settle_order(future))
        return future

    def _request(self, frame: Any, on_result: Callable[[Any, Any], None]) -> None:
        self._ensure_api_link().request(frame, on_result)

    def _ensure_api_link(self) -> _ApiLink:
        if self._api_link is None:
            self._api_link = _ApiLink(self, self.endpoints.api_url)
            if self.running:
                self._api_link.conn.start()
        return self._api_link

    def _require_credentials(self) -> None:
        if self.key is None:
            raise LocalProtocolError("this needs an API key and secret: "
                                     "BinanceWssClient(key, secret)")

    # -- control events ------------------------------------------------------------------
    def _api_control(self, event: Any) -> None:
        if isinstance(event, (bn.ServerShutdown,)) and self._api_link is not None:
            self._api_link.conn.drop("serverShutdown")
        elif isinstance(event, bn.StreamTerminated) and self._user_data_wanted:
            link = self._api_link
            if link is not None and link.session is not None:
                link.replay(link.conn, link.session)
        self._generic_control(self._api_link, event)

    def _generic_control(self, link: Any, event: Any) -> None:
        if isinstance(event, bn.MalformedFrame):
            self._protocol_error(f"{link.name if link else '?'}: {event.reason}", event.raw)
        elif isinstance(event, bn.BookOutOfSync):
            self._book_out_of_sync(event.stream, event.reason)
        elif isinstance(event, bn.ServerShutdown) and link is not None:
            link.conn.drop("serverShutdown")
        else:
            self._emit_event(event)

    # -- lifecycle -----------------------------------------------------------------------
    def _start_connections(self) -> None:
        for link in self._market_links:
            link.conn.start()
        if self._api_link is not None:
            self._api_link.conn.start()
        if self._user_link is not None:
            self._user_link.start()

    def _stop_connections(self):
        links = [link.stop() for link in self._market_links]
        if self._api_link is not None:
            self._api_link.closed("client stopped")
            links.append(self._api_link.stop())
        if self._user_link is not None:
            links.append(self._user_link.stop())
        if self._rest_client is not None:
            self._rest_client.close()
        return defer.DeferredList(links, consumeErrors=True)

    def _fail_pending(self, error: BaseException) -> None:
        if self._api_link is not None:
            in_flight, self._api_link.in_flight = self._api_link.in_flight, {}
            waiting, self._api_link.waiting = self._api_link.waiting, []
            for on_result in list(in_flight.values()) + [cb for _f, cb in waiting]:
                on_result(None, ClientStopped("the client was stopped"))


def _only(kind: Any, callback: Callback) -> Callback:
    def deliver(event: Any) -> None:
        if isinstance(event, kind):
            callback(event)
    return deliver


def _settle_order(future: Future) -> Callable[[Any, Any], None]:
    def settle(result: Any, error: Any) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(bn.order_from_result(result))
        elif isinstance(error, ExchangeError):
            future.set_exception(OrderRejected(error.msg, code=error.code, raw=error.raw))
        else:
            future.set_exception(error)
    return settle

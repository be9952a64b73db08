"""``BinanceWssClient``: market streams, user data and orders over the socket.

Same threading model, connection layer, reliability options and typed models as
``WssClient``. Three kinds of connection (:mod:`exchange_wss.binance.links`):

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
from collections.abc import Callable
from typing import Any, TypeVar, Unpack, cast

from twisted.internet import defer

from .. import models
from .._endpoints import endpoint
from .._facade import BaseClient, Callback, ClientOptions
from .._requests import RequestFuture
from .._rest import RestClient
from .._session import RequestAnswered, short
from .._subscriptions import Subscription
from ..errors import (
    ExchangeError,
    ExchangeWssError,
    LocalProtocolError,
    OrderRejected,
    RemoteProtocolError,
    SequenceGap,
)
from ..orderbook import OrderBook
from ..symbols import Venue
from ..utils import create_cid
from . import protocol as bn
from .in_doubt import InDoubt, OrderRef
from .links import ApiLink, MarketLink, UserStreamLink, _rest_error
from .market_streams import MarketStreams
from .state import AccountState

__all__ = ["BinanceWssClient"]

_T = TypeVar("_T")

log = logging.getLogger("exchange_wss.binance")

#: Binance cuts every connection at 24 h; rotate a little before.
DEFAULT_MAX_CONNECTION_AGE = 23.5 * 3600


class _SyncedBook:
    """What a diff-depth subscription's stream feeds: the
    :class:`~exchange_wss.binance.depth.DepthSync` that keeps its book (``deliver`` is
    the session's target for the parsed diffs)."""

    __slots__ = ("sync", "deliver")

    def __init__(self, sync: Any) -> None:
        self.sync = sync
        self.deliver = sync.on_diff

    def reset(self) -> None:
        self.sync.reset()


class BinanceWssClient(MarketStreams, BaseClient):
    """Threaded, callback-driven Binance client (Spot, margin, USDT-M and COIN-M futures).

    Args:
        key, secret: API key and its secret (user data and orders): an HMAC
            secret, or a PEM private key (RSA or Ed25519). With an Ed25519 key
            every WebSocket-API connection logs on once (``session.logon``) and
            sends its requests unsigned; HMAC and RSA sign each request. The
            secret appears in no log line, repr or exception.
        market: ``"spot"``, ``"margin"``, ``"usdm"`` or ``"coinm"``.
        testnet: use Binance's testnet hosts.
        rest_url, stream_url, api_url: override the REST base, the stream base
            and the whole WebSocket API URL (the sandbox and other venues).
        raw: deliver decoded frames instead of typed models (the callbacks' annotations
            name the models: type a raw callback's argument as ``Any``).
        keepalive_interval: seconds between listenKey keepalives (futures, margin).
        legacy_user_stream: use ``/ws/<listenKey>`` for USDT-M too.
        recv_window: ``recvWindow`` (ms) of signed requests (Binance's default 5000
            when None); it also bounds when a request in doubt can no longer arrive.
        **options: hooks and reliability settings as for ``WssClient``;
            ``max_connection_age`` defaults to 23.5 h here, so connections are
            rotated (new one first) before Binance's 24 h cut.
    """

    def __init__(self, key: str | None = None, secret: str | None = None, *,
                 market: str = "spot", testnet: bool = False, rest_url: str | None = None,
                 stream_url: str | None = None, api_url: str | None = None,
                 raw: bool = False, keepalive_interval: float = 1800.0,
                 legacy_user_stream: bool = False, recv_window: int | None = None,
                 **options: Unpack[ClientOptions]) -> None:
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
        #: ``session.logon`` on every WebSocket-API connection (Ed25519 keys only).
        self._logon = secret is not None and bn.key_type(secret) == "ed25519"
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
        self._market_links: list[MarketLink] = []
        self._api_link: ApiLink | None = None
        self._user_link: UserStreamLink | None = None
        self._user_callbacks: list[Callback] = []
        self._user_data_wanted = False
        self._user_data_requested = False  # set in the caller's thread
        self._link_names = itertools.count(0)
        self._rest_client: RestClient | None = None
        #: Balances, positions and open orders, and the gate that puts the account
        #: snapshot before live events (reactor thread).
        self._account = AccountState(self._user_deliver, self._get_reactor(),
                                     self.requests.timeout, self._account_snapshot_timed_out,
                                     self._order_update_superseded)
        #: Requests in doubt being settled by asking the exchange.
        self._in_doubt = InDoubt(self)

    def __repr__(self) -> str:
        key = f"{self.key[:4]}…" if self.key else None
        return (f"<BinanceWssClient market={self.market!r} key={key!r} "
                f"streams={len(self._subs)} running={self.running}>")

    @property
    def _rest(self) -> RestClient:
        if self._rest_client is None:
            self._rest_client = RestClient(self.endpoints.rest_url, self._get_reactor(),
                                           api_key=self.key, recorder=self._recorder)
        return self._rest_client

    @staticmethod
    def _timestamp() -> int:
        return int(time.time() * 1000)

    def _request_auth(self) -> Any:
        """``(api_key, secret)`` to sign WebSocket-API requests with, or ``(None, None)``
        when the connection logs on (Ed25519): the requests then go unsigned."""
        return (None, None) if self._logon else (self.key, self._secret)

    def _signed_rest(self, method: str, path: str, params: Any) -> defer.Deferred[Any]:
        """A signed REST call (key in ``X-MBX-APIKEY``, signature over the query as
        sent), in the reactor's thread pool."""
        # Signed calls are made for an account, whose credentials the caller checked.
        query = bn.rest_signed_query(cast(str, self._secret), params, self._timestamp(),
                                     self.recv_window)
        return self._rest.call(method, path, query=query)

    # -- market streams ------------------------------------------------------------
    def subscribe_to_ticker(self, symbol: str,
                            callback: Callable[[models.Ticker], object]) -> Subscription:
        """24-hour rolling ticker: :class:`~exchange_wss.models.Ticker` events."""
        symbol = self._native(symbol)
        stream = bn.stream_name("ticker", symbol, market=self.market)
        return self._subscribe(stream, symbol, callback)

    def subscribe_to_trades(self, symbol: str, callback: Callable[[models.Trade], object],
                            aggregate: bool = False) -> Subscription:
        """Trades (``aggregate=True``: aggTrade): :class:`~exchange_wss.models.Trade` events."""
        kind = "aggTrade" if aggregate else "trade"
        symbol = self._native(symbol)
        return self._subscribe(bn.stream_name(kind, symbol, market=self.market), symbol,
                               callback)

    def subscribe_to_candles(self, symbol: str, interval: str,
                             callback: Callable[[models.Candle], object]) -> Subscription:
        """Klines: :class:`~exchange_wss.models.Candle` events (``interval`` e.g. ``"1m"``)."""
        return self._subscribe(bn.stream_name("kline", symbol, market=self.market,
                                              interval=interval), symbol, callback)

    def subscribe_to_book_ticker(self, symbol: str,
                                 callback: Callable[[models.BookTicker], object]
                                 ) -> Subscription:
        """Best bid and ask on every change."""
        symbol = self._native(symbol)
        stream = bn.stream_name("bookTicker", symbol, market=self.market)
        return self._subscribe(stream, symbol, callback)

    def subscribe_to_orderbook(self, symbol: str,
                               callback: Callable[[models.BookSnapshot | models.BookDiff], object],
                               limit: int = 1000,
                               speed: str | None = None) -> Subscription:
        """A book kept in sync from the diff stream and a REST snapshot, by Binance's rules.

        ``callback`` gets a :class:`~exchange_wss.models.BookSnapshot` once in
        sync (and after every resync), then the diffs. Read the book with
        :meth:`order_book`.
        """
        symbol = self._native(symbol)
        stream = bn.stream_name("depth", symbol, market=self.market, speed=speed)
        return self._subscribe(stream, symbol, callback, book_limit=limit)

    def order_book(self, symbol: str) -> models.BookSnapshot:
        """A consistent copy of the maintained book of ``symbol`` (levels ``(price, size)``).

        Works right after ``subscribe_to_orderbook``; until the book is in sync
        the copy says ``synced=False``.
        """
        symbol = self._native(symbol)
        for sub in self.subscriptions():
            if isinstance(sub.extra, _SyncedBook) and sub.symbol == symbol.upper():
                return self._book_copy(sub, sub.symbol)
        raise LocalProtocolError(f"no order book subscription for {symbol}")

    def _subscribe_stream(self, stream: str, symbol: str | None,
                          callback: Callback) -> Subscription:
        # All-market streams (``!ticker@arr``) name no symbol.
        return self._register(stream, stream, callback,
                              symbol=symbol.upper() if symbol is not None else None)

    def _subscribe(self, stream: str, symbol: str, callback: Callback,
                   book_limit: int | None = None) -> Subscription:
        symbol = symbol.upper()

        def book() -> OrderBook:
            return OrderBook(symbol, kind="size")

        def synced_book(sub: Subscription) -> _SyncedBook:
            sync = bn.DepthSync(symbol, self.market, sub.book,
                                deliver=lambda event: sub.deliver(event), raw=self.raw,
                                request_snapshot=lambda: self._fetch_snapshot(sub),
                                on_out_of_sync=lambda s, r: self._book_out_of_sync(sub, r))
            sync.limit = book_limit
            return _SyncedBook(sync)

        return self._register(stream, stream, callback, symbol=symbol,
                              book=book if book_limit is not None else None,
                              extra=synced_book if book_limit is not None else None)

    def _place(self, sub: Subscription) -> None:
        link = self._market_link_with_room(sub.spec)
        sub.link = link
        link.subs.add(sub)

    def _market_link_with_room(self, stream: str) -> MarketLink:
        # USDT-M serves book streams on /public and the rest on /market: a link
        # carries streams of one route only.
        route = bn.stream_route(stream, self.market)
        for link in self._market_links:
            if link.route == route and len(link.subs) < bn.MAX_STREAMS[self.market]:
                return link
        url = bn.market_stream_url(self.endpoints, self.market, route=route)
        link = MarketLink(self, f"market-{next(self._link_names)}", url, route)
        self._market_links.append(link)
        if self.running:
            link.conn.start()
        return link

    def _fetch_snapshot(self, sub: Subscription) -> None:
        book = sub.extra
        if book is None or not sub.wanted or self._stopped:
            return
        # A depth subscription always names its symbol.
        path, params = bn.depth_snapshot_request(self.market, cast(str, sub.symbol),
                                                 book.sync.limit)
        d = self._rest.call("GET", path, params)
        # addCallback then addErrback: a malformed body raised by on_snapshot
        # must reach the retry as well as a failed request.
        d.addCallback(book.sync.on_snapshot)
        d.addErrback(lambda f: self._snapshot_failed(sub, f))

    def _snapshot_failed(self, sub: Subscription, failure: Any) -> None:
        if self._stopped:
            return
        self._emit_error(_rest_error(failure.value, f"{sub.symbol} depth snapshot"))
        if sub.wanted:
            self._get_reactor().callLater(self._conn_options.reconnect_delay,
                                          self._fetch_snapshot, sub)

    def _book_out_of_sync(self, sub: Subscription, reason: str) -> None:
        self.stats.sequence_gaps += 1
        self.stats.resyncs += 1
        sub.resyncs += 1
        sub.resync_reason = reason
        if sub.book is not None:
            sub.book.synced = False
        self._emit_error(SequenceGap(f"{sub.symbol} book: {reason}; resyncing from a new "
                                     "snapshot"))

    # -- user data -------------------------------------------------------------------
    def subscribe_to_user_data(self, callback: Callable[[Any], object]) -> None:
        """Every account event, typed: orders, fills, balances, positions, and the rest
        (unknown events arrive as :class:`~exchange_wss.models.UserEvent`)."""
        self._require_credentials()
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._user_data_requested = True
        self._call(self._add_user_callback, self._safe(callback, "user data", droppable=False))

    def subscribe_to_orders(self, callback: Callable[[models.Order], object]) -> None:
        """Order updates only (:class:`~exchange_wss.models.Order`)."""
        self.subscribe_to_user_data(_only(models.Order, callback))

    def subscribe_to_balances(self, callback: Callable[[models.Wallet | models.BalanceUpdate],
                                                       object]) -> None:
        """Balance updates only: :class:`~exchange_wss.models.Wallet` (one per asset)
        and :class:`~exchange_wss.models.BalanceUpdate` (deposits, transfers: deltas)."""
        self.subscribe_to_user_data(_only((models.Wallet, models.BalanceUpdate), callback))

    def subscribe_to_positions(self, callback: Callable[[models.Position], object]) -> None:
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
            # Not ready yet (connecting, logging on): the open or the logon subscribes.
            if link.ready():
                link.subscribe_user_data(link.conn, link.session)
        else:
            self._user_link = UserStreamLink(self)
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

    def _user_stream_events(self) -> Any:
        """The events the listenKey stream carries (USDT-M ``/private``'s ``events=``;
        None: every event)."""
        if self.market == "usdm" and not self.legacy_user_stream:
            return bn.DEFAULT_FUTURES_EVENTS
        return None

    # -- account snapshot and state ------------------------------------------------------
    def _account_snapshot_loaded(self, snap: Any) -> None:
        """A loaded account snapshot (an :class:`~exchange_wss.binance.account.AccountSnapshot`):
        deliver it, then the live events held meanwhile."""
        if snap.skipped:
            self._protocol_error(f"account snapshot: {snap.skipped} rows could not be read "
                                 "(left out)", snap.raw)
        self._account.snapshot(snap.wallets, snap.positions, snap.orders, snap.raw,
                               wallet_types=[self.market])
        self._emit_state("account loaded", "user" if self._user_link is not None else "api",
                         f"{len(snap.wallets)} balances, {len(snap.positions)} positions, "
                         f"{len(snap.orders)} open orders")

    def _account_snapshot_failed(self, error: ExchangeWssError) -> None:
        """The snapshot could not be loaded: say so, and deliver what was held."""
        self._emit_error(error)
        self._account.release()

    def _order_update_superseded(self) -> None:
        # Counted, never delivered: the snapshot already told this state of the order.
        self.stats.superseded_order_updates += 1

    def _account_snapshot_timed_out(self, timeout: float) -> None:
        self._emit_error(RemoteProtocolError(
            f"account snapshot not loaded within {timeout:g}s; live events delivered "
            "without it"))

    def balances(self) -> list[models.Wallet]:
        """The account's balances as last known (a consistent copy, made on the reactor
        thread): the snapshot loaded at start and after every reconnect of the
        user-data stream, kept current by its live events.

        Raises:
            LocalProtocolError: no user-data subscription, or ``raw=True`` (raw events
                keep no state).
        """
        return self._state_copy(lambda state: list(state.wallets.values()))

    def positions(self) -> list[models.Position]:
        """The open futures positions as last known (see :meth:`balances`); empty on
        Spot and margin."""
        return self._state_copy(lambda state: list(state.positions.values()))

    def open_orders(self) -> list[models.Order]:
        """The open orders as last known (see :meth:`balances`), oldest first."""
        return self._state_copy(lambda state: list(state.orders.values()))

    def _state_copy(self, read: Callable[[AccountState], _T]) -> _T:
        if not self._user_data_wanted and not self._user_data_requested:
            raise LocalProtocolError("the account state comes with user data: call "
                                     "subscribe_to_user_data() first")
        if self.raw:
            raise LocalProtocolError("raw=True delivers events as received and keeps no "
                                     "account state")
        return self._call_and_wait(read, self._account)

    # -- orders ------------------------------------------------------------------------
    def submit_order(self, symbol: str, side: str, order_type: str, quantity: Any,
                     price: Any = None, time_in_force: str | None = None,
                     client_order_id: str | None = None,
                     **extra: Any) -> RequestFuture[models.Order]:
        """Place an order over the WebSocket API; a Future of the accepted
        :class:`~exchange_wss.models.Order`, or :class:`~exchange_wss.errors.OrderRejected`.

        The request is written once and never re-sent. Never written: it fails
        with :class:`~exchange_wss.errors.RequestNotSent` (safe to retry).
        Written and unanswered (a drop, the deadline): it fails with
        :class:`~exchange_wss.errors.OrderStateUnknown` carrying the client
        order id.

        Raises:
            LocalProtocolError: a bad argument, or a client order id already pending.
        """
        self._require_credentials()
        symbol = self._native(symbol)
        if client_order_id is None:
            # Always name the order: it is how its events and its fate after a
            # lost answer are found (Binance allows [.A-Za-z0-9:/_-]{1,36}).
            client_order_id = f"ews-{create_cid()}"
        key, secret = self._request_auth()
        frame = bn.order_place_request(key, secret, self._timestamp(), 0,
                                       symbol=symbol, side=side, type=order_type,
                                       quantity=quantity, price=price,
                                       time_in_force=time_in_force,
                                       new_client_order_id=client_order_id,
                                       recv_window=self.recv_window, **extra)
        coid = frame["params"].get("newClientOrderId")
        request = self._new_request(("order", coid), frame, "order", ident=coid,
                                    label=f"order {coid}")
        request.info = self._ref("order", frame, None, coid)
        self._submit(request)
        return request.future

    def new_order(self, symbol: str, side: str, order_type: str, quantity: Any,
                  price: Any = None, **kwargs: Any) -> RequestFuture[models.Order]:
        """Alias of :meth:`submit_order` (Binance answers every request)."""
        return self.submit_order(symbol, side, order_type, quantity, price, **kwargs)

    def cancel_order(self, symbol: str, order_id: int | None = None,
                     client_order_id: str | None = None) -> RequestFuture[models.Order]:
        """Cancel by ``order_id`` or ``client_order_id``; a Future of the cancelled order,
        failing as :meth:`submit_order`'s does."""
        self._require_credentials()
        symbol = self._native(symbol)
        key, secret = self._request_auth()
        frame = bn.order_cancel_request(key, secret, self._timestamp(), 0,
                                        symbol=symbol, order_id=order_id,
                                        orig_client_order_id=client_order_id,
                                        recv_window=self.recv_window)
        ident = order_id if order_id is not None else client_order_id
        request = self._new_request(("cancel", symbol, ident), frame, "cancel", ident=ident,
                                    label=f"cancel of {ident}")
        request.info = self._ref("cancel", frame, order_id, client_order_id)
        self._submit(request)
        return request.future

    @staticmethod
    def _ref(kind: str, frame: Any, order_id: int | None,
             client_order_id: str | None) -> OrderRef:
        # What to ask the exchange about, should the answer be lost to a drop.
        params = frame["params"]
        window = params.get("recvWindow")
        return OrderRef(kind, params["symbol"], order_id, client_order_id, params["timestamp"],
                        float(window) if window is not None else 5000.0)

    def _submit(self, request: Any) -> None:
        try:
            self._call(self._submit_now, request)
        except Exception:
            self.requests._forget(request)
            raise

    def _submit_now(self, request: Any) -> None:
        self._ensure_api_link().submit(request)

    def _answered(self, event: RequestAnswered) -> None:
        registry = self.requests
        error = event.error
        if error is not None:
            if isinstance(error, ExchangeError) and not isinstance(error, OrderRejected):
                error = OrderRejected(error.msg, code=error.code, raw=error.raw)
            registry.reject(event.key, error)
            return
        result = event.result
        if not isinstance(result, dict) or "orderId" not in result:
            err = RemoteProtocolError(f"the answer is not an order: {short(result)}")
            err.raw = event.raw
            registry.reject(event.key, err)
            return
        registry.resolve(event.key, bn.order_from_result(result))

    def _ensure_api_link(self) -> ApiLink:
        if self._api_link is None:
            self._api_link = ApiLink(self, self.endpoints.api_url)
            if self.running:
                self._api_link.conn.start()
        return self._api_link

    def _require_credentials(self) -> None:
        if self.key is None:
            raise LocalProtocolError("this needs an API key and secret: "
                                     "BinanceWssClient(key, secret)")

    # -- control events ------------------------------------------------------------------
    def _binance_event(self, link: Any, event: Any) -> None:
        """The Binance control events every link may get."""
        if isinstance(event, bn.MalformedFrame):
            self._protocol_error(f"{link.name}: {event.reason}", event.raw)
        elif isinstance(event, bn.BookOutOfSync):
            pass  # reported by the DepthSync's on_out_of_sync
        elif isinstance(event, bn.ServerShutdown):
            self._emit_event(event)
            link.conn.drop("serverShutdown")
        elif isinstance(event, bn.Response) and event.error is not None:
            self._emit_error(event.error)
        elif isinstance(event, bn.UnknownStream):
            log.debug("%s: data for an unknown stream %s", link.name, event.stream)
        elif isinstance(event, bn.DuplicateFill):
            # Counted, never delivered as if it were a new trade.
            self.stats.duplicate_fills += 1
            log.debug("%s: a repeated fill was left out", link.name)
        else:
            self._emit_event(event)

    # -- lifecycle -----------------------------------------------------------------------
    def _links(self) -> list[Any]:
        links: list[Any] = list(self._market_links)
        links.extend(link for link in (self._api_link, self._user_link) if link is not None)
        return links

    def _start_connections(self) -> None:
        for link in self._market_links:
            link.conn.start()
        if self._api_link is not None:
            self._api_link.conn.start()
        if self._user_link is not None:
            self._user_link.start()

    def _stop_connections(self) -> Any:
        self._stop_requests()
        self._in_doubt.stop()
        links = [link.stop() for link in self._market_links]
        if self._api_link is not None:
            links.append(self._api_link.stop())
        if self._user_link is not None:
            links.append(self._user_link.stop())
        if self._rest_client is not None:
            self._rest_client.close()
        return defer.DeferredList(links, consumeErrors=True)


def _only(kind: Any, callback: Callback) -> Callback:
    def deliver(event: Any) -> None:
        if isinstance(event, kind):
            callback(event)
    return deliver

"""asyncio on top of the threaded clients: async iterators and awaitable orders.

The reactor thread stays the engine: it reads the sockets, keeps the books and
settles orders. Each stream hands its events to the caller's event loop
(asyncio's or uvloop's) through a bounded buffer it owns; the reactor thread
never waits on the loop, and the loop is woken once per batch, not per event.

Queue policy (see :doc:`/asyncio`):

- ``"latest"`` (tickers, depth): at most one event waits; a newer one replaces
  it. Depth is not even built while one waits: the waiting book is rebuilt from
  the maintained book when it is taken, so every book yielded is a real state
  and the last one is always delivered.
- ``"drop_oldest"`` (trades, klines): up to ``maxsize`` wait; beyond, the oldest
  is dropped.
- ``"backpressure"`` (orders, balances): nothing is ever dropped. Past
  ``maxsize`` waiting events the stream *slows the producer*: it stops reading
  the account connection's socket (Twisted ``pauseProducing``, so the reactor
  thread is never blocked and every other connection goes on) and TCP's flow
  control slows the exchange; reading resumes once half the queue is consumed.

Every drop and conflation is counted (:attr:`Stream.dropped`) and reported once
per episode as :class:`~exchange_wss.errors.StreamOverflow` to the client's
``on_error``. Leaving the ``async for`` (``break``, cancellation, an exception)
closes the stream, and the last stream of a subscription unsubscribes it.
Errors the stream cannot recover from (a refused subscription, refused
credentials, a connection given up) are raised from the iterator.

Example::

    from exchange_wss import aio

    async with aio.connect("binance", market="spot") as client:
        async for ticker in client.stream_ticker("BTC/USDT"):
            print(ticker.last_price)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from . import _reactor, models
from ._aio_stream import POLICIES, Stream, _Feed
from .errors import (
    AuthenticationError,
    ClientStopped,
    ConnectionLost,
    LocalProtocolError,
    OrderRejected,
    OrderStateUnknown,
    StreamOverflow,
    SubscriptionError,
)
from .symbols import Venue, parse_venue, to_native, to_unified

__all__ = ["AsyncClient", "Stream", "Hub", "connect", "POLICIES", "DEFAULT_QUEUE_SIZE"]

log = logging.getLogger("exchange_wss.aio")

DEFAULT_QUEUE_SIZE = 1000
#: Seconds an awaited cancel waits for the exchange's answer before it is in doubt.
CANCEL_TIMEOUT = 10.0


def _watch(feed: _Feed) -> None:
    """Make a failed subscription end the streams of ``feed``: the one place that
    knows how a subscription's failure reaches its streams.

    ``subscribe_*`` return :class:`~exchange_wss._subscriptions.Subscription`
    handles: their listener sees the state change to ``"failed"`` (refused by
    the exchange, or not restorable) and the streams raise ``sub.error``. A
    client that returned a plain label would leave this to :func:`_failure_of`.
    """
    handle = feed.handle
    if not hasattr(handle, "add_listener"):
        return
    ref = weakref.ref(feed)

    def changed(sub: Any) -> None:
        live = ref()
        if live is None or sub.state != "failed":
            return
        error = sub.error or SubscriptionError(None, f"{sub.label}: failed")
        for stream in live.streams:
            stream.fail(error)

    handle.add_listener(changed)


def _failure_of(feed: _Feed, stream: Stream[Any], error: BaseException) -> BaseException | None:
    """Whether an error the client reported to ``on_error`` ends ``stream`` (None: the
    client recovers from it): a connection given up ends every stream, refused
    credentials end the account streams, and, for a client without subscription
    handles, a refused subscription the streams of that subscription (its label
    leads the message; handles go through :func:`_watch`)."""
    if isinstance(error, ConnectionLost):
        return error
    if isinstance(error, AuthenticationError):
        return error if stream.account else None
    if isinstance(error, SubscriptionError) and feed.label and \
            not hasattr(feed.handle, "add_listener"):
        text = str(error.msg or error)
        return error if text.startswith(feed.label + ":") else None
    return None


# ------------------------------------------------------------------ interval names

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "D": 86400, "w": 604800, "W": 604800,
          "M": 2592000}


def _interval_seconds(interval: str) -> int:
    if not isinstance(interval, str) or len(interval) < 2 or not interval[:-1].isdigit() \
            or interval[-1] not in _UNITS:
        raise LocalProtocolError(f"unknown interval {interval!r} (e.g. '1m', '1h', '1d')")
    return int(interval[:-1]) * _UNITS[interval[-1]]


def _native_interval(venue: Venue, interval: str) -> str:
    """``"1d"``/``"1D"``, ``"1w"``/``"1W"``/``"7D"`` written the venue's way."""
    _interval_seconds(interval)
    n, unit = interval[:-1], interval[-1]
    if venue.exchange == "bitfinex":
        if interval in ("7D", "7d", "1w"):
            return "1W"
        return n + unit.upper() if unit in "dw" else interval
    if interval == "7D":
        return "1w"
    return n + unit.lower() if unit in "DW" else interval


# ------------------------------------------------------------------------------ client

class AsyncClient:
    """The asyncio face of one client (``WssClient``, ``BinanceWssClient``, ``FtxWssClient``).

    Every ``stream_*`` takes unified (``"BTC/USDT"``) or native symbols and
    returns a :class:`Stream`; ``submit_order`` and ``cancel_order`` are
    awaitable. Make it with :func:`connect`, or wrap a client you made.

    Args:
        client: the threaded client; started here if it is not yet.
        queue_size: default ``maxsize`` of every stream.
    """

    def __init__(self, client: Any, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.client = client
        self.venue: Venue = client.venue
        self.queue_size = queue_size
        self._feeds: dict[tuple[Any, ...], _Feed] = {}
        self._lock = threading.Lock()
        self._account: _Feed | None = None
        self._cancel_waiters: dict[Any, tuple[asyncio.AbstractEventLoop,
                                              asyncio.Future[models.Order]]] = {}
        self._holders: dict[Any, set[Stream[Any]]] = {}  # connection -> streams holding it paused
        self._user_on_error = client.on_error
        client.on_error = self._client_error
        if not client.running:
            client.start()

    def __repr__(self) -> str:
        return f"<AsyncClient {self.venue} feeds={len(self._feeds)}>"

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def close(self) -> None:
        """End every stream and stop the client (off the loop's thread)."""
        for feed in list(self._feeds.values()) + ([self._account] if self._account else []):
            for stream in feed.streams:
                stream.end()
        await asyncio.get_running_loop().run_in_executor(None, self.client.stop)

    # -- market data -------------------------------------------------------------------
    def stream_ticker(self, symbol: str, *, policy: str = "latest",
                      maxsize: int | None = None) -> Stream[models.Ticker]:
        """Tickers (:class:`~exchange_wss.models.Ticker`) of ``symbol``."""
        native = self._native(symbol)
        return self._open(("ticker", native),
                          lambda cb: self.client.subscribe_to_ticker(native, cb),
                          f"ticker {symbol}", policy, maxsize, _only(models.Ticker))

    def stream_trades(self, symbol: str, *, policy: str = "drop_oldest",
                      maxsize: int | None = None) -> Stream[models.Trade]:
        """Public trades (:class:`~exchange_wss.models.Trade`), each once, as they happen
        (Bitfinex's history snapshot and its ``tu`` confirmations are left out)."""
        native = self._native(symbol)
        return self._open(("trades", native),
                          lambda cb: self.client.subscribe_to_trades(native, cb),
                          f"trades {symbol}", policy, maxsize, _new_trades)

    def stream_klines(self, symbol: str, interval: str = "1m", *, policy: str = "drop_oldest",
                      maxsize: int | None = None) -> Stream[models.Candle]:
        """Candles (:class:`~exchange_wss.models.Candle`) of ``symbol`` in ``interval``
        (``"1m"``, ``"1h"``, ``"1d"``...). FTX has no candle channel: its candles are
        built here from the trades (``closed`` True once a newer candle began)."""
        native = self._native(symbol)
        client = self.client
        transform: Callable[[Stream[Any], Any], None]
        subscribe: Callable[[Callable[[Any], None]], Any]
        if self.venue.exchange == "ftx":
            transform = _CandleBuilder(native, interval, _interval_seconds(interval)).transform
            key: tuple[Any, ...] = ("trades", native)
            def subscribe(cb: Callable[[Any], None]) -> Any:
                return client.subscribe_to_trades(native, cb)
        else:
            tf = _native_interval(self.venue, interval)
            transform = _only(models.Candle)
            key = ("klines", native, tf)
            def subscribe(cb: Callable[[Any], None]) -> Any:
                return client.subscribe_to_candles(native, tf, cb)
        return self._open(key, subscribe, f"klines {symbol} {interval}", policy, maxsize,
                          transform)

    def stream_depth(self, symbol: str, levels: int = 25, *, policy: str = "latest",
                     maxsize: int | None = None) -> Stream[models.Depth]:
        """The maintained book of ``symbol`` after each change, as a
        :class:`~exchange_wss.models.Depth` of the best ``levels`` per side."""
        native = self._native(symbol)
        client = self.client
        if self.venue.exchange == "bitfinex":
            def read() -> Any:
                return client.order_book(native, "P0")
            def subscribe(cb: Callable[[Any], None]) -> Any:
                length = 25 if levels <= 25 else 100 if levels <= 100 else 250
                return client.subscribe_to_orderbook(native, "P0", cb, length=length)
        else:
            def read() -> Any:
                return client.order_book(native)
            if self.venue.exchange == "binance":
                def subscribe(cb: Callable[[Any], None]) -> Any:
                    limit = 100 if levels <= 100 else 1000
                    return client.subscribe_to_orderbook(native, cb, limit=limit)
            else:
                def subscribe(cb: Callable[[Any], None]) -> Any:
                    return client.subscribe_to_orderbook(native, cb)

        def build() -> models.Depth:
            snap = read()
            cut = models.BookSnapshot(snap.symbol, snap.bids[:levels], snap.asks[:levels],
                                      None, snap.kind)
            return models.Depth(snap.symbol, cut.bid_levels, cut.ask_levels)

        def transform(stream: Stream[Any], event: Any) -> None:
            if isinstance(event, (models.BookSnapshot, models.BookChange)):
                stream.offer_latest(build)

        return self._open(("depth", native), subscribe, f"depth {symbol}", policy, maxsize,
                          transform)

    # -- account -----------------------------------------------------------------------
    def stream_orders(self, *, maxsize: int | None = None) -> Stream[models.Order]:
        """Your orders' updates (:class:`~exchange_wss.models.Order`; read ``.state``).
        Never dropped: a slow consumer slows the account connection instead."""
        return self._account_stream("orders", maxsize)

    def stream_balances(self, *, maxsize: int | None = None
                        ) -> Stream[models.Wallet | models.BalanceUpdate]:
        """Your balances (:class:`~exchange_wss.models.Wallet`, and Binance's
        :class:`~exchange_wss.models.BalanceUpdate` deltas). Never dropped.
        FTX's socket has no balance channel: its wallets are read over REST at
        the start and after every fill."""
        return self._account_stream("balances", maxsize)

    async def submit_order(self, symbol: str, side: str, type: str, amount: Any,
                           price: Any = None, **extra: Any) -> models.Order:
        """Place an order; returns it as the exchange accepted it.

        Args:
            symbol: unified or native.
            side: ``"buy"`` or ``"sell"``.
            type: ``"limit"`` or ``"market"`` (or the venue's own type name).
            amount: the size, positive.
            price: the limit price.
            **extra: passed to the client's ``submit_order``.

        Raises:
            OrderRejected: the exchange refused it (its text).
            OrderStateUnknown: the connection dropped before the answer.
        """
        side = _side(side)
        native = self._native(symbol)
        exchange = self.venue.exchange
        client = self.client
        kind = type.strip().lower()
        if exchange == "bitfinex":
            order_type = {"limit": "EXCHANGE LIMIT", "market": "EXCHANGE MARKET"}.get(kind, type)
            signed = f"-{amount}" if side == "sell" else amount
            future = client.submit_order(order_type, native, signed, price, **extra)
        elif exchange == "binance":
            if kind == "limit":
                extra.setdefault("time_in_force", "GTC")
            future = client.submit_order(native, side.upper(), type.upper(), amount, price,
                                         **extra)
        else:
            self._ensure_account()
            future = client.submit_order(native, side, price, amount, type=kind, **extra)
        return await asyncio.wrap_future(future)

    async def cancel_order(self, order: models.Order | int, symbol: str | None = None,
                           timeout: float = CANCEL_TIMEOUT) -> models.Order:
        """Cancel an order (an :class:`~exchange_wss.models.Order` or its id).

        Returns the cancelled order as the exchange reports it. Raises
        :class:`~exchange_wss.errors.OrderRejected` when refused and
        :class:`~exchange_wss.errors.OrderStateUnknown` when no answer came
        within ``timeout`` seconds.
        """
        order_id = order.id if isinstance(order, models.Order) else order
        if symbol is None and isinstance(order, models.Order):
            symbol = order.symbol
        exchange = self.venue.exchange
        if exchange == "binance":
            if symbol is None:
                raise LocalProtocolError("Binance cancels need the symbol")
            future = self.client.cancel_order(self._native(symbol), order_id=order_id)
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        # Bitfinex (no answer Future) and FTX (REST only queues it): the closed
        # order on the account channel is the answer.
        self._ensure_account()
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._cancel_waiters[order_id] = (loop, done)
        try:
            if exchange == "bitfinex":
                self.client.cancel_order(order_id)
            else:
                await asyncio.wrap_future(self.client.cancel_order(order_id))
            return await asyncio.wait_for(done, timeout)
        except TimeoutError:
            raise OrderStateUnknown(f"order {order_id}: no answer to the cancel within "
                                    f"{timeout}s; check it before acting again") from None
        finally:
            self._cancel_waiters.pop(order_id, None)

    # -- internals: feeds ---------------------------------------------------------------
    def _native(self, symbol: str) -> str:
        return to_native(self.venue, symbol)

    def unified(self, native: str) -> str:
        """The unified form of one of this venue's symbols."""
        return to_unified(self.venue, native)

    def _open(self, key: tuple[Any, ...], subscribe: Callable[[Callable[[Any], None]], Any],
              name: str, policy: str, maxsize: int | None,
              transform: Callable[[Stream[Any], Any], None]) -> Stream[Any]:
        """A stream on the feed of ``key``; the feed subscribes on first use, after the
        stream is attached (the first frames, a ticker's snapshot among them, must find
        it there: a feed delivers only to the streams it holds)."""
        if self.client._stopped:
            raise ClientStopped("the client was stopped")
        with self._lock:
            feed = self._feeds.get(key)
            new = feed is None
            if feed is None:
                feed = self._feeds[key] = _Feed(self, key)
        stream: Stream[Any] = Stream(self, feed, name, policy, maxsize or self.queue_size,
                                     transform)
        if not new:
            return stream
        try:
            feed.handle = subscribe(feed.deliver)
        except BaseException:
            with self._lock:  # refused before anything was sent (a bad symbol...)
                if self._feeds.get(key) is feed:
                    del self._feeds[key]
            feed.detach(stream)
            raise
        feed.label = str(feed.handle) if feed.handle is not None else None
        _watch(feed)
        return stream

    def _feed_empty(self, feed: _Feed) -> None:
        if feed is self._account:
            return  # the account channel stays; its events simply go nowhere
        with self._lock:
            if self._feeds.get(feed.key) is not feed or feed.streams:
                return
            del self._feeds[feed.key]
        if feed.handle is None:
            return
        if self.client._own_reactor and _reactor.in_reactor_thread():
            # The last reference to a stream was dropped on the reactor thread,
            # maybe in the middle of delivering a frame: unsubscribe just after.
            _reactor.get_reactor().callFromThread(self._unsubscribe, feed)
        else:
            # Now, so that a stream made right after for the same channel
            # subscribes afresh instead of joining the one being removed.
            self._unsubscribe(feed)

    def _unsubscribe(self, feed: _Feed) -> None:
        if self.client._stopped:
            return
        with self._lock:
            if feed.key in self._feeds:
                return  # asked for again meanwhile: the new feed shares the subscription
        with contextlib.suppress(LocalProtocolError, ClientStopped):  # already gone
            self.client.unsubscribe(feed.handle)

    # -- internals: account -----------------------------------------------------------------
    def _account_stream(self, what: str, maxsize: int | None) -> Stream[Any]:
        feed = self._ensure_account()
        kinds = models.Order if what == "orders" else (models.Wallet, models.BalanceUpdate)
        stream: Stream[Any] = Stream(self, feed, what, "backpressure", maxsize or self.queue_size,
                        _account_items(kinds), account=True)
        if what == "balances" and self.venue.exchange == "ftx":
            self._ftx_balances(stream)
        return stream

    def _ensure_account(self) -> _Feed:
        with self._lock:
            if self._account is not None:
                return self._account
            feed = self._account = _Feed(self, ("account",), self._account_event)
        client = self.client
        exchange = self.venue.exchange
        if exchange == "bitfinex":
            client.authenticate(feed.deliver)
        elif exchange == "binance":
            client.subscribe_to_user_data(feed.deliver)
        else:
            client.subscribe_to_orders(feed.deliver)
            client.subscribe_to_fills(feed.deliver)
        return feed

    def _account_event(self, event: Any) -> None:
        # Reactor thread, once per account event, before the streams see it.
        if isinstance(event, models.Order):
            self._settle_cancel(event)
        elif isinstance(event, models.Notification):
            self._cancel_refused(event)
        elif isinstance(event, models.Fill) and self.venue.exchange == "ftx":
            self._ftx_refresh_balances()

    def _settle_cancel(self, order: models.Order) -> None:
        entry = self._cancel_waiters.get(order.id)
        if entry is None or order.state not in (models.OrderStatus.CANCELED,
                                                models.OrderStatus.FILLED,
                                                models.OrderStatus.EXPIRED):
            return
        loop, done = entry
        loop.call_soon_threadsafe(_set_result, done, order)

    def _cancel_refused(self, note: models.Notification) -> None:
        if note.type != "oc-req" or note.ok or not isinstance(note.data, models.Order):
            return
        entry = self._cancel_waiters.get(note.data.id)
        if entry is not None:
            loop, done = entry
            loop.call_soon_threadsafe(_set_exception, done,
                                      OrderRejected(note.text, raw=note.raw, notification=note))

    def _ftx_balances(self, stream: Stream[Any]) -> None:
        future = self.client.get_balances()
        future.add_done_callback(lambda f: _offer_wallets(stream, f))

    def _ftx_refresh_balances(self) -> None:
        streams = [s for s in (self._account.streams if self._account else ())
                   if s.name == "balances"]
        if not streams:
            return
        future = self.client.get_balances()
        for stream in streams:
            future.add_done_callback(lambda f, s=stream: _offer_wallets(s, f))

    # -- internals: backpressure and errors ---------------------------------------------------
    def _on_reactor(self, fn: Callable[..., Any], *args: Any) -> None:
        if self.client._own_reactor:
            _reactor.call_soon(fn, *args)
        else:
            fn(*args)

    def _hold(self, stream: Stream[Any], hold: bool) -> None:
        """Pause (or resume) reading the account connections for ``stream`` (reactor thread)."""
        for conn in _account_connections(self.client):
            holders = self._holders.setdefault(conn, set())
            was_held = bool(holders)
            if hold:
                holders.add(stream)
            else:
                holders.discard(stream)
            transport = getattr(conn.protocol, "transport", None) if conn.protocol else None
            if transport is None:
                continue
            if holders and not was_held:
                log.info("%s: consumer behind; pausing reads on %s", stream.name, conn.name)
                transport.pauseProducing()
            elif was_held and not holders:
                transport.resumeProducing()

    def _overflowed(self, stream: Stream[Any]) -> None:
        # Conflating tickers and books is the "latest" policy at work; dropping
        # trades or candles loses data: louder.
        level = logging.INFO if stream.policy == "latest" else logging.WARNING
        log.log(level, "%s: consumer fell behind (%d dropped or conflated)", stream.name,
                stream.dropped)
        self.client._emit_error(StreamOverflow(stream.name, stream.dropped))

    def _client_error(self, error: BaseException) -> None:
        # Reactor thread: the client's on_error, routed to the streams it ends.
        with self._lock:
            feeds = list(self._feeds.values()) + ([self._account] if self._account else [])
        for feed in feeds:
            for stream in feed.streams:
                failure = _failure_of(feed, stream, error)
                if failure is not None:
                    stream.fail(failure)
        if self._user_on_error is not None:
            self._user_on_error(error)
        elif not isinstance(error, StreamOverflow):
            log.warning("%s: %s", type(error).__name__, error)


def _account_connections(client: Any) -> list[Any]:
    """The connections that carry ``client``'s account events (the coupling to the
    facades' internals, kept here alone)."""
    exchange = client.venue.exchange
    if exchange == "bitfinex":
        link = client._auth_link
    elif exchange == "binance":
        link = client._api_link if client.market == "spot" else client._user_link
    else:
        link = client._link
    return [link.conn] if link is not None else []


# ------------------------------------------------------------------------- transforms

def _only(kind: Any) -> Callable[[Stream[Any], Any], None]:
    def transform(stream: Stream[Any], event: Any) -> None:
        if event.__class__ is kind or isinstance(event, kind):
            stream.offer(event)
    return transform


def _account_items(kinds: Any) -> Callable[[Stream[Any], Any], None]:
    def transform(stream: Stream[Any], event: Any) -> None:
        if isinstance(event, models.Snapshot):  # e.g. Bitfinex os/ws after auth
            for item in event.items:
                if isinstance(item, kinds):
                    stream.offer(item)
        elif isinstance(event, kinds):
            stream.offer(event)
    return transform


def _new_trades(stream: Stream[Any], event: Any) -> None:
    if event.__class__ is models.Trade and event.kind != "tu":
        stream.offer(event)


class _CandleBuilder:
    """Candles from trades, for venues without a candle channel (FTX)."""

    def __init__(self, symbol: str, interval: str, seconds: int) -> None:
        self.symbol = symbol
        self.interval = interval
        self.ms = seconds * 1000
        self.current: models.Candle | None = None

    def transform(self, stream: Stream[Any], event: Any) -> None:
        if event.__class__ is not models.Trade or event.mts is None:
            return
        start = event.mts - event.mts % self.ms
        c = self.current
        # The candles made here always carry their start: c.mts is an int.
        if c is not None and start > c.mts:  # type: ignore[operator]
            stream.offer(models.Candle(c.symbol, c.timeframe, c.mts, c.open, c.close, c.high,
                                     c.low, c.volume, None, True))
            c = None
        if c is None or start < c.mts:  # type: ignore[operator]
            c = models.Candle(self.symbol, self.interval, start, event.price, event.price,
                              event.price, event.price, 0.0, None, False)
        c.close = event.price
        c.high = max(c.high, event.price)
        c.low = min(c.low, event.price)
        c.volume += abs(event.amount)
        self.current = c
        stream.offer(models.Candle(c.symbol, c.timeframe, c.mts, c.open, c.close, c.high, c.low,
                                 c.volume, None, False))


def _offer_wallets(stream: Stream[Any], future: Future[list[models.Wallet]]) -> None:
    try:
        wallets = future.result()
    except Exception as exc:
        stream._owner.client._emit_error(exc)
        return
    for wallet in wallets:
        stream.offer(wallet)


def _set_result(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _side(side: str) -> str:
    text = str(side).strip().lower()
    if text not in ("buy", "sell"):
        raise LocalProtocolError(f"side must be 'buy' or 'sell', not {side!r}")
    return text


# ----------------------------------------------------------------------------- entry points

def connect(venue: str | Venue, key: str | None = None, secret: str | None = None, *,
            queue_size: int = DEFAULT_QUEUE_SIZE, **options: Any) -> AsyncClient:
    """Make and start the client of ``venue`` and wrap it (see :func:`exchange_wss.connect`).

    Use it as ``async with aio.connect(...) as client:``, which stops it at the end.
    """
    from ._factory import connect as connect_client
    return AsyncClient(connect_client(venue, key, secret, **options), queue_size=queue_size)


class Hub:
    """Several venues behind one object, named per call as bt_api_py names them.

    ``hub.stream_ticker("BINANCE___SPOT", "BTCUSDT")`` connects to that venue
    on first use, with the options given for it.

    Args:
        exchange_kwargs: ``{venue name: options}``; ``api_key`` (or ``key``) and
            ``secret`` are the credentials, a nested ``websocket`` dict is
            merged into the options (bt_api_py's layout).
        **options: options for every venue.
    """

    def __init__(self, exchange_kwargs: dict[str, dict[str, Any]] | None = None,
                 **options: Any) -> None:
        self.exchange_kwargs = {k: dict(v) for k, v in (exchange_kwargs or {}).items()}
        self.options = options
        self.clients: dict[Venue, AsyncClient] = {}

    def client(self, venue: str) -> AsyncClient:
        """The :class:`AsyncClient` of ``venue`` (connected on first use)."""
        v = parse_venue(venue)
        found = self.clients.get(v)
        if found is not None:
            return found
        opts = dict(self.options)
        for name, kwargs in self.exchange_kwargs.items():
            if parse_venue(name) == v:
                kwargs = dict(kwargs)
                opts.update(kwargs.pop("websocket", {}) or {})
                key = kwargs.pop("api_key", kwargs.pop("key", None))
                secret = kwargs.pop("secret", None)
                opts.update(kwargs)
                break
        else:
            key = secret = None
        if v.market is not None:
            opts["market"] = v.market
        client = self.clients[v] = connect(v.exchange, key, secret, **opts)
        return client

    def stream_ticker(self, venue: str, symbol: str, **kw: Any) -> Stream[models.Ticker]:
        """:meth:`AsyncClient.stream_ticker` on ``venue``."""
        return self.client(venue).stream_ticker(symbol, **kw)

    def stream_depth(self, venue: str, symbol: str, **kw: Any) -> Stream[models.Depth]:
        """:meth:`AsyncClient.stream_depth` on ``venue``."""
        return self.client(venue).stream_depth(symbol, **kw)

    def stream_trades(self, venue: str, symbol: str, **kw: Any) -> Stream[models.Trade]:
        """:meth:`AsyncClient.stream_trades` on ``venue``."""
        return self.client(venue).stream_trades(symbol, **kw)

    def stream_klines(self, venue: str, symbol: str, interval: str = "1m",
                      **kw: Any) -> Stream[models.Candle]:
        """:meth:`AsyncClient.stream_klines` on ``venue``."""
        return self.client(venue).stream_klines(symbol, interval, **kw)

    def stream_orders(self, venue: str, **kw: Any) -> Stream[models.Order]:
        """:meth:`AsyncClient.stream_orders` on ``venue``."""
        return self.client(venue).stream_orders(**kw)

    def stream_balances(self, venue: str, **kw: Any
                        ) -> Stream[models.Wallet | models.BalanceUpdate]:
        """:meth:`AsyncClient.stream_balances` on ``venue``."""
        return self.client(venue).stream_balances(**kw)

    async def close(self) -> None:
        """Stop every venue's client."""
        for client in list(self.clients.values()):
            await client.close()
        self.clients.clear()

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

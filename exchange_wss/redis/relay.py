"""The relay: one process keeps the exchange connections and publishes every event.

A :class:`Relay` wraps an SDK client (``WssClient``, ``BinanceWssClient``,
``FtxWssClient``): each ``subscribe_to_*`` of the client, called on the relay,
publishes that subscription's events to the stream ``<prefix>:<venue>:<label>``
(the label the client returns, ``book:tBTCUSD:P0``); :meth:`Relay.subscribe_account`
publishes the account's events (orders, fills, balances) to ``<prefix>:<venue>:account``.

Every entry carries the stream's sequence number. Books are published as the
exchange's snapshots, the changes between them, and a full snapshot of the
book (the client's own, which it updates before each callback) at most every
``snapshot_interval`` seconds, so a consumer can start from the latest snapshot
and resync from the next one after a gap.

The exchange connections are never stalled by the sink: callbacks only append
to a bounded buffer (on the reactor thread) and a publisher thread writes
batches. While the sink is unreachable the relay keeps buffering up to
``buffer_size`` market events and ``account_buffer_size`` account events,
retries with capped, jittered backoff, and when a buffer is full drops its
oldest entry, counting each drop in :attr:`Relay.stats` (consumers see the gap
in the sequence numbers). A batch whose fate is unknown is sent again, so an
account event may arrive twice; consumers de-duplicate it by its exchange ids.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from .. import models
from ..errors import LocalProtocolError, SinkUnavailable
from ..orderbook import OrderBook
from . import books, codec
from .sink import Entry, Sink

__all__ = ["Relay", "RelayStats", "venue_of_client", "stream_name"]

log = logging.getLogger("exchange_wss.redis")

_VENUES = {"WssClient": "bitfinex", "BinanceWssClient": "binance", "FtxWssClient": "ftx"}
_TYPE_NAMES: dict[type, bytes] = {}
_new_entry = tuple.__new__


def venue_of_client(client: Any) -> str:
    """``bitfinex``, ``binance`` or ``ftx`` for an SDK client (by its class).

    Raises:
        LocalProtocolError: not one of the SDK's clients.
    """
    for cls in type(client).__mro__:
        if cls.__name__ in _VENUES:
            return _VENUES[cls.__name__]
    raise LocalProtocolError(f"not an exchange_wss client: {type(client).__name__}")


def stream_name(prefix: str, venue: str, label: str) -> str:
    """The stream a subscription is published to: ``<prefix>:<venue>:<label>``."""
    return f"{prefix}:{venue}:{label}"


@dataclass
class RelayStats:
    """What the relay did (counters only grow; read from any thread).

    Attributes:
        events: events received from the client.
        published: entries the sink accepted (retried batches count once per try).
        snapshots: book snapshots the relay made itself.
        dropped, dropped_account: entries dropped because a buffer was full.
        refused: entries the sink refused (not retried).
        batches: batches written; retries: batches sent again after an outage.
        outages: times the sink became unreachable.
        buffered: entries waiting now (market + account), kept by the relay.
    """

    events: int = 0
    published: int = 0
    snapshots: int = 0
    dropped: int = 0
    dropped_account: int = 0
    refused: int = 0
    batches: int = 0
    retries: int = 0
    outages: int = 0
    buffered: int = 0


class _LiveStats(RelayStats):
    """RelayStats whose ``buffered`` is read from the buffers when asked."""

    def __init__(self, relay: Relay) -> None:
        super().__init__()
        self._relay = relay

    @property
    def buffered(self) -> int:
        relay = self.__dict__.get("_relay")
        return len(relay._market) + len(relay._account) if relay is not None else 0

    @buffered.setter
    def buffered(self, _value: int) -> None:
        pass

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)}" for k in RelayStats.__dataclass_fields__)
        return f"RelayStats({fields})"


class _Stream:
    __slots__ = ("name", "label", "seq", "book", "shared", "snap_at", "account", "pending",
                 "lock")

    def __init__(self, name: str, label: str | None, account: bool = False) -> None:
        self.name = name.encode() if name else b""
        self.label = label
        self.seq = 0
        self.book: OrderBook | None = None
        self.shared = False  # the book is the client's own
        self.snap_at = 0.0
        self.account = account
        self.pending: list[Any] | None = None if label is not None else []
        self.lock = threading.Lock()


class Relay:
    """Publishes a client's subscriptions to a sink (see the module docstring).

    Args:
        client: a ``WssClient``, ``BinanceWssClient`` or ``FtxWssClient`` (not started).
        sink: where to publish (:class:`~exchange_wss.redis.RedisStreamsSink`).
        prefix: first part of every stream name.
        snapshot_interval: seconds between the relay's own book snapshots
            (per book, while it changes).
        buffer_size, account_buffer_size: entries held while the sink lags or
            is down; beyond, the oldest is dropped and counted.
        batch_size: entries per write.
        reconnect_delay, max_reconnect_delay: backoff after a failed write.
        on_error: called (on the publisher thread) with
            :class:`~exchange_wss.errors.SinkUnavailable` when an outage begins.

    Example::

        relay = Relay(WssClient(), RedisStreamsSink("redis://127.0.0.1:6379/0"))
        relay.subscribe_to_orderbook("tBTCUSD", "P0")
        relay.subscribe_to_trades("tBTCUSD")
        relay.start()
    """

    def __init__(self, client: Any, sink: Sink, *, prefix: str = "ews",
                 snapshot_interval: float = 1.0, buffer_size: int = 100_000,
                 account_buffer_size: int = 1_000_000, batch_size: int = 1000,
                 reconnect_delay: float = 0.05, max_reconnect_delay: float = 2.0,
                 on_error: Callable[[BaseException], Any] | None = None) -> None:
        if snapshot_interval <= 0 or buffer_size < 1 or account_buffer_size < 1 \
                or batch_size < 1:
            raise LocalProtocolError("snapshot_interval, buffer sizes and batch_size must be "
                                     "positive")
        self.client = client
        self.sink = sink
        self.venue = venue_of_client(client)
        self.prefix = prefix
        self.snapshot_interval = snapshot_interval
        self.buffer_size = buffer_size
        self.account_buffer_size = account_buffer_size
        self.batch_size = batch_size
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.on_error = on_error
        self.stats = _LiveStats(self)
        #: Identifies this relay run; sequence numbers start at 1 in each.
        self.epoch = os.urandom(6).hex().encode()
        self._streams: dict[str, _Stream] = {}
        self._market: collections.deque[Entry] = collections.deque()
        self._account: collections.deque[Entry] = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._waiting = False
        self._thread: threading.Thread | None = None

    # -- subscriptions ---------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("subscribe_to_"):
            method = getattr(self.client, name)

            def subscribe(*args: Any, **kwargs: Any) -> str:
                return self._subscribe(method, args, kwargs)
            subscribe.__doc__ = (f"``client.{name}(...)``, its events published to the "
                                 "subscription's stream; returns the client's label.")
            return subscribe
        raise AttributeError(name)

    def _subscribe(self, method: Callable[..., str], args: tuple, kwargs: dict) -> str:
        state = _Stream("", None)
        handle = method(*args, callback=lambda event: self._event(state, event), **kwargs)
        label = str(handle)  # a Subscription handle (or a label) names its stream
        book = getattr(handle, "book", None)
        if isinstance(book, OrderBook):
            # The client keeps this book and updates it before each callback: the
            # relay snapshots it instead of keeping a copy of its own.
            state.book = book
            state.shared = True
        self._bind(state, label)
        return label

    def _bind(self, state: _Stream, label: str) -> None:
        with state.lock:
            name = stream_name(self.prefix, self.venue, label)
            state.name, state.label = name.encode(), label
            self._streams[label] = state
            pending, state.pending = state.pending, None
        for event in pending or ():
            self._event(state, event)

    def subscribe_account(self) -> str:
        """Publish the account's events (orders, fills, balances...) to
        ``<prefix>:<venue>:account``.

        Bitfinex: :meth:`~exchange_wss.WssClient.authenticate`; Binance:
        ``subscribe_to_user_data``; FTX: ``subscribe_to_fills`` and ``subscribe_to_orders``.
        Returns the label, ``"account"``.
        """
        state = _Stream("", None, account=True)

        def deliver(event: Any) -> None:
            self._event(state, event)
        if self.venue == "bitfinex":
            self.client.authenticate(deliver)
        elif self.venue == "binance":
            self.client.subscribe_to_user_data(deliver)
        else:
            self.client.subscribe_to_fills(deliver)
            self.client.subscribe_to_orders(deliver)
        self._bind(state, "account")
        return "account"

    @property
    def streams(self) -> dict[str, str]:
        """Label -> stream name of everything relayed."""
        return {label: s.name.decode() for label, s in self._streams.items()}

    def order_book(self, label: str) -> models.BookSnapshot:
        """The relay's copy of a book (what consumers rebuild), by the subscription's label.

        Raises:
            LocalProtocolError: no book with that label (yet).
        """
        state = self._streams.get(label)
        if state is None or state.book is None:
            raise LocalProtocolError(f"no book {label!r} relayed (yet)")
        if state.shared and getattr(self.client, "_own_reactor", False):
            # The client's book changes on its reactor thread: copy it there.
            from .. import _reactor
            return _reactor.call_and_wait(books.snapshot_of, state.book)
        with state.lock:
            return books.snapshot_of(state.book)

    # -- events (the client's callback thread) -------------------------------------------
    def _event(self, state: _Stream, event: Any) -> None:
        # The client's callback thread, once per event: keep it short.
        ts = time.time_ns()
        cls = event.__class__
        data = codec.encode(event)
        with state.lock:
            if state.pending is not None:  # before subscribe_to_* returned: keep order
                state.pending.append(event)
                return
            kind = b"e"
            key = None
            snapshot = None
            if state.account:
                kind = b"a"
                key = codec.event_key(cls.__name__, data).encode()
            elif cls is models.BookSnapshot:
                if state.book is None:
                    # Not pending, so bound to its label.
                    state.book = books.book_for(cast(str, state.label), event)
                if not state.shared:
                    books.apply(state.book, event)
                state.snap_at = time.monotonic()
                kind = b"S"  # the exchange's own snapshot: consumers deliver it
            elif state.book is not None and cls in books.BOOK_CHANGES:
                if not state.shared:
                    books.apply(state.book, event)
                kind = b"c"
                now = time.monotonic()
                if now - state.snap_at >= self.snapshot_interval:
                    state.snap_at = now
                    snapshot = codec.encode(books.snapshot_of(state.book))
            state.seq += 1
            tname = _TYPE_NAMES.get(cls)
            if tname is None:
                tname = _TYPE_NAMES[cls] = cls.__name__.encode()
            # tuple.__new__: a NamedTuple without its Python-level constructor.
            entry = _new_entry(Entry, (state.name, state.seq, kind, tname, data, ts, key,
                                       self.epoch))
            if snapshot is not None:
                state.seq += 1
                snap = _new_entry(Entry, (state.name, state.seq, b"s", b"BookSnapshot",
                                          snapshot, ts, None, self.epoch))
        self.stats.events += 1
        if snapshot is None:
            self._put(entry, state.account)
        else:
            self.stats.snapshots += 1
            self._put(entry, False)
            self._put(snap, False)

    def _put(self, entry: Entry, account: bool) -> None:
        # deque appends are atomic: no lock here. The bound is checked first, so a
        # full buffer drops its oldest entry (counted) and never grows past its size.
        if account:
            buf, limit = self._account, self.account_buffer_size
        else:
            buf, limit = self._market, self.buffer_size
        if len(buf) >= limit:
            try:
                buf.popleft()
            except IndexError:  # the publisher just emptied it
                pass
            else:
                if account:
                    self.stats.dropped_account += 1
                else:
                    self.stats.dropped += 1
        buf.append(entry)
        if self._idle.is_set():
            self._idle.clear()
        if self._waiting:  # the publisher sleeps: wake it
            with self._cond:
                self._cond.notify()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Relay:
        """Start the publisher thread and the client."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._publish_loop,
                                            name="exchange_wss-relay", daemon=True)
            self._thread.start()
        self.client.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything buffered was published; False if ``timeout`` passed first."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the client, publish what is buffered (up to ``timeout``), stop the thread.

        What could not be published by then is counted as dropped.
        """
        self.client.stop()
        self.flush(timeout)
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
        self.stats.dropped += len(self._market)
        self.stats.dropped_account += len(self._account)
        self._market.clear()
        self._account.clear()
        self.sink.close()

    def __enter__(self) -> Relay:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- the publisher thread -----------------------------------------------------------------
    def _take(self) -> list[Entry]:
        market, account = self._market, self._account
        if not market and not account:
            with self._cond:
                # Announce the wait before looking again, so that an entry appended
                # after the look is followed by a notify (see _put).
                self._waiting = True
                try:
                    while not market and not account and not self._stop.is_set():
                        self._idle.set()
                        self._cond.wait(0.5)
                finally:
                    self._waiting = False
        batch: list[Entry] = []
        n = self.batch_size
        popleft = account.popleft
        while account and len(batch) < n:
            batch.append(popleft())
        popleft = market.popleft
        while market and len(batch) < n:
            batch.append(popleft())
        return batch

    def _publish_loop(self) -> None:
        attempt = 0
        batch: list[Entry] = []
        while True:
            if not batch:
                if self._stop.is_set() and not self._market and not self._account:
                    return
                batch = self._take()
                if not batch:
                    continue
            try:
                refused = self.sink.publish(batch)
            except SinkUnavailable as exc:
                attempt += 1
                if attempt == 1:
                    self.stats.outages += 1
                    log.warning("relay: %s; buffering and retrying", exc)
                    if self.on_error is not None:
                        try:
                            self.on_error(exc)
                        except Exception:
                            log.exception("relay on_error hook raised")
                self.stats.retries += 1
                base = min(self.reconnect_delay * 2 ** min(attempt - 1, 16),
                           self.max_reconnect_delay)
                if self._stop.wait(base / 2 + base / 2 * random.random()):
                    # Stopping while the sink is down: what is held is lost, counted.
                    self._count_lost(batch)
                    return
                continue
            if attempt:
                log.info("relay: sink back after %d attempts", attempt)
            attempt = 0
            self.stats.published += len(batch) - (refused or 0)
            self.stats.refused += refused or 0
            self.stats.batches += 1
            batch = []
            if not self._market and not self._account:
                self._idle.set()

    def _count_lost(self, batch: list[Entry]) -> None:
        for entry in batch:
            if entry.kind == b"a":
                self.stats.dropped_account += 1
            else:
                self.stats.dropped += 1

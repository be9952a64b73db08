"""The consumer: the exchange clients' callback API, fed from Redis Streams on any machine.

:class:`RedisClient` subscribes by the same calls and gets the same models as
the exchange client the relay runs (``subscribe_to_orderbook("tBTCUSD", "P0",
cb)`` reads ``ews:bitfinex:book:tBTCUSD:P0``):

- books start from the latest snapshot in the stream and apply the changes
  after it; a gap in the sequence numbers (entries trimmed, or dropped by the
  relay) is reported as :class:`~exchange_wss.errors.FanOutGap` and the book
  waits for the next snapshot;
- other streams deliver from now on, or, with ``name=``, from the last entry
  this consumer delivered before it stopped (its ids are kept in Redis);
- account events are read through a consumer group (``group``, default
  ``name``), acknowledged after the callback returned (at least once), and
  de-duplicated by their exchange ids across redeliveries and restarts.

Callbacks run on the consumer's reader threads (one for market streams, one for
the account); keep them short. Redis outages are retried with backoff from the
last ids read.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from .. import models
from ..errors import FanOutGap, LocalProtocolError
from ..orderbook import OrderBook
from . import books, codec
from .relay import stream_name

__all__ = ["RedisClient", "ConsumerStats"]

log = logging.getLogger("exchange_wss.redis")

Callback = Callable[[Any], Any]


@dataclass
class ConsumerStats:
    """What the consumer did (counters only grow).

    Attributes:
        entries: entries read (all streams).
        delivered: events given to callbacks.
        gaps: sequence gaps found (each reported to ``on_error``).
        resyncs: books rebuilt from a snapshot after a gap.
        duplicates: account events skipped as already delivered.
        reconnects: Redis connections re-made after an error.
        snapshot_checks: relay snapshots compared with this consumer's book.
        snapshot_mismatches: comparisons that differed (the book is replaced).
    """

    entries: int = 0
    delivered: int = 0
    gaps: int = 0
    resyncs: int = 0
    duplicates: int = 0
    reconnects: int = 0
    snapshot_checks: int = 0
    snapshot_mismatches: int = 0


class _Sub:
    __slots__ = ("label", "name", "callbacks", "last_id", "seq", "epoch", "book", "is_book",
                 "synced")

    def __init__(self, label: str, name: str, is_book: bool) -> None:
        self.label = label
        self.name = name
        self.callbacks: list[Callback] = []
        self.last_id = b"$"
        self.seq: int | None = None
        self.epoch: bytes | None = None
        self.book: OrderBook | None = None
        self.is_book = is_book
        self.synced = False


# -------------------------------------------------------------------- labels per venue

def _bitfinex_labels() -> dict[str, Callable[..., str]]:
    from ..bitfinex.protocol import ChannelSpec
    return {
        "ticker": lambda symbol: ChannelSpec.ticker(symbol).label,
        "trades": lambda symbol: ChannelSpec.trades(symbol).label,
        "orderbook": lambda symbol, precision="P0", length=25, frequency="F0":
            ChannelSpec.book(symbol, precision, frequency, length).label,
        "candles": lambda symbol, timeframe: ChannelSpec.candles(symbol, timeframe).label,
        "status": lambda key: ChannelSpec.status(key).label,
    }


def _binance_labels(market: str) -> dict[str, Callable[..., str]]:
    from ..binance.protocol import stream_name as bn
    return {
        "ticker": lambda symbol: bn("ticker", symbol, market=market),
        "trades": lambda symbol, aggregate=False:
            bn("aggTrade" if aggregate else "trade", symbol, market=market),
        "candles": lambda symbol, interval: bn("kline", symbol, market=market,
                                               interval=interval),
        "book_ticker": lambda symbol: bn("bookTicker", symbol, market=market),
        "orderbook": lambda symbol, limit=1000, speed=None:
            bn("depth", symbol, market=market, speed=speed),
    }


def _ftx_labels() -> dict[str, Callable[..., str]]:
    return {name: (lambda market, _n=name: f"{_n}:{market}")
            for name in ("ticker", "trades", "orderbook")}


class RedisClient:
    """Reads a relay's streams from Redis with the exchange clients' callback API.

    Args:
        url: ``redis://host:port/db``.
        venue: ``"bitfinex"``, ``"binance"`` or ``"ftx"`` (the relayed client's).
        prefix: the relay's stream prefix.
        market: Binance's market, for its stream names.
        name: this consumer's name: it resumes non-book streams from its last
            ids and names it in its account group. Default: host and pid.
        group: the account consumer group (default: ``name``; consumers that
            share a group share the work instead of each getting everything).
        on_error: called with :class:`~exchange_wss.errors.FanOutGap` and
            connection errors (never fatal).
        block_ms: how long one read waits for new entries.
        claim_idle: seconds after which another consumer's unacknowledged
            account entries are claimed (the consumer died).
        track_latency: keep relay-to-callback latencies (ns) in :attr:`latencies`.
    """

    def __init__(self, url: str, venue: str, *, prefix: str = "ews", market: str = "spot",
                 name: str | None = None, group: str | None = None,
                 on_error: Callback | None = None, block_ms: int = 100,
                 claim_idle: float = 30.0, count: int = 1000,
                 track_latency: bool = False) -> None:
        import redis

        if venue == "bitfinex":
            self._labels = _bitfinex_labels()
        elif venue == "binance":
            self._labels = _binance_labels(market)
        elif venue == "ftx":
            self._labels = _ftx_labels()
        else:
            raise LocalProtocolError(f"unknown venue {venue!r}")
        self.url = url
        self.venue = venue
        self.prefix = prefix
        self.named = name is not None
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.group = group or self.name
        self.on_error = on_error
        self.block_ms = block_ms
        self.claim_idle = claim_idle
        self.count = count
        self.stats = ConsumerStats()
        self.track_latency = track_latency
        #: Relay-to-callback latencies in ns (with ``track_latency``).
        self.latencies: list[int] = []
        #: The relay's wall clock (ns, as bytes) when it got the event being delivered:
        #: read it in a callback to measure the fan-out's latency.
        self.delivering_ts = b"0"
        self._redis_mod = redis
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._subs: dict[str, _Sub] = {}
        self._account: _Sub | None = None
        self._account_callbacks: list[Callback] = []
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._seen_limit = 1_000_000
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def _client(self) -> Any:
        timeout = max(5.0, self.block_ms / 1000 + 2)
        return self._redis_mod.Redis.from_url(self.url, socket_timeout=timeout,
                                              socket_connect_timeout=timeout)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, label: str, callback: Callback) -> str:
        """Deliver a stream's events by its label (``book:tBTCUSD:P0``, ``btcusdt@trade``)."""
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        with self._lock:
            sub = self._subs.get(label)
            if sub is None:
                if self._started:
                    raise LocalProtocolError("subscribe before start()")
                is_book = label.startswith(("book:", "orderbook:")) or ("@depth" in label \
                    and label.split("@depth", 1)[1][:1] in ("", "@"))
                sub = self._subs[label] = _Sub(label, stream_name(self.prefix, self.venue,
                                                                  label), is_book)
            sub.callbacks.append(callback)
        return label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("subscribe_to_") and name[13:] in self._labels:
            make = self._labels[name[13:]]

            def subscribe(*args: Any, callback: Callback | None = None, **kwargs: Any) -> str:
                if callback is None:
                    args, callback = _split_callback(name, args)
                return self.subscribe(make(*args, **kwargs), callback)
            return subscribe
        raise AttributeError(name)

    def subscribe_to_account(self, callback: Callback,
                             types: tuple[type[Any], ...] | None = None) -> None:
        """Account events (orders, fills, balances...), at least once, de-duplicated.

        Args:
            callback: gets the typed account events.
            types: only these model classes (e.g. ``(models.Fill,)``).
        """
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        if types is not None:
            inner = callback

            def callback(event: Any) -> None:
                if isinstance(event, types):
                    inner(event)
        self._account_callbacks.append(callback)
        if self._account is None:
            self._account = _Sub("account", stream_name(self.prefix, self.venue, "account"),
                                 False)

    # the exchange clients' names for the account stream
    def authenticate(self, callback: Callback) -> None:
        """Bitfinex's name: every account event."""
        self.subscribe_to_account(callback)

    def subscribe_to_user_data(self, callback: Callback) -> None:
        """Binance's name: every account event."""
        self.subscribe_to_account(callback)

    def subscribe_to_fills(self, callback: Callback) -> None:
        """Fills only."""
        self.subscribe_to_account(callback, (models.Fill,))

    def subscribe_to_orders(self, callback: Callback) -> None:
        """Order updates only."""
        self.subscribe_to_account(callback, (models.Order,))

    def subscribe_to_balances(self, callback: Callback) -> None:
        """Balance updates only."""
        self.subscribe_to_account(callback, (models.Wallet, models.BalanceUpdate))

    def order_book(self, label: str) -> models.BookSnapshot:
        """This consumer's copy of a book, by its label.

        Raises:
            LocalProtocolError: no such book subscribed, or none built yet.
        """
        sub = self._subs.get(label)
        if sub is None or sub.book is None:
            raise LocalProtocolError(f"no book {label!r} (yet)")
        with self._lock:
            return books.snapshot_of(sub.book)

    def synced(self, label: str) -> bool:
        """True while a book is built from a snapshot with no gap since."""
        sub = self._subs.get(label)
        return bool(sub is not None and sub.synced)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> RedisClient:
        """Start the reader threads."""
        if self._started:
            return self
        self._started = True
        if self._subs:
            self._spawn(self._market_loop, "market")
        if self._account is not None:
            self._spawn(self._account_loop, "account")
        return self

    def _spawn(self, target: Callable[[], None], what: str) -> None:
        thread = threading.Thread(target=target, name=f"exchange_wss-redis-{what}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop reading (each thread finishes its current read: at most ``block_ms``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def __enter__(self) -> RedisClient:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _report(self, error: BaseException) -> None:
        log.warning("%s", error)
        if self.on_error is not None:
            try:
                self.on_error(error)
            except Exception:
                log.exception("on_error hook raised")

    def _deliver(self, callbacks: list[Callback], event: Any, ts: bytes) -> None:
        self.delivering_ts = ts
        if self.track_latency:
            self.latencies.append(time.time_ns() - int(ts))
        for cb in callbacks:
            try:
                cb(event)
            except Exception:
                log.exception("exception in a RedisClient callback")
        self.stats.delivered += 1

    def _backoff(self, attempt: int) -> bool:
        base = min(0.05 * 2 ** min(attempt, 10), 2.0)
        return self._stop.wait(base / 2 + base / 2 * random.random())

    # -- market streams ----------------------------------------------------------------------------
    def _market_loop(self) -> None:
        attempt = 0
        r = None
        bootstrapped = False
        while not self._stop.is_set():
            try:
                if r is None:
                    r = self._client()
                    if not bootstrapped:
                        self._bootstrap(r)
                        bootstrapped = True
                subs = list(self._subs.values())
                streams = {s.name: s.last_id for s in subs}
                got = r.xread(streams, count=self.count, block=self.block_ms)
                attempt = 0
                for name, entries in got or ():
                    sub = self._subs_by_name(name)
                    for entry_id, fields in entries:
                        self._market_entry(sub, entry_id, fields)
                if got and self.named:
                    r.hset(f"{self.prefix}:consumer:{self.name}",
                           mapping={s.name: s.last_id for s in subs if s.last_id != b"$"})
            except self._errors as exc:
                attempt += 1
                if attempt == 1:
                    self._report(exc)
                self.stats.reconnects += 1
                r = None
                if self._backoff(attempt):
                    return

    def _subs_by_name(self, name: Any) -> _Sub:
        name = name.decode() if isinstance(name, bytes) else name
        for sub in self._subs.values():
            if sub.name == name:
                return sub
        raise LocalProtocolError(f"entry of unknown stream {name}")

    def _bootstrap(self, r: Any) -> None:
        """Books: from their latest snapshot; others: from the stored ids (or now)."""
        stored = r.hgetall(f"{self.prefix}:consumer:{self.name}") if self.named else {}
        for sub in self._subs.values():
            if sub.is_book:
                snap_id = self._latest_snapshot(r, sub.name)
                if snap_id is None:
                    sub.last_id = b"0"  # no snapshot yet: read all, wait for one
                    continue
                for entry_id, fields in r.xrange(sub.name, min=snap_id, max="+"):
                    self._market_entry(sub, entry_id, fields)
            else:
                last = stored.get(sub.name.encode())
                if last is None:  # from now on: the stream's last entry so far
                    top = r.xrevrange(sub.name, count=1)
                    last = top[0][0] if top else b"0-0"
                sub.last_id = last

    def _latest_snapshot(self, r: Any, name: str) -> bytes | None:
        top = "+"
        while True:
            entries = r.xrevrange(name, max=top, min="-", count=200)
            for entry_id, fields in entries:
                if fields.get(b"k") == b"s":
                    return entry_id
            if len(entries) < 200:
                return None
            top = f"({entries[-1][0].decode()}"

    def _market_entry(self, sub: _Sub, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        self.stats.entries += 1
        sub.last_id = entry_id
        seq = int(fields[b"s"])
        epoch = fields.get(b"e", b"")
        kind = fields.get(b"k")
        if sub.epoch == epoch and sub.seq is not None:
            if seq <= sub.seq:
                return  # written twice (the relay retried a batch): seen already
            if seq != sub.seq + 1:
                self.stats.gaps += 1
                self._report(FanOutGap(f"{sub.name}: expected seq {sub.seq + 1}, got {seq}"
                                       + ("; resyncing from the next snapshot" if sub.is_book
                                          else "")))
                sub.synced = False
        elif sub.epoch is not None and sub.is_book:
            sub.synced = False  # a new relay run: its first snapshot starts over
        sub.seq, sub.epoch = seq, epoch
        if not sub.is_book:
            self._deliver(sub.callbacks, codec.decode(fields[b"d"], fields[b"t"].decode()),
                          fields[b"ts"])
            return
        if kind == b"S" or kind == b"s":
            event = codec.decode(fields[b"d"], fields[b"t"].decode())
            if kind == b"s" and sub.synced:
                # The relay's periodic snapshot of the book we already have: check it.
                self.stats.snapshot_checks += 1
                book = cast(OrderBook, sub.book)  # synced: the first snapshot made it
                with self._lock:
                    same = (book.bids, book.asks) == (event.bids, event.asks)
                if same:
                    return
                self.stats.snapshot_mismatches += 1
                self._report(FanOutGap(f"{sub.name}: book differs from the relay's snapshot "
                                       f"at seq {seq}; taking the snapshot"))
            with self._lock:
                if sub.book is None:
                    sub.book = books.book_for(sub.label, event)
                books.apply(sub.book, event)
            if not sub.synced and sub.seq is not None and kind == b"s":
                self.stats.resyncs += 1
            sub.synced = True
            self._deliver(sub.callbacks, event, fields[b"ts"])
        elif kind == b"c" and sub.synced:
            event = codec.decode(fields[b"d"], fields[b"t"].decode())
            with self._lock:
                books.apply(cast(OrderBook, sub.book), event)  # synced: it has its book
            self._deliver(sub.callbacks, event, fields[b"ts"])

    # -- the account stream ------------------------------------------------------------------------
    def _account_loop(self) -> None:
        sub = cast(_Sub, self._account)  # started once the account is subscribed
        attempt = 0
        r = None
        backlog = True  # first our own unacknowledged entries, then new ones
        while not self._stop.is_set():
            try:
                if r is None:
                    r = self._client()
                    try:
                        r.xgroup_create(sub.name, self.group, id="0", mkstream=True)
                    except self._redis_mod.ResponseError as exc:
                        if "BUSYGROUP" not in str(exc):
                            raise
                    backlog = True
                if backlog:
                    got = r.xreadgroup(self.group, self.name, {sub.name: "0"}, count=self.count)
                    entries = got[0][1] if got else []
                    if not entries:
                        backlog = False
                        self._claim(r, sub)
                        continue
                else:
                    got = r.xreadgroup(self.group, self.name, {sub.name: ">"},
                                       count=self.count, block=self.block_ms)
                    entries = got[0][1] if got else []
                    if not entries:
                        self._claim(r, sub)
                attempt = 0
                if entries:
                    self._account_batch(r, sub, entries)
            except self._errors as exc:
                attempt += 1
                if attempt == 1:
                    self._report(exc)
                self.stats.reconnects += 1
                r = None
                if self._backoff(attempt):
                    return

    def _claim(self, r: Any, sub: _Sub) -> None:
        """Take over entries another consumer of the group left unacknowledged."""
        idle_ms = int(self.claim_idle * 1000)
        reply = r.xautoclaim(sub.name, self.group, self.name, min_idle_time=idle_ms,
                             start_id="0-0", count=self.count)
        claimed = reply[1] if len(reply) > 1 else []
        claimed = [(i, f) for i, f in claimed if f]
        if claimed:
            self._account_batch(r, sub, claimed)

    def _account_batch(self, r: Any, sub: _Sub, entries: list[tuple[bytes, dict]]) -> None:
        seen_key = f"{sub.name}:seen:{self.group}"
        keys = [fields.get(b"id") or entry_id for entry_id, fields in entries]
        unknown = [k for k in keys if k not in self._seen]
        remote = set()
        if unknown:
            scores = r.zmscore(seen_key, unknown)
            remote = {k for k, s in zip(unknown, scores, strict=False) if s is not None}
        done = []
        for (entry_id, fields), key in zip(entries, keys, strict=False):
            self.stats.entries += 1
            if not fields:  # deleted by trimming before we read it
                done.append(entry_id)
                continue
            if key in self._seen or key in remote:
                self.stats.duplicates += 1
            else:
                event = codec.decode(fields[b"d"], fields[b"t"].decode())
                self._deliver(self._account_callbacks, event, fields[b"ts"])
                self._remember(key)
            done.append(entry_id)
            # Delivered: remember it in Redis and acknowledge, in one round trip.
            pipe = r.pipeline(transaction=False)
            pipe.zadd(seen_key, {key: time.time()})
            pipe.xack(sub.name, self.group, entry_id)
            pipe.execute()

    def _remember(self, key: bytes) -> None:
        seen = self._seen
        seen[key] = None
        if len(seen) > self._seen_limit:
            seen.popitem(last=False)


def _split_callback(name: str, args: tuple) -> tuple[tuple, Callback]:
    """``subscribe_to_*(..., callback, ...)`` as the clients take it: the callback is the
    first callable argument."""
    for i, arg in enumerate(args):
        if callable(arg):
            return args[:i] + args[i + 1:], arg
    raise LocalProtocolError(f"{name} needs a callback")

"""Fan-out end to end: sandbox -> relay -> a real redis-server -> consumers.

Redis is the real binary (the ``redis_server`` fixture of the pytest plugin),
killed and restarted with SIGKILL; one consumer runs in a process of its own
and dies holding an unacknowledged account event.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from _support import eventually

from exchange_wss import WssClient, models
from exchange_wss.errors import FanOutGap, SinkUnavailable
from exchange_wss.redis import RedisClient, RedisStreamsSink, Relay, codec
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox

HERE = os.path.dirname(os.path.abspath(__file__))
BOOK = "book:tBTCUSD:P0"


class Keys:
    """Account events as their de-duplication keys, in delivery order (thread-safe)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        key = codec.event_key(type(event).__name__, codec.encode(event))
        with self._lock:
            self.items.append(key)

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.items)


@pytest.fixture
def sandbox():
    sb = BitfinexSandbox(seed=11, tick_interval=0.02).start()
    yield sb
    sb.stop()


def make_relay(sandbox, url, **options):
    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=sandbox.url, stale_timeout=None,
                       reconnect_delay=0.05)
    errors: list[Any] = []
    relay = Relay(client, RedisStreamsSink(url), snapshot_interval=0.2,
                  on_error=errors.append, **options)
    relay.errors = errors
    relay.subscribe_to_orderbook("tBTCUSD", "P0")
    relay.subscribe_to_ticker("tBTCUSD")
    relay.subscribe_account()
    return relay


def published_account_keys(url: str) -> list[str]:
    """Every account entry's key in the stream (duplicates from retried batches included)."""
    import redis
    r = redis.Redis.from_url(url)
    return [f[b"id"].decode() for _i, f in r.xrange("ews:bitfinex:account")]


def place_orders(relay, n):
    for i in range(n):
        relay.client.submit_order("EXCHANGE LIMIT", "tBTCUSD", 0.01, price=1000 + i).result(10)


def start_proc(url, name, out, *args):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "redis_consumer_proc.py"),
                             url, name, str(out), *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "READY"
    return proc


def test_every_model_survives_the_codec():
    """Models, nested models and book levels come back equal (raw aside)."""
    order = models.Order(1, None, 7, "tBTCUSD", 1, 2, 0.5, 1.0, "EXCHANGE LIMIT", "ACTIVE",
                         100.0, 0.0, 0, kind="on")
    events = [
        models.Ticker("tBTCUSD", 1.0, 2.0, 3.0, 4.0, 0.1, 0.01, 5.0, 6.0, 7.0, 8.0),
        models.BookSnapshot("tBTCUSD", [(1.0, 2, 3.0)], [(2.0, 1, -1.0)]),
        models.BookDiff("BTCUSDT", [(1.0, 2.0)], [], 5, 6, 4, 99),
        models.CandlesSnapshot("tBTCUSD", "1m", [models.Candle("tBTCUSD", "1m", 1, 1, 2, 3, 4, 5,
                                                                closed=True)]),
        models.Notification(1.0, "on-req", "SUCCESS", "ok", order),
        models.Snapshot("os", [order, models.Wallet("exchange", "USD", 10.0)]),
        models.Fill(1, "tBTCUSD", 2, 3, 0.5, 100.0, fee=-0.1, maker=True),
    ]
    for event in events:
        assert codec.decode(codec.encode(event), type(event).__name__) == event


def test_relay_to_two_consumers_survives_redis_and_consumer_deaths(sandbox, redis_server,
                                                                  tmp_path):
    """Through a Redis SIGKILL and restart and a consumer that dies mid-event, both
    consumers end with the relay's book, every account event reaches each at least
    once and, after de-duplication, once; nothing is dropped."""
    relay = make_relay(sandbox, redis_server.url, buffer_size=1_000_000)
    gaps: list[Any] = []
    keys1 = Keys()
    c1 = RedisClient(redis_server.url, "bitfinex", name="c1", on_error=gaps.append)
    c1.subscribe_to_orderbook("tBTCUSD", "P0", lambda _e: None)
    c1.authenticate(keys1)
    c1.start()
    out2 = tmp_path / "c2.keys"
    c2 = start_proc(redis_server.url, "c2", out2, "--die-at", "4")
    relay.start()
    try:
        place_orders(relay, 3)                      # c2 dies at its 4th account event
        assert c2.wait(20) == 3
        redis_server.kill()                         # Redis crashes mid-stream
        place_orders(relay, 2)                      # events wait in the relay's buffer
        eventually(lambda: relay.stats.outages >= 1 and relay.stats.buffered > 0)
        redis_server.start()                        # same port, same append-only file
        c2 = start_proc(redis_server.url, "c2", out2)  # the dead consumer comes back
        place_orders(relay, 2)
        assert relay.flush(20)
        published = set(published_account_keys(redis_server.url))
        eventually(lambda: set(keys1.snapshot()) >= published, timeout=20)
        eventually(lambda: set(out2.read_text().split()) >= published, timeout=20)
    finally:
        relay.stop()
        c2.kill()
        c2.wait()
    book = relay.order_book(BOOK)
    eventually(lambda: c1.order_book(BOOK) == book)  # it has read the last entries
    c1.stop()
    assert c1.stats.snapshot_checks > 0 and c1.stats.snapshot_mismatches == 0
    assert relay.stats.dropped == relay.stats.dropped_account == 0
    assert isinstance(relay.errors[0], SinkUnavailable)
    got1, got2 = keys1.snapshot(), out2.read_text().split()
    assert len(got1) == len(set(got1)) and len(got2) == len(set(got2))
    assert set(got1) == set(got2) == set(published_account_keys(redis_server.url))
    late = RedisClient(redis_server.url, "bitfinex")     # a consumer starting now
    late.subscribe_to_orderbook("tBTCUSD", "P0", lambda _e: None)
    late.start()
    try:
        eventually(lambda: late.synced(BOOK))
        assert late.order_book(BOOK) == book
    finally:
        late.stop()


def test_consumer_events_match_the_relayed_stream_in_order(sandbox, redis_server):
    """Two consumers get the same ticker events, in the stream's order."""
    relay = make_relay(sandbox, redis_server.url)
    got = [[], []]
    consumers = []
    for i in range(2):
        c = RedisClient(redis_server.url, "bitfinex")
        c.subscribe_to_ticker("tBTCUSD", got[i].append)
        consumers.append(c.start())
    relay.start()
    try:
        eventually(lambda: len(got[0]) >= 20 and len(got[1]) >= 20)
    finally:
        relay.stop()
        time.sleep(0.3)
        for c in consumers:
            c.stop()
    import redis
    stream = [codec.decode(f[b"d"], f[b"t"].decode()) for _i, f in
              redis.Redis.from_url(redis_server.url).xrange("ews:bitfinex:ticker:tBTCUSD")]
    assert got[0] == got[1] == stream
    assert all(isinstance(e, models.Ticker) for e in stream)


def test_overflow_while_redis_is_down_is_counted_and_books_resync(sandbox, redis_server):
    """A full buffer drops its oldest entries, counted; the consumer reports the gap and
    its book equals the relay's again after the next snapshot."""
    relay = make_relay(sandbox, redis_server.url, buffer_size=2000)
    gaps: list[Any] = []
    c = RedisClient(redis_server.url, "bitfinex", on_error=gaps.append)
    c.subscribe_to_orderbook("tBTCUSD", "P0", lambda _e: None)
    c.start()
    relay.start()
    try:
        eventually(lambda: c.synced(BOOK))
        redis_server.kill()
        eventually(lambda: relay.stats.dropped > 0)
        redis_server.start()
        eventually(lambda: any(isinstance(g, FanOutGap) for g in gaps))
        eventually(lambda: c.stats.resyncs >= 1 and c.synced(BOOK))
    finally:
        relay.stop()
    try:
        eventually(lambda: c.order_book(BOOK) == relay.order_book(BOOK))
    except AssertionError:
        raise AssertionError(f"{c.synced(BOOK)} {gaps} {c.stats} {relay.stats} "
                             f"{c.order_book(BOOK)} {relay.order_book(BOOK)}") from None
    c.stop()
    assert relay.stats.dropped > 0 and relay.stats.buffered == 0

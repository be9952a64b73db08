"""Round trips: record a sandbox session, replay it through the replay server and offline.

For each venue a client subscribes to a book, a ticker and trades (and its account),
runs against the sandbox with ``record=``, and is stopped. The recording is then
replayed (a) to a fresh client of the same kind through :class:`ReplayServer` over
a real loopback WebSocket and (b) through :class:`OfflineReplay`; both must deliver
the same events in the same order, per subscription, and end with the same books.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from _support import eventually

from exchange_wss import BinanceWssClient, FtxWssClient, WssClient, models
from exchange_wss.recording import OfflineReplay, ReplayServer, open_recording
from exchange_wss.sandbox import (
    DEFAULT_BINANCE_KEY,
    DEFAULT_BINANCE_SECRET,
    DEFAULT_FTX_KEY,
    DEFAULT_FTX_SECRET,
    DEFAULT_KEY,
    DEFAULT_SECRET,
    BinanceSandbox,
    BitfinexSandbox,
    FtxSandbox,
)


class Tape:
    """Every event of every subscription, as (label, event), in delivery order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self.errors: list[Any] = []
        self.events: list[Any] = []
        self._lock = threading.Lock()

    def cb(self, label: str) -> Callable[[Any], None]:
        def deliver(event: Any) -> None:
            with self._lock:
                self.items.append((label, event))
        return deliver

    def snapshot(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self.items)

    def by_label(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for label, event in self.snapshot():
            out.setdefault(label, []).append(event)
        return out

    def count(self, label: str, cls: type) -> int:
        return sum(1 for lb, e in self.snapshot() if lb == label and isinstance(e, cls))


QUIET = dict(reconnect_delay=0.05, max_reconnect_delay=0.3, stale_timeout=None,
             ping_interval=None)


# -------------------------------------------------------------------------- the venues

def bitfinex_client(url: str, tape: Tape, **kw: Any) -> WssClient:
    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=url, on_error=tape.errors.append,
                       **QUIET, **kw)
    client.subscribe_to_ticker("tBTCUSD", tape.cb("ticker:tBTCUSD"))
    client.subscribe_to_orderbook("tBTCUSD", "P0", tape.cb("book:tBTCUSD:P0"))
    client.subscribe_to_trades("tBTCUSD", tape.cb("trades:tBTCUSD"))
    client.authenticate(tape.cb("auth"))
    return client


def ftx_client(url: str, tape: Tape, **kw: Any) -> FtxWssClient:
    client = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, url=url,
                          on_error=tape.errors.append, on_event=tape.events.append,
                          **QUIET, **kw)
    client.subscribe_to_orderbook("BTC-PERP", tape.cb("orderbook:BTC-PERP"))
    client.subscribe_to_ticker("BTC-PERP", tape.cb("ticker:BTC-PERP"))
    client.subscribe_to_trades("BTC-PERP", tape.cb("trades:BTC-PERP"))
    client.subscribe_to_fills(tape.cb("fills"))
    return client


def binance_client(urls: tuple[str, str, str], tape: Tape, **kw: Any) -> BinanceWssClient:
    rest, stream, api = urls
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, rest_url=rest,
                              stream_url=stream, api_url=api, on_error=tape.errors.append,
                              **QUIET, **kw)
    client.subscribe_to_orderbook("BTCUSDT", tape.cb("btcusdt@depth@100ms"), speed="100ms")
    client.subscribe_to_book_ticker("BTCUSDT", tape.cb("btcusdt@bookTicker"))
    client.subscribe_to_trades("BTCUSDT", tape.cb("btcusdt@trade"))
    client.subscribe_to_user_data(tape.cb("user"))
    return client


def record_bitfinex(tmp_path) -> tuple[str, Tape, models.BookSnapshot]:
    sandbox = BitfinexSandbox(seed=5, tick_interval=0.02).start()
    tape = Tape()
    client = bitfinex_client(sandbox.url, tape, record=str(tmp_path / "rec"))
    try:
        client.start()
        eventually(lambda: tape.count("auth", models.Snapshot) > 0)
        client.submit_order("EXCHANGE LIMIT", "tBTCUSD", 0.01, price=1000).result(10)
        eventually(lambda: tape.count("book:tBTCUSD:P0", models.BookUpdate) >= 300)
    finally:
        client.stop()
        sandbox.stop()
    book = client.order_book("tBTCUSD")  # the book as the client stopped with it
    return str(tmp_path / "rec"), tape, book


def record_ftx(tmp_path) -> tuple[str, Tape, models.BookSnapshot]:
    sandbox = FtxSandbox(seed=5, tick_interval=0.02).start()
    tape = Tape()
    client = ftx_client(sandbox.url, tape, record=str(tmp_path / "rec"))
    try:
        client.start()
        eventually(lambda: tape.count("orderbook:BTC-PERP", models.BookSnapshot) > 0)
        eventually(lambda: any(getattr(e, "label", None) == "fills" and e.state == "active"
                               for e in tape.events))
        ask = sandbox.book("BTC-PERP")["asks"][0][0]
        sandbox.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", ask, 0.01)
        eventually(lambda: tape.count("fills", models.Fill) > 0)
        eventually(lambda: tape.count("orderbook:BTC-PERP", models.BookDiff) >= 60)
    finally:
        client.stop()
        sandbox.stop()
    book = client.order_book("BTC-PERP")  # the book as the client stopped with it
    return str(tmp_path / "rec"), tape, book


def record_binance(tmp_path) -> tuple[str, Tape, models.BookSnapshot]:
    sandbox = BinanceSandbox(market="spot", seed=5, tick_interval=0.02).start()
    tape = Tape()
    client = binance_client((sandbox.rest_url, sandbox.stream_url, sandbox.api_url), tape,
                            record=str(tmp_path / "rec"))
    try:
        client.start()
        eventually(lambda: tape.count("btcusdt@depth@100ms", models.BookSnapshot) > 0)
        client.submit_order("BTCUSDT", "BUY", "LIMIT", 0.01, price=1000,
                            time_in_force="GTC").result(10)
        eventually(lambda: tape.count("user", models.Order) > 0)
        eventually(lambda: tape.count("btcusdt@depth@100ms", models.BookDiff) >= 20)
    finally:
        client.stop()
        sandbox.stop()
    book = client.order_book("BTCUSDT")  # the book as the client stopped with it
    return str(tmp_path / "rec"), tape, book


RECORD = {"bitfinex": record_bitfinex, "ftx": record_ftx, "binance": record_binance}
BOOK_LABEL = {"bitfinex": "book:tBTCUSD:P0", "ftx": "orderbook:BTC-PERP",
              "binance": "btcusdt@depth@100ms"}


@pytest.fixture(scope="module", params=sorted(RECORD))
def recorded(request, tmp_path_factory):
    venue = request.param
    path, tape, book = RECORD[venue](tmp_path_factory.mktemp(venue))
    assert not tape.errors, tape.errors
    return venue, path, tape, book


def replay_through_server(venue: str, path: str, expected: Tape) -> tuple[Tape, Any]:
    server = ReplayServer(open_recording(path)).start()
    tape = Tape()
    if venue == "bitfinex":
        client = bitfinex_client(server.url + "/ws/2", tape)
        symbol = ("tBTCUSD",)
    elif venue == "ftx":
        client = ftx_client(server.url + "/ws/", tape)
        symbol = ("BTC-PERP",)
    else:
        client = binance_client((server.rest_url, server.url, server.url + "/ws-api/v3"), tape)
        symbol = ("BTCUSDT",)
    try:
        client.start()
        want = {label: len(events) for label, events in expected.by_label().items()}
        try:
            eventually(lambda: all(len(tape.by_label().get(lb, ())) >= n
                                   for lb, n in want.items()), timeout=30)
        except AssertionError:
            got = {lb: len(ev) for lb, ev in tape.by_label().items()}
            raise AssertionError(f"replayed {got}, live {want}, {server.stats}, "
                                 f"errors {tape.errors[:3]}") from None
        time.sleep(0.3)  # nothing more may come
    finally:
        client.stop()
        server.stop()
    return tape, client.order_book(*symbol)


# ----------------------------------------------------------------------------- tests

def test_recording_holds_every_connection(recorded):
    """The recording opens, sends, receives and closes on each connection the client used."""
    venue, path, _tape, _book = recorded
    rec = open_recording(path)
    assert rec.venue == venue
    kinds: dict[int, set] = {}
    for record in rec.records():
        kinds.setdefault(record.conn, set()).add(record.kind)
    assert kinds and all({"open", "sent", "recv", "close"} <= k for c, k in kinds.items() if c)


def test_offline_replay_gives_the_same_events_in_order(recorded):
    """Offline replay delivers exactly the live events, in the live order, across streams."""
    _venue, path, live, _book = recorded
    got: list[tuple[str, Any]] = []
    replay = OfflineReplay(path)
    replay.on(lambda label, event: got.append((label, event)))
    stats = replay.run()
    assert got == live.snapshot()
    assert stats.checksum_failures == stats.sequence_gaps == stats.malformed == 0


def test_offline_replay_ends_with_the_live_book(recorded):
    """The book after offline replay equals the client's book when it stopped."""
    venue, path, _live, book = recorded
    replay = OfflineReplay(path)
    replay.run()
    replayed = replay.order_book(BOOK_LABEL[venue])
    assert (replayed.bids, replayed.asks) == (book.bids, book.asks)


def test_replay_server_gives_a_client_the_same_events_and_book(recorded):
    """A fresh client of the same kind, connected to the replay server, gets every
    subscription's events in the live order and ends with the live book."""
    venue, path, live, book = recorded
    tape, replayed_book = replay_through_server(venue, path, live)
    assert tape.by_label() == live.by_label()
    assert (replayed_book.bids, replayed_book.asks) == (book.bids, book.asks)
    assert not tape.errors, tape.errors

"""One throughput measurement of one client, in a process of its own.

Usage (``bench_throughput.py`` runs it once per client and round)::

    python benchmarks/throughput_clients.py <client> <url> <frames> [--timeout S]

``url`` is the blaster's ``ws://127.0.0.1:<port>/ws/2``; the client's workload is
added as ``?stream=<workload>`` unless the URL already has a query. The SDK's
Binance client gets the workload as its stream base's path instead
(``ws://127.0.0.1:<port>/<workload>``, to which it appends ``/stream``) and the
blaster's ``http://127.0.0.1:<port>`` as its REST base. The process
prints one JSON line, ``{"client": ..., "ok": true, "rate": <msg/s>, ...}``, and
exits (0 on success, 1 on failure: timeout, exception, on_error, miscount).

Every adapter hands the same :class:`Counter` to the client's natural callback:
the counter notes the time of the first delivery and of the N-th (after
``skip`` initial deliveries, e.g. a book snapshot) and the rate is
``(N - 1) / (t_last - t_first)``; ``cpu_us_per_msg`` is the process's CPU time (every
thread's) over the same span per message. A reporter thread waits for the N-th delivery
(or the timeout), lets the client run ``SETTLE`` seconds more, checks that no
extra deliveries or errors came, prints the result and ends the process with
``os._exit``: no client has to know how to stop.

Clients (``CLIENTS``; ``workload`` is the blaster stream each one reads):

========================  ========  ===================================================
client                    workload  what is counted
========================  ========  ===================================================
``bare``                  ticker    autobahn ``WebSocketClientProtocol`` + ``orjson.loads``
``websockets``            ticker    ``websockets.sync.client`` ``recv`` loop + ``orjson.loads``
``seed``                  ticker    ``bitfinex-v2`` ``WssClient`` ticker callback
``seed-book``             book      its book callback (raw frames; it keeps no book)
``bfxapi-ticker``         ticker    ``bitfinex-api-py`` ``t_ticker_update`` events
``bfxapi-book``           book      ``t_book_update`` events (per entry; it keeps no book)
``cryptofeed-ticker``     ticker    cryptofeed ``TICKER`` callback (Bitfinex feed)
``cryptofeed-book``       book      ``L2_BOOK`` callback: the maintained book, per update
``cryptofeed-book-cs``    book_cs   same, ``checksum_validation=True`` (no effect: see below)
``sdk-raw``               ticker    ``WssClient(raw=True)`` ticker: decoded frames
``sdk-raw-slow``          ticker    the same with ``fast_path=False``
``sdk-raw-deflate``       ticker    ``sdk-raw`` with ``compression=True`` (frames deflated)
``sdk-ticker-deflate``    ticker    ``sdk-ticker`` with ``compression=True``
``sdk-ticker``            ticker    typed ``Ticker`` models
``sdk-book``              book      maintained P0 book (``checksum=False``), per update
``sdk-book-cs``           book_cs   ``checksum=True``: every ``cs`` frame verified;
                                    any ``on_error`` (or mismatch) fails the run
``sdk-book-seq``          book      ``seq_all=True``: the SEQ_ALL bytes cryptofeed reads
``sdk-raw-record``        ticker    ``sdk-raw`` with ``record=`` a temporary directory:
                                    every frame recorded (the cost of recording)
``sdk-book-record``       book      ``sdk-book`` recording (on request; ``EWS_RECORD_DIR``
                                    keeps the recording, for ``bench_replay.py``)
========================  ========  ===================================================

The SDK's other exchanges (same connection layer; ratios against Bitfinex ``bare``):

========================  ==================  =========================================
client                    workload            what is counted
========================  ==================  =========================================
``sdk-binance-raw``       binance_bookticker  ``BinanceWssClient(raw=True)`` bookTicker:
                                              the ``data`` dicts
``sdk-binance-raw-slow``  binance_bookticker  the same with ``fast_path=False``
``sdk-binance-typed``     binance_bookticker  typed ``BookTicker`` models
``sdk-binance-trade``     binance_trade       typed ``Trade`` models (on request)
``sdk-binance-book``      binance_depth       book synced from the diff stream and the
                                              REST snapshot: ``BookDiff`` per diff
``sdk-ftx-raw``           ftx_ticker          ``FtxWssClient(raw=True)`` ticker: frames
``sdk-ftx-ticker``        ftx_ticker          typed ``Ticker`` models
``sdk-ftx-book``          ftx_orderbook       maintained book, every update's checksum
                                              verified; any mismatch fails the run
========================  ==================  =========================================

``sdk-binance-book`` waits for its book to be in sync (``order_book()`` has
levels), then subscribes to ``btcusdt@trade``: the blaster's cue to send the
diffs, so that none is folded into the snapshot and exactly N are delivered.

cryptofeed is patched so that nothing leaves the machine: its symbol list
(``Bitfinex.http_sync.read`` of three ``/v2/conf/pub:list:*`` endpoints) returns
canned data for tBTCUSD, its endpoint is the blaster's, and ``WSAsyncConn``
accepts a ``ws://`` address (it insists on ``wss://``). Its log goes to
``os.devnull`` at ERROR. Its Bitfinex feed always asks for ``SEQ_ALL`` (and
drops the connection on a frame without a sequence number), so the blaster
sends it the sequenced form of the same stream. It has no checksum support for
Bitfinex: it never asks for ``OB_CHECKSUM``, ``checksum_validation`` is not read
by its Bitfinex feed, and ``cs`` frames reach its book handler, which logs
"Unexpected book L2 msg" (a WARNING, filtered here) and drops them.

In every process a tripwire refuses name look-ups of anything but loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

#: Seconds the client keeps running after the N-th delivery, to catch late
#: errors (the ``cs`` frame after the last update) and extra deliveries.
SETTLE = 0.3
SUBSCRIBE_TICKER = '{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}'


class Counter:
    """Counts deliveries; records the time of the first and of the N-th.

    Args:
        target: N, the deliveries to time.
        skip: deliveries to ignore first (a book snapshot delivered through the
            same callback as its updates).
    """

    def __init__(self, target: int, skip: int = 0) -> None:
        if target < 2:
            raise ValueError("need at least 2 deliveries to time")
        self.target = target
        self.count = -skip
        self.first = self.last = 0.0
        self.cpu_first = self.cpu_last = 0.0
        self.done = threading.Event()

    def __call__(self, *_args: Any) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
            self.cpu_first = time.process_time()
        elif self.count == self.target:
            self.last = time.perf_counter()
            self.cpu_last = time.process_time()
            self.done.set()

    async def async_call(self, *_args: Any) -> None:
        """The same, for libraries that await their callbacks."""
        self(*_args)

    def rate(self) -> float:
        return (self.target - 1) / (self.last - self.first)

    def cpu_us(self) -> float:
        """Process CPU time (all threads) per message over the timed span, in µs."""
        return (self.cpu_last - self.cpu_first) / (self.target - 1) * 1e6


@dataclass
class Run:
    """What an adapter gets: where to connect, what to call, and hooks to fill in."""

    url: str
    counter: Counter
    #: Called after the settle time; returns extra result fields and an error or None.
    check: Callable[[], tuple[dict[str, Any], str | None]] | None = None
    #: Called before the process ends (e.g. to close a recorder).
    cleanup: Callable[[], None] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Adapter:
    name: str
    workload: str
    run: Callable[[Run], None]  # starts the client; may block (runs its loop) or return
    library: str                # distribution whose version is reported
    skip: int = 0


CLIENTS: dict[str, Adapter] = {}


def adapter(name: str, workload: str, library: str, skip: int = 0):
    """Register ``fn(run)`` as the client ``name``."""
    def register(fn: Callable[[Run], None]) -> Callable[[Run], None]:
        CLIENTS[name] = Adapter(name, workload, fn, library, skip)
        return fn
    return register


def is_list(msg: Any) -> bool:
    return msg.__class__ is list


# ------------------------------------------------------------------ baselines

@adapter("bare", "ticker", "autobahn")
def run_bare(run: Run) -> None:
    """Plain autobahn protocol: ``orjson.loads`` each message, count the lists."""
    from autobahn.twisted.websocket import (
        WebSocketClientFactory,
        WebSocketClientProtocol,
        connectWS,
    )
    from twisted.internet import reactor

    loads = orjson.loads
    counter = run.counter

    class Bare(WebSocketClientProtocol):
        def onOpen(self):
            self.sendMessage(SUBSCRIBE_TICKER.encode())

        def onMessage(self, payload, isBinary):
            msg = loads(payload)
            if msg.__class__ is list:
                counter(msg)

    factory = WebSocketClientFactory(run.url)
    factory.protocol = Bare
    factory.setProtocolOptions(autoPingInterval=0)
    connectWS(factory)
    reactor.run(installSignalHandlers=False)


@adapter("websockets", "ticker", "websockets")
def run_websockets(run: Run) -> None:
    """``websockets.sync.client.connect``: a ``recv`` loop and ``orjson.loads``."""
    from websockets.sync.client import connect

    loads = orjson.loads
    counter = run.counter
    with connect(run.url) as ws:
        ws.send(SUBSCRIBE_TICKER)
        while True:
            msg = loads(ws.recv())
            if msg.__class__ is list:
                counter(msg)


# ------------------------------------------------------------------ seed: bitfinex-v2

def _seed(run: Run, book: bool) -> None:
    from bitfinex import WssClient

    counter = run.counter

    def on_message(msg):  # gets every decoded message, events included
        if msg.__class__ is list:
            counter(msg)

    client = WssClient()
    client.STREAM_URL = run.url  # a class attribute; the connection reads it per socket
    if book:
        client.subscribe_to_orderbook("BTCUSD", "P0", on_message)
    else:
        client.subscribe_to_ticker("BTCUSD", on_message)
    client.start()  # a thread running the Twisted reactor


@adapter("seed", "ticker", "bitfinex-v2")
def run_seed(run: Run) -> None:
    _seed(run, book=False)


@adapter("seed-book", "book", "bitfinex-v2", skip=1)
def run_seed_book(run: Run) -> None:
    _seed(run, book=True)


# ------------------------------------------------------------------ bitfinex-api-py

def _bfxapi(run: Run, event: str, channel: str, **params: Any) -> None:
    from bfxapi import Client

    counter = run.counter
    bfx = Client(wss_host=run.url)
    bfx.wss.on(event, lambda _subscription, _data: counter())

    @bfx.wss.on("open")
    async def subscribe():
        await bfx.wss.subscribe(channel, symbol="tBTCUSD", **params)

    bfx.wss.run()  # asyncio loop in this thread


@adapter("bfxapi-ticker", "ticker", "bitfinex-api-py")
def run_bfxapi_ticker(run: Run) -> None:
    _bfxapi(run, "t_ticker_update", "ticker")


@adapter("bfxapi-book", "book", "bitfinex-api-py")
def run_bfxapi_book(run: Run) -> None:
    # The snapshot is a separate event (t_book_snapshot): nothing to skip.
    _bfxapi(run, "t_book_update", "book", prec="P0", freq="F0", len="25")


# ------------------------------------------------------------------ cryptofeed

#: Bitfinex's symbol-list answers, as cryptofeed's ``_parse_symbol_data`` reads them.
CRYPTOFEED_CANNED_REST = {
    "/v2/conf/pub:list:pair:exchange": [["BTCUSD"]],
    "/v2/conf/pub:list:currency": [["BTC", "USD"]],
    "/v2/conf/pub:list:pair:futures": [[]],
}


def patch_cryptofeed(url: str) -> None:
    """Keep cryptofeed's Bitfinex feed off the internet and on the blaster."""
    from cryptofeed.connection import WebsocketEndpoint, WSAsyncConn
    from cryptofeed.exchanges import Bitfinex

    class CannedSymbols:
        """Stands in for ``HTTPSync``: the symbol endpoints, answered locally."""

        def read(self, address, *args, **kwargs):
            for route, data in CRYPTOFEED_CANNED_REST.items():
                if address.endswith(route):
                    return data
            raise RuntimeError(f"benchmark: unexpected cryptofeed REST read {address}")

    Bitfinex.http_sync = CannedSymbols()
    Bitfinex.websocket_endpoints = [WebsocketEndpoint(url, limit=25)]

    original_init = WSAsyncConn.__init__

    def init(self, address, *args, **kwargs):
        # WSAsyncConn refuses anything but wss://; the blaster speaks plain ws://.
        original_init(self, "wss://" + address.split("://", 1)[1], *args, **kwargs)
        self.address = address

    WSAsyncConn.__init__ = init


def _cryptofeed(run: Run, channel_name: str, checksum_validation: bool = False) -> None:
    patch_cryptofeed(run.url)
    from cryptofeed import FeedHandler, defines
    from cryptofeed.exchanges import Bitfinex

    channel = getattr(defines, channel_name)
    handler = FeedHandler(config={"uvloop": True,
                                  "log": {"filename": os.devnull, "level": "ERROR"}})
    # FeedHandler installs uvloop's policy and later calls get_event_loop(),
    # which uvloop >= 0.22's policy no longer answers with a new loop: give it one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    handler.add_feed(Bitfinex(symbols=["BTC-USD"], channels=[channel],
                              callbacks={channel: run.counter.async_call},
                              number_of_price_points=25,
                              checksum_validation=checksum_validation))
    handler.run(install_signal_handlers=False)  # uvloop in this thread


@adapter("cryptofeed-ticker", "ticker", "cryptofeed")
def run_cryptofeed_ticker(run: Run) -> None:
    _cryptofeed(run, "TICKER")


@adapter("cryptofeed-book", "book", "cryptofeed", skip=1)
def run_cryptofeed_book(run: Run) -> None:
    _cryptofeed(run, "L2_BOOK")


@adapter("cryptofeed-book-cs", "book_cs", "cryptofeed", skip=1)
def run_cryptofeed_book_cs(run: Run) -> None:
    _cryptofeed(run, "L2_BOOK", checksum_validation=True)


# ------------------------------------------------------------------ the SDK

def _sdk_client(run: Run, cls: Any, fast_path: bool = True, **options: Any) -> Any:
    """An SDK client of class ``cls`` with no heartbeats, its errors collected;
    ``run.check`` fails the run on any ``on_error`` or checksum mismatch."""
    errors: list[BaseException] = []
    options.update(stale_timeout=None, ping_interval=None, on_error=errors.append)
    if fast_path:
        client = cls(**options)
    else:
        try:
            client = cls(fast_path=False, **options)
        except TypeError:  # an SDK without the keyword: measure what there is
            client = cls(**options)
            run.notes.append(f"{cls.__name__} has no fast_path keyword: measured the default")

    def check() -> tuple[dict[str, Any], str | None]:
        extras = {"on_error": len(errors),
                  "checksum_mismatches": client.stats.checksum_mismatches}
        if errors:
            return extras, f"on_error got {len(errors)}, first: {errors[0]!r}"
        if client.stats.checksum_mismatches:
            return extras, f"{client.stats.checksum_mismatches} checksum mismatches"
        return extras, None

    run.check = check
    return client


def _sdk(run: Run, *, raw: bool = False, book: bool = False, checksum: bool = False,
         fast_path: bool = True, seq_all: bool = False, record: bool = False,
         **extra: Any) -> None:
    from exchange_wss import WssClient

    options: dict[str, Any] = {}
    if record:
        options["record"] = _recorder(run)
    client = _sdk_client(run, WssClient, fast_path, url=run.url, raw=raw, checksum=checksum,
                         seq_all=seq_all, **options, **extra)
    if record:
        _check_recorder(run, options["record"])
    if book:
        client.subscribe_to_orderbook("tBTCUSD", "P0", run.counter)
    else:
        client.subscribe_to_ticker("tBTCUSD", run.counter)
    client.start()  # the SDK's reactor thread


def _recorder(run: Run) -> Any:
    """A Recorder in a temporary directory (or ``$EWS_RECORD_DIR``, kept), closed when
    the run ends (and the temporary directory removed)."""
    import shutil
    import tempfile

    from exchange_wss.recording import Recorder

    keep = os.environ.get("EWS_RECORD_DIR")
    path = keep or tempfile.mkdtemp(prefix="ews-bench-record-")
    recorder = Recorder(path, prefix="WssClient")

    def cleanup() -> None:
        recorder.close(30)
        if not keep:
            shutil.rmtree(path, ignore_errors=True)

    run.cleanup = cleanup
    return recorder


def _check_recorder(run: Run, recorder: Any) -> None:
    """Add the recorder's statistics to the run's check; a dropped record fails it."""
    previous = run.check

    def check() -> tuple[dict[str, Any], str | None]:
        extras, error = previous() if previous else ({}, None)
        recorder.flush(30)
        st = recorder.stats
        extras.update(recorded=st.frames_received, record_bytes=st.bytes_written)
        if st.records_dropped:
            error = error or f"recorder dropped {st.records_dropped} records"
        return extras, error

    run.check = check


@adapter("sdk-raw", "ticker", "exchange_wss")
def run_sdk_raw(run: Run) -> None:
    _sdk(run, raw=True)


@adapter("sdk-raw-slow", "ticker", "exchange_wss")
def run_sdk_raw_slow(run: Run) -> None:
    _sdk(run, raw=True, fast_path=False)


@adapter("sdk-raw-deflate", "ticker", "exchange_wss")
def run_sdk_raw_deflate(run: Run) -> None:
    _sdk(run, raw=True, compression=True)


@adapter("sdk-ticker-deflate", "ticker", "exchange_wss")
def run_sdk_ticker_deflate(run: Run) -> None:
    _sdk(run, compression=True)


@adapter("sdk-ticker", "ticker", "exchange_wss")
def run_sdk_ticker(run: Run) -> None:
    _sdk(run)


@adapter("sdk-book", "book", "exchange_wss", skip=1)
def run_sdk_book(run: Run) -> None:
    _sdk(run, book=True)


@adapter("sdk-book-cs", "book_cs", "exchange_wss", skip=1)
def run_sdk_book_cs(run: Run) -> None:
    _sdk(run, book=True, checksum=True)


@adapter("sdk-book-seq", "book", "exchange_wss", skip=1)
def run_sdk_book_seq(run: Run) -> None:
    _sdk(run, book=True, seq_all=True)


@adapter("sdk-raw-record", "ticker", "exchange_wss")
def run_sdk_raw_record(run: Run) -> None:
    _sdk(run, raw=True, record=True)


@adapter("sdk-book-record", "book", "exchange_wss", skip=1)
def run_sdk_book_record(run: Run) -> None:
    _sdk(run, book=True, record=True)


# ------------------------------------------------------------------ the SDK: Binance

BINANCE_SYMBOL = "BTCUSDT"


def _sdk_binance(run: Run, kind: str, raw: bool = False, fast_path: bool = True) -> None:
    """``BinanceWssClient`` (Spot) on the blaster: market streams at
    ``ws://host:port/<workload>/stream``, REST (the depth snapshot) at ``http://host:port``."""
    from exchange_wss import BinanceWssClient

    parts = urlsplit(run.url)
    workload = parse_qs(parts.query)["stream"][0]
    client = _sdk_client(run, BinanceWssClient, fast_path, raw=raw,
                         stream_url=f"ws://{parts.netloc}/{workload}",
                         rest_url=f"http://{parts.netloc}",
                         api_url=f"ws://{parts.netloc}/ws-api/v3")  # never opened here
    if kind == "bookticker":
        client.subscribe_to_book_ticker(BINANCE_SYMBOL, run.counter)
    elif kind == "trade":
        client.subscribe_to_trades(BINANCE_SYMBOL, run.counter)
    else:
        client.subscribe_to_orderbook(BINANCE_SYMBOL, run.counter)
    client.start()
    if kind == "depth":
        # The blaster sends the diffs only on a second SUBSCRIBE, so that none
        # is folded into the snapshot: subscribe to something once in sync.
        while not _has_book(client, BINANCE_SYMBOL):
            time.sleep(0.005)
        client.subscribe_to_trades(BINANCE_SYMBOL, lambda _trade: None)


def _has_book(client: Any, symbol: str) -> bool:
    """True once the client's book of ``symbol`` has levels (synced)."""
    from exchange_wss.errors import LocalProtocolError

    try:
        return bool(client.order_book(symbol).bids)
    except LocalProtocolError:  # the subscription is not registered yet
        return False


@adapter("sdk-binance-raw", "binance_bookticker", "exchange_wss")
def run_sdk_binance_raw(run: Run) -> None:
    _sdk_binance(run, "bookticker", raw=True)


@adapter("sdk-binance-raw-slow", "binance_bookticker", "exchange_wss")
def run_sdk_binance_raw_slow(run: Run) -> None:
    _sdk_binance(run, "bookticker", raw=True, fast_path=False)


@adapter("sdk-binance-typed", "binance_bookticker", "exchange_wss")
def run_sdk_binance_typed(run: Run) -> None:
    _sdk_binance(run, "bookticker")


@adapter("sdk-binance-trade", "binance_trade", "exchange_wss")
def run_sdk_binance_trade(run: Run) -> None:
    _sdk_binance(run, "trade")


@adapter("sdk-binance-book", "binance_depth", "exchange_wss", skip=1)
def run_sdk_binance_book(run: Run) -> None:
    _sdk_binance(run, "depth")


# ------------------------------------------------------------------ the SDK: FTX

FTX_MARKET = "BTC-PERP"


def _sdk_ftx(run: Run, book: bool = False, raw: bool = False) -> None:
    from exchange_wss import FtxWssClient

    client = _sdk_client(run, FtxWssClient, url=run.url, raw=raw)
    if book:
        client.subscribe_to_orderbook(FTX_MARKET, run.counter)
    else:
        client.subscribe_to_ticker(FTX_MARKET, run.counter)
    client.start()


@adapter("sdk-ftx-raw", "ftx_ticker", "exchange_wss")
def run_sdk_ftx_raw(run: Run) -> None:
    _sdk_ftx(run, raw=True)


@adapter("sdk-ftx-ticker", "ftx_ticker", "exchange_wss")
def run_sdk_ftx_ticker(run: Run) -> None:
    _sdk_ftx(run)


@adapter("sdk-ftx-book", "ftx_orderbook", "exchange_wss", skip=1)
def run_sdk_ftx_book(run: Run) -> None:
    _sdk_ftx(run, book=True)


# ------------------------------------------------------------------ the harness

def forbid_internet() -> None:
    """A tripwire: name look-ups of anything but loopback raise (uvloop's own
    resolver is not covered; cryptofeed is patched not to need it)."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "127.0.0.1", "localhost", "::1"):
            raise OSError(f"benchmark: no internet (look-up of {name!r} refused)")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def with_stream(url: str, workload: str) -> str:
    """``url`` with ``?stream=<workload>``, unless it already has a query."""
    return url if "?" in url else f"{url}?stream={workload}"


def library_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("\n" + orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()


def measure(name: str, url: str, frames: int, timeout: float) -> None:
    """Run one client until N deliveries (or the timeout), print the result, exit."""
    spec = CLIENTS[name]
    run = Run(with_stream(url, spec.workload), Counter(frames, skip=spec.skip))
    base = {"client": name, "workload": spec.workload, "frames": frames,
            "library": spec.library, "version": library_version(spec.library),
            "python": sys.version.split()[0]}

    def finish(ok: bool, **fields: Any) -> None:
        counter = run.counter
        if run.cleanup is not None:
            run.cleanup()
        fields.setdefault("delivered", max(counter.count, 0))
        if run.notes:
            fields["notes"] = run.notes
        emit(dict(base, ok=ok, **fields))
        os._exit(0 if ok else 1)

    def reporter() -> None:
        counter = run.counter
        if not counter.done.wait(timeout):
            extras, error = run.check() if run.check else ({}, None)
            timed_out = (f"timeout after {timeout:g}s: {max(counter.count, 0)} of "
                         f"{frames} deliveries")
            finish(False, error=f"{timed_out}; {error}" if error else timed_out, **extras)
        rate = counter.rate()
        seconds = counter.last - counter.first
        cpu_us = counter.cpu_us()
        time.sleep(SETTLE)
        extras, error = run.check() if run.check else ({}, None)
        if error is None and counter.count != frames:
            error = f"{counter.count} deliveries, expected {frames}"
        finish(error is None, rate=rate, seconds=seconds, cpu_us_per_msg=cpu_us, error=error,
               **extras)

    thread = threading.Thread(target=reporter, name="reporter", daemon=True)
    thread.start()
    try:
        spec.run(run)
    except BaseException as exc:
        finish(False, error=f"client raised {exc!r}")
    thread.join()  # threaded clients return at once; the reporter ends the process
    finish(False, error="client returned before the reporter")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("client", choices=sorted(CLIENTS))
    parser.add_argument("url", help="the blaster's ws://127.0.0.1:<port>/ws/2")
    parser.add_argument("frames", type=int, help="deliveries to count (N)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the N-th delivery (default 120)")
    args = parser.parse_args(argv)
    forbid_internet()
    measure(args.client, args.url, args.frames, args.timeout)
    return 1  # not reached: measure() ends the process


if __name__ == "__main__":
    sys.exit(main())

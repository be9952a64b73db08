"""``exchange-wss record`` and ``exchange-wss replay``.

Each command is a pair: ``register_*(subparsers)`` adds its arguments to an
argparse subparsers object, ``run_*(args)`` runs it and returns the exit status
(0 done, 1 failed, 2 usage).

::

    exchange-wss record bitfinex ticker,book tBTCUSD --out rec/ --sandbox --duration 10
    exchange-wss replay rec/                      # offline: events, checks, books
    exchange-wss replay rec/ --serve --speed 1    # a WebSocket server for any client
    exchange-wss replay sample_data/ --to-cryptofeed out/ --feed BITFINEX
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["register_record", "run_record", "register_replay", "run_replay"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _wait(duration: float | None) -> None:
    """Until ``duration`` seconds passed, Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------- record

def register_record(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``record`` to an argparse subparsers object."""
    from ..venue_clients import VENUES
    p = subparsers.add_parser(
        "record", help="record a venue's raw WebSocket traffic to a directory",
        description="Subscribe to CHANNELS for SYMBOLS on VENUE (the real one, or an in-process "
                    "sandbox) and record every frame, open and close to --out.")
    p.add_argument("venue", choices=VENUES)
    p.add_argument("channels", help="comma-separated: ticker, trades, book, candles "
                                    "(binance: book_ticker too)")
    p.add_argument("symbols", help="comma-separated, as the venue names them (tBTCUSD, "
                                   "BTCUSDT, BTC-PERP)")
    p.add_argument("--out", required=True, help="directory for the recording files")
    p.add_argument("--sandbox", action="store_true",
                   help="record against an in-process sandbox instead of the venue")
    p.add_argument("--account", action="store_true",
                   help="also the account's events (with --sandbox: its demo account)")
    p.add_argument("--market", default="spot", help="binance market (default %(default)s)")
    p.add_argument("--url", help="the venue's WebSocket URL instead of its default")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds to record (default: until Ctrl-C)")
    p.add_argument("--rotate-mb", type=float, default=256,
                   help="start a new file after this many MB (default %(default)s)")
    p.set_defaults(func=run_record)
    return p


def run_record(args: argparse.Namespace) -> int:
    """Record until the duration passed or Ctrl-C; print what was written."""
    from ..errors import LocalProtocolError
    from ..venue_clients import Sandbox, make_client, parse_list, subscriptions
    from .recorder import Recorder

    try:
        calls = subscriptions(args.venue, parse_list(args.channels), parse_list(args.symbols))
    except LocalProtocolError as exc:
        print(f"exchange-wss record: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sandbox = Sandbox(args.venue, args.market) if args.sandbox else None
    errors: Counter[str] = Counter()  # error class name -> how many
    recorder = Recorder(args.out, prefix={"bitfinex": "WssClient", "binance": "BinanceWssClient",
                                          "ftx": "FtxWssClient"}[args.venue],
                        rotate_bytes=int(args.rotate_mb * 2**20))
    try:
        client = make_client(args.venue, sandbox=sandbox, url=args.url, market=args.market,
                             account=args.account, record=recorder,
                             on_error=lambda e: errors.update([type(e).__name__]))
        for method, call_args in calls:
            getattr(client, method)(*call_args, callback=lambda _e: None)
        if args.account:
            _account(client, args.venue)
        client.start()
        where = sandbox.url if sandbox else "the venue"
        print(f"recording {len(calls)} subscriptions on {where} to {args.out}", flush=True)
        _wait(args.duration)
        client.stop()
    except LocalProtocolError as exc:
        print(f"exchange-wss record: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        recorder.close()
        if sandbox is not None:
            sandbox.stop()
    st = recorder.stats
    print(f"recorded {st.frames_received} frames received, {st.frames_sent} sent in "
          f"{st.files} file(s), {st.bytes_written} bytes; dropped {st.records_dropped}; "
          f"errors {dict(errors) or 0}")
    return EXIT_OK if st.records_dropped == 0 else EXIT_FAILED


def _account(client: Any, venue: str) -> None:
    ignore = lambda _e: None  # noqa: E731 - the recording is the point
    if venue == "bitfinex":
        client.authenticate(ignore)
    elif venue == "binance":
        client.subscribe_to_user_data(ignore)
    else:
        client.subscribe_to_fills(ignore)
        client.subscribe_to_orders(ignore)


# ------------------------------------------------------------------------------- replay

def register_replay(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``replay`` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "replay", help="replay a recording offline, serve it over a WebSocket, or convert it",
        description="Replay FILE (a recording directory or file, this project's format or "
                    "cryptofeed's sample_data). Default: offline, through the protocol "
                    "sessions, printing what each stream delivered and every check's result.")
    p.add_argument("file", help="recording directory or file")
    p.add_argument("--venue", choices=("bitfinex", "binance", "ftx"),
                   help="when it cannot be guessed")
    p.add_argument("--events", action="store_true", help="print every event (offline)")
    p.add_argument("--serve", action="store_true",
                   help="serve it over a WebSocket on --host/--port until Ctrl-C")
    p.add_argument("--speed", type=float, default=None,
                   help="with --serve: times the recorded pace (default: as fast as read)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free one (default)")
    p.add_argument("--duration", type=float, default=None,
                   help="with --serve: seconds to serve (default: until Ctrl-C)")
    p.add_argument("--to-cryptofeed", metavar="DIR", help="write it in cryptofeed's format")
    p.add_argument("--feed", help="cryptofeed feed name for --to-cryptofeed (e.g. BITFINEX)")
    p.set_defaults(func=run_replay)
    return p


_PATHS = {"bitfinex": "/ws/2", "binance": "/stream", "ftx": "/ws/"}


def run_replay(args: argparse.Namespace) -> int:
    """Run the replay the arguments ask for."""
    from ..errors import LocalProtocolError
    from .reader import open_recording

    try:
        recording = open_recording(args.file, venue=args.venue)
        if args.to_cryptofeed:
            from .cryptofeed import write_cryptofeed
            feed = args.feed or (recording.venue or "FEED").upper()
            paths = write_cryptofeed(recording.records(), args.to_cryptofeed, feed)
            print(f"wrote {len(paths)} file(s) to {args.to_cryptofeed}")
            return EXIT_OK
        if args.serve:
            return _serve(recording, args)
        return _offline(recording, args)
    except LocalProtocolError as exc:
        print(f"exchange-wss replay: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _offline(recording: Any, args: argparse.Namespace) -> int:
    from .offline import OfflineReplay

    replay = OfflineReplay(recording)
    counts: Counter = Counter()

    def on_event(label: str, event: Any) -> None:
        counts[label] += 1
        if args.events:
            print(f"{label} {event!r}")
    replay.on(on_event)
    started = time.perf_counter()
    stats = replay.run()
    seconds = time.perf_counter() - started
    print(f"{recording.format} recording of {recording.venue}, {len(recording.files)} file(s)")
    print(f"frames {stats.frames}, events {stats.events} in {seconds:.3f}s "
          f"({stats.frames / seconds if seconds else 0:,.0f} frames/s)")
    for label in replay.labels:
        print(f"  {label}: {counts[label]} events")
    for label in sorted(replay.books):
        book = replay.order_book(label)
        bid = book.bids[0] if book.bids else None
        ask = book.asks[0] if book.asks else None
        print(f"  book {label}: {len(book.bids)} bids, {len(book.asks)} asks, best {bid} / {ask}")
    print(f"checksum failures {stats.checksum_failures}, sequence gaps {stats.sequence_gaps}, "
          f"malformed {stats.malformed}, recorder gaps {stats.gaps}, truncated blocks "
          f"{recording.truncated}")
    bad = stats.checksum_failures or stats.sequence_gaps or stats.malformed
    return EXIT_FAILED if bad else EXIT_OK


def _serve(recording: Any, args: argparse.Namespace) -> int:
    from .server import ReplayServer

    server = ReplayServer(recording, speed=args.speed, host=args.host, port=args.port).start()
    try:
        path = _PATHS.get(recording.venue, "/")
        print(f"replaying {recording.path} ({recording.venue}) on {server.url}{path}"
              + (f", REST on {server.rest_url}" if recording.venue == "binance" else ""),
              flush=True)
        _wait(args.duration)
    finally:
        server.stop()
    st = server.stats
    print(f"served {st.connections} connection(s), {st.frames_sent} frames, "
          f"{st.requests_unknown} request(s) not in the recording")
    return EXIT_OK

r"""``exchange-wss relay``: keep a venue's connections and publish to Redis Streams.

``register_relay(subparsers)`` adds the arguments, ``run_relay(args)`` runs it
(exit status 0 done, 1 something was dropped, 2 usage)::

    exchange-wss relay --venue bitfinex --to redis://127.0.0.1:6379/0 \\
        --channels ticker,book,trades --symbols tBTCUSD,tETHUSD
    exchange-wss relay --venue ftx --sandbox --account --to redis://127.0.0.1:6379/0 \\
        --channels book --symbols BTC-PERP --duration 30
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

__all__ = ["register_relay", "run_relay"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register_relay(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``relay`` to an argparse subparsers object."""
    from ..venue_clients import VENUES
    p = subparsers.add_parser(
        "relay", help="publish a venue's streams to Redis Streams for any number of consumers",
        description="Hold the exchange connections and publish every event to one Redis "
                    "stream per (venue, channel, symbol); consumers read them with "
                    "exchange_wss.redis.RedisClient.")
    p.add_argument("--venue", required=True, choices=VENUES)
    p.add_argument("--to", required=True, metavar="URL", help="redis://host:port/db")
    p.add_argument("--channels", required=True,
                   help="comma-separated: ticker, trades, book, candles (binance: book_ticker)")
    p.add_argument("--symbols", required=True, help="comma-separated")
    p.add_argument("--account", action="store_true",
                   help="also the account's events (with --sandbox: its demo account)")
    p.add_argument("--sandbox", action="store_true", help="relay an in-process sandbox")
    p.add_argument("--market", default="spot", help="binance market (default %(default)s)")
    p.add_argument("--url", help="the venue's WebSocket URL instead of its default")
    p.add_argument("--prefix", default="ews", help="stream name prefix (default %(default)s)")
    p.add_argument("--maxlen", type=int, default=100_000,
                   help="entries kept per stream, MAXLEN ~ (default %(default)s)")
    p.add_argument("--snapshot-interval", type=float, default=1.0,
                   help="seconds between book snapshots (default %(default)s)")
    p.add_argument("--buffer", type=int, default=100_000,
                   help="market events held while Redis is away (default %(default)s)")
    p.add_argument("--duration", type=float, default=None,
                   help="seconds to run (default: until Ctrl-C)")
    p.add_argument("--stats-interval", type=float, default=10.0,
                   help="seconds between statistics lines (default %(default)s)")
    p.set_defaults(func=run_relay)
    return p


def run_relay(args: argparse.Namespace) -> int:
    """Relay until the duration passed or Ctrl-C; print statistics as it goes."""
    from ..errors import LocalProtocolError
    from ..venue_clients import Sandbox, make_client, parse_list, subscriptions
    from .relay import Relay
    from .sink import RedisStreamsSink

    try:
        calls = subscriptions(args.venue, parse_list(args.channels), parse_list(args.symbols))
        sandbox = Sandbox(args.venue, args.market) if args.sandbox else None
        client = make_client(args.venue, sandbox=sandbox, url=args.url, market=args.market,
                             account=args.account)
    except LocalProtocolError as exc:
        print(f"exchange-wss relay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    relay = Relay(client, RedisStreamsSink(args.to, maxlen=args.maxlen), prefix=args.prefix,
                  snapshot_interval=args.snapshot_interval, buffer_size=args.buffer,
                  on_error=lambda e: print(f"relay: {e}; buffering", file=sys.stderr,
                                           flush=True))
    try:
        for method, call_args in calls:
            getattr(relay, method)(*call_args)
        if args.account:
            relay.subscribe_account()
        relay.start()
        for label, stream in sorted(relay.streams.items()):
            print(f"  {label} -> {stream}")
        print(f"relaying {args.venue} to {args.to}", flush=True)
        _run_until_stopped(relay, args.duration, args.stats_interval)
    finally:
        relay.stop()
        if sandbox is not None:
            sandbox.stop()
    print("stopped: " + _line(relay))
    st = relay.stats
    return EXIT_FAILED if st.dropped or st.dropped_account else EXIT_OK


def _line(relay: Any) -> str:
    st = relay.stats
    return (f"events {st.events}, published {st.published}, snapshots {st.snapshots}, "
            f"buffered {st.buffered}, dropped {st.dropped}+{st.dropped_account} account, "
            f"outages {st.outages}")


def _run_until_stopped(relay: Any, duration: Any, interval: float) -> None:
    """Print a statistics line every ``interval`` s until ``duration``, Ctrl-C or SIGTERM."""
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = None if duration is None else time.monotonic() + duration
    try:
        while True:
            step = interval if deadline is None else min(interval, deadline - time.monotonic())
            if step <= 0 or stop.wait(step):
                return
            print(_line(relay), flush=True)
    except KeyboardInterrupt:
        return
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)

"""The ``exchange-wss`` entry point and its argument parser.

The commands live in their own modules and are imported only when run, so
``exchange-wss --version`` and ``--help`` start fast and import neither Twisted nor
``rich``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXCHANGES = ("bitfinex", "binance", "ftx")
BINANCE_MARKETS = ("spot", "usdm", "coinm")
#: Binance markets the demo trades on (COIN-M counts in contracts: not demoed).
DEMO_BINANCE_MARKETS = ("spot", "usdm")
WATCH_CHANNELS = {"bitfinex": "ticker, book, trades, candles",
                  "binance": "ticker, book, trades, book_ticker, candles",
                  "ftx": "ticker, book, trades"}


def _lazy(module: str, function: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib
        return getattr(importlib.import_module(module, __package__), function)(args)
    return run


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _stream_arguments(cmd: argparse.ArgumentParser, what: str) -> None:
    """The arguments ``watch`` and ``health`` share: what to subscribe to, where."""
    cmd.add_argument("venue", choices=EXCHANGES, metavar="{bitfinex,binance,ftx}",
                     help="the exchange")
    cmd.add_argument("channels", metavar="CHANNELS",
                     help="comma-separated channels, e.g. ticker,book,trades")
    cmd.add_argument("symbols", nargs="+", metavar="SYMBOL",
                     help="symbols as the venue spells them: tBTCUSD, BTCUSDT, BTC-PERP")
    cmd.add_argument("--sandbox", action="store_true",
                     help=f"{what} the built-in sandbox, run in-process (default: the real "
                          "exchange)")
    cmd.add_argument("--market", choices=BINANCE_MARKETS, default=None,
                     help="Binance market (default spot)")
    cmd.add_argument("--url", default=None,
                     help="another endpoint (an FTX-protocol venue; bitfinex, ftx only)")
    cmd.add_argument("--duration", type=_positive, default=None,
                     help=f"seconds to {what}, from the moment the client starts (default: "
                          "until Ctrl-C)")
    cmd.add_argument("--stale-after", type=_positive, default=10.0,
                     help="seconds without data after which a stream shows as stale "
                          "(default %(default)s)")
    cmd.add_argument("--seed", type=int, default=1,
                     help="seed of the sandbox market (default %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The ``exchange-wss`` argument parser: ``--version`` and the commands ``sandbox``,
    ``watch``, ``health``, ``demo``, ``record``, ``replay`` and ``relay``, every choice
    listed in its usage."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="exchange-wss",
        description="Threaded WebSocket clients for crypto exchanges, with a local sandbox.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command",
                                metavar="{sandbox,watch,health,demo,record,replay,relay}")

    sb = sub.add_parser(
        "sandbox", help="run sandbox exchanges until Ctrl-C, with a fault console",
        description="Run sandbox exchanges (local servers speaking the real protocols, with "
                    "a matching engine), print their URLs and sandbox-only credentials, and "
                    "inject faults typed on stdin: the commands are the names of the Python "
                    "API (sandbox.faults.drop_connections() is `drop_connections`); `help` "
                    "lists them.")
    sb.add_argument("--exchange", nargs="+", action="extend", choices=EXCHANGES,
                    metavar="{bitfinex,binance,ftx}",
                    help="the sandboxes to run, several allowed (default bitfinex)")
    sb.add_argument("--market", choices=BINANCE_MARKETS, default="spot",
                    help="market of the Binance sandbox (default %(default)s)")
    sb.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (default %(default)s)")
    sb.add_argument("--port", type=int, default=0,
                    help="TCP port, one exchange only; 0 picks a free one (default)")
    sb.add_argument("--key", default=None,
                    help="API key of the sandbox account (default: the built-in one)")
    sb.add_argument("--secret", default=None,
                    help="API secret of that account (default: the built-in one)")
    sb.add_argument("--seed", type=int, default=1,
                    help="seed of the simulated market (default %(default)s)")
    sb.add_argument("--tick-interval", type=_positive, default=0.25,
                    help="seconds between simulated market ticks (default %(default)s)")
    sb.set_defaults(func=_lazy(".sandbox_cmd", "cmd_sandbox"))

    watch = sub.add_parser(
        "watch", help="show streams of a venue (live, or --sandbox) in the terminal",
        description="Subscribe to CHANNELS of each SYMBOL on VENUE and show them live: book "
                    "with depth bars, spread and mid, trades with times, ticker and price "
                    "sparkline, each stream's state, age and rate, each connection's state "
                    "and ping. Channels: "
                    + "; ".join(f"{v}: {c}" for v, c in WATCH_CHANNELS.items()) + ".",
        epilog="example: exchange-wss watch bitfinex ticker,book,trades tBTCUSD --sandbox")
    _stream_arguments(watch, "watch")
    watch.add_argument("--no-ui", action="store_true",
                       help="print a line per ticker, trade and top-of-book change instead "
                            "of the live view (automatic when stdout is not a terminal)")
    watch.add_argument("--json", action="store_true",
                       help="print JSON lines (one object per event; implies --no-ui)")
    watch.set_defaults(func=_lazy(".watch", "cmd_watch"))

    health = sub.add_parser(
        "health", help="show the client's health report of streams (live, or --sandbox)",
        description="Subscribe to CHANNELS of each SYMBOL on VENUE and show the client's "
                    "own health report: each stream's state (pending, live, resyncing, "
                    "stale, failed), age, rate, messages, resyncs and why; each "
                    "connection's state, ping round trip, reconnects, requests and "
                    "authentication. With --duration it exits 1 unless every stream is "
                    "live at the end. Channels: "
                    + "; ".join(f"{v}: {c}" for v, c in WATCH_CHANNELS.items()) + ".",
        epilog="example: exchange-wss health bitfinex ticker,book tBTCUSD --sandbox --json "
               "--duration 5")
    _stream_arguments(health, "check")
    health.add_argument("--no-ui", action="store_true",
                        help="print the health signals as lines and the whole report every "
                             "--interval seconds (automatic when stdout is not a terminal)")
    health.add_argument("--json", action="store_true",
                        help="print client.health() as one JSON object every --interval "
                             "seconds and one at the end (implies --no-ui)")
    health.add_argument("--interval", type=_positive, default=5.0,
                        help="seconds between two reports without the live view (default "
                             "%(default)s)")
    health.set_defaults(func=_lazy(".health_cmd", "cmd_health"))

    demo = sub.add_parser(
        "demo", help="stream market data and trade against an in-process sandbox",
        description="Start a sandbox exchange in-process and run a client against it: "
                    "ticker, trades and a maintained book, the account's events, then an "
                    "order that rests, one that fills, and a cancel.")
    demo.add_argument("--exchange", choices=EXCHANGES, default="bitfinex",
                      help="exchange to demo (default %(default)s)")
    demo.add_argument("--market", choices=DEMO_BINANCE_MARKETS, default=None,
                      help="Binance market of the sandbox (default spot; --exchange binance "
                           "only)")
    demo.add_argument("--duration", type=_positive, default=20.0,
                      help="seconds to run, from the moment the client starts (default "
                           "%(default)s); the scripted flow must finish within it (it needs "
                           "about 1 s)")
    demo.add_argument("--live", action="store_true",
                      help="public channels only, against the real Bitfinex "
                           "(no sandbox, no orders; bitfinex only)")
    demo.add_argument("--no-ui", action="store_true",
                      help="print plain progress lines instead of the live view (automatic "
                           "when stdout is not a terminal)")
    demo.add_argument("--stale-after", type=_positive, default=10.0,
                      help="seconds without data after which a stream shows as stale "
                           "(default %(default)s)")
    demo.add_argument("--seed", type=int, default=1,
                      help="seed of the sandbox market (default %(default)s)")
    demo.set_defaults(func=_lazy(".demo", "cmd_demo"))

    # record, replay and relay: commands of their own modules (each registers itself).
    from ..recording.commands import register_record, register_replay
    from ..redis.commands import register_relay
    for register in (register_record, register_replay, register_relay):
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``exchange-wss`` command line.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit status: 0 done, 1 failed (the reason is printed), 2 usage
        error, 130 interrupted demo.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version or a usage error: a status, not an exit
        if isinstance(exc.code, int):
            return exc.code
        return EXIT_OK if exc.code is None else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader went away mid-line: end quietly
        from .output import silence_stdout
        silence_stdout()
        return EXIT_OK

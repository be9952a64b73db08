"""``exchange-wss sandbox``: serve sandbox exchanges until Ctrl-C, with a fault console.

``--exchange bitfinex binance ftx`` (several at once allowed; Bitfinex by default)
starts each on 127.0.0.1, prints its URLs, its sandbox-only credentials and the
client call that connects to it, then reads fault commands on stdin (see
:mod:`.faults_console`) until Ctrl-C or SIGTERM. Exit status 0 after a clean stop,
1 when a sandbox cannot start (the reason is printed), 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from ._process import on_sigterm, restore_sigterm
from .faults_console import read_fault_commands
from .output import Printer

__all__ = ["cmd_sandbox", "start_sandbox", "describe", "EXCHANGES"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: The exchanges the command serves, in the order their blocks are printed.
EXCHANGES = ("bitfinex", "binance", "ftx")


def start_sandbox(exchange: str, args: argparse.Namespace, accounts: dict[str, str] | None
                  ) -> Any:
    """Start the sandbox of ``exchange`` as the options say; return its started handle."""
    from .. import sandbox as sb
    common = dict(host=args.host, port=args.port, accounts=accounts, seed=args.seed,
                  tick_interval=args.tick_interval)
    if exchange == "bitfinex":
        return sb.BitfinexSandbox(**common).start()
    if exchange == "binance":
        return sb.BinanceSandbox(market=args.market, **common).start()
    return sb.FtxSandbox(**common).start()


def credentials(exchange: str, args: argparse.Namespace) -> tuple[str, str]:
    """The account's key and secret: ``--key``/``--secret``, else the sandbox's built-in ones."""
    from .. import sandbox as sb
    if args.key is not None:
        return args.key, args.secret
    return {"bitfinex": (sb.DEFAULT_KEY, sb.DEFAULT_SECRET),
            "binance": (sb.DEFAULT_BINANCE_KEY, sb.DEFAULT_BINANCE_SECRET),
            "ftx": (sb.DEFAULT_FTX_KEY, sb.DEFAULT_FTX_SECRET)}[exchange]


def describe(exchange: str, sandbox: Any, key: str, secret: str) -> list[str]:
    """The lines printed for one running sandbox: URLs, credentials, how to connect.

    These credentials belong to the local sandbox only; printing them is the point of
    this command (nothing else in the package prints a secret).
    """
    creds = [f"  API key:    {key}",
             f"  API secret: {secret}   (sandbox-only credentials, valid on this sandbox alone)"]
    if exchange == "bitfinex":
        return [f"Bitfinex v2 sandbox listening on {sandbox.url}", *creds,
                f"  connect:    WssClient(key, secret, url={sandbox.url!r})"]
    if exchange == "binance":
        market = sandbox.market
        return [f"Binance {market} sandbox listening on {sandbox.stream_url}",
                f"  REST:       {sandbox.rest_url}",
                f"  streams:    {sandbox.stream_url}",
                f"  WS API:     {sandbox.api_url}", *creds,
                f"  connect:    BinanceWssClient(key, secret, market={market!r}, "
                f"rest_url={sandbox.rest_url!r}, stream_url={sandbox.stream_url!r}, "
                f"api_url={sandbox.api_url!r})"]
    return [f"FTX-protocol sandbox listening on {sandbox.url}", *creds,
            f"  markets:    {', '.join(sandbox.markets)}",
            f"  connect:    FtxWssClient(key, secret, url={sandbox.url!r})"]


def _usage(message: str) -> int:
    print(f"exchange-wss sandbox: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandboxes until Ctrl-C or SIGTERM; see the module docstring."""
    exchanges = list(dict.fromkeys(args.exchange or ["bitfinex"]))
    if (args.key is None) != (args.secret is None):
        return _usage("give both --key and --secret, or neither")
    if args.port and len(exchanges) > 1:
        return _usage("--port needs a single --exchange (several sandboxes cannot share it)")
    if args.market != "spot" and "binance" not in exchanges:
        return _usage("--market applies to --exchange binance only")
    accounts = None if args.key is None else {args.key: args.secret}

    started: dict[str, Any] = {}
    try:
        for exchange in exchanges:
            started[exchange] = start_sandbox(exchange, args, accounts)
    except Exception as exc:  # e.g. the port is taken: say so in one line
        for sandbox in started.values():
            sandbox.stop()
        print(f"exchange-wss sandbox: cannot start the {exchange} sandbox: {exc}",
              file=sys.stderr)
        return EXIT_FAILED

    printer = Printer()
    stop = threading.Event()
    previous = on_sigterm(stop.set)
    try:
        for exchange, sandbox in started.items():
            key, secret = credentials(exchange, args)
            for line in describe(exchange, sandbox, key, secret):
                printer(line)
        printer("Type a fault to inject (`help` lists them). Press Ctrl-C to stop.")
        targets = {exchange: sandbox.faults for exchange, sandbox in started.items()}
        threading.Thread(target=read_fault_commands, args=(targets, sys.stdin, printer),
                         name="exchange_wss-fault-console", daemon=True).start()
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        restore_sigterm(previous)
        for sandbox in started.values():
            sandbox.stop()
    printer("sandbox stopped")
    return EXIT_OK

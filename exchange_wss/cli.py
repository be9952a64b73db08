"""The ``exchange-wss`` command: run the sandbox exchange, or a scripted demo against it.

``exchange-wss sandbox`` serves the bundled Bitfinex v2 sandbox until Ctrl-C.
``exchange-wss demo`` starts a sandbox in-process, streams ticker, trades, a
maintained book and candles, authenticates, places an order that rests, one
that fills, cancels the resting one, and shows it all live (``rich``) or as
plain lines when stdout is not a terminal. ``exchange-wss demo --exchange
binance [--market spot|usdm]`` does the same against an in-process Binance
sandbox with ``BinanceWssClient`` (ticker, trades, book ticker, a book synced
with REST snapshots, user data, orders over the WebSocket API), and
``--exchange ftx`` against the FTX-protocol sandbox with ``FtxWssClient``
(ticker, trades, a checksummed book, fills and orders).
``exchange-wss record``, ``replay`` and ``relay`` record a venue's traffic, replay a
recording (offline or over a WebSocket) and publish a venue to Redis Streams (see
:mod:`exchange_wss.recording.commands` and :mod:`exchange_wss.redis.commands`).
``python -m exchange_wss`` is the same command.

Exit status: 0 when the command did its job, 1 when the demo's scripted flow
failed (the reason is printed), 2 for a usage error, 130 after Ctrl-C in the demo.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections import Counter, deque
from typing import Any, Callable, Dict, List, Optional, Sequence

__all__ = ["main", "build_parser"]

#: The pair the demo trades and watches.
DEMO_SYMBOL = "tBTCUSD"
#: The pair the Binance demo trades and watches (Spot and USDT-M name it alike).
FTX_SYMBOL = "BTC-PERP"
BINANCE_SYMBOL = "BTCUSDT"
#: Size of each demo order, in BTC.
DEMO_AMOUNT = 0.01
#: Binance markets the demo runs on (COIN-M counts in contracts: not demoed).
DEMO_BINANCE_MARKETS = ("spot", "usdm")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# -- argument parsing ------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Return the ``exchange-wss`` argument parser (subcommands ``sandbox``, ``demo``,
    ``record``, ``replay`` and ``relay``)."""
    parser = argparse.ArgumentParser(
        prog="exchange-wss",
        description="Threaded WebSocket clients for crypto exchanges, with a local sandbox.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sb = sub.add_parser("sandbox", help="run the Bitfinex v2 sandbox exchange until Ctrl-C",
                        description="Run the bundled Bitfinex v2 sandbox exchange (a local "
                                    "server with a matching engine and fault injection).")
    sb.add_argument("--host", default="127.0.0.1",
                    help="interface to listen on (default %(default)s)")
    sb.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    sb.add_argument("--key", default=None,
                    help="API key of the sandbox account (default: the built-in one)")
    sb.add_argument("--secret", default=None,
                    help="API secret of that account (default: the built-in one)")
    sb.add_argument("--seed", type=int, default=1,
                    help="seed of the simulated market (default %(default)s)")
    sb.add_argument("--tick-interval", type=float, default=0.25,
                    help="seconds between simulated market ticks (default %(default)s)")
    sb.set_defaults(func=cmd_sandbox)

    demo = sub.add_parser("demo", help="stream market data and trade against an in-process sandbox",
                          description="Start a sandbox exchange in-process and run a client "
                                      "against it: ticker, trades and a maintained book for "
                                      f"{DEMO_SYMBOL} (Binance: {BINANCE_SYMBOL}), the "
                                      "account's events, then an order that rests, one that "
                                      "fills, and a cancel.")
    demo.add_argument("--duration", type=float, default=20.0,
                      help="seconds to run (default %(default)s); the scripted flow must "
                           "finish within it")
    demo.add_argument("--live", action="store_true",
                      help="public channels only, against the real Bitfinex "
                           "(no sandbox, no orders; bitfinex only)")
    demo.add_argument("--no-ui", action="store_true",
                      help="print plain progress lines instead of the live view (automatic when "
                           "stdout is not a terminal)")
    demo.add_argument("--seed", type=int, default=1,
                      help="seed of the sandbox market (default %(default)s)")
    demo.add_argument("--exchange", default="bitfinex",
                      help="exchange to demo: bitfinex (default), binance or ftx")
    demo.add_argument("--market", choices=DEMO_BINANCE_MARKETS, default=None,
                      help="Binance market of the sandbox: spot (default) or usdm "
                           "(USDT-M futures); --exchange binance only")
    demo.set_defaults(func=cmd_demo)
    # record, replay and relay live in modules of their own.
    from .recording.commands import register_record, register_replay
    from .redis.commands import register_relay
    for register in (register_record, register_replay, register_relay):
        register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``exchange-wss`` command line.

    Args:
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit status (see the module docstring).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error: report a status, do not exit the caller
        if isinstance(exc.code, int):
            return exc.code
        return EXIT_OK if exc.code is None else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return args.func(args)


# -- exchange-wss sandbox -------------------------------------------------------------------
def cmd_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until Ctrl-C or SIGTERM; print its URL and credentials."""
    from .sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox

    if (args.key is None) != (args.secret is None):
        print("exchange-wss sandbox: give both --key and --secret, or neither", file=sys.stderr)
        return EXIT_USAGE
    key = args.key if args.key is not None else DEFAULT_KEY
    secret = args.secret if args.secret is not None else DEFAULT_SECRET
    accounts = None if args.key is None else {key: secret}
    try:
        sandbox = BitfinexSandbox(host=args.host, port=args.port, accounts=accounts, seed=args.seed,
                                  tick_interval=args.tick_interval).start()
    except Exception as exc:  # e.g. the port is taken: say so in one line
        print(f"exchange-wss sandbox: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED

    stop = threading.Event()
    previous = _on_sigterm(stop.set)
    try:
        # These credentials belong to the local sandbox only; printing them is
        # the point of this command (nothing else in the package prints secrets).
        print(f"Bitfinex v2 sandbox listening on {sandbox.url}")
        print(f"  API key:    {key}")
        print(f"  API secret: {secret}   (sandbox-only credentials, valid on this sandbox alone)")
        print(f"  connect:    WssClient(key, secret, url={sandbox.url!r})")
        print("Type a fault to inject (`help` lists them). Press Ctrl-C to stop.", flush=True)
        threading.Thread(target=_read_fault_commands, args=(sandbox.faults, sys.stdin),
                         name="exchange_wss-fault-commands", daemon=True).start()
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _restore_sigterm(previous)
        sandbox.stop()
    print("sandbox stopped", flush=True)
    return EXIT_OK


#: Fault commands of ``exchange-wss sandbox``: name -> (usage, what it does).
FAULT_COMMANDS = {
    "drop": ("drop", "abort every connection"),
    "info": ("info CODE", "send an info event, e.g. `info 20051` (please reconnect)"),
    "maintenance": ("maintenance start|end", "send 20060 (orders refused) or 20061"),
    "stall": ("stall [SECONDS]", "send no frame at all, heartbeats included"),
    "resume": ("resume", "end a stall; held frames are sent in order"),
    "malformed": ("malformed", "send one frame that is not JSON"),
    "corrupt-checksum": ("corrupt-checksum", "make the next book checksum wrong"),
    "skip-seq": ("skip-seq", "skip one sequence number (clients using SEQ_ALL)"),
    "reject-handshake": ("reject-handshake [STATUS]", "answer the next handshake with HTTP 429"),
}


def apply_fault_command(faults: Any, line: str) -> str:
    """Run one fault command on a sandbox's ``faults``; return what to print.

    Raises:
        ValueError: an unknown command or a bad argument (the text says which).
    """
    words = line.split()
    if not words:
        return ""
    name, args = words[0].lower(), words[1:]
    if name == "help":
        return "\n".join(f"  {usage:28s} {text}" for usage, text in FAULT_COMMANDS.values())
    if name not in FAULT_COMMANDS:
        raise ValueError(f"unknown fault {name!r}; `help` lists them")
    if name == "drop":
        return f"dropped {faults.drop_connections()} connection(s)"
    if name == "info":
        if len(args) != 1 or not args[0].isdigit():
            raise ValueError("usage: info CODE")
        faults.send_info(int(args[0]))
        return f"sent info {args[0]}"
    if name == "maintenance":
        if args not in (["start"], ["end"]):
            raise ValueError("usage: maintenance start|end")
        (faults.maintenance_start if args[0] == "start" else faults.maintenance_end)()
        return f"maintenance {args[0]}"
    if name == "stall":
        seconds = float(args[0]) if args else None
        faults.stall(seconds)
        return "stalled" + (f" for {seconds:g}s" if seconds else " until `resume`")
    if name == "reject-handshake":
        status = int(args[0]) if args else 429
        faults.reject_next_handshake(status)
        return f"the next handshake gets HTTP {status}"
    action = {"resume": faults.resume, "malformed": faults.malformed_frame,
              "corrupt-checksum": faults.corrupt_next_checksum,
              "skip-seq": faults.skip_sequence}[name]
    action()
    return f"{name}: done"


def _read_fault_commands(faults: Any, stream: Any) -> None:
    """Apply fault commands read line by line until end of input."""
    for line in stream:
        try:
            reply = apply_fault_command(faults, line)
        except ValueError as exc:
            reply = f"error: {exc}"
        if reply:
            print(reply, flush=True)


def _on_sigterm(handler: Callable[[], None]) -> Any:
    """Make SIGTERM call ``handler``; returns what to restore (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signal handlers can only be set from the main thread
    return signal.signal(signal.SIGTERM, lambda signum, frame: handler())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


# -- exchange-wss demo ------------------------------------------------------------------------
#
# The demo is split in two: what every exchange shares (DemoState: what was seen;
# _Demo: the scripted flow, the watch loop and the summary; _DemoView: the live view)
# and what differs only in the client calls (a venue: _BitfinexVenue, _BinanceVenue).
# Events reach DemoState as the shared models of exchange_wss.models, so the state,
# the flow and the view never look at an exchange's wire format.

class DemoFailure(Exception):
    """The scripted demo flow did not complete; the message says which step and why."""


class DemoState:
    """What the demo saw, written by callbacks on the reactor thread, read by the main thread
    and the live view's refresh thread; every access holds ``cond``."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.started = time.monotonic()
        self.counts: Counter = Counter()
        self.ticker: Any = None
        self.book_ticker: Any = None
        self.candle: Any = None
        self.book_ready = False
        self.top: Any = None  # (bids, asks), 5 (price, size) levels each, refreshed by the main loop
        self.trades: deque = deque(maxlen=8)
        self.orders: Dict[Any, Any] = {}
        self.fills: Dict[Any, List[Any]] = {}
        self.wallets: Dict[tuple, Any] = {}
        self.positions: Dict[str, Any] = {}
        self.notifications: List[Any] = []
        self.log: deque = deque(maxlen=12)
        self.errors: List[BaseException] = []
        self.reconnects = 0
        self.placed = self.filled = self.cancelled = 0
        self.listeners: List[Callable[[str], None]] = []
        self.stopping = False
        self.connected = False  # any connection opened at least once
        #: (connection, state) pairs seen on on_event, e.g. ("api", "user data subscribed").
        self.conn_states: set = set()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def note(self, text: str) -> None:
        """Add a line to the event log (and to the plain-output printer, if any)."""
        line = f"[{self.elapsed():5.1f}s] {text}"
        with self.cond:
            self.log.append(line)
            listeners = list(self.listeners)
        for listener in listeners:
            listener(line)

    def wait(self, predicate: Callable[[], Any], deadline: float) -> Any:
        """Wait until ``predicate()`` (called under the lock) is truthy or ``deadline``
        (a ``time.monotonic()`` value) passes; return its last value."""
        with self.cond:
            while True:
                result = predicate()
                left = deadline - time.monotonic()
                if result or left <= 0:
                    return result
                self.cond.wait(left)

    def record_order(self, order: Any) -> None:
        """Keep an order the exchange acknowledged, unless an update already brought it:
        the update is at least as new as the acknowledgement."""
        if order is None or order.id is None:
            return
        with self.cond:
            self.orders.setdefault(order.id, order)
            self.cond.notify_all()

    # -- callbacks (reactor thread) ------------------------------------------------------
    def on_ticker(self, ticker: Any) -> None:
        first = False
        with self.cond:
            self.counts["ticker"] += 1
            first = self.ticker is None
            self.ticker = ticker
            self.cond.notify_all()
        if first:
            self.note(f"first ticker {ticker.symbol}: bid {_fmt(ticker.bid)} "
                      f"ask {_fmt(ticker.ask)} last {_fmt(ticker.last_price)}")

    def on_book_ticker(self, event: Any) -> None:
        with self.cond:
            self.counts["book_ticker"] += 1
            self.book_ticker = event
            self.cond.notify_all()

    def on_trades(self, event: Any) -> None:
        from .models import Trade, TradesSnapshot
        with self.cond:
            self.counts["trades"] += 1
            if isinstance(event, TradesSnapshot):
                self.trades.extend(t for t in event.trades if isinstance(t, Trade))
            elif isinstance(event, Trade) and event.kind != "tu":  # Bitfinex tu repeats a te
                self.trades.append(event)
            self.cond.notify_all()

    def on_book(self, event: Any) -> None:
        from .models import BookSnapshot
        with self.cond:
            self.counts["book"] += 1
            if isinstance(event, BookSnapshot):
                self.book_ready = True
            self.cond.notify_all()

    def on_candles(self, event: Any) -> None:
        from .models import Candle, CandlesSnapshot
        with self.cond:
            self.counts["candles"] += 1
            if isinstance(event, CandlesSnapshot) and event.candles:
                self.candle = event.candles[-1]
            elif isinstance(event, Candle):
                self.candle = event
            self.cond.notify_all()

    def on_account(self, event: Any, channel: str = "auth") -> None:
        """Account events (Bitfinex ``authenticate``, Binance user data), counted as
        ``channel``: orders, fills, wallets, positions, notifications."""
        from .models import BalanceUpdate, Fill, Notification, Order, Position, Snapshot, Wallet
        notes = []
        with self.cond:
            self.counts[channel] += 1
            items = event.items if isinstance(event, Snapshot) else [event]
            for item in items:
                if isinstance(item, Order) and item.id is not None:
                    self.orders[item.id] = item
                elif isinstance(item, Wallet):
                    self.wallets[(item.type, item.currency)] = item
                elif isinstance(item, Position):
                    self.positions[item.symbol] = item
                elif isinstance(item, BalanceUpdate):
                    notes.append(f"balance {item.currency} {_fmt(item.delta, '+g')}")
                elif isinstance(item, Fill):
                    self.fills.setdefault(item.order_id, []).append(item)
                    if item.kind != "tu":
                        notes.append(f"fill: order {item.order_id} {_fmt(item.amount, '+g')} "
                                     f"@ {_fmt(item.price)}")
                elif isinstance(item, Notification):
                    self.notifications.append(item)
                    notes.append(f"notification {item.type} {item.status}: {item.text}")
            self.cond.notify_all()
        for text in notes:
            self.note(text)

    # The Bitfinex name of on_account, kept for code written against it.
    on_auth = on_account

    def on_event(self, event: Any) -> None:
        from .models import ConnectionState
        if isinstance(event, ConnectionState):
            if self.stopping:
                return  # our own stop() closing the connections: not news
            with self.cond:
                self.conn_states.add((event.connection, event.state))
                if event.state == "reconnected":
                    self.reconnects += 1
                if event.state in ("connected", "reconnected"):
                    self.connected = True
                self.cond.notify_all()
            reason = f" ({event.reason})" if event.reason else ""
            self.note(f"{event.connection}: {event.state}{reason}")

    def on_error(self, error: BaseException) -> None:
        with self.cond:
            self.errors.append(error)
            self.cond.notify_all()
        self.note(f"error: {type(error).__name__}: {error}")


# -- venues: what differs between exchanges -------------------------------------------------------
class _Venue:
    """One exchange as the demo sees it: its client calls, and nothing else.

    Attributes:
        symbol: the pair the demo watches and trades.
        where: how the summary and the live view name the server.
        channels: the message counters the summary lists, in order.
        account_channel: the counter of account events (None: no account).
        book_title, wallets_title: panel titles of the live view.
    """

    symbol = ""
    where = ""
    channels: Sequence[str] = ()
    account_channel: Optional[str] = None
    book_title = "book, top 5"
    wallets_title = "wallets"

    def __init__(self, args: argparse.Namespace, state: DemoState) -> None:
        self.args = args
        self.state = state
        self.sandbox: Any = None
        self.client: Any = None

    @property
    def trades(self) -> bool:
        """Whether the flow places orders (False: public channels only)."""
        return self.account_channel is not None

    def start(self) -> None:
        """Start the sandbox (if any) and the client, subscribed to everything shown."""
        raise NotImplementedError

    def stop(self) -> None:
        if self.client is not None:
            self.client.stop()
        if self.sandbox is not None:
            self.sandbox.stop()

    def top(self) -> Any:
        """The client's maintained book, top 5 levels a side as ``(price, size)``; raises
        :class:`~exchange_wss.errors.ExchangeWssError` while there is none."""
        raise NotImplementedError

    def account_ready(self) -> bool:
        """Called under ``state.cond``: may orders be placed (their events will arrive)?"""
        return True

    def order_prices(self, best_bid: float, best_ask: float) -> tuple:
        """``(resting, marketable)`` buy prices the exchange accepts."""
        raise NotImplementedError

    def submit(self, price: Any) -> tuple:
        """Send a buy of :data:`DEMO_AMOUNT` at ``price``: ``(Future of Order, reference)``."""
        raise NotImplementedError

    def executed(self, order_id: Any) -> bool:
        """Called under ``state.cond``: has the order (partly) filled?"""
        raise NotImplementedError

    def cancel(self, order: Any) -> None:
        """Ask for ``order`` to be cancelled; the outcome comes through :meth:`cancel_outcome`."""
        raise NotImplementedError

    def cancel_outcome(self, order_id: Any) -> Optional[str]:
        """Called under ``state.cond``: ``"CANCELED"``, the exchange's refusal, or None (waiting)."""
        raise NotImplementedError


class _BitfinexVenue(_Venue):
    """Bitfinex v2: an in-process :class:`~exchange_wss.sandbox.BitfinexSandbox`, or the
    real exchange's public channels with ``--live``."""

    wallets_title = "wallets"
    book_title = "book P0, top 5"

    def __init__(self, args: argparse.Namespace, state: DemoState) -> None:
        super().__init__(args, state)
        self.symbol = DEMO_SYMBOL  # read now, not at import: tests patch it
        self.where = "the real Bitfinex" if args.live else "the in-process sandbox"
        self.account_channel = None if args.live else "auth"
        self.channels = ["ticker", "trades", "book", "candles"] + ([] if args.live else ["auth"])

    def start(self) -> None:
        from . import WssClient
        state = self.state
        options = dict(on_event=state.on_event, on_error=state.on_error,
                       reconnect_delay=0.5, max_reconnect_delay=5.0)
        if self.args.live:
            state.note("connecting to the real Bitfinex (public channels only)")
            self.client = WssClient(**options)
        else:
            from .sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox
            self.sandbox = BitfinexSandbox(host="127.0.0.1", port=0, seed=self.args.seed).start()
            state.note(f"sandbox listening on {self.sandbox.url}")
            self.client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=self.sandbox.url, **options)
        client = self.client
        client.subscribe_to_ticker(self.symbol, state.on_ticker)
        client.subscribe_to_trades(self.symbol, state.on_trades)
        client.subscribe_to_orderbook(self.symbol, "P0", state.on_book)
        client.subscribe_to_candles(self.symbol, "1m", state.on_candles)
        if not self.args.live:
            client.authenticate(state.on_account)
        client.start()

    def top(self) -> Any:
        snap = self.client.order_book(self.symbol, "P0")
        # P0 levels are (price, count, amount), asks with negative amounts.
        return ([(p, a) for p, _c, a in snap.bids[:5]],
                [(p, abs(a)) for p, _c, a in snap.asks[:5]])

    def order_prices(self, best_bid: float, best_ask: float) -> tuple:
        # Well below the best bid (it rests), above the best ask (it fills at once).
        return _price(best_bid * 0.95), _price(best_ask * 1.01)

    def submit(self, price: Any) -> tuple:
        future = self.client.submit_order("EXCHANGE LIMIT", self.symbol, DEMO_AMOUNT, price=price)
        return future, f"cid {future.cid}"

    def executed(self, order_id: Any) -> bool:
        # A fill event or an EXECUTED status, whichever comes first.
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and "EXECUTED" in (order.status or "")

    def cancel(self, order: Any) -> None:
        self.client.cancel_order(order.id)

    def cancel_outcome(self, order_id: Any) -> Optional[str]:
        order = self.state.orders.get(order_id)
        if order is not None and "CANCELED" in (order.status or ""):
            return "CANCELED"
        # Bitfinex refuses a cancel with an oc-req error notification.
        for note in self.state.notifications:
            data = note.data
            if (note.type == "oc-req" and not note.ok
                    and getattr(data, "id", None) in (order_id, None)):
                return note.text or note.status or "refused"
        return None


class _BinanceVenue(_Venue):
    """Binance: an in-process :class:`~exchange_wss.sandbox.BinanceSandbox` (``--market``
    spot or usdm) and a :class:`~exchange_wss.BinanceWssClient` with user data."""

    account_channel = "user"
    channels = ("ticker", "trades", "book_ticker", "book", "user")
    book_title = "book (REST snapshot + diffs), top 5"
    wallets_title = "balances"

    def __init__(self, args: argparse.Namespace, state: DemoState) -> None:
        super().__init__(args, state)
        self.symbol = BINANCE_SYMBOL
        self.market = args.market or "spot"
        self.where = f"the in-process Binance sandbox ({self.market})"
        self._cancel_errors: Dict[Any, str] = {}
        self._statuses: Dict[Any, str] = {}
        self._orders_sent = 0

    def start(self) -> None:
        from .binance.client import BinanceWssClient
        from .sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, BinanceSandbox
        state = self.state
        self.sandbox = BinanceSandbox(host="127.0.0.1", port=0, market=self.market,
                                      seed=self.args.seed).start()
        state.note(f"Binance {self.market} sandbox: REST {self.sandbox.rest_url}, "
                   f"streams {self.sandbox.stream_url}, API {self.sandbox.api_url}")
        self.client = client = BinanceWssClient(
            DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market=self.market,
            rest_url=self.sandbox.rest_url, stream_url=self.sandbox.stream_url,
            api_url=self.sandbox.api_url, on_event=state.on_event, on_error=state.on_error,
            reconnect_delay=0.5, max_reconnect_delay=5.0)
        client.subscribe_to_ticker(self.symbol, state.on_ticker)
        client.subscribe_to_trades(self.symbol, state.on_trades)
        client.subscribe_to_book_ticker(self.symbol, state.on_book_ticker)
        # 100 levels: a valid snapshot limit on every market, and plenty for a top 5.
        client.subscribe_to_orderbook(self.symbol, state.on_book, limit=100)
        client.subscribe_to_user_data(self._on_user)
        client.start()

    def _on_user(self, event: Any) -> None:
        from .models import Order
        self.state.on_account(event, "user")
        # Binance sends no notifications: say what happened to our orders from their updates.
        if isinstance(event, Order) and event.id is not None:
            if self._statuses.get(event.id) != event.status:
                self._statuses[event.id] = event.status
                self.state.note(f"order {event.id}: {event.status}")

    def top(self) -> Any:
        snap = self.client.order_book(self.symbol)
        return snap.bids[:5], snap.asks[:5]

    def account_ready(self) -> bool:
        # Orders placed before the user-data stream is up would lose their first events:
        # Spot subscribes on the WebSocket API, futures open a listenKey stream.
        seen = self.state.conn_states
        if self.market == "spot":
            return ("api", "user data subscribed") in seen
        return ("user", "connected") in seen or ("user", "reconnected") in seen

    def order_prices(self, best_bid: float, best_ask: float) -> tuple:
        # Prices must sit on the tick grid (PRICE_FILTER): take them from the sandbox's
        # own book, as text, rather than computing them. The deepest bid of 100 levels
        # rests; the 20th ask is above the best ask, so that buy fills at once.
        bids = self.sandbox.book(self.symbol, limit=100)["bids"]
        asks = self.sandbox.book(self.symbol, limit=20)["asks"]
        if not bids or not asks:
            raise DemoFailure(f"the sandbox's {self.symbol} book has an empty side")
        return bids[-1][0], asks[-1][0]

    def submit(self, price: Any) -> tuple:
        # Our own client order id, so the order can be named before Binance answers.
        self._orders_sent += 1
        client_id = f"exwss-demo-{int(time.time() * 1000)}-{self._orders_sent}"
        future = self.client.submit_order(self.symbol, "BUY", "LIMIT", DEMO_AMOUNT, price,
                                          time_in_force="GTC", client_order_id=client_id)
        return future, f"client id {client_id}"

    def executed(self, order_id: Any) -> bool:
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and order.status in ("FILLED", "PARTIALLY_FILLED")

    def cancel(self, order: Any) -> None:
        future = self.client.cancel_order(self.symbol, order_id=order.id)
        state = self.state

        def done(f: Any) -> None:
            # The answer settles the outcome even if the user-data update is slow.
            error = f.exception()
            with state.cond:
                if error is not None:
                    self._cancel_errors[order.id] = f"{type(error).__name__}: {error}"
                else:
                    result = f.result()
                    if result is not None and result.status == "CANCELED":
                        state.orders[order.id] = result
                state.cond.notify_all()

        future.add_done_callback(done)

    def cancel_outcome(self, order_id: Any) -> Optional[str]:
        order = self.state.orders.get(order_id)
        if order is not None and order.status == "CANCELED":
            return "CANCELED"
        return self._cancel_errors.get(order_id)


class _FtxVenue(_Venue):
    """The FTX protocol: an in-process :class:`~exchange_wss.sandbox.FtxSandbox` and a
    :class:`~exchange_wss.FtxWssClient` logged in to fills and orders. FTX took orders over
    REST, not the socket, so the demo places them through the sandbox's stand-in for it."""

    account_channel = "account"
    channels = ("ticker", "trades", "book", "account")
    book_title = "orderbook (checksummed), top 5"
    wallets_title = "wallets"

    def __init__(self, args: argparse.Namespace, state: DemoState) -> None:
        super().__init__(args, state)
        self.symbol = FTX_SYMBOL
        self.where = "the in-process FTX-protocol sandbox"
        self._subscribed: set = set()
        self._pending: Dict[str, Any] = {}
        self._orders_sent = 0

    def start(self) -> None:
        from .ftx.client import FtxWssClient
        from .sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, FtxSandbox
        state = self.state
        self.key = DEFAULT_FTX_KEY
        self.sandbox = FtxSandbox(host="127.0.0.1", port=0, seed=self.args.seed).start()
        state.note(f"FTX sandbox listening on {self.sandbox.url}")
        self.client = client = FtxWssClient(
            DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, url=self.sandbox.url, on_event=self._on_event,
            on_error=state.on_error, reconnect_delay=0.5, max_reconnect_delay=5.0)
        client.subscribe_to_ticker(self.symbol, state.on_ticker)
        client.subscribe_to_trades(self.symbol, state.on_trades)
        client.subscribe_to_orderbook(self.symbol, state.on_book)
        client.subscribe_to_fills(self._on_account)
        client.subscribe_to_orders(self._on_account)
        client.start()

    def _on_event(self, event: Any) -> None:
        if type(event).__name__ == "SubscriptionChanged" and event.state == "active":
            with self.state.cond:
                self._subscribed.add(event.label.partition(":")[0])
                self.state.cond.notify_all()
        self.state.on_event(event)

    def _on_account(self, event: Any) -> None:
        from .models import Order
        self.state.on_account(event, "account")
        if isinstance(event, Order):
            future = self._pending.pop(event.cid, None)
            if future is not None and not future.done():
                future.set_result(event)

    def top(self) -> Any:
        snap = self.client.order_book(self.symbol)
        return snap.bids[:5], snap.asks[:5]

    def account_ready(self) -> bool:
        return {"fills", "orders"} <= self._subscribed

    def order_prices(self, best_bid: float, best_ask: float) -> tuple:
        book = self.sandbox.book(self.symbol, 20)
        if not book["bids"] or not book["asks"]:
            raise DemoFailure(f"the sandbox's {self.symbol} book has an empty side")
        return book["bids"][-1][0], book["asks"][4][0]

    def submit(self, price: Any) -> tuple:
        from concurrent.futures import Future
        self._orders_sent += 1
        client_id = f"exwss-demo-{int(time.time() * 1000)}-{self._orders_sent}"
        future: Future = Future()
        self._pending[client_id] = future  # settled by the order's first update
        try:
            self.sandbox.place_order(self.key, self.symbol, "buy", float(price),
                                     float(DEMO_AMOUNT), client_id=client_id)
        except ValueError as exc:  # the sandbox refused it, as FTX's REST would
            self._pending.pop(client_id, None)
            future.set_exception(exc)
        return future, f"client id {client_id}"

    def executed(self, order_id: Any) -> bool:
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and bool(order.filled)

    def cancel(self, order: Any) -> None:
        if not self.sandbox.cancel_order(self.key, order.id):
            self.state.note(f"order {order.id}: cancel refused (not open)")

    def cancel_outcome(self, order_id: Any) -> Optional[str]:
        # FTX has one end state, "closed"; closed with nothing filled is a cancel.
        order = self.state.orders.get(order_id)
        if order is not None and order.status == "closed":
            return "CANCELED" if not order.filled else f"closed after filling {order.filled}"
        return None


#: The demo's venues, by ``--exchange`` name.
_VENUES = {"bitfinex": _BitfinexVenue, "binance": _BinanceVenue, "ftx": _FtxVenue}


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the scripted demo; see the module docstring."""
    exchange = args.exchange.strip().lower()
    if exchange not in _VENUES:
        print(f"exchange-wss demo: unknown exchange {args.exchange!r}; "
              f"supported: {', '.join(_VENUES)}", file=sys.stderr)
        return EXIT_USAGE
    if args.duration <= 0:
        print("exchange-wss demo: --duration must be positive", file=sys.stderr)
        return EXIT_USAGE
    if exchange != "binance" and args.market is not None:
        print("exchange-wss demo: --market applies to --exchange binance only", file=sys.stderr)
        return EXIT_USAGE
    if exchange != "bitfinex" and args.live:
        print("exchange-wss demo: --live is available for --exchange bitfinex only",
              file=sys.stderr)
        return EXIT_USAGE

    use_ui = not args.no_ui and sys.stdout.isatty()
    state = DemoState()
    if not use_ui:
        printing = threading.Lock()

        def print_line(line: str) -> None:
            # Lines come from the reactor thread and the main thread: one at a time,
            # or print()'s separate writes of text and newline interleave.
            with printing:
                print(line, flush=True)

        state.listeners.append(print_line)
    restore_logging = _configure_logging(state, use_ui)
    try:
        return _Demo(args, state, use_ui, _VENUES[exchange](args, state)).run()
    finally:
        restore_logging()


def _configure_logging(state: DemoState, use_ui: bool) -> Callable[[], None]:
    """Route the library's warnings to the event log (live view) or stderr (plain).

    Returns:
        A function undoing it (``main()`` may run more than once in a process).
    """
    logger = logging.getLogger("exchange_wss")
    propagate = logger.propagate
    if use_ui:
        class ToEventLog(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                state.note(f"{record.levelname.lower()}: {record.getMessage()}")
        handler: logging.Handler = ToEventLog(logging.WARNING)
        # Without this, warnings would also reach stderr and tear the live view.
        logger.propagate = False
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.propagate = propagate

    return restore


class _Demo:
    """One run of ``exchange-wss demo``: set up, scripted flow, live view, summary.
    Exchange-agnostic: every client call goes through ``venue``."""

    def __init__(self, args: argparse.Namespace, state: DemoState, use_ui: bool,
                 venue: Optional[_Venue] = None) -> None:
        self.args = args
        self.state = state
        self.use_ui = use_ui
        self.venue = venue if venue is not None else _BitfinexVenue(args, state)
        self.where = self.venue.where

    @property
    def client(self) -> Any:
        return self.venue.client

    @property
    def sandbox(self) -> Any:
        return self.venue.sandbox

    def run(self) -> int:
        deadline = time.monotonic() + self.args.duration
        failure: Optional[str] = None
        status = EXIT_OK
        live = None
        try:
            self.venue.start()
            if self.use_ui:
                live = self._start_live_view()
            try:
                self._flow(deadline)
            except DemoFailure as exc:
                failure = str(exc)
            if failure is None:
                self._watch(deadline)
        except KeyboardInterrupt:
            failure, status = "interrupted", EXIT_INTERRUPTED
        except Exception as exc:  # report, don't dump a traceback on the user
            logging.getLogger("exchange_wss.cli").debug("demo failed", exc_info=True)
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            if live is not None:
                self._refresh_top()
                live.stop()
            self._stop()
        if failure is not None and status == EXIT_OK:
            status = EXIT_FAILED
        self._print_summary(failure)
        return status

    def _stop(self) -> None:
        self.state.stopping = True
        self.venue.stop()

    # -- the scripted flow ------------------------------------------------------------------
    def _flow(self, deadline: float) -> None:
        state, venue, symbol = self.state, self.venue, self.venue.symbol
        duration = self.args.duration
        if not state.wait(lambda: state.ticker is not None, deadline):
            hint = "" if state.connected else " (no connection could be opened: check the network)"
            raise DemoFailure(f"no {symbol} ticker arrived within {duration:g}s "
                              f"from {self.where}{hint}")
        if not state.wait(lambda: state.book_ready, deadline):
            raise DemoFailure(f"no {symbol} order book arrived within {duration:g}s")
        best_bid, best_ask = self._best_prices(deadline)
        state.note(f"book ready: best bid {best_bid:g}, best ask {best_ask:g}")
        if not venue.trades:
            return  # public part only: no account, no orders
        if not state.wait(venue.account_ready, deadline):
            raise DemoFailure(f"the account stream was not ready within {duration:g}s")

        resting_price, taker_price = venue.order_prices(best_bid, best_ask)
        # 1. A buy below the best bid: it rests on the book.
        resting = self._place("resting buy", resting_price, deadline)
        # 2. A buy above the best ask: marketable, it fills at once.
        taker = self._place("marketable buy", taker_price, deadline)
        if not state.wait(lambda: venue.executed(taker.id), deadline):
            raise DemoFailure(f"order {taker.id} (buy at {_fmt(taker.price)}, above the best ask) "
                              f"was not filled within {duration:g}s")
        with state.cond:
            state.filled += 1
        state.note(f"order {taker.id} filled")
        # 3. Cancel the resting one.
        venue.cancel(resting)
        result = state.wait(lambda: venue.cancel_outcome(resting.id), deadline)
        if not result:
            raise DemoFailure(f"order {resting.id} was not cancelled within {duration:g}s")
        if result != "CANCELED":
            raise DemoFailure(f"cancel of order {resting.id} refused: {result}")
        with state.cond:
            state.cancelled += 1
        state.note(f"order {resting.id} cancelled")
        state.note("scripted flow complete")

    def _best_prices(self, deadline: float) -> tuple:
        """Best bid and ask of the client's maintained book, waiting for both sides."""
        state = self.state
        while True:
            top = self._refresh_top()
            if top is not None and top[0] and top[1]:
                return top[0][0][0], top[1][0][0]
            if time.monotonic() >= deadline:
                raise DemoFailure(f"the {self.venue.symbol} book has an empty side")
            with state.cond:  # wait for the next book message, not a fixed sleep
                seen = state.counts["book"]
                state.cond.wait_for(lambda: state.counts["book"] != seen,
                                    max(0.0, deadline - time.monotonic()))

    def _place(self, what: str, price: Any, deadline: float) -> Any:
        from .errors import ExchangeWssError
        state, symbol = self.state, self.venue.symbol
        # Noted before the call: the exchange's answer and events may beat the return.
        state.note(f"submitting {what}: {DEMO_AMOUNT:g} {symbol} @ {_fmt(_number(price))}")
        future, ref = self.venue.submit(price)
        with state.cond:
            state.placed += 1
        try:
            order = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise DemoFailure(f"{what} ({ref}) was not acknowledged within "
                              f"{self.args.duration:g}s") from None
        except ExchangeWssError as exc:
            raise DemoFailure(f"{what} ({ref}) failed: {type(exc).__name__}: {exc}") from exc
        state.record_order(order)
        state.note(f"{what} accepted: order {order.id} ({ref}), status {order.status}")
        return order

    # -- after the flow ------------------------------------------------------------------------
    def _watch(self, deadline: float) -> None:
        """Keep streaming until the duration is over (plain mode: a status line every 5 s)."""
        next_status = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if self.use_ui:
                self._refresh_top()
                time.sleep(min(0.25, deadline - now))
                continue
            if now >= next_status:
                self._print_status()
                next_status = now + 5.0
            time.sleep(min(next_status, deadline) - now)

    def _print_status(self) -> None:
        state = self.state
        with state.cond:
            ticker, bbo, counts = state.ticker, state.book_ticker, dict(state.counts)
        if ticker is not None:
            total = sum(counts.values())
            bid, ask = _best(ticker, bbo)
            state.note(f"{ticker.symbol} bid {_fmt(bid)} ask {_fmt(ask)} "
                       f"last {_fmt(ticker.last_price)}; {total} messages so far")

    def _refresh_top(self) -> Any:
        """Copy the top 5 levels of the client's maintained book into the state."""
        from .errors import ExchangeWssError
        try:
            top = self.venue.top()
        except (ExchangeWssError, TimeoutError):
            return None  # not subscribed yet, or the client is going away
        with self.state.cond:
            self.state.top = top
        return top

    def _print_summary(self, failure: Optional[str]) -> None:
        state = self.state
        with state.cond:
            counts = dict(state.counts)
            errors = list(state.errors)
            elapsed = state.elapsed()
            placed, filled, cancelled = state.placed, state.filled, state.cancelled
            reconnects = state.reconnects
        lines = [
            f"Summary ({self.where}, {elapsed:.1f}s):",
            "  messages: " + ", ".join(f"{name} {counts.get(name, 0)}"
                                       for name in self.venue.channels),
        ]
        if self.venue.trades:
            lines.append(f"  orders: placed {placed}, filled {filled}, cancelled {cancelled}")
        lines.append(f"  reconnects: {reconnects}")
        lines.append(f"  errors: {len(errors)}")
        for err in errors[:5]:
            lines.append(f"    {type(err).__name__}: {err}")
        if failure is None:
            lines.append("Demo OK")
        else:
            lines.append(f"Demo FAILED: {failure}")
        if failure is not None:
            print("\n".join(lines[:-1]), flush=True)
            print(lines[-1], file=sys.stderr, flush=True)
        else:
            print("\n".join(lines), flush=True)

    # -- the live view ---------------------------------------------------------------------------
    def _start_live_view(self) -> Any:
        from rich.live import Live
        live = Live(_DemoView(self), refresh_per_second=4, transient=False)
        live.start()
        return live


def _fmt(value: Any, spec: str = "g") -> str:
    """Format a number for display; tolerate the ``None`` of a field the exchange left out."""
    if value is None:
        return "-"
    try:
        return format(value, spec)
    except (TypeError, ValueError):
        return str(value)


def _number(value: Any) -> Any:
    """A price as a float for display (Binance prices are decimal text); else as given."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _best(ticker: Any, book_ticker: Any) -> tuple:
    """Best bid and ask: the ticker's, or the book ticker's where the ticker has none
    (Binance futures tickers carry no bid/ask)."""
    bid = ticker.bid if ticker is not None else None
    ask = ticker.ask if ticker is not None else None
    if book_ticker is not None:
        bid = book_ticker.bid if bid is None else bid
        ask = book_ticker.ask if ask is None else ask
    return bid, ask


def _price(value: float) -> float:
    """Round to 5 significant digits, the precision Bitfinex accepts for prices."""
    return float(f"{value:.5g}")


class _DemoView:
    """The live view: a rich renderable rebuilt from :class:`DemoState` at each refresh."""

    def __init__(self, demo: _Demo) -> None:
        self.demo = demo

    def __rich__(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        demo, state, venue = self.demo, self.demo.state, self.demo.venue
        with state.cond:
            ticker, bbo, candle, top = state.ticker, state.book_ticker, state.candle, state.top
            trades = list(state.trades)[::-1]
            orders = sorted(state.orders.values(), key=lambda o: o.id or 0, reverse=True)[:6]
            wallets = sorted(state.wallets.values(), key=lambda w: (w.type, w.currency))
            positions = sorted(state.positions.values(), key=lambda p: p.symbol)
            log_lines = list(state.log)
            counts = dict(state.counts)
            reconnects, n_errors = state.reconnects, len(state.errors)
        elapsed = state.elapsed()

        ticker_t = Table.grid(padding=(0, 1))
        ticker_t.add_column(style="bold")
        ticker_t.add_column(justify="right")
        if ticker is not None:
            bid, ask = _best(ticker, bbo)
            for name, value in (("bid", bid), ("ask", ask),
                                ("last", ticker.last_price), ("high", ticker.high),
                                ("low", ticker.low), ("volume", ticker.volume),
                                ("change", _fmt(ticker.daily_change_relative, "+.2%"))):
                ticker_t.add_row(name, value if isinstance(value, str) else _fmt(value))
        if bbo is not None:
            ticker_t.add_row("book ticker", f"{_fmt(bbo.bid)} / {_fmt(bbo.ask)}")
        if candle is not None:
            ticker_t.add_row("1m close", _fmt(candle.close))
        ticker_t.add_row("reconnects", str(reconnects))
        ticker_t.add_row("errors", str(n_errors))

        book_t = Table(box=None, padding=(0, 1), show_edge=False)
        for name in ("bid size", "bid", "ask", "ask size"):
            book_t.add_column(name, justify="right")
        if top is not None:
            bids, asks = top
            for i in range(max(len(bids), len(asks))):
                bid = bids[i] if i < len(bids) else None
                ask = asks[i] if i < len(asks) else None
                book_t.add_row(_fmt(bid[1]) if bid else "",
                               f"[green]{_fmt(bid[0])}[/]" if bid else "",
                               f"[red]{_fmt(ask[0])}[/]" if ask else "",
                               _fmt(ask[1]) if ask else "")

        trades_t = Table(box=None, padding=(0, 1), show_edge=False)
        trades_t.add_column("price", justify="right")
        trades_t.add_column("amount", justify="right")
        for trade in trades:
            colour = "green" if (trade.amount or 0) > 0 else "red"
            trades_t.add_row(f"[{colour}]{_fmt(trade.price)}[/]", _fmt(trade.amount, "+g"))

        orders_t = Table(box=None, padding=(0, 1), show_edge=False)
        for name in ("id", "type", "amount", "price", "status"):
            orders_t.add_column(name)
        for order in orders:
            orders_t.add_row(str(order.id), order.type or "", _fmt(order.amount_orig, "+g"),
                             _fmt(order.price), order.status or "")

        wallets_t = Table(box=None, padding=(0, 1), show_edge=False)
        for name in ("wallet", "currency", "balance"):
            wallets_t.add_column(name, justify="right" if name == "balance" else "left")
        for wallet in wallets:
            wallets_t.add_row(wallet.type, wallet.currency, _fmt(wallet.balance))
        for position in positions:
            wallets_t.add_row("position", position.symbol, _fmt(position.amount, "+g"))

        top_row = Table.grid(expand=True)
        for _ in range(3):
            top_row.add_column(ratio=1)
        top_row.add_row(Panel(ticker_t, title=f"ticker {venue.symbol}"),
                        Panel(book_t, title=venue.book_title),
                        Panel(trades_t, title="last trades"))
        account_row = Table.grid(expand=True)
        account_row.add_column(ratio=2)
        account_row.add_column(ratio=1)
        account_row.add_row(Panel(orders_t, title="my orders"),
                            Panel(wallets_t, title=venue.wallets_title))
        msgs = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        header = (f"[bold]exchange-wss demo[/] against {demo.where}  "
                  f"{elapsed:4.1f}/{demo.args.duration:g}s  messages: {msgs}")
        parts = [header, top_row]
        if venue.trades:
            parts.append(account_row)
        parts.append(Panel("\n".join(log_lines) or "…", title="events"))
        return Group(*parts)

"""The ``exchange-wss`` command: run the sandbox exchange, or a scripted demo against it.

``exchange-wss sandbox`` serves the bundled Bitfinex v2 sandbox until Ctrl-C.
``exchange-wss demo`` starts a sandbox in-process, streams ticker, trades, a
maintained book and candles, authenticates, places an order that rests, one
that fills, cancels the resting one, and shows it all live (``rich``) or as
plain lines when stdout is not a terminal. ``python -m exchange_wss`` is the
same command.

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
#: Size of each demo order, in BTC.
DEMO_AMOUNT = 0.01
_EXCHANGES_LATER = ("binance", "ftx")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# -- argument parsing ------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Return the ``exchange-wss`` argument parser (subcommands ``sandbox`` and ``demo``)."""
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
                          description="Start a sandbox exchange in-process and run a WssClient "
                                      "against it: ticker, trades, book and candles for "
                                      f"{DEMO_SYMBOL}, then an order that rests, one that "
                                      "fills, and a cancel.")
    demo.add_argument("--duration", type=float, default=20.0,
                      help="seconds to run (default %(default)s); the scripted flow must "
                           "finish within it")
    demo.add_argument("--live", action="store_true",
                      help="public channels only, against the real Bitfinex "
                           "(no sandbox, no orders)")
    demo.add_argument("--no-ui", action="store_true",
                      help="print plain progress lines instead of the live view (automatic when "
                           "stdout is not a terminal)")
    demo.add_argument("--seed", type=int, default=1,
                      help="seed of the sandbox market (default %(default)s)")
    demo.add_argument("--exchange", default="bitfinex",
                      help="exchange to demo: bitfinex (default); binance and ftx are "
                           "not available yet")
    demo.set_defaults(func=cmd_demo)
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
        self.candle: Any = None
        self.book_ready = False
        self.top: Any = None  # (bids, asks), 5 levels each, refreshed by the main loop
        self.trades: deque = deque(maxlen=8)
        self.orders: Dict[int, Any] = {}
        self.fills: Dict[int, List[Any]] = {}
        self.wallets: Dict[tuple, Any] = {}
        self.notifications: List[Any] = []
        self.log: deque = deque(maxlen=12)
        self.errors: List[BaseException] = []
        self.reconnects = 0
        self.placed = self.filled = self.cancelled = 0
        self.listeners: List[Callable[[str], None]] = []
        self.stopping = False
        self.connected = False  # any connection opened at least once

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

    def on_trades(self, event: Any) -> None:
        from .models import Trade, TradesSnapshot
        with self.cond:
            self.counts["trades"] += 1
            if isinstance(event, TradesSnapshot):
                self.trades.extend(t for t in event.trades if isinstance(t, Trade))
            elif isinstance(event, Trade) and event.kind != "tu":  # tu repeats a te
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

    def on_auth(self, event: Any) -> None:
        from .models import Fill, Notification, Order, Snapshot, Wallet
        notes = []
        with self.cond:
            self.counts["auth"] += 1
            items = event.items if isinstance(event, Snapshot) else [event]
            for item in items:
                if isinstance(item, Order) and item.id is not None:
                    self.orders[item.id] = item
                elif isinstance(item, Wallet):
                    self.wallets[(item.type, item.currency)] = item
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

    def on_event(self, event: Any) -> None:
        from .models import ConnectionState
        if isinstance(event, ConnectionState):
            if self.stopping:
                return  # our own stop() closing the connections: not news
            with self.cond:
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


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the scripted demo; see the module docstring."""
    exchange = args.exchange.strip().lower()
    if exchange in _EXCHANGES_LATER:
        print(f"exchange-wss demo: --exchange {exchange} is not available yet; "
              "only bitfinex is supported for now", file=sys.stderr)
        return EXIT_USAGE
    if exchange != "bitfinex":
        print(f"exchange-wss demo: unknown exchange {args.exchange!r}; only bitfinex is supported",
              file=sys.stderr)
        return EXIT_USAGE
    if args.duration <= 0:
        print("exchange-wss demo: --duration must be positive", file=sys.stderr)
        return EXIT_USAGE

    use_ui = not args.no_ui and sys.stdout.isatty()
    state = DemoState()
    if not use_ui:
        state.listeners.append(lambda line: print(line, flush=True))
    restore_logging = _configure_logging(state, use_ui)
    try:
        return _Demo(args, state, use_ui).run()
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
    """One run of ``exchange-wss demo``: set up, scripted flow, live view, summary."""

    def __init__(self, args: argparse.Namespace, state: DemoState, use_ui: bool) -> None:
        self.args = args
        self.state = state
        self.use_ui = use_ui
        self.sandbox: Any = None
        self.client: Any = None
        self.where = "the real Bitfinex" if args.live else "the in-process sandbox"

    def run(self) -> int:
        deadline = time.monotonic() + self.args.duration
        failure: Optional[str] = None
        status = EXIT_OK
        live = None
        try:
            self._start()
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

    # -- setup and teardown ---------------------------------------------------------------
    def _start(self) -> None:
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
        client.subscribe_to_ticker(DEMO_SYMBOL, state.on_ticker)
        client.subscribe_to_trades(DEMO_SYMBOL, state.on_trades)
        client.subscribe_to_orderbook(DEMO_SYMBOL, "P0", state.on_book)
        client.subscribe_to_candles(DEMO_SYMBOL, "1m", state.on_candles)
        if not self.args.live:
            client.authenticate(state.on_auth)
        client.start()

    def _stop(self) -> None:
        self.state.stopping = True
        if self.client is not None:
            self.client.stop()
        if self.sandbox is not None:
            self.sandbox.stop()

    # -- the scripted flow ------------------------------------------------------------------
    def _flow(self, deadline: float) -> None:
        state = self.state
        duration = self.args.duration
        if not state.wait(lambda: state.ticker is not None, deadline):
            hint = "" if state.connected else " (no connection could be opened: check the network)"
            raise DemoFailure(f"no {DEMO_SYMBOL} ticker arrived within {duration:g}s "
                              f"from {self.where}{hint}")
        if not state.wait(lambda: state.book_ready, deadline):
            raise DemoFailure(f"no {DEMO_SYMBOL} order book arrived within {duration:g}s")
        best_bid, best_ask = self._best_prices(deadline)
        state.note(f"book ready: best bid {best_bid:g}, best ask {best_ask:g}")
        if self.args.live:
            return  # public part only: no account, no orders

        # 1. A buy well below the best bid: it rests on the book.
        resting = self._place("resting buy", _price(best_bid * 0.95), deadline)
        # 2. A buy above the best ask: marketable, it fills at once.
        taker = self._place("marketable buy", _price(best_ask * 1.01), deadline)
        if not state.wait(lambda: self._executed(taker.id), deadline):
            raise DemoFailure(f"order {taker.id} (buy at {_fmt(taker.price)}, above the best ask) "
                              f"was not filled within {duration:g}s")
        with state.cond:
            state.filled += 1
        state.note(f"order {taker.id} filled")
        # 3. Cancel the resting one.
        self.client.cancel_order(resting.id)
        result = state.wait(lambda: self._cancel_outcome(resting.id), deadline)
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
                raise DemoFailure(f"the {DEMO_SYMBOL} book has an empty side")
            with state.cond:  # wait for the next book message, not a fixed sleep
                seen = state.counts["book"]
                state.cond.wait_for(lambda: state.counts["book"] != seen,
                                    max(0.0, deadline - time.monotonic()))

    def _place(self, what: str, price: float, deadline: float) -> Any:
        from .errors import ExchangeWssError
        state = self.state
        future = self.client.submit_order("EXCHANGE LIMIT", DEMO_SYMBOL, DEMO_AMOUNT, price=price)
        with state.cond:
            state.placed += 1
        state.note(f"submitted {what}: {DEMO_AMOUNT:g} {DEMO_SYMBOL} @ {price:g} "
                   f"(cid {future.cid})")
        try:
            order = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            raise DemoFailure(f"{what} (cid {future.cid}) was not acknowledged within "
                              f"{self.args.duration:g}s") from None
        except ExchangeWssError as exc:
            raise DemoFailure(f"{what} (cid {future.cid}) failed: "
                              f"{type(exc).__name__}: {exc}") from exc
        state.note(f"{what} accepted: order {order.id}, status {order.status}")
        return order

    def _executed(self, order_id: int) -> bool:
        # Called under state.cond. A fill event or an EXECUTED status, whichever comes first.
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and "EXECUTED" in (order.status or "")

    def _cancel_outcome(self, order_id: int) -> Optional[str]:
        # Called under state.cond: "CANCELED", the exchange's refusal text, or None (waiting).
        order = self.state.orders.get(order_id)
        if order is not None and "CANCELED" in (order.status or ""):
            return "CANCELED"
        for note in self.state.notifications:
            data = note.data
            if (note.type == "oc-req" and not note.ok
                    and getattr(data, "id", None) in (order_id, None)):
                return note.text or note.status or "refused"
        return None

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
            ticker, counts = state.ticker, dict(state.counts)
        if ticker is not None:
            total = sum(counts.values())
            state.note(f"{ticker.symbol} bid {_fmt(ticker.bid)} ask {_fmt(ticker.ask)} "
                       f"last {_fmt(ticker.last_price)}; {total} messages so far")

    def _refresh_top(self) -> Any:
        """Copy the top 5 levels of the client's maintained book into the state."""
        from .errors import ExchangeWssError
        try:
            snap = self.client.order_book(DEMO_SYMBOL, "P0")
        except (ExchangeWssError, TimeoutError):
            return None  # not subscribed yet, or the client is going away
        top = (snap.bids[:5], snap.asks[:5])
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
        channels = ["ticker", "trades", "book", "candles"] + ([] if self.args.live else ["auth"])
        lines = [
            f"Summary ({self.where}, {elapsed:.1f}s):",
            "  messages: " + ", ".join(f"{name} {counts.get(name, 0)}" for name in channels),
        ]
        if not self.args.live:
            lines.append(f"  orders: placed {placed}, filled {filled}, cancelled {cancelled}")
        lines.append(f"  reconnects: {reconnects}")
        lines.append(f"  errors: {len(errors)}")
        for err in errors[:5]:
            lines.append(f"    {type(err).__name__}: {err}")
        if failure is None:
            lines.append("Demo OK")
        else:
            lines.append(f"Demo FAILED: {failure}")
        out = sys.stdout if failure is None else sys.stderr
        if failure is not None:
            print("\n".join(lines[:-1]), flush=True)
            print(lines[-1], file=out, flush=True)
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

        demo, state = self.demo, self.demo.state
        with state.cond:
            ticker, candle, top = state.ticker, state.candle, state.top
            trades = list(state.trades)[::-1]
            orders = sorted(state.orders.values(), key=lambda o: o.id or 0, reverse=True)[:6]
            wallets = sorted(state.wallets.values(), key=lambda w: (w.type, w.currency))
            log_lines = list(state.log)
            counts = dict(state.counts)
            reconnects, n_errors = state.reconnects, len(state.errors)
        elapsed = state.elapsed()

        ticker_t = Table.grid(padding=(0, 1))
        ticker_t.add_column(style="bold")
        ticker_t.add_column(justify="right")
        if ticker is not None:
            for name, value in (("bid", ticker.bid), ("ask", ticker.ask),
                                ("last", ticker.last_price), ("high", ticker.high),
                                ("low", ticker.low), ("volume", ticker.volume),
                                ("change", _fmt(ticker.daily_change_relative, "+.2%"))):
                ticker_t.add_row(name, value if isinstance(value, str) else _fmt(value))
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
                book_t.add_row(_fmt(bid[2]) if bid else "",
                               f"[green]{_fmt(bid[0])}[/]" if bid else "",
                               f"[red]{_fmt(ask[0])}[/]" if ask else "",
                               _fmt(abs(ask[2])) if ask else "")

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

        top_row = Table.grid(expand=True)
        for _ in range(3):
            top_row.add_column(ratio=1)
        top_row.add_row(Panel(ticker_t, title=f"ticker {DEMO_SYMBOL}"),
                        Panel(book_t, title="book P0, top 5"),
                        Panel(trades_t, title="last trades"))
        account_row = Table.grid(expand=True)
        account_row.add_column(ratio=2)
        account_row.add_column(ratio=1)
        account_row.add_row(Panel(orders_t, title="my orders"), Panel(wallets_t, title="wallets"))
        msgs = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        header = (f"[bold]exchange-wss demo[/] against {demo.where}  "
                  f"{elapsed:4.1f}/{demo.args.duration:g}s  messages: {msgs}")
        parts = [header, top_row]
        if not demo.args.live:
            parts.append(account_row)
        parts.append(Panel("\n".join(log_lines) or "…", title="events"))
        return Group(*parts)

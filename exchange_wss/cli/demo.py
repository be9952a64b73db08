"""``exchange-wss demo``: a sandbox in-process, a client streaming from it, and a scripted
trade, shown on the same view components as ``watch`` plus the demo's orders and fills.

The flow: wait for the ticker and the maintained book, then (unless ``--live``) wait
for the account stream, place a buy that rests below the best bid, a buy that fills at
once above the best ask, and cancel the resting one; then keep streaming until
``--duration`` is over, with a status line in the event log every few seconds. The
live view starts before the sandbox does (no blank start). Plain lines when stdout is
not a terminal or with ``--no-ui``. Exit status 0 when the flow completed, 1 when a step
failed (the reason is printed), 130 after Ctrl-C; a closed pipe ends quietly with 0.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, cast

from . import fmt
from ._process import on_sigterm, restore_sigterm, route_logging
from ._rich import RichMissing, live, require_rich
from .demo_venues import DEMO_AMOUNT, DEMO_VENUES, DemoFailure, DemoVenue
from .health import HealthTracker
from .output import Printer
from .state import MarketState, Record
from .watch import run_until

__all__ = ["cmd_demo", "DemoState", "AccountFrame", "DemoFailure"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: Seconds between two status lines in the event log (live view; plain output: 5 s).
STATUS_EVERY = 2.0


@dataclass(frozen=True)
class AccountFrame:
    """The demo's account as the views draw it (newest first; ages in seconds)."""

    orders: tuple[Any, ...]
    fills: tuple[Any, ...]
    wallets: tuple[Any, ...]
    orders_age: float | None
    fills_age: float | None
    wallets_age: float | None


class DemoState(MarketState):
    """:class:`~exchange_wss.cli.state.MarketState` plus the account: orders, fills,
    wallets, positions, notifications and the flow's counters."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.orders: dict[Any, Any] = {}
        self.fills: dict[Any, list[Any]] = {}
        self.fill_list: list[Any] = []
        self.wallets: dict[tuple, Any] = {}
        self.positions: dict[str, Any] = {}
        self.notifications: list[Any] = []
        self.placed = self.filled = self.cancelled = 0
        self.orders_at: float | None = None
        self.fills_at: float | None = None
        self.wallets_at: float | None = None

    def record_order(self, order: Any) -> None:
        """Keep an order the exchange acknowledged, unless an update already brought it:
        the update is at least as new as the acknowledgement."""
        if order is None or order.id is None:
            return
        with self.cond:
            self.orders.setdefault(order.id, order)
            self.orders_at = self.clock()
            self.cond.notify_all()

    def on_account(self, event: Any, channel: str = "auth") -> None:
        """Account events (Bitfinex ``authenticate``, Binance user data, FTX fills and
        orders), counted as ``channel``: orders, fills, wallets, positions, notifications."""
        from ..models import BalanceUpdate, Fill, Notification, Order, Position, Snapshot, Wallet
        notes = []
        now = self.clock()
        with self.cond:
            self.counts[channel] += 1
            items = event.items if isinstance(event, Snapshot) else [event]
            for item in items:
                if isinstance(item, Order) and item.id is not None:
                    self.orders[item.id] = item
                    self.orders_at = now
                elif isinstance(item, Wallet):
                    self.wallets[(item.type, item.currency)] = item
                    self.wallets_at = now
                elif isinstance(item, Position):
                    self.positions[item.symbol] = item
                elif isinstance(item, BalanceUpdate):
                    notes.append(f"balance {item.currency} {fmt.num(item.delta, '+g')}")
                elif isinstance(item, Fill):
                    self.fills.setdefault(item.order_id, []).append(item)
                    if item.kind != "tu":  # Bitfinex tu repeats a te
                        self.fill_list.append(item)
                        self.fills_at = now
                        notes.append(f"fill: order {item.order_id} "
                                     f"{fmt.num(item.amount, '+g')} @ {fmt.num(item.price)}")
                elif isinstance(item, Notification):
                    self.notifications.append(item)
                    notes.append(f"notification {item.type} {item.status}: {item.text}")
            self.cond.notify_all()
        for text in notes:
            self.note(text)

    def _account_frame(self, now: float) -> AccountFrame:
        orders = sorted(self.orders.values(), key=lambda o: o.id or 0, reverse=True)
        wallets = sorted(self.wallets.values(), key=lambda w: (w.type, w.currency))
        age = lambda at: None if at is None else now - at  # noqa: E731
        return AccountFrame(tuple(orders), tuple(reversed(self.fill_list)), tuple(wallets),
                            age(self.orders_at), age(self.fills_at), age(self.wallets_at))


class Demo:
    """One run of ``exchange-wss demo``: set up, scripted flow, live view, summary.
    Exchange-agnostic: every client call goes through ``venue``."""

    def __init__(self, args: argparse.Namespace, state: DemoState, venue: DemoVenue,
                 use_ui: bool, printer: Printer) -> None:
        self.args = args
        self.state = state
        self.venue = venue
        self.use_ui = use_ui
        self.printer = printer
        self.where = venue.where
        self.stop = threading.Event()

    @property
    def view(self) -> Any:
        with self.state.cond:
            return self.state.view(self.venue.symbol)

    def run(self) -> int:
        failure: str | None = None
        status = EXIT_OK
        display = None
        previous = on_sigterm(self.stop.set)
        try:
            if self.use_ui:
                from .layout import Screen
                display = live(Screen(self.state.frame, [self.venue.symbol],
                                      self.venue.book_label, self.venue.wallets_title))
            self.state.note(f"starting {self.where}…")
            self.venue.start_demo()
            # Counted from here: starting a sandbox takes from half a second to a few on a
            # busy machine; --duration is the time the client has.
            deadline = time.monotonic() + self.args.duration
            try:
                self._flow(deadline)
            except DemoFailure as exc:
                failure = str(exc)
            if failure is None:
                self._keep_streaming(deadline)
        except KeyboardInterrupt:
            failure, status = "interrupted", EXIT_INTERRUPTED
        except Exception as exc:  # report, don't dump a traceback on the user
            logging.getLogger("exchange_wss.cli").debug("demo failed", exc_info=True)
            failure = f"{type(exc).__name__}: {exc}"
        finally:
            self.state.stopping = True
            if display is not None:
                display.stop()
            try:
                self.venue.stop()
            finally:
                restore_sigterm(previous)
        if self.printer.closed.is_set():
            return EXIT_OK  # the reader went away (`demo | head -2`): nothing to say
        if failure is not None and status == EXIT_OK:
            status = EXIT_FAILED
        self._print_summary(failure)
        return status

    # -- the scripted flow ------------------------------------------------------------------
    def _check_failed(self) -> None:
        """Fail at once when the exchange refused a stream the flow needs (the client
        would retry it; the demo's sandbox refuses nothing it can serve)."""
        failed = [s for s in self.state.health.streams() if s.state == "failed" or s.error]
        if failed:
            raise DemoFailure("; ".join(f"the exchange refused {s.name}: {s.error or s.reason}"
                                        for s in failed))

    def _wait(self, predicate: Any, deadline: float, what: str) -> Any:
        state = self.state
        failed = lambda: any(s.state == "failed" or s.error  # noqa: E731
                             for s in state.health.streams())
        result = state.wait(lambda: predicate() or failed() or self.stop.is_set()
                            or self.printer.closed.is_set(), deadline)
        if self.stop.is_set():
            raise KeyboardInterrupt
        if self.printer.closed.is_set():
            raise DemoFailure("output closed")
        self._check_failed()
        if not predicate():
            raise DemoFailure(f"{what} within {self.args.duration:g}s ({self._cause()})")
        return result

    def _cause(self) -> str:
        """The real reason a step ran out of time, for the failure message."""
        state = self.state
        if not state.connected or not any(s.messages for s in state.health.streams()):
            return state.silence_reason(self.venue.use_sandbox, self.args.duration)
        if self.venue.use_sandbox:
            return (f"data was flowing: the scripted flow needs about a second against the "
                    f"in-process sandbox, --duration {self.args.duration:g} is too short: "
                    f"give a longer --duration")
        return "data was flowing, but the exchange did not answer in time"

    def _flow(self, deadline: float) -> None:
        state, venue, symbol = self.state, self.venue, self.venue.symbol
        view = self.view
        self._wait(lambda: view.ticker is not None, deadline,
                   f"no {symbol} ticker arrived from {self.where}")
        self._wait(lambda: view.book_ready, deadline, f"no {symbol} order book arrived")
        best_bid, best_ask = self._best_prices(deadline)
        state.note(f"book ready: best bid {fmt.num(best_bid)}, best ask {fmt.num(best_ask)}")
        if not venue.trades:
            return  # public part only: no account, no orders
        self._wait(venue.account_ready, deadline, "the account stream was not ready")

        resting_price, taker_price = venue.order_prices(best_bid, best_ask)
        # 1. A buy below the best bid: it rests on the book.
        resting = self._place("resting buy", resting_price, deadline)
        # 2. A buy above the best ask: marketable, it fills at once.
        taker = self._place("marketable buy", taker_price, deadline)
        self._wait(lambda: venue.executed(taker.id), deadline,
                   f"order {taker.id} (buy at {fmt.num(taker.price)}, above the best ask) "
                   f"was not filled")
        with state.cond:
            state.filled += 1
        state.note(f"order {taker.id} filled")
        # 3. Cancel the resting one.
        venue.cancel(resting)
        result = self._wait(lambda: venue.cancel_outcome(resting.id), deadline,
                            f"order {resting.id} was not cancelled")
        outcome = venue.cancel_outcome(resting.id)
        if outcome != "CANCELED":
            raise DemoFailure(f"cancel of order {resting.id} refused: {outcome or result}")
        with state.cond:
            state.cancelled += 1
        state.note(f"order {resting.id} cancelled")
        state.note("scripted flow complete; streaming until the end of --duration")

    def _best_prices(self, deadline: float) -> tuple[float, float]:
        """Best bid and ask of the client's maintained book, waiting for both sides."""
        state, view = self.state, self.view
        while True:
            self.venue.refresh_books()
            with state.cond:
                if view.bids and view.asks:
                    # The maintained book's prices are numbers: fmt.number gives floats.
                    return (cast(float, fmt.number(view.bids[0][0])),
                            cast(float, fmt.number(view.asks[0][0])))
                seen = state.counts["book"]
            if time.monotonic() >= deadline:
                raise DemoFailure(f"the {self.venue.symbol} book has an empty side")
            def changed(seen: int = seen) -> bool:
                return state.counts["book"] != seen

            with state.cond:  # wait for the next book message, not a fixed sleep
                state.cond.wait_for(changed, max(0.0, min(0.5, deadline - time.monotonic())))

    def _place(self, what: str, price: Any, deadline: float) -> Any:
        from ..errors import ExchangeWssError
        state, symbol = self.state, self.venue.symbol
        # Noted before the call: the exchange's answer and events may beat the return.
        state.note(f"submitting {what}: {DEMO_AMOUNT:g} {symbol} @ {fmt.num(price)}")
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
        except ValueError as exc:  # the FTX sandbox's REST stand-in refused it
            raise DemoFailure(f"{what} ({ref}) refused: {exc}") from exc
        state.record_order(order)
        state.note(f"{what} accepted: order {order.id} ({ref}), status {order.status}")
        return order

    # -- after the flow -------------------------------------------------------------------------
    def _keep_streaming(self, deadline: float) -> None:
        """Stream until the duration is over, a status line in the log now and then, so
        the event log keeps moving after the flow."""
        every = STATUS_EVERY if self.use_ui else 5.0
        while time.monotonic() < deadline and not self.stop.is_set():
            self._note_status()
            run_until(self.state, self.venue, self.stop,
                      min(deadline, time.monotonic() + every), self.printer)
            if self.printer.closed.is_set():
                return
        if self.stop.is_set():
            raise KeyboardInterrupt

    def _note_status(self) -> None:
        state, view = self.state, self.view
        with state.cond:
            bid, ask = view.best()
            last = getattr(view.ticker, "last_price", None)
            total = sum(state.counts.values())
        rates = sum(s.rate for s in state.health.streams())
        state.note(f"{view.symbol} bid {fmt.num(bid)} ask {fmt.num(ask)} last {fmt.num(last)}"
                   f" · {total} msgs, {rates:.0f}/s")

    def _print_summary(self, failure: str | None) -> None:
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
                                       for name in self.venue.summary_channels),
        ]
        if self.venue.trades:
            lines.append(f"  orders: placed {placed}, filled {filled}, cancelled {cancelled}")
        lines.append(f"  reconnects: {reconnects}")
        lines.append(f"  errors: {len(errors)}")
        lines.extend(f"    {type(err).__name__}: {err}" for err in errors[:5])
        for line in lines:
            self.printer(line)
        if failure is None:
            self.printer("Demo OK")
        else:
            print(f"Demo FAILED: {failure}", file=sys.stderr, flush=True)


def _usage(message: str) -> int:
    print(f"exchange-wss demo: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the scripted demo; see the module docstring."""
    exchange = args.exchange
    if exchange != "binance" and args.market is not None:
        return _usage("--market applies to --exchange binance only")
    if exchange != "bitfinex" and args.live:
        return _usage("--live is available for --exchange bitfinex only")
    use_ui = not args.no_ui and sys.stdout.isatty()
    if use_ui:
        try:
            require_rich()
        except RichMissing as exc:
            print(f"exchange-wss demo: {exc}", file=sys.stderr)
            return EXIT_FAILED

    venue_cls = DEMO_VENUES[exchange]
    state = DemoState(HealthTracker(stale_after=args.stale_after), title="exchange-wss demo",
                      duration=args.duration)
    options: dict[str, Any] = {"seed": args.seed}
    if exchange == "bitfinex":
        options["live"] = args.live
    if exchange == "binance":
        options["market"] = args.market
    venue = venue_cls(state, **options)
    state.where = venue.where
    state.channels = tuple(venue.demo_channels)
    printer = Printer()
    if not use_ui:
        def print_note(record: Record) -> None:
            if record.kind == "note":
                printer(record.data["line"])
        state.listeners.append(print_note)
    restore_logging = route_logging(state.note, use_ui)
    try:
        return Demo(args, state, venue, use_ui, printer).run()
    finally:
        restore_logging()

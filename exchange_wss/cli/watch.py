"""``exchange-wss watch VENUE CHANNELS SYMBOL...``: look at streams, live or on the sandbox.

``exchange-wss watch bitfinex ticker,book,trades tBTCUSD`` subscribes to those
channels and shows them in a live terminal view (book with depth bars, spread and
mid, trades with their times, the ticker with a price sparkline, each stream's
state, age and rate, each connection's state and ping); ``--no-ui`` prints one line
per ticker, trade and top-of-book change instead, ``--json`` one JSON object per line.
``--sandbox`` runs the built-in sandbox in-process; without it the real exchange is
watched. It runs until Ctrl-C, SIGTERM, ``--duration`` or a closed pipe, and exits 0
(1 when ``--duration`` passed without any data, with the reason; 2 for a usage error).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ._process import on_sigterm, restore_sigterm, route_logging
from ._rich import RichMissing, live, require_rich
from .health import HealthTracker
from .output import Printer, sink
from .state import MarketState
from .venues import VENUES, Venue, VenueError

__all__ = ["cmd_watch", "parse_channels", "run_until", "set_up_streams", "StreamCommand",
           "running", "Run",
           "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

#: Seconds between two reads of the maintained books.
REFRESH = 0.25


def parse_channels(text: str, venue: type[Venue]) -> list[str]:
    """``"ticker,book"`` -> ``["ticker", "book"]``, checked against the venue's channels.

    Raises:
        VenueError: an unknown or repeated channel (the message lists the valid ones).
    """
    channels = [c.strip().lower().replace("-", "_") for c in text.split(",") if c.strip()]
    if not channels:
        raise VenueError(f"no channel given; {venue.name} has {', '.join(venue.channels)}")
    for channel in channels:
        if channel not in venue.channels:
            raise VenueError(f"{venue.name} has no channel {channel!r}; "
                             f"choose from {', '.join(venue.channels)}")
    if len(set(channels)) != len(channels):
        raise VenueError(f"a channel is listed twice in {text!r}")
    return channels


def run_until(state: MarketState, venue: Venue, stop: threading.Event,
              deadline: float | None, printer: Printer | None = None) -> None:
    """Refresh books and health until ``stop``, ``deadline`` (a ``time.monotonic()``
    value) or a closed pipe."""
    while not stop.is_set() and not (printer is not None and printer.closed.is_set()):
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return
        venue.refresh_books()
        state.poll_health()
        wait = REFRESH if deadline is None else min(REFRESH, max(0.0, deadline - now))
        stop.wait(wait)


@dataclass
class StreamCommand:
    """What ``watch`` and ``health`` both set up from their stream arguments."""

    state: MarketState
    venue: Venue
    channels: list[str]
    symbols: list[str]
    printer: Printer
    use_ui: bool


def set_up_streams(args: argparse.Namespace, command: str) -> StreamCommand | int:
    """Check the stream arguments of ``exchange-wss COMMAND`` and make its state, venue
    and output; an int is the exit status of a usage error (already reported)."""
    def usage(message: str) -> int:
        print(f"exchange-wss {command}: {message}", file=sys.stderr)
        return EXIT_USAGE

    venue_cls = VENUES[args.venue]
    try:
        channels = parse_channels(args.channels, venue_cls)
    except VenueError as exc:
        return usage(str(exc))
    if args.market is not None and args.venue != "binance":
        return usage("--market applies to binance only")
    if args.url is not None and (args.sandbox or args.venue == "binance"):
        return usage("--url applies to bitfinex and ftx without --sandbox")
    use_ui = not (args.no_ui or args.json) and sys.stdout.isatty()
    if use_ui:
        try:
            require_rich()
        except RichMissing as exc:
            print(f"exchange-wss {command}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    state = MarketState(HealthTracker(stale_after=args.stale_after),
                        title=f"exchange-wss {command}", channels=channels,
                        duration=args.duration)
    venue = venue_cls(state, sandbox=args.sandbox, market=args.market, url=args.url,
                      seed=args.seed)
    state.where = venue.where
    symbols = [venue.normalize(s) for s in args.symbols]
    return StreamCommand(state, venue, channels, symbols, Printer(), use_ui)


def cmd_watch(args: argparse.Namespace) -> int:
    """Run ``exchange-wss watch``; see the module docstring."""
    cmd = set_up_streams(args, "watch")
    if isinstance(cmd, int):
        return cmd
    if not cmd.use_ui:
        cmd.state.listeners.append(sink(cmd.printer, args.json))
    return _run(args, cmd)


@dataclass
class Run:
    """One run of a stream command: :meth:`start` opens the view and starts the venue;
    ``stop`` ends the run (SIGTERM sets it); ``status`` and ``failure`` say how it ended."""

    cmd: StreamCommand
    screen: Callable[[], Any] | None
    stop: threading.Event = field(default_factory=threading.Event)
    status: int = EXIT_OK
    failure: str = ""
    display: Any = None

    def start(self) -> None:
        """The live view (when there is a ``screen``), then the venue's streams."""
        if self.screen is not None:
            self.display = live(self.screen())
        self.cmd.venue.start(self.cmd.channels, self.cmd.symbols)


@contextmanager
def running(cmd: StreamCommand, screen: Callable[[], Any] | None) -> Iterator[Run]:
    """A run of ``cmd`` with the live view ``screen()`` makes (None: plain output); the
    body calls :meth:`Run.start` first. On leaving, everything stops, whatever happened:
    Ctrl-C ends a run normally, a usage error or a failure to start becomes its status
    (one line, no traceback)."""
    run = Run(cmd, screen)
    previous = on_sigterm(run.stop.set)
    restore_logging = route_logging(cmd.state.note, cmd.use_ui)
    try:
        yield run
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops looking: not an error
    except VenueError as exc:
        run.status, run.failure = EXIT_USAGE, str(exc)
    except Exception as exc:  # e.g. the sandbox's port
        run.status, run.failure = EXIT_FAILED, f"cannot start: {type(exc).__name__}: {exc}"
    finally:
        cmd.state.stopping = True
        if run.display is not None:
            run.display.stop()
        try:
            cmd.venue.stop()
        finally:
            restore_logging()
            restore_sigterm(previous)


def _run(args: argparse.Namespace, cmd: StreamCommand) -> int:
    state, venue, printer = cmd.state, cmd.venue, cmd.printer
    screen = None
    if cmd.use_ui:
        from .layout import Screen

        def screen() -> Any:
            return Screen(state.frame, cmd.symbols, venue.book_label)
    with running(cmd, screen) as run:
        run.start()
        # Counted from here: starting a sandbox takes from half a second to a few on a
        # busy machine, and --duration is how long to watch.
        deadline = None if args.duration is None else time.monotonic() + args.duration
        run_until(state, venue, run.stop, deadline, printer)
    if run.status != EXIT_OK:
        print(f"exchange-wss watch: {run.failure}", file=sys.stderr)
        return run.status
    if printer.closed.is_set():
        return EXIT_OK  # the reader had what it wanted (`| head -2`)
    if args.duration is not None and not any(s.messages for s in state.health.streams()):
        print(f"exchange-wss watch: no data from {venue.where} within {args.duration:g}s: "
              f"{state.silence_reason(args.sandbox, args.duration)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

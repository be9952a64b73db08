"""Plain output of the commands: lines (or JSON lines) on stdout from any thread, and a
quiet end when the reader goes away (``exchange-wss watch ... | head -2``)."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TextIO

from . import fmt
from .state import Record

__all__ = ["Printer", "plain_line", "json_line", "silence_stdout", "sink"]

class Printer:
    """Writes whole lines to a stream, one at a time, from any thread.

    When the reader closes the pipe the printer stops writing and sets
    :attr:`closed`; the command sees it and ends with status 0 (the reader had what
    it wanted), without a traceback.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        """Write one line (and its newline) in one write, unless the output was closed."""
        if self.closed.is_set():
            return
        # One write per line under the lock: lines come from the reactor thread and the
        # main thread, and print()'s separate writes of text and newline interleave.
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.closed.set()
            except OSError as exc:  # EPIPE raised as a plain OSError on some streams
                if exc.errno != 32:
                    raise
                self.closed.set()
        if self.closed.is_set():
            silence_stdout(self.stream)


def silence_stdout(stream: TextIO | None = None) -> None:
    """Point a closed stdout at /dev/null, so the interpreter's final flush does not
    print ``BrokenPipeError`` at exit (the fix the Python docs give for SIGPIPE)."""
    stream = stream if stream is not None else sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def _stamp(at: float) -> str:
    return fmt.clock(at * 1000)


def plain_line(record: Record) -> str | None:
    """The ``watch --no-ui`` line of a record (None: not printed in plain mode; the
    connection, health and error records come as their notes)."""
    d, sym = record.data, record.symbol
    head = f"{_stamp(record.at)} {sym or ''}".rstrip()
    kind = record.kind
    if kind == "note":
        return f"{_stamp(record.at)} {d['text']}"
    if kind == "ticker":
        return (f"{head} ticker bid {fmt.num(d.get('bid'))} ask {fmt.num(d.get('ask'))} "
                f"last {fmt.num(d.get('last_price'))}")
    if kind == "trade":
        amount = fmt.number(d.get("amount")) or 0.0
        side = "buy" if amount > 0 else "sell"
        return (f"{head} trade {side} {fmt.num(abs(amount))} @ {fmt.num(d.get('price'))} "
                f"(id {d.get('id')}, {fmt.clock(d.get('mts'))})")
    if kind == "book":
        return (f"{head} book bid {fmt.num(d.get('bid'))} ({fmt.num(d.get('bid_size'))}) "
                f"ask {fmt.num(d.get('ask'))} ({fmt.num(d.get('ask_size'))}) "
                f"spread {fmt.num(d.get('spread'))} mid {fmt.num(d.get('mid'))}")
    if kind == "book_ticker":
        return f"{head} book_ticker bid {fmt.num(d.get('bid'))} ask {fmt.num(d.get('ask'))}"
    if kind == "candle":
        return (f"{head} candle {d.get('timeframe')} open {fmt.num(d.get('open'))} "
                f"close {fmt.num(d.get('close'))}")
    return None


def json_line(record: Record) -> str | None:
    """The ``watch --json`` line of a record: one JSON object (None: a note that repeats
    a structured record in words)."""
    if record.kind == "note" and record.derived:
        return None
    data: Any = dict(record.data)
    if record.kind == "note":
        data = {"text": data["text"]}
    obj = {"type": record.kind, "time": round(record.at, 6)}
    if record.symbol is not None:
        obj["symbol"] = record.symbol
    obj.update(data)
    return json.dumps(obj, default=str, separators=(",", ":"))


def sink(printer: Callable[[str], None], as_json: bool) -> Callable[[Record], None]:
    """A state listener printing each record as a plain or a JSON line."""
    render = json_line if as_json else plain_line

    def listen(record: Record) -> None:
        line = render(record)
        if line is not None:
            printer(line)

    return listen

"""``exchange-wss health VENUE CHANNELS SYMBOL...``: the client's own health report of
streams, live or on the sandbox.

``exchange-wss health bitfinex ticker,book tBTCUSD tETHUSD --sandbox`` subscribes to
those channels and shows what the client reports (``client.health()``): each stream's
state (pending, live, resyncing, stale, failed), age of its last message, rate,
messages, resyncs, connection and why; each connection's state, how long, ping round
trip, reconnects, unsettled requests and authentication; the health signals as they
come. ``--no-ui`` prints the signals as lines and the whole table every ``--interval``
seconds; ``--json`` prints ``client.health()`` itself, one JSON object per
``--interval`` and one at the end, for a monitoring script.

A command of its own rather than a mode of ``watch``: its JSON is one shape (the
client's report, the fields documented once in the API reference) where ``watch
--json`` prints the market's events, and its screen gives the streams the whole height,
so many symbols fit.

It runs until Ctrl-C, SIGTERM, ``--duration`` or a closed pipe. Exit status: 0; with
``--duration``, 1 when a stream is not live at the end (each named, with why); 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from . import fmt
from .output import Printer
from .state import Record
from .venues import Venue
from .watch import REFRESH, StreamCommand, running, set_up_streams

__all__ = ["cmd_health", "health_lines", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def health_lines(report: dict[str, Any]) -> list[str]:
    """``client.health()`` as the plain table ``--no-ui`` prints: a summary line, a line
    per stream, a line per connection."""
    states = ", ".join(f"{n} {state}" for state, n in report["states"].items() if n)
    lines = [f"{fmt.clock(report['time'] * 1000)} health: {states or 'no streams'}"]
    for s in report["streams"]:
        why = s["error"] or (s["reason"] if s["state"] != "live" else "") or ""
        lines.append(f"  {s['label']}  {s['state']}  age {fmt.age(s['age'])}  "
                     f"{fmt.rate(s['rate'])}  {s['messages']} msgs  {s['resyncs']} resyncs  "
                     f"{s['connection'] or '-'}" + (f"  ({why})" if why else ""))
    for c in report["connections"]:
        since = "" if c["since"] is None else f" for {fmt.age(report['time'] - c['since'])}"
        rtt = "-" if c["rtt"] is None else f"{c['rtt'] * 1000:.1f}ms"
        pending = sum(c["requests"].values())
        reason = f"  ({c['reason']})" if c["reason"] else ""
        lines.append(f"  connection {c['name']}  {c['state']}{since}  ping {rtt}  "
                     f"auth {c['auth']}  reconnects {c['reconnects']}  "
                     f"requests {pending}{reason}")
    return lines


def cmd_health(args: argparse.Namespace) -> int:
    """Run ``exchange-wss health``; see the module docstring."""
    cmd = set_up_streams(args, "health")
    if isinstance(cmd, int):
        return cmd
    if not cmd.use_ui and not args.json:
        printer = cmd.printer

        def print_note(record: Record) -> None:
            if record.kind == "note":
                printer(record.data["line"])
        cmd.state.listeners.append(print_note)
    return _run(args, cmd)


def _report(venue: Venue, printer: Printer, as_json: bool) -> None:
    report = venue.client.health()
    if as_json:
        printer(json.dumps(report, separators=(",", ":")))
    else:
        for line in health_lines(report):
            printer(line)


def _run(args: argparse.Namespace, cmd: StreamCommand) -> int:
    state, venue, printer, use_ui = cmd.state, cmd.venue, cmd.printer, cmd.use_ui
    report: dict[str, Any] | None = None
    screen = None
    if use_ui:
        from .layout import HealthScreen

        def screen() -> Any:
            return HealthScreen(state.frame)
    with running(cmd, screen) as run:
        run.start()
        deadline = None if args.duration is None else time.monotonic() + args.duration
        next_report = time.monotonic() + args.interval
        while not run.stop.is_set() and not printer.closed.is_set():
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            state.poll_health()
            if not use_ui and now >= next_report:
                _report(venue, printer, args.json)
                next_report = now + args.interval
            wait = min(REFRESH, max(0.0, next_report - now))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            run.stop.wait(wait)
        report = venue.client.health()
        if not use_ui and not printer.closed.is_set():
            _report(venue, printer, args.json)
    if run.status != EXIT_OK:
        print(f"exchange-wss health: {run.failure}", file=sys.stderr)
        return run.status
    if printer.closed.is_set() or args.duration is None or report is None:
        return EXIT_OK
    not_live = [s for s in report["streams"] if s["state"] != "live"]
    if not_live:
        print(f"exchange-wss health: not live after {args.duration:g}s: "
              + "; ".join(f"{s['label']} {s['state']} ({s['error'] or s['reason']})"
                          for s in not_live), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK

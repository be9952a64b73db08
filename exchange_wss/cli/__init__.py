"""The ``exchange-wss`` command line.

- ``exchange-wss sandbox [--exchange bitfinex binance ftx]``: serve sandbox exchanges,
  print their URLs and sandbox-only credentials, inject faults typed on stdin.
- ``exchange-wss watch VENUE CHANNELS SYMBOL...``: look at streams, live or ``--sandbox``.
- ``exchange-wss demo [--exchange ...]``: a scripted trade against an in-process sandbox.
- ``exchange-wss --version``.

``python -m exchange_wss`` is the same command. Modules, one job each:

- :mod:`.entry`: the entry point and the argument parser
- :mod:`.sandbox_cmd` and :mod:`.faults_console`: the sandbox command and its fault console
- :mod:`.watch`: the watch command; :mod:`.demo` and :mod:`.demo_venues`: the demo
- :mod:`.venues`: each exchange's client calls; :mod:`.state`: what was seen;
  :mod:`.health`: per-stream health, derived in the view layer until the clients report it
- :mod:`.views` (components), :mod:`.layout` (the screen), :mod:`.fmt` (numbers, ages,
  bars, sparklines), :mod:`.output` (plain and JSON lines, closed pipes), :mod:`._rich`
  (``rich``, imported lazily), :mod:`._process` (signals, logging)
"""

from .entry import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, build_parser, main
from .faults_console import apply_fault_command, fault_commands

__all__ = ["main", "build_parser", "apply_fault_command", "fault_commands", "EXIT_OK",
           "EXIT_FAILED", "EXIT_USAGE", "EXIT_INTERRUPTED"]

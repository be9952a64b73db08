"""What the long-running commands share with the process around them: SIGTERM as a
clean stop, and the library's warnings routed to the event log or to stderr."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["on_sigterm", "restore_sigterm", "route_logging"]


def on_sigterm(handler: Callable[[], None]) -> Any:
    """Make SIGTERM call ``handler``; returns what to restore (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None  # signal handlers can only be set from the main thread
    return signal.signal(signal.SIGTERM, lambda signum, frame: handler())


def restore_sigterm(previous: Any) -> None:
    """Undo :func:`on_sigterm`."""
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def route_logging(note: Callable[[str], None], to_log: bool) -> Callable[[], None]:
    """Send the library's warnings to ``note`` (the live view's event log) when
    ``to_log``, else to stderr.

    Returns:
        A function undoing it (``main()`` may run more than once in a process).
    """
    logger = logging.getLogger("exchange_wss")
    propagate = logger.propagate
    if to_log:
        class ToEventLog(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                note(f"{record.levelname.lower()}: {record.getMessage()}")
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

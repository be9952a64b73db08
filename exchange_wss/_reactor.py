"""The one Twisted reactor of the process, run in a library-managed daemon thread.

A Twisted reactor cannot be restarted once stopped, so it is started once, on
first use, and never stopped: clients come and go on it. The thread is a
daemon, so the program exits when the user's code ends whether or not a client
was stopped. Every public method of the clients marshals onto this thread with
:func:`call_soon` (fire and forget) or :func:`call_and_wait` (result back).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from twisted.internet import defer

__all__ = ["get_reactor", "ensure_running", "in_reactor_thread", "call_soon", "call_and_wait"]

T = TypeVar("T")

_lock = threading.Lock()
_thread: threading.Thread | None = None
_reactor_thread_ident: int | None = None


def get_reactor() -> Any:
    """Return the global reactor (installing the default one on first import)."""
    from twisted.internet import reactor
    return reactor


def ensure_running() -> None:
    """Start the reactor thread if it is not running yet. Safe from any thread."""
    global _thread
    reactor = get_reactor()
    with _lock:
        if _thread is not None:
            return
        if reactor.running:
            # The application runs the reactor itself (e.g. a Twisted program or
            # pytest-twisted): use it as it is.
            _thread = threading.current_thread()
            _mark_reactor_thread()
            return
        started = threading.Event()

        def run() -> None:
            _mark_reactor_thread()
            reactor.callWhenRunning(started.set)
            # No signal handlers: they can only be installed from the main thread.
            reactor.run(installSignalHandlers=False)

        _thread = threading.Thread(target=run, name="exchange_wss-reactor", daemon=True)
        _thread.start()
    started.wait()


def _mark_reactor_thread() -> None:
    global _reactor_thread_ident
    _reactor_thread_ident = threading.get_ident()


def in_reactor_thread() -> bool:
    """True when called from the reactor's thread."""
    return threading.get_ident() == _reactor_thread_ident


def call_soon(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``fn(*args, **kwargs)`` on the reactor thread, now if already on it."""
    if in_reactor_thread():
        fn(*args, **kwargs)
    else:
        ensure_running()
        get_reactor().callFromThread(fn, *args, **kwargs)


def call_and_wait(fn: Callable[..., T], *args: Any, timeout: float | None = 30.0,
                  **kwargs: Any) -> T:
    """Run ``fn`` on the reactor thread and return its result (waiting on Deferreds).

    Exceptions raised by ``fn`` (or the Deferred it returns) are re-raised in
    the caller. Called on the reactor thread itself, ``fn`` runs directly and a
    Deferred result is returned as is (blocking there would deadlock).
    """
    if in_reactor_thread():
        return fn(*args, **kwargs)
    ensure_running()
    future: Future = Future()

    def run() -> None:
        try:
            d = defer.maybeDeferred(fn, *args, **kwargs)
        except BaseException as exc:  # pragma: no cover - maybeDeferred catches
            future.set_exception(exc)
            return
        d.addCallbacks(future.set_result, lambda f: future.set_exception(f.value))

    get_reactor().callFromThread(run)
    return future.result(timeout)

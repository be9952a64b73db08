"""What every exchange facade shares: lifecycle, hooks, safe callbacks, marshalling.

The facades (``WssClient`` and its Binance and FTX siblings) are used from any
thread; everything that touches connections runs on the reactor thread. This
base class owns that hand-over, the user's ``on_event``/``on_error`` hooks, and
the isolation of user callbacks: an exception in one is logged with its
traceback and passed to ``on_error``; the connection and every other callback
go on.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from . import _reactor
from ._dispatch import CallbackWorker
from .connection import ConnectionOptions, WebSocketConnection
from .errors import CallbackOverflow, ClientStopped, ConnectionLost, LocalProtocolError
from .models import ConnectionState

log = logging.getLogger("exchange_wss.client")

Callback = Callable[[Any], Any]


class CallbackError(Exception):
    """A user callback raised; ``__cause__`` is the original exception."""

    def __init__(self, where: str):
        super().__init__(f"exception in user callback for {where}")
        self.where = where


@dataclass
class ClientStats:
    """Counters of what went wrong and was survived, for monitoring.

    Read them from any thread (``client.stats.reconnects``); they only grow.
    """

    reconnects: int = 0
    malformed_frames: int = 0
    checksum_mismatches: int = 0
    sequence_gaps: int = 0
    callback_errors: int = 0
    callback_events_dropped: int = 0


class BaseClient:
    """Shared machinery of the exchange clients (not public API).

    Args:
        on_event: called with informational events (connection state changes,
            server info, subscribed/unsubscribed acknowledgements, pongs).
        on_error: called with exceptions that did not stop the client:
            exchange errors, protocol errors, checksum mismatches, exceptions
            raised by user callbacks.
        reactor: a reactor to run on instead of the library's own thread
            (tests pass a ``MemoryReactorClock``; the caller then drives it).
        callback_thread: run callbacks on a worker thread of their own, so a
            slow callback cannot stall heartbeats or other channels (see
            :mod:`exchange_wss._dispatch` for the overflow policy).
        callback_queue_size: market-data events the worker may hold; beyond
            it the oldest are dropped and :class:`~exchange_wss.errors.CallbackOverflow`
            is reported. Account events are never dropped.

    The other keywords are those of :class:`~exchange_wss.connection.ConnectionOptions`.
    """

    def __init__(self, *, on_event: Optional[Callback] = None, on_error: Optional[Callback] = None,
                 ping_interval: Optional[float] = 20.0, ping_timeout: Optional[float] = 10.0,
                 reconnect_delay: float = 1.0, max_reconnect_delay: float = 60.0,
                 max_reconnect: Optional[int] = None, stale_timeout: Optional[float] = 30.0,
                 open_timeout: float = 10.0, tls_options: Any = None, reactor: Any = None,
                 callback_thread: bool = False, callback_queue_size: int = 10_000) -> None:
        if on_event is not None and not callable(on_event):
            raise LocalProtocolError("on_event must be callable")
        if on_error is not None and not callable(on_error):
            raise LocalProtocolError("on_error must be callable")
        self.on_event = on_event
        self.on_error = on_error
        self._conn_options = ConnectionOptions(
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            reconnect_delay=reconnect_delay, max_reconnect_delay=max_reconnect_delay,
            max_reconnect=max_reconnect, stale_timeout=stale_timeout,
            open_timeout=open_timeout, tls_options=tls_options)
        self._own_reactor = reactor is None
        self._reactor = reactor
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()
        self.stats = ClientStats()
        self._worker: Optional[CallbackWorker] = None
        if callback_thread:
            if callback_queue_size < 1:
                raise LocalProtocolError("callback_queue_size must be >= 1")
            self._worker = CallbackWorker(callback_queue_size, self._callback_failed,
                                          self._callbacks_overflowed)

    # -- thread hand-over -----------------------------------------------------
    def _get_reactor(self):
        if self._reactor is None:
            self._reactor = _reactor.get_reactor()
        return self._reactor

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the reactor thread (now, when already there)."""
        if self._stopped:
            raise ClientStopped("the client was stopped")
        if not self._own_reactor:
            fn(*args)
        else:
            _reactor.call_soon(fn, *args)

    def _call_and_wait(self, fn: Callable[..., Any], *args: Any, timeout: float = 10.0) -> Any:
        if not self._own_reactor:
            return fn(*args)
        return _reactor.call_and_wait(fn, *args, timeout=timeout)

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        """Start connecting. Requests made before ``start()`` are sent once connected."""
        with self._lock:
            if self._stopped:
                raise ClientStopped("a stopped client cannot be restarted; create a new one")
            if self._started:
                return
            self._started = True
        if self._own_reactor:
            _reactor.ensure_running()
        self._call(self._start_connections)

    def stop(self, timeout: float = 5.0) -> None:
        """Close this client's connections gracefully and fail what is pending.

        Other clients on the same reactor are untouched. Blocks until the
        connections are closed or ``timeout`` seconds passed. Idempotent.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if not self._started:
                self._fail_pending(ClientStopped("the client was stopped"))
                return
            try:
                self._call_and_wait(self._stop_connections, timeout=timeout)
            except TimeoutError:
                log.warning("stop(): connections did not close within %.1fs", timeout)
        finally:
            if self._worker is not None:
                self._worker.stop(timeout)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._started and not self._stopped

    # -- hooks ----------------------------------------------------------------------
    def _emit_event(self, event: Any) -> None:
        hook = self.on_event
        if hook is not None:
            try:
                hook(event)
            except Exception as exc:  # the user's hook must not break the connection
                self._callback_failed("on_event", exc)

    def _emit_error(self, error: BaseException) -> None:
        hook = self.on_error
        if hook is None:
            log.warning("%s: %s", type(error).__name__, error)
            return
        try:
            hook(error)
        except Exception:
            log.exception("exception in on_error hook (ignored)")

    def _emit_state(self, state: str, connection: str, reason: Optional[str] = None) -> None:
        if state == "reconnected":
            self.stats.reconnects += 1
        log.info("%s: %s%s", connection, state, f" ({reason})" if reason else "")
        self._emit_event(ConnectionState(state, connection, reason))

    def _callback_failed(self, where: str, exc: BaseException) -> None:
        self.stats.callback_errors += 1
        log.error("exception in user callback for %s", where, exc_info=exc)
        err = CallbackError(where)
        err.__cause__ = exc
        self._emit_error(err)

    def _callbacks_overflowed(self, dropped: int) -> None:
        self.stats.callback_events_dropped = dropped
        log.warning("callbacks fell behind: %d market-data events dropped so far", dropped)
        self._emit_error(CallbackOverflow(
            f"callbacks fell behind; oldest market-data events dropped ({dropped} so far)"))

    def _safe(self, callback: Callback, where: str, droppable: bool = True) -> Callback:
        """Wrap a user callback so an exception in it is reported, never fatal.

        With a callback worker, the wrapper queues the call instead;
        ``droppable=False`` (account events) exempts it from the overflow policy.
        """
        worker = self._worker
        if worker is not None:
            submit = worker.submit

            def queue(event: Any) -> None:
                submit(callback, event, where, droppable)

            return queue
        failed = self._callback_failed

        def deliver(event: Any) -> None:
            try:
                callback(event)
            except Exception as exc:
                failed(where, exc)

        return deliver

    # -- for subclasses ---------------------------------------------------------------
    def _start_connections(self) -> None:
        raise NotImplementedError

    def _stop_connections(self) -> Any:
        raise NotImplementedError

    def _fail_pending(self, error: BaseException) -> None:
        """Fail every pending request future with ``error``."""

    def _protocol_error(self, text: str, raw: Any) -> None:
        """The server sent something unusable: count, log, report; never fatal."""
        from .errors import RemoteProtocolError
        self.stats.malformed_frames += 1
        log.warning("%s", text)
        err = RemoteProtocolError(text)
        err.raw = raw
        self._emit_error(err)


class Link:
    """One logical connection of a facade: a self-healing WebSocket plus, while
    it is open, a fresh pure protocol session.

    Exchange facades subclass it: :meth:`new_session` makes the session,
    :meth:`replay` sends what must be re-established on every open
    (subscriptions, login), :meth:`closed` reacts to a lost connection.
    Requests sent while closed wait in an outbox and go out, in order, right
    after the replay.
    """

    def __init__(self, client: "BaseClient", name: str, url: str, *, open_pacer: Any = None
                 ) -> None:
        self.client = client
        self.name = name
        self.session: Any = None
        self.opened_before = False
        self.outbox: list = []
        self.conn = WebSocketConnection(url, self, name=name, options=client._conn_options,
                                        reactor=client._get_reactor(), open_pacer=open_pacer)

    # -- for subclasses -----------------------------------------------------------
    def new_session(self) -> Any:
        """A fresh protocol session for a new connection (must have ``receive``)."""
        raise NotImplementedError

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """Re-establish subscriptions and login on a (re)opened connection."""

    def closed(self, reason: str) -> None:
        """The connection was lost (it will be re-opened unless stopped)."""

    # -- sending --------------------------------------------------------------------
    def send(self, frame: Any) -> None:
        """Send now if open, else right after the next open's replay."""
        if self.session is not None and self.conn.send(frame):
            return
        self.outbox.append(frame)

    # -- ConnectionListener ---------------------------------------------------------
    def connection_open(self, conn: WebSocketConnection) -> None:
        self.session = session = self.new_session()
        # The session's receive is the hot path: bind it straight to the connection.
        self.frame_received = session.receive
        self.replay(conn, session)
        outbox, self.outbox = self.outbox, []
        for frame in outbox:
            conn.send(frame)
        self.client._emit_state("reconnected" if self.opened_before else "connected", self.name)
        self.opened_before = True

    def frame_received(self, msg: Any) -> None:  # replaced by session.receive while open
        pass

    def frame_malformed(self, payload: bytes, reason: str) -> None:
        self.client._protocol_error(f"{self.name}: {reason}", payload[:200])

    def connection_closed(self, conn: WebSocketConnection, reason: str) -> None:
        self.session = None
        self.frame_received = _drop_frame
        self.closed(reason)
        self.client._emit_state("disconnected", self.name, reason)

    def connection_gave_up(self, conn: WebSocketConnection, reason: str) -> None:
        self.client._emit_state("gave_up", self.name, reason)
        self.client._emit_error(ConnectionLost(f"{self.name}: {reason}"))


def _drop_frame(_msg: Any) -> None:
    pass

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

from twisted.internet import defer

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
        max_connection_age: rotate each connection after this many seconds,
            opening the new one before closing the old (exchanges that cut
            connections at a fixed age, like Binance at 24 h). None: never.
        rotation_overlap: seconds both connections stay open during a rotation.
        compression: offer permessage-deflate on every connection (see
            :class:`~exchange_wss.connection.ConnectionOptions`).

    The other keywords are those of :class:`~exchange_wss.connection.ConnectionOptions`.
    Every client takes these same names (bt_api_py's ``ping_interval``,
    ``ping_timeout``, ``max_reconnect``, ``reconnect_delay`` and
    ``compression`` among them).
    """

    #: The venue this client speaks to (set by each exchange's client).
    venue: Any = None

    def __init__(self, *, on_event: Optional[Callback] = None, on_error: Optional[Callback] = None,
                 ping_interval: Optional[float] = 20.0, ping_timeout: Optional[float] = 10.0,
                 reconnect_delay: float = 1.0, max_reconnect_delay: float = 60.0,
                 max_reconnect: Optional[int] = None, stale_timeout: Optional[float] = 30.0,
                 open_timeout: float = 10.0, tls_options: Any = None, fast_path: bool = True,
                 reactor: Any = None,
                 callback_thread: bool = False, callback_queue_size: int = 10_000,
                 max_connection_age: Optional[float] = None, rotation_overlap: float = 5.0,
                 compression: bool = False) -> None:
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
            open_timeout=open_timeout, tls_options=tls_options, fast_path=fast_path,
            compression=compression)
        self._own_reactor = reactor is None
        self._reactor = reactor
        self._started = False
        self._stopped = False
        self._stopped_event = threading.Event()
        self._lock = threading.Lock()
        if max_connection_age is not None and max_connection_age <= 0:
            raise LocalProtocolError("max_connection_age must be positive or None")
        if rotation_overlap <= 0:
            raise LocalProtocolError("rotation_overlap must be positive")
        self.max_connection_age = max_connection_age
        self.rotation_overlap = rotation_overlap
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
            self._stopped_event.set()

    def run_forever(self) -> None:
        """Start (if not yet) and block until :meth:`stop` is called (from a
        callback or another thread) or Ctrl-C, which stops the client.

        For scripts that end with ``start()``: the reactor thread is a daemon,
        so without this the program ends as soon as the script does.
        """
        self.start()
        try:
            # Short waits so that Ctrl-C reaches the main thread promptly.
            while not self._stopped_event.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("interrupted: stopping the client")
            self.stop()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until the client is stopped; True if it was within ``timeout`` seconds."""
        return self._stopped_event.wait(timeout)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _native(self, symbol: Any) -> Any:
        """The venue's symbol for a unified one (``"BTC/USDT"``); natives pass through."""
        if isinstance(symbol, str) and "/" in symbol and self.venue is not None:
            from .symbols import to_native
            return to_native(self.venue, symbol)
        return symbol

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
        self._open_pacer = open_pacer
        self.conn = self._new_connection(url)
        # Rotation state (make-before-break, see rotate()).
        self._rotation_timer: Any = None
        self.retiring: Any = None        # (connection, session) being retired
        self._seen: Optional[dict] = None  # frame key -> 1 while de-duplicating

    def _new_connection(self, url: str) -> WebSocketConnection:
        client = self.client
        return WebSocketConnection(url, self, name=self.name, options=client._conn_options,
                                   reactor=client._get_reactor(), open_pacer=self._open_pacer)

    # -- for subclasses -----------------------------------------------------------
    def new_session(self) -> Any:
        """A fresh protocol session for a new connection (must have ``receive``)."""
        raise NotImplementedError

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """Re-establish subscriptions and login on a (re)opened connection."""

    def closed(self, reason: str) -> None:
        """The connection was lost (it will be re-opened unless stopped)."""

    def frame_key(self, msg: Any) -> Any:
        """A key equal for the same frame on two connections, for de-duplication
        during a rotation; None: never a duplicate (e.g. answers to requests).
        Links that rotate must override it."""
        return None

    def retired(self, connection: WebSocketConnection) -> None:
        """A rotated-out connection is closing: settle what was in flight on it."""

    # -- sending --------------------------------------------------------------------
    def send(self, frame: Any) -> None:
        """Send now if open, else right after the next open's replay."""
        if self.session is not None and self.conn.send(frame):
            return
        self.outbox.append(frame)

    # -- ConnectionListener ---------------------------------------------------------
    def connection_open(self, conn: WebSocketConnection) -> None:
        self.session = session = self.new_session()
        if self._seen is None:
            # The session's receive is the hot path: bind it straight to the connection.
            self.frame_received = session.receive
        else:
            self.frame_received = lambda msg, s=session: self._dedup(s, msg)
        self.replay(conn, session)
        outbox, self.outbox = self.outbox, []
        for frame in outbox:
            conn.send(frame)
        if self.retiring is not None:
            self.client._emit_state("rotated", self.name)
            self.client._get_reactor().callLater(self.client.rotation_overlap, self._retire)
        else:
            self.client._emit_state("reconnected" if self.opened_before else "connected",
                                    self.name)
        self.opened_before = True
        self._schedule_rotation()

    # -- rotation (make-before-break) -------------------------------------------------
    def _schedule_rotation(self) -> None:
        age = self.client.max_connection_age
        if age is None:
            return
        if self._rotation_timer is not None and self._rotation_timer.active():
            self._rotation_timer.cancel()
        self._rotation_timer = self.client._get_reactor().callLater(age, self.rotate)

    def rotate(self) -> None:
        """Replace the connection without a gap: open a new one, replay on it,
        keep both for ``rotation_overlap`` seconds delivering each frame once,
        then close the old one gracefully."""
        if self.session is None or self.retiring is not None or self.client._stopped:
            return
        old_conn, old_session = self.conn, self.session
        self.retiring = (old_conn, old_session)
        self._seen = {}
        old_conn.listener = _RetiringListener(self, old_session)
        self.conn = self._new_connection(old_conn.url)
        self.session = None  # requests wait for the new connection
        self.conn.start()

    def _dedup(self, session: Any, msg: Any) -> None:
        seen = self._seen
        key = self.frame_key(msg) if seen is not None else None
        if key is not None:
            # Each frame arrives at most twice (once per connection): deliver it
            # on first arrival, forget it on the second. Both connections are
            # ordered, so first arrivals keep the order.
            if seen.pop(key, None) is not None:
                return
            seen[key] = 1
        session.receive(msg)

    def _retire(self) -> None:
        if self.retiring is None:
            return
        old_conn, _old_session = self.retiring
        self.retiring = None
        self.retired(old_conn)
        old_conn.stop()
        # Frames the old connection delivered may still be on their way on the
        # new one: keep de-duplicating for one more overlap.
        self.client._get_reactor().callLater(self.client.rotation_overlap, self._end_dedup)

    def _end_dedup(self) -> None:
        if self.retiring is not None:
            return  # another rotation began meanwhile
        self._seen = None
        if self.session is not None:
            self.frame_received = self.session.receive

    def stop(self) -> defer.Deferred:
        """Stop this link's connections (both, during a rotation)."""
        if self._rotation_timer is not None and self._rotation_timer.active():
            self._rotation_timer.cancel()
        stops = [self.conn.stop()]
        if self.retiring is not None:
            stops.append(self.retiring[0].stop())
            self.retiring = None
        return defer.DeferredList(stops, consumeErrors=True)

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


class _RetiringListener:
    """Listens to a connection being rotated out: its frames still count (through
    the de-duplication), its closing is expected and reported to nobody."""

    def __init__(self, link: Link, session: Any) -> None:
        self.link = link
        self.session = session

    def connection_open(self, conn: WebSocketConnection) -> None:  # pragma: no cover
        conn.stop()  # a retired connection must not come back

    def frame_received(self, msg: Any) -> None:
        self.link._dedup(self.session, msg)

    def frame_malformed(self, payload: bytes, reason: str) -> None:
        self.link.frame_malformed(payload, reason)

    def connection_closed(self, conn: WebSocketConnection, reason: str) -> None:
        pass

    def connection_gave_up(self, conn: WebSocketConnection, reason: str) -> None:
        pass

"""What every exchange facade shares: lifecycle, hooks, safe callbacks, marshalling,
subscription handles and the request registry.

The facades (``WssClient`` and its Binance and FTX siblings) are used from any
thread; everything that touches connections runs on the reactor thread. This
base class owns that hand-over, the user's ``on_event``/``on_error`` hooks, the
isolation of user callbacks (an exception in one, of any kind, is logged with
its traceback and passed to ``on_error``; the connection and every other
callback go on), the registry of subscriptions (:mod:`._subscriptions`) and of
requests (:mod:`._requests`). Each connection is a :class:`Link`
(:mod:`._link`); an exchange adds what is its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self, TypedDict, TypeVar

from . import _reactor
from ._dispatch import CallbackWorker
from ._health import HealthMonitor, initial_health
from ._requests import Request, RequestFuture, RequestRegistry
from ._session import short
from ._subscriptions import Subscription
from .connection import ConnectionOptions
from .errors import (
    CallbackError,
    CallbackOverflow,
    ClientStopped,
    ExchangeWssError,
    LocalProtocolError,
    RemoteProtocolError,
)
from .models import BookSnapshot, ConnectionState, SubscriptionChanged, book_level_kind

__all__ = ["BaseClient", "ClientStats", "ClientOptions", "CallbackError", "Callback",
           "EventHook", "ErrorHook"]

log = logging.getLogger("exchange_wss.client")

_T = TypeVar("_T")

Callback = Callable[[Any], Any]
#: An ``on_event`` hook: called with informational events of many kinds
#: (:class:`~exchange_wss.models.ConnectionState`,
#: :class:`~exchange_wss.models.SubscriptionChanged`, server info, pongs), so
#: its argument is left open; narrow it with ``isinstance``.
EventHook = Callable[[Any], object]
#: An ``on_error`` hook: called with each error that did not stop the client.
ErrorHook = Callable[[ExchangeWssError], object]

class ClientOptions(TypedDict, total=False):
    """The keywords every client takes beside its own (see :class:`BaseClient`), so
    that a type checker knows their names and types in ``WssClient(**options)``."""

    on_event: EventHook | None
    on_error: ErrorHook | None
    ping_interval: float | None
    ping_timeout: float | None
    reconnect_delay: float
    max_reconnect_delay: float
    max_reconnect: int | None
    stale_timeout: float | None
    open_timeout: float
    tls_options: Any
    fast_path: bool
    max_message_size: int | None
    report_failures_after: int
    reactor: Any
    callback_thread: bool
    callback_queue_size: int
    request_timeout: float
    subscription_timeout: float
    max_connection_age: float | None
    rotation_overlap: float
    record: Any
    compression: bool
    stale_after: float | None
    health_interval: float | None


#: Default ``max_message_size``: Bitfinex's largest snapshots (R0 books of 250
#: orders a side, 10,000 trades) are a few hundred kB, Binance's all-market
#: ticker array about 1 MB.
DEFAULT_MAX_MESSAGE_SIZE = 4 * 1024 * 1024


@dataclass
class ClientStats:
    """Counters of what went wrong and was survived, for monitoring.

    Read them from any thread (``client.stats.reconnects``); they only grow.

    Attributes:
        reconnects: connections re-opened after a loss.
        connect_failures: attempts to open a connection that failed.
        malformed_frames: frames that could not be used (bad JSON, wrong shape).
        unexpected_frames: well-formed frames that answered nothing asked for
            (a duplicate ``subscribed``, an answer with an unknown id).
        oversized_messages: messages refused for exceeding ``max_message_size``.
        checksum_mismatches: books that differed from the exchange's checksum.
        sequence_gaps: sequence numbers skipped (connection or book resynced).
        resyncs: subscriptions started over from a snapshot.
        callback_errors: exceptions raised by user callbacks and hooks.
        callback_events_dropped: market-data events dropped because callbacks
            fell behind (``callback_thread=True``).
        requests_not_sent: requests that failed without leaving the process.
        requests_unknown: requests written whose fate stayed unknown.
        duplicate_fills: fills of a trade already delivered that arrived again
            and were left out (each exchange trade reaches the user once).
        superseded_order_updates: order updates left out because the account
            snapshot just delivered already told that state of the order (Binance).
    """

    reconnects: int = 0
    connect_failures: int = 0
    malformed_frames: int = 0
    unexpected_frames: int = 0
    oversized_messages: int = 0
    checksum_mismatches: int = 0
    sequence_gaps: int = 0
    resyncs: int = 0
    callback_errors: int = 0
    callback_events_dropped: int = 0
    requests_not_sent: int = 0
    requests_unknown: int = 0
    duplicate_fills: int = 0
    superseded_order_updates: int = 0


class BaseClient:
    """Shared machinery of the exchange clients (not public API).

    Args:
        on_event: called with informational events (connection state changes,
            subscription state changes, server info, pongs).
        on_error: called with the errors that did not stop the client, each an
            :class:`~exchange_wss.errors.ExchangeWssError`: exchange errors,
            protocol errors, checksum mismatches, connections that cannot be
            opened, exceptions raised by user callbacks (as
            :class:`~exchange_wss.errors.CallbackError`).
        reactor: a reactor to run on instead of the library's own thread
            (tests pass a ``MemoryReactorClock``; the caller then drives it).
        callback_thread: run callbacks on a worker thread of their own, so a
            slow callback cannot stall heartbeats or other channels (see
            :mod:`exchange_wss._dispatch` for the overflow policy).
        callback_queue_size: market-data events the worker may hold; beyond
            it the oldest are dropped and :class:`~exchange_wss.errors.CallbackOverflow`
            is reported. Account events are never dropped.
        request_timeout: seconds an order or other request may wait for its
            answer (or, unsent, for a usable connection) before it settles:
            unsent as :class:`~exchange_wss.errors.RequestNotSent`, sent as
            :class:`~exchange_wss.errors.OrderStateUnknown`.
        subscription_timeout: seconds to wait for the answer to a subscribe
            or unsubscribe.
        max_connection_age: rotate each connection after this many seconds,
            opening the new one before closing the old (exchanges that cut
            connections at a fixed age, like Binance at 24 h). None: never.
        rotation_overlap: the longest both connections stay open during a
            rotation; the old one is retired as soon as the new one delivers
            every stream it carries.
        stale_after: seconds without data, its connection open, after which a
            market-data subscription's health is ``stale`` (None: never). Each
            handle can have its own (``subscription.stale_after``); account
            streams default to never. See :meth:`health`.
        health_interval: seconds between two samples of the subscriptions'
            counters (None: one second, or a quarter of the smallest
            ``stale_after`` in use if that is shorter).
        record: record every connection's raw traffic: a directory path (the
            client makes a :class:`~exchange_wss.recording.Recorder` there and
            closes it at ``stop()``) or a ``Recorder`` of your own (yours to
            close). None (the default): nothing is recorded, at no cost.
        compression: offer permessage-deflate on every connection (see
            :class:`~exchange_wss.connection.ConnectionOptions`).

    The other keywords are those of :class:`~exchange_wss.connection.ConnectionOptions`.
    Every client takes these same names (bt_api_py's ``ping_interval``,
    ``ping_timeout``, ``max_reconnect``, ``reconnect_delay`` and
    ``compression`` among them).
    """

    #: The venue this client speaks to (set by each exchange's client).
    venue: Any = None

    def __init__(self, *, on_event: EventHook | None = None, on_error: ErrorHook | None = None,
                 ping_interval: float | None = 20.0, ping_timeout: float | None = 10.0,
                 reconnect_delay: float = 1.0, max_reconnect_delay: float = 60.0,
                 max_reconnect: int | None = None, stale_timeout: float | None = 30.0,
                 open_timeout: float = 10.0, tls_options: Any = None, fast_path: bool = True,
                 max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
                 report_failures_after: int = 3,
                 reactor: Any = None,
                 callback_thread: bool = False, callback_queue_size: int = 10_000,
                 request_timeout: float = 30.0, subscription_timeout: float = 10.0,
                 max_connection_age: float | None = None, rotation_overlap: float = 10.0,
                 record: Any = None, compression: bool = False,
                 stale_after: float | None = 60.0, health_interval: float | None = None
                 ) -> None:
        if on_event is not None and not callable(on_event):
            raise LocalProtocolError("on_event must be callable")
        if on_error is not None and not callable(on_error):
            raise LocalProtocolError("on_error must be callable")
        self.on_event: EventHook | None = on_event
        self.on_error: ErrorHook | None = on_error
        # Recording (exchange_wss.recording): a path becomes a Recorder we own.
        self._recorder, self._owns_recorder = record, False
        if record is not None and not hasattr(record, "opened"):
            from .recording import Recorder
            self._recorder, self._owns_recorder = Recorder(record, prefix=type(self).__name__), True
        self._conn_options = ConnectionOptions(
            ping_interval=ping_interval, ping_timeout=ping_timeout,
            reconnect_delay=reconnect_delay, max_reconnect_delay=max_reconnect_delay,
            max_reconnect=max_reconnect, stale_timeout=stale_timeout,
            open_timeout=open_timeout, tls_options=tls_options, fast_path=fast_path,
            max_message_size=max_message_size, report_failures_after=report_failures_after,
            record=self._recorder, compression=compression)
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
        if not subscription_timeout > 0:
            raise LocalProtocolError("subscription_timeout must be positive")
        self.max_connection_age = max_connection_age
        self.rotation_overlap = rotation_overlap
        self.subscription_timeout = subscription_timeout
        for name, value in (("stale_after", stale_after), ("health_interval", health_interval)):
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise LocalProtocolError(f"{name} must be positive or None")
        #: The default ``stale_after`` of new market-data subscriptions.
        self.stale_after = stale_after
        self._health = HealthMonitor(self, stale_after=stale_after, interval=health_interval)
        self.stats = ClientStats()
        self._subs: dict[str, Subscription] = {}
        self.requests = RequestRegistry(self._get_reactor(), request_timeout,
                                        on_settled=self._request_settled)
        self._worker: CallbackWorker | None = None
        if callback_thread:
            if callback_queue_size < 1:
                raise LocalProtocolError("callback_queue_size must be >= 1")
            self._worker = CallbackWorker(callback_queue_size, self._callback_failed,
                                          self._callbacks_overflowed,
                                          on_drop=self._callback_event_dropped)

    # -- thread hand-over -----------------------------------------------------
    def _get_reactor(self) -> Any:
        if self._reactor is None:
            self._reactor = _reactor.get_reactor()
        return self._reactor

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn`` on the reactor thread (now, when already there)."""
        if self._stopped:
            raise ClientStopped("the client was stopped")
        if not self._own_reactor:
            self._guarded(fn, args)
        else:
            _reactor.call_soon(self._guarded, fn, args)

    def _guarded(self, fn: Callable[..., Any], args: Any) -> None:
        # Nothing may raise unseen on the reactor thread: a failure of the
        # library itself is logged and reported like any other error.
        try:
            fn(*args)
        except BaseException as exc:
            log.exception("internal error in %s", getattr(fn, "__name__", fn))
            err = ExchangeWssError(f"internal error in {getattr(fn, '__name__', fn)}: "
                                   f"{type(exc).__name__}: {short(str(exc), 200)}")
            err.__cause__ = exc
            self._emit_error(err)

    def _call_and_wait(self, fn: Callable[..., _T], *args: Any, timeout: float = 10.0) -> _T:
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
        self._call(self._health.start)

    def stop(self, timeout: float = 5.0) -> None:
        """Close this client's connections gracefully and settle what is pending.

        Requests never written fail with :class:`~exchange_wss.errors.ClientStopped`;
        requests written and not answered fail with
        :class:`~exchange_wss.errors.OrderStateUnknown`. Other clients on the
        same reactor are untouched. Returns within ``timeout`` seconds, the
        close handshakes done or not. Idempotent.
        """
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        try:
            if not self._started:
                self._stop_requests()
                return
            try:
                self._call_and_wait(self._stop_connections, timeout=self._left(deadline))
            except TimeoutError:
                log.warning("stop(): connections did not close within %.1fs", timeout)
            finally:
                # The reactor may be wedged (a callback that never returns):
                # settle from here whatever it did not get to.
                if len(self.requests):
                    self._stop_requests()
        finally:
            if self._worker is not None:
                self._worker.stop(self._left(deadline))
            if self._owns_recorder:
                self._recorder.close(self._left(deadline))
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

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the client is stopped; True if it was within ``timeout`` seconds."""
        return self._stopped_event.wait(timeout)

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.01, deadline - time.monotonic())

    def __enter__(self) -> Self:
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
            except BaseException as exc:
                self._callback_failed("on_event", exc)

    def _emit_error(self, error: ExchangeWssError) -> None:
        hook = self.on_error
        if hook is None:
            log.warning("%s: %s", type(error).__name__, short(str(error), 300))
            return
        try:
            hook(error)
        except BaseException:
            self.stats.callback_errors += 1
            log.exception("exception in on_error hook (ignored)")

    def _emit_state(self, state: str, connection: str, reason: str | None = None) -> None:
        if state == "reconnected":
            self.stats.reconnects += 1
        log.info("%s: %s%s", connection, state, f" ({reason})" if reason else "")
        self._health.connection_state(state, connection, reason)
        self._emit_event(ConnectionState(state, connection, reason))

    def _callback_failed(self, where: str, exc: BaseException) -> None:
        self.stats.callback_errors += 1
        log.error("exception in user callback for %s", where, exc_info=exc)
        err = CallbackError(where)
        err.__cause__ = exc
        self._emit_error(err)

    def _callback_event_dropped(self) -> None:
        # Every drop is counted (the report below comes once per episode).
        self.stats.callback_events_dropped += 1

    def _callbacks_overflowed(self, dropped: int) -> None:
        log.warning("callbacks fell behind: %d market-data events dropped so far", dropped)
        self._emit_error(CallbackOverflow(
            f"callbacks fell behind; oldest market-data events dropped ({dropped} so far)"))

    def _safe(self, callback: Callback, where: str, droppable: bool = True) -> Callback:
        """Wrap a user callback so an exception in it is reported, never fatal.

        Every exception counts, ``KeyboardInterrupt`` and ``SystemExit`` too:
        raised on the reactor thread they are a callback's bug, not a Ctrl-C,
        and must not take the connection down.

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
            except BaseException as exc:
                failed(where, exc)

        return deliver

    def _protocol_error(self, text: str, raw: Any, error_type: type = RemoteProtocolError,
                        counter: str = "malformed_frames") -> None:
        """The server sent something unusable: count, log, report; never fatal."""
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        text = short(text, 300)
        log.warning("%s", text)
        err = error_type(text)
        err.raw = raw
        self._emit_error(err)

    # -- subscriptions ------------------------------------------------------------------
    def _register(self, label: str, spec: Any, callback: Callback, *, symbol: str | None = None,
                  book: Callable[[], Any] | None = None,
                  extra: Callable[[Subscription], Any] | None = None,
                  droppable: bool = True, quiet: bool = False) -> Subscription:
        """Register a subscription in the caller's thread and return its handle.

        ``extra(sub)`` makes the exchange's own state of a new subscription
        (a depth sync), before the reactor thread can see it. ``quiet`` (and
        account events, not ``droppable``): silence is its nature (a
        liquidation feed), so it never goes stale unless given a limit. A second
        registration of a live label adds a callback to the same subscription
        (one channel on the wire, events fanned out).
        """
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        deliver = self._safe(callback, label, droppable)
        with self._lock:
            if self._stopped:
                raise ClientStopped("the client was stopped")
            sub = self._subs.get(label)
            new = sub is None
            if sub is None:
                sub = Subscription(label, spec, symbol, book=book() if book else None,
                                   unsubscribe=self.unsubscribe)
                # Account events are quiet by nature: their silence is not staleness.
                sub.stale_after = self.stale_after if droppable and not quiet else None
                sub.health = initial_health(sub, self._get_reactor().seconds())
                if extra is not None:
                    sub.extra = extra(sub)
                self._subs[label] = sub
        self._call(self._attach, sub, deliver, new)
        return sub

    def _attach(self, sub: Subscription, deliver: Callback, new: bool) -> None:
        sub.add_callback(deliver)
        if new:
            if sub.wanted:
                self._place(sub)
            else:
                self._never_placed(sub)  # unsubscribed before it was ever sent
        elif sub.book is not None and sub.book.synced:
            # A later callback of a maintained book starts from its current state.
            book = sub.book
            deliver(BookSnapshot(sub.symbol or "", book.bids, book.asks,
                                 kind=book_level_kind(book.kind, book.funding)))

    def unsubscribe(self, subscription: Subscription | str) -> None:
        """Unsubscribe (all callbacks of) a subscription: the handle ``subscribe_to_*``
        returned, or its label.

        Safe at any moment: before the server confirmed the subscription, the
        unsubscribe is sent once it has.

        Raises:
            LocalProtocolError: no such subscription (or already unsubscribed).
        """
        label = subscription.label if isinstance(subscription, Subscription) else subscription
        with self._lock:
            sub = self._subs.get(label) if isinstance(label, str) else None
            if sub is None or (isinstance(subscription, Subscription) and sub is not subscription):
                raise LocalProtocolError(f"no subscription {short(subscription, 60)}")
            del self._subs[label]
            sub.wanted = False
        self._call(self._detach, sub)

    def subscriptions(self) -> list[Subscription]:
        """The subscriptions made and not unsubscribed, in the order they were made."""
        with self._lock:
            return list(self._subs.values())

    def _subscription(self, label: str) -> Subscription | None:
        with self._lock:
            return self._subs.get(label)

    def _book_copy(self, sub: Subscription, symbol: str) -> BookSnapshot:
        """A consistent copy of ``sub``'s book, made on the reactor thread."""
        book = sub.book

        def copy() -> BookSnapshot:
            synced = bool(book.synced) and sub.state == "active"
            return BookSnapshot(symbol, book.bids, book.asks, synced=synced,
                                kind=book_level_kind(book.kind, book.funding))

        return self._call_and_wait(copy)

    def _subscription_changed(self, sub: Subscription, previous: str,
                              reason: str | None = None) -> None:
        log.debug("%s: %s -> %s", sub.label, previous, sub.state)
        self._emit_event(SubscriptionChanged(sub.label, sub.state, previous, sub, reason))
        self._health.lifecycle_changed(sub, previous)

    # -- health -------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Every subscription's and connection's health, as plain data for monitoring.

        Safe from any thread, and cheap: it copies what the client's sampler
        (every second, see ``health_interval``) and its lifecycle events last
        recorded, so it answers even while the reactor thread is busy (the ages
        then grow: nothing is being processed). Everything is ``str``, ``float``,
        ``int``, ``bool``, None, lists and dicts: ``json.dumps(client.health())``
        works. Times are ``time.time()`` seconds (the reactor's clock).

        Returns:
            A dict:

            - ``time``: when this was read.
            - ``sampled_at``: when the counters were last sampled (None: not yet).
            - ``interval``: seconds between samples.
            - ``stale_after``: the client's default staleness limit (None: off).
            - ``states``: how many subscriptions are in each health state.
            - ``streams``: one dict per subscription, in the order they were made:
              ``label``; ``state`` (``pending``, ``live``, ``resyncing``, ``stale``,
              ``failed``); ``since`` (when it entered that state); ``reason`` (why it
              entered it, in words: ``"first data seen 0.26s after subscribing"``,
              ``"no data for 60s while public-0 is open"``); ``lifecycle``
              (``requested``, ``sent``, ``active``, ``resyncing``, ``failed``);
              ``connection`` (its connection's name);
              ``first_data`` (when its first data was seen, to within one sampling
              interval; None: none yet);
              ``last_message`` (when its data was last seen arriving, to within
              one sampling interval); ``age`` (seconds since ``last_message``);
              ``messages`` (data messages received); ``rate`` (messages per
              second over the last 10 s); ``resyncs``; ``stale_after`` (its own
              limit, None: never stale); ``sampled_at``; ``error`` (the last error
              its subscribe got, e.g. a refusal being retried; None once confirmed).
            - ``connections``: one dict per connection, as of the last sample or
              connection event: ``name``; ``state`` (``open``, ``closed``,
              ``gave_up``); ``since`` (None: it never opened yet); ``reason`` (why
              it last closed, None while open); ``auth`` (``none``, ``pending``,
              ``ok``, ``failed``; what each exchange can show, see
              ``docs/reliability.rst``) and ``authenticated`` (``auth == "ok"``);
              ``rtt`` (seconds of the last WebSocket ping's round trip, None
              while closed or before the first answer) and ``rtt_at``;
              ``reconnects``; ``requests`` (``queued``, ``written``, ``in_doubt``:
              the unsettled requests it holds); ``subscriptions`` (how many it
              carries); ``last_frame`` and ``last_frame_age`` (any frame,
              heartbeats included); ``sampled_at``.
            - ``stats``: :class:`ClientStats` as a dict.
        """
        return self._health.snapshot()

    def _links(self) -> list[Any]:
        """Every connection (link) of this client (for health)."""
        return []

    # -- requests ---------------------------------------------------------------------
    def _new_request(self, key: Any, frame: Any, kind: str, *, ident: Any = None,
                     report: bool = False, label: str | None = None) -> Request:
        """Register a request in the caller's thread (a pending key raises here)."""
        with self._lock:
            if self._stopped:
                raise ClientStopped(f"{label or kind} was not sent: the client was stopped")
        ident = key if ident is None else ident
        request = Request(key, frame, kind, future=RequestFuture(ident), report=report,
                          label=label, ident=ident)
        return self.requests.add(request)

    def _request_settled(self, request: Request, error: ExchangeWssError | None) -> None:
        from .errors import OrderStateUnknown, RequestNotSent
        if isinstance(error, RequestNotSent):
            self.stats.requests_not_sent += 1
        elif isinstance(error, OrderStateUnknown):
            self.stats.requests_unknown += 1
        if error is not None and request.report:
            self._emit_error(error)

    def _not_sent(self, what: str, why: str) -> None:
        """Report a frame without a future (a ping, a calc) that was not sent."""
        from .errors import RequestNotSent
        self.stats.requests_not_sent += 1
        self._emit_error(RequestNotSent(f"{what} was not sent: {why}; retrying is safe"))

    def _stop_requests(self) -> None:
        self.requests.stop()

    # -- for subclasses ---------------------------------------------------------------
    def _place(self, sub: Subscription) -> None:
        """Carry a new subscription on a connection (reactor thread)."""
        raise NotImplementedError

    def _detach(self, sub: Subscription) -> None:
        """The user unsubscribed ``sub`` (reactor thread)."""
        link = sub.link
        if link is not None:
            link.subs.remove(sub)
        else:
            self._never_placed(sub)

    def _never_placed(self, sub: Subscription) -> None:
        if sub.state != "gone":
            previous = sub.state
            sub._set("gone")
            self._subscription_changed(sub, previous, "unsubscribed before it was sent")

    def _start_connections(self) -> None:
        raise NotImplementedError

    def _stop_connections(self) -> Any:
        raise NotImplementedError

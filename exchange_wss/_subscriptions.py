r"""The lifecycle of one subscription, shared by every exchange, pure.

A :class:`Subscription` is what the user asked for (a channel and its
callbacks, a book); it outlives connections. A :class:`SubscriptionSet` drives
the subscriptions of one connection through their states::

    requested ──subscribe written──> sent ──confirmed──> active
        ^                             │  \                 │  \
        │                          refused  user left      │   resync (checksum, gap,
        │                  (retry, bounded) ──> unsubscribe │    update before snapshot)
        │                             │                    │       │
        │                             v             user unsubscribes  v
        └─── connection lost ──── requested      unsubscribing ──> gone    resyncing ──> sent
                                   (failed when
                                    retries run out)

What the user wants (:attr:`Subscription.wanted`) is the target; every
answer the server gives, expected or not, moves the subscription towards it:
an unsubscribe before the server confirmed waits for the confirmation and
then unsubscribes (the channel never stays live on the server), a refused
subscribe is retried with backoff a bounded number of times and then fails
visibly, a resync whose unsubscribe is refused subscribes again anyway, and
every wait has a deadline.

The set speaks to the wire only through its port (see :class:`SubscriptionPort`):
the exchange's session builds the frames and owns the mapping from wire ids
(Bitfinex chanId, Binance stream name, FTX channel and market) to
subscriptions. Nothing here imports Twisted; time comes from an injected clock
with ``callLater()`` (a reactor, or ``MemoryReactorClock`` in tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from .errors import ExchangeWssError, LocalProtocolError, SubscriptionError

__all__ = ["REQUESTED", "SENT", "ACTIVE", "RESYNCING", "UNSUBSCRIBING", "GONE", "FAILED",
           "Subscription", "SubscriptionPort", "SubscriptionSet"]

REQUESTED = "requested"
SENT = "sent"
ACTIVE = "active"
RESYNCING = "resyncing"
UNSUBSCRIBING = "unsubscribing"
GONE = "gone"
FAILED = "failed"

Callback = Callable[[Any], Any]


def _ignore(_event: Any) -> None:
    pass


class Subscription:
    """A handle on one subscription: what was asked for, and where it stands.

    ``subscribe_to_*`` returns it at once (registered in the caller's thread),
    so :meth:`unsubscribe` and ``client.order_book()`` work right away.
    ``str(subscription)`` is its :attr:`label`, which ``client.unsubscribe()``
    also accepts.

    Attributes:
        label: a stable name (``"ticker:tBTCUSD"``, ``"btcusdt@aggTrade"``).
        spec: the exchange's description of the channel (its session reads it).
        symbol: the symbol or market, if any.
        state: ``"requested"`` (not sent yet), ``"sent"`` (waiting for the
            server), ``"active"``, ``"resyncing"``, ``"unsubscribing"``,
            ``"gone"`` or ``"failed"`` (could not be restored; see :attr:`error`).
        error: the last error that stopped it, or None.
        wanted: False once the user unsubscribed.
        book: the :class:`~exchange_wss.orderbook.OrderBook` it maintains, if any.
        resyncs: how many times it was resynced.
        resync_reason: why it was last resynced (a checksum mismatch, a gap...), or None.
        health: its :class:`~exchange_wss._health.SubscriptionHealth` (``pending``,
            ``live``, ``resyncing``, ``stale`` or ``failed``; last message, rate...),
            replaced whole by its client's health sampler, so a read from any
            thread is consistent. None until a client tracks it.
    """

    __slots__ = ("label", "spec", "symbol", "book", "state", "error", "wanted", "attempts",
                 "resyncs", "resync_reason", "health", "_stale_after", "callbacks", "deliver",
                 "_listeners", "_unsubscribe", "_timer", "link", "extra", "__weakref__")

    def __init__(self, label: str, spec: Any, symbol: str | None = None, *,
                 book: Any = None, unsubscribe: Callable[[Subscription], None] | None = None
                 ) -> None:
        self.label = label
        self.spec = spec
        self.symbol = symbol
        self.book = book
        self.state = REQUESTED
        self.error: BaseException | None = None
        self.wanted = True
        self.attempts = 0
        self.resyncs = 0
        self.resync_reason: str | None = None
        self.health: Any = None
        self._stale_after: float | None = None
        self.callbacks: list[Callback] = []
        self.deliver: Callback = _ignore
        self._listeners: list[Callable[[Subscription], Any]] = []
        self._unsubscribe = unsubscribe
        self._timer: Any = None
        #: The connection (the facade's link) that carries it.
        self.link: Any = None
        #: Free slot for the exchange's own per-subscription state (e.g. a depth sync).
        self.extra: Any = None

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return f"<Subscription {self.label} {self.state}>"

    def add_callback(self, callback: Callback) -> None:
        """Deliver events to ``callback`` too (in the order callbacks were added)."""
        self.callbacks.append(callback)
        if len(self.callbacks) == 1:
            self.deliver = callback
        else:
            def fan_out(event: Any, _cbs: tuple[Callback, ...] = tuple(self.callbacks)) -> None:
                for cb in _cbs:
                    cb(event)
            self.deliver = fan_out

    def add_listener(self, listener: Callable[[Subscription], Any]) -> None:
        """Call ``listener(subscription)`` (on the reactor thread) on every state change."""
        self._listeners.append(listener)

    def unsubscribe(self) -> None:
        """Unsubscribe (same as ``client.unsubscribe(subscription)``)."""
        if self._unsubscribe is not None:
            self._unsubscribe(self)

    @property
    def stale_after(self) -> float | None:
        """Seconds without data, its connection open, after which its health is
        ``stale`` (None: never, the default of account streams, quiet by nature).

        A new subscription gets its client's ``stale_after``; set it here for a
        stream quieter or busier than the rest (safe from any thread).

        Raises:
            LocalProtocolError: not a positive number or None.
        """
        return self._stale_after

    @stale_after.setter
    def stale_after(self, seconds: float | None) -> None:
        if seconds is not None and (isinstance(seconds, bool) or
                                    not isinstance(seconds, (int, float)) or
                                    not seconds > 0 or seconds != seconds):
            raise LocalProtocolError(f"stale_after must be a positive number or None, "
                                     f"not {seconds!r}")
        self._stale_after = None if seconds is None else float(seconds)

    @property
    def synced(self) -> bool:
        """For book subscriptions: the book holds a verified snapshot and its updates."""
        book = self.book
        return bool(book is not None and getattr(book, "synced", False))

    def _set(self, state: str) -> bool:
        if self.state == state:
            return False
        self.state = state
        for listener in list(self._listeners):
            listener(self)
        return True


class SubscriptionPort(Protocol):
    """What a :class:`SubscriptionSet` needs from its connection (the facade's link)."""

    def send_subscribe(self, sub: Subscription) -> bool:
        """Write the subscribe request (the session expects the answer); False
        if the connection did not take the bytes."""

    def send_unsubscribe(self, sub: Subscription) -> bool | None:
        """Stop routing ``sub``'s data and write the unsubscribe request.

        Returns True if written, False if the connection did not take the
        bytes, None if there is nothing to unsubscribe on the wire (the server
        never confirmed it on this connection)."""

    def reconnect(self, reason: str) -> None:
        """Drop the connection (it re-opens; every subscription is replayed)."""

    def report(self, sub: Subscription, error: ExchangeWssError) -> None:
        """Tell the user (``on_error``)."""

    def changed(self, sub: Subscription, old_state: str) -> None:
        """``sub`` moved from ``old_state`` to ``sub.state``."""


class SubscriptionSet:
    """The subscriptions carried by one connection, each driven to what the user wants.

    Args:
        port: the connection side (see :class:`SubscriptionPort`).
        clock: ``callLater(delay, fn)``.
        answer_timeout: seconds to wait for a subscribe or unsubscribe answer.
        max_attempts: refused or unanswered subscribes before the subscription
            fails (per connection; a new connection tries again).
        retry_delay: ``(attempt) -> seconds`` before the next subscribe.
    """

    def __init__(self, port: SubscriptionPort, clock: Any, *, answer_timeout: float = 10.0,
                 max_attempts: int = 4,
                 retry_delay: Callable[[int], float] = lambda n: min(2.0 ** (n - 1), 30.0)
                 ) -> None:
        self.port = port
        self.clock = clock
        self.answer_timeout = answer_timeout
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.is_open = False
        self._subs: dict[int, Subscription] = {}

    # ------------------------------------------------------------------- queries
    def __len__(self) -> int:
        return len(self._subs)

    def __iter__(self) -> Any:
        return iter(list(self._subs.values()))

    def __contains__(self, sub: Subscription) -> bool:
        return id(sub) in self._subs

    # --------------------------------------------------------------- user intent
    def add(self, sub: Subscription) -> None:
        """Carry ``sub`` on this connection; subscribe now if it is open."""
        self._subs[id(sub)] = sub
        sub.wanted = True
        if self.is_open:
            self._send(sub)

    def remove(self, sub: Subscription) -> None:
        """The user unsubscribed: converge to nothing on the server."""
        sub.wanted = False
        state = sub.state
        if state in (REQUESTED, FAILED):
            self._gone(sub)
        elif state == ACTIVE:
            self._unsubscribe(sub)
        # sent: unsubscribed once confirmed; resyncing and unsubscribing: gone
        # once the unsubscribe is answered.

    # --------------------------------------------------------- connection events
    def opened(self, *, rotation: bool = False) -> None:
        """A (new) connection is open: subscribe everything wanted on it.

        With ``rotation`` the old connection still delivers: active
        subscriptions stay active while the new one subscribes.
        """
        self.is_open = True
        for sub in list(self._subs.values()):
            self._cancel_timer(sub)
            if not sub.wanted:
                self._gone(sub)
                continue
            if sub.state == FAILED:
                sub.attempts = 0
            if rotation and sub.state == ACTIVE:
                self.port.send_subscribe(sub)
                continue
            self._to(sub, REQUESTED)
            self._send(sub)

    def closed(self) -> None:
        """The connection is gone: what is wanted waits for the next one."""
        self.is_open = False
        for sub in list(self._subs.values()):
            self._cancel_timer(sub)
            if not sub.wanted:
                self._gone(sub)
            elif sub.state != FAILED:
                self._unsynced(sub)
                self._to(sub, REQUESTED)

    def stop(self) -> None:
        """The client stops: every subscription is gone."""
        self.is_open = False
        for sub in list(self._subs.values()):
            sub.wanted = False
            self._gone(sub)

    # ------------------------------------------------------------ server answers
    def confirmed(self, sub: Subscription) -> None:
        """The server confirmed the subscribe."""
        if sub.state != SENT:
            return  # e.g. the confirmation of a rotation's second subscribe
        self._cancel_timer(sub)
        sub.attempts = 0
        sub.error = None
        if sub.wanted:
            self._to(sub, ACTIVE)
        else:
            self._unsubscribe(sub)

    def refused(self, sub: Subscription, error: ExchangeWssError,
                duplicate: bool = False) -> None:
        """The server refused the subscribe: retry (bounded), or fail visibly.

        A ``duplicate`` refusal means the server still carries the channel (a
        refused or lost unsubscribe) but nothing on this connection is bound to
        it: only a fresh connection gives both sides the same view again, so
        the connection is re-opened (counted as an attempt)."""
        if sub.state != SENT:
            return
        self._cancel_timer(sub)
        if not sub.wanted:
            self._gone(sub)
            return
        if duplicate:
            sub.attempts += 1
            sub.error = error
            if sub.attempts >= self.max_attempts:
                self._to(sub, FAILED)
            else:
                self._to(sub, REQUESTED)
            self.port.report(sub, error)
            if sub.state != FAILED:
                self.port.reconnect(f"{sub.label}: the server still carries it")
            return
        self._retry_or_fail(sub, error)

    def unsubscribed(self, sub: Subscription) -> None:
        """The server confirmed an unsubscribe."""
        state = sub.state
        if state not in (UNSUBSCRIBING, RESYNCING):
            return
        self._cancel_timer(sub)
        if state == RESYNCING and sub.wanted:
            self._to(sub, REQUESTED)
            self._send(sub)
        else:
            self._gone(sub)

    def unsubscribe_refused(self, sub: Subscription, error: ExchangeWssError,
                            gone: bool = False) -> None:
        """The server refused an unsubscribe. ``gone``: it says it does not carry
        the channel; otherwise it may still, and the unsubscribe is tried again
        (bounded; then the connection is re-opened, which ends every channel)."""
        state = sub.state
        if state not in (UNSUBSCRIBING, RESYNCING):
            return
        self._cancel_timer(sub)
        self.port.report(sub, error)
        if state == RESYNCING and sub.wanted:
            # Its data is no longer routed; subscribing again gets a fresh
            # snapshot, which is what the resync is for (a server that still
            # carries it answers "already subscribed": then a fresh connection).
            self._to(sub, REQUESTED)
            self._send(sub)
        elif gone:
            self._gone(sub)
        else:
            sub.attempts += 1
            if sub.attempts >= self.max_attempts:
                self.port.reconnect(f"{sub.label}: unsubscribe refused {sub.attempts} times")
            else:
                self._start_timer(sub, self.retry_delay(sub.attempts), self._unsubscribe_again)

    def _unsubscribe_again(self, sub: Subscription) -> None:
        sub._timer = None
        if sub.state == UNSUBSCRIBING and not sub.wanted:
            written = self.port.send_unsubscribe(sub)
            if written:
                self._start_timer(sub, self.answer_timeout, self._unsubscribe_timed_out)
            else:
                self._gone(sub)

    def resync(self, sub: Subscription, reason: str | None = None) -> None:
        """Start over from a fresh snapshot (checksum mismatch, gap, update
        before the snapshot): unsubscribe, then subscribe once confirmed.
        ``reason`` is kept as :attr:`Subscription.resync_reason`."""
        if sub.state != ACTIVE or not sub.wanted:
            return
        sub.resyncs += 1
        sub.resync_reason = reason
        self._unsynced(sub)
        written = self.port.send_unsubscribe(sub)
        if written is None:
            self._to(sub, REQUESTED)
            self._send(sub)
        elif written:
            self._to(sub, RESYNCING)
            self._start_timer(sub, self.answer_timeout, self._unsubscribe_timed_out)
        else:
            self._to(sub, REQUESTED)  # the connection is closing: replayed on the next

    # ----------------------------------------------------------------- internals
    def _send(self, sub: Subscription) -> None:
        if not self.is_open or not sub.wanted:
            return
        if self.port.send_subscribe(sub):
            self._to(sub, SENT)
            self._start_timer(sub, self.answer_timeout, self._subscribe_timed_out)
        # else: the connection is closing; it stays requested for the next one

    def _unsubscribe(self, sub: Subscription) -> None:
        self._unsynced(sub)
        written = self.port.send_unsubscribe(sub)
        if written:
            self._to(sub, UNSUBSCRIBING)
            self._start_timer(sub, self.answer_timeout, self._unsubscribe_timed_out)
        else:
            # Nothing bound on the wire, or the connection is closing (and the
            # server forgets the channel with it).
            self._gone(sub)

    def _retry_or_fail(self, sub: Subscription, error: ExchangeWssError) -> None:
        sub.attempts += 1
        sub.error = error
        if sub.attempts >= self.max_attempts:
            self._to(sub, FAILED)
            self.port.report(sub, SubscriptionError(
                getattr(error, "code", None),
                f"{sub.label}: gave up after {sub.attempts} attempts: {_text(error)}",
                getattr(error, "raw", None)))
            return
        delay = self.retry_delay(sub.attempts)
        self.port.report(sub, error)
        self._to(sub, REQUESTED)
        self._start_timer(sub, delay, self._retry)

    def _retry(self, sub: Subscription) -> None:
        sub._timer = None
        if sub.state == REQUESTED and sub.wanted:
            self._send(sub)

    def _subscribe_timed_out(self, sub: Subscription) -> None:
        sub._timer = None
        if sub.state != SENT:
            return
        error = SubscriptionError(None, f"{sub.label}: no answer to subscribe within "
                                        f"{self.answer_timeout:g}s")
        if not sub.wanted:
            self._gone(sub)
            return
        sub.attempts += 1
        sub.error = error
        if sub.attempts >= self.max_attempts:
            self._to(sub, FAILED)
            self.port.report(sub, error)
            return
        # The server's view is unknowable now (it may have subscribed and lost
        # the answer): only a fresh connection gives a clean slate.
        self.port.report(sub, error)
        self.port.reconnect(f"{sub.label}: subscribe not answered")

    def _unsubscribe_timed_out(self, sub: Subscription) -> None:
        sub._timer = None
        if sub.state == RESYNCING and sub.wanted:
            self.port.report(sub, SubscriptionError(
                None, f"{sub.label}: unsubscribe not answered within {self.answer_timeout:g}s; "
                      "subscribing again"))
            self._to(sub, REQUESTED)
            self._send(sub)
        elif sub.state in (UNSUBSCRIBING, RESYNCING):
            self._gone(sub)

    def _gone(self, sub: Subscription) -> None:
        self._cancel_timer(sub)
        self._unsynced(sub)
        self._subs.pop(id(sub), None)
        self._to(sub, GONE)

    @staticmethod
    def _unsynced(sub: Subscription) -> None:
        book = sub.book
        if book is not None:
            book.synced = False

    def _to(self, sub: Subscription, state: str) -> None:
        old = sub.state
        if sub._set(state):
            self.port.changed(sub, old)

    def _start_timer(self, sub: Subscription, delay: float,
                     fn: Callable[[Subscription], None]) -> None:
        self._cancel_timer(sub)
        sub._timer = self.clock.callLater(delay, fn, sub)

    @staticmethod
    def _cancel_timer(sub: Subscription) -> None:
        timer = sub._timer
        sub._timer = None
        if timer is not None and timer.active():
            timer.cancel()


def _text(error: BaseException) -> str:
    msg = getattr(error, "msg", None)
    return str(msg) if msg is not None else str(error)

"""Per-stream and per-connection health for the terminal views, worked out from what the
callbacks and ``on_event``/``on_error`` show.

This is an adapter: the clients do not report per-subscription health yet, so
:class:`HealthTracker` derives it, in the view layer, from the messages each
callback gets, the :class:`~exchange_wss.models.ConnectionState` events and the
errors. Everything else in :mod:`exchange_wss.cli` reads health only through
:meth:`HealthTracker.streams` and :meth:`HealthTracker.connections` (plain data), so
when the clients gain ``client.health()`` this class is the one place to change.

What it cannot know from outside the client, and so guesses (the client's own
report will not): which connection a stream rides (the venue names a connection
prefix, e.g. ``public-``), and which stream an error is about (matched on the
stream's labels in the error's text).

States, as the clients will name them: ``pending`` (subscribed, no data yet, or
its connection is down), ``live``, ``resyncing`` (a book being rebuilt after a
checksum mismatch or a gap), ``stale`` (no data for ``stale_after`` seconds while
its connection is up), ``failed`` (refused by the exchange, or the connection gave up).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["HealthTracker", "StreamHealth", "ConnectionHealth", "HealthChange", "STATES"]

STATES = ("pending", "live", "resyncing", "stale", "failed")

#: Connection states after which the connection carries data again.
_UP = {"connected", "reconnected", "rotated", "authenticated", "resumed",
       "user data subscribed"}


@dataclass(frozen=True)
class StreamHealth:
    """One stream as last seen (times are ``time.monotonic()`` values).

    Attributes:
        name: what the views call it, e.g. ``"book tBTCUSD"``.
        state: one of :data:`STATES`.
        since: when it entered ``state``.
        last_message: when its last message arrived (None: never).
        messages: messages received.
        rate: messages per second over the tracker's window.
        resyncs: times it was rebuilt (checksum mismatch, gap).
        reason: why it is in ``state`` when that is not ``live``.
    """

    name: str
    channel: str
    symbol: Optional[str]
    connection: Optional[str]
    state: str
    since: float
    last_message: Optional[float]
    messages: int
    rate: float
    resyncs: int
    reason: Optional[str]

    def age(self, now: float) -> Optional[float]:
        """Seconds since the last message (None: no message yet)."""
        return None if self.last_message is None else now - self.last_message


@dataclass(frozen=True)
class ConnectionHealth:
    """One connection as last reported on ``on_event``.

    Attributes:
        state: ``up``, ``down``, ``paused`` or ``gave up``.
        latency: the last measured round trip of an application ping, in seconds
            (None where the venue's client offers no ping with an answer).
    """

    name: str
    state: str
    since: float
    reason: Optional[str]
    authenticated: bool
    latency: Optional[float]


@dataclass(frozen=True)
class HealthChange:
    """A stream changed state: the signal the views log (first data, stale, recovered...)."""

    stream: str
    old: str
    new: str
    text: str


@dataclass
class _Stream:
    name: str
    channel: str
    symbol: Optional[str]
    connection: Optional[str]
    labels: Tuple[str, ...]
    state: str
    since: float
    added: float
    last_message: Optional[float] = None
    messages: int = 0
    resyncs: int = 0
    reason: Optional[str] = None
    ever_live: bool = False
    stale_after: Optional[float] = None  # None: never stale (account streams are quiet)
    buckets: deque = field(default_factory=deque)  # (whole second, count)


@dataclass
class _Connection:
    name: str
    state: str
    since: float
    reason: Optional[str] = None
    authenticated: bool = False
    latency: Optional[float] = None


class HealthTracker:
    """Derives per-stream health from callbacks and events (see the module docstring).

    Thread-safe: messages arrive on the reactor thread, views read on theirs.

    Args:
        stale_after: seconds without data, connection up, after which a live
            stream is ``stale``.
        window: seconds the message rate is averaged over.
        clock: the time source (tests pass a fake one).
    """

    def __init__(self, stale_after: float = 10.0, window: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if stale_after <= 0 or window <= 0:
            raise ValueError("stale_after and window must be positive")
        self.stale_after = stale_after
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._streams: Dict[str, _Stream] = {}
        self._connections: Dict[str, _Connection] = {}
        self._pings: Dict[Any, Tuple[str, float]] = {}

    # -- what the venue registers --------------------------------------------------------
    def add_stream(self, name: str, channel: str, symbol: Optional[str] = None,
                   connection: Optional[str] = None, labels: Sequence[str] = (),
                   can_go_stale: bool = True) -> None:
        """Register a stream, ``pending`` until its first message.

        Args:
            name: unique name, e.g. ``"book tBTCUSD"``.
            connection: prefix of the connection names that may carry it (``"public-"``).
            labels: texts that name it in the client's errors (``"ticker:tBTCUSD"``).
            can_go_stale: False for streams whose silence is normal (an account's events).
        """
        now = self._clock()
        with self._lock:
            self._streams[name] = _Stream(name, channel, symbol, connection, tuple(labels),
                                          "pending", now, now,
                                          stale_after=self.stale_after if can_go_stale else None)

    # -- what the callbacks report -----------------------------------------------------------
    def message(self, name: str, snapshot: bool = False) -> Optional[HealthChange]:
        """A message arrived on ``name``; ``snapshot`` marks a full book (ends a resync).

        Returns:
            The change of state it caused, if any.
        """
        now = self._clock()
        with self._lock:
            stream = self._streams.get(name)
            if stream is None:
                return None
            previous = stream.last_message
            stream.messages += 1
            stream.last_message = now
            second = int(now)
            buckets = stream.buckets
            if buckets and buckets[-1][0] == second:
                buckets[-1] = (second, buckets[-1][1] + 1)
            else:
                buckets.append((second, 1))
                while buckets and buckets[0][0] <= second - self.window:
                    buckets.popleft()
            if stream.state == "live" or (stream.state == "resyncing" and not snapshot):
                return None
            old = stream.state
            if not stream.ever_live:
                waited = now - stream.added
                text = (f"first data after {waited * 1000:.0f}ms" if waited < 1 else
                        f"first data after {waited:.1f}s")
            elif old == "stale":
                text = f"recovered after {now - (previous or now):.1f}s of silence"
            elif old == "resyncing":
                text = "resynced"
            else:
                text = "recovered"
            stream.ever_live = True
            return self._set(stream, "live", now, None, text)

    def on_event(self, event: Any) -> List[HealthChange]:
        """Feed an ``on_event`` event: connection states, pongs, error answers."""
        kind = type(event).__name__
        if kind == "ConnectionState":
            return self._connection_state(event.state, event.connection, event.reason)
        if kind == "Pong":
            self.pong(getattr(event, "cid", None))
            return []
        error = getattr(event, "error", None)  # Binance answers refusals in a Response
        if isinstance(error, BaseException):
            return self.on_error(error)
        return []

    def on_error(self, error: BaseException) -> List[HealthChange]:
        """Feed an ``on_error`` exception; those naming a stream change its state."""
        kind = type(error).__name__
        if kind in ("ChecksumMismatch", "SequenceGap"):
            new, reason = "resyncing", kind
        elif kind in ("SubscriptionError", "ExchangeError"):
            new, reason = "failed", str(error)
        else:
            return []
        text = str(error)
        now = self._clock()
        changes = []
        with self._lock:
            for stream in self._streams.values():
                if any(label and label in text for label in stream.labels):
                    if new == "resyncing":
                        stream.resyncs += 1
                    if stream.state != new:
                        changes.append(self._set(stream, new, now, reason, reason))
        return changes

    def ping_sent(self, connection: str, token: Any) -> None:
        """An application ping ``token`` left on ``connection``; :meth:`pong` measures it."""
        with self._lock:
            self._pings[token] = (connection, self._clock())
            if len(self._pings) > 64:  # answers that never came: keep the newest
                self._pings.pop(next(iter(self._pings)))

    def pong(self, token: Any) -> None:
        """The answer to ping ``token`` arrived."""
        now = self._clock()
        with self._lock:
            sent = self._pings.pop(token, None)
            if sent is None:
                return
            conn = self._connections.get(sent[0])
            if conn is not None:
                conn.latency = now - sent[1]

    def poll(self) -> List[HealthChange]:
        """Check for streams gone stale; call it now and then (the views do, at each refresh)."""
        now = self._clock()
        changes = []
        with self._lock:
            for stream in self._streams.values():
                limit = stream.stale_after
                if (limit is not None and stream.state == "live"
                        and stream.last_message is not None
                        and now - stream.last_message >= limit and self._carried(stream)):
                    changes.append(self._set(stream, "stale", now, f"no data for {limit:g}s",
                                             f"no data for {limit:g}s, connection up"))
        return changes

    # -- what the views read -------------------------------------------------------------------
    def streams(self) -> List[StreamHealth]:
        """Every stream, in registration order, as plain data."""
        now = self._clock()
        with self._lock:
            return [StreamHealth(s.name, s.channel, s.symbol, s.connection, s.state, s.since,
                                 s.last_message, s.messages, self._rate(s, now), s.resyncs,
                                 s.reason) for s in self._streams.values()]

    def stream(self, name: str) -> Optional[StreamHealth]:
        """One stream by name (None: not registered)."""
        return next((s for s in self.streams() if s.name == name), None)

    def connections(self) -> List[ConnectionHealth]:
        """Every connection seen on ``on_event``, in order of first appearance."""
        with self._lock:
            return [ConnectionHealth(c.name, c.state, c.since, c.reason, c.authenticated,
                                     c.latency) for c in self._connections.values()]

    def now(self) -> float:
        """The tracker's clock (ages in :class:`StreamHealth` are against it)."""
        return self._clock()

    # -- internals ---------------------------------------------------------------------------
    def _connection_state(self, state: str, name: str, reason: Optional[str]
                          ) -> List[HealthChange]:
        now = self._clock()
        changes: List[HealthChange] = []
        with self._lock:
            conn = self._connections.get(name)
            if conn is None:
                conn = self._connections[name] = _Connection(name, "down", now)
            if state in _UP:
                if conn.state != "up":
                    conn.state, conn.since, conn.reason = "up", now, None
                if state == "authenticated":
                    conn.authenticated = True
            elif state in ("disconnected", "gave_up"):
                conn.state = "down" if state == "disconnected" else "gave up"
                conn.since, conn.reason, conn.authenticated = now, reason, False
                conn.latency = None
                new = "pending" if state == "disconnected" else "failed"
                why = f"{name} {'down' if state == 'disconnected' else 'gave up'}"
                for stream in self._streams.values():
                    if self._rides(stream, name) and stream.state not in ("pending", "failed"):
                        changes.append(self._set(stream, new, now, why, why))
            elif state == "paused":
                conn.state, conn.since, conn.reason = "paused", now, reason
        return changes

    @staticmethod
    def _rides(stream: _Stream, connection: str) -> bool:
        return stream.connection is not None and connection.startswith(stream.connection)

    def _carried(self, stream: _Stream) -> bool:
        """Whether a connection that may carry ``stream`` is up (unknown counts as up)."""
        matching = [c for c in self._connections.values() if self._rides(stream, c.name)]
        return not matching or any(c.state == "up" for c in matching)

    def _rate(self, stream: _Stream, now: float) -> float:
        horizon = now - self.window
        count = sum(n for second, n in stream.buckets if second + 1 > horizon)
        # A stream younger than the window is averaged over its own life.
        span = min(self.window, max(1.0, now - stream.added))
        return count / span

    @staticmethod
    def _set(stream: _Stream, state: str, now: float, reason: Optional[str],
             text: str) -> HealthChange:
        old = stream.state
        stream.state, stream.since, stream.reason = state, now, reason
        return HealthChange(stream.name, old, state, text)

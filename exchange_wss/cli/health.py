"""Per-stream and per-connection health for the terminal views, from the client's own
report (``client.health()``).

:class:`HealthTracker` is the one place the CLI reads health: everything else in
:mod:`exchange_wss.cli` sees it only through :meth:`HealthTracker.streams` and
:meth:`HealthTracker.connections` (plain records) and the :class:`HealthChange`
signals. Once :meth:`HealthTracker.attach` gave it a client, a stream bound to
that client's subscription handle (:meth:`HealthTracker.bind`) shows what the
client reports for it (state, last message, rate, resyncs, why), every connection
is the client's (open or not, authenticated, the WebSocket ping's round trip), and
the client's :class:`~exchange_wss.models.StreamHealth` signals become the views'
changes. The tracker only renames (a view's ``"book tBTCUSD"`` is the client's
``"book:tBTCUSD:P0"``) and puts the client's times on its own clock.

What the client has no handle for is counted here from the stream's callback, as
before the clients reported health: the demo's account events (Bitfinex's account
channel and Binance's user data are not subscription handles), and streams a test
feeds by hand. Those never go stale unless registered with ``can_go_stale``, and
follow the ``on_event`` connection states of the connection they ride.

States, as the clients name them: ``pending``, ``live``, ``resyncing``, ``stale``,
``failed`` (see :mod:`exchange_wss._health`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["HealthTracker", "StreamHealth", "ConnectionHealth", "HealthChange", "STATES"]

STATES = ("pending", "live", "resyncing", "stale", "failed")

#: Connection states after which the connection carries data again.
_UP = {"connected", "reconnected", "rotated", "authenticated", "resumed",
       "user data subscribed"}
#: The client's connection states as the views name them.
_CONNECTION_STATES = {"open": "up", "closed": "down", "gave_up": "gave up"}


@dataclass(frozen=True)
class StreamHealth:
    """One stream as last seen (times are the tracker's clock, ``time.monotonic()``).

    Attributes:
        name: what the views call it, e.g. ``"book tBTCUSD"``.
        connection: the connection carrying it (the client's name when bound,
            else the prefix it was registered with).
        state: one of :data:`STATES`.
        since: when it entered ``state``.
        last_message: when its last message arrived (None: never).
        messages: messages received.
        rate: messages per second.
        resyncs: times it was rebuilt (checksum mismatch, gap).
        reason: why it is in ``state``.
        error: the last error the exchange answered it with (a refusal), if any.
    """

    name: str
    channel: str
    symbol: str | None
    connection: str | None
    state: str
    since: float
    last_message: float | None
    messages: int
    rate: float
    resyncs: int
    reason: str | None
    error: str | None = None

    def age(self, now: float) -> float | None:
        """Seconds since the last message (None: no message yet)."""
        return None if self.last_message is None else max(0.0, now - self.last_message)


@dataclass(frozen=True)
class ConnectionHealth:
    """One connection.

    Attributes:
        state: ``connecting``, ``up``, ``down``, ``paused`` or ``gave up``.
        latency: the round trip of its last WebSocket ping, in seconds (None: none yet).
        reconnects: times the client re-opened it.
        requests: requests it holds unsettled (queued, written or in doubt).
    """

    name: str
    state: str
    since: float
    reason: str | None
    authenticated: bool
    latency: float | None
    reconnects: int = 0
    requests: int = 0


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
    symbol: str | None
    connection: str | None
    state: str
    since: float
    added: float
    subscription: Any = None  # the client's handle, once bound
    last_message: float | None = None
    messages: int = 0
    reason: str | None = None
    ever_live: bool = False
    stale_after: float | None = None  # None: never stale (account streams are quiet)
    buckets: deque = field(default_factory=deque)  # (whole second, count)


@dataclass
class _Connection:
    name: str
    state: str
    since: float
    reason: str | None = None
    authenticated: bool = False


class HealthTracker:
    """The views' health: the client's report, plus what it has no handle for (see the
    module docstring).

    Thread-safe: the client's events and callbacks arrive on the reactor thread, views
    read on theirs.

    Args:
        stale_after: seconds without data, connection up, after which a live stream is
            ``stale``; the venues give it to the client they make.
        window: seconds the message rate of a stream counted here is averaged over.
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
        self._streams: dict[str, _Stream] = {}
        self._by_label: dict[str, str] = {}
        self._connections: dict[str, _Connection] = {}
        self._paused: dict[str, str | None] = {}
        self._client: Any = None

    # -- what the venue registers --------------------------------------------------------
    def attach(self, client: Any) -> None:
        """Read the streams bound to ``client``'s handles, and its connections, from
        ``client.health()`` from now on."""
        with self._lock:
            self._client = client

    def add_stream(self, name: str, channel: str, symbol: str | None = None,
                   connection: str | None = None, can_go_stale: bool = True) -> None:
        """Register a stream, ``pending`` until its first message (or until
        :meth:`bind` hands it to the client's report).

        Args:
            name: unique name, e.g. ``"book tBTCUSD"``.
            channel: the channel it streams (``"book"``).
            symbol: its symbol, if it has one.
            connection: prefix of the connection names that may carry it (``"public-"``),
                for a stream counted here.
            can_go_stale: False for streams whose silence is normal (an account's events).
        """
        now = self._clock()
        with self._lock:
            self._streams[name] = _Stream(name, channel, symbol, connection, "pending", now,
                                          now,
                                          stale_after=self.stale_after if can_go_stale else None)

    def bind(self, name: str, subscription: Any) -> None:
        """The client's handle for stream ``name``: its health is the client's from now on."""
        with self._lock:
            stream = self._streams.get(name)
            if stream is not None and subscription is not None:
                stream.subscription = subscription
                self._by_label[subscription.label] = name

    # -- what the callbacks report -----------------------------------------------------------
    def message(self, name: str, snapshot: bool = False) -> HealthChange | None:
        """A message arrived on ``name`` (its callback ran).

        A stream bound to a client handle takes its health from the client, so this
        changes nothing for it. A stream counted here becomes live.

        Returns:
            The change of state it caused, if any.
        """
        now = self._clock()
        with self._lock:
            stream = self._streams.get(name)
            if stream is None or stream.subscription is not None:
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
            if stream.state == "live":
                return None
            old = stream.state
            if not stream.ever_live:
                waited = now - stream.added
                text = (f"first data after {waited * 1000:.0f}ms" if waited < 1 else
                        f"first data after {waited:.1f}s")
            elif old == "stale":
                text = f"recovered after {now - (previous or now):.1f}s of silence"
            else:
                text = "recovered"
            stream.ever_live = True
            return self._set(stream, "live", now, None, text)

    def on_event(self, event: Any) -> list[HealthChange]:
        """Feed an ``on_event`` event: the client's stream health signals, connection states."""
        kind = type(event).__name__
        if kind == "StreamHealth":
            return self._signal(event)
        if kind == "ConnectionState":
            return self._connection_state(event.state, event.connection, event.reason)
        return []

    def poll(self) -> list[HealthChange]:
        """Check the streams counted here for staleness (the views call it at each
        refresh; the client watches its own streams)."""
        now = self._clock()
        changes = []
        with self._lock:
            for stream in self._streams.values():
                limit = stream.stale_after
                if (stream.subscription is None and limit is not None
                        and stream.state == "live" and stream.last_message is not None
                        and now - stream.last_message >= limit and self._carried(stream)):
                    changes.append(self._set(stream, "stale", now, f"no data for {limit:g}s",
                                             f"no data for {limit:g}s, connection up"))
        return changes

    # -- what the views read -------------------------------------------------------------------
    def streams(self) -> list[StreamHealth]:
        """Every stream, in registration order, as plain data."""
        now = self._clock()
        report = self._report()
        reported = {r["label"]: r for r in report["streams"]} if report is not None else {}
        # Only read when a stream was reported, so when there is a report.
        reported_at = report["time"] if report is not None else now
        with self._lock:
            out = []
            for s in self._streams.values():
                sub = s.subscription
                record = reported.get(sub.label) if sub is not None else None
                if record is not None:
                    out.append(self._bound(s, record, now - reported_at))
                else:
                    out.append(StreamHealth(s.name, s.channel, s.symbol, s.connection, s.state,
                                            s.since, s.last_message, s.messages,
                                            self._rate(s, now), 0, s.reason))
            return out

    def stream(self, name: str) -> StreamHealth | None:
        """One stream by name (None: not registered)."""
        return next((s for s in self.streams() if s.name == name), None)

    def connections(self) -> list[ConnectionHealth]:
        """Every connection: the client's once attached (in its order), then any other
        seen on ``on_event``."""
        report = self._report()
        now = self._clock()
        out: list[ConnectionHealth] = []
        with self._lock:
            seen = set()
            if report is not None:
                shift = now - report["time"]
                for conn in report["connections"]:
                    name = conn["name"]
                    seen.add(name)
                    state = _CONNECTION_STATES.get(conn["state"], conn["state"])
                    since = conn["since"]
                    if since is None:
                        state, since = "connecting", now
                    else:
                        since += shift
                    reason = conn["reason"]
                    if name in self._paused and state == "up":
                        state, reason = "paused", self._paused[name]
                    out.append(ConnectionHealth(name, state, since, reason,
                                                conn["authenticated"], conn["rtt"],
                                                conn["reconnects"],
                                                sum(conn["requests"].values())))
            out.extend(ConnectionHealth(c.name, c.state, c.since, c.reason, c.authenticated, None)
                       for c in self._connections.values() if c.name not in seen)
        return out

    def now(self) -> float:
        """The tracker's clock (ages in :class:`StreamHealth` are against it)."""
        return self._clock()

    # -- the client's report (one place) ---------------------------------------------------------
    def _report(self) -> dict[str, Any] | None:
        client = self._client
        return client.health() if client is not None else None

    @staticmethod
    def _bound(stream: _Stream, record: dict[str, Any], shift: float) -> StreamHealth:
        """A stream as the client reports it, its times moved onto the tracker's clock
        (``shift``: the tracker's now minus the client's)."""
        last = record["last_message"]
        return StreamHealth(stream.name, stream.channel, stream.symbol,
                            record["connection"] or stream.connection, record["state"],
                            record["since"] + shift, None if last is None else last + shift,
                            record["messages"], record["rate"], record["resyncs"],
                            record["reason"], record["error"])

    def _signal(self, event: Any) -> list[HealthChange]:
        with self._lock:
            name = self._by_label.get(event.label)
        if name is None:
            return []
        return [HealthChange(name, event.previous, event.state, event.reason or event.signal)]

    def _connection_state(self, state: str, name: str, reason: str | None
                          ) -> list[HealthChange]:
        now = self._clock()
        changes: list[HealthChange] = []
        with self._lock:
            if state == "paused":
                self._paused[name] = reason
            elif state in ("resumed", "disconnected", "gave_up"):
                self._paused.pop(name, None)
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
                new = "pending" if state == "disconnected" else "failed"
                why = f"{name} {'down' if state == 'disconnected' else 'gave up'}"
                changes.extend(self._set(stream, new, now, why, why)
                               for stream in self._streams.values()
                               if (stream.subscription is None and self._rides(stream, name)
                                   and stream.state not in ("pending", "failed")))
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
    def _set(stream: _Stream, state: str, now: float, reason: str | None,
             text: str) -> HealthChange:
        old = stream.state
        stream.state, stream.since, stream.reason = state, now, reason
        return HealthChange(stream.name, old, state, text)

"""Health of every subscription and connection of a client, sampled off the hot path.

Each :class:`~exchange_wss._subscriptions.Subscription` gets a health state, derived
from its lifecycle state and from whether data arrives:

==============  ================================================================
``pending``     not subscribed yet, subscribing, its connection down, or
                subscribed and waiting for its first data (a book: its snapshot)
``live``        data arrived since it was (re)subscribed (a book: in sync)
``resyncing``   being rebuilt from a fresh snapshot (checksum mismatch, sequence
                gap, an update before the snapshot, the exchange's advice)
``stale``       no data for ``stale_after`` seconds while its connection is open
``failed``      cannot be restored: the exchange kept refusing it (lifecycle
                ``failed``) or its connection gave up reconnecting
==============  ================================================================

Nothing is added to the per-frame path: timestamping 100,000 frames a second
costs more than the frames. The stream handlers already count the data frames
they route (one integer increment; each session's ``frames_of(sub)`` reads the
count, cumulative over a connection); a timer on the client's reactor reads
those counters every second, or a quarter of the smallest ``stale_after`` if
that is shorter (the trick of the connection's stale watchdog), and derives from
the deltas when data last arrived (known to within one interval), the message
rate and the state. Lifecycle changes (a refusal, a resync, a lost connection)
are applied at once, without waiting for the next sample.

Everything here runs on the reactor thread. What other threads read are
immutable records (:class:`SubscriptionHealth` on each handle's ``health``,
:class:`ConnectionHealth` in :attr:`HealthMonitor.connections`), replaced whole,
so every read is consistent. State changes are signalled on ``on_event`` as
:class:`~exchange_wss.models.StreamHealth`. Time is the client's reactor clock
(``time.time()`` with the library's own reactor; a ``MemoryReactorClock`` in tests).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from ._subscriptions import (
    ACTIVE,
    FAILED,
    GONE,
    REQUESTED,
    RESYNCING,
    SENT,
    UNSUBSCRIBING,
    Subscription,
)
from .models import StreamHealth

__all__ = ["PENDING", "LIVE", "STALE", "HEALTH_STATES", "CONNECTION_STATES", "AUTH_STATES",
           "SubscriptionHealth", "ConnectionHealth", "HealthMonitor"]

log = logging.getLogger("exchange_wss.health")

PENDING = "pending"
LIVE = "live"
STALE = "stale"
#: The health states of a subscription (``resyncing`` and ``failed`` are also
#: lifecycle states' names, with the same meaning).
HEALTH_STATES = (PENDING, LIVE, RESYNCING, STALE, FAILED)
#: The states of a connection: open, closed (reconnecting), gave_up (stopped trying).
CONNECTION_STATES = ("open", "closed", "gave_up")
#: A connection's authentication: none (it does not authenticate), pending (asked,
#: not confirmed yet), ok, failed (refused).
AUTH_STATES = ("none", "pending", "ok", "failed")

#: Seconds the message rate is averaged over.
RATE_WINDOW = 10.0
#: The longest interval between two samples.
MAX_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class SubscriptionHealth:
    """How one subscription is doing, as of its last sample (immutable).

    Times are on the client's clock (``time.time()`` seconds with the library's
    reactor).

    Attributes:
        label: the subscription's label (``"book:tBTCUSD:P0"``, ``"btcusdt@depth"``).
        state: ``"pending"``, ``"live"``, ``"resyncing"``, ``"stale"`` or ``"failed"``
            (see :mod:`exchange_wss._health`).
        since: when it entered ``state``.
        reason: why it entered ``state``, in words (for ``live``: its first data
            or its recovery).
        lifecycle: its lifecycle state (``"requested"``, ``"sent"``, ``"active"``,
            ``"resyncing"``, ``"failed"``...).
        connection: the name of the connection carrying it (``"public-0"``), or None.
        first_data: when its first data was seen arriving (the sample at which its
            count first grew; None: never).
        last_message: when its data was last seen arriving: the sample at which its
            count grew, so within one sampling interval after the message itself.
        messages: data messages received (heartbeats and control frames excluded).
        rate: messages per second over the last 10 seconds.
        resyncs: times it was rebuilt from a fresh snapshot.
        stale_after: its staleness limit in seconds (None: never stale).
        sampled_at: when its counter was last read (None: not yet).
        error: the last error the exchange (or its silence) answered its subscribe
            with, e.g. a refusal being retried; None once confirmed.
    """

    label: str
    state: str
    since: float
    reason: str | None
    lifecycle: str
    connection: str | None
    first_data: float | None
    last_message: float | None
    messages: int
    rate: float
    resyncs: int
    stale_after: float | None
    sampled_at: float | None
    error: str | None = None

    def age(self, now: float) -> float | None:
        """Seconds from :attr:`last_message` to ``now`` (None: no message yet)."""
        return None if self.last_message is None else max(0.0, now - self.last_message)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """Plain data (JSON-serialisable), with ``age`` at ``now`` when given."""
        out = asdict(self)
        if now is not None:
            out["age"] = self.age(now)
        return out


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """How one connection of a client is doing (immutable).

    Attributes:
        name: the connection's name (``"public-0"``, ``"auth"``, ``"market-0"``,
            ``"api"``, ``"user"``, ``"ftx"``).
        state: ``"open"``, ``"closed"`` (reconnecting, or not started) or ``"gave_up"``.
        since: when it entered ``state`` (None: never opened or closed yet).
        reason: why it last closed or failed to connect (None while open).
        auth: ``"none"`` (it does not authenticate), ``"pending"``, ``"ok"`` or
            ``"failed"``.
        rtt: round trip of its last WebSocket ping, in seconds (None: none
            answered on this connection yet, or pings are off).
        rtt_at: when ``rtt`` was measured.
        reconnects: times it was re-opened after a loss.
        requests_queued: requests waiting to be written on it.
        requests_written: requests written on it and not answered yet.
        requests_in_doubt: requests written on it, connection lost before the answer.
        subscriptions: subscriptions it carries.
        last_frame: when a frame of any kind (heartbeats too) was last seen
            arriving on it (sampled, like :attr:`SubscriptionHealth.last_message`).
        sampled_at: when this record was made.
    """

    name: str
    state: str
    since: float | None
    reason: str | None
    auth: str
    rtt: float | None
    rtt_at: float | None
    reconnects: int
    requests_queued: int
    requests_written: int
    requests_in_doubt: int
    subscriptions: int
    last_frame: float | None
    sampled_at: float

    @property
    def authenticated(self) -> bool:
        """True when :attr:`auth` is ``"ok"``."""
        return self.auth == "ok"

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """Plain data (JSON-serialisable); ``requests`` nested, ``authenticated``
        added, and with ``now`` the ``last_frame_age``."""
        out = {
            "name": self.name, "state": self.state, "since": self.since,
            "reason": self.reason, "auth": self.auth, "authenticated": self.authenticated,
            "rtt": self.rtt, "rtt_at": self.rtt_at, "reconnects": self.reconnects,
            "requests": {"queued": self.requests_queued, "written": self.requests_written,
                         "in_doubt": self.requests_in_doubt},
            "subscriptions": self.subscriptions, "last_frame": self.last_frame,
            "sampled_at": self.sampled_at,
        }
        if now is not None:
            out["last_frame_age"] = (None if self.last_frame is None
                                     else max(0.0, now - self.last_frame))
        return out


def initial_health(sub: Subscription, now: float) -> SubscriptionHealth:
    """The record of a subscription its client has not sampled yet."""
    return SubscriptionHealth(sub.label, PENDING, now, "waiting to subscribe", sub.state,
                              None, None, None, 0, 0.0, sub.resyncs, sub.stale_after, None)


@dataclass(eq=False)
class _Track:
    """What the monitor keeps of one subscription (reactor thread only)."""

    created: float
    state: str
    since: float
    reason: str | None = None
    #: session -> its frames_of(sub) at the last read
    marks: dict[Any, int] = field(default_factory=dict)
    total: int = 0
    #: total when the current (re)subscription began: data beyond it is its own
    epoch_total: int = 0
    active_at: float | None = None
    first_at: float | None = None
    last_at: float | None = None
    #: seconds without data before the last growth (for "recovered after")
    gap: float | None = None
    ever_live: bool = False
    #: being rebuilt (resync); cleared once live again
    resync: bool = False
    #: its book was in sync during the current (re)subscription
    synced: bool = False
    rate: float = 0.0
    ring: deque[tuple[float, int]] = field(default_factory=deque)


@dataclass(eq=False)
class _ConnTrack:
    """What the monitor keeps of one connection (reactor thread only)."""

    since: float | None = None
    reason: str | None = None
    reconnects: int = 0
    gave_up: bool = False
    conn: Any = None
    mark: int = 0
    last_frame: float | None = None


class HealthMonitor:
    """Samples a client's subscriptions and connections (see the module docstring).

    Args:
        client: the :class:`~exchange_wss._facade.BaseClient` it watches.
        stale_after: the client's default staleness limit in seconds (None: off).
        interval: seconds between samples (None: one second, or a quarter of the
            smallest ``stale_after`` in use if that is shorter).
        window: seconds the message rate is averaged over.
    """

    def __init__(self, client: Any, *, stale_after: float | None,
                 interval: float | None = None, window: float = RATE_WINDOW) -> None:
        self.client = client
        self.stale_after = stale_after
        self.interval = interval
        self.window = window
        #: The connections as last sampled (replaced whole; read from any thread).
        self.connections: tuple[ConnectionHealth, ...] = ()
        #: When the last sample was taken (None: not yet).
        self.sampled_at: float | None = None
        self._tracks: dict[Subscription, _Track] = {}
        self._conns: dict[str, _ConnTrack] = {}
        self._timer: Any = None

    @property
    def _clock(self) -> Any:
        return self.client._get_reactor()

    # -- timer ----------------------------------------------------------------------
    def start(self) -> None:
        """Start sampling (reactor thread; idempotent)."""
        if self._timer is None:
            self._publish_connections(self._clock.seconds())
            self._schedule()

    def stop(self) -> None:
        """Stop sampling (reactor thread)."""
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def current_interval(self) -> float:
        """Seconds until the next sample."""
        if self.interval is not None:
            return self.interval
        limits = [self.stale_after] if self.stale_after is not None else []
        limits.extend(sub.stale_after for sub in self.client.subscriptions()
                      if sub.stale_after is not None)
        return min([MAX_INTERVAL] + [limit / 4 for limit in limits])

    def _schedule(self) -> None:
        self._timer = self._clock.callLater(self.current_interval(), self._tick)

    def _tick(self) -> None:
        self._timer = None
        client = self.client
        if client._stopped:
            return
        try:
            client._guarded(self.sample, ())
        finally:
            if not client._stopped:
                self._schedule()

    # -- sampling ---------------------------------------------------------------------
    def sample(self) -> None:
        """Read every counter now, derive the states, signal the changes."""
        now = self._clock.seconds()
        events: list[StreamHealth] = []
        subs = self.client.subscriptions()
        live = set()
        for sub in subs:
            if sub.state in (UNSUBSCRIBING, GONE):
                continue
            live.add(sub)
            track = self._track(sub, now)
            self._read(sub, track, now)
            ring = track.ring
            ring.append((now, track.total))
            while len(ring) > 2 and ring[1][0] <= now - self.window:
                ring.popleft()
            first_t, first_total = ring[0]
            track.rate = (track.total - first_total) / (now - first_t) if now > first_t else 0.0
            self._update(sub, track, now, events, sampled=True)
        for sub in [s for s in self._tracks if s not in live]:
            del self._tracks[sub]
        self._publish_connections(now, sample=True)
        self.sampled_at = now
        emit = self.client._emit_event
        for event in events:
            emit(event)

    def _track(self, sub: Subscription, now: float) -> _Track:
        track = self._tracks.get(sub)
        if track is None:
            record = sub.health
            created = record.since if record is not None else now
            track = _Track(created, PENDING, created, "waiting to subscribe")
            track.ring.append((now, 0))
            # A new handle may take over a stream another handle had on the same
            # connection (unsubscribed, then subscribed again): what was counted
            # before it existed is not its data.
            track.marks = {s: _frames(s, sub) for s in _sessions(sub)}
            self._tracks[sub] = track
        return track

    @staticmethod
    def _read(sub: Subscription, track: _Track, now: float) -> None:
        """Add the frames routed to ``sub`` since the last read, on every session
        that carries it (two during a rotation) or carried it since."""
        marks = track.marks
        current = _sessions(sub)
        grew = 0
        counts = {}
        for session in set(marks).union(current):
            count = counts[session] = _frames(session, sub)
            before = marks.get(session, 0)
            if count > before:
                grew += count - before
        track.marks = {s: max(counts[s], marks.get(s, 0)) for s in current}
        if grew:
            track.gap = None if track.last_at is None else now - track.last_at
            track.total += grew
            track.last_at = now
            if track.first_at is None:
                track.first_at = now

    # -- events from the client (reactor thread) ------------------------------------------
    def lifecycle_changed(self, sub: Subscription, previous: str) -> None:
        """``sub`` moved from ``previous`` to ``sub.state``: apply it now."""
        state = sub.state
        if state in (UNSUBSCRIBING, GONE) or not sub.wanted:
            self._tracks.pop(sub, None)
            return
        now = self._clock.seconds()
        track = self._track(sub, now)
        self._read(sub, track, now)  # what arrived before the change belongs before it
        if previous == ACTIVE and state != ACTIVE:
            track.epoch_total = track.total
            track.synced = False
        if state == ACTIVE and previous != ACTIVE:
            track.active_at = now
        if state == RESYNCING:
            track.resync = True
        events: list[StreamHealth] = []
        self._update(sub, track, now, events)
        for event in events:
            self.client._emit_event(event)

    def connection_state(self, state: str, name: str, reason: str | None) -> None:
        """A ``ConnectionState`` of the client's connection ``name``."""
        now = self._clock.seconds()
        conn = self._conns.setdefault(name, _ConnTrack())
        if state in ("connected", "reconnected", "rotated"):
            conn.since, conn.reason, conn.gave_up = now, None, False
            if state == "reconnected":
                conn.reconnects += 1
        elif state == "disconnected":
            conn.since, conn.reason = now, reason
        elif state == "connect_failed":
            conn.reason = reason
        elif state == "gave_up":
            conn.since, conn.reason, conn.gave_up = now, reason, True
            events: list[StreamHealth] = []
            for sub, track in list(self._tracks.items()):
                link = sub.link
                if link is not None and link.name == name:
                    self._update(sub, track, now, events)
            for event in events:
                self.client._emit_event(event)
        else:
            return
        self._publish_connections(now)

    # -- state ----------------------------------------------------------------------------
    def _update(self, sub: Subscription, track: _Track, now: float,
                events: list[StreamHealth], sampled: bool = False) -> None:
        link = sub.link
        name = link.name if link is not None else None
        is_open = link is not None and link.session is not None
        conn = self._conns.get(name) if name is not None else None
        gave_up = conn is not None and conn.gave_up and not is_open
        state, reason = self._derive(sub, track, now, name, is_open, gave_up)
        previous = track.state
        if state != previous:
            if state == LIVE:
                if track.ever_live:
                    signal = "recovered"
                    reason = (f"recovered: data again after {track.gap:.1f}s"
                              if track.gap is not None else "recovered")
                else:
                    signal = "first_data"
                    # Seen at a sample: at most one interval after it arrived. LIVE
                    # means data came, so last_at is set.
                    reason = (f"first data seen "
                              f"{track.last_at - track.created:.2f}s "  # type: ignore[operator]
                              "after subscribing")
                track.ever_live = True
                track.resync = False
            else:
                signal = {STALE: "stale", FAILED: "failed", RESYNCING: "resyncing"}.get(
                    state, "retrying" if previous == FAILED else "interrupted")
            track.state, track.since, track.reason = state, now, reason
            events.append(StreamHealth(sub.label, state, previous, signal, reason, name, sub))
            log.info("%s: %s -> %s (%s)", sub.label, previous, state, reason)
        elif state != LIVE:
            track.reason = reason
        old = sub.health
        error = sub.error
        sub.health = SubscriptionHealth(
            sub.label, track.state, track.since, track.reason, sub.state, name,
            track.first_at, track.last_at, track.total, track.rate, sub.resyncs,
            sub.stale_after, now if sampled else (old.sampled_at if old is not None else None),
            str(error) if error is not None else None)

    @staticmethod
    def _derive(sub: Subscription, track: _Track, now: float, name: str | None,
                is_open: bool, gave_up: bool) -> tuple[str, str | None]:
        """The health state of ``sub`` now, and why (None for live)."""
        lifecycle = sub.state
        if lifecycle == FAILED:
            error = sub.error
            why = f": {error}" if error is not None else ""
            return FAILED, f"gave up after {sub.attempts} attempts{why}"
        if gave_up:
            return FAILED, f"{name} gave up reconnecting"
        if lifecycle == RESYNCING or (track.resync and lifecycle in (REQUESTED, SENT)):
            return RESYNCING, f"resyncing: {sub.resync_reason or 'a fresh snapshot'}"
        if lifecycle == REQUESTED:
            if not is_open:
                return PENDING, f"waiting for {name or 'its connection'} to open"
            if sub.attempts and sub.error is not None:
                return PENDING, f"retrying the subscribe after: {sub.error}"
            return PENDING, "waiting to subscribe"
        if lifecycle == SENT:
            return PENDING, "subscribing"
        if lifecycle != ACTIVE:
            return track.state, track.reason
        book = sub.book
        if book is not None:
            if book.synced:
                track.synced = True
            else:
                if track.synced:  # lost sync during this subscription (a gap)
                    track.resync = True
                if track.resync:
                    return RESYNCING, f"resyncing: {sub.resync_reason or 'book out of sync'}"
                return PENDING, "waiting for the book snapshot"
        limit = sub.stale_after
        if track.total > track.epoch_total and track.last_at is not None:
            if limit is not None and is_open and now - track.last_at >= limit:
                return STALE, f"no data for {limit:g}s while {name} is open"
            return LIVE, None
        began = track.active_at if track.active_at is not None else now
        if limit is not None and is_open and now - began >= limit:
            return STALE, f"no data for {limit:g}s since subscribed, {name} open"
        return PENDING, "subscribed, waiting for data"

    # -- connections ----------------------------------------------------------------------
    def _publish_connections(self, now: float, sample: bool = False) -> None:
        client = self.client
        links = list(client._links())
        by_conn: dict[int, list[int]] = {}
        counts = {id(link): [0, 0, 0] for link in links}
        for link in links:
            by_conn[id(link.conn)] = counts[id(link)]
            retiring = link.retiring
            if retiring is not None:
                by_conn[id(retiring[0])] = counts[id(link)]
        for request in client.requests:
            state = request.state
            if state == "queued":
                owner = next((link for link in links if link.owns(request)), None)
                if owner is not None:
                    counts[id(owner)][0] += 1
            else:
                slot = by_conn.get(id(request.connection))
                if slot is not None:
                    slot[1 if state == "written" else 2] += 1
        records = []
        for link in links:
            track = self._conns.setdefault(link.name, _ConnTrack())
            conn = link.conn
            is_open = link.session is not None
            if sample:
                if conn is not track.conn:
                    track.conn, track.mark = conn, 0
                frames = conn.frames_received
                if frames > track.mark:
                    track.mark, track.last_frame = frames, now
            state = "open" if is_open else ("gave_up" if track.gave_up else "closed")
            queued, written, in_doubt = counts[id(link)]
            records.append(ConnectionHealth(
                link.name, state, track.since, None if is_open else track.reason,
                link.auth_state(), conn.rtt if is_open else None,
                conn.rtt_at if is_open else None, track.reconnects, queued, written, in_doubt,
                len(link.subs), track.last_frame, now))
        self.connections = tuple(records)

    # -- what client.health() returns -----------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The whole picture as plain data (any thread; see ``client.health()``)."""
        client = self.client
        now = self._clock.seconds()
        streams = []
        states = dict.fromkeys(HEALTH_STATES, 0)
        for sub in client.subscriptions():
            record = sub.health
            if record is None:
                record = initial_health(sub, now)
            streams.append(record.as_dict(now))
            states[record.state] = states.get(record.state, 0) + 1
        return {
            "time": now,
            "sampled_at": self.sampled_at,
            "interval": self.current_interval(),
            "stale_after": self.stale_after,
            "states": states,
            "streams": streams,
            "connections": [c.as_dict(now) for c in self.connections],
            "stats": asdict(client.stats),
        }


def _sessions(sub: Subscription) -> list[Any]:
    """The sessions carrying ``sub`` now: its link's, and a rotated-out one's."""
    link = sub.link
    if link is None:
        return []
    out = []
    session = link.session
    if session is not None:
        out.append(session)
    retiring = link.retiring
    if retiring is not None and retiring[1] is not None:
        out.append(retiring[1])
    return out


def _frames(session: Any, sub: Subscription) -> int:
    frames_of = getattr(session, "frames_of", None)
    return frames_of(sub) if frames_of is not None else 0


"""One logical connection of a facade: a self-healing WebSocket, its protocol
session while open, the subscriptions it carries and the requests written on it.

A :class:`Link` listens to its :class:`~exchange_wss.connection.WebSocketConnection`.
On every open it makes a fresh session, lets the exchange replay what must be
re-established first (:meth:`Link.replay`: conf, login), then subscribes
everything its :class:`~exchange_wss._subscriptions.SubscriptionSet` wants.
The session's control events go through one table (:meth:`Link.control`); an
exchange overrides :meth:`Link.exchange_event` for what is its own.

Requests are written through :meth:`Link.write_request`, which records in the
client's registry whether the bytes left: a frame the connection will not take
(closing, reconnecting) fails at once as not sent, never silently.
"""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet import defer

from . import _session as ev
from ._requests import Request
from ._rotation import Handover
from ._subscriptions import Subscription, SubscriptionSet
from .connection import WebSocketConnection
from .errors import (
    ChecksumMismatch,
    ConnectionFailed,
    ConnectionLost,
    MessageTooBig,
    RemoteProtocolError,
    SequenceGap,
    SubscriptionError,
)

__all__ = ["Link"]

log = logging.getLogger("exchange_wss.client")


class Link:
    """One connection of a facade (see the module docstring).

    Exchange facades subclass it: :meth:`new_session` makes the session,
    :meth:`replay` sends what must precede the subscriptions on every open,
    :meth:`ready` says whether requests may be written now, :meth:`closed`
    and :meth:`in_doubt` react to a lost connection.
    """

    def __init__(self, client: Any, name: str, url: str, *, open_pacer: Any = None) -> None:
        self.client = client
        self.name = name
        self.session: Any = None
        self.opened_before = False
        self._open_pacer = open_pacer
        reactor = client._get_reactor()
        self.subs = SubscriptionSet(self, reactor, answer_timeout=client.subscription_timeout)
        self.conn = self._new_connection(url)
        #: Set once requests could be written on this link; before that they
        #: wait (the first connect), after it an unusable link fails them at once.
        self.was_ready = False
        # Untracked frames (pings, calc) handed over before the first open.
        self.control_outbox: list[Any] = []
        # Rotation state (make-before-break, see rotate()).
        self._rotation_timer: Any = None
        self.retiring: Any = None          # (connection, session) being retired
        self._rotating_to: WebSocketConnection | None = None  # opening successor
        self._handover: Handover | None = None
        self._retire_timer: Any = None

    def _new_connection(self, url: str) -> WebSocketConnection:
        client = self.client
        return WebSocketConnection(url, self, name=self.name, options=client._conn_options,
                                   reactor=client._get_reactor(), open_pacer=self._open_pacer)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name} open={self.session is not None} "
                f"subscriptions={len(self.subs)}>")

    # -- for subclasses -----------------------------------------------------------
    def new_session(self) -> Any:
        """A fresh protocol session for a new connection
        (see :class:`~exchange_wss._session.Session`)."""
        raise NotImplementedError

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """Re-establish what precedes the subscriptions (conf, login) on an open."""

    def ready(self) -> bool:
        """True when requests may be written now (open; logged in where needed)."""
        return self.session is not None

    def closed(self, reason: str) -> None:
        """The connection was lost (it will be re-opened unless stopped)."""

    def in_doubt(self, requests: list[Request], reason: str) -> None:
        """Requests written on a connection that was lost before their answer.

        The default settles them as unknown; exchanges that can ask (an order
        snapshot after re-login, an order query) override it.
        """
        for request in requests:
            self.client.requests.unknown(request, f"connection lost before the answer ({reason})")

    def auth_state(self) -> str:
        """This connection's authentication for health reports: ``"none"`` (it
        does not authenticate), ``"pending"``, ``"ok"`` or ``"failed"``."""
        return "none"

    def exchange_event(self, event: Any) -> None:
        """A control event only this exchange has; the default passes it to ``on_event``."""
        self.client._emit_event(event)

    def frame_key(self, msg: Any) -> Any:
        """``(stream, key)`` identifying a frame across two connections during a
        rotation, or None when it is the connection's own (an answer to a request).
        Links that rotate must override it."""
        return None


    # -- the SubscriptionSet's port ---------------------------------------------------
    def send_subscribe(self, sub: Subscription) -> bool:
        session = self.session
        if session is None:
            return False
        return self.conn.send(session.subscribe(sub))

    def send_unsubscribe(self, sub: Subscription) -> bool | None:
        session = self.session
        if session is None:
            return None
        frame = session.unsubscribe(sub)
        if frame is None:
            return None
        return self.conn.send(frame)

    def reconnect(self, reason: str) -> None:
        self.conn.drop(reason)

    def report(self, sub: Subscription, error: Any) -> None:
        self.client._emit_error(error)

    def changed(self, sub: Subscription, previous: str) -> None:
        self.client._subscription_changed(sub, previous)

    # -- control events ---------------------------------------------------------------
    def control(self, event: Any) -> None:
        """Every control event of this link's sessions: the shared ones here, the
        exchange's own through :meth:`exchange_event`."""
        kind = type(event)
        client = self.client
        if kind is ev.SubscribeConfirmed:
            self.subs.confirmed(event.sub)
        elif kind is ev.SubscribeRefused:
            self.subs.refused(event.sub, SubscriptionError(
                event.code, f"{event.sub.label}: {event.msg}", event.raw), event.duplicate)
        elif kind is ev.UnsubscribeConfirmed:
            self.subs.unsubscribed(event.sub)
        elif kind is ev.UnsubscribeRefused:
            self.subs.unsubscribe_refused(event.sub, SubscriptionError(
                event.code, f"{event.sub.label}: unsubscribe refused: {event.msg}", event.raw),
                event.gone)
        elif kind is ev.ResyncNeeded:
            self._resync(event)
        elif kind is ev.MalformedFrame:
            client._protocol_error(f"{self.name}: {event.reason}", event.raw)
        elif kind is ev.Unexpected:
            client._protocol_error(f"{self.name}: {event.reason}", event.raw,
                                   counter="unexpected_frames")
        elif kind is ev.ReconnectRequested:
            client._emit_event(event)
            self.conn.drop(event.reason)
        else:
            self.exchange_event(event)

    def _resync(self, event: ev.ResyncNeeded) -> None:
        client = self.client
        sub = event.sub
        client.stats.resyncs += 1
        text = f"{sub.label}: {event.reason}; resyncing"
        if event.kind == "checksum":
            client.stats.checksum_mismatches += 1
            client._emit_error(ChecksumMismatch(text))
        elif event.kind == "gap":
            client.stats.sequence_gaps += 1
            client._emit_error(SequenceGap(text))
        else:
            client._emit_error(RemoteProtocolError(text))
        self.subs.resync(sub, event.reason)

    # -- requests ---------------------------------------------------------------------
    def submit(self, request: Request) -> None:
        """Write ``request`` now if the link is ready. Otherwise it waits (within its
        deadline) while the connection is open and getting ready (logging in) or
        before the link was ever ready; a link that was ready and is now down or
        closing fails it at once as not sent, so a stale order never goes out
        after a long reconnect."""
        registry = self.client.requests
        registry.arm(request)
        if self.ready():
            self.write_request(request)
        elif (self.was_ready and not (self.session is not None and self.conn.writable)
              and registry.claim(request)):
            registry.not_written(request, f"{self.name} connection is down (reconnecting)")

    def send_control(self, frame: Any, what: str, *, needs_ready: bool = False) -> None:
        """Write a frame that gets no tracked answer (a ping, a calc).

        Before the link was first open (or, with ``needs_ready``, first ready)
        it waits; after that a frame the connection will not take is reported
        as :class:`~exchange_wss.errors.RequestNotSent`, never dropped silently.
        """
        if (self.ready() if needs_ready else self.session is not None):
            if not self.conn.send(frame):
                self.client._not_sent(what, f"{self.name} connection is closing")
        elif self.was_ready if needs_ready else self.opened_before:
            self.client._not_sent(what, f"{self.name} connection is down (reconnecting)")
        else:
            self.control_outbox.append((frame, what, needs_ready))

    def send_control_when_ready(self, frame: Any, what: str) -> None:
        """:meth:`send_control` with ``needs_ready`` (for callers that take no keywords)."""
        self.send_control(frame, what, needs_ready=True)

    def _flush_control(self) -> None:
        outbox, self.control_outbox = self.control_outbox, []
        for frame, what, needs_ready in outbox:
            self.send_control(frame, what, needs_ready=needs_ready)

    def fail_control(self, why: str) -> None:
        """What waits in the control outbox will never be written."""
        outbox, self.control_outbox = self.control_outbox, []
        for _frame, what, _needs_ready in outbox:
            self.client._not_sent(what, why)

    def write_request(self, request: Request, frame: Any = None) -> bool:
        """Write one queued request; record whether the bytes left."""
        registry = self.client.requests
        if not registry.claim(request):
            return False
        if self.conn.send(request.frame if frame is None else frame):
            registry.written(request, self.conn)
            return True
        registry.not_written(request, f"{self.name} connection is closing")
        return False

    def flush_requests(self) -> None:
        """The link became ready: write what waited, oldest first."""
        self.was_ready = True
        self._flush_control()
        for request in self.client.requests.queued():
            # A request without a frame of its own rides in a batch, which
            # its link writes.
            if request.frame is not None and self.owns(request) and self.ready():
                self.write_request(request)

    def owns(self, request: Request) -> bool:
        """True when ``request`` is written on this link. A client has one link
        that writes requests (Bitfinex's account connection, Binance's
        WebSocket API); it says so."""
        return False

    # -- ConnectionListener ---------------------------------------------------------
    def connection_open(self, conn: WebSocketConnection) -> None:
        if conn is self._rotating_to:
            self._rotating_to = None
            if self.session is not None:
                self._begin_handover()
            self.conn = conn
        self.session = session = self.new_session()
        rotating = self.retiring is not None
        if rotating:
            self.frame_received = self._from_new  # type: ignore[method-assign]  # rebound per instance: see frame_received
        else:
            # The session's receive is the hot path: bind it straight to the connection.
            self.frame_received = session.receive  # type: ignore[method-assign]  # rebound per instance: see frame_received
        if rotating:
            self.client._emit_state("rotated", self.name)
        else:
            self.client._emit_state("reconnected" if self.opened_before else "connected",
                                    self.name)
        self.opened_before = True
        self.replay(conn, session)
        self._flush_control()
        self.subs.opened(rotation=rotating)
        if self.ready():
            self.flush_requests()
        self._schedule_rotation()

    # The instance rebinds this name (session.receive while open, a drop once
    # closed) so that each frame costs one call: mypy's method-assign, ignored there.
    def frame_received(self, msg: Any) -> None:  # replaced by session.receive while open
        pass

    def frame_malformed(self, payload: bytes, reason: str) -> None:
        self.client._protocol_error(f"{self.name}: {reason}", payload[:200])

    def message_too_big(self, size: int, limit: int) -> None:
        self.client._protocol_error(
            f"{self.name}: message of {size} bytes exceeds max_message_size ({limit}); "
            "connection failed with 1009", None, MessageTooBig, counter="oversized_messages")

    def connection_failing(self, conn: WebSocketConnection, reason: str, attempts: int) -> None:
        self.client._emit_state("connect_failed", self.name, reason)
        self.client._emit_error(ConnectionFailed(
            f"{self.name}: cannot connect after {attempts} attempts: {reason}; still trying",
            self.name, attempts))

    def connection_attempt_failed(self, conn: WebSocketConnection, reason: str) -> None:
        self.client.stats.connect_failures += 1

    def connection_closed(self, conn: WebSocketConnection, reason: str) -> None:
        if self._rotating_to is not None and conn is self.conn:
            # The old connection died while its successor was opening: it must
            # not reconnect too; the successor takes over when it opens.
            conn.stop()
        self.session = None
        self.frame_received = _drop_frame  # type: ignore[method-assign,assignment]  # as above
        self.subs.closed()
        if self.was_ready:
            # What waited for this connection to get ready will not be written
            # on it: not sent (the next connection must not send it late).
            registry = self.client.requests
            for request in registry.queued():
                if self.owns(request) and registry.claim(request):
                    registry.not_written(request, f"{self.name} connection was lost before "
                                                  "it was ready")
        lost = self.client.requests.connection_lost(conn)
        self.closed(reason)
        if lost:
            self.in_doubt(lost, reason)
        self.client._emit_state("disconnected", self.name, reason)

    def connection_gave_up(self, conn: WebSocketConnection, reason: str) -> None:
        client = self.client
        client._emit_state("gave_up", self.name, reason)
        client._emit_error(ConnectionLost(f"{self.name}: {reason}"))
        self.fail_control(f"{self.name}: {reason}")
        registry = client.requests
        for request in registry.queued():
            if self.owns(request) and registry.claim(request):
                registry.not_written(request, f"{self.name}: {reason}")
        for request in registry:
            if self.owns(request) and request.state != "queued":
                registry.unknown(request, f"{self.name}: {reason}")

    # -- rotation (make-before-break) -------------------------------------------------
    def _schedule_rotation(self) -> None:
        age = self.client.max_connection_age
        if age is None:
            return
        if self._rotation_timer is not None and self._rotation_timer.active():
            self._rotation_timer.cancel()
        self._rotation_timer = self.client._get_reactor().callLater(age, self.rotate)

    def rotate(self) -> None:
        """Replace the connection without a gap: open a new one (the old one keeps
        carrying everything, requests included, until it is open), subscribe on
        it, merge both connections' frames per stream (:mod:`._rotation`), and
        close the old one once every stream it carried has joined on the new one
        and its requests are answered (or after ``rotation_overlap`` seconds,
        reporting what could not be verified)."""
        if self.session is None or self.retiring is not None or \
                self._rotating_to is not None or self.client._stopped:
            return
        self._rotating_to = self._new_connection(self.conn.url)
        self._rotating_to.start()

    def _begin_handover(self) -> None:
        old_conn, old_session = self.conn, self.session
        self.retiring = (old_conn, old_session)
        self._handover = Handover()
        old_conn.listener = _RetiringListener(self, old_session)
        self._retire_timer = self.client._get_reactor().callLater(
            self.client.rotation_overlap, self._retire_by_deadline)

    def _from_old(self, session: Any, msg: Any) -> None:
        key = self.frame_key(msg)
        if key is None:
            session.receive(msg)  # the old connection's own (an answer to a request)
            return
        handover = self._handover
        if handover is None or self.retiring is None:
            return  # retired: the new connection carries every stream now
        for frame in handover.old(key[0], key[1], msg):
            session.receive(frame)
        self._maybe_retire()

    def _from_new(self, msg: Any) -> None:
        handover = self._handover
        session = self.session
        key = self.frame_key(msg) if handover is not None else None
        if key is None:
            if session is not None:
                session.receive(msg)
            return
        # A key is only made during a handover.
        for frame in handover.new(key[0], key[1], msg):  # type: ignore[union-attr]
            if self.session is not None:
                self.session.receive(frame)
        self._maybe_retire()

    def _maybe_retire(self) -> None:
        handover = self._handover
        if handover is None:
            return
        if self.retiring is not None:
            if self.session is not None and self._new_connection_carries_all(handover):
                self._retire()
        elif handover.settled():
            self._end_handover()

    def _new_connection_carries_all(self, handover: Handover) -> bool:
        # Every subscription confirmed on the new connection, and every stream
        # it carries joined: only then has the old one nothing left to give.
        # (A quiet stream never joins; the deadline retires it, reported.)
        for sub in self.subs:
            if sub.state in ("sent", "requested"):
                return False
        old_conn = self.retiring[0]
        for request in self.client.requests:
            if request.connection is old_conn and request.state == "written":
                return False  # its answer comes on the old connection
        return all(handover.joined(name) for name in self.stream_names())

    def stream_names(self) -> list[Any]:
        """The stream names (as :meth:`frame_key` gives them) this link carries."""
        return [sub.label for sub in self.subs]

    def _retire_by_deadline(self) -> None:
        self._retire_timer = None
        handover = self._handover
        if self.retiring is None or handover is None:
            return
        session = self.session
        for frame in handover.force():
            if session is not None:
                session.receive(frame)
        if handover.unverified:
            names = ", ".join(f"{name} ({why})" for name, why in handover.unverified)
            log.warning("%s: rotation deadline: streams switched unverified: %s", self.name,
                        names)
            self.client._emit_state("rotation_unverified", self.name, names)
        self._retire()

    def _retire(self) -> None:
        if self.retiring is None:
            return
        if self._retire_timer is not None and self._retire_timer.active():
            self._retire_timer.cancel()
        self._retire_timer = None
        old_conn, _old_session = self.retiring
        self.retiring = None
        # A graceful close: answers still on their way are read until it ends;
        # what is unanswered then is in doubt (_RetiringListener.connection_closed).
        old_conn.stop()
        # Frames the old connection delivered may still be on their way on the
        # new one: keep de-duplicating until the new one has passed them all
        # (or for one more overlap).
        if self._handover is not None and self._handover.settled():
            self._end_handover()
        else:
            self._retire_timer = self.client._get_reactor().callLater(
                self.client.rotation_overlap, self._end_handover)

    def _end_handover(self) -> None:
        if self.retiring is not None:
            return  # another rotation began meanwhile
        if self._retire_timer is not None and self._retire_timer.active():
            self._retire_timer.cancel()
        self._retire_timer = None
        self._handover = None
        if self.session is not None:
            self.frame_received = self.session.receive  # type: ignore[method-assign]  # rebound per instance: see frame_received

    def stop(self) -> defer.Deferred[Any]:
        """Stop this link's connections (both, during a rotation)."""
        for timer in (self._rotation_timer, self._retire_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self.subs.stop()
        stops = [self.conn.stop()]
        if self._rotating_to is not None:
            stops.append(self._rotating_to.stop())
            self._rotating_to = None
        if self.retiring is not None:
            stops.append(self.retiring[0].stop())
            self.retiring = None
        return defer.DeferredList(stops, consumeErrors=True)


def _drop_frame(_msg: Any) -> None:
    pass


class _RetiringListener:
    """Listens to a connection being rotated out: its frames still count (through
    the hand-over), its closing is expected and reported to nobody."""

    def __init__(self, link: Link, session: Any) -> None:
        self.link = link
        self.session = session

    def connection_open(self, conn: WebSocketConnection) -> None:  # pragma: no cover
        conn.stop()  # a retired connection must not come back

    def frame_received(self, msg: Any) -> None:
        self.link._from_old(self.session, msg)

    def frame_malformed(self, payload: bytes, reason: str) -> None:
        self.link.frame_malformed(payload, reason)

    def message_too_big(self, size: int, limit: int) -> None:
        self.link.message_too_big(size, limit)

    def connection_failing(self, conn: WebSocketConnection, reason: str, attempts: int) -> None:
        pass

    def connection_attempt_failed(self, conn: WebSocketConnection, reason: str) -> None:
        pass

    def connection_closed(self, conn: WebSocketConnection, reason: str) -> None:
        link = self.link
        if link.retiring is not None and link.retiring[0] is conn:
            # The old connection died before the hand-over finished: switch now.
            link._retire_by_deadline()
        lost = link.client.requests.connection_lost(conn)
        if lost:
            link.in_doubt(lost, f"rotated-out connection closed before the answer ({reason})")

    def connection_gave_up(self, conn: WebSocketConnection, reason: str) -> None:
        pass

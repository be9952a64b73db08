"""Exchange-agnostic WebSocket connection: autobahn client, reconnect, watchdog.

One :class:`WebSocketConnection` is one logical connection to one URL. It keeps
itself connected with Twisted's ``ClientService`` (capped exponential backoff
with jitter), counts a connection as made only once the WebSocket handshake
completes (so an HTTP 429 at the handshake backs off like a refused TCP
connect), drops connections on which nothing at all arrived for
``stale_timeout`` seconds, and hands decoded frames to a listener. It knows no
exchange: the facade's listener decides what to send on open and what a frame
means.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from OpenSSL import SSL
from twisted.application.internet import ClientService
from twisted.internet import defer
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.protocol import connectionDone
from twisted.internet.ssl import optionsForClientTLS

from .errors import LocalProtocolError
from .pacing import PacedEndpoint

if TYPE_CHECKING:
    from twisted.python.failure import Failure

__all__ = ["ConnectionOptions", "ConnectionListener", "WebSocketConnection", "ReconnectPolicy"]

log = logging.getLogger("exchange_wss.connection")


@dataclass
class ConnectionOptions:
    """Reliability settings of a connection (the ``WssClient`` keywords of the same names).

    Attributes:
        ping_interval: seconds between WebSocket-level pings (None: no pings).
        ping_timeout: seconds to wait for the pong before dropping the connection.
        reconnect_delay: first delay before reconnecting, in seconds.
        max_reconnect_delay: the cap of the exponential backoff.
        max_reconnect: consecutive failed attempts before giving up (None: forever).
        stale_timeout: drop and reconnect when no frame at all (heartbeats
            included) arrived for this long (None: off).
        open_timeout: seconds allowed for the opening handshake.
        tls_options: a Twisted ``IOpenSSLClientConnectionCreator`` to use instead of
            the default, which verifies the certificate chain and hostname.
        fast_path: cut complete small text frames straight from the read
            buffer instead of passing each through autobahn's general frame
            parser (several times faster; see :doc:`/performance`). Switch it
            off to have autobahn parse every frame.
        compression: offer permessage-deflate (RFC 7692) in the handshake;
            the server may accept it or not. A connection that negotiated it
            is parsed by autobahn alone (the fast path steps aside: compressed
            frames must be inflated first), which costs throughput; see
            :doc:`/performance`.
        max_message_size: the largest message (and frame) accepted, in bytes;
            a bigger one fails the connection with close code 1009 as soon as
            its header announces it, before its bytes pile up (None: no limit).
        report_failures_after: consecutive failed connection attempts after
            which the failure is reported (``on_error`` and ``on_event``); the
            connection keeps trying.
        record: a :class:`~exchange_wss.recording.Recorder` that gets every
            frame received and sent, and every open and close, of this
            connection (None: not recorded; the connection then runs the
            plain protocol class, so recording off costs nothing).
    """

    ping_interval: float | None = 20.0
    ping_timeout: float | None = 10.0
    reconnect_delay: float = 1.0
    max_reconnect_delay: float = 60.0
    max_reconnect: int | None = None
    stale_timeout: float | None = 30.0
    open_timeout: float = 10.0
    tls_options: Any = None
    fast_path: bool = True
    compression: bool = False
    max_message_size: int | None = 4 * 1024 * 1024
    report_failures_after: int = 3
    record: Any = None

    def __post_init__(self) -> None:
        for name in ("ping_interval", "ping_timeout", "stale_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise LocalProtocolError(f"{name} must be positive or None, got {value!r}")
        if self.reconnect_delay < 0 or self.max_reconnect_delay < self.reconnect_delay:
            raise LocalProtocolError("need 0 <= reconnect_delay <= max_reconnect_delay")
        if self.max_reconnect is not None and self.max_reconnect < 0:
            raise LocalProtocolError("max_reconnect must be >= 0 or None")
        if not isinstance(self.compression, bool):
            raise LocalProtocolError(f"compression must be True or False, got "
                                     f"{self.compression!r}")
        if self.max_message_size is not None and self.max_message_size < 1024:
            raise LocalProtocolError("max_message_size must be at least 1024 bytes or None")
        if self.report_failures_after < 1:
            raise LocalProtocolError("report_failures_after must be >= 1")


def _accept_deflate_response(response: Any) -> Any:
    """Take the server's answer to our permessage-deflate offer as it comes."""
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


class ReconnectPolicy:
    """Capped exponential backoff with "equal jitter": half fixed, half random.

    ``delay(n)`` for the n-th consecutive failed attempt (n >= 1) is drawn from
    ``[b/2, b]`` with ``b = min(first * 2**(n-1), cap)``, so clients that lost
    the same server spread out instead of reconnecting in lockstep.
    """

    def __init__(self, first: float, cap: float, rng: Callable[[], float] = random.random):
        self.first = first
        self.cap = cap
        self.rng = rng

    def __call__(self, attempt: int) -> float:
        """The delay before reconnect attempt ``attempt`` (jittered, capped)."""
        base = min(self.first * (2 ** min(attempt - 1, 64)), self.cap)
        return base / 2 + base / 2 * self.rng()


class ConnectionListener(Protocol):
    """What a :class:`WebSocketConnection` tells its owner (the facade)."""

    def connection_open(self, connection: WebSocketConnection) -> None:
        """The connection opened."""

    def frame_received(self, msg: Any) -> None:
        """A decoded frame arrived."""

    def frame_malformed(self, payload: bytes, reason: str) -> None:
        """A frame could not be decoded."""

    def message_too_big(self, size: int, limit: int) -> None:
        """A message larger than ``limit`` was refused."""

    def connection_attempt_failed(self, connection: WebSocketConnection, reason: str
                                  ) -> None:
        """An attempt to open failed (it will be retried)."""

    def connection_failing(self, connection: WebSocketConnection, reason: str,
                           attempts: int) -> None:
        """Attempts keep failing (reported once the count is reached)."""

    def connection_closed(self, connection: WebSocketConnection, reason: str) -> None:
        """The open connection closed."""

    def connection_gave_up(self, connection: WebSocketConnection, reason: str) -> None:
        """No more attempts will be made (``max_reconnect`` reached)."""


_STATE_OPEN = WebSocketClientProtocol.STATE_OPEN
_STATE_CLOSED = WebSocketClientProtocol.STATE_CLOSED


class _ClientProtocol(WebSocketClientProtocol):
    """Autobahn protocol that forwards to its :class:`WebSocketConnection`.

    With the fast path on (:attr:`ConnectionOptions.fast_path`), reads are
    consumed by autobahn's own loop (``consumeData``), except that whenever its
    parser stands at a frame boundary outside a fragmented message, complete
    small text frames at the front of the buffer are cut and decoded here in
    one tight loop (see :meth:`_cut_text_frames`). Autobahn's general per-frame
    machinery (header object, hooks, incremental UTF-8 validator, a copy of
    the rest of the buffer per frame) costs about 8 µs a frame; the cut costs
    a fraction of one. Everything else reaches autobahn byte for byte, in order.
    """

    owner: WebSocketConnection
    # Set by autobahn from the factory's protocol options (declared for mypy only).
    logOctets: bool
    logFrames: bool
    #: Decided at open: whether this connection may use the fast path.
    fast_path = False
    #: The last ping written and when (the owner's clock), until its pong.
    _ping_sent: tuple | None = None
    #: The fast path's decoder; the recording subclass swaps in one that also
    #: keeps the frame's bytes (looked up once per read, not per frame).
    _loads = staticmethod(orjson.loads)

    def onOpen(self) -> None:
        self.fast_path = self.owner.options.fast_path and self._fast_path_safe()
        self.owner._opened(self)

    def _fast_path_safe(self) -> bool:
        # The cut bypasses autobahn's per-frame options; use it only when
        # none of them is on, and only with orjson, which (unlike a custom
        # decoder) rejects invalid UTF-8, so such a frame falls back to
        # autobahn and fails the connection with 1007 as RFC 6455 requires.
        # Size limits of 64 KiB or more do not matter to it: it only cuts
        # frames with 7- or 16-bit lengths, which are smaller.
        return (self.owner._decode is orjson.loads and not self.logOctets
                and not self.logFrames and self.trackedTimings is None
                and (not self.maxFramePayloadSize or self.maxFramePayloadSize > 0xFFFF)
                and (not self.maxMessagePayloadSize or self.maxMessagePayloadSize > 0xFFFF)
                and self._perMessageCompress is None)

    def dataReceived(self, data: bytes) -> None:
        if not self.fast_path or self.state != _STATE_OPEN:
            super().dataReceived(data)
            return
        self.trafficStats.incomingOctetsWireLevel += len(data)
        self.data += data
        process = self.processData
        # autobahn's consumeData loop for an open connection, with the cut
        # inserted wherever its parser stands at a frame boundary.
        while True:
            if (self.current_frame is None and not self.inside_message
                    and self.state == _STATE_OPEN and self.data):
                self._cut_text_frames()
                if self.state == _STATE_CLOSED:
                    return
            if not process() or self.state == _STATE_CLOSED:
                return

    def _cut_text_frames(self) -> None:
        """Decode and deliver the complete fast frames at the front of ``self.data``.

        A fast frame is final, unmasked, RSV 0, text (first octet 0x81) with a
        7- or 16-bit length. The first frame that is not one (control frame,
        fragment, binary, 64-bit length, masked, non-minimal length, a partial
        frame) or whose payload orjson rejects (invalid UTF-8 or invalid JSON)
        stops the cut and is left at the front of ``self.data`` for autobahn.
        """
        data = self.data
        end = len(data)
        owner = self.owner
        deliver = owner.listener.frame_received
        loads = self._loads
        pos = count = octets = 0
        try:
            while pos + 2 <= end and data[pos] == 0x81:
                length = data[pos + 1]
                if length < 126:
                    start = pos + 2
                elif length == 126:
                    start = pos + 4
                    if start > end:
                        break
                    length = (data[pos + 2] << 8) | data[pos + 3]
                    if length < 126:
                        break  # not minimal: autobahn fails the connection
                else:
                    break  # 64-bit length (127) or the mask bit (>= 128)
                stop = start + length
                if stop > end:
                    break
                try:
                    msg = loads(data[start:stop])
                except ValueError:
                    # autobahn checks the UTF-8 (1007 if invalid), else the
                    # connection reports the frame as malformed JSON.
                    break
                pos = stop
                count += 1
                octets += length
                deliver(msg)
                if self.state != _STATE_OPEN:
                    break
        finally:
            if pos:
                self.data = data[pos:]
                owner.frames_received += count
                stats = self.trafficStats
                stats.incomingOctetsWebSocketLevel += octets
                stats.incomingOctetsAppLevel += octets
                stats.incomingWebSocketFrames += count
                stats.incomingWebSocketMessages += count
                if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
                    # what autobahn does at the end of every data frame
                    self._cancelAutoPingTimeoutCall()

    def sendPing(self, payload: bytes | None = None) -> None:
        # Every ping, autobahn's auto-pings included, goes through here: note
        # what was sent and when, so its pong gives the round trip (health).
        if payload and self.state == _STATE_OPEN:
            self._ping_sent = (payload, self.owner.reactor.seconds())
        super().sendPing(payload)

    def onPong(self, payload: bytes) -> None:
        # A control frame, never on the fast path. Autobahn stops matching its
        # pending auto-ping once data arrives (autoPingRestartOnAnyTraffic), so
        # the match is done here, on the payload it carried.
        sent = self._ping_sent
        if sent is not None and payload == sent[0]:
            self._ping_sent = None
            self.owner._round_trip(self.owner.reactor.seconds() - sent[1])
        super().onPong(payload)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.failedByMe:
            # We failed the connection (protocol error, invalid UTF-8) and wait
            # for the server's Close; RFC 6455 7.1.7: process no further data.
            return
        self.owner._message(payload, isBinary)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.owner._closed(self, wasClean, code, reason)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Keep why the transport went (a TLS verification failure says so
        # here, autobahn's onClose only says "dropped").
        self.lost_reason = reason
        super().connectionLost(reason)


class _ClientFactory(WebSocketClientFactory):
    protocol = _ClientProtocol

    def __init__(self, owner: WebSocketConnection, url: str, reactor: Any) -> None:
        super().__init__(url, reactor=reactor)
        self.owner = owner

    def buildProtocol(self, addr):
        proto = super().buildProtocol(addr)
        proto.owner = self.owner
        self.owner._connecting = proto
        return proto


class WebSocketConnection:
    """A self-healing WebSocket connection to one URL.

    Args:
        url: ``ws://`` or ``wss://`` URL.
        listener: receives the connection's events (see :class:`ConnectionListener`).
        name: a short name for logs and connection-state events.
        options: :class:`ConnectionOptions`.
        reactor: the reactor (tests pass a ``MemoryReactorClock``).
        decode: turns a text frame's bytes into an object (default ``orjson.loads``).
        rng: random source of the backoff jitter (tests make it deterministic).
        endpoint_factory: ``(reactor, host, port) -> IStreamClientEndpoint`` for
            the TCP part (default ``HostnameEndpoint``); TLS is added on top for wss.
        open_pacer: a :class:`~exchange_wss.pacing.Pacer` every connect attempt
            waits for (the exchange's limit on connection opens).
    """

    def __init__(self, url: str, listener: ConnectionListener, *, name: str = "ws",
                 options: ConnectionOptions | None = None, reactor: Any = None,
                 decode: Callable[[bytes], Any] = orjson.loads,
                 rng: Callable[[], float] = random.random,
                 endpoint_factory: Callable[[Any, str, int], Any] | None = None,
                 open_pacer: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor
            reactor = default_reactor
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise LocalProtocolError(f"not a WebSocket URL: {url!r}")
        self.url = url
        self.name = name
        self.listener = listener
        self.options = options or ConnectionOptions()
        self.reactor = reactor
        self._decode = decode
        secure = parts.scheme == "wss"
        self._host = parts.hostname
        self._port = parts.port or (443 if secure else 80)
        self._secure = secure
        self._endpoint_factory = endpoint_factory
        self._open_pacer = open_pacer
        self._factory = _ClientFactory(self, url, reactor)
        opts = self.options
        if opts.record is not None:
            # Recording is a protocol subclass chosen here, never a test per frame.
            from .recording._hook import RecordingClientProtocol
            self._factory.protocol = RecordingClientProtocol
        self._factory.setProtocolOptions(
            autoPingInterval=opts.ping_interval or 0,
            autoPingTimeout=opts.ping_timeout or 0,
            openHandshakeTimeout=opts.open_timeout,
            closeHandshakeTimeout=2,
            # On a protocol error or invalid UTF-8, tell the server why (1002,
            # 1007) in a Close frame before closing, as RFC 6455 7.1.7 asks,
            # instead of autobahn's default of dropping the TCP connection.
            failByDrop=False,
            maxFramePayloadSize=opts.max_message_size or 0,
            maxMessagePayloadSize=opts.max_message_size or 0,
        )
        if opts.compression:
            self._factory.setProtocolOptions(
                perMessageCompressionOffers=[PerMessageDeflateOffer()],
                perMessageCompressionAccept=_accept_deflate_response)
        self._policy = ReconnectPolicy(opts.reconnect_delay, opts.max_reconnect_delay, rng)
        self._service: ClientService | None = None
        self._connecting: _ClientProtocol | None = None
        self.protocol: _ClientProtocol | None = None
        self.frames_received = 0
        self.opens = 0
        #: Round trip of the last WebSocket ping answered on the current
        #: connection, in seconds, and when it was measured (None: none yet).
        self.rtt: float | None = None
        self.rtt_at: float | None = None
        self._watchdog = None
        self._stopping = False
        self._gave_up = False
        self._last_failure = ""
        self._failures = 0
        self._close_waiters: list = []
        self._drop_reason = ""
        # Consecutive attempts that never reached an open WebSocket, for reports.
        self._connect_failures = 0
        self._was_open = False

    # -- public -----------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True while the WebSocket is open."""
        return self.protocol is not None

    def start(self) -> None:
        """Start connecting (on the reactor thread). Idempotent."""
        if self._service is not None:
            return
        self._stopping = False
        self._gave_up = False
        if self._endpoint_factory is not None:
            endpoint = self._endpoint_factory(self.reactor, self._host, self._port)
        else:
            endpoint = HostnameEndpoint(self.reactor, self._host, self._port,
                                        timeout=self.options.open_timeout)
        if self._secure:
            tls = self.options.tls_options or optionsForClientTLS(self._host)
            endpoint = wrapClientTLS(tls, endpoint)
        if self._open_pacer is not None:
            endpoint = PacedEndpoint(endpoint, self._open_pacer)
        endpoint = _FailureRecordingEndpoint(endpoint, self)
        # Both provide their zope interfaces (@implementer), which mypy does not see.
        self._service = ClientService(endpoint, self._factory,  # type: ignore[arg-type]
                                      retryPolicy=self._retry_delay, clock=self.reactor)
        self._service.startService()
        if self.options.stale_timeout:
            self._schedule_watchdog()

    def stop(self) -> defer.Deferred:
        """Close gracefully and stop reconnecting.

        Sends a Close frame and waits for the closing handshake (autobahn
        drops the TCP connection itself if the peer does not answer within
        2 s) before stopping the service, so the server sees a clean 1000.
        Returns a Deferred that fires once the connection is down.
        """
        self._stopping = True
        self._cancel_watchdog()
        service, self._service = self._service, None
        if service is None:
            return defer.succeed(None)
        proto = self.protocol
        if proto is None:
            return service.stopService()
        closed: defer.Deferred = defer.Deferred()
        self._close_waiters.append(closed)
        proto.sendClose(1000)
        closed.addTimeout(5, self.reactor)
        closed.addErrback(lambda _f: None)  # a timeout still stops the service below
        closed.addCallback(lambda _: service.stopService())
        return closed

    def set_url(self, url: str) -> None:
        """Use ``url`` from the next connect on (same scheme, host and port).

        For URLs that carry a credential in the path, such as a Binance
        listenKey that was replaced.
        """
        parts = urlsplit(url)
        if (parts.scheme == "wss") != self._secure or parts.hostname != self._host or (
                parts.port or (443 if self._secure else 80)) != self._port:
            raise LocalProtocolError("set_url can change the path only, not the server")
        self.url = url
        self._factory.setSessionParameters(url=url)

    @property
    def writable(self) -> bool:
        """True while a frame handed to :meth:`send` would be written (open, not closing)."""
        proto = self.protocol
        return proto is not None and proto.state == _STATE_OPEN

    def send(self, obj: Any) -> bool:
        """Serialise ``obj`` to JSON and send it as a text frame.

        Returns:
            True if the bytes were handed to the transport; False if not (the
            connection is closed, closing after a Close frame, or reconnecting).
            It never raises for the connection's state.
        """
        return self.send_text(orjson.dumps(obj))

    def send_text(self, data: bytes) -> bool:
        """Send already-encoded UTF-8 JSON; True if handed to the transport."""
        proto = self.protocol
        if proto is None or proto.state != _STATE_OPEN:
            return False
        try:
            proto.sendMessage(data, isBinary=False)
        except Exception as exc:
            log.warning("%s: frame not sent: %s", self.name, exc)
            return False
        return True

    def drop(self, reason: str = "dropped by client") -> None:
        """Abort the current connection at once; the service reconnects."""
        self._drop_reason = reason
        proto = self.protocol or self._connecting
        if proto is not None and proto.transport is not None:
            proto.transport.abortConnection()

    # -- ClientService hooks -------------------------------------------------
    def _retry_delay(self, _service_attempt: int) -> float:
        if self._stopping:
            return 3600.0  # stop() cancels it right away

        # ClientService counts a TCP connect as success, so a server refusing
        # the WebSocket handshake (HTTP 429) would be retried at the first
        # delay forever. Count consecutive attempts that never reached an open
        # WebSocket instead; only onOpen resets the count.
        self._failures += 1
        attempt = self._failures
        if self._was_open:
            self._was_open = False  # an open connection was lost: not a failed attempt
        else:
            self._attempt_failed()
        limit = self.options.max_reconnect
        if limit is not None and attempt > limit and not self._stopping:
            self.reactor.callLater(0, self._give_up, attempt - 1)
            return 3600.0
        delay = self._policy(attempt)
        log.info("%s: reconnect attempt %d in %.2fs (%s)", self.name, attempt, delay,
                 self._last_failure or "connection failed")
        return delay

    def _attempt_failed(self) -> None:
        # Called from ClientService's retry policy: an exception here would
        # wedge its state machine, so the listener's is logged, never raised.
        try:
            self._report_attempt()
        except Exception:
            log.exception("%s: reporting a failed connection attempt failed", self.name)

    def _report_attempt(self) -> None:
        self._connect_failures += 1
        failures = self._connect_failures
        reason = self._last_failure or "connection failed"
        self.listener.connection_attempt_failed(self, reason)
        first = self.options.report_failures_after
        # Reported at the threshold, then each time the count doubles: visible,
        # without a report per attempt of a connection that keeps failing.
        times, rest = divmod(failures, first)
        if times and not rest and times & (times - 1) == 0:
            log.warning("%s: cannot connect after %d attempts: %s", self.name, failures, reason)
            self.listener.connection_failing(self, reason, failures)

    def _record_failure(self, text: str) -> None:
        self._last_failure = text

    def _give_up(self, attempts: int) -> None:
        if self._stopping or self._gave_up:
            return
        self._gave_up = True
        reason = f"gave up after {attempts} failed reconnect attempts: {self._last_failure}"
        log.error("%s: %s", self.name, reason)
        self.stop()
        self.listener.connection_gave_up(self, reason)

    # -- protocol events -------------------------------------------------------
    def _opened(self, proto: _ClientProtocol) -> None:
        self.protocol = proto
        self.opens += 1
        self._failures = 0
        self._connect_failures = 0
        self._was_open = True
        self._activity_mark = self.frames_received
        self._activity_at = self.reactor.seconds()
        self.rtt = self.rtt_at = None
        self.listener.connection_open(self)

    def _round_trip(self, seconds: float) -> None:
        self.rtt = max(0.0, seconds)
        self.rtt_at = self.reactor.seconds()

    def _message(self, payload: bytes, is_binary: bool) -> None:
        self.frames_received += 1
        if is_binary:
            self.listener.frame_malformed(payload, "binary frame")
            return
        try:
            msg = self._decode(payload)
        except ValueError as exc:
            self.listener.frame_malformed(payload, f"invalid JSON: {exc}")
            return
        self.listener.frame_received(msg)

    def _closed(self, proto: _ClientProtocol, was_clean: bool, code: int | None,
                reason: str | None) -> None:
        if self._stopping:
            text = "closed by client"
        elif self._drop_reason:
            # We aborted it ourselves: our reason, not autobahn's "peer dropped".
            text, self._drop_reason = self._drop_reason, ""
            self._last_failure = text
        elif proto.failedByMe and proto.localCloseCode:
            # We failed it (protocol error, invalid UTF-8): say what we told the server.
            why = (proto.localCloseReason or b"").decode("utf-8", "replace")
            text = f"failed by client: {why} (close code {proto.localCloseCode})"
            self._last_failure = text
        elif self.protocol is not proto and _transport_failure(proto):
            # Never opened: the transport's own reason (TLS refused, reset).
            text = _transport_failure(proto)
            self._last_failure = text
        else:
            text = reason or proto.wasNotCleanReason or self._last_failure or "connection lost"
            if code is not None:
                text = f"{text} (close code {code})"
            self._last_failure = text
        if proto.wasMaxFramePayloadSizeExceeded or proto.wasMaxMessagePayloadSizeExceeded:
            self.listener.message_too_big(getattr(proto, "message_data_total_length", 0),
                                          self.options.max_message_size or 0)
        if self.protocol is proto:
            self.protocol = None
            self.listener.connection_closed(self, text)
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    # -- watchdog -----------------------------------------------------------------
    def _schedule_watchdog(self) -> None:
        # Scheduled only when stale_timeout is set.
        interval = min(1.0, self.options.stale_timeout / 4)  # type: ignore[operator]
        self._watchdog = self.reactor.callLater(interval, self._check_stale)

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.active():
            self._watchdog.cancel()
        self._watchdog = None

    def _check_stale(self) -> None:
        # Counting frames is cheaper on the hot path than a timestamp per frame;
        # the check runs a few times per timeout, so detection is within 25%.
        self._watchdog = None
        now = self.reactor.seconds()
        if self.protocol is not None:
            if self.frames_received != self._activity_mark:
                self._activity_mark = self.frames_received
                self._activity_at = now
            elif now - self._activity_at >= self.options.stale_timeout:
                log.warning("%s: no frame for %.1fs, reconnecting", self.name,
                            now - self._activity_at)
                self.drop(f"stale: no frame for {self.options.stale_timeout}s")
        if not self._stopping:
            self._schedule_watchdog()


def _transport_failure(proto: _ClientProtocol) -> str:
    """What ended a connection that never opened, from the transport's reason."""
    reason = getattr(proto, "lost_reason", None)
    if reason is None:
        return ""
    from twisted.internet.error import ConnectionDone
    if reason.check(ConnectionDone):
        return ""
    text = reason.getErrorMessage()
    if reason.check(SSL.Error):
        return f"TLS handshake failed: {text}"
    return text


class _FailureRecordingEndpoint:
    """Wraps the endpoint so that why a connect attempt failed (refused, DNS,
    timeout) is known to the connection, which ClientService does not tell."""

    def __init__(self, endpoint: Any, owner: WebSocketConnection) -> None:
        self._endpoint = endpoint
        self._owner = owner

    def connect(self, factory: Any) -> defer.Deferred:
        d = self._endpoint.connect(factory)

        def failed(failure: Any) -> Any:
            self._owner._record_failure(failure.getErrorMessage())
            return failure

        d.addErrback(failed)
        return d

"""What every sandbox WebSocket server shares: connection tracking and teardown.

Each exchange's server protocol subclasses :class:`TrackedServerProtocol`: the
factory knows every socket from its TCP accept (so ``stop()`` also closes
sockets still in their handshake), tells the exchange's server when a session
ends, whichever of ``onClose``/``connectionLost`` comes first, and wakes
whoever waits for a socket to be gone.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept

if TYPE_CHECKING:  # pragma: no cover
    from .faults import FaultState

__all__ = ["TrackedServerProtocol", "TrackedServerFactory"]


class _Transport(Protocol):
    """What the fault writers use of a TCP transport.

    Twisted declares ``ITransport`` as a zope interface (methods without ``self``),
    which a type checker reads as methods taking no argument; this says what they take.
    """

    connected: bool

    def write(self, data: bytes) -> None: ...


_log = logging.getLogger("exchange_wss.sandbox")


class TrackedServerProtocol(WebSocketServerProtocol):
    """A server protocol whose factory tracks it; ``session`` is the exchange's state.

    It can also misbehave below the WebSocket layer, for fault injection
    (:class:`~exchange_wss.sandbox._faults_base.WireFaults`): linger after a
    Close frame, write a frame of any size, or a frame that never ends.
    """

    session: Any | None = None
    #: After :meth:`linger`: nothing more is read or written, the TCP
    #: connection stays open (a peer that hung after its Close frame).
    lingering = False
    _trickle: Any = None

    def connectionMade(self):
        super().connectionMade()
        self.factory.protocols.add(self)

    def onClose(self, wasClean, code, reason):
        self._end_session()

    def connectionLost(self, reason):
        if self._trickle is not None and self._trickle.active():
            self._trickle.cancel()
        self._trickle = None
        super().connectionLost(reason)
        self._end_session()
        self.factory.protocols.discard(self)
        for d in self.factory.waiters.pop(self, []):
            d.callback(None)

    def send_text(self, text: str) -> None:
        """Send one text frame; nothing once the connection is closing (RFC 6455
        5.5.1: no data frame after a Close), so publishing to other connections
        goes on."""
        if self.state == self.STATE_OPEN and not self.lingering and self._trickle is None:
            self.sendMessage(text.encode("utf-8"), isBinary=False)

    def dataReceived(self, data: bytes) -> None:
        if self.lingering:
            return  # a peer that stopped reading
        super().dataReceived(data)

    def linger(self, code: int = 1001) -> None:
        """Send a Close frame, then read nothing, send nothing, never close TCP."""
        transport = cast("_Transport | None", self.transport)
        if transport is None or self.lingering:
            return
        payload = struct.pack("!H", code) + b"going away"
        transport.write(bytes((0x88, len(payload))) + payload)
        self.lingering = True

    def send_frame_of(self, size: int) -> None:
        """Write one unfragmented text frame of ``size`` bytes (a JSON string), in
        chunks, bypassing autobahn's send path."""
        transport = cast("_Transport | None", self.transport)
        if transport is None or size < 2:
            return
        if size < 126:
            header = bytes((0x81, size))
        elif size < 1 << 16:
            header = bytes((0x81, 126)) + struct.pack("!H", size)
        else:
            header = bytes((0x81, 127)) + struct.pack("!Q", size)
        transport.write(header + b'"')
        chunk = b"x" * (1 << 20)
        left = size - 2
        while left > 0:
            n = min(left, len(chunk))
            transport.write(chunk[:n])
            left -= n
        transport.write(b'"')

    def send_endless_frame(self, reactor: Any, rate: int) -> None:
        """Write a text frame header announcing 2**40 bytes, then ``rate`` bytes a
        second of its payload until the connection closes."""
        transport = cast("_Transport | None", self.transport)
        if transport is None:
            return
        transport.write(bytes((0x81, 127)) + struct.pack("!Q", 1 << 40) + b'"')
        chunk = b"x" * max(1, rate // 10)

        def more() -> None:
            # Read again each time: the transport goes to None once the connection is lost.
            transport = cast("_Transport | None", self.transport)
            if transport is None or not transport.connected:
                self._trickle = None
                return
            transport.write(chunk)
            self._trickle = reactor.callLater(0.1, more)

        self._trickle = reactor.callLater(0.1, more)

    def abort(self) -> None:
        """Drop the connection at once (no close handshake)."""
        if self.transport is not None:
            self.transport.abortConnection()

    def _end_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            self.factory.server.session_closed(session)


class TextSessionProtocol(TrackedServerProtocol):
    """Moves text between autobahn and a sans-I/O session: one is made at open
    (``session_class(server, send_text, abort)``), and each text frame goes to its
    ``received``. A subclass says how its exchange refuses a binary frame."""

    session_class: Any
    #: Who the log names when handling a frame failed.
    exchange = "sandbox"

    def refuse_binary(self, session: Any) -> None:
        """Answer a binary frame as the exchange answers bad JSON."""
        raise NotImplementedError

    def onOpen(self) -> None:
        """Make this connection's session and tell the server it opened."""
        server = self.factory.server
        self.session = self.session_class(server, self.send_text, self.abort)
        server.session_opened(self.session)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        """Hand a text frame to the session; refuse a binary one."""
        if self.session is None:
            return
        if isBinary:
            self.refuse_binary(self.session)
            return
        try:
            self.session.received(payload.decode("utf-8"))
        except Exception:  # a bug here must not kill the reactor thread
            _log.exception("%s failed handling %r", self.exchange, payload[:200])


class TrackedServerFactory(WebSocketServerFactory):
    """Holds the exchange's server, the live protocols and who waits on them.

    Args:
        server: the exchange's server object (has ``session_closed(session)``).
    """

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server
        self.protocols: set = set()
        self.waiters: dict = {}
        # Pings, when an exchange has them, are the sessions' own (Bitfinex has
        # none at the WebSocket level; Binance's payload echo is checked).
        self.setProtocolOptions(autoPingInterval=0, closeHandshakeTimeout=1,
                                openHandshakeTimeout=10,
                                perMessageCompressionAccept=accept_deflate)


def accept_deflate(offers: list) -> Any:
    """Accept a client's permessage-deflate offer (RFC 7692), as the exchanges do;
    a client that offers nothing gets uncompressed frames."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


class _LoopingServer(Protocol):
    """What a sandbox handle needs of its exchange's server."""

    def start_loops(self) -> None: ...

    def stop_loops(self) -> None: ...


_ServerT = TypeVar("_ServerT", bound=_LoopingServer)


class SandboxHandle(Generic[_ServerT]):
    """The lifecycle every sandbox's public handle shares (``BitfinexSandbox`` ...).

    Subclasses set ``host``, ``_requested_port``, ``_own_reactor``, ``_reactor``,
    ``_server`` (with ``start_loops``/``stop_loops``) and ``_factory`` (a
    :class:`TrackedServerFactory`), ``_listening = _port = None``; they may
    override :meth:`_listen_target` and :meth:`_shutdown_extra`.
    """

    host: str
    _requested_port: int
    _own_reactor: bool
    _reactor: Any  # a Twisted reactor (zope interfaces: no static type to check against)
    _server: _ServerT
    _factory: TrackedServerFactory
    _listening: Any = None
    _port: int | None = None

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the reactor thread and wait (directly with a caller's reactor)."""
        if self._own_reactor:
            from exchange_wss import _reactor
            return _reactor.call_and_wait(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    @property
    def server(self) -> _ServerT:
        """The exchange object (reactor thread only)."""
        return self._server

    @property
    def factory(self) -> TrackedServerFactory:
        """The autobahn factory (for in-reactor tests that build protocols themselves)."""
        return self._factory

    def _listen_target(self) -> Any:
        """What listens on the port: the WebSocket factory, or a web site around it."""
        return self._factory

    def _shutdown_extra(self) -> list:
        """Deferreds of anything else to close at stop (e.g. HTTP channels)."""
        return []

    def listen(self) -> Any:
        """Listen on the reactor and start the market loops; returns the listening port.

        Twisted-native: call it on the reactor thread (or with your own
        ``reactor=``). :meth:`start` does this for you from any thread.
        """
        if self._listening is None:
            self._listening = self._reactor.listenTCP(self._requested_port,
                                                      self._listen_target(),
                                                      interface=self.host)
            self._port = self._listening.getHost().port
            self._server.start_loops()
        return self._listening

    def start(self):
        """Listen (on the library's reactor thread) and return self once listening."""
        if self._own_reactor:
            from exchange_wss import _reactor
            _reactor.ensure_running()
        self._call(self.listen)
        return self

    def _shutdown(self) -> Any:
        from twisted.internet import defer
        self._server.stop_loops()
        waits = []
        if self._listening is not None:
            waits.append(defer.maybeDeferred(self._listening.stopListening))
            self._listening = None
        for proto in list(self._factory.protocols):
            gone: defer.Deferred[None] = defer.Deferred()
            self._factory.waiters.setdefault(proto, []).append(gone)
            waits.append(gone)
            if proto.transport is not None:
                proto.transport.abortConnection()
        waits.extend(self._shutdown_extra())
        return defer.DeferredList(waits, consumeErrors=True).addCallback(lambda _: None)

    def stop(self) -> None:
        """Close the listener and every connection, stop the market loops; returns when done."""
        self._call(self._shutdown)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The TCP port listened on (still readable after :meth:`stop`)."""
        if self._port is None:
            raise RuntimeError("sandbox not started")
        return self._port


class ServerTimeAndStall:
    """What the exchange servers share (a mixin): the clock, the stall fault, and
    writing to or aborting every connection.

    The server sets ``reactor``, ``faults`` (with a ``stalled`` flag),
    ``sessions`` (each with ``flush_held()``, ``write()`` and ``drop()``) and
    ``_stall_call = None``; :meth:`_resumed` lets an exchange add what resuming
    means for it.
    """

    reactor: Any  # a Twisted reactor
    faults: FaultState
    sessions: list[Any]  # the exchange's sessions, each with flush_held()
    _stall_call: Any  # the pending resume (an IDelayedCall), or None

    def now(self) -> float:
        """The reactor's time, in seconds."""
        return self.reactor.seconds()

    def now_ms(self) -> int:
        """The reactor's time, in ms."""
        return int(self.reactor.seconds() * 1000)

    def broadcast_raw(self, data: Any) -> None:
        """Write ``data`` as it is to every connection."""
        for s in list(self.sessions):
            s.write(data)

    def drop_all(self) -> int:
        """Abort every connection (no close frame); returns how many."""
        sessions = list(self.sessions)
        for s in sessions:
            s.drop()
        return len(sessions)

    def stall(self, seconds: float | None) -> None:
        """Hold every outgoing frame until :meth:`resume`, or for ``seconds``."""
        self.faults.stalled = True
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        self._stall_call = self.reactor.callLater(seconds, self.resume) if seconds else None

    def resume(self) -> None:
        """End a stall: the held frames go out, in order."""
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        self._stall_call = None
        self.faults.stalled = False
        for session in list(self.sessions):
            session.flush_held()
        self._resumed()

    def _resumed(self) -> None:
        """Called after a stall ended (hook)."""

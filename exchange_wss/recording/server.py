"""The replay server: a recording served over a real WebSocket on loopback.

Any client, this SDK's or another, connects as it would to the venue. Each
client connection plays recorded connections (the first one whose recorded
requests match what the client asks for, in recorded order; more are merged in
when the client asks for streams that were recorded on another connection):

- frames that answered a request (Bitfinex ``subscribed``, ``auth``, ``conf``;
  Binance ``{"result":null,"id":..}`` and WebSocket-API answers; FTX
  ``subscribed``) are sent only once the client made that request, with the
  client's ids (``subId``, request ``id``) and chanIds unique on its connection;
  a request the recording never saw gets the venue's error (or plain ack);
- stream data is sent while the client is subscribed to that stream, in the
  recorded order across streams, as fast as the client reads (``speed=None``)
  or at ``speed`` times the recorded pace;
- a recorded close closes the client's connection with the same code (the
  client reconnects and gets the next recorded connection);
- Binance REST: depth snapshots are answered from the recording, and the stream
  waits where the recorded snapshot arrived, so books sync as they did;
  listenKeys are issued on request.

If the client has not asked for a stream when the recording reaches its reply,
the server waits up to ``request_wait`` seconds, then goes on without it (the
stream is served from then on if asked later).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import defer
from twisted.web.resource import Resource
from twisted.web.server import Site

from ._playback import PlaybackSession, Timeline, route
from .dialects import dialect_for
from .reader import Recording

__all__ = ["ReplayServer", "ReplayStats"]

log = logging.getLogger("exchange_wss.replay")

_LISTEN_KEY = "replay" + "0" * 54


@dataclass
class ReplayStats:
    """What the server did (reactor thread; read after ``stop()`` or at your own risk)."""

    connections: int = 0
    frames_sent: int = 0
    frames_skipped: int = 0
    requests: int = 0
    requests_unknown: int = 0
    waits_timed_out: int = 0
    http_answered: int = 0


class _Proto(WebSocketServerProtocol):
    session: PlaybackSession | None = None

    def onConnect(self, request):
        self.route = route(request.path)
        return None

    def onOpen(self):
        server = self.factory.server
        server.protocols.add(self)
        server.stats.connections += 1
        self.session = PlaybackSession(server, self, getattr(self, "route", "/"))
        server.sessions.add(self.session)
        # Behind twisted.web, the HTTP channel that handed over is still the
        # transport's producer: the session takes its place.
        if getattr(self.transport, "producer", None) is not None:
            self.transport.unregisterProducer()
        self.transport.registerProducer(self.session, True)
        self.session.start()

    def onMessage(self, payload, isBinary):
        if self.session is not None and not isBinary:
            self.session.request(payload)

    def onClose(self, wasClean, code, reason):
        self._ended()

    def connectionLost(self, reason):
        super().connectionLost(reason)
        self._ended()
        server = self.factory.server
        server.protocols.discard(self)
        for d in server.waiters.pop(self, []):
            d.callback(None)

    def _ended(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            session.end()
            self.factory.server.sessions.discard(session)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()


class _Root(Resource):
    isLeaf = True

    def __init__(self, server: ReplayServer, ws: WebSocketResource) -> None:
        super().__init__()
        # Not ``server``: twisted.web's Resource has that attribute (None), for its own use.
        self.replay = server
        self.ws = ws

    def render(self, request):
        if (request.getHeader(b"upgrade") or b"").lower() == b"websocket":
            return self.ws.render(request)
        path = request.path.decode("utf-8", "replace").rstrip("/")
        method = request.method.decode("ascii", "replace")
        args = {k.decode(): v[0].decode() for k, v in (request.args or {}).items() if v}
        status, body = self.replay.answer_http(method, path, args)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return orjson.dumps(body)


class ReplayServer:
    """Serves a recording on ``ws://host:port`` (and Binance REST on the same port).

    Args:
        recording: a :class:`~exchange_wss.recording.Recording` (see
            :func:`~exchange_wss.recording.open_recording`).
        speed: None for as fast as the client reads, else a multiple of the
            recorded pace (1.0: as recorded).
        host, port: where to listen (port 0: a free one).
        request_wait: seconds to wait for a client request the recording
            reached before going on without it.
        reactor: a reactor to use instead of the library's own thread.

    Raises:
        LocalProtocolError: the recording's venue is unknown.
    """

    def __init__(self, recording: Recording, *, speed: float | None = None,
                 host: str = "127.0.0.1", port: int = 0, request_wait: float = 2.0,
                 reactor: Any = None) -> None:
        from ..errors import LocalProtocolError
        if speed is not None and speed <= 0:
            raise LocalProtocolError("speed must be positive or None")
        self.recording = recording
        self.dialect = dialect_for(recording.venue)
        self.speed = speed
        self.host = host
        self._requested_port = port
        self.request_wait = request_wait
        self._own_reactor = reactor is None
        self.reactor = reactor
        self.stats = ReplayStats()
        self.timeline = Timeline(recording, self.dialect)
        self.timeline.finish()
        self.http_served: dict[Any, int] = {}
        self.http_served_at: dict[Any, list[float]] = {}
        self.sessions: set = set()
        self.protocols: set = set()
        self.waiters: dict[Any, list] = {}
        self._listening: Any = None
        self.port: int | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def _call(self, fn: Any) -> Any:
        if self._own_reactor:
            from .. import _reactor
            return _reactor.call_and_wait(fn)
        return fn()

    def listen(self) -> Any:
        """Listen (on the reactor thread); returns the listening port."""
        if self.reactor is None:
            from .. import _reactor
            self.reactor = _reactor.get_reactor()
        factory = WebSocketServerFactory()
        factory.protocol = _Proto
        factory.server = self
        factory.setProtocolOptions(autoPingInterval=0, closeHandshakeTimeout=1)
        site = Site(_Root(self, WebSocketResource(factory)))
        site.noisy = False
        self._site = site
        self._listening = self.reactor.listenTCP(self._requested_port, site, interface=self.host)
        self.port = self._listening.getHost().port
        return self._listening

    def start(self) -> ReplayServer:
        """Listen on the library's reactor thread; returns self once listening."""
        if self._own_reactor:
            from .. import _reactor
            _reactor.ensure_running()
        self._call(self.listen)
        return self

    def _shutdown(self) -> Any:
        waits = []
        if self._listening is not None:
            waits.append(defer.maybeDeferred(self._listening.stopListening))
            self._listening = None
        for proto in list(self.protocols):
            gone: defer.Deferred = defer.Deferred()
            self.waiters.setdefault(proto, []).append(gone)
            waits.append(gone)
            proto.abort()
        return defer.DeferredList(waits, consumeErrors=True)

    def stop(self) -> None:
        """Close the listener and every connection; returns when done."""
        self._call(self._shutdown)

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``ws://host:port`` (add the venue's path: ``/ws/2``, ``/stream``, ``/ws/``)."""
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        """``http://host:port``, for Binance's REST calls."""
        return f"http://{self.host}:{self.port}"

    # -- HTTP ----------------------------------------------------------------------------
    def answer_http(self, method: str, path: str, args: dict[str, str]) -> tuple[int, Any]:
        """Answer one REST call from the recording (reactor thread)."""
        if path.endswith(("/listenKey", "/userDataStream")):
            return 200, {"listenKey": _LISTEN_KEY} if method == "POST" else {}
        key = (path, args.get("symbol", "").upper())
        answers = self.timeline.http.get(key)
        if not answers:
            return 404, {"code": -1000, "msg": f"replay: {method} {path} not in the recording"}
        served = self.http_served.get(key, 0)
        self.http_served[key] = served + 1
        self.http_served_at.setdefault(key, []).append(self.reactor.seconds())
        self.stats.http_answered += 1
        body = answers[min(served, len(answers) - 1)]
        self.reactor.callLater(0, self._http_done)
        return 200, body

    def _http_done(self) -> None:
        for session in list(self.sessions):
            session.resume_from_wait()

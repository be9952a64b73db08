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

import heapq
import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import orjson
from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import defer
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from . import format as fmt
from .dialects import OTHER, Dialect, Tag, dialect_for, request_keys
from .reader import Recording

__all__ = ["ReplayServer", "ReplayStats"]

log = logging.getLogger("exchange_wss.replay")

_BATCH = 500  # frames per reactor turn in fast mode
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


@dataclass
class _Entry:
    mono: int
    kind: str            # "frame", "close" (by the server), "end" (by the client), "http"
    frame: bytes = b""
    obj: Any = None
    tag: Tag = OTHER
    binary: bool = False
    code: Optional[int] = None
    http_key: Any = None
    grace: float = 0.0


@dataclass
class _RecordedConn:
    conn: int
    path: str
    name: str
    entries: List[_Entry] = field(default_factory=list)
    keys: set = field(default_factory=set)
    taken: bool = False

    @property
    def lead(self) -> int:
        """Entries before the first that is not ``other`` (the server's greeting)."""
        for i, e in enumerate(self.entries):
            if e.kind != "frame" or e.tag.kind != "other":
                return i
        return len(self.entries)


def _route(path: str) -> str:
    parts = urlsplit(fmt.redact_url("ws://x" + path))
    return parts.path.rstrip("/") or "/"


class _Timeline:
    """The recording, prepared: recorded connections with tagged frames, HTTP answers."""

    def __init__(self, recording: Recording, dialect: Dialect) -> None:
        self.conns: List[_RecordedConn] = []
        self.http: Dict[Tuple[str, str], List[Any]] = {}
        by_id: Dict[int, _RecordedConn] = {}
        states: Dict[int, dict] = {}
        depth_of: Dict[str, int] = {}  # symbol -> conn carrying its depth stream
        for rec in recording.records():
            if rec.kind == "open":
                path = urlsplit(rec.data.get("url", "")).path or "/"
                rc = _RecordedConn(rec.conn, _route(path), rec.data.get("name", ""))
                by_id[rec.conn] = rc
                states[rec.conn] = {}
                self.conns.append(rc)
                continue
            rc = by_id.get(rec.conn)
            if rec.kind == "http":
                self._add_http(rec, by_id, depth_of)
                continue
            if rc is None:
                continue
            if rec.kind == "close":
                if rec.data.get("by_client"):
                    # The client ended it: a replaying client does that itself.
                    rc.entries.append(_Entry(rec.mono_ns, "end"))
                else:
                    rc.entries.append(_Entry(rec.mono_ns, "close", code=rec.data.get("code")))
            elif rec.kind == "sent" and not rec.binary:
                try:
                    obj = orjson.loads(rec.data)
                except ValueError:
                    continue
                dialect.note_sent(obj, states[rec.conn])
                for req in dialect.requests(obj):
                    if req.kind == "sub" and isinstance(req.key, str) and "@depth" in req.key:
                        depth_of[req.key.split("@", 1)[0].upper()] = rec.conn
            elif rec.kind == "recv":
                if rec.binary:
                    rc.entries.append(_Entry(rec.mono_ns, "frame", rec.data, binary=True))
                    continue
                try:
                    obj = orjson.loads(rec.data)
                except ValueError:
                    rc.entries.append(_Entry(rec.mono_ns, "frame", rec.data))
                    continue
                tag = dialect.tag(obj, states[rec.conn])
                if tag.kind == "reply":
                    rc.keys.update(tag.keys)
                rc.entries.append(_Entry(rec.mono_ns, "frame", rec.data, obj, tag))

    def _add_http(self, rec: Any, by_id: Dict[int, _RecordedConn], depth_of: Dict[str, int]) -> None:
        data = rec.data
        path = urlsplit(data.get("url", "")).path.rstrip("/")
        params = data.get("params") or {}
        symbol = str(params.get("symbol", "")).upper()
        key = (path, symbol)
        answers = self.http.setdefault(key, [])
        answers.append(data.get("body"))
        rc = by_id.get(depth_of.get(symbol, -1)) if path.endswith("/depth") else None
        if rc is not None:
            # The stream waits here until the client fetched this snapshot.
            rc.entries.append(_Entry(rec.mono_ns, "http", http_key=(key, len(answers))))

    def finish(self) -> None:
        """Give each snapshot entry the recorded time to the next frame (at most 0.5 s)."""
        for rc in self.conns:
            entries = rc.entries
            for i, e in enumerate(entries):
                if e.kind == "http" and i + 1 < len(entries):
                    e.grace = min(max(entries[i + 1].mono - e.mono, 0) / 1e9, 0.5)

    def candidates(self, route: str) -> List[_RecordedConn]:
        return [rc for rc in self.conns if rc.path == route and not rc.taken]


class _ClientReq:
    __slots__ = ("wire", "keys", "obj", "answered")

    def __init__(self, wire: Any, keys: List[Any], obj: Any) -> None:
        self.wire, self.keys, self.obj, self.answered = wire, keys, obj, False


@implementer(IPushProducer)
class _Session:
    """One client connection's playback."""

    def __init__(self, server: "ReplayServer", proto: "_Proto", route: str) -> None:
        self.server = server
        self.proto = proto
        self.route = route
        self.dialect = server.dialect
        self.conns: List[_RecordedConn] = []
        self.heap: List[Tuple[int, int, int]] = []  # (mono, order, conn index)
        self.pos: List[int] = []
        self.active: set = set()
        self.skipped: Dict[Any, Tuple[int, _Entry]] = {}
        self.replied: Dict[Any, Tuple[int, _Entry]] = {}
        self.pending: Dict[Any, _ClientReq] = {}
        self.chans: Dict[Tuple[int, Any], Any] = {}
        self.used_chans: set = set()
        self.label_of_chan: Dict[Any, Any] = {}
        self.api_counts: Dict[str, int] = {}
        self.paused = False
        self.closed = False
        self.waiting: Any = None
        self.wait_key: Any = None
        self.t0: Optional[float] = None
        self.mono0 = 0
        self.scheduled: Any = None
        self.greeted = False

    # -- assignment ------------------------------------------------------------------
    def start(self) -> None:
        cands = self.server.timeline.candidates(self.route)
        always = self.dialect.always_active(self.route)
        if always and cands:
            self._assign(cands[0], skip_lead=False)
            self.active.update(always)
        elif cands:
            # Greet as the recording did (Bitfinex's info event) before any request.
            first = cands[0]
            for e in first.entries[:first.lead]:
                self._send(e.frame, e.binary)
            self.greeted = True
        self.pump()

    def _assign(self, rc: _RecordedConn, skip_lead: bool) -> None:
        rc.taken = True
        index = len(self.conns)
        self.conns.append(rc)
        start = rc.lead if skip_lead else 0
        self.pos.append(start)
        if start < len(rc.entries):
            heapq.heappush(self.heap, (rc.entries[start].mono, index, index))

    def _conn_for(self, key: Any) -> Optional[_RecordedConn]:
        for rc in self.conns:
            if key in rc.keys:
                return rc
        for rc in self.server.timeline.candidates(self.route):
            if key in rc.keys:
                self._assign(rc, skip_lead=self.greeted or bool(self.conns))
                return rc
        return None

    # -- the client's requests ---------------------------------------------------------
    def request(self, payload: bytes) -> None:
        try:
            obj = orjson.loads(payload)
        except ValueError:
            return
        reqs = self.dialect.requests(obj)
        if not reqs:
            return
        server = self.server
        server.stats.requests += 1
        keys = request_keys(self.dialect, reqs, self.api_counts)
        for i, req in enumerate(reqs):
            if req.kind == "unsub" and req.key is None:  # Bitfinex: by served chanId
                label = self.label_of_chan.get(req.wire)
                keys[i] = ("unsub", label)
        creq = _ClientReq(reqs[0].wire, keys, obj)
        for req, key in zip(reqs, keys):
            if req.kind == "ping":
                self._send(self.dialect.synthesize(req, obj))
                continue
            if key in self.active and req.kind == "sub":
                continue
            if req.kind == "conf" and not self.conns:
                # Every connection was configured alike: wait for a request that
                # says which recorded connection this one is.
                self.pending[key] = creq
                continue
            rc = self._conn_for(key)
            if rc is None and req.kind != "login":
                server.stats.requests_unknown += 1
                reply = self.dialect.synthesize(req, obj)
                if req.kind == "unsub" and isinstance(key, tuple):
                    self.active.discard(key[1])
                if reply is not None and not creq.answered:
                    creq.answered = req.kind != "sub" or len(reqs) == 1
                    self._send(reply)
                continue
            self.pending[key] = creq
            if key not in self.skipped and key in self.replied and req.kind == "sub":
                # Subscribed again (after a checksum mismatch...): answer as the first
                # time; its data goes on from where the recording is.
                self.skipped[key] = self.replied[key]
            if key in self.skipped:
                # The recording passed this reply before the client asked: answer now.
                index, entry = self.skipped.pop(key)
                self._reply(index, entry)
        self.resume_from_wait()

    # -- playback -------------------------------------------------------------------------
    def pump(self) -> None:
        self.scheduled = None
        if self.closed or self.paused or self.waiting is not None:
            return
        speed = self.server.speed
        reactor = self.server.reactor
        sent = 0
        while self.heap:
            mono, _o, index = self.heap[0]
            if speed is not None:
                now = reactor.seconds()
                if self.t0 is None:
                    self.t0, self.mono0 = now, mono
                due = self.t0 + (mono - self.mono0) / 1e9 / speed
                if due > now + 0.0005:
                    self.scheduled = reactor.callLater(due - now, self.pump)
                    return
            elif sent >= _BATCH:
                self.scheduled = reactor.callLater(0, self.pump)
                return
            rc = self.conns[index]
            entry = rc.entries[self.pos[index]]
            if not self._play(index, entry):
                return  # waiting for the client
            heapq.heappop(self.heap)
            self.pos[index] += 1
            if self.pos[index] < len(rc.entries):
                heapq.heappush(self.heap, (rc.entries[self.pos[index]].mono, index, index))
            sent += 1
            if self.closed or self.paused:
                return

    def _play(self, index: int, entry: _Entry) -> bool:
        """Play one entry; False when it must wait for the client."""
        if entry.kind == "close":
            if index == 0:
                self._close(entry.code)
            return True
        if entry.kind == "end":
            return True
        if entry.kind == "http":
            key, nth = entry.http_key
            served = self.server.http_served_at.get(key, ())
            if len(served) < nth:
                return self._wait(("http", key, nth), index, entry)
            # The client has the snapshot; give it the time it had in the
            # recording before the next frame, so its book syncs where it did.
            due = served[nth - 1] + entry.grace
            now = self.server.reactor.seconds()
            if due > now:
                self.scheduled = self.server.reactor.callLater(due - now, self.pump)
                return False
            return True
        tag = entry.tag
        if tag.kind == "data":
            key = tag.keys[0]
            if key in self.active:
                chan = self.chans.get((index, tag.chan), tag.chan)
                self._send(self.dialect.rewrite(entry.frame, entry.obj, tag, None, chan),
                           entry.binary)
            else:
                self.server.stats.frames_skipped += 1
            return True
        if tag.kind == "reply":
            keys = tag.keys
            if any(k in self.pending for k in keys):
                self._reply(index, entry)
                return True
            if all(k in self.skipped or k in self.active for k in keys) and not \
                    any(isinstance(k, tuple) and k[0] == "unsub" for k in keys):
                return True  # a re-subscription the client did not make: not its to see
            return self._wait(keys, index, entry)
        if tag.kind == "drop":
            return True
        if index == 0:
            self._send(entry.frame, entry.binary)
        return True

    def _reply(self, index: int, entry: _Entry) -> None:
        tag = entry.tag
        creqs = []
        for key in tag.keys:
            self.replied[key] = (index, entry)
            creq = self.pending.pop(key, None)
            if isinstance(key, tuple) and key[0] == "unsub":
                self.active.discard(key[1])
            else:
                self.active.add(key)
            if creq is not None and creq not in creqs:
                creqs.append(creq)
        chan = None
        if tag.chan is not None:
            chan = tag.chan
            if chan in self.used_chans and self.chans.get((index, tag.chan)) != chan:
                chan = max(self.used_chans) + 1
            self.used_chans.add(chan)
            self.chans[(index, tag.chan)] = chan
            self.label_of_chan[chan] = tag.keys[0]
        for creq in creqs:
            if creq.answered:
                continue
            if all(k in self.active or (isinstance(k, tuple) and k[0] == "unsub")
                   for k in creq.keys):
                creq.answered = True
                self._send(self.dialect.rewrite(entry.frame, entry.obj, tag, creq.wire, chan))

    def _wait(self, key: Any, index: int, entry: _Entry) -> bool:
        if self.waiting is None:
            self.wait_key = (key, index, entry)
            self.waiting = self.server.reactor.callLater(self.server.request_wait,
                                                         self._wait_over)
        return False

    def resume_from_wait(self) -> None:
        """Something the playback waits for may have happened (a request, an HTTP fetch)."""
        if self.waiting is not None:
            key, _index, entry = self.wait_key
            done = (entry.kind == "http"
                    and len(self.server.http_served_at.get(key[1], ())) >= key[2]) \
                or (entry.kind == "frame" and any(k in self.pending for k in entry.tag.keys))
            if done:
                self.waiting.cancel()
                self.waiting = None
                self.t0 = None  # the recorded pace restarts from here
        self.pump()

    def _wait_over(self) -> None:
        self.waiting = None
        key, index, entry = self.wait_key
        self.server.stats.waits_timed_out += 1
        if entry.kind == "frame":
            for k in entry.tag.keys:
                self.skipped[k] = (index, entry)
        # Step past the entry the client never asked for.
        heapq.heappop(self.heap)
        self.pos[index] += 1
        rc = self.conns[index]
        if self.pos[index] < len(rc.entries):
            heapq.heappush(self.heap, (rc.entries[self.pos[index]].mono, index, index))
        self.t0 = None
        self.pump()

    def _send(self, frame: Optional[bytes], binary: bool = False) -> None:
        if frame is None or self.closed:
            return
        self.proto.sendMessage(frame, isBinary=binary)
        self.server.stats.frames_sent += 1

    def _close(self, code: Optional[int]) -> None:
        self.closed = True
        if code in (None, 1005, 1006):
            self.proto.abort()
        else:
            self.proto.sendClose(code)

    def end(self) -> None:
        self.closed = True
        for call in (self.waiting, self.scheduled):
            if call is not None and call.active():
                call.cancel()
        self.waiting = self.scheduled = None

    # -- IPushProducer (the transport pauses us when the client reads slowly) --------
    def pauseProducing(self) -> None:  # noqa: N802
        self.paused = True

    def resumeProducing(self) -> None:  # noqa: N802
        if self.paused:
            self.paused = False
            if self.scheduled is None:
                self.pump()

    def stopProducing(self) -> None:  # noqa: N802
        self.end()


class _Proto(WebSocketServerProtocol):
    session: Optional[_Session] = None

    def onConnect(self, request):  # noqa: N802
        self.route = _route(request.path)
        return None

    def onOpen(self):  # noqa: N802
        server = self.factory.server
        server.protocols.add(self)
        server.stats.connections += 1
        self.session = _Session(server, self, getattr(self, "route", "/"))
        server.sessions.add(self.session)
        # Behind twisted.web, the HTTP channel that handed over is still the
        # transport's producer: the session takes its place.
        if getattr(self.transport, "producer", None) is not None:
            self.transport.unregisterProducer()
        self.transport.registerProducer(self.session, True)
        self.session.start()

    def onMessage(self, payload, isBinary):  # noqa: N802
        if self.session is not None and not isBinary:
            self.session.request(payload)

    def onClose(self, wasClean, code, reason):  # noqa: N802
        self._ended()

    def connectionLost(self, reason):  # noqa: N802
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

    def __init__(self, server: "ReplayServer", ws: Resource) -> None:
        super().__init__()
        self.server = server
        self.ws = ws

    def render(self, request):
        if (request.getHeader(b"upgrade") or b"").lower() == b"websocket":
            return self.ws.render(request)
        path = request.path.decode("utf-8", "replace").rstrip("/")
        method = request.method.decode("ascii", "replace")
        args = {k.decode(): v[0].decode() for k, v in (request.args or {}).items() if v}
        status, body = self.server.answer_http(method, path, args)
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

    def __init__(self, recording: Recording, *, speed: Optional[float] = None,
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
        self.timeline = _Timeline(recording, self.dialect)
        self.timeline.finish()
        self.http_served: Dict[Any, int] = {}
        self.http_served_at: Dict[Any, List[float]] = {}
        self.sessions: set = set()
        self.protocols: set = set()
        self.waiters: Dict[Any, list] = {}
        self._listening: Any = None
        self.port: Optional[int] = None

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

    def start(self) -> "ReplayServer":
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

    def __enter__(self) -> "ReplayServer":
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
    def answer_http(self, method: str, path: str, args: Dict[str, str]) -> Tuple[int, Any]:
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

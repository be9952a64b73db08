"""The replay server's playback: the recording prepared per connection, and one
client connection's session through it (see :mod:`exchange_wss.recording.server`).

Reactor thread only; no listening here, only what to send when.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from twisted.internet.interfaces import IPushProducer
from zope.interface import implementer  # type: ignore[import-untyped]  # ships no types

from . import format as fmt
from .dialects import OTHER, Dialect, Tag, request_keys
from .reader import Recording

__all__ = ["Timeline", "PlaybackSession", "route"]

_BATCH = 500  # frames per reactor turn in fast mode


@dataclass
class _Entry:
    mono: int
    kind: str            # "frame", "close" (by the server), "end" (by the client), "http"
    frame: bytes = b""
    obj: Any = None
    tag: Tag = OTHER
    binary: bool = False
    code: int | None = None
    http_key: Any = None
    grace: float = 0.0


@dataclass
class _RecordedConn:
    conn: int
    path: str
    name: str
    entries: list[_Entry] = field(default_factory=list)
    keys: set = field(default_factory=set)
    taken: bool = False

    @property
    def lead(self) -> int:
        """Entries before the first that is not ``other`` (the server's greeting)."""
        for i, e in enumerate(self.entries):
            if e.kind != "frame" or e.tag.kind != "other":
                return i
        return len(self.entries)


def route(path: str) -> str:
    parts = urlsplit(fmt.redact_url("ws://x" + path))
    return parts.path.rstrip("/") or "/"


class Timeline:
    """The recording, prepared: recorded connections with tagged frames, HTTP answers."""

    def __init__(self, recording: Recording, dialect: Dialect) -> None:
        self.conns: list[_RecordedConn] = []
        self.http: dict[tuple[str, str], list[Any]] = {}
        by_id: dict[int, _RecordedConn] = {}
        states: dict[int, dict] = {}
        depth_of: dict[str, int] = {}  # symbol -> conn carrying its depth stream
        for rec in recording.records():
            if rec.kind == "open":
                path = urlsplit(rec.data.get("url", "")).path or "/"
                opened = _RecordedConn(rec.conn, route(path), rec.data.get("name", ""))
                by_id[rec.conn] = opened
                states[rec.conn] = {}
                self.conns.append(opened)
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

    def _add_http(self, rec: Any, by_id: dict[int, _RecordedConn],
                  depth_of: dict[str, int]) -> None:
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

    def candidates(self, route: str) -> list[_RecordedConn]:
        return [rc for rc in self.conns if rc.path == route and not rc.taken]


class _ClientReq:
    __slots__ = ("wire", "keys", "obj", "answered")

    def __init__(self, wire: Any, keys: list[Any], obj: Any) -> None:
        self.wire, self.keys, self.obj, self.answered = wire, keys, obj, False


@implementer(IPushProducer)
class PlaybackSession:
    """One client connection's playback."""

    def __init__(self, server: Any, proto: Any, route: str) -> None:
        self.server = server
        self.proto = proto
        self.route = route
        self.dialect = server.dialect
        self.conns: list[_RecordedConn] = []
        self.heap: list[tuple[int, int, int]] = []  # (mono, order, conn index)
        self.pos: list[int] = []
        self.active: set = set()
        self.skipped: dict[Any, tuple[int, _Entry]] = {}
        self.replied: dict[Any, tuple[int, _Entry]] = {}
        self.pending: dict[Any, _ClientReq] = {}
        self.chans: dict[tuple[int, Any], Any] = {}
        self.used_chans: set = set()
        self.label_of_chan: dict[Any, Any] = {}
        self.api_counts: dict[str, int] = {}
        self.paused = False
        self.closed = False
        self.waiting: Any = None
        self.wait_key: Any = None
        self.t0: float | None = None
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

    def _conn_for(self, key: Any) -> _RecordedConn | None:
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
        for req, key in zip(reqs, keys, strict=False):
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
        _key, index, entry = self.wait_key
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

    def _send(self, frame: bytes | None, binary: bool = False) -> None:
        if frame is None or self.closed:
            return
        self.proto.sendMessage(frame, isBinary=binary)
        self.server.stats.frames_sent += 1

    def _close(self, code: int | None) -> None:
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
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        if self.paused:
            self.paused = False
            if self.scheduled is None:
                self.pump()

    def stopProducing(self) -> None:
        self.end()

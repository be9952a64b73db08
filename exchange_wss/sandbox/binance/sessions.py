"""One Binance sandbox connection's state, sans-I/O: text in through ``received``,
frames out through a link (the autobahn protocol, or a fake in tests) with
``send``/``send_ping``/``close``/``abort``.

:class:`Session` holds what every connection shares (output held while stalled,
server pings and pong deadlines, the age cut, the incoming-message rate);
:class:`StreamSession` is a market or listenKey stream connection with its
SUBSCRIBE/UNSUBSCRIBE control messages. The WebSocket API is
:class:`~.ws_api.ApiSession`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from .wire import _is_listen_key_name, parse_stream

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["Session", "StreamSession"]

log = logging.getLogger("exchange_wss.sandbox.binance")


class Session:
    """A WebSocket connection's common state: output (held while stalled), server
    pings and their pong deadlines, the age cut and the incoming-message rate."""

    kind = "base"

    def __init__(self, server: BinanceServer, link: Any, path: str):
        self.server = server
        self.link = link
        self.path = path
        self.id = next(server._session_ids)
        self.opened_at = server.now()
        self.open = True
        self.held: list = []
        self.incoming: deque = deque()
        self.incoming_limit: int | None = None
        self.pings: dict = {}            # payload -> time sent, oldest first
        self._ping_seq = 0
        self._calls: list = []
        self._ping_call = None
        r = server.reactor
        if server.ping_interval:
            self._ping_call = r.callLater(server.ping_interval, self._ping)
        if server.max_connection_age:
            self._calls.append(r.callLater(server.max_connection_age, self._age_out))

    # -- output -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send one frame, or hold it while the server is stalled; nothing once closed."""
        if not self.open:
            return
        if self.server.faults.stalled:
            self.held.append(data)
        else:
            self.link.send(data)

    def send_json(self, obj: Any) -> None:
        """Send ``obj`` as one JSON text frame."""
        self.write(orjson.dumps(obj))

    def flush_held(self) -> None:
        """Send the frames held during a stall, in order."""
        held, self.held = self.held, []
        for data in held:
            if self.open:
                self.link.send(data)

    def close(self, code: int, reason: str) -> None:
        """Send a close frame (the link drops the socket if the peer does not answer)."""
        if not self.open:
            return
        self.open = False
        self.held.clear()
        log.debug("closing session %s: %s %s", self.id, code, reason)
        self.link.close(code, reason)

    # -- liveness ----------------------------------------------------------------

    def _ping(self) -> None:
        self._ping_call = self.server.reactor.callLater(self.server.ping_interval, self._ping)
        if not self.open or self.server.faults.stalled:
            return
        self._ping_seq += 1
        payload = f"{self.server.now_ms()}:{self._ping_seq}".encode()
        self.pings[payload] = self.server.now()
        self.link.send_ping(payload)
        self._calls = [c for c in self._calls if c.active()]
        self._calls.append(self.server.reactor.callLater(self.server.pong_timeout,
                                                          self._pong_deadline, payload))

    def _pong_deadline(self, payload: bytes) -> None:
        if self.open and payload in self.pings:
            self.server.pong_timeouts += 1
            self.close(1008, "Pong timeout")

    def pong(self, payload: bytes) -> None:
        """A pong arrived: it clears its ping (and older ones) only if it echoes the payload."""
        ok = payload in self.pings
        self.server.pong_log.append({"session": self.id, "payload": payload, "ok": ok,
                                     "time": self.server.now()})
        if ok:
            for p in list(self.pings):
                del self.pings[p]
                if p == payload:
                    break
        self.count_incoming()

    def ping_received(self) -> bool:
        """A ping arrived: it counts as an incoming message; False once the connection is closed."""
        return self.count_incoming()

    def count_incoming(self) -> bool:
        """Count one incoming message; past the per-second limit the connection is closed."""
        if self.incoming_limit is None or not self.open:
            return self.open
        now = self.server.now()
        q = self.incoming
        q.append(now)
        while q and now - q[0] >= 1.0:
            q.popleft()
        if len(q) > self.incoming_limit:
            self.server.rate_cuts += 1
            self.close(1008, "Too many requests")
            return False
        return True

    def _age_out(self) -> None:
        self.close(1001, "Connection age limit reached")

    def closed(self) -> None:
        """The connection ended: nothing more is sent and its timers are cancelled."""
        self.open = False
        self.held.clear()
        for c in [*self._calls, self._ping_call]:
            if c is not None and c.active():
                c.cancel()
        self._calls = []
        self._ping_call = None

    def received(self, text: str) -> None:  # pragma: no cover - overridden
        """Handle one text frame from the client."""
        raise NotImplementedError


class StreamSession(Session):
    """A market / user-data stream connection: ``/ws``, ``/stream``, routed futures paths."""

    kind = "stream"

    def __init__(self, server: BinanceServer, link: Any, path: str, combined: bool,
                 streams: list, user_keys: Mapping[str, frozenset | None]):
        super().__init__(server, link, path)
        self.combined = combined
        self.incoming_limit = server.profile.max_incoming
        self.streams: dict = {}          # name -> key
        self.by_key: dict = {}           # key -> name
        self.user_keys: dict = dict(user_keys)   # listenKey -> events filter (None: all)
        for name in streams:
            self._add(name)

    def _add(self, name: str) -> None:
        key = parse_stream(name, self.server.profile)
        if key is None:
            self.user_keys.setdefault(name, None)
            return
        self.streams[name] = key
        self.by_key[key] = name

    def _remove(self, name: str) -> None:
        key = self.streams.pop(name, None)
        if key is not None:
            self.by_key.pop(key, None)
        self.user_keys.pop(name, None)

    def stream_count(self) -> int:
        """How many streams the connection carries (market streams and listenKeys)."""
        return len(self.streams) + len(self.user_keys)

    def deliver(self, name: str, payload: bytes) -> None:
        """Send an event of stream ``name`` (wrapped ``{"stream":...,"data":...}`` if combined)."""
        if self.combined:
            self.write(b'{"stream":' + orjson.dumps(name) + b',"data":' + payload + b"}")
        else:
            self.write(payload)

    def deliver_user(self, key: str, event: dict) -> None:
        """Send a user-data event of ``key``'s account, if the connection listens for that event."""
        if key not in self.user_keys:
            return
        allowed = self.user_keys[key]
        if allowed is not None and event.get("e") not in allowed:
            return
        self.deliver(key, orjson.dumps(event))

    def detach_key(self, key: str) -> None:
        """Stop sending ``key``'s user-data events on this connection."""
        self.user_keys.pop(key, None)

    # -- control messages ----------------------------------------------------------

    def _error(self, code: int, msg: str, rid: Any = None) -> None:
        self.send_json({"error": {"code": code, "msg": msg}, "id": rid})

    def received(self, text: str) -> None:
        """Handle one text frame: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS and the properties."""
        if not self.count_incoming():
            return
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return self._error(3, f"Invalid JSON: {exc.msg} at line {exc.lineno} "
                                  f"column {exc.colno}")
        if not isinstance(msg, dict):
            return self._error(2, "Invalid request: expected a JSON object")
        rid = msg.get("id")
        if "method" not in msg:
            return self._error(2, "Invalid request: missing field `method`", rid)
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int) or rid < 0):
            return self._error(2, "Invalid request: request ID must be an unsigned integer", None)
        method = msg["method"]
        params = msg.get("params", [])
        if method == "SUBSCRIBE":
            self._subscribe(params, rid)
        elif method == "UNSUBSCRIBE":
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return self._error(2, "Invalid request: params must be a list of stream names", rid)
            for name in params:
                self._remove(name)
            self.send_json({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self.send_json({"result": list(self.streams) + list(self.user_keys), "id": rid})
        elif method == "SET_PROPERTY":
            if not (isinstance(params, list) and len(params) == 2 and params[0] == "combined"):
                return self._error(0, "Unknown property", rid)
            if not isinstance(params[1], bool):
                return self._error(1, "Invalid value type: expected Boolean", rid)
            self.combined = params[1]
            self.send_json({"result": None, "id": rid})
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                return self._error(0, "Unknown property", rid)
            self.send_json({"result": self.combined, "id": rid})
        else:
            self._error(2, f"Invalid request: unknown variant `{method}`, expected one of "
                           "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                           "`GET_PROPERTY`", rid)

    def _subscribe(self, params: Any, rid: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return self._error(2, "Invalid request: params must be a list of stream names", rid)
        for name in params:
            if parse_stream(name, self.server.profile) is None and not (
                    _is_listen_key_name(name) and name in self.server.user_data.listen_keys):
                return self._error(2, f"Invalid request: invalid stream name `{name}`", rid)
        new = [p for p in params if p not in self.streams and p not in self.user_keys]
        if self.stream_count() + len(new) > self.server.profile.max_streams:
            return self._error(2, f"Invalid request: too many streams (at most "
                                  f"{self.server.profile.max_streams} per connection)", rid)
        for name in new:
            self._add(name)
        self.send_json({"result": None, "id": rid})

"""The exchange-agnostic connection: backoff, give-up, watchdog, framing."""

from __future__ import annotations

import pytest
from _support import Recorder, ScriptedServer
from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport

from exchange_wss import _reactor
from exchange_wss.connection import ConnectionOptions, ReconnectPolicy, WebSocketConnection
from exchange_wss.errors import LocalProtocolError


class Listener:
    """Records what a WebSocketConnection reports."""

    def __init__(self) -> None:
        self.events = Recorder()

    def connection_open(self, conn):
        self.events(("open", conn.name))

    def frame_received(self, msg):
        self.events(("frame", msg))

    def frame_malformed(self, payload, reason):
        self.events(("malformed", reason))

    def connection_closed(self, conn, reason):
        self.events(("closed", reason))

    def connection_gave_up(self, conn, reason):
        self.events(("gave_up", reason))

    def message_too_big(self, size, limit):
        self.events(("too_big", size, limit))

    def connection_attempt_failed(self, conn, reason):
        self.events(("attempt_failed", reason))

    def connection_failing(self, conn, reason, attempts):
        self.events(("failing", reason, attempts))


class RefusingEndpoint:
    """A TCP endpoint whose every connect fails at once, counting attempts."""

    def __init__(self, clock) -> None:
        self.clock = clock
        self.attempts: list = []

    def connect(self, factory):
        self.attempts.append(self.clock.seconds())
        return defer.fail(ConnectionRefusedError())


def refusing_connection(clock, **options):
    endpoint = RefusingEndpoint(clock)
    listener = Listener()
    opts = ConnectionOptions(ping_interval=None, stale_timeout=None, **options)
    conn = WebSocketConnection("ws://127.0.0.1:1/ws/2", listener, options=opts, reactor=clock,
                               rng=lambda: 1.0, endpoint_factory=lambda r, h, p: endpoint)
    return conn, endpoint, listener


def test_policy_doubles_from_first_delay_up_to_cap():
    """With no jitter the n-th delay is first * 2**(n-1), capped."""
    policy = ReconnectPolicy(1.0, 10.0, rng=lambda: 1.0)
    assert [policy(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_policy_jitter_keeps_at_least_half_the_delay():
    """Jitter draws from [b/2, b], never below half the base delay."""
    policy = ReconnectPolicy(4.0, 60.0, rng=lambda: 0.0)
    assert policy(1) == 2.0 and policy(3) == 8.0


def test_options_reject_nonsense():
    """Negative timeouts and a cap below the first delay are refused up front."""
    with pytest.raises(LocalProtocolError):
        ConnectionOptions(stale_timeout=-1)
    with pytest.raises(LocalProtocolError):
        ConnectionOptions(reconnect_delay=5, max_reconnect_delay=1)


def test_refused_connects_are_retried_with_growing_delays():
    """Each refused connect waits twice as long as the one before."""
    clock = MemoryReactorClock()
    conn, endpoint, _ = refusing_connection(clock, reconnect_delay=1.0, max_reconnect_delay=8.0)
    conn.start()
    clock.pump([0.5] * 60)
    gaps = [b - a for a, b in zip(endpoint.attempts, endpoint.attempts[1:], strict=False)]
    assert gaps[:5] == [1.0, 2.0, 4.0, 8.0, 8.0]


def test_gives_up_after_max_reconnect_and_says_so():
    """After max_reconnect failed attempts the listener hears gave_up once and connecting stops."""
    clock = MemoryReactorClock()
    conn, endpoint, listener = refusing_connection(clock, reconnect_delay=1.0, max_reconnect=3)
    conn.start()
    for _ in range(100):
        clock.advance(1.0)
    gave_up = [e for e in listener.events.items if e[0] == "gave_up"]
    assert len(gave_up) == 1 and "3 failed" in gave_up[0][1]
    assert len(endpoint.attempts) == 4  # the first try and three retries


def test_stop_cancels_pending_retry():
    """stop() while waiting to retry means no further connect attempts."""
    clock = MemoryReactorClock()
    conn, endpoint, _ = refusing_connection(clock, reconnect_delay=1.0)
    conn.start()
    conn.stop()
    clock.advance(100)
    assert len(endpoint.attempts) == 1


class FakeProtocol:
    """Stands in for the autobahn protocol of an open connection."""

    def __init__(self) -> None:
        self.transport = StringTransport()
        self.aborted = False
        self.transport.abortConnection = self._abort

    def _abort(self):
        self.aborted = True


def open_connection(clock, stale_timeout):
    listener = Listener()
    opts = ConnectionOptions(ping_interval=None, stale_timeout=stale_timeout)
    endpoint = RefusingEndpoint(clock)
    conn = WebSocketConnection("ws://127.0.0.1:1/ws/2", listener, options=opts, reactor=clock,
                               endpoint_factory=lambda r, h, p: endpoint)
    conn.start()
    proto = FakeProtocol()
    conn._opened(proto)
    return conn, proto


def test_watchdog_drops_a_silent_connection():
    """No frame at all for stale_timeout seconds aborts the connection."""
    clock = MemoryReactorClock()
    _conn, proto = open_connection(clock, stale_timeout=30.0)
    clock.pump([1.0] * 29)
    assert not proto.aborted
    clock.pump([1.0] * 3)
    assert proto.aborted


def test_watchdog_spares_a_connection_with_traffic():
    """Frames (heartbeats included) keep the watchdog quiet."""
    clock = MemoryReactorClock()
    conn, proto = open_connection(clock, stale_timeout=30.0)
    for _ in range(120):
        conn._message(b"[1,\"hb\"]", False)
        clock.advance(1.0)
    assert not proto.aborted


def test_rejects_non_websocket_url():
    """An http URL is a caller error, raised before anything starts."""
    with pytest.raises(LocalProtocolError):
        WebSocketConnection("http://example.com", Listener())


@pytest.fixture
def server():
    srv = ScriptedServer().start()
    yield srv
    srv.stop()


def make_live(url, **options):
    listener = Listener()
    opts = ConnectionOptions(ping_interval=None, reconnect_delay=0.05, max_reconnect_delay=0.2,
                             **options)
    conn = WebSocketConnection(url, listener, name="test", options=opts)
    _reactor.call_and_wait(conn.start)
    return conn, listener


def test_live_frames_are_decoded_and_sent(server):
    """Over loopback, text frames arrive decoded and send() reaches the server as JSON."""
    conn, listener = make_live(server.url)
    try:
        listener.events.wait_for(lambda e: e[0] == "open")
        server.send(b'[5,[1.5,2,-0.5]]')
        assert listener.events.wait_for(lambda e: e[0] == "frame")[1] == [5, [1.5, 2, -0.5]]
        _reactor.call_and_wait(conn.send, {"event": "ping", "cid": 7})
        assert server.received.get(timeout=5) == b'{"event":"ping","cid":7}'
    finally:
        _reactor.call_and_wait(conn.stop)


def test_live_malformed_and_binary_frames_are_reported_not_fatal(server):
    """Invalid JSON and binary frames are reported; later frames still arrive."""
    conn, listener = make_live(server.url)
    try:
        listener.events.wait_for(lambda e: e[0] == "open")
        server.send(b'{"event": ')
        server.send(b"\x00\x01", binary=True)
        server.send(b'{"event":"info"}')
        reasons = [e[1] for e in listener.events.wait_count(lambda e: e[0] == "malformed", 2)]
        assert reasons[0].startswith("invalid JSON") and reasons[1] == "binary frame"
        listener.events.wait_for(lambda e: e == ("frame", {"event": "info"}))
    finally:
        _reactor.call_and_wait(conn.stop)


def test_live_reconnects_after_the_server_drops_it(server):
    """A dropped connection is reported and a new one opens by itself."""
    conn, listener = make_live(server.url)
    try:
        listener.events.wait_for(lambda e: e[0] == "open")
        server.drop_all()
        listener.events.wait_for(lambda e: e[0] == "closed")
        listener.events.wait_count(lambda e: e[0] == "open", 2)
        assert conn.opens == 2
    finally:
        _reactor.call_and_wait(conn.stop)


def test_live_stop_completes_the_close_handshake(server):
    """stop() sends Close 1000 and waits for the answer: the server sees a clean close."""
    conn, listener = make_live(server.url)
    listener.events.wait_for(lambda e: e[0] == "open")
    _reactor.call_and_wait(conn.stop)
    assert server.closes.get(timeout=5) == (True, 1000)
    assert listener.events.wait_for(lambda e: e[0] == "closed")[1] == "closed by client"
    assert conn.opens == 1

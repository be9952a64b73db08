"""The connection's fast path gives exactly what autobahn alone gives.

Each test drives a real autobahn client protocol (the one
:class:`~exchange_wss.connection.WebSocketConnection` builds) over an in-memory
transport: the opening handshake is answered by hand, then server frames are fed
in reads split wherever the test says. The observable outcome of a stream is
what the listener heard (messages, malformed frames, the close), the frames the
client wrote back (pongs, its close frame), and the final protocol state; with
the fast path on it must equal the outcome with it off, for any stream.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import struct

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from exchange_wss import WssClient
from exchange_wss.connection import ConnectionOptions, WebSocketConnection

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Listener:
    """Records, in order, what a WebSocketConnection reports."""

    def __init__(self) -> None:
        self.events: list = []

    def connection_open(self, conn):
        self.events.append(("open",))

    def frame_received(self, msg):
        self.events.append(("message", msg))

    def frame_malformed(self, payload, reason):
        self.events.append(("malformed", bytes(payload), reason))

    def connection_closed(self, conn, reason):
        self.events.append(("closed", reason))

    def connection_gave_up(self, conn, reason):
        self.events.append(("gave_up", reason))


class Transport(StringTransport):
    """A StringTransport that, like a TCP transport, lets a protocol unregister no producer."""

    def unregisterProducer(self):
        self.producer = None


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          mask: bytes = b"", length_class: str = "") -> bytes:
    """One WebSocket frame as a server would write it (``mask`` only to break the rules).

    ``length_class`` forces a length encoding: ``"16"`` or ``"64"`` even for a
    short payload (non-minimal, which the RFC forbids).
    """
    head = bytes(((0x80 if fin else 0) | (rsv << 4) | opcode,))
    mask_bit = 0x80 if mask else 0
    n = len(payload)
    if length_class == "64" or (not length_class and n > 0xFFFF):
        head += bytes((mask_bit | 127,)) + struct.pack("!Q", n)
    elif length_class == "16" or (not length_class and n > 125):
        head += bytes((mask_bit | 126,)) + struct.pack("!H", n)
    else:
        head += bytes((mask_bit | n,))
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + payload


def text(obj) -> bytes:
    return frame(1, orjson.dumps(obj))


def open_connection(fast_path: bool):
    """A connection whose autobahn protocol completed the handshake on a StringTransport."""
    listener = Listener()
    options = ConnectionOptions(ping_interval=None, stale_timeout=None, fast_path=fast_path)
    conn = WebSocketConnection("ws://127.0.0.1:9/ws/2", listener, options=options,
                               reactor=MemoryReactorClock())
    proto = conn._factory.buildProtocol(None)
    transport = Transport()
    proto.makeConnection(transport)
    key = re.search(rb"Sec-WebSocket-Key: (\S+)", transport.value()).group(1)
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    transport.clear()
    proto.dataReceived(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    assert proto.state == proto.STATE_OPEN and listener.events == [("open",)]
    return conn, proto, transport, listener


def client_frames(data: bytes) -> list:
    """The (opcode, unmasked payload) frames the client wrote (its masks are random)."""
    frames, pos = [], 0
    while pos < len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = struct.unpack("!H", data[pos:pos + 2])[0], pos + 2
        elif n == 127:
            n, pos = struct.unpack("!Q", data[pos:pos + 8])[0], pos + 8
        mask, pos = data[pos:pos + 4], pos + 4
        frames.append((opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos:pos + n]))))
        pos += n
    return frames


def outcome(stream: bytes, cuts, fast_path: bool):
    """Feed ``stream`` in reads split at ``cuts``, then lose the TCP connection."""
    conn, proto, transport, listener = open_connection(fast_path)
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(stream)}), len(stream)]
    for a, b in itertools.pairwise(bounds):
        proto.dataReceived(stream[a:b])
    proto.connectionLost(Failure(ConnectionDone()))
    stats = proto.trafficStats
    return {
        "events": listener.events,
        "client wrote": client_frames(transport.value()),
        "state": proto.state,
        "clean": proto.wasClean,
        "local close": (proto.localCloseCode, proto.localCloseReason),
        "remote close": (proto.remoteCloseCode, proto.remoteCloseReason),
        "frames counted": conn.frames_received,
        "stats": (stats.incomingWebSocketFrames, stats.incomingWebSocketMessages,
                  stats.incomingOctetsAppLevel, stats.incomingOctetsWireLevel),
    }


# -- random streams -------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12)


@st.composite
def json_payloads(draw) -> bytes:
    """JSON text in all three length classes (7-bit, 16-bit, 64-bit)."""
    value = draw(_json_values)
    size = draw(st.sampled_from(["small", "small", "small", "medium", "large"]))
    if size == "medium":
        return orjson.dumps([value, "m" * draw(st.integers(100, 2000))])
    if size == "large":
        return orjson.dumps([value, "L" * 66_000])
    return orjson.dumps(value)


_bad_utf8 = st.sampled_from([b'["\xff"]', b'"\xed\xa0\x80"', b'["\xc0\xaf"]', b'"\xe2\x82"',
                             b'[1,"\xf4\x90\x80\x80"]'])
_not_json = st.sampled_from([b"", b"not json", b"[1,", b'{"a":NaN}', "[\"é\"".encode()])


@st.composite
def server_frames(draw) -> bytes:
    kind = draw(st.sampled_from(
        ["text"] * 8 + ["bad_utf8", "not_json", "binary", "ping", "pong",
                        "fragmented", "fragmented_ping", "close", "masked", "rsv",
                        "non_minimal", "stray_continuation", "text_inside_fragments",
                        "reserved_opcode"]))
    if kind == "text":
        return frame(1, draw(json_payloads()))
    if kind == "bad_utf8":
        return frame(1, draw(_bad_utf8))
    if kind == "not_json":
        return frame(1, draw(_not_json))
    if kind == "binary":
        return frame(2, draw(st.binary(max_size=300)))
    if kind == "ping":
        return frame(9, draw(st.binary(max_size=125)))
    if kind == "pong":
        return frame(10, draw(st.binary(max_size=125)))
    if kind in ("fragmented", "fragmented_ping"):
        payload = draw(st.one_of(json_payloads(), _bad_utf8))
        cut = draw(st.integers(0, len(payload)))
        middle = frame(9, b"between") if kind == "fragmented_ping" else b""
        return frame(1, payload[:cut], fin=False) + middle + frame(0, payload[cut:])
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1011, 4000]))
        return frame(8, struct.pack("!H", code) + draw(st.text(max_size=20)).encode())
    if kind == "masked":
        return frame(1, b"[1]", mask=b"\x01\x02\x03\x04")
    if kind == "rsv":
        return frame(1, b"[1]", rsv=draw(st.integers(1, 7)))
    if kind == "non_minimal":
        return frame(1, b"[1]", length_class=draw(st.sampled_from(["16", "64"])))
    if kind == "stray_continuation":
        return frame(0, b"[1]")
    if kind == "text_inside_fragments":  # a new message before the last one ended
        return frame(1, b"[1,", fin=False) + frame(1, draw(json_payloads()))
    return frame(draw(st.sampled_from([3, 7, 11, 15])), b"")


@st.composite
def split_streams(draw):
    stream = b"".join(draw(st.lists(server_frames(), min_size=1, max_size=12)))
    cuts = draw(st.lists(st.integers(0, len(stream)), max_size=8))
    return stream, cuts


@settings(max_examples=400, deadline=None)
@given(split_streams())
def test_fast_path_on_and_off_give_the_same_outcome(case):
    """Any frame stream, split at any read boundaries: same messages, order and close."""
    stream, cuts = case
    assert outcome(stream, cuts, fast_path=True) == outcome(stream, cuts, fast_path=False)


# -- single behaviours ----------------------------------------------------------

def count_autobahn_frames(proto) -> list:
    """Count the frames that reach autobahn's own frame parser."""
    seen: list = []
    original = proto.onFrameBegin

    def counted():
        seen.append(proto.current_frame.opcode)
        original()

    proto.onFrameBegin = counted
    return seen


def test_small_text_frames_bypass_autobahns_frame_parser():
    """Complete 7- and 16-bit text frames are cut and decoded without autobahn's parser."""
    conn, proto, _, listener = open_connection(fast_path=True)
    seen = count_autobahn_frames(proto)
    proto.dataReceived(b"".join(text([17, i]) for i in range(50)) + text([17, "x" * 500]))
    assert seen == []
    assert [e[1] for e in listener.events[1:]] == [[17, i] for i in range(50)] + [[17, "x" * 500]]
    assert conn.frames_received == 51


def test_switched_off_every_frame_goes_through_autobahn():
    """With fast_path=False autobahn parses every frame."""
    _, proto, _, listener = open_connection(fast_path=False)
    seen = count_autobahn_frames(proto)
    proto.dataReceived(b"".join(text([17, i]) for i in range(5)))
    assert seen == [1] * 5 and len(listener.events) == 6


def test_control_frame_goes_to_autobahn_and_the_cut_resumes_after_it():
    """A ping between text frames is answered by autobahn; the frames around it are cut."""
    _, proto, transport, listener = open_connection(fast_path=True)
    seen = count_autobahn_frames(proto)
    proto.dataReceived(text([1]) + frame(9, b"hi") + text([2]) + text([3]))
    assert seen == [9]
    assert client_frames(transport.value()) == [(10, b"hi")]
    assert [e[1] for e in listener.events[1:]] == [[1], [2], [3]]


def test_partial_frame_at_end_of_read_is_completed_by_autobahn():
    """A text frame split across reads arrives once, whole, and the next read is cut again."""
    _, proto, _, listener = open_connection(fast_path=True)
    seen = count_autobahn_frames(proto)
    stream = text([1]) + text([2, "abc"]) + text([3])
    split = len(text([1])) + 5
    proto.dataReceived(stream[:split])
    proto.dataReceived(stream[split:])
    assert seen == [1]  # only the split frame
    assert [e[1] for e in listener.events[1:]] == [[1], [2, "abc"], [3]]


def test_invalid_utf8_in_a_fast_frame_fails_the_connection_with_1007():
    """orjson refuses it; autobahn then closes with 1007 as RFC 6455 requires."""
    _, proto, transport, listener = open_connection(fast_path=True)
    proto.dataReceived(text([1]) + frame(1, b'["\xff"]') + text([2]))
    assert [e for e in listener.events if e[0] == "message"] == [("message", [1])]
    assert client_frames(transport.value())[0][0] == 8
    assert struct.unpack("!H", client_frames(transport.value())[0][1][:2])[0] == 1007
    proto.connectionLost(Failure(ConnectionDone()))
    assert "invalid UTF-8" in listener.events[-1][1] and "1007" in listener.events[-1][1]


def test_invalid_json_in_a_fast_frame_is_reported_malformed_and_the_stream_goes_on():
    """Valid UTF-8 that is not JSON is reported once; the frames after it still arrive."""
    _, proto, _, listener = open_connection(fast_path=True)
    proto.dataReceived(text([1]) + frame(1, b"oops") + text([2]))
    kinds = [e[0] for e in listener.events[1:]]
    assert kinds == ["message", "malformed", "message"]
    assert listener.events[2][1] == b"oops"


def close_after_first_message(fast_path: bool):
    """Feed [1] and [2] in one read to a listener whose callback closes on [1]."""
    _, proto, _, listener = open_connection(fast_path)
    seen = count_autobahn_frames(proto)
    original = listener.frame_received

    def close_on_first(msg):
        original(msg)
        if msg == [1]:
            proto.sendClose(1000)

    listener.frame_received = close_on_first
    proto.dataReceived(text([1]) + text([2]))
    return proto, seen, listener.events


def test_callback_that_closes_stops_the_cut():
    """Frames after a callback closed the connection go to autobahn's closing state."""
    proto, seen, events = close_after_first_message(fast_path=True)
    assert proto.state == proto.STATE_CLOSING
    assert seen == [1]  # [2] was handled by autobahn, as without the fast path
    assert events == close_after_first_message(fast_path=False)[2]


def test_fast_path_is_on_by_default_and_clients_can_switch_it_off():
    """ConnectionOptions and the clients' fast_path keyword."""
    assert ConnectionOptions().fast_path is True
    assert WssClient(fast_path=False)._conn_options.fast_path is False
    assert WssClient()._conn_options.fast_path is True


def test_custom_decoder_disables_the_fast_path():
    """A decoder other than orjson might accept invalid UTF-8, so autobahn parses every frame."""
    listener = Listener()
    conn = WebSocketConnection("ws://127.0.0.1:9/ws", listener, reactor=MemoryReactorClock(),
                               decode=lambda b: b)
    proto = conn._factory.buildProtocol(None)
    proto.makeConnection(Transport())
    proto.onOpen()
    assert proto.fast_path is False


class FakeTimeout:
    """Stands in for the timeout autobahn arms when it sends a ping."""

    cancelled = False

    def cancel(self):
        self.cancelled = True


def test_a_cut_frame_counts_as_life_for_a_pending_ping_like_autobahn():
    """autobahn treats any data frame as an answer to its ping (autoPingRestartOnAnyTraffic)."""
    for fast_path in (True, False):
        _, proto, _, _ = open_connection(fast_path)
        timeout = proto.autoPingTimeoutCall = FakeTimeout()
        proto.autoPingPending = b"ping payload"
        proto.dataReceived(text([17, "hb"]))
        assert timeout.cancelled and proto.autoPingTimeoutCall is None, fast_path

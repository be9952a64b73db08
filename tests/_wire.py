"""A real client on a fake clock: its connections are real autobahn protocols over
Twisted's ``StringTransport``, the client's frames read back and the server's written in
by the test (used by the health tests)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import orjson
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from exchange_wss import WssClient
from exchange_wss.models import StreamHealth

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
URL = "ws://127.0.0.1:9/ws/2"
TICKER = [60000.0, 1.5, 60001.0, 2.5, 10.0, 0.001, 60000.5, 1234.0, 61000.0, 59000.0]


def server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes((0x80 | opcode,))
    if n > 125:
        return head + bytes((126,)) + n.to_bytes(2, "big") + payload
    return head + bytes((n,)) + payload


def client_frames(data: bytes) -> list[tuple]:
    """(opcode, payload) of each masked frame the client wrote."""
    frames, pos = [], 0
    while pos < len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos:pos + 8], "big"), pos + 8
        mask, pos = data[pos:pos + 4], pos + 4
        frames.append((opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos:pos + n]))))
        pos += n
    return frames


class Peer:
    """The server end of one open connection of a client's link."""

    def __init__(self, link: Any) -> None:
        self.link = link
        # Autobahn puts its handshake timers on the global reactor, not the fake clock:
        # off, so none fires later on another test's running reactor.
        link.conn._factory.setProtocolOptions(openHandshakeTimeout=0, closeHandshakeTimeout=0)
        self.proto = link.conn._factory.buildProtocol(None)
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        key = re.search(rb"Sec-WebSocket-Key: (\S+)", self.transport.value()).group(1)
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        self.transport.clear()
        self.proto.dataReceived(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                + b"\r\n\r\n")
        assert link.session is not None

    def written(self, opcode: int = 1) -> list[Any]:
        """What the client wrote since the last call (text frames decoded)."""
        frames = client_frames(self.transport.value())
        self.transport.clear()
        return [orjson.loads(p) if op == 1 else p for op, p in frames if op == opcode]

    def send(self, obj: Any) -> None:
        self.proto.dataReceived(server_frame(1, orjson.dumps(obj)))

    def answer_subscribes(self, chan_id: int = 5, refuse: bool = False) -> None:
        """Confirm (or refuse) every subscribe the client wrote."""
        for msg in self.written():
            if isinstance(msg, dict) and msg.get("event") == "subscribe":
                echo = {k: v for k, v in msg.items() if k != "event"}
                if refuse:
                    self.send({**echo, "event": "error", "code": 10300,
                               "msg": "subscribe: failed"})
                else:
                    self.send({**echo, "event": "subscribed", "chanId": chan_id})

    def drop(self) -> None:
        self.proto.connectionLost(Failure(ConnectionDone()))


class Harness:
    """A started client on a fake clock; ``open()`` gives a :class:`Peer` per connection."""

    def __init__(self, **options: Any) -> None:
        self.clock = MemoryReactorClock()
        self.events: list[Any] = []
        self.errors: list[Any] = []
        options.setdefault("ping_interval", None)
        options.setdefault("stale_timeout", None)
        options.setdefault("stale_after", 5.0)
        self.client = WssClient(url=URL, reactor=self.clock, on_event=self.events.append,
                                on_error=self.errors.append, **options)

    def start(self) -> None:
        self.client.start()

    def open(self, name: str = "public-0") -> Peer:
        link = next(link for link in self.client._links() if link.name == name)
        return Peer(link)

    def advance(self, seconds: float, step: float = 0.25) -> None:
        steps = round(seconds / step)
        for _ in range(steps):
            self.clock.advance(step)

    def signals(self, label: str = "ticker:tBTCUSD") -> list[str]:
        return [e.signal for e in self.events if isinstance(e, StreamHealth) and e.label == label]

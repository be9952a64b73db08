"""A loopback server that answers like Bitfinex just enough, then blasts frames.

It speaks the opening of the protocol (``info``, ``conf``, ``subscribed``) and,
once a client subscribes, writes N pre-encoded data frames for that channel as
one block of ready-made WebSocket frames, so the server costs nothing per
frame and the client alone is measured. Run as a separate process::

    python benchmarks/blaster.py --frames 150000 --kind ticker

It prints ``PORT <n>`` and serves until killed.
"""

from __future__ import annotations

import argparse
import random
import struct
import sys

import orjson
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor

CHAN_ID = 17


def ws_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (server to client) with a 7- or 16-bit length."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", n) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", n) + payload


def ticker_frames(count: int, rng: random.Random) -> list:
    frames = []
    price = 30000.0
    for _ in range(count):
        price = round(price + rng.choice((-0.5, 0.5)), 1)
        frames.append(orjson.dumps([CHAN_ID, [price, 12.5, price + 0.5, 9.25, -120.5, -0.004,
                                               price, 12345.678, 31000.0, 29000.0]]))
    return frames


def book_snapshot(rng: random.Random) -> bytes:
    bids = [[30000.0 - i, rng.randint(1, 5), round(rng.uniform(0.1, 3), 4)] for i in range(25)]
    asks = [[30001.0 + i, rng.randint(1, 5), -round(rng.uniform(0.1, 3), 4)] for i in range(25)]
    return orjson.dumps([CHAN_ID, bids + asks])


def book_frames(count: int, rng: random.Random, checksum_every: int = 0) -> list:
    """Book updates that keep 25 levels a side: changes, deletes and re-adds."""
    frames = []
    for i in range(count):
        side = rng.random() < 0.5
        offset = rng.randint(0, 30)
        price = 30000.0 - offset if side else 30001.0 + offset
        if rng.random() < 0.2:
            frame = [CHAN_ID, [price, 0, 1 if side else -1]]
        else:
            amount = round(rng.uniform(0.1, 3), 4)
            frame = [CHAN_ID, [price, rng.randint(1, 5), amount if side else -amount]]
        frames.append(orjson.dumps(frame))
    return frames


def make_stream(kind: str, count: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    if kind == "ticker":
        payloads = ticker_frames(count, rng)
    elif kind == "book":
        payloads = [book_snapshot(rng)] + book_frames(count - 1, rng)
    else:
        raise SystemExit(f"unknown kind {kind}")
    return b"".join(ws_frame(p) for p in payloads)


class BlastProtocol(WebSocketServerProtocol):
    def onOpen(self):
        self.sendMessage(b'{"event":"info","version":2,"platform":{"status":1}}')

    def onMessage(self, payload, isBinary):
        msg = orjson.loads(payload)
        event = msg.get("event") if isinstance(msg, dict) else None
        if event == "conf":
            self.sendMessage(orjson.dumps({"event": "conf", "status": "OK", "flags": msg["flags"]}))
        elif event == "subscribe":
            reply = dict(msg, event="subscribed", chanId=CHAN_ID)
            self.sendMessage(orjson.dumps(reply))
            channel = msg.get("channel")
            stream = self.factory.streams["book" if channel == "book" else "ticker"]
            # Ready-made frames written straight to the transport: no per-frame server work.
            self.transport.write(stream)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150_000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    factory = WebSocketServerFactory("ws://127.0.0.1")
    factory.protocol = BlastProtocol
    factory.setProtocolOptions(autoPingInterval=0)
    factory.streams = {"ticker": make_stream("ticker", args.frames),
                       "book": make_stream("book", args.frames)}
    port = reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    print(f"PORT {port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

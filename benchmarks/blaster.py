"""A loopback server that answers like Bitfinex, Binance or FTX just enough, then blasts frames.

It speaks the opening of each protocol tolerantly enough for every client the
benchmark drives (Bitfinex: ``info``, ``conf``, ``subscribed``, ``pong``,
``unsubscribed``; Binance combined streams: ``SUBSCRIBE`` -> ``{"result":null,"id":..}``
and the REST depth snapshot; FTX: ``subscribed``, ``unsubscribed``, ``pong``), and
once a client subscribes it writes one pre-encoded stream: a single block of
ready-made WebSocket frames, so the server costs nothing per frame and the
client alone is measured.

Streams (the *workloads*), chosen by the URL's query, ``ws://host:port/ws/2?stream=book_cs``,
or by the URL path's first segment, ``ws://host:port/binance_depth/stream`` (the
Binance client appends ``/stream`` to its base URL). Without either, by the
subscribed Bitfinex channel: ``ticker`` or ``book``.

Bitfinex:

- ``ticker``: N ticker frames ``[CHAN_ID, [BID, ..., LOW]]``.
- ``book``: a P0 snapshot (25 levels a side), then N single-level updates that
  keep each side at 20..25 levels (changes, deletes and re-adds, like a
  ``len=25`` Bitfinex book).
- ``book_cs``: the same book, with a ``[CHAN_ID, "cs", CHECKSUM]`` frame after the
  snapshot and after every update. Each checksum is Bitfinex's, computed with
  :meth:`exchange_wss.orderbook.OrderBook.checksum` on the book after that update.

Binance (Spot combined streams, ``{"stream":NAME,"data":{..}}``, symbol ``BTCUSDT``,
prices and quantities as 8-decimal strings):

- ``binance_bookticker``: N ``btcusdt@bookTicker`` frames (the ticker's price walk).
- ``binance_trade``: N ``btcusdt@trade`` frames (the same walk).
- ``binance_depth``: the book's walk as ``btcusdt@depth`` diffs, one level and one
  update id each. The first ``SUBSCRIBE`` naming the stream gets one diff (id 1),
  which makes the client ask for the REST snapshot: a plain HTTP
  ``GET /api/v3/depth`` on the same port answers the book with
  ``lastUpdateId`` 1. The N diffs (ids 2..N+1) follow on the next ``SUBSCRIBE``
  of that connection, the client's cue that it is in sync, so that none of
  them is folded into its snapshot.

FTX (``{"channel","market":"BTC-PERP","type","data"}``, numbers as Python floats):

- ``ftx_ticker``: N ticker updates (the ticker's price walk).
- ``ftx_orderbook``: the book's walk: a ``partial`` then N single-level
  ``update`` frames, each with FTX's checksum of the book after it, computed
  with :meth:`exchange_wss.orderbook.OrderBook.ftx_checksum` on a ``"size"`` book.

The data is generated once, from a fixed seed, so every client gets the same
bytes for the same workload; all tickers share one price walk and all books one
walk of levels. One exception, because a client cannot run without it: a
Bitfinex connection that sends ``conf`` with ``SEQ_ALL`` (65536; cryptofeed
always does and rejects frames without a sequence number) gets the same frames
with Bitfinex's trailing sequence number appended (``[CHAN_ID, ..., SEQ]``, 1 up,
checksum frames included), as the real server would send it. Bitfinex numbers are
written as its JavaScript servers write them (``30000``, not ``30000.0``).

Compression: the server accepts a client's permessage-deflate offer (RFC 7692),
context takeover allowed as exchanges' servers do; a Bitfinex connection that
negotiated it gets the same ``ticker``/``book`` stream as pre-compressed frames
(RSV1 set), compressed once at start with one compressor in stream order, which
is what the connection's decompressor expects from its first frame on
(``bench_throughput.py`` ``sdk-*-deflate`` clients measure what inflating costs).

The stream is written on the first subscribe that matches it (on Bitfinex the
subscription gets chanId 17); other subscriptions are acknowledged and get
nothing. Run as a separate process::

    python benchmarks/blaster.py --frames 150000

It prints ``PORT <n>`` once every stream is encoded, and serves until killed.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import zlib
from dataclasses import dataclass
from typing import Any

import orjson
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from twisted.internet import reactor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from exchange_wss.orderbook import OrderBook

CHAN_ID = 17
FLAG_SEQ_ALL = 65536
BITFINEX_WORKLOADS = ("ticker", "book", "book_cs")
BINANCE_WORKLOADS = ("binance_bookticker", "binance_trade", "binance_depth")
FTX_WORKLOADS = ("ftx_ticker", "ftx_orderbook")
WORKLOADS = BITFINEX_WORKLOADS + BINANCE_WORKLOADS + FTX_WORKLOADS
#: The Bitfinex channel a workload's stream belongs to.
CHANNEL_OF = {"ticker": "ticker", "book": "book", "book_cs": "book"}
BINANCE_SYMBOL = "BTCUSDT"
#: The Binance stream each workload serves (as the SDK names it).
BINANCE_STREAM_OF = {"binance_bookticker": "btcusdt@bookTicker",
                     "binance_trade": "btcusdt@trade", "binance_depth": "btcusdt@depth"}
BINANCE_DEPTH_PATH = "/api/v3/depth"
FTX_MARKET = "BTC-PERP"
FTX_CHANNEL_OF = {"ftx_ticker": "ticker", "ftx_orderbook": "orderbook"}
DEPTH = 25   # levels per side in the snapshot, and at most after any update
SPAN = 30    # new levels appear within SPAN of the touch
T0_MS = 1_767_225_600_000  # 2026-01-01: event times step 1 ms per message


def ws_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame (server to client) with a 7-, 16- or 64-bit length."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", n) + payload
    return bytes((0x81, 127)) + struct.pack("!Q", n) + payload


def deflated_stream(msgs: list[Any]) -> bytes:
    """Every message as a final text frame compressed by permessage-deflate, one
    compressor for the whole stream (context takeover), in order."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = []
    for m in msgs:
        data = c.compress(orjson.dumps(m)) + c.flush(zlib.Z_SYNC_FLUSH)
        if data.endswith(b"\x00\x00\xff\xff"):
            data = data[:-4]
        n = len(data)
        if n < 126:
            out.append(bytes((0xC1, n)) + data)
        elif n < 65536:
            out.append(bytes((0xC1, 126)) + struct.pack("!H", n) + data)
        else:
            out.append(bytes((0xC1, 127)) + struct.pack("!Q", n) + data)
    return b"".join(out)


def accept_deflate(offers):
    """Accept a permessage-deflate offer (context takeover allowed)."""
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def js(x: float):
    """A number as Bitfinex's JavaScript writes it: whole floats without ``.0``."""
    return int(x) if x == int(x) else x


# ------------------------------------------------------------------ data generation

def ticker_messages(count: int, rng: random.Random) -> list[list]:
    """N ticker frames around 30000, the price walking by half a dollar."""
    msgs = []
    price = 30000.0
    for _ in range(count):
        price = round(price + rng.choice((-0.5, 0.5)), 1)
        msgs.append([CHAN_ID, [js(price), 12.5, js(price + 0.5), 9.25, -120.5, -0.004,
                               js(price), 12345.678, 31000, 29000]])
    return msgs


def _amount(rng: random.Random, bid: bool) -> float:
    amount = js(round(rng.uniform(0.1, 3), 4))
    return amount if bid else -amount


def book_messages(count: int, rng: random.Random) -> list[list]:
    """A snapshot, then N updates keeping each side between DEPTH-5 and DEPTH levels.

    About 70% change a level's count/amount, 15% delete a level (``COUNT`` 0,
    ``AMOUNT`` ±1) and 15% add one back within ``SPAN`` of the touch.
    """
    sides = {True: {}, False: {}}   # bid? -> {price: None}, insertion-ordered
    snapshot = []
    for bid in (True, False):
        for i in range(DEPTH):
            price = 30000 - i if bid else 30001 + i
            sides[bid][price] = None
            snapshot.append([price, rng.randint(1, 5), _amount(rng, bid)])
    msgs = [[CHAN_ID, snapshot]]
    for _ in range(count):
        bid = rng.random() < 0.5
        levels = sides[bid]
        r = rng.random()
        if r < 0.15 and len(levels) > DEPTH - 5:
            price = rng.choice(list(levels))
            del levels[price]
            entry = [price, 0, 1 if bid else -1]
        elif r < 0.30 and len(levels) < DEPTH:
            free = [p for p in (30000 - i if bid else 30001 + i for i in range(SPAN + 1))
                    if p not in levels]
            price = rng.choice(free)
            levels[price] = None
            entry = [price, rng.randint(1, 5), _amount(rng, bid)]
        else:
            price = rng.choice(list(levels))
            entry = [price, rng.randint(1, 5), _amount(rng, bid)]
        msgs.append([CHAN_ID, entry])
    return msgs


def with_checksums(book_msgs: list[list]) -> list[list]:
    """Interleave a correct ``[CHAN_ID, "cs", CHECKSUM]`` after every book message."""
    book = OrderBook("tBTCUSD", kind="price")
    out = []
    for msg in book_msgs:
        body = msg[1]
        if body and body[0].__class__ is list:
            book.apply_snapshot(body)
        else:
            book.apply_update(body)
        out.append(msg)
        out.append([CHAN_ID, "cs", book.checksum()])
    return out


# ------------------------------------------------------------------ Binance and FTX
# Derived from the same walks: the ticker's prices, and the book's levels read
# as (price, size) with size 0 for a delete.

def size_change(entry: list) -> tuple[bool, float, float]:
    """A P0 entry ``[PRICE, COUNT, AMOUNT]`` as ``(is_bid, price, size)``; size 0 deletes."""
    price, count, amount = entry
    return amount > 0, float(price), (float(abs(amount)) if count else 0.0)


def size_snapshot(entries: list[list]) -> tuple[list[list], list[list]]:
    """A P0 snapshot as ``(bids, asks)`` of ``[price, size]``, best first."""
    bids: list[list] = []
    asks: list[list] = []
    for entry in entries:
        bid, price, size = size_change(entry)
        (bids if bid else asks).append([price, size])
    return bids, asks


def dec(x: float) -> str:
    """A Binance Spot decimal: 8 places, as text."""
    return f"{x:.8f}"


def binance_bookticker_messages(count: int, rng: random.Random) -> list[dict]:
    """N ``bookTicker`` frames on the ticker's price walk (``u`` 1 up)."""
    stream = BINANCE_STREAM_OF["binance_bookticker"]
    return [{"stream": stream, "data": {"u": i, "s": BINANCE_SYMBOL, "b": dec(t[0]),
                                        "B": dec(t[1]), "a": dec(t[2]), "A": dec(t[3])}}
            for i, (_, t) in enumerate(ticker_messages(count, rng), 1)]


def binance_trade_messages(count: int, rng: random.Random) -> list[dict]:
    """N ``trade`` frames at the ticker walk's last prices, random sizes and sides."""
    stream = BINANCE_STREAM_OF["binance_trade"]
    out = []
    for i, (_, t) in enumerate(ticker_messages(count, rng), 1):
        ts = T0_MS + i
        out.append({"stream": stream, "data": {
            "e": "trade", "E": ts, "s": BINANCE_SYMBOL, "t": i, "p": dec(t[6]),
            "q": dec(round(rng.uniform(0.0001, 2), 4)), "T": ts, "m": rng.random() < 0.5,
            "M": True}})
    return out


def binance_depth(count: int, rng: random.Random) -> tuple[dict, dict, list[dict]]:
    """``(rest_snapshot, primer, diffs)`` of the book's walk as a Binance diff stream.

    The primer (update id 1) restates the best bid; the REST snapshot is the
    book with ``lastUpdateId`` 1, so the client drops the primer and applies
    the N diffs (ids 2..N+1, one level each, quantity 0 deleting).
    """
    msgs = book_messages(count, rng)
    bids, asks = size_snapshot(msgs[0][1])
    stream = BINANCE_STREAM_OF["binance_depth"]

    def diff(uid: int, bid: bool, price: float, size: float) -> dict:
        level = [[dec(price), dec(size)]]
        return {"stream": stream, "data": {
            "e": "depthUpdate", "E": T0_MS + uid, "s": BINANCE_SYMBOL, "U": uid, "u": uid,
            "b": level if bid else [], "a": [] if bid else level}}

    snapshot = {"lastUpdateId": 1, "bids": [[dec(p), dec(s)] for p, s in bids],
                "asks": [[dec(p), dec(s)] for p, s in asks]}
    diffs = [diff(uid, *size_change(m[1])) for uid, m in enumerate(msgs[1:], 2)]
    return snapshot, diff(1, True, *bids[0]), diffs


def ftx_ticker_messages(count: int, rng: random.Random) -> list[dict]:
    """N FTX ticker updates on the ticker's price walk."""
    return [{"channel": "ticker", "market": FTX_MARKET, "type": "update", "data": {
                "bid": float(t[0]), "ask": float(t[2]), "bidSize": float(t[1]),
                "askSize": float(t[3]), "last": float(t[6]), "time": (T0_MS + i) / 1000}}
            for i, (_, t) in enumerate(ticker_messages(count, rng), 1)]


def ftx_orderbook_messages(count: int, rng: random.Random) -> list[dict]:
    """The book's walk as FTX frames: a ``partial``, then N one-level ``update``s,
    each with the FTX checksum of the book after it."""
    msgs = book_messages(count, rng)
    bids, asks = size_snapshot(msgs[0][1])
    book = OrderBook(FTX_MARKET, kind="size")
    book.set_snapshot(bids, asks)

    def frame(mtype: str, i: int, bids: list[list], asks: list[list]) -> dict:
        return {"channel": "orderbook", "market": FTX_MARKET, "type": mtype, "data": {
            "time": (T0_MS + i) / 1000, "checksum": book.ftx_checksum(), "bids": bids,
            "asks": asks, "action": mtype}}

    out = [frame("partial", 0, bids, asks)]
    for i, (_, entry) in enumerate(msgs[1:], 1):
        bid, price, size = size_change(entry)
        book.set_level("bid" if bid else "ask", price, size)
        level = [[price, size]]
        out.append(frame("update", i, level if bid else [], [] if bid else level))
    return out


# ------------------------------------------------------------------ encoding

def workload_messages(kind: str, count: int, seed: int = 1) -> list[Any]:
    """The decoded WebSocket messages of one workload, in order (the same for a given
    seed). ``binance_depth``: the primer, then the diffs."""
    rng = random.Random(seed)
    if kind == "ticker":
        return ticker_messages(count, rng)
    if kind == "book":
        return book_messages(count, rng)
    if kind == "book_cs":
        return with_checksums(book_messages(count, rng))
    if kind == "binance_bookticker":
        return binance_bookticker_messages(count, rng)
    if kind == "binance_trade":
        return binance_trade_messages(count, rng)
    if kind == "binance_depth":
        _snapshot, primer, diffs = binance_depth(count, rng)
        return [primer, *diffs]
    if kind == "ftx_ticker":
        return ftx_ticker_messages(count, rng)
    if kind == "ftx_orderbook":
        return ftx_orderbook_messages(count, rng)
    raise SystemExit(f"unknown workload {kind!r}; expected one of {WORKLOADS}")


def encode(msgs: list[Any], seq: bool = False) -> bytes:
    """All messages as one block of WebSocket frames; ``seq`` appends SEQ_ALL numbers."""
    dumps = orjson.dumps
    if seq:
        return b"".join(ws_frame(dumps([*m, i])) for i, m in enumerate(msgs, 1))
    return b"".join(ws_frame(dumps(m)) for m in msgs)


@dataclass(frozen=True)
class Stream:
    """What the server writes for one workload, all encoded up front."""

    frames: bytes              #: the blast: every data frame, one block
    seq_frames: bytes = b""    #: Bitfinex: the same frames with SEQ_ALL numbers
    primer: bytes = b""        #: Binance depth: written at the first SUBSCRIBE
    rest_body: bytes = b""     #: Binance depth: the REST snapshot's JSON
    deflated: bytes = b""      #: Bitfinex ticker/book: the frames compressed, one by one


def build_streams(count: int, seed: int = 1) -> dict[str, Stream]:
    """``{workload: Stream}`` for every workload."""
    streams = {}
    for kind in WORKLOADS:
        if kind == "binance_depth":
            snapshot, primer, diffs = binance_depth(count, random.Random(seed))
            streams[kind] = Stream(encode(diffs), primer=encode([primer]),
                                   rest_body=orjson.dumps(snapshot))
            continue
        msgs = workload_messages(kind, count, seed)
        seq_frames = encode(msgs, seq=True) if kind in BITFINEX_WORKLOADS else b""
        deflated = deflated_stream(msgs) if kind in ("ticker", "book") else b""
        streams[kind] = Stream(encode(msgs), seq_frames=seq_frames, deflated=deflated)
    return streams


# ------------------------------------------------------------------ the server

class BlastProtocol(WebSocketServerProtocol):
    """One client: handshake, answer control messages, blast on the first matching subscribe."""

    def onConnect(self, request):
        stream = request.params.get("stream", [None])[0]
        if stream is None:
            first = request.path.strip("/").split("/", 1)[0]
            stream = first if first in WORKLOADS else None
        if stream is not None and stream not in WORKLOADS:
            raise ValueError(f"unknown stream {stream!r}")
        self.workload = stream
        self.family = ("binance" if stream in BINANCE_WORKLOADS else
                       "ftx" if stream in FTX_WORKLOADS else "bitfinex")
        self.handle = getattr(self, "on_" + self.family)
        self.flags = 0
        self.blasted = False
        self.primed = False
        self.next_chan = CHAN_ID + 1
        return None

    def onOpen(self):
        if self.family == "bitfinex":  # Binance and FTX say nothing first
            self.sendMessage(b'{"event":"info","version":2,"serverId":"blaster",'
                             b'"platform":{"status":1}}')

    def onMessage(self, payload, isBinary):
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(msg, dict):  # else e.g. Bitfinex authenticated inputs: not served
            self.handle(msg)

    def send(self, obj) -> None:
        self.sendMessage(orjson.dumps(obj))

    def blast(self) -> None:
        """Write the whole stream: ready-made frames, no per-frame server work."""
        self.blasted = True
        stream = self.factory.streams[self.workload]
        if self._perMessageCompress is not None and stream.deflated:
            self.transport.write(stream.deflated)
            return
        self.transport.write(stream.seq_frames if self.flags & FLAG_SEQ_ALL else stream.frames)

    # -- Bitfinex ----------------------------------------------------------------------

    def on_bitfinex(self, msg: dict) -> None:
        event = msg.get("event")
        if event == "conf":
            self.flags = int(msg.get("flags") or 0)
            self.send({"event": "conf", "status": "OK", "flags": self.flags})
        elif event == "subscribe":
            self.subscribe(msg)
        elif event == "unsubscribe":
            self.send({"event": "unsubscribed", "status": "OK", "chanId": msg.get("chanId")})
        elif event == "ping":
            self.send({"event": "pong", "ts": 0, "cid": msg.get("cid")})

    def subscribe(self, msg: dict) -> None:
        channel = msg.get("channel")
        if self.workload is None:
            self.workload = "book" if channel == "book" else "ticker"
        match = not self.blasted and CHANNEL_OF[self.workload] == channel
        if match:
            chan_id = CHAN_ID
        else:
            chan_id, self.next_chan = self.next_chan, self.next_chan + 1
        self.send(subscribed_reply(msg, chan_id))
        if match:
            self.blast()

    # -- Binance (combined streams) ------------------------------------------------------

    def on_binance(self, msg: dict) -> None:
        rid = msg.get("id")
        method = msg.get("method")
        params = msg.get("params")
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS") \
                or not isinstance(params, list):
            self.send({"error": {"code": 2, "msg": f"blaster: unsupported request {method!r}"},
                       "id": rid})
            return
        if method != "SUBSCRIBE" or self.blasted:
            self.send({"result": None, "id": rid})
            return
        stream = self.factory.streams[self.workload]
        wanted = BINANCE_STREAM_OF[self.workload]
        if self.primed:
            # The diff stream's second SUBSCRIBE: the client's cue that it is in sync.
            self.send({"result": None, "id": rid})
            self.blast()
        elif wanted in params:
            self.send({"result": None, "id": rid})
            if stream.primer:
                self.primed = True
                self.transport.write(stream.primer)
            else:
                self.blast()
        else:
            self.send({"error": {"code": 2, "msg": f"blaster: this connection serves "
                                                   f"{wanted}, not {params}"}, "id": rid})

    def sendServerStatus(self, redirectUrl=None, redirectAfter=0):
        """A plain HTTP GET (no Upgrade): Binance's REST depth snapshot, or 404.

        autobahn calls this for a request without ``Upgrade`` and then closes
        the connection, so a REST client gets one answer per connection."""
        body = self.factory.rest.get(self.http_request_path)
        status = b"200 OK" if body is not None else b"404 Not Found"
        if body is None:
            body = b'{"code":-1000,"msg":"not served by the blaster"}'
        self.sendData(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                      b"Content-Length: " + str(len(body)).encode() +
                      b"\r\nConnection: close\r\n\r\n" + body)

    # -- FTX -------------------------------------------------------------------------

    def on_ftx(self, msg: dict) -> None:
        op = msg.get("op")
        channel, market = msg.get("channel"), msg.get("market")
        if op == "ping":
            self.send({"type": "pong"})
        elif op == "subscribe":
            if market != FTX_MARKET:
                self.send({"type": "error", "code": 400, "msg": "Invalid market"})
                return
            self.send({"type": "subscribed", "channel": channel, "market": market})
            if not self.blasted and channel == FTX_CHANNEL_OF[self.workload]:
                self.blast()
        elif op == "unsubscribe":
            self.send({"type": "unsubscribed", "channel": channel, "market": market})
        else:
            self.send({"type": "error", "code": 400, "msg": "Invalid op"})


def subscribed_reply(msg: dict, chan_id: int) -> dict:
    """Bitfinex's ``subscribed`` answer, keys in the server's order (``pair`` last:
    cryptofeed logs the last item as ``key=value`` strings)."""
    channel = msg.get("channel")
    reply = {"event": "subscribed", "channel": channel, "chanId": chan_id}
    symbol = msg.get("symbol") or (("t" + msg["pair"]) if msg.get("pair") else None)
    if symbol is not None and not symbol.startswith(("t", "f")):
        symbol = "t" + symbol
    if channel == "book":
        reply.update(symbol=symbol, prec=msg.get("prec", "P0"), freq=msg.get("freq", "F0"),
                     len=str(msg.get("len", "25")))
    elif channel == "candles":
        reply["key"] = msg.get("key")
    else:
        reply["symbol"] = symbol
    if "subId" in msg:
        reply["subId"] = msg["subId"]
    if symbol:
        reply["pair"] = symbol[1:]
    return reply


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150_000,
                        help="data frames per stream (book streams add a snapshot first)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    factory = WebSocketServerFactory("ws://127.0.0.1")
    factory.protocol = BlastProtocol
    factory.setProtocolOptions(autoPingInterval=0, perMessageCompressionAccept=accept_deflate)
    factory.streams = build_streams(args.frames, args.seed)
    factory.rest = {BINANCE_DEPTH_PATH: factory.streams["binance_depth"].rest_body}
    port = reactor.listenTCP(args.port, factory, interface="127.0.0.1")
    print(f"PORT {port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

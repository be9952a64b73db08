"""What the replay server must know of each venue's wire: requests, replies, streams, ids.

Pure functions, no I/O. A *key* names what a client asks for, in the labels
the clients return from ``subscribe_to_*`` (Bitfinex ``book:tBTCUSD:P0``,
Binance ``btcusdt@depth``, FTX ``orderbook:BTC-PERP``), plus ``auth``/``login``,
``conf`` and the WebSocket-API methods. For each recorded received frame a
dialect says whether it is the *reply* to a request (sent to the replaying
client only once it asked), *data* of a stream (sent while the stream is
subscribed), or *other* (sent as recorded), and how to rewrite its wire ids
(Bitfinex ``subId`` and ``chanId``, Binance request ``id``) for the replaying
client.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from ..bitfinex.protocol import ChannelSpec
from ..errors import LocalProtocolError

__all__ = ["Request", "Tag", "Dialect", "dialect_for"]


class Request(NamedTuple):
    """One thing a client asked for: ``kind`` (``sub``, ``unsub``, ``auth``, ``conf``,
    ``ping``, ``api``), ``key`` and the client's wire id (or None)."""

    kind: str
    key: Any
    wire: Any = None


class Tag(NamedTuple):
    """What a recorded received frame is: ``kind`` ``reply``/``data``/``other``/``drop``;
    ``keys`` it answers or belongs to; the recorded wire id; the recorded chanId."""

    kind: str
    keys: tuple = ()
    wire: Any = None
    chan: Any = None


OTHER = Tag("other")
DROP = Tag("drop")


class Dialect:
    """The venue-specific part of a replay (one instance per venue; state per connection
    lives in the dict each method is given)."""

    venue = ""

    def requests(self, obj: Any) -> list[Request]:
        """What a sent frame asks for (empty: nothing a reply or stream depends on)."""
        return []

    def note_sent(self, obj: Any, state: dict) -> None:
        """Learn from a recorded sent frame (e.g. which streams request id 5 named)."""

    def tag(self, obj: Any, state: dict) -> Tag:
        """Classify a recorded received frame, updating the connection's ``state``."""
        return OTHER

    def always_active(self, path: str) -> tuple:
        """Streams a connection on ``path`` carries without asking (listenKey streams)."""
        return ()

    def rewrite(self, frame: bytes, obj: Any, tag: Tag, wire: Any, chan: Any) -> bytes:
        """The recorded frame as the replaying client must see it: its request's
        ``wire`` id and the served chanId ``chan``."""
        return frame

    def synthesize(self, request: Request, obj: Any) -> bytes | None:
        """A reply the server makes itself (pings, requests the recording never saw)."""
        return None


# ----------------------------------------------------------------------------- Bitfinex

def _bitfinex_label(obj: dict) -> str | None:
    """The label of the channel a subscribe/subscribed/error event names."""
    channel = obj.get("channel")
    try:
        if channel == "ticker":
            return ChannelSpec.ticker(obj["symbol"]).label
        if channel == "trades":
            return ChannelSpec.trades(obj["symbol"]).label
        if channel == "book":
            return ChannelSpec.book(obj["symbol"], obj.get("prec", "P0"), obj.get("freq", "F0"),
                                    obj.get("len", 25)).label
        if channel == "candles":
            return f"candles:{obj['key']}"
        if channel == "status":
            return f"status:{obj['key']}"
    except (KeyError, LocalProtocolError, TypeError):
        return None
    return None


class BitfinexDialect(Dialect):
    """Bitfinex v2: subscriptions by ``subId`` (optional) and channel fields; data by chanId."""

    venue = "bitfinex"

    def requests(self, obj: Any) -> list[Request]:
        if obj.__class__ is not dict:
            return []
        event = obj.get("event")
        if event == "subscribe":
            label = _bitfinex_label(obj)
            return [Request("sub", label, obj.get("subId"))] if label else []
        if event == "unsubscribe":
            return [Request("unsub", None, obj.get("chanId"))]
        if event in ("auth", "conf"):
            return [Request(event, event, None)]
        if event == "ping":
            return [Request("ping", "ping", obj.get("cid"))]
        return []

    def tag(self, obj: Any, state: dict) -> Tag:
        chans = state.setdefault("chans", {})
        if obj.__class__ is list:
            if not obj:
                return OTHER
            chan = obj[0]
            if chan == 0:
                return Tag("data", ("auth",), None, 0)
            label = chans.get(chan)
            return Tag("data", (label,), None, chan) if label else DROP
        if obj.__class__ is not dict:
            return OTHER
        event = obj.get("event")
        if event == "subscribed":
            label = _bitfinex_label(obj)
            chans[obj.get("chanId")] = label
            return Tag("reply", (label,), obj.get("subId"), obj.get("chanId"))
        if event == "unsubscribed":
            label = chans.pop(obj.get("chanId"), None)
            return Tag("reply", (("unsub", label),), None, obj.get("chanId"))
        if event == "error" and obj.get("channel"):
            return Tag("reply", (_bitfinex_label(obj),), obj.get("subId"))
        if event in ("auth", "conf"):
            return Tag("reply", (event,))
        if event == "pong":
            return DROP  # the server answers pings itself
        return OTHER

    def rewrite(self, frame: bytes, obj: Any, tag: Tag, wire: Any, chan: Any) -> bytes:
        if obj.__class__ is list:
            if chan == tag.chan:
                return frame
            # Only the leading chanId changes: the rest stays byte for byte
            # (checksums are computed from the numbers' text).
            return b"[%d%s" % (chan, frame[frame.index(b","):])
        if obj.__class__ is dict and tag.kind == "reply":
            out = dict(obj)
            if "chanId" in out and chan is not None:
                out["chanId"] = chan
            if wire is not None:
                out["subId"] = wire
            else:
                out.pop("subId", None)
            return orjson.dumps(out)
        return frame

    def synthesize(self, request: Request, obj: Any) -> bytes | None:
        if request.kind == "ping":
            return orjson.dumps({"event": "pong", "ts": 0, "cid": request.wire})
        if request.kind == "sub":
            reply = {k: v for k, v in obj.items() if k != "event"}
            reply.update(event="error", msg="replay: channel not in the recording", code=10300)
            return orjson.dumps(reply)
        if request.kind == "unsub":
            return orjson.dumps({"event": "unsubscribed", "status": "OK",
                                 "chanId": request.wire})
        if request.kind == "conf":
            return orjson.dumps({"event": "conf", "status": "OK", "flags": obj.get("flags")})
        return None


# ------------------------------------------------------------------------------ Binance

class BinanceDialect(Dialect):
    """Binance: combined streams (SUBSCRIBE by request id), the WebSocket API, user streams."""

    venue = "binance"

    def requests(self, obj: Any) -> list[Request]:
        if obj.__class__ is not dict:
            return []
        method = obj.get("method")
        wire = obj.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            kind = "sub" if method == "SUBSCRIBE" else "unsub"
            return [Request(kind, str(s).lower(), wire) for s in obj.get("params") or ()]
        if isinstance(method, str):
            return [Request("api", method, wire)]
        return []

    def note_sent(self, obj: Any, state: dict) -> None:
        reqs = self.requests(obj)
        if reqs:
            counts = state.setdefault("counts", {})
            keys: list[Any] = []  # a key, ("api", method, n), ("unsub", key) or "user"
            for req in reqs:
                if req.kind == "api":
                    n = counts[req.key] = counts.get(req.key, 0) + 1
                    keys.append(("api", req.key, n))
                    if req.key.startswith("userDataStream.subscribe"):
                        keys.append("user")  # its answer starts the user-data stream
                else:
                    keys.append(req.key if req.kind == "sub" else ("unsub", req.key))
            state.setdefault("ids", {})[reqs[0].wire] = tuple(keys)

    def tag(self, obj: Any, state: dict) -> Tag:
        if obj.__class__ is not dict:
            return OTHER
        stream = obj.get("stream")
        if stream is not None:
            if "@" not in stream:
                return Tag("data", ("user",))
            return Tag("data", (stream.lower(),))
        if "id" in obj and ("result" in obj or "status" in obj or "error" in obj
                            or "code" in obj):
            keys = state.get("ids", {}).get(obj["id"])
            return Tag("reply", keys, obj["id"]) if keys else DROP
        if "subscriptionId" in obj or "e" in obj:
            return Tag("data", ("user",))
        return OTHER

    def always_active(self, path: str) -> tuple:
        # A listenKey stream (/ws/<key>, /private/ws?...) carries user data unasked.
        return ("user",) if "/ws/" in path or path.rstrip("/").endswith("/private/ws") else ()

    def rewrite(self, frame: bytes, obj: Any, tag: Tag, wire: Any, chan: Any) -> bytes:
        if tag.kind == "reply":
            out = dict(obj)
            out["id"] = wire
            return orjson.dumps(out)
        return frame

    def synthesize(self, request: Request, obj: Any) -> bytes | None:
        if request.kind in ("sub", "unsub"):
            return orjson.dumps({"result": None, "id": request.wire})
        if request.kind == "api":
            return orjson.dumps({"id": request.wire, "status": 400,
                                 "error": {"code": -1000,
                                           "msg": "replay: request not in the recording"}})
        return None


# ---------------------------------------------------------------------------------- FTX

def _ftx_label(channel: Any, market: Any) -> str:
    return str(channel) if market is None else f"{channel}:{market}"


class FtxDialect(Dialect):
    """FTX: everything on one connection, routed by channel and market."""

    venue = "ftx"

    def requests(self, obj: Any) -> list[Request]:
        if obj.__class__ is not dict:
            return []
        op = obj.get("op")
        if op in ("subscribe", "unsubscribe"):
            label = _ftx_label(obj.get("channel"), obj.get("market"))
            return [Request("sub" if op == "subscribe" else "unsub", label)]
        if op == "login":
            return [Request("login", "login")]
        if op == "ping":
            return [Request("ping", "ping")]
        return []

    def tag(self, obj: Any, state: dict) -> Tag:
        if obj.__class__ is not dict:
            return OTHER
        mtype = obj.get("type")
        label = _ftx_label(obj.get("channel"), obj.get("market"))
        if mtype == "subscribed":
            return Tag("reply", (label,))
        if mtype == "unsubscribed":
            return Tag("reply", (("unsub", label),))
        if mtype == "pong":
            return DROP
        if mtype in ("partial", "update"):
            return Tag("data", (label,))
        return OTHER

    def synthesize(self, request: Request, obj: Any) -> bytes | None:
        if request.kind == "ping":
            return b'{"type":"pong"}'
        if request.kind == "sub":
            return orjson.dumps({"type": "error", "code": 400,
                                 "msg": f"replay: {request.key} not in the recording"})
        if request.kind == "unsub":
            channel, _, market = request.key.partition(":")
            return orjson.dumps({"type": "unsubscribed", "channel": channel,
                                 "market": market or None})
        return None


_DIALECTS = {"bitfinex": BitfinexDialect(), "binance": BinanceDialect(), "ftx": FtxDialect()}


def dialect_for(venue: str | None) -> Dialect:
    """The dialect of ``venue``.

    Raises:
        LocalProtocolError: an unknown venue (say which with ``venue=``).
    """
    try:
        return _DIALECTS[venue]  # type: ignore[index]
    except KeyError:
        raise LocalProtocolError(f"cannot replay venue {venue!r}; give venue= one of "
                                 f"{sorted(_DIALECTS)}") from None


def request_keys(dialect: Dialect, requests: list[Request], counts: dict[str, int]) -> list[Any]:
    """The keys of a live client's requests, numbering WebSocket-API calls per method
    as :meth:`BinanceDialect.note_sent` numbers the recorded ones."""
    keys: list[Any] = []  # a key, ("api", method, n) or ("unsub", key)
    for req in requests:
        if req.kind == "api":
            n = counts[req.key] = counts.get(req.key, 0) + 1
            keys.append(("api", req.key, n))
        elif req.kind == "unsub":
            keys.append(("unsub", req.key))
        else:
            keys.append(req.key)
    return keys

"""One FTX sandbox connection: login, subscriptions and the book each client holds
(sans-I/O: ``received(text)`` in, ``send(text)`` out)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import orjson

from .wire import (
    PRIVATE_CHANNELS,
    PUBLIC_CHANNELS,
    _dumps,
    _error,
    login_signature,
    orderbook_checksum,
)

if TYPE_CHECKING:
    from .server import FtxServer


class _BookSub:
    """What one client holds of one orderbook: ``{price: size}`` per side."""

    __slots__ = ("bids", "asks", "version")

    def __init__(self) -> None:
        self.bids: dict = {}
        self.asks: dict = {}
        self.version: Any = None

    def sides(self) -> tuple[list, list]:
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])
        return bids, asks

    def checksum(self) -> int:
        return orderbook_checksum(*self.sides())


class _Session:
    """One connection's protocol state. Sans-I/O: ``received(text)`` in, ``send(text)`` out."""

    def __init__(self, server: FtxServer, send: Callable[[str], None],
                 drop: Callable[[], None]):
        self.server = server
        self._send = send
        self.drop = drop
        self.account: str | None = None
        self.subaccount: str | None = None
        self.private: set = set()                  # "fills", "orders"
        self.public: dict = {}                     # (channel, market) -> state
        self.held: list = []
        self.open = True

    # -- output -------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Send one text frame now, or hold it while the server is stalled."""
        if not self.open:
            return
        if self.server.faults.stalled:
            self.held.append(text)
        else:
            self._send(text)

    def send(self, obj: dict) -> None:
        self.write(_dumps(obj))

    def flush_held(self) -> None:
        held, self.held = self.held, []
        for text in held:
            if self.open:
                self._send(text)

    def closed(self) -> None:
        self.open = False
        self.held.clear()

    # -- input --------------------------------------------------------------------

    def received(self, text: str) -> None:
        """Handle one text frame from the client."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send(_error("Invalid JSON"))
            return
        if not isinstance(msg, dict):
            self.send(_error("Invalid message"))
            return
        op = msg.get("op")
        if op == "ping":
            self.send({"type": "pong"})
        elif op == "login":
            self._login(msg.get("args"))
        elif op == "subscribe":
            self._subscribe(msg)
        elif op == "unsubscribe":
            self._unsubscribe(msg)
        else:
            self.send(_error("Invalid op"))

    def _login(self, args: Any) -> None:
        if self.account is not None:
            self.send(_error("Already logged in"))
            return
        server = self.server
        if not isinstance(args, dict):
            self.send(_error("Invalid login credentials"))
            return
        key, sign, time_ms = args.get("key"), args.get("sign"), args.get("time")
        secret = server.accounts.get(key) if isinstance(key, str) else None
        ok = (secret is not None and isinstance(sign, str) and isinstance(time_ms, int)
              and not isinstance(time_ms, bool)
              and abs(time_ms - server.now_ms()) <= server.login_window_ms
              and hmac.compare_digest(login_signature(secret, time_ms), sign.lower()))
        if not ok:
            self.send(_error("Invalid login credentials"))
            return
        sub = args.get("subaccount")
        self.subaccount = sub if isinstance(sub, str) else None
        account = cast(str, key)  # ok: it named a known account
        self.account = account
        server.by_account[account].append(self)
        server.logins[account].append({"time": time_ms, "subaccount": self.subaccount})

    def _subscribe(self, msg: dict) -> None:
        channel = msg.get("channel")
        if channel in PRIVATE_CHANNELS:
            if self.account is None:
                self.send(_error("Not logged in"))
                return
            if channel in self.private:
                self.send(_error("Already subscribed"))
                return
            self.private.add(channel)
            self.send({"type": "subscribed", "channel": channel})
            return
        if channel not in PUBLIC_CHANNELS:
            self.send(_error("Invalid channel"))
            return
        market = msg.get("market")
        if not isinstance(market, str) or not market:
            self.send(_error("Market required"))
            return
        if market not in self.server.markets:
            self.send(_error("Invalid market"))
            return
        if (channel, market) in self.public:
            self.send(_error("Already subscribed"))
            return
        state: Any = None
        if channel == "orderbook":
            state = _BookSub()
        self.public[(channel, market)] = state
        self.send({"type": "subscribed", "channel": channel, "market": market})
        if channel == "orderbook":
            self._book_partial(market, state)
        elif channel == "ticker":
            data = self.server.ticker(market)
            self.public[(channel, market)] = _strip_time(data)
            self.send({"channel": "ticker", "market": market, "type": "update", "data": data})

    def _unsubscribe(self, msg: dict) -> None:
        if self.server.faults.refuse_next_unsubscribe is not None:
            self.server.faults.refuse_next_unsubscribe = None
            self.send(_error("Not subscribed"))
            return
        channel = msg.get("channel")
        if channel in PRIVATE_CHANNELS:
            if channel not in self.private:
                self.send(_error("Not subscribed"))
                return
            self.private.discard(channel)
            self.send({"type": "unsubscribed", "channel": channel})
            return
        market = msg.get("market")
        if channel not in PUBLIC_CHANNELS or (channel, market) not in self.public:
            self.send(_error("Not subscribed"))
            return
        del self.public[(channel, market)]
        self.send({"type": "unsubscribed", "channel": channel, "market": market})

    # -- orderbook ------------------------------------------------------------------

    def _checksum(self, book: _BookSub) -> int:
        value = book.checksum()
        if self.server.faults.take_corrupt_checksum():
            value = (value ^ 0x5A5A5A5A) or 1
        return value

    def _book_partial(self, market: str, book: _BookSub) -> None:
        bids, asks, version = self.server.levels(market)
        book.bids, book.asks, book.version = dict(bids), dict(asks), version
        self.send({"channel": "orderbook", "market": market, "type": "partial",
                   "data": {"time": self.server.now(), "checksum": self._checksum(book),
                            "bids": [[p, s] for p, s in bids], "asks": [[p, s] for p, s in asks],
                            "action": "partial"}})

    def sync_book(self, market: str, book: _BookSub) -> None:
        """Send one update with every level that changed since the client's copy."""
        bids, asks, version = self.server.levels(market)
        if version == book.version:
            return
        book.version = version
        changes = []
        for mine, theirs in ((book.bids, dict(bids)), (book.asks, dict(asks))):
            out = [[p, 0.0] for p in mine if p not in theirs]
            out += [[p, s] for p, s in theirs.items() if mine.get(p) != s]
            mine.clear()
            mine.update(theirs)
            changes.append(out)
        if not changes[0] and not changes[1]:
            return
        self.send({"channel": "orderbook", "market": market, "type": "update",
                   "data": {"time": self.server.now(), "checksum": self._checksum(book),
                            "bids": sorted(changes[0], key=lambda e: -e[0]),
                            "asks": sorted(changes[1], key=lambda e: e[0]),
                            "action": "update"}})

    # -- publishing -------------------------------------------------------------------

    def publish(self, trades: dict, cache: dict) -> None:
        for (channel, market), state in list(self.public.items()):
            if channel == "orderbook":
                self.sync_book(market, state)
            elif channel == "trades":
                rows = trades.get(market)
                if rows:
                    self.send({"channel": "trades", "market": market, "type": "update",
                               "data": rows})
            elif channel == "ticker":
                if market not in cache:
                    cache[market] = self.server.ticker(market)
                data = cache[market]
                if _strip_time(data) != state:
                    self.public[(channel, market)] = _strip_time(data)
                    self.send({"channel": "ticker", "market": market, "type": "update",
                               "data": data})

    def deliver(self, channel: str, data: dict) -> None:
        if channel in self.private:
            self.send({"channel": channel, "type": "update", "data": data})


def _strip_time(ticker: dict) -> tuple:
    return (ticker["bid"], ticker["ask"], ticker["bidSize"], ticker["askSize"], ticker["last"])



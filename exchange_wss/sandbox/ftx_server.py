"""A local FTX WebSocket server: the sandbox for FTX-protocol clients.

It speaks the protocol of /work/shared/protocol/ftx.md on an autobahn server
protocol over Twisted, fed by the shared seeded
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine,
so a user's orders really rest, fill and cancel. FTX placed orders over REST,
not over the socket: :meth:`FtxSandbox.place_order` and
:meth:`FtxSandbox.cancel_order` stand in for that REST API. It is written apart
from the client code (``exchange_wss.ftx``) on purpose: the two check each other.

Layers:

- :class:`_Session`: one connection's protocol state (login, subscriptions,
  the book each client holds), sans-I/O: text in through
  :meth:`_Session.received`, text out through a ``send`` callable.
- :class:`FtxServer`: the exchange behind the sockets (market, accounts,
  FTX order metadata, publishing, faults). Reactor thread only.
- :class:`FtxSandbox`: the public, thread-safe handle.

Wire choices where the sources leave room (documented so clients can rely on them):

- markets: ``BTC-PERP`` and ``ETH-PERP`` (simulated pairs of their own, traded
  like spot on the account's BTC/ETH/USD wallets: no margin, positions or
  funding), ``BTC/USD``, ``ETH/USD`` and ``XRP/BTC`` (priced around 6.5e-7, so
  e-notation floats appear);
- numbers are JSON floats written by orjson (``6.5e-7``, ``0.00002262``,
  ``9805.0``): not Python's ``str(float)`` text, so a client hashing the raw
  wire text gets wrong checksums, as it did against FTX;
- a successful login is not answered (as FTX did); failures and a second login
  are ``{"type":"error","code":400,...}``; ``subaccount`` is accepted and ignored;
- ``ticker`` sends the current ticker at once after ``subscribed``, then on every
  change; ``trades`` has no snapshot (one ``update`` per market step with the
  trades of that step); ``orderbook`` sends a ``partial`` of the top 100 levels,
  then one ``update`` per market step with the changed levels (size 0: remove);
- orders: ``new`` when accepted, ``open`` once resting (and after each partial
  fill), ``closed`` when filled or cancelled (``remainingSize`` 0); fills come
  from the engine's fee-bearing trade events: ``fee`` positive, ``feeCurrency``
  the currency the engine charged it in (the one received), ``future`` the
  market for perpetuals and null for spot;
- prices are rounded to 5 significant digits (the engine's tick) and sizes to 8
  decimals rather than refused for not matching an increment.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import itertools
import logging
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, cast

import orjson
from twisted.internet.task import LoopingCall

from ._faults_base import ChecksumFaults, FaultsBase, WireFaults
from ._ws import SandboxHandle, ServerTimeAndStall, TrackedServerFactory, TrackedServerProtocol
from .engine import FLAG_POST_ONLY, OrderEvent, OrderView, PairSpec, TradeEvent
from .faults import FaultState
from .market import DEFAULT_TRADING, SimulatedMarket, TradingSim

__all__ = ["FtxSandbox", "FtxServer", "FtxFaults", "DEFAULT_FTX_KEY", "DEFAULT_FTX_SECRET",
           "DEFAULT_FTX_BALANCES", "FTX_MARKETS", "INFO_TEXTS", "orderbook_checksum",
           "login_signature"]

log = logging.getLogger("exchange_wss.sandbox.ftx")

DEFAULT_FTX_KEY = "sandbox-ftx-api-key"
DEFAULT_FTX_SECRET = "sandbox-ftx-api-secret"
#: Starting wallets of every configured account.
DEFAULT_FTX_BALANCES = {"USD": "100000", "BTC": "10", "ETH": "100", "XRP": "100000"}

#: FTX market name -> simulated engine pair.
FTX_MARKETS = {"BTC-PERP": "tBTCPERP", "ETH-PERP": "tETHPERP", "BTC/USD": "tBTCUSD",
               "ETH/USD": "tETHUSD", "XRP/BTC": "tXRPBTC"}
PUBLIC_CHANNELS = ("ticker", "trades", "orderbook")
PRIVATE_CHANNELS = ("fills", "orders")
BOOK_DEPTH = 100
LOGIN_WINDOW_MS = 60_000
INFO_TEXTS = {20001: "Server restarting, please reconnect"}

_PERPS = (
    TradingSim(PairSpec("tBTCPERP", "BTC", "USD", Decimal("0.0001")), Decimal("60030"),
               0.0004, 1, 40, (0.01, 1.5), (0.001, 0.3), 0.7),
    TradingSim(PairSpec("tETHPERP", "ETH", "USD", Decimal("0.001")), Decimal("3001.5"),
               0.0005, 1, 40, (0.1, 25.0), (0.01, 4.0), 0.6),
)
FTX_TRADING = tuple(DEFAULT_TRADING) + _PERPS


# -- helpers ------------------------------------------------------------------------------

def login_signature(secret: str, time_ms: int) -> str:
    """Hex HMAC-SHA256(secret, f"{time_ms}websocket_login"): the login ``sign``."""
    return hmac.new(secret.encode(), f"{time_ms}websocket_login".encode(),
                    hashlib.sha256).hexdigest()


def orderbook_checksum(bids: list, asks: list) -> int:
    """FTX's checksum: unsigned CRC32 of ``bidP:bidS:askP:askS:...`` over the top 100
    levels per side (missing levels omitted), each number as Python's ``str(float)``."""
    parts: list = []
    for i in range(BOOK_DEPTH):
        if i < len(bids):
            parts.append(str(float(bids[i][0])))
            parts.append(str(float(bids[i][1])))
        if i < len(asks):
            parts.append(str(float(asks[i][0])))
            parts.append(str(float(asks[i][1])))
    return zlib.crc32(":".join(parts).encode())


def iso_time(mts: int | None) -> str | None:
    """``2019-05-07T16:40:58.358438+00:00`` of a ms timestamp."""
    if mts is None:
        return None
    return _dt.datetime.fromtimestamp(mts / 1000, _dt.UTC).isoformat(
        timespec="microseconds")


def _fsub(a: float, b: float) -> float:
    """``a - b`` without binary noise (0.3 - 0.1 is 0.2)."""
    return float(Decimal(repr(a)) - Decimal(repr(b)))


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _error(msg: str, code: int = 400) -> dict:
    return {"type": "error", "code": code, "msg": msg}


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


class FtxServer(ServerTimeAndStall):
    """The exchange behind the sockets. Everything here runs on the reactor thread.

    Args:
        reactor: the reactor (time, LoopingCalls, listenTCP).
        accounts: ``{api_key: secret}``.
        seed: the market's seed.
        tick_interval: seconds between market ticks; None for manual steps only.
        balances: starting wallets of each account.
        login_window_ms: how far a login ``time`` may be from the server's clock.
    """

    def __init__(self, reactor: Any, accounts: Mapping[str, str], seed: int = 1,
                 tick_interval: float | None = 0.25,
                 balances: Mapping[str, Any] | None = None,
                 login_window_ms: int = LOGIN_WINDOW_MS):
        self.reactor = reactor
        self.accounts = dict(accounts)
        self.tick_interval = tick_interval
        self.login_window_ms = login_window_ms
        self.markets = dict(FTX_MARKETS)
        self._by_symbol: dict = defaultdict(list)
        for name, sym in self.markets.items():
            self._by_symbol[sym].append(name)
        self.market = SimulatedMarket(seed=seed, clock=self.now_ms, trading=FTX_TRADING)
        self.engine = self.market.engine
        for key in self.accounts:
            self.engine.open_account(key, balances or DEFAULT_FTX_BALANCES)
        self.sessions: list[_Session] = []
        self.by_account: dict[str, list[_Session]] = defaultdict(list)
        self.received: dict[str, list] = defaultdict(list)
        self.logins: dict[str, list] = defaultdict(list)
        self.order_info: dict[int, dict] = {}      # engine order id -> FTX-only fields
        self.faults = FaultState()
        self._fill_ids = itertools.count(7_828_307)
        self._level_cache: dict = {}
        self._loops: list[LoopingCall] = []
        self._stall_call = None

    # -- loops --------------------------------------------------------------------

    def start_loops(self) -> None:
        """Step the market every ``tick_interval`` seconds (no loop without one)."""
        if not self.tick_interval:
            return

        def safe() -> None:
            try:
                self.step()
            except Exception:  # keep the market alive
                log.exception("ftx sandbox market step failed")

        lc = LoopingCall(safe)
        lc.clock = self.reactor
        lc.start(self.tick_interval, now=False).addErrback(
            lambda f: log.error("ftx sandbox loop failed: %s", f.getTraceback()))
        self._loops.append(lc)

    def stop_loops(self) -> None:
        """Stop the market loop and any pending end of a stall."""
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops.clear()
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        self._stall_call = None

    # -- market -------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the market ``n`` ticks, delivering and publishing after each."""
        for _ in range(n):
            for res in self.market.tick():
                self.route(res.events)
            self.publish()

    def symbol(self, market: str) -> str:
        """The engine symbol of an FTX market name; KeyError for an unknown one."""
        try:
            return self.markets[market]
        except KeyError:
            raise KeyError(f"unknown market {market!r}") from None

    def levels(self, market: str, depth: int = BOOK_DEPTH) -> tuple[list, list, int]:
        """``(bids, asks, version)``: ``[(price, size)]`` best first, as floats."""
        sym = self.symbol(market)
        version = self.market.book_version(sym)
        k = (sym, depth)
        hit = self._level_cache.get(k)
        if hit is not None and hit[2] == version:
            return hit
        view = self.market.book(sym, "P0", depth)
        bids = [(float(e[0]), abs(float(e[2]))) for e in view.bids]
        asks = [(float(e[0]), abs(float(e[2]))) for e in view.asks]
        out = (bids, asks, version)
        self._level_cache[k] = out
        return out

    def ticker(self, market: str) -> dict:
        """The ``ticker`` channel's data of ``market``: best bid, ask, their sizes, last, time."""
        bids, asks, _ = self.levels(market)
        sym = self.symbol(market)
        last = self.engine.last_price(sym)
        if last is None:
            last = self.market.sims[sym].start
        return {"bid": bids[0][0] if bids else None, "ask": asks[0][0] if asks else None,
                "bidSize": bids[0][1] if bids else None, "askSize": asks[0][1] if asks else None,
                "last": float(last), "time": self.now()}

    def publish(self) -> None:
        """Push book updates, trades and tickers to every session."""
        trades: dict = defaultdict(list)
        for sym, row in self.market.drain_trades():
            names = self._by_symbol.get(sym)
            if not names:
                continue    # the simulated funding book's trades: no FTX market
            tid, mts, amount, price = row
            for name in names:
                trades[name].append({"id": tid, "price": float(price), "size": abs(float(amount)),
                                     "side": "buy" if amount > 0 else "sell",
                                     "liquidation": False, "time": iso_time(mts)})
        cache: dict = {}
        for s in list(self.sessions):
            s.publish(trades, cache)

    # -- orders -------------------------------------------------------------------

    def place_order(self, key: str, market: str, side: str, price: Any, size: Any,
                    type: str = "limit", client_id: str | None = None, ioc: bool = False,
                    post_only: bool = False, reduce_only: bool = False) -> dict:
        """Place an order as FTX's REST would; returns its order dict, ValueError when refused."""
        self.received[key].append({"market": market, "side": side, "price": price, "size": size,
                                   "type": type, "clientId": client_id, "ioc": ioc,
                                   "postOnly": post_only, "reduceOnly": reduce_only})
        if key not in self.accounts:
            raise ValueError("Not logged in")
        if market not in self.markets:
            raise ValueError(f"No such market: {market}")
        if side not in ("buy", "sell"):
            raise ValueError("Invalid side")
        if type not in ("limit", "market"):
            raise ValueError("Invalid order type")
        if client_id is not None and any(i["clientId"] == client_id and i["owner"] == key
                                         and self.engine.order(oid) is not None
                                         for oid, i in self.order_info.items()):
            raise ValueError("Duplicate client order ID")
        try:
            amount = Decimal(repr(size)) if isinstance(size, float) else Decimal(str(size))
        except Exception:
            raise ValueError("Invalid size") from None
        if not amount.is_finite() or amount <= 0:
            raise ValueError("Invalid size")
        if side == "sell":
            amount = -amount
        if type == "market":
            etype, px = "EXCHANGE MARKET", None
        else:
            if price is None:
                raise ValueError("Invalid price")
            etype, px = ("EXCHANGE IOC" if ioc else "EXCHANGE LIMIT"), price
        flags = FLAG_POST_ONLY if post_only and type == "limit" and not ioc else 0
        res = self.engine.submit(key, self.symbol(market), amount, px, etype, flags=flags)
        if not res.ok:
            raise ValueError(res.text)
        placed = cast(OrderView, res.order)  # submit always returns the order
        oid = cast(int, placed.id)  # accepted: it has its id
        self.order_info[oid] = {"owner": key, "market": market, "clientId": client_id,
                                "type": type, "ioc": bool(ioc) or type == "market",
                                "postOnly": bool(post_only), "reduceOnly": bool(reduce_only)}
        self.market.observe(res)
        self.route(res.events)
        reply = self.order_dict(placed, "new")
        self.publish()
        return reply

    def cancel_order(self, key: str, order_id: int) -> bool:
        """Cancel ``order_id`` of ``key``'s account; False when it is not open."""
        res = self.engine.cancel(key, id=order_id)
        if not res.ok:
            return False
        self.route(res.events)
        self.publish()
        return True

    def order_dict(self, o: OrderView, status: str) -> dict:
        """The order as FTX's ``orders`` channel and REST show it, with ``status``."""
        info = self.order_info.get(cast(int, o.id), {})  # a placed order: it has its id
        size = abs(o.amount_orig)
        filled = _fsub(size, abs(o.amount))
        return {"id": o.id, "clientId": info.get("clientId"), "market": info.get("market"),
                "type": info.get("type", "limit"), "side": "buy" if o.amount_orig > 0 else "sell",
                "price": o.price if info.get("type", "limit") == "limit" else None,
                "size": size, "status": status, "filledSize": filled,
                "remainingSize": 0.0 if status == "closed" else _fsub(size, filled),
                "avgFillPrice": o.price_avg if filled else None,
                "reduceOnly": info.get("reduceOnly", False), "ioc": info.get("ioc", False),
                "postOnly": info.get("postOnly", False), "createdAt": iso_time(o.mts_create)}

    def fill_dict(self, t: TradeEvent) -> dict:
        """The engine trade as FTX's ``fills`` channel shows it."""
        info = self.order_info.get(t.order_id, {})
        market = info.get("market") or self._by_symbol[t.symbol][0]
        rate = self.engine.maker_fee if t.maker else self.engine.taker_fee
        return {"fee": -t.fee if t.fee else 0.0, "feeRate": float(rate),
                "feeCurrency": t.fee_currency,
                "future": market if market.endswith("-PERP") else None,
                "id": next(self._fill_ids), "liquidity": "maker" if t.maker else "taker",
                "market": market, "orderId": t.order_id, "tradeId": t.id,
                "price": t.exec_price, "side": "buy" if t.exec_amount > 0 else "sell",
                "size": abs(t.exec_amount), "time": iso_time(t.mts), "type": "order"}

    def route(self, events: list) -> None:
        """Turn a result's engine events into ``orders``/``fills`` updates for their owners."""
        updated: set = set()
        fresh: list = []
        for ev in events:
            if ev.owner not in self.accounts:
                continue
            if isinstance(ev, OrderEvent):
                status = {"on": "new", "ou": "open", "oc": "closed"}[ev.kind]
                if ev.kind == "on":
                    fresh.append(ev)
                else:
                    updated.add(ev.order.id)
                self._deliver(ev.owner, "orders", self.order_dict(ev.order, status))
            elif isinstance(ev, TradeEvent) and ev.kind == "tu":
                self._deliver(ev.owner, "fills", self.fill_dict(ev))
        for ev in fresh:
            # Accepted and resting untouched: FTX shows it open.
            if ev.order.id not in updated:
                live = self.engine.order(ev.order.id)
                if live is not None:
                    self._deliver(ev.owner, "orders", self.order_dict(live, "open"))

    def _deliver(self, owner: str, channel: str, data: dict) -> None:
        for s in list(self.by_account.get(owner, ())):
            s.deliver(channel, data)

    # -- sessions -----------------------------------------------------------------

    def session_opened(self, s: _Session) -> None:
        """A connection opened: track its session."""
        self.sessions.append(s)

    def session_closed(self, s: _Session) -> None:
        """A connection ended: forget its session and its account's link to it."""
        s.closed()
        if s in self.sessions:
            self.sessions.remove(s)
        lst = self.by_account.get(s.account) if s.account else None
        if lst and s in lst:
            lst.remove(s)

    def broadcast(self, obj: dict) -> None:
        """Send ``obj`` to every connection."""
        for s in list(self.sessions):
            s.send(obj)

    def broadcast_raw(self, text: str) -> None:
        """Write ``text`` as it is to every connection."""
        for s in list(self.sessions):
            s.write(text)

    def drop_all(self) -> int:
        """Abort every connection (no close frame); returns how many."""
        sessions = list(self.sessions)
        for s in sessions:
            s.drop()
        return len(sessions)



# -- autobahn adapter -----------------------------------------------------------------

class _Protocol(TrackedServerProtocol):
    """Moves text between autobahn and a :class:`_Session`."""

    session: _Session | None = None

    def onOpen(self):
        server = self.factory.server
        self.session = _Session(server, self.send_text, self.abort)
        server.session_opened(self.session)

    def onMessage(self, payload, isBinary):
        if self.session is None:
            return
        if isBinary:
            self.session.send(_error("Invalid JSON"))
            return
        try:
            self.session.received(payload.decode("utf-8"))
        except Exception:  # a bug here must not kill the reactor thread
            log.exception("ftx sandbox failed handling %r", payload[:200])


class _Factory(TrackedServerFactory):
    protocol = _Protocol


# -- faults -----------------------------------------------------------------------------

class FtxFaults(FaultsBase, ChecksumFaults, WireFaults):
    """Inject faults into a running :class:`FtxSandbox`; every method is thread-safe.

    Shared with every sandbox (:mod:`exchange_wss.sandbox._faults_base`):
    :meth:`drop_connections`, :meth:`stall` / :meth:`resume` (pongs held too),
    :meth:`malformed_frame`, :meth:`corrupt_next_checksum` (the next orderbook
    partial or update), :meth:`close_and_linger`, :meth:`send_oversized_frame`,
    :meth:`send_endless_frame`. FTX's own:

    - :meth:`send_info`: ``{"type":"info","code":20001,"msg":...}`` on every connection.
    - :meth:`refuse_next_unsubscribe`: the next unsubscribe is answered with an error.
    """

    malformed_text = '{"channel":"orderbook","type":'

    def __init__(self, sandbox: FtxSandbox):
        super().__init__(sandbox)

    def send_info(self, code: int = 20001, msg: str | None = None) -> None:
        """Send an info message (20001: "Server restarting, please reconnect") everywhere."""
        text = msg if msg is not None else INFO_TEXTS.get(code, "Info")
        self._sb._call(lambda: self._server().broadcast({"type": "info", "code": code,
                                                         "msg": text}))

    def refuse_next_unsubscribe(self) -> None:
        """Answer the next unsubscribe with ``{"type":"error","msg":"Not subscribed"}``
        and keep the subscription."""
        def run() -> None:
            self._server().faults.refuse_next_unsubscribe = 400
        self._sb._call(run)


# -- public handle --------------------------------------------------------------------

class FtxSandbox(SandboxHandle[FtxServer]):
    """A local FTX WebSocket exchange with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_FTX_KEY: DEFAULT_FTX_SECRET}``.
        seed: market seed; same seed and same steps give the same market.
        tick_interval: seconds between market ticks; None: only :meth:`step` moves it.
        reactor: a reactor to use instead of the library's reactor thread; then
            call :meth:`listen` yourself and public methods run directly.
        balances: starting wallets of every account (default :data:`DEFAULT_FTX_BALANCES`).

    Example::

        sb = FtxSandbox().start()      # sb.url: ws://127.0.0.1:<port>/ws/
        sb.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", 50000, 0.01)
        sb.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accounts: Mapping[str, str] | None = None, seed: int = 1,
                 tick_interval: float | None = 0.25, reactor: Any = None,
                 balances: Mapping[str, Any] | None = None):
        from exchange_wss import _reactor
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._listening = None
        self._server = FtxServer(self._reactor, accounts or {DEFAULT_FTX_KEY: DEFAULT_FTX_SECRET},
                                 seed=seed, tick_interval=tick_interval, balances=balances)
        self._factory = _Factory(self._server)
        from .ftx_rest import FtxRestApi, make_site
        # FTX's REST order API shares the port (see sandbox/ftx_rest.py).
        self._site = make_site(FtxRestApi(self._server), self._factory)
        #: Fault injection (see :class:`FtxFaults`).
        self.faults = FtxFaults(self)

    # -- lifecycle ------------------------------------------------------------------

    def _listen_target(self):
        return self._site

    def _shutdown_extra(self) -> list:
        return self._site.abort_channels()

    @property
    def url(self) -> str:
        """``ws://host:port/ws/``."""
        return f"ws://{self.host}:{self.port}/ws/"

    @property
    def rest_url(self) -> str:
        """``http://host:port/api``: the REST orders and wallets API."""
        return f"http://{self.host}:{self.port}/api"

    # -- inspection and control -------------------------------------------------------

    @property
    def markets(self) -> list:
        """The FTX market names served."""
        return list(self._server.markets)

    def step(self, n: int = 1) -> None:
        """Advance the simulated market ``n`` ticks and publish the changes."""
        self._call(self._server.step, n)

    def book(self, market: str, depth: int = 100) -> dict:
        """The server's current book: ``{"bids": [(price, size)...], "asks": [...]}``, best
        first."""
        def run() -> dict:
            bids, asks, _ = self._server.levels(market, depth)
            return {"bids": list(bids), "asks": list(asks)}
        return self._call(run)

    def place_order(self, key: str, market: str, side: str, price: Any, size: Any,
                    type: str = "limit", client_id: str | None = None, *,
                    ioc: bool = False, post_only: bool = False,
                    reduce_only: bool = False) -> dict:
        """Place an order for an account (FTX's REST ``POST /orders``, stood in for).

        Returns the order as FTX's REST answer shows it (status ``new``); its
        ``orders``/``fills`` updates go to the account's logged-in connections.
        Raises ValueError with the refusal text when refused.
        """
        return self._call(self._server.place_order, key, market, side, price, size, type,
                          client_id, ioc, post_only, reduce_only)

    def cancel_order(self, key: str, order_id: int) -> bool:
        """Cancel an open order of ``key``; False if it is not open (or not theirs)."""
        return self._call(self._server.cancel_order, key, order_id)

    def open_orders(self, key: str = DEFAULT_FTX_KEY) -> list:
        """The account's open orders, in the ``orders`` channel's layout."""
        def run() -> list:
            return [self._server.order_dict(o, "open")
                    for o in self._server.engine.open_orders(owner=key)]
        return self._call(run)

    def orders_received(self, key: str = DEFAULT_FTX_KEY) -> list:
        """Every order request :meth:`place_order` received for ``key`` (refused ones too)."""
        return self._call(lambda: [dict(p) for p in self._server.received.get(key, [])])

    def logins(self, key: str = DEFAULT_FTX_KEY) -> list:
        """Successful logins of ``key``: ``{"time", "subaccount"}`` each."""
        return self._call(lambda: [dict(p) for p in self._server.logins.get(key, [])])

    def wallets(self, key: str = DEFAULT_FTX_KEY) -> dict:
        """``{currency: balance}`` of an account, as floats."""
        return self._call(lambda: {c: float(b) for c, (b, _) in
                                   self._server.engine.wallets(key).items()})

    def connections(self) -> int:
        """Number of open WebSocket connections."""
        return self._call(lambda: len(self._server.sessions))

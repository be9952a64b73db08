"""The FTX sandbox exchange behind the sockets (market, accounts, FTX order metadata,
publishing, faults; reactor thread only) and the autobahn protocol."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from twisted.internet.task import LoopingCall

from .._ws import ServerTimeAndStall, TextSessionProtocol, TrackedServerFactory
from ..engine import FLAG_POST_ONLY, OrderEvent, OrderView, TradeEvent
from ..faults import FaultState
from ..market import SimulatedMarket
from .session import _Session
from .wire import (
    BOOK_DEPTH,
    DEFAULT_FTX_BALANCES,
    FTX_MARKETS,
    FTX_TRADING,
    LOGIN_WINDOW_MS,
    _error,
    _fsub,
    iso_time,
    log,
)


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


# -- autobahn adapter -----------------------------------------------------------------

class _Protocol(TextSessionProtocol):
    """Moves text between autobahn and a :class:`_Session`."""

    session: _Session | None = None
    session_class = _Session
    exchange = "ftx sandbox"

    def refuse_binary(self, session: _Session) -> None:
        session.send(_error("Invalid JSON"))


class _Factory(TrackedServerFactory):
    protocol = _Protocol

"""The Binance sandbox's order service: ``order.place``/``order.cancel``/
``order.status`` validated by Binance's rules and matched on the shared engine,
orders tracked as Binance reports them, and engine events turned into the
account's user-data events.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ..engine import (
    FLAG_POST_ONLY,
    PRICE_SIG_DIGITS,
    OrderEvent,
    TradeEvent,
    WalletEvent,
    round_sig,
)
from . import reports
from .wire import _Q8, ZERO, ApiError, _dec, _from_float, _mandatory

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["OrderService"]


class _TrackedOrder:
    """A user order as Binance reports it (ids, client ids, cumulative fills)."""

    # COIN-M: qty and z count contracts, Z is the filled value in the base coin;
    # coin_total/coin_done are the engine's coin amounts and rate converts them
    # back (contracts = coin * rate, the order's reference price / contract size).
    __slots__ = ("id", "owner", "symbol", "side", "type", "tif", "qty", "price", "client_id",
                 "created", "updated", "z", "Z", "status", "fills", "cancel_client_id",
                 "resting", "coin_total", "coin_done", "rate")

    def __init__(self, **kw: Any):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


class OrderService:
    """Orders of a :class:`~.server.BinanceServer`'s accounts (reactor thread only).

    Args:
        server: the exchange (profile, engine, market, clock, accounts).
    """

    def __init__(self, server: BinanceServer):
        self.server = server
        self.profile = server.profile
        self.engine = server.engine
        self.market = server.market
        self.orders: dict = {}
        #: api key -> params of every ``order.place`` received, in order.
        self.received: dict = defaultdict(list)
        self._exec_ids = itertools.count(1_000_001)
        self._client_ids = itertools.count(1)

    def _client_id(self) -> str:
        return f"sb{self.server.now_ms() % 10**9:09d}{next(self._client_ids):06d}"

    def _open_client_ids(self, owner: str) -> set:
        return {t.client_id for t in self.orders.values() if t.owner == owner and t.is_open}

    def place_order(self, owner: str, p: Mapping[str, Any]) -> tuple:
        """Validate and match an ``order.place``; returns ``(result, user events)``.

        Raises:
            ApiError: Binance's code and text for a refused order.
        """
        fut = self.profile.futures
        bsym = p.get("symbol")
        sym = self.profile.engine_symbol(bsym)
        spec = self.engine.pairs[sym]
        side = p.get("side")
        if not side:
            raise _mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise _mandatory("type")
        types = ("LIMIT", "MARKET") if fut else ("LIMIT", "MARKET", "LIMIT_MAKER")
        if otype not in types:
            raise ApiError(-1116, "Invalid orderType.")
        tif = p.get("timeInForce")
        tifs = ("GTC", "IOC", "FOK", "GTX") if fut else ("GTC", "IOC", "FOK")
        if otype == "LIMIT":
            if not tif:
                raise _mandatory("timeInForce")
            if tif not in tifs:
                raise ApiError(-1115, "Invalid timeInForce.")
        elif tif and not fut:
            raise ApiError(-1106, "Parameter 'timeInForce' sent when not required.")
        if p.get("quoteOrderQty") not in (None, ""):
            raise ApiError(-1013, "Quote order qty market orders are not support for this symbol.")
        if p.get("quantity") in (None, ""):
            raise _mandatory("quantity")
        try:
            qty = _dec(p["quantity"])
        except (InvalidOperation, ValueError):
            raise _mandatory("quantity") from None
        if qty <= 0:
            raise _mandatory("quantity")
        cs = self.server.accounts.contract_size(bsym)
        if cs is not None:
            if qty != qty.to_integral_value():  # COIN-M counts whole contracts
                raise ApiError(-1013, "Filter failure: LOT_SIZE")
        elif qty != qty.quantize(_Q8, rounding=ROUND_DOWN) or qty < spec.min_size:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        price: Decimal | None = None
        if otype in ("LIMIT", "LIMIT_MAKER"):
            if p.get("price") in (None, ""):
                raise _mandatory("price")
            try:
                price = _dec(p["price"])
            except (InvalidOperation, ValueError):
                raise _mandatory("price") from None
            if price <= 0 or round_sig(price, PRICE_SIG_DIGITS) != price or price > Decimal("1e9"):
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        elif p.get("price") not in (None, "") and not fut:
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        cid = p.get("newClientOrderId")
        if cid in (None, ""):
            cid = self._client_id()
        elif not isinstance(cid, str) or len(cid) > 36:
            raise ApiError(-1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                  "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if cid in self._open_client_ids(owner):
            raise ApiError(-4116, "ClientOrderId is duplicated.") if fut else \
                ApiError(-2010, "Duplicate order sent.")
        post_only = otype == "LIMIT_MAKER" or tif == "GTX"
        if post_only:
            bid, ask = self.engine.best(sym)
            crosses = (ask is not None and price >= ask) if side == "BUY" else \
                (bid is not None and price <= bid)
            if crosses:
                raise ApiError(-5022, "Due to the order could not be executed as maker, the Post "
                                      "Only order will be rejected.") if fut else \
                    ApiError(-2010, "Order would immediately match and take.")
        if otype == "MARKET":
            etype = "EXCHANGE MARKET"
        else:
            etype = {"IOC": "EXCHANGE IOC", "FOK": "EXCHANGE FOK"}.get(tif, "EXCHANGE LIMIT")
        ref = price
        if ref is None:  # a market order is valued at the side it takes
            bid, ask = self.engine.best(sym)
            ref = ask if side == "BUY" else bid
            if ref is None:
                raise ApiError(-2010, "Order would not execute: no liquidity.")
        if fut:
            self.server.accounts.check_margin(owner, bsym, side, qty, ref, self.open_orders(owner))
        coin = qty if cs is None else (qty * cs / ref).quantize(_Q8, rounding=ROUND_DOWN)
        if coin < spec.min_size:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        amount = coin if side == "BUY" else -coin
        res = self.engine.submit(owner, sym, amount, price, etype,
                                 flags=FLAG_POST_ONLY if post_only else 0)
        if not res.ok:
            if "balance" in res.text:
                raise ApiError(-2019, "Margin is insufficient.") if fut else \
                    ApiError(-2010, "Account has insufficient balance for requested action.")
            raise ApiError(-2010, res.text)
        now = self.server.now_ms()
        t = _TrackedOrder(id=res.order.id, owner=owner, symbol=bsym, side=side, type=otype,
                          tif=(tif or "GTC"), qty=qty, price=price, client_id=cid, created=now,
                          updated=now, z=ZERO, Z=ZERO, status="NEW", fills=[],
                          cancel_client_id=None, resting=False, coin_total=coin,
                          coin_done=ZERO, rate=None if cs is None else ref / cs)
        self.orders[t.id] = t
        self.market.observe(res)
        events = self.user_events(res.events)
        return reports.order_result(self.profile, t, p.get("newOrderRespType")), events

    def _find_order(self, owner: str, p: Mapping[str, Any]) -> _TrackedOrder | None:
        oid, orig = p.get("orderId"), p.get("origClientOrderId")
        if oid in (None, "") and orig in (None, ""):
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                  "were empty/null!")
        for t in self.orders.values():
            if t.owner != owner or t.symbol != p.get("symbol"):
                continue
            if oid not in (None, ""):
                try:
                    if t.id == int(oid):
                        return t
                except (TypeError, ValueError):
                    return None
            elif t.client_id == orig:
                return t
        return None

    def cancel_order(self, owner: str, p: Mapping[str, Any]) -> tuple:
        """``order.cancel``: returns ``(result, user events)``; -2011 when not open."""
        self.profile.engine_symbol(p.get("symbol"))
        t = self._find_order(owner, p)
        if t is None or not t.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        t.cancel_client_id = p.get("newClientOrderId") or self._client_id()
        res = self.engine.cancel(owner, t.id)
        if not res.ok:  # pragma: no cover - tracked open orders are in the engine
            raise ApiError(-2011, "Unknown order sent.")
        self.market.observe(res)
        events = self.user_events(res.events)
        return reports.cancel_result(self.profile, t, self.server.now_ms()), events

    def order_status(self, owner: str, p: Mapping[str, Any]) -> dict:
        self.profile.engine_symbol(p.get("symbol"))
        t = self._find_order(owner, p)
        if t is None:
            raise ApiError(-2013, "Order does not exist.")
        return reports.query_result(self.profile, t)

    def user_events(self, events: list) -> list:
        """Turn engine events into ``(owner, Binance event)`` pairs, updating tracked orders,
        positions and futures wallets. Public-only owners (market makers) are skipped."""
        out: list = []
        fees = {(e.id, e.order_id): e for e in events
                if isinstance(e, TradeEvent) and e.kind == "tu"}
        wallets: dict = defaultdict(dict)
        touched: dict = defaultdict(set)     # futures: owner -> symbols traded
        now = self.server.now_ms()
        fut = self.profile.futures
        accounts = self.server.accounts
        for ev in events:
            owner = ev.owner
            if owner not in self.server.auth.accounts:
                continue
            if isinstance(ev, OrderEvent):
                t = self.orders.get(ev.order.id)
                if t is None:
                    continue
                t.updated = now
                if ev.kind == "on":
                    t.resting = t.type != "MARKET" and t.tif in ("GTC", "GTX")
                    out.append((owner, self._event(t, "NEW", now)))
                elif ev.kind == "oc":
                    t.resting = False
                    status = ev.order.status or ""
                    if status.startswith("EXECUTED"):
                        continue
                    user_cancel = status.startswith("CANCELED") and t.cancel_client_id is not None
                    t.status = "CANCELED" if user_cancel else "EXPIRED"
                    out.append((owner, self._event(t, t.status, now)))
            elif isinstance(ev, TradeEvent) and ev.kind == "te":
                t = self.orders.get(ev.order_id)
                if t is None:
                    continue
                coin = _from_float(abs(ev.exec_amount))
                price = _from_float(ev.exec_price)
                qty = self._fill_qty(t, coin)
                if qty is None:
                    continue  # less than one contract so far: it joins the next fill
                fee_ev = fees.get((ev.id, ev.order_id))
                cs = accounts.contract_size(t.symbol)
                if fut:
                    rate = self.engine.maker_fee if ev.maker else self.engine.taker_fee
                    asset_c = accounts.margin_asset(t.symbol)
                    notional = qty * price if cs is None else qty * cs / price
                    commission = (notional * rate).quantize(_Q8)
                else:
                    commission = _from_float(-fee_ev.fee) if fee_ev and fee_ev.fee else ZERO
                    asset_c = fee_ev.fee_currency if fee_ev else None
                t.z += qty
                t.Z += qty * price if cs is None else (qty * cs / price).quantize(_Q8)
                t.updated = now
                t.status = "FILLED" if t.z >= t.qty else "PARTIALLY_FILLED"
                if t.status == "FILLED":
                    t.resting = False
                t.fills.append((price, qty, commission, self.profile.asset(asset_c or "USD"),
                                ev.id))
                trade = (qty, price, commission, asset_c, ev.id, ev.mts, ev.maker)
                rp = ZERO
                if fut:
                    signed = qty if t.side == "BUY" else -qty
                    rp = accounts.futures_fill(owner, t.symbol, signed, price, commission)
                    touched[owner].add(t.symbol)
                    if self.profile.name == "usdm":
                        # TRADE_LITE is USDⓈ-M's alone: COIN-M documents no such event.
                        out.append((owner, reports.trade_lite(self.profile, t, trade, now)))
                out.append((owner, self._event(t, "TRADE", now, trade, rp)))
            elif isinstance(ev, WalletEvent):
                wallets[owner][ev.currency] = (ev.balance, ev.available)
        if fut:
            for owner, symbols in touched.items():
                out.append((owner, accounts.account_update(owner, symbols, now)))
        else:
            for owner, curs in wallets.items():
                out.append((owner, accounts.account_position(curs, now)))
        return out

    def _fill_qty(self, t: _TrackedOrder, coin: Decimal) -> Decimal | None:
        """The order quantity a fill of ``coin`` (engine units) stands for; None when it
        is nothing yet. COIN-M: whole contracts, the last fill of the order taking what
        remains, so fills sum to the order quantity; a fill below one contract waits
        for the next."""
        if t.rate is None:
            return coin
        t.coin_done += coin
        if t.coin_done >= t.coin_total:
            done = t.qty
        else:
            done = min((t.coin_done * t.rate).to_integral_value(rounding=ROUND_DOWN), t.qty)
        qty = done - t.z
        return qty if qty > 0 else None

    def open_order_results(self, owner: str, symbol: Any = None) -> list:
        """``openOrders.status`` / REST ``openOrders``: the open orders (of ``symbol``)."""
        if symbol not in (None, ""):
            self.profile.engine_symbol(symbol)
        return [reports.query_result(self.profile, t) for t in self.open_orders(owner)
                if symbol in (None, "") or t.symbol == symbol]

    def _event(self, t: _TrackedOrder, x: str, now: int, trade: tuple | None = None,
               rp: Decimal = ZERO) -> dict:
        coinm = self.profile.name == "coinm"
        return reports.order_event(
            self.profile, t, x, now, trade=trade, rp=rp, exec_id=next(self._exec_ids),
            margin_asset=self.server.accounts.margin_asset(t.symbol) if coinm else None,
            alias=self.server.accounts.alias(t.owner) if coinm else None)

    def open_orders(self, owner: str) -> list:
        """The account's open tracked orders, oldest first."""
        return [t for t in self.orders.values() if t.owner == owner and t.is_open]

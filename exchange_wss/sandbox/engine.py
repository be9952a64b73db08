"""Price-time priority matching engine for the sandbox exchange (pure Python, no I/O).

One engine holds every trading pair's book, every account's exchange wallets and
every order, so that the simulated market makers and the users trade against one
another. Amounts, prices and balances are :class:`~decimal.Decimal` so nothing is
lost or double-filled; the results report floats (what goes on the wire).

Every mutating call returns a :class:`Result`: whether the request was accepted,
the text a Bitfinex notification would carry, and the ordered list of private
events (``on``/``ou``/``oc`` order updates, ``te``/``tu`` trades, wallet updates)
and public trades it caused. The server turns those into frames; the engine
knows nothing about frames.

Behaviour modelled on Bitfinex (see the glossary's order statuses):

- exchange (spot) order types ``EXCHANGE LIMIT``, ``EXCHANGE MARKET``,
  ``EXCHANGE STOP``, ``EXCHANGE FOK``, ``EXCHANGE IOC``, and the margin types
  ``LIMIT`` and ``MARKET``, which match in the same book but settle on margin
  wallets and positions (simplified: see :mod:`.margin`);
- prices are rounded to 5 significant digits, amounts to 8 decimals;
- a post-only order that would match is accepted and then cancelled with status
  ``POSTONLY CANCELED``; a fill-or-kill that cannot fill entirely ends
  ``FILLORKILL CANCELED``; an IOC remainder ends ``IOC CANCELED``;
- fees are charged in the currency received (maker 0.1%, taker 0.2% by
  default) and reported negative, as Bitfinex does;
- resting orders reserve balance (base for sells, quote at the limit price for
  buys), so no wallet can go negative.
"""

from __future__ import annotations

import datetime as _dt
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from typing import Any, cast

from sortedcontainers import SortedDict

from exchange_wss.numtext import js_number_text

from .margin import MARGIN_ORDER_TYPES, MAX_LEVERAGE, MarginAccounts

__all__ = [
    "PairSpec", "MatchingEngine", "Order", "OrderView", "OrderEvent", "TradeEvent",
    "WalletEvent", "PublicTrade", "Result", "round_sig", "status_number",
    "ORDER_TYPES", "FLAG_HIDDEN", "FLAG_POST_ONLY", "PRICE_SIG_DIGITS",
]

Number = Decimal | str | int | float

SATOSHI = Decimal("0.00000001")
PRICE_SIG_DIGITS = 5

FLAG_HIDDEN = 64
FLAG_POST_ONLY = 4096

LIMIT = "EXCHANGE LIMIT"
MARKET = "EXCHANGE MARKET"
STOP = "EXCHANGE STOP"
FOK = "EXCHANGE FOK"
IOC = "EXCHANGE IOC"
#: The exchange (spot) order types the engine matches; margin types are refused.
ORDER_TYPES = (LIMIT, MARKET, STOP, FOK, IOC)
# Margin and derivative types Bitfinex knows; named so the error can say why.
_MARGIN_TYPES = {"LIMIT", "MARKET", "STOP", "STOP LIMIT", "TRAILING STOP", "FOK", "IOC"}


def _to_decimal(value: Number) -> Decimal:
    """Decimal of a wire value; floats via their shortest repr so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value).strip())


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("not finite")
    return value


def round_sig(value: Decimal, digits: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round ``value`` to ``digits`` significant digits (0 stays 0)."""
    if value == 0:
        return Decimal(0)
    exp = value.adjusted() - digits + 1
    with localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(Decimal(1).scaleb(exp), rounding=rounding).normalize()


def status_number(value: Decimal | float) -> str:
    """Number text as Bitfinex writes it inside status strings ("100.0", "0.5", "6600.2")."""
    text = js_number_text(float(value))
    if "." not in text and "e" not in text:
        text += ".0"
    return text


@dataclass(frozen=True)
class PairSpec:
    """A tradable pair: ``tBTCUSD`` trades ``BTC`` against ``USD``.

    Attributes:
        symbol: Bitfinex symbol with its ``t`` prefix.
        base: currency bought or sold (the amount's unit).
        quote: currency the price is expressed in.
        min_size: smallest absolute amount accepted.
    """

    symbol: str
    base: str
    quote: str
    min_size: Decimal

    @property
    def pair(self) -> str:
        """The symbol without its prefix, as in ``"BTCUSD"`` (``"pair"`` in subscribed)."""
        return self.symbol[1:]

    @property
    def display(self) -> str:
        """``BTC/USD``, as the minimum-size error text names the pair."""
        return f"{self.base}/{self.quote}"


class Order:
    """An order's mutable engine state. Read it through :class:`OrderView`."""

    __slots__ = ("id", "gid", "cid", "owner", "symbol", "amount", "amount_orig", "price",
                 "type", "type_prev", "flags", "mts_create", "mts_update", "status", "fills",
                 "exec_value", "exec_amount", "meta", "reserved", "reserve_currency", "placed",
                 "margin", "kind")

    # Declared for the type checker only (annotations make no class attributes, so the
    # slots stay as they are). ``id`` is None only while a request is being admitted,
    # before :meth:`MatchingEngine.submit` gives it one; ``price`` is None for market
    # orders; ``kind`` is the type as matched (margin types prefixed ``EXCHANGE``).
    id: int
    gid: int | None
    cid: int | None
    owner: Any
    symbol: str
    amount: Decimal
    amount_orig: Decimal
    price: Decimal | None
    type: str
    type_prev: str | None
    flags: int
    mts_create: int
    mts_update: int
    status: str
    fills: list[tuple[Decimal, Decimal]]
    exec_value: Decimal
    exec_amount: Decimal
    meta: Any
    reserved: Decimal
    reserve_currency: str | None
    placed: bool
    margin: bool
    kind: str

    def __init__(self, **kw: Any):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))

    @property
    def is_buy(self) -> bool:
        """Whether the order buys (its original amount is positive)."""
        return self.amount_orig > 0

    @property
    def hidden(self) -> bool:
        """Whether the order is hidden (flag 64): out of the public book."""
        return bool(self.flags & FLAG_HIDDEN)

    @property
    def cid_date(self) -> str:
        """UTC date of creation, the ``cid_date`` that cancel-by-cid names."""
        return _dt.datetime.fromtimestamp(self.mts_create / 1000, _dt.UTC).strftime("%Y-%m-%d")

    def view(self) -> OrderView:
        """A frozen :class:`OrderView` of the order as it is now."""
        avg = (self.exec_value / self.exec_amount) if self.exec_amount else Decimal(0)
        return OrderView(
            id=self.id, gid=self.gid, cid=self.cid, symbol=self.symbol, owner=self.owner,
            mts_create=self.mts_create, mts_update=self.mts_update,
            amount=float(self.amount), amount_orig=float(self.amount_orig), type=self.type,
            type_prev=self.type_prev, flags=self.flags or 0, status=self.status,
            price=float(self.price) if self.price is not None else 0.0,
            price_avg=float(avg), hidden=self.hidden, meta=self.meta,
            cid_date=self.cid_date if self.mts_create is not None else None)


@dataclass(frozen=True)
class OrderView:
    """A frozen snapshot of an order with float amounts, as an order frame shows it.

    ``amount`` is the signed remaining amount, ``amount_orig`` the signed
    original; ``id`` is None in the echo of a rejected request.
    """

    id: int | None
    gid: int | None
    cid: int | None
    symbol: str | None
    owner: Any
    mts_create: int | None
    mts_update: int | None
    amount: float
    amount_orig: float
    type: str | None
    type_prev: str | None
    flags: int
    status: str | None
    price: float
    price_avg: float
    hidden: bool
    meta: Any = None
    cid_date: str | None = None


@dataclass(frozen=True)
class OrderEvent:
    """``on`` (new), ``ou`` (changed, still open) or ``oc`` (closed: executed or cancelled)."""

    kind: str
    owner: Any
    order: OrderView


@dataclass(frozen=True)
class TradeEvent:
    """A private trade: ``te`` (fee unknown, None) then ``tu`` (with the fee, negative)."""

    kind: str
    owner: Any
    id: int
    symbol: str
    mts: int
    order_id: int
    exec_amount: float
    exec_price: float
    order_type: str
    order_price: float
    maker: bool
    fee: float | None
    fee_currency: str | None
    cid: int | None


@dataclass(frozen=True)
class WalletEvent:
    """An exchange wallet's new balance and available balance (``wu``)."""

    owner: Any
    wallet_type: str
    currency: str
    balance: float
    available: float
    meta: Any = None


@dataclass(frozen=True)
class PublicTrade:
    """A public trade: ``amount`` is signed by the taker's side (>0 the taker bought)."""

    symbol: str
    id: int
    mts: int
    amount: float
    price: float


@dataclass
class Result:
    """What one request did.

    Attributes:
        ok: the request was accepted (notification STATUS ``SUCCESS``).
        text: the notification TEXT (Bitfinex wording where known).
        order: the order as accepted (or the rejected request's echo), for ``n``'s DATA.
        orders: orders a multi-cancel touched.
        events: private events in wire order.
        trades: public trades, oldest first.
    """

    ok: bool
    text: str
    order: OrderView | None = None
    orders: list = field(default_factory=list)
    events: list = field(default_factory=list)
    trades: list = field(default_factory=list)


class _Reject(Exception):
    """A request refused before it touched the book; the text is Bitfinex's."""


class _Book:
    __slots__ = ("bids", "asks", "stops", "version", "last_price")

    def __init__(self) -> None:
        # Bids keyed by negated price so both sides iterate best-first.
        self.bids: SortedDict = SortedDict()
        self.asks: SortedDict = SortedDict()
        self.stops: dict[int, Order] = {}
        self.version = 0
        self.last_price: Decimal | None = None


class _Op:
    """Collects the events of one request, then lays them out in wire order."""

    def __init__(self) -> None:
        self.head: list = []          # on / te / maker ou,oc
        self.tail: list = []          # tu
        self.wallets: dict = {}       # (owner, currency) -> meta
        self.trades: list = []


class MatchingEngine:
    """Price-time priority matching for several pairs, with exchange wallets.

    Args:
        pairs: the tradable pairs.
        maker_fee: fee rate of the resting side, charged in the currency received.
        taker_fee: fee rate of the incoming side.
        clock: returns the current time in ms (for MTS fields).
        first_order_id: ids are given out from here, one by one (Bitfinex ids
            exceed 2**31, so clients must not assume 32-bit ids).
        first_trade_id: likewise for trades.
    """

    def __init__(self, pairs: Iterable[PairSpec], *, maker_fee: Number = "0.001",
                 taker_fee: Number = "0.002", clock: Callable[[], int] | None = None,
                 first_order_id: int = 50_000_000_001, first_trade_id: int = 1_500_000_001):
        self.pairs: dict[str, PairSpec] = {p.symbol: p for p in pairs}
        self.maker_fee = _to_decimal(maker_fee)
        self.taker_fee = _to_decimal(taker_fee)
        self._clock = clock or (lambda: 0)
        self._order_ids = itertools.count(first_order_id)
        self._trade_ids = itertools.count(first_trade_id)
        self._books: dict[str, _Book] = {s: _Book() for s in self.pairs}
        self._orders: dict[int, Order] = {}
        self._balances: dict[Any, dict[str, Decimal]] = {}
        self._reserved: dict[tuple, Decimal] = {}
        #: Fees taken, per currency: wallets plus these always equal what was deposited.
        self.fees_collected: dict[str, Decimal] = {}
        #: Margin wallets and positions (margin ``LIMIT``/``MARKET`` orders).
        self.margin = MarginAccounts(self._clock)

    # -- accounts -----------------------------------------------------------------

    def open_account(self, owner: Any,
                     balances: Mapping[str, Number] | Iterable[tuple[str, Number]] = (),
                     ) -> None:
        """Create ``owner``'s exchange wallets with the given starting balances."""
        wallets = self._balances.setdefault(owner, {})
        for currency, amount in dict(balances).items():
            wallets[currency] = wallets.get(currency, Decimal(0)) + _to_decimal(amount)

    def has_account(self, owner: Any) -> bool:
        """Whether ``owner`` has exchange wallets here."""
        return owner in self._balances

    def balance(self, owner: Any, currency: str) -> Decimal:
        """Total exchange balance of ``currency`` (reserved part included)."""
        return self._balances.get(owner, {}).get(currency, Decimal(0))

    def available(self, owner: Any, currency: str) -> Decimal:
        """Balance not reserved by open orders (``"margin:USD"``: of the margin wallet)."""
        if currency.startswith("margin:"):
            total = self.margin.balance(owner, currency[7:])
        else:
            total = self.balance(owner, currency)
        return total - self._reserved.get((owner, currency), Decimal(0))

    def wallets(self, owner: Any) -> dict[str, tuple[Decimal, Decimal]]:
        """``{currency: (balance, available)}`` of ``owner``'s exchange wallets."""
        return {c: (b, self.available(owner, c)) for c, b in self._balances.get(owner, {}).items()}

    def owners(self) -> list:
        """Every account key with wallets, in the order they were opened."""
        return list(self._balances)

    # -- views --------------------------------------------------------------------

    def open_orders(self, owner: Any = None, symbol: str | None = None) -> list[OrderView]:
        """Open orders (resting and untriggered stops), oldest first."""
        return [o.view() for o in sorted(self._orders.values(), key=lambda o: o.id)
                if (owner is None or o.owner == owner) and (symbol is None or o.symbol == symbol)]

    def order(self, order_id: int) -> OrderView | None:
        """The open order ``order_id`` as a view, or None when it is not open."""
        o = self._orders.get(order_id)
        return o.view() if o else None

    def book_orders(self, symbol: str,
                    include_hidden: bool = False) -> tuple[list[Order], list[Order]]:
        """Resting orders of ``symbol``, each side best first, then oldest first.

        The returned :class:`Order` objects are live; treat them as read-only.
        """
        book = self._books[symbol]
        sides = [[o for level in side.values() for o in level.values()
                  if include_hidden or not o.hidden] for side in (book.bids, book.asks)]
        return sides[0], sides[1]

    def best(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and best ask price (None for an empty side)."""
        book = self._books[symbol]
        bid = -book.bids.peekitem(0)[0] if book.bids else None
        ask = book.asks.peekitem(0)[0] if book.asks else None
        return bid, ask

    def last_price(self, symbol: str) -> Decimal | None:
        """The price of the last trade in ``symbol``, or None before any."""
        return self._books[symbol].last_price

    def version(self, symbol: str) -> int:
        """A counter that changes whenever ``symbol``'s visible book changes."""
        return self._books[symbol].version

    # -- requests -----------------------------------------------------------------

    def submit(self, owner: Any, symbol: str, amount: Number, price: Number | None = None,
               type: str = LIMIT, *, cid: int | None = None, gid: int | None = None,
               flags: int = 0, meta: Any = None) -> Result:
        """Place an order (Bitfinex ``on``).

        Args:
            owner: account key (or a market maker's id).
            symbol: e.g. ``"tBTCUSD"``.
            amount: signed amount, negative to sell.
            price: limit price; the trigger price for ``EXCHANGE STOP``; ignored
                for ``EXCHANGE MARKET``.
            type: one of :data:`ORDER_TYPES`.
            cid: client order id, echoed in the order.
            gid: group id, echoed in the order.
            flags: echoed in the order; 64 (hidden) and 4096 (post-only) change matching.
            meta: echoed in the order.

        Returns:
            A :class:`Result`; ``ok`` False with Bitfinex's error text when refused.
        """
        now = self._clock()
        echo = dict(cid=cid, gid=gid, symbol=symbol, type=type, flags=flags, meta=meta, mts=now)
        try:
            spec = self.pairs.get(symbol)
            if spec is None:
                raise _Reject(f"Invalid order: symbol {symbol} is not traded here")
            margin = type in MARGIN_ORDER_TYPES
            if type not in ORDER_TYPES and not margin:
                if type in _MARGIN_TYPES:
                    raise _Reject(f"Invalid order type: {type}: the sandbox trades margin LIMIT "
                                  "and MARKET orders, and EXCHANGE LIMIT, EXCHANGE MARKET, "
                                  "EXCHANGE STOP, EXCHANGE FOK and EXCHANGE IOC")
                raise _Reject(f"Invalid order type: {type}")
            kind = "EXCHANGE " + type if margin else type
            try:
                amt = _to_decimal(amount)
            except Exception:
                raise _Reject("Invalid order: amount is not a number") from None
            echo["amount"] = amt
            if not amt.is_finite():
                raise _Reject("Invalid order: amount is not a number")
            amt = amt.quantize(SATOSHI, rounding=ROUND_DOWN)
            if amt == 0 or abs(amt) < spec.min_size:
                raise _Reject(f"Invalid order: minimum size for {spec.display} is "
                              f"{js_number_text(float(spec.min_size))}")
            px: Decimal | None = None
            if kind != MARKET:
                try:
                    px = _to_decimal(price) if price is not None else None
                except Exception:
                    px = None
                if px is None or not px.is_finite() or px <= 0 or px > Decimal("1e15"):
                    raise _Reject("Invalid order: price is invalid")
                px = round_sig(px, PRICE_SIG_DIGITS)
            echo["price"] = px
            if flags is not None and (not isinstance(flags, int) or isinstance(flags, bool)):
                raise _Reject("Invalid order: flags is invalid")
            order = Order(id=None, gid=gid, cid=cid, owner=owner, symbol=symbol, amount=amt,
                          amount_orig=amt, price=px, type=type, type_prev=None, flags=flags or 0,
                          mts_create=now, mts_update=now, status="ACTIVE", fills=[],
                          exec_value=Decimal(0), exec_amount=Decimal(0), meta=meta,
                          reserved=Decimal(0), reserve_currency=None, placed=False,
                          margin=margin, kind=kind)
            self._check_funds(order, spec)
        except _Reject as exc:
            return Result(False, str(exc), order=self._echo(owner, echo))

        order.id = next(self._order_ids)
        op = _Op()
        accepted = order.view()
        op.head.append(OrderEvent("on", owner, accepted))
        self._execute_new(order, spec, op)
        self._run_stops(symbol, op)
        side = "buy" if amt > 0 else "sell"
        text = (f"Submitting {type.lower()} {side} order for "
                f"{js_number_text(float(amt))} {spec.base}.")
        return self._finish(Result(True, text, order=accepted), op)

    def cancel(self, owner: Any, id: int | None = None, cid: int | None = None,
               cid_date: str | None = None) -> Result:
        """Cancel one order by ``id``, or by ``cid`` and ``cid_date`` (``"YYYY-MM-DD"``)."""
        order = self._find(owner, id, cid, cid_date)
        if order is None:
            return Result(False, "Order not found.")
        view = order.view()
        op = _Op()
        self._close(order, self._cancel_status(order, "CANCELED"), op)
        return self._finish(Result(True, "Submitted for cancellation; waiting for confirmation "
                                         f"(ID: {order.id}).", order=view), op)

    def cancel_multi(self, owner: Any, ids: Iterable[int] = (), cids: Iterable = (),
                     gids: Iterable[int] = (), all: bool = False) -> Result:
        """Cancel several orders: by ids, by ``(cid, cid_date)`` pairs, by gids, or all."""
        targets: dict[int, Order] = {}
        mine = [o for o in self._orders.values() if o.owner == owner]
        if all:
            targets = {o.id: o for o in mine}
        else:
            idset = set(ids)
            gidset = set(gids)
            cidset = set()
            for item in cids:
                if isinstance(item, (list, tuple)) and len(item) >= 2:
                    cidset.add((item[0], item[1]))
            for o in mine:
                if o.id in idset or (o.gid is not None and o.gid in gidset) or \
                        (o.cid, o.cid_date) in cidset:
                    targets[o.id] = o
        op = _Op()
        views = []
        for o in sorted(targets.values(), key=lambda o: o.id):
            views.append(o.view())
            self._close(o, self._cancel_status(o, "CANCELED"), op)
        res = Result(True, f"Submitting {len(views)} order cancellations.", orders=views)
        return self._finish(res, op)

    def update(self, owner: Any, id: int, *, price: Number | None = None,
               amount: Number | None = None, delta: Number | None = None,
               flags: int | None = None, gid: int | None = None,
               cid: int | None = None, meta: Any = None) -> Result:
        """Change an open order (Bitfinex ``ou``): new ``price``, new signed ``amount`` or
        ``delta``.

        A new price or a larger size loses time priority, as on any exchange;
        the updated order may match at once as a taker.
        """
        order = self._orders.get(id)
        if order is None or order.owner != owner:
            return Result(False, "Order not found.")
        spec = self.pairs[order.symbol]
        try:
            new_price = order.price
            if price is not None:
                try:
                    new_price = round_sig(_finite(_to_decimal(price)), PRICE_SIG_DIGITS)
                except Exception:
                    raise _Reject("Invalid order: price is invalid") from None
                if new_price <= 0 or new_price > Decimal("1e15"):
                    raise _Reject("Invalid order: price is invalid")
            new_amount = order.amount
            try:
                if amount is not None:
                    new_amount = _finite(_to_decimal(amount)).quantize(SATOSHI, rounding=ROUND_DOWN)
                if delta is not None:
                    new_amount = new_amount + _finite(_to_decimal(delta)).quantize(
                        SATOSHI, rounding=ROUND_DOWN)
            except Exception:
                raise _Reject("Invalid order: amount is not a number") from None
            if new_amount != 0 and (new_amount > 0) != (order.amount > 0):
                raise _Reject("Invalid order: an update cannot turn a buy into a sell")
            if abs(new_amount) < spec.min_size:
                raise _Reject(f"Invalid order: minimum size for {spec.display} is "
                              f"{js_number_text(float(spec.min_size))}")
            new_flags = order.flags if flags is None else flags
            # Funds: what the order would reserve after the change, against what it holds now.
            need_cur, need = self._need(order, new_amount, new_price, spec)
            if need > self.available(owner, need_cur) + order.reserved:
                raise _Reject(self._funds_text(new_amount, spec, new_price))
        except _Reject as exc:
            return Result(False, str(exc), order=None)

        op = _Op()
        book = self._books[order.symbol]
        loses_priority = new_price != order.price or abs(new_amount) > abs(order.amount)
        if order.kind != STOP and loses_priority:
            self._unlink(order)  # before the price changes: the level is found by price
        order.amount_orig = order.amount_orig + (new_amount - order.amount)
        order.amount = new_amount
        order.price = new_price
        order.flags = new_flags or 0
        if gid is not None:
            order.gid = gid
        if cid is not None:
            order.cid = cid
        if meta is not None:
            order.meta = meta
        order.mts_update = self._clock()
        self._set_reserve(order, need_cur, need, op)
        text = (f"Submitting update to {order.type.lower()} {'buy' if order.is_buy else 'sell'} "
                f"order for {js_number_text(float(order.amount))} {spec.base}.")
        op.head.append(OrderEvent("ou", owner, order.view()))
        if order.kind != STOP and loses_priority:
            # Re-enter at the new terms, as a taker if it now crosses (post-only and all).
            self._execute_limit(order, spec, op)
        self._run_stops(order.symbol, op)
        book.version += 1
        return self._finish(Result(True, text, order=order.view()), op)

    # -- internals: admission -------------------------------------------------------

    def _echo(self, owner: Any, e: dict) -> OrderView:
        amt = e.get("amount")
        amt_f = float(amt) if isinstance(amt, Decimal) and amt.is_finite() else 0.0
        px = e.get("price")
        flags = e.get("flags")
        return OrderView(id=None, gid=e.get("gid"), cid=e.get("cid"), symbol=e.get("symbol"),
                         owner=owner, mts_create=e.get("mts"), mts_update=e.get("mts"),
                         amount=amt_f, amount_orig=amt_f, type=e.get("type"), type_prev=None,
                         flags=flags if isinstance(flags, int) else 0,
                         status=None, price=float(px) if isinstance(px, Decimal) else 0.0,
                         price_avg=0.0, hidden=False, meta=e.get("meta"))

    def _need(self, order: Order, amount: Decimal, price: Decimal | None,
              spec: PairSpec) -> tuple[str, Decimal]:
        """What ``order`` reserves at ``amount`` and ``price``: (currency, amount)."""
        if order.margin:
            cur = "margin:" + spec.quote
            if order.kind == MARKET or amount == 0:
                return cur, Decimal(0)
            # Not a market order, so it has its limit price.
            return cur, MarginAccounts.collateral(amount, cast(Decimal, price))
        return self._reserve_need(order.kind, amount, price, spec)

    @staticmethod
    def _reserve_need(type: str, amount: Decimal, price: Decimal | None,
                      spec: PairSpec) -> tuple[str, Decimal]:
        if amount < 0:
            return spec.base, -amount
        if type == MARKET:
            return spec.quote, Decimal(0)
        with localcontext() as ctx:
            ctx.prec = 60
            return spec.quote, amount * cast(Decimal, price)  # a limit buy: priced

    @staticmethod
    def _funds_text(amount: Decimal, spec: PairSpec, price: Decimal | None) -> str:
        at = f" at {js_number_text(float(price))}" if price is not None else ""
        return (f"Invalid order: not enough exchange balance for "
                f"{js_number_text(float(amount))} {spec.pair}{at}")

    def _check_funds(self, order: Order, spec: PairSpec) -> None:
        amount = order.amount
        if order.margin:
            self._check_margin(order, spec)
            return
        if order.kind == MARKET:
            if amount < 0:
                if -amount > self.available(order.owner, spec.base):
                    raise _Reject(self._funds_text(amount, spec, self.best(spec.symbol)[0]))
                return
            cost, worst = self._market_cost(spec.symbol, amount)
            if cost > self.available(order.owner, spec.quote):
                raise _Reject(self._funds_text(amount, spec, worst or self.best(spec.symbol)[1]))
            return
        cur, need = self._reserve_need(order.kind, amount, order.price, spec)
        if need > self.available(order.owner, cur):
            raise _Reject(self._funds_text(amount, spec, order.price))

    def _check_margin(self, order: Order, spec: PairSpec) -> None:
        amount, price = order.amount, order.price
        if order.kind == MARKET:
            if amount > 0:
                notional, price = self._market_cost(spec.symbol, amount)
            else:
                price = self.best(spec.symbol)[0] or Decimal(0)
                notional = -amount * price
            with localcontext() as ctx:
                ctx.prec = 60
                need = notional / MAX_LEVERAGE
        else:
            need = MarginAccounts.collateral(amount, cast(Decimal, price))  # limit: priced
        if need > self.available(order.owner, "margin:" + spec.quote):
            at = f" at {js_number_text(float(price))}" if price else ""
            raise _Reject(f"Invalid order: not enough tradable balance for "
                          f"{js_number_text(float(amount))} {spec.pair}{at}")

    def _market_cost(self, symbol: str, amount: Decimal) -> tuple[Decimal, Decimal | None]:
        """Quote needed to buy ``amount`` now by walking the asks, and the worst price."""
        left = amount
        cost = Decimal(0)
        worst = None
        with localcontext() as ctx:
            ctx.prec = 60
            for price, level in self._books[symbol].asks.items():
                for o in level.values():
                    q = min(left, -o.amount)
                    cost += (q * price).quantize(SATOSHI, rounding=ROUND_DOWN)
                    left -= q
                    worst = price
                    if left <= 0:
                        return cost, worst
        return cost, worst

    # -- internals: book ------------------------------------------------------------

    def _link(self, order: Order) -> None:
        book = self._books[order.symbol]
        price = cast(Decimal, order.price)  # only priced (limit) orders rest in the book
        if order.is_buy:
            side, key = book.bids, -price
        else:
            side, key = book.asks, price
        level = side.get(key)
        if level is None:
            level = side[key] = {}
        level[order.id] = order
        order.placed = True
        if not order.hidden:
            book.version += 1

    def _unlink(self, order: Order) -> bool:
        if not order.placed:
            return False
        book = self._books[order.symbol]
        # Side from the original sign: a fully filled maker has amount 0 here.
        price = cast(Decimal, order.price)  # placed, so a priced (limit) order
        side, key = (book.bids, -price) if order.is_buy else (book.asks, price)
        level = side.get(key)
        if level is not None and order.id in level:
            del level[order.id]
            if not level:
                del side[key]
        order.placed = False
        if not order.hidden:
            book.version += 1
        return True

    def _set_reserve(self, order: Order, currency: str | None, amount: Decimal, op: _Op) -> None:
        if order.reserve_currency is not None and order.reserved:
            k = (order.owner, order.reserve_currency)
            self._reserved[k] = self._reserved.get(k, Decimal(0)) - order.reserved
            op.wallets.setdefault(k, None)
        order.reserve_currency = currency
        order.reserved = amount
        if currency is not None and amount:
            k = (order.owner, currency)
            self._reserved[k] = self._reserved.get(k, Decimal(0)) + amount
            op.wallets.setdefault(k, None)

    def _refresh_reserve(self, order: Order, op: _Op) -> None:
        spec = self.pairs[order.symbol]
        if order.amount == 0 or order.kind == MARKET:
            self._set_reserve(order, None, Decimal(0), op)
        else:
            cur, need = self._need(order, order.amount, order.price, spec)
            self._set_reserve(order, cur, need, op)

    # -- internals: execution -------------------------------------------------------

    def _execute_new(self, order: Order, spec: PairSpec, op: _Op) -> None:
        self._orders[order.id] = order
        if order.kind == STOP:
            self._refresh_reserve(order, op)
            self._books[order.symbol].stops[order.id] = order
            return
        if order.kind == MARKET:
            self._match(order, spec, None, op)
            self._close(order, self._final_market_status(order), op)
            return
        self._execute_limit(order, spec, op)

    def _execute_limit(self, order: Order, spec: PairSpec, op: _Op) -> None:
        bid, ask = self.best(order.symbol)
        price = cast(Decimal, order.price)  # limit, FOK and IOC orders are priced
        crosses = (ask is not None and price >= ask) if order.amount > 0 else \
            (bid is not None and price <= bid)
        self._refresh_reserve(order, op)
        if order.flags & FLAG_POST_ONLY and order.kind == LIMIT and crosses:
            self._close(order, "POSTONLY CANCELED", op)
            return
        if order.kind == FOK and self._matchable(order) < abs(order.amount):
            self._close(order, "FILLORKILL CANCELED", op)
            return
        if crosses:
            self._match(order, spec, order.price, op)
        if order.amount == 0:
            self._close(order, self._exec_status(order), op)
        elif order.kind in (IOC, FOK):
            word = "IOC CANCELED" if order.kind == IOC else "FILLORKILL CANCELED"
            self._close(order, self._cancel_status(order, word), op)
        else:
            self._link(order)
            self._refresh_reserve(order, op)
            if order.fills:
                op.head.append(OrderEvent("ou", order.owner, order.view()))

    def _matchable(self, order: Order) -> Decimal:
        book = self._books[order.symbol]
        total = Decimal(0)
        if order.amount > 0:
            for price, level in book.asks.items():
                if price > order.price:
                    break
                total += sum((-o.amount for o in level.values()), Decimal(0))
        else:
            for negp, level in book.bids.items():
                if -negp < order.price:
                    break
                total += sum((o.amount for o in level.values()), Decimal(0))
        return total

    def _match(self, taker: Order, spec: PairSpec, limit: Decimal | None, op: _Op) -> None:
        book = self._books[taker.symbol]
        buy = taker.amount > 0
        opp = book.asks if buy else book.bids
        while taker.amount != 0 and opp:
            key, level = opp.peekitem(0)
            price = key if buy else -key
            if limit is not None and ((buy and price > limit) or (not buy and price < limit)):
                break
            for maker in list(level.values()):
                if taker.amount == 0:
                    break
                qty = min(abs(taker.amount), abs(maker.amount))
                if buy and taker.kind == MARKET and taker.reserved == 0 and not taker.margin:
                    # Market buys (and triggered stops) hold no reservation: cap by funds.
                    with localcontext() as ctx:
                        ctx.prec = 60
                        avail = self.available(taker.owner, spec.quote)
                        if (qty * price).quantize(SATOSHI, rounding=ROUND_DOWN) > avail:
                            qty = (avail / price).quantize(SATOSHI, rounding=ROUND_DOWN)
                            if qty <= 0:
                                taker.status = "INSUFFICIENT"
                                return
                            self._fill(taker, maker, qty, price, spec, op)
                            taker.status = "INSUFFICIENT"
                            return
                if not buy and taker.kind == MARKET and taker.reserved == 0 and not taker.margin:
                    avail = self.available(taker.owner, spec.base)
                    if qty > avail:
                        qty = avail.quantize(SATOSHI, rounding=ROUND_DOWN)
                        if qty > 0:
                            self._fill(taker, maker, qty, price, spec, op)
                        taker.status = "INSUFFICIENT"
                        return
                self._fill(taker, maker, qty, price, spec, op)

    def _fill(self, taker: Order, maker: Order, qty: Decimal, price: Decimal,
              spec: PairSpec, op: _Op) -> None:
        now = self._clock()
        book = self._books[taker.symbol]
        with localcontext() as ctx:
            ctx.prec = 60
            value = (qty * price).quantize(SATOSHI, rounding=ROUND_DOWN)
            sides = []
            positions: list = []
            for o, is_maker in ((taker, False), (maker, True)):
                rate = self.maker_fee if is_maker else self.taker_fee
                buy = o.amount > 0
                if o.margin:
                    # Margin: the position moves, the fee comes off the margin wallet.
                    fee = (value * rate).quantize(SATOSHI, rounding=ROUND_HALF_UP)
                    signed = qty if buy else -qty
                    positions += self.margin.fill(o.owner, o.symbol, spec.quote, signed, price,
                                                  fee)
                    o.amount -= signed
                    o.fills.append((price, signed))
                    o.exec_value += qty * price
                    o.exec_amount += qty
                    o.mts_update = now
                    sides.append((o, is_maker, signed, fee, spec.quote))
                    continue
                recv_cur = spec.base if buy else spec.quote
                recv = qty if buy else value
                fee = (recv * rate).quantize(SATOSHI, rounding=ROUND_HALF_UP)
                bal = self._balances.setdefault(o.owner, {})
                if buy:
                    bal[spec.quote] = bal.get(spec.quote, Decimal(0)) - value
                    bal[spec.base] = bal.get(spec.base, Decimal(0)) + qty - fee
                else:
                    bal[spec.base] = bal.get(spec.base, Decimal(0)) - qty
                    bal[spec.quote] = bal.get(spec.quote, Decimal(0)) + value - fee
                self.fees_collected[recv_cur] = self.fees_collected.get(recv_cur, Decimal(0)) + fee
                signed = qty if buy else -qty
                o.amount -= signed
                o.fills.append((price, signed))
                o.exec_value += qty * price
                o.exec_amount += qty
                o.mts_update = now
                sides.append((o, is_maker, signed, fee, recv_cur))
        for o, _, _, _, _ in sides:
            if o.placed or o.reserved:
                self._refresh_reserve(o, op)
            for cur in (("margin:" + spec.quote,) if o.margin else (spec.base, spec.quote)):
                op.wallets.setdefault((o.owner, cur), None)
        book.last_price = price
        tid = next(self._trade_ids)
        op.trades.append(PublicTrade(taker.symbol, tid, now, float(sides[0][2]), float(price)))
        for o, is_maker, signed, fee, cur in sides:
            common = dict(owner=o.owner, id=tid, symbol=o.symbol, mts=now, order_id=o.id,
                          exec_amount=float(signed), exec_price=float(price), order_type=o.type,
                          order_price=float(o.price) if o.price is not None else float(price),
                          maker=is_maker, cid=o.cid)
            op.head.append(TradeEvent("te", fee=None, fee_currency=None, **common))
            op.tail.append(TradeEvent("tu", fee=-float(fee), fee_currency=cur, **common))
        op.head.extend(positions)
        # The maker's own order update follows its trade.
        if maker.amount == 0:
            self._unlink(maker)
            self._close(maker, self._exec_status(maker), op)
        else:
            maker.status = self._partial_status(maker)
            if not maker.hidden:
                book.version += 1
            op.head.append(OrderEvent("ou", maker.owner, maker.view()))
        if taker.amount != 0:
            taker.status = self._partial_status(taker)

    def _run_stops(self, symbol: str, op: _Op) -> None:
        """Trigger stop orders on the last trade price, until none is left to trigger."""
        book = self._books[symbol]
        spec = self.pairs[symbol]
        while True:
            last = book.last_price
            if last is None:
                return
            # A stop's price is its trigger, never None.
            fired = [o for o in sorted(book.stops.values(), key=lambda o: o.id)
                     if (o.amount > 0 and last >= cast(Decimal, o.price))
                     or (o.amount < 0 and last <= cast(Decimal, o.price))]
            if not fired:
                return
            for o in fired:
                del book.stops[o.id]
                self._set_reserve(o, None, Decimal(0), op)
                o.type_prev, o.type, o.kind = STOP, MARKET, MARKET
                o.mts_update = self._clock()
                self._match(o, spec, None, op)
                self._close(o, self._final_market_status(o), op)

    # -- internals: statuses and closing ----------------------------------------------

    @staticmethod
    def _fill_texts(order: Order) -> list[str]:
        return [f"PARTIALLY FILLED @ {status_number(p)}({status_number(a)})"
                for p, a in order.fills]

    def _partial_status(self, order: Order) -> str:
        parts = self._fill_texts(order)
        return parts[-1] + (": was " + ", ".join(parts[:-1]) if len(parts) > 1 else "")

    def _exec_status(self, order: Order) -> str:
        p, a = order.fills[-1]
        head = f"EXECUTED @ {status_number(p)}({status_number(a)})"
        earlier = self._fill_texts(order)[:-1]
        return head + (": was " + ", ".join(earlier) if earlier else "")

    def _final_market_status(self, order: Order) -> str:
        if order.amount == 0:
            return self._exec_status(order)
        if order.status == "INSUFFICIENT":
            return self._cancel_status(order, "INSUFFICIENT BALANCE (G1)")
        return self._cancel_status(order, "CANCELED")

    def _cancel_status(self, order: Order, word: str) -> str:
        parts = self._fill_texts(order)
        return f"{word} was: " + ", ".join(parts) if parts else word

    def _close(self, order: Order, status: str, op: _Op) -> None:
        self._unlink(order)
        self._books[order.symbol].stops.pop(order.id, None)
        self._set_reserve(order, None, Decimal(0), op)
        self._orders.pop(order.id, None)
        order.status = status
        order.mts_update = self._clock()
        op.head.append(OrderEvent("oc", order.owner, order.view()))

    def _find(self, owner: Any, id: int | None, cid: int | None,
              cid_date: str | None) -> Order | None:
        if id is not None:
            o = self._orders.get(id)
            return o if o is not None and o.owner == owner else None
        if cid is None:
            return None
        for o in sorted(self._orders.values(), key=lambda o: o.id):
            if o.owner == owner and o.cid == cid and (cid_date is None or o.cid_date == cid_date):
                return o
        return None

    def _finish(self, res: Result, op: _Op) -> Result:
        events = list(op.head) + list(op.tail)
        for (owner, cur) in op.wallets:
            if cur.startswith("margin:"):
                events.append(WalletEvent(owner, "margin", cur[7:],
                                          float(self.margin.balance(owner, cur[7:])),
                                          float(self.available(owner, cur))))
                continue
            bal = self.balance(owner, cur)
            events.append(WalletEvent(owner, "exchange", cur, float(bal),
                                      float(self.available(owner, cur))))
        res.events = events
        res.trades = list(op.trades)
        return res


def floor_sig(value: Decimal, digits: int) -> Decimal:
    """Round down (toward -inf) to ``digits`` significant digits."""
    return round_sig(value, digits, ROUND_FLOOR)


def ceil_sig(value: Decimal, digits: int) -> Decimal:
    """Round up (toward +inf) to ``digits`` significant digits."""
    return round_sig(value, digits, ROUND_CEILING)

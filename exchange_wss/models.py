"""Typed events delivered to callbacks, shared by every exchange.

Each event is a small slots dataclass; ``raw`` keeps the decoded frame (or the
part of it the event came from) so nothing the exchange sent is lost, and
fields the exchange appends later stay reachable through it. Parsers never
unpack arrays to a fixed length: a missing trailing field becomes ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

__all__ = [
    "Ticker", "FundingTicker", "Trade", "FundingTrade", "TradesSnapshot",
    "BookSnapshot", "BookUpdate", "RawBookUpdate", "FundingBookUpdate",
    "FundingRawBookUpdate", "Candle", "CandlesSnapshot",
    "DerivativesStatus", "Liquidation", "Order", "Fill", "Wallet", "Position",
    "Notification", "Snapshot", "Info", "ConnectionState", "SubscriptionChanged",
    "StreamHealth",
    "BookTicker", "BookDiff", "BalanceUpdate", "UserEvent",
    # Binance derivatives and all-market streams
    "MarkPrice", "LiquidationOrder", "MiniTicker",
    # unified views across exchanges
    "Side", "OrderStatus", "BookLevel", "BookChange", "Depth", "order_status",
    "book_level_kind",
]


# -- unified vocabulary (shared by every exchange) ------------------------------------
# Everything in this block is computed on demand (properties, enums), so the
# per-frame parsers pay nothing for it.

class Side(StrEnum):
    """Buy or sell; a ``str``, so ``side == "buy"`` keeps working."""

    BUY = "buy"
    SELL = "sell"


class OrderStatus(StrEnum):
    """An order's status in one vocabulary (:attr:`Order.state`), from each exchange's words."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"


#: Binance's statuses (and FTX's lower-case words that coincide).
_STATUS_WORDS = {
    "NEW": OrderStatus.NEW, "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED, "CANCELED": OrderStatus.CANCELED,
    "CANCELLED": OrderStatus.CANCELED, "PENDING_CANCEL": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED, "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED, "ACTIVE": OrderStatus.NEW,
    "NEW_INSURANCE": OrderStatus.NEW, "NEW_ADL": OrderStatus.NEW,
}


def order_status(native: str | None, remaining: float | None = None,
                 original: float | None = None) -> OrderStatus | None:
    """Map an exchange's order status to :class:`OrderStatus` (None when unknown).

    Bitfinex writes sentences (``"EXECUTED @ 107.6(-0.2): was PARTIALLY FILLED
    @ ..."``): the first words decide. FTX says ``new``/``open``/``closed``;
    ``remaining`` and ``original`` (absolute sizes) tell a filled order from a
    cancelled one and an untouched open order from a partly filled one.
    """
    if not native:
        return None
    word = native.upper()
    known = _STATUS_WORDS.get(word)
    if known is not None:
        if known is OrderStatus.NEW and remaining is not None and original \
                and remaining < original:
            return OrderStatus.PARTIALLY_FILLED
        return known
    if word.startswith("EXECUTED"):
        return OrderStatus.FILLED
    if word.startswith("PARTIALLY FILLED"):
        return OrderStatus.PARTIALLY_FILLED
    if word.startswith("RSN_"):  # RSN_DUST, RSN_PAUSE: refused by the exchange
        return OrderStatus.REJECTED
    if "CANCELED" in word or word.startswith("INSUFFICIENT"):
        return OrderStatus.CANCELED
    if word == "OPEN":  # FTX
        if remaining is not None and original and remaining < original:
            return OrderStatus.PARTIALLY_FILLED
        return OrderStatus.NEW
    if word == "CLOSED":  # FTX: filled unless something remained
        if remaining is None:
            return None
        return OrderStatus.FILLED if remaining == 0 else OrderStatus.CANCELED
    return None


def _side_of(amount: float | None) -> Side | None:
    if amount is None:
        return None
    return Side.BUY if amount > 0 else Side.SELL


class BookLevel(NamedTuple):
    """One price level as every exchange's book is read in the unified view.

    A tuple, so ``level[0]`` is the price and ``level[1]`` the size (never
    negative; the side is the list it is in). ``count`` is Bitfinex's number of
    orders at the level (None elsewhere); ``order_id`` is set in raw books.
    """

    price: float
    size: float
    # Bitfinex's name for the orders at a level: the public field shadows
    # tuple.count(), which no one calls on a level.
    count: int | None = None  # type: ignore[assignment]
    order_id: int | None = None


def book_level_kind(kind: str, funding: bool = False) -> str:
    """The :attr:`BookSnapshot.kind` of an order book of ``kind`` (``"price"``, ``"raw"``,
    ``"size"``), funding or not."""
    if funding:
        return "funding-raw" if kind == "raw" else "funding"
    return kind


def _level(kind: str | None, entry: tuple[Any, ...]) -> BookLevel:
    if kind == "price":          # Bitfinex (price, count, amount)
        return BookLevel(entry[0], abs(entry[2]), entry[1])
    if kind == "raw":            # Bitfinex (order_id, price, amount)
        return BookLevel(entry[1], abs(entry[2]), None, entry[0])
    if kind == "funding":        # Bitfinex (rate, period, count, amount)
        return BookLevel(entry[0], abs(entry[3]), entry[2])
    if kind == "funding-raw":    # Bitfinex (offer_id, period, rate, amount)
        return BookLevel(entry[2], abs(entry[3]), None, entry[0])
    return BookLevel(entry[0], entry[1])  # (price, size): Binance, FTX


class BookChange:
    """What every book-change event is: :class:`BookUpdate` and :class:`RawBookUpdate`
    (Bitfinex, one level) and :class:`BookDiff` (Binance, FTX, several).

    Read ``bids`` and ``asks`` as ``(price, size)`` pairs, size 0 meaning the
    level is gone, whatever the exchange.
    """

    __slots__ = ()

    @property
    def changes(self) -> list[tuple[Side, float, float]]:
        """``(side, price, size)`` for every level changed; size 0 deletes."""
        out = [(Side.BUY, p, s) for p, s, *_ in self.bids]  # type: ignore[attr-defined]
        out += [(Side.SELL, p, s) for p, s, *_ in self.asks]  # type: ignore[attr-defined]
        return out


class _SignedChange(BookChange):
    """A Bitfinex book change of one level or order: the amount's sign is the side
    (positive: a bid), ``size`` says how much is left (0: gone)."""

    __slots__ = ()
    price: float
    amount: float

    @property
    def size(self) -> float:  # defined by each change
        raise NotImplementedError

    @property
    def bids(self) -> list[tuple[float, float]]:
        """``[(price, size)]`` when the change is on the bid side, else ``[]``."""
        return [(self.price, self.size)] if self.amount > 0 else []

    @property
    def asks(self) -> list[tuple[float, float]]:
        """``[(price, size)]`` when the change is on the ask side, else ``[]``."""
        return [] if self.amount > 0 else [(self.price, self.size)]


@dataclass(slots=True)
class Depth:
    """An order book in the unified view: ``bids``/``asks`` best first, as :class:`BookLevel`.

    What :func:`exchange_wss.aio` ``stream_depth`` yields after each change.
    """

    symbol: str
    bids: list[BookLevel]
    asks: list[BookLevel]
    mts: int | None = None

    @property
    def best_bid(self) -> BookLevel | None:
        """The best bid, or None."""
        return self.bids[0] if self.bids else None

    @property
    def best_ask(self) -> BookLevel | None:
        """The best ask, or None."""
        return self.asks[0] if self.asks else None

    @property
    def spread(self) -> float | None:
        """Best ask minus best bid, or None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.asks[0].price - self.bids[0].price


@dataclass(slots=True)
class Ticker:
    """Best bid/ask and daily statistics of a trading pair.

    A field the venue does not send is None: Binance's futures tickers carry no
    best bid or ask, FTX's no daily statistics (and a bid, an ask or a last
    price may each be missing); Bitfinex sends them all.
    """

    symbol: str
    bid: float | None
    bid_size: float | None
    ask: float | None
    ask_size: float | None
    daily_change: float | None
    daily_change_relative: float | None
    last_price: float | None
    volume: float | None
    high: float | None
    low: float | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class FundingTicker:
    """Ticker of a funding currency (``fUSD``): rates instead of prices."""

    symbol: str
    frr: float
    bid: float
    bid_period: int
    bid_size: float
    ask: float
    ask_period: int
    ask_size: float
    daily_change: float
    daily_change_relative: float
    last_price: float
    volume: float
    high: float
    low: float
    frr_amount_available: float | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Trade:
    """A public trade. ``amount`` > 0 is a buy (taker bought), < 0 a sell.

    ``kind`` says where it came from: ``"snapshot"``, ``"te"`` (executed, fast)
    or ``"tu"`` (the same trade confirmed later, Bitfinex only).
    """

    symbol: str
    id: int
    mts: int | None  # None when the venue's time could not be read
    amount: float
    price: float
    kind: str = "te"
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> Side:
        """:attr:`Side.BUY` or :attr:`Side.SELL` (equal to ``"buy"``/``"sell"``),
        from the sign of ``amount``."""
        return Side.BUY if self.amount > 0 else Side.SELL

    @property
    def size(self) -> float:
        """Absolute traded amount."""
        return abs(self.amount)


@dataclass(slots=True)
class FundingTrade:
    """A public funding trade (``fte``/``ftu``): a rate for a period in days."""

    symbol: str
    id: int
    mts: int
    amount: float
    rate: float
    period: int
    kind: str = "fte"
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class TradesSnapshot:
    """The recent trades sent on subscribe, oldest first."""

    symbol: str
    trades: list[Any]
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BookSnapshot:
    """A whole order book as sent on subscribe (and after a resync).

    ``bids`` and ``asks`` are best first. Levels are ``(price, count, amount)``
    for aggregated books, ``(order_id, price, amount)`` for raw books, and
    ``(price, size)`` where the exchange sends no count. Amounts keep
    Bitfinex's sign (asks negative). :attr:`bid_levels` and :attr:`ask_levels`
    read any of these shapes as ``(price, size)`` :class:`BookLevel` s.

    ``kind`` names the shape: ``"price"``, ``"raw"``, ``"funding"``,
    ``"funding-raw"`` or ``"size"`` (None: ``"size"``).
    """

    symbol: str
    bids: list[tuple[Any, ...]]
    asks: list[tuple[Any, ...]]
    raw: Any = field(default=None, repr=False, compare=False)
    #: False for a copy of a maintained book that is not (or no longer) in sync
    #: with the exchange: not yet snapshotted, resyncing, or its connection down.
    synced: bool = True
    kind: str | None = None

    @property
    def bid_levels(self) -> list[BookLevel]:
        """The bids as :class:`BookLevel` (``(price, size)``, count kept), best first."""
        kind = self.kind
        return [_level(kind, e) for e in self.bids]

    @property
    def ask_levels(self) -> list[BookLevel]:
        """The asks as :class:`BookLevel` (``(price, size)``, count kept), best first."""
        kind = self.kind
        return [_level(kind, e) for e in self.asks]


@dataclass(slots=True)
class BookUpdate(_SignedChange):
    """One aggregated level changed. ``count == 0`` deletes the level.

    As a :class:`BookChange`, ``bids``/``asks`` hold the one level as
    ``(price, size)`` (size 0 when deleted).
    """

    symbol: str
    price: float
    count: int
    amount: float
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> str:
        """``"bid"`` or ``"ask"`` (trading books: positive amount is a bid)."""
        return "bid" if self.amount > 0 else "ask"

    @property
    def size(self) -> float:
        """The level's size now (0: deleted)."""
        return abs(self.amount) if self.count else 0.0


@dataclass(slots=True)
class RawBookUpdate(_SignedChange):
    """One order changed in a raw (R0) book. ``price == 0`` deletes it.

    As a :class:`BookChange` it reads as the order's ``(price, size)``; a
    deletion (price 0) is ``(0, 0)`` on the side of the amount's sign.
    """

    symbol: str
    order_id: int
    price: float
    amount: float
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def size(self) -> float:
        """The order's size now (0: deleted)."""
        return abs(self.amount) if self.price else 0.0


@dataclass(slots=True)
class FundingBookUpdate:
    """One level changed in a Bitfinex funding book (``fUSD``). ``count == 0`` deletes it.

    Funding books are keyed by (rate, period) and their side is reversed:
    a negative ``amount`` is a bid (demand), a positive one an offer.
    """

    symbol: str
    rate: float
    period: int
    count: int
    amount: float
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> str:
        """``"bid"`` or ``"ask"`` (funding: negative amount is a bid)."""
        return "bid" if self.amount < 0 else "ask"


@dataclass(slots=True)
class FundingRawBookUpdate:
    """One offer changed in a raw funding book. ``rate == 0`` deletes it."""

    symbol: str
    offer_id: int
    period: int
    rate: float
    amount: float
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> str:
        """``"bid"`` or ``"ask"`` (funding: negative amount is a bid)."""
        return "bid" if self.amount < 0 else "ask"


@dataclass(slots=True)
class Candle:
    """An OHLCV candle; ``mts`` is its open time in ms."""

    symbol: str
    timeframe: str
    mts: int | None  # None when the venue's time could not be read
    open: float
    close: float
    high: float
    low: float
    volume: float
    raw: Any = field(default=None, repr=False, compare=False)
    #: Binance ``k.x``: True once the candle is final (None where not sent).
    #: After ``raw`` so positional construction by older parsers is unchanged.
    closed: bool | None = None


@dataclass(slots=True)
class CandlesSnapshot:
    """The candles sent on subscribe, oldest first (Bitfinex sends newest first)."""

    symbol: str
    timeframe: str
    candles: list[Candle]
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class DerivativesStatus:
    """A ``deriv:`` status row: prices, funding and open interest of a perpetual."""

    key: str
    mts: int
    deriv_price: float | None
    spot_price: float | None
    insurance_fund_balance: float | None
    next_funding_evt_mts: int | None
    next_funding_accrued: float | None
    next_funding_step: int | None
    current_funding: float | None
    mark_price: float | None
    open_interest: float | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Liquidation:
    """A ``liq:global`` liquidation."""

    pos_id: int
    mts: int
    symbol: str
    amount: float
    base_price: float
    is_match: int | None
    is_market_sold: int | None
    liquidation_price: float | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Order:
    """One of the user's orders. ``amount`` < 0 is a sell; ``amount`` is what remains.

    ``kind`` is the stream it came from (Bitfinex ``os``/``on``/``ou``/``oc``,
    Binance/FTX ``"update"``).
    """

    id: int | None
    gid: int | None
    cid: int | None
    symbol: str | None
    mts_create: int | None
    mts_update: int | None
    amount: float | None
    amount_orig: float | None
    type: str | None
    status: str | None
    price: float | None
    price_avg: float | None
    flags: int | None
    kind: str = "on"
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> Side | None:
        """:attr:`Side.BUY` or :attr:`Side.SELL` from the original amount's sign."""
        return _side_of(self.amount_orig)

    @property
    def state(self) -> OrderStatus | None:
        """:attr:`status` (the exchange's words) as one :class:`OrderStatus`."""
        remaining = None if self.amount is None else abs(self.amount)
        original = None if self.amount_orig is None else abs(self.amount_orig)
        return order_status(self.status, remaining, original)

    @property
    def filled(self) -> float | None:
        """Absolute amount executed so far."""
        if self.amount_orig is None or self.amount is None:
            return None
        return abs(self.amount_orig - self.amount)

    @property
    def remaining(self) -> float | None:
        """Absolute amount not executed (yet)."""
        return None if self.amount is None else abs(self.amount)


@dataclass(slots=True)
class Fill:
    """An execution of one of the user's orders (a private trade).

    ``amount`` is signed (< 0 sold); ``maker`` is True for a maker fill. ``fee``
    is reported as the exchange does (Bitfinex: negative = paid) and may be
    ``None`` until confirmed (Bitfinex ``te``; ``tu`` carries it).
    """

    id: int
    symbol: str
    mts: int | None  # None when the venue's time could not be read
    order_id: int
    amount: float
    price: float
    fee: float | None = None
    fee_currency: str | None = None
    maker: bool | None = None
    order_type: str | None = None
    order_price: float | None = None
    cid: int | None = None
    fee_rate: float | None = None
    kind: str = "te"
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> Side:
        """:attr:`Side.BUY` or :attr:`Side.SELL`."""
        return Side.BUY if self.amount > 0 else Side.SELL

    @property
    def size(self) -> float:
        """Absolute executed amount."""
        return abs(self.amount)

    @property
    def liquidity(self) -> str | None:
        """``"maker"`` or ``"taker"`` (FTX's word for :attr:`maker`)."""
        if self.maker is None:
            return None
        return "maker" if self.maker else "taker"

    @property
    def market(self) -> str:
        """:attr:`symbol` under FTX's name."""
        return self.symbol

    @property
    def trade_id(self) -> int:
        """:attr:`id` under FTX's name."""
        return self.id

    @property
    def time(self) -> int | None:
        """:attr:`mts` (ms) under FTX's name."""
        return self.mts


@dataclass(slots=True)
class Wallet:
    """A balance in one wallet (Bitfinex ``exchange``/``margin``/``funding``;
    Binance ``spot``...)."""

    type: str
    currency: str
    balance: float
    unsettled_interest: float | None = None
    available: float | None = None
    kind: str = "wu"
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Position:
    """A margin or derivatives position. ``amount`` < 0 is short."""

    symbol: str
    status: str | None
    amount: float
    base_price: float | None
    pl: float | None = None
    price_liq: float | None = None
    leverage: float | None = None
    id: int | None = None
    kind: str = "pu"
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Notification:
    """An exchange notification (Bitfinex ``n``): the answer to a request.

    ``type`` is e.g. ``"on-req"``; ``status`` ``"SUCCESS"``, ``"ERROR"`` or
    ``"FAILURE"``. ``data`` is an :class:`Order` for order requests, else the
    decoded payload.
    """

    mts: float | None
    type: str
    status: str | None
    text: str | None
    data: Any
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when ``status`` is ``"SUCCESS"``."""
        return self.status == "SUCCESS"


@dataclass(slots=True)
class Snapshot:
    """A list of account items sent after authenticating (``os``, ``ws``, ``ps``...).

    ``kind`` is the stream abbreviation; ``items`` are typed where a type
    exists (orders, wallets, positions), else decoded rows.
    """

    kind: str
    items: list[Any]
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Info:
    """An ``info`` event from the server (``code`` None for the greeting)."""

    code: int | None
    msg: str | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ConnectionState:
    """A connection changed state: ``"connected"``, ``"disconnected"``,
    ``"reconnected"``, ``"authenticated"``, ``"paused"``, ``"resumed"``, ``"gave_up"``.

    ``connection`` names the connection (``"auth"``, ``"public-0"``...).
    """

    state: str
    connection: str
    reason: str | None = None


@dataclass(slots=True)
class SubscriptionChanged:
    """A subscription changed state (on ``on_event``).

    ``state`` and ``previous`` are lifecycle states: ``"requested"``, ``"sent"``,
    ``"active"``, ``"resyncing"``, ``"unsubscribing"``, ``"gone"``, ``"failed"``.
    ``subscription`` is the handle ``subscribe_to_*`` returned.
    """

    label: str
    state: str
    previous: str
    subscription: Any = field(default=None, repr=False, compare=False)
    reason: str | None = None


@dataclass(slots=True)
class StreamHealth:
    """A subscription's health changed state (on ``on_event``).

    Health says whether data flows, on top of the lifecycle that
    :class:`SubscriptionChanged` reports (what the server agreed to): a
    subscription can be ``active`` and ``stale``. ``state`` and ``previous`` are
    health states: ``"pending"``, ``"live"``, ``"resyncing"``, ``"stale"``,
    ``"failed"``. ``signal`` says what happened: ``"first_data"`` (its first data
    ever), ``"stale"`` (no data for ``stale_after`` seconds, connection open),
    ``"recovered"`` (data again after being stale, interrupted or resynced),
    ``"failed"`` (cannot be restored: refused every time, or its connection gave
    up), ``"resyncing"``, ``"interrupted"`` (back to pending: its connection
    closed, or it is subscribed again) or ``"retrying"`` (a failed subscription
    tried again on a new connection). ``reason`` says the same in words (``"no
    data for 10s while public-0 is open"``); ``connection`` names the connection
    carrying it; ``subscription`` is the handle ``subscribe_to_*`` returned, whose
    ``health`` has the figures.
    """

    label: str
    state: str
    previous: str
    signal: str
    reason: str | None = None
    connection: str | None = None
    subscription: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BookTicker:
    """Best bid and ask with their sizes (Binance ``bookTicker``)."""

    symbol: str
    bid: float | None
    bid_size: float | None
    ask: float | None
    ask_size: float | None
    update_id: int | None = None
    mts: int | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BookDiff(BookChange):
    """One diff-depth event (Binance ``depthUpdate``): absolute sizes, size 0 deletes.

    ``bids``/``asks`` are ``(price, size)`` as sent; ``first_update_id`` and
    ``last_update_id`` are ``U``/``u``, ``prev_update_id`` the futures ``pu``.
    """

    symbol: str
    bids: list[tuple[Any, ...]]
    asks: list[tuple[Any, ...]]
    first_update_id: int | None
    last_update_id: int | None
    prev_update_id: int | None = None
    mts: int | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BalanceUpdate:
    """A change of one balance by ``delta`` (Binance ``balanceUpdate``: deposits,
    withdrawals, transfers). Not a balance: the new total is not sent."""

    type: str
    currency: str
    delta: float
    mts: int | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class UserEvent:
    """An account event without a dedicated model; ``type`` is the exchange's
    event name (``"listStatus"``, ``"MARGIN_CALL"``...), the fields are in ``raw``."""

    type: str | None
    mts: int | None
    raw: Any = field(default=None, repr=False, compare=False)


# -- Binance derivatives and all-market streams -------------------------------------------

@dataclass(slots=True)
class MarkPrice:
    """Mark price and funding of a futures contract (Binance ``markPriceUpdate``).

    ``funding_rate`` (a fraction per funding period: ``0.0001`` is 0.01 %) and
    ``next_funding_mts`` are None where the contract has no funding (COIN-M
    delivery contracts send ``"r": ""`` and ``"T": 0``) or the frame lacks them.
    ``settle_price`` is Binance's estimated settle price, meaningful only in the
    hour before a settlement.
    """

    symbol: str
    mark_price: float | None
    index_price: float | None
    settle_price: float | None
    funding_rate: float | None
    next_funding_mts: int | None
    mts: int | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class LiquidationOrder:
    """A forced liquidation order of some account (Binance ``forceOrder``).

    Binance pushes at most one per symbol per second, the latest, so this is a
    sample of liquidations, not all of them. ``amount`` is the order's quantity,
    signed by its side (< 0: the order sells, closing a long); ``filled`` is the
    cumulative and ``last_filled`` the last executed quantity. COIN-M sizes are
    contracts, and ``pair`` names the underlying (``"BTCUSD"``).
    """

    symbol: str
    amount: float
    price: float | None
    avg_price: float | None
    status: str | None
    filled: float | None
    last_filled: float | None
    order_type: str | None
    time_in_force: str | None
    mts: int | None
    pair: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)

    @property
    def side(self) -> str:
        """``"buy"`` or ``"sell"``: the liquidation order's side."""
        return "buy" if self.amount > 0 else "sell"


@dataclass(slots=True)
class MiniTicker:
    """24-hour rolling statistics without best bid/ask (Binance ``24hrMiniTicker``).

    ``volume`` is the base-asset volume and ``quote_volume`` the quote-asset
    volume, except on COIN-M, where ``volume`` counts contracts and
    ``quote_volume`` is the base-asset volume (Binance's ``v`` and ``q``).
    """

    symbol: str
    open: float | None
    close: float | None
    high: float | None
    low: float | None
    volume: float | None
    quote_volume: float | None
    mts: int | None
    pair: str | None = None
    raw: Any = field(default=None, repr=False, compare=False)

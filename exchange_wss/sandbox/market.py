"""A seeded, reproducible simulated market, and the public views derived from it.

Market makers keep resting orders IN the :class:`~.engine.MatchingEngine`
(so a user's order trades against them, and a user's resting order is hit when
the price walks into it), re-quoting around a mean-reverting random walk at each
:meth:`SimulatedMarket.tick`; a random taker crosses the spread now and then,
which makes public trades. The same seed and the same number of ticks always
give the same books, trades and prices (timestamps come from the injected
clock).

Pairs: ``tBTCUSD``, ``tETHUSD``, ``tXRPBTC`` (priced around 6.5e-7 so that
e-notation such as ``6.5e-7`` appears on the wire, as it does for real
low-priced pairs), the funding book ``fUSD`` (simulated offers and bids, not
tradable by users), a perpetual's ``deriv:tBTCF0:USTF0`` status and a
``liq:global`` liquidation feed.

Public views (books P0-P4 and R0, ticker, trades, candles, status) are built
here as wire-ready lists of floats; :class:`BookMirror` keeps what a client
holds of a book and computes Bitfinex's checksum over it.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import itertools
import math
import random
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, cast

from exchange_wss.numtext import crc32_signed, js_number_text

from .engine import (
    LIMIT,
    MARKET,
    PRICE_SIG_DIGITS,
    MatchingEngine,
    PairSpec,
    PublicTrade,
    Result,
    round_sig,
)

__all__ = [
    "SimulatedMarket", "TradingSim", "BookView", "BookMirror", "book_checksum",
    "DEFAULT_TRADING", "PRECISIONS", "BOOK_LENGTHS", "TIMEFRAMES", "FUNDING_SYMBOL",
    "DERIV_KEY", "LIQ_KEY", "aggregate_price", "timeframe_bucket",
]

PRECISIONS = ("P0", "P1", "P2", "P3", "P4", "R0")
BOOK_LENGTHS = (1, 25, 100, 250)
TIMEFRAMES = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
              "1h": 3_600_000, "3h": 10_800_000, "6h": 21_600_000, "12h": 43_200_000,
              "1D": 86_400_000, "1W": 604_800_000, "14D": 1_209_600_000, "1M": None}
FUNDING_SYMBOL = "fUSD"
FUNDING_PERIODS = (2, 7, 30, 120)
DERIV_KEY = "deriv:tBTCF0:USTF0"
LIQ_KEY = "liq:global"
CANDLE_HISTORY = 240
TRADE_HISTORY = 1000


@dataclass(frozen=True)
class TradingSim:
    """How one trading pair is simulated.

    Attributes:
        pair: the engine pair.
        start: starting mid price (also the walk's anchor).
        sigma: relative standard deviation of the mid per tick.
        spacing: market makers' grid spacing, in units of the price's 5th
            significant digit.
        levels: price levels quoted per side.
        lot: market makers' order size range (base currency).
        taker_lot: random takers' order size range.
        taker_prob: chance per tick of a random taker order.
    """

    pair: PairSpec
    start: Decimal
    sigma: float
    spacing: int
    levels: int
    lot: tuple
    taker_lot: tuple
    taker_prob: float


#: The simulated pairs (``tBTCUSD``, ``tETHUSD``, ``tXRPBTC``): spec, start price, volatility,
#: book shape and trading of the simulated market makers.
#:
#: :meta hide-value:
DEFAULT_TRADING = (
    TradingSim(PairSpec("tBTCUSD", "BTC", "USD", Decimal("0.0002")), Decimal("60000"),
               0.0004, 1, 40, (0.01, 1.5), (0.001, 0.3), 0.7),
    TradingSim(PairSpec("tETHUSD", "ETH", "USD", Decimal("0.004")), Decimal("3000"),
               0.0005, 1, 40, (0.1, 25.0), (0.01, 4.0), 0.6),
    TradingSim(PairSpec("tXRPBTC", "XRP", "BTC", Decimal("4")), Decimal("0.00000065"),
               0.0006, 2, 30, (100.0, 30000.0), (10.0, 3000.0), 0.5),
)

_SIM_BALANCES = {"USD": "1000000000000", "BTC": "100000000", "ETH": "1000000000",
                 "XRP": "1000000000000"}


def aggregate_price(price: Decimal, precision: str, bid: bool) -> Decimal:
    """The level price of ``price`` in a ``P0``..``P4`` book.

    P0 keeps 5 significant digits, P1 4, ... P4 1. Bids round down and asks
    round up, so that an aggregated book is never crossed (a bid and an ask
    never share a level).
    """
    digits = PRICE_SIG_DIGITS - int(precision[1])
    return round_sig(price, digits, ROUND_FLOOR if bid else ROUND_CEILING)


def _f(value: Decimal, digits: int = 8) -> float:
    return float(round(value, digits)) if isinstance(value, Decimal) else round(value, digits)


def timeframe_bucket(mts: int, tf: str) -> int:
    """Start (ms) of the candle of timeframe ``tf`` holding ``mts``; months are calendar months."""
    step = TIMEFRAMES[tf]
    if step is not None:
        return mts - mts % step
    d = _dt.datetime.fromtimestamp(mts / 1000, _dt.UTC)
    return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000


def _prev_bucket(start: int, tf: str) -> int:
    step = TIMEFRAMES[tf]
    if step is not None:
        return start - step
    d = _dt.datetime.fromtimestamp(start / 1000, _dt.UTC)
    y, m = (d.year, d.month - 1) if d.month > 1 else (d.year - 1, 12)
    return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000


@dataclass(frozen=True)
class BookView:
    """One side-split public book view: wire entries, best first."""

    bids: list
    asks: list


# -- book mirror and checksum ---------------------------------------------------------

def book_checksum(bids: list, asks: list) -> int:
    """Bitfinex's book checksum over entries as written on the wire.

    Top 25 per side interleaved (bid then ask), each as its key (price, or the
    order/offer id in raw books: the entry's first element) and its amount (last
    element, sign kept), the JS number text joined with ``":"``; signed CRC32.
    """
    parts: list = []
    for i in range(25):
        if i < len(bids):
            parts.append(js_number_text(bids[i][0]))
            parts.append(js_number_text(bids[i][-1]))
        if i < len(asks):
            parts.append(js_number_text(asks[i][0]))
            parts.append(js_number_text(asks[i][-1]))
    return crc32_signed(":".join(parts))


class BookMirror:
    """What a client holds of one book channel: snapshot plus updates, with the delete rules.

    The server keeps one per book subscription, diffs the market's current view
    against it to produce updates, and computes the checksum over it, so the
    checksum always covers exactly the numbers the client was sent.

    Args:
        funding: funding book (``[RATE,PERIOD,COUNT,AMOUNT]``; AMOUNT<0 is a bid).
        raw: raw book (R0): entries are keyed by order/offer id.
    """

    def __init__(self, funding: bool = False, raw: bool = False):
        self.funding = funding
        self.raw = raw
        self.bids: dict = {}
        self.asks: dict = {}

    # entry layouts: trading P [PRICE,COUNT,AMOUNT]; trading R0 [ID,PRICE,AMOUNT];
    # funding P [RATE,PERIOD,COUNT,AMOUNT]; funding R0 [ID,PERIOD,RATE,AMOUNT]
    def key(self, entry) -> Any:
        """The entry's book key: its id (R0), its price, or its (rate, period) (funding P)."""
        if self.raw:
            return entry[0]
        return (entry[0], entry[1]) if self.funding else entry[0]

    def is_bid(self, entry) -> bool:
        """Whether the entry is on the bid side (funding: a negative amount)."""
        return entry[-1] < 0 if self.funding else entry[-1] > 0

    def is_delete(self, entry) -> bool:
        """Whether the entry deletes its level or order (P: count 0; R0: price or rate 0)."""
        if self.raw:
            return entry[2 if self.funding else 1] == 0
        return entry[-2] == 0

    def delete_entry(self, entry, bid: bool) -> list:
        """The entry that deletes ``entry``'s level or order, on its side."""
        sign = (-1 if bid else 1) if self.funding else (1 if bid else -1)
        if self.raw:
            return [entry[0], entry[1], 0, sign] if self.funding else [entry[0], 0, sign]
        return [entry[0], entry[1], 0, sign] if self.funding else [entry[0], 0, sign]

    def snapshot(self, entries) -> None:
        """Replace the book with a snapshot's entries."""
        self.bids, self.asks = {}, {}
        for e in entries:
            self.apply(e)

    def apply(self, entry) -> None:
        """Apply one update: delete (COUNT 0 / PRICE 0) or add-or-replace."""
        entry = list(entry)
        bid = self.is_bid(entry)
        side = self.bids if bid else self.asks
        k = self.key(entry)
        if self.is_delete(entry):
            side.pop(k, None)
        else:
            (self.asks if bid else self.bids).pop(k, None)
            side[k] = entry

    def _price(self, entry):
        if self.raw:
            return entry[2] if self.funding else entry[1]
        return entry[0]

    def sorted_sides(self) -> tuple[list, list]:
        """Bids best (highest) first and asks best (lowest) first; raw ties by lower id."""
        if self.raw:
            bids = sorted(self.bids.values(), key=lambda e: (-self._price(e), e[0]))
            asks = sorted(self.asks.values(), key=lambda e: (self._price(e), e[0]))
        elif self.funding:
            bids = sorted(self.bids.values(), key=lambda e: (-e[0], e[1]))
            asks = sorted(self.asks.values(), key=lambda e: (e[0], e[1]))
        else:
            bids = sorted(self.bids.values(), key=lambda e: -e[0])
            asks = sorted(self.asks.values(), key=lambda e: e[0])
        return bids, asks

    def checksum(self) -> int:
        """The checksum Bitfinex would send for this book."""
        bids, asks = self.sorted_sides()
        return book_checksum(bids, asks)

    def diff(self, view: BookView) -> list:
        """Updates that turn this mirror into ``view``: deletes first, then adds/changes.

        Does not apply them (the caller applies each as it sends it).
        """
        out = []
        for mine, theirs, bid in ((self.bids, view.bids, True), (self.asks, view.asks, False)):
            wanted = {self.key(e): e for e in theirs}
            for k, e in mine.items():
                if k not in wanted:
                    out.append(self.delete_entry(e, bid))
        for mine, theirs in ((self.bids, view.bids), (self.asks, view.asks)):
            for e in theirs:
                k = self.key(e)
                if mine.get(k) != list(e):
                    out.append(list(e))
        return out


# -- funding --------------------------------------------------------------------------

class _Funding:
    """A simulated funding book for one currency: offers (amount>0) and bids (amount<0)."""

    def __init__(self, rng: random.Random, ids, clock):
        self.rng = rng
        self.clock = clock
        self.ids = ids
        self.trade_ids = itertools.count(3_000_000_001)
        self.frr = 0.0002
        self.offers: dict[int, list] = {}   # id -> [rate Decimal, period, amount Decimal]
        self.version = 0
        self.last_rate: Decimal = Decimal("0.0002")
        self.trades: deque = deque(maxlen=TRADE_HISTORY)

    def tick(self) -> list:
        rng = self.rng
        self.frr = max(0.00002, self.frr * math.exp(rng.gauss(0, 0.01)
                                                    - 0.05 * math.log(self.frr / 0.0002)))
        frr = Decimal(repr(self.frr))
        for oid, (rate, _period, amount) in list(self.offers.items()):
            wrong = (amount > 0 and rate <= frr) or (amount < 0 and rate >= frr)
            if wrong or rng.random() < 0.05:
                del self.offers[oid]
                self.version += 1
        asks = sum(1 for o in self.offers.values() if o[2] > 0)
        bids = len(self.offers) - asks
        for _ in range(max(0, 30 - asks)):
            rate = round_sig(frr * Decimal(repr(1 + rng.uniform(0.002, 0.4))), 5)
            self._add(rate, rng.choice(FUNDING_PERIODS),
                      Decimal(str(round(rng.uniform(50, 250000), 2))))
        for _ in range(max(0, 30 - bids)):
            rate = round_sig(frr * Decimal(repr(1 - rng.uniform(0.002, 0.4))), 5)
            self._add(rate, rng.choice(FUNDING_PERIODS),
                      -Decimal(str(round(rng.uniform(50, 250000), 2))))
        out = []
        if rng.random() < 0.4 and self.offers:
            # A borrower takes (part of) the cheapest offer.
            best = min((o for o in self.offers.items() if o[1][2] > 0),
                       key=lambda kv: (kv[1][0], kv[0]), default=None)
            if best is not None:
                oid, (rate, period, amount) = best
                take = min(amount, Decimal(str(round(rng.uniform(50, 20000), 2))))
                if take >= amount:
                    del self.offers[oid]
                else:
                    self.offers[oid][2] = amount - take
                self.version += 1
                self.last_rate = rate
                row = [next(self.trade_ids), self.clock(), -float(take), float(rate), period]
                self.trades.appendleft(row)
                out.append(row)
        return out

    def _add(self, rate: Decimal, period: int, amount: Decimal) -> None:
        self.offers[next(self.ids)] = [rate, period, amount]
        self.version += 1

    def view(self, precision: str, length: int) -> BookView:
        asks = [(oid, o) for oid, o in self.offers.items() if o[2] > 0]
        bids = [(oid, o) for oid, o in self.offers.items() if o[2] < 0]
        asks.sort(key=lambda kv: (kv[1][0], kv[1][1], kv[0]))
        bids.sort(key=lambda kv: (-kv[1][0], kv[1][1], kv[0]))
        if precision == "R0":
            return BookView([[oid, p, float(r), float(a)] for oid, (r, p, a) in bids[:length]],
                            [[oid, p, float(r), float(a)] for oid, (r, p, a) in asks[:length]])
        sides = []
        for entries, bid in ((bids, True), (asks, False)):
            levels: dict = {}
            for _oid, (r, p, a) in entries:
                k = (aggregate_price(r, precision, bid), p)
                lv = levels.setdefault(k, [0, Decimal(0)])
                lv[0] += 1
                lv[1] += a
            keys = sorted(levels,
                          key=(lambda k: (-k[0], k[1])) if bid else (lambda k: (k[0], k[1])))
            sides.append([[float(k[0]), k[1], levels[k][0], float(levels[k][1])]
                          for k in keys[:length]])
        return BookView(sides[0], sides[1])

    def best(self):
        view = self.view("R0", 1)
        return (view.bids[0] if view.bids else None), (view.asks[0] if view.asks else None)


# -- the market -----------------------------------------------------------------------

class _Stats:
    """Daily ticker statistics (since start: the window never rolls in the sandbox)."""

    def __init__(self, open_: Decimal, volume: float):
        self.open = open_
        self.high = open_
        self.low = open_
        self.volume = volume

    def add(self, price: Decimal, amount: float) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume = round(self.volume + abs(amount), 8)


class SimulatedMarket:
    """The sandbox's market: matching engine, market makers, takers, funding, derivatives.

    Args:
        seed: the random seed; equal seeds and tick counts give equal markets.
        clock: returns the time in ms (MTS fields, candle buckets).
        trading: the pairs to simulate (default :data:`DEFAULT_TRADING`).
        engine: an engine to use (default: a new one with the pairs).
        warmup_ticks: ticks run at construction so books and trades are not empty.
    """

    def __init__(self, seed: int = 1, clock: Callable[[], int] | None = None,
                 trading=DEFAULT_TRADING, engine: MatchingEngine | None = None,
                 warmup_ticks: int = 20):
        self.seed = seed
        self.clock = clock or (lambda: 0)
        self.rng = random.Random(seed)
        self.sims = {s.pair.symbol: s for s in trading}
        self.engine = engine or MatchingEngine([s.pair for s in trading], clock=self.clock)
        self._mid = {sym: float(s.start) for sym, s in self.sims.items()}
        self._t0 = self.clock()
        self._mm = {sym: f"mm:{sym}" for sym in self.sims}
        self._taker = "sim:taker"
        for owner in [*self._mm.values(), self._taker]:
            self.engine.open_account(owner, _SIM_BALANCES)
        self.funding = _Funding(random.Random(zlib.crc32(f"{seed}|fUSD".encode())),
                                itertools.count(2_000_000_001), self.clock)
        self._trades: dict[str, deque] = {sym: deque(maxlen=TRADE_HISTORY) for sym in self.sims}
        self._stats: dict[str, _Stats] = {}
        for sym, s in self.sims.items():
            o = round_sig(s.start * Decimal(repr(1 + self.rng.gauss(0, 0.02))), PRICE_SIG_DIGITS)
            self._stats[sym] = _Stats(o, round(self.rng.uniform(500, 5000) / float(s.lot[1]), 8))
        self._fstats = _Stats(Decimal("0.0002"), round(self.rng.uniform(1e7, 5e7), 2))
        self._live_candles: dict = {}       # (source, tf) -> {bucket: [O,C,H,L,V]}
        self._hist_candles: dict = {}       # (source, tf) -> rows newest first
        self._pending_trades: list = []     # (symbol, row) not yet published
        self._pending_liq: list = []
        self._liq: deque = deque(maxlen=1)
        self._liq_ids = itertools.count(143_000_001)
        self._premium = 0.0002
        self._insurance = 1_372_762.95402242
        self._open_interest = 3005.25
        self._funding_step = 0
        self._deriv: list = []
        self.ticks = 0
        self._seed_trade_history()
        for _ in range(warmup_ticks):
            self.tick()
        self._pending_trades.clear()
        self._pending_liq.clear()

    def _seed_trade_history(self) -> None:
        """Trades from before the start, so a trades snapshot is full from the first moment."""
        rng = random.Random(zlib.crc32(f"{self.seed}|trades".encode()))
        n = 60
        for sym, sim in self.sims.items():
            mts = self._t0 - n * 2000
            price = float(sim.start)
            for i in range(n):
                mts += rng.randint(200, 3800)
                price *= math.exp(rng.gauss(0, sim.sigma))
                p = float(round_sig(Decimal(repr(price)), PRICE_SIG_DIGITS))
                amount = round(rng.uniform(*sim.taker_lot), 4) * (1 if rng.random() < 0.5 else -1)
                self._trades[sym].appendleft([1_499_000_000 + i, mts, amount, p])
        mts = self._t0 - n * 2000
        for i in range(n):
            mts += rng.randint(200, 3800)
            rate = float(round_sig(Decimal(repr(0.0002 * math.exp(rng.gauss(0, 0.05)))), 5))
            self.funding.trades.appendleft([2_999_000_000 + i, mts,
                                            -round(rng.uniform(50, 20000), 2), rate,
                                            rng.choice(FUNDING_PERIODS)])

    # -- simulation -----------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Every symbol with a book: the trading pairs then ``fUSD``."""
        return [*self.sims, FUNDING_SYMBOL]

    @staticmethod
    def is_funding(symbol: str) -> bool:
        """Whether ``symbol`` is a funding currency (``fUSD``) rather than a trading pair."""
        return symbol.startswith("f")

    def mid(self, symbol: str) -> float:
        """The simulated mid price of ``symbol``."""
        return self._mid[symbol]

    def tick(self) -> list[Result]:
        """Advance the market one step; returns the engine results it caused (in order)."""
        results: list[Result] = []
        for sym, sim in self.sims.items():
            results.extend(self._tick_pair(sym, sim))
        for row in self.funding.tick():
            self._record_funding_trade(row)
        self._tick_deriv()
        self.ticks += 1
        return results

    def _tick_pair(self, sym: str, sim: TradingSim) -> list[Result]:
        rng, eng = self.rng, self.engine
        start = float(sim.start)
        mid = self._mid[sym]
        mid = mid * math.exp(rng.gauss(0, sim.sigma) - 0.02 * math.log(mid / start))
        self._mid[sym] = mid
        unit = Decimal(1).scaleb(math.floor(math.log10(mid)) - PRICE_SIG_DIGITS + 1)
        step = unit * sim.spacing
        mid_d = Decimal(repr(mid))
        base_bid = (mid_d / step).to_integral_value(ROUND_FLOOR) * step
        base_ask = (mid_d / step).to_integral_value(ROUND_CEILING) * step
        if base_ask == base_bid:
            base_ask += step
        bids = [round_sig(base_bid - i * step, PRICE_SIG_DIGITS) for i in range(sim.levels)]
        asks = [round_sig(base_ask + i * step, PRICE_SIG_DIGITS) for i in range(sim.levels)]
        lo, hi = bids[-1], asks[-1]
        mm = self._mm[sym]
        out: list[Result] = []
        have_bids: set[Decimal] = set()
        have_asks: set[Decimal] = set()
        for o in eng.open_orders(owner=mm, symbol=sym):
            price = Decimal(repr(o.price))
            if o.amount > 0:
                stale = price >= mid_d or price < lo
            else:
                stale = price <= mid_d or price > hi
            if stale or rng.random() < 0.03:
                out.append(self._do(eng.cancel(mm, o.id)))
            else:
                (have_bids if o.amount > 0 else have_asks).add(price)

        def lot() -> Decimal:
            return Decimal(repr(round(rng.uniform(*sim.lot), 4)))

        # One random draw per missing level, in this order (the market is seeded).
        out.extend(self._do(eng.submit(mm, sym, lot(), price, LIMIT)) for price in bids
                   if price not in have_bids and rng.random() < 0.85)
        out.extend(self._do(eng.submit(mm, sym, -lot(), price, LIMIT)) for price in asks
                   if price not in have_asks and rng.random() < 0.85)
        if rng.random() < 0.3:
            # A second order on an existing level, so counts above 1 show up.
            side = rng.random() < 0.5
            price = rng.choice(bids[: sim.levels // 2] if side else asks[: sim.levels // 2])
            out.append(self._do(eng.submit(mm, sym, lot() if side else -lot(), price, LIMIT)))
        if rng.random() < sim.taker_prob:
            size = Decimal(repr(round(rng.uniform(*sim.taker_lot), 4)))
            out.append(self._do(eng.submit(self._taker, sym, size if rng.random() < 0.5 else -size,
                                           None, MARKET)))
        return out

    def _do(self, result: Result) -> Result:
        self.observe(result)
        return result

    def observe(self, result: Result) -> None:
        """Record the public trades of an engine result (ticker, trades, candles)."""
        for t in result.trades:
            self._record_trade(t)

    def _record_trade(self, t: PublicTrade) -> None:
        row = [t.id, t.mts, t.amount, t.price]
        self._trades[t.symbol].appendleft(row)
        self._pending_trades.append((t.symbol, row))
        self._stats[t.symbol].add(Decimal(repr(t.price)), t.amount)
        self._candle_add(t.symbol, t.mts, t.price, abs(t.amount))

    def _record_funding_trade(self, row: list) -> None:
        self._pending_trades.append((FUNDING_SYMBOL, row))
        self._fstats.add(Decimal(repr(row[3])), row[2])
        for source in (f"{FUNDING_SYMBOL}:p{row[4]}", f"{FUNDING_SYMBOL}:agg"):
            self._candle_add(source, row[1], row[3], abs(row[2]))

    def drain_trades(self) -> list:
        """Public trades since the last call, oldest first, as ``(symbol, row)``."""
        out, self._pending_trades = self._pending_trades, []
        return out

    def drain_liquidations(self) -> list:
        """Liquidation rows since the last call."""
        out, self._pending_liq = self._pending_liq, []
        return out

    def _tick_deriv(self) -> None:
        rng = self.rng
        now = self.clock()
        spot = round_sig(Decimal(repr(self._mid["tBTCUSD"])), PRICE_SIG_DIGITS)
        self._premium = max(-0.002, min(0.002, self._premium + rng.gauss(0, 0.00005)))
        deriv = round_sig(spot * Decimal(repr(1 + self._premium)), PRICE_SIG_DIGITS)
        mark = round_sig((spot + deriv) / 2, PRICE_SIG_DIGITS + 1)
        self._insurance = round(self._insurance + rng.uniform(-1, 2), 8)
        self._open_interest = round(max(100.0, self._open_interest + rng.gauss(0, 2)), 8)
        self._funding_step += 1
        next_evt = now - now % 28_800_000 + 28_800_000
        self._deriv = [now, None, float(deriv), float(spot), None, self._insurance, None, next_evt,
                       round(self._premium / 10, 8), self._funding_step, None,
                       round(self._premium / 8, 8), None, None, float(mark), None, None,
                       self._open_interest, None, None, None, 0.0025, 0.0025]
        if rng.random() < 0.04:
            amount = round(rng.uniform(-3, 3), 8) or 0.01
            base = round_sig(spot * Decimal(repr(1 + rng.uniform(-0.05, 0.05))), PRICE_SIG_DIGITS)
            liq = round_sig(base * Decimal(repr(0.9 if amount > 0 else 1.1)), PRICE_SIG_DIGITS)
            row = ["pos", next(self._liq_ids), now, None, "tBTCF0:USTF0", amount, float(base),
                   None, rng.randint(0, 1), 1, None, float(liq)]
            self._liq.appendleft(row)
            self._pending_liq.append(row)
        elif rng.random() < 0.02:
            # The feed is sometimes empty: nothing liquidated lately.
            self._liq.clear()

    # -- views ----------------------------------------------------------------------

    def book_version(self, symbol: str) -> int:
        """Changes whenever ``symbol``'s visible book may have changed."""
        if self.is_funding(symbol):
            return self.funding.version
        return self.engine.version(symbol)

    def book(self, symbol: str, precision: str = "P0", length: int = 25) -> BookView:
        """The public book: ``length`` entries per side, best first, in wire layout.

        Trading P books ``[PRICE,COUNT,AMOUNT]`` (asks negative), R0
        ``[ORDER_ID,PRICE,AMOUNT]``; funding P ``[RATE,PERIOD,COUNT,AMOUNT]``,
        R0 ``[OFFER_ID,PERIOD,RATE,AMOUNT]``. Hidden orders are not shown.
        """
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}")
        if self.is_funding(symbol):
            if symbol != FUNDING_SYMBOL:
                raise KeyError(symbol)
            return self.funding.view(precision, length)
        # Orders in the book are limit orders: their price is never None.
        bids, asks = self.engine.book_orders(symbol)
        if precision == "R0":
            return BookView(
                [[o.id, float(cast(Decimal, o.price)), float(o.amount)] for o in bids[:length]],
                [[o.id, float(cast(Decimal, o.price)), float(o.amount)] for o in asks[:length]])
        sides = []
        for orders, bid in ((bids, True), (asks, False)):
            levels: list = []
            for o in orders:
                p = aggregate_price(cast(Decimal, o.price), precision, bid)
                if levels and levels[-1][0] == p:
                    levels[-1][1] += 1
                    levels[-1][2] += o.amount
                else:
                    if len(levels) == length:
                        break
                    levels.append([p, 1, o.amount])
            sides.append([[float(p), c, float(a)] for p, c, a in levels])
        return BookView(sides[0], sides[1])

    def ticker(self, symbol: str) -> list:
        """The ticker array: trading 10 fields, funding 16 (see the fact sheet)."""
        if self.is_funding(symbol):
            bid, ask = self.funding.best()
            st = self._fstats
            last = self.funding.last_rate
            change = last - st.open
            return [round(self.funding.frr, 10),
                    bid[2] if bid else 0, bid[1] if bid else 0, -bid[3] if bid else 0,
                    ask[2] if ask else 0, ask[1] if ask else 0, ask[3] if ask else 0,
                    _f(change, 10), _f(change / st.open, 4) if st.open else 0, float(last),
                    round(st.volume, 8), float(st.high), float(st.low), None, None,
                    round(sum(float(o[2]) for o in self.funding.offers.values() if o[2] > 0) / 3,
                          8)]
        view = self.book(symbol, "P0", 1)
        bid = view.bids[0] if view.bids else [0, 0, 0]
        ask = view.asks[0] if view.asks else [0, 0, 0]
        st = self._stats[symbol]
        last = self.engine.last_price(symbol) or self.sims[symbol].start
        change = round_sig(last - st.open, 8) if last != st.open else Decimal(0)
        return [bid[0], bid[2], ask[0], -ask[2], float(change),
                _f(change / st.open, 4), float(last), round(st.volume, 8),
                float(st.high), float(st.low)]

    def trades(self, symbol: str, limit: int = 30) -> list:
        """Recent public trades, newest first (trading ``[ID,MTS,AMOUNT,PRICE]``, funding
        +PERIOD)."""
        if self.is_funding(symbol):
            return [list(r) for r in itertools.islice(self.funding.trades, limit)]
        return [list(r) for r in itertools.islice(self._trades[symbol], limit)]

    # candles --------------------------------------------------------------------------

    def candle_source(self, key: str) -> tuple[str, str] | None:
        """``(source, timeframe)`` for a candles key such as ``trade:1m:tBTCUSD``; None if unknown.

        Funding keys take a period (``trade:1m:fUSD:p30``) or the aggregate form
        (``trade:1m:fUSD:a30:p2:p30``, all periods here).
        """
        parts = key.split(":")
        if len(parts) < 3 or parts[0] != "trade" or parts[1] not in TIMEFRAMES:
            return None
        tf, sym = parts[1], parts[2]
        if sym in self.sims and len(parts) == 3:
            return sym, tf
        if sym == FUNDING_SYMBOL:
            if len(parts) == 4 and parts[3].startswith("p") and parts[3][1:].isdigit() \
                    and int(parts[3][1:]) in FUNDING_PERIODS:
                return f"{sym}:{parts[3]}", tf
            if len(parts) == 6 and parts[3].startswith("a") and parts[4].startswith("p") \
                    and parts[5].startswith("p"):
                return f"{sym}:agg", tf
        return None

    def _candle_add(self, source: str, mts: int, price: float, volume: float) -> None:
        for tf in TIMEFRAMES:
            rows = self._live_candles.setdefault((source, tf), {})
            b = timeframe_bucket(mts, tf)
            row = rows.get(b)
            if row is None:
                rows[b] = [price, price, price, price, round(volume, 8)]
            else:
                row[1] = price
                row[2] = max(row[2], price)
                row[3] = min(row[3], price)
                row[4] = round(row[4] + volume, 8)

    def _history(self, source: str, tf: str) -> list:
        key = (source, tf)
        rows = self._hist_candles.get(key)
        if rows is not None:
            return rows
        rng = random.Random(zlib.crc32(f"{self.seed}|{source}|{tf}".encode()))
        if source.startswith(FUNDING_SYMBOL):
            price, sigma, vol = 0.0002, 0.03, 2e5
        else:
            sim = self.sims[source]
            price, vol = float(sim.start), float(sim.lot[1]) * 20
            step = TIMEFRAMES[tf] or 2_592_000_000
            sigma = min(0.08, sim.sigma * math.sqrt(step / 250))
        rows = []
        b = timeframe_bucket(self._t0, tf)
        close = price
        for _ in range(CANDLE_HISTORY):
            b = _prev_bucket(b, tf)
            open_ = close * math.exp(rng.gauss(0, sigma))
            hi = max(open_, close) * (1 + abs(rng.gauss(0, sigma / 2)))
            lo = min(open_, close) * (1 - abs(rng.gauss(0, sigma / 2)))
            r = [float(round_sig(Decimal(repr(x)), PRICE_SIG_DIGITS))
                 for x in (open_, close, hi, lo)]
            rows.append([b, r[0], r[1], r[2], r[3], round(rng.uniform(0.1, 1) * vol, 8)])
            close = open_
        self._hist_candles[key] = rows
        return rows

    def candles(self, key: str, limit: int = CANDLE_HISTORY) -> list:
        """Candles ``[MTS,OPEN,CLOSE,HIGH,LOW,VOLUME]``, newest first (the snapshot order)."""
        src = self.candle_source(key)
        if src is None:
            raise KeyError(key)
        live = self._live_candles.get(src, {})
        rows = [[b, *live[b]] for b in sorted(live, reverse=True)]
        rows.extend(list(r) for r in self._history(*src))
        return rows[:limit]

    def last_candle(self, key: str) -> list | None:
        """The newest candle of ``key`` (what a candles update carries)."""
        src = self.candle_source(key)
        live = self._live_candles.get(src, {}) if src else {}
        if not live:
            return None
        b = max(live)
        return [b, *live[b]]

    # status ---------------------------------------------------------------------------

    def status(self, key: str) -> list:
        """``deriv:tBTCF0:USTF0``: ``[ROW]``; ``liq:global``: the latest liquidations (maybe
        ``[]``)."""
        if key == DERIV_KEY:
            return [list(self._deriv)]
        if key == LIQ_KEY:
            return [list(r) for r in self._liq]
        raise KeyError(key)

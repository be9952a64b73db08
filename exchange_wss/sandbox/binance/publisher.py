"""The Binance sandbox's market publisher: the simulated market's trades, books and
liquidations written as Binance's market streams, to every stream connection
that subscribed them (the once-a-second streams are in :mod:`.tickers`).

Depth diffs carry update ids (one per changed level) so that a client can sync
a book by Binance's rules; the REST depth snapshot comes from the same feed.
COIN-M sizes are written in contracts (coin value times price over the contract
size, at least one for a level that is there), as Binance's are.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import orjson

from .tickers import SlowStreams
from .wire import ZERO, ApiError, _dec, _from_float

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["MarketPublisher"]


class _DepthFeed:
    """One symbol's published depth, its update ids and the pending diff of each speed.

    Every changed level takes one update id. Each speed class accumulates the
    changes since its last flush, so its events are contiguous (``U`` = previous
    ``u`` + 1) and ``pu`` is the previous ``u``. ``bids``/``asks`` are the state
    after ``last_id``: what the REST snapshot serves.
    """

    def __init__(self, last_id: int, speeds: tuple):
        self.bids: dict = {}
        self.asks: dict = {}
        self.last_id = last_id
        self.pending: dict = dict.fromkeys(speeds)
        self.flushed: dict = dict.fromkeys(speeds, last_id)
        self.version: Any = None

    def update(self, bids: dict, asks: dict) -> bool:
        cb = {p: q for p, q in bids.items() if self.bids.get(p) != q}
        cb.update({p: ZERO for p in self.bids if p not in bids})
        ca = {p: q for p, q in asks.items() if self.asks.get(p) != q}
        ca.update({p: ZERO for p in self.asks if p not in asks})
        n = len(cb) + len(ca)
        if not n:
            return False
        first = self.last_id + 1
        self.last_id += n
        for speed, pend in self.pending.items():
            if pend is None:
                pend = self.pending[speed] = [first, 0, {}, {}]
            pend[1] = self.last_id
            pend[2].update(cb)
            pend[3].update(ca)
        self.bids, self.asks = dict(bids), dict(asks)
        return True

    def take(self, speed: int) -> tuple | None:
        """``(U, u, pu, bids, asks)`` accumulated for ``speed`` since its last take, or None."""
        pend = self.pending.get(speed)
        if pend is None:
            return None
        self.pending[speed] = None
        pu = self.flushed[speed]
        self.flushed[speed] = pend[1]
        bids = sorted(pend[2].items(), key=lambda kv: -kv[0])
        asks = sorted(pend[3].items(), key=lambda kv: kv[0])
        return pend[0], pend[1], pu, bids, asks

    def top(self, limit: int) -> tuple:
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:limit]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:limit]
        return bids, asks

class _SymStats:
    __slots__ = ("first_id", "last_id", "last_qty", "count", "quote_volume", "agg_ids")

    def __init__(self, agg_start: int):
        self.first_id = -1
        self.last_id = -1
        self.last_qty = ZERO
        self.count = 0
        self.quote_volume = ZERO
        self.agg_ids = itertools.count(agg_start)


class MarketPublisher:
    """Publishes the market of a :class:`~.server.BinanceServer` (reactor thread only).

    Args:
        server: the exchange (profile, market, clock, stream connections).
        seed: offsets the first update ids, so two seeds do not look alike.
    """

    def __init__(self, server: BinanceServer, seed: int):
        self.server = server
        self.profile = server.profile
        self.market = server.market
        self.engine = server.engine
        self.depth: dict = {}
        self.stats: dict = {}
        self._tops: dict = {}
        for i, bsym in enumerate(self.profile.symbols):
            self.depth[bsym] = _DepthFeed(1_000_000_000 * (i + 1) + seed % 1000,
                                          self.profile.depth_speeds)
            self.stats[bsym] = _SymStats(100_000_001 * (i + 1))
        self.refresh_depth()
        #: Klines, tickers and mark prices, sent by :meth:`flush_slow`.
        self.slow = SlowStreams(self)
        self._liquidator = "sandbox-liquidator"

    def size(self, bsym: str, qty: Decimal, price: Decimal) -> Decimal:
        """A coin quantity as ``bsym`` counts it: itself, or COIN-M contracts (whole, at
        least one when there is any)."""
        cs = self.profile.contract_sizes.get(bsym)
        if cs is None or not qty:
            return qty
        return max(Decimal(1), (qty * price / cs).to_integral_value(rounding=ROUND_HALF_UP))

    def _rows(self, bsym: str, levels: list) -> list:
        px, size = self.profile.px, self.size
        return [[px(p), px(size(bsym, q, p))] for p, q in levels]

    def flush_slow(self) -> None:
        """Klines, tickers and mark prices (see :class:`~.tickers.SlowStreams`)."""
        self.slow.flush()

    def _levels(self, engine_symbol: str) -> tuple:
        bids_o, asks_o = self.engine.book_orders(engine_symbol)
        out = []
        for orders in (bids_o, asks_o):
            levels: dict = {}
            for o in orders:
                levels[o.price] = levels.get(o.price, ZERO) + abs(o.amount)
            out.append(levels)
        return out[0], out[1]

    def refresh_depth(self) -> list:
        """Bring every depth feed up to the engine's book; returns the symbols that changed."""
        changed = []
        for bsym, sym in self.profile.symbols.items():
            feed = self.depth[bsym]
            version = self.engine.version(sym)
            if version == feed.version:
                continue
            feed.version = version
            bids, asks = self._levels(sym)
            if feed.update(bids, asks):
                changed.append(bsym)
        return changed

    def _publish_key(self, key: tuple, payload: Any, sessions: list | None = None) -> None:
        data = None
        for s in sessions if sessions is not None else self.server.stream_sessions():
            name = s.by_key.get(key)
            if name is not None:
                if data is None:
                    data = orjson.dumps(payload)
                s.deliver(name, data)

    def publish(self) -> None:
        """Push trades, aggTrades, bookTicker and depth changes (queued per speed)."""
        now = self.server.now_ms()
        sessions = self.server.stream_sessions()
        for sym, row in self.market.drain_trades():
            bsym = self.profile.binance_symbol(sym)
            if bsym is None:
                continue
            tid, mts, amount, price = row
            p = _from_float(price)
            q = _from_float(abs(amount))
            st = self.stats[bsym]
            st.first_id = tid if st.first_id < 0 else st.first_id
            st.last_id, st.last_qty = tid, q
            st.count += 1
            st.quote_volume += p * q
            self.slow.trade(bsym, tid, mts, p, q, amount > 0)
            buyer_maker = amount < 0
            q = self.size(bsym, q, p)
            if sessions:
                if self.profile.futures:
                    trade = {"e": "trade", "E": now, "T": mts, "s": bsym, "t": tid,
                             "p": self.profile.px(p), "q": self.profile.px(q), "X": "MARKET",
                             "m": buyer_maker}
                else:
                    trade = {"e": "trade", "E": now, "s": bsym, "t": tid, "p": self.profile.px(p),
                             "q": self.profile.px(q), "T": mts, "m": buyer_maker, "M": True}
                self._publish_key(("trade", bsym, None, None), trade, sessions)
                agg = {"e": "aggTrade", "E": now, "s": bsym, "a": next(st.agg_ids),
                       "p": self.profile.px(p), "q": self.profile.px(q), "f": tid, "l": tid,
                       "T": mts, "m": buyer_maker}
                if not self.profile.futures:
                    agg["M"] = True
                self._publish_key(("aggTrade", bsym, None, None), agg, sessions)
        self.refresh_depth()
        for bsym, feed in self.depth.items():
            bids, asks = feed.top(1)
            top = (bids[0] if bids else None, asks[0] if asks else None)
            if self._tops.get(bsym) == top:
                continue
            self._tops[bsym] = top
            if not sessions:
                continue
            b, a = top
            b = b or (ZERO, ZERO)
            a = a or (ZERO, ZERO)
            px = self.profile.px
            bt = {"u": feed.last_id, "s": bsym, "b": px(b[0]), "B": px(self.size(bsym, *b[::-1])),
                  "a": px(a[0]), "A": px(self.size(bsym, *a[::-1]))}
            if self.profile.futures:
                bt = {"e": "bookTicker", "u": feed.last_id, "E": now, "T": now, **bt}
                if self.profile.inverse:
                    bt["ps"] = bsym.split("_")[0]
                # !bookTicker: every symbol's book ticker, one per message.
                self._publish_key(("allBookTicker", None, None, None), bt, sessions)
            self._publish_key(("bookTicker", bsym, None, None), bt, sessions)

    def flush_depth(self, speed: int) -> None:
        """Send the diff accumulated for ``speed`` (and partial books) to their subscribers."""
        if self.server.faults.stalled:
            return
        self.refresh_depth()
        now = self.server.now_ms()
        sessions = self.server.stream_sessions()
        for bsym, feed in self.depth.items():
            diff = feed.take(speed)
            if diff is None or not sessions:
                continue
            U, u, pu, bids, asks = diff
            ev = {"e": "depthUpdate", "E": now}
            if self.profile.futures:
                ev["T"] = now
            ev.update({"s": bsym, "U": U, "u": u})
            if self.profile.futures:
                ev["pu"] = pu
            ev["b"] = self._rows(bsym, bids)
            ev["a"] = self._rows(bsym, asks)
            self._publish_key(("depth", bsym, None, speed), ev, sessions)
            for n in (5, 10, 20):
                key = ("depthN", bsym, n, speed)
                if not any(key in s.by_key for s in sessions):
                    continue
                tb, ta = feed.top(n)
                b = self._rows(bsym, tb)
                a = self._rows(bsym, ta)
                if self.profile.futures:
                    part = {"e": "depthUpdate", "E": now, "T": now, "s": bsym, "U": U, "u": u,
                            "pu": pu, "b": b, "a": a}
                else:
                    part = {"lastUpdateId": feed.last_id, "bids": b, "asks": a}
                self._publish_key(key, part, sessions)

    def depth_snapshot(self, bsym: str, limit: int | None = None) -> dict:
        """The REST depth: ``{"lastUpdateId","bids","asks"}`` (+ ``E``, ``T`` on futures)."""
        self.profile.engine_symbol(bsym)
        self.refresh_depth()
        default, maximum = self.profile.depth_limit
        n = default if limit is None else max(1, min(int(limit), maximum))
        feed = self.depth[bsym]
        bids, asks = feed.top(n)
        out: dict = {"lastUpdateId": feed.last_id}
        if self.profile.futures:
            now = self.server.now_ms()
            out.update({"E": now, "T": now})
        out["bids"] = self._rows(bsym, bids)
        out["asks"] = self._rows(bsym, asks)
        return out

    def liquidation(self, bsym: str, side: str, quantity: Any) -> dict:
        """A forced liquidation: an IOC order of ``quantity`` (COIN-M: contracts) from the
        sandbox's liquidator account trades against the book (so it is in the trade
        stream), and ``forceOrder`` goes to ``<symbol>@forceOrder`` and
        ``!forceOrder@arr``. Returns the forceOrder event.

        Raises:
            ApiError: a bad symbol, side or quantity, or nothing to trade against.
        """
        if not self.profile.futures:
            raise ApiError(-1020, "Spot has no liquidation streams.")
        sym = self.profile.engine_symbol(bsym)
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        qty = _dec(quantity)
        bid, ask = self.engine.best(sym)
        far = ask if side == "BUY" else bid
        if far is None or qty <= 0:
            raise ApiError(-2010, "Nothing to liquidate against.")
        # An IOC two percent through the touch, as liquidation orders cross the book.
        limit = self._tick(far * (Decimal("1.02") if side == "BUY" else Decimal("0.98")))
        cs = self.profile.contract_sizes.get(bsym)
        coin = qty if cs is None else (qty * cs / far).quantize(Decimal("0.00000001"))
        if not self.engine.has_account(self._liquidator):
            self.engine.open_account(self._liquidator, {c: "1000000000000" for s in
                                                        self.engine.pairs.values()
                                                        for c in (s.base, s.quote)})
        res = self.engine.submit(self._liquidator, sym, coin if side == "BUY" else -coin, limit,
                                 "EXCHANGE IOC")
        if not res.ok:
            raise ApiError(-2010, res.text)
        self.market.observe(res)
        fills = [(Decimal(repr(e.exec_price)), abs(Decimal(repr(e.exec_amount))))
                 for e in res.events if getattr(e, "kind", None) == "te"
                 and e.owner == self._liquidator]
        filled_coin = sum((q for _, q in fills), ZERO)
        value = sum((p * q for p, q in fills), ZERO)
        avg = value / filled_coin if filled_coin else ZERO
        if cs is None:
            filled = filled_coin
        else:  # contracts, converted back at the rate the order was sized with
            filled = qty if filled_coin >= coin else \
                (filled_coin * far / cs).to_integral_value(rounding=ROUND_DOWN)
        px = self.profile.px
        now = self.server.now_ms()
        o = {"s": bsym, "S": side, "o": "LIMIT", "f": "IOC", "q": px(qty), "p": px(limit),
             "ap": px(avg.quantize(Decimal("0.01")) if avg else ZERO),
             "X": "FILLED" if filled >= qty else ("PARTIALLY_FILLED" if filled else "EXPIRED"),
             "l": px(filled), "z": px(filled), "T": now}
        if self.profile.inverse:
            o = {"s": bsym, "ps": bsym.split("_")[0], **{k: v for k, v in o.items() if k != "s"}}
        ev = {"e": "forceOrder", "E": now, "o": o}
        sessions = self.server.stream_sessions()
        self._publish_key(("forceOrder", bsym, None, None), ev, sessions)
        self._publish_key(("allForceOrder", None, None, None), ev, sessions)
        return ev

    @staticmethod
    def _tick(price: Decimal) -> Decimal:
        from ..engine import PRICE_SIG_DIGITS, round_sig
        return round_sig(price, PRICE_SIG_DIGITS)

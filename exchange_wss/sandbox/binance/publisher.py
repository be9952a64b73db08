"""The Binance sandbox's market publisher: the simulated market's trades, books,
klines and tickers written as Binance's market streams, to every stream
connection that subscribed them.

Depth diffs carry update ids (one per changed level) so that a client can sync
a book by Binance's rules; the REST depth snapshot comes from the same feed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Optional

import orjson

from .wire import KLINE_INTERVALS, ZERO, _from_float, _Q8, kline_close_time, kline_start

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
        self.pending: dict = {s: None for s in speeds}
        self.flushed: dict = {s: last_id for s in speeds}
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

    def take(self, speed: int) -> Optional[tuple]:
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

    def __init__(self, server: "BinanceServer", seed: int):
        self.server = server
        self.profile = server.profile
        self.market = server.market
        self.engine = server.engine
        self.depth: dict = {}
        self.stats: dict = {}
        self.klines: dict = {}
        self.klines_closed: dict = defaultdict(list)
        self._tops: dict = {}
        for i, bsym in enumerate(self.profile.symbols):
            self.depth[bsym] = _DepthFeed(1_000_000_000 * (i + 1) + seed % 1000,
                                          self.profile.depth_speeds)
            self.stats[bsym] = _SymStats(100_000_001 * (i + 1))
        self.refresh_depth()

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

    def _publish_key(self, key: tuple, payload: Any, sessions: Optional[list] = None) -> None:
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
            self._kline_trade(bsym, tid, mts, p, q, amount > 0)
            buyer_maker = amount < 0
            if sessions:
                if self.profile.futures:
                    trade = {"e": "trade", "E": now, "T": mts, "s": bsym, "t": tid,
                             "p": self.profile.px(p), "q": self.profile.px(q), "X": "MARKET", "m": buyer_maker}
                else:
                    trade = {"e": "trade", "E": now, "s": bsym, "t": tid, "p": self.profile.px(p),
                             "q": self.profile.px(q), "T": mts, "m": buyer_maker, "M": True}
                self._publish_key(("trade", bsym, None, None), trade, sessions)
                agg = {"e": "aggTrade", "E": now, "s": bsym, "a": next(st.agg_ids),
                       "p": self.profile.px(p), "q": self.profile.px(q), "f": tid, "l": tid, "T": mts,
                       "m": buyer_maker}
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
            bt = {"u": feed.last_id, "s": bsym, "b": self.profile.px(b[0]), "B": self.profile.px(b[1]),
                  "a": self.profile.px(a[0]), "A": self.profile.px(a[1])}
            if self.profile.futures:
                bt = {"e": "bookTicker", "u": feed.last_id, "E": now, "T": now, **bt}
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
            ev["b"] = [[self.profile.px(p), self.profile.px(q)] for p, q in bids]
            ev["a"] = [[self.profile.px(p), self.profile.px(q)] for p, q in asks]
            self._publish_key(("depth", bsym, None, speed), ev, sessions)
            for n in (5, 10, 20):
                key = ("depthN", bsym, n, speed)
                if not any(key in s.by_key for s in sessions):
                    continue
                tb, ta = feed.top(n)
                b = [[self.profile.px(p), self.profile.px(q)] for p, q in tb]
                a = [[self.profile.px(p), self.profile.px(q)] for p, q in ta]
                if self.profile.futures:
                    part = {"e": "depthUpdate", "E": now, "T": now, "s": bsym, "U": U, "u": u,
                            "pu": pu, "b": b, "a": a}
                else:
                    part = {"lastUpdateId": feed.last_id, "bids": b, "asks": a}
                self._publish_key(key, part, sessions)

    # klines and tickers ------------------------------------------------------------

    def _kline_trade(self, bsym: str, tid: int, mts: int, p: Decimal, q: Decimal,
                     taker_bought: bool) -> None:
        for iv in KLINE_INTERVALS:
            k = (bsym, iv)
            c = self.klines.get(k)
            start = kline_start(mts, iv)
            if c is not None and c["t"] != start:
                self.klines_closed[k].append(c)
                c = None
            if c is None:
                c = self.klines[k] = {"t": start, "T": kline_close_time(start, iv), "f": tid,
                                      "L": tid, "o": p, "c": p, "h": p, "l": p, "v": ZERO,
                                      "n": 0, "q": ZERO, "V": ZERO, "Q": ZERO}
            if c["f"] < 0:
                c["f"] = tid
            c["L"] = tid
            c["c"] = p
            c["h"] = max(c["h"], p)
            c["l"] = min(c["l"], p)
            c["v"] += q
            c["q"] += p * q
            c["n"] += 1
            if taker_bought:
                c["V"] += q
                c["Q"] += p * q

    def _kline_payload(self, bsym: str, iv: str, c: dict, closed: bool, now: int) -> dict:
        px = self.profile.px
        return {"e": "kline", "E": now, "s": bsym,
                "k": {"t": c["t"], "T": c["T"], "s": bsym, "i": iv, "f": c["f"], "L": c["L"],
                      "o": px(c["o"]), "c": px(c["c"]), "h": px(c["h"]), "l": px(c["l"]),
                      "v": px(c["v"]), "n": c["n"], "x": closed, "q": px(c["q"]),
                      "V": px(c["V"]), "Q": px(c["Q"]), "B": "0"}}

    def flush_slow(self) -> None:
        """Klines (closed ones first, then the current one) and 24h tickers, once a second."""
        if self.server.faults.stalled:
            return
        now = self.server.now_ms()
        sessions = self.server.stream_sessions()
        wanted = {key for s in sessions for key in s.by_key}
        closed, self.klines_closed = self.klines_closed, defaultdict(list)
        for key in [k for k in wanted if k[0] == "kline"]:
            _, bsym, iv, _ = key
            for c in closed.get((bsym, iv), []):
                self._publish_key(key, self._kline_payload(bsym, iv, c, True, now), sessions)
            c = self.klines.get((bsym, iv))
            if c is not None and c["T"] < now:
                self._publish_key(key, self._kline_payload(bsym, iv, c, True, now), sessions)
                c = None
            if c is None:
                start = kline_start(now, iv)
                last = self.klines.get((bsym, iv))
                close_px = last["c"] if last else \
                    _from_float(self.market.mid(self.profile.symbols[bsym]))
                c = self.klines[(bsym, iv)] = {"t": start, "T": kline_close_time(start, iv),
                                               "f": -1, "L": -1, "o": close_px, "c": close_px,
                                               "h": close_px, "l": close_px, "v": ZERO, "n": 0,
                                               "q": ZERO, "V": ZERO, "Q": ZERO}
            self._publish_key(key, self._kline_payload(bsym, iv, c, False, now), sessions)
        for bsym, sym in self.profile.symbols.items():
            tkey, mkey = ("ticker", bsym, None, None), ("miniTicker", bsym, None, None)
            if tkey not in wanted and mkey not in wanted:
                continue
            t = self.market.ticker(sym)
            bid, bid_sz, ask, ask_sz, change, pct, last, vol, high, low = t
            st = self.stats[bsym]
            last_d, vol_d = _from_float(last), _from_float(vol)
            open_d = last_d - _from_float(change)
            px = self.profile.px
            quote_vol = (vol_d * last_d).quantize(_Q8)
            if tkey in wanted:
                tick = {"e": "24hrTicker", "E": now, "s": bsym, "p": px(_from_float(change)),
                        "P": f"{pct * 100:.3f}", "w": px(last_d)}
                if not self.profile.futures:
                    tick["x"] = px(open_d)
                tick.update({"c": px(last_d), "Q": px(st.last_qty)})
                if not self.profile.futures:
                    tick.update({"b": px(_from_float(bid)), "B": px(_from_float(bid_sz)),
                                 "a": px(_from_float(ask)), "A": px(_from_float(ask_sz))})
                tick.update({"o": px(open_d), "h": px(_from_float(high)), "l": px(_from_float(low)),
                             "v": px(vol_d), "q": px(quote_vol), "O": now - 86_400_000, "C": now,
                             "F": st.first_id, "L": st.last_id, "n": st.count})
                self._publish_key(tkey, tick, sessions)
            if mkey in wanted:
                self._publish_key(mkey, {"e": "24hrMiniTicker", "E": now, "s": bsym,
                                         "c": px(last_d), "o": px(open_d),
                                         "h": px(_from_float(high)), "l": px(_from_float(low)),
                                         "v": px(vol_d), "q": px(quote_vol)}, sessions)

    def depth_snapshot(self, bsym: str, limit: Optional[int] = None) -> dict:
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
        out["bids"] = [[self.profile.px(p), self.profile.px(q)] for p, q in bids]
        out["asks"] = [[self.profile.px(p), self.profile.px(q)] for p, q in asks]
        return out

"""The Binance sandbox's once-a-second streams: klines (and futures continuous
klines), 24-hour tickers and mini tickers, mark prices with funding, and their
all-market lists (``!ticker@arr``, ``!miniTicker@arr``, ``!markPrice@arr``,
COIN-M ``<pair>@markPrice``).

Wire choices: the mark and index prices are the simulated market's mid; the
funding rate is a constant 0.01 % every 8 hours (next funding at the next 00:00,
08:00 or 16:00 UTC); ``@markPrice`` is sent every third second, ``@1s`` every
second; all-market lists carry every symbol each time. COIN-M volumes count
contracts (``v``) with the base-asset volume in ``q``, as Binance's do.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from .wire import _Q8, KLINE_INTERVALS, ZERO, _from_float, kline_close_time, kline_start, pair_of

if TYPE_CHECKING:  # pragma: no cover
    from .publisher import MarketPublisher

__all__ = ["SlowStreams", "FUNDING_RATE", "FUNDING_INTERVAL_MS"]

#: The funding rate every sandbox perpetual pays per interval.
FUNDING_RATE = Decimal("0.0001")
FUNDING_INTERVAL_MS = 8 * 3_600_000


class SlowStreams:
    """Klines, tickers and mark prices of a :class:`~.publisher.MarketPublisher`."""

    def __init__(self, publisher: MarketPublisher):
        self.pub = publisher
        self.server = publisher.server
        self.profile = publisher.profile
        self.market = publisher.market
        self.klines: dict = {}
        self.klines_closed: dict = defaultdict(list)
        self._seconds = 0

    # -- klines ---------------------------------------------------------------------

    def trade(self, bsym: str, tid: int, mts: int, p: Decimal, q: Decimal,
              taker_bought: bool) -> None:
        """Add a public trade of ``q`` coins at ``p`` to every interval's current kline."""
        cs = self.profile.contract_sizes.get(bsym)
        # Linear: volume in coin, quote volume in quote. COIN-M: contracts and coin.
        vol, quote = (q, p * q) if cs is None else (self.pub.size(bsym, q, p), q)
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
            c["v"] += vol
            c["q"] += quote
            c["n"] += 1
            if taker_bought:
                c["V"] += vol
                c["Q"] += quote

    def _kline_body(self, iv: str, c: dict, closed: bool) -> dict:
        px = self.profile.px
        return {"t": c["t"], "T": c["T"], "i": iv, "f": c["f"], "L": c["L"], "o": px(c["o"]),
                "c": px(c["c"]), "h": px(c["h"]), "l": px(c["l"]), "v": px(c["v"]), "n": c["n"],
                "x": closed, "q": px(c["q"].quantize(_Q8)), "V": px(c["V"]),
                "Q": px(c["Q"].quantize(_Q8)), "B": "0"}

    def _kline_payloads(self, bsym: str, iv: str, c: dict, closed: bool, now: int,
                        kind: str) -> dict:
        if kind == "continuousKline":
            return {"e": "continuous_kline", "E": now, "ps": pair_of(bsym), "ct": "PERPETUAL",
                    "k": self._kline_body(iv, c, closed)}
        body = self._kline_body(iv, c, closed)
        return {"e": "kline", "E": now, "s": bsym, "k": {"t": body.pop("t"), "T": body.pop("T"),
                                                         "s": bsym, **body}}

    def _flush_klines(self, wanted: set, sessions: list, now: int) -> None:
        closed, self.klines_closed = self.klines_closed, defaultdict(list)
        keys = [k for k in wanted if k[0] in ("kline", "continuousKline")]
        current: dict = {}
        for bsym, iv in {(k[1], k[2]) for k in keys}:
            c = self.klines.get((bsym, iv))
            done = list(closed.get((bsym, iv), []))
            if c is not None and c["T"] < now:
                done.append(c)
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
            current[(bsym, iv)] = (done, c)
        for key in keys:
            kind, bsym, iv, _ = key
            done, c = current[(bsym, iv)]
            for old in done:
                self.pub._publish_key(key, self._kline_payloads(bsym, iv, old, True, now, kind),
                                      sessions)
            self.pub._publish_key(key, self._kline_payloads(bsym, iv, c, False, now, kind),
                                  sessions)

    # -- tickers --------------------------------------------------------------------

    def _tickers(self, bsym: str, now: int) -> tuple:
        """``(24hrTicker, 24hrMiniTicker)`` payloads of ``bsym`` now."""
        px = self.profile.px
        bid, bid_sz, ask, ask_sz, change, pct, last, vol, high, low = \
            self.market.ticker(self.profile.symbols[bsym])
        st = self.pub.stats[bsym]
        last_d, vol_d = _from_float(last), _from_float(vol)
        open_d = last_d - _from_float(change)
        quote_vol = (vol_d * last_d).quantize(_Q8)
        if self.profile.inverse:  # contracts traded, and their value in the base coin
            vol_d, quote_vol = self.pub.size(bsym, vol_d, last_d), vol_d
        tick = {"e": "24hrTicker", "E": now, "s": bsym}
        if self.profile.inverse:
            tick["ps"] = pair_of(bsym)
        tick.update({"p": px(_from_float(change)), "P": f"{pct * 100:.3f}", "w": px(last_d)})
        if not self.profile.futures:
            tick["x"] = px(open_d)
        tick.update({"c": px(last_d), "Q": px(self.pub.size(bsym, st.last_qty, last_d))})
        if not self.profile.futures:
            tick.update({"b": px(_from_float(bid)), "B": px(_from_float(bid_sz)),
                         "a": px(_from_float(ask)), "A": px(_from_float(ask_sz))})
        tick.update({"o": px(open_d), "h": px(_from_float(high)), "l": px(_from_float(low)),
                     "v": px(vol_d), "q": px(quote_vol), "O": now - 86_400_000, "C": now,
                     "F": st.first_id, "L": st.last_id, "n": st.count})
        mini = {"e": "24hrMiniTicker", "E": now, "s": bsym}
        if self.profile.inverse:
            mini["ps"] = pair_of(bsym)
        mini.update({"c": px(last_d), "o": px(open_d), "h": px(_from_float(high)),
                     "l": px(_from_float(low)), "v": px(vol_d), "q": px(quote_vol)})
        return tick, mini

    # -- mark prices ----------------------------------------------------------------

    def mark_price(self, bsym: str, now: int) -> dict:
        """The ``markPriceUpdate`` of ``bsym`` now."""
        px = self.profile.px
        mark = _from_float(self.market.mid(self.profile.symbols[bsym]))
        nxt = (now // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS
        return {"e": "markPriceUpdate", "E": now, "s": bsym, "p": px(mark), "i": px(mark),
                "P": px(mark), "r": f"{FUNDING_RATE:.8f}", "T": nxt}

    # -- the loop -------------------------------------------------------------------

    def flush(self) -> None:
        """Send everything that is due this second (klines: closed ones first)."""
        if self.server.faults.stalled:
            return
        self._seconds += 1
        now = self.server.now_ms()
        sessions = self.server.stream_sessions()
        wanted = {key for s in sessions for key in s.by_key}
        if not wanted:
            return
        self._flush_klines(wanted, sessions, now)
        publish = self.pub._publish_key
        symbols = list(self.profile.symbols)
        all_tick, all_mini = ("allTicker", None, None, None), ("allMiniTicker", None, None, None)
        need = [b for b in symbols if all_tick in wanted or all_mini in wanted or
                ("ticker", b, None, None) in wanted or ("miniTicker", b, None, None) in wanted]
        tickers = {b: self._tickers(b, now) for b in need}
        for bsym, (tick, mini) in tickers.items():
            publish(("ticker", bsym, None, None), tick, sessions)
            publish(("miniTicker", bsym, None, None), mini, sessions)
        if tickers:
            publish(all_tick, [t for t, _ in tickers.values()], sessions)
            publish(all_mini, [m for _, m in tickers.values()], sessions)
        if not self.profile.futures:
            return
        speeds = (1000, 3000) if self._seconds % 3 == 0 else (1000,)
        marks: dict = {}
        for speed in speeds:
            for bsym in symbols:
                if ("markPrice", bsym, None, speed) in wanted:
                    marks.setdefault(bsym, self.mark_price(bsym, now))
                    publish(("markPrice", bsym, None, speed), marks[bsym], sessions)
            if ("allMarkPrice", None, None, speed) in wanted:
                publish(("allMarkPrice", None, None, speed),
                        [marks.setdefault(b, self.mark_price(b, now)) for b in symbols], sessions)
            for pair in {pair_of(b) for b in symbols} if self.profile.inverse else ():
                key = ("pairMarkPrice", pair, None, speed)
                if key in wanted:
                    publish(key, [marks.setdefault(b, self.mark_price(b, now)) for b in symbols
                                  if pair_of(b) == pair], sessions)

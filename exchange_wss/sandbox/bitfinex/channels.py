"""Public channels of a Bitfinex sandbox connection: subscriptions, snapshots and the
market's frames (sans-I/O)."""

from __future__ import annotations

from typing import Any, cast

from ..market import BOOK_LENGTHS, DERIV_KEY, LIQ_KEY, PRECISIONS, BookMirror
from .session_base import SessionBase, _BookSub, _KeySub, _Sub, _SymbolSub
from .wire import CHANNELS, FLAG_BULK_UPDATES, FLAG_OB_CHECKSUM


class ChannelsPart(SessionBase):
    """Public channels: subscribe and unsubscribe, snapshots, and publishing
    the market (book updates with their checksums, trades, tickers, candles)."""

    # -- subscriptions ----------------------------------------------------------

    def _subscribe(self, req: dict) -> None:
        echo = {k: v for k, v in req.items() if k != "event"}

        def fail(code: int, msg: str) -> None:
            self.send_event({**echo, "event": "error", "msg": msg, "code": code})

        if self.server.faults.take_subscribe_refusal():
            return fail(10300, "subscribe: failed")
        channel = req.get("channel")
        if not isinstance(channel, str) or not channel:
            return fail(10300, "subscribe: invalid")
        if channel not in CHANNELS:
            return fail(10302, "subscribe: unknown channel")
        market = self.server.market
        ev: dict = {"event": "subscribed", "channel": channel}
        symbol = key = prec = freq = None
        length = None
        ident: tuple[Any, ...]
        if channel in ("ticker", "trades", "book"):
            raw = req.get("symbol") or req.get("pair") or req.get("currency")
            symbol = raw if isinstance(raw, str) else None
            if symbol and symbol[0] not in "tf":
                symbol = ("f" if "currency" in req and "symbol" not in req else "t") + symbol
            if symbol not in market.symbols:
                return fail(10300, "symbol: invalid")
            if channel == "book":
                prec = req.get("prec", "P0")
                if prec not in PRECISIONS:
                    return fail(10011, "prec: invalid")
                freq = req.get("freq", "F0")
                if freq not in ("F0", "F1"):
                    return fail(10300, "freq: invalid")
                try:
                    length = int(req.get("len", 25))
                except (TypeError, ValueError):
                    length = None
                if length not in BOOK_LENGTHS:
                    return fail(10012, "len: invalid")
            ident = (channel, symbol, prec, freq, length)
        else:
            key = req.get("key")
            if not isinstance(key, str):
                return fail(10300, "key: invalid")
            if channel == "candles" and market.candle_source(key) is None:
                return fail(10300, "key: invalid")
            if channel == "status" and key not in (DERIV_KEY, LIQ_KEY):
                return fail(10300, "key: invalid")
            ident = (channel, key)
        if any(s.ident == ident for s in self.subs.values()):
            return fail(10301, "subscribe: dup")
        if len(self.subs) >= self.server.max_channels:
            return fail(10305, "subscribe: limit")
        chan_id = self.server.new_chan_id()
        sub = _Sub(chan_id, channel, ident, symbol=symbol, key=key, prec=prec, freq=freq,
                   length=length)
        ev["chanId"] = chan_id
        if symbol is not None:
            ev["symbol"] = symbol
        if channel == "book":
            ev.update(prec=prec, freq=freq, len=str(length))
        if key is not None:
            ev["key"] = key
        if "subId" in req:
            ev["subId"] = req["subId"]
        if symbol is not None:
            ev["currency" if market.is_funding(symbol) else "pair"] = symbol[1:]
        faults = self.server.faults
        if faults.duplicate_next_subscribed and self.subs:
            faults.duplicate_next_subscribed = False
            self.send_event({**ev, "chanId": next(iter(self.subs))})

        def answer() -> None:
            if self.open:
                self.subs[chan_id] = sub
                self.send_event(ev)
                self._snapshot(sub)

        if faults.subscribe_delay:
            self.server.reactor.callLater(faults.subscribe_delay, answer)
        else:
            answer()

    def _unsubscribe(self, req: dict) -> None:
        chan_id = req.get("chanId")
        if isinstance(chan_id, bool) or not isinstance(chan_id, int):
            self.send_event({**req, "event": "error", "msg": "unsubscribe: invalid", "code": 10400})
            return
        if chan_id not in self.subs:
            self.send_event({**req, "event": "error", "msg": "unsubscribe: not subscribed",
                             "code": 10401})
            return
        refused = self.server.faults.refuse_next_unsubscribe
        if refused is not None:
            self.server.faults.refuse_next_unsubscribe = None
            self.send_event({**req, "event": "error", "msg": "unsubscribe: failed",
                             "code": refused})
            return
        del self.subs[chan_id]
        self.last_sent.pop(chan_id, None)
        self.send_event({"event": "unsubscribed", "status": "OK", "chanId": chan_id})

    def _snapshot(self, sub: _Sub) -> None:
        m = self.server.market
        if sub.channel == "ticker":
            tsub = cast(_SymbolSub, sub)
            tsub.last = m.ticker(tsub.symbol)
            self.send_channel(tsub.chan_id, tsub.last)
        elif sub.channel == "trades":
            self.send_channel(sub.chan_id, m.trades(cast(_SymbolSub, sub).symbol, 30))
        elif sub.channel == "book":
            bsub = cast(_BookSub, sub)
            view = self.server.book_view(bsub.symbol, bsub.prec, bsub.length)
            bsub.mirror = BookMirror(funding=m.is_funding(bsub.symbol), raw=bsub.prec == "R0")
            entries = [list(e) for e in view.bids] + [list(e) for e in view.asks]
            bsub.mirror.snapshot(entries)
            bsub.last = m.book_version(bsub.symbol)
            self.send_channel(bsub.chan_id, entries)
        elif sub.channel == "candles":
            ksub = cast(_KeySub, sub)
            ksub.last = m.last_candle(ksub.key)
            self.send_channel(ksub.chan_id, m.candles(ksub.key))
        elif sub.channel == "status":
            ksub = cast(_KeySub, sub)
            rows = m.status(ksub.key)
            ksub.last = rows[0] if ksub.key == DERIV_KEY and rows else None
            self.send_channel(ksub.chan_id, rows)

    # -- publishing -------------------------------------------------------------

    def publish(self, trades: list, liqs: list, cache: dict) -> None:
        """Send what changed since the last publish on every F0 channel."""
        m = self.server.market
        for sub in list(self.subs.values()):
            if sub.channel == "book":
                if sub.freq == "F0":
                    self.sync_book(sub)
            elif sub.channel == "ticker":
                k = ("ticker", sub.symbol)
                if k not in cache:
                    cache[k] = m.ticker(cast(_SymbolSub, sub).symbol)
                if cache[k] != sub.last:
                    sub.last = cache[k]
                    faults = self.server.faults
                    if faults.garble_tickers:
                        faults.garble_tickers -= 1
                        # Nulls, text and a list where ten numbers belong.
                        self.send_channel(sub.chan_id, [None, "x", [1, 2], *sub.last[3:]])
                    else:
                        self.send_channel(sub.chan_id, sub.last)
            elif sub.channel == "trades":
                funding = m.is_funding(cast(_SymbolSub, sub).symbol)
                for sym, row in trades:
                    if sym == sub.symbol:
                        self.send_channel(sub.chan_id, "fte" if funding else "te", row)
                        self.send_channel(sub.chan_id, "ftu" if funding else "tu", row)
            elif sub.channel == "candles":
                row = m.last_candle(cast(_KeySub, sub).key)
                if row is not None and row != sub.last:
                    sub.last = row
                    self.send_channel(sub.chan_id, row)
            elif sub.channel == "status":
                if sub.key == DERIV_KEY:
                    row = m.status(DERIV_KEY)[0]
                    if row != sub.last:
                        sub.last = row
                        self.send_channel(sub.chan_id, row)
                else:
                    for row in liqs:
                        self.send_channel(sub.chan_id, [row])

    def sync_book(self, sub: _Sub) -> None:
        """Bring the client's copy of a book up to date: updates, then checksums."""
        bsub = cast(_BookSub, sub)  # a book subscription, subscribed (so mirrored)
        m = self.server.market
        version = m.book_version(bsub.symbol)
        if version == bsub.last:
            return
        bsub.last = version
        view = self.server.book_view(bsub.symbol, bsub.prec, bsub.length)
        updates = bsub.mirror.diff(view)
        if not updates:
            return
        checksum = self.flags & FLAG_OB_CHECKSUM
        if self.flags & FLAG_BULK_UPDATES:
            for u in updates:
                bsub.mirror.apply(u)
            self.send_channel(bsub.chan_id, updates)
            if checksum:
                self._send_checksum(bsub)
            return
        for u in updates:
            bsub.mirror.apply(u)
            self.send_channel(bsub.chan_id, u)
            if checksum:
                self._send_checksum(bsub)

    def _send_checksum(self, sub: _BookSub) -> None:
        value = sub.mirror.checksum()
        if self.server.faults.take_corrupt_checksum():
            value = value ^ 0x5A5A5A5A if value ^ 0x5A5A5A5A != value else value + 1
            value = value - 0x100000000 if value >= 0x80000000 else value
        self.send_channel(sub.chan_id, "cs", value)


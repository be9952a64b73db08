"""A local Bitfinex WebSocket v2 server: the sandbox exchange.

It speaks the protocol of /work/shared/protocol/bitfinex-v2.md on an autobahn
``WebSocketServerProtocol`` over Twisted, fed by
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine,
so that a client's orders really rest, fill and cancel. It is written apart
from the client's protocol code on purpose: the two check each other.

Layers:

- :class:`_Session`: one connection's protocol state (flags, channels, sequence
  numbers, auth), sans-I/O: text in through :meth:`_Session.received`, text out
  through a ``send`` callable.
- :class:`SandboxServer`: the exchange behind the sockets (market, accounts,
  nonces, publishing, heartbeats, faults). Reactor thread only.
- :class:`BitfinexSandbox`: the public, thread-safe handle (start, stop,
  inspect, step the market, inject faults).

Wire choices where the sources leave room (documented so clients can rely on them):

- numbers are written as JavaScript writes them (:mod:`.wire`);
- with SEQ_ALL each channel frame ends with the connection's public sequence
  number; chan-0 frames carry the public seq then the auth seq (0 during the
  post-auth snapshots); ``n`` frames carry only the current auth seq, which
  they do not advance; with TIMESTAMP the ms time follows the sequence
  number(s), as recorded Bitfinex sessions show (``[89,"te",[...],18,1564617600784]``);
- a ``cs`` frame follows every book update (once per bulk update), not the snapshot;
- channel limit: ``max_channels`` public channels per connection; the
  account channel 0 does not count;
- chan-0 input from an unauthenticated socket: error event code 10200;
- wallet AVAILABLE is null in the ``ws`` snapshot unless the auth message
  had ``calc:1`` (Bitfinex: "null until calculated"); ``wu`` and ``calc``
  answers carry it;
- ``authNonce`` is taken as a number written as JSON number or decimal text,
  fraction allowed (bitfinex-v2 sends ``"1700000000.123456"``: seconds);
  it must exceed the key's last nonce and not exceed 9007199254740991;
- margin ``LIMIT``/``MARKET`` orders trade on each account's margin wallets
  (``DEFAULT_MARGIN_BALANCES``) and positions,
  simplified as :mod:`exchange_wss.sandbox.margin` says: ``ps`` lists them,
  ``pn``/``pu``/``pc`` follow each change;
- ``calc`` answers every request type Bitfinex lists: ``margin_base`` and
  ``margin_sym_SYMBOL`` (``miu``), ``funding_sym_SYMBOL`` (``fiu``, zeros: no
  funding here), ``position_SYMBOL`` (``pu``, when one is open),
  ``wallet_TYPE_CURRENCY`` (``wu``, types exchange, margin, funding) and
  ``balance`` (``bu``); names it does not know are ignored, as Bitfinex does.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import logging
import uuid
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Protocol, cast

import orjson
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.task import LoopingCall

from ._ws import SandboxHandle, ServerTimeAndStall, TrackedServerFactory, TrackedServerProtocol
from .engine import OrderEvent, OrderView, Result, TradeEvent, WalletEvent
from .faults import Faults, FaultState
from .margin import DEFAULT_MARGIN_BALANCES, MAX_LEVERAGE, PositionEvent, PositionView
from .market import BOOK_LENGTHS, DERIV_KEY, LIQ_KEY, PRECISIONS, BookMirror, SimulatedMarket
from .wire import dumps

__all__ = ["BitfinexSandbox", "SandboxServer", "DEFAULT_KEY", "DEFAULT_SECRET",
           "DEFAULT_BALANCES", "FLAG_TIMESTAMP", "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM",
           "FLAG_BULK_UPDATES"]

log = logging.getLogger("exchange_wss.sandbox")

DEFAULT_KEY = "sandbox-api-key"
DEFAULT_SECRET = "sandbox-api-secret"
#: Starting exchange wallets of every configured account.
DEFAULT_BALANCES = {"USD": "100000", "BTC": "10", "ETH": "100", "XRP": "100000"}

FLAG_TIMESTAMP = 32768
FLAG_SEQ_ALL = 65536
FLAG_OB_CHECKSUM = 131072
FLAG_BULK_UPDATES = 536870912

MAX_NONCE = 9007199254740991
MAX_OX_MULTI = 75
MAX_CALC_BATCH = 30
MAX_CALC_PER_SECOND = 8
F1_INTERVAL = 2.0
CHANNELS = ("ticker", "trades", "book", "candles", "status")
CAPS = {"orders": {"read": 1, "write": 1}, "account": {"read": 1, "write": 0},
        "funding": {"read": 1, "write": 1}, "history": {"read": 1, "write": 0},
        "wallets": {"read": 1, "write": 1}, "withdraw": {"read": 0, "write": 0},
        "positions": {"read": 1, "write": 1}, "ui_withdraw": {"read": 0, "write": 0},
        "bfxpay": {"read": 0, "write": 0}}

# Which auth filter lets each chan-0 stream through.
_FILTER_GROUP = {
    "os": "trading", "on": "trading", "ou": "trading", "oc": "trading", "te": "trading",
    "tu": "trading", "ps": "trading", "pn": "trading", "pu": "trading", "pc": "trading",
    "ws": "wallet", "wu": "wallet", "bu": "balance", "n": "notify", "miu": "wallet",
    "fiu": "funding",
    "fos": "funding", "fon": "funding", "fou": "funding", "foc": "funding", "fcs": "funding",
    "fcn": "funding", "fcu": "funding", "fcc": "funding", "fls": "funding", "fln": "funding",
    "flu": "funding", "flc": "funding", "fte": "funding", "ftu": "funding",
}


# -- wire layouts -------------------------------------------------------------------

def order_array(o: OrderView) -> list:
    """The 32-field order array of on/ou/oc/os and of on-req DATA."""
    return [o.id, o.gid, o.cid, o.symbol, o.mts_create, o.mts_update, o.amount, o.amount_orig,
            o.type, o.type_prev, None, None, o.flags, o.status, None, None, o.price, o.price_avg,
            0, 0, None, None, None, 0, 1 if o.hidden else None, None, None, None, "API>BFX",
            None, None, o.meta]


def null_order_array(id: Any = None, cid: Any = None) -> list:
    """The all-null DATA of an ERROR notification (node#299 shows NOTIFY 0 at index 23)."""
    arr: list = [None] * 32
    arr[0], arr[2], arr[23] = id, cid, 0
    return arr


def trade_array(t: TradeEvent) -> list:
    """Private trade ``[ID,SYMBOL,MTS,ORDER_ID,EXEC_AMOUNT,EXEC_PRICE,ORDER_TYPE,
    ORDER_PRICE,MAKER,FEE,FEE_CURRENCY,CID]``; FEE and FEE_CURRENCY are null on ``te``."""
    return [t.id, t.symbol, t.mts, t.order_id, t.exec_amount, t.exec_price, t.order_type,
            t.order_price, 1 if t.maker else -1, t.fee, t.fee_currency, t.cid]


def wallet_array(wallet_type: str, currency: str, balance: float, available: float | None,
                 meta: Any = None) -> list:
    """Wallet ``[TYPE,CURRENCY,BALANCE,UNSETTLED_INTEREST,AVAILABLE,DESCRIPTION,META]``."""
    return [wallet_type, currency, balance, 0, available, None, meta]


def position_array(p: PositionView) -> list:
    """``[SYMBOL,STATUS,AMOUNT,BASE_PRICE,MARGIN_FUNDING,MARGIN_FUNDING_TYPE,PL,PL_PERC,
    PRICE_LIQ,LEVERAGE,_,POSITION_ID,MTS_CREATE,MTS_UPDATE,_,TYPE,_,COLLATERAL,
    COLLATERAL_MIN,META]`` (no funding and no liquidation price here)."""
    cost = abs(p.amount) * p.base_price
    return [p.symbol, p.status, p.amount, p.base_price, 0, 0, p.pl,
            round(p.pl / cost * 100, 4) if cost else 0, None, p.leverage, None, p.id,
            p.mts_create, p.mts_update, None, 0, None, round(cost / p.leverage, 8), 0, None]


def _nonce_value(v: Any) -> Decimal | None:
    """A nonce as Bitfinex reads it: a JSON number or decimal text, fraction allowed."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        v = repr(v)
    if not isinstance(v, str) or not v.strip():
        return None
    try:
        n = Decimal(v.strip())
    except ArithmeticError:
        return None
    return n if n.is_finite() else None


def _int_or_none(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise ValueError("bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    raise ValueError(v)


class _Sub:
    """One channel subscription on one connection, with what was last sent on it."""

    __slots__ = ("chan_id", "channel", "symbol", "key", "prec", "freq", "length", "ident",
                 "mirror", "last")

    def __init__(self, chan_id: int, channel: str, ident: tuple, symbol: str | None = None,
                 key: str | None = None, prec: str | None = None,
                 freq: str | None = None, length: int | None = None):
        self.chan_id, self.channel, self.ident = chan_id, channel, ident
        self.symbol, self.key, self.prec, self.freq, self.length = symbol, key, prec, freq, length
        self.mirror: BookMirror | None = None
        self.last: Any = None


# How each channel's code reads a _Sub (a type checker's view: the fields a channel
# always has are set at subscribe time, the book's mirror at its snapshot).
class _SymbolSub(Protocol):
    """A ``ticker``, ``trades`` or ``book`` subscription: it has a symbol."""

    chan_id: int
    symbol: str
    last: Any


class _BookSub(_SymbolSub, Protocol):
    """A ``book`` subscription: precision, frequency, length and its mirror."""

    prec: str
    freq: str
    length: int
    mirror: BookMirror


class _KeySub(Protocol):
    """A ``candles`` or ``status`` subscription: it has a key."""

    chan_id: int
    key: str
    last: Any


class _Session:
    """One connection's protocol state. Sans-I/O: ``received(text)`` in, ``send(text)`` out.

    Args:
        server: the exchange.
        send: writes one text frame.
        drop: aborts the connection.
    """

    def __init__(self, server: SandboxServer, send: Callable[[str], None],
                 drop: Callable[[], None]):
        self.server = server
        self._send = send
        self.drop = drop
        self.flags = 0
        self.subs: dict[int, _Sub] = {}
        self.pub_seq = 0
        self.skip_next_seq = False
        self.auth_seq = 0
        self.auth_synced = False
        self.account: str | None = None
        self.filters: list | None = None
        self.dms = False
        self.calc_on_auth = False
        self.last_sent: dict[int, float] = {}
        self.held: list[str] = []
        self.calc_times: deque = deque()
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

    def flush_held(self) -> None:
        held, self.held = self.held, []
        for text in held:
            if self.open:
                self._send(text)

    def send_event(self, event: dict) -> None:
        self.write(dumps(event))

    def _next_seq(self) -> int:
        self.pub_seq += 2 if self.skip_next_seq else 1
        self.skip_next_seq = False
        return self.pub_seq

    def _tail(self, frame: list, seqs: list) -> list:
        if self.flags & FLAG_SEQ_ALL:
            frame.extend(seqs)
        if self.flags & FLAG_TIMESTAMP:
            frame.append(self.server.now_ms())
        return frame

    def send_channel(self, chan_id: int, *items: Any) -> None:
        """A public channel frame ``[chanId, *items]`` plus seq / timestamp per the conf flags."""
        frame = [chan_id, *items]
        seqs = [self._next_seq()] if self.flags & FLAG_SEQ_ALL else []
        self.write(dumps(self._tail(frame, seqs)))
        self.last_sent[chan_id] = self.server.now()

    def send_private(self, stream: str, data: Any) -> None:
        """A chan-0 frame; with SEQ_ALL the public then the auth sequence number."""
        frame = [0, stream, data]
        seqs: list = []
        if self.flags & FLAG_SEQ_ALL:
            pub = self._next_seq()
            if self.auth_synced:
                self.auth_seq += 1
                seqs = [pub, self.auth_seq]
            else:
                seqs = [pub, 0]
        self.write(dumps(self._tail(frame, seqs)))
        self.last_sent[0] = self.server.now()

    def send_notification(self, type_: str, ok: bool, text: str, data: Any) -> None:
        """``[0,"n",[MTS,TYPE,MESSAGE_ID,null,DATA,CODE,STATUS,TEXT]]`` (+ the auth seq, not
        advanced)."""
        if not self._allowed("n"):
            return
        n = [self.server.now_ms(), type_, None, None, data, None,
             "SUCCESS" if ok else "ERROR", text]
        frame: list = [0, "n", n]
        self.write(dumps(self._tail(frame, [self.auth_seq])))
        self.last_sent[0] = self.server.now()

    def heartbeat(self, now: float, interval: float) -> None:
        """Send ``[chanId,"hb"]`` on every channel silent for ``interval`` seconds."""
        chans = list(self.subs)
        if self.account is not None:
            chans.insert(0, 0)
        for chan_id in chans:
            if now - self.last_sent.get(chan_id, now) >= interval:
                if chan_id == 0:
                    # Chan-0 hb carries the public seq only.
                    seqs = [self._next_seq()] if self.flags & FLAG_SEQ_ALL else []
                    self.write(dumps(self._tail([0, "hb"], seqs)))
                    self.last_sent[0] = now
                else:
                    self.send_channel(chan_id, "hb")

    # -- input --------------------------------------------------------------------

    def opened(self) -> None:
        self.send_event({"event": "info", "version": 2, "serverId": self.server.server_id,
                         "platform": {"status": 0 if self.server.faults.maintenance else 1}})

    def received(self, text: str) -> None:
        """Handle one text frame from the client."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send_event({"event": "error", "msg": "invalid json", "code": 10000})
            return
        if isinstance(msg, dict):
            self._on_event(msg)
        elif isinstance(msg, list):
            self._on_input(msg)
        else:
            self.send_event({"event": "error", "msg": "unknown event", "code": 10000})

    def _on_event(self, msg: dict) -> None:
        event = msg.get("event")
        if event == "ping":
            reply = {"event": "pong", "ts": self.server.now_ms()}
            if "cid" in msg:
                reply["cid"] = msg["cid"]
            self.send_event(reply)
        elif event == "conf":
            flags = msg.get("flags")
            if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
                self.send_event({"event": "error", "msg": "conf: invalid", "code": 10050})
                return
            self.flags = flags
            self.send_event({"event": "conf", "status": "OK", "flags": flags})
        elif event == "subscribe":
            self._subscribe(msg)
        elif event == "unsubscribe":
            self._unsubscribe(msg)
        elif event == "auth":
            self._auth(msg)
        elif event == "unauth":
            if self.account is None:
                self.send_event({"event": "error", "msg": "unauth: not authenticated",
                                 "code": 10200})
                return
            self.server.detach(self)
            self.account = None
            self.send_event({"event": "unauth", "status": "OK", "chanId": 0})
        else:
            self.send_event({"event": "error", "msg": "unknown event", "code": 10000})

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

    # -- auth -------------------------------------------------------------------

    def _auth(self, req: dict) -> None:
        if self.server.faults.ignore_auth:
            return
        if self.account is not None:
            self.send_event({"event": "error", "msg": "auth: dup", "code": 10100})
            return

        def fail(msg: str) -> None:
            self.send_event({"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
                             "msg": msg})

        server = self.server
        key = req.get("apiKey")
        if not isinstance(key, str):
            return fail("apikey: invalid")
        secret = server.accounts.get(key)
        if secret is None:
            return fail("apikey: invalid")
        payload, sig, nonce = req.get("authPayload"), req.get("authSig"), req.get("authNonce")
        if not isinstance(payload, str) or not isinstance(sig, str):
            return fail("apikey: digest invalid")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            return fail("apikey: digest invalid")
        n = _nonce_value(nonce)
        if n is None or n <= 0 or n > MAX_NONCE:
            return fail("nonce: invalid")
        # bitfinex-api-node signs "AUTH"+nonce+nonce; accept any payload that starts right.
        if not payload.startswith("AUTH" + str(nonce)):
            return fail("authPayload: invalid")
        if n <= server.nonces.get(key, 0):
            return fail("nonce: small")
        server.nonces[key] = n
        filters = req.get("filter")
        self.filters = ([f for f in filters if isinstance(f, str)] if isinstance(filters, list)
                        else None)
        self.dms = req.get("dms") == 4
        self.calc_on_auth = req.get("calc") == 1
        self.account = key
        self.auth_seq = 0
        self.auth_synced = False
        server.attach(self)
        self.send_event({"event": "auth", "status": "OK", "chanId": 0,
                         "userId": server.user_id(key), "auth_id": str(uuid.uuid4()),
                         "caps": CAPS})
        self.last_sent[0] = server.now()
        self._auth_snapshots()
        self.auth_synced = True

    def _allowed(self, stream: str, symbol: str | None = None,
                 currency: str | None = None) -> bool:
        if not self.filters:
            return True
        group = _FILTER_GROUP.get(stream)
        if group is None:
            return True
        for f in self.filters:
            if f == group or (symbol and f == f"{group}-{symbol}") or \
                    (currency and f == f"{group}-exchange-{currency}"):
                return True
        return False

    def _auth_snapshots(self) -> None:
        eng = self.server.engine
        key = self.account
        if self._allowed("ps"):
            self.send_private("ps", [position_array(p) for p in eng.margin.positions(
                key, self.server.mark)])
        if self._allowed("ws") or any(f.startswith("wallet-") for f in self.filters or ()):
            rows = []
            for cur, (bal, avail) in sorted(eng.wallets(key).items()):
                if self._allowed("ws", currency=cur):
                    rows.append(wallet_array("exchange", cur, float(bal),
                                             float(avail) if self.calc_on_auth else None))
            for cur, bal in sorted(eng.margin.wallets(key).items()):
                if self._allowed("ws", currency=cur):
                    avail = eng.available(key, "margin:" + cur)
                    rows.append(wallet_array("margin", cur, float(bal),
                                             float(avail) if self.calc_on_auth else None))
            self.send_private("ws", rows)
        if self._allowed("os") or any(f.startswith("trading-") for f in self.filters or ()):
            self.send_private("os", [order_array(o) for o in eng.open_orders(owner=key)
                                     if self._allowed("os", symbol=o.symbol)])
        for stream in ("fos", "fcs", "fls"):
            if self._allowed(stream):
                self.send_private(stream, [])

    def deliver(self, ev: Any) -> None:
        """Send one engine event to this (authenticated) session, if its filters allow."""
        if isinstance(ev, OrderEvent):
            if self._allowed(ev.kind, symbol=ev.order.symbol):
                self.send_private(ev.kind, order_array(ev.order))
        elif isinstance(ev, TradeEvent):
            if self._allowed(ev.kind, symbol=ev.symbol):
                self.send_private(ev.kind, trade_array(ev))
        elif isinstance(ev, WalletEvent):
            if self._allowed("wu", currency=ev.currency):
                self.send_private("wu", wallet_array(ev.wallet_type, ev.currency, ev.balance,
                                                     ev.available, ev.meta))
        elif (isinstance(ev, PositionEvent)
              and self._allowed(ev.kind, symbol=ev.position.symbol)):
            self.send_private(ev.kind, position_array(ev.position))

    # -- chan-0 inputs ----------------------------------------------------------

    def _on_input(self, msg: list) -> None:
        if len(msg) < 4 or msg[0] != 0 or not isinstance(msg[1], str):
            self.send_event({"event": "error", "msg": "input: invalid", "code": 10020})
            return
        if self.account is None:
            self.send_event({"event": "error", "msg": "input: not authenticated", "code": 10200})
            return
        op, payload = msg[1], msg[3]
        self.server.requests[self.account].append((op, payload))
        if op == "calc":
            self._calc(payload)
            return
        if op == "ox_multi":
            self._ox_multi(payload)
            return
        handler = self._OPS.get(op)
        if handler is None:
            if op in ("fon", "foc"):
                self.send_notification(f"{op}-req", False,
                                       "Funding offers are not supported by the sandbox", None)
                return
            self.send_event({"event": "error", "msg": f"input: unknown op {op}", "code": 10000})
            return
        faults = self.server.faults
        if op == "on" and faults.drop_on_next_order is not None:
            when, faults.drop_on_next_order = faults.drop_on_next_order, None
            if when == "after":
                _note, result = handler(self, payload)
                self.server.after_result(result)
            self.open = False  # nothing more leaves on this connection: no answer
            self.drop()
            return
        note, result = handler(self, payload)
        self.send_notification(*note)
        self.server.after_result(result)

    def _order_new(self, p: Any) -> tuple:
        key = cast(str, self.account)  # inputs are taken on authenticated connections only
        if isinstance(p, dict):
            self.server.received[key].append(dict(p))
        else:
            self.server.received[key].append(p)
            return ("on-req", False, "Invalid order: request is not an object",
                    null_order_array()), None
        try:
            cid = _int_or_none(p.get("cid"))
            gid = _int_or_none(p.get("gid"))
            flags = _int_or_none(p.get("flags")) or 0
        except ValueError:
            return ("on-req", False, "Invalid order: cid, gid and flags must be integers",
                    null_order_array(cid=p.get("cid"))), None
        if self.server.faults.maintenance:
            return ("on-req", False, "Invalid order: trading is paused (maintenance)",
                    null_order_array(cid=cid)), None
        # The fields as the client sent them (any JSON, or missing): the engine refuses
        # what it cannot take with Bitfinex's text.
        wire: Any = p
        res = self.server.engine.submit(key, wire.get("symbol"), wire.get("amount"),
                                        wire.get("price"), wire.get("type"), cid=cid, gid=gid,
                                        flags=flags, meta=wire.get("meta"))
        # submit always echoes the order, accepted or not.
        return ("on-req", res.ok, res.text, order_array(cast(OrderView, res.order))), res

    def _order_cancel(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("oc-req", False, "Order not found.", null_order_array()), None
        try:
            oid, cid = _int_or_none(p.get("id")), _int_or_none(p.get("cid"))
        except ValueError:
            return ("oc-req", False, "Order not found.", null_order_array()), None
        cid_date = p.get("cid_date")
        if oid is None and (cid is None or not isinstance(cid_date, str)):
            return ("oc-req", False, "Order not found.", null_order_array(cid=cid)), None
        res = self.server.engine.cancel(self.account, id=oid, cid=cid, cid_date=cid_date)
        data = order_array(res.order) if res.order else null_order_array(oid, cid)
        return ("oc-req", res.ok, res.text, data), res

    def _order_cancel_multi(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("oc_multi-req", False, "Invalid request", []), None

        def ints(v: Any) -> list:
            return [x for x in v if isinstance(x, int) and not isinstance(x, bool)] \
                if isinstance(v, list) else []

        cids = c if isinstance(c := p.get("cid"), list) else []
        res = self.server.engine.cancel_multi(
            self.account, ids=ints(p.get("id")), gids=ints(p.get("gid")),
            cids=[tuple(c) for c in cids if isinstance(c, list)],
            all=p.get("all") in (1, True))
        return ("oc_multi-req", True, res.text, [order_array(o) for o in res.orders]), res

    def _order_update(self, p: Any) -> tuple:
        if not isinstance(p, dict):
            return ("ou-req", False, "Order not found.", null_order_array()), None
        if self.server.faults.maintenance:
            return ("ou-req", False, "Invalid order: trading is paused (maintenance)",
                    null_order_array()), None
        try:
            oid = _int_or_none(p.get("id"))
            flags = _int_or_none(p.get("flags"))
            gid = _int_or_none(p.get("gid"))
            cid = _int_or_none(p.get("cid"))
        except ValueError:
            return ("ou-req", False, "Invalid order: id is invalid", null_order_array()), None
        if oid is None:
            return ("ou-req", False, "Order not found.", null_order_array()), None
        res = self.server.engine.update(self.account, oid, price=p.get("price"),
                                        amount=p.get("amount"), delta=p.get("delta"),
                                        flags=flags, gid=gid, cid=cid, meta=p.get("meta"))
        data = order_array(res.order) if res.order else null_order_array()
        return ("ou-req", res.ok, res.text, data), res

    _OPS: ClassVar[dict[str, Callable[[_Session, Any], tuple]]] = {
        "on": _order_new, "oc": _order_cancel, "oc_multi": _order_cancel_multi,
        "ou": _order_update}

    def _ox_multi(self, ops: Any) -> None:
        if not isinstance(ops, list) or len(ops) > MAX_OX_MULTI:
            self.send_notification("ox_multi-req", False,
                                   f"Invalid request: at most {MAX_OX_MULTI} operations", None)
            return
        notes, results = [], []
        for item in ops:
            if not (isinstance(item, list) and len(item) >= 2 and item[0] in self._OPS):
                notes.append([self.server.now_ms(), "ox_multi-req", None, None, None, None,
                              "ERROR", "Invalid operation"])
                continue
            (type_, ok, text, data), res = self._OPS[item[0]](self, item[1])
            notes.append([self.server.now_ms(), type_, None, None, data, None,
                          "SUCCESS" if ok else "ERROR", text])
            results.append(res)
        self.send_notification("ox_multi-req", True,
                               f"Submitting {len(notes)} order operations.", notes)
        for res in results:
            self.server.after_result(res, publish=False)
        self.server.publish()

    def _calc(self, items: Any) -> None:
        now = self.server.now()
        while self.calc_times and now - self.calc_times[0] >= 1.0:
            self.calc_times.popleft()
        if len(self.calc_times) >= MAX_CALC_PER_SECOND:
            self.send_event({"event": "error", "msg": "calc: ratelimit", "code": 10001})
            return
        self.calc_times.append(now)
        if not isinstance(items, list) or len(items) > MAX_CALC_BATCH:
            self.send_event({"event": "error",
                             "msg": f"calc: at most {MAX_CALC_BATCH} requests per batch",
                             "code": 10020})
            return
        for item in items:
            # Each request is ["name"]; bitfinex-v2 puts several names in one list.
            for name in (item if isinstance(item, list) else [item]):
                if isinstance(name, str):
                    self._calc_one(name)

    def _calc_one(self, name: str) -> None:
        # calc is taken on authenticated connections only.
        eng, key = self.server.engine, cast(str, self.account)
        if name.startswith("wallet_"):
            wtype, _, cur = name[len("wallet_"):].partition("_")
            if not cur or not self._allowed("wu", currency=cur):
                return
            if wtype == "exchange":
                bal, avail = eng.balance(key, cur), eng.available(key, cur)
            elif wtype == "margin":
                bal, avail = eng.margin.balance(key, cur), eng.available(key, "margin:" + cur)
            elif wtype == "funding":
                bal = avail = Decimal(0)  # no funding wallets in the sandbox
            else:
                return  # not a wallet type: ignored
            self.send_private("wu", wallet_array(wtype, cur, float(bal), float(avail)))
        elif name == "balance":
            if self._allowed("bu"):
                total = self.server.account_value(key)
                self.send_private("bu", [total, total])
        elif name == "margin_base":
            if self._allowed("miu"):
                pl = sum(p.pl for p in eng.margin.positions(key, self.server.mark))
                margin_bal = float(eng.margin.balance(key, "USD"))
                need = float(eng.margin.balance(key, "USD") - eng.available(key, "margin:USD"))
                self.send_private("miu", ["base", [pl, 0, margin_bal, round(margin_bal + pl, 8),
                                                   need]])
        elif name.startswith("margin_sym_"):
            sym = name[len("margin_sym_"):]
            spec = eng.pairs.get(sym)
            if spec is None or not self._allowed("miu", symbol=sym):
                return
            avail = eng.available(key, "margin:" + spec.quote)
            gross = float(eng.margin.balance(key, spec.quote) * MAX_LEVERAGE)
            tradable = float(avail * MAX_LEVERAGE)
            mid = self.server.market.mid(sym) or 0
            size = round(tradable / mid, 8) if mid else 0
            self.send_private("miu", ["sym", sym, [tradable, gross, size, size]])
        elif name.startswith("funding_sym_"):
            sym = name[len("funding_sym_"):]
            if self._allowed("fiu", symbol=sym):
                self.send_private("fiu", ["sym", sym, [0, 0, 0, 0]])
        elif name.startswith("position_"):
            sym = name[len("position_"):]
            pos = eng.margin.position(key, sym)
            if pos is not None and self._allowed("pu", symbol=sym):
                self.send_private("pu", position_array(pos))
        # Anything else (a misspelt name) is ignored, as Bitfinex ignores it.

    # -- lifecycle --------------------------------------------------------------

    def closed(self) -> None:
        self.open = False
        self.held.clear()


class SandboxServer(ServerTimeAndStall):
    """The exchange behind the sockets. Everything here runs on the reactor thread.

    Args:
        reactor: the reactor (time, LoopingCalls, listenTCP).
        accounts: ``{api_key: secret}``.
        seed: the market's seed.
        tick_interval: seconds between market ticks; None for manual steps only.
        heartbeat_interval: seconds of silence on a channel before ``hb``.
        max_channels: public channels allowed per connection.
        balances: starting exchange wallets of each account.
    """

    def __init__(self, reactor: Any, accounts: Mapping[str, str], seed: int = 1,
                 tick_interval: float | None = 0.25, heartbeat_interval: float = 15.0,
                 max_channels: int = 25, balances: Mapping[str, Any] | None = None):
        self.reactor = reactor
        self.accounts = dict(accounts)
        self.tick_interval = tick_interval
        self.heartbeat_interval = heartbeat_interval
        self.max_channels = max_channels
        self.server_id = str(uuid.UUID(int=random_bits(seed)))
        self.market = SimulatedMarket(seed=seed, clock=self.now_ms)
        self.engine = self.market.engine
        for key in self.accounts:
            self.engine.open_account(key, balances or DEFAULT_BALANCES)
            self.engine.margin.open(key, DEFAULT_MARGIN_BALANCES)
        self.nonces: dict[str, Decimal] = {}
        self.sessions: list[_Session] = []
        self.by_account: dict[str, list[_Session]] = defaultdict(list)
        self.received: dict[str, list] = defaultdict(list)
        self.requests: dict[str, list] = defaultdict(list)
        self.faults = FaultState()
        self._chan_ids = itertools.count(17 + seed % 1000)
        self._view_cache: dict = {}
        self._loops: list[LoopingCall] = []
        self._stall_call = None

    # -- loops --------------------------------------------------------------------

    def start_loops(self) -> None:
        """Start the market tick, heartbeat and F1 book loops on the reactor."""
        def loop(fn: Callable, interval: float) -> None:
            def safe() -> None:
                try:
                    fn()
                except Exception:  # keep the market and heartbeats alive
                    log.exception("sandbox loop %s failed", getattr(fn, "__name__", fn))
            lc = LoopingCall(safe)
            lc.clock = self.reactor
            d = lc.start(interval, now=False)
            d.addErrback(lambda f: log.error("sandbox loop failed: %s", f.getTraceback()))
            self._loops.append(lc)

        if self.tick_interval:
            loop(self.step, self.tick_interval)
        loop(self.heartbeats, max(0.01, min(1.0, self.heartbeat_interval / 5)))
        loop(self.flush_f1, F1_INTERVAL)

    def stop_loops(self) -> None:
        """Stop the market loops and any pending end of a stall."""
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops.clear()
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()

    # -- market -------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the market ``n`` ticks, delivering and publishing after each."""
        for _ in range(n):
            for res in self.market.tick():
                self.route(res.events)
            self.publish()

    def book_view(self, symbol: str, precision: str, length: int):
        """The public book view, cached per book version."""
        version = self.market.book_version(symbol)
        k = (symbol, precision, length)
        hit = self._view_cache.get(k)
        if hit is not None and hit[0] == version:
            return hit[1]
        view = self.market.book(symbol, precision, length)
        self._view_cache[k] = (version, view)
        return view

    def publish(self) -> None:
        """Push market changes (books F0, trades, tickers, candles, status) to every session."""
        trades = self.market.drain_trades()
        liqs = self.market.drain_liquidations()
        cache: dict = {}
        for s in list(self.sessions):
            s.publish(trades, liqs, cache)

    def flush_f1(self) -> None:
        """Send what changed on every F1 (batched) book subscription."""
        for s in list(self.sessions):
            for sub in list(s.subs.values()):
                if sub.channel == "book" and sub.freq == "F1":
                    s.sync_book(sub)

    def heartbeats(self) -> None:
        """Send a heartbeat on every channel that has been quiet (not during a stall)."""
        if self.faults.stalled:
            return
        now = self.now()
        for s in list(self.sessions):
            s.heartbeat(now, self.heartbeat_interval)

    def route(self, events: list) -> None:
        """Deliver private engine events to the owners' authenticated sessions."""
        for ev in events:
            for s in list(self.by_account.get(ev.owner, ())):
                s.deliver(ev)

    def after_result(self, res: Result | None, publish: bool = True) -> None:
        """After a request: the market sees its result, its private events are delivered,
        then the public channels are published."""
        if res is None:
            return
        self.market.observe(res)
        self.route(res.events)
        if publish:
            self.publish()

    # -- accounts -----------------------------------------------------------------

    def user_id(self, key: str) -> int:
        """The account's user id (stable: derived from its key)."""
        return 1_000_000 + zlib.crc32(key.encode()) % 9_000_000

    def mark(self, symbol: str) -> Decimal | None:
        """The price positions are valued at: the market's mid."""
        mid = self.market.mid(symbol)
        return Decimal(repr(mid)) if mid else None

    def account_value(self, key: str) -> float:
        """The account's exchange wallets valued in USD at the current mids."""
        usd_per = {"USD": 1.0, "BTC": self.market.mid("tBTCUSD"), "ETH": self.market.mid("tETHUSD")}
        usd_per["XRP"] = self.market.mid("tXRPBTC") * usd_per["BTC"]
        total = sum(float(b) * usd_per.get(c, 0.0)
                    for c, (b, _) in self.engine.wallets(key).items())
        return round(total, 8)

    def attach(self, s: _Session) -> None:
        """Deliver the account's private events to ``s`` too."""
        self.by_account[cast(str, s.account)].append(s)  # s has just authenticated

    def detach(self, s: _Session) -> None:
        """Stop delivering the account's private events to ``s``."""
        lst = self.by_account.get(cast(str, s.account))  # s is still authenticated
        if lst and s in lst:
            lst.remove(s)

    # -- sessions -----------------------------------------------------------------

    def new_chan_id(self) -> int:
        """A new channel id, unique on this server."""
        return next(self._chan_ids)

    def session_opened(self, s: _Session) -> None:
        """A connection opened: track its session and send its info event."""
        self.sessions.append(s)
        s.opened()

    def session_closed(self, s: _Session) -> None:
        """A connection ended: forget it; with the dead man's switch, cancel its orders."""
        s.closed()
        if s in self.sessions:
            self.sessions.remove(s)
        if s.account is not None:
            self.detach(s)
            if s.dms:
                # Dead man's switch: the account's orders go with the socket.
                res = self.engine.cancel_multi(s.account, all=True)
                self.after_result(res)

    def broadcast_event(self, event: dict) -> None:
        """Send ``event`` to every connection."""
        for s in list(self.sessions):
            s.send_event(event)

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

    def skip_sequence(self) -> None:
        """Make every connection skip one sequence number on its next frame."""
        for s in self.sessions:
            s.skip_next_seq = True

    def _resumed(self) -> None:
        now = self.now()
        for s in list(self.sessions):
            # Silence during the stall does not count toward heartbeats.
            for k in s.last_sent:
                s.last_sent[k] = now


def random_bits(seed: int) -> int:
    """128 reproducible bits for the server id (uuid)."""
    import random as _random
    return _random.Random(f"serverId:{seed}").getrandbits(128)


# -- autobahn adapter -----------------------------------------------------------------

class _Protocol(TrackedServerProtocol):
    """Moves text between autobahn and a :class:`_Session`."""

    session: _Session | None = None

    def onConnect(self, request):
        status = self.factory.server.faults.take_handshake_rejection()
        if status is not None:
            raise ConnectionDeny(status, "Too Many Requests" if status == 429 else "Refused")
        return None

    def onOpen(self):
        server = self.factory.server
        self.session = _Session(server, self.send_text, self.abort)
        server.session_opened(self.session)

    def onMessage(self, payload, isBinary):
        if self.session is None:
            return
        if isBinary:
            self.session.send_event({"event": "error", "msg": "invalid json", "code": 10000})
            return
        try:
            self.session.received(payload.decode("utf-8"))
        except Exception:  # a bug here must not kill the reactor thread
            log.exception("sandbox failed handling %r", payload[:200])



class _Factory(TrackedServerFactory):
    protocol = _Protocol


# -- public handle --------------------------------------------------------------------

class BitfinexSandbox(SandboxHandle[SandboxServer]):
    """A local Bitfinex v2 WebSocket exchange with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_KEY: DEFAULT_SECRET}``.
            Each account starts with :data:`DEFAULT_BALANCES` (or ``balances``).
        seed: market seed; same seed and same steps give the same market.
        tick_interval: seconds between market ticks; None: only :meth:`step` moves it.
        heartbeat_interval: seconds of silence on a channel before ``[chanId,"hb"]``.
        max_channels: public channels per connection before ``subscribe: limit``
            (Bitfinex documents 25 for public and 30 minus one for account
            connections; 25 it is, the account channel not counted).
        reactor: a reactor to use instead of the library's reactor thread (for
            in-reactor tests, e.g. ``MemoryReactorClock``); then call
            :meth:`listen` yourself on it and public methods run directly.
        balances: starting exchange wallets of every account.

    Example::

        sb = BitfinexSandbox().start()
        ...  # connect a client to sb.url
        sb.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accounts: Mapping[str, str] | None = None, seed: int = 1,
                 tick_interval: float | None = 0.25, heartbeat_interval: float = 15.0,
                 max_channels: int = 25, reactor: Any = None,
                 balances: Mapping[str, Any] | None = None):
        from exchange_wss import _reactor
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port = None
        self._listening = None
        self._server = SandboxServer(self._reactor, accounts or {DEFAULT_KEY: DEFAULT_SECRET},
                                     seed=seed, tick_interval=tick_interval,
                                     heartbeat_interval=heartbeat_interval,
                                     max_channels=max_channels, balances=balances)
        self._factory = _Factory(self._server)
        #: Fault injection (see :class:`~exchange_wss.sandbox.faults.Faults`).
        self.faults = Faults(self)

    # -- lifecycle ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port/ws/2``."""
        return f"ws://{self.host}:{self.port}/ws/2"

    # -- inspection and control -----------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the simulated market ``n`` ticks and publish the changes."""
        self._call(self._server.step, n)

    def book(self, symbol: str, precision: str = "P0", length: int = 25) -> dict:
        """The server's current public book: ``{"bids": [(price,count,amount)...], "asks": [...]}``.

        Entries are tuples in the channel's wire layout (R0: ``(id,price,amount)``;
        funding: ``(rate,period,count,amount)``).
        """
        def run():
            v = self._server.market.book(symbol, precision, length)
            return {"bids": [tuple(e) for e in v.bids], "asks": [tuple(e) for e in v.asks]}
        return self._call(run)

    def orders(self, api_key: str = DEFAULT_KEY) -> list[OrderView]:
        """Open orders of an account (resting and untriggered stops), oldest first."""
        return self._call(lambda: self._server.engine.open_orders(owner=api_key))

    def wallets(self, api_key: str = DEFAULT_KEY) -> dict:
        """``{("exchange", currency): balance}`` of an account, as floats."""
        return self._call(lambda: {("exchange", c): float(b) for c, (b, _) in
                                   self._server.engine.wallets(api_key).items()})

    def available(self, api_key: str = DEFAULT_KEY) -> dict:
        """``{("exchange", currency): available}`` (balance not reserved by open orders)."""
        return self._call(lambda: {("exchange", c): float(a) for c, (_, a) in
                                   self._server.engine.wallets(api_key).items()})

    def orders_received(self, api_key: str = DEFAULT_KEY) -> list:
        """Every new-order payload (``on``, also inside ``ox_multi``) received, in order."""
        return self._call(lambda: [dict(p) if isinstance(p, dict) else p
                                   for p in self._server.received.get(api_key, [])])

    def requests_received(self, api_key: str = DEFAULT_KEY) -> list:
        """Every chan-0 input received as ``(op, payload)``, in order."""
        return self._call(lambda: list(self._server.requests.get(api_key, [])))

    def connections(self) -> int:
        """Number of open WebSocket connections."""
        return self._call(lambda: len(self._server.sessions))

    def channels(self) -> list:
        """The public channels each open connection is subscribed to, as
        ``[[(channel, symbol or key, ...), ...], ...]`` (one list per connection)."""
        return self._call(lambda: [sorted(sub.ident for sub in s.subs.values())
                                   for s in self._server.sessions])

    def submit_order(self, api_key: str, symbol: str, amount: Any, price: Any = None,
                     type: str = "EXCHANGE LIMIT", **kw: Any) -> Result:
        """Place an order for an account directly (as if another client of it had),
        delivering the resulting frames to its connections."""
        def run():
            res = self._server.engine.submit(api_key, symbol, amount, price, type, **kw)
            self._server.after_result(res)
            return res
        return self._call(run)

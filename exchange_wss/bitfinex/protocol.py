"""Bitfinex WebSocket v2, sans-I/O: decoded frames in, typed events out; requests in, frames out.

Nothing here imports Twisted or autobahn. The connection layer decodes each
message (``orjson.loads``) and hands it to :meth:`BitfinexSession.receive`; the
facade builds requests with the module functions and sends them serialised.
One :class:`BitfinexSession` lives per connection (a fresh one after every
reconnect) and holds that connection's state: the chanId -> handler table,
pending subscriptions, books and sequence numbers.

Wire facts follow ``shared/protocol/bitfinex-v2.md``. Arrays are never unpacked
to a fixed length: Bitfinex appends fields, the TIMESTAMP flag appends a time,
SEQ_ALL appends sequence numbers, and some rows arrive shorter than documented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..errors import LocalProtocolError
from ..models import (
    BookSnapshot, BookUpdate, Candle, CandlesSnapshot, DerivativesStatus, Fill,
    FundingBookUpdate, FundingRawBookUpdate, FundingTicker, FundingTrade, Liquidation,
    Notification, Order, Position, RawBookUpdate, Snapshot, Ticker, Trade, TradesSnapshot,
    Wallet,
)
from ..numtext import decimal_text
from ..orderbook import OrderBook
from .utils import auth_signature, create_cid, order_symbol

__all__ = [
    # constants
    "FLAG_TIMESTAMP", "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM", "FLAG_BULK_UPDATES",
    "ORDER_FLAG_HIDDEN", "ORDER_FLAG_CLOSE", "ORDER_FLAG_REDUCE_ONLY",
    "ORDER_FLAG_POST_ONLY", "ORDER_FLAG_OCO", "ORDER_FLAG_NO_VAR_RATES",
    "PRECISIONS", "FREQUENCIES", "LENGTHS", "TIMEFRAMES", "ORDER_TYPES",
    "MAX_CALC_BATCH", "MAX_MULTI_OPS",
    # channels and requests
    "ChannelSpec", "conf_request", "unsubscribe_request", "ping_request", "auth_request",
    "new_order_payload", "input_frame", "cancel_payload", "cancel_cid_payload",
    "update_payload", "multi_payload", "calc_payload", "decimal_text",
    # control events
    "Subscribed", "Unsubscribed", "Pong", "ConfAck", "AuthOk", "AuthFailed", "ErrorEvent",
    "InfoEvent", "ChecksumFailed", "SequenceGapEvent", "MalformedFrame", "UnknownChannel",
    # session
    "BitfinexSession", "parse_auth_frame", "snapshot_kind",
]

# --------------------------------------------------------------------------- constants

FLAG_TIMESTAMP = 32768
FLAG_SEQ_ALL = 65536
FLAG_OB_CHECKSUM = 131072
FLAG_BULK_UPDATES = 536870912

ORDER_FLAG_HIDDEN = 64
ORDER_FLAG_CLOSE = 512
ORDER_FLAG_REDUCE_ONLY = 1024
ORDER_FLAG_POST_ONLY = 4096
ORDER_FLAG_OCO = 16384
ORDER_FLAG_NO_VAR_RATES = 524288

PRECISIONS = ("P0", "P1", "P2", "P3", "P4", "R0")
FREQUENCIES = ("F0", "F1")
LENGTHS = (1, 25, 100, 250)
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M")
MAX_CALC_BATCH = 30
MAX_MULTI_OPS = 75

_BASE_ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP LIMIT", "TRAILING STOP", "FOK", "IOC")
#: Order types ``on`` accepts: margin types and their ``EXCHANGE `` variants.
ORDER_TYPES = _BASE_ORDER_TYPES + tuple("EXCHANGE " + t for t in _BASE_ORDER_TYPES)
# Types that cannot be placed without a price.
_PRICED_TYPES = frozenset(("LIMIT", "STOP", "STOP LIMIT", "FOK", "IOC"))

_MULTI_OPS = frozenset(("on", "oc", "oc_multi", "ou"))
_UPDATE_FIELDS = frozenset((
    "id", "amount", "delta", "price", "cid", "cid_date", "gid", "flags", "lev",
    "price_aux_limit", "price_trailing", "tif", "meta"))
_UPDATE_DECIMALS = ("amount", "delta", "price", "price_aux_limit", "price_trailing")


# ------------------------------------------------------------------------ channel specs

def _fail(message: str) -> LocalProtocolError:
    return LocalProtocolError(message)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """What a public subscription asks for; hashable, so it can key a registry.

    Build one with the validating constructors (:meth:`ticker`, :meth:`trades`,
    :meth:`book`, :meth:`candles`, :meth:`status`); they raise
    :class:`~exchange_wss.errors.LocalProtocolError` before anything is sent.

    Attributes:
        channel: ``"ticker"``, ``"trades"``, ``"book"``, ``"candles"`` or ``"status"``.
        symbol: ``"tBTCUSD"``/``"fUSD"`` (candles: the key's symbol; status: None).
        key: candles ``"trade:1m:tBTCUSD"`` or status ``"deriv:tBTCF0:USTF0"``.
        prec, freq, length: book precision, frequency and length (else None).
    """

    channel: str
    symbol: Optional[str] = None
    key: Optional[str] = None
    prec: Optional[str] = None
    freq: Optional[str] = None
    length: Optional[int] = None

    @classmethod
    def ticker(cls, symbol: str) -> "ChannelSpec":
        """A ticker: ``ChannelSpec.ticker("BTCUSD")`` -> symbol ``tBTCUSD``."""
        return cls("ticker", order_symbol(symbol))

    @classmethod
    def trades(cls, symbol: str) -> "ChannelSpec":
        """Public trades of a trading pair or funding currency."""
        return cls("trades", order_symbol(symbol))

    @classmethod
    def book(cls, symbol: str, precision: str = "P0", frequency: str = "F0",
             length: int = 25) -> "ChannelSpec":
        """An order book.

        Args:
            symbol: ``"tBTCUSD"``, ``"BTCUSD"`` or ``"fUSD"``.
            precision: ``P0``-``P4`` (aggregated) or ``R0`` (raw orders).
            frequency: ``F0`` (realtime) or ``F1`` (every 2 s).
            length: levels per side: 1, 25, 100 or 250.

        Raises:
            LocalProtocolError: an unknown precision, frequency or length.
        """
        if precision not in PRECISIONS:
            raise _fail(f"unknown book precision {precision!r}; expected one of {PRECISIONS}")
        if frequency not in FREQUENCIES:
            raise _fail(f"unknown book frequency {frequency!r}; expected one of {FREQUENCIES}")
        # An int, or its decimal text as the server echoes it ("25").
        if isinstance(length, str) and length.isdecimal():
            length_int: Optional[int] = int(length)
        elif isinstance(length, int) and not isinstance(length, bool):
            length_int = length
        else:
            length_int = None
        if length_int not in LENGTHS:
            raise _fail(f"unknown book length {length!r}; expected one of {LENGTHS}")
        return cls("book", order_symbol(symbol), None, precision, frequency, length_int)

    @classmethod
    def candles(cls, symbol: str, timeframe: str, period: Any = None) -> "ChannelSpec":
        """Candles of ``symbol`` in ``timeframe``; the key is ``trade:1m:tBTCUSD``.

        Args:
            symbol: ``"tBTCUSD"``/``"BTCUSD"``, or a funding currency ``"fUSD"``.
            timeframe: one of :data:`TIMEFRAMES`.
            period: funding only, required there: ``30`` or ``"p30"``, or an
                aggregate such as ``"a30:p2:p30"``.

        Raises:
            LocalProtocolError: unknown timeframe, or a period missing/misplaced.
        """
        if timeframe not in TIMEFRAMES:
            raise _fail(f"unknown candle timeframe {timeframe!r}; expected one of {TIMEFRAMES}")
        sym = order_symbol(symbol)
        key = f"trade:{timeframe}:{sym}"
        if sym.startswith("f"):
            if period is None:
                raise _fail(f"funding candles need a period, e.g. period=30 ({key}:p30)")
            if isinstance(period, int) and not isinstance(period, bool) and period > 0:
                key += f":p{period}"
            elif isinstance(period, str) and period[:1] in ("p", "a"):
                key += ":" + period
            else:
                raise _fail(f"bad funding candle period {period!r}; use 30, 'p30' or 'a30:p2:p30'")
        elif period is not None:
            raise _fail("a candle period is only for funding symbols")
        return cls("candles", sym, key)

    @classmethod
    def status(cls, key: str) -> "ChannelSpec":
        """A status channel: ``"deriv:tBTCF0:USTF0"`` or ``"liq:global"``.

        Raises:
            LocalProtocolError: the key does not start with ``deriv:`` or ``liq:``.
        """
        if not isinstance(key, str) or not key.startswith(("deriv:", "liq:")) or \
                key in ("deriv:", "liq:"):
            raise _fail(f"unknown status key {key!r}; expected 'deriv:SYMBOL' or 'liq:global'")
        return cls("status", None, key)

    @property
    def is_book(self) -> bool:
        """True for book channels (aggregated or raw)."""
        return self.channel == "book"

    @property
    def is_raw_book(self) -> bool:
        """True for raw (R0) books."""
        return self.channel == "book" and self.prec == "R0"

    @property
    def is_funding(self) -> bool:
        """True when the symbol is a funding currency (``fUSD``)."""
        return self.symbol is not None and self.symbol.startswith("f")

    @property
    def timeframe(self) -> Optional[str]:
        """The candle timeframe (``"1m"``), else None."""
        if self.channel == "candles" and self.key:
            parts = self.key.split(":")
            return parts[1] if len(parts) > 1 else None
        return None

    @property
    def label(self) -> str:
        """A short text for logs and ids, e.g. ``"book:tBTCUSD:P0"``.

        Books with a non-default frequency or length add both
        (``"book:tBTCUSD:P0:F1:100"``) so two different books never share a label.
        """
        if self.channel == "book":
            base = f"book:{self.symbol}:{self.prec}"
            if self.freq != "F0" or self.length != 25:
                base += f":{self.freq}:{self.length}"
            return base
        if self.key is not None:
            return f"{self.channel}:{self.key}"
        return f"{self.channel}:{self.symbol}"

    def subscribe_request(self, sub_id: Any) -> Dict[str, Any]:
        """The ``subscribe`` event for this channel, tagged with ``sub_id`` (``subId``)."""
        req: Dict[str, Any] = {"event": "subscribe", "channel": self.channel}
        if self.channel in ("candles", "status"):
            req["key"] = self.key
        else:
            req["symbol"] = self.symbol
        if self.channel == "book":
            req["prec"] = self.prec
            req["freq"] = self.freq
            # The docs and the server's echo carry len as a string.
            req["len"] = str(self.length)
        if sub_id is not None:
            req["subId"] = sub_id
        return req

    def matches(self, event: Dict[str, Any]) -> bool:
        """True when a ``subscribed``/``error`` event describes this channel."""
        if event.get("channel") != self.channel:
            return False
        if self.channel in ("candles", "status"):
            return event.get("key") == self.key
        if event.get("symbol") != self.symbol:
            return False
        if self.channel == "book":
            if event.get("prec", self.prec) != self.prec:
                return False
            if event.get("freq", self.freq) != self.freq:
                return False
            if str(event.get("len", self.length)) != str(self.length):
                return False
        return True


# ---------------------------------------------------------------------- request builders

def conf_request(flags: int) -> Dict[str, Any]:
    """``{"event":"conf","flags":flags}`` (sum of the ``FLAG_*`` values)."""
    if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
        raise _fail(f"conf flags must be a non-negative int, got {flags!r}")
    return {"event": "conf", "flags": flags}


def unsubscribe_request(chan_id: int) -> Dict[str, Any]:
    """``{"event":"unsubscribe","chanId":chan_id}``."""
    return {"event": "unsubscribe", "chanId": chan_id}


def ping_request(cid: int) -> Dict[str, Any]:
    """``{"event":"ping","cid":cid}``; the server answers with a :class:`Pong`."""
    return {"event": "ping", "cid": cid}


def auth_request(api_key: str, secret: str, nonce: Any, filters: Optional[Iterable[str]] = None,
                 dms: bool = False, calc: bool = False) -> Dict[str, Any]:
    """The ``auth`` event: ``authPayload = "AUTH" + nonce`` signed with HMAC-SHA384.

    Args:
        api_key: the API key.
        secret: the API secret (used to sign, not sent).
        nonce: a strictly increasing nonce (:class:`~.utils.NonceGenerator`).
        filters: optional channel filters (``"trading"``, ``"wallet"``...).
        dms: ask the server to cancel all orders when this socket closes (``dms: 4``).
        calc: send ``calc: 1`` (wallet AVAILABLE computed in the snapshot), as
            the Bitfinex docs' example and bitfinex-v2 do.

    Raises:
        LocalProtocolError: missing key or secret.
    """
    if not api_key or not secret:
        raise _fail("authentication needs an API key and secret")
    payload = "AUTH" + str(nonce)
    req: Dict[str, Any] = {
        "event": "auth",
        "apiKey": api_key,
        "authSig": auth_signature(secret, payload),
        "authNonce": nonce,
        "authPayload": payload,
    }
    if filters:
        if isinstance(filters, str):
            filters = [filters]
        req["filter"] = list(filters)
    if dms:
        req["dms"] = 4
    if calc:
        req["calc"] = 1
    return req


def _sum_flags(flags: Any) -> int:
    """Combine order flags. OR rather than +: the same as Bitfinex's "sum" for
    distinct flags, and a flag given twice (64 and 4160) is not double counted."""
    if flags is None:
        return 0
    if isinstance(flags, (list, tuple, set, frozenset)):
        items = list(flags)
    else:
        items = [flags]
    total = 0
    for f in items:
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise _fail(f"order flags must be non-negative ints, got {f!r}")
        total |= f
    return total


def _tif_text(tif: Any) -> str:
    if isinstance(tif, datetime):
        if tif.tzinfo is not None:
            tif = tif.astimezone(timezone.utc)
        return tif.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(tif, str) and tif:
        return tif
    raise _fail(f"tif must be 'YYYY-MM-DD HH:MM:SS' or a datetime, got {tif!r}")


def _int_id(value: Any, what: str) -> int:
    # Ids come as ints or as their decimal text ("1234", as bitfinex-v2's docs write them).
    if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
        return int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{what} must be an int or its decimal text, got {value!r}")
    return value


def new_order_payload(order_type: str, symbol: str, amount: Any, price: Any = None,
                      price_trailing: Any = None, price_aux_limit: Any = None,
                      price_oco_stop: Any = None, hidden: bool = False, flags: Any = None,
                      tif: Any = None, cid: Optional[int] = None, gid: Optional[int] = None,
                      meta: Optional[Dict[str, Any]] = None, lev: Optional[int] = None,
                      **extra: Any) -> Dict[str, Any]:
    """The payload of a new order (``on``), validated.

    Amounts and prices are sent as plain decimal strings (Bitfinex's form; no
    float or exponent surprises).

    Args:
        order_type: one of :data:`ORDER_TYPES` (case-insensitive), e.g. ``"EXCHANGE LIMIT"``.
        symbol: ``"tBTCUSD"`` or ``"BTCUSD"``.
        amount: non-zero; positive buys, negative sells.
        price: required for LIMIT, STOP, STOP LIMIT, FOK and IOC types.
        price_trailing: required for TRAILING STOP types.
        price_aux_limit: the limit price of a STOP LIMIT (required there).
        price_oco_stop: the stop price of an OCO order; sets the OCO flag.
        hidden: add the hidden flag (64).
        flags: an int or a list of flag ints (OR-ed together).
        tif: time in force, ``"YYYY-MM-DD HH:MM:SS"`` (UTC) or a datetime.
        cid: client order id; a fresh :func:`~.utils.create_cid` when None.
        gid: group id.
        meta: e.g. ``{"aff_code": "..."}``.
        lev: leverage (derivatives).
        **extra: refused: an unknown field is a typo until Bitfinex says otherwise.

    Raises:
        LocalProtocolError: a missing symbol, unknown type, zero amount,
            missing price, or an unknown field.
    """
    if extra:
        raise _fail(f"unknown order field(s): {', '.join(sorted(extra))}")
    if not isinstance(order_type, str):
        raise _fail(f"order type must be a string, got {order_type!r}")
    otype = " ".join(order_type.upper().split())
    if otype not in ORDER_TYPES:
        raise _fail(f"unknown order type {order_type!r}; expected one of {ORDER_TYPES}")
    if symbol is None or symbol == "":
        raise _fail("an order needs a symbol")
    sym = order_symbol(symbol)
    if amount is None:
        raise _fail("an order needs an amount")
    amount_text = decimal_text(amount, "amount")
    if Decimal(amount_text) == 0:
        raise _fail("an order amount must not be zero")
    base = otype[len("EXCHANGE "):] if otype.startswith("EXCHANGE ") else otype
    if base in _PRICED_TYPES and price is None:
        raise _fail(f"a {otype} order needs a price")
    if base == "TRAILING STOP" and price_trailing is None:
        raise _fail(f"a {otype} order needs price_trailing")
    if base == "STOP LIMIT" and price_aux_limit is None:
        raise _fail(f"a {otype} order needs price_aux_limit (the limit price)")
    if cid is None:
        cid = create_cid()
    payload: Dict[str, Any] = {"cid": _int_id(cid, "cid"), "type": otype, "symbol": sym,
                               "amount": amount_text}
    if price is not None:
        payload["price"] = decimal_text(price, "price")
    if price_trailing is not None:
        payload["price_trailing"] = decimal_text(price_trailing, "price_trailing")
    if price_aux_limit is not None:
        payload["price_aux_limit"] = decimal_text(price_aux_limit, "price_aux_limit")
    total_flags = _sum_flags(flags)
    if price_oco_stop is not None:
        payload["price_oco_stop"] = decimal_text(price_oco_stop, "price_oco_stop")
        # Bitfinex ignores price_oco_stop unless the OCO flag is set.
        total_flags |= ORDER_FLAG_OCO
    if hidden:
        total_flags |= ORDER_FLAG_HIDDEN
    if flags is not None or total_flags:
        payload["flags"] = total_flags
    if gid is not None:
        payload["gid"] = _int_id(gid, "gid")
    if lev is not None:
        payload["lev"] = _int_id(lev, "lev")
    if tif is not None:
        payload["tif"] = _tif_text(tif)
    if meta is not None:
        if not isinstance(meta, dict):
            raise _fail(f"meta must be a dict, got {meta!r}")
        payload["meta"] = meta
    return payload


def input_frame(op: str, payload: Any) -> List[Any]:
    """An authenticated input: ``[0, op, None, payload]``."""
    return [0, op, None, payload]


def cancel_payload(order_id: int) -> Dict[str, Any]:
    """``oc`` by exchange id: ``{"id": order_id}``."""
    return {"id": _int_id(order_id, "order id")}


def _date_text(cid_date: Any) -> str:
    if isinstance(cid_date, datetime):
        cid_date = cid_date.date()
    if isinstance(cid_date, date):
        return cid_date.strftime("%Y-%m-%d")
    if isinstance(cid_date, str):
        try:
            datetime.strptime(cid_date, "%Y-%m-%d")
        except ValueError:
            pass
        else:
            if len(cid_date) == 10:
                return cid_date
    raise _fail(f"cid_date must be 'YYYY-MM-DD', got {cid_date!r}")


def cancel_cid_payload(cid: int, cid_date: Any) -> Dict[str, Any]:
    """``oc`` by client id: ``{"cid": cid, "cid_date": "YYYY-MM-DD"}``."""
    return {"cid": _int_id(cid, "cid"), "cid_date": _date_text(cid_date)}


def update_payload(**settings: Any) -> Dict[str, Any]:
    """The payload of an order update (``ou``); ``id`` is required.

    Accepted fields: id, amount, delta, price, cid, cid_date, gid, flags, lev,
    price_aux_limit, price_trailing, tif, meta. Numbers that Bitfinex takes as
    strings (amount, delta, prices) are converted; None values are dropped.

    Raises:
        LocalProtocolError: no ``id``, or an unknown field.
    """
    unknown = set(settings) - _UPDATE_FIELDS
    if unknown:
        raise _fail(f"unknown order update field(s): {', '.join(sorted(unknown))}")
    if settings.get("id") is None:
        raise _fail("an order update needs the order's id")
    payload: Dict[str, Any] = {}
    for name, value in settings.items():
        if value is None:
            continue
        if name in _UPDATE_DECIMALS:
            value = decimal_text(value, name)
        elif name == "id":
            value = _int_id(value, "order id")
        elif name == "flags":
            value = _sum_flags(value)
        elif name == "tif":
            value = _tif_text(value)
        elif name == "cid_date":
            value = _date_text(value)
        payload[name] = value
    return payload


def multi_payload(operations: Iterable[Any]) -> List[List[Any]]:
    """The payload of ``ox_multi``: a list of ``[op, payload]`` pairs (at most 75).

    Each operation is an explicit ``[op, payload]`` pair with op ``on``, ``oc``,
    ``oc_multi`` or ``ou``, or a dict: with ``"type"`` a new order (``on``);
    exactly ``{"id"}`` or ``{"cid", "cid_date"}`` a cancel (``oc``). Updates
    must be explicit ``["ou", {...}]`` pairs (a dict with an id and prices is
    ambiguous).

    Raises:
        LocalProtocolError: no operations, more than 75, or one not understood.
    """
    ops: List[List[Any]] = []
    for op in operations:
        if isinstance(op, dict):
            keys = set(op)
            if "type" in op:
                ops.append(["on", op])
            elif keys == {"id"} or keys == {"cid", "cid_date"}:
                ops.append(["oc", op])
            else:
                raise _fail(f"cannot tell which operation {op!r} is; "
                            "use an explicit ['ou', {...}] / ['oc_multi', {...}] pair")
        elif isinstance(op, (list, tuple)) and len(op) == 2 and op[0] in _MULTI_OPS \
                and isinstance(op[1], dict):
            ops.append([op[0], op[1]])
        else:
            raise _fail(f"bad ox_multi operation {op!r}; expected a dict or [op, payload] "
                        f"with op one of {sorted(_MULTI_OPS)}")
    if not ops:
        raise _fail("ox_multi needs at least one operation")
    if len(ops) > MAX_MULTI_OPS:
        raise _fail(f"ox_multi takes at most {MAX_MULTI_OPS} operations, got {len(ops)}")
    return ops


def _flatten_calc(items: Iterable[Any], out: List[List[str]]) -> None:
    for item in items:
        if isinstance(item, str):
            if not item:
                raise _fail("an empty calc request")
            out.append([item])
        elif isinstance(item, (list, tuple)):
            _flatten_calc(item, out)
        else:
            raise _fail(f"calc requests are strings like 'margin_sym_tBTCUSD', got {item!r}")


def calc_payload(*calculations: Any) -> List[List[str]]:
    """The payload of ``calc``: each request in its own list.

    ``calc_payload("margin_sym_tBTCUSD", "funding_sym_fUSD")`` and
    ``calc_payload(["margin_sym_tBTCUSD", "funding_sym_fUSD"])`` both give
    ``[["margin_sym_tBTCUSD"], ["funding_sym_fUSD"]]``.

    Raises:
        LocalProtocolError: nothing asked, a non-string, or more than 30.
    """
    out: List[List[str]] = []
    _flatten_calc(calculations, out)
    if not out:
        raise _fail("calc needs at least one request")
    if len(out) > MAX_CALC_BATCH:
        raise _fail(f"calc takes at most {MAX_CALC_BATCH} requests per batch, got {len(out)}")
    return out


# ------------------------------------------------------------------------ control events

@dataclass(slots=True)
class Subscribed:
    """A subscription is live: ``chan_id`` now carries the channel asked for with ``sub_id``."""

    sub_id: Any
    chan_id: int
    channel: Optional[str]
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Unsubscribed:
    """The server confirmed an unsubscribe."""

    chan_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Pong:
    """The answer to :func:`ping_request`; ``ts`` is the server's ms time."""

    cid: Any
    ts: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ConfAck:
    """The answer to :func:`conf_request`; ``status`` is ``"OK"`` on success."""

    flags: Any
    status: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class AuthOk:
    """Authentication succeeded; account snapshots follow on chan 0."""

    user_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class AuthFailed:
    """Authentication was refused (``code`` 10100..., ``msg`` e.g. ``"nonce: small"``)."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ErrorEvent:
    """An ``error`` event. ``sub_id`` names the pending subscription it refused, if any.

    The echoed ``channel``/``symbol``/``key`` stay in ``raw``.
    """

    code: Any
    msg: Any
    sub_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class InfoEvent:
    """An ``info`` event: the greeting (``code`` None, ``version``, ``platform_status``)
    or a notice (20051 reconnect, 20060/20061 maintenance start/end)."""

    code: Any
    msg: Any
    version: Any
    platform_status: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ChecksumFailed:
    """A book's checksum differs from the server's ``cs``: the book must be resynced."""

    chan_id: Any
    sub_id: Any
    expected: Any
    computed: Any


@dataclass(slots=True)
class SequenceGapEvent:
    """A SEQ_ALL sequence number was skipped or repeated (``stream`` "public" or "auth")."""

    expected: int
    got: Any
    stream: str = "public"


@dataclass(slots=True)
class MalformedFrame:
    """A frame this session cannot use (wrong shape or types); ``reason`` says why."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class UnknownChannel:
    """A data frame for a chanId with no bound subscription (heartbeats are not reported)."""

    chan_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


# ------------------------------------------------------------------------ row parsers

def _pad(row: Any, n: int) -> list:
    """``row`` with at least ``n`` items (missing trailing fields become None)."""
    if row.__class__ is not list:
        raise TypeError(f"expected an array, got {type(row).__name__}")
    if len(row) >= n:
        return row
    return row + [None] * (n - len(row))


def _order(row: Any, kind: str, raw: Any) -> Order:
    r = _pad(row, 18)
    return Order(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[13], r[16], r[17],
                 r[12], kind, raw)


def _wallet(row: Any, kind: str, raw: Any) -> Wallet:
    r = _pad(row, 5)
    return Wallet(r[0], r[1], r[2], r[3], r[4], kind, raw)


def _position(row: Any, kind: str, raw: Any) -> Position:
    # [SYMBOL,STATUS,AMOUNT,BASE_PRICE,MARGIN_FUNDING,MARGIN_FUNDING_TYPE,PL,PL_PERC,
    #  PRICE_LIQ,LEVERAGE,_,POSITION_ID,...]
    r = _pad(row, 12)
    return Position(r[0], r[1], r[2], r[3], r[6], r[8], r[9], r[11], kind, raw)


def _fill(row: Any, kind: str, raw: Any) -> Fill:
    # [ID,SYMBOL,MTS_CREATE,ORDER_ID,EXEC_AMOUNT,EXEC_PRICE,ORDER_TYPE,ORDER_PRICE,
    #  MAKER,FEE,FEE_CURRENCY,CID]
    r = _pad(row, 12)
    maker = r[8]
    return Fill(r[0], r[1], r[2], r[3], r[4], r[5], r[9], r[10],
                None if maker is None else maker == 1, r[6], r[7], r[11], None, kind, raw)


_ORDER_REQS = frozenset(("on-req", "ou-req", "oc-req"))
_MULTI_REQS = frozenset(("oc_multi-req", "ox_multi-req"))


def _notification_data(ntype: Any, data: Any) -> Any:
    if data.__class__ is not list:
        return data
    if ntype in _ORDER_REQS:
        if not data or data[0].__class__ is not list:
            return _order(data, ntype, data)
        return data
    if ntype in _MULTI_REQS and data and all(d.__class__ is list for d in data):
        out = []
        for item in data:
            # ox_multi answers may nest one notification per operation.
            if len(item) > 1 and item[1].__class__ is str:
                out.append(_notification(item, item))
            else:
                out.append(_order(item, ntype, item))
        return out
    return data


def _notification(row: Any, raw: Any) -> Notification:
    # [MTS,TYPE,MESSAGE_ID,null,DATA,CODE,STATUS,TEXT]; MTS kept as sent (ms or s).
    r = _pad(row, 8)
    ntype = r[1]
    return Notification(r[0], ntype, r[6], r[7], _notification_data(ntype, r[4]), raw)


_AUTH_ITEM_PARSERS: Dict[str, Callable[[Any, str, Any], Any]] = {
    "on": _order, "ou": _order, "oc": _order,
    "te": _fill, "tu": _fill,
    "wu": _wallet,
    "pn": _position, "pu": _position, "pc": _position,
}
_SNAPSHOT_ITEM_PARSERS: Dict[str, Callable[[Any, str, Any], Any]] = {
    "os": _order, "hos": _order, "ps": _position, "ws": _wallet,
}


def _parse_auth(msg: list) -> Any:
    """Chan-0 frame -> typed event, the frame itself, or None (heartbeat). May raise."""
    kind = msg[1]
    if kind == "hb":
        return None
    if kind == "n":
        return _notification(msg[2], msg)
    parser = _AUTH_ITEM_PARSERS.get(kind)
    if parser is not None:
        return parser(msg[2], kind, msg)
    if kind.__class__ is str and kind.endswith("s") and len(msg) > 2:
        payload = msg[2]
        if payload.__class__ is list and all(row.__class__ is list for row in payload):
            item = _SNAPSHOT_ITEM_PARSERS.get(kind)
            items = [item(row, kind, row) for row in payload] if item else list(payload)
            return Snapshot(kind, items, msg)
    return msg


def parse_auth_frame(msg: Any) -> Any:
    """Turn a decoded chan-0 frame into its typed event (for raw-mode users).

    Returns:
        A :class:`~exchange_wss.models.Order`, ``Fill``, ``Wallet``, ``Position``,
        ``Notification`` or ``Snapshot``; the frame itself for streams without a
        model; None for heartbeats and frames that cannot be parsed.
    """
    if msg.__class__ is not list or len(msg) < 2:
        return None
    try:
        return _parse_auth(msg)
    except Exception:  # noqa: BLE001 - a bad frame is "nothing to parse", never a crash
        return None


# ------------------------------------------------------------------------ channel handlers

class _Handler:
    """One bound channel. ``handle(msg)`` is called once per frame for its chanId.

    Handlers parse inside ``try`` and call ``deliver`` outside it, so a bad
    frame becomes :class:`MalformedFrame` while an exception raised by the
    facade's callback propagates (the facade guards its user callbacks).
    """

    __slots__ = ("session", "sub_id", "chan_id", "spec", "deliver", "symbol")

    def __init__(self, session: "BitfinexSession", sub_id: Any, chan_id: Any,
                 spec: Optional[ChannelSpec], deliver: Callable[[Any], None]):
        self.session = session
        self.sub_id = sub_id
        self.chan_id = chan_id
        self.spec = spec
        self.deliver = deliver
        self.symbol = spec.symbol if spec is not None else None

    def _bad(self, msg: Any, exc: BaseException) -> None:
        label = self.spec.label if self.spec is not None else f"chan {self.chan_id}"
        self.session._on_control(MalformedFrame(f"{label}: {type(exc).__name__}: {exc}", msg))

    def _unexpected(self, msg: Any, what: Any) -> None:
        label = self.spec.label if self.spec is not None else f"chan {self.chan_id}"
        self.session._on_control(MalformedFrame(f"{label}: unexpected {what!r}", msg))


class _RawHandler(_Handler):
    """Raw mode (or an unknown channel): the decoded frame, heartbeats dropped."""

    __slots__ = ()

    def handle(self, msg: list) -> None:
        if len(msg) < 2:
            self._unexpected(msg, "frame without payload")
            return
        if msg[1] == "hb":
            return
        self.deliver(msg)


class _TickerHandler(_Handler):
    __slots__ = ()

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            if len(body) < 10:
                body = _pad(body, 10)
            event = Ticker(self.symbol, body[0], body[1], body[2], body[3], body[4], body[5],
                           body[6], body[7], body[8], body[9], msg)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        self.deliver(event)


class _FundingTickerHandler(_Handler):
    __slots__ = ()

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            b = _pad(body, 16)
            event = FundingTicker(self.symbol, b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                                  b[8], b[9], b[10], b[11], b[12], b[15], msg)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        self.deliver(event)


def _mts_id(trade: Any) -> Tuple:
    return (trade.mts, trade.id)


class _TradesHandler(_Handler):
    __slots__ = ("funding",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.funding = self.spec.is_funding

    def _row(self, row: Any, kind: str, raw: Any) -> Any:
        if self.funding:
            r = _pad(row, 5)
            return FundingTrade(self.symbol, r[0], r[1], r[2], r[3], r[4], kind, raw)
        r = _pad(row, 4)
        return Trade(self.symbol, r[0], r[1], r[2], r[3], kind, raw)

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is str:
                if body == "te" or body == "tu":
                    r = msg[2]
                    if len(r) < 4:
                        r = _pad(r, 4)
                    event = Trade(self.symbol, r[0], r[1], r[2], r[3], body, msg)
                elif body == "fte" or body == "ftu":
                    r = _pad(msg[2], 5)
                    event = FundingTrade(self.symbol, r[0], r[1], r[2], r[3], r[4], body, msg)
                elif body == "hb":
                    return
                else:
                    self._unexpected(msg, body)
                    return
            elif body.__class__ is list:
                trades = [self._row(row, "snapshot", row) for row in body]
                # Bitfinex sends newest first; users get oldest first.
                trades.sort(key=_mts_id)
                event = TradesSnapshot(self.symbol, trades, msg)
            else:
                self._unexpected(msg, body)
                return
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        self.deliver(event)


class _BookHandler(_Handler):
    """Book frames: snapshot, single updates (or bulk batches), ``cs`` and ``hb``.

    The update shapes differ per book type; :meth:`_event` builds one update.
    """

    __slots__ = ("book", "raw", "kind", "funding", "have_snapshot", "cs_reported", "_make")

    def __init__(self, session: "BitfinexSession", sub_id: Any, chan_id: Any,
                 spec: ChannelSpec, deliver: Callable[[Any], None], raw: bool,
                 book: Optional[OrderBook]):
        super().__init__(session, sub_id, chan_id, spec, deliver)
        self.book = book
        self.raw = raw
        self.kind = "raw" if spec.is_raw_book else "price"
        self.funding = spec.is_funding
        self.have_snapshot = False
        # One ChecksumFailed per snapshot: the facade resubscribes once.
        self.cs_reported = False
        if self.funding:
            self._make = FundingRawBookUpdate if self.kind == "raw" else FundingBookUpdate
        else:
            self._make = RawBookUpdate if self.kind == "raw" else BookUpdate

    def _event(self, entry: Any, raw: Any) -> Any:
        if self.funding:
            return self._make(self.symbol, entry[0], entry[1], entry[2], entry[3], raw)
        return self._make(self.symbol, entry[0], entry[1], entry[2], raw)

    def handle(self, msg: list) -> None:
        events = None
        try:
            body = msg[1]
            if body.__class__ is list:
                book = self.book
                if body and body[0].__class__ is not list:
                    # One update: the hot path.
                    if book is not None:
                        book.apply_update(body)
                    if self.raw:
                        event = msg
                    else:
                        event = self._event(body, msg)
                elif self.have_snapshot and self.session._bulk:
                    # BULK_UPDATES: after the snapshot a list of entries is a batch.
                    if book is not None:
                        for entry in body:
                            book.apply_update(entry)
                    if self.raw:
                        event = msg
                    else:
                        make = self._event
                        events = [make(entry, entry) for entry in body]
                        event = None
                else:
                    event = self._snapshot(body, msg)
            elif body == "cs":
                self._checksum(msg)
                return
            elif body == "hb":
                return
            else:
                self._unexpected(msg, body)
                return
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        if events is None:
            self.deliver(event)
        else:
            deliver = self.deliver
            for event in events:
                deliver(event)

    def _snapshot(self, body: list, msg: list) -> Any:
        book = self.book
        self.have_snapshot = True
        self.cs_reported = False
        if book is not None:
            book.apply_snapshot(body)
        if self.raw:
            return msg
        if book is None:
            book = OrderBook(self.symbol, kind=self.kind, funding=self.funding)
            book.apply_snapshot(body)
        return BookSnapshot(self.symbol, book.bids, book.asks, msg,
                            snapshot_kind(self.kind, self.funding))

    def _checksum(self, msg: list) -> None:
        book = self.book
        if book is None or not self.have_snapshot or self.cs_reported:
            return
        expected = msg[2]
        computed = book.checksum()
        if computed is None:  # funding books: not verifiable
            return
        if computed != expected:
            self.cs_reported = True
            self.session._on_control(ChecksumFailed(self.chan_id, self.sub_id, expected,
                                                    computed))


def snapshot_kind(kind: str, funding: bool) -> str:
    """The :attr:`~exchange_wss.models.BookSnapshot.kind` of a Bitfinex book."""
    if funding:
        return "funding-raw" if kind == "raw" else "funding"
    return kind


class _CandlesHandler(_Handler):
    __slots__ = ("timeframe",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.timeframe = self.spec.timeframe

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            sym, tf = self.symbol, self.timeframe
            if body and body[0].__class__ is not list:
                r = _pad(body, 6)
                event = Candle(sym, tf, r[0], r[1], r[2], r[3], r[4], r[5], msg)
            else:
                candles = []
                for row in body:
                    r = _pad(row, 6)
                    candles.append(Candle(sym, tf, r[0], r[1], r[2], r[3], r[4], r[5], row))
                # Bitfinex sends newest first; users get oldest first.
                candles.sort(key=_candle_mts)
                event = CandlesSnapshot(sym, tf, candles, msg)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        self.deliver(event)


def _candle_mts(candle: Candle) -> Any:
    return candle.mts


def _deriv(key: str, row: Any, raw: Any) -> DerivativesStatus:
    # [MTS,_,DERIV_PRICE,SPOT_PRICE,_,INSURANCE_FUND_BALANCE,_,NEXT_FUNDING_EVT_MTS,
    #  NEXT_FUNDING_ACCRUED,NEXT_FUNDING_STEP,_,CURRENT_FUNDING,_,_,MARK_PRICE,_,_,
    #  OPEN_INTEREST,...]; short rows are common (fields were added over the years).
    r = _pad(row, 18)
    return DerivativesStatus(key, r[0], r[2], r[3], r[5], r[7], r[8], r[9], r[11], r[14],
                             r[17], raw)


def _liquidation(row: Any) -> Liquidation:
    # ["pos",POS_ID,MTS,_,SYMBOL,AMOUNT,BASE_PRICE,_,IS_MATCH,IS_MARKET_SOLD,_,LIQ_PRICE]
    r = _pad(row, 12)
    return Liquidation(r[1], r[2], r[4], r[5], r[6], r[8], r[9], r[11], row)


class _StatusHandler(_Handler):
    __slots__ = ("liq",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.liq = self.spec.key.startswith("liq:")

    def handle(self, msg: list) -> None:
        try:
            body = msg[1]
            if body.__class__ is not list:
                if body == "hb":
                    return
                self._unexpected(msg, body)
                return
            if self.liq:
                # Each row is one liquidation; a snapshot may nest them deeper.
                events = []
                for row in body:
                    if row and row[0].__class__ is list:
                        events.extend(_liquidation(r) for r in row)
                    else:
                        events.append(_liquidation(row))
            elif body and body[0].__class__ is list:
                events = [_deriv(self.spec.key, row, row) for row in body]
            else:
                events = [_deriv(self.spec.key, body, msg)]
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        deliver = self.deliver
        for event in events:
            deliver(event)


class _AuthHandler(_Handler):
    """Chan 0: account streams to models; anything without a model as the frame."""

    __slots__ = ()

    def handle(self, msg: list) -> None:
        try:
            event = _parse_auth(msg)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        if event is not None:
            self.deliver(event)


_TYPED_HANDLERS = {
    "trades": _TradesHandler,
    "candles": _CandlesHandler,
    "status": _StatusHandler,
}


# ---------------------------------------------------------------------------- session

class BitfinexSession:
    """The protocol state of one Bitfinex connection (make a fresh one per connect).

    Feed every decoded message to :meth:`receive`. Data for a bound channel goes
    to that subscription's ``deliver``; everything about the connection itself
    (subscribed, errors, info, pong, checksum and sequence problems, malformed
    frames) goes to ``on_control`` as the event classes of this module.

    ``receive`` never raises for bad input. Exceptions raised by ``deliver`` or
    ``on_control`` themselves propagate to the caller.

    Args:
        on_control: called with each control event.
        seq_all: the connection sent ``conf`` with :data:`FLAG_SEQ_ALL`; check
            sequence numbers and report gaps as :class:`SequenceGapEvent`.
        bulk_updates: the connection sent :data:`FLAG_BULK_UPDATES`; after a
            book snapshot, a list of entries is a batch of updates.
    """

    def __init__(self, on_control: Callable[[Any], None], *, seq_all: bool = False,
                 bulk_updates: bool = False):
        self._on_control = on_control
        self._seq_all = seq_all
        self._bulk = bulk_updates
        self._handlers: Dict[Any, Any] = {}
        # sub_id -> (spec, deliver, raw, book)
        self._pending: Dict[Any, Tuple[ChannelSpec, Callable[[Any], None], bool,
                                       Optional[OrderBook]]] = {}
        self._chan_of_sub: Dict[Any, Any] = {}
        self._last_pub: Optional[int] = None
        self._last_auth: Optional[int] = None

    # ------------------------------------------------------------------ registration

    def expect(self, sub_id: Any, spec: ChannelSpec, deliver: Callable[[Any], None], *,
               raw: bool = False, book: Optional[OrderBook] = None) -> None:
        """Register a subscription request sent with ``subId = sub_id``.

        When the server's ``subscribed`` arrives, its chanId is bound to a
        handler and :class:`Subscribed` goes to ``on_control``.

        Args:
            sub_id: the ``subId`` sent in the subscribe request.
            spec: what was asked for.
            deliver: gets the typed events (or, with ``raw``, the decoded frames).
            raw: deliver frames as received, building no models (heartbeats and
                checksum frames are still dropped).
            book: an :class:`~exchange_wss.orderbook.OrderBook` to maintain (book
                channels); replaced by each snapshot and checked against ``cs``.
        """
        self._pending[sub_id] = (spec, deliver, raw, book)

    def expect_auth(self, deliver: Callable[[Any], None], *, raw: bool = False) -> None:
        """Bind chan 0 (the account channel) to ``deliver``; call before sending ``auth``."""
        if raw:
            self._handlers[0] = _RawHandler(self, None, 0, None, deliver)
        else:
            self._handlers[0] = _AuthHandler(self, None, 0, None, deliver)

    def forget(self, chan_id: Any) -> None:
        """Unbind a channel (after unsubscribing); its later frames are ignored."""
        handler = self._handlers.pop(chan_id, None)
        if handler is not None and handler.sub_id is not None:
            if self._chan_of_sub.get(handler.sub_id) == chan_id:
                del self._chan_of_sub[handler.sub_id]

    def channel_of(self, sub_id: Any) -> Optional[Any]:
        """The chanId bound to ``sub_id``, or None if not (yet) subscribed."""
        return self._chan_of_sub.get(sub_id)

    def cancel_pending(self, sub_id: Any) -> None:
        """Drop a subscription still waiting for its ``subscribed`` event."""
        self._pending.pop(sub_id, None)

    # ---------------------------------------------------------------------- receive

    def receive(self, msg: Any) -> None:
        """Handle one decoded message (a list or a dict from ``orjson.loads``)."""
        if msg.__class__ is list:
            try:
                handler = self._handlers.get(msg[0])
            except (IndexError, TypeError):
                self._on_control(MalformedFrame("empty frame or unusable channel id", msg))
                return
            if self._seq_all:
                self._check_seq(msg)
            if handler is not None:
                handler.handle(msg)
            elif len(msg) < 2 or msg[1] != "hb":
                # Heartbeats can precede a channel's "subscribed": not an error.
                self._on_control(UnknownChannel(msg[0], msg))
        elif msg.__class__ is dict:
            self._event(msg)
        else:
            self._on_control(MalformedFrame(f"unexpected message type {type(msg).__name__}",
                                            msg))

    # ----------------------------------------------------------------- sequence numbers

    def _check_seq(self, msg: list) -> None:
        """SEQ_ALL audit. Indices are counted from the front: a TIMESTAMP may trail."""
        n = len(msg)
        kind = msg[1] if n > 1 else None
        auth_idx = None
        if msg[0] == 0 and msg[0].__class__ is int:
            if kind == "hb":
                pub_idx = 2
            else:
                if kind == "n":
                    payload = msg[2] if n > 2 else None
                    if payload.__class__ is list and len(payload) > 1 and \
                            payload[1].__class__ is str and payload[1].endswith("-req"):
                        # Request notifications carry only the auth seq, which
                        # does not advance; nothing to check.
                        return
                pub_idx, auth_idx = 3, 4
        elif kind.__class__ is str and kind != "hb":
            pub_idx = 3  # [id, "te"|"cs"|..., payload, SEQ, ...]
        else:
            pub_idx = 2  # [id, payload|"hb", SEQ, ...]
        if n > pub_idx:
            seq = msg[pub_idx]
            if seq.__class__ is int:
                last = self._last_pub
                self._last_pub = seq
                if last is not None and seq != last + 1:
                    self._on_control(SequenceGapEvent(last + 1, seq, "public"))
        if auth_idx is not None and n > auth_idx:
            seq = msg[auth_idx]
            # 0: the initial sync is still running; an unchanged seq did not advance.
            if seq.__class__ is int and seq != 0 and seq != self._last_auth:
                last = self._last_auth
                self._last_auth = seq
                if last is not None and seq != last + 1:
                    self._on_control(SequenceGapEvent(last + 1, seq, "auth"))

    # ------------------------------------------------------------------------- events

    def _event(self, msg: dict) -> None:
        try:
            event = self._parse_event(msg)
        except Exception as exc:  # noqa: BLE001
            event = MalformedFrame(f"bad event: {type(exc).__name__}: {exc}", msg)
        if event is not None:
            self._on_control(event)

    def _parse_event(self, msg: dict) -> Any:
        kind = msg.get("event")
        if kind == "subscribed":
            return self._subscribed(msg)
        if kind == "info":
            platform = msg.get("platform")
            status = platform.get("status") if platform.__class__ is dict else None
            return InfoEvent(msg.get("code"), msg.get("msg"), msg.get("version"), status, msg)
        if kind == "unsubscribed":
            chan_id = msg.get("chanId")
            self.forget(chan_id)
            return Unsubscribed(chan_id, msg)
        if kind == "error":
            return ErrorEvent(msg.get("code"), msg.get("msg"), self._pop_pending_for(msg), msg)
        if kind == "pong":
            return Pong(msg.get("cid"), msg.get("ts"), msg)
        if kind == "conf":
            return ConfAck(msg.get("flags"), msg.get("status"), msg)
        if kind == "auth":
            if msg.get("status") == "OK":
                return AuthOk(msg.get("userId"), msg)
            return AuthFailed(msg.get("code"), msg.get("msg"), msg)
        return MalformedFrame(f"unknown event {kind!r}", msg)

    def _find_pending(self, msg: dict) -> Any:
        """The pending sub_id an event answers: by ``subId`` (tolerating a str/int
        echo), else by what the event says it is (channel, symbol/key, prec...)."""
        pending = self._pending
        if "subId" in msg:
            sub_id = msg["subId"]
            candidates = [sub_id]
            if sub_id.__class__ is str and sub_id.isdecimal() and sub_id.isascii():
                candidates.append(int(sub_id))
            elif sub_id.__class__ is int:
                candidates.append(str(sub_id))
            for cand in candidates:
                if cand in pending:
                    return cand
        if "channel" in msg:
            for sub_id, entry in pending.items():
                if entry[0].matches(msg):
                    return sub_id
        return _MISSING

    def _pop_pending_for(self, msg: dict) -> Any:
        sub_id = self._find_pending(msg)
        if sub_id is _MISSING:
            return msg.get("subId")
        del self._pending[sub_id]
        return sub_id

    def _subscribed(self, msg: dict) -> Subscribed:
        chan_id = msg["chanId"]
        hash(chan_id)  # an unhashable chanId is a malformed event
        channel = msg.get("channel")
        sub_id = self._find_pending(msg)
        if sub_id is _MISSING:
            # Nobody asked (or it was cancelled): report it, bind nothing.
            return Subscribed(msg.get("subId"), chan_id, channel, msg)
        spec, deliver, raw, book = self._pending.pop(sub_id)
        self.forget(chan_id)
        handler = self._make_handler(sub_id, chan_id, spec, deliver, raw, book)
        self._handlers[chan_id] = handler
        self._chan_of_sub[sub_id] = chan_id
        return Subscribed(sub_id, chan_id, channel, msg)

    def _make_handler(self, sub_id: Any, chan_id: Any, spec: ChannelSpec,
                      deliver: Callable[[Any], None], raw: bool,
                      book: Optional[OrderBook]) -> Any:
        channel = spec.channel
        if channel == "book":
            return _BookHandler(self, sub_id, chan_id, spec, deliver, raw, book)
        if raw:
            return _RawHandler(self, sub_id, chan_id, spec, deliver)
        if channel == "ticker":
            cls = _FundingTickerHandler if spec.is_funding else _TickerHandler
            return cls(self, sub_id, chan_id, spec, deliver)
        cls = _TYPED_HANDLERS.get(channel, _RawHandler)
        return cls(self, sub_id, chan_id, spec, deliver)


_MISSING = object()

"""Bitfinex v2 requests, pure: channel specs, subscribe and input frames, their validation.

Everything a client writes to Bitfinex is built here from plain arguments, and
a bad argument raises :class:`~exchange_wss.errors.LocalProtocolError` before
anything is sent. Wire facts follow ``shared/protocol/bitfinex-v2.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ..errors import LocalProtocolError
from ..numtext import decimal_text
from .utils import auth_signature, create_cid, order_symbol

__all__ = [
    "FLAG_TIMESTAMP", "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM", "FLAG_BULK_UPDATES",
    "ORDER_FLAG_HIDDEN", "ORDER_FLAG_CLOSE", "ORDER_FLAG_REDUCE_ONLY",
    "ORDER_FLAG_POST_ONLY", "ORDER_FLAG_OCO", "ORDER_FLAG_NO_VAR_RATES",
    "PRECISIONS", "FREQUENCIES", "LENGTHS", "TIMEFRAMES", "ORDER_TYPES",
    "MAX_CALC_BATCH", "MAX_MULTI_OPS",
    "ChannelSpec", "conf_request", "unsubscribe_request", "ping_request", "auth_request",
    "new_order_payload", "input_frame", "cancel_payload", "cancel_cid_payload",
    "update_payload", "multi_payload", "calc_payload", "decimal_text",
]

# --------------------------------------------------------------------------- constants

#: ``conf`` flag: a timestamp after every frame.
FLAG_TIMESTAMP = 32768
#: ``conf`` flag: a sequence number on every frame (gaps mean lost frames).
FLAG_SEQ_ALL = 65536
#: ``conf`` flag: ``cs`` checksum frames on the book channels.
FLAG_OB_CHECKSUM = 131072
#: ``conf`` flag: book updates batched into one frame per tick.
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
#: Candle time frames the ``candles`` channel accepts.
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "3h", "6h", "12h", "1D", "1W", "14D", "1M")
MAX_CALC_BATCH = 30
MAX_MULTI_OPS = 75

_BASE_ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP LIMIT", "TRAILING STOP", "FOK", "IOC")
#: Order types ``on`` accepts: the margin types and their ``"EXCHANGE ..."`` variants.
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
    symbol: str | None = None
    key: str | None = None
    prec: str | None = None
    freq: str | None = None
    length: int | None = None

    @classmethod
    def ticker(cls, symbol: str) -> ChannelSpec:
        """A ticker: ``ChannelSpec.ticker("BTCUSD")`` -> symbol ``tBTCUSD``."""
        return cls("ticker", order_symbol(symbol))

    @classmethod
    def trades(cls, symbol: str) -> ChannelSpec:
        """Public trades of a trading pair or funding currency."""
        return cls("trades", order_symbol(symbol))

    @classmethod
    def book(cls, symbol: str, precision: str = "P0", frequency: str = "F0",
             length: int = 25) -> ChannelSpec:
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
            length_int: int | None = int(length)
        elif isinstance(length, int) and not isinstance(length, bool):
            length_int = length
        else:
            length_int = None
        if length_int not in LENGTHS:
            raise _fail(f"unknown book length {length!r}; expected one of {LENGTHS}")
        return cls("book", order_symbol(symbol), None, precision, frequency, length_int)

    @classmethod
    def candles(cls, symbol: str, timeframe: str, period: Any = None) -> ChannelSpec:
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
    def status(cls, key: str) -> ChannelSpec:
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
    def timeframe(self) -> str | None:
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

    def subscribe_request(self, sub_id: Any) -> dict[str, Any]:
        """The ``subscribe`` event for this channel, tagged with ``sub_id`` (``subId``)."""
        req: dict[str, Any] = {"event": "subscribe", "channel": self.channel}
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

    def matches(self, event: dict[str, Any]) -> bool:
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

def conf_request(flags: int) -> dict[str, Any]:
    """``{"event":"conf","flags":flags}`` (sum of the ``FLAG_*`` values)."""
    if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
        raise _fail(f"conf flags must be a non-negative int, got {flags!r}")
    return {"event": "conf", "flags": flags}


def unsubscribe_request(chan_id: int) -> dict[str, Any]:
    """``{"event":"unsubscribe","chanId":chan_id}``."""
    return {"event": "unsubscribe", "chanId": chan_id}


def ping_request(cid: int) -> dict[str, Any]:
    """``{"event":"ping","cid":cid}``; the server answers with a :class:`Pong`."""
    return {"event": "ping", "cid": cid}


def auth_request(api_key: str, secret: str, nonce: Any, filters: Iterable[str] | None = None,
                 dms: bool = False, calc: bool = False) -> dict[str, Any]:
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
    req: dict[str, Any] = {
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
            tif = tif.astimezone(UTC)
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
                      tif: Any = None, cid: int | None = None, gid: int | None = None,
                      meta: dict[str, Any] | None = None, lev: int | None = None,
                      **extra: Any) -> dict[str, Any]:
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
    payload: dict[str, Any] = {"cid": _int_id(cid, "cid"), "type": otype, "symbol": sym,
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


def input_frame(op: str, payload: Any) -> list[Any]:
    """An authenticated input: ``[0, op, None, payload]``."""
    return [0, op, None, payload]


def cancel_payload(order_id: int) -> dict[str, Any]:
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


def cancel_cid_payload(cid: int, cid_date: Any) -> dict[str, Any]:
    """``oc`` by client id: ``{"cid": cid, "cid_date": "YYYY-MM-DD"}``."""
    return {"cid": _int_id(cid, "cid"), "cid_date": _date_text(cid_date)}


def update_payload(**settings: Any) -> dict[str, Any]:
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
    payload: dict[str, Any] = {}
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


def multi_payload(operations: Iterable[Any]) -> list[list[Any]]:
    """The payload of ``ox_multi``: a list of ``[op, payload]`` pairs (at most 75).

    Each operation is an explicit ``[op, payload]`` pair with op ``on``, ``oc``,
    ``oc_multi`` or ``ou``, or a dict: with ``"type"`` a new order (``on``);
    exactly ``{"id"}`` or ``{"cid", "cid_date"}`` a cancel (``oc``). Updates
    must be explicit ``["ou", {...}]`` pairs (a dict with an id and prices is
    ambiguous).

    Raises:
        LocalProtocolError: no operations, more than 75, or one not understood.
    """
    ops: list[list[Any]] = []
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


def _flatten_calc(items: Iterable[Any], out: list[list[str]]) -> None:
    for item in items:
        if isinstance(item, str):
            if not item:
                raise _fail("an empty calc request")
            out.append([item])
        elif isinstance(item, (list, tuple)):
            _flatten_calc(item, out)
        else:
            raise _fail(f"calc requests are strings like 'margin_sym_tBTCUSD', got {item!r}")


def calc_payload(*calculations: Any) -> list[list[str]]:
    """The payload of ``calc``: each request in its own list.

    ``calc_payload("margin_sym_tBTCUSD", "funding_sym_fUSD")`` and
    ``calc_payload(["margin_sym_tBTCUSD", "funding_sym_fUSD"])`` both give
    ``[["margin_sym_tBTCUSD"], ["funding_sym_fUSD"]]``.

    Raises:
        LocalProtocolError: nothing asked, a non-string, or more than 30.
    """
    out: list[list[str]] = []
    _flatten_calc(calculations, out)
    if not out:
        raise _fail("calc needs at least one request")
    if len(out) > MAX_CALC_BATCH:
        raise _fail(f"calc takes at most {MAX_CALC_BATCH} requests per batch, got {len(out)}")
    return out

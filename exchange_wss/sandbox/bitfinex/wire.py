"""What the Bitfinex sandbox writes and reads on the wire: the accounts' defaults,
the conf flags and limits, which auth filter lets each chan-0 stream through, and
the arrays of orders, trades, wallets and positions (pure)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from ..engine import OrderView, TradeEvent
from ..margin import PositionView

__all__ = ["DEFAULT_KEY", "DEFAULT_SECRET", "DEFAULT_BALANCES", "FLAG_TIMESTAMP",
           "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM", "FLAG_BULK_UPDATES"]

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



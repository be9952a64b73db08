"""What the FTX sandbox writes and reads on the wire: the accounts' defaults, the
markets and channels, the login signature, the order book checksum and the time
format (pure)."""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import zlib
from decimal import Decimal
from typing import Any

import orjson

from ..engine import PairSpec
from ..market import DEFAULT_TRADING, TradingSim

__all__ = ["DEFAULT_FTX_KEY", "DEFAULT_FTX_SECRET", "DEFAULT_FTX_BALANCES", "FTX_MARKETS",
           "INFO_TEXTS", "orderbook_checksum", "login_signature"]

log = logging.getLogger("exchange_wss.sandbox.ftx")

DEFAULT_FTX_KEY = "sandbox-ftx-api-key"
DEFAULT_FTX_SECRET = "sandbox-ftx-api-secret"
#: Starting wallets of every configured account.
DEFAULT_FTX_BALANCES = {"USD": "100000", "BTC": "10", "ETH": "100", "XRP": "100000"}

#: FTX market name -> simulated engine pair.
FTX_MARKETS = {"BTC-PERP": "tBTCPERP", "ETH-PERP": "tETHPERP", "BTC/USD": "tBTCUSD",
               "ETH/USD": "tETHUSD", "XRP/BTC": "tXRPBTC"}
PUBLIC_CHANNELS = ("ticker", "trades", "orderbook")
PRIVATE_CHANNELS = ("fills", "orders")
BOOK_DEPTH = 100
LOGIN_WINDOW_MS = 60_000
INFO_TEXTS = {20001: "Server restarting, please reconnect"}

_PERPS = (
    TradingSim(PairSpec("tBTCPERP", "BTC", "USD", Decimal("0.0001")), Decimal("60030"),
               0.0004, 1, 40, (0.01, 1.5), (0.001, 0.3), 0.7),
    TradingSim(PairSpec("tETHPERP", "ETH", "USD", Decimal("0.001")), Decimal("3001.5"),
               0.0005, 1, 40, (0.1, 25.0), (0.01, 4.0), 0.6),
)
FTX_TRADING = tuple(DEFAULT_TRADING) + _PERPS


# -- helpers ------------------------------------------------------------------------------

def login_signature(secret: str, time_ms: int) -> str:
    """Hex HMAC-SHA256(secret, f"{time_ms}websocket_login"): the login ``sign``."""
    return hmac.new(secret.encode(), f"{time_ms}websocket_login".encode(),
                    hashlib.sha256).hexdigest()


def orderbook_checksum(bids: list, asks: list) -> int:
    """FTX's checksum: unsigned CRC32 of ``bidP:bidS:askP:askS:...`` over the top 100
    levels per side (missing levels omitted), each number as Python's ``str(float)``."""
    parts: list = []
    for i in range(BOOK_DEPTH):
        if i < len(bids):
            parts.append(str(float(bids[i][0])))
            parts.append(str(float(bids[i][1])))
        if i < len(asks):
            parts.append(str(float(asks[i][0])))
            parts.append(str(float(asks[i][1])))
    return zlib.crc32(":".join(parts).encode())


def iso_time(mts: int | None) -> str | None:
    """``2019-05-07T16:40:58.358438+00:00`` of a ms timestamp."""
    if mts is None:
        return None
    return _dt.datetime.fromtimestamp(mts / 1000, _dt.UTC).isoformat(
        timespec="microseconds")


def _fsub(a: float, b: float) -> float:
    """``a - b`` without binary noise (0.3 - 0.1 is 0.2)."""
    return float(Decimal(repr(a)) - Decimal(repr(b)))


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def _error(msg: str, code: int = 400) -> dict:
    return {"type": "error", "code": code, "msg": msg}



"""Public helpers for users: client order ids, Bitfinex symbols, endpoint variables.

``from exchange_wss import utils; utils.cid_to_date(cid)``.
"""

from __future__ import annotations

import os
from typing import Optional

from .bitfinex.utils import cid_to_date, create_cid, order_symbol

__all__ = ["cid_to_date", "create_cid", "order_symbol", "endpoint", "ENDPOINT_VARIABLES"]

#: The environment variables that point a client at other endpoints (a sandbox)
#: when its code names none: variable -> what it sets.
ENDPOINT_VARIABLES = {
    "EXCHANGE_WSS_BITFINEX_URL": "WssClient url (authenticated, and public unless set below)",
    "EXCHANGE_WSS_BITFINEX_PUBLIC_URL": "WssClient public_url",
    "EXCHANGE_WSS_BINANCE_REST_URL": "BinanceWssClient rest_url",
    "EXCHANGE_WSS_BINANCE_STREAM_URL": "BinanceWssClient stream_url",
    "EXCHANGE_WSS_BINANCE_API_URL": "BinanceWssClient api_url",
    "EXCHANGE_WSS_FTX_URL": "FtxWssClient url",
    "EXCHANGE_WSS_FTX_REST_URL": "FtxWssClient rest_url",
}


def endpoint(given: Optional[str], variable: str) -> Optional[str]:
    """``given`` if the caller named an endpoint, else the environment variable, else None."""
    if given:
        return given
    return os.environ.get(variable) or None

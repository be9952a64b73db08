"""Endpoint environment variables: point a client at a sandbox without changing its code."""

from __future__ import annotations

import os

__all__ = ["endpoint", "ENDPOINT_VARIABLES"]

#: The environment variables read when the code names no endpoint: variable -> what it sets.
ENDPOINT_VARIABLES = {
    "EXCHANGE_WSS_BITFINEX_URL": "WssClient url (authenticated, and public unless set below)",
    "EXCHANGE_WSS_BITFINEX_PUBLIC_URL": "WssClient public_url",
    "EXCHANGE_WSS_BINANCE_REST_URL": "BinanceWssClient rest_url",
    "EXCHANGE_WSS_BINANCE_STREAM_URL": "BinanceWssClient stream_url",
    "EXCHANGE_WSS_BINANCE_API_URL": "BinanceWssClient api_url",
    "EXCHANGE_WSS_FTX_URL": "FtxWssClient url",
    "EXCHANGE_WSS_FTX_REST_URL": "FtxWssClient rest_url",
}


def endpoint(given: str | None, variable: str) -> str | None:
    """``given`` if the caller named an endpoint, else the environment variable, else None."""
    if given:
        return given
    return os.environ.get(variable) or None

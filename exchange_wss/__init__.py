"""exchange_wss: threaded, callback-driven WebSocket clients for crypto exchanges.

Quick start::

    from exchange_wss import WssClient

    client = WssClient()
    client.subscribe_to_ticker("tBTCUSD", print)
    client.start()
"""

from typing import Any

from . import errors, models, symbols, utils
from .errors import (AuthenticationError, ChecksumMismatch, ClientStopped, ConnectionLost,
                     ExchangeError, ExchangePaused, ExchangeWssError, LocalProtocolError,
                     OrderRejected, OrderStateUnknown, RemoteProtocolError, SequenceGap,
                     SubscriptionError)

__version__ = "0.1.0"

__all__ = [
    "WssClient", "BinanceWssClient", "FtxWssClient", "connect", "utils", "models", "errors",
    "symbols",
    "ExchangeWssError", "LocalProtocolError", "RemoteProtocolError", "ExchangeError",
    "AuthenticationError", "SubscriptionError", "OrderRejected", "OrderStateUnknown",
    "ChecksumMismatch", "SequenceGap", "ConnectionLost", "ExchangePaused", "ClientStopped",
]


# The clients pull in Twisted and autobahn; import them on first use so that
# `import exchange_wss` (and the pytest plugin every test run loads) stays cheap.
_LAZY = {"WssClient": "exchange_wss.bitfinex.client",
         "BinanceWssClient": "exchange_wss.binance.client",
         "FtxWssClient": "exchange_wss.ftx.client",
         "connect": "exchange_wss._factory"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'exchange_wss' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

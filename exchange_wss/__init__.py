"""exchange_wss: threaded, callback-driven WebSocket clients for crypto exchanges.

Quick start::

    from exchange_wss import WssClient

    client = WssClient()
    client.subscribe_to_ticker("tBTCUSD", print)
    client.start()
"""

from typing import TYPE_CHECKING, Any

from . import errors, models, symbols, utils
from ._requests import RequestFuture
from ._subscriptions import Subscription
from ._version import __version__ as __version__  # re-exported: the redundant alias says so
from .errors import (
    AuthenticationError,
    ChecksumMismatch,
    ClientStopped,
    ConnectionLost,
    ExchangeError,
    ExchangePaused,
    ExchangeWssError,
    LocalProtocolError,
    OrderRejected,
    OrderStateUnknown,
    RemoteProtocolError,
    RequestNotSent,
    SequenceGap,
    SubscriptionError,
)

__all__ = [
    "WssClient", "BinanceWssClient", "FtxWssClient", "connect", "utils", "models", "errors",
    "symbols",
    "ExchangeWssError", "LocalProtocolError", "RemoteProtocolError", "ExchangeError",
    "AuthenticationError", "SubscriptionError", "OrderRejected", "OrderStateUnknown",
    "ChecksumMismatch", "SequenceGap", "ConnectionLost", "ExchangePaused", "ClientStopped",
    "RequestNotSent", "Subscription", "RequestFuture", "ClientStats",
]


# The clients pull in Twisted and autobahn; import them on first use so that
# `import exchange_wss` (and the pytest plugin every test run loads) stays cheap.
_LAZY = {"WssClient": "exchange_wss.bitfinex.client",
         "BinanceWssClient": "exchange_wss.binance.client",
         "FtxWssClient": "exchange_wss.ftx.client",
         "ClientStats": "exchange_wss._facade",
         "connect": "exchange_wss._factory"}

if TYPE_CHECKING:
    # Type checkers and editors see the real classes, so `from exchange_wss import
    # WssClient` is typed; at run time they come from __getattr__ below, on first use.
    from ._facade import ClientStats
    from ._factory import connect
    from .binance.client import BinanceWssClient
    from .bitfinex.client import WssClient
    from .ftx.client import FtxWssClient
else:
    # Hidden from type checkers: a module __getattr__ would make every misspelt name
    # (`exchange_wss.WssClinet`) an `Any` instead of an error.
    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'exchange_wss' has no attribute {name!r}")
        import importlib
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value

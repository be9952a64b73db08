"""exchange_wss: threaded, callback-driven WebSocket clients for crypto exchanges.

Quick start::

    from exchange_wss import WssClient

    client = WssClient()
    client.subscribe_to_ticker("tBTCUSD", print)
    client.start()
"""

from . import errors, models, utils
from .bitfinex.client import WssClient
from .errors import (AuthenticationError, ChecksumMismatch, ClientStopped, ConnectionLost,
                     ExchangeError, ExchangePaused, ExchangeWssError, LocalProtocolError,
                     OrderRejected, OrderStateUnknown, RemoteProtocolError, SequenceGap,
                     SubscriptionError)

__version__ = "0.1.0"

__all__ = [
    "WssClient", "utils", "models", "errors",
    "ExchangeWssError", "LocalProtocolError", "RemoteProtocolError", "ExchangeError",
    "AuthenticationError", "SubscriptionError", "OrderRejected", "OrderStateUnknown",
    "ChecksumMismatch", "SequenceGap", "ConnectionLost", "ExchangePaused", "ClientStopped",
]

"""Errors, split by who is at fault (h11's habit).

- :class:`LocalProtocolError`: the caller asked for something invalid; raised
  at once, before anything is sent.
- :class:`RemoteProtocolError`: the server sent something we cannot use.
- :class:`ExchangeError`: the exchange answered with an error code and text.
"""

from __future__ import annotations

from typing import Any, Optional

__all__ = [
    "ExchangeWssError", "LocalProtocolError", "RemoteProtocolError",
    "ExchangeError", "AuthenticationError", "SubscriptionError",
    "OrderRejected", "OrderStateUnknown", "ChecksumMismatch",
    "SequenceGap", "ConnectionLost", "ExchangePaused", "ClientStopped", "CallbackOverflow",
    "StreamOverflow",
]


class ExchangeWssError(Exception):
    """Base class of every error this package raises."""


class LocalProtocolError(ExchangeWssError, ValueError):
    """A bad call by the user: wrong argument, unknown option. Nothing was sent."""


class RemoteProtocolError(ExchangeWssError):
    """The peer sent a frame that breaks the protocol (malformed, unexpected)."""


class ExchangeError(ExchangeWssError):
    """The exchange answered with an error.

    Attributes:
        code: the exchange's numeric code (Bitfinex 10300, Binance -1125...), or None.
        msg: the exchange's text.
        raw: the decoded frame.
    """

    def __init__(self, code: Optional[int], msg: Optional[str], raw: Any = None):
        self.code = code
        self.msg = msg
        self.raw = raw
        super().__init__(f"{msg} (code {code})" if code is not None else str(msg))


class AuthenticationError(ExchangeError):
    """The exchange refused the credentials (bad key, signature or nonce)."""


class SubscriptionError(ExchangeError):
    """A subscribe or unsubscribe was refused (10300, 10301, 10305...)."""


class OrderRejected(ExchangeError):
    """An order request was answered with ERROR/FAILURE; ``msg`` is the exchange's text.

    Attributes:
        notification: the :class:`~exchange_wss.models.Notification`, if any.
    """

    def __init__(self, msg: Optional[str], code: Optional[int] = None,
                 raw: Any = None, notification: Any = None):
        super().__init__(code, msg, raw)
        self.notification = notification


class OrderStateUnknown(ExchangeWssError):
    """The connection was lost before the order's fate was known, and the order
    was not found after reconnecting. Check it before placing it again."""


class ChecksumMismatch(RemoteProtocolError):
    """A book's checksum differs from the exchange's; the book is being resynced."""


class SequenceGap(RemoteProtocolError):
    """A sequence number was skipped; the connection is being resynced."""


class ConnectionLost(ExchangeWssError):
    """The connection closed while a request was pending."""


class ExchangePaused(ExchangeWssError):
    """The exchange announced maintenance (Bitfinex 20060); orders are refused until it ends."""


class ClientStopped(ExchangeWssError):
    """The client was stopped; the request will never be sent."""


class CallbackOverflow(ExchangeWssError):
    """Callbacks fell behind (``callback_thread=True``): the oldest market-data
    events were dropped. Books and order futures are unaffected."""


class StreamOverflow(ExchangeWssError):
    """An async stream's consumer fell behind (:mod:`exchange_wss.aio`): market data
    was conflated or its oldest events dropped, as the stream's policy says.

    Attributes:
        stream: the stream's description (``"trades BTC/USDT"``).
        dropped: events dropped or conflated on that stream so far.
    """

    def __init__(self, stream: str, dropped: int):
        super().__init__(f"{stream}: consumer fell behind; {dropped} market-data events "
                         "dropped or conflated so far")
        self.stream = stream
        self.dropped = dropped

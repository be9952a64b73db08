"""Errors, split by who is at fault (h11's habit).

- :class:`LocalProtocolError`: the caller asked for something invalid; raised
  at once, before anything is sent.
- :class:`RemoteProtocolError`: the server sent something we cannot use.
- :class:`ExchangeError`: the exchange answered with an error code and text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ExchangeWssError", "LocalProtocolError", "RemoteProtocolError",
    "ExchangeError", "AuthenticationError", "SubscriptionError",
    "OrderRejected", "OrderStateUnknown", "ChecksumMismatch",
    "SequenceGap", "ConnectionLost", "ExchangePaused", "RequestNotSent", "ClientStopped",
    "CallbackOverflow", "TransportError", "ConnectionFailed", "MessageTooBig", "RestError",
    "CallbackError", "RequestNotApplied", "SinkUnavailable", "FanOutGap",
    "StreamOverflow",
]


class ExchangeWssError(Exception):
    """Base class of every error this package raises."""


class LocalProtocolError(ExchangeWssError, ValueError):
    """A bad call by the user: wrong argument, unknown option. Nothing was sent."""


class RemoteProtocolError(ExchangeWssError):
    """The peer sent a frame that breaks the protocol (malformed, unexpected).

    Attributes:
        raw: the unusable frame or answer, where the error came from one (else None).
    """

    raw: Any = None


class ExchangeError(ExchangeWssError):
    """The exchange answered with an error.

    Attributes:
        code: the exchange's numeric code (Bitfinex 10300, Binance -1125...), or None.
        msg: the exchange's text.
        raw: the decoded frame.
    """

    def __init__(self, code: int | None, msg: str | None, raw: Any = None):
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

    def __init__(self, msg: str | None, code: int | None = None,
                 raw: Any = None, notification: Any = None):
        super().__init__(code, msg, raw)
        self.notification = notification


class OrderStateUnknown(ExchangeWssError):
    """The request left the process but its fate is unknown: no answer came
    (the connection dropped, the deadline passed, the client stopped) and the
    exchange did not report it afterwards. It may have been executed: check it
    before sending it again.

    Attributes:
        key: the request's identifier at the exchange (Bitfinex cid, Binance
            client order id, or the order id of a cancel).
    """

    def __init__(self, msg: str, key: Any = None):
        super().__init__(msg)
        self.key = key

    @property
    def cid(self) -> Any:
        """Alias of :attr:`key` (the Bitfinex name)."""
        return self.key


class RequestNotApplied(ExchangeWssError):
    """The request was written, its connection was lost before the answer, and the
    exchange said afterwards that it did not take effect: it has no such order (an
    order request), or the order is still open or already done (a cancel).

    The exchange was asked only once the request could no longer be accepted
    (Binance refuses a request that arrives more than ``recvWindow`` after its
    timestamp, and its connection is closed), so the answer is final: sending
    the request again is safe. Not :class:`RequestNotSent`: its bytes did leave.

    Attributes:
        key: the request's identifier (the client order id, or the order id of a cancel).
        order: what the exchange reported about the order (an
            :class:`~exchange_wss.models.Order`), or None when it has none.
    """

    def __init__(self, msg: str, key: Any = None, order: Any = None):
        super().__init__(msg)
        self.key = key
        self.order = order


class ChecksumMismatch(RemoteProtocolError):
    """A book's checksum differs from the exchange's; the book is being resynced."""


class SequenceGap(RemoteProtocolError):
    """A sequence number was skipped; the connection is being resynced."""


class ConnectionLost(ExchangeWssError):
    """The connection closed while a request was pending."""


class ExchangePaused(ExchangeWssError):
    """The exchange announced maintenance (Bitfinex 20060); orders are refused until it ends."""


class RequestNotSent(ExchangeWssError):
    """The request never left the process (no usable connection, the deadline
    passed while it waited, the connection refused the bytes): the exchange
    never saw it, so sending it again is safe."""


class ClientStopped(RequestNotSent):
    """The client was stopped; the request was never sent and never will be."""


class TransportError(ExchangeWssError):
    """A connection-level failure (socket, TLS, HTTP handshake); ``__cause__``
    holds the underlying exception when there is one."""


class ConnectionFailed(TransportError):
    """A connection could not be opened after several attempts (wrong URL,
    closed port, TLS refused, handshake rejected). The client keeps trying.

    Attributes:
        connection: the connection's name (``"auth"``, ``"public-0"``...).
        attempts: consecutive failed attempts so far.
    """

    def __init__(self, msg: str, connection: str = "", attempts: int = 0):
        super().__init__(msg)
        self.connection = connection
        self.attempts = attempts


class MessageTooBig(RemoteProtocolError):
    """The server sent a message larger than ``max_message_size``; the
    connection was failed with close code 1009 and is being re-opened."""


class RestError(ExchangeError):
    """A REST call failed without an exchange error code: a network failure or
    timeout (``code`` None) or an HTTP status without a body the exchange
    documents (``code`` the status). ``__cause__`` holds the original.

    Attributes:
        sent: False when the request provably never left (the connection could
            not be made); None when it may have (a timeout, a reset, a status).
    """

    def __init__(self, code: int | None, msg: str | None, raw: Any = None,
                 sent: bool | None = None):
        super().__init__(code, msg, raw)
        self.sent = sent


class CallbackError(ExchangeWssError):
    """A user callback raised; ``__cause__`` is the original exception.

    Attributes:
        where: which callback (``"ticker:tBTCUSD"``, ``"on_event"``...).
    """

    def __init__(self, where: str):
        super().__init__(f"exception in user callback for {where}")
        self.where = where


class CallbackOverflow(ExchangeWssError):
    """Callbacks fell behind (``callback_thread=True``): the oldest market-data
    events were dropped. Books and order futures are unaffected."""


class SinkUnavailable(ExchangeWssError):
    """A relay's sink (Redis...) could not take a batch; the relay buffers and retries."""


class FanOutGap(ExchangeWssError):
    """A fan-out consumer found a gap in a stream's sequence numbers (entries trimmed,
    or dropped by the relay on overflow); books resync from the next snapshot."""


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

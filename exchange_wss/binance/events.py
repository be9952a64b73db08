"""The control events a :class:`~exchange_wss.binance.session.BinanceSession`
reports beside the data: answers without a waiter, stream ends, server shutdown,
expired listenKeys, malformed frames and depth-sync requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ExchangeError

__all__ = ["Response", "StreamTerminated", "ServerShutdown", "ListenKeyExpired",
           "MalformedFrame", "BookOutOfSync", "SnapshotNeeded", "UnknownStream",
           "DuplicateFill"]


@dataclass(slots=True)
class Response:
    """The answer to a request (SUBSCRIBE ack, WebSocket-API response) that had no
    :meth:`BinanceSession.expect_response` callback, or an error without an id.

    ``error`` is an :class:`~exchange_wss.errors.ExchangeError` (or subclass) or None.
    """

    req_id: Any
    result: Any
    error: ExchangeError | None
    status: int | None = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class StreamTerminated:
    """``eventStreamTerminated``: the WebSocket-API user-data subscription ended
    (unsubscribe, logout, listenToken expiry); subscribe again to keep receiving."""

    raw: Any = field(repr=False, compare=False)
    subscription_id: Any = None
    mts: int | None = None


@dataclass(slots=True)
class ServerShutdown:
    """``serverShutdown``: the server is going away; reconnect now."""

    raw: Any = field(repr=False, compare=False)
    mts: int | None = None


@dataclass(slots=True)
class ListenKeyExpired:
    """``listenKeyExpired``: nothing more arrives on this key; get a new one.
    (``E`` is sometimes a string on the wire; ``mts`` is always an int or None)."""

    listen_key: str | None = field(repr=False)  # a credential: never printed
    raw: Any = field(repr=False, compare=False)
    mts: int | None = None


@dataclass(slots=True)
class MalformedFrame:
    """A message this session cannot use (wrong shape or types); ``reason`` says why."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BookOutOfSync:
    """A synced book broke (update-id gap): its contents are stale until the next
    BookSnapshot. A :class:`SnapshotNeeded` follows."""

    stream: str
    reason: str


@dataclass(slots=True)
class SnapshotNeeded:
    """A :class:`DepthSync` wants a REST depth snapshot (:func:`depth_snapshot_request`
    for ``symbol``); feed it to ``on_snapshot``. Fetch with backoff on failure."""

    stream: str
    symbol: str
    reason: str


@dataclass(slots=True)
class UnknownStream:
    """Data for a stream nobody expects (``stream`` None: a bare event with no
    user-data handler)."""

    stream: str | None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class DuplicateFill:
    """A Fill of a trade already delivered arrived again and was not delivered
    (see :class:`~exchange_wss.binance.user_data.FillDedup`)."""

    fill: Any
    raw: Any = field(default=None, repr=False, compare=False)

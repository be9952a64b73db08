"""The contract between an exchange's protocol session and the shared client, pure.

Each exchange has a sans-I/O session (``BitfinexSession``, ``BinanceSession``,
``FtxSession``), one per connection: frames in, typed events out; requests in,
frames out. It owns the mapping from its wire ids (Bitfinex chanId, Binance
stream name, FTX channel and market) to the :class:`~exchange_wss._subscriptions.Subscription`
objects it was given, so the facades never mirror it. What it reports about
the connection itself goes to its ``on_control`` callable as the events below,
shared by all exchanges, so the client handles them in one table
(:meth:`exchange_wss._link.Link.control`). Events only one exchange has
(Bitfinex's info codes, Binance's listenKeyExpired...) are its own classes.

Delivery is push-style: a session calls the subscription's ``deliver`` as it
parses each frame, with no queue between parse and callback, because an outbox
per frame costs measurably on the hot path (see ``docs/performance.rst``).
Sessions build frames and return them; they never write to a socket.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Session", "SubscribeConfirmed", "SubscribeRefused", "UnsubscribeConfirmed",
           "UnsubscribeRefused", "RequestAnswered", "ResyncNeeded", "MalformedFrame",
           "ReconnectRequested", "Unexpected", "short"]


class Session(Protocol):
    """What the shared :class:`~exchange_wss._link.Link` needs from a session."""

    def receive(self, msg: Any) -> None:
        """Handle one decoded message (never raises for bad input)."""

    def subscribe(self, sub: Any) -> Any:
        """Expect ``sub``'s confirmation and return the subscribe frame to write."""

    def unsubscribe(self, sub: Any) -> Any:
        """Stop routing ``sub``'s data now; return the unsubscribe frame, or None
        when nothing is bound on the wire for it (never confirmed here)."""


@dataclass(slots=True)
class SubscribeConfirmed:
    """The server confirmed ``sub``'s subscribe (its data is routed from now on)."""

    sub: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class SubscribeRefused:
    """The server refused ``sub``'s subscribe with ``code`` and ``msg``.

    ``duplicate``: the refusal says the server already carries that channel on
    this connection (Bitfinex 10301 ``subscribe: dup``, FTX ``Already
    subscribed``), so its view and the client's have parted.
    """

    sub: Any
    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)
    duplicate: bool = False


@dataclass(slots=True)
class UnsubscribeConfirmed:
    """The server confirmed ``sub``'s unsubscribe."""

    sub: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class UnsubscribeRefused:
    """The server refused ``sub``'s unsubscribe with ``code`` and ``msg``.

    ``gone``: the refusal says the server does not carry the channel (Bitfinex
    10401, FTX ``Not subscribed``). Otherwise it may still carry it, and the
    session keeps what it needs to unsubscribe again.
    """

    sub: Any
    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)
    gone: bool = False


@dataclass(slots=True)
class RequestAnswered:
    """The exchange answered the request the registry knows as ``key``: with
    ``result``, or with ``error`` (an :class:`~exchange_wss.errors.ExchangeError`)."""

    key: Any
    result: Any
    error: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ResyncNeeded:
    """``sub``'s data can no longer be trusted; it must start over from a snapshot.

    ``kind`` is ``"checksum"`` (a book differs from the server's checksum),
    ``"gap"`` (a sequence gap) or ``"order"`` (an update before the snapshot).
    """

    sub: Any
    kind: str
    reason: str


@dataclass(slots=True)
class MalformedFrame:
    """A frame the session cannot use; ``reason`` says why (it quotes at most
    a short prefix of the frame)."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class Unexpected:
    """A well-formed frame that makes no sense here (a duplicate ``subscribed``,
    an answer to nothing asked): reported, never applied."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ReconnectRequested:
    """The connection must be dropped and re-opened (server restarting, a
    connection-wide sequence gap)."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


def short(value: Any, limit: int = 120) -> str:
    """A printable prefix of ``value`` of at most about ``limit`` characters,
    for error texts and log lines.

    A hostile server can send megabytes in one frame; no message quotes more
    than a prefix of it, and building the prefix never formats the whole.
    """
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            size = len(value)
            text = repr(bytes(value[:limit]))
            return text if size <= limit else f"{text}… ({size} bytes)"
        if isinstance(value, str):
            return value if len(value) <= limit else f"{value[:limit]}… ({len(value)} chars)"
        text = _REPR.repr(value)
    except Exception:
        text = f"<unprintable {type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}…"


def _bounded_repr() -> reprlib.Repr:
    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = 12
    r.maxstring = 60
    r.maxother = 60
    r.maxlong = 40
    return r


_REPR = _bounded_repr()

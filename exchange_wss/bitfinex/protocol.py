"""Bitfinex WebSocket v2, sans-I/O: decoded frames in, typed events out; requests in, frames out.

Nothing here imports Twisted or autobahn. The connection layer decodes each
message (``orjson.loads``) and hands it to :meth:`BitfinexSession.receive`; the
facade builds requests with the functions of :mod:`.requests` and writes them.
One :class:`BitfinexSession` lives per connection (a fresh one after every
reconnect) and holds that connection's state: the chanId -> handler table,
pending subscriptions, books and sequence numbers.

This module gathers the public names of the package's three parts:
:mod:`.requests` (channel specs, request builders), :mod:`.handlers` (frames
to models) and :mod:`.session` (the session and its events).
"""

from __future__ import annotations

from .._session import (
                        MalformedFrame,
                        ResyncNeeded,
                        SubscribeConfirmed,
                        SubscribeRefused,
                        Unexpected,
                        UnsubscribeConfirmed,
                        UnsubscribeRefused,
)
from .handlers import parse_auth_frame
from .requests import *  # noqa: F403 - re-exported
from .requests import __all__ as _request_names
from .session import (
                        AuthFailed,
                        AuthOk,
                        BitfinexSession,
                        ConfAck,
                        ErrorEvent,
                        InfoEvent,
                        Pong,
                        SequenceGapEvent,
                        UnknownChannel,
)

__all__ = [
    *_request_names,
    "Pong", "ConfAck", "AuthOk", "AuthFailed", "ErrorEvent", "InfoEvent",
    "SequenceGapEvent", "UnknownChannel", "MalformedFrame", "ResyncNeeded",
    "SubscribeConfirmed", "SubscribeRefused", "UnsubscribeConfirmed", "UnsubscribeRefused",
    "Unexpected", "BitfinexSession", "parse_auth_frame",
]

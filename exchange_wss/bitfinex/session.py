"""The protocol state of one Bitfinex v2 connection, sans-I/O.

:class:`BitfinexSession` owns the wire ids of its connection: the ``subId`` it
puts in each subscribe request, the chanId the server binds it to, and the
chanId -> handler table every data frame is routed through. The facade hands
it :class:`~exchange_wss._subscriptions.Subscription` objects and gets them
back in the shared control events of :mod:`exchange_wss._session`; it never
sees a chanId. Events only Bitfinex has (auth, info, conf, pong, sequence
gaps) are the classes of this module.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._session import (
    MalformedFrame,
    SubscribeConfirmed,
    SubscribeRefused,
    Unexpected,
    UnsubscribeConfirmed,
    UnsubscribeRefused,
    short,
)
from .handlers import AuthHandler, RawAuthHandler, make_handler
from .requests import unsubscribe_request

__all__ = ["BitfinexSession", "Pong", "ConfAck", "AuthOk", "AuthFailed", "ErrorEvent",
           "InfoEvent", "SequenceGapEvent", "UnknownChannel"]


# ------------------------------------------------------------------------ control events

@dataclass(slots=True)
class Pong:
    """The answer to :func:`~exchange_wss.bitfinex.requests.ping_request`; ``ts`` is
    the server's ms time."""

    cid: Any
    ts: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ConfAck:
    """The answer to :func:`~exchange_wss.bitfinex.requests.conf_request`; ``status``
    is ``"OK"`` on success."""

    flags: Any
    status: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class AuthOk:
    """Authentication succeeded; account snapshots follow on chan 0."""

    user_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class AuthFailed:
    """Authentication was refused (``code`` 10100..., ``msg`` e.g. ``"nonce: small"``)."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class ErrorEvent:
    """An ``error`` event that answers no subscription or unsubscribe of this session."""

    code: Any
    msg: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class InfoEvent:
    """An ``info`` event: the greeting (``code`` None, ``version``, ``platform_status``
    1 operative or 0 maintenance) or a notice (20051 reconnect, 20060/20061
    maintenance start/end)."""

    code: Any
    msg: Any
    version: Any
    platform_status: Any
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class SequenceGapEvent:
    """A SEQ_ALL sequence number was skipped or repeated (``stream`` "public" or "auth")."""

    expected: int
    got: Any
    stream: str = "public"


@dataclass(slots=True)
class UnknownChannel:
    """A data frame for a chanId with no bound subscription (heartbeats are not
    reported, nor frames of a channel being unsubscribed)."""

    chan_id: Any
    raw: Any = field(default=None, repr=False, compare=False)


# ---------------------------------------------------------------------------- session

_MISSING = object()
_UNSUBSCRIBE_CODES = frozenset((10400, 10401))
_DUPLICATE_CODE = 10301  # "subscribe: dup": the server already carries that channel
_NOT_SUBSCRIBED_CODE = 10401  # "unsubscribe: not subscribed": it carries nothing there


class BitfinexSession:
    """The protocol state of one Bitfinex connection (make a fresh one per connect).

    Feed every decoded message to :meth:`receive`. Data for a bound channel goes
    to its subscription's ``deliver``; everything about the connection itself
    goes to ``on_control``: the shared events of :mod:`exchange_wss._session`
    (confirmations, refusals, resyncs, malformed and unexpected frames) and
    this module's (auth, info, conf, pong, sequence gaps, errors).

    A ``subscribed`` is applied only if it answers a subscribe still pending
    here, names a chanId not carrying another subscription, and echoes what
    was asked for; anything else is reported as
    :class:`~exchange_wss._session.Unexpected` and changes nothing.

    ``receive`` never raises for bad input. Exceptions raised by ``deliver`` or
    ``on_control`` themselves propagate to the caller.

    Args:
        on_control: called with each control event.
        seq_all: the connection sent ``conf`` with ``FLAG_SEQ_ALL``; check
            sequence numbers and report gaps as :class:`SequenceGapEvent`.
        bulk_updates: the connection sent ``FLAG_BULK_UPDATES``; after a book
            snapshot, a list of entries is a batch of updates.
        raw: deliver decoded frames instead of models (heartbeats and checksum
            frames are still dropped; books are still kept and checked).
    """

    def __init__(self, on_control: Callable[[Any], None], *, seq_all: bool = False,
                 bulk_updates: bool = False, raw: bool = False):
        self._on_control = on_control
        self._seq_all = seq_all
        self._bulk = bulk_updates
        self.raw = raw
        self._handlers: dict[Any, Any] = {}
        self._pending: dict[int, Any] = {}         # subId -> subscription asked for
        self._bound: dict[int, Any] = {}           # id(subscription) -> chanId
        self._leaving: dict[Any, Any] = {}         # chanId -> subscription unsubscribing
        # Frames counted by handlers since replaced (a resubscribe): frames_of
        # stays cumulative over the connection.
        self._retired: dict[Any, int] = {}         # subscription -> frames
        self._sub_ids = itertools.count(1)
        self._last_pub: int | None = None
        self._last_auth: int | None = None

    # ------------------------------------------------------------------ subscriptions

    def subscribe(self, sub: Any) -> dict[str, Any]:
        """Expect ``sub``'s confirmation; the subscribe frame to write.

        ``sub.spec`` is a :class:`~exchange_wss.bitfinex.requests.ChannelSpec`.
        """
        sub_id = next(self._sub_ids)
        self._pending[sub_id] = sub
        return sub.spec.subscribe_request(sub_id)

    def unsubscribe(self, sub: Any) -> dict[str, Any] | None:
        """Stop routing ``sub``'s data at once; the unsubscribe frame, or None
        when the server has not bound it to a chanId on this connection."""
        chan_id = self._bound.pop(id(sub), None)
        if chan_id is None:
            return None
        handler = self._handlers.pop(chan_id, None)
        if handler is not None and handler.frames:
            self._retired[sub] = self._retired.get(sub, 0) + handler.frames
        self._leaving[chan_id] = sub
        return unsubscribe_request(chan_id)

    def channel_of(self, sub: Any) -> Any | None:
        """The chanId ``sub`` is bound to here, or None."""
        return self._bound.get(id(sub))

    def frames_of(self, sub: Any) -> int:
        """Data frames routed to ``sub`` on this connection, resubscribes included
        (health samples it; it only grows)."""
        chan_id = self._bound.get(id(sub))
        handler = self._handlers.get(chan_id) if chan_id is not None else None
        return (handler.frames if handler is not None else 0) + self._retired.get(sub, 0)

    def expect_auth(self, deliver: Callable[[Any], None]) -> None:
        """Bind chan 0 (the account channel) to ``deliver``; call before sending ``auth``."""
        self._handlers[0] = (RawAuthHandler if self.raw else AuthHandler)(self, deliver)

    # ---------------------------------------------------------------------- receive

    def receive(self, msg: Any) -> None:
        """Handle one decoded message (a list or a dict from ``orjson.loads``)."""
        if msg.__class__ is list:
            try:
                handler = self._handlers.get(msg[0])
            except (IndexError, TypeError):
                self._on_control(MalformedFrame(
                    f"empty frame or unusable channel id: {short(msg)}", msg))
                return
            if self._seq_all:
                self._check_seq(msg)
            if handler is not None:
                handler.handle(msg)
            elif (len(msg) < 2 or msg[1] != "hb") and msg[0] not in self._leaving:
                # Heartbeats can precede a channel's "subscribed", and frames of
                # a channel being unsubscribed are still in flight: not errors.
                self._on_control(UnknownChannel(msg[0], msg))
        elif msg.__class__ is dict:
            self._event(msg)
        else:
            self._on_control(MalformedFrame(
                f"unexpected message type {type(msg).__name__}: {short(msg)}", msg))

    # ----------------------------------------------------------------- sequence numbers

    def _check_seq(self, msg: list) -> None:
        """SEQ_ALL audit. Indices are counted from the front: a TIMESTAMP may trail."""
        n = len(msg)
        kind = msg[1] if n > 1 else None
        auth_idx = None
        if msg[0] == 0 and msg[0].__class__ is int:
            if kind == "hb":
                pub_idx = 2
            else:
                if kind == "n":
                    payload = msg[2] if n > 2 else None
                    if payload.__class__ is list and len(payload) > 1 and \
                            payload[1].__class__ is str and payload[1].endswith("-req"):
                        # Request notifications carry only the auth seq, which
                        # does not advance; nothing to check.
                        return
                pub_idx, auth_idx = 3, 4
        elif kind.__class__ is str and kind != "hb":
            pub_idx = 3  # [id, "te"|"cs"|..., payload, SEQ, ...]
        else:
            pub_idx = 2  # [id, payload|"hb", SEQ, ...]
        if n > pub_idx:
            seq = msg[pub_idx]
            if seq.__class__ is int:
                last = self._last_pub
                self._last_pub = seq
                if last is not None and seq != last + 1:
                    self._on_control(SequenceGapEvent(last + 1, seq, "public"))
        if auth_idx is not None and n > auth_idx:
            seq = msg[auth_idx]
            # 0: the initial sync is still running; an unchanged seq did not advance.
            if seq.__class__ is int and seq != 0 and seq != self._last_auth:
                last = self._last_auth
                self._last_auth = seq
                if last is not None and seq != last + 1:
                    self._on_control(SequenceGapEvent(last + 1, seq, "auth"))

    # ------------------------------------------------------------------------- events

    def _event(self, msg: dict) -> None:
        try:
            event = self._parse_event(msg)
        except Exception as exc:
            event = MalformedFrame(f"bad event: {type(exc).__name__}: {short(str(exc), 80)} "
                                   f"in {short(msg)}", msg)
        if event is not None:
            self._on_control(event)

    def _parse_event(self, msg: dict) -> Any:
        kind = msg.get("event")
        if kind == "subscribed":
            return self._subscribed(msg)
        if kind == "info":
            platform = msg.get("platform")
            status = platform.get("status") if platform.__class__ is dict else None
            return InfoEvent(msg.get("code"), msg.get("msg"), msg.get("version"), status, msg)
        if kind == "unsubscribed":
            return self._unsubscribed(msg)
        if kind == "error":
            return self._error(msg)
        if kind == "pong":
            return Pong(msg.get("cid"), msg.get("ts"), msg)
        if kind == "conf":
            return ConfAck(msg.get("flags"), msg.get("status"), msg)
        if kind == "auth":
            if msg.get("status") == "OK":
                return AuthOk(msg.get("userId"), msg)
            return AuthFailed(msg.get("code"), msg.get("msg"), msg)
        return MalformedFrame(f"unknown event {short(kind, 40)}: {short(msg)}", msg)

    def _find_pending(self, msg: dict) -> Any:
        """The pending subId an event answers: by ``subId`` (tolerating a str/int
        echo), else by what the event says it is (channel, symbol/key, prec...)."""
        pending = self._pending
        if "subId" in msg:
            sub_id = msg["subId"]
            candidates = [sub_id]
            if sub_id.__class__ is str and sub_id.isdecimal() and sub_id.isascii():
                candidates.append(int(sub_id))
            for cand in candidates:
                if cand.__class__ is int and cand in pending:
                    return cand
        if "channel" in msg:
            for sub_id, sub in pending.items():
                if sub.spec.matches(msg):
                    return sub_id
        return _MISSING

    def _subscribed(self, msg: dict) -> Any:
        chan_id = msg["chanId"]
        hash(chan_id)  # an unhashable chanId is a malformed event
        sub_id = self._find_pending(msg)
        if sub_id is _MISSING:
            return Unexpected(f"'subscribed' to {short(msg.get('channel'), 30)} chanId "
                              f"{short(chan_id, 20)} answers no pending subscribe", msg)
        sub = self._pending[sub_id]
        if chan_id in self._handlers or chan_id in self._leaving or chan_id == 0:
            return Unexpected(f"'subscribed' for {sub.spec.label} names chanId "
                              f"{short(chan_id, 20)}, which carries another channel", msg)
        if "channel" in msg and not sub.spec.matches(msg):
            return Unexpected(f"'subscribed' for {sub.spec.label} echoes another channel: "
                              f"{short(msg)}", msg)
        del self._pending[sub_id]
        self._handlers[chan_id] = make_handler(self, sub, chan_id, self.raw)
        self._bound[id(sub)] = chan_id
        return SubscribeConfirmed(sub, msg)

    def _unsubscribed(self, msg: dict) -> Any:
        chan_id = msg.get("chanId")
        sub = self._leaving.pop(chan_id, None) if chan_id.__class__ is int else None
        if sub is None:
            return Unexpected(f"'unsubscribed' for chanId {short(chan_id, 20)}, "
                              "which nothing was unsubscribing", msg)
        return UnsubscribeConfirmed(sub, msg)

    def _error(self, msg: dict) -> Any:
        code, text = msg.get("code"), msg.get("msg")
        chan_id = msg.get("chanId")
        if not (chan_id.__class__ is int and chan_id in self._leaving) and \
                code in _UNSUBSCRIBE_CODES and chan_id is None and self._leaving:
            # An unsubscribe error that does not echo its chanId answers the
            # oldest unsubscribe (the server answers in order).
            chan_id = next(iter(self._leaving))
        if chan_id.__class__ is int and chan_id in self._leaving:
            sub = self._leaving.pop(chan_id)
            gone = code == _NOT_SUBSCRIBED_CODE
            if not gone:
                # It may still be live there: keep the chanId to unsubscribe
                # again (its data stays unrouted).
                self._bound[id(sub)] = chan_id
            return UnsubscribeRefused(sub, code, text, msg, gone=gone)
        sub_id = self._find_pending(msg)
        if sub_id is not _MISSING:
            return SubscribeRefused(self._pending.pop(sub_id), code, text, msg,
                                    duplicate=code == _DUPLICATE_CODE)
        return ErrorEvent(code, text, msg)

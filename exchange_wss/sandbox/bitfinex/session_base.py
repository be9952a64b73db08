"""The state of one Bitfinex sandbox connection and the frames it writes (sans-I/O)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ..market import BookMirror
from ..wire import dumps
from .wire import _FILTER_GROUP, FLAG_SEQ_ALL, FLAG_TIMESTAMP

if TYPE_CHECKING:
    from .server import SandboxServer


class _Sub:
    """One channel subscription on one connection, with what was last sent on it."""

    __slots__ = ("chan_id", "channel", "symbol", "key", "prec", "freq", "length", "ident",
                 "mirror", "last")

    def __init__(self, chan_id: int, channel: str, ident: tuple, symbol: str | None = None,
                 key: str | None = None, prec: str | None = None,
                 freq: str | None = None, length: int | None = None):
        self.chan_id, self.channel, self.ident = chan_id, channel, ident
        self.symbol, self.key, self.prec, self.freq, self.length = symbol, key, prec, freq, length
        self.mirror: BookMirror | None = None
        self.last: Any = None


# How each channel's code reads a _Sub (a type checker's view: the fields a channel
# always has are set at subscribe time, the book's mirror at its snapshot).
class _SymbolSub(Protocol):
    """A ``ticker``, ``trades`` or ``book`` subscription: it has a symbol."""

    chan_id: int
    symbol: str
    last: Any


class _BookSub(_SymbolSub, Protocol):
    """A ``book`` subscription: precision, frequency, length and its mirror."""

    prec: str
    freq: str
    length: int
    mirror: BookMirror


class _KeySub(Protocol):
    """A ``candles`` or ``status`` subscription: it has a key."""

    chan_id: int
    key: str
    last: Any


class SessionBase:
    """One connection's state and what it writes: the flags, the sequence
    numbers, the auth filters, and frames out through ``send`` (held while the
    server is stalled). The parts of :class:`~.session._Session` build on it."""

    def __init__(self, server: SandboxServer, send: Callable[[str], None],
                 drop: Callable[[], None]):
        self.server = server
        self._send = send
        self.drop = drop
        self.flags = 0
        self.subs: dict[int, _Sub] = {}
        self.pub_seq = 0
        self.skip_next_seq = False
        self.auth_seq = 0
        self.auth_synced = False
        self.account: str | None = None
        self.filters: list | None = None
        self.dms = False
        self.calc_on_auth = False
        self.last_sent: dict[int, float] = {}
        self.held: list[str] = []
        self.calc_times: deque = deque()
        self.open = True

    # -- output -------------------------------------------------------------------

    def write(self, text: str) -> None:
        """Send one text frame now, or hold it while the server is stalled."""
        if not self.open:
            return
        if self.server.faults.stalled:
            self.held.append(text)
        else:
            self._send(text)

    def flush_held(self) -> None:
        """Send what was held while the server was stalled."""
        held, self.held = self.held, []
        for text in held:
            if self.open:
                self._send(text)

    def send_event(self, event: dict) -> None:
        """Send an event frame (a JSON object: info, subscribed, error...)."""
        self.write(dumps(event))

    def _next_seq(self) -> int:
        self.pub_seq += 2 if self.skip_next_seq else 1
        self.skip_next_seq = False
        return self.pub_seq

    def _tail(self, frame: list, seqs: list) -> list:
        if self.flags & FLAG_SEQ_ALL:
            frame.extend(seqs)
        if self.flags & FLAG_TIMESTAMP:
            frame.append(self.server.now_ms())
        return frame

    def send_channel(self, chan_id: int, *items: Any) -> None:
        """A public channel frame ``[chanId, *items]`` plus seq / timestamp per the conf flags."""
        frame = [chan_id, *items]
        seqs = [self._next_seq()] if self.flags & FLAG_SEQ_ALL else []
        self.write(dumps(self._tail(frame, seqs)))
        self.last_sent[chan_id] = self.server.now()

    def send_private(self, stream: str, data: Any) -> None:
        """A chan-0 frame; with SEQ_ALL the public then the auth sequence number."""
        frame = [0, stream, data]
        seqs: list = []
        if self.flags & FLAG_SEQ_ALL:
            pub = self._next_seq()
            if self.auth_synced:
                self.auth_seq += 1
                seqs = [pub, self.auth_seq]
            else:
                seqs = [pub, 0]
        self.write(dumps(self._tail(frame, seqs)))
        self.last_sent[0] = self.server.now()

    def send_notification(self, type_: str, ok: bool, text: str, data: Any) -> None:
        """``[0,"n",[MTS,TYPE,MESSAGE_ID,null,DATA,CODE,STATUS,TEXT]]`` (+ the auth seq, not
        advanced)."""
        if not self._allowed("n"):
            return
        n = [self.server.now_ms(), type_, None, None, data, None,
             "SUCCESS" if ok else "ERROR", text]
        frame: list = [0, "n", n]
        self.write(dumps(self._tail(frame, [self.auth_seq])))
        self.last_sent[0] = self.server.now()

    def heartbeat(self, now: float, interval: float) -> None:
        """Send ``[chanId,"hb"]`` on every channel silent for ``interval`` seconds."""
        chans = list(self.subs)
        if self.account is not None:
            chans.insert(0, 0)
        for chan_id in chans:
            if now - self.last_sent.get(chan_id, now) >= interval:
                if chan_id == 0:
                    # Chan-0 hb carries the public seq only.
                    seqs = [self._next_seq()] if self.flags & FLAG_SEQ_ALL else []
                    self.write(dumps(self._tail([0, "hb"], seqs)))
                    self.last_sent[0] = now
                else:
                    self.send_channel(chan_id, "hb")

    def _allowed(self, stream: str, symbol: str | None = None,
                 currency: str | None = None) -> bool:
        if not self.filters:
            return True
        group = _FILTER_GROUP.get(stream)
        if group is None:
            return True
        for f in self.filters:
            if f == group or (symbol and f == f"{group}-{symbol}") or \
                    (currency and f == f"{group}-exchange-{currency}"):
                return True
        return False


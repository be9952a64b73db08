"""Fault injection for the Bitfinex sandbox: the misbehaviour real servers show.

:class:`Faults` is what users call (``sandbox.faults.stall(5)``); every method
is thread-safe and marshals onto the reactor thread. :class:`FaultState` is the
switchboard the server consults while it writes frames.

Faults every sandbox has (:mod:`exchange_wss.sandbox._faults_base`):

- :meth:`Faults.drop_connections`: abort every connection (TCP closed, no close frame).
- :meth:`Faults.stall` / :meth:`Faults.resume`: no frame at all (heartbeats
  included) leaves the server; frames produced meanwhile are held, as a stalled
  TCP connection would, and delivered on resume.
- :meth:`Faults.malformed_frame`: one text frame that is not valid JSON.
- :meth:`Faults.reject_next_handshake`: the next WebSocket handshake gets an HTTP
  error status (429 by default, as Bitfinex's connection rate limit does).
- :meth:`Faults.corrupt_next_checksum`: the next ``cs`` frame carries a wrong value.
- :meth:`Faults.close_and_linger`: a Close frame, then silence (TCP left open).
- :meth:`Faults.send_oversized_frame` / :meth:`Faults.send_endless_frame`: a frame
  too big to hold, a frame that never ends.

Bitfinex's own:

- :meth:`Faults.send_info`: an info event, e.g. 20051 (server restarting, reconnect).
- :meth:`Faults.maintenance_start` / :meth:`Faults.maintenance_end`: info 20060 then
  20061; in between, new connections get ``platform.status`` 0 and new or
  updated orders are refused.
- :meth:`Faults.skip_sequence`: each connection's next sequence number jumps by one.
- :meth:`Faults.drop_on_next_order`: the next new order kills its connection, before
  or after the exchange took it, with no answer either way.
- :meth:`Faults.refuse_next_unsubscribe`, :meth:`Faults.duplicate_next_subscribed`,
  :meth:`Faults.delay_subscriptions`: unexpected answers to (un)subscribes.
- :meth:`Faults.ignore_auth`: ``auth`` requests get no answer at all.
- :meth:`Faults.refuse_subscribes`: the next N subscribes are refused (10300).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._faults_base import ChecksumFaults, FaultsBase, HandshakeFaults, WireFaults

if TYPE_CHECKING:  # pragma: no cover
    from .bitfinex import BitfinexSandbox

__all__ = ["Faults", "FaultState", "INFO_TEXTS"]

#: Bitfinex's info texts for the codes clients act on (rely on the code, not the text).
INFO_TEXTS = {
    20051: "Stopping. Please try to reconnect",
    20060: ("Entering in Maintenance mode. Please pause any activity and resume after receiving "
            "the info message 20061 (it should take 120 seconds at most)."),
    20061: ("Maintenance ended. You can resume normal activity. It is advised to "
            "unsubscribe/subscribe again all channels."),
}


@dataclass
class FaultState:
    """Fault switches the server reads (reactor thread only)."""

    stalled: bool = False
    corrupt_next_checksum: bool = False
    reject_next_handshake: int | None = None
    maintenance: bool = False
    #: "before": the next new order is dropped with its connection, never taken;
    #: "after": it is taken by the engine, then the connection dies unanswered.
    drop_on_next_order: str | None = None
    #: The next unsubscribe is answered with this error code instead.
    refuse_next_unsubscribe: int | None = None
    #: The next subscribe is first answered with a ``subscribed`` naming a chanId
    #: that already carries another channel.
    duplicate_next_subscribed: bool = False
    #: Seconds to hold back each ``subscribed`` answer.
    subscribe_delay: float = 0.0
    #: ``auth`` requests are not answered.
    ignore_auth: bool = False
    #: The next this many ticker frames carry nulls and text where numbers belong.
    garble_tickers: int = 0
    #: Binance: the next order answer's ``(field, value)`` replaced.
    mangle_next_order_answer: tuple | None = None

    def take_corrupt_checksum(self) -> bool:
        """True once after :meth:`Faults.corrupt_next_checksum`."""
        if self.corrupt_next_checksum:
            self.corrupt_next_checksum = False
            return True
        return False

    def take_handshake_rejection(self) -> int | None:
        """The HTTP status to refuse this handshake with, once; else None."""
        status, self.reject_next_handshake = self.reject_next_handshake, None
        return status

    # -- refused subscribes (health: a subscription that cannot be restored) --------
    #: Subscribes still to refuse (see :meth:`Faults.refuse_subscribes`).
    refuse_subscribes: int = 0

    def take_subscribe_refusal(self) -> bool:
        """True (and one fewer to go) while subscribes are to be refused."""
        if self.refuse_subscribes > 0:
            self.refuse_subscribes -= 1
            return True
        return False


class Faults(FaultsBase, HandshakeFaults, ChecksumFaults, WireFaults):
    """Inject faults into a running :class:`~exchange_wss.sandbox.BitfinexSandbox`.

    Every method is thread-safe: it runs on the reactor thread and returns when done.
    """

    malformed_text = '{"event":"info","version":2,'

    def __init__(self, sandbox: BitfinexSandbox):
        super().__init__(sandbox)

    def send_info(self, code: int, msg: str | None = None) -> None:
        """Send ``{"event":"info","code":code,"msg":...}`` to every connection (e.g. 20051)."""
        text = msg if msg is not None else INFO_TEXTS.get(code, "Info")
        self._sb._call(lambda: self._server().broadcast_event(
            {"event": "info", "code": code, "msg": text}))

    def maintenance_start(self) -> None:
        """Send info 20060 and enter maintenance (platform status 0, orders refused)."""
        def run() -> None:
            self._server().faults.maintenance = True
            self._server().broadcast_event({"event": "info", "code": 20060,
                                            "msg": INFO_TEXTS[20060]})
        self._sb._call(run)

    def maintenance_end(self) -> None:
        """Send info 20061 and leave maintenance."""
        def run() -> None:
            self._server().faults.maintenance = False
            self._server().broadcast_event({"event": "info", "code": 20061,
                                            "msg": INFO_TEXTS[20061]})
        self._sb._call(run)

    def end_maintenance_quietly(self) -> None:
        """Leave maintenance without sending 20061 (as when it ends while a client is
        reconnecting): only new connections' greetings say the platform is up."""
        def run() -> None:
            self._server().faults.maintenance = False
        self._sb._call(run)

    def skip_sequence(self) -> None:
        """Make each connection's next public sequence number skip one value (SEQ_ALL)."""
        self._sb._call(lambda: self._server().skip_sequence())

    def drop_on_next_order(self, taken: bool = True) -> None:
        """Kill the connection that sends the next new order, with no answer: after
        the engine took the order (``taken``), or before (it never exists)."""
        def run() -> None:
            self._server().faults.drop_on_next_order = "after" if taken else "before"
        self._sb._call(run)

    def refuse_next_unsubscribe(self, code: int = 10400) -> None:
        """Answer the next unsubscribe with an ``error`` of ``code`` (the channel stays)."""
        def run() -> None:
            self._server().faults.refuse_next_unsubscribe = code
        self._sb._call(run)

    def duplicate_next_subscribed(self) -> None:
        """Answer the next subscribe first with a ``subscribed`` that names a chanId
        already carrying another channel of that connection, then as usual."""
        def run() -> None:
            self._server().faults.duplicate_next_subscribed = True
        self._sb._call(run)

    def delay_subscriptions(self, seconds: float) -> None:
        """Hold back every ``subscribed`` answer for ``seconds`` (0 ends it)."""
        def run() -> None:
            self._server().faults.subscribe_delay = max(0.0, float(seconds))
        self._sb._call(run)

    def ignore_auth(self, ignore: bool = True) -> None:
        """Leave ``auth`` requests unanswered (``ignore=False`` answers them again)."""
        def run() -> None:
            self._server().faults.ignore_auth = bool(ignore)
        self._sb._call(run)

    def garble_next_tickers(self, count: int = 1) -> None:
        """Send the next ``count`` ticker frames with nulls, text and a list where
        Bitfinex sends ten numbers (a frame whose shape does not fit its channel)."""
        def run() -> None:
            self._server().faults.garble_tickers = max(0, int(count))
        self._sb._call(run)

    # -- refused subscribes (health: a subscription that cannot be restored) --------
    def refuse_subscribes(self, count: int = 1) -> None:
        """Refuse the next ``count`` subscribes (on any connection) with error 10300
        ``subscribe: failed``, as Bitfinex answers one it cannot serve; 0 stops refusing.

        A client retries a refused subscribe a few times (4 by default), then
        reports it failed: refusing that many shows a stream that cannot be restored.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a non-negative int, not {count!r}")

        def run():
            self._server().faults.refuse_subscribes = count
        self._sb._call(run)

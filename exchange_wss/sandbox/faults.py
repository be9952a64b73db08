"""Fault injection for the sandbox exchange: the misbehaviour real servers show.

:class:`Faults` is what users call (``sandbox.faults.stall(5)``); every method
is thread-safe and marshals onto the reactor thread. :class:`FaultState` is the
switchboard the server consults while it writes frames.

Faults:

- :meth:`Faults.drop_connections`: abort every connection (TCP closed, no close frame).
- :meth:`Faults.send_info`: an info event, e.g. 20051 (server restarting, reconnect).
- :meth:`Faults.maintenance_start` / :meth:`Faults.maintenance_end`: info 20060 then
  20061; in between, new connections get ``platform.status`` 0 and new or
  updated orders are refused.
- :meth:`Faults.stall` / :meth:`Faults.resume`: no frame at all (heartbeats
  included) leaves the server; frames produced meanwhile are held, as a stalled
  TCP connection would, and delivered on resume.
- :meth:`Faults.malformed_frame`: one text frame that is not valid JSON.
- :meth:`Faults.corrupt_next_checksum`: the next ``cs`` frame carries a wrong value.
- :meth:`Faults.skip_sequence`: each connection's next sequence number jumps by one.
- :meth:`Faults.reject_next_handshake`: the next WebSocket handshake gets an HTTP
  error status (429 by default, as Bitfinex's connection rate limit does).
- :meth:`Faults.refuse_subscribes`: the next N subscribes are refused (10300).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .bitfinex_server import BitfinexSandbox

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
    reject_next_handshake: Optional[int] = None
    maintenance: bool = False

    def take_corrupt_checksum(self) -> bool:
        """True once after :meth:`Faults.corrupt_next_checksum`."""
        if self.corrupt_next_checksum:
            self.corrupt_next_checksum = False
            return True
        return False

    def take_handshake_rejection(self) -> Optional[int]:
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


class Faults:
    """Inject faults into a running :class:`~exchange_wss.sandbox.BitfinexSandbox`.

    Every method is thread-safe: it runs on the reactor thread and returns when done.
    """

    def __init__(self, sandbox: "BitfinexSandbox"):
        self._sb = sandbox

    def _server(self):
        return self._sb._server

    def drop_connections(self) -> int:
        """Abort every open connection; returns how many were dropped."""
        return self._sb._call(lambda: self._server().drop_all())

    def send_info(self, code: int, msg: Optional[str] = None) -> None:
        """Send ``{"event":"info","code":code,"msg":...}`` to every connection (e.g. 20051)."""
        text = msg if msg is not None else INFO_TEXTS.get(code, "Info")
        self._sb._call(lambda: self._server().broadcast_event(
            {"event": "info", "code": code, "msg": text}))

    def maintenance_start(self) -> None:
        """Send info 20060 and enter maintenance (platform status 0, orders refused)."""
        def run():
            self._server().faults.maintenance = True
            self._server().broadcast_event({"event": "info", "code": 20060, "msg": INFO_TEXTS[20060]})
        self._sb._call(run)

    def maintenance_end(self) -> None:
        """Send info 20061 and leave maintenance."""
        def run():
            self._server().faults.maintenance = False
            self._server().broadcast_event({"event": "info", "code": 20061, "msg": INFO_TEXTS[20061]})
        self._sb._call(run)

    def stall(self, seconds: Optional[float] = None) -> None:
        """Stop sending every frame (heartbeats too) until :meth:`resume`, or for ``seconds``."""
        self._sb._call(lambda: self._server().stall(seconds))

    def resume(self) -> None:
        """End a stall: frames held meanwhile are sent, in order."""
        self._sb._call(lambda: self._server().resume())

    def malformed_frame(self) -> None:
        """Send one text frame that is not valid JSON to every connection."""
        self._sb._call(lambda: self._server().broadcast_raw('{"event":"info","version":2,'))

    def corrupt_next_checksum(self) -> None:
        """Make the next ``cs`` frame (on any connection) carry a wrong checksum."""
        def run():
            self._server().faults.corrupt_next_checksum = True
        self._sb._call(run)

    def skip_sequence(self) -> None:
        """Make each connection's next public sequence number skip one value (SEQ_ALL)."""
        self._sb._call(lambda: self._server().skip_sequence())

    def reject_next_handshake(self, status: int = 429) -> None:
        """Answer the next WebSocket handshake with HTTP ``status`` instead of 101."""
        def run():
            self._server().faults.reject_next_handshake = status
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

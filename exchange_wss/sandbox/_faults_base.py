"""What the sandboxes' fault injectors share: one implementation and one name for each
fault they inject alike.

The ``exchange-wss sandbox`` console takes its commands from the public methods of a
sandbox's ``faults`` object, so a fault has one name everywhere: in Python
(``sandbox.faults.drop_connections()``), on the console (``drop_connections``), in the
docs. These classes hold the faults that are the same on every exchange, so each
exchange's injector adds only what is its own (Bitfinex's ``send_info`` codes and
maintenance, Binance's ``server_shutdown`` and ``expire_listen_key``...).

Meant to be inherited as::

    class Faults(FaultsBase, HandshakeFaults, ChecksumFaults):          # Bitfinex
        malformed_text = '{"event":"info","version":2,'
    class BinanceFaults(FaultsBase, HandshakeFaults):
        malformed_text = b'{"e":"executionReport","E":'
    class FtxFaults(FaultsBase, ChecksumFaults):
        malformed_text = '{"channel":"orderbook","type":'

Every method is thread-safe: it runs on the reactor thread (through the sandbox
handle's ``_call``) and returns once the fault is in place. The server behind the
handle provides ``drop_all()``, ``stall(seconds)``, ``resume()``, ``broadcast_raw(text)``
and a ``faults`` switchboard (:class:`~exchange_wss.sandbox.faults.FaultState`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover
    from ._ws import SandboxHandle

__all__ = ["FaultsBase", "HandshakeFaults", "ChecksumFaults", "WireFaults"]


class _BoundFaults:
    """What each class below is bound to: a sandbox handle and, through it, its server."""

    def __init__(self, sandbox: SandboxHandle[Any]) -> None:
        self._sb = sandbox

    def _server(self) -> Any:
        return self._sb._server


class FaultsBase(_BoundFaults):
    """Faults every sandbox injects alike: drops, stalls, a malformed frame.

    Args:
        sandbox: the sandbox handle (``BitfinexSandbox``, ``BinanceSandbox``, ``FtxSandbox``).
    """

    #: The frame :meth:`malformed_frame` sends: the exchange's JSON, cut short.
    malformed_text: ClassVar[str | bytes] = '{"event":'

    def drop_connections(self) -> int:
        """Abort every open connection (TCP closed, no close frame); returns how many."""
        return self._sb._call(lambda: self._server().drop_all())

    def stall(self, seconds: float | None = None) -> None:
        """Send no frame at all (heartbeats and pings too) until :meth:`resume`, or for
        ``seconds``; frames produced meanwhile are held, as a stalled TCP connection would."""
        self._sb._call(lambda: self._server().stall(seconds))

    def resume(self) -> None:
        """End a stall: frames held meanwhile are sent, in order."""
        self._sb._call(lambda: self._server().resume())

    def malformed_frame(self) -> None:
        """Send one text frame that is not valid JSON to every connection."""
        text = self.malformed_text
        self._sb._call(lambda: self._server().broadcast_raw(text))


class HandshakeFaults(_BoundFaults):
    """For sandboxes whose handshake consults ``faults.take_handshake_rejection()``."""

    def reject_next_handshake(self, status: int = 429) -> None:
        """Answer the next WebSocket handshake with HTTP ``status`` instead of 101
        (429 by default, as exchanges' connection rate limits do)."""
        def run() -> None:
            self._server().faults.reject_next_handshake = status
        self._sb._call(run)


class ChecksumFaults(_BoundFaults):
    """For sandboxes that send book checksums (Bitfinex ``cs`` frames, FTX's orderbook)."""

    def corrupt_next_checksum(self) -> None:
        """Make the next book checksum sent (on any connection) wrong."""
        def run() -> None:
            self._server().faults.corrupt_next_checksum = True
        self._sb._call(run)


class WireFaults(_BoundFaults):
    """Faults below the exchange's protocol, the same on every sandbox: a peer that
    hangs after its Close frame, a frame too big to hold, a frame that never ends.
    They act on every connection of the sandbox's WebSocket factory."""

    def _protocols(self) -> list:
        return list(self._sb._factory.protocols)

    def close_and_linger(self, code: int = 1001) -> int:
        """Send a Close frame (``code``) on every connection, then read nothing,
        send nothing and never close the TCP connection; returns how many."""
        def run() -> int:
            protos = [p for p in self._protocols() if p.state == p.STATE_OPEN]
            for proto in protos:
                proto.linger(code)
            return len(protos)
        return self._sb._call(run)

    def send_oversized_frame(self, size: int = 50 * 1024 * 1024) -> int:
        """Send one text frame of ``size`` bytes to every connection; returns how many."""
        def run() -> int:
            protos = [p for p in self._protocols() if p.state == p.STATE_OPEN]
            for proto in protos:
                proto.send_frame_of(size)
            return len(protos)
        return self._sb._call(run)

    def send_endless_frame(self, rate: int = 1024 * 1024) -> int:
        """Start a text frame announcing 2**40 bytes on every connection and send
        ``rate`` bytes a second of it until the connection closes; returns how many."""
        def run() -> int:
            reactor = self._sb._reactor
            protos = [p for p in self._protocols() if p.state == p.STATE_OPEN]
            for proto in protos:
                proto.send_endless_frame(reactor, rate)
            return len(protos)
        return self._sb._call(run)

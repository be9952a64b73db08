"""What every sandbox WebSocket server shares: connection tracking and teardown.

Each exchange's server protocol subclasses :class:`TrackedServerProtocol`: the
factory knows every socket from its TCP accept (so ``stop()`` also closes
sockets still in their handshake), tells the exchange's server when a session
ends, whichever of ``onClose``/``connectionLost`` comes first, and wakes
whoever waits for a socket to be gone.
"""

from __future__ import annotations

from typing import Any, Optional

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

__all__ = ["TrackedServerProtocol", "TrackedServerFactory"]


class TrackedServerProtocol(WebSocketServerProtocol):
    """A server protocol whose factory tracks it; ``session`` is the exchange's state."""

    session: Optional[Any] = None

    def connectionMade(self):  # noqa: N802 (Twisted hook)
        super().connectionMade()
        self.factory.protocols.add(self)

    def onClose(self, wasClean, code, reason):  # noqa: N802,N803
        self._end_session()

    def connectionLost(self, reason):  # noqa: N802
        super().connectionLost(reason)
        self._end_session()
        self.factory.protocols.discard(self)
        for d in self.factory.waiters.pop(self, []):
            d.callback(None)

    def _end_session(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            self.factory.server.session_closed(session)


class TrackedServerFactory(WebSocketServerFactory):
    """Holds the exchange's server, the live protocols and who waits on them.

    Args:
        server: the exchange's server object (has ``session_closed(session)``).
    """

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server
        self.protocols: set = set()
        self.waiters: dict = {}
        # Pings, when an exchange has them, are the sessions' own (Bitfinex has
        # none at the WebSocket level; Binance's payload echo is checked).
        self.setProtocolOptions(autoPingInterval=0, closeHandshakeTimeout=1,
                                openHandshakeTimeout=10)

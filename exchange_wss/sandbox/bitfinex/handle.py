"""The Bitfinex sandbox's public, thread-safe handle: start, stop, inspect, step the
market, inject faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._ws import SandboxHandle
from ..engine import OrderView, Result
from ..faults import Faults
from .server import SandboxServer, _Factory
from .wire import DEFAULT_KEY, DEFAULT_SECRET

# -- the public handle --------------------------------------------------------------------

class BitfinexSandbox(SandboxHandle[SandboxServer]):
    """A local Bitfinex v2 WebSocket exchange with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_KEY: DEFAULT_SECRET}``.
            Each account starts with :data:`DEFAULT_BALANCES` (or ``balances``).
        seed: market seed; same seed and same steps give the same market.
        tick_interval: seconds between market ticks; None: only :meth:`step` moves it.
        heartbeat_interval: seconds of silence on a channel before ``[chanId,"hb"]``.
        max_channels: public channels per connection before ``subscribe: limit``
            (Bitfinex documents 25 for public and 30 minus one for account
            connections; 25 it is, the account channel not counted).
        reactor: a reactor to use instead of the library's reactor thread (for
            in-reactor tests, e.g. ``MemoryReactorClock``); then call
            :meth:`listen` yourself on it and public methods run directly.
        balances: starting exchange wallets of every account.

    Example::

        sb = BitfinexSandbox().start()
        ...  # connect a client to sb.url
        sb.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accounts: Mapping[str, str] | None = None, seed: int = 1,
                 tick_interval: float | None = 0.25, heartbeat_interval: float = 15.0,
                 max_channels: int = 25, reactor: Any = None,
                 balances: Mapping[str, Any] | None = None):
        from exchange_wss import _reactor
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port = None
        self._listening = None
        self._server = SandboxServer(self._reactor, accounts or {DEFAULT_KEY: DEFAULT_SECRET},
                                     seed=seed, tick_interval=tick_interval,
                                     heartbeat_interval=heartbeat_interval,
                                     max_channels=max_channels, balances=balances)
        self._factory = _Factory(self._server)
        #: Fault injection (see :class:`~exchange_wss.sandbox.faults.Faults`).
        self.faults = Faults(self)

    # -- lifecycle ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://host:port/ws/2``."""
        return f"ws://{self.host}:{self.port}/ws/2"

    # -- inspection and control -----------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the simulated market ``n`` ticks and publish the changes."""
        self._call(self._server.step, n)

    def book(self, symbol: str, precision: str = "P0", length: int = 25) -> dict:
        """The server's current public book: ``{"bids": [(price,count,amount)...], "asks": [...]}``.

        Entries are tuples in the channel's wire layout (R0: ``(id,price,amount)``;
        funding: ``(rate,period,count,amount)``).
        """
        def run():
            v = self._server.market.book(symbol, precision, length)
            return {"bids": [tuple(e) for e in v.bids], "asks": [tuple(e) for e in v.asks]}
        return self._call(run)

    def orders(self, api_key: str = DEFAULT_KEY) -> list[OrderView]:
        """Open orders of an account (resting and untriggered stops), oldest first."""
        return self._call(lambda: self._server.engine.open_orders(owner=api_key))

    def wallets(self, api_key: str = DEFAULT_KEY) -> dict:
        """``{("exchange", currency): balance}`` of an account, as floats."""
        return self._call(lambda: {("exchange", c): float(b) for c, (b, _) in
                                   self._server.engine.wallets(api_key).items()})

    def available(self, api_key: str = DEFAULT_KEY) -> dict:
        """``{("exchange", currency): available}`` (balance not reserved by open orders)."""
        return self._call(lambda: {("exchange", c): float(a) for c, (_, a) in
                                   self._server.engine.wallets(api_key).items()})

    def orders_received(self, api_key: str = DEFAULT_KEY) -> list:
        """Every new-order payload (``on``, also inside ``ox_multi``) received, in order."""
        return self._call(lambda: [dict(p) if isinstance(p, dict) else p
                                   for p in self._server.received.get(api_key, [])])

    def requests_received(self, api_key: str = DEFAULT_KEY) -> list:
        """Every chan-0 input received as ``(op, payload)``, in order."""
        return self._call(lambda: list(self._server.requests.get(api_key, [])))

    def connections(self) -> int:
        """Number of open WebSocket connections."""
        return self._call(lambda: len(self._server.sessions))

    def channels(self) -> list:
        """The public channels each open connection is subscribed to, as
        ``[[(channel, symbol or key, ...), ...], ...]`` (one list per connection)."""
        return self._call(lambda: [sorted(sub.ident for sub in s.subs.values())
                                   for s in self._server.sessions])

    def submit_order(self, api_key: str, symbol: str, amount: Any, price: Any = None,
                     type: str = "EXCHANGE LIMIT", **kw: Any) -> Result:
        """Place an order for an account directly (as if another client of it had),
        delivering the resulting frames to its connections."""
        def run():
            res = self._server.engine.submit(api_key, symbol, amount, price, type, **kw)
            self._server.after_result(res)
            return res
        return self._call(run)

"""The FTX sandbox's public, thread-safe handle: start, stop, inspect, place and cancel
orders as FTX's REST did, inject faults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._ws import SandboxHandle
from .faults import FtxFaults
from .server import FtxServer, _Factory
from .wire import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET

# -- public handle --------------------------------------------------------------------

class FtxSandbox(SandboxHandle[FtxServer]):
    """A local FTX WebSocket exchange with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_FTX_KEY: DEFAULT_FTX_SECRET}``.
        seed: market seed; same seed and same steps give the same market.
        tick_interval: seconds between market ticks; None: only :meth:`step` moves it.
        reactor: a reactor to use instead of the library's reactor thread; then
            call :meth:`listen` yourself and public methods run directly.
        balances: starting wallets of every account (default :data:`DEFAULT_FTX_BALANCES`).

    Example::

        sb = FtxSandbox().start()      # sb.url: ws://127.0.0.1:<port>/ws/
        sb.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", 50000, 0.01)
        sb.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accounts: Mapping[str, str] | None = None, seed: int = 1,
                 tick_interval: float | None = 0.25, reactor: Any = None,
                 balances: Mapping[str, Any] | None = None):
        from exchange_wss import _reactor
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._listening = None
        self._server = FtxServer(self._reactor, accounts or {DEFAULT_FTX_KEY: DEFAULT_FTX_SECRET},
                                 seed=seed, tick_interval=tick_interval, balances=balances)
        self._factory = _Factory(self._server)
        from .rest import FtxRestApi, make_site
        # FTX's REST order API shares the port (see sandbox/ftx/rest.py).
        self._site = make_site(FtxRestApi(self._server), self._factory)
        #: Fault injection (see :class:`FtxFaults`).
        self.faults = FtxFaults(self)

    # -- lifecycle ------------------------------------------------------------------

    def _listen_target(self):
        return self._site

    def _shutdown_extra(self) -> list:
        return self._site.abort_channels()

    @property
    def url(self) -> str:
        """``ws://host:port/ws/``."""
        return f"ws://{self.host}:{self.port}/ws/"

    @property
    def rest_url(self) -> str:
        """``http://host:port/api``: the REST orders and wallets API."""
        return f"http://{self.host}:{self.port}/api"

    # -- inspection and control -------------------------------------------------------

    @property
    def markets(self) -> list:
        """The FTX market names served."""
        return list(self._server.markets)

    def step(self, n: int = 1) -> None:
        """Advance the simulated market ``n`` ticks and publish the changes."""
        self._call(self._server.step, n)

    def book(self, market: str, depth: int = 100) -> dict:
        """The server's current book: ``{"bids": [(price, size)...], "asks": [...]}``, best
        first."""
        def run() -> dict:
            bids, asks, _ = self._server.levels(market, depth)
            return {"bids": list(bids), "asks": list(asks)}
        return self._call(run)

    def place_order(self, key: str, market: str, side: str, price: Any, size: Any,
                    type: str = "limit", client_id: str | None = None, *,
                    ioc: bool = False, post_only: bool = False,
                    reduce_only: bool = False) -> dict:
        """Place an order for an account (FTX's REST ``POST /orders``, stood in for).

        Returns the order as FTX's REST answer shows it (status ``new``); its
        ``orders``/``fills`` updates go to the account's logged-in connections.
        Raises ValueError with the refusal text when refused.
        """
        return self._call(self._server.place_order, key, market, side, price, size, type,
                          client_id, ioc, post_only, reduce_only)

    def cancel_order(self, key: str, order_id: int) -> bool:
        """Cancel an open order of ``key``; False if it is not open (or not theirs)."""
        return self._call(self._server.cancel_order, key, order_id)

    def open_orders(self, key: str = DEFAULT_FTX_KEY) -> list:
        """The account's open orders, in the ``orders`` channel's layout."""
        def run() -> list:
            return [self._server.order_dict(o, "open")
                    for o in self._server.engine.open_orders(owner=key)]
        return self._call(run)

    def orders_received(self, key: str = DEFAULT_FTX_KEY) -> list:
        """Every order request :meth:`place_order` received for ``key`` (refused ones too)."""
        return self._call(lambda: [dict(p) for p in self._server.received.get(key, [])])

    def logins(self, key: str = DEFAULT_FTX_KEY) -> list:
        """Successful logins of ``key``: ``{"time", "subaccount"}`` each."""
        return self._call(lambda: [dict(p) for p in self._server.logins.get(key, [])])

    def wallets(self, key: str = DEFAULT_FTX_KEY) -> dict:
        """``{currency: balance}`` of an account, as floats."""
        return self._call(lambda: {c: float(b) for c, (b, _) in
                                   self._server.engine.wallets(key).items()})

    def connections(self) -> int:
        """Number of open WebSocket connections."""
        return self._call(lambda: len(self._server.sessions))

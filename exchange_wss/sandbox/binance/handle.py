"""The Binance sandbox's public handle (:class:`BinanceSandbox`), its fault
injector (:class:`BinanceFaults`) and the autobahn protocol that links a socket
to its connection session.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from autobahn.websocket.types import ConnectionDeny

from .._faults_base import FaultsBase, HandshakeFaults, WireFaults
from .._ws import SandboxHandle, TrackedServerFactory, TrackedServerProtocol
from . import reports
from .auth import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET
from .rest import RestApi, make_site
from .server import BinanceServer
from .sessions import Session
from .wire import ApiError

__all__ = ["BinanceSandbox", "BinanceFaults"]

log = logging.getLogger("exchange_wss.sandbox.binance")


# -- autobahn adapter ---------------------------------------------------------------------

class _Protocol(TrackedServerProtocol):
    """Moves frames between autobahn and a session; it is the session's link."""

    session: Session | None = None
    _route: tuple | None = None
    _path = ""

    def onConnect(self, request):
        try:
            self._route = self.factory.server.route_request(request.path, request.params)
        except ApiError as err:
            raise ConnectionDeny(err.status, err.msg) from None
        self._path = request.path
        return None

    def onOpen(self):
        self.session = self.factory.server.open_session(self._route, self, self._path)

    # link API ---------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        # Nothing once closing (no data frame after a Close, RFC 6455 5.5.1): a
        # connection cut at its age limit must not break the publishing loop.
        if self.state == self.STATE_OPEN and not self.lingering and self._trickle is None:
            self.sendMessage(data, isBinary=False)

    def send_ping(self, payload: bytes) -> None:
        if self.state == self.STATE_OPEN and not self.lingering and self._trickle is None:
            self.sendPing(payload)

    def close(self, code: int, reason: str) -> None:
        if self.state == self.STATE_OPEN:
            # sendCloseFrame allows the protocol codes (1001, 1008) that sendClose refuses.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode()[:120], isReply=False)

    # autobahn hooks ------------------------------------------------------------------
    def onMessage(self, payload, isBinary):
        s = self.session
        if s is None or not s.open:
            return
        try:
            if isBinary:
                if s.kind == "api":
                    s.received("\x00")  # answered as invalid JSON
                elif s.count_incoming():
                    s.send_json({"error": {"code": 3, "msg": "Invalid JSON: binary frame"},
                                 "id": None})
                return
            s.received(payload.decode("utf-8"))
        except Exception:  # a bug here must not kill the reactor thread
            log.exception("binance sandbox failed handling %r", payload[:200])

    def onPing(self, payload):
        if self.session is not None and not self.session.ping_received():
            return
        super().onPing(payload)

    def onPong(self, payload):
        if self.session is not None:
            self.session.pong(payload)



class _Factory(TrackedServerFactory):
    protocol = _Protocol


# -- faults -----------------------------------------------------------------------------

class BinanceFaults(FaultsBase, HandshakeFaults, WireFaults):
    """Inject faults into a running :class:`BinanceSandbox`; every method is thread-safe.

    Shared with every sandbox (:mod:`exchange_wss.sandbox._faults_base`):
    :meth:`drop_connections`, :meth:`stall` / :meth:`resume`, :meth:`malformed_frame`,
    :meth:`reject_next_handshake`, :meth:`close_and_linger`,
    :meth:`send_oversized_frame`, :meth:`send_endless_frame`. Binance's own:

    - :meth:`server_shutdown`: ``serverShutdown`` on every connection, close after a moment.
    - :meth:`expire_listen_key`: ``listenKeyExpired`` now, then silence on that key.
    - :meth:`answer_next_order`: the next order request's answer is mangled (its
      ``id`` or ``result``), as a broken or hostile server would send it.
    - :meth:`lose_next_request`: the next WebSocket-API request of a method is read, then
      neither carried out nor answered (a request lost on the way).
    """

    malformed_text = b'{"e":"executionReport","E":'

    def __init__(self, sandbox: BinanceSandbox):
        super().__init__(sandbox)

    def server_shutdown(self) -> int:
        """Send ``{"e":"serverShutdown","E":ms}`` everywhere; close (1001) after the grace."""
        return self._sb._call(lambda: self._server().server_shutdown())

    def expire_listen_key(self, key: str | None = None) -> int:
        """Expire ``key`` (every live key if None) now; returns how many expired."""
        return self._sb._call(lambda: self._server().user_data.expire_listen_key(key))

    def answer_next_order(self, field: str, value: Any) -> None:
        """Answer the next ``order.place``/``order.cancel`` with ``field`` (``"id"`` or
        ``"result"``) replaced by ``value`` (``"result"`` with the value ``...``
        leaves the key out). The order itself is processed as usual."""
        if field not in ("id", "result"):
            raise ValueError("field must be 'id' or 'result'")

        def run() -> None:
            self._server().faults.mangle_next_order_answer = (field, value)
        self._sb._call(run)

    def lose_next_request(self, method: str = "order.place", count: int = 1) -> None:
        """Lose the next ``count`` WebSocket-API requests of ``method``: read, then neither
        carried out nor answered, as a request that never reached the exchange (its
        bytes left the client; the connection died on the way)."""
        def run() -> None:
            srv = self._server()
            srv.lose_requests[method] = srv.lose_requests.get(method, 0) + count
        self._sb._call(run)


# -- public handle ------------------------------------------------------------------------

class BinanceSandbox(SandboxHandle[BinanceServer]):
    """A local Binance exchange (REST + WebSocket on one port) with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_BINANCE_KEY: DEFAULT_BINANCE_SECRET}``.
            A secret may be an HMAC secret or the PEM public key of an Ed25519 or
            RSA key pair (requests are then signed with its private key;
            ``session.logon`` takes Ed25519 only).
        seed: market seed; same seed and same steps give the same market.
        tick_interval: seconds between market ticks; None: only :meth:`step` moves it.
        market: ``"spot"``, ``"usdm"`` or ``"coinm"``.
        ping_interval: seconds between server pings (which must be answered with the
            same payload within ``pong_timeout``); 0 or None for none.
        max_connection_age: seconds after which connections are cut (Binance: 24 h).
        listen_key_ttl: seconds a listenKey lives without a keepalive.
        reactor: a reactor to use instead of the library's reactor thread (e.g.
            ``MemoryReactorClock``); then call :meth:`listen` yourself and public
            methods run directly.
        pong_timeout: seconds a ping may stay unanswered (default 60 Spot, 600 futures).
        balances: starting wallets of every account (engine currencies: USD, BTC, ...).
        shutdown_grace: seconds between ``serverShutdown`` and the close.

    Example::

        sb = BinanceSandbox(market="usdm").start()
        requests.post(sb.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": key})
        ...  # connect to sb.stream_url + "/private/ws?listenKey=...&events=..."
        sb.stop()
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 accounts: Mapping[str, str] | None = None, seed: int = 1,
                 tick_interval: float | None = 0.25, market: str = "spot",
                 ping_interval: float | None = 20.0,
                 max_connection_age: float | None = None, listen_key_ttl: float = 3600.0,
                 reactor: Any = None, pong_timeout: float | None = None,
                 balances: Mapping[str, Any] | None = None, shutdown_grace: float = 1.0):
        from exchange_wss import _reactor
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._listening = None
        self._server = BinanceServer(
            self._reactor, accounts or {DEFAULT_BINANCE_KEY: DEFAULT_BINANCE_SECRET},
            market=market, seed=seed, tick_interval=tick_interval, ping_interval=ping_interval,
            pong_timeout=pong_timeout, max_connection_age=max_connection_age,
            listen_key_ttl=listen_key_ttl, balances=balances, shutdown_grace=shutdown_grace)
        self._factory = _Factory(self._server)
        self.rest = RestApi(self._server)
        self._site = make_site(self._server, self.rest, self._factory)
        #: Fault injection (see :class:`BinanceFaults`).
        self.faults = BinanceFaults(self)

    # -- lifecycle ------------------------------------------------------------------

    def _listen_target(self):
        # One port for REST and WebSocket upgrades, as Binance's hosts do.
        return self._site

    def _shutdown_extra(self) -> list:
        return self._site.abort_channels()

    @property
    def site(self):
        """The twisted.web ``Site`` serving REST and WebSocket upgrades on one port."""
        return self._site

    @property
    def market(self) -> str:
        """The market the sandbox serves: ``spot``, ``usdm`` or ``coinm``."""
        return self._server.profile.name

    # -- addresses --------------------------------------------------------------------

    @property
    def rest_url(self) -> str:
        """``http://host:port`` (append ``/api/v3/...``, ``/fapi/v1/...`` or ``/dapi/v1/...``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def stream_url(self) -> str:
        """``ws://host:port``: add ``/ws/<stream>``, ``/stream?streams=``, ``/private/ws?...``."""
        return f"ws://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """The WebSocket API: ``ws://host:port/ws-api/v3`` (``/ws-fapi/v1``, ``/ws-dapi/v1``)."""
        return f"ws://{self.host}:{self.port}{self._server.profile.api_path}"

    # -- inspection and control -----------------------------------------------------------

    def now_ms(self) -> int:
        """Server time in ms (what ``timestamp`` is checked against)."""
        return self._call(self._server.now_ms)

    def step(self, n: int = 1) -> None:
        """Advance the simulated market ``n`` ticks and publish the changes."""
        self._call(self._server.step, n)

    def flush(self) -> None:
        """Send every pending depth diff, kline and ticker now (rather than wait for the loops)."""
        def run() -> None:
            for speed in self._server.profile.depth_speeds:
                self._server.publisher.flush_depth(speed)
            self._server.publisher.flush_slow()
        self._call(run)

    def book(self, symbol: str, limit: int = 20) -> dict:
        """The published book: ``{"bids": [[price, qty], ...], "asks": ..., "lastUpdateId": n}``."""
        def run() -> dict:
            snap = self._server.publisher.depth_snapshot(symbol, limit)
            return {"bids": snap["bids"], "asks": snap["asks"],
                    "lastUpdateId": snap["lastUpdateId"]}
        return self._call(run)

    def orders_received(self, api_key: str = DEFAULT_BINANCE_KEY) -> list:
        """The params of every ``order.place`` received for ``api_key``, in order."""
        return self._call(lambda: [dict(p) for p in self._server.orders.received.get(api_key, [])])

    def lost_requests(self) -> list:
        """The WebSocket-API requests lost by :meth:`BinanceFaults.lose_next_request`, oldest
        first."""
        return self._call(lambda: [dict(m) for m in self._server.lost_requests])

    def keepalives(self, api_key: str = DEFAULT_BINANCE_KEY) -> list:
        """Reactor times (seconds) of every listenKey keepalive (PUT or userDataStream.ping)."""
        return self._call(lambda: list(self._server.user_data.keepalive_log.get(api_key, [])))

    def listen_key(self, api_key: str = DEFAULT_BINANCE_KEY) -> str | None:
        """The account's live listenKey, or None."""
        def run() -> str | None:
            lk = self._server.user_data.active_listen_key(api_key)
            return lk.key if lk else None
        return self._call(run)

    def pongs(self) -> list:
        """Every pong received: ``{"session", "payload", "ok" (echoed a ping), "time"}``."""
        return self._call(lambda: [dict(p) for p in self._server.pong_log])

    def pongs_ok(self) -> bool:
        """True when at least one pong arrived and every pong echoed a ping's payload."""
        return self._call(lambda: bool(self._server.pong_log)
                          and all(p["ok"] for p in self._server.pong_log))

    def connections(self) -> int:
        """Open WebSocket connections."""
        return self._call(lambda: len(self._server.sessions))

    def open_orders(self, api_key: str = DEFAULT_BINANCE_KEY) -> list:
        """The account's open orders as order.status results."""
        def run() -> list:
            srv = self._server
            return [reports.order_result(srv.profile, t, "RESULT")
                    for t in srv.orders.open_orders(api_key)]
        return self._call(run)

    def balances(self, api_key: str = DEFAULT_BINANCE_KEY) -> dict:
        """Spot wallets ``{asset: (free, locked)}`` as Decimals."""
        def run() -> dict:
            return {self._server.profile.asset(c): (a, b - a)
                    for c, (b, a) in self._server.engine.wallets(api_key).items()}
        return self._call(run)

    def place_order(self, api_key: str = DEFAULT_BINANCE_KEY, **params: Any) -> dict:
        """Place an order for an account directly (no signature), as another client of it
        would; its user-data events are delivered. Raises :class:`ApiError` when refused."""
        def run() -> dict:
            result, events = self._server.orders.place_order(api_key, params)
            self._server.settle(events)
            return result
        return self._call(run)

    def deposit(self, asset: str, amount: Any, api_key: str = DEFAULT_BINANCE_KEY) -> None:
        """Credit ``amount`` of ``asset`` (Binance's name: ``"USDT"``, ``"BTC"``) to the
        account, as a deposit would: Spot/margin user data get ``balanceUpdate`` (the
        delta) then ``outboundAccountPosition``; futures ``ACCOUNT_UPDATE`` with reason
        ``DEPOSIT``. Raises :class:`ApiError` for an unknown asset."""
        self._call(self._server.transfer, api_key, asset, amount)

    def withdraw(self, asset: str, amount: Any, api_key: str = DEFAULT_BINANCE_KEY) -> None:
        """Debit ``amount`` of ``asset`` as a withdrawal (the events of :meth:`deposit`,
        negative; futures reason ``WITHDRAW``). Raises :class:`ApiError` when the
        available balance is short."""
        from decimal import Decimal
        self._call(self._server.transfer, api_key, asset, -Decimal(str(amount)))

    def register_key(self, api_key: str, secret: str) -> str:
        """Add an account (engine wallets from the default balances) or replace its key: an
        HMAC secret or the PEM public key of an Ed25519/RSA pair; returns the key type."""
        def run() -> str:
            srv = self._server
            new = api_key not in srv.auth.accounts
            kind = srv.auth.register(api_key, secret)
            if new:
                srv.open_account(api_key)
            return kind
        return self._call(run)

    def positions(self, api_key: str = DEFAULT_BINANCE_KEY) -> dict:
        """Futures positions ``{symbol: (amount, entry price)}`` as Decimals (COIN-M amounts
        in contracts); flat symbols left out."""
        def run() -> dict:
            return {s: (pos.pa, pos.ep) for (who, s), pos in self._server.accounts.positions.items()
                    if who == api_key and pos.pa}
        return self._call(run)

    def futures_wallets(self, api_key: str = DEFAULT_BINANCE_KEY) -> dict:
        """Futures margin wallets ``{asset: balance}`` as Decimals (COIN-M: the base coins)."""
        def run() -> dict:
            return {self._server.profile.asset(c): b
                    for c, b in self._server.accounts.fwallets.get(api_key, {}).items()}
        return self._call(run)

    def liquidate(self, symbol: str, side: str, quantity: Any) -> dict:
        """Force a liquidation on a futures market: an IOC order of ``quantity`` (COIN-M:
        contracts) from the sandbox's liquidator trades through the book, and
        ``forceOrder`` is published on ``<symbol>@forceOrder`` and ``!forceOrder@arr``
        (the simulated market has no leveraged traders of its own). Returns the event."""
        def run() -> dict:
            ev = self._server.publisher.liquidation(symbol, side, quantity)
            self._server.settle([])
            return ev
        return self._call(run)

"""The Binance exchange behind the sandbox's sockets: one market's profile, the
simulated market and its engine, and the services that make it Binance (keys
and signatures, listenKeys and user data, orders, accounts, the market
publisher), plus the routing of WebSocket handshakes to connection sessions.

Reactor thread only; time comes from the reactor, so ``task.Clock`` drives it
in tests.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from twisted.internet.task import LoopingCall

from .._ws import ServerTimeAndStall
from ..faults import FaultState
from ..market import SimulatedMarket
from .accounts import Accounts
from .auth import Auth
from .orders import OrderService
from .publisher import MarketPublisher
from .sessions import Session, StreamSession
from .user_stream import UserDataService
from .wire import PROFILES, ApiError, _dec, _is_listen_key_name, parse_stream
from .ws_api import ApiSession

__all__ = ["BinanceServer", "DEFAULT_BINANCE_BALANCES"]

log = logging.getLogger("exchange_wss.sandbox.binance")

_UNLIMITED = "1000000000000"

#: Starting wallets of every account, in engine currencies (USD is shown as USDT).
DEFAULT_BINANCE_BALANCES = {"USD": "100000", "BTC": "10", "ETH": "100", "XRP": "100000"}


class BinanceServer(ServerTimeAndStall):
    """The Binance exchange behind the sockets. Everything here runs on the reactor thread.

    Args:
        reactor: time, ``callLater``, LoopingCalls (a ``task.Clock`` in tests).
        accounts: ``{api_key: secret}``.
        market: ``"spot"``, ``"usdm"`` or ``"coinm"``.
        seed: the simulated market's seed.
        tick_interval: seconds between market ticks; None for manual :meth:`step` only.
        ping_interval: seconds between server pings on every connection (0/None: none).
        pong_timeout: seconds a ping may stay unanswered (default: 60 Spot, 600 futures).
        max_connection_age: seconds after which a connection is closed (None: never).
        listen_key_ttl: seconds a listenKey lives without a keepalive.
        balances: starting wallets (engine currencies) of every account.
        shutdown_grace: seconds between ``serverShutdown`` and the close.
    """


    def __init__(self, reactor: Any, accounts: Mapping[str, str], *, market: str = "spot",
                 seed: int = 1, tick_interval: float | None = 0.25,
                 ping_interval: float | None = 20.0, pong_timeout: float | None = None,
                 max_connection_age: float | None = None, listen_key_ttl: float = 3600.0,
                 balances: Mapping[str, Any] | None = None, shutdown_grace: float = 1.0):
        if market not in PROFILES:
            raise ValueError(f"market must be one of {sorted(PROFILES)}, not {market!r}")
        self.reactor = reactor
        self.profile = PROFILES[market]
        self.tick_interval = tick_interval
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout if pong_timeout is not None else self.profile.pong_timeout
        self.max_connection_age = max_connection_age
        self.shutdown_grace = shutdown_grace
        self.market = SimulatedMarket(seed=seed, clock=self.now_ms)
        self.engine = self.market.engine
        self.auth = Auth(accounts, self.now_ms)
        start = balances or DEFAULT_BINANCE_BALANCES
        self._start = start
        for key in self.auth.accounts:
            self.open_account(key)
        self.faults = FaultState()
        #: WebSocket-API method -> how many of its next requests are lost (see
        #: :meth:`BinanceFaults.lose_next_request`), and the requests lost so far.
        self.lose_requests: dict = {}
        self.lost_requests: list = []
        self.sessions: list = []
        self._session_ids = itertools.count(1)
        self.pong_log: list = []
        self.pong_timeouts = 0
        self.rate_cuts = 0
        self.accounts = Accounts(self, start)
        self.orders = OrderService(self)
        self.user_data = UserDataService(self, listen_key_ttl, seed)
        self.publisher = MarketPublisher(self, seed)
        self._loops: list = []
        self._stall_call = None

    # -- loops ----------------------------------------------------------------------

    def start_loops(self) -> None:
        """Market ticks, depth flushes per speed, klines and tickers every second."""
        def loop(fn: Callable, interval: float, *args: Any) -> None:
            def safe() -> None:
                try:
                    fn(*args)
                except Exception:  # keep the market and the streams alive
                    log.exception("binance sandbox loop %s failed", getattr(fn, "__name__", fn))
            lc = LoopingCall(safe)
            lc.clock = self.reactor
            d = lc.start(interval, now=False)
            d.addErrback(lambda f: log.error("binance sandbox loop failed: %s", f.getTraceback()))
            self._loops.append(lc)

        if self.tick_interval:
            loop(self.step, self.tick_interval)
        for speed in self.profile.depth_speeds:
            loop(self.publisher.flush_depth, speed / 1000, speed)
        loop(self.publisher.flush_slow, 1.0)

    def stop_loops(self) -> None:
        """Stop the market loops and any pending end of a stall."""
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops.clear()
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        self.user_data.cancel_timers()
        for s in list(self.sessions):
            s.closed()

    # -- market ---------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the market ``n`` ticks, delivering user events and publishing after each."""
        for _ in range(n):
            events: list = []
            for res in self.market.tick():
                events.extend(self.orders.user_events(res.events))
            self.settle(events)

    def settle(self, events: list) -> None:
        """After a change: deliver its ``(owner, event)`` user events, then publish the market."""
        self.user_data.deliver(events)
        self.publisher.publish()

    def open_account(self, key: str) -> None:
        """Give ``key`` its engine wallets (and, once Accounts exist, futures wallets)."""
        # Futures trade on the spot engine without spending its coins: margin lives in
        # Accounts; their engine wallets are only made too large to run out.
        engine_start = self._start if not self.profile.futures else \
            {c: _UNLIMITED for spec in self.engine.pairs.values() for c in (spec.base, spec.quote)}
        self.engine.open_account(key, engine_start)
        accounts = getattr(self, "accounts", None)
        if accounts is not None:
            accounts.fwallets.setdefault(key, {a: _dec(v) for a, v in self._start.items()})

    def transfer(self, owner: str, asset: str, amount: Any) -> None:
        """A deposit (``amount`` > 0) or withdrawal into ``owner``'s account, its user
        events delivered (see :meth:`~.accounts.Accounts.transfer`)."""
        self.auth.check_api_key(owner)
        events = self.accounts.transfer(owner, asset, _dec(amount), self.now_ms())
        self.user_data.deliver(events)

    def take_lost_request(self, method: str, msg: Any) -> bool:
        """True (once per :meth:`BinanceFaults.lose_next_request`) when this WebSocket-API
        request is to be lost: neither carried out nor answered."""
        left = self.lose_requests.get(method, 0)
        if left <= 0:
            return False
        self.lose_requests[method] = left - 1
        self.lost_requests.append(msg)
        return True

    def stream_sessions(self) -> list:
        """The open market/user-data stream connections."""
        return [s for s in self.sessions if s.kind == "stream" and s.open]

    # -- connections ----------------------------------------------------------------------

    def route_request(self, path: str, params: Mapping[str, list]) -> tuple:
        """Decide what a WebSocket handshake to ``path`` opens.

        Returns:
            ``("api",)`` or ``("stream", combined, [names], {listenKey: events filter})``.

        Raises:
            ApiError: status 404 for an unknown path, 400 for bad stream names.
        """
        prof = self.profile
        path = path.rstrip("/") or "/"

        def first(name: str) -> str | None:
            v = params.get(name)
            return v[0] if v else None

        if path == prof.api_path:
            return ("api",)
        private = prof.name == "usdm" and path in ("/private/ws", "/private/stream")
        if private:
            key = first("listenKey")
            if not key:
                raise ApiError(-1102, "Mandatory parameter 'listenKey' was not sent.", 400)
            events = first("events")
            allowed = frozenset(e for e in events.split("/") if e) if events else frozenset()
            return ("stream", path.endswith("/stream"), [], {key: allowed})
        roots = ["/ws", "/stream"]
        if prof.name == "usdm":
            roots += ["/public/ws", "/public/stream", "/market/ws", "/market/stream"]
        base = next((r for r in roots if path == r or path.startswith(r + "/")), None)
        if base is None:
            raise ApiError(-1000, f"Unknown path {path}", 404)
        combined = base.endswith("/stream")
        names: list = []
        if path != base:
            names = [n for n in path[len(base) + 1:].split("/") if n]
        if combined and (streams := first("streams")):
            names += [n for n in streams.split("/") if n]
        user: dict = {}
        market: list = []
        for n in names:
            if parse_stream(n, prof) is not None:
                market.append(n)
            elif _is_listen_key_name(n):
                user[n] = None
            else:
                raise ApiError(-1000, f"Invalid stream name {n}", 400)
        if len(market) + len(user) > prof.max_streams:
            raise ApiError(-1000, f"Too many streams (at most {prof.max_streams})", 400)
        return ("stream", combined, market, user)

    def open_session(self, route: tuple, link: Any, path: str = "") -> Session:
        """Create the session a handshake's route asked for, on ``link``."""
        if route[0] == "api":
            s: Session = ApiSession(self, link, path)
        else:
            _, combined, names, user = route
            s = StreamSession(self, link, path, combined, names, user)
        self.sessions.append(s)
        return s

    def session_closed(self, s: Session) -> None:
        """A connection ended: forget its session."""
        s.closed()
        if s in self.sessions:
            self.sessions.remove(s)

    def drop_all(self) -> int:
        """Abort every connection (no close frame); returns how many."""
        sessions = list(self.sessions)
        for s in sessions:
            s.open = False
            s.link.abort()
        return len(sessions)

    def server_shutdown(self) -> int:
        """Send ``serverShutdown`` on every connection, close them after the grace period."""
        ev = orjson.dumps({"e": "serverShutdown", "E": self.now_ms()})
        sessions = [s for s in self.sessions if s.open]
        for s in sessions:
            s.write(ev)

        def close_all() -> None:
            for s in sessions:
                s.close(1001, "Server shutdown")
        if self.shutdown_grace:
            self.reactor.callLater(self.shutdown_grace, close_all)
        else:
            close_all()
        return len(sessions)

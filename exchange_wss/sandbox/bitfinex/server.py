"""The Bitfinex sandbox exchange behind the sockets (market, accounts, nonces,
publishing, heartbeats, faults; reactor thread only) and the autobahn protocol that
moves text between a socket and a session."""

from __future__ import annotations

import itertools
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, cast

from autobahn.websocket.types import ConnectionDeny
from twisted.internet.task import LoopingCall

from .._ws import ServerTimeAndStall, TextSessionProtocol, TrackedServerFactory
from ..engine import Result
from ..faults import FaultState
from ..margin import DEFAULT_MARGIN_BALANCES
from ..market import SimulatedMarket
from .session import _Session
from .wire import DEFAULT_BALANCES, F1_INTERVAL, log


class SandboxServer(ServerTimeAndStall):
    """The exchange behind the sockets. Everything here runs on the reactor thread.

    Args:
        reactor: the reactor (time, LoopingCalls, listenTCP).
        accounts: ``{api_key: secret}``.
        seed: the market's seed.
        tick_interval: seconds between market ticks; None for manual steps only.
        heartbeat_interval: seconds of silence on a channel before ``hb``.
        max_channels: public channels allowed per connection.
        balances: starting exchange wallets of each account.
    """

    def __init__(self, reactor: Any, accounts: Mapping[str, str], seed: int = 1,
                 tick_interval: float | None = 0.25, heartbeat_interval: float = 15.0,
                 max_channels: int = 25, balances: Mapping[str, Any] | None = None):
        self.reactor = reactor
        self.accounts = dict(accounts)
        self.tick_interval = tick_interval
        self.heartbeat_interval = heartbeat_interval
        self.max_channels = max_channels
        self.server_id = str(uuid.UUID(int=random_bits(seed)))
        self.market = SimulatedMarket(seed=seed, clock=self.now_ms)
        self.engine = self.market.engine
        for key in self.accounts:
            self.engine.open_account(key, balances or DEFAULT_BALANCES)
            self.engine.margin.open(key, DEFAULT_MARGIN_BALANCES)
        self.nonces: dict[str, Decimal] = {}
        self.sessions: list[_Session] = []
        self.by_account: dict[str, list[_Session]] = defaultdict(list)
        self.received: dict[str, list] = defaultdict(list)
        self.requests: dict[str, list] = defaultdict(list)
        self.faults = FaultState()
        self._chan_ids = itertools.count(17 + seed % 1000)
        self._view_cache: dict = {}
        self._loops: list[LoopingCall] = []
        self._stall_call = None

    # -- loops --------------------------------------------------------------------

    def start_loops(self) -> None:
        """Start the market tick, heartbeat and F1 book loops on the reactor."""
        def loop(fn: Callable, interval: float) -> None:
            def safe() -> None:
                try:
                    fn()
                except Exception:  # keep the market and heartbeats alive
                    log.exception("sandbox loop %s failed", getattr(fn, "__name__", fn))
            lc = LoopingCall(safe)
            lc.clock = self.reactor
            d = lc.start(interval, now=False)
            d.addErrback(lambda f: log.error("sandbox loop failed: %s", f.getTraceback()))
            self._loops.append(lc)

        if self.tick_interval:
            loop(self.step, self.tick_interval)
        loop(self.heartbeats, max(0.01, min(1.0, self.heartbeat_interval / 5)))
        loop(self.flush_f1, F1_INTERVAL)

    def stop_loops(self) -> None:
        """Stop the market loops and any pending end of a stall."""
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops.clear()
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()

    # -- market -------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the market ``n`` ticks, delivering and publishing after each."""
        for _ in range(n):
            for res in self.market.tick():
                self.route(res.events)
            self.publish()

    def book_view(self, symbol: str, precision: str, length: int):
        """The public book view, cached per book version."""
        version = self.market.book_version(symbol)
        k = (symbol, precision, length)
        hit = self._view_cache.get(k)
        if hit is not None and hit[0] == version:
            return hit[1]
        view = self.market.book(symbol, precision, length)
        self._view_cache[k] = (version, view)
        return view

    def publish(self) -> None:
        """Push market changes (books F0, trades, tickers, candles, status) to every session."""
        trades = self.market.drain_trades()
        liqs = self.market.drain_liquidations()
        cache: dict = {}
        for s in list(self.sessions):
            s.publish(trades, liqs, cache)

    def flush_f1(self) -> None:
        """Send what changed on every F1 (batched) book subscription."""
        for s in list(self.sessions):
            for sub in list(s.subs.values()):
                if sub.channel == "book" and sub.freq == "F1":
                    s.sync_book(sub)

    def heartbeats(self) -> None:
        """Send a heartbeat on every channel that has been quiet (not during a stall)."""
        if self.faults.stalled:
            return
        now = self.now()
        for s in list(self.sessions):
            s.heartbeat(now, self.heartbeat_interval)

    def route(self, events: list) -> None:
        """Deliver private engine events to the owners' authenticated sessions."""
        for ev in events:
            for s in list(self.by_account.get(ev.owner, ())):
                s.deliver(ev)

    def after_result(self, res: Result | None, publish: bool = True) -> None:
        """After a request: the market sees its result, its private events are delivered,
        then the public channels are published."""
        if res is None:
            return
        self.market.observe(res)
        self.route(res.events)
        if publish:
            self.publish()

    # -- accounts -----------------------------------------------------------------

    def user_id(self, key: str) -> int:
        """The account's user id (stable: derived from its key)."""
        return 1_000_000 + zlib.crc32(key.encode()) % 9_000_000

    def mark(self, symbol: str) -> Decimal | None:
        """The price positions are valued at: the market's mid."""
        mid = self.market.mid(symbol)
        return Decimal(repr(mid)) if mid else None

    def account_value(self, key: str) -> float:
        """The account's exchange wallets valued in USD at the current mids."""
        usd_per = {"USD": 1.0, "BTC": self.market.mid("tBTCUSD"), "ETH": self.market.mid("tETHUSD")}
        usd_per["XRP"] = self.market.mid("tXRPBTC") * usd_per["BTC"]
        total = sum(float(b) * usd_per.get(c, 0.0)
                    for c, (b, _) in self.engine.wallets(key).items())
        return round(total, 8)

    def attach(self, s: _Session) -> None:
        """Deliver the account's private events to ``s`` too."""
        self.by_account[cast(str, s.account)].append(s)  # s has just authenticated

    def detach(self, s: _Session) -> None:
        """Stop delivering the account's private events to ``s``."""
        lst = self.by_account.get(cast(str, s.account))  # s is still authenticated
        if lst and s in lst:
            lst.remove(s)

    # -- sessions -----------------------------------------------------------------

    def new_chan_id(self) -> int:
        """A new channel id, unique on this server."""
        return next(self._chan_ids)

    def session_opened(self, s: _Session) -> None:
        """A connection opened: track its session and send its info event."""
        self.sessions.append(s)
        s.opened()

    def session_closed(self, s: _Session) -> None:
        """A connection ended: forget it; with the dead man's switch, cancel its orders."""
        s.closed()
        if s in self.sessions:
            self.sessions.remove(s)
        if s.account is not None:
            self.detach(s)
            if s.dms:
                # Dead man's switch: the account's orders go with the socket.
                res = self.engine.cancel_multi(s.account, all=True)
                self.after_result(res)

    def broadcast_event(self, event: dict) -> None:
        """Send ``event`` to every connection."""
        for s in list(self.sessions):
            s.send_event(event)

    def skip_sequence(self) -> None:
        """Make every connection skip one sequence number on its next frame."""
        for s in self.sessions:
            s.skip_next_seq = True

    def _resumed(self) -> None:
        now = self.now()
        for s in list(self.sessions):
            # Silence during the stall does not count toward heartbeats.
            for k in s.last_sent:
                s.last_sent[k] = now


def random_bits(seed: int) -> int:
    """128 reproducible bits for the server id (uuid)."""
    import random as _random
    return _random.Random(f"serverId:{seed}").getrandbits(128)


# -- autobahn adapter -----------------------------------------------------------------

class _Protocol(TextSessionProtocol):
    """Moves text between autobahn and a :class:`_Session`."""

    session: _Session | None = None
    session_class = _Session

    def onConnect(self, request):
        status = self.factory.server.faults.take_handshake_rejection()
        if status is not None:
            raise ConnectionDeny(status, "Too Many Requests" if status == 429 else "Refused")
        return None

    def refuse_binary(self, session: _Session) -> None:
        session.send_event({"event": "error", "msg": "invalid json", "code": 10000})


class _Factory(TrackedServerFactory):
    protocol = _Protocol

"""A local Binance server (Spot, USDⓈ-M or COIN-M futures): the sandbox for Binance clients.

It speaks Binance as /work/shared/protocol/binance.md describes the 2026 state, over
one TCP port that serves the REST paths (twisted.web) and the WebSocket paths
(autobahn's ``WebSocketResource``), fed by the shared seeded
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine, so
orders really rest, fill and cancel. It is written apart from the client code
(``exchange_wss.binance``) on purpose: the two check each other.

Layers:

- :class:`_StreamSession` / :class:`_ApiSession`: one connection's state,
  sans-I/O: text in through ``received``, frames out through a link (the
  autobahn protocol, or a fake in tests) with ``send``/``send_ping``/``close``/``abort``.
- :class:`BinanceServer`: the exchange behind the sockets (market, accounts,
  listen keys, order tracking, positions, publishing, pings, faults). Reactor
  thread only; time comes from the reactor, so ``task.Clock`` drives it in tests.
- :class:`BinanceSandbox`: the public, thread-safe handle.

Wire choices where the sources leave room (documented so clients can rely on them):

- prices and quantities are strings: Spot with 8 decimals (``"0.01000000"``),
  futures as plain decimals (``"60001"``, ``"0.001"``);
- symbols: ``BTCUSDT``/``ETHUSDT`` (Spot, USDⓈ-M) and ``BTCUSD_PERP``/``ETHUSD_PERP``
  (COIN-M) map onto the simulated ``tBTCUSD``/``tETHUSD``; the engine's USD is shown
  as USDT; COIN-M quantities are in the base coin, not in contracts;
- futures orders match on the same spot engine (one-way mode, cross margin, no
  leverage or liquidation); positions, entry price, realized PnL and the margin
  wallet (USDT, or the base coin on COIN-M) are tracked per account from fills;
- depth diffs are batched per speed class (Spot 1000/100 ms, futures 250/500/100 ms);
  one update id per changed level, so ``U``..``u`` of consecutive events of one
  stream are contiguous and futures ``pu`` is the previous event's ``u``; the REST
  snapshot is the state after ``lastUpdateId``;
- klines and tickers are pushed every second; trades, aggTrades (one trade per
  aggTrade) and bookTicker at once;
- an unknown stream name in SUBSCRIBE or in the URL is an error (code 2 / HTTP 400)
  rather than a silent no-op, so typos show up in tests;
- ``events=`` on ``/private/ws`` filters every event, ``listenKeyExpired`` included
  (list it to get it); without ``events=`` nothing is sent, as production does;
- ``listenKeyExpired`` carries ``E`` as a string on futures, a number on Spot (margin);
- ``serverShutdown`` is sent bare (``{"e":"serverShutdown","E":ms}``) on every
  WebSocket connection, then the server closes with 1001 after ``shutdown_grace``;
- closes: control-rate and pong-timeout violations 1008, age limit and shutdown 1001;
- ``userDataStream.unsubscribe`` sends ``eventStreamTerminated`` before its response;
  ``order.place`` answers first, then the user-data events follow;
- WS-API signatures: HMAC-SHA256 hex over the sorted ``k=v&...`` (raw or
  percent-encoded values both accepted); Ed25519 and ``session.logon`` are not modelled.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import hashlib
import hmac
import itertools
import logging
import random
import string
import urllib.parse
from collections import defaultdict, deque
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Callable, Mapping, Optional

import orjson
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.task import LoopingCall

from ._ws import SandboxHandle, ServerTimeAndStall, TrackedServerFactory, TrackedServerProtocol
from .engine import FLAG_POST_ONLY, OrderEvent, TradeEvent, WalletEvent, round_sig, PRICE_SIG_DIGITS
from .faults import FaultState
from .market import SimulatedMarket

__all__ = ["BinanceSandbox", "BinanceServer", "BinanceFaults", "MarketProfile", "PROFILES",
           "DEFAULT_BINANCE_KEY", "DEFAULT_BINANCE_SECRET", "DEFAULT_BINANCE_BALANCES",
           "ApiError", "signature_payloads", "sign_params", "KLINE_INTERVALS"]

log = logging.getLogger("exchange_wss.sandbox.binance")

DEFAULT_BINANCE_KEY = "sandbox-binance-api-key"
DEFAULT_BINANCE_SECRET = "sandbox-binance-api-secret"
#: Starting wallets of every account, in engine currencies (USD is shown as USDT).
DEFAULT_BINANCE_BALANCES = {"USD": "100000", "BTC": "10", "ETH": "100", "XRP": "100000"}

ZERO = Decimal(0)
_Q8 = Decimal("0.00000001")
_ALNUM = string.ascii_letters + string.digits
KLINE_INTERVALS = {"1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                   "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                   "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                   "3d": 259_200_000, "1w": 604_800_000, "1M": None}
_WEEK_OFFSET = 4 * 86_400_000  # Binance weeks start on Monday; 1970-01-05 was one.
_ASSET_NAMES = {"USD": "USDT"}


@dataclass(frozen=True)
class MarketProfile:
    """What differs between Binance Spot, USDⓈ-M and COIN-M.

    Attributes:
        name: ``"spot"``, ``"usdm"`` or ``"coinm"``.
        symbols: Binance symbol -> engine symbol.
        rest_prefix: REST path prefix (``/api/v3``, ``/fapi/v1``, ``/dapi/v1``).
        listen_key_path: listenKey REST path.
        api_path: WebSocket API path.
        max_streams: streams per connection.
        max_incoming: incoming messages per second before the connection is cut.
        pong_timeout: seconds a ping may stay unanswered.
        depth_speeds: depth update speeds in ms; the first is the default.
        depth_limit: default and maximum ``limit`` of the REST depth snapshot.
        futures: futures event shapes (ORDER_TRADE_UPDATE, ``pu``, ``T``).
    """

    name: str
    symbols: Mapping[str, str]
    rest_prefix: str
    listen_key_path: str
    api_path: str
    max_streams: int
    max_incoming: int
    pong_timeout: float
    depth_speeds: tuple
    depth_limit: tuple
    futures: bool


PROFILES = {
    "spot": MarketProfile("spot", {"BTCUSDT": "tBTCUSD", "ETHUSDT": "tETHUSD"}, "/api/v3",
                          "/sapi/v1/userDataStream", "/ws-api/v3", 1024, 5, 60.0, (1000, 100),
                          (100, 5000), False),
    "usdm": MarketProfile("usdm", {"BTCUSDT": "tBTCUSD", "ETHUSDT": "tETHUSD"}, "/fapi/v1",
                          "/fapi/v1/listenKey", "/ws-fapi/v1", 200, 10, 600.0, (250, 500, 100),
                          (500, 1000), True),
    "coinm": MarketProfile("coinm", {"BTCUSD_PERP": "tBTCUSD", "ETHUSD_PERP": "tETHUSD"},
                           "/dapi/v1", "/dapi/v1/listenKey", "/ws-dapi/v1", 200, 10, 600.0,
                           (250, 500, 100), (500, 1000), True),
}

_RETIRED_SPOT_PATHS = ("/api/v3/userDataStream", "/api/v1/userDataStream")


class ApiError(Exception):
    """A Binance error: ``code`` and ``msg`` as the wire carries them, and the HTTP-like status."""

    def __init__(self, code: int, msg: str, status: int = 400):
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                           "or malformed.")


# -- numbers and signatures ------------------------------------------------------------

def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidOperation
    if isinstance(value, float):
        return Decimal(repr(value))
    d = Decimal(str(value).strip())
    if not d.is_finite():
        raise InvalidOperation
    return d


def _plain(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``60001``, ``0.001``, ``0``."""
    if d == 0:
        return "0"
    return f"{d.normalize():f}"


def _fixed8(d: Decimal) -> str:
    return f"{d.quantize(_Q8, rounding=ROUND_DOWN):f}"


def _from_float(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(_Q8)


def _param_texts(v: Any) -> list:
    """The texts a client may have signed for one parameter value (first: JSON-like)."""
    if isinstance(v, bool):
        return ["true", "True"]
    if isinstance(v, int):
        return [str(v)]
    if isinstance(v, float):
        return [repr(v), str(int(v)) if v.is_integer() else repr(v)]
    if v is None:
        return ["null", "None"]
    if isinstance(v, (list, dict)):
        return [orjson.dumps(v).decode()]
    return [str(v)]


def signature_payloads(params: Mapping[str, Any]) -> set:
    """Every signature payload accepted for ``params``: sorted ``k=v&...`` of all but
    ``signature``, values raw or percent-encoded (as ``urlencode`` writes them)."""
    keys = sorted(k for k in params if k != "signature")
    out = set()
    for pick in (0, -1):
        items = [(k, _param_texts(params[k])[pick]) for k in keys]
        out.add("&".join(f"{k}={v}" for k, v in items))
        out.add(urllib.parse.urlencode(items))
    return out


def sign_params(params: Mapping[str, Any], secret: str) -> str:
    """HMAC-SHA256 hex signature of ``params`` as a client computes it (raw values)."""
    keys = sorted(k for k in params if k != "signature")
    payload = "&".join(f"{k}={_param_texts(params[k])[0]}" for k in keys)
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# -- klines ----------------------------------------------------------------------------

def kline_start(mts: int, interval: str) -> int:
    """Open time (ms) of the ``interval`` kline holding ``mts``."""
    step = KLINE_INTERVALS[interval]
    if step is None:
        d = _dt.datetime.fromtimestamp(mts / 1000, _dt.timezone.utc)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    if interval == "1w":
        return (mts - _WEEK_OFFSET) // step * step + _WEEK_OFFSET
    return mts - mts % step


def kline_close_time(start: int, interval: str) -> int:
    """Close time (ms, inclusive) of the kline opened at ``start``."""
    step = KLINE_INTERVALS[interval]
    if step is None:
        d = _dt.datetime.fromtimestamp(start / 1000, _dt.timezone.utc)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000 - 1
    return start + step - 1


# -- depth with update ids --------------------------------------------------------------

class _DepthFeed:
    """One symbol's published depth, its update ids and the pending diff of each speed.

    Every changed level takes one update id. Each speed class accumulates the
    changes since its last flush, so its events are contiguous (``U`` = previous
    ``u`` + 1) and ``pu`` is the previous ``u``. ``bids``/``asks`` are the state
    after ``last_id``: what the REST snapshot serves.
    """

    def __init__(self, last_id: int, speeds: tuple):
        self.bids: dict = {}
        self.asks: dict = {}
        self.last_id = last_id
        self.pending: dict = {s: None for s in speeds}
        self.flushed: dict = {s: last_id for s in speeds}
        self.version: Any = None

    def update(self, bids: dict, asks: dict) -> bool:
        cb = {p: q for p, q in bids.items() if self.bids.get(p) != q}
        cb.update({p: ZERO for p in self.bids if p not in bids})
        ca = {p: q for p, q in asks.items() if self.asks.get(p) != q}
        ca.update({p: ZERO for p in self.asks if p not in asks})
        n = len(cb) + len(ca)
        if not n:
            return False
        first = self.last_id + 1
        self.last_id += n
        for speed, pend in self.pending.items():
            if pend is None:
                pend = self.pending[speed] = [first, 0, {}, {}]
            pend[1] = self.last_id
            pend[2].update(cb)
            pend[3].update(ca)
        self.bids, self.asks = dict(bids), dict(asks)
        return True

    def take(self, speed: int) -> Optional[tuple]:
        """``(U, u, pu, bids, asks)`` accumulated for ``speed`` since its last take, or None."""
        pend = self.pending.get(speed)
        if pend is None:
            return None
        self.pending[speed] = None
        pu = self.flushed[speed]
        self.flushed[speed] = pend[1]
        bids = sorted(pend[2].items(), key=lambda kv: -kv[0])
        asks = sorted(pend[3].items(), key=lambda kv: kv[0])
        return pend[0], pend[1], pu, bids, asks

    def top(self, limit: int) -> tuple:
        bids = sorted(self.bids.items(), key=lambda kv: -kv[0])[:limit]
        asks = sorted(self.asks.items(), key=lambda kv: kv[0])[:limit]
        return bids, asks


# -- streams ---------------------------------------------------------------------------

def parse_stream(name: str, profile: MarketProfile) -> Optional[tuple]:
    """The key ``(kind, SYMBOL, param, speed)`` of a market stream name, or None if invalid.

    Kinds: ``trade``, ``aggTrade``, ``kline`` (param: interval), ``bookTicker``,
    ``ticker``, ``miniTicker``, ``depth`` (diff) and ``depthN`` (param: 5/10/20).
    """
    if not isinstance(name, str) or "@" not in name:
        return None
    sym, _, rest = name.partition("@")
    if sym != sym.lower():
        return None
    bsym = sym.upper()
    if bsym not in profile.symbols:
        return None
    speeds = profile.depth_speeds
    if rest in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker"):
        return (rest, bsym, None, None)
    if rest.startswith("kline_"):
        iv = rest[6:]
        if iv not in KLINE_INTERVALS or (iv == "1s" and profile.futures):
            return None
        return ("kline", bsym, iv, None)
    if rest.startswith("depth"):
        body, _, speed_text = rest.partition("@")
        speed = speeds[0]
        if speed_text:
            if not speed_text.endswith("ms") or not speed_text[:-2].isdigit():
                return None
            speed = int(speed_text[:-2])
            if speed not in speeds:
                return None
        if body == "depth":
            return ("depth", bsym, None, speed)
        if body in ("depth5", "depth10", "depth20"):
            return ("depthN", bsym, int(body[5:]), speed)
    return None


def _is_listen_key_name(name: str) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 128 and "@" not in name and "/" not in name


# -- sessions --------------------------------------------------------------------------

class _Session:
    """A WebSocket connection's common state: output (held while stalled), server
    pings and their pong deadlines, the age cut and the incoming-message rate."""

    kind = "base"

    def __init__(self, server: "BinanceServer", link: Any, path: str):
        self.server = server
        self.link = link
        self.path = path
        self.id = next(server._session_ids)
        self.opened_at = server.now()
        self.open = True
        self.held: list = []
        self.incoming: deque = deque()
        self.incoming_limit: Optional[int] = None
        self.pings: dict = {}            # payload -> time sent, oldest first
        self._ping_seq = 0
        self._calls: list = []
        self._ping_call = None
        r = server.reactor
        if server.ping_interval:
            self._ping_call = r.callLater(server.ping_interval, self._ping)
        if server.max_connection_age:
            self._calls.append(r.callLater(server.max_connection_age, self._age_out))

    # -- output -----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.open:
            return
        if self.server.faults.stalled:
            self.held.append(data)
        else:
            self.link.send(data)

    def send_json(self, obj: Any) -> None:
        self.write(orjson.dumps(obj))

    def flush_held(self) -> None:
        held, self.held = self.held, []
        for data in held:
            if self.open:
                self.link.send(data)

    def close(self, code: int, reason: str) -> None:
        """Send a close frame (the link drops the socket if the peer does not answer)."""
        if not self.open:
            return
        self.open = False
        self.held.clear()
        log.debug("closing session %s: %s %s", self.id, code, reason)
        self.link.close(code, reason)

    # -- liveness ----------------------------------------------------------------

    def _ping(self) -> None:
        self._ping_call = self.server.reactor.callLater(self.server.ping_interval, self._ping)
        if not self.open or self.server.faults.stalled:
            return
        self._ping_seq += 1
        payload = f"{self.server.now_ms()}:{self._ping_seq}".encode()
        self.pings[payload] = self.server.now()
        self.link.send_ping(payload)
        self._calls = [c for c in self._calls if c.active()]
        self._calls.append(self.server.reactor.callLater(self.server.pong_timeout,
                                                          self._pong_deadline, payload))

    def _pong_deadline(self, payload: bytes) -> None:
        if self.open and payload in self.pings:
            self.server.pong_timeouts += 1
            self.close(1008, "Pong timeout")

    def pong(self, payload: bytes) -> None:
        """A pong arrived: it clears its ping (and older ones) only if it echoes the payload."""
        ok = payload in self.pings
        self.server.pong_log.append({"session": self.id, "payload": payload, "ok": ok,
                                     "time": self.server.now()})
        if ok:
            for p in list(self.pings):
                del self.pings[p]
                if p == payload:
                    break
        self.count_incoming()

    def ping_received(self) -> bool:
        return self.count_incoming()

    def count_incoming(self) -> bool:
        """Count one incoming message; past the per-second limit the connection is closed."""
        if self.incoming_limit is None or not self.open:
            return self.open
        now = self.server.now()
        q = self.incoming
        q.append(now)
        while q and now - q[0] >= 1.0:
            q.popleft()
        if len(q) > self.incoming_limit:
            self.server.rate_cuts += 1
            self.close(1008, "Too many requests")
            return False
        return True

    def _age_out(self) -> None:
        self.close(1001, "Connection age limit reached")

    def closed(self) -> None:
        self.open = False
        self.held.clear()
        for c in self._calls + [self._ping_call]:
            if c is not None and c.active():
                c.cancel()
        self._calls = []
        self._ping_call = None

    def received(self, text: str) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class _StreamSession(_Session):
    """A market / user-data stream connection: ``/ws``, ``/stream``, routed futures paths."""

    kind = "stream"

    def __init__(self, server: "BinanceServer", link: Any, path: str, combined: bool,
                 streams: list, user_keys: Mapping[str, Optional[frozenset]]):
        super().__init__(server, link, path)
        self.combined = combined
        self.incoming_limit = server.profile.max_incoming
        self.streams: dict = {}          # name -> key
        self.by_key: dict = {}           # key -> name
        self.user_keys: dict = dict(user_keys)   # listenKey -> events filter (None: all)
        for name in streams:
            self._add(name)

    def _add(self, name: str) -> None:
        key = parse_stream(name, self.server.profile)
        if key is None:
            self.user_keys.setdefault(name, None)
            return
        self.streams[name] = key
        self.by_key[key] = name

    def _remove(self, name: str) -> None:
        key = self.streams.pop(name, None)
        if key is not None:
            self.by_key.pop(key, None)
        self.user_keys.pop(name, None)

    def stream_count(self) -> int:
        return len(self.streams) + len(self.user_keys)

    def deliver(self, name: str, payload: bytes) -> None:
        if self.combined:
            self.write(b'{"stream":' + orjson.dumps(name) + b',"data":' + payload + b"}")
        else:
            self.write(payload)

    def deliver_user(self, key: str, event: dict) -> None:
        if key not in self.user_keys:
            return
        allowed = self.user_keys[key]
        if allowed is not None and event.get("e") not in allowed:
            return
        self.deliver(key, orjson.dumps(event))

    def detach_key(self, key: str) -> None:
        self.user_keys.pop(key, None)

    # -- control messages ----------------------------------------------------------

    def _error(self, code: int, msg: str, rid: Any = None) -> None:
        self.send_json({"error": {"code": code, "msg": msg}, "id": rid})

    def received(self, text: str) -> None:
        if not self.count_incoming():
            return
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return self._error(3, f"Invalid JSON: {exc.msg} at line {exc.lineno} "
                                  f"column {exc.colno}")
        if not isinstance(msg, dict):
            return self._error(2, "Invalid request: expected a JSON object")
        rid = msg.get("id")
        if "method" not in msg:
            return self._error(2, "Invalid request: missing field `method`", rid)
        if rid is not None and (isinstance(rid, bool) or not isinstance(rid, int) or rid < 0):
            return self._error(2, "Invalid request: request ID must be an unsigned integer", None)
        method = msg["method"]
        params = msg.get("params", [])
        if method == "SUBSCRIBE":
            self._subscribe(params, rid)
        elif method == "UNSUBSCRIBE":
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return self._error(2, "Invalid request: params must be a list of stream names", rid)
            for name in params:
                self._remove(name)
            self.send_json({"result": None, "id": rid})
        elif method == "LIST_SUBSCRIPTIONS":
            self.send_json({"result": list(self.streams) + list(self.user_keys), "id": rid})
        elif method == "SET_PROPERTY":
            if not (isinstance(params, list) and len(params) == 2 and params[0] == "combined"):
                return self._error(0, "Unknown property", rid)
            if not isinstance(params[1], bool):
                return self._error(1, "Invalid value type: expected Boolean", rid)
            self.combined = params[1]
            self.send_json({"result": None, "id": rid})
        elif method == "GET_PROPERTY":
            if params != ["combined"]:
                return self._error(0, "Unknown property", rid)
            self.send_json({"result": self.combined, "id": rid})
        else:
            self._error(2, f"Invalid request: unknown variant `{method}`, expected one of "
                           "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, "
                           "`GET_PROPERTY`", rid)

    def _subscribe(self, params: Any, rid: Any) -> None:
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return self._error(2, "Invalid request: params must be a list of stream names", rid)
        for name in params:
            if parse_stream(name, self.server.profile) is None and not (
                    _is_listen_key_name(name) and name in self.server.listen_keys):
                return self._error(2, f"Invalid request: invalid stream name `{name}`", rid)
        new = [p for p in params if p not in self.streams and p not in self.user_keys]
        if self.stream_count() + len(new) > self.server.profile.max_streams:
            return self._error(2, f"Invalid request: too many streams (at most "
                                  f"{self.server.profile.max_streams} per connection)", rid)
        for name in new:
            self._add(name)
        self.send_json({"result": None, "id": rid})


class _ApiSession(_Session):
    """A WebSocket API connection (``/ws-api/v3``, ``/ws-fapi/v1``, ``/ws-dapi/v1``)."""

    kind = "api"

    def __init__(self, server: "BinanceServer", link: Any, path: str):
        super().__init__(server, link, path)
        self.subs: dict = {}             # subscriptionId -> api key
        self._sub_ids = itertools.count(0)
        self.weights: deque = deque()    # (time, weight)
        self.orders_10s: deque = deque()
        self.orders_day = 0

    def _rate_limits(self, weight: int, order: bool) -> list:
        now = self.server.now()
        self.weights.append((now, weight))
        while self.weights and now - self.weights[0][0] >= 60:
            self.weights.popleft()
        limit = 6000 if not self.server.profile.futures else 2400
        out = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                "limit": limit, "count": sum(w for _, w in self.weights)}]
        if order:
            self.orders_10s.append(now)
            while self.orders_10s and now - self.orders_10s[0] >= 10:
                self.orders_10s.popleft()
            self.orders_day += 1
            out += [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                     "limit": 100, "count": len(self.orders_10s)},
                    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1,
                     "limit": 200000, "count": self.orders_day}]
        return out

    def _reply(self, rid: Any, result: Any, weight: int = 1, order: bool = False) -> None:
        self.send_json({"id": rid, "status": 200, "result": result,
                        "rateLimits": self._rate_limits(weight, order)})

    def _reply_error(self, rid: Any, err: ApiError, weight: int = 1, order: bool = False) -> None:
        self.send_json({"id": rid, "status": err.status,
                        "error": {"code": err.code, "msg": err.msg},
                        "rateLimits": self._rate_limits(weight, order)})

    def received(self, text: str) -> None:
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._reply_error(None, ApiError(-1135, "Invalid JSON Request"))
        if not isinstance(msg, dict):
            return self._reply_error(None, ApiError(-1135, "Invalid JSON Request"))
        rid = msg.get("id")
        method = msg.get("method")
        params = msg.get("params", {})
        if params is None:
            params = {}
        if not isinstance(method, str) or not method:
            return self._reply_error(rid, _mandatory("method"))
        if not isinstance(params, dict):
            return self._reply_error(rid, ApiError(
                -1130, "Data sent for parameter 'params' is not valid."))
        handler = self._METHODS.get(method)
        futures_only = method in ("userDataStream.start", "userDataStream.ping",
                                  "userDataStream.stop")
        spot_only = method.startswith("userDataStream.subscribe") or method in (
            "userDataStream.unsubscribe", "session.subscriptions")
        if handler is None or (futures_only and not self.server.profile.futures) or \
                (spot_only and self.server.profile.futures):
            return self._reply_error(rid, ApiError(-1020, f"Unknown method '{method}'; this "
                                                          "operation is not supported."))
        weight, order = self._WEIGHTS.get(method, (1, False))
        try:
            result = handler(self, rid, params)
        except ApiError as err:
            return self._reply_error(rid, err, weight, order)
        if result is not _ALREADY_SENT:
            self._reply(rid, result, weight, order)

    # -- methods -----------------------------------------------------------------

    def _ping_method(self, rid: Any, params: dict) -> Any:
        return {}

    def _time(self, rid: Any, params: dict) -> Any:
        return {"serverTime": self.server.now_ms()}

    def _subscribe_signature(self, rid: Any, params: dict) -> Any:
        api_key = self.server.verify_signed(params)
        if api_key in self.subs.values():
            raise ApiError(-2035, "User Data Stream subscription already active.")
        sid = next(self._sub_ids)
        self.subs[sid] = api_key
        return {"subscriptionId": sid}

    def _unsubscribe(self, rid: Any, params: dict) -> Any:
        sid = params.get("subscriptionId")
        if sid is None:
            targets = list(self.subs)
        else:
            try:
                sid = int(sid)
            except (TypeError, ValueError):
                raise ApiError(-1130, "Data sent for parameter 'subscriptionId' is not "
                                      "valid.") from None
            if sid not in self.subs:
                raise ApiError(-2036, "User Data Stream subscription not active.")
            targets = [sid]
        for s in targets:
            del self.subs[s]
            self.send_json({"subscriptionId": s,
                            "event": {"e": "eventStreamTerminated", "E": self.server.now_ms()}})
        return {}

    def _subscriptions(self, rid: Any, params: dict) -> Any:
        return [{"subscriptionId": s} for s in sorted(self.subs)]

    def _order_place(self, rid: Any, params: dict) -> Any:
        self.server.received[params.get("apiKey")].append(dict(params))
        api_key = self.server.verify_signed(params)
        result, events = self.server.place_order(api_key, params)
        self._reply(rid, result, 1, True)
        self.server.deliver_user(events)
        self.server.publish()
        return _ALREADY_SENT

    def _order_cancel(self, rid: Any, params: dict) -> Any:
        api_key = self.server.verify_signed(params)
        result, events = self.server.cancel_order(api_key, params)
        self._reply(rid, result, 1, False)
        self.server.deliver_user(events)
        self.server.publish()
        return _ALREADY_SENT

    def _order_status(self, rid: Any, params: dict) -> Any:
        api_key = self.server.verify_signed(params)
        return self.server.order_status(api_key, params)

    def _uds_start(self, rid: Any, params: dict) -> Any:
        api_key = self.server.check_api_key(params.get("apiKey"))
        return {"listenKey": self.server.create_listen_key(api_key)}

    def _uds_ping(self, rid: Any, params: dict) -> Any:
        api_key = self.server.check_api_key(params.get("apiKey"))
        key = self.server.keepalive_listen_key(api_key, params.get("listenKey"))
        if key is None:
            raise ApiError(-1125, "This listenKey does not exist.")
        return {"listenKey": key}

    def _uds_stop(self, rid: Any, params: dict) -> Any:
        api_key = self.server.check_api_key(params.get("apiKey"))
        self.server.delete_listen_key(api_key, params.get("listenKey"))
        return {}

    _METHODS: dict = {
        "ping": _ping_method, "time": _time,
        "userDataStream.subscribe.signature": _subscribe_signature,
        "userDataStream.unsubscribe": _unsubscribe,
        "session.subscriptions": _subscriptions,
        "order.place": _order_place, "order.cancel": _order_cancel, "order.status": _order_status,
        "userDataStream.start": _uds_start, "userDataStream.ping": _uds_ping,
        "userDataStream.stop": _uds_stop,
    }
    _WEIGHTS = {"userDataStream.subscribe.signature": (2, False), "order.place": (1, True),
                "order.status": (4, False), "userDataStream.start": (2, False),
                "userDataStream.ping": (2, False), "userDataStream.stop": (2, False)}


_ALREADY_SENT = object()


# -- account-side state ------------------------------------------------------------------

class _TrackedOrder:
    """A user order as Binance reports it (ids, client ids, cumulative fills)."""

    __slots__ = ("id", "owner", "symbol", "side", "type", "tif", "qty", "price", "client_id",
                 "created", "updated", "z", "Z", "status", "fills", "cancel_client_id",
                 "resting")

    def __init__(self, **kw: Any):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


class _Position:
    __slots__ = ("pa", "ep", "cr")

    def __init__(self) -> None:
        self.pa = ZERO
        self.ep = ZERO
        self.cr = ZERO

    def fill(self, qty: Decimal, price: Decimal) -> Decimal:
        """Apply a signed fill; returns the realized profit (quote units)."""
        rp = ZERO
        if self.pa == 0 or (self.pa > 0) == (qty > 0):
            total = abs(self.pa) + abs(qty)
            self.ep = (self.ep * abs(self.pa) + price * abs(qty)) / total
            self.pa += qty
            return rp
        closing = min(abs(qty), abs(self.pa))
        rp = closing * (price - self.ep) * (1 if self.pa > 0 else -1)
        self.cr += rp
        old = self.pa
        self.pa += qty
        if self.pa == 0:
            self.ep = ZERO
        elif (self.pa > 0) != (old > 0):
            self.ep = price
        return rp


class _SymStats:
    __slots__ = ("first_id", "last_id", "last_qty", "count", "quote_volume", "agg_ids")

    def __init__(self, agg_start: int):
        self.first_id = -1
        self.last_id = -1
        self.last_qty = ZERO
        self.count = 0
        self.quote_volume = ZERO
        self.agg_ids = itertools.count(agg_start)


class _ListenKey:
    __slots__ = ("key", "owner", "expires", "call", "alive")

    def __init__(self, key: str, owner: str):
        self.key, self.owner = key, owner
        self.expires = 0.0
        self.call = None
        self.alive = True


# -- the exchange ----------------------------------------------------------------------------

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
                 seed: int = 1, tick_interval: Optional[float] = 0.25,
                 ping_interval: Optional[float] = 20.0, pong_timeout: Optional[float] = None,
                 max_connection_age: Optional[float] = None, listen_key_ttl: float = 3600.0,
                 balances: Optional[Mapping[str, Any]] = None, shutdown_grace: float = 1.0):
        if market not in PROFILES:
            raise ValueError(f"market must be one of {sorted(PROFILES)}, not {market!r}")
        self.reactor = reactor
        self.profile = PROFILES[market]
        self.accounts = dict(accounts)
        self.tick_interval = tick_interval
        self.ping_interval = ping_interval
        self.pong_timeout = pong_timeout if pong_timeout is not None else self.profile.pong_timeout
        self.max_connection_age = max_connection_age
        self.listen_key_ttl = listen_key_ttl
        self.shutdown_grace = shutdown_grace
        self.market = SimulatedMarket(seed=seed, clock=self.now_ms)
        self.engine = self.market.engine
        start = balances or DEFAULT_BINANCE_BALANCES
        for key in self.accounts:
            self.engine.open_account(key, start)
        self.faults = FaultState()
        self.sessions: list = []
        self._session_ids = itertools.count(1)
        self._rng = random.Random(f"binance|{market}|{seed}")
        self.listen_keys: dict = {}
        self._active_key: dict = {}
        self.keepalive_log: dict = defaultdict(list)
        self.received: dict = defaultdict(list)
        self.pong_log: list = []
        self.pong_timeouts = 0
        self.rate_cuts = 0
        self.orders: dict = {}
        self.positions: dict = defaultdict(_Position)
        self.fwallets: dict = {}
        for key in self.accounts:
            self.fwallets[key] = {a: _dec(v) for a, v in start.items()}
        self._exec_ids = itertools.count(1_000_001)
        self._client_ids = itertools.count(1)
        self.depth: dict = {}
        self.stats: dict = {}
        self.klines: dict = {}
        self.klines_closed: dict = defaultdict(list)
        self._tops: dict = {}
        self._ticker_sent: dict = {}
        for i, bsym in enumerate(self.profile.symbols):
            self.depth[bsym] = _DepthFeed(1_000_000_000 * (i + 1) + seed % 1000,
                                          self.profile.depth_speeds)
            self.stats[bsym] = _SymStats(100_000_001 * (i + 1))
        self._loops: list = []
        self._stall_call = None
        self.refresh_depth()

    # -- names ----------------------------------------------------------------------

    def asset(self, currency: str) -> str:
        return _ASSET_NAMES.get(currency, currency) if self.profile.name != "coinm" else currency

    def engine_symbol(self, bsym: Any) -> str:
        if not isinstance(bsym, str) or not bsym:
            raise _mandatory("symbol")
        sym = self.profile.symbols.get(bsym)
        if sym is None:
            raise ApiError(-1121, "Invalid symbol.")
        return sym

    def _bsym(self, engine_symbol: str) -> Optional[str]:
        for b, e in self.profile.symbols.items():
            if e == engine_symbol:
                return b
        return None

    def margin_asset(self, bsym: str) -> str:
        """USDT on USDⓈ-M (engine USD), the base coin on COIN-M."""
        if self.profile.name == "coinm":
            return self.engine.pairs[self.profile.symbols[bsym]].base
        return "USD"

    def px(self, d: Decimal) -> str:
        return _plain(d) if self.profile.futures else _fixed8(d)

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
            loop(self.flush_depth, speed / 1000, speed)
        loop(self.flush_slow, 1.0)

    def stop_loops(self) -> None:
        for lc in self._loops:
            if lc.running:
                lc.stop()
        self._loops.clear()
        if self._stall_call is not None and self._stall_call.active():
            self._stall_call.cancel()
        for lk in self.listen_keys.values():
            if lk.call is not None and lk.call.active():
                lk.call.cancel()
        for s in list(self.sessions):
            s.closed()

    # -- market ---------------------------------------------------------------------

    def step(self, n: int = 1) -> None:
        """Advance the market ``n`` ticks, delivering user events and publishing after each."""
        for _ in range(n):
            events: list = []
            for res in self.market.tick():
                events.extend(self.user_events(res.events))
            self.deliver_user(events)
            self.publish()

    def _levels(self, engine_symbol: str) -> tuple:
        bids_o, asks_o = self.engine.book_orders(engine_symbol)
        out = []
        for orders in (bids_o, asks_o):
            levels: dict = {}
            for o in orders:
                levels[o.price] = levels.get(o.price, ZERO) + abs(o.amount)
            out.append(levels)
        return out[0], out[1]

    def refresh_depth(self) -> list:
        """Bring every depth feed up to the engine's book; returns the symbols that changed."""
        changed = []
        for bsym, sym in self.profile.symbols.items():
            feed = self.depth[bsym]
            version = self.engine.version(sym)
            if version == feed.version:
                continue
            feed.version = version
            bids, asks = self._levels(sym)
            if feed.update(bids, asks):
                changed.append(bsym)
        return changed

    def _stream_sessions(self) -> list:
        return [s for s in self.sessions if s.kind == "stream" and s.open]

    def _publish_key(self, key: tuple, payload: Any, sessions: Optional[list] = None) -> None:
        data = None
        for s in sessions if sessions is not None else self._stream_sessions():
            name = s.by_key.get(key)
            if name is not None:
                if data is None:
                    data = orjson.dumps(payload)
                s.deliver(name, data)

    def publish(self) -> None:
        """Push trades, aggTrades, bookTicker and depth changes (queued per speed)."""
        now = self.now_ms()
        sessions = self._stream_sessions()
        for sym, row in self.market.drain_trades():
            bsym = self._bsym(sym)
            if bsym is None:
                continue
            tid, mts, amount, price = row
            p = _from_float(price)
            q = _from_float(abs(amount))
            st = self.stats[bsym]
            st.first_id = tid if st.first_id < 0 else st.first_id
            st.last_id, st.last_qty = tid, q
            st.count += 1
            st.quote_volume += p * q
            self._kline_trade(bsym, tid, mts, p, q, amount > 0)
            buyer_maker = amount < 0
            if sessions:
                if self.profile.futures:
                    trade = {"e": "trade", "E": now, "T": mts, "s": bsym, "t": tid,
                             "p": self.px(p), "q": self.px(q), "X": "MARKET", "m": buyer_maker}
                else:
                    trade = {"e": "trade", "E": now, "s": bsym, "t": tid, "p": self.px(p),
                             "q": self.px(q), "T": mts, "m": buyer_maker, "M": True}
                self._publish_key(("trade", bsym, None, None), trade, sessions)
                agg = {"e": "aggTrade", "E": now, "s": bsym, "a": next(st.agg_ids),
                       "p": self.px(p), "q": self.px(q), "f": tid, "l": tid, "T": mts,
                       "m": buyer_maker}
                if not self.profile.futures:
                    agg["M"] = True
                self._publish_key(("aggTrade", bsym, None, None), agg, sessions)
        self.refresh_depth()
        for bsym, feed in self.depth.items():
            bids, asks = feed.top(1)
            top = (bids[0] if bids else None, asks[0] if asks else None)
            if self._tops.get(bsym) == top:
                continue
            self._tops[bsym] = top
            if not sessions:
                continue
            b, a = top
            b = b or (ZERO, ZERO)
            a = a or (ZERO, ZERO)
            bt = {"u": feed.last_id, "s": bsym, "b": self.px(b[0]), "B": self.px(b[1]),
                  "a": self.px(a[0]), "A": self.px(a[1])}
            if self.profile.futures:
                bt = {"e": "bookTicker", "u": feed.last_id, "E": now, "T": now, **bt}
            self._publish_key(("bookTicker", bsym, None, None), bt, sessions)

    def flush_depth(self, speed: int) -> None:
        """Send the diff accumulated for ``speed`` (and partial books) to their subscribers."""
        if self.faults.stalled:
            return
        self.refresh_depth()
        now = self.now_ms()
        sessions = self._stream_sessions()
        for bsym, feed in self.depth.items():
            diff = feed.take(speed)
            if diff is None or not sessions:
                continue
            U, u, pu, bids, asks = diff
            ev = {"e": "depthUpdate", "E": now}
            if self.profile.futures:
                ev["T"] = now
            ev.update({"s": bsym, "U": U, "u": u})
            if self.profile.futures:
                ev["pu"] = pu
            ev["b"] = [[self.px(p), self.px(q)] for p, q in bids]
            ev["a"] = [[self.px(p), self.px(q)] for p, q in asks]
            self._publish_key(("depth", bsym, None, speed), ev, sessions)
            for n in (5, 10, 20):
                key = ("depthN", bsym, n, speed)
                if not any(key in s.by_key for s in sessions):
                    continue
                tb, ta = feed.top(n)
                b = [[self.px(p), self.px(q)] for p, q in tb]
                a = [[self.px(p), self.px(q)] for p, q in ta]
                if self.profile.futures:
                    part = {"e": "depthUpdate", "E": now, "T": now, "s": bsym, "U": U, "u": u,
                            "pu": pu, "b": b, "a": a}
                else:
                    part = {"lastUpdateId": feed.last_id, "bids": b, "asks": a}
                self._publish_key(key, part, sessions)

    # klines and tickers ------------------------------------------------------------

    def _kline_trade(self, bsym: str, tid: int, mts: int, p: Decimal, q: Decimal,
                     taker_bought: bool) -> None:
        for iv in KLINE_INTERVALS:
            k = (bsym, iv)
            c = self.klines.get(k)
            start = kline_start(mts, iv)
            if c is not None and c["t"] != start:
                self.klines_closed[k].append(c)
                c = None
            if c is None:
                c = self.klines[k] = {"t": start, "T": kline_close_time(start, iv), "f": tid,
                                      "L": tid, "o": p, "c": p, "h": p, "l": p, "v": ZERO,
                                      "n": 0, "q": ZERO, "V": ZERO, "Q": ZERO}
            if c["f"] < 0:
                c["f"] = tid
            c["L"] = tid
            c["c"] = p
            c["h"] = max(c["h"], p)
            c["l"] = min(c["l"], p)
            c["v"] += q
            c["q"] += p * q
            c["n"] += 1
            if taker_bought:
                c["V"] += q
                c["Q"] += p * q

    def _kline_payload(self, bsym: str, iv: str, c: dict, closed: bool, now: int) -> dict:
        px = self.px
        return {"e": "kline", "E": now, "s": bsym,
                "k": {"t": c["t"], "T": c["T"], "s": bsym, "i": iv, "f": c["f"], "L": c["L"],
                      "o": px(c["o"]), "c": px(c["c"]), "h": px(c["h"]), "l": px(c["l"]),
                      "v": px(c["v"]), "n": c["n"], "x": closed, "q": px(c["q"]),
                      "V": px(c["V"]), "Q": px(c["Q"]), "B": "0"}}

    def flush_slow(self) -> None:
        """Klines (closed ones first, then the current one) and 24h tickers, once a second."""
        if self.faults.stalled:
            return
        now = self.now_ms()
        sessions = self._stream_sessions()
        wanted = {key for s in sessions for key in s.by_key}
        closed, self.klines_closed = self.klines_closed, defaultdict(list)
        for key in [k for k in wanted if k[0] == "kline"]:
            _, bsym, iv, _ = key
            for c in closed.get((bsym, iv), []):
                self._publish_key(key, self._kline_payload(bsym, iv, c, True, now), sessions)
            c = self.klines.get((bsym, iv))
            if c is not None and c["T"] < now:
                self._publish_key(key, self._kline_payload(bsym, iv, c, True, now), sessions)
                c = None
            if c is None:
                start = kline_start(now, iv)
                last = self.klines.get((bsym, iv))
                close_px = last["c"] if last else \
                    _from_float(self.market.mid(self.profile.symbols[bsym]))
                c = self.klines[(bsym, iv)] = {"t": start, "T": kline_close_time(start, iv),
                                               "f": -1, "L": -1, "o": close_px, "c": close_px,
                                               "h": close_px, "l": close_px, "v": ZERO, "n": 0,
                                               "q": ZERO, "V": ZERO, "Q": ZERO}
            self._publish_key(key, self._kline_payload(bsym, iv, c, False, now), sessions)
        for bsym, sym in self.profile.symbols.items():
            tkey, mkey = ("ticker", bsym, None, None), ("miniTicker", bsym, None, None)
            if tkey not in wanted and mkey not in wanted:
                continue
            t = self.market.ticker(sym)
            bid, bid_sz, ask, ask_sz, change, pct, last, vol, high, low = t
            st = self.stats[bsym]
            last_d, vol_d = _from_float(last), _from_float(vol)
            open_d = last_d - _from_float(change)
            px = self.px
            quote_vol = (vol_d * last_d).quantize(_Q8)
            if tkey in wanted:
                tick = {"e": "24hrTicker", "E": now, "s": bsym, "p": px(_from_float(change)),
                        "P": f"{pct * 100:.3f}", "w": px(last_d)}
                if not self.profile.futures:
                    tick["x"] = px(open_d)
                tick.update({"c": px(last_d), "Q": px(st.last_qty)})
                if not self.profile.futures:
                    tick.update({"b": px(_from_float(bid)), "B": px(_from_float(bid_sz)),
                                 "a": px(_from_float(ask)), "A": px(_from_float(ask_sz))})
                tick.update({"o": px(open_d), "h": px(_from_float(high)), "l": px(_from_float(low)),
                             "v": px(vol_d), "q": px(quote_vol), "O": now - 86_400_000, "C": now,
                             "F": st.first_id, "L": st.last_id, "n": st.count})
                self._publish_key(tkey, tick, sessions)
            if mkey in wanted:
                self._publish_key(mkey, {"e": "24hrMiniTicker", "E": now, "s": bsym,
                                         "c": px(last_d), "o": px(open_d),
                                         "h": px(_from_float(high)), "l": px(_from_float(low)),
                                         "v": px(vol_d), "q": px(quote_vol)}, sessions)

    def depth_snapshot(self, bsym: str, limit: Optional[int] = None) -> dict:
        """The REST depth: ``{"lastUpdateId","bids","asks"}`` (+ ``E``, ``T`` on futures)."""
        self.engine_symbol(bsym)
        self.refresh_depth()
        default, maximum = self.profile.depth_limit
        n = default if limit is None else max(1, min(int(limit), maximum))
        feed = self.depth[bsym]
        bids, asks = feed.top(n)
        out: dict = {"lastUpdateId": feed.last_id}
        if self.profile.futures:
            now = self.now_ms()
            out.update({"E": now, "T": now})
        out["bids"] = [[self.px(p), self.px(q)] for p, q in bids]
        out["asks"] = [[self.px(p), self.px(q)] for p, q in asks]
        return out

    # -- accounts and signatures -------------------------------------------------------

    def check_api_key(self, api_key: Any) -> str:
        if not isinstance(api_key, str) or not api_key:
            raise _mandatory("apiKey")
        if api_key not in self.accounts:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return api_key

    def verify_signed(self, params: Mapping[str, Any]) -> str:
        """Check apiKey, signature and timestamp/recvWindow of a signed request; returns the key."""
        api_key = self.check_api_key(params.get("apiKey"))
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        sig = params.get("signature")
        if not isinstance(sig, str) or not sig:
            raise _mandatory("signature")
        try:
            ts = _dec(params["timestamp"])
            window = _dec(params.get("recvWindow", 5000))
        except (InvalidOperation, ValueError):
            raise ApiError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                                  "or malformed.") from None
        if window <= 0 or window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000.")
        secret = self.accounts[api_key].encode()
        want = sig.lower()
        if not any(hmac.compare_digest(
                hmac.new(secret, p.encode(), hashlib.sha256).hexdigest(), want)
                for p in signature_payloads(params)):
            raise ApiError(-1022, "Signature for this request is not valid.")
        now = Decimal(self.now_ms())
        if ts >= now + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's "
                                  "time.")
        if now - ts > window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return api_key

    # -- listen keys --------------------------------------------------------------------

    def _new_key(self) -> str:
        while True:
            key = "".join(self._rng.choice(_ALNUM) for _ in range(64))
            if key not in self.listen_keys:
                return key

    def _arm(self, lk: _ListenKey) -> None:
        lk.expires = self.now() + self.listen_key_ttl
        if lk.call is not None and lk.call.active():
            lk.call.reset(self.listen_key_ttl)
        else:
            lk.call = self.reactor.callLater(self.listen_key_ttl, self.expire_listen_key, lk.key)

    def active_listen_key(self, owner: str) -> Optional[_ListenKey]:
        lk = self._active_key.get(owner)
        return lk if lk is not None and lk.alive else None

    def create_listen_key(self, owner: str) -> str:
        """POST: the account's active key (extended), or a new one."""
        lk = self.active_listen_key(owner)
        if lk is None:
            lk = _ListenKey(self._new_key(), owner)
            self.listen_keys[lk.key] = lk
            self._active_key[owner] = lk
        self._arm(lk)
        return lk.key

    def keepalive_listen_key(self, owner: str, key: Optional[str] = None) -> Optional[str]:
        """PUT: extend the active key (recorded with its time); None if there is none (-1125)."""
        self.keepalive_log[owner].append(self.now())
        lk = self.active_listen_key(owner)
        if lk is None or (key and key != lk.key):
            return None
        self._arm(lk)
        return lk.key

    def delete_listen_key(self, owner: str, key: Optional[str] = None) -> bool:
        """DELETE: close the key; its streams fall silent (no listenKeyExpired)."""
        lk = self.active_listen_key(owner)
        if lk is None or (key and key != lk.key):
            return False
        lk.alive = False
        if lk.call is not None and lk.call.active():
            lk.call.cancel()
        self._active_key.pop(owner, None)
        for s in self._stream_sessions():
            s.detach_key(lk.key)
        return True

    def expire_listen_key(self, key: Optional[str] = None) -> int:
        """Expire ``key`` (every live key if None): send listenKeyExpired and stop sending."""
        targets = [key] if key is not None else \
            [k for k, lk in self.listen_keys.items() if lk.alive]
        n = 0
        for k in targets:
            lk = self.listen_keys.get(k)
            if lk is None or not lk.alive:
                continue
            lk.alive = False
            if lk.call is not None and lk.call.active():
                lk.call.cancel()
            if self._active_key.get(lk.owner) is lk:
                del self._active_key[lk.owner]
            now = self.now_ms()
            ev = {"e": "listenKeyExpired", "E": str(now) if self.profile.futures else now,
                  "listenKey": k}
            for s in self._stream_sessions():
                if k in s.user_keys:
                    s.deliver_user(k, ev)
                    s.detach_key(k)
            n += 1
        return n

    # -- orders ---------------------------------------------------------------------------

    def _client_id(self) -> str:
        return f"sb{self.now_ms() % 10**9:09d}{next(self._client_ids):06d}"

    def _open_client_ids(self, owner: str) -> set:
        return {t.client_id for t in self.orders.values() if t.owner == owner and t.is_open}

    def place_order(self, owner: str, p: Mapping[str, Any]) -> tuple:
        """Validate and match an ``order.place``; returns ``(result, user events)``.

        Raises:
            ApiError: Binance's code and text for a refused order.
        """
        fut = self.profile.futures
        bsym = p.get("symbol")
        sym = self.engine_symbol(bsym)
        spec = self.engine.pairs[sym]
        side = p.get("side")
        if not side:
            raise _mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        otype = p.get("type")
        if not otype:
            raise _mandatory("type")
        types = ("LIMIT", "MARKET") if fut else ("LIMIT", "MARKET", "LIMIT_MAKER")
        if otype not in types:
            raise ApiError(-1116, "Invalid orderType.")
        tif = p.get("timeInForce")
        tifs = ("GTC", "IOC", "FOK", "GTX") if fut else ("GTC", "IOC", "FOK")
        if otype == "LIMIT":
            if not tif:
                raise _mandatory("timeInForce")
            if tif not in tifs:
                raise ApiError(-1115, "Invalid timeInForce.")
        elif tif and not fut:
            raise ApiError(-1106, "Parameter 'timeInForce' sent when not required.")
        if p.get("quoteOrderQty") not in (None, ""):
            raise ApiError(-1013, "Quote order qty market orders are not support for this symbol.")
        if p.get("quantity") in (None, ""):
            raise _mandatory("quantity")
        try:
            qty = _dec(p["quantity"])
        except (InvalidOperation, ValueError):
            raise _mandatory("quantity") from None
        if qty <= 0:
            raise _mandatory("quantity")
        if qty != qty.quantize(_Q8, rounding=ROUND_DOWN) or qty < spec.min_size:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        price: Optional[Decimal] = None
        if otype in ("LIMIT", "LIMIT_MAKER"):
            if p.get("price") in (None, ""):
                raise _mandatory("price")
            try:
                price = _dec(p["price"])
            except (InvalidOperation, ValueError):
                raise _mandatory("price") from None
            if price <= 0 or round_sig(price, PRICE_SIG_DIGITS) != price or price > Decimal("1e9"):
                raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        elif p.get("price") not in (None, "") and not fut:
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        cid = p.get("newClientOrderId")
        if cid in (None, ""):
            cid = self._client_id()
        elif not isinstance(cid, str) or len(cid) > 36:
            raise ApiError(-1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                  "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if cid in self._open_client_ids(owner):
            raise ApiError(-4116, "ClientOrderId is duplicated.") if fut else \
                ApiError(-2010, "Duplicate order sent.")
        post_only = otype == "LIMIT_MAKER" or tif == "GTX"
        if post_only:
            bid, ask = self.engine.best(sym)
            crosses = (ask is not None and price >= ask) if side == "BUY" else \
                (bid is not None and price <= bid)
            if crosses:
                raise ApiError(-5022, "Due to the order could not be executed as maker, the Post "
                                      "Only order will be rejected.") if fut else \
                    ApiError(-2010, "Order would immediately match and take.")
        if otype == "MARKET":
            etype = "EXCHANGE MARKET"
        else:
            etype = {"IOC": "EXCHANGE IOC", "FOK": "EXCHANGE FOK"}.get(tif, "EXCHANGE LIMIT")
        amount = qty if side == "BUY" else -qty
        res = self.engine.submit(owner, sym, amount, price, etype,
                                 flags=FLAG_POST_ONLY if post_only else 0)
        if not res.ok:
            if "balance" in res.text:
                raise ApiError(-2019, "Margin is insufficient.") if fut else \
                    ApiError(-2010, "Account has insufficient balance for requested action.")
            raise ApiError(-2010, res.text)
        now = self.now_ms()
        t = _TrackedOrder(id=res.order.id, owner=owner, symbol=bsym, side=side, type=otype,
                          tif=(tif or "GTC"), qty=qty, price=price, client_id=cid, created=now,
                          updated=now, z=ZERO, Z=ZERO, status="NEW", fills=[],
                          cancel_client_id=None, resting=False)
        self.orders[t.id] = t
        self.market.observe(res)
        events = self.user_events(res.events)
        return self.order_result(t, p.get("newOrderRespType")), events

    def _find_order(self, owner: str, p: Mapping[str, Any]) -> Optional[_TrackedOrder]:
        oid, orig = p.get("orderId"), p.get("origClientOrderId")
        if oid in (None, "") and orig in (None, ""):
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both "
                                  "were empty/null!")
        for t in self.orders.values():
            if t.owner != owner or t.symbol != p.get("symbol"):
                continue
            if oid not in (None, ""):
                try:
                    if t.id == int(oid):
                        return t
                except (TypeError, ValueError):
                    return None
            elif t.client_id == orig:
                return t
        return None

    def cancel_order(self, owner: str, p: Mapping[str, Any]) -> tuple:
        """``order.cancel``: returns ``(result, user events)``; -2011 when not open."""
        self.engine_symbol(p.get("symbol"))
        t = self._find_order(owner, p)
        if t is None or not t.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        t.cancel_client_id = p.get("newClientOrderId") or self._client_id()
        res = self.engine.cancel(owner, t.id)
        if not res.ok:  # pragma: no cover - tracked open orders are in the engine
            raise ApiError(-2011, "Unknown order sent.")
        self.market.observe(res)
        events = self.user_events(res.events)
        if self.profile.futures:
            return self.order_result(t, "RESULT"), events
        out = {"symbol": t.symbol, "origClientOrderId": t.client_id, "orderId": t.id,
               "orderListId": -1, "clientOrderId": t.cancel_client_id,
               "transactTime": self.now_ms(), "price": self.px(t.price or ZERO),
               "origQty": self.px(t.qty), "executedQty": self.px(t.z),
               "origQuoteOrderQty": self.px(ZERO), "cummulativeQuoteQty": self.px(t.Z),
               "status": t.status, "timeInForce": t.tif, "type": t.type, "side": t.side,
               "selfTradePreventionMode": "EXPIRE_MAKER"}
        return out, events

    def order_status(self, owner: str, p: Mapping[str, Any]) -> dict:
        self.engine_symbol(p.get("symbol"))
        t = self._find_order(owner, p)
        if t is None:
            raise ApiError(-2013, "Order does not exist.")
        return self.order_result(t, "RESULT")

    def order_result(self, t: _TrackedOrder, resp_type: Any = None) -> dict:
        """The order response (ACK, RESULT or FULL for Spot; the futures layout otherwise)."""
        px = self.px
        if self.profile.futures:
            avg = (t.Z / t.z) if t.z else ZERO
            out = {"orderId": t.id, "symbol": t.symbol, "status": t.status,
                   "clientOrderId": t.client_id, "price": px(t.price or ZERO),
                   "avgPrice": px(avg), "origQty": px(t.qty), "executedQty": px(t.z),
                   "cumQty": px(t.z)}
            if self.profile.name == "coinm":
                out["cumBase"] = px(t.z)
            else:
                out["cumQuote"] = px(t.Z)
            out.update({"timeInForce": t.tif, "type": t.type, "reduceOnly": False,
                        "closePosition": False, "side": t.side, "positionSide": "BOTH",
                        "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False,
                        "origType": t.type, "priceMatch": "NONE",
                        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
                        "updateTime": t.updated})
            return out
        out = {"symbol": t.symbol, "orderId": t.id, "orderListId": -1,
               "clientOrderId": t.client_id, "transactTime": t.created}
        if resp_type == "ACK":
            return out
        out.update({"price": px(t.price or ZERO), "origQty": px(t.qty), "executedQty": px(t.z),
                    "origQuoteOrderQty": px(ZERO), "cummulativeQuoteQty": px(t.Z),
                    "status": t.status, "timeInForce": t.tif, "type": t.type, "side": t.side,
                    "workingTime": t.created if t.type != "MARKET" else -1,
                    "selfTradePreventionMode": "EXPIRE_MAKER"})
        if resp_type not in ("RESULT",):
            out["fills"] = [{"price": px(fp), "qty": px(fq), "commission": px(fc),
                             "commissionAsset": fa, "tradeId": ftid}
                            for fp, fq, fc, fa, ftid in t.fills]
        return out

    # -- user events ------------------------------------------------------------------------

    def user_events(self, events: list) -> list:
        """Turn engine events into ``(owner, Binance event)`` pairs, updating tracked orders,
        positions and futures wallets. Public-only owners (market makers) are skipped."""
        out: list = []
        fees = {(e.id, e.order_id): e for e in events
                if isinstance(e, TradeEvent) and e.kind == "tu"}
        wallets: dict = defaultdict(dict)
        touched: dict = defaultdict(set)     # futures: owner -> symbols traded
        now = self.now_ms()
        fut = self.profile.futures
        for ev in events:
            owner = ev.owner
            if owner not in self.accounts:
                continue
            if isinstance(ev, OrderEvent):
                t = self.orders.get(ev.order.id)
                if t is None:
                    continue
                t.updated = now
                if ev.kind == "on":
                    t.resting = t.type != "MARKET" and t.tif in ("GTC", "GTX")
                    out.append((owner, self._report(t, "NEW", now)))
                elif ev.kind == "oc":
                    t.resting = False
                    status = ev.order.status or ""
                    if status.startswith("EXECUTED"):
                        continue
                    user_cancel = status.startswith("CANCELED") and t.cancel_client_id is not None
                    t.status = "CANCELED" if user_cancel else "EXPIRED"
                    out.append((owner, self._report(t, t.status, now)))
            elif isinstance(ev, TradeEvent) and ev.kind == "te":
                t = self.orders.get(ev.order_id)
                if t is None:
                    continue
                qty = _from_float(abs(ev.exec_amount))
                price = _from_float(ev.exec_price)
                fee_ev = fees.get((ev.id, ev.order_id))
                if fut:
                    rate = self.engine.maker_fee if ev.maker else self.engine.taker_fee
                    asset_c = self.margin_asset(t.symbol)
                    notional = qty * price if asset_c == "USD" else qty
                    commission = (notional * rate).quantize(_Q8)
                else:
                    commission = _from_float(-fee_ev.fee) if fee_ev and fee_ev.fee else ZERO
                    asset_c = fee_ev.fee_currency if fee_ev else None
                t.z += qty
                t.Z += qty * price
                t.updated = now
                t.status = "FILLED" if t.z >= t.qty else "PARTIALLY_FILLED"
                if t.status == "FILLED":
                    t.resting = False
                t.fills.append((price, qty, commission, self.asset(asset_c or "USD"), ev.id))
                trade = (qty, price, commission, asset_c, ev.id, ev.mts, ev.maker)
                rp = ZERO
                if fut:
                    signed = qty if t.side == "BUY" else -qty
                    rp = self.positions[(owner, t.symbol)].fill(signed, price)
                    wallet = self.fwallets.setdefault(owner, {})
                    asset_m = self.margin_asset(t.symbol)
                    rp_m = rp if asset_m == "USD" else (rp / price).quantize(_Q8)
                    wallet[asset_m] = wallet.get(asset_m, ZERO) + rp_m - commission
                    touched[owner].add(t.symbol)
                    out.append((owner, self._trade_lite(t, trade, now)))
                out.append((owner, self._report(t, "TRADE", now, trade, rp)))
            elif isinstance(ev, WalletEvent):
                wallets[owner][ev.currency] = (ev.balance, ev.available)
        if fut:
            for owner, symbols in touched.items():
                out.append((owner, self._account_update(owner, symbols, now)))
        else:
            for owner, curs in wallets.items():
                out.append((owner, {"e": "outboundAccountPosition", "E": now, "u": now,
                                    "B": [{"a": self.asset(c), "f": _fixed8(_from_float(av)),
                                           "l": _fixed8(_from_float(bal) - _from_float(av))}
                                          for c, (bal, av) in curs.items()]}))
        return out

    def _report(self, t: _TrackedOrder, x: str, now: int, trade: Optional[tuple] = None,
                rp: Decimal = ZERO) -> dict:
        px = self.px
        qty, price, commission, asset_c, tid, mts, maker = trade or (ZERO, ZERO, ZERO, None, -1,
                                                                     now, False)
        if self.profile.futures:
            o = {"s": t.symbol, "c": t.client_id, "S": t.side, "o": t.type,
                 "f": t.tif if t.type != "MARKET" else "GTC", "q": px(t.qty),
                 "p": px(t.price or ZERO), "ap": px((t.Z / t.z) if t.z else ZERO), "sp": "0",
                 "x": x, "X": t.status, "i": t.id, "l": px(qty), "z": px(t.z), "L": px(price)}
            if trade is not None:
                o.update({"N": self.asset(asset_c), "n": px(commission)})
            o.update({"T": mts, "t": tid if trade else 0, "b": "0", "a": "0", "m": bool(maker),
                      "R": False, "wt": "CONTRACT_PRICE", "ot": t.type, "ps": "BOTH",
                      "cp": False, "rp": px(rp), "pP": False, "si": 0, "ss": 0,
                      "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0"})
            ev = {"e": "ORDER_TRADE_UPDATE", "E": now, "T": mts}
            if self.profile.name == "coinm":
                o["ma"] = self.margin_asset(t.symbol)
                ev["i"] = self._alias(t.owner)
            ev["o"] = o
            return ev
        c, orig = t.client_id, ""
        if x == "CANCELED":
            c, orig = t.cancel_client_id, t.client_id
        return {"e": "executionReport", "E": now, "s": t.symbol, "c": c, "S": t.side, "o": t.type,
                "f": t.tif, "q": px(t.qty), "p": px(t.price or ZERO), "P": px(ZERO),
                "F": px(ZERO), "g": -1, "C": orig, "x": x, "X": t.status, "r": "NONE", "i": t.id,
                "l": px(qty), "z": px(t.z), "L": px(price), "n": px(commission),
                "N": self.asset(asset_c) if trade and asset_c else None, "T": mts if trade else now,
                "t": tid, "I": next(self._exec_ids), "w": bool(t.resting), "m": bool(maker),
                "M": False, "O": t.created, "Z": px(t.Z), "Y": px(qty * price),
                "Q": px(ZERO), "W": t.created if t.type != "MARKET" else -1,
                "V": "EXPIRE_MAKER"}

    def _alias(self, owner: str) -> str:
        return hashlib.sha256(owner.encode()).hexdigest()[:16]

    def _trade_lite(self, t: _TrackedOrder, trade: tuple, now: int) -> dict:
        qty, price, _, _, tid, mts, maker = trade
        px = self.px
        return {"e": "TRADE_LITE", "E": now, "T": mts, "s": t.symbol, "q": px(t.qty),
                "p": px(t.price or ZERO), "m": bool(maker), "c": t.client_id, "S": t.side,
                "L": px(price), "l": px(qty), "t": tid, "i": t.id}

    def _account_update(self, owner: str, symbols: set, now: int) -> dict:
        px = self.px
        wallet = self.fwallets.get(owner, {})
        assets = sorted({self.margin_asset(s) for s in symbols})
        positions = []
        for s in sorted(symbols):
            pos = self.positions[(owner, s)]
            mid = _from_float(self.market.mid(self.profile.symbols[s]))
            up = (pos.pa * (mid - pos.ep)) if pos.pa else ZERO
            if self.profile.name == "coinm" and pos.pa and mid:
                up = up / mid
            positions.append({"s": s, "pa": px(pos.pa), "ep": px(pos.ep.quantize(_Q8)),
                              "bep": px(pos.ep.quantize(_Q8)), "cr": px(pos.cr.quantize(_Q8)),
                              "up": px(up.quantize(_Q8)), "mt": "cross", "iw": "0", "ps": "BOTH"})
        ev = {"e": "ACCOUNT_UPDATE", "E": now, "T": now}
        if self.profile.name == "coinm":
            ev["i"] = self._alias(owner)
        ev["a"] = {"m": "ORDER",
                   "B": [{"a": self.asset(a), "wb": px(wallet.get(a, ZERO).quantize(_Q8)),
                          "cw": px(wallet.get(a, ZERO).quantize(_Q8)), "bc": "0"} for a in assets],
                   "P": positions}
        return ev

    def deliver_user(self, items: list) -> None:
        """Send user events: to WS-API subscriptions of the owner (wrapped with their
        subscriptionId) and to the streams of the owner's live listenKey."""
        for owner, ev in items:
            data = None
            for s in self.sessions:
                if s.kind == "api" and s.open:
                    for sid, who in s.subs.items():
                        if who == owner:
                            s.send_json({"subscriptionId": sid, "event": ev})
            lk = self.active_listen_key(owner)
            if lk is None:
                continue
            for s in self._stream_sessions():
                if lk.key in s.user_keys:
                    allowed = s.user_keys[lk.key]
                    if allowed is not None and ev["e"] not in allowed:
                        continue
                    if data is None:
                        data = orjson.dumps(ev)
                    s.deliver(lk.key, data)

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

        def first(name: str) -> Optional[str]:
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
        if combined and first("streams"):
            names += [n for n in first("streams").split("/") if n]
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

    def open_session(self, route: tuple, link: Any, path: str = "") -> _Session:
        """Create the session a handshake's route asked for, on ``link``."""
        if route[0] == "api":
            s: _Session = _ApiSession(self, link, path)
        else:
            _, combined, names, user = route
            s = _StreamSession(self, link, path, combined, names, user)
        self.sessions.append(s)
        return s

    def session_closed(self, s: _Session) -> None:
        s.closed()
        if s in self.sessions:
            self.sessions.remove(s)

    def drop_all(self) -> int:
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

    def broadcast_raw(self, data: bytes) -> None:
        for s in list(self.sessions):
            s.write(data)



# -- autobahn adapter ---------------------------------------------------------------------

class _Protocol(TrackedServerProtocol):
    """Moves frames between autobahn and a session; it is the session's link."""

    session: Optional[_Session] = None
    _route: Optional[tuple] = None
    _path = ""

    def onConnect(self, request):  # noqa: N802
        try:
            self._route = self.factory.server.route_request(request.path, request.params)
        except ApiError as err:
            raise ConnectionDeny(err.status, err.msg)
        self._path = request.path
        return None

    def onOpen(self):  # noqa: N802
        self.session = self.factory.server.open_session(self._route, self, self._path)

    # link API ---------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sendMessage(data, isBinary=False)

    def send_ping(self, payload: bytes) -> None:
        self.sendPing(payload)

    def close(self, code: int, reason: str) -> None:
        if self.state == self.STATE_OPEN:
            # sendCloseFrame allows the protocol codes (1001, 1008) that sendClose refuses.
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode()[:120], isReply=False)

    # autobahn hooks ------------------------------------------------------------------
    def onMessage(self, payload, isBinary):  # noqa: N802,N803
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

    def onPing(self, payload):  # noqa: N802
        if self.session is not None and not self.session.ping_received():
            return
        super().onPing(payload)

    def onPong(self, payload):  # noqa: N802
        if self.session is not None:
            self.session.pong(payload)



class _Factory(TrackedServerFactory):
    protocol = _Protocol


# -- faults -----------------------------------------------------------------------------

class BinanceFaults:
    """Inject faults into a running :class:`BinanceSandbox`; every method is thread-safe.

    - :meth:`drop_connections`: abort every WebSocket connection (no close frame).
    - :meth:`server_shutdown`: ``serverShutdown`` on every connection, close after a moment.
    - :meth:`expire_listen_key`: ``listenKeyExpired`` now, then silence on that key.
    - :meth:`stall` / :meth:`resume`: no frame (pings included) leaves; frames are held.
    - :meth:`reject_next_handshake`: the next WebSocket handshake gets an HTTP error.
    - :meth:`malformed_frame`: one text frame that is not valid JSON, on every connection.
    """

    def __init__(self, sandbox: "BinanceSandbox"):
        self._sb = sandbox

    def _server(self) -> BinanceServer:
        return self._sb._server

    def drop_connections(self) -> int:
        """Abort every open WebSocket connection; returns how many."""
        return self._sb._call(lambda: self._server().drop_all())

    def server_shutdown(self) -> int:
        """Send ``{"e":"serverShutdown","E":ms}`` everywhere; close (1001) after the grace."""
        return self._sb._call(lambda: self._server().server_shutdown())

    def expire_listen_key(self, key: Optional[str] = None) -> int:
        """Expire ``key`` (every live key if None) now; returns how many expired."""
        return self._sb._call(lambda: self._server().expire_listen_key(key))

    def stall(self, seconds: Optional[float] = None) -> None:
        """Send nothing (pings included) until :meth:`resume`, or for ``seconds``."""
        self._sb._call(lambda: self._server().stall(seconds))

    def resume(self) -> None:
        """End a stall: frames held meanwhile are sent, in order."""
        self._sb._call(lambda: self._server().resume())

    def reject_next_handshake(self, status: int = 429) -> None:
        """Answer the next WebSocket handshake with HTTP ``status`` instead of 101."""
        def run() -> None:
            self._server().faults.reject_next_handshake = status
        self._sb._call(run)

    def malformed_frame(self) -> None:
        """Send one text frame that is not valid JSON to every connection."""
        self._sb._call(lambda: self._server().broadcast_raw(b'{"e":"executionReport","E":'))


# -- public handle ------------------------------------------------------------------------

class BinanceSandbox(SandboxHandle):
    """A local Binance exchange (REST + WebSocket on one port) with a simulated market.

    Args:
        host: interface to listen on.
        port: TCP port; 0 picks a free one (read :attr:`port` after start).
        accounts: ``{api_key: secret}``; default ``{DEFAULT_BINANCE_KEY: DEFAULT_BINANCE_SECRET}``.
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
                 accounts: Optional[Mapping[str, str]] = None, seed: int = 1,
                 tick_interval: Optional[float] = 0.25, market: str = "spot",
                 ping_interval: Optional[float] = 20.0,
                 max_connection_age: Optional[float] = None, listen_key_ttl: float = 3600.0,
                 reactor: Any = None, pong_timeout: Optional[float] = None,
                 balances: Optional[Mapping[str, Any]] = None, shutdown_grace: float = 1.0):
        from exchange_wss import _reactor
        from .binance_rest import RestApi, make_site
        self._own_reactor = reactor is None
        self._reactor = reactor if reactor is not None else _reactor.get_reactor()
        self.host = host
        self._requested_port = port
        self._port: Optional[int] = None
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
                self._server.flush_depth(speed)
            self._server.flush_slow()
        self._call(run)

    def book(self, symbol: str, limit: int = 20) -> dict:
        """The published book: ``{"bids": [[price, qty], ...], "asks": ..., "lastUpdateId": n}``."""
        def run() -> dict:
            snap = self._server.depth_snapshot(symbol, limit)
            return {"bids": snap["bids"], "asks": snap["asks"],
                    "lastUpdateId": snap["lastUpdateId"]}
        return self._call(run)

    def orders_received(self, api_key: str = DEFAULT_BINANCE_KEY) -> list:
        """The params of every ``order.place`` received for ``api_key``, in order."""
        return self._call(lambda: [dict(p) for p in self._server.received.get(api_key, [])])

    def keepalives(self, api_key: str = DEFAULT_BINANCE_KEY) -> list:
        """Reactor times (seconds) of every listenKey keepalive (PUT or userDataStream.ping)."""
        return self._call(lambda: list(self._server.keepalive_log.get(api_key, [])))

    def listen_key(self, api_key: str = DEFAULT_BINANCE_KEY) -> Optional[str]:
        """The account's live listenKey, or None."""
        def run() -> Optional[str]:
            lk = self._server.active_listen_key(api_key)
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
        return self._call(lambda: [self._server.order_result(t, "RESULT")
                                   for t in self._server.orders.values()
                                   if t.owner == api_key and t.is_open])

    def balances(self, api_key: str = DEFAULT_BINANCE_KEY) -> dict:
        """Spot wallets ``{asset: (free, locked)}`` as Decimals."""
        def run() -> dict:
            return {self._server.asset(c): (a, b - a)
                    for c, (b, a) in self._server.engine.wallets(api_key).items()}
        return self._call(run)

    def place_order(self, api_key: str = DEFAULT_BINANCE_KEY, **params: Any) -> dict:
        """Place an order for an account directly (no signature), as another client of it
        would; its user-data events are delivered. Raises :class:`ApiError` when refused."""
        def run() -> dict:
            result, events = self._server.place_order(api_key, params)
            self._server.deliver_user(events)
            self._server.publish()
            return result
        return self._call(run)

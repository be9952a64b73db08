"""Binance streams and WebSocket API, sans-I/O: decoded JSON in, typed events out;
requests in, frames out.

Nothing here imports Twisted or autobahn. The connection layer decodes each
message (``orjson.loads``) and hands it to :meth:`BinanceSession.receive`; the
facade builds URLs, control messages and signed WebSocket-API requests with the
module functions, and feeds REST depth snapshots to :class:`DepthSync`.

Wire facts follow ``shared/protocol/binance.md`` (as of Aug 2026):

- Spot user data exists only on the WebSocket API
  (``userDataStream.subscribe.signature``); the listenKey endpoints were
  retired on 2026-02-20. Events arrive as ``{"subscriptionId","event"}``.
- USDT-M futures user data is on ``/private/ws?listenKey=..&events=..``
  (legacy URLs retired 2026-04-23); USDT-M market data is split into
  ``/public`` (book streams) and ``/market`` (everything else).
- COIN-M futures and margin still use ``/ws/<listenKey>``.

Numbers arrive as decimal strings and become floats in the models; every
model keeps the event it came from in ``.raw``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Deque, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import quote

from ..errors import (AuthenticationError, ExchangeError, LocalProtocolError, OrderRejected,
                      RemoteProtocolError)
from ..numtext import decimal_text
from ..models import (BalanceUpdate, BookDiff, BookSnapshot, BookTicker, Candle, Fill, Order,
                      Position, Snapshot, Ticker, Trade, UserEvent, Wallet)
from ..orderbook import OrderBook

__all__ = [
    # constants
    "MARKETS", "FUTURES_MARKETS", "MAX_STREAMS", "CONTROL_RATE", "LISTEN_KEY_KEEPALIVE",
    "MAX_RECV_WINDOW", "DEFAULT_FUTURES_EVENTS", "KLINE_INTERVALS", "FUTURES_KLINE_INTERVALS",
    "DEPTH_LEVELS", "DEPTH_SPEEDS", "DEFAULT_DEPTH_LIMIT",
    # endpoints and URLs
    "Endpoints", "default_endpoints", "listen_key_path", "user_stream_url", "market_stream_url",
    "stream_route", "depth_snapshot_request", "depth_snapshot_url",
    # streams and control
    "stream_name", "subscribe_request", "unsubscribe_request", "list_subscriptions_request",
    # signing and WebSocket API
    "signature_payload", "sign_hmac", "sign_ed25519", "signed_params", "ws_api_request",
    "user_data_subscribe_request", "user_data_unsubscribe_request", "order_place_request",
    "order_cancel_request", "order_from_result",
    # control events
    "Response", "StreamTerminated", "ServerShutdown", "ListenKeyExpired", "MalformedFrame",
    "BookOutOfSync", "SnapshotNeeded", "UnknownStream",
    # state machines
    "DepthSync", "BinanceSession",
]

# --------------------------------------------------------------------------- constants

MARKETS = ("spot", "margin", "usdm", "coinm")
FUTURES_MARKETS = frozenset(("usdm", "coinm"))

#: Streams one connection may carry.
MAX_STREAMS = {"spot": 1024, "margin": 1024, "usdm": 200, "coinm": 200}
#: Incoming messages per second the server allows per connection (pings, pongs
#: and control JSON all count); beyond it the connection is closed.
CONTROL_RATE = {"spot": 5, "margin": 5, "usdm": 10, "coinm": 10}
#: Seconds between listenKey keepalives. Binance says "about every 30/60
#: minutes"; 60 leaves no margin, so 30.
LISTEN_KEY_KEEPALIVE = 1800.0
MAX_RECV_WINDOW = 60000

#: ``events=`` of the USDT-M ``/private`` stream: production sends nothing
#: without it. TRADE_LITE is left out on purpose: it repeats the fills of
#: ORDER_TRADE_UPDATE (faster, without fees), so it would double every Fill.
DEFAULT_FUTURES_EVENTS = ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "MARGIN_CALL",
                          "ACCOUNT_CONFIG_UPDATE", "listenKeyExpired")

#: Kline intervals of the ``<symbol>@kline_<interval>`` streams (Spot; futures have no ``1s``).
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                   "1d", "3d", "1w", "1M")
FUTURES_KLINE_INTERVALS = KLINE_INTERVALS[1:]  # futures have no 1s klines
DEPTH_LEVELS = (5, 10, 20)
#: Diff-depth update speeds; the first is the default, named without a suffix.
DEPTH_SPEEDS = {"spot": ("1000ms", "100ms"), "margin": ("1000ms", "100ms"),
                "usdm": ("250ms", "500ms", "100ms", "0ms"),
                "coinm": ("250ms", "500ms", "100ms", "0ms")}
# Partial depth (depth5/10/20) has no 0ms variant.
_PARTIAL_SPEEDS = {"spot": ("1000ms", "100ms"), "margin": ("1000ms", "100ms"),
                   "usdm": ("250ms", "500ms", "100ms"), "coinm": ("250ms", "500ms", "100ms")}
#: REST depth snapshot size used when none is given (the sync guides' values).
DEFAULT_DEPTH_LIMIT = {"spot": 5000, "margin": 5000, "usdm": 1000, "coinm": 1000}
_FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_SPOT_DEPTH_LIMIT_MAX = 5000

# Streams USDT-M serves on /public; every other stream is on /market.
_PUBLIC_SUFFIX = re.compile(r"(bookTicker|depth(5|10|20)?(@\d+ms)?)")
_PARTIAL_SUFFIX = re.compile(r"depth(5|10|20)(@\d+ms)?")
# Characters that cannot be part of a symbol in a stream name or a URL.
_BAD_SYMBOL = re.compile(r"[\s@/!?&#=%]")
# Binance's documented newClientOrderId format.
_CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")

_AUTH_CODES = frozenset((-1002, -1022, -2014, -2015))
_REJECT_CODES = frozenset((-2010, -2011))


def _fail(message: str) -> LocalProtocolError:
    return LocalProtocolError(message)


def _check_market(market: Any) -> str:
    if market not in MARKETS:
        raise _fail(f"unknown market {market!r}; expected one of {MARKETS}")
    return market


# --------------------------------------------------------------------- endpoints, URLs

@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where one market lives.

    Attributes:
        rest_url: REST base (listenKeys, depth snapshots), no trailing slash.
        stream_url: market/user stream host, no path (``wss://stream.binance.com:9443``).
        api_url: the whole WebSocket API URL (``.../ws-api/v3``).
    """

    rest_url: str
    stream_url: str
    api_url: str


_SPOT = Endpoints("https://api.binance.com", "wss://stream.binance.com:9443",
                  "wss://ws-api.binance.com:443/ws-api/v3")
_ENDPOINTS = {
    ("spot", False): _SPOT,
    ("margin", False): _SPOT,
    ("usdm", False): Endpoints("https://fapi.binance.com", "wss://fstream.binance.com",
                               "wss://ws-fapi.binance.com/ws-fapi/v1"),
    ("coinm", False): Endpoints("https://dapi.binance.com", "wss://dstream.binance.com",
                                "wss://ws-dapi.binance.com/ws-dapi/v1"),
    ("spot", True): Endpoints("https://testnet.binance.vision",
                              "wss://stream.testnet.binance.vision",
                              "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    ("usdm", True): Endpoints("https://testnet.binancefuture.com",
                              "wss://fstream.binancefuture.com",
                              "wss://testnet.binancefuture.com/ws-fapi/v1"),
    ("coinm", True): Endpoints("https://testnet.binancefuture.com",
                               "wss://dstream.binancefuture.com",
                               "wss://testnet.binancefuture.com/ws-dapi/v1"),
}


def default_endpoints(market: str, testnet: bool = False) -> Endpoints:
    """The production (or testnet) hosts of ``market``.

    Raises:
        LocalProtocolError: unknown market, or ``"margin"`` with ``testnet``
            (Binance has no margin testnet).
    """
    _check_market(market)
    found = _ENDPOINTS.get((market, bool(testnet)))
    if found is None:
        raise _fail("Binance has no margin testnet")
    return found


def listen_key_path(market: str) -> Optional[str]:
    """REST path that creates (POST), extends (PUT) and closes (DELETE) a listenKey.

    Returns:
        ``/fapi/v1/listenKey`` (usdm), ``/dapi/v1/listenKey`` (coinm),
        ``/sapi/v1/userDataStream`` (margin, deprecated but still served), or
        None for spot, whose listenKey endpoints were retired on 2026-02-20.
    """
    _check_market(market)
    return {"usdm": "/fapi/v1/listenKey", "coinm": "/dapi/v1/listenKey",
            "margin": "/sapi/v1/userDataStream"}.get(market)


def user_stream_url(endpoints: Endpoints, market: str, listen_key: str,
                    events: Iterable[str] = DEFAULT_FUTURES_EVENTS, legacy: bool = False) -> str:
    """The URL of a listenKey user-data stream.

    USDT-M: ``{stream_url}/private/ws?listenKey=K&events=A/B`` (the legacy
    ``/ws/K`` was retired 2026-04-23; ``legacy=True`` keeps it for testnets or
    gateways that still serve it). COIN-M and margin: ``{stream_url}/ws/K``.

    Raises:
        LocalProtocolError: spot (use :func:`user_data_subscribe_request` on the
            WebSocket API), an empty key, or no/bad events.
    """
    _check_market(market)
    if market == "spot":
        raise _fail("spot user data is on the WebSocket API "
                    "(userDataStream.subscribe.signature); listenKeys were retired")
    if not isinstance(listen_key, str) or not listen_key:
        raise _fail(f"a listenKey is required, got {listen_key!r}")
    base = endpoints.stream_url.rstrip("/")
    key = quote(listen_key, safe="")
    if market == "usdm" and not legacy:
        if isinstance(events, str):
            events = (events,)
        names = list(events)
        if not names or not all(isinstance(e, str) and e and not re.search(r"[/&=\s]", e)
                                for e in names):
            raise _fail(f"events must be non-empty event names, got {names!r}")
        return f"{base}/private/ws?listenKey={key}&events={'/'.join(names)}"
    return f"{base}/ws/{key}"


def stream_route(stream: str, market: str) -> Optional[str]:
    """USDT-M's route for a stream: ``"public"`` (bookTicker, depth) or ``"market"``.

    Since the 2026 split a routed USDT-M connection only carries its route's
    streams, so book streams and the rest need separate connections. Other
    markets have no routes: None.
    """
    _check_market(market)
    if market != "usdm":
        return None
    suffix = stream.partition("@")[2] if "@" in stream else stream.lstrip("!")
    return "public" if _PUBLIC_SUFFIX.fullmatch(suffix) else "market"


def market_stream_url(endpoints: Endpoints, market: str, route: Optional[str] = None,
                      legacy: bool = False) -> str:
    """The combined-stream base URL (streams are then added with SUBSCRIBE).

    Spot, margin, COIN-M: ``{stream_url}/stream``. USDT-M:
    ``{stream_url}/{route}/stream`` with ``route`` ``"market"`` (default) or
    ``"public"`` (see :func:`stream_route`); ``legacy=True`` gives ``/stream``.
    """
    _check_market(market)
    base = endpoints.stream_url.rstrip("/")
    if market == "usdm" and not legacy:
        route = route or "market"
        if route not in ("public", "market"):
            raise _fail(f"unknown USDT-M route {route!r}; expected 'public' or 'market'")
        return f"{base}/{route}/stream"
    return f"{base}/stream"


def _rest_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip() or _BAD_SYMBOL.search(symbol.strip()):
        raise _fail(f"bad symbol {symbol!r}")
    return symbol.strip().upper()


def depth_snapshot_request(market: str, symbol: str,
                           limit: Optional[int] = None) -> Tuple[str, Dict[str, Any]]:
    """The REST depth snapshot request: ``(path, params)``.

    Args:
        market: the market; spot/margin ``/api/v3/depth``, usdm ``/fapi/v1/depth``,
            coinm ``/dapi/v1/depth``.
        symbol: any case; sent upper-case.
        limit: levels per side; spot 1..5000, futures one of 5, 10, 20, 50,
            100, 500, 1000. None: :data:`DEFAULT_DEPTH_LIMIT`.
    """
    _check_market(market)
    if limit is None:
        limit = DEFAULT_DEPTH_LIMIT[market]
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise _fail(f"depth limit must be an int, got {limit!r}")
    if market in FUTURES_MARKETS:
        if limit not in _FUTURES_DEPTH_LIMITS:
            raise _fail(f"futures depth limit must be one of {_FUTURES_DEPTH_LIMITS}")
        path = "/fapi/v1/depth" if market == "usdm" else "/dapi/v1/depth"
    else:
        if not 1 <= limit <= _SPOT_DEPTH_LIMIT_MAX:
            raise _fail(f"spot depth limit must be 1..{_SPOT_DEPTH_LIMIT_MAX}")
        path = "/api/v3/depth"
    return path, {"symbol": _rest_symbol(symbol), "limit": limit}


def depth_snapshot_url(endpoints: Endpoints, market: str, symbol: str,
                       limit: Optional[int] = None) -> str:
    """The full REST depth snapshot URL (see :func:`depth_snapshot_request`)."""
    path, params = depth_snapshot_request(market, symbol, limit)
    return (f"{endpoints.rest_url.rstrip('/')}{path}?symbol={quote(params['symbol'], safe='')}"
            f"&limit={params['limit']}")


# ------------------------------------------------------------------- streams, control

_KINDS = {"trade": "trade", "aggtrade": "aggTrade", "kline": "kline",
          "bookticker": "bookTicker", "ticker": "ticker", "24hrticker": "ticker",
          "depth": "depth", "depth5": "depth", "depth10": "depth", "depth20": "depth"}


def _stream_symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol.strip() or _BAD_SYMBOL.search(symbol.strip()):
        raise _fail(f"bad symbol {symbol!r}: a non-empty name without spaces, '@' or '/'")
    return symbol.strip().lower()


def _speed_text(speed: Any, allowed: Tuple[str, ...]) -> str:
    if speed is None:
        return allowed[0]
    if isinstance(speed, int) and not isinstance(speed, bool):
        text = f"{speed}ms"
    elif isinstance(speed, str):
        text = speed.strip()
        if text.isdigit():
            text += "ms"
    else:
        text = repr(speed)
    if text not in allowed:
        raise _fail(f"unknown depth speed {speed!r}; expected one of {allowed}")
    return text


def stream_name(kind: str, symbol: str, *, market: str = "spot", interval: Optional[str] = None,
                speed: Any = None, levels: Optional[int] = None) -> str:
    """A market stream name, validated, symbol lower-cased.

    Args:
        kind: ``"trade"``, ``"aggTrade"``, ``"kline"``, ``"bookTicker"``,
            ``"ticker"`` (24hrTicker), ``"depth"`` (diff; with ``levels``:
            partial) or ``"depth5"``/``"depth10"``/``"depth20"`` (partial).
        symbol: ``"BTCUSDT"`` (any case).
        market: decides the valid intervals and speeds.
        interval: klines only: one of :data:`KLINE_INTERVALS` (futures: no ``1s``).
        speed: depth only: ``"100ms"``/``100``...; the market's default speed
            (spot 1000ms, futures 250ms) is named without a suffix.
        levels: partial depth: 5, 10 or 20.

    Returns:
        e.g. ``"btcusdt@kline_1m"``, ``"btcusdt@depth@100ms"``, ``"btcusdt@depth5"``.

    Raises:
        LocalProtocolError: unknown kind, bad symbol, or an option that is
            invalid or does not belong to ``kind``.
    """
    _check_market(market)
    canonical = _KINDS.get(kind.lower()) if isinstance(kind, str) else None
    if canonical is None:
        raise _fail(f"unknown stream kind {kind!r}; expected one of "
                    "trade, aggTrade, kline, bookTicker, ticker, depth, depth5/10/20")
    sym = _stream_symbol(symbol)
    if canonical != "kline" and interval is not None:
        raise _fail(f"{kind} streams take no interval")
    if canonical != "depth" and (speed is not None or levels is not None):
        raise _fail(f"{kind} streams take no speed or levels")
    if canonical == "kline":
        intervals = FUTURES_KLINE_INTERVALS if market in FUTURES_MARKETS else KLINE_INTERVALS
        if interval not in intervals:
            raise _fail(f"unknown kline interval {interval!r}; expected one of {intervals}")
        return f"{sym}@kline_{interval}"
    if canonical != "depth":
        return f"{sym}@{canonical}"
    kind_levels = kind.lower()[5:]
    if kind_levels:
        if levels is not None and str(levels) != kind_levels:
            raise _fail(f"{kind} conflicts with levels={levels!r}")
        levels = int(kind_levels)
    if levels is not None:
        if isinstance(levels, bool) or levels not in DEPTH_LEVELS:
            raise _fail(f"partial depth levels must be one of {DEPTH_LEVELS}, got {levels!r}")
        allowed = _PARTIAL_SPEEDS[market]
        base = f"{sym}@depth{levels}"
    else:
        allowed = DEPTH_SPEEDS[market]
        base = f"{sym}@depth"
    text = _speed_text(speed, allowed)
    return base if text == allowed[0] else f"{base}@{text}"


def _req_id(req_id: Any) -> Any:
    if isinstance(req_id, bool) or not isinstance(req_id, (int, str)):
        raise _fail(f"request id must be an int or a string, got {req_id!r}")
    return req_id


def _stream_list(streams: Any) -> List[str]:
    if isinstance(streams, str):
        streams = [streams]
    out = list(streams)
    if not out or not all(isinstance(s, str) and s for s in out):
        raise _fail(f"streams must be non-empty stream names, got {out!r}")
    return out


def subscribe_request(streams: Iterable[str], req_id: Any) -> Dict[str, Any]:
    """``{"method":"SUBSCRIBE","params":[...],"id":N}``; answered by ``{"result":null,"id":N}``."""
    return {"method": "SUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def unsubscribe_request(streams: Iterable[str], req_id: Any) -> Dict[str, Any]:
    """``{"method":"UNSUBSCRIBE","params":[...],"id":N}``."""
    return {"method": "UNSUBSCRIBE", "params": _stream_list(streams), "id": _req_id(req_id)}


def list_subscriptions_request(req_id: Any) -> Dict[str, Any]:
    """``{"method":"LIST_SUBSCRIPTIONS","id":N}``; the result is the list of streams."""
    return {"method": "LIST_SUBSCRIPTIONS", "id": _req_id(req_id)}


# --------------------------------------------------------------------------- signing

def _positive_text(value: Any, what: str) -> str:
    text = decimal_text(value, what)
    if Decimal(text) <= 0:
        raise _fail(f"{what} must be > 0, got {value!r}")
    return text


def _wire_value(value: Any, what: str) -> Any:
    """A parameter as it is sent, so that what is signed is what the server reads:
    booleans as ``"true"``/``"false"`` (Python's ``True`` would sign as ``True``),
    floats and Decimals as plain decimal text; ints and strings unchanged."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return decimal_text(value, what)
    raise _fail(f"parameter {what} must be a string, number or bool, got {value!r}")


def _param_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (float, Decimal)):
        return decimal_text(value, "parameter")
    return str(value)


def signature_payload(params: Mapping[str, Any]) -> str:
    """The WebSocket-API signature payload: every parameter except ``signature``,
    sorted by name, as ``k=v`` joined by ``&`` (values as sent, UTF-8, not URL-encoded)."""
    return "&".join(f"{k}={_param_text(v)}" for k, v in sorted(params.items())
                    if k != "signature")


def sign_hmac(secret: str, params: Union[Mapping[str, Any], str]) -> str:
    """HMAC-SHA256 of the signature payload, hex (Binance accepts any case).

    Args:
        secret: the API secret.
        params: the request parameters (see :func:`signature_payload`), or an
            already built payload string.
    """
    if not isinstance(secret, str) or not secret:
        raise _fail("signing needs the API secret")
    payload = params if isinstance(params, str) else signature_payload(params)
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def sign_ed25519(private_key_pem: Union[str, bytes], payload: Union[Mapping[str, Any], str],
                 password: Optional[bytes] = None) -> str:
    """Ed25519 signature of the payload, base64 (needs the ``cryptography`` package).

    Args:
        private_key_pem: the PEM private key (``-----BEGIN PRIVATE KEY-----``).
        payload: the request parameters, or an already built payload string.
        password: the PEM's password, if it is encrypted.

    Raises:
        LocalProtocolError: ``cryptography`` missing, or not an Ed25519 PEM key.
    """
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - depends on the environment
        raise _fail("Ed25519 signing needs the 'cryptography' package") from None
    pem = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
    try:
        key = load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        # The message of a PEM parse error says nothing secret; the key is not echoed.
        raise _fail(f"not a usable PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _fail("the PEM key is not an Ed25519 key")
    text = payload if isinstance(payload, str) else signature_payload(payload)
    return base64.b64encode(key.sign(text.encode("utf-8"))).decode("ascii")


def _recv_window(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _fail(f"recv_window must be a number of ms, got {value!r}")
    text = decimal_text(value, "recv_window")
    dec = Decimal(text)
    if not 0 < dec <= MAX_RECV_WINDOW or dec.as_tuple().exponent < -3:
        raise _fail(f"recv_window must be in (0, {MAX_RECV_WINDOW}] ms with at most 3 "
                    f"decimals, got {value!r}")
    return int(dec) if dec == dec.to_integral_value() else text


def signed_params(api_key: str, secret: Union[str, bytes], params: Mapping[str, Any],
                  timestamp_ms: int, recv_window: Any = None) -> Dict[str, Any]:
    """``params`` plus ``apiKey``, ``timestamp`` (and ``recvWindow``) and their ``signature``.

    None values are dropped; booleans, floats and Decimals are converted to the
    text that is both sent and signed. A ``secret`` that is a PEM private key
    (``-----BEGIN``) is used for Ed25519 signing, anything else for HMAC.

    Raises:
        LocalProtocolError: missing key/secret, bad timestamp or recv_window,
            or a value that cannot be sent.
    """
    if not isinstance(api_key, str) or not api_key:
        raise _fail("signed requests need an API key")
    if not secret or not isinstance(secret, (str, bytes)):
        raise _fail("signed requests need the API secret")
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise _fail(f"timestamp must be a positive int of ms, got {timestamp_ms!r}")
    out: Dict[str, Any] = {}
    for k, v in params.items():
        if v is not None:
            out[k] = _wire_value(v, k)
    out["apiKey"] = api_key
    out["timestamp"] = timestamp_ms
    if recv_window is not None:
        out["recvWindow"] = _recv_window(recv_window)
    is_pem = (secret.startswith(b"-----BEGIN") if isinstance(secret, bytes)
              else secret.lstrip().startswith("-----BEGIN"))
    if is_pem:
        out["signature"] = sign_ed25519(secret, out)
    else:
        out["signature"] = sign_hmac(secret if isinstance(secret, str) else secret.decode(), out)
    return out


# ------------------------------------------------------------------------ WebSocket API

def ws_api_request(method: str, params: Optional[Mapping[str, Any]],
                   req_id: Any) -> Dict[str, Any]:
    """``{"id","method","params"}`` (``params`` left out when None)."""
    if not isinstance(method, str) or not method:
        raise _fail(f"a method name is required, got {method!r}")
    req: Dict[str, Any] = {"id": _req_id(req_id), "method": method}
    if params is not None:
        req["params"] = dict(params)
    return req


def user_data_subscribe_request(api_key: str, secret: str, timestamp_ms: int, req_id: Any,
                                recv_window: Any = None) -> Dict[str, Any]:
    """``userDataStream.subscribe.signature``: Spot user data on this WebSocket-API
    connection, any key type, no logon. The answer's result is ``{"subscriptionId":N}``."""
    return ws_api_request("userDataStream.subscribe.signature",
                          signed_params(api_key, secret, {}, timestamp_ms, recv_window), req_id)


def user_data_unsubscribe_request(req_id: Any, subscription_id: Optional[int] = None
                                  ) -> Dict[str, Any]:
    """``userDataStream.unsubscribe`` (all subscriptions, or one); the server then
    sends ``eventStreamTerminated``."""
    params = None if subscription_id is None else {"subscriptionId": subscription_id}
    return ws_api_request("userDataStream.unsubscribe", params, req_id)


_TIF_TYPES = frozenset(("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"))


def order_place_request(api_key: str, secret: str, timestamp_ms: int, req_id: Any, symbol: str,
                        side: str, type: str, quantity: Any, price: Any = None,
                        time_in_force: Optional[str] = None,
                        new_client_order_id: Optional[str] = None, recv_window: Any = None,
                        **extra: Any) -> Dict[str, Any]:
    """A signed ``order.place`` (Spot, and futures with the same method name).

    Args:
        symbol: ``"BTCUSDT"`` (sent upper-case).
        side: ``"BUY"`` or ``"SELL"`` (any case).
        type: ``"LIMIT"``, ``"MARKET"``, ``"STOP_LOSS_LIMIT"``... (sent upper-case).
        quantity: > 0, as int/float/Decimal/str; sent as plain decimal text.
            May be None only with ``quoteOrderQty=`` in ``extra``.
        price: required for LIMIT, ``*_LIMIT`` and LIMIT_MAKER types.
        time_in_force: LIMIT and ``*_LIMIT`` types default to ``"GTC"``.
        new_client_order_id: up to 36 of ``A-Za-z0-9.:/_-``.
        recv_window: ms the request stays valid (default 5000 server side).
        **extra: passed through (``positionSide``, ``reduceOnly``, ``stopPrice``,
            ``newOrderRespType``...); floats become decimal text, bools "true"/"false".

    Raises:
        LocalProtocolError: a bad side, type, quantity, price or client id.
    """
    sym = _rest_symbol(symbol)
    if not isinstance(side, str) or side.strip().upper() not in ("BUY", "SELL"):
        raise _fail(f"side must be 'BUY' or 'SELL', got {side!r}")
    if not isinstance(type, str) or not type.strip():
        raise _fail(f"an order type is required, got {type!r}")
    otype = type.strip().upper()
    params: Dict[str, Any] = {"symbol": sym, "side": side.strip().upper(), "type": otype}
    if quantity is None:
        if extra.get("quoteOrderQty") is None:
            raise _fail("quantity is required (or quoteOrderQty for MARKET orders)")
    else:
        params["quantity"] = _positive_text(quantity, "quantity")
    if otype in _TIF_TYPES or otype == "LIMIT_MAKER":
        if price is None:
            raise _fail(f"{otype} orders need a price")
    if price is not None:
        params["price"] = _positive_text(price, "price")
    if time_in_force is None and otype in _TIF_TYPES:
        time_in_force = "GTC"
    if time_in_force is not None:
        if not isinstance(time_in_force, str) or not time_in_force.strip():
            raise _fail(f"bad time_in_force {time_in_force!r}")
        params["timeInForce"] = time_in_force.strip().upper()
    if new_client_order_id is not None:
        if not isinstance(new_client_order_id, str) or \
                not _CLIENT_ORDER_ID.fullmatch(new_client_order_id):
            raise _fail(f"bad client order id {new_client_order_id!r}: 1-36 of A-Za-z0-9.:/_-")
        params["newClientOrderId"] = new_client_order_id
    for key, value in extra.items():
        if value is not None:
            params[key] = _wire_value(value, key)
    return ws_api_request("order.place",
                          signed_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


def order_cancel_request(api_key: str, secret: str, timestamp_ms: int, req_id: Any, symbol: str,
                         order_id: Optional[int] = None,
                         orig_client_order_id: Optional[str] = None, recv_window: Any = None,
                         **extra: Any) -> Dict[str, Any]:
    """A signed ``order.cancel`` by ``order_id`` or ``orig_client_order_id`` (one is required).

    Raises:
        LocalProtocolError: neither id given, or a bad one.
    """
    sym = _rest_symbol(symbol)
    params: Dict[str, Any] = {"symbol": sym}
    if order_id is None and orig_client_order_id is None:
        raise _fail("cancel needs order_id or orig_client_order_id")
    if order_id is not None:
        if isinstance(order_id, bool) or not isinstance(order_id, int):
            raise _fail(f"order_id must be an int, got {order_id!r}")
        params["orderId"] = order_id
    if orig_client_order_id is not None:
        if not isinstance(orig_client_order_id, str) or not orig_client_order_id:
            raise _fail(f"bad client order id {orig_client_order_id!r}")
        params["origClientOrderId"] = orig_client_order_id
    for key, value in extra.items():
        if value is not None:
            params[key] = _wire_value(value, key)
    return ws_api_request("order.cancel",
                          signed_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


def _safe_float(value: Any) -> Optional[float]:
    try:
        return None if value is None or value.__class__ is bool else float(value)
    except (TypeError, ValueError):
        return None


def order_from_result(result: Any) -> Order:
    """The :class:`~exchange_wss.models.Order` in an ``order.place``/``order.cancel`` result.

    Works for Spot (ACK, RESULT, FULL) and futures answers; fields the answer
    lacks are None (an ACK has no side, so no amounts). Never raises: a result
    that is not an object gives an Order of Nones with it in ``raw``.
    ``kind`` is ``"result"``.
    """
    r = result if result.__class__ is dict else {}
    side = r.get("side")
    sign = -1.0 if side == "SELL" else (1.0 if side == "BUY" else None)
    qty = _safe_float(r.get("origQty"))
    done = _safe_float(r.get("executedQty")) or 0.0
    amount_orig = amount = None
    if sign is not None and qty is not None:
        amount_orig = sign * qty
        amount = sign * (qty - done)
    avg = _safe_float(r.get("avgPrice"))  # futures
    if not avg:
        quote_qty = _safe_float(r.get("cummulativeQuoteQty")) or _safe_float(r.get("cumQuote"))
        avg = quote_qty / done if quote_qty and done else None
    list_id = r.get("orderListId")
    # A cancel answer names the cancelled order's id origClientOrderId; its
    # clientOrderId is the cancel request's own id.
    cid = r.get("origClientOrderId") or r.get("clientOrderId")
    created = r.get("time") or r.get("workingTime")
    if created is None and "origClientOrderId" not in r:
        created = r.get("transactTime")
    return Order(r.get("orderId"), list_id if list_id.__class__ is int and list_id >= 0 else None,
                 cid, r.get("symbol"), _mts(created),
                 _mts(r.get("updateTime") or r.get("transactTime")), amount, amount_orig,
                 r.get("type"), r.get("status"), _safe_float(r.get("price")), avg, None,
                 "result", result)


# ------------------------------------------------------------------------ control events

@dataclass(slots=True)
class Response:
    """The answer to a request (SUBSCRIBE ack, WebSocket-API response) that had no
    :meth:`BinanceSession.expect_response` callback, or an error without an id.

    ``error`` is an :class:`~exchange_wss.errors.ExchangeError` (or subclass) or None.
    """

    req_id: Any
    result: Any
    error: Optional[ExchangeError]
    status: Optional[int] = None
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class StreamTerminated:
    """``eventStreamTerminated``: the WebSocket-API user-data subscription ended
    (unsubscribe, logout, listenToken expiry); subscribe again to keep receiving."""

    raw: Any = field(repr=False, compare=False)
    subscription_id: Any = None
    mts: Optional[int] = None


@dataclass(slots=True)
class ServerShutdown:
    """``serverShutdown``: the server is going away; reconnect now."""

    raw: Any = field(repr=False, compare=False)
    mts: Optional[int] = None


@dataclass(slots=True)
class ListenKeyExpired:
    """``listenKeyExpired``: nothing more arrives on this key; get a new one.
    (``E`` is sometimes a string on the wire; ``mts`` is always an int or None.)"""

    listen_key: Optional[str]
    raw: Any = field(repr=False, compare=False)
    mts: Optional[int] = None


@dataclass(slots=True)
class MalformedFrame:
    """A message this session cannot use (wrong shape or types); ``reason`` says why."""

    reason: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class BookOutOfSync:
    """A synced book broke (update-id gap): its contents are stale until the next
    BookSnapshot. A :class:`SnapshotNeeded` follows."""

    stream: str
    reason: str


@dataclass(slots=True)
class SnapshotNeeded:
    """A :class:`DepthSync` wants a REST depth snapshot (:func:`depth_snapshot_request`
    for ``symbol``); feed it to ``on_snapshot``. Fetch with backoff on failure."""

    stream: str
    symbol: str
    reason: str


@dataclass(slots=True)
class UnknownStream:
    """Data for a stream nobody expects (``stream`` None: a bare event with no
    user-data handler)."""

    stream: Optional[str]
    raw: Any = field(default=None, repr=False, compare=False)


# ----------------------------------------------------------------------------- parsers

def _mts(value: Any) -> Optional[int]:
    """An ms time as an int (``listenKeyExpired`` sends ``E`` as a string); else None."""
    cls = value.__class__
    if cls is int:
        return value
    if cls is str and value.isdigit() and value.isascii():
        return int(value)
    if cls is float and math.isfinite(value):
        return int(value)
    return None


def _f(value: Any) -> Optional[float]:
    """Decimal text -> float; None stays None; anything else unusable raises."""
    if value.__class__ is str:  # Binance's decimal text: the common case first
        return float(value)
    if value is None:
        return None
    if value.__class__ is bool:
        raise TypeError("boolean where a number was expected")
    return float(value)


def _levels(rows: Any) -> List[Tuple[float, float]]:
    if rows.__class__ is not list:
        raise TypeError(f"levels must be an array, got {type(rows).__name__}")
    out = []
    for row in rows:
        if row.__class__ is not list or len(row) < 2:
            raise TypeError(f"bad level {row!r}")
        out.append((_f(row[0]), _f(row[1])))
    return out


def _is_int(value: Any) -> bool:
    return value.__class__ is int


def _side_sign(side: Any) -> float:
    if side == "SELL":
        return -1.0
    if side == "BUY":
        return 1.0
    raise ValueError(f"unknown side {side!r}")


def _trade(d: dict, symbol: Optional[str]) -> Trade:
    qty = _f(d["q"])
    # m: the buyer was the maker, so the taker sold.
    amount = -qty if d.get("m") is True else qty
    agg = d.get("e") == "aggTrade" if "e" in d else ("f" in d and "l" in d)
    return Trade(d.get("s") or symbol, d.get("a") if agg else d.get("t"),
                 _mts(d.get("T")) or _mts(d.get("E")), amount, _f(d["p"]),
                 "aggTrade" if agg else "trade", d)


def _ticker(d: dict, symbol: Optional[str]) -> Ticker:
    rel = _f(d.get("P"))
    # Futures tickers carry no best bid/ask (b, B, a, A): those stay None.
    return Ticker(d.get("s") or symbol, _f(d.get("b")), _f(d.get("B")), _f(d.get("a")),
                  _f(d.get("A")), _f(d.get("p")), None if rel is None else rel / 100.0,
                  _f(d.get("c")), _f(d.get("v")), _f(d.get("h")), _f(d.get("l")), d)


def _book_ticker(d: dict, symbol: Optional[str]) -> BookTicker:
    # Futures bookTickers carry T and E; spot ones no time at all, so look
    # before converting (two calls per message saved on spot).
    mts = d.get("T")
    if mts is not None:
        mts = _mts(mts)
    if mts is None:
        mts = d.get("E")
        if mts is not None:
            mts = _mts(mts)
    return BookTicker(d.get("s") or symbol, _f(d.get("b")), _f(d.get("B")), _f(d.get("a")),
                      _f(d.get("A")), d.get("u"), mts, d)


def _kline(d: dict, symbol: Optional[str]) -> Candle:
    k = d["k"]
    closed = k.get("x")
    return Candle(k.get("s") or d.get("s") or symbol, k.get("i"), _mts(k.get("t")),
                  _f(k.get("o")), _f(k.get("c")), _f(k.get("h")), _f(k.get("l")),
                  _f(k.get("v")), d, closed if closed.__class__ is bool else None)


def _diff(d: dict, symbol: Optional[str]) -> BookDiff:
    first, last, prev = d["U"], d["u"], d.get("pu")
    if not (_is_int(first) and _is_int(last)) or first > last:
        raise RemoteProtocolError(f"bad update ids U={first!r} u={last!r}")
    if prev is not None and not _is_int(prev):
        raise RemoteProtocolError(f"bad pu {prev!r}")
    return BookDiff(d.get("s") or symbol, _levels(d["b"]), _levels(d["a"]), first, last, prev,
                    _mts(d.get("E")), d)


def _partial(d: dict, symbol: Optional[str], book: Optional[OrderBook]) -> BookSnapshot:
    # Spot partial depth: {lastUpdateId, bids, asks}; futures: a depthUpdate-shaped
    # {e, s, U, u, pu, b, a} that is nevertheless the whole top of book.
    bids = _levels(d["bids"] if "bids" in d else d["b"])
    asks = _levels(d["asks"] if "asks" in d else d["a"])
    sym = d.get("s") or symbol
    if book is not None:
        book.set_snapshot(bids, asks)
        return BookSnapshot(sym, book.bids, book.asks, d)
    return BookSnapshot(sym, bids, asks, d)


def _passthrough(d: Any, symbol: Optional[str]) -> Any:
    return d


def _execution_report(ev: dict, wallet_type: str) -> List[Any]:
    sign = _side_sign(ev["S"])
    qty = _f(ev["q"])
    done = _f(ev.get("z")) or 0.0
    quote_done = _f(ev.get("Z"))
    list_id = ev.get("g")
    # On cancels c is the cancel request's id and C the order's own client id.
    cid = ev.get("C") or ev.get("c")
    order = Order(ev.get("i"), list_id if _is_int(list_id) and list_id >= 0 else None, cid,
                  ev.get("s"), _mts(ev.get("O")), _mts(ev.get("T")) or _mts(ev.get("E")),
                  sign * (qty - done), sign * qty, ev.get("o"), ev.get("X"), _f(ev.get("p")),
                  quote_done / done if done and quote_done is not None else None, None,
                  "update", ev)
    if ev.get("x") != "TRADE":
        return [order]
    fill = Fill(ev.get("t"), ev.get("s"), _mts(ev.get("T")), ev.get("i"), sign * _f(ev["l"]),
                _f(ev["L"]), _f(ev.get("n")), ev.get("N"), ev.get("m"), ev.get("o"),
                _f(ev.get("p")), cid, None, "trade", ev)
    return [order, fill]


def _order_trade_update(ev: dict, wallet_type: str) -> List[Any]:
    o = ev["o"]
    sign = _side_sign(o["S"])
    qty = _f(o["q"])
    done = _f(o.get("z")) or 0.0
    mts = _mts(o.get("T")) or _mts(ev.get("T")) or _mts(ev.get("E"))
    order = Order(o.get("i"), None, o.get("c"), o.get("s"), None, mts, sign * (qty - done),
                  sign * qty, o.get("o"), o.get("X"), _f(o.get("p")),
                  _f(o.get("ap")) if done else None, None, "update", ev)
    if o.get("x") != "TRADE":
        return [order]
    # n/N are left out of the event when there is no commission.
    fill = Fill(o.get("t"), o.get("s"), _mts(o.get("T")), o.get("i"), sign * _f(o["l"]),
                _f(o["L"]), _f(o.get("n")), o.get("N"), o.get("m"), o.get("o"),
                _f(o.get("p")), o.get("c"), None, "trade", ev)
    return [order, fill]


def _trade_lite(ev: dict, wallet_type: str) -> List[Any]:
    sign = _side_sign(ev["S"])
    return [Fill(ev.get("t"), ev.get("s"), _mts(ev.get("T")), ev.get("i"), sign * _f(ev["l"]),
                 _f(ev["L"]), None, None, ev.get("m"), None, _f(ev.get("p")), ev.get("c"),
                 None, "lite", ev)]


def _account_position(ev: dict, wallet_type: str) -> List[Any]:
    items = []
    for row in ev["B"]:
        free = _f(row.get("f"))
        locked = _f(row.get("l"))
        items.append(Wallet(wallet_type, row["a"], (free or 0.0) + (locked or 0.0), None, free,
                            "update", row))
    return [Snapshot("balances", items, ev)]


def _balance_update(ev: dict, wallet_type: str) -> List[Any]:
    return [BalanceUpdate(wallet_type, ev["a"], _f(ev["d"]),
                          _mts(ev.get("T")) or _mts(ev.get("E")), ev)]


def _account_update(ev: dict, wallet_type: str) -> List[Any]:
    a = ev["a"]
    items: List[Any] = []
    for row in a.get("B") or ():
        items.append(Wallet(wallet_type, row["a"], _f(row.get("wb")), None, _f(row.get("cw")),
                            "update", row))
    for row in a.get("P") or ():
        amount = _f(row.get("pa"))
        items.append(Position(row["s"], "ACTIVE" if amount else "CLOSED", amount,
                              _f(row.get("ep")), _f(row.get("up")), None, None, None, "update",
                              row))
    return [Snapshot("account", items, ev)]


_USER_PARSERS: Dict[str, Callable[[dict, str], List[Any]]] = {
    "executionReport": _execution_report,
    "ORDER_TRADE_UPDATE": _order_trade_update,
    "TRADE_LITE": _trade_lite,
    "outboundAccountPosition": _account_position,
    "balanceUpdate": _balance_update,
    "ACCOUNT_UPDATE": _account_update,
}
_CONTROL_EVENTS = frozenset(("listenKeyExpired", "eventStreamTerminated", "serverShutdown"))


def _parse_user(ev: dict, wallet_type: str) -> List[Any]:
    etype = ev.get("e")
    parser = _USER_PARSERS.get(etype) if etype.__class__ is str else None
    if parser is None:
        return [UserEvent(etype if etype.__class__ is str else None, _mts(ev.get("E")), ev)]
    return parser(ev, wallet_type)


def _control_event(etype: str, ev: dict, raw: Any, sub_id: Any) -> Any:
    mts = _mts(ev.get("E"))
    if etype == "listenKeyExpired":
        key = ev.get("listenKey")
        return ListenKeyExpired(key if key.__class__ is str else None, raw, mts)
    if etype == "eventStreamTerminated":
        return StreamTerminated(raw, sub_id, mts)
    return ServerShutdown(raw, mts)


def _exchange_error(code: Any, msg: Any, raw: Any) -> ExchangeError:
    """The error class says who is at fault: credentials, a refused order, or other."""
    code = code if code.__class__ is int else None
    msg = msg if msg is None or msg.__class__ is str else str(msg)
    if code in _AUTH_CODES:
        return AuthenticationError(code, msg, raw)
    if code in _REJECT_CODES:
        return OrderRejected(msg, code=code, raw=raw)
    return ExchangeError(code, msg, raw)


# -------------------------------------------------------------------------- depth sync

_SKIP = object()


def _parse_snapshot(snapshot: Any) -> Tuple[int, List[Tuple[float, float]],
                                             List[Tuple[float, float]]]:
    try:
        last = snapshot["lastUpdateId"]
        if not _is_int(last):
            raise TypeError(f"lastUpdateId {last!r} is not an int")
        return last, _levels(snapshot["bids"]), _levels(snapshot["asks"])
    except Exception as exc:  # noqa: BLE001 - any shape problem is the peer's
        raise RemoteProtocolError(f"bad depth snapshot: {type(exc).__name__}: {exc}") from None


class DepthSync:
    """Keeps a ``"size"`` :class:`~exchange_wss.orderbook.OrderBook` in sync from a
    diff-depth stream and REST snapshots, by Binance's rules. Pure: no I/O.

    Spot/margin: buffer events, note the first ``U``; a snapshot with
    ``lastUpdateId < U`` is too old (another is asked for, as the guide says,
    even at ``U - 1``); buffered events with ``u <= lastUpdateId`` are dropped;
    then each event with ``u <`` book id is skipped, ``U >`` book id + 1 is a
    gap, anything else is applied (size 0 deletes) and the book id becomes ``u``.

    Futures: events with ``u < lastUpdateId`` are dropped, the first applied
    needs ``U <= lastUpdateId <= u``, and every later ``pu`` must equal the
    previous ``u`` (an event without ``pu`` falls back to the spot rule).

    :meth:`on_event` and :meth:`on_snapshot` return what happened, in order:
    :class:`SnapshotNeeded` (fetch one, feed it to :meth:`on_snapshot`),
    :class:`~exchange_wss.models.BookSnapshot` (synced: the whole book, buffered
    events included), :class:`~exchange_wss.models.BookDiff` (one applied event),
    :class:`BookOutOfSync` (a synced book broke; a SnapshotNeeded follows).

    Sink style, optional: with ``deliver``/``request_snapshot``/``on_out_of_sync``
    the same results are also dispatched to them (``deliver`` gets the models,
    or their ``.raw`` with ``raw=True``; ``request_snapshot()``;
    ``on_out_of_sync(stream, reason)``).

    Args:
        symbol: the instrument (models carry the event's ``s`` when present).
        market: decides spot or futures rules.
        book: the book to maintain (a new ``"size"`` book if None).
        stream: names this sync in control events (default: ``symbol``).
        limit: snapshot depth the facade should ask for (None: the market's default).
        max_buffer: events kept while waiting for a snapshot (oldest dropped;
            the first ``U`` then moves on, which the rules tolerate).
    """

    __slots__ = ("symbol", "market", "book", "stream", "limit", "raw", "futures", "synced",
                 "last_update_id", "_buffer", "_snapshot", "_requested", "_first", "_deliver",
                 "_request_snapshot", "_on_out_of_sync")

    def __init__(self, symbol: str, market: str = "spot", book: Optional[OrderBook] = None, *,
                 stream: Optional[str] = None, limit: Optional[int] = None,
                 deliver: Optional[Callable[[Any], None]] = None, raw: bool = False,
                 request_snapshot: Optional[Callable[[], None]] = None,
                 on_out_of_sync: Optional[Callable[[str, str], None]] = None,
                 max_buffer: int = 10000):
        _check_market(market)
        if not isinstance(symbol, str) or not symbol:
            raise _fail(f"a symbol is required, got {symbol!r}")
        if book is None:
            book = OrderBook(symbol, kind="size")
        elif book.kind != "size":
            raise _fail("DepthSync maintains kind='size' books")
        self.symbol = symbol
        self.market = market
        self.book = book
        self.stream = stream or symbol
        self.limit = limit
        self.raw = raw
        self.futures = market in FUTURES_MARKETS
        #: True while the book is consistent with the stream.
        self.synced = False
        #: The book's update id (``u`` of the last applied event) while synced.
        self.last_update_id: Optional[int] = None
        self._buffer: Deque[BookDiff] = deque(maxlen=max_buffer)
        self._snapshot: Optional[Tuple[int, list, list, Any]] = None
        self._requested = False
        self._first = True
        self._deliver = deliver
        self._request_snapshot = request_snapshot
        self._on_out_of_sync = on_out_of_sync

    @property
    def needs_snapshot(self) -> bool:
        """True when a snapshot was asked for and has not arrived yet."""
        return self._requested and not self.synced

    def reset(self) -> None:
        """Forget the stream position (a new connection): buffer again from the next event.

        The book's levels stay until the next snapshot replaces them."""
        self.synced = False
        self.last_update_id = None
        self._buffer.clear()
        self._snapshot = None
        self._requested = False
        self._first = True

    def on_event(self, diff: Any) -> List[Any]:
        """Feed one diff event: the decoded ``depthUpdate`` dict or a BookDiff.

        Raises:
            RemoteProtocolError, TypeError, KeyError, ValueError: a malformed
                event (nothing is changed).
        """
        d = diff if diff.__class__ is BookDiff else _diff(diff, self.symbol)
        out = self._event(d)
        self._dispatch(out)
        return out

    #: Alias of :meth:`on_event`, for use as a stream's deliver callback.
    on_diff = on_event

    def on_snapshot(self, snapshot: Any) -> List[Any]:
        """Feed the decoded REST depth snapshot ``{lastUpdateId, bids, asks}``.

        A snapshot that arrives before any event is kept until the first one.

        Raises:
            RemoteProtocolError: a malformed snapshot; the sync keeps waiting
                (``needs_snapshot`` stays True): fetch again, with backoff.
        """
        last, bids, asks = _parse_snapshot(snapshot)
        if self.synced:
            return []  # a late answer to an earlier request: the book is already good
        self._requested = False
        self._snapshot = (last, bids, asks, snapshot)
        out = self._try_sync() if self._buffer else []
        self._dispatch(out)
        return out

    # ------------------------------------------------------------------ internals

    def _event(self, d: BookDiff) -> List[Any]:
        if self.synced:
            verdict = self._check(d)
            if verdict is _SKIP:
                return []
            if verdict is not None:
                return self._lost(d, verdict)
            self._apply(d)
            return [d]
        self._buffer.append(d)
        if self._snapshot is not None:
            return self._try_sync()
        if not self._requested:
            return self._need("first event buffered")
        return []

    def _check(self, d: BookDiff) -> Any:
        """None: apply; _SKIP: stale, ignore; a string: why the stream has a gap."""
        book_id = self.last_update_id
        first, last, prev = d.first_update_id, d.last_update_id, d.prev_update_id
        if self.futures and self._first:
            if last < book_id:
                return _SKIP
            if first > book_id:
                return f"first event U={first} > lastUpdateId={book_id}"
            return None
        if self.futures and prev is not None:
            if prev != book_id:
                return f"pu={prev} != previous u={book_id}"
            return None
        if last < book_id:
            return _SKIP
        if first > book_id + 1:
            return f"U={first} > previous u+1={book_id + 1}"
        return None

    def _apply(self, d: BookDiff) -> None:
        set_level = self.book.set_level
        for price, size in d.bids:
            set_level("bid", price, size)
        for price, size in d.asks:
            set_level("ask", price, size)
        self.last_update_id = d.last_update_id
        self._first = False

    def _need(self, reason: str) -> List[Any]:
        self._requested = True
        return [SnapshotNeeded(self.stream, self.symbol, reason)]

    def _lost(self, d: BookDiff, reason: str) -> List[Any]:
        self.synced = False
        self.last_update_id = None
        self._first = True
        self._buffer.clear()
        self._buffer.append(d)  # the event that showed the gap starts the new buffer
        self._snapshot = None
        return [BookOutOfSync(self.stream, reason)] + self._need(reason)

    def _try_sync(self) -> List[Any]:
        last, bids, asks, raw = self._snapshot
        self._snapshot = None
        buf = self._buffer
        first_u = buf[0].first_update_id
        if last < first_u:
            return self._need(f"snapshot lastUpdateId={last} is older than the first "
                              f"buffered event U={first_u}")
        self.book.set_snapshot(bids, asks)
        self.last_update_id = last
        self._first = True
        pending = list(buf)
        buf.clear()
        if not self.futures:
            pending = [d for d in pending if d.last_update_id > last]
        for i, d in enumerate(pending):
            verdict = self._check(d)
            if verdict is _SKIP:
                continue
            if verdict is not None:
                # Never synced, so nothing to report as lost: just start over.
                self.last_update_id = None
                self._first = True
                buf.extend(pending[i:])
                return self._need(f"buffered events do not continue the snapshot: {verdict}")
            self._apply(d)
        self.synced = True
        return [BookSnapshot(self.symbol, self.book.bids, self.book.asks, raw)]

    def _dispatch(self, out: List[Any]) -> None:
        for event in out:
            cls = event.__class__
            if cls is SnapshotNeeded:
                if self._request_snapshot is not None:
                    self._request_snapshot()
            elif cls is BookOutOfSync:
                if self._on_out_of_sync is not None:
                    self._on_out_of_sync(event.stream, event.reason)
            elif self._deliver is not None:
                self._deliver(event.raw if self.raw else event)


# ------------------------------------------------------------------------- stream handlers

class _Stream:
    """One expected stream. ``handle(data, msg)`` gets the combined frame's ``data``.

    Parsing happens inside ``try`` and delivery outside it: a bad frame becomes
    :class:`MalformedFrame`, while an exception raised by a callback propagates
    (the facade guards user callbacks).
    """

    __slots__ = ("session", "name", "symbol", "deliver")

    def __init__(self, session: "BinanceSession", name: str, deliver: Callable[[Any], None]):
        self.session = session
        self.name = name
        at = name.find("@")
        self.symbol = name[:at].upper() if at > 0 else None
        self.deliver = deliver

    def _bad(self, msg: Any, exc: BaseException) -> None:
        self.session._on_control(MalformedFrame(f"{self.name}: {type(exc).__name__}: {exc}",
                                                msg))


class _RawStream(_Stream):
    __slots__ = ()

    def handle(self, data: Any, msg: Any) -> None:
        self.deliver(data)


class _ParsedStream(_Stream):
    __slots__ = ("parse",)

    def __init__(self, session: "BinanceSession", name: str, deliver: Callable[[Any], None],
                 parse: Callable[[Any, Optional[str]], Any]):
        super().__init__(session, name, deliver)
        self.parse = parse

    def handle(self, data: Any, msg: Any) -> None:
        try:
            event = self.parse(data, self.symbol)
        except Exception as exc:  # noqa: BLE001 - a bad frame is reported, never raised
            self._bad(msg, exc)
            return
        self.deliver(event)


class _PartialStream(_Stream):
    __slots__ = ("book", "raw")

    def __init__(self, session: "BinanceSession", name: str, deliver: Callable[[Any], None],
                 raw: bool, book: Optional[OrderBook]):
        super().__init__(session, name, deliver)
        self.raw = raw
        self.book = book

    def handle(self, data: Any, msg: Any) -> None:
        try:
            event = _partial(data, self.symbol, self.book)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        self.deliver(data if self.raw else event)


class _SyncedStream(_Stream):
    """A diff-depth stream feeding a session-owned :class:`DepthSync`."""

    __slots__ = ("sync", "raw")

    def __init__(self, session: "BinanceSession", name: str, deliver: Callable[[Any], None],
                 raw: bool, book: OrderBook):
        super().__init__(session, name, deliver)
        self.raw = raw
        self.sync = DepthSync(self.symbol or name, session.market, book, stream=name)

    def handle(self, data: Any, msg: Any) -> None:
        try:
            out = self.sync.on_event(data)
        except Exception as exc:  # noqa: BLE001
            self._bad(msg, exc)
            return
        if self.raw:
            self.deliver(data)
        self._emit(out)

    def snapshot(self, snapshot: Any) -> None:
        try:
            out = self.sync.on_snapshot(snapshot)
        except Exception as exc:  # noqa: BLE001
            self._bad(snapshot, exc)
            return
        self._emit(out)

    def _emit(self, out: List[Any]) -> None:
        control = self.session._on_control
        for event in out:
            cls = event.__class__
            if cls is SnapshotNeeded or cls is BookOutOfSync:
                control(event)
            elif not self.raw:
                self.deliver(event)
            elif cls is BookSnapshot:
                self.deliver(event.raw)  # raw mode: the REST snapshot as received


def _stream_kind(name: str) -> str:
    suffix = name.partition("@")[2]
    if suffix in ("trade", "aggTrade", "bookTicker", "ticker"):
        return suffix
    if suffix.startswith("kline_"):
        return "kline"
    if suffix == "depth" or suffix.startswith("depth@"):
        return "diff"
    if _PARTIAL_SUFFIX.fullmatch(suffix):
        return "partial"
    return "other"


_PARSERS = {"trade": _trade, "aggTrade": _trade, "bookTicker": _book_ticker,
            "ticker": _ticker, "kline": _kline, "diff": _diff, "other": _passthrough}


def _norm_stream(name: str) -> str:
    """Symbol part lower-cased, the rest kept (``aggTrade``/``bookTicker`` are camelCase)."""
    at = name.find("@")
    return name[:at].lower() + name[at:] if at > 0 else name


# ----------------------------------------------------------------------------- session

class BinanceSession:
    """The protocol state of one Binance connection (make a fresh one per connect).

    Works for combined market streams, the WebSocket API and listenKey
    user-data streams alike. Feed every decoded message to :meth:`receive`:

    - ``{"stream","data"}`` goes to that stream's handler (one dict lookup);
      a stream without ``@`` (a listenKey) or a control event goes to user data;
    - ``{"id",...}`` answers (SUBSCRIBE acks, WebSocket-API responses) go to the
      :meth:`expect_response` callback as ``on_result(result, error)``;
    - ``{"subscriptionId","event"}`` and bare ``{"e":...}`` events go to the
      :meth:`expect_user_data` handler;
    - ``listenKeyExpired``, ``eventStreamTerminated`` and ``serverShutdown``,
      malformed frames, depth-sync events and unexpected data go to
      ``on_control`` as this module's event classes.

    Typed user data: ``executionReport``/``ORDER_TRADE_UPDATE`` -> Order, then a
    Fill when ``x == "TRADE"``; ``TRADE_LITE`` -> Fill (``kind="lite"``, no fee);
    ``outboundAccountPosition`` -> ``Snapshot("balances", [Wallet...])`` (one
    event per frame: only the changed assets, balance = free + locked,
    available = free); ``balanceUpdate`` -> BalanceUpdate (a delta, not a
    balance); ``ACCOUNT_UPDATE`` -> ``Snapshot("account", [Wallet..., Position...])``;
    anything else -> UserEvent. Fees are as Binance sends them (positive = paid).

    ``receive`` never raises for bad input; exceptions raised by ``deliver``,
    ``on_result`` or ``on_control`` themselves propagate.

    Args:
        on_control: called with each control event.
        market: ``"spot"``, ``"margin"``, ``"usdm"`` or ``"coinm"`` (depth-sync
            rules, and the ``type`` of Wallets).
    """

    def __init__(self, on_control: Callable[[Any], None], *, market: str = "spot"):
        self.market = _check_market(market)
        self._on_control = on_control
        self._streams: Dict[str, Any] = {}
        self._responses: Dict[Any, Callable[[Any, Any], None]] = {}
        self._user: Optional[Tuple[Callable[[Any], None], bool]] = None

    # ------------------------------------------------------------------ registration

    def expect_stream(self, stream_name: str, deliver: Callable[[Any], None], *,
                      raw: bool = False, book: Optional[OrderBook] = None) -> None:
        """Route a stream's data to ``deliver`` (call before sending SUBSCRIBE).

        Args:
            stream_name: as subscribed (``"btcusdt@depth@100ms"``).
            deliver: gets typed events: Trade, Ticker, BookTicker, Candle;
                diff depth without ``book``: one BookDiff per event (not synced);
                diff depth with ``book``: a session-owned :class:`DepthSync`
                keeps ``book`` synced, delivering a BookSnapshot once in sync
                and a BookDiff per applied event (feed REST snapshots with
                :meth:`on_depth_snapshot`); partial depth: BookSnapshot (and
                ``book`` replaced); other streams: the ``data`` dict.
            raw: deliver each ``data`` dict as received (a synced book is still
                kept, and its REST snapshot delivered as received).
            book: a ``"size"`` :class:`~exchange_wss.orderbook.OrderBook` (depth).

        Raises:
            LocalProtocolError: an empty name or a non-callable ``deliver``.
        """
        if not isinstance(stream_name, str) or not stream_name:
            raise _fail(f"a stream name is required, got {stream_name!r}")
        if not callable(deliver):
            raise _fail("deliver must be callable")
        name = _norm_stream(stream_name)
        kind = _stream_kind(name)
        if kind == "diff" and book is not None:
            handler: Any = _SyncedStream(self, name, deliver, raw, book)
        elif kind == "partial":
            handler = _PartialStream(self, name, deliver, raw, book)
        elif raw:
            handler = _RawStream(self, name, deliver)
        else:
            handler = _ParsedStream(self, name, deliver, _PARSERS[kind])
        self._streams[name] = handler

    def forget_stream(self, name: str) -> None:
        """Stop routing a stream (after UNSUBSCRIBE); later data is UnknownStream."""
        if isinstance(name, str):
            self._streams.pop(_norm_stream(name), None)

    def expect_response(self, req_id: Any, on_result: Callable[[Any, Any], None]) -> None:
        """Call ``on_result(result, None)`` or ``on_result(None, ExchangeError)``
        when the answer with this ``id`` arrives (once)."""
        hash(req_id)
        self._responses[req_id] = on_result

    def cancel_response(self, req_id: Any) -> None:
        """Forget a pending :meth:`expect_response`."""
        self._responses.pop(req_id, None)

    def expect_user_data(self, deliver: Callable[[Any], None], *, raw: bool = False) -> None:
        """Route user-data events (typed, or with ``raw`` the event dicts, unwrapped)."""
        if not callable(deliver):
            raise _fail("deliver must be callable")
        self._user = (deliver, raw)

    def depth_sync(self, stream_name: str) -> Optional[DepthSync]:
        """The session-owned :class:`DepthSync` of a stream expected with a ``book``."""
        handler = self._streams.get(_norm_stream(stream_name))
        return handler.sync if isinstance(handler, _SyncedStream) else None

    def on_depth_snapshot(self, stream_name: str, snapshot: Any) -> None:
        """Feed the REST snapshot asked for by a :class:`SnapshotNeeded` of this stream.

        A malformed snapshot is reported as :class:`MalformedFrame` (the sync
        keeps waiting). A stream that is no longer expected ignores it.
        """
        handler = self._streams.get(_norm_stream(stream_name)) \
            if isinstance(stream_name, str) else None
        if isinstance(handler, _SyncedStream):
            handler.snapshot(snapshot)

    # ---------------------------------------------------------------------- receive

    def receive(self, msg: Any) -> None:
        """Handle one decoded message."""
        if msg.__class__ is not dict:
            self._on_control(MalformedFrame(f"unexpected message type {type(msg).__name__}",
                                            msg))
            return
        stream = msg.get("stream")
        if stream is not None:
            if stream.__class__ is not str:
                self._on_control(MalformedFrame("stream name is not a string", msg))
                return
            handler = self._streams.get(stream)
            if handler is None:
                handler = self._streams.get(_norm_stream(stream))
            if handler is not None:
                handler.handle(msg.get("data"), msg)
            else:
                self._unrouted(stream, msg.get("data"), msg)
            return
        if "e" in msg:
            self._user_event(msg, msg, None)
        elif "event" in msg:
            event = msg["event"]
            if event.__class__ is dict:
                self._user_event(event, msg, msg.get("subscriptionId"))
            else:
                self._on_control(MalformedFrame("event is not an object", msg))
        elif "id" in msg:
            self._response(msg)
        elif "code" in msg and "msg" in msg:
            # A stream-control error without an id ({"code":3,"msg":"Invalid JSON"}).
            self._on_control(Response(None, None, _exchange_error(msg["code"], msg["msg"], msg),
                                      None, msg))
        else:
            self._on_control(MalformedFrame("unrecognised message", msg))

    def _unrouted(self, stream: str, data: Any, msg: dict) -> None:
        # A listenKey subscribed as a combined stream has no '@' in its name;
        # serverShutdown may come on a stream of its own.
        if data.__class__ is dict and "e" in data:
            etype = data["e"]
            if "@" not in stream or (etype.__class__ is str and etype in _CONTROL_EVENTS):
                self._user_event(data, msg, None)
                return
        self._on_control(UnknownStream(stream, msg))

    def _user_event(self, ev: dict, raw: Any, sub_id: Any) -> None:
        etype = ev.get("e")
        if etype.__class__ is str and etype in _CONTROL_EVENTS:
            self._on_control(_control_event(etype, ev, raw, sub_id))
            return
        user = self._user
        if user is None:
            self._on_control(UnknownStream(None, raw))
            return
        deliver, raw_mode = user
        if raw_mode:
            deliver(ev)
            return
        try:
            events = _parse_user(ev, self.market)
        except Exception as exc:  # noqa: BLE001
            self._on_control(MalformedFrame(f"user data {etype!r}: {type(exc).__name__}: {exc}",
                                            raw))
            return
        for event in events:
            deliver(event)

    def _response(self, msg: dict) -> None:
        req_id = msg["id"]
        try:
            hash(req_id)
        except TypeError:
            self._on_control(MalformedFrame("unhashable response id", msg))
            return
        status = msg.get("status")
        status = status if status.__class__ is int else None
        err = msg.get("error")
        if err is not None or (status is not None and status >= 400) or \
                ("result" not in msg and "code" in msg):
            src = err if err.__class__ is dict else msg
            text = src.get("msg")
            if text is None and status is not None:
                text = f"status {status}"
            error: Optional[ExchangeError] = _exchange_error(src.get("code"), text, msg)
            result = None
        else:
            error = None
            result = msg.get("result")
        on_result = self._responses.pop(req_id, None)
        if on_result is not None:
            on_result(result, error)
        else:
            self._on_control(Response(req_id, result, error, status, msg))

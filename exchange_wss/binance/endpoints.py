"""Where each Binance market lives and the limits of its connections: hosts, URLs
of the market and user-data streams, listenKey and depth-snapshot REST paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ._common import FUTURES_MARKETS, MARKETS, _check_market, _fail, _rest_symbol

__all__ = ["MARKETS", "FUTURES_MARKETS", "MAX_STREAMS", "CONTROL_RATE", "LISTEN_KEY_KEEPALIVE",
           "DEFAULT_FUTURES_EVENTS", "DEFAULT_DEPTH_LIMIT", "Endpoints", "default_endpoints",
           "listen_key_path", "user_stream_url", "market_stream_url", "depth_snapshot_request",
           "depth_snapshot_url"]

#: Streams one connection may carry.
MAX_STREAMS = {"spot": 1024, "margin": 1024, "usdm": 200, "coinm": 200}
#: Incoming messages per second the server allows per connection (pings, pongs
#: and control JSON all count); beyond it the connection is closed.
CONTROL_RATE = {"spot": 5, "margin": 5, "usdm": 10, "coinm": 10}
#: Seconds between listenKey keepalives. Binance says "about every 30/60
#: minutes"; 60 leaves no margin, so 30.
LISTEN_KEY_KEEPALIVE = 1800.0

#: ``events=`` of the USDT-M ``/private`` stream: production sends nothing
#: without it. TRADE_LITE is left out on purpose: it repeats the fills of
#: ORDER_TRADE_UPDATE (faster, without fees), so it would double every Fill.
DEFAULT_FUTURES_EVENTS = ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "MARGIN_CALL",
                          "ACCOUNT_CONFIG_UPDATE", "listenKeyExpired")

#: REST depth snapshot size used when none is given (the sync guides' values).
DEFAULT_DEPTH_LIMIT = {"spot": 5000, "margin": 5000, "usdm": 1000, "coinm": 1000}
_FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_SPOT_DEPTH_LIMIT_MAX = 5000


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


def listen_key_path(market: str) -> str | None:
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


def market_stream_url(endpoints: Endpoints, market: str, route: str | None = None,
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


def depth_snapshot_request(market: str, symbol: str,
                           limit: int | None = None) -> tuple[str, dict[str, Any]]:
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
                       limit: int | None = None) -> str:
    """The full REST depth snapshot URL (see :func:`depth_snapshot_request`)."""
    path, params = depth_snapshot_request(market, symbol, limit)
    return (f"{endpoints.rest_url.rstrip('/')}{path}?symbol={quote(params['symbol'], safe='')}"
            f"&limit={params['limit']}")

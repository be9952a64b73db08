"""The Binance sandbox's REST side, and the twisted.web root that shares its port with WebSockets.

:class:`RestApi` is pure request handling (method, path, query, headers in;
status and JSON body out), so tests can call it without HTTP. :func:`make_site`
builds the ``Site`` whose root sends WebSocket upgrades to autobahn's
``WebSocketResource`` (after the handshake-rejection fault) and everything else
to :class:`RestApi`.

Endpoints (prefix ``/api/v3`` Spot, ``/fapi/v1`` USDⓈ-M, ``/dapi/v1`` COIN-M):

- ``GET <prefix>/ping``, ``GET <prefix>/time``, ``GET <prefix>/exchangeInfo`` (symbols only);
- ``GET <prefix>/depth?symbol=&limit=``: ``{"lastUpdateId","bids","asks"}`` (+ ``E``, ``T``
  on futures), consistent with the depth diff streams' ``U``/``u``;
- listenKey ``POST/PUT/DELETE`` on ``/fapi/v1/listenKey``, ``/dapi/v1/listenKey`` or
  ``/sapi/v1/userDataStream`` (header ``X-MBX-APIKEY``; ``listenKey`` in the query or
  form body where Binance takes it): PUT of a dead key is HTTP 400 ``-1125``;
- the retired Spot ``/api/v3/userDataStream`` and ``/api/v1/userDataStream``: HTTP 410;
- signed futures account endpoints (``X-MBX-APIKEY`` header, ``timestamp`` and a
  ``signature`` over the query string as sent): ``GET /fapi/v3/account`` (and v2),
  ``/fapi/v3/positionRisk`` (and v2), ``/fapi/v1/openOrders``, ``/fapi/v1/order``;
  ``/dapi/v1/account``, ``/dapi/v1/positionRisk``, ``/dapi/v1/openOrders``,
  ``/dapi/v1/order``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from autobahn.twisted.resource import WebSocketResource
from twisted.internet import defer
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Site

from .wire import _RETIRED_SPOT_PATHS, ApiError

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["RestApi", "make_site", "RETIRED_MSG"]

# Signed futures account endpoints (GET): path -> what it answers. USDⓈ-M serves
# account and position risk in v3 and still in v2.
_SIGNED_PATHS = {
    "usdm": {"/fapi/v3/account": "account", "/fapi/v2/account": "account",
             "/fapi/v3/positionRisk": "positionRisk", "/fapi/v2/positionRisk": "positionRisk",
             "/fapi/v1/openOrders": "openOrders", "/fapi/v1/order": "order"},
    "coinm": {"/dapi/v1/account": "account", "/dapi/v1/positionRisk": "positionRisk",
              "/dapi/v1/openOrders": "openOrders", "/dapi/v1/order": "order"},
}

_LOT_STEP = Decimal("0.00000001")
RETIRED_MSG = ("This endpoint was retired on 2026-02-20: Spot user data now comes from the "
               "WebSocket API (userDataStream.subscribe.signature on /ws-api/v3).")


class RestApi:
    """Binance REST requests against a :class:`BinanceServer` (reactor thread only)."""

    def __init__(self, server: BinanceServer):
        self.server = server

    def handle(self, method: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str], raw_query: str | None = None) -> tuple:
        """Answer one request: returns ``(http_status, json_body)``.

        ``raw_query`` is the query string as received (signed requests are checked
        over it); without it, it is rebuilt from ``query``.
        """
        if raw_query is None:
            raw_query = urlencode(list(query.items()))
        try:
            return 200, self._route(method.upper(), path.rstrip("/") or "/", query, headers,
                                    raw_query)
        except ApiError as err:
            return err.status, {"code": err.code, "msg": err.msg}

    def _route(self, method: str, path: str, q: Mapping[str, str], h: Mapping[str, str],
               raw_query: str) -> Any:
        srv = self.server
        prof = srv.profile
        if prof.name == "spot" and path in _RETIRED_SPOT_PATHS:
            raise ApiError(-1020, RETIRED_MSG, 410)
        if path == prof.listen_key_path:
            return self._listen_key(method, q, h)
        signed = _SIGNED_PATHS.get(prof.name, {}).get(path)
        if signed is not None:
            if method != "GET":
                raise ApiError(-1000, f"Unknown endpoint {method} {path}", 404)
            owner = srv.auth.verify_rest(h, raw_query)
            return self._signed(signed, owner, q)
        if not path.startswith(prof.rest_prefix + "/"):
            raise ApiError(-1000, f"Unknown endpoint {method} {path}", 404)
        name = path[len(prof.rest_prefix) + 1:]
        if method != "GET" or name not in ("ping", "time", "depth", "exchangeInfo"):
            raise ApiError(-1000, f"Unknown endpoint {method} {path}", 404)
        if name == "ping":
            return {}
        if name == "time":
            return {"serverTime": srv.now_ms()}
        if name == "exchangeInfo":
            return self._exchange_info()
        symbol = q.get("symbol")
        if not symbol:
            raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                  "or malformed.")
        limit: int | None = None
        if q.get("limit"):
            try:
                limit = int(q["limit"])
            except ValueError:
                raise ApiError(-1100, "Illegal characters found in parameter 'limit'; legal "
                                      "range is '^[0-9]{1,20}$'.") from None
        return srv.publisher.depth_snapshot(symbol, limit)

    def _signed(self, name: str, owner: str, q: Mapping[str, str]) -> Any:
        srv = self.server
        symbol = q.get("symbol") or None
        if symbol is not None:
            srv.profile.engine_symbol(symbol)
        if name == "account":
            return srv.accounts.futures_account(owner)
        if name == "positionRisk":
            return srv.accounts.position_risk(owner, symbol)
        if name == "openOrders":
            return srv.orders.open_order_results(owner, symbol)
        return srv.orders.order_status(owner, q)

    def _listen_key(self, method: str, q: Mapping[str, str], h: Mapping[str, str]) -> Any:
        srv = self.server
        api_key = h.get("x-mbx-apikey")
        if not api_key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if api_key not in srv.auth.accounts:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        spot = srv.profile.name == "spot"
        key = q.get("listenKey")
        if method == "POST":
            return {"listenKey": srv.user_data.create_listen_key(api_key)}
        if method == "PUT":
            if spot and not key:
                srv.user_data.keepalive_log[api_key].append(srv.now())
                raise ApiError(-1102, "Mandatory parameter 'listenKey' was not sent, was "
                                      "empty/null, or malformed.")
            live = srv.user_data.keepalive_listen_key(api_key, key)
            if live is None:
                raise ApiError(-1125, "This listenKey does not exist.")
            return {} if spot else {"listenKey": live}
        if method == "DELETE":
            if spot and not key:
                raise ApiError(-1102, "Mandatory parameter 'listenKey' was not sent, was "
                                      "empty/null, or malformed.")
            if not srv.user_data.delete_listen_key(api_key, key) and spot:
                raise ApiError(-1125, "This listenKey does not exist.")
            return {}
        raise ApiError(-1000, f"Unknown endpoint {method}", 405)

    def _exchange_info(self) -> dict:
        srv = self.server
        symbols = []
        px = srv.profile.px
        for bsym, sym in srv.profile.symbols.items():
            spec = srv.engine.pairs[sym]
            cs = srv.profile.contract_sizes.get(bsym)
            lot = ({"filterType": "LOT_SIZE", "minQty": "1", "stepSize": "1"} if cs is not None
                   else {"filterType": "LOT_SIZE", "minQty": px(spec.min_size),
                         "stepSize": px(_LOT_STEP)})
            row: dict[str, Any] = {"symbol": bsym, "status": "TRADING", "baseAsset": spec.base,
                   "quoteAsset": srv.profile.asset(spec.quote),
                   "orderTypes": (["LIMIT", "MARKET"] if srv.profile.futures
                                  else ["LIMIT", "LIMIT_MAKER", "MARKET"]),
                   "filters": [{"filterType": "PRICE_FILTER", "note": "5 significant digits"},
                               lot]}
            if cs is not None:
                # COIN-M: quantities count contracts of this USD value.
                row.update({"pair": bsym.split("_")[0], "contractType": "PERPETUAL",
                            "contractSize": int(cs), "marginAsset": spec.base})
            symbols.append(row)
        return {"timezone": "UTC", "serverTime": srv.now_ms(), "symbols": symbols}


# -- twisted.web glue -------------------------------------------------------------------

class _Root(Resource):
    """Every path: WebSocket upgrades to autobahn, the rest to :class:`RestApi`."""

    isLeaf = True

    def __init__(self, server: BinanceServer, rest: RestApi, ws: WebSocketResource):
        super().__init__()
        # Not ``server``: twisted.web's Resource has that attribute (None), for its own use.
        self.exchange = server
        self.rest = rest
        self.ws = ws

    def render(self, request):
        upgrade = (request.getHeader(b"upgrade") or b"").lower()
        if upgrade == b"websocket":
            status = self.exchange.faults.take_handshake_rejection()
            if status is not None:
                request.setResponseCode(status)
                request.setHeader(b"content-type", b"application/json")
                return orjson.dumps({"code": -1003, "msg": "Too many requests; handshake refused "
                                                           "by the sandbox fault."})
            return self.ws.render(request)
        query = {k.decode("utf-8", "replace"): v[0].decode("utf-8", "replace")
                 for k, v in (request.args or {}).items() if v}
        headers = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        path = request.path.decode("utf-8", "replace")
        raw_query = request.uri.partition(b"?")[2].decode("utf-8", "replace")
        status, body = self.rest.handle(request.method.decode("ascii", "replace"), path, query,
                                        headers, raw_query)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json;charset=UTF-8")
        return orjson.dumps(body)


class _Channel(HTTPChannel):
    def connectionLost(self, reason):
        super().connectionLost(reason)
        site = getattr(self, "site", None)
        if site is not None:
            site._lost(self)


class _Site(Site):
    """A Site that knows its HTTP connections, so stop() can close keep-alive ones."""

    # A plain HTTP/1.1 channel where twisted.web puts its HTTP/2-negotiating wrapper
    # (annotated as that wrapper's type); Site only calls it to build the protocol.
    protocol = _Channel  # type: ignore[assignment]
    noisy = False

    def __init__(self, resource: Resource):
        super().__init__(resource)
        self.channels: set = set()
        self._waiters: dict = {}

    def buildProtocol(self, addr):
        channel = super().buildProtocol(addr)
        channel.site = self
        self.channels.add(channel)
        return channel

    def _lost(self, channel) -> None:
        self.channels.discard(channel)
        for d in self._waiters.pop(channel, []):
            d.callback(None)

    def abort_channels(self) -> list:
        """Abort every HTTP connection still owned by twisted.web; Deferreds fire when closed."""
        ds = []
        for ch in list(self.channels):
            transport = ch.transport
            if transport is None:  # taken over by a WebSocket: the factory closes those
                self.channels.discard(ch)
                continue
            d: defer.Deferred[None] = defer.Deferred()
            self._waiters.setdefault(ch, []).append(d)
            ds.append(d)
            transport.abortConnection()
        return ds


def make_site(server: BinanceServer, rest: RestApi, factory) -> _Site:
    """The one-port Site: REST and WebSocket upgrades."""
    return _Site(_Root(server, rest, WebSocketResource(factory)))

"""The FTX sandbox's REST side: orders and wallets, as FTX placed orders over REST.

:class:`FtxRestApi` is pure request handling (method, path, body, headers in;
status and JSON body out), signed as FTX signed (``FTX-KEY``, ``FTX-TS`` in ms,
``FTX-SIGN`` = hex HMAC-SHA256 of ``ts + METHOD + path + body``, requests older
than 60 s refused). :func:`make_site` puts it on the WebSocket's port: upgrades
go to autobahn, the rest here.

Endpoints (answers ``{"success": true, "result": ...}``; refusals
``{"success": false, "error": text}`` with HTTP 400, or 401 for auth):

- ``POST /api/orders`` (``market``, ``side``, ``price``, ``size``, ``type``,
  ``clientId``, ``ioc``, ``postOnly``, ``reduceOnly``): the order, status ``new``;
- ``DELETE /api/orders/{id}``: ``"Order queued for cancellation"`` (404 when not open);
- ``GET /api/wallet/balances``: ``[{coin, free, total, availableWithoutBorrow, usdValue}]``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson
from autobahn.twisted.resource import WebSocketResource
from twisted.web.resource import Resource

# One Site that tracks its keep-alive channels, shared with the Binance sandbox.
from ..binance.rest import _Site

__all__ = ["FtxRestApi", "make_site", "REST_WINDOW_MS"]

REST_WINDOW_MS = 60_000


class _Refused(Exception):
    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status
        self.text = text


class FtxRestApi:
    """FTX REST requests against the sandbox's ``FtxServer`` (reactor thread only)."""

    def __init__(self, server: Any):
        self.server = server

    def handle(self, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple:
        """Answer one request: ``(http_status, json_body)``. ``path`` includes the query."""
        try:
            key = self._authenticate(method, path, body, headers)
            return 200, {"success": True, "result": self._route(key, method, path, body)}
        except _Refused as err:
            return err.status, {"success": False, "error": err.text}

    def _authenticate(self, method: str, path: str, body: bytes,
                      headers: Mapping[str, str]) -> str:
        key, ts, sign = (headers.get("ftx-key"), headers.get("ftx-ts"),
                         headers.get("ftx-sign"))
        if not key:
            raise _Refused(401, "Not logged in")
        secret = self.server.accounts.get(key)
        if secret is None or not ts or not sign:
            raise _Refused(401, "Not logged in")
        if not ts.isdigit() or abs(int(ts) - self.server.now_ms()) > REST_WINDOW_MS:
            raise _Refused(401, "Not logged in: Invalid FTX-TS")
        expected = hmac.new(secret.encode(), f"{ts}{method}{path}".encode() + body,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sign.lower()):
            raise _Refused(401, "Not logged in: Invalid signature")
        return key

    def _route(self, key: str, method: str, path: str, body: bytes) -> Any:
        srv = self.server
        route = path.split("?", 1)[0].rstrip("/")
        if method == "POST" and route == "/api/orders":
            try:
                p = orjson.loads(body or b"{}")
            except orjson.JSONDecodeError:
                raise _Refused(400, "Invalid JSON") from None
            if not isinstance(p, dict):
                raise _Refused(400, "Invalid parameter")
            try:
                return srv.place_order(key, p.get("market"), p.get("side"), p.get("price"),
                                       p.get("size"), p.get("type", "limit"), p.get("clientId"),
                                       bool(p.get("ioc")), bool(p.get("postOnly")),
                                       bool(p.get("reduceOnly")))
            except ValueError as exc:
                raise _Refused(400, str(exc)) from None
        if method == "DELETE" and route.startswith("/api/orders/"):
            tail = route[len("/api/orders/"):]
            if not tail.isdigit():
                raise _Refused(400, "Invalid order id")
            if not srv.cancel_order(key, int(tail)):
                raise _Refused(404, "Order not found")
            return "Order queued for cancellation"
        if method == "GET" and route == "/api/wallet/balances":
            rows = []
            for coin, (total, free) in sorted(srv.engine.wallets(key).items()):
                rows.append({"coin": coin, "free": float(free), "total": float(total),
                             "availableWithoutBorrow": float(free), "usdValue": None})
            return rows
        raise _Refused(404, "Not found")


class _Root(Resource):
    """WebSocket upgrades to autobahn, every other request to :class:`FtxRestApi`."""

    isLeaf = True

    def __init__(self, rest: FtxRestApi, ws: WebSocketResource):
        super().__init__()
        self.rest = rest
        self.ws = ws

    def render(self, request):
        if (request.getHeader(b"upgrade") or b"").lower() == b"websocket":
            return self.ws.render(request)
        headers = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                   for k, v in request.requestHeaders.getAllRawHeaders()}
        status, body = self.rest.handle(request.method.decode("ascii", "replace"),
                                        request.uri.decode("utf-8", "replace"),
                                        request.content.read() if request.content else b"",
                                        headers)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return orjson.dumps(body)


def make_site(rest: FtxRestApi, factory: Any) -> _Site:
    """The one-port Site: REST and WebSocket upgrades."""
    return _Site(_Root(rest, WebSocketResource(factory)))

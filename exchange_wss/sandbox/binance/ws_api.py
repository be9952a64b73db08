"""The Binance sandbox's WebSocket API (``/ws-api/v3``, ``/ws-fapi/v1``,
``/ws-dapi/v1``): one connection's requests answered with Binance's response
shape and rate-limit counters: ``session.logon``/``status``/``logout``, user-data
subscriptions, orders (place, cancel, status), ``account.status``,
``openOrders.status`` and listenKeys.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import orjson

from .sessions import Session
from .wire import ApiError, _mandatory

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["ApiSession"]

_ALREADY_SENT = object()


class ApiSession(Session):
    """A WebSocket API connection (``/ws-api/v3``, ``/ws-fapi/v1``, ``/ws-dapi/v1``)."""

    kind = "api"

    def __init__(self, server: BinanceServer, link: Any, path: str):
        super().__init__(server, link, path)
        self.subs: dict = {}             # subscriptionId -> api key
        self._sub_ids = itertools.count(0)
        self.weights: deque = deque()    # (time, weight)
        self.orders_10s: deque = deque()
        self.orders_day = 0
        #: The api key of ``session.logon`` (None: every request is signed).
        self.logged_on: str | None = None
        self.connected_since = server.now_ms()
        self.authorized_since: int | None = None

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

    def _reply_order(self, rid: Any, result: Any, order: bool) -> None:
        """An order request's answer, unless a fault mangles it (its id or result)."""
        mangle = self.server.faults.mangle_next_order_answer
        if mangle is None:
            self._reply(rid, result, 1, order)
            return
        self.server.faults.mangle_next_order_answer = None
        field, value = mangle
        answer = {"id": rid, "status": 200, "result": result,
                  "rateLimits": self._rate_limits(1, order)}
        if field == "result" and value is ...:
            del answer["result"]
        else:
            answer[field] = value
        self.send_json(answer)

    def _reply_error(self, rid: Any, err: ApiError, weight: int = 1, order: bool = False) -> None:
        self.send_json({"id": rid, "status": err.status,
                        "error": {"code": err.code, "msg": err.msg},
                        "rateLimits": self._rate_limits(weight, order)})

    def received(self, text: str) -> None:
        """Handle one WebSocket-API request frame: answer it, or its error, with its id."""
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
        if self.server.take_lost_request(method, msg):
            return  # the fault: as if the request never reached the exchange
        handler = self._METHODS.get(method)
        futures_only = method in ("userDataStream.start", "userDataStream.ping",
                                  "userDataStream.stop")
        spot_only = method.startswith("userDataStream.subscribe") or method in (
            "userDataStream.unsubscribe", "session.subscriptions", "account.status",
            "openOrders.status")
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
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        if api_key in self.subs.values():
            raise ApiError(-2035, "User Data Stream subscription already active.")
        sid = next(self._sub_ids)
        self.subs[sid] = api_key
        return {"subscriptionId": sid}

    def _subscribe_logged_on(self, rid: Any, params: dict) -> Any:
        # userDataStream.subscribe: the account of session.logon, no signature.
        if self.logged_on is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action: "
                                  "userDataStream.subscribe needs session.logon first.", 401)
        if self.logged_on in self.subs.values():
            raise ApiError(-2035, "User Data Stream subscription already active.")
        sid = next(self._sub_ids)
        self.subs[sid] = self.logged_on
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
        self.server.orders.received[params.get("apiKey") or self.logged_on].append(dict(params))
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        result, events = self.server.orders.place_order(api_key, params)
        self._reply_order(rid, result, True)
        self.server.settle(events)
        return _ALREADY_SENT

    def _order_cancel(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        result, events = self.server.orders.cancel_order(api_key, params)
        self._reply_order(rid, result, False)
        self.server.settle(events)
        return _ALREADY_SENT

    def _order_status(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        return self.server.orders.order_status(api_key, params)

    def _session_result(self) -> dict:
        return {"apiKey": self.logged_on, "authorizedSince": self.authorized_since,
                "connectedSince": self.connected_since, "returnRateLimits": True,
                "serverTime": self.server.now_ms(),
                "userDataStream": bool(self.logged_on and self.logged_on in self.subs.values())}

    def _session_logon(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.logon(params)
        self.logged_on = api_key
        self.authorized_since = self.server.now_ms()
        return self._session_result()

    def _session_status(self, rid: Any, params: dict) -> Any:
        return self._session_result()

    def _session_logout(self, rid: Any, params: dict) -> Any:
        self.logged_on = self.authorized_since = None
        return self._session_result()

    def _account_status(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        omit = params.get("omitZeroBalances") in (True, "true")
        return self.server.accounts.spot_account(api_key, omit)

    def _open_orders_status(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.verify_signed(params, self.logged_on)
        return self.server.orders.open_order_results(api_key, params.get("symbol"))

    def _uds_start(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.check_api_key(params.get("apiKey"))
        return {"listenKey": self.server.user_data.create_listen_key(api_key)}

    def _uds_ping(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.check_api_key(params.get("apiKey"))
        key = self.server.user_data.keepalive_listen_key(api_key, params.get("listenKey"))
        if key is None:
            raise ApiError(-1125, "This listenKey does not exist.")
        return {"listenKey": key}

    def _uds_stop(self, rid: Any, params: dict) -> Any:
        api_key = self.server.auth.check_api_key(params.get("apiKey"))
        self.server.user_data.delete_listen_key(api_key, params.get("listenKey"))
        return {}

    _METHODS: ClassVar[dict[str, Callable[..., Any]]] = {
        "ping": _ping_method, "time": _time,
        "userDataStream.subscribe.signature": _subscribe_signature,
        "userDataStream.subscribe": _subscribe_logged_on,
        "userDataStream.unsubscribe": _unsubscribe,
        "session.subscriptions": _subscriptions,
        "order.place": _order_place, "order.cancel": _order_cancel, "order.status": _order_status,
        "session.logon": _session_logon, "session.status": _session_status,
        "session.logout": _session_logout, "account.status": _account_status,
        "openOrders.status": _open_orders_status,
        "userDataStream.start": _uds_start, "userDataStream.ping": _uds_ping,
        "userDataStream.stop": _uds_stop,
    }
    #: method -> (request weight, whether it counts against the order rate limit)
    _WEIGHTS: ClassVar[dict[str, tuple[int, bool]]] = {
                "userDataStream.subscribe.signature": (2, False), "order.place": (1, True),
                "order.status": (4, False), "userDataStream.start": (2, False),
                "session.logon": (2, False), "session.status": (2, False),
                "session.logout": (2, False), "account.status": (20, False),
                "openOrders.status": (6, False),
                "userDataStream.ping": (2, False), "userDataStream.stop": (2, False)}

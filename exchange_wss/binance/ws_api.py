"""Binance WebSocket-API requests (session logon, user-data subscription, order
placement, cancel and query) and the reading of their answers: results into
Orders, errors into the exception that says who is at fault."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..errors import AuthenticationError, ExchangeError, OrderRejected
from ..models import Order
from ..numtext import decimal_text
from ._common import _fail, _mts, _req_id, _rest_symbol, _safe_float
from .signing import _wire_value, auth_params, key_type, signed_params

__all__ = ["ws_api_request", "user_data_subscribe_request", "user_data_unsubscribe_request",
           "order_place_request", "order_cancel_request", "order_status_request",
           "session_logon_request", "session_status_request", "session_logout_request",
           "order_from_result", "is_unknown_order", "UNKNOWN_ORDER_CODES"]

# Binance's documented newClientOrderId format.
_CLIENT_ORDER_ID = re.compile(r"[.A-Z:/a-z0-9_-]{1,36}")

_AUTH_CODES = frozenset((-1002, -1022, -2014, -2015))
_REJECT_CODES = frozenset((-2010, -2011))


def _positive_text(value: Any, what: str) -> str:
    text = decimal_text(value, what)
    if Decimal(text) <= 0:
        raise _fail(f"{what} must be > 0, got {value!r}")
    return text


def ws_api_request(method: str, params: Mapping[str, Any] | None,
                   req_id: Any) -> dict[str, Any]:
    """``{"id","method","params"}`` (``params`` left out when None)."""
    if not isinstance(method, str) or not method:
        raise _fail(f"a method name is required, got {method!r}")
    req: dict[str, Any] = {"id": _req_id(req_id), "method": method}
    if params is not None:
        req["params"] = dict(params)
    return req


def user_data_subscribe_request(api_key: str, secret: str, timestamp_ms: int, req_id: Any,
                                recv_window: Any = None) -> dict[str, Any]:
    """``userDataStream.subscribe.signature``: Spot user data on this WebSocket-API
    connection, any key type, no logon. The answer's result is ``{"subscriptionId":N}``."""
    return ws_api_request("userDataStream.subscribe.signature",
                          signed_params(api_key, secret, {}, timestamp_ms, recv_window), req_id)


def user_data_unsubscribe_request(req_id: Any, subscription_id: int | None = None
                                  ) -> dict[str, Any]:
    """``userDataStream.unsubscribe`` (all subscriptions, or one); the server then
    sends ``eventStreamTerminated``."""
    params = None if subscription_id is None else {"subscriptionId": subscription_id}
    return ws_api_request("userDataStream.unsubscribe", params, req_id)


def _order_ref(symbol: str, order_id: int | None, orig_client_order_id: str | None,
               what: str) -> dict[str, Any]:
    """``{symbol, orderId?, origClientOrderId?}`` naming one order (one id is required)."""
    params: dict[str, Any] = {"symbol": _rest_symbol(symbol)}
    if order_id is None and orig_client_order_id is None:
        raise _fail(f"{what} needs order_id or orig_client_order_id")
    if order_id is not None:
        if isinstance(order_id, bool) or not isinstance(order_id, int):
            raise _fail(f"order_id must be an int, got {order_id!r}")
        params["orderId"] = order_id
    if orig_client_order_id is not None:
        if not isinstance(orig_client_order_id, str) or not orig_client_order_id:
            raise _fail(f"bad client order id {orig_client_order_id!r}")
        params["origClientOrderId"] = orig_client_order_id
    return params


_TIF_TYPES = frozenset(("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"))


def order_place_request(api_key: str | None, secret: str | None, timestamp_ms: int,
                        req_id: Any, symbol: str,
                        side: str, type: str, quantity: Any, price: Any = None,
                        time_in_force: str | None = None,
                        new_client_order_id: str | None = None, recv_window: Any = None,
                        **extra: Any) -> dict[str, Any]:
    """A signed ``order.place`` (Spot, and futures with the same method name); with
    ``api_key`` and ``secret`` None, the unsigned form of a connection that did
    ``session.logon`` (timestamp only).

    Args:
        api_key: the API key (None on a logged-on connection).
        secret: the API secret that signs the request (None likewise).
        timestamp_ms: the request's ``timestamp`` (ms since the epoch).
        req_id: the request's id on its connection.
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
    params: dict[str, Any] = {"symbol": sym, "side": side.strip().upper(), "type": otype}
    if quantity is None:
        if extra.get("quoteOrderQty") is None:
            raise _fail("quantity is required (or quoteOrderQty for MARKET orders)")
    else:
        params["quantity"] = _positive_text(quantity, "quantity")
    if (otype in _TIF_TYPES or otype == "LIMIT_MAKER") and price is None:
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
                          auth_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


def order_cancel_request(api_key: str | None, secret: str | None, timestamp_ms: int,
                         req_id: Any, symbol: str,
                         order_id: int | None = None,
                         orig_client_order_id: str | None = None, recv_window: Any = None,
                         **extra: Any) -> dict[str, Any]:
    """A signed ``order.cancel`` by ``order_id`` or ``orig_client_order_id`` (one is
    required); ``api_key``/``secret`` None: unsigned after ``session.logon``.

    Raises:
        LocalProtocolError: neither id given, or a bad one.
    """
    params = _order_ref(symbol, order_id, orig_client_order_id, "cancel")
    for key, value in extra.items():
        if value is not None:
            params[key] = _wire_value(value, key)
    return ws_api_request("order.cancel",
                          auth_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


def order_status_request(api_key: str | None, secret: str | None, timestamp_ms: int,
                         req_id: Any, symbol: str, order_id: int | None = None,
                         orig_client_order_id: str | None = None,
                         recv_window: Any = None) -> dict[str, Any]:
    """``order.status``: one order by ``order_id`` or ``orig_client_order_id`` (its
    state now; answered ``-2013`` when the exchange does not know it, see
    :func:`is_unknown_order`). ``api_key``/``secret`` None: after ``session.logon``."""
    params = _order_ref(symbol, order_id, orig_client_order_id, "order.status")
    return ws_api_request("order.status",
                          auth_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


#: Binance's answer to a query of an order it does not know ("Order does not
#: exist."), Spot and futures, WebSocket API and REST.
UNKNOWN_ORDER_CODES = frozenset((-2013,))


def is_unknown_order(error: Any) -> bool:
    """True when ``error`` (an ExchangeError from an order query) says the exchange
    does not know the order; any other error leaves its state unknown."""
    return isinstance(error, ExchangeError) and error.code in UNKNOWN_ORDER_CODES


def session_logon_request(api_key: str, private_key_pem: Any, timestamp_ms: int, req_id: Any,
                          recv_window: Any = None) -> dict[str, Any]:
    """``session.logon``: authenticate this WebSocket-API connection with an Ed25519
    key; later requests on it may leave out ``apiKey`` and ``signature``
    (build them with ``api_key``/``secret`` None), ``timestamp`` is still checked.

    Binance takes Ed25519 keys only here ("Only Ed25519 keys are supported for
    this feature"); HMAC and RSA keys keep signing each request. One logon per
    connection: a new connection must log on again; a second logon switches the
    connection to that key.

    Raises:
        LocalProtocolError: ``private_key_pem`` is not an Ed25519 PEM private key.
    """
    if key_type(private_key_pem) != "ed25519":
        raise _fail("session.logon needs an Ed25519 key; Binance accepts no HMAC or RSA "
                    "key there (sign each request instead)")
    return ws_api_request("session.logon",
                          signed_params(api_key, private_key_pem, {}, timestamp_ms,
                                        recv_window), req_id)


def session_status_request(req_id: Any) -> dict[str, Any]:
    """``session.status``: which key (if any) this connection is logged on with."""
    return ws_api_request("session.status", None, req_id)


def session_logout_request(req_id: Any) -> dict[str, Any]:
    """``session.logout``: forget the logged-on key; requests must be signed again."""
    return ws_api_request("session.logout", None, req_id)


def order_from_result(result: Any, kind: str = "result") -> Order:
    """The :class:`~exchange_wss.models.Order` in an ``order.place``/``order.cancel`` result.

    Works for Spot (ACK, RESULT, FULL) and futures answers; fields the answer
    lacks are None (an ACK has no side, so no amounts). Never raises: a result
    that is not an object gives an Order of Nones with it in ``raw``.
    ``kind`` is ``"result"`` unless given (account snapshots use ``"snapshot"``);
    order queries (``order.status``, ``openOrders.status``, REST) parse alike.
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
                 kind, result)


def _exchange_error(code: Any, msg: Any, raw: Any) -> ExchangeError:
    """The error class says who is at fault: credentials, a refused order, or other."""
    code = code if code.__class__ is int else None
    msg = msg if msg is None or msg.__class__ is str else str(msg)
    if code in _AUTH_CODES:
        return AuthenticationError(code, msg, raw)
    if code in _REJECT_CODES:
        return OrderRejected(msg, code=code, raw=raw)
    return ExchangeError(code, msg, raw)

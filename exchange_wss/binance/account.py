"""Binance account state at a point in time: the requests that load it (Spot over
the WebSocket API; futures over REST) and their results read into the shared
models (:class:`~exchange_wss.models.Wallet`, :class:`~exchange_wss.models.Position`,
:class:`~exchange_wss.models.Order`), each with ``kind="snapshot"``.

A client loads this at start and after every reconnect of its user-data stream,
so that user code sees balances, positions and open orders before live updates.

Pure: request builders return frames or ``(method, path, params)``; parsers take
the decoded JSON and never raise for a row they cannot read (they skip it and
say so in the returned ``skipped`` count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..models import Order, Position, Wallet
from ._common import FUTURES_MARKETS, _check_market, _fail, _rest_symbol, _safe_float
from .signing import auth_params
from .ws_api import _order_ref, order_from_result, ws_api_request

__all__ = ["account_status_request", "open_orders_status_request", "futures_account_request",
           "futures_position_risk_request", "futures_open_orders_request",
           "futures_order_request", "AccountSnapshot", "wallets_from_account_status",
           "wallets_from_futures_account", "positions_from_position_risk",
           "orders_from_results", "spot_account_snapshot", "futures_account_snapshot"]


# ------------------------------------------------------------- Spot: WebSocket API

def account_status_request(api_key: str | None, secret: str | None, timestamp_ms: int,
                           req_id: Any, omit_zero_balances: bool | None = None,
                           recv_window: Any = None) -> dict[str, Any]:
    """``account.status``: the Spot account, its balances (``free``/``locked`` per asset)
    included. ``api_key``/``secret`` None: unsigned after ``session.logon``."""
    params = {"omitZeroBalances": omit_zero_balances}
    return ws_api_request("account.status",
                          auth_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


def open_orders_status_request(api_key: str | None, secret: str | None,
                               timestamp_ms: int, req_id: Any, symbol: str | None = None,
                               recv_window: Any = None) -> dict[str, Any]:
    """``openOrders.status``: the open orders of one symbol, or of all (Binance weighs
    the all-symbols form more). ``api_key``/``secret`` None: after ``session.logon``."""
    params = {"symbol": None if symbol is None else _rest_symbol(symbol)}
    return ws_api_request("openOrders.status",
                          auth_params(api_key, secret, params, timestamp_ms, recv_window),
                          req_id)


# ------------------------------------------------------------------- futures: REST

# USDT-M serves account and position risk in v3 (v2 still answers); COIN-M in v1.
_FUTURES_PATHS = {
    "usdm": {"account": "/fapi/v3/account", "positionRisk": "/fapi/v3/positionRisk",
             "openOrders": "/fapi/v1/openOrders", "order": "/fapi/v1/order"},
    "coinm": {"account": "/dapi/v1/account", "positionRisk": "/dapi/v1/positionRisk",
              "openOrders": "/dapi/v1/openOrders", "order": "/dapi/v1/order"},
}


def _futures_path(market: str, name: str) -> str:
    _check_market(market)
    if market not in FUTURES_MARKETS:
        raise _fail(f"{market} has no futures REST account endpoints; Spot account state "
                    "is on the WebSocket API (account.status, openOrders.status)")
    return _FUTURES_PATHS[market][name]


def futures_account_request(market: str) -> tuple[str, str, dict[str, Any]]:
    """``GET /fapi/v3/account`` (usdm) or ``/dapi/v1/account`` (coinm): wallets per asset
    and positions. Returns ``(method, path, params)``; sign the params with
    :func:`~exchange_wss.binance.signing.rest_signed_query` and send the key in the
    ``X-MBX-APIKEY`` header."""
    return "GET", _futures_path(market, "account"), {}


def futures_position_risk_request(market: str, symbol: str | None = None,
                                  pair: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """``GET .../positionRisk``: positions with entry, mark and liquidation prices
    (``pair`` is COIN-M's filter by underlying)."""
    if pair is not None and market != "coinm":
        raise _fail("positionRisk takes a pair on COIN-M only")
    params: dict[str, Any] = {}
    if symbol is not None:
        params["symbol"] = _rest_symbol(symbol)
    if pair is not None:
        params["pair"] = _rest_symbol(pair)
    return "GET", _futures_path(market, "positionRisk"), params


def futures_open_orders_request(market: str,
                                symbol: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """``GET .../openOrders``: the open orders of one symbol, or of all."""
    params = {} if symbol is None else {"symbol": _rest_symbol(symbol)}
    return "GET", _futures_path(market, "openOrders"), params


def futures_order_request(market: str, symbol: str, order_id: int | None = None,
                          orig_client_order_id: str | None = None
                          ) -> tuple[str, str, dict[str, Any]]:
    """``GET .../order``: one order by id or client id (``-2013`` when unknown: see
    :func:`~exchange_wss.binance.ws_api.is_unknown_order`)."""
    return ("GET", _futures_path(market, "order"),
            _order_ref(symbol, order_id, orig_client_order_id, "an order query"))


# ---------------------------------------------------------------------- results

@dataclass(slots=True)
class AccountSnapshot:
    """What an account query returned, typed. ``skipped`` counts rows that could not
    be read (each is still in ``raw``), so nothing is dropped unseen."""

    wallets: list[Wallet] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    skipped: int = 0
    raw: Any = field(default=None, repr=False, compare=False)


def _rows(value: Any) -> list[Any]:
    return value if value.__class__ is list else []


def wallets_from_account_status(result: Any, wallet_type: str = "spot") -> AccountSnapshot:
    """Wallets of an ``account.status`` result: balance = free + locked, available = free."""
    out = AccountSnapshot(raw=result)
    rows = _rows(result.get("balances")) if result.__class__ is dict else []
    for row in rows:
        try:
            asset, free, locked = row["asset"], Decimal(row["free"]), Decimal(row["locked"])
            if asset.__class__ is not str or not (free.is_finite() and locked.is_finite()):
                raise ValueError(asset)
        except (KeyError, TypeError, ValueError, ArithmeticError):
            out.skipped += 1
            continue
        # Summed as decimals: 1.3447112 + 0.086 is 1.4307112, not 1.4307112000000002.
        out.wallets.append(Wallet(wallet_type, asset, float(free + locked), None, float(free),
                                  "snapshot", row))
    return out


def wallets_from_futures_account(result: Any, wallet_type: str) -> AccountSnapshot:
    """Wallets of a futures account result (``assets``): balance = ``walletBalance``,
    available = ``availableBalance``. Positions are left to
    :func:`positions_from_position_risk`, which carries entry and liquidation prices."""
    out = AccountSnapshot(raw=result)
    rows = _rows(result.get("assets")) if result.__class__ is dict else []
    for row in rows:
        ok = row.__class__ is dict and row.get("asset").__class__ is str
        balance = _safe_float(row.get("walletBalance")) if ok else None
        if balance is None:
            out.skipped += 1
            continue
        out.wallets.append(Wallet(wallet_type, row["asset"], balance, None,
                                  _safe_float(row.get("availableBalance")), "snapshot", row))
    return out


def positions_from_position_risk(result: Any, open_only: bool = True) -> AccountSnapshot:
    """Positions of a ``positionRisk`` result (USDT-M v3 or COIN-M v1).

    Args:
        result: the decoded list.
        open_only: skip rows whose ``positionAmt`` is 0 (COIN-M lists every symbol).
            Skipped zero rows are not counted in ``skipped``: they are not positions.
    """
    out = AccountSnapshot(raw=result)
    for row in _rows(result):
        amount = _safe_float(row.get("positionAmt")) if row.__class__ is dict else None
        if amount is None or row.get("symbol").__class__ is not str:
            out.skipped += 1
            continue
        if open_only and not amount:
            continue
        liq = _safe_float(row.get("liquidationPrice"))
        lev = _safe_float(row.get("leverage"))
        out.positions.append(Position(row["symbol"], "ACTIVE" if amount else "CLOSED", amount,
                                      _safe_float(row.get("entryPrice")),
                                      _safe_float(row.get("unRealizedProfit")),
                                      liq or None, lev or None, None, "snapshot", row))
    return out


def orders_from_results(result: Any) -> AccountSnapshot:
    """Orders of an open-orders result (``openOrders.status`` or REST ``openOrders``),
    oldest first as Binance lists them."""
    out = AccountSnapshot(raw=result)
    for row in _rows(result):
        if row.__class__ is not dict or row.get("orderId").__class__ is not int:
            out.skipped += 1
            continue
        out.orders.append(order_from_result(row, "snapshot"))
    return out


def spot_account_snapshot(account: Any, open_orders: Any,
                          wallet_type: str = "spot") -> AccountSnapshot:
    """The whole Spot snapshot: wallets of an ``account.status`` result and the orders
    of an ``openOrders.status`` result (``raw`` holds both, by method)."""
    wallets = wallets_from_account_status(account, wallet_type)
    orders = orders_from_results(open_orders)
    return AccountSnapshot(wallets.wallets, [], orders.orders,
                           wallets.skipped + orders.skipped,
                           {"account": account, "openOrders": open_orders})


def futures_account_snapshot(account: Any, position_risk: Any, open_orders: Any,
                             market: str) -> AccountSnapshot:
    """The whole futures snapshot: wallets of the REST account, positions of
    ``positionRisk`` (open ones) and the open orders (``raw`` holds the three)."""
    wallets = wallets_from_futures_account(account, market)
    positions = positions_from_position_risk(position_risk)
    orders = orders_from_results(open_orders)
    return AccountSnapshot(wallets.wallets, positions.positions, orders.orders,
                           wallets.skipped + positions.skipped + orders.skipped,
                           {"account": account, "positionRisk": position_risk,
                            "openOrders": open_orders})

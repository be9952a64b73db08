"""How the Binance sandbox writes an order: the answers of ``order.place``/
``order.cancel``/``order.status`` and the order events of user data
(``executionReport`` on Spot, ``ORDER_TRADE_UPDATE`` and ``TRADE_LITE`` on futures).

Pure functions of a tracked order; every field of an order event is written in
one place here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .wire import ZERO, MarketProfile

__all__ = ["order_result", "cancel_result", "order_event", "trade_lite"]

#: A fill as the order service hands it over:
#: ``(qty, price, commission, commission currency, trade id, ms, maker)``.
NO_TRADE = (ZERO, ZERO, ZERO, None, -1, None, False)


def avg_price(profile: MarketProfile, t: Any) -> Decimal:
    """The average fill price: value / quantity; on COIN-M contracts are valued in coin,
    so the average is ``contracts * size / base value`` (Binance's inverse mean)."""
    if not t.z:
        return ZERO
    cs = profile.contract_sizes.get(t.symbol)
    if cs is None:
        return t.Z / t.z
    return (t.z * cs / t.Z).quantize(Decimal("0.01")) if t.Z else ZERO


def query_result(profile: MarketProfile, t: Any) -> dict:
    """An order as ``order.status`` and ``openOrders.status`` tell it: on Spot the query
    layout (``time`` and ``updateTime``, no ``transactTime`` or fills), on futures the
    same layout as the order response."""
    if profile.futures:
        return order_result(profile, t, "RESULT")
    px = profile.px
    return {"symbol": t.symbol, "orderId": t.id, "orderListId": -1,
            "clientOrderId": t.client_id, "price": px(t.price or ZERO),
            "origQty": px(t.qty), "executedQty": px(t.z), "cummulativeQuoteQty": px(t.Z),
            "status": t.status, "timeInForce": t.tif, "type": t.type, "side": t.side,
            "stopPrice": px(ZERO), "icebergQty": px(ZERO), "time": t.created,
            "updateTime": t.updated, "isWorking": t.type != "MARKET",
            "workingTime": t.created if t.type != "MARKET" else -1,
            "origQuoteOrderQty": px(ZERO), "selfTradePreventionMode": "EXPIRE_MAKER"}


def order_result(profile: MarketProfile, t: Any, resp_type: Any = None) -> dict:
    """The order response (ACK, RESULT or FULL for Spot; the futures layout otherwise)."""
    px = profile.px
    if profile.futures:
        avg = avg_price(profile, t)
        out = {"orderId": t.id, "symbol": t.symbol, "status": t.status,
               "clientOrderId": t.client_id, "price": px(t.price or ZERO),
               "avgPrice": px(avg), "origQty": px(t.qty), "executedQty": px(t.z),
               "cumQty": px(t.z)}
        if profile.name == "coinm":
            out["cumBase"] = px(t.Z)
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


def cancel_result(profile: MarketProfile, t: Any, now: int) -> dict:
    """The answer of ``order.cancel``: Spot names the cancel's own client id; futures
    answer with the order itself."""
    if profile.futures:
        return order_result(profile, t, "RESULT")
    px = profile.px
    return {"symbol": t.symbol, "origClientOrderId": t.client_id, "orderId": t.id,
            "orderListId": -1, "clientOrderId": t.cancel_client_id, "transactTime": now,
            "price": px(t.price or ZERO), "origQty": px(t.qty), "executedQty": px(t.z),
            "origQuoteOrderQty": px(ZERO), "cummulativeQuoteQty": px(t.Z), "status": t.status,
            "timeInForce": t.tif, "type": t.type, "side": t.side,
            "selfTradePreventionMode": "EXPIRE_MAKER"}


def order_event(profile: MarketProfile, t: Any, x: str, now: int, *,
                trade: tuple | None = None, rp: Decimal = ZERO, exec_id: int = 0,
                margin_asset: str | None = None, alias: str | None = None) -> dict:
    """``executionReport`` (Spot) or ``ORDER_TRADE_UPDATE`` (futures) of execution ``x``.

    Args:
        t: the tracked order, already updated.
        x: the execution type (NEW, TRADE, CANCELED, EXPIRED).
        trade: the fill of a TRADE (see :data:`NO_TRADE`).
        rp: futures: realized profit of the fill.
        exec_id: Spot: the execution id ``I``.
        margin_asset, alias: COIN-M: ``o.ma`` and the account alias ``i``.
    """
    px = profile.px
    qty, price, commission, asset_c, tid, mts, maker = trade or NO_TRADE
    if mts is None:
        mts = now
    if profile.futures:
        o = {"s": t.symbol, "c": t.client_id, "S": t.side, "o": t.type,
             "f": t.tif if t.type != "MARKET" else "GTC", "q": px(t.qty),
             "p": px(t.price or ZERO), "ap": px(avg_price(profile, t)), "sp": "0",
             "x": x, "X": t.status, "i": t.id, "l": px(qty), "z": px(t.z), "L": px(price)}
        if trade is not None:
            o.update({"N": profile.asset(asset_c), "n": px(commission)})
        o.update({"T": mts, "t": tid if trade else 0, "b": "0", "a": "0", "m": bool(maker),
                  "R": False, "wt": "CONTRACT_PRICE", "ot": t.type, "ps": "BOTH",
                  "cp": False, "rp": px(rp), "pP": False, "si": 0, "ss": 0,
                  "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0"})
        ev = {"e": "ORDER_TRADE_UPDATE", "E": now, "T": mts}
        if profile.name == "coinm":
            o["ma"] = margin_asset
            ev["i"] = alias
        ev["o"] = o
        return ev
    c, orig = t.client_id, ""
    if x == "CANCELED":
        c, orig = t.cancel_client_id, t.client_id
    return {"e": "executionReport", "E": now, "s": t.symbol, "c": c, "S": t.side, "o": t.type,
            "f": t.tif, "q": px(t.qty), "p": px(t.price or ZERO), "P": px(ZERO),
            "F": px(ZERO), "g": -1, "C": orig, "x": x, "X": t.status, "r": "NONE", "i": t.id,
            "l": px(qty), "z": px(t.z), "L": px(price), "n": px(commission),
            "N": profile.asset(asset_c) if trade and asset_c else None,
            "T": mts if trade else now, "t": tid, "I": exec_id, "w": bool(t.resting),
            "m": bool(maker), "M": False, "O": t.created, "Z": px(t.Z), "Y": px(qty * price),
            "Q": px(ZERO), "W": t.created if t.type != "MARKET" else -1, "V": "EXPIRE_MAKER"}


def trade_lite(profile: MarketProfile, t: Any, trade: tuple, now: int) -> dict:
    """``TRADE_LITE``: a fill of ``t``, without fee or order state."""
    qty, price, _, _, tid, mts, maker = trade
    px = profile.px
    return {"e": "TRADE_LITE", "E": now, "T": mts, "s": t.symbol, "q": px(t.qty),
            "p": px(t.price or ZERO), "m": bool(maker), "c": t.client_id, "S": t.side,
            "L": px(price), "l": px(qty), "t": tid, "i": t.id}

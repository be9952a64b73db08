"""Parsers of Binance user-data events (Spot WebSocket API, futures and margin
listenKey streams): one event dict in, the typed models it stands for out; and
:class:`FillDedup`, the rule that each exchange trade becomes one Fill."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ..models import BalanceUpdate, Fill, Order, Position, Snapshot, UserEvent, Wallet
from ._common import _f, _is_int, _mts
from .events import ListenKeyExpired, ServerShutdown, StreamTerminated


def _side_sign(side: Any) -> float:
    if side == "SELL":
        return -1.0
    if side == "BUY":
        return 1.0
    raise ValueError(f"unknown side {side!r}")


def _execution_report(ev: Any, wallet_type: str) -> list[Any]:
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


def _order_trade_update(ev: Any, wallet_type: str) -> list[Any]:
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


def _trade_lite(ev: Any, wallet_type: str) -> list[Any]:
    sign = _side_sign(ev["S"])
    return [Fill(ev.get("t"), ev.get("s"), _mts(ev.get("T")), ev.get("i"), sign * _f(ev["l"]),
                 _f(ev["L"]), None, None, ev.get("m"), None, _f(ev.get("p")), ev.get("c"),
                 None, "lite", ev)]


def _account_position(ev: Any, wallet_type: str) -> list[Any]:
    items = []
    for row in ev["B"]:
        free = _f(row.get("f"))
        locked = _f(row.get("l"))
        items.append(Wallet(wallet_type, row["a"], (free or 0.0) + (locked or 0.0), None, free,
                            "update", row))
    return [Snapshot("balances", items, ev)]


def _balance_update(ev: Any, wallet_type: str) -> list[Any]:
    return [BalanceUpdate(wallet_type, ev["a"], _f(ev["d"]),
                          _mts(ev.get("T")) or _mts(ev.get("E")), ev)]


def _account_update(ev: Any, wallet_type: str) -> list[Any]:
    a = ev["a"]
    items: list[Any] = [Wallet(wallet_type, row["a"], _f(row.get("wb")), None,
                               _f(row.get("cw")), "update", row)
                        for row in a.get("B") or ()]
    for row in a.get("P") or ():
        amount = _f(row.get("pa"))
        items.append(Position(row["s"], "ACTIVE" if amount else "CLOSED", amount,
                              _f(row.get("ep")), _f(row.get("up")), None, None, None, "update",
                              row))
    return [Snapshot("account", items, ev)]


_USER_PARSERS: dict[str, Callable[[dict, str], list[Any]]] = {
    "executionReport": _execution_report,
    "ORDER_TRADE_UPDATE": _order_trade_update,
    "TRADE_LITE": _trade_lite,
    "outboundAccountPosition": _account_position,
    "balanceUpdate": _balance_update,
    "ACCOUNT_UPDATE": _account_update,
}
_CONTROL_EVENTS = frozenset(("listenKeyExpired", "eventStreamTerminated", "serverShutdown"))


def _parse_user(ev: Any, wallet_type: str) -> list[Any]:
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


class FillDedup:
    """Each exchange trade reaches the user once, whichever user-data event carries it.

    What Binance sends per fill (its docs and its SDKs' event lists, 2026):

    - Spot (WebSocket-API user data) and margin (``/sapi`` listenKey):
      ``executionReport`` with ``x="TRADE"``, once. No other event carries fills.
    - USDⓈ-M: ``ORDER_TRADE_UPDATE`` with ``x="TRADE"`` and, if the stream carries
      it, ``TRADE_LITE`` (the same trade sooner, without fee or order state). On
      ``/private`` only the ``events=`` listed arrive (the client's default leaves
      ``TRADE_LITE`` out); the legacy ``/ws/<listenKey>`` sends every event, so
      both.
    - COIN-M: ``ORDER_TRADE_UPDATE`` only; Binance documents no ``TRADE_LITE`` there
      (its COIN-M user-data event list is ACCOUNT_CONFIG_UPDATE, ACCOUNT_UPDATE,
      GRID_UPDATE, listenKeyExpired, MARGIN_CALL, ORDER_TRADE_UPDATE, STRATEGY_UPDATE).

    The rule: the ``ORDER_TRADE_UPDATE`` fill is the Fill (it carries the fee)
    whenever the stream carries that event; ``TRADE_LITE`` gives the Fill only on
    a stream configured without ``ORDER_TRADE_UPDATE``. Besides, a Fill whose
    ``(symbol, order id, trade id)`` was already admitted is never admitted again
    (the last ``capacity`` keys are remembered), which covers a trade repeated by
    any other path. Both sides of a self-trade are two orders, so two Fills.

    Args:
        events: the user-data events the stream carries (``/private``'s
            ``events=``), or None for every event (legacy, COIN-M, margin, Spot).
        capacity: how many trade keys are remembered.
    """

    __slots__ = ("lite", "capacity", "lite_suppressed", "duplicates", "_seen", "_order")

    def __init__(self, events: Iterable[str] | None = None, capacity: int = 10000):
        self.capacity = capacity
        #: TRADE_LITE fills left out by the rule (their trade comes in ORDER_TRADE_UPDATE).
        self.lite_suppressed = 0
        #: Fills of a trade already admitted (never expected from Binance itself).
        self.duplicates = 0
        self._seen: set = set()
        self._order: deque[tuple] = deque()
        self.configure(events)

    def configure(self, events: Iterable[str] | None) -> None:
        """Set the events the stream carries (keeps the remembered trades)."""
        if isinstance(events, str):
            events = (events,)
        names = None if events is None else frozenset(events)
        self.lite = names is not None and "ORDER_TRADE_UPDATE" not in names

    def admit(self, fill: Fill) -> str | None:
        """None if ``fill`` is to be delivered; else why not (``"lite"``, ``"duplicate"``)."""
        if fill.kind == "lite" and not self.lite:
            self.lite_suppressed += 1
            return "lite"
        key = (fill.symbol, fill.order_id, fill.id)
        try:
            seen = key in self._seen
        except TypeError:  # ids that are not ids (a malformed frame): nothing to compare
            return None
        if seen:
            self.duplicates += 1
            return "duplicate"
        self._seen.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._seen.discard(self._order.popleft())
        return None

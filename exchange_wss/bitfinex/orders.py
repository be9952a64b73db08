"""How Bitfinex answers requests, and what the account channel says about those in doubt.

Requests live in the client's :class:`~exchange_wss._requests.RequestRegistry`
under the keys this module makes: ``("on", cid)`` for a new order,
``("oc", id)`` / ``("oc-cid", cid)`` for a cancel, ``("ou", id)`` for an
update. :func:`settle_from` reads each account event and settles what it
answers: an ``on-req``/``oc-req``/``ou-req`` notification (SUCCESS resolves,
anything else rejects with the exchange's text, as bitfinex-api-node does), or
an order event naming a pending new order's cid (the exchange has the order).
After a reconnect, :func:`settle_in_doubt` settles what was written on the lost
connection from the order snapshot (``os``) of the new authentication.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any

from .._requests import IN_DOUBT, WRITTEN, RequestRegistry
from ..errors import OrderRejected
from ..models import Notification, Order, Snapshot

__all__ = ["new_key", "cancel_key", "cancel_cid_key", "update_key", "settle_from",
           "settle_in_doubt"]


def new_key(cid: Any) -> tuple[str, Any]:
    """Registry key of a new order."""
    return ("on", cid)


def cancel_key(order_id: Any) -> tuple[str, Any]:
    """Registry key of a cancel by order id."""
    return ("oc", order_id)


def cancel_cid_key(cid: Any) -> tuple[str, Any]:
    """Registry key of a cancel by client order id."""
    return ("oc-cid", cid)


def update_key(order_id: Any) -> tuple[str, Any]:
    """Registry key of an order update."""
    return ("ou", order_id)


def _answer_keys(ntype: Any, order: Order) -> Iterable[Hashable]:
    if ntype == "on-req":
        return (new_key(order.cid),)
    if ntype == "oc-req":
        return (cancel_key(order.id), cancel_cid_key(order.cid))
    if ntype == "ou-req":
        return (update_key(order.id),)
    return ()


def _settle_notification(registry: RequestRegistry, note: Notification) -> None:
    data = note.data
    if note.type in ("ox_multi-req", "oc_multi-req") and isinstance(data, list):
        for item in data:
            if isinstance(item, Notification):
                _settle_notification(registry, item)
        return
    if not isinstance(data, Order):
        return
    for key in _answer_keys(note.type, data):
        request = registry.get(key)
        if request is None or request.state not in (WRITTEN, IN_DOUBT):
            continue
        if note.status == "SUCCESS":
            registry.resolve(key, data)
        else:
            registry.reject(key, OrderRejected(note.text, raw=note.raw, notification=note))
        return


def settle_from(registry: RequestRegistry, event: Any) -> None:
    """Settle what one (typed) account event answers."""
    if isinstance(event, Notification):
        _settle_notification(registry, event)
    elif isinstance(event, Order) and event.kind in ("on", "ou", "oc"):
        # The exchange has the order: its new-order request succeeded, even if
        # the notification was lost (an ox_multi operation, a filter).
        key = new_key(event.cid)
        request = registry.get(key)
        if request is not None and request.state in (WRITTEN, IN_DOUBT):
            registry.resolve(key, event)
    elif isinstance(event, Snapshot) and event.kind == "os":
        settle_in_doubt(registry, event)


def settle_in_doubt(registry: RequestRegistry, snapshot: Snapshot) -> None:
    """The open orders after an authentication settle the requests in doubt.

    A new order whose cid is open was received: resolved. Anything else in
    doubt cannot be told from a snapshot of open orders (filled at once,
    cancelled, never received all look alike): unknown, with what was seen.
    """
    in_doubt = registry.in_state(IN_DOUBT)
    if not in_doubt:
        return
    orders = [o for o in snapshot.items if isinstance(o, Order)]
    by_cid = {o.cid: o for o in orders}
    by_id = {o.id: o for o in orders}
    for request in in_doubt:
        op, ident = request.key if isinstance(request.key, tuple) else (None, None)
        if op == "on" and ident in by_cid:
            registry.resolve(request.key, by_cid[ident])
        elif op == "on":
            registry.unknown(request, "connection lost before its acknowledgement and it is "
                                      "not among the open orders after reconnecting")
        elif op in ("oc", "ou") and ident in by_id:
            registry.unknown(request, "connection lost before the answer; the order is "
                                      "still open after reconnecting")
        else:
            registry.unknown(request, "connection lost before the answer; the order is not "
                                      "among the open orders after reconnecting")

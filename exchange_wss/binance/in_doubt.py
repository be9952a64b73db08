"""Settling Binance requests in doubt by asking the exchange.

A request is in doubt when it was written on a connection that was lost before
its answer came. Rather than fail it as unknown, the client asks about the
order: Spot (and margin) with ``order.status`` over the WebSocket API once it
is back (by ``origClientOrderId``, or the order id of a cancel), futures with
the signed REST order query (off the reactor thread). What it learns decides
(RequestNotApplied is :class:`~exchange_wss.errors.RequestNotApplied`):

========================  =====================================  ===========================
request                   the exchange says                      the future
========================  =====================================  ===========================
new order                 the order (any status)                 resolves with that Order
new order                 no such order (-2013), after the       fails with
                          request's validity window              RequestNotApplied
cancel                    the order is ``CANCELED``              resolves with that Order
cancel                    the order is open, after the window    fails with RequestNotApplied
cancel                    the order is done (filled, expired)    fails with RequestNotApplied
cancel                    no such order (-2013)                  fails with OrderRejected
                                                                 (-2013), as a cancel would
anything                  another error, no answer in time       fails with
                                                                 :class:`~exchange_wss.errors.OrderStateUnknown`
========================  =====================================  ===========================

*The validity window.* "No such order" is final only once the request can no
longer arrive: its connection is closed, and Binance refuses a request that
reaches it more than ``recvWindow`` (default 5000 ms) after its ``timestamp``
(or 1000 ms before it, which bounds how far the local clock may run ahead).
So an answer that says "not (yet) done" is taken as final only after
``timestamp + recvWindow + 1000 ms`` by the local clock; before that the
client asks again at that moment. An answer that says "done" is final at once.
Everything stays under the request's own deadline (``request_timeout``): a
request still unsettled then fails as unknown.

Reactor thread only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .._requests import SETTLED, Request
from ..errors import ExchangeError, OrderRejected, RequestNotApplied
from ..models import Order
from . import protocol as bn
from .state import OPEN_STATUSES

__all__ = ["OrderRef", "InDoubt"]

log = logging.getLogger("exchange_wss.binance")

#: How far ahead of the server a request's timestamp may be before Binance refuses
#: it (so how far the local clock can be ahead of the server's).
_CLOCK_AHEAD_MS = 1000
_DEFAULT_RECV_WINDOW_MS = 5000


@dataclass(frozen=True, slots=True)
class OrderRef:
    """What a request is about, so that its fate can be asked for (``Request.info``).

    Attributes:
        kind: ``"order"`` (a new order) or ``"cancel"``.
        symbol: the order's symbol.
        order_id: the exchange's order id (cancels by id), or None.
        client_order_id: the client order id (new orders; cancels by client id).
        timestamp_ms: the request's ``timestamp``.
        recv_window_ms: its ``recvWindow`` (Binance's default when not sent).
    """

    kind: str
    symbol: str
    order_id: int | None
    client_order_id: str | None
    timestamp_ms: int
    recv_window_ms: float = _DEFAULT_RECV_WINDOW_MS

    @property
    def final_after_ms(self) -> float:
        """Local time (ms) after which the request can no longer reach the exchange."""
        return self.timestamp_ms + self.recv_window_ms + _CLOCK_AHEAD_MS


class InDoubt:
    """The requests of one client being settled by asking the exchange.

    Args:
        client: the ``BinanceWssClient`` (registry, REST, reactor, credentials).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._pending: dict[Any, Request] = {}
        # Spot: the api session each pending query was written on (None: not yet).
        self._asked_on: dict[Any, Any] = {}
        self._timers: dict[Any, Any] = {}
        #: Requests settled by a query, by outcome (monitoring, tests).
        self.settled = {"found": 0, "not applied": 0, "unknown": 0}

    def __len__(self) -> int:
        return len(self._pending)

    # --------------------------------------------------------------------- entry
    def add(self, requests: list[Request], reason: str) -> None:
        """Requests written on a connection lost before their answer: ask about them."""
        registry = self.client.requests
        for request in requests:
            if not isinstance(request.info, OrderRef):
                registry.unknown(request, f"connection lost before the answer ({reason})")
                continue
            log.info("%s is in doubt (%s): asking the exchange", request.label, reason)
            self._pending[request.key] = request
            self._asked_on[request.key] = None
            self._ask(request)

    def link_ready(self) -> None:
        """The WebSocket API is usable again (Spot): ask what was waiting for it."""
        session = self._api_session()
        for key, request in list(self._pending.items()):
            if self._asked_on.get(key) is not session and key not in self._timers:
                self._ask(request)

    def stop(self) -> None:
        """The client stops: the registry settles what is left; drop the timers."""
        for timer in self._timers.values():
            if timer.active():
                timer.cancel()
        self._timers.clear()
        self._pending.clear()
        self._asked_on.clear()

    # --------------------------------------------------------------------- asking
    def _api_session(self) -> Any:
        link = self.client._api_link
        return link.session if link is not None and link.ready() else None

    def _ask(self, request: Request) -> None:
        if request.state == SETTLED:
            self._forget(request)
            return
        client = self.client
        ref: OrderRef = request.info
        if client.market in bn.FUTURES_MARKETS:
            method, path, params = bn.futures_order_request(
                client.market, ref.symbol, ref.order_id,
                ref.client_order_id if ref.order_id is None else None)
            d = client._signed_rest(method, path, params)
            d.addCallbacks(lambda result: self._answer(request, result, None),
                           lambda failure: self._answer(request, None, failure.value))
            return
        session = self._api_session()
        if session is None:
            return  # asked in link_ready(), once the WebSocket API is back
        link = client._api_link
        rid = session.next_id()
        key, secret = client._request_auth()
        frame = bn.order_status_request(
            key, secret, client._timestamp(), rid, ref.symbol, ref.order_id,
            ref.client_order_id if ref.order_id is None else None, client.recv_window)
        self._asked_on[request.key] = session
        session.expect_response(rid, lambda result, error: self._answer(request, result, error))
        if not link.conn.send(frame):
            session.cancel_response(rid)
            self._asked_on[request.key] = None  # asked again on the next connection

    # -------------------------------------------------------------------- answers
    def _answer(self, request: Request, result: Any, error: Any) -> None:
        if request.state == SETTLED or self._pending.get(request.key) is not request:
            self._forget(request)
            return
        ref: OrderRef = request.info
        if error is not None and not bn.is_unknown_order(error):
            self._settle_unknown(request, f"the order query failed: {_text(error)}")
            return
        order = None if error is not None else self._order_of(result)
        if order is None and error is None:
            self._settle_unknown(request, "the order query answered no order")
            return
        if ref.kind == "order":
            if order is not None:
                self._resolve(request, order)
            else:
                self._unless_final(request, ref, lambda: self._not_applied(
                    request, f"{request.label}: written, its connection lost before the "
                             "answer, and the exchange has no such order: it was not "
                             "placed (the request can no longer arrive); sending it again "
                             "is safe", None))
            return
        # A cancel: the order's status says whether it took effect.
        if order is None:
            self.settled["not applied"] += 1
            self._finish(request)
            self.client.requests.reject(request.key, OrderRejected(
                f"{request.label}: the exchange has no such order", code=error.code,
                raw=error.raw))
        elif order.status == "CANCELED":
            self._resolve(request, order)
        elif order.status in OPEN_STATUSES:
            self._unless_final(request, ref, lambda: self._not_applied(
                request, f"{request.label} did not take effect: the order is still "
                         f"{order.status} (the cancel can no longer arrive)", order))
        else:
            self._not_applied(request, f"{request.label} did not take effect: the order is "
                                       f"{order.status}", order)

    def _unless_final(self, request: Request, ref: OrderRef, settle: Any) -> None:
        """Settle now if the request can no longer arrive; else ask again when it cannot."""
        wait_ms = ref.final_after_ms - time.time() * 1000
        if wait_ms <= 0:
            settle()
            return
        reactor = self.client._get_reactor()
        self._timers[request.key] = reactor.callLater(wait_ms / 1000.0, self._again, request)

    def _again(self, request: Request) -> None:
        self._timers.pop(request.key, None)
        if request.state == SETTLED:
            self._forget(request)
            return
        self._asked_on[request.key] = None
        self._ask(request)

    @staticmethod
    def _order_of(result: Any) -> Order | None:
        if not isinstance(result, dict) or "orderId" not in result:
            return None
        return bn.order_from_result(result)

    def _resolve(self, request: Request, order: Order) -> None:
        self.settled["found"] += 1
        self._finish(request)
        self.client.requests.resolve(request.key, order)

    def _not_applied(self, request: Request, text: str, order: Order | None) -> None:
        self.settled["not applied"] += 1
        self._finish(request)
        self.client.requests.reject(request.key, RequestNotApplied(text, request.ident, order))

    def _settle_unknown(self, request: Request, why: str) -> None:
        self.settled["unknown"] += 1
        self._finish(request)
        self.client.requests.unknown(request, f"connection lost before the answer; {why}")

    def _finish(self, request: Request) -> None:
        self._forget(request)

    def _forget(self, request: Request) -> None:
        key = request.key
        if self._pending.get(key) is request:
            del self._pending[key]
        self._asked_on.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None and timer.active():
            timer.cancel()


def _text(error: Any) -> str:
    if isinstance(error, ExchangeError):
        return str(error)
    return type(error).__name__

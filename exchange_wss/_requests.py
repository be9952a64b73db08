"""The lifecycle of one request (order, cancel, update, WebSocket-API call), pure.

Every request a client sends and expects an answer to lives in one
:class:`RequestRegistry` with one state::

    queued ──write──> written ──answer──> settled
       │                 │
       │             connection lost
       │                 v
       │             in doubt ──exchange says──> settled
       │                 │
       └──deadline / stop / not writable──> settled

The terminal outcome follows only from what is known:

- never written (still queued, the connection refused the bytes, the client
  stopped): :class:`~exchange_wss.errors.RequestNotSent` (or its subclass
  :class:`~exchange_wss.errors.ClientStopped`): the exchange never saw it, a
  retry is safe;
- written and answered: the answer (a result, or the exchange's refusal);
- written and not answered (the connection dropped, the deadline passed, the
  client stopped): settled by what the exchange reports about it afterwards
  (an order snapshot, an order query), else
  :class:`~exchange_wss.errors.OrderStateUnknown` carrying the request's key.
  Never a "not sent" error: the bytes left the process.

Nothing here imports Twisted; time comes from an injected clock with
``seconds()`` and ``callLater()`` (a reactor, or ``MemoryReactorClock`` in tests).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

from .errors import (
    ClientStopped,
    ExchangeWssError,
    LocalProtocolError,
    OrderStateUnknown,
    RequestNotSent,
)

__all__ = ["QUEUED", "WRITTEN", "IN_DOUBT", "SETTLED", "Request", "RequestFuture",
           "RequestRegistry"]

QUEUED = "queued"
WRITTEN = "written"
IN_DOUBT = "in doubt"
SETTLED = "settled"

T = TypeVar("T")


class RequestFuture(Future[T], Generic[T]):
    """A :class:`concurrent.futures.Future` of a request's outcome.

    Attributes:
        key: what identifies the request at the exchange (Bitfinex: the order's
            cid; Binance: the client order id), also carried by the
            :class:`~exchange_wss.errors.OrderStateUnknown` it may fail with.
        state: ``"queued"``, ``"written"``, ``"in doubt"`` or ``"settled"``.

    Cancelling the future while the request is still queued withdraws it: it
    is never sent. Once written it can no longer be cancelled.
    """

    def __init__(self, key: Any = None) -> None:
        super().__init__()
        self.key = key
        self.state = QUEUED

    # Older names, kept for the code that reads them.
    @property
    def cid(self) -> Any:
        """The Bitfinex client order id (same as :attr:`key` for Bitfinex orders)."""
        return self.key

    @property
    def client_order_id(self) -> Any:
        """The Binance client order id (same as :attr:`key` for Binance orders)."""
        return self.key


class Request:
    """One request: its key, its frame, its future and where it stands.

    Args:
        key: unique among the registry's unsettled requests (a cid, a request id).
        frame: what to write (the connection serialises it).
        kind: a short word for messages (``"order"``, ``"cancel"``...).
        future: settled with the outcome (a fresh :class:`RequestFuture` if None).
        report: also report a failed outcome to the client's ``on_error``
            (for fire-and-forget calls whose caller holds no future).
        label: how to name the request in messages (default ``"<kind> <key>"``).
    """

    __slots__ = ("key", "ident", "frame", "kind", "future", "report", "label", "state",
                 "connection", "deadline", "_timer", "info")

    def __init__(self, key: Hashable, frame: Any, kind: str = "order", *,
                 future: RequestFuture[Any] | None = None, report: bool = False,
                 label: str | None = None, ident: Any = None) -> None:
        self.key = key
        #: What the user knows the request by (a cid, a client order id); the
        #: registry's ``key`` may add a namespace to it.
        self.ident = key if ident is None else ident
        self.frame = frame
        self.kind = kind
        self.future: RequestFuture[Any] = (future if future is not None
                                           else RequestFuture(self.ident))
        self.report = report
        self.label = label or f"{kind} {self.ident}"
        self.state = QUEUED
        self.connection: Any = None
        self.deadline: float | None = None
        self._timer: Any = None
        #: Free slot for the exchange's own bookkeeping (e.g. what to query).
        self.info: Any = None

    def __repr__(self) -> str:
        return f"<Request {self.label} {self.state}>"


class RequestRegistry:
    """Every unsettled request of one client, in the order they were made.

    :meth:`add` may be called from any thread (it refuses a key already
    pending at once, in the caller); everything else runs on the reactor
    thread.

    Args:
        clock: ``seconds()`` and ``callLater(delay, fn)`` (the reactor).
        timeout: seconds from :meth:`add` to a request's deadline.
        on_settled: ``(request, error_or_None)`` after each settlement (the
            client reports failures of requests with ``report`` set).
    """

    def __init__(self, clock: Any, timeout: float,
                 on_settled: Callable[[Request, ExchangeWssError | None], None] | None = None
                 ) -> None:
        if not timeout > 0:
            raise LocalProtocolError(f"request_timeout must be positive, got {timeout!r}")
        self.clock = clock
        self.timeout = timeout
        self._on_settled = on_settled
        self._lock = threading.Lock()
        self._requests: dict[Hashable, Request] = {}

    # ------------------------------------------------------------------ any thread
    def add(self, request: Request) -> Request:
        """Register ``request`` (state queued); its deadline starts now.

        Raises:
            LocalProtocolError: a request with the same key is not settled yet.
        """
        with self._lock:
            if request.key in self._requests:
                raise LocalProtocolError(
                    f"{request.label} is already pending; use another id")
            request.deadline = self.clock.seconds() + self.timeout
            self._requests[request.key] = request
        return request

    def __len__(self) -> int:
        return len(self._requests)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._requests

    def get(self, key: Hashable) -> Request | None:
        """The unsettled request with this key, or None."""
        return self._requests.get(key)

    def counts(self) -> dict[str, int]:
        """How many unsettled requests are in each state (for health views)."""
        out = {QUEUED: 0, WRITTEN: 0, IN_DOUBT: 0}
        for request in list(self._requests.values()):
            if request.state in out:
                out[request.state] += 1
        return out

    # -------------------------------------------------------------- reactor thread
    def arm(self, request: Request) -> None:
        """Start the deadline timer of a request :meth:`add` registered."""
        if request.state == SETTLED or request._timer is not None:
            return
        delay = max(0.0, (request.deadline or 0.0) - self.clock.seconds())
        request._timer = self.clock.callLater(delay, self._expired, request)

    def queued(self) -> list[Request]:
        """The requests not written yet, oldest first."""
        return [r for r in list(self._requests.values()) if r.state == QUEUED]

    def in_state(self, state: str) -> list[Request]:
        """The unsettled requests in ``state``, oldest first."""
        return [r for r in list(self._requests.values()) if r.state == state]

    def __iter__(self) -> Iterator[Request]:
        return iter(list(self._requests.values()))

    def claim(self, request: Request) -> bool:
        """About to write ``request``: False if it must not be (settled, or its
        future was cancelled by the user, which withdraws it as not sent)."""
        if request.state != QUEUED:
            return False
        if not request.future.set_running_or_notify_cancel():
            self._forget(request)
            return False
        return True

    def written(self, request: Request, connection: Any) -> None:
        r"""The transport accepted the bytes of a :meth:`claim`\ ed request."""
        request.state = request.future.state = WRITTEN
        request.connection = connection

    def not_written(self, request: Request, why: str, cause: BaseException | None = None
                    ) -> None:
        """A claimed request could not be written: it fails as not sent."""
        error = RequestNotSent(f"{request.label} was not sent: {why}; retrying is safe")
        error.__cause__ = cause
        self._settle(request, None, error)

    def never_left(self, request: Request, why: str, cause: BaseException | None = None
                   ) -> None:
        """A request marked written whose transport then proved that nothing left
        (an HTTP connection that could not be made): it fails as not sent."""
        if request.state != WRITTEN:
            return
        error = RequestNotSent(f"{request.label} was not sent: {why}; retrying is safe")
        error.__cause__ = cause
        self._settle(request, None, error)

    def fail_queued(self, why: str, cause: BaseException | None = None,
                    error_type: type = RequestNotSent) -> None:
        """Every request still queued fails as not sent (they will never be written)."""
        for request in self.queued():
            error = error_type(f"{request.label} was not sent: {why}")
            error.__cause__ = cause
            self._settle_unclaimed(request, error)

    def resolve(self, key: Hashable, result: Any) -> bool:
        """The exchange accepted or answered the request: settle with ``result``."""
        request = self._requests.get(key)
        if request is None or request.state == QUEUED:
            return False
        self._settle(request, result, None)
        return True

    def reject(self, key: Hashable, error: ExchangeWssError) -> bool:
        """The exchange refused the request: settle with ``error``."""
        request = self._requests.get(key)
        if request is None or request.state == QUEUED:
            return False
        self._settle(request, None, error)
        return True

    def connection_lost(self, connection: Any) -> list[Request]:
        """The connection dropped: what was written on it is now in doubt.

        Returns:
            The requests now in doubt, for the exchange to settle from what it
            reports next (or :meth:`unknown`).
        """
        lost = []
        for request in list(self._requests.values()):
            if request.state == WRITTEN and request.connection is connection:
                request.state = request.future.state = IN_DOUBT
                lost.append(request)
        return lost

    def unknown(self, request: Request, why: str) -> None:
        """Settle a written request whose fate the exchange did not tell."""
        if request.state == SETTLED:
            return
        error = OrderStateUnknown(
            f"{request.label}: {why}; check it at the exchange before sending it again",
            key=request.ident)
        self._settle(request, None, error)

    def stop(self) -> None:
        """The client stops: settle everything held, truthfully."""
        for request in list(self._requests.values()):
            if request.state == QUEUED:
                self._settle_unclaimed(request, ClientStopped(
                    f"{request.label} was not sent: the client was stopped"))
            else:
                self.unknown(request, "the client was stopped before the answer")

    # ----------------------------------------------------------------- internals
    def _expired(self, request: Request) -> None:
        request._timer = None
        if request.state == SETTLED:
            return
        if request.state == QUEUED:
            self._settle_unclaimed(request, RequestNotSent(
                f"{request.label} was not sent within {self.timeout:g}s (no usable "
                "connection); retrying is safe"))
        else:
            self.unknown(request, f"no answer within {self.timeout:g}s")

    def _settle_unclaimed(self, request: Request, error: ExchangeWssError) -> None:
        # A queued request's future is still PENDING: move it to RUNNING first,
        # unless the user cancelled it (then there is nothing left to tell).
        if request.future.set_running_or_notify_cancel():
            self._settle(request, None, error)
        else:
            self._forget(request)

    def _forget(self, request: Request) -> None:
        request.state = request.future.state = SETTLED
        if request._timer is not None and request._timer.active():
            request._timer.cancel()
        request._timer = None
        with self._lock:
            if self._requests.get(request.key) is request:
                del self._requests[request.key]

    def _settle(self, request: Request, result: Any, error: ExchangeWssError | None) -> None:
        if request.state == SETTLED:
            return
        self._forget(request)
        future = request.future
        if not future.done():
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        if self._on_settled is not None:
            self._on_settled(request, error)

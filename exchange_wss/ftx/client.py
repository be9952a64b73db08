"""``FtxWssClient``: the FTX WebSocket protocol under the same callback API.

FTX itself closed in 2022; its protocol lives on in recordings and in venues
and simulators that copied it. One connection carries everything: it logs in
afresh (new signature, new time) on every (re)connect, re-subscribes every
channel, pings every 15 s, and reconnects when the server says it restarts
(info 20001). Order books are checked against every update's checksum; a
mismatch resubscribes that market.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar, Unpack, cast

import orjson
from twisted.internet import defer

from .. import models
from .._endpoints import endpoint
from .._facade import BaseClient, Callback, ClientOptions
from .._link import Link
from .._requests import RequestFuture
from .._subscriptions import Subscription
from ..connection import WebSocketConnection
from ..errors import (
    AuthenticationError,
    ExchangeError,
    LocalProtocolError,
    OrderRejected,
    RemoteProtocolError,
    RestError,
)
from ..orderbook import OrderBook
from ..symbols import Venue
from ..utils import create_cid
from . import protocol as ftx

__all__ = ["FtxWssClient"]

log = logging.getLogger("exchange_wss.ftx")

_INFO_RESTARTING = 20001

_R = TypeVar("_R")


class _FtxLink(Link):
    """The one FTX connection: login, subscriptions and pings, replayed on every open."""

    def __init__(self, client: FtxWssClient, url: str) -> None:
        super().__init__(client, "ftx", url)
        self._pinger: Any = None
        #: The login on this connection was refused (LoginError).
        self.login_refused = False

    def new_session(self) -> Any:
        return ftx.FtxSession(self.control, raw=self.client.raw)

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        client = self.client
        if client._login_wanted:
            conn.send(client._login_request())
        self._schedule_ping()

    # -- pings -------------------------------------------------------------------------
    def _schedule_ping(self) -> None:
        self._cancel_ping()
        self._pinger = self.client._get_reactor().callLater(ftx.PING_INTERVAL, self._ping)

    def _ping(self) -> None:
        self._pinger = None
        if self.session is not None:
            self.conn.send(ftx.ping_request())
            self._schedule_ping()

    def _cancel_ping(self) -> None:
        if self._pinger is not None and self._pinger.active():
            self._pinger.cancel()
        self._pinger = None

    def closed(self, reason: str) -> None:
        self._cancel_ping()
        self.login_refused = False

    def auth_state(self) -> str:
        # FTX answers a login only when it refuses it; a private channel it
        # confirms is the proof it took (it refuses them before a login).
        if not self.client._login_wanted:
            return "none"
        if self.login_refused:
            return "failed"
        if self.session is not None and any(
                sub.state == "active" and sub.spec[0] in ftx.PRIVATE_CHANNELS
                for sub in self.subs):
            return "ok"
        return "pending"

    def stop(self) -> defer.Deferred[Any]:
        self._cancel_ping()
        return super().stop()

    # -- FTX's own control events --------------------------------------------------------
    def exchange_event(self, event: Any) -> None:
        client = self.client
        kind = type(event)
        if kind is ftx.InfoEvent and event.code == _INFO_RESTARTING:
            client._emit_event(event)
            self.conn.drop("server restarting (20001)")
        elif kind is ftx.LoginError:
            self.login_refused = True
            client._emit_error(AuthenticationError(event.code, event.msg, event.raw))
        elif kind is ftx.ErrorEvent:
            client._emit_error(ExchangeError(event.code, event.msg, event.raw))
        else:  # Pong, other info
            client._emit_event(event)


class FtxWssClient(BaseClient):
    """Threaded, callback-driven client of the FTX WebSocket protocol.

    Args:
        key, secret: API key and secret (for fills and orders). The secret
            appears in no log line, repr or exception.
        subaccount: the subaccount to log in to, if any.
        url: the endpoint (default ``wss://ftx.com/ws/``; FTX-protocol venues
            and the sandbox have their own).
        raw: deliver decoded frames instead of typed models (the callbacks' annotations
            name the models: type a raw callback's argument as ``Any``).
        **options: hooks and reliability settings as for ``WssClient``.
    """

    venue = Venue("ftx")

    def __init__(self, key: str | None = None, secret: str | None = None, *,
                 subaccount: str | None = None, url: str | None = None,
                 rest_url: str | None = None,
                 raw: bool = False, **options: Unpack[ClientOptions]) -> None:
        super().__init__(**options)
        if (key is None) != (secret is None):
            raise LocalProtocolError("give both key and secret, or neither")
        self.key = key
        self._secret = secret
        self.subaccount = subaccount
        self.url = endpoint(url, "EXCHANGE_WSS_FTX_URL") or ftx.DEFAULT_URL
        self.rest_url = (endpoint(rest_url, "EXCHANGE_WSS_FTX_REST_URL")
                         or ftx.DEFAULT_REST_URL).rstrip("/")
        self._rest_client: Any = None
        self.raw = raw
        self._login_wanted = False
        self._link: _FtxLink | None = None

    def __repr__(self) -> str:
        key = f"{self.key[:4]}…" if self.key else None
        return (f"<FtxWssClient url={self.url!r} key={key!r} subaccount={self.subaccount!r} "
                f"subscriptions={len(self._subs)} running={self.running}>")

    def _get_link(self) -> _FtxLink:
        if self._link is None:
            self._link = _FtxLink(self, self.url)
            if self.running:
                self._link.conn.start()
        return self._link

    # -- login ---------------------------------------------------------------------------
    def authenticate(self, callback: Callable[[models.Fill | models.Order], object] | None = None
                     ) -> None:
        """Log in (again on every reconnect, with a fresh signature).

        Login errors go to ``on_error`` as :class:`~exchange_wss.errors.AuthenticationError`.
        ``callback``, if given, is subscribed to fills and orders.
        """
        if self.key is None:
            raise LocalProtocolError("authenticate needs key and secret: FtxWssClient(key, secret)")
        self._call(self._authenticate)
        if callback is not None:
            self.subscribe_to_fills(callback)
            self.subscribe_to_orders(callback)

    def _authenticate(self) -> None:
        if self._login_wanted:
            return
        self._login_wanted = True
        link = self._get_link()
        if link.session is not None:
            link.conn.send(self._login_request())

    def _login_request(self) -> dict[str, Any]:
        # Only authenticate() asks for a login, once it checked the credentials.
        return ftx.login_request(cast(str, self.key), cast(str, self._secret),
                                 int(time.time() * 1000), self.subaccount)

    # -- subscriptions -------------------------------------------------------------------
    def subscribe_to_fills(self, callback: Callable[[models.Fill], object]) -> Subscription:
        """Your fills: :class:`~exchange_wss.models.Fill` (logs in if not done yet)."""
        return self._private("fills", callback)

    def subscribe_to_orders(self, callback: Callable[[models.Order], object]) -> Subscription:
        """Your order updates: :class:`~exchange_wss.models.Order` (logs in if not done yet)."""
        return self._private("orders", callback)

    def subscribe_to_ticker(self, market: str,
                            callback: Callable[[models.Ticker], object]) -> Subscription:
        """Best bid/ask and last price of ``market``: :class:`~exchange_wss.models.Ticker`."""
        return self._subscribe("ticker", self._native(market), callback)

    def subscribe_to_trades(self, market: str,
                            callback: Callable[[models.Trade], object]) -> Subscription:
        """Public trades of ``market``: one :class:`~exchange_wss.models.Trade` each."""
        return self._subscribe("trades", self._native(market), callback)

    def subscribe_to_orderbook(self, market: str,
                               callback: Callable[[models.BookSnapshot | models.BookDiff], object]
                               ) -> Subscription:
        """The book of ``market``, kept and checksum-verified; read it with :meth:`order_book`.

        ``callback`` gets a :class:`~exchange_wss.models.BookSnapshot`, then
        :class:`~exchange_wss.models.BookDiff` events.
        """
        return self._subscribe("orderbook", self._native(market), callback)

    def order_book(self, market: str) -> models.BookSnapshot:
        """A consistent copy of the maintained book of ``market`` (levels ``(price, size)``).

        Works right after ``subscribe_to_orderbook``; until the book is in sync
        the copy says ``synced=False``.
        """
        market = self._native(market)
        sub = self._subscription(f"orderbook:{market}")
        if sub is None:
            raise LocalProtocolError(f"no order book subscription for {market}")
        return self._book_copy(sub, market)

    def _private(self, channel: str, callback: Callback) -> Subscription:
        self.authenticate()
        return self._subscribe(channel, None, callback, droppable=False)

    def _subscribe(self, channel: str, market: str | None, callback: Callback,
                   droppable: bool = True) -> Subscription:
        ftx.subscribe_request(channel, market)  # validates, raises before anything is queued
        label = channel if market is None else f"{channel}:{market}"

        def book() -> OrderBook:
            return OrderBook(cast(str, market), kind="size")  # books name their market

        return self._register(label, (channel, market), callback, symbol=market,
                              book=book if channel == "orderbook" else None,
                              droppable=droppable)

    def _place(self, sub: Subscription) -> None:
        link = self._get_link()
        sub.link = link
        link.subs.add(sub)

    # -- orders and balances (REST, as FTX had them) ------------------------------------
    def submit_order(self, market: str, side: str, price: Any, size: Any, type: str = "limit",
                     client_id: str | None = None,
                     **flags: Any) -> RequestFuture[models.Order]:
        """Place an order (``POST /orders``); a Future of the accepted
        :class:`~exchange_wss.models.Order` or :class:`~exchange_wss.errors.OrderRejected`.

        Updates follow on :meth:`subscribe_to_orders`. ``flags``: ``ioc``,
        ``post_only``, ``reduce_only``. The order always carries a client id
        (one is made if not given). It settles like the other clients' orders:
        :class:`~exchange_wss.errors.RequestNotSent` only if the HTTP
        connection could not even be made, :class:`~exchange_wss.errors.OrderStateUnknown`
        when it may have reached FTX and no answer came.

        Raises:
            LocalProtocolError: a bad argument, or a client id already pending.
        """
        self._require_key()
        if client_id is None:
            client_id = f"ews-{create_cid()}"
        body = ftx.order_payload(self._native(market), side, price, size, type, client_id,
                                 **flags)
        return self._rest_request(("order", client_id), client_id, f"order {client_id}",
                                  "POST", "/orders", body, ftx.order_from_rest)

    def cancel_order(self, order_id: int) -> RequestFuture[Any]:
        """Ask to cancel an order (``DELETE /orders/{id}``); the Future holds FTX's answer
        (``"Order queued for cancellation"``); the closed order comes on the orders channel."""
        self._require_key()
        order_id = int(order_id)
        return self._rest_request(("cancel", order_id), order_id, f"cancel of {order_id}",
                                  "DELETE", f"/orders/{order_id}", None, lambda r: r)

    def get_balances(self) -> Future[list[models.Wallet]]:
        """The account's wallets (``GET /wallet/balances``): a Future of
        :class:`~exchange_wss.models.Wallet` rows."""
        self._require_key()
        future: Future[list[models.Wallet]] = Future()

        def done(answer: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
                return
            try:
                future.set_result(_rest_result(answer, ftx.wallets_from_rest))
            except Exception as exc:
                future.set_exception(exc)

        self._call(self._send_rest, "GET", "/wallet/balances", None, done)
        return future

    def _require_key(self) -> None:
        if self.key is None:
            raise LocalProtocolError("this needs key and secret: FtxWssClient(key, secret)")

    def _rest_request(self, key: Any, ident: Any, label: str, method: str, path: str,
                      body: Any, parse: Callable[[Any], _R]) -> RequestFuture[_R]:
        request = self._new_request(key, None, "order", ident=ident, label=label)
        try:
            self._call(self._send_request, request, method, path, body, parse)
        except Exception:
            self.requests._forget(request)
            raise
        return request.future

    def _send_request(self, request: Any, method: str, path: str, body: Any,
                      parse: Callable[[Any], Any]) -> None:
        registry = self.requests
        registry.arm(request)
        if not registry.claim(request):
            return  # the user cancelled it while it waited
        # From here the bytes may leave at any moment: unanswered, it is unknown.
        registry.written(request, "rest")

        def done(answer: Any, error: BaseException | None) -> None:
            if error is None:
                try:
                    registry.resolve(request.key, _rest_result(answer, parse))
                except (OrderRejected, RemoteProtocolError) as exc:
                    registry.reject(request.key, exc)
            elif isinstance(error, RestError) and error.sent is False:
                registry.never_left(request, str(error), error)
            elif isinstance(error, ExchangeError) and (
                    not isinstance(error, RestError) or
                    (isinstance(error.code, int) and 400 <= error.code < 500)):
                # FTX answered and refused (a 4xx with its {"success": false} text).
                raw = error.raw if isinstance(error.raw, dict) else {}
                registry.reject(request.key, OrderRejected(raw.get("error") or error.msg,
                                                           code=error.code, raw=error.raw))
            else:
                # A timeout, a reset, a 5xx: it may have been taken.
                registry.unknown(request, f"no answer from FTX's REST API ({error})")

        self._send_rest(method, path, body, done)

    def _send_rest(self, method: str, path: str, body: Any,
                   done: Callable[[Any, BaseException | None], None]) -> None:
        from urllib.parse import urlsplit

        from .._rest import RestClient
        if self._rest_client is None:
            self._rest_client = RestClient(self.rest_url, self._get_reactor())
        data = orjson.dumps(body) if body is not None else b""
        signed_path = urlsplit(self.rest_url).path + path
        # REST calls are made for the account: _require_key() ran first.
        headers = ftx.rest_headers(cast(str, self.key), cast(str, self._secret),
                                   int(time.time() * 1000), method,
                                   signed_path, data, self.subaccount)
        d = self._rest_client.call(method, path, body=data if body is not None else None,
                                   headers=headers)
        d.addCallbacks(lambda answer: done(answer, None), lambda failure: done(None, failure.value))

    # -- lifecycle -----------------------------------------------------------------------
    def _links(self) -> list[Any]:
        return [self._link] if self._link is not None else []

    def _start_connections(self) -> None:
        if self._link is not None:
            self._link.conn.start()

    def _stop_connections(self) -> Any:
        self._stop_requests()
        if self._rest_client is not None:
            self._rest_client.close()
        if self._link is None:
            return None
        return self._link.stop()


def _rest_result(answer: Any, parse: Callable[[Any], Any]) -> Any:
    """FTX's ``{"success", "result"}`` envelope: the parsed result, or raise the
    refusal (:class:`OrderRejected`) or an unusable answer (:class:`RemoteProtocolError`)."""
    if isinstance(answer, dict) and answer.get("success") is False:
        raise OrderRejected(answer.get("error"), raw=answer)
    try:
        return parse(answer.get("result") if isinstance(answer, dict) else answer)
    except Exception as exc:
        err = RemoteProtocolError(f"unusable REST answer: {type(exc).__name__}")
        err.raw = answer
        raise err from exc

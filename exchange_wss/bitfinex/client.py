"""``WssClient``: the Bitfinex v2 facade.

Public channels are pooled onto connections of up to ``channels_per_connection``
subscriptions each; the authenticated channel has a connection of its own. Each
connection is a :class:`~exchange_wss.bitfinex.link.BitfinexLink`: a
:class:`~exchange_wss.connection.WebSocketConnection` and, while open, a fresh
:class:`~exchange_wss.bitfinex.session.BitfinexSession`. What the user asked
for (subscriptions, authentication) lives in the client and is replayed on
every (re)connect; requests (orders, cancels, updates) are written once, never
replayed, and each settles with what is known (see :mod:`exchange_wss._requests`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Unpack, cast

from .. import models
from .._endpoints import endpoint
from .._facade import BaseClient, Callback, ClientOptions
from .._requests import Request, RequestFuture
from .._subscriptions import Subscription
from ..errors import ExchangePaused, LocalProtocolError
from ..orderbook import OrderBook
from ..pacing import Pacer
from ..symbols import Venue
from . import orders
from . import requests as bfx
from .handlers import parse_auth_frame
from .link import BitfinexLink
from .requests import ChannelSpec
from .utils import NonceGenerator, cid_to_date, create_cid, order_symbol

if TYPE_CHECKING:
    from ..models import (
        BookSnapshot,
        BookUpdate,
        FundingBookUpdate,
        FundingRawBookUpdate,
        FundingTicker,
        FundingTrade,
        RawBookUpdate,
        Ticker,
        Trade,
        TradesSnapshot,
    )

__all__ = ["WssClient", "DEFAULT_AUTH_URL", "DEFAULT_PUBLIC_URL"]

log = logging.getLogger("exchange_wss.bitfinex")

DEFAULT_AUTH_URL = "wss://api.bitfinex.com/ws/2"
DEFAULT_PUBLIC_URL = "wss://api-pub.bitfinex.com/ws/2"

#: calc requests per second per client.
_CALC_PER_SECOND = 8


def _filters_follow_orders(filters: list[str] | None) -> bool:
    """Whether the account channel, so filtered, carries what settles an order:
    its notifications (``notify``) and the order snapshot (``trading``)."""
    if not filters:
        return True
    trading = any(f == "trading" or f.startswith("trading-") for f in filters)
    return trading and "notify" in filters


class WssClient(BaseClient):
    """Threaded, callback-driven Bitfinex WebSocket v2 client.

    Create one, register callbacks, ``start()``; every method is safe from any
    thread and before the socket is open (requests wait for their connection,
    order operations also for authentication, each within ``request_timeout``).

    Args:
        key: API key (needed for ``authenticate`` and order operations).
        secret: API secret. It appears in no log line, repr or exception.
        nonce_multiplier: scales the µs nonce, for keys first used with a
            larger-scale nonce elsewhere (nonces must only ever increase per key).
        url: the authenticated endpoint (default ``wss://api.bitfinex.com/ws/2``).
            Given without ``public_url``, public channels use it too.
        public_url: the public endpoint (default ``wss://api-pub.bitfinex.com/ws/2``).
        channels_per_connection: public subscriptions per connection (Bitfinex
            allows 25); 1 gives one socket per channel.
        raw: deliver decoded frames (lists) instead of typed models (the callbacks' annotations
            name the models: type a raw callback's argument as ``Any``).
        checksum: ask for ``OB_CHECKSUM`` and verify every book (default True).
        seq_all: ask for ``SEQ_ALL`` and resync the connection on a gap.
        nonce_factory: makes each auth nonce instead of the µs generator (an int
            or its decimal text, fraction allowed; it must increase per key).
            ``exchange_wss.compat.bitfinex_v2`` uses it for bitfinex-v2's nonces.
        calc_on_auth: send ``calc: 1`` with the auth request (wallet AVAILABLE
            computed in the snapshot).
        **options: the hooks ``on_event`` and ``on_error``, ``request_timeout``,
            ``subscription_timeout`` (see :class:`~exchange_wss._facade.BaseClient`)
            and the reliability settings ``ping_interval``, ``ping_timeout``,
            ``reconnect_delay``, ``max_reconnect_delay``, ``max_reconnect``,
            ``stale_timeout``, ``open_timeout``, ``tls_options``, ``fast_path``,
            ``max_message_size`` (see :class:`~exchange_wss.connection.ConnectionOptions`).
    """

    venue = Venue("bitfinex")

    def __init__(self, key: str | None = None, secret: str | None = None,
                 nonce_multiplier: float = 1.0, *, url: str | None = None,
                 public_url: str | None = None, channels_per_connection: int = 25,
                 raw: bool = False, checksum: bool = True, seq_all: bool = False,
                 nonce_factory: Callable[[], Any] | None = None, calc_on_auth: bool = False,
                 **options: Unpack[ClientOptions]) -> None:
        super().__init__(**options)
        if (key is None) != (secret is None):
            raise LocalProtocolError("give both key and secret, or neither")
        if not 1 <= channels_per_connection <= 30:
            raise LocalProtocolError("channels_per_connection must be between 1 and 30")
        self.key = key
        self._secret = secret
        self._nonces = NonceGenerator(multiplier=nonce_multiplier)
        if nonce_factory is not None and not callable(nonce_factory):
            raise LocalProtocolError("nonce_factory must be callable")
        self._nonce_factory = nonce_factory
        self.calc_on_auth = bool(calc_on_auth)
        # Arguments first, then the environment (utils.ENDPOINT_VARIABLES), then Bitfinex.
        public_url = public_url or url or endpoint(None, "EXCHANGE_WSS_BITFINEX_PUBLIC_URL")
        url = endpoint(url, "EXCHANGE_WSS_BITFINEX_URL")
        self.url = url or DEFAULT_AUTH_URL
        self.public_url = public_url or url or DEFAULT_PUBLIC_URL
        self.channels_per_connection = channels_per_connection
        self.raw = raw
        self.seq_all = seq_all
        self.conf_flags = (bfx.FLAG_OB_CHECKSUM if checksum else 0) | (
            bfx.FLAG_SEQ_ALL if seq_all else 0)
        self._public_links: list[BitfinexLink] = []
        self._auth_link: BitfinexLink | None = None
        self._auth_callbacks: list[Callback] = []
        self._auth_filters: list[str] | None = None
        self._auth_dms = False
        self._link_names = itertools.count(0)
        self._paused = False
        self._calc_pacer: Pacer | None = None

    def __repr__(self) -> str:
        key = f"{self.key[:4]}…" if self.key else None
        return (f"<WssClient key={key!r} url={self.url!r} public_url={self.public_url!r} "
                f"subscriptions={len(self._subs)} running={self.running}>")

    # -- subscriptions ------------------------------------------------------------
    def subscribe_to_ticker(self, symbol: str,
                            callback: Callable[[Ticker], object]
                            | Callable[[FundingTicker], object]) -> Subscription:
        """Subscribe to a ticker; ``callback`` gets :class:`~exchange_wss.models.Ticker`
        (or :class:`~exchange_wss.models.FundingTicker` for ``f`` symbols).

        Returns:
            The :class:`~exchange_wss._subscriptions.Subscription` handle (``str()`` of it is
            its label); registered at once, so :meth:`unsubscribe` works right away.
        """
        return self._subscribe(ChannelSpec.ticker(symbol), callback)

    def subscribe_to_trades(self, symbol: str,
                            callback: Callable[[TradesSnapshot | Trade], object]
                            | Callable[[TradesSnapshot | FundingTrade], object]
                            ) -> Subscription:
        """Subscribe to public trades: a :class:`~exchange_wss.models.TradesSnapshot`,
        then :class:`~exchange_wss.models.Trade` events (``kind`` ``te`` and ``tu``)."""
        return self._subscribe(ChannelSpec.trades(symbol), callback)

    def subscribe_to_orderbook(self, symbol: str, precision: str,
                               callback: Callable[[BookSnapshot | BookUpdate], object]
                               | Callable[[BookSnapshot | RawBookUpdate], object]
                               | Callable[[BookSnapshot | FundingBookUpdate], object]
                               | Callable[[BookSnapshot | FundingRawBookUpdate], object],
                               length: int = 25, frequency: str = "F0") -> Subscription:
        """Subscribe to an order book; the client maintains it (see :meth:`order_book`).

        Args:
            symbol: e.g. ``"tBTCUSD"`` (``"BTCUSD"`` works too).
            precision: ``P0``..``P4`` or ``R0`` (raw).
            callback: gets a :class:`~exchange_wss.models.BookSnapshot`, then
                :class:`~exchange_wss.models.BookUpdate` events (raw books:
                ``RawBookUpdate``; funding books ``FundingBookUpdate`` and
                ``FundingRawBookUpdate``).
            length: 1, 25, 100 or 250 levels per side.
            frequency: ``F0`` (realtime) or ``F1`` (every 2 s).
        """
        return self._subscribe(ChannelSpec.book(symbol, precision, frequency, length), callback)

    def subscribe_to_candles(self, symbol: str, timeframe: str,
                             callback: Callable[[models.CandlesSnapshot | models.Candle], object]
                             ) -> Subscription:
        """Subscribe to candles: a :class:`~exchange_wss.models.CandlesSnapshot`
        (oldest first), then :class:`~exchange_wss.models.Candle` updates."""
        return self._subscribe(ChannelSpec.candles(symbol, timeframe), callback)

    def subscribe_to_status(self, key: str,
                            callback: Callable[[models.DerivativesStatus], object]
                            | Callable[[models.Liquidation], object]) -> Subscription:
        """Subscribe to a status channel, e.g. ``"deriv:tBTCF0:USTF0"`` or ``"liq:global"``."""
        return self._subscribe(ChannelSpec.status(key), callback)

    def _subscribe(self, spec: ChannelSpec, callback: Callback) -> Subscription:
        def book() -> OrderBook:
            # A book channel always names its symbol (status channels have none).
            return OrderBook(cast(str, spec.symbol), kind="raw" if spec.is_raw_book else "price",
                             funding=spec.is_funding)

        # Liquidations come when they happen: a quiet liq: feed is not a stale one.
        quiet = spec.channel == "status" and (spec.key or "").startswith("liq:")
        return self._register(spec.label, spec, callback, symbol=spec.symbol,
                              book=book if spec.is_book else None, quiet=quiet)

    def _place(self, sub: Subscription) -> None:
        link = self._public_link_with_room()
        sub.link = link
        link.subs.add(sub)

    def _public_link_with_room(self) -> BitfinexLink:
        for link in self._public_links:
            if len(link.subs) < self.channels_per_connection:
                return link
        link = BitfinexLink(self, f"public-{next(self._link_names)}", self.public_url,
                            auth=False)
        self._public_links.append(link)
        if self.running:
            link.conn.start()
        return link

    def _detach(self, sub: Subscription) -> None:
        link = sub.link
        if link is None:
            self._never_placed(sub)
            return
        link.subs.remove(sub)
        if link in self._public_links and not any(s.wanted for s in link.subs):
            # Nothing left on it: closing the connection ends its channels too.
            self._public_links.remove(link)
            link.stop()

    def order_book(self, symbol: str, precision: str = "P0") -> models.BookSnapshot:
        """Return a consistent copy of the maintained book of a subscribed channel.

        Works right after ``subscribe_to_orderbook``: until the book is in sync
        (snapshot received, checksums agreeing, connection up) the copy says
        ``synced=False``.

        Returns:
            :class:`~exchange_wss.models.BookSnapshot` with ``bids`` and ``asks``
            best first; levels ``(price, count, amount)`` (raw books
            ``(order_id, price, amount)``).

        Raises:
            LocalProtocolError: no book subscription for that symbol and precision.
        """
        symbol = order_symbol(symbol)
        for sub in self.subscriptions():
            spec = sub.spec
            if spec.is_book and spec.symbol == symbol and spec.prec == precision:
                return self._book_copy(sub, symbol)
        raise LocalProtocolError(f"no order book subscription for {symbol} {precision}")

    # -- authenticated channel --------------------------------------------------------
    def authenticate(self, callback: Callable[[Any], object] | None = None,
                     filters: list[str] | None = None,
                     dms: bool = False) -> None:
        """Authenticate on a connection of its own; account events go to ``callback``.

        Args:
            callback: gets :class:`~exchange_wss.models.Snapshot`, ``Order``,
                ``Fill``, ``Wallet``, ``Position`` and ``Notification`` events
                (decoded frames with ``raw=True``).
            filters: Bitfinex auth filters, e.g. ``["trading", "wallet"]``.
                Order operations need ``trading`` (or ``trading-<symbol>``) and
                ``notify``, which carry their answers; without them they are
                refused at the call.
            dms: dead man's switch: the exchange cancels all orders when this
                connection closes.
        """
        self._require_credentials()
        if callback is not None and not callable(callback):
            raise LocalProtocolError("callback must be callable")
        if filters is not None and (isinstance(filters, str) or
                                    not all(isinstance(f, str) for f in filters)):
            raise LocalProtocolError("filters must be a list of strings")
        deliver = self._safe(callback, "auth", droppable=False) if callback is not None else None
        filters = list(filters) if filters else None
        self._auth_filters = filters
        self._call(self._authenticate, deliver, filters, bool(dms))

    def _authenticate(self, deliver: Callback | None, filters: list[str] | None,
                      dms: bool) -> None:
        if deliver is not None:
            self._auth_callbacks.append(deliver)
        self._auth_filters = filters
        self._auth_dms = dms
        self._ensure_auth_link()

    def _ensure_auth_link(self) -> BitfinexLink:
        if self._auth_link is None:
            self._auth_link = BitfinexLink(self, "auth", self.url, auth=True)
            if self.running:
                self._auth_link.conn.start()
        return self._auth_link

    def _auth_request(self) -> dict[str, Any]:
        # A fresh, larger nonce on every (re)connect: re-sending an old one is
        # refused with "nonce: small".
        nonce = (self._nonce_factory() if self._nonce_factory is not None
                 else self._nonces.next(self.key))
        # Only the auth link asks, and authenticate() made sure of the credentials.
        return bfx.auth_request(cast(str, self.key), cast(str, self._secret), nonce,
                                filters=self._auth_filters, dms=self._auth_dms,
                                calc=self.calc_on_auth)

    def _require_credentials(self) -> None:
        if self.key is None:
            raise LocalProtocolError("this needs an API key and secret: WssClient(key, secret)")

    def _auth_deliver(self, event: Any) -> None:
        """Chan-0 events: settle requests first, then the user's callbacks."""
        if len(self.requests):
            typed = parse_auth_frame(event) if self.raw else event
            if typed is not None:
                orders.settle_from(self.requests, typed)
        for cb in self._auth_callbacks:
            cb(event)

    # -- maintenance ---------------------------------------------------------------
    def _platform_down(self, connection: str, reason: str) -> None:
        if not self._paused:
            self._paused = True
            self._emit_state("paused", connection, reason)

    def _platform_up(self, connection: str, reason: str) -> None:
        # Any evidence that the platform runs lifts the pause: 20061, an
        # operative greeting, a successful authentication.
        if self._paused:
            self._paused = False
            self._emit_state("resumed", connection, reason)

    # -- orders ----------------------------------------------------------------------
    @staticmethod
    def new_order_op(order_type: str, symbol: str, amount: Any, price: Any = None,
                     price_trailing: Any = None, price_aux_limit: Any = None,
                     price_oco_stop: Any = None, hidden: bool = False, flags: Any = None,
                     tif: str | None = None, set_cid: bool = True, **extra: Any) -> dict[str, Any]:
        """Build a new-order operation for :meth:`multi_order` (nothing is sent).

        Args:
            order_type: e.g. ``"EXCHANGE LIMIT"``; types without ``EXCHANGE``
                trade on margin.
            symbol: ``"tBTCUSD"`` or ``"BTCUSD"``.
            amount: positive buys, negative sells (str, float, int or Decimal).
            price: limit or stop price (not for market orders).
            price_trailing: the trailing distance (trailing stops), as Bitfinex defines it.
            price_aux_limit: the limit price of a STOP LIMIT order.
            price_oco_stop: the stop price of an OCO order.
            hidden: adds the hidden flag (64).
            flags: an int or a list of flag values, summed.
            tif: time in force, ``"YYYY-MM-DD HH:MM:SS"``.
            set_cid: give the order a client id (always true in practice: the
                cid is how its fate is followed).
            extra: ``gid``, ``cid``, ``meta``, ``lev`` passed through.

        Returns:
            The ``on`` payload, a dict with its ``"cid"``.
        """
        cid = extra.pop("cid", None)
        if cid is None and set_cid:
            cid = create_cid()
        return bfx.new_order_payload(order_type, symbol, amount, price,
                                     price_trailing=price_trailing, price_aux_limit=price_aux_limit,
                                     price_oco_stop=price_oco_stop, hidden=hidden, flags=flags,
                                     tif=tif, cid=cid, **extra)

    def new_order(self, order_type: str, symbol: str, amount: Any, price: Any = None,
                  **kwargs: Any) -> int:
        """Place an order (parameters as :meth:`new_order_op`); returns its cid.

        Follow it on the authenticated callback, or use :meth:`submit_order`
        for a Future. If it cannot be sent, or its fate stays unknown, that is
        reported on ``on_error``.
        """
        payload = self.new_order_op(order_type, symbol, amount, price, **kwargs)
        self._order_request(orders.new_key(payload["cid"]), "on", payload, "order",
                            payload["cid"], report=True)
        cid: int = payload["cid"]
        return cid

    def submit_order(self, order_type: str, symbol: str, amount: Any, price: Any = None,
                     **kwargs: Any) -> RequestFuture[models.Order]:
        """Place an order and return a Future of its fate.

        The Future resolves to the accepted :class:`~exchange_wss.models.Order`
        when the exchange's ``on-req`` notification says SUCCESS, or raises
        :class:`~exchange_wss.errors.OrderRejected` with the exchange's text.
        If it was never written it raises :class:`~exchange_wss.errors.RequestNotSent`
        (safe to retry). If the connection drops after it was written, it is
        settled from the order snapshot after re-authenticating: resolved if the
        order is there, else :class:`~exchange_wss.errors.OrderStateUnknown`
        (carrying the cid). The order is never re-sent.

        Raises:
            LocalProtocolError: a bad argument, or a cid already pending.
            ExchangePaused: Bitfinex announced maintenance.
        """
        payload = self.new_order_op(order_type, symbol, amount, price, **kwargs)
        request = self._order_request(orders.new_key(payload["cid"]), "on", payload, "order",
                                      payload["cid"])
        return request.future

    def multi_order(self, operations: Iterable[Any]) -> list[int | None]:
        """Send several operations at once (``ox_multi``, at most 75).

        Args:
            operations: dicts from :meth:`new_order_op` (new orders), ``{"id": N}``
                or ``{"cid": C, "cid_date": "YYYY-MM-DD"}`` (cancels), or explicit
                ``["on"|"oc"|"oc_multi"|"ou", {...}]`` pairs.

        Returns:
            The cid of each operation, None where it has none. New orders are
            followed like :meth:`new_order`'s (failures reported on ``on_error``).
        """
        ops = bfx.multi_payload(list(operations))
        self._check_can_order()
        items: list[Any] = []
        added: list[Request] = []
        try:
            for op, payload in ops:
                rider = None
                if op == "on" and isinstance(payload, dict) and payload.get("cid") is not None:
                    cid = payload["cid"]
                    rider = self._new_request(orders.new_key(cid), None, "order", ident=cid,
                                              report=True, label=f"order cid {cid}")
                    added.append(rider)
                items.append((op, payload, rider))
        except LocalProtocolError:
            for request in added:  # all or nothing: a pending cid refuses the batch
                self.requests._forget(request)
            raise
        self._call(self._submit_group, items)
        return [payload.get("cid") if isinstance(payload, dict) else None for _op, payload in ops]

    def _submit_group(self, items: list[Any]) -> None:
        for _op, _payload, rider in items:
            if rider is not None:
                self.requests.arm(rider)
        self._ensure_auth_link().send_group(items)

    def cancel_order(self, order_id: int) -> RequestFuture[models.Order]:
        """Cancel an order by its exchange id.

        Returns:
            A Future of the cancelled :class:`~exchange_wss.models.Order` (the
            ``oc-req`` answer), failing like :meth:`submit_order`'s. Ignoring
            it is fine: failures are also reported on ``on_error``.
        """
        payload = bfx.cancel_payload(order_id)
        return self._order_request(orders.cancel_key(payload["id"]), "oc", payload, "cancel",
                                   payload["id"], report=True).future

    def cancel_order_cid(self, order_cid: int, order_date: str | None = None
                         ) -> RequestFuture[models.Order]:
        """Cancel an order by client id and the UTC date of that id (default: from the cid).

        Returns:
            A Future of the cancelled order, as :meth:`cancel_order`.
        """
        if order_date is None:
            order_date = cid_to_date(order_cid)
        payload = bfx.cancel_cid_payload(order_cid, order_date)
        return self._order_request(orders.cancel_cid_key(payload["cid"]), "oc", payload,
                                   "cancel", payload["cid"], report=True).future

    def update_order(self, **order_settings: Any) -> RequestFuture[models.Order]:
        """Update an order: ``id`` and any of price, amount, delta, price_aux_limit,
        price_trailing, tif, flags...

        Returns:
            A Future of the updated order (the ``ou-req`` answer), as :meth:`cancel_order`.
        """
        payload = bfx.update_payload(**order_settings)
        return self._order_request(orders.update_key(payload["id"]), "ou", payload, "update",
                                   payload["id"], report=True).future

    def _order_request(self, key: Any, op: str, payload: Any, kind: str, ident: Any, *,
                       report: bool = False) -> Request:
        self._check_can_order()
        label = f"{kind} cid {ident}" if kind == "order" else f"{kind} of {ident}"
        request = self._new_request(key, bfx.input_frame(op, payload), kind, ident=ident,
                                    report=report, label=label)
        try:
            self._call(self._submit, request)
        except Exception:
            self.requests._forget(request)
            raise
        return request

    def _submit(self, request: Request) -> None:
        self._ensure_auth_link().submit(request)

    def _check_can_order(self) -> None:
        self._require_credentials()
        if not _filters_follow_orders(self._auth_filters):
            raise LocalProtocolError(
                f"authenticate(filters={self._auth_filters!r}) leaves out 'trading' or "
                "'notify', which carry the answers to orders: their outcome could not be "
                "known. Add both filters, or authenticate without filters.")
        if self._paused:
            raise ExchangePaused("Bitfinex is in maintenance (20060); order operations are refused")

    def calc(self, *calculations: Any) -> None:
        """Ask for calculations, e.g. ``calc("margin_sym_tBTCUSD", "wallet_exchange_USD")``.

        Sent as ``[0,"calc",null,[["margin_sym_tBTCUSD"],["wallet_exchange_USD"]]]``;
        at most 30 per call. Results arrive on the authenticated callback. If
        it cannot be sent, :class:`~exchange_wss.errors.RequestNotSent` is
        reported on ``on_error``.
        """
        payload = bfx.calc_payload(*calculations)
        self._require_credentials()
        self._call(self._send_calc, bfx.input_frame("calc", payload))

    def _send_calc(self, frame: Any) -> None:
        # Bitfinex computes 8 calc requests per second per client and may
        # disconnect a client that asks for more: queue, never drop.
        if self._calc_pacer is None:
            self._calc_pacer = Pacer(_CALC_PER_SECOND, 1.0, self._get_reactor())
        link = self._ensure_auth_link()
        self._calc_pacer.call(link.send_control_when_ready, frame, "calc")

    def ping(self, channel: str = "auth") -> int:
        """Send an application ping on a connection (``"auth"`` or ``"public-0"``...).

        Returns:
            The ping's cid; the :class:`~exchange_wss.bitfinex.protocol.Pong`
            arrives on ``on_event``. A ping that cannot be sent is reported on
            ``on_error``.
        """
        cid = create_cid()
        self._call(self._ping, channel, cid)
        return cid

    def _ping(self, channel: str, cid: int) -> None:
        if channel == "auth":
            link = self._ensure_auth_link() if self.key else None
        else:
            link = next((lnk for lnk in self._public_links if lnk.name == channel), None)
        if link is None:
            self._emit_error(LocalProtocolError(f"no connection named {channel!r}"))
            return
        link.send_control(bfx.ping_request(cid), f"ping {cid}")

    # -- lifecycle ------------------------------------------------------------------------
    def _links(self) -> list[BitfinexLink]:
        links = list(self._public_links)
        if self._auth_link is not None:
            links.append(self._auth_link)
        return links

    def _start_connections(self) -> None:
        for link in self._links():
            link.conn.start()

    def _stop_connections(self) -> Any:
        from twisted.internet import defer
        self._stop_requests()
        if self._calc_pacer is not None:
            self._calc_pacer.clear()
        return defer.DeferredList([link.stop() for link in self._links()],
                                  consumeErrors=True)

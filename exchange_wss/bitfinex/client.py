"""``WssClient``: the Bitfinex v2 facade.

Public channels are pooled onto connections of up to ``channels_per_connection``
subscriptions each; the authenticated channel has a connection of its own. Each
connection is a :class:`_Link`: it owns a :class:`~exchange_wss.connection.WebSocketConnection`
and, while open, a fresh :class:`~exchange_wss.bitfinex.protocol.BitfinexSession`.
What the user asked for (subscriptions, authentication) lives in the client and
is replayed on every (re)connect; requests (orders, calc, ping) are sent once
and never replayed.
"""

from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future
from typing import Any, Callable, Dict, Iterable, List, Optional
from urllib.parse import urlsplit

from .. import models
from .._facade import BaseClient, Callback, Link
from ..connection import WebSocketConnection
from ..errors import (AuthenticationError, ChecksumMismatch, ClientStopped, ConnectionLost,
                      ExchangeError, ExchangePaused, LocalProtocolError, OrderRejected,
                      OrderStateUnknown, RemoteProtocolError, SequenceGap, SubscriptionError)
from ..orderbook import OrderBook
from ..pacing import Pacer, shared_pacer
from ..symbols import Venue
from .._endpoints import endpoint
from . import protocol as bfx
from .protocol import ChannelSpec
from .utils import NonceGenerator, cid_to_date, create_cid, order_symbol

__all__ = ["WssClient", "DEFAULT_AUTH_URL", "DEFAULT_PUBLIC_URL"]

log = logging.getLogger("exchange_wss.bitfinex")

DEFAULT_AUTH_URL = "wss://api.bitfinex.com/ws/2"
DEFAULT_PUBLIC_URL = "wss://api-pub.bitfinex.com/ws/2"

#: Order requests: sent only once authenticated, never replayed after a reconnect.
_ORDER_OPS = frozenset({"on", "oc", "oc_multi", "ou", "ox_multi", "fon", "foc"})

#: Connection opens Bitfinex allows per host and period (api 5 per 15 s, api-pub 20 per
#: minute; more is refused with HTTP 429). Other hosts (the sandbox) are not paced.
_OPEN_LIMITS = {"api.bitfinex.com": (5, 15.0), "api-pub.bitfinex.com": (20, 60.0)}
#: calc requests per second per client.
_CALC_PER_SECOND = 8

_INFO_RECONNECT = 20051
_INFO_MAINTENANCE_START = 20060
_INFO_MAINTENANCE_END = 20061


class _Subscription:
    """One channel the user asked for; survives reconnects with its callbacks."""

    __slots__ = ("spec", "callbacks", "deliver", "book", "link", "sub_id", "chan_id")

    def __init__(self, spec: ChannelSpec, book: Optional[OrderBook]) -> None:
        self.spec = spec
        self.callbacks: List[Callback] = []
        self.deliver: Callback = _ignore
        self.book = book
        self.link: Optional[_Link] = None
        self.sub_id: Optional[int] = None
        self.chan_id: Optional[int] = None

    def set_callbacks(self, callbacks: List[Callback]) -> None:
        self.callbacks = callbacks
        if len(callbacks) == 1:
            self.deliver = callbacks[0]
        else:
            def fan_out(event: Any, _cbs=tuple(callbacks)) -> None:
                for cb in _cbs:
                    cb(event)
            self.deliver = fan_out


def _ignore(_event: Any) -> None:
    pass


class _Link(Link):
    """One Bitfinex connection: replays conf, auth and subscriptions on every open."""

    def __init__(self, client: "WssClient", name: str, url: str, *, auth: bool) -> None:
        host = urlsplit(url).hostname
        limit = _OPEN_LIMITS.get(host)
        pacer = shared_pacer(host, limit[0], limit[1], client._get_reactor()) if limit else None
        super().__init__(client, name, url, open_pacer=pacer)
        self.auth = auth
        self.subs: Dict[int, _Subscription] = {}
        self.authenticated = False
        # Order requests wait for authentication, not just for the socket.
        self.order_outbox: List[Any] = []

    def send_order(self, frame: Any) -> None:
        """Send once authenticated; queued requests go out in order."""
        if self.authenticated and self.conn.send(frame):
            return
        self.order_outbox.append(frame)

    def add(self, sub: _Subscription) -> None:
        self.subs[id(sub)] = sub
        sub.link = self
        if self.session is not None:
            self._subscribe(sub)

    def remove(self, sub: _Subscription) -> None:
        self.subs.pop(id(sub), None)
        if self.session is not None:
            if sub.chan_id is not None:
                self.session.forget(sub.chan_id)
                self.conn.send(bfx.unsubscribe_request(sub.chan_id))
            elif sub.sub_id is not None:
                self.session.cancel_pending(sub.sub_id)
        sub.link = sub.chan_id = sub.sub_id = None

    def _subscribe(self, sub: _Subscription) -> None:
        sub.sub_id = self.client._next_sub_id()
        sub.chan_id = None
        self.session.expect(sub.sub_id, sub.spec, sub.deliver, raw=self.client.raw, book=sub.book)
        self.conn.send(sub.spec.subscribe_request(sub.sub_id))

    def resubscribe(self, sub: _Subscription) -> None:
        """Drop one channel and subscribe it again (fresh snapshot)."""
        if self.session is None:
            return
        if sub.chan_id is not None:
            self.session.forget(sub.chan_id)
            self.conn.send(bfx.unsubscribe_request(sub.chan_id))
        elif sub.sub_id is not None:
            self.session.cancel_pending(sub.sub_id)
        self._subscribe(sub)

    # -- Link hooks ---------------------------------------------------------------------
    def new_session(self) -> bfx.BitfinexSession:
        return bfx.BitfinexSession(self._control, seq_all=self.client.seq_all)

    def replay(self, conn: WebSocketConnection, session: bfx.BitfinexSession) -> None:
        client = self.client
        if client.conf_flags:
            conn.send(bfx.conf_request(client.conf_flags))
        if self.auth:
            try:
                frame = client._auth_request()
            except LocalProtocolError as exc:
                # A nonce that cannot be made (past Bitfinex's cap) must be
                # reported, not lost on the reactor thread.
                err = AuthenticationError(None, f"cannot authenticate: {exc}")
                client._emit_error(err)
                client._fail_pending(err)
                self.order_outbox.clear()
            else:
                session.expect_auth(client._auth_deliver, raw=client.raw)
                conn.send(frame)
        for sub in list(self.subs.values()):
            self._subscribe(sub)

    def closed(self, reason: str) -> None:
        was_authenticated, self.authenticated = self.authenticated, False
        if self.auth and was_authenticated:
            self.client._orders_in_doubt()

    def connection_gave_up(self, conn: WebSocketConnection, reason: str) -> None:
        super().connection_gave_up(conn, reason)
        if self.auth:
            self.client._fail_pending(ConnectionLost(reason))

    # -- protocol control events -------------------------------------------------------
    def _control(self, event: Any) -> None:
        client = self.client
        kind = type(event)
        if kind is bfx.Subscribed:
            sub = self._sub_by_sub_id(event.sub_id)
            if sub is not None:
                sub.chan_id = event.chan_id
            client._emit_event(event)
        elif kind is bfx.AuthOk:
            self.authenticated = True
            client._emit_state("authenticated", self.name)
            outbox, self.order_outbox = self.order_outbox, []
            for frame in outbox:
                self.conn.send(frame)
        elif kind is bfx.AuthFailed:
            err = AuthenticationError(event.code, event.msg, event.raw)
            client._emit_error(err)
            client._fail_pending(err)
            self.order_outbox.clear()
        elif kind is bfx.InfoEvent:
            self._info(event)
        elif kind is bfx.ErrorEvent:
            sub = self._sub_by_sub_id(event.sub_id) if event.sub_id is not None else None
            if sub is not None:
                client._emit_error(SubscriptionError(event.code, f"{sub.spec.label}: {event.msg}",
                                                     event.raw))
            else:
                client._emit_error(ExchangeError(event.code, event.msg, event.raw))
        elif kind is bfx.ChecksumFailed:
            sub = self._sub_by_chan_id(event.chan_id)
            label = sub.spec.label if sub else f"channel {event.chan_id}"
            client.stats.checksum_mismatches += 1
            client._emit_error(ChecksumMismatch(
                f"{label}: checksum {event.computed} != server {event.expected}; resubscribing"))
            if sub is not None:
                self.resubscribe(sub)
        elif kind is bfx.SequenceGapEvent:
            client.stats.sequence_gaps += 1
            client._emit_error(SequenceGap(
                f"{self.name}: expected seq {event.expected}, got {event.got}; reconnecting"))
            self.conn.drop("sequence gap")
        elif kind is bfx.MalformedFrame:
            client._protocol_error(f"{self.name}: {event.reason}", event.raw)
        elif kind is bfx.UnknownChannel:
            log.debug("%s: frame for unknown channel %s", self.name, event.chan_id)
        else:  # Unsubscribed, Pong, ConfAck and what else the session reports
            if kind is bfx.ConfAck and event.status != "OK":
                client._emit_error(ExchangeError(None, f"conf {event.flags} refused", event.raw))
            client._emit_event(event)

    def _info(self, event: Any) -> None:
        client = self.client
        code = event.code
        client._emit_event(event)
        if code is None:
            if event.version is not None and event.version != 2:
                client._emit_error(RemoteProtocolError(
                    f"{self.name}: server speaks API version {event.version}, not 2"))
        elif code == _INFO_RECONNECT:
            self.conn.drop("server asked to reconnect (20051)")
        elif code == _INFO_MAINTENANCE_START:
            client._paused = True
            client._emit_state("paused", self.name, "maintenance (20060)")
        elif code == _INFO_MAINTENANCE_END:
            client._paused = False
            client._emit_state("resumed", self.name, "maintenance ended (20061)")
            for sub in list(self.subs.values()):
                self.resubscribe(sub)

    def _sub_by_sub_id(self, sub_id: Any) -> Optional[_Subscription]:
        for sub in self.subs.values():
            if sub.sub_id == sub_id:
                return sub
        return None

    def _sub_by_chan_id(self, chan_id: int) -> Optional[_Subscription]:
        for sub in self.subs.values():
            if sub.chan_id == chan_id:
                return sub
        return None


class WssClient(BaseClient):
    """Threaded, callback-driven Bitfinex WebSocket v2 client.

    Create one, register callbacks, ``start()``; every method is safe from any
    thread and before the socket is open (requests wait for their connection,
    order operations also for authentication).

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
        raw: deliver decoded frames (lists) instead of typed models.
        checksum: ask for ``OB_CHECKSUM`` and verify every book (default True).
        seq_all: ask for ``SEQ_ALL`` and resync the connection on a gap.
        nonce_factory: makes each auth nonce instead of the µs generator (an int
            or its decimal text, fraction allowed; it must increase per key).
            ``exchange_wss.compat.bitfinex_v2`` uses it for bitfinex-v2's nonces.
        calc_on_auth: send ``calc: 1`` with the auth request (wallet AVAILABLE
            computed in the snapshot).
        **options: the hooks ``on_event`` and ``on_error`` (see
            :class:`~exchange_wss._facade.BaseClient`) and the reliability
            settings ``ping_interval``, ``ping_timeout``, ``reconnect_delay``,
            ``max_reconnect_delay``, ``max_reconnect``, ``stale_timeout``,
            ``open_timeout``, ``tls_options``, ``fast_path`` (see
            :class:`~exchange_wss.connection.ConnectionOptions`).
    """

    venue = Venue("bitfinex")

    def __init__(self, key: Optional[str] = None, secret: Optional[str] = None,
                 nonce_multiplier: float = 1.0, *, url: Optional[str] = None,
                 public_url: Optional[str] = None, channels_per_connection: int = 25,
                 raw: bool = False, checksum: bool = True, seq_all: bool = False,
                 nonce_factory: Optional[Callable[[], Any]] = None, calc_on_auth: bool = False,
                 **options: Any) -> None:
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
        self._subs: Dict[ChannelSpec, _Subscription] = {}
        self._public_links: List[_Link] = []
        self._auth_link: Optional[_Link] = None
        self._auth_callbacks: List[Callback] = []
        self._auth_filters: Optional[List[str]] = None
        self._auth_dms = False
        self._sub_ids = itertools.count(1)
        self._link_names = itertools.count(0)
        self._pending: Dict[int, Future] = {}
        self._in_doubt: Dict[int, Future] = {}
        self._paused = False
        self._calc_pacer: Optional[Pacer] = None

    def __repr__(self) -> str:
        key = f"{self.key[:4]}…" if self.key else None
        return (f"<WssClient key={key!r} url={self.url!r} public_url={self.public_url!r} "
                f"subscriptions={len(self._subs)} running={self.running}>")

    # -- subscriptions ------------------------------------------------------------
    def subscribe_to_ticker(self, symbol: str, callback: Callback) -> str:
        """Subscribe to a ticker; ``callback`` gets :class:`~exchange_wss.models.Ticker`
        (or :class:`~exchange_wss.models.FundingTicker` for ``f`` symbols).

        Returns:
            The subscription's identifier, for :meth:`unsubscribe`.
        """
        return self._subscribe(ChannelSpec.ticker(symbol), callback)

    def subscribe_to_trades(self, symbol: str, callback: Callback) -> str:
        """Subscribe to public trades: a :class:`~exchange_wss.models.TradesSnapshot`,
        then :class:`~exchange_wss.models.Trade` events (``kind`` ``te`` and ``tu``)."""
        return self._subscribe(ChannelSpec.trades(symbol), callback)

    def subscribe_to_orderbook(self, symbol: str, precision: str, callback: Callback,
                               length: int = 25, frequency: str = "F0") -> str:
        """Subscribe to an order book; the client maintains it (see :meth:`order_book`).

        ``callback`` gets a :class:`~exchange_wss.models.BookSnapshot`, then
        :class:`~exchange_wss.models.BookUpdate` (raw books: ``RawBookUpdate``).

        Args:
            symbol: e.g. ``"tBTCUSD"`` (``"BTCUSD"`` works too).
            precision: ``P0``..``P4`` or ``R0`` (raw).
            length: 1, 25, 100 or 250 levels per side.
            frequency: ``F0`` (realtime) or ``F1`` (every 2 s).
        """
        return self._subscribe(ChannelSpec.book(symbol, precision, frequency, length), callback)

    def subscribe_to_candles(self, symbol: str, timeframe: str, callback: Callback) -> str:
        """Subscribe to candles: a :class:`~exchange_wss.models.CandlesSnapshot`
        (oldest first), then :class:`~exchange_wss.models.Candle` updates."""
        return self._subscribe(ChannelSpec.candles(symbol, timeframe), callback)

    def subscribe_to_status(self, key: str, callback: Callback) -> str:
        """Subscribe to a status channel, e.g. ``"deriv:tBTCF0:USTF0"`` or ``"liq:global"``."""
        return self._subscribe(ChannelSpec.status(key), callback)

    def unsubscribe(self, subscription: str) -> None:
        """Unsubscribe (all callbacks of) a subscription returned by ``subscribe_to_*``."""
        spec = self._spec_by_label(subscription)
        self._call(self._unsubscribe, spec)

    def _subscribe(self, spec: ChannelSpec, callback: Callback) -> str:
        if not callable(callback):
            raise LocalProtocolError("callback must be callable")
        self._call(self._add_subscription, spec, self._safe(callback, spec.label))
        return spec.label

    def _spec_by_label(self, label: str) -> ChannelSpec:
        for spec in list(self._subs):
            if spec.label == label:
                return spec
        raise LocalProtocolError(f"no subscription {label!r}")

    def _add_subscription(self, spec: ChannelSpec, deliver: Callback) -> None:
        sub = self._subs.get(spec)
        if sub is not None:
            # A second callback for the same channel: fan out, no second subscribe.
            sub.set_callbacks(sub.callbacks + [deliver])
            if sub.link is not None and sub.chan_id is not None:
                sub.link.resubscribe(sub)  # so the new callback gets a snapshot too
            return
        book = OrderBook(spec.symbol, kind="raw" if spec.is_raw_book else "price",
                         funding=spec.is_funding) if spec.is_book else None
        sub = _Subscription(spec, book)
        sub.set_callbacks([deliver])
        self._subs[spec] = sub
        link = self._public_link_with_room()
        link.add(sub)

    def _public_link_with_room(self) -> _Link:
        for link in self._public_links:
            if len(link.subs) < self.channels_per_connection:
                return link
        link = _Link(self, f"public-{next(self._link_names)}", self.public_url, auth=False)
        self._public_links.append(link)
        if self._started and not self._stopped:
            link.conn.start()
        return link

    def _unsubscribe(self, spec: ChannelSpec) -> None:
        sub = self._subs.pop(spec, None)
        if sub is None or sub.link is None:
            return
        link = sub.link
        link.remove(sub)
        if not link.subs and link in self._public_links:
            self._public_links.remove(link)
            link.stop()

    def _next_sub_id(self) -> int:
        return next(self._sub_ids)

    def order_book(self, symbol: str, precision: str = "P0") -> models.BookSnapshot:
        """Return a consistent copy of the maintained book of a subscribed channel.

        Returns:
            :class:`~exchange_wss.models.BookSnapshot` with ``bids`` and ``asks``
            best first; levels ``(price, count, amount)`` (raw books
            ``(order_id, price, amount)``).

        Raises:
            LocalProtocolError: no book subscription for that symbol and precision.
        """
        symbol = order_symbol(symbol)
        for spec, sub in list(self._subs.items()):
            if spec.is_book and spec.symbol == symbol and spec.prec == precision:
                book = sub.book
                return self._call_and_wait(
                    lambda: models.BookSnapshot(symbol, book.bids, book.asks, None,
                                                bfx.snapshot_kind(book.kind, book.funding)))
        raise LocalProtocolError(f"no order book subscription for {symbol} {precision}")

    # -- authenticated channel --------------------------------------------------------
    def authenticate(self, callback: Optional[Callback] = None, filters: Optional[List[str]] = None,
                     dms: bool = False) -> None:
        """Authenticate on a connection of its own; account events go to ``callback``.

        Args:
            callback: gets :class:`~exchange_wss.models.Snapshot`, ``Order``,
                ``Fill``, ``Wallet``, ``Position`` and ``Notification`` events
                (decoded frames with ``raw=True``).
            filters: Bitfinex auth filters, e.g. ``["trading", "wallet"]``.
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
        self._call(self._authenticate, deliver, list(filters) if filters else None, bool(dms))

    def _authenticate(self, deliver: Optional[Callback], filters, dms: bool) -> None:
        if deliver is not None:
            self._auth_callbacks.append(deliver)
        self._auth_filters = filters
        self._auth_dms = dms
        self._ensure_auth_link()

    def _ensure_auth_link(self) -> _Link:
        if self._auth_link is None:
            self._auth_link = _Link(self, "auth", self.url, auth=True)
            if self._started and not self._stopped:
                self._auth_link.conn.start()
        return self._auth_link

    def _auth_request(self) -> Dict[str, Any]:
        # A fresh, larger nonce on every (re)connect: re-sending an old one is
        # refused with "nonce: small".
        nonce = (self._nonce_factory() if self._nonce_factory is not None
                 else self._nonces.next(self.key))
        return bfx.auth_request(self.key, self._secret, nonce, filters=self._auth_filters,
                                dms=self._auth_dms, calc=self.calc_on_auth)

    def _require_credentials(self) -> None:
        if self.key is None:
            raise LocalProtocolError("this needs an API key and secret: WssClient(key, secret)")

    def _auth_deliver(self, event: Any) -> None:
        """Chan-0 events: settle order futures first, then the user's callbacks."""
        if self._pending or self._in_doubt:
            self._settle_from(event)
        for cb in self._auth_callbacks:
            cb(event)

    # -- orders ----------------------------------------------------------------------
    @staticmethod
    def new_order_op(order_type: str, symbol: str, amount: Any, price: Any = None,
                     price_trailing: Any = None, price_aux_limit: Any = None,
                     price_oco_stop: Any = None, hidden: bool = False, flags: Any = None,
                     tif: Optional[str] = None, set_cid: bool = True, **extra: Any) -> Dict[str, Any]:
        """Build a new-order operation for :meth:`multi_order` (nothing is sent).

        Args:
            order_type: e.g. ``"EXCHANGE LIMIT"``; types without ``EXCHANGE``
                trade on margin.
            symbol: ``"tBTCUSD"`` or ``"BTCUSD"``.
            amount: positive buys, negative sells (str, float, int or Decimal).
            price: limit or stop price (not for market orders).
            price_trailing, price_aux_limit, price_oco_stop: as Bitfinex defines them.
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
        for a Future.
        """
        payload = self.new_order_op(order_type, symbol, amount, price, **kwargs)
        self._send_order("on", payload)
        return payload["cid"]

    def submit_order(self, order_type: str, symbol: str, amount: Any, price: Any = None,
                     **kwargs: Any) -> Future:
        """Place an order and return a Future of its fate.

        The Future resolves to the accepted :class:`~exchange_wss.models.Order`
        when the exchange's ``on-req`` notification says SUCCESS, or raises
        :class:`~exchange_wss.errors.OrderRejected` with the exchange's text.
        If the connection drops first, it is settled from the order snapshot
        after re-authenticating: resolved if the order is there, else
        :class:`~exchange_wss.errors.OrderStateUnknown`. The order is never
        re-sent.
        """
        payload = self.new_order_op(order_type, symbol, amount, price, **kwargs)
        future: Future = Future()
        future.cid = payload["cid"]
        self._check_can_order()
        self._call(self._submit, payload, future)
        return future

    def _submit(self, payload: Dict[str, Any], future: Future) -> None:
        self._pending[payload["cid"]] = future
        self._ensure_auth_link().send_order(bfx.input_frame("on", payload))

    def multi_order(self, operations: Iterable[Any]) -> List[Optional[int]]:
        """Send several operations at once (``ox_multi``, at most 75).

        Args:
            operations: dicts from :meth:`new_order_op` (new orders), ``{"id": N}``
                or ``{"cid": C, "cid_date": "YYYY-MM-DD"}`` (cancels), or explicit
                ``["on"|"oc"|"oc_multi"|"ou", {...}]`` pairs.

        Returns:
            The cid of each operation, None where it has none.
        """
        ops = bfx.multi_payload(list(operations))
        self._send_order("ox_multi", ops)
        return [payload.get("cid") if isinstance(payload, dict) else None for _op, payload in ops]

    def cancel_order(self, order_id: int) -> None:
        """Cancel an order by its exchange id."""
        self._send_order("oc", bfx.cancel_payload(order_id))

    def cancel_order_cid(self, order_cid: int, order_date: Optional[str] = None) -> None:
        """Cancel an order by client id and the UTC date of that id (default: from the cid)."""
        if order_date is None:
            order_date = cid_to_date(order_cid)
        self._send_order("oc", bfx.cancel_cid_payload(order_cid, order_date))

    def update_order(self, **order_settings: Any) -> None:
        """Update an order: ``id`` and any of price, amount, delta, price_aux_limit,
        price_trailing, tif, flags..."""
        self._send_order("ou", bfx.update_payload(**order_settings))

    def calc(self, *calculations: Any) -> None:
        """Ask for calculations, e.g. ``calc("margin_sym_tBTCUSD", "wallet_exchange_USD")``.

        Sent as ``[0,"calc",null,[["margin_sym_tBTCUSD"],["wallet_exchange_USD"]]]``;
        at most 30 per call. Results arrive on the authenticated callback.
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
        self._calc_pacer.call(link.send_order, frame)

    def _send_order(self, op: str, payload: Any) -> None:
        self._check_can_order()
        self._call(self._send_order_now, bfx.input_frame(op, payload))

    def _send_order_now(self, frame: Any) -> None:
        self._ensure_auth_link().send_order(frame)

    def _check_can_order(self) -> None:
        self._require_credentials()
        if self._paused:
            raise ExchangePaused("Bitfinex is in maintenance (20060); order operations are refused")

    def ping(self, channel: str = "auth") -> int:
        """Send an application ping on a connection (``"auth"`` or ``"public-0"``...).

        Returns:
            The ping's cid; the :class:`~exchange_wss.bitfinex.protocol.Pong`
            arrives on ``on_event``.
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
        link.send(bfx.ping_request(cid))

    # -- order futures ----------------------------------------------------------------
    def _settle_from(self, event: Any) -> None:
        if self.raw:
            event = bfx.parse_auth_frame(event)
            if event is None:
                return
        if isinstance(event, models.Notification):
            if event.type == "on-req" and isinstance(event.data, models.Order):
                future = self._pending.pop(event.data.cid, None) or self._in_doubt.pop(
                    event.data.cid, None)
                if future is not None and not future.done():
                    if event.status == "SUCCESS":
                        future.set_result(event.data)
                    else:
                        future.set_exception(OrderRejected(event.text, raw=event.raw,
                                                           notification=event))
        elif isinstance(event, models.Snapshot) and event.kind == "os" and self._in_doubt:
            open_orders = {o.cid: o for o in event.items if isinstance(o, models.Order)}
            in_doubt, self._in_doubt = self._in_doubt, {}
            for cid, future in in_doubt.items():
                if future.done():
                    continue
                order = open_orders.get(cid)
                if order is not None:
                    future.set_result(order)
                else:
                    future.set_exception(OrderStateUnknown(
                        f"order cid {cid}: connection lost before its acknowledgement and "
                        "it is not among the open orders after reconnecting"))

    def _orders_in_doubt(self) -> None:
        # Requests already sent may or may not have reached the exchange; the
        # order snapshot after re-auth tells. Never re-send them.
        self._in_doubt.update(self._pending)
        self._pending.clear()

    def _fail_pending(self, error: BaseException) -> None:
        for table in (self._pending, self._in_doubt):
            futures, table_copy = list(table.values()), table
            table_copy.clear()
            for future in futures:
                if not future.done():
                    future.set_exception(error)

    # -- lifecycle ------------------------------------------------------------------------
    def _links(self) -> List[_Link]:
        links = list(self._public_links)
        if self._auth_link is not None:
            links.append(self._auth_link)
        return links

    def _start_connections(self) -> None:
        for link in self._links():
            link.conn.start()

    def _stop_connections(self):
        from twisted.internet import defer
        self._fail_pending(ClientStopped("the client was stopped"))
        if self._calc_pacer is not None:
            self._calc_pacer.clear()
        return defer.DeferredList([link.stop() for link in self._links()],
                                  consumeErrors=True)

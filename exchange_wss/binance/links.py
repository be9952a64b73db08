"""The three kinds of Binance connection of ``BinanceWssClient``, each a
:class:`~exchange_wss._link.Link`.

- :class:`MarketLink`: combined market streams, subscribed in paced batches;
- :class:`ApiLink`: the WebSocket API (Spot user data, orders for every market);
- :class:`UserStreamLink`: futures and margin user data on a listenKey stream,
  the key created and kept alive over REST (off the reactor thread).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from twisted.internet import defer

from .._link import Link
from .._requests import Request
from .._session import RequestAnswered
from .._subscriptions import Subscription
from ..connection import WebSocketConnection
from ..errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeWssError,
    RemoteProtocolError,
    RestError,
)
from ..pacing import Pacer
from . import protocol as bn
from .session import BinanceSession

__all__ = ["MarketLink", "ApiLink", "UserStreamLink", "frame_key"]

log = logging.getLogger("exchange_wss.binance")

#: Streams per SUBSCRIBE message (Binance takes up to 200 per request... and
#: 1024 per connection, 200 on futures: see ``bn.MAX_STREAMS``).
_BATCH = 200


def frame_key(msg: Any) -> Any:
    """``(stream, identity)`` of a Binance frame across two connections (None:
    the connection's own, e.g. an answer to a request).

    Stream frames and account events are byte-identical on both sockets; the
    WebSocket API wraps events with a per-connection subscriptionId, so the
    event inside is the key.
    """
    if msg.__class__ is not dict or "id" in msg:
        return None
    stream = msg.get("stream")
    if stream.__class__ is str:
        return (stream, orjson.dumps(msg.get("data")))
    if "subscriptionId" in msg:
        return ("user", orjson.dumps(msg.get("event")))
    return ("user", orjson.dumps(msg))


class MarketLink(Link):
    """A combined-stream connection: subscribes its streams in batches on every open."""

    def __init__(self, client: Any, name: str, url: str, route: str | None) -> None:
        super().__init__(client, name, url)
        self.route = route
        # Binance counts every incoming message (control JSON, pings and pongs)
        # against a per-second limit and closes the connection beyond it: pace
        # them, never drop. Headroom: one message a window is left for pongs,
        # and the window is 10% longer than a second, since the server measures
        # arrival times that network jitter moves.
        self.pacer = Pacer(max(1, bn.CONTROL_RATE[client.market] - 1), 1.1,
                           client._get_reactor())
        self._batch: list[Subscription] = []
        self._batch_call: Any = None

    def new_session(self) -> BinanceSession:
        """A Binance session for this combined-stream connection."""
        return BinanceSession(self.control, market=self.client.market, raw=self.client.raw)

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> list[Any]:
        """The names of the streams this connection carries."""
        return [sub.spec for sub in self.subs]

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """Subscribe every stream of this connection again, in paced batches."""
        if self.retiring is None:
            # A reconnect may have lost diffs: start over from a snapshot. A
            # rotation loses none (the old socket delivers until the new one
            # runs), so the books carry on.
            for sub in self.subs:
                if sub.extra is not None:
                    sub.extra.reset()

    # -- the SubscriptionSet's port: batched, paced control messages -------------------
    def send_subscribe(self, sub: Subscription) -> bool:
        """Subscribe ``sub``'s stream (batched with others made meanwhile); False if closed."""
        if self.session is None:
            return False
        self._batch.append(sub)
        if self._batch_call is None:
            # Subscriptions made together (a replay, a burst of calls) go in one
            # SUBSCRIBE: Binance counts messages, not streams.
            self._batch_call = self.client._get_reactor().callLater(0, self._flush_batch)
        return True

    def _flush_batch(self) -> None:
        self._batch_call = None
        batch, self._batch = self._batch, []
        session = self.session
        if session is None:
            return  # closed meanwhile: the lifecycle replays them on the next open
        for i in range(0, len(batch), _BATCH):
            chunk = batch[i:i + _BATCH]
            targets = [sub.extra if sub.extra is not None else sub for sub in chunk]
            frame = session.subscribe(chunk, targets)
            self.pacer.call(self._write, session, frame)

    def send_unsubscribe(self, sub: Subscription) -> bool | None:
        """Unsubscribe ``sub``'s stream; None when the server never confirmed it here."""
        session = self.session
        if session is None:
            return None
        frame = session.unsubscribe(sub)
        if frame is None:
            return None
        self.pacer.call(self._write, session, frame)
        return True

    def _write(self, session: Any, frame: Any) -> None:
        if self.session is session:
            self.conn.send(frame)

    def closed(self, reason: str) -> None:
        """The connection was lost: drop its unsent batch and paced control messages."""
        self.pacer.clear()
        self._batch.clear()
        if self._batch_call is not None and self._batch_call.active():
            self._batch_call.cancel()
        self._batch_call = None

    def exchange_event(self, event: Any) -> None:
        """Route a Binance control event (subscription answers, errors) to the client."""
        self.client._binance_event(self, event)


class ApiLink(Link):
    """The WebSocket API: ``session.logon`` (Ed25519 keys), Spot user data and its
    account snapshot, requests (signed, or unsigned once logged on) and the
    order queries that settle requests in doubt."""

    def __init__(self, client: Any, url: str) -> None:
        super().__init__(client, "api", url)
        #: True once ``session.logon`` succeeded on the current connection.
        self.logged_on = False
        #: The last refusal of ``session.logon`` (requests fail as not sent meanwhile).
        self.logon_error: BaseException | None = None
        self._logon_timer: Any = None
        #: The Spot user-data subscription's answer on this connection (None: none yet).
        self.user_data_ok: bool | None = None

    def new_session(self) -> BinanceSession:
        """A Binance session for the WebSocket API connection."""
        return BinanceSession(self.control, market=self.client.market)

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> list[Any]:
        """The WebSocket API carries no market streams."""
        return ["user"] if self.client._user_data_wanted and self.client.market == "spot" else []

    def ready(self) -> bool:
        """True when requests may be written: open, and logged on where that is used."""
        return self.session is not None and (self.logged_on or not self.client._logon)

    # -- on every open: logon first, then user data, then what waited ---------------------
    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """On an open: log on (Ed25519 keys) and subscribe to user data where asked."""
        self.logged_on = False
        client = self.client
        if not client._logon:
            self.subscribe_user_data(conn, session)
            return
        # One logon per connection, before anything else is written on it.
        rid = session.next_id()
        session.expect_response(rid, lambda result, error: self._logon_answered(
            conn, session, result, error))
        conn.send(bn.session_logon_request(client.key, client._secret, client._timestamp(),
                                           rid, client.recv_window))
        self._cancel_logon_timer()
        self._logon_timer = client._get_reactor().callLater(
            client.subscription_timeout, self._logon_timed_out, session)

    def _logon_answered(self, conn: WebSocketConnection, session: Any, result: Any,
                        error: Any) -> None:
        self._cancel_logon_timer()
        if session is not self.session:
            return
        client = self.client
        if error is not None:
            err = AuthenticationError(getattr(error, "code", None),
                                      f"session.logon refused: {getattr(error, 'msg', error)}",
                                      getattr(error, "raw", None))
            self.logon_error = err
            client._emit_error(err)
            self._fail_queued(f"session.logon was refused ({err})")
            return
        self.logon_error = None
        self.logged_on = True
        client._emit_state("logged on", self.name)
        self.subscribe_user_data(conn, session)
        self.flush_requests()

    def _logon_timed_out(self, session: Any) -> None:
        self._logon_timer = None
        if session is self.session and not self.logged_on:
            self.client._emit_error(AuthenticationError(
                None, f"session.logon not answered within {self.client.subscription_timeout:g}s; "
                      "reconnecting"))
            self.conn.drop("session.logon not answered")

    def _cancel_logon_timer(self) -> None:
        if self._logon_timer is not None and self._logon_timer.active():
            self._logon_timer.cancel()
        self._logon_timer = None

    def _fail_queued(self, why: str) -> None:
        registry = self.client.requests
        for request in registry.queued():
            if registry.claim(request):
                registry.not_written(request, why)

    def submit(self, request: Request) -> None:
        """Write ``request`` once the connection is ready (it waits within its deadline)."""
        if self.session is not None and not self.ready() and self.logon_error is not None:
            registry = self.client.requests
            registry.arm(request)
            if registry.claim(request):
                registry.not_written(request, f"session.logon was refused ({self.logon_error})")
            return
        # Otherwise the base waits while the logon is on its way.
        super().submit(request)

    def flush_requests(self) -> None:
        """The connection became ready: write the requests that waited, oldest first."""
        super().flush_requests()
        self.client._in_doubt.link_ready()

    # -- Spot user data and its snapshot -----------------------------------------------------
    def subscribe_user_data(self, conn: WebSocketConnection, session: Any) -> None:
        """Subscribe this connection to the account's user data (Spot's WebSocket API)."""
        client = self.client
        if not (client._user_data_wanted and client.market == "spot"):
            return
        session.expect_user_data(client._account.live, raw=client.raw)
        rotating = self.retiring is not None
        if not rotating:
            # Live events wait for the snapshot (a rotation loses none: no new snapshot).
            client._account.hold()
        rid = session.next_id()
        session.expect_response(rid, lambda result, error: self._user_data_subscribed(
            conn, session, error, not rotating))
        key, secret = client._request_auth()
        if key is None:
            frame = bn.ws_api_request("userDataStream.subscribe", None, rid)
        else:
            frame = bn.user_data_subscribe_request(key, secret, client._timestamp(), rid,
                                                   client.recv_window)
        if not conn.send(frame):
            session.cancel_response(rid)
            client._account.release()

    def _user_data_subscribed(self, conn: WebSocketConnection, session: Any, error: Any,
                              load: bool) -> None:
        client = self.client
        if session is self.session:
            self.user_data_ok = error is None
        if error is not None:
            client._emit_error(error)
            client._account.release()
            return
        client._emit_state("user data subscribed", self.name)
        if load and session is self.session:
            self._load_snapshot(conn, session)

    def _load_snapshot(self, conn: WebSocketConnection, session: Any) -> None:
        """``account.status`` and ``openOrders.status``: the Spot account now."""
        client = self.client
        got: dict = {}
        key, secret = client._request_auth()
        frames = {}
        for name, build in (("account", bn.account_status_request),
                            ("orders", bn.open_orders_status_request)):
            rid = session.next_id()
            frames[name] = build(key, secret, client._timestamp(), rid,
                                 recv_window=client.recv_window)

            def answered(result: Any, error: Any, name: str = name) -> None:
                got[name] = (result, error)
                if len(got) == 2 and session is self.session:
                    self._snapshot_loaded(got)
            session.expect_response(rid, answered)
        for frame in frames.values():
            if not conn.send(frame):
                client._account.release()
                return

    def _snapshot_loaded(self, got: dict) -> None:
        client = self.client
        errors = [e for _r, e in got.values() if e is not None]
        if errors:
            client._account_snapshot_failed(errors[0])
            return
        snap = bn.spot_account_snapshot(got["account"][0], got["orders"][0], client.market)
        client._account_snapshot_loaded(snap)

    # -- requests -------------------------------------------------------------------------
    def owns(self, request: Request) -> bool:
        """True: every request of a Binance client is written on this connection."""
        return True

    def auth_state(self) -> str:
        """``"ok"``, ``"pending"``, ``"failed"`` or ``"none"``: logon or user-data answer."""
        # Without session.logon orders are signed one by one: only the Spot user-data
        # subscription authenticates the connection itself.
        client = self.client
        if client._logon:
            if self.logged_on and self.session is not None:
                return "ok"
            return "failed" if self.logon_error is not None else "pending"
        if not (client._user_data_wanted and client.market == "spot"):
            return "none"
        if self.user_data_ok is None or self.session is None:
            return "pending"
        return "ok" if self.user_data_ok else "failed"

    def write_request(self, request: Request, frame: Any = None) -> bool:
        """Write one queued request with this connection's id; whether the bytes left."""
        # The id is this connection's: the session stamps it on a copy.
        session = self.session
        if session is None:
            return super().write_request(request)
        return super().write_request(request, session.request(request.key, request.frame))

    def in_doubt(self, requests: list[Request], reason: str) -> None:
        """Ask the exchange about each request (see :mod:`.in_doubt`): Spot with
        ``order.status`` once this link is back, futures with the REST order query now."""
        self.client._in_doubt.add(requests, reason)

    def closed(self, reason: str) -> None:
        """The connection was lost: its logon and user-data answer go with it."""
        self.user_data_ok = None
        self._cancel_logon_timer()
        self.logged_on = False
        if self.client.market == "spot":
            # Live events held for a snapshot that will not come on this connection.
            self.client._account.release()

    def exchange_event(self, event: Any) -> None:
        """Route a WebSocket API event (answers, logon, user data) to the client."""
        if type(event) is RequestAnswered:
            self.client._answered(event)
        elif isinstance(event, bn.StreamTerminated) and self.client._user_data_wanted:
            if self.session is not None:
                self.subscribe_user_data(self.conn, self.session)
            self.client._emit_event(event)
        else:
            self.client._binance_event(self, event)


class UserStreamLink(Link):
    """Futures/margin user data on a listenKey stream, with REST keepalive.

    The listenKey is a credential for the account's stream: it appears in no
    log line, event or error (connection errors name the link, not its URL).
    """

    def __init__(self, client: Any) -> None:
        # The real URL carries the listenKey, known only after the REST call.
        super().__init__(client, "user", client.endpoints.stream_url + "/ws/pending")
        self.listen_key: str | None = None
        self._keepalive: Any = None
        self._renewing = False
        self._starting = False

    def __repr__(self) -> str:
        return f"<UserStreamLink open={self.session is not None}>"

    def new_session(self) -> BinanceSession:
        """A Binance session for the listenKey user-data stream."""
        client = self.client
        session = BinanceSession(self.control, market=client.market)
        # The events the stream carries decide which event gives each trade's Fill.
        session.expect_user_data(client._account.live, raw=client.raw,
                                 events=client._user_stream_events())
        return session

    def auth_state(self) -> str:
        """``"ok"`` once a listenKey is in use, else ``"pending"``."""
        # The listenKey in the URL is the credential: open means accepted.
        return "ok" if self.session is not None else "pending"

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> list[Any]:
        """The user-data stream carries no market streams."""
        return ["user"]

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        """On an open: load the account snapshot, which the live events follow."""
        client = self.client
        if self.retiring is None and client.market in bn.FUTURES_MARKETS:
            # A new stream may have missed events: load the account, and hold the
            # stream's events until it is delivered.
            client._account.hold()
            self._load_snapshot(session)

    def _load_snapshot(self, session: Any) -> None:
        """REST account, position risk and open orders (futures)."""
        client = self.client
        market = client.market
        calls = [client._signed_rest(*bn.futures_account_request(market)),
                 client._signed_rest(*bn.futures_position_risk_request(market)),
                 client._signed_rest(*bn.futures_open_orders_request(market))]

        def loaded(results: Any) -> None:
            if session is not self.session:
                return  # this connection is gone; the next one loads its own
            account, position_risk, open_orders = results  # gatherResults of the 3 calls
            client._account_snapshot_loaded(bn.futures_account_snapshot(
                account, position_risk, open_orders, market))

        def failed(failure: Any) -> None:
            err = failure.value
            if isinstance(err, defer.FirstError):
                err = err.subFailure.value
            if session is self.session:
                client._account_snapshot_failed(_rest_error(err, "account snapshot"))

        d = defer.gatherResults(calls, consumeErrors=True)
        d.addCallback(lambda results: loaded(results))
        d.addErrback(failed)

    def closed(self, reason: str) -> None:
        """The connection was lost: release the events held for its snapshot."""
        # Live events held for a snapshot that will not come on this connection.
        self.client._account.release()

    def start(self) -> None:
        """Get a listenKey, then connect on it. Idempotent: a subscription made
        just after ``client.start()`` and ``start()`` itself may both ask."""
        if self._starting:
            return
        self._starting = True
        self._obtain_key().addCallbacks(self._start_with_key, self._key_failed)

    def _obtain_key(self) -> defer.Deferred:
        client = self.client
        path = bn.listen_key_path(client.market)
        return client._rest.call("POST", path).addCallback(_listen_key_of)

    def _start_with_key(self, key: str) -> None:
        client = self.client
        if client._stopped:
            return
        self.listen_key = key
        self.conn.set_url(self._url(key))
        self.conn.start()
        self._schedule_keepalive()

    def _url(self, key: str) -> str:
        client = self.client
        return bn.user_stream_url(client.endpoints, client.market, key,
                                  legacy=client.legacy_user_stream)

    def _key_failed(self, failure: Any) -> None:
        self._starting = False
        client = self.client
        if client._stopped:
            return
        client._emit_error(_rest_error(failure.value, "listenKey"))
        # Try again later: a user stream must not silently stay down.
        client._get_reactor().callLater(client._conn_options.reconnect_delay * 5, self.start)

    def _schedule_keepalive(self) -> None:
        interval = self.client.keepalive_interval
        self._keepalive = self.client._get_reactor().callLater(interval, self._send_keepalive)

    def _send_keepalive(self) -> None:
        client = self.client
        path = bn.listen_key_path(client.market)
        d = client._rest.call("PUT", path, {"listenKey": self.listen_key})
        d.addCallbacks(lambda _: self._schedule_keepalive(), self._keepalive_failed)

    def _keepalive_failed(self, failure: Any) -> None:
        err = failure.value
        if isinstance(err, ExchangeError) and err.code == -1125:
            self.renew("listenKey no longer exists (-1125)")
        elif not self.client._stopped:
            self.client._emit_error(_rest_error(err, "listenKey keepalive"))
            self._schedule_keepalive()

    def renew(self, reason: str) -> None:
        """Get a new listenKey and reconnect on it, keeping the subscription."""
        if self._renewing or self.client._stopped:
            return
        self._renewing = True
        log.info("user stream: %s; getting a new listenKey", reason)

        def switch(key: str) -> None:
            self._renewing = False
            self.listen_key = key
            self.conn.set_url(self._url(key))
            self.conn.drop(f"new listenKey: {reason}")
            if self._keepalive is None or not self._keepalive.active():
                self._schedule_keepalive()

        def failed(failure: Any) -> None:
            self._renewing = False
            self._key_failed(failure)

        self._obtain_key().addCallbacks(switch, failed)

    def exchange_event(self, event: Any) -> None:
        """Route a user-data control event (listenKey expired...) to the client."""
        if isinstance(event, bn.ListenKeyExpired):
            self.renew("listenKeyExpired")
        self.client._binance_event(self, event)

    def stop(self) -> defer.Deferred:
        """Stop the keepalive timer and the connection."""
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        return super().stop()


def _listen_key_of(body: Any) -> str:
    key = body.get("listenKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        raise RemoteProtocolError("the listenKey answer carries no listenKey")
    return key


def _rest_error(error: BaseException, what: str) -> ExchangeWssError:
    """A library error for whatever a REST call failed with (never a raw TypeError)."""
    if isinstance(error, (ExchangeError, RemoteProtocolError)):
        return error
    wrapped = RestError(None, f"{what}: {type(error).__name__}")
    wrapped.__cause__ = error
    return wrapped


def _ignore(_event: Any) -> None:
    pass


Answer = Callable[[Any, Any], None]

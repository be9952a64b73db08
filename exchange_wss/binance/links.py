"""The three kinds of Binance connection of ``BinanceWssClient``, each a
:class:`~exchange_wss._link.Link`:

- :class:`MarketLink`: combined market streams, subscribed in paced batches;
- :class:`ApiLink`: the WebSocket API (Spot user data, orders for every market);
- :class:`UserStreamLink`: futures and margin user data on a listenKey stream,
  the key created and kept alive over REST (off the reactor thread).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, List, Optional

import orjson
from twisted.internet import defer

from .._link import Link
from .._requests import Request
from .._session import RequestAnswered
from .._subscriptions import Subscription
from ..connection import WebSocketConnection
from ..errors import ExchangeError, RemoteProtocolError, RestError
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

    def __init__(self, client: Any, name: str, url: str, route: Optional[str]) -> None:
        super().__init__(client, name, url)
        self.route = route
        # Binance counts every incoming message (control JSON, pings and pongs)
        # against a per-second limit and closes the connection beyond it: pace
        # them, never drop. Headroom: one message a window is left for pongs,
        # and the window is 10% longer than a second, since the server measures
        # arrival times that network jitter moves.
        self.pacer = Pacer(max(1, bn.CONTROL_RATE[client.market] - 1), 1.1,
                           client._get_reactor())
        self._batch: List[Subscription] = []
        self._batch_call: Any = None

    def new_session(self) -> BinanceSession:
        return BinanceSession(self.control, market=self.client.market, raw=self.client.raw)

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> List[Any]:
        return [sub.spec for sub in self.subs]

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        if self.retiring is None:
            # A reconnect may have lost diffs: start over from a snapshot. A
            # rotation loses none (the old socket delivers until the new one
            # runs), so the books carry on.
            for sub in self.subs:
                if sub.extra is not None:
                    sub.extra.reset()

    # -- the SubscriptionSet's port: batched, paced control messages -------------------
    def send_subscribe(self, sub: Subscription) -> bool:
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

    def send_unsubscribe(self, sub: Subscription) -> Optional[bool]:
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
        self.pacer.clear()
        self._batch.clear()
        if self._batch_call is not None and self._batch_call.active():
            self._batch_call.cancel()
        self._batch_call = None

    def exchange_event(self, event: Any) -> None:
        self.client._binance_event(self, event)


class ApiLink(Link):
    """The WebSocket API: Spot user data subscription and signed requests."""

    def __init__(self, client: Any, url: str) -> None:
        super().__init__(client, "api", url)
        #: The Spot user-data subscription's answer on this connection (None: none yet).
        self.user_data_ok: Optional[bool] = None

    def new_session(self) -> BinanceSession:
        return BinanceSession(self.control, market=self.client.market)

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> List[Any]:
        return ["user"] if self.client._user_data_wanted else []

    def replay(self, conn: WebSocketConnection, session: Any) -> None:
        self.subscribe_user_data(conn, session)

    def subscribe_user_data(self, conn: WebSocketConnection, session: Any) -> None:
        client = self.client
        if client._user_data_wanted and client.market == "spot":
            session.expect_user_data(client._user_deliver, raw=client.raw)
            rid = session.next_id()
            session.expect_response(rid, client._user_data_subscribed)
            conn.send(bn.user_data_subscribe_request(client.key, client._secret,
                                                     client._timestamp(), rid))

    def owns(self, request: Request) -> bool:
        return True

    def closed(self, reason: str) -> None:
        self.user_data_ok = None

    def auth_state(self) -> str:
        # Orders are signed one by one: only the Spot user-data subscription
        # authenticates the connection itself.
        client = self.client
        if not (client._user_data_wanted and client.market == "spot"):
            return "none"
        if self.user_data_ok is None or self.session is None:
            return "pending"
        return "ok" if self.user_data_ok else "failed"

    def write_request(self, request: Request, frame: Any = None) -> bool:
        # The id is this connection's: the session stamps it on a copy.
        session = self.session
        if session is None:
            return super().write_request(request)
        return super().write_request(request, session.request(request.key, request.frame))

    def exchange_event(self, event: Any) -> None:
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
        self.listen_key: Optional[str] = None
        self._keepalive: Any = None
        self._renewing = False
        self._starting = False

    def __repr__(self) -> str:
        return f"<UserStreamLink open={self.session is not None}>"

    def new_session(self) -> BinanceSession:
        client = self.client
        session = BinanceSession(self.control, market=client.market)
        session.expect_user_data(client._user_deliver, raw=client.raw)
        return session

    def auth_state(self) -> str:
        # The listenKey in the URL is the credential: open means accepted.
        return "ok" if self.session is not None else "pending"

    frame_key = staticmethod(frame_key)

    def stream_names(self) -> List[Any]:
        return ["user"]

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
        if isinstance(event, bn.ListenKeyExpired):
            self.renew("listenKeyExpired")
        self.client._binance_event(self, event)

    def stop(self) -> defer.Deferred:
        if self._keepalive is not None and self._keepalive.active():
            self._keepalive.cancel()
        return super().stop()


def _listen_key_of(body: Any) -> str:
    key = body.get("listenKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key:
        raise RemoteProtocolError("the listenKey answer carries no listenKey")
    return key


def _rest_error(error: BaseException, what: str) -> BaseException:
    """A library error for whatever a REST call failed with (never a raw TypeError)."""
    if isinstance(error, (ExchangeError, RemoteProtocolError)):
        return error
    wrapped = RestError(None, f"{what}: {type(error).__name__}")
    wrapped.__cause__ = error
    return wrapped


def _ignore(_event: Any) -> None:
    pass


Answer = Callable[[Any, Any], None]

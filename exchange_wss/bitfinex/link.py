"""One Bitfinex connection of ``WssClient``: public channels, or the account channel.

Each :class:`BitfinexLink` is a :class:`~exchange_wss._link.Link` whose session is a
:class:`~exchange_wss.bitfinex.session.BitfinexSession`. On every open it sends
``conf`` (checksums, sequence numbers) and, on the account connection, a freshly
signed ``auth``; then its subscriptions are replayed by the shared lifecycle.
Requests (orders, cancels, updates) go out only once authenticated.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from .._link import Link
from .._requests import Request
from ..connection import WebSocketConnection
from ..errors import (
    AuthenticationError,
    ExchangeError,
    LocalProtocolError,
    RemoteProtocolError,
    SequenceGap,
)
from ..pacing import shared_pacer
from . import session as bs
from .requests import conf_request

__all__ = ["BitfinexLink"]

log = logging.getLogger("exchange_wss.bitfinex")

#: Connection opens Bitfinex allows per host and period (api 5 per 15 s, api-pub 20 per
#: minute; more is refused with HTTP 429). Other hosts (the sandbox) are not paced.
_OPEN_LIMITS = {"api.bitfinex.com": (5, 15.0), "api-pub.bitfinex.com": (20, 60.0)}

INFO_RECONNECT = 20051
INFO_MAINTENANCE_START = 20060
INFO_MAINTENANCE_END = 20061


class BitfinexLink(Link):
    """A Bitfinex connection; ``auth=True`` for the account connection."""

    def __init__(self, client: Any, name: str, url: str, *, auth: bool) -> None:
        host = urlsplit(url).hostname or ""  # no host: no limit names it
        limit = _OPEN_LIMITS.get(host)
        pacer = shared_pacer(host, limit[0], limit[1], client._get_reactor()) if limit else None
        super().__init__(client, name, url, open_pacer=pacer)
        self.auth = auth
        self.authenticated = False
        #: The server refused this connection's auth (until it closes).
        self.auth_refused = False
        # ox_multi batches handed over before the first authentication.
        self.group_outbox: list[Any] = []

    # -- Link hooks ---------------------------------------------------------------------
    def new_session(self) -> bs.BitfinexSession:
        """A Bitfinex session for this connection (auth or public)."""
        client = self.client
        return bs.BitfinexSession(self.control, seq_all=client.seq_all, raw=client.raw)

    def replay(self, conn: WebSocketConnection, session: bs.BitfinexSession) -> None:
        """On an open: send the conf flags, and authenticate the auth connection."""
        client = self.client
        if client.conf_flags:
            conn.send(conf_request(client.conf_flags))
        if self.auth:
            try:
                frame = client._auth_request()
            except LocalProtocolError as exc:
                # A nonce that cannot be made (past Bitfinex's cap) is an auth
                # failure to report, not an exception lost on the reactor thread.
                self.control(bs.AuthFailed(None, f"cannot authenticate: {exc}", None))
                return
            session.expect_auth(client._auth_deliver)
            conn.send(frame)

    def ready(self) -> bool:
        """True when requests may be written: the connection is open and authenticated."""
        return self.authenticated and self.session is not None

    def owns(self, request: Request) -> bool:
        """True when ``request`` is written here: orders go on the auth connection."""
        return self.auth  # requests go out on the account connection only

    def closed(self, reason: str) -> None:
        """The connection was lost: its authentication goes with it."""
        self.authenticated = False
        self.auth_refused = False

    def auth_state(self) -> str:
        """``"none"`` (public), ``"pending"``, ``"ok"`` or ``"failed"``."""
        if not self.auth:
            return "none"
        if self.authenticated:
            return "ok"
        return "failed" if self.auth_refused else "pending"

    def in_doubt(self, requests: list[Request], reason: str) -> None:
        """Settle the requests the lost connection left unanswered, from the next snapshot."""
        # Settled by the order snapshot after the next authentication (see
        # WssClient._settle_in_doubt), or by their deadline.
        log.info("%s: %d request(s) in doubt until the order snapshot: %s", self.name,
                 len(requests), reason)

    def send_group(self, items: list[Any]) -> None:
        """Write an ``ox_multi`` batch: ``items`` are ``(op, payload, request)``,
        the request (a new order's) or None. Before the first authentication
        it waits; when it goes, operations whose request was settled meanwhile
        (deadline, cancelled future) are left out, so nothing said to be unsent
        is ever sent."""
        if self.ready():
            self._write_group(items)
        elif self.was_ready:
            self._group_not_sent(items, f"{self.name} connection is down (reconnecting)")
        else:
            self.group_outbox.append(items)

    def _write_group(self, items: list[Any]) -> None:
        registry = self.client.requests
        ops, claimed = [], []
        for op, payload, request in items:
            if request is None:
                ops.append([op, payload])
            elif registry.claim(request):
                ops.append([op, payload])
                claimed.append(request)
        if not ops:
            return
        if self.conn.send([0, "ox_multi", None, ops]):
            for request in claimed:
                registry.written(request, self.conn)
        else:
            self._group_not_sent([(None, None, r) for r in claimed],
                                 f"{self.name} connection is closing", claimed=True)

    def _group_not_sent(self, items: list[Any], why: str, claimed: bool = False) -> None:
        registry = self.client.requests
        requests = [r for _op, _p, r in items if r is not None]
        for request in requests:
            if claimed or registry.claim(request):
                registry.not_written(request, why)
        if len(requests) < len(items):
            self.client._not_sent("ox_multi batch", why)

    # -- Bitfinex's own control events -------------------------------------------------
    def exchange_event(self, event: Any) -> None:
        """Route a Bitfinex control event (auth, info, conf) to the client."""
        client = self.client
        kind = type(event)
        if kind is bs.AuthOk:
            self.authenticated = True
            client._emit_state("authenticated", self.name)
            client._platform_up(self.name, "authenticated")
            self.flush_requests()
            groups, self.group_outbox = self.group_outbox, []
            for items in groups:
                self.send_group(items)
        elif kind is bs.AuthFailed:
            self.auth_refused = True
            err = AuthenticationError(event.code, event.msg, event.raw)
            client._emit_error(err)
            client.requests.fail_queued(f"authentication was refused: {event.msg}", err)
            why = f"authentication was refused: {event.msg}"
            self.fail_control(why)
            for items in self.group_outbox:
                self._group_not_sent(items, why)
            self.group_outbox.clear()
        elif kind is bs.InfoEvent:
            self._info(event)
        elif kind is bs.ErrorEvent:
            client._emit_error(ExchangeError(event.code, event.msg, event.raw))
        elif kind is bs.SequenceGapEvent:
            client.stats.sequence_gaps += 1
            client._emit_error(SequenceGap(
                f"{self.name}: expected seq {event.expected}, got {event.got}; reconnecting"))
            self.conn.drop("sequence gap")
        elif kind is bs.UnknownChannel:
            log.debug("%s: frame for unknown channel %s", self.name, event.chan_id)
        else:  # Pong, ConfAck
            if kind is bs.ConfAck and event.status != "OK":
                client._emit_error(ExchangeError(None, f"conf {event.flags} refused", event.raw))
            client._emit_event(event)

    def _info(self, event: bs.InfoEvent) -> None:
        client = self.client
        code = event.code
        client._emit_event(event)
        if code is None:
            if event.version is not None and event.version != 2:
                client._emit_error(RemoteProtocolError(
                    f"{self.name}: server speaks API version {event.version}, not 2"))
            if event.platform_status == 0:
                client._platform_down(self.name, "platform in maintenance (greeting)")
            elif event.platform_status == 1:
                client._platform_up(self.name, "platform operative (greeting)")
        elif code == INFO_RECONNECT:
            self.conn.drop("server asked to reconnect (20051)")
        elif code == INFO_MAINTENANCE_START:
            client._platform_down(self.name, "maintenance (20060)")
        elif code == INFO_MAINTENANCE_END:
            client._platform_up(self.name, "maintenance ended (20061)")
            # Bitfinex advises to unsubscribe and subscribe every channel again.
            for sub in self.subs:
                self.subs.resync(sub, "maintenance ended (20061)")

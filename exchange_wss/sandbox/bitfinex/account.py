"""The account channel of a Bitfinex sandbox connection: auth and what chan 0 tells
(sans-I/O)."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import TYPE_CHECKING, Any, cast

from ..engine import OrderEvent, TradeEvent, WalletEvent
from ..margin import PositionEvent
from .session_base import SessionBase
from .wire import (
    CAPS,
    MAX_NONCE,
    _nonce_value,
    order_array,
    position_array,
    trade_array,
    wallet_array,
)

if TYPE_CHECKING:
    from .session import _Session


class AccountPart(SessionBase):
    """Authentication (signature, nonce, filters, dead-man switch) and the
    account channel's snapshots and events."""

    # -- auth -------------------------------------------------------------------

    def _auth(self, req: dict) -> None:
        if self.server.faults.ignore_auth:
            return
        if self.account is not None:
            self.send_event({"event": "error", "msg": "auth: dup", "code": 10100})
            return

        def fail(msg: str) -> None:
            self.send_event({"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
                             "msg": msg})

        server = self.server
        key = req.get("apiKey")
        if not isinstance(key, str):
            return fail("apikey: invalid")
        secret = server.accounts.get(key)
        if secret is None:
            return fail("apikey: invalid")
        payload, sig, nonce = req.get("authPayload"), req.get("authSig"), req.get("authNonce")
        if not isinstance(payload, str) or not isinstance(sig, str):
            return fail("apikey: digest invalid")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            return fail("apikey: digest invalid")
        n = _nonce_value(nonce)
        if n is None or n <= 0 or n > MAX_NONCE:
            return fail("nonce: invalid")
        # bitfinex-api-node signs "AUTH"+nonce+nonce; accept any payload that starts right.
        if not payload.startswith("AUTH" + str(nonce)):
            return fail("authPayload: invalid")
        if n <= server.nonces.get(key, 0):
            return fail("nonce: small")
        server.nonces[key] = n
        filters = req.get("filter")
        self.filters = ([f for f in filters if isinstance(f, str)] if isinstance(filters, list)
                        else None)
        self.dms = req.get("dms") == 4
        self.calc_on_auth = req.get("calc") == 1
        self.account = key
        self.auth_seq = 0
        self.auth_synced = False
        server.attach(cast("_Session", self))  # each part is a _Session's
        self.send_event({"event": "auth", "status": "OK", "chanId": 0,
                         "userId": server.user_id(key), "auth_id": str(uuid.uuid4()),
                         "caps": CAPS})
        self.last_sent[0] = server.now()
        self._auth_snapshots()
        self.auth_synced = True

    def _auth_snapshots(self) -> None:
        eng = self.server.engine
        key = self.account
        if self._allowed("ps"):
            self.send_private("ps", [position_array(p) for p in eng.margin.positions(
                key, self.server.mark)])
        if self._allowed("ws") or any(f.startswith("wallet-") for f in self.filters or ()):
            rows = []
            for cur, (bal, avail) in sorted(eng.wallets(key).items()):
                if self._allowed("ws", currency=cur):
                    rows.append(wallet_array("exchange", cur, float(bal),
                                             float(avail) if self.calc_on_auth else None))
            for cur, bal in sorted(eng.margin.wallets(key).items()):
                if self._allowed("ws", currency=cur):
                    avail = eng.available(key, "margin:" + cur)
                    rows.append(wallet_array("margin", cur, float(bal),
                                             float(avail) if self.calc_on_auth else None))
            self.send_private("ws", rows)
        if self._allowed("os") or any(f.startswith("trading-") for f in self.filters or ()):
            self.send_private("os", [order_array(o) for o in eng.open_orders(owner=key)
                                     if self._allowed("os", symbol=o.symbol)])
        for stream in ("fos", "fcs", "fls"):
            if self._allowed(stream):
                self.send_private(stream, [])

    def deliver(self, ev: Any) -> None:
        """Send one engine event to this (authenticated) session, if its filters allow."""
        if isinstance(ev, OrderEvent):
            if self._allowed(ev.kind, symbol=ev.order.symbol):
                self.send_private(ev.kind, order_array(ev.order))
        elif isinstance(ev, TradeEvent):
            if self._allowed(ev.kind, symbol=ev.symbol):
                self.send_private(ev.kind, trade_array(ev))
        elif isinstance(ev, WalletEvent):
            if self._allowed("wu", currency=ev.currency):
                self.send_private("wu", wallet_array(ev.wallet_type, ev.currency, ev.balance,
                                                     ev.available, ev.meta))
        elif (isinstance(ev, PositionEvent)
              and self._allowed(ev.kind, symbol=ev.position.symbol)):
            self.send_private(ev.kind, position_array(ev.position))


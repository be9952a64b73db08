"""The Binance sandbox's user-data service: listenKeys (create, keep alive, close,
expire) and the delivery of each account event to where its owner listens, the
WebSocket-API subscriptions and the streams of the owner's live listenKey.
"""

from __future__ import annotations

import random
import string
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["UserDataService"]

_ALNUM = string.ascii_letters + string.digits


class _ListenKey:
    __slots__ = ("key", "owner", "expires", "call", "alive")

    def __init__(self, key: str, owner: str):
        self.key, self.owner = key, owner
        self.expires = 0.0
        self.call: Any = None  # the expiry timer (a Twisted IDelayedCall)
        self.alive = True



class UserDataService:
    """ListenKeys and user-event delivery of a :class:`~.server.BinanceServer`.

    Args:
        server: the exchange (clock, reactor, connections).
        listen_key_ttl: seconds a listenKey lives without a keepalive.
        seed: seeds the listenKeys' letters.
    """

    def __init__(self, server: BinanceServer, listen_key_ttl: float, seed: int):
        self.server = server
        self.listen_key_ttl = listen_key_ttl
        self._rng = random.Random(f"binance|{server.profile.name}|{seed}")
        self.listen_keys: dict[str, _ListenKey] = {}
        self._active_key: dict[str, _ListenKey] = {}  # owner -> its live key
        #: owner -> reactor times of every keepalive (PUT or userDataStream.ping).
        self.keepalive_log: dict = defaultdict(list)

    def cancel_timers(self) -> None:
        """Stop every listenKey's expiry timer (the server stops)."""
        for lk in self.listen_keys.values():
            if lk.call is not None and lk.call.active():
                lk.call.cancel()

    def _new_key(self) -> str:
        while True:
            key = "".join(self._rng.choice(_ALNUM) for _ in range(64))
            if key not in self.listen_keys:
                return key

    def _arm(self, lk: _ListenKey) -> None:
        lk.expires = self.server.now() + self.listen_key_ttl
        if lk.call is not None and lk.call.active():
            lk.call.reset(self.listen_key_ttl)
        else:
            lk.call = self.server.reactor.callLater(self.listen_key_ttl, self.expire_listen_key,
                                                    lk.key)

    def active_listen_key(self, owner: str) -> _ListenKey | None:
        """The owner's live listenKey, or None."""
        lk = self._active_key.get(owner)
        return lk if lk is not None and lk.alive else None

    def create_listen_key(self, owner: str) -> str:
        """POST: the account's active key (extended), or a new one."""
        lk = self.active_listen_key(owner)
        if lk is None:
            lk = _ListenKey(self._new_key(), owner)
            self.listen_keys[lk.key] = lk
            self._active_key[owner] = lk
        self._arm(lk)
        return lk.key

    def keepalive_listen_key(self, owner: str, key: str | None = None) -> str | None:
        """PUT: extend the active key (recorded with its time); None if there is none (-1125)."""
        self.keepalive_log[owner].append(self.server.now())
        lk = self.active_listen_key(owner)
        if lk is None or (key and key != lk.key):
            return None
        self._arm(lk)
        return lk.key

    def delete_listen_key(self, owner: str, key: str | None = None) -> bool:
        """DELETE: close the key; its streams fall silent (no listenKeyExpired)."""
        lk = self.active_listen_key(owner)
        if lk is None or (key and key != lk.key):
            return False
        lk.alive = False
        if lk.call is not None and lk.call.active():
            lk.call.cancel()
        self._active_key.pop(owner, None)
        for s in self.server.stream_sessions():
            s.detach_key(lk.key)
        return True

    def expire_listen_key(self, key: str | None = None) -> int:
        """Expire ``key`` (every live key if None): send listenKeyExpired and stop sending."""
        targets = [key] if key is not None else \
            [k for k, lk in self.listen_keys.items() if lk.alive]
        n = 0
        for k in targets:
            lk = self.listen_keys.get(k)
            if lk is None or not lk.alive:
                continue
            lk.alive = False
            if lk.call is not None and lk.call.active():
                lk.call.cancel()
            if self._active_key.get(lk.owner) is lk:
                del self._active_key[lk.owner]
            now = self.server.now_ms()
            ev = {"e": "listenKeyExpired", "E": str(now) if self.server.profile.futures else now,
                  "listenKey": k}
            for s in self.server.stream_sessions():
                if k in s.user_keys:
                    s.deliver_user(k, ev)
                    s.detach_key(k)
            n += 1
        return n

    def deliver(self, items: list) -> None:
        """Send user events: to WS-API subscriptions of the owner (wrapped with their
        subscriptionId) and to the streams of the owner's live listenKey."""
        for owner, ev in items:
            data = None
            for s in self.server.sessions:
                if s.kind == "api" and s.open:
                    for sid, who in s.subs.items():
                        if who == owner:
                            s.send_json({"subscriptionId": sid, "event": ev})
            lk = self.active_listen_key(owner)
            if lk is None:
                continue
            for s in self.server.stream_sessions():
                if lk.key in s.user_keys:
                    allowed = s.user_keys[lk.key]
                    if allowed is not None and ev["e"] not in allowed:
                        continue
                    if data is None:
                        data = orjson.dumps(ev)
                    s.deliver(lk.key, data)

"""One Bitfinex sandbox connection: its parts joined, and the input it dispatches
(sans-I/O: ``received(text)`` in, ``send(text)`` out)."""

from __future__ import annotations

import orjson

from .account import AccountPart
from .channels import ChannelsPart
from .orders import OrdersPart


class _Session(ChannelsPart, AccountPart, OrdersPart):
    """One connection's protocol state. Sans-I/O: ``received(text)`` in, ``send(text)`` out.

    Args:
        server: the exchange.
        send: writes one text frame.
        drop: aborts the connection.
    """

    # -- input --------------------------------------------------------------------

    def opened(self) -> None:
        self.send_event({"event": "info", "version": 2, "serverId": self.server.server_id,
                         "platform": {"status": 0 if self.server.faults.maintenance else 1}})

    def received(self, text: str) -> None:
        """Handle one text frame from the client."""
        try:
            msg = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.send_event({"event": "error", "msg": "invalid json", "code": 10000})
            return
        if isinstance(msg, dict):
            self._on_event(msg)
        elif isinstance(msg, list):
            self._on_input(msg)
        else:
            self.send_event({"event": "error", "msg": "unknown event", "code": 10000})

    def _on_event(self, msg: dict) -> None:
        event = msg.get("event")
        if event == "ping":
            reply = {"event": "pong", "ts": self.server.now_ms()}
            if "cid" in msg:
                reply["cid"] = msg["cid"]
            self.send_event(reply)
        elif event == "conf":
            flags = msg.get("flags")
            if isinstance(flags, bool) or not isinstance(flags, int) or flags < 0:
                self.send_event({"event": "error", "msg": "conf: invalid", "code": 10050})
                return
            self.flags = flags
            self.send_event({"event": "conf", "status": "OK", "flags": flags})
        elif event == "subscribe":
            self._subscribe(msg)
        elif event == "unsubscribe":
            self._unsubscribe(msg)
        elif event == "auth":
            self._auth(msg)
        elif event == "unauth":
            if self.account is None:
                self.send_event({"event": "error", "msg": "unauth: not authenticated",
                                 "code": 10200})
                return
            self.server.detach(self)
            self.account = None
            self.send_event({"event": "unauth", "status": "OK", "chanId": 0})
        else:
            self.send_event({"event": "error", "msg": "unknown event", "code": 10000})

    # -- lifecycle --------------------------------------------------------------

    def closed(self) -> None:
        self.open = False
        self.held.clear()



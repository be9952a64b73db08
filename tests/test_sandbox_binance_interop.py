"""The official ``binance-connector`` (3.x, websocket-client based) works against the sandbox.

An independent implementation of the client side checks that the sandbox speaks
Binance: its market-stream client subscribes and gets acks and combined
payloads; its Spot WebSocket API client signs ``order.place``/``order.cancel``
itself and gets Binance-shaped answers; a ``subscribe.signature`` signed with
its helper yields executionReports; its ping handling is observed. Nothing may
leave the machine: name resolution is limited to loopback.

Test dependency: ``pip install binance-connector``. Skipped when it is not
importable (``python-binance`` shares the ``binance`` package name but not these
modules, so it also skips).
"""

import json
import socket
import threading
import time

import pytest

pytest.importorskip("binance.websocket.spot.websocket_stream")
pytest.importorskip("binance.websocket.spot.websocket_api")

from binance.lib.utils import websocket_api_signature  # noqa: E402
from binance.websocket.spot.websocket_api import SpotWebsocketAPIClient  # noqa: E402
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient  # noqa: E402

from exchange_wss.sandbox import (DEFAULT_BINANCE_KEY as KEY,  # noqa: E402
                                  DEFAULT_BINANCE_SECRET as SECRET, BinanceSandbox)

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def offline(monkeypatch):
    """Refuse to resolve any host but loopback."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in _LOOPBACK:
            raise OSError(f"test must stay offline (tried to resolve {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


class Inbox:
    """Messages a connector callback received, parsed, with waiting."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def __call__(self, _manager, message):
        with self.cond:
            self.items.append(json.loads(message))
            self.cond.notify_all()

    def wait(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.items:
                    if pred(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing matched; got {self.items[-5:]}")
                self.cond.wait(left)


@pytest.fixture
def sandbox():
    sb = BinanceSandbox(seed=11, tick_interval=0.05).start()
    yield sb
    sb.stop()


def test_connector_market_streams(offline, sandbox):
    """SpotWebsocketStreamClient subscribes (acks by id), then gets combined trades and depth."""
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=sandbox.stream_url, is_combined=True,
                                       on_message=inbox)
    try:
        client.trade(symbol="btcusdt", id=1)
        client.diff_book_depth(symbol="btcusdt", speed=100, id=2)
        assert inbox.wait(lambda m: m.get("id") == 1) == {"result": None, "id": 1}
        assert inbox.wait(lambda m: m.get("id") == 2) == {"result": None, "id": 2}
        trade = inbox.wait(lambda m: m.get("stream") == "btcusdt@trade")
        assert trade["data"]["e"] == "trade" and trade["data"]["s"] == "BTCUSDT"
        depth = inbox.wait(lambda m: m.get("stream") == "btcusdt@depth@100ms")
        assert depth["data"]["u"] >= depth["data"]["U"]
    finally:
        client.stop()


def test_connector_ws_api_orders_and_user_data(offline, sandbox):
    """SpotWebsocketAPIClient pings, reads the time, places and cancels a signed order, and
    a subscribe.signature signed with its helper delivers the executionReports."""
    inbox = Inbox()
    client = SpotWebsocketAPIClient(stream_url=sandbox.api_url, api_key=KEY, api_secret=SECRET,
                                    on_message=inbox)
    try:
        client.ping_connectivity(id="ping-1")
        assert inbox.wait(lambda m: m.get("id") == "ping-1")["status"] == 200
        client.server_time(id="time-1")
        assert inbox.wait(lambda m: m.get("id") == "time-1")["result"]["serverTime"] > 0
        client.send({"id": "sub-1", "method": "userDataStream.subscribe.signature",
                     "params": websocket_api_signature(KEY, SECRET, {})})
        sub = inbox.wait(lambda m: m.get("id") == "sub-1")
        assert sub["result"] == {"subscriptionId": 0}

        bid = float(sandbox.book("BTCUSDT", limit=1)["bids"][0][0])
        client.new_order(id="place-1", symbol="BTCUSDT", side="BUY", type="LIMIT",
                         timeInForce="GTC", quantity=0.01, price=bid - 1000,
                         newClientOrderId="connector-1")
        placed = inbox.wait(lambda m: m.get("id") == "place-1")
        assert placed["status"] == 200, placed
        assert placed["result"]["status"] == "NEW"
        report = inbox.wait(lambda m: m.get("event", {}).get("e") == "executionReport")
        assert report["subscriptionId"] == 0 and report["event"]["c"] == "connector-1"

        client.cancel_order(id="cancel-1", symbol="BTCUSDT", orderId=placed["result"]["orderId"])
        cancelled = inbox.wait(lambda m: m.get("id") == "cancel-1")
        assert cancelled["status"] == 200 and cancelled["result"]["status"] == "CANCELED"
        inbox.wait(lambda m: m.get("event", {}).get("x") == "CANCELED")

        client.cancel_order(id="cancel-2", symbol="BTCUSDT", orderId=1)
        assert inbox.wait(lambda m: m.get("id") == "cancel-2")["error"]["code"] == -2011
        assert [p["newClientOrderId"] for p in sandbox.orders_received(KEY)] == ["connector-1"]
    finally:
        client.stop()


def test_connector_pong_handling_is_observed(offline):
    """websocket-client echoes each server ping; binance-connector 3 then adds an empty,
    unsolicited pong, which the sandbox records as not echoing (and tolerates)."""
    sb = BinanceSandbox(seed=12, tick_interval=None, ping_interval=0.05).start()
    client = SpotWebsocketStreamClient(stream_url=sb.stream_url, on_message=Inbox())
    try:
        deadline = time.monotonic() + 10
        while not (any(p["ok"] for p in sb.pongs()) and
                   any(not p["ok"] and p["payload"] == b"" for p in sb.pongs())):
            assert time.monotonic() < deadline, sb.pongs()
            time.sleep(0.02)
        assert sb.connections() == 1
    finally:
        client.stop()
        sb.stop()

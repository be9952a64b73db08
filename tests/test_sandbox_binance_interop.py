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

from binance.lib.utils import websocket_api_signature
from binance.websocket.spot.websocket_api import SpotWebsocketAPIClient
from binance.websocket.spot.websocket_stream import SpotWebsocketStreamClient

from exchange_wss.sandbox import DEFAULT_BINANCE_KEY as KEY
from exchange_wss.sandbox import DEFAULT_BINANCE_SECRET as SECRET
from exchange_wss.sandbox import BinanceSandbox

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


def test_connector_spot_mini_tickers(offline, sandbox):
    """The connector's mini_ticker (one symbol and !miniTicker@arr) gets 24hrMiniTicker frames."""
    inbox = Inbox()
    client = SpotWebsocketStreamClient(stream_url=sandbox.stream_url, is_combined=True,
                                       on_message=inbox)
    try:
        client.mini_ticker(id=1)
        client.mini_ticker(symbol="btcusdt", id=2)
        inbox.wait(lambda m: m.get("id") == 2)
        arr = inbox.wait(lambda m: m.get("stream") == "!miniTicker@arr")
        assert {t["s"] for t in arr["data"]} == {"BTCUSDT", "ETHUSDT"}
        one = inbox.wait(lambda m: m.get("stream") == "btcusdt@miniTicker")
        assert one["data"]["e"] == "24hrMiniTicker"
    finally:
        client.stop()


def test_connector_futures_streams(offline):
    """The connector's stream client, pointed at USDⓈ-M /market and /public, subscribes the
    derivatives streams and gets Binance-shaped frames."""
    sb = BinanceSandbox(seed=13, tick_interval=0.05, market="usdm").start()
    market, public = Inbox(), Inbox()
    clients = [SpotWebsocketStreamClient(stream_url=sb.stream_url + "/market", is_combined=True,
                                         on_message=market),
               SpotWebsocketStreamClient(stream_url=sb.stream_url + "/public", is_combined=True,
                                         on_message=public)]
    try:
        for i, name in enumerate(["btcusdt@markPrice@1s", "!markPrice@arr@1s", "!ticker@arr",
                                  "btcusdt_perpetual@continuousKline_1m",
                                  "btcusdt@forceOrder"], 1):
            clients[0].subscribe(name, id=i)
            market.wait(lambda m, i=i: m.get("id") == i)
        clients[1].subscribe("!bookTicker", id=9)
        public.wait(lambda m: m.get("id") == 9)
        mark = market.wait(lambda m: m.get("stream") == "btcusdt@markPrice@1s")
        assert mark["data"]["e"] == "markPriceUpdate" and mark["data"]["r"]
        assert len(market.wait(lambda m: m.get("stream") == "!markPrice@arr@1s")["data"]) == 2
        assert market.wait(lambda m: m.get("stream") == "!ticker@arr")["data"][0]["e"] == \
            "24hrTicker"
        kline = market.wait(lambda m: m.get("stream") == "btcusdt_perpetual@continuousKline_1m")
        assert kline["data"]["ct"] == "PERPETUAL"
        sb.liquidate("BTCUSDT", "BUY", "0.2")
        assert market.wait(lambda m: m.get("stream") == "btcusdt@forceOrder")["data"]["o"]["S"] \
            == "BUY"
        assert public.wait(lambda m: m.get("stream") == "!bookTicker")["data"]["e"] == \
            "bookTicker"
    finally:
        for client in clients:
            client.stop()
        sb.stop()


def test_connector_ed25519_session_logon_then_unsigned_orders(offline):
    """An Ed25519 key signed with the connector's own helper (pycryptodome) logs on; then
    orders go unsigned, and the sandbox verified the signature with the registered key."""
    from urllib.parse import urlencode

    from binance.lib.authentication import ed25519_signature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo
                                               ).decode()
    sb = BinanceSandbox(seed=14, tick_interval=None, accounts={"ed-key": public}).start()
    inbox = Inbox()
    client = SpotWebsocketAPIClient(stream_url=sb.api_url, on_message=inbox)
    try:
        params = {"apiKey": "ed-key", "timestamp": sb.now_ms()}
        params["signature"] = ed25519_signature(pem, urlencode(sorted(params.items()))).decode()
        client.send({"id": "logon", "method": "session.logon", "params": params})
        logon = inbox.wait(lambda m: m.get("id") == "logon")
        assert logon["status"] == 200 and logon["result"]["apiKey"] == "ed-key"
        bid = float(sb.book("BTCUSDT", limit=1)["bids"][0][0])
        client.send({"id": "place", "method": "order.place", "params": {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
            "quantity": "0.01", "price": str(bid - 1000), "newClientOrderId": "ed-order",
            "timestamp": sb.now_ms()}})
        placed = inbox.wait(lambda m: m.get("id") == "place")
        assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
        client.send({"id": "cancel", "method": "order.cancel", "params": {
            "symbol": "BTCUSDT", "origClientOrderId": "ed-order", "timestamp": sb.now_ms()}})
        assert inbox.wait(lambda m: m.get("id") == "cancel")["result"]["status"] == "CANCELED"
    finally:
        client.stop()
        sb.stop()

"""The sandbox's Binance server (Spot, USDⓈ-M, COIN-M), over loopback and in memory.

Loopback tests use the ``websockets`` sync client and ``requests`` on 127.0.0.1,
port 0. Timing behaviour (listenKey expiry, keepalives, pings and pong
deadlines, the age cut, stalls) runs a :class:`BinanceServer` on a
``task.Clock`` with a fake link, so the clock is advanced instead of slept on.
"""

import json
import socket
import time
from dataclasses import replace
from decimal import Decimal

import pytest
import requests
from twisted.internet.task import Clock
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from exchange_wss.sandbox import DEFAULT_BINANCE_KEY as KEY
from exchange_wss.sandbox import DEFAULT_BINANCE_SECRET as SECRET
from exchange_wss.sandbox import BinanceSandbox
from exchange_wss.sandbox.binance import BinanceServer, RestApi, sign_params

_open: list = []


@pytest.fixture(autouse=True)
def _close_connections():
    """Close every test connection, so no client thread outlives its test."""
    yield
    while _open:
        _open.pop().close_socket()


def ws(url, **kw):
    c = connect(url, open_timeout=5, **kw)
    _open.append(c)
    return c


def recv_json(c, timeout=5.0):
    return json.loads(c.recv(timeout=timeout))


def wait_for(c, pred, timeout=5.0):
    """Frames until one satisfies ``pred``; returns (match, frames seen before it)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame; got {seen[-10:]}")
        msg = recv_json(c, left)
        if pred(msg):
            return msg, seen
        seen.append(msg)


def eventually(pred, timeout=5.0):
    """Poll a loopback condition (real sockets: there is no clock to advance)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def handshake_status(sb, path):
    """The HTTP status a WebSocket handshake to ``path`` gets (raw: websockets 12's sync
    client trips on error responses)."""
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        return int(sock.makefile("rb").readline().split()[1])


def closed_code(c, timeout=5.0):
    """Read until the server closes; returns the close code."""
    deadline = time.monotonic() + timeout

    def read_until_deadline():
        while time.monotonic() < deadline:
            c.recv(timeout=max(0.01, deadline - time.monotonic()))

    with pytest.raises(ConnectionClosed) as info:
        read_until_deadline()
    return info.value.rcvd.code if info.value.rcvd else None


class Api:
    """A WebSocket API client: signed requests, responses by id, events kept aside."""

    def __init__(self, sb, key=KEY, secret=SECRET):
        self.sb, self.key, self.secret = sb, key, secret
        self.c = ws(sb.api_url)
        self.events = []
        self._ids = iter(range(1, 10**6))

    def signed(self, ts=None, **params):
        p = dict(params, apiKey=self.key, timestamp=self.sb.now_ms() if ts is None else ts)
        p["signature"] = sign_params(p, self.secret)
        return p

    def call(self, method, params=None):
        rid = f"r{next(self._ids)}"
        self.c.send(json.dumps({"id": rid, "method": method, "params": params or {}}))
        msg, seen = wait_for(self.c, lambda m: m.get("id") == rid)
        self.events.extend(seen)
        return msg

    def event(self, pred, timeout=5.0):
        for i, e in enumerate(self.events):
            if pred(e):
                return self.events.pop(i)
        msg, seen = wait_for(self.c, pred, timeout)
        self.events.extend(seen)
        return msg


def exec_report(x, cid=None):
    def pred(m):
        ev = m.get("event", {})
        return ev.get("e") == "executionReport" and ev.get("x") == x and \
            (cid is None or cid in (ev.get("c"), ev.get("C")))
    return pred


def otu(x, cid=None):
    return lambda m: m.get("e") == "ORDER_TRADE_UPDATE" and m["o"]["x"] == x and \
        (cid is None or m["o"]["c"] == cid)


@pytest.fixture(scope="module")
def spot():
    sb = BinanceSandbox(seed=2, tick_interval=None).start()
    yield sb
    sb.stop()


@pytest.fixture
def fresh_spot():
    sb = BinanceSandbox(seed=3, tick_interval=None, shutdown_grace=0.1).start()
    yield sb
    sb.stop()


@pytest.fixture
def usdm():
    sb = BinanceSandbox(seed=4, tick_interval=None, market="usdm").start()
    yield sb
    sb.stop()


def new_listen_key(sb, path):
    r = requests.post(sb.rest_url + path, headers={"X-MBX-APIKEY": KEY})
    assert r.status_code == 200, r.text
    return r.json()["listenKey"]


def best(sb, symbol="BTCUSDT"):
    b = sb.book(symbol, limit=1)
    return Decimal(b["bids"][0][0]), Decimal(b["asks"][0][0])


# -- in-memory harness ---------------------------------------------------------------------

class FakeLink:
    """What an autobahn protocol would do for a session, recorded."""

    def __init__(self, server):
        self.server = server
        self.sent, self.pings, self.closes = [], [], []
        self.session = None
        self.aborted = False

    def send(self, data):
        self.sent.append(json.loads(data))

    def send_ping(self, payload):
        self.pings.append(payload)

    def close(self, code, reason):
        self.closes.append((code, reason))
        self.server.session_closed(self.session)

    def abort(self):
        self.aborted = True
        self.server.session_closed(self.session)


def memory_server(**kw):
    clock = Clock()
    clock.advance(1_780_000_000)
    kw.setdefault("tick_interval", None)
    kw.setdefault("ping_interval", None)
    srv = BinanceServer(clock, {KEY: SECRET}, **kw)
    srv.start_loops()
    return clock, srv


def open_memory(srv, path, **params):
    link = FakeLink(srv)
    route = srv.route_request(path, {k: [v] for k, v in params.items()})
    link.session = srv.open_session(route, link, path)
    return link


# -- REST -------------------------------------------------------------------------------

def test_rest_depth_snapshot(spot):
    """GET /api/v3/depth returns lastUpdateId and string [price, qty] levels, best first."""
    r = requests.get(spot.rest_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert isinstance(body["lastUpdateId"], int) and len(body["bids"]) == 5 == len(body["asks"])
    bids = [Decimal(p) for p, _ in body["bids"]]
    asks = [Decimal(p) for p, _ in body["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert all(isinstance(q, str) and len(q.split(".")[1]) == 8 for _, q in body["bids"])


def test_rest_depth_unknown_symbol(spot):
    """An unknown symbol is HTTP 400 with -1121."""
    r = requests.get(spot.rest_url + "/api/v3/depth", params={"symbol": "DOGEUSDT"})
    assert r.status_code == 400 and r.json() == {"code": -1121, "msg": "Invalid symbol."}


def test_futures_listen_key_lifecycle(usdm):
    """POST creates (re-POST: the same key), PUT extends, DELETE closes, then PUT is -1125."""
    url, h = usdm.rest_url + "/fapi/v1/listenKey", {"X-MBX-APIKEY": KEY}
    key = requests.post(url, headers=h).json()["listenKey"]
    assert len(key) == 64
    assert requests.post(url, headers=h).json()["listenKey"] == key
    r = requests.put(url, headers=h)
    assert r.status_code == 200 and r.json() == {"listenKey": key}
    assert requests.delete(url, headers=h).status_code == 200
    r = requests.put(url, headers=h)
    assert r.status_code == 400
    assert r.json() == {"code": -1125, "msg": "This listenKey does not exist."}
    assert len(usdm.keepalives(KEY)) == 2


def test_listen_key_needs_api_key_header(usdm):
    """Without X-MBX-APIKEY the listenKey endpoints answer 401 -2014; an unknown key -2015."""
    url = usdm.rest_url + "/fapi/v1/listenKey"
    r = requests.post(url)
    assert r.status_code == 401 and r.json()["code"] == -2014
    r = requests.post(url, headers={"X-MBX-APIKEY": "nobody"})
    assert r.status_code == 401 and r.json()["code"] == -2015


def test_retired_spot_user_data_stream_is_410(spot):
    """The retired /api/v3/userDataStream answers HTTP 410 with a message naming the replacement."""
    for method in ("post", "put", "delete"):
        r = getattr(requests, method)(spot.rest_url + "/api/v3/userDataStream",
                                      headers={"X-MBX-APIKEY": KEY})
        assert r.status_code == 410
        assert "userDataStream.subscribe.signature" in r.json()["msg"]


def test_keepalive_times_are_recorded():
    """Every keepalive PUT is recorded with the server time it arrived at."""
    clock, srv = memory_server(market="usdm")
    rest = RestApi(srv)
    rest.handle("POST", "/fapi/v1/listenKey", {}, {"x-mbx-apikey": KEY})
    times = []
    for _ in range(3):
        clock.advance(1800)
        times.append(clock.seconds())
        assert rest.handle("PUT", "/fapi/v1/listenKey", {}, {"x-mbx-apikey": KEY})[0] == 200
    assert srv.user_data.keepalive_log[KEY] == times


# -- market streams -------------------------------------------------------------------

def test_combined_stream_payloads(spot):
    """/stream?streams=a/b wraps each payload as {"stream": name, "data": {...}}."""
    c = ws(spot.stream_url + "/stream?streams=btcusdt@trade/btcusdt@bookTicker")
    spot.step(5)
    trade, _ = wait_for(c, lambda m: m["stream"] == "btcusdt@trade")
    assert trade["data"]["e"] == "trade" and trade["data"]["s"] == "BTCUSDT"
    assert {"t", "p", "q", "T", "m"} <= set(trade["data"])
    ticker, _ = wait_for(c, lambda m: m["stream"] == "btcusdt@bookTicker")
    assert {"u", "s", "b", "B", "a", "A"} <= set(ticker["data"])


def test_raw_stream_payload(spot):
    """/ws/<stream> sends the bare payload."""
    c = ws(spot.stream_url + "/ws/ethusdt@aggTrade")
    spot.step(10)
    msg = recv_json(c)
    assert msg["e"] == "aggTrade" and msg["s"] == "ETHUSDT" and msg["f"] == msg["l"]


def test_subscribe_ack_and_list(spot):
    """SUBSCRIBE/UNSUBSCRIBE answer {"result":null,"id":N}; LIST_SUBSCRIPTIONS lists the names."""
    c = ws(spot.stream_url + "/ws")
    c.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", "btcusdt@depth5"],
                       "id": 1}))
    assert recv_json(c) == {"result": None, "id": 1}
    c.send(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth5"], "id": 2}))
    assert recv_json(c) == {"result": None, "id": 2}
    c.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
    assert wait_for(c, lambda m: m.get("id") == 3)[0] == {"result": ["btcusdt@kline_1m"], "id": 3}


def test_control_message_errors(spot):
    """Bad JSON is error code 3 (id null); an unknown method or stream name is code 2."""
    c = ws(spot.stream_url + "/ws")
    c.send("{nope")
    err = recv_json(c)
    assert err["error"]["code"] == 3 and err["id"] is None
    c.send(json.dumps({"method": "DANCE", "id": 5}))
    err = recv_json(c)
    assert err["error"]["code"] == 2 and err["id"] == 5 and "unknown variant" in err["error"]["msg"]
    c.send(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bogus"], "id": 6}))
    assert recv_json(c)["error"]["code"] == 2


def test_control_rate_closes_connection(spot):
    """More than 5 incoming messages within a second (Spot) closes the connection with 1008."""
    c = ws(spot.stream_url + "/ws")
    for i in range(6):
        c.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
    replies = [recv_json(c) for _ in range(5)]
    assert [r["id"] for r in replies] == list(range(5))
    assert closed_code(c) == 1008


def test_max_streams_per_connection():
    """A SUBSCRIBE past the per-connection stream limit is refused and changes nothing."""
    _clock, srv = memory_server(market="usdm")
    srv.profile = replace(srv.profile, max_streams=3)
    link = open_memory(srv, "/ws/btcusdt@trade/btcusdt@aggTrade")
    link.session.received(json.dumps({"method": "SUBSCRIBE", "id": 1,
                                      "params": ["btcusdt@ticker", "ethusdt@ticker"]}))
    err = link.sent[-1]["error"]
    assert err["code"] == 2 and "too many streams" in err["msg"]
    assert len(link.session.streams) == 2


def test_unknown_stream_in_url_is_refused(spot):
    """A handshake naming an invalid stream is refused with HTTP 400."""
    assert handshake_status(spot, "/stream?streams=btcusdt@nonsense") == 400
    assert handshake_status(spot, "/nowhere") == 404


def test_spot_depth_diffs_continue_the_rest_snapshot(spot):
    """Buffered diffs, the REST snapshot and Binance's U/u rules rebuild the book exactly."""
    c = ws(spot.stream_url + "/ws/btcusdt@depth@100ms")
    spot.step(2)
    spot.flush()
    snap = requests.get(spot.rest_url + "/api/v3/depth",
                        params={"symbol": "BTCUSDT", "limit": 5000}).json()
    book_id = snap["lastUpdateId"]
    bids = {Decimal(p): Decimal(q) for p, q in snap["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in snap["asks"]}
    spot.step(8)
    spot.flush()
    target = spot.book("BTCUSDT", limit=5000)
    first = True
    while book_id < target["lastUpdateId"]:
        ev = recv_json(c)
        assert ev["e"] == "depthUpdate"
        if ev["u"] <= book_id:
            continue
        if first:
            assert ev["U"] <= book_id + 1 <= ev["u"]
            first = False
        else:
            assert ev["U"] == book_id + 1
        for side, levels in ((bids, ev["b"]), (asks, ev["a"])):
            for p, q in levels:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        book_id = ev["u"]
    assert book_id == target["lastUpdateId"]
    def levels(side):
        return [(Decimal(p), Decimal(q)) for p, q in target[side]]
    assert sorted(bids.items(), reverse=True) == levels("bids")
    assert sorted(asks.items()) == levels("asks")


def test_futures_depth_pu_chain(usdm):
    """Futures diffs carry pu = previous u; the first one kept after the snapshot spans its id."""
    c = ws(usdm.stream_url + "/public/ws/btcusdt@depth@100ms")
    usdm.step(2)
    usdm.flush()
    snap = requests.get(usdm.rest_url + "/fapi/v1/depth", params={"symbol": "BTCUSDT"}).json()
    assert {"lastUpdateId", "E", "T", "bids", "asks"} <= set(snap)
    usdm.step(5)
    usdm.flush()
    target = usdm.book("BTCUSDT")["lastUpdateId"]
    prev_u, applied = None, False
    while True:
        ev = recv_json(c)
        assert {"e", "E", "T", "s", "U", "u", "pu", "b", "a"} <= set(ev)
        if prev_u is not None:
            assert ev["pu"] == prev_u
        prev_u = ev["u"]
        if ev["u"] < snap["lastUpdateId"]:
            continue
        if not applied:
            assert ev["U"] <= snap["lastUpdateId"] <= ev["u"]
            applied = True
        if ev["u"] >= target:
            break


def test_kline_and_ticker_streams():
    """Klines and 24h tickers are pushed every second for their subscribers."""
    clock, srv = memory_server()
    link = open_memory(srv, "/stream", streams="btcusdt@kline_1m/btcusdt@ticker")
    srv.step(3)
    clock.advance(1.0)
    kinds = {m["stream"]: m["data"] for m in link.sent}
    k = kinds["btcusdt@kline_1m"]["k"]
    assert k["i"] == "1m" and k["T"] - k["t"] == 59_999 and k["x"] is False
    assert Decimal(k["l"]) <= Decimal(k["o"]) <= Decimal(k["h"])
    assert kinds["btcusdt@ticker"]["e"] == "24hrTicker"


# -- WebSocket API ----------------------------------------------------------------------

def test_ws_api_ping_and_time(spot):
    """ping answers an empty result and time the server time, each with rateLimits."""
    api = Api(spot)
    pong = api.call("ping")
    assert pong["status"] == 200 and pong["result"] == {}
    assert pong["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
    t = api.call("time")
    assert abs(t["result"]["serverTime"] - spot.now_ms()) < 5000


def test_subscribe_signature_ok(spot):
    """A correctly signed userDataStream.subscribe.signature returns subscriptionId 0."""
    api = Api(spot)
    r = api.call("userDataStream.subscribe.signature", api.signed())
    assert r["status"] == 200 and r["result"] == {"subscriptionId": 0}


def test_subscribe_bad_signature(spot):
    """A wrong signature is -1022."""
    api = Api(spot)
    p = api.signed()
    p["signature"] = "0" * 64
    r = api.call("userDataStream.subscribe.signature", p)
    assert r["status"] == 400 and r["error"]["code"] == -1022


def test_subscribe_stale_timestamp(spot):
    """A timestamp older than recvWindow (or 1 s ahead) is -1021."""
    api = Api(spot)
    r = api.call("userDataStream.subscribe.signature", api.signed(ts=spot.now_ms() - 10_000))
    assert r["error"]["code"] == -1021 and "recvWindow" in r["error"]["msg"]
    r = api.call("userDataStream.subscribe.signature",
                 api.signed(ts=spot.now_ms() - 10_000, recvWindow=20_000))
    assert r["status"] == 200
    r = Api(spot).call("userDataStream.subscribe.signature", api.signed(ts=spot.now_ms() + 5000))
    assert r["error"]["code"] == -1021


def test_subscribe_unknown_api_key(spot):
    """An unknown apiKey is -2015 with status 401."""
    api = Api(spot, key="stranger", secret="x")
    r = api.call("userDataStream.subscribe.signature", api.signed())
    assert r["status"] == 401 and r["error"]["code"] == -2015


def test_one_subscription_per_account_per_connection(spot):
    """A second subscription of the same account on one connection is refused."""
    api = Api(spot)
    api.call("userDataStream.subscribe.signature", api.signed())
    r = api.call("userDataStream.subscribe.signature", api.signed())
    assert r["status"] == 400 and r["error"]["code"] == -2035


def test_unsubscribe_terminates_stream(spot):
    """userDataStream.unsubscribe sends eventStreamTerminated for the subscription."""
    api = Api(spot)
    sid = api.call("userDataStream.subscribe.signature", api.signed())["result"]["subscriptionId"]
    r = api.call("userDataStream.unsubscribe", {"subscriptionId": sid})
    assert r["status"] == 200
    ev = api.event(lambda m: m.get("event", {}).get("e") == "eventStreamTerminated")
    assert ev["subscriptionId"] == sid


def test_order_place_emits_execution_report(fresh_spot):
    """order.place answers with the order, then executionReport NEW and outboundAccountPosition
    arrive wrapped with the subscriptionId."""
    sb = fresh_spot
    api = Api(sb)
    api.call("userDataStream.subscribe.signature", api.signed())
    bid, _ = best(sb)
    price = str(bid - 500)
    r = api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                           timeInForce="GTC", quantity="0.01", price=price,
                                           newClientOrderId="my-order-1"))
    res = r["result"]
    assert r["status"] == 200 and res["status"] == "NEW" and res["clientOrderId"] == "my-order-1"
    assert res["origQty"] == "0.01000000" and res["fills"] == []
    new = api.event(exec_report("NEW", "my-order-1"))
    ev = new["event"]
    assert new["subscriptionId"] == 0 and ev["i"] == res["orderId"] and ev["X"] == "NEW"
    for letter in "sScSofqpPFgCxXrilzLnNTtIwmOZYQWV":
        assert letter in ev
    assert ev["w"] is True and ev["N"] is None and ev["t"] == -1
    pos = api.event(lambda m: m.get("event", {}).get("e") == "outboundAccountPosition")
    usdt = {b["a"]: b for b in pos["event"]["B"]}["USDT"]
    assert Decimal(usdt["l"]) == Decimal(price) * Decimal("0.01")
    assert [p["newClientOrderId"] for p in sb.orders_received(KEY)] == ["my-order-1"]


def test_marketable_order_trades(fresh_spot):
    """A crossing limit order fills: TRADE report with commission, FULL response with fills."""
    sb = fresh_spot
    api = Api(sb)
    api.call("userDataStream.subscribe.signature", api.signed())
    _, ask = best(sb)
    r = api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                           timeInForce="IOC", quantity="0.001",
                                           price=str(ask + 50), newClientOrderId="taker-1"))
    assert r["result"]["status"] in ("FILLED", "PARTIALLY_FILLED", "EXPIRED")
    assert r["result"]["fills"]
    trade = api.event(exec_report("TRADE", "taker-1"))["event"]
    assert Decimal(trade["l"]) > 0 and Decimal(trade["n"]) > 0 and trade["N"] == "BTC"
    assert trade["m"] is False and trade["t"] > 0


def test_order_cancel(fresh_spot):
    """order.cancel cancels a resting order: CANCELED report with C = original client id."""
    sb = fresh_spot
    api = Api(sb)
    api.call("userDataStream.subscribe.signature", api.signed())
    bid, _ = best(sb)
    api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                       timeInForce="GTC", quantity="0.01", price=str(bid - 900),
                                       newClientOrderId="rest-1"))
    r = api.call("order.cancel", api.signed(symbol="BTCUSDT", origClientOrderId="rest-1"))
    assert r["status"] == 200 and r["result"]["status"] == "CANCELED"
    ev = api.event(exec_report("CANCELED"))["event"]
    assert ev["C"] == "rest-1" and ev["X"] == "CANCELED" and ev["c"] == r["result"]["clientOrderId"]


def test_order_cancel_unknown(spot):
    """Cancelling an order that does not exist is -2011 "Unknown order sent."."""
    api = Api(spot)
    r = api.call("order.cancel", api.signed(symbol="BTCUSDT", orderId=12345))
    assert r["status"] == 400
    assert r["error"] == {"code": -2011, "msg": "Unknown order sent."}


def test_order_place_validation(spot):
    """A LIMIT without timeInForce is -1102; a duplicate open client id -2010; bad symbol -1121."""
    api = Api(spot)
    r = api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                           quantity="0.01", price="1000"))
    assert r["error"]["code"] == -1102 and "timeInForce" in r["error"]["msg"]
    p = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
             price="1000", newClientOrderId="dup-1")
    assert api.call("order.place", api.signed(**p))["status"] == 200
    assert api.call("order.place", api.signed(**p))["error"] == {"code": -2010,
                                                                 "msg": "Duplicate order sent."}
    r = api.call("order.place", api.signed(**dict(p, symbol="DOGEUSDT")))
    assert r["error"]["code"] == -1121


def test_retired_ws_api_listen_key_methods(spot):
    """Spot's removed userDataStream.start is refused as an unknown method."""
    r = Api(spot).call("userDataStream.start", {"apiKey": KEY})
    assert r["status"] == 400 and r["error"]["code"] == -1020


# -- futures user data --------------------------------------------------------------------

def test_futures_private_stream_filters_events(usdm):
    """/private/ws?events= sends only the listed events; without events= nothing is sent."""
    key = new_listen_key(usdm, "/fapi/v1/listenKey")
    only_otu = ws(f"{usdm.stream_url}/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE")
    everything = ws(f"{usdm.stream_url}/private/ws?listenKey={key}"
                    "&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/TRADE_LITE")
    silent = ws(f"{usdm.stream_url}/private/ws?listenKey={key}")
    api = Api(usdm)
    _, ask = best(usdm)
    r = api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                           timeInForce="GTC", quantity="0.01",
                                           price=str(ask + 100), newClientOrderId="fut-1"))
    assert r["status"] == 200 and r["result"]["positionSide"] == "BOTH"
    kinds = []
    while "ACCOUNT_UPDATE" not in kinds:
        kinds.append(recv_json(everything)["e"])
    assert kinds[0] == "ORDER_TRADE_UPDATE" and "TRADE_LITE" in kinds
    new = recv_json(only_otu)
    assert new["e"] == "ORDER_TRADE_UPDATE" and new["o"]["x"] == "NEW" and new["o"]["c"] == "fut-1"
    trade = recv_json(only_otu)
    assert trade["e"] == "ORDER_TRADE_UPDATE" and trade["o"]["x"] == "TRADE"
    assert trade["o"]["N"] == "USDT"
    assert {"ap", "rp", "ps", "ot", "wt", "pm", "V", "T", "t", "m", "R"} <= set(trade["o"])
    with pytest.raises(TimeoutError):
        silent.recv(timeout=0.3)


def test_account_update_tracks_position():
    """ACCOUNT_UPDATE after a futures fill shows the position and the USDT wallet net of fees."""
    _clock, srv = memory_server(market="usdm")
    key = srv.user_data.create_listen_key(KEY)
    link = open_memory(srv, "/private/ws", listenKey=key, events="ACCOUNT_UPDATE")
    ask = srv.engine.best("tBTCUSD")[1]
    _, events = srv.orders.place_order(KEY, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                      "quantity": "0.01"})
    srv.user_data.deliver(events)
    upd = link.sent[-1]["a"]
    assert upd["m"] == "ORDER" and upd["P"][0]["pa"] == "0.01" and upd["P"][0]["ps"] == "BOTH"
    assert Decimal(upd["P"][0]["ep"]) >= ask
    assert Decimal(upd["B"][0]["wb"]) < Decimal("100000") and upd["B"][0]["a"] == "USDT"


def test_futures_market_order_with_gtx_fills_as_a_market_order():
    """timeInForce=GTX on a futures MARKET order is ignored (it has no price to be post-only
    at), not a crash of the order service."""
    _clock, srv = memory_server(market="usdm")
    result, _events = srv.orders.place_order(KEY, {"symbol": "BTCUSDT", "side": "BUY",
                                                   "type": "MARKET", "timeInForce": "GTX",
                                                   "quantity": "0.01"})
    assert result["status"] == "FILLED"


def test_coinm_listen_key_stream():
    """COIN-M /ws/<listenKey> carries every event; ORDER_TRADE_UPDATE has the margin asset."""
    sb = BinanceSandbox(seed=5, tick_interval=None, market="coinm").start()
    try:
        key = new_listen_key(sb, "/dapi/v1/listenKey")
        c = ws(f"{sb.stream_url}/ws/{key}")
        sb.place_order(KEY, symbol="BTCUSD_PERP", side="SELL", type="MARKET", quantity="1")
        first = recv_json(c)
        assert first["e"] == "ORDER_TRADE_UPDATE" and first["o"]["ma"] == "BTC" and "i" in first
        seen = {first["e"]}
        while "ACCOUNT_UPDATE" not in seen:
            seen.add(recv_json(c)["e"])
    finally:
        sb.stop()


def test_listen_key_expires_without_keepalive():
    """A key not kept alive within the ttl gets listenKeyExpired (E a string), then silence."""
    clock, srv = memory_server(market="usdm", listen_key_ttl=60)
    key = srv.user_data.create_listen_key(KEY)
    link = open_memory(srv, "/private/ws", listenKey=key,
                       events="ORDER_TRADE_UPDATE/listenKeyExpired")
    clock.advance(59)
    assert srv.user_data.keepalive_listen_key(KEY) == key
    clock.advance(59)
    assert link.sent == []
    clock.advance(1)
    assert link.sent == [{"e": "listenKeyExpired", "E": str(srv.now_ms()), "listenKey": key}]
    _, events = srv.orders.place_order(KEY, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                      "quantity": "0.01"})
    srv.user_data.deliver(events)
    assert len(link.sent) == 1
    assert srv.user_data.keepalive_listen_key(KEY) is None


def test_listen_key_expired_over_loopback():
    """Over a real socket, a short ttl ends in listenKeyExpired on /private/ws."""
    sb = BinanceSandbox(seed=6, tick_interval=None, market="usdm", listen_key_ttl=0.5).start()
    try:
        key = new_listen_key(sb, "/fapi/v1/listenKey")
        c = ws(f"{sb.stream_url}/private/ws?listenKey={key}&events=listenKeyExpired")
        ev = recv_json(c)
        assert ev["e"] == "listenKeyExpired" and ev["listenKey"] == key and isinstance(ev["E"], str)
        r = requests.put(sb.rest_url + "/fapi/v1/listenKey", headers={"X-MBX-APIKEY": KEY})
        assert r.json()["code"] == -1125
    finally:
        sb.stop()


def test_spot_margin_listen_key_stream():
    """A /sapi/v1/userDataStream key on /ws/<key> gets bare executionReports (E numbers)."""
    _clock, srv = memory_server()
    _status, body = RestApi(srv).handle("POST", "/sapi/v1/userDataStream", {},
                                       {"x-mbx-apikey": KEY})
    link = open_memory(srv, f"/ws/{body['listenKey']}")
    bid = srv.engine.best("tBTCUSD")[0]
    _, events = srv.orders.place_order(KEY, {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                                      "timeInForce": "GTC", "quantity": "0.01",
                                      "price": str(bid + 700)})
    srv.user_data.deliver(events)
    assert [m["e"] for m in link.sent] == ["executionReport", "outboundAccountPosition"]
    assert link.sent[0]["S"] == "SELL" and link.sent[0]["X"] == "NEW"
    srv.user_data.expire_listen_key()
    assert link.sent[-1]["e"] == "listenKeyExpired" and isinstance(link.sent[-1]["E"], int)


def test_futures_ws_api_listen_key_methods():
    """On /ws-fapi/v1 userDataStream.start/ping/stop manage the account's listenKey."""
    clock, srv = memory_server(market="usdm")
    link = open_memory(srv, "/ws-fapi/v1")
    link.session.received(json.dumps({"id": 1, "method": "userDataStream.start",
                                      "params": {"apiKey": KEY}}))
    key = link.sent[-1]["result"]["listenKey"]
    link.session.received(json.dumps({"id": 2, "method": "userDataStream.ping",
                                      "params": {"apiKey": KEY}}))
    assert link.sent[-1]["result"] == {"listenKey": key}
    assert srv.user_data.keepalive_log[KEY] == [clock.seconds()]
    link.session.received(json.dumps({"id": 3, "method": "userDataStream.stop",
                                      "params": {"apiKey": KEY}}))
    link.session.received(json.dumps({"id": 4, "method": "userDataStream.ping",
                                      "params": {"apiKey": KEY}}))
    assert link.sent[-1]["error"]["code"] == -1125


# -- connection rules and faults --------------------------------------------------------------

def test_pong_echo_keeps_connection():
    """A pong echoing the ping payload is recorded ok; the connection outlives the deadline."""
    clock, srv = memory_server(ping_interval=20, pong_timeout=60)
    link = open_memory(srv, "/ws/btcusdt@trade")
    clock.advance(20)
    assert len(link.pings) == 1 and link.pings[0]
    link.session.pong(link.pings[0])
    clock.advance(70)
    assert link.closes == [] and srv.pong_log[0]["ok"] is True


def test_missing_pong_closes_connection():
    """A ping left unanswered for pong_timeout closes the connection (1008)."""
    clock, srv = memory_server(ping_interval=20, pong_timeout=60)
    link = open_memory(srv, "/ws/btcusdt@trade")
    clock.advance(20)
    assert len(link.pings) == 1
    clock.advance(59)
    assert link.closes == []
    clock.advance(1)
    assert link.closes == [(1008, "Pong timeout")]


def test_unsolicited_pong_does_not_prevent_disconnect():
    """A pong with another payload is recorded as not ok and does not clear the ping."""
    clock, srv = memory_server(ping_interval=20, pong_timeout=60)
    link = open_memory(srv, "/ws-api/v3")
    clock.advance(20)
    link.session.pong(b"")
    clock.advance(60)
    assert srv.pong_log[0]["ok"] is False and link.closes == [(1008, "Pong timeout")]


def test_real_client_pongs_echo():
    """Over loopback the websockets client answers server pings with the payload: pongs_ok()."""
    sb = BinanceSandbox(seed=7, tick_interval=None, ping_interval=0.05).start()
    try:
        ws(sb.stream_url + "/ws/btcusdt@trade")
        eventually(lambda: len(sb.pongs()) >= 2)
        assert sb.pongs_ok()
    finally:
        sb.stop()


def test_max_connection_age_cuts():
    """Connections older than max_connection_age are closed (1001)."""
    clock, srv = memory_server(max_connection_age=86_400)
    link = open_memory(srv, "/stream", streams="btcusdt@trade")
    clock.advance(86_399)
    assert link.closes == []
    clock.advance(1)
    assert link.closes and link.closes[0][0] == 1001


def test_max_connection_age_over_loopback():
    """Over a real socket the age cut arrives as a close frame 1001."""
    sb = BinanceSandbox(seed=8, tick_interval=None, max_connection_age=0.3).start()
    try:
        c = ws(sb.api_url)
        assert closed_code(c) == 1001
    finally:
        sb.stop()


def test_server_shutdown(fresh_spot):
    """serverShutdown is sent on WS-API connections, which are then closed (1001)."""
    c = ws(fresh_spot.api_url)
    fresh_spot.faults.server_shutdown()
    ev = recv_json(c)
    assert ev["e"] == "serverShutdown" and isinstance(ev["E"], int)
    assert closed_code(c) == 1001


def test_reject_next_handshake(spot):
    """reject_next_handshake answers the next upgrade with HTTP 429, then handshakes work again."""
    spot.faults.reject_next_handshake()
    assert handshake_status(spot, "/ws/btcusdt@trade") == 429
    assert handshake_status(spot, "/ws/btcusdt@trade") == 101


def test_drop_connections(fresh_spot):
    """drop_connections aborts every socket."""
    c = ws(fresh_spot.api_url)
    assert fresh_spot.faults.drop_connections() == 1
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=5)


def test_malformed_frame(fresh_spot):
    """malformed_frame sends one text frame that is not JSON."""
    c = ws(fresh_spot.stream_url + "/ws")
    fresh_spot.faults.malformed_frame()
    with pytest.raises(json.JSONDecodeError):
        json.loads(c.recv(timeout=5))


def test_stall_holds_frames_until_resume():
    """During a stall nothing is sent (pings included); resume delivers what was held, in order."""
    clock, srv = memory_server(ping_interval=1)
    link = open_memory(srv, "/ws/btcusdt@trade")
    srv.stall(None)
    srv.step(5)
    clock.advance(2)
    assert link.sent == [] and link.pings == []
    srv.resume()
    assert link.sent and all(m["e"] == "trade" for m in link.sent)
    ids = [m["t"] for m in link.sent]
    assert ids == sorted(ids)


def test_expire_listen_key_fault(usdm):
    """faults.expire_listen_key() expires the live keys at once."""
    key = new_listen_key(usdm, "/fapi/v1/listenKey")
    c = ws(f"{usdm.stream_url}/private/ws?listenKey={key}&events=listenKeyExpired")
    eventually(lambda: usdm.connections() >= 1)
    assert usdm.faults.expire_listen_key() == 1
    assert recv_json(c)["listenKey"] == key
    assert usdm.listen_key(KEY) is None


def test_one_port_serves_rest_and_websocket(spot):
    """The REST base and the stream base are the same host:port; api_url is /ws-api/v3."""
    assert spot.rest_url.split("//")[1] == spot.stream_url.split("//")[1]
    assert spot.api_url.endswith(f":{spot.port}/ws-api/v3")
    assert BinanceSandbox(market="usdm", reactor=Clock()).server.profile.api_path == "/ws-fapi/v1"


def test_lose_next_request_neither_places_nor_answers(fresh_spot):
    """lose_next_request(): the next order.place is not carried out nor answered; the one after
    is."""
    api = Api(fresh_spot)
    fresh_spot.faults.lose_next_request("order.place")
    bid, _ask = best(fresh_spot)
    params = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                  quantity="0.01", price=str(bid))
    api.c.send(json.dumps({"id": "lost", "method": "order.place",
                           "params": api.signed(newClientOrderId="lost-1", **params)}))
    answer = api.call("order.place", api.signed(newClientOrderId="kept-1", **params))
    assert answer["status"] == 200 and "lost" not in [m.get("id") for m in api.events]
    assert [o["clientOrderId"] for o in fresh_spot.open_orders()] == ["kept-1"]
    assert [m["params"]["newClientOrderId"] for m in fresh_spot.lost_requests()] == ["lost-1"]

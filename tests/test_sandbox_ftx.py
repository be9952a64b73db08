"""The sandbox's FTX server, over loopback with the ``websockets`` sync client.

Every sandbox runs on 127.0.0.1, port 0, without the market loop
(``tick_interval=None``): the tests move the market with ``step`` so what they
see follows from what they did.
"""

import json
import time
import zlib

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from exchange_wss.sandbox import DEFAULT_FTX_KEY as KEY
from exchange_wss.sandbox import DEFAULT_FTX_SECRET as SECRET
from exchange_wss.sandbox import FtxSandbox
from exchange_wss.sandbox.ftx.wire import login_signature

OTHER_KEY, OTHER_SECRET = "other-key", "other-secret"
FILL_FIELDS = {"fee", "feeRate", "feeCurrency", "future", "id", "liquidity", "market", "orderId",
               "tradeId", "price", "side", "size", "time", "type"}
ORDER_FIELDS = {"id", "clientId", "market", "type", "side", "price", "size", "status",
                "filledSize", "remainingSize", "avgFillPrice", "reduceOnly", "ioc", "postOnly",
                "createdAt"}

_open: list = []


@pytest.fixture(autouse=True)
def _close_connections():
    """Close every test connection, so no client thread outlives its test."""
    yield
    while _open:
        _open.pop().close_socket()


@pytest.fixture
def sb():
    s = FtxSandbox(accounts={KEY: SECRET, OTHER_KEY: OTHER_SECRET}, seed=3,
                   tick_interval=None).start()
    yield s
    s.stop()


def ws(sb):
    c = connect(sb.url, open_timeout=5)
    _open.append(c)
    return c


def send(c, obj):
    c.send(json.dumps(obj))


def recv(c, timeout=5.0):
    return json.loads(c.recv(timeout=timeout))


def wait_for(c, pred, timeout=5.0):
    """Frames until one satisfies ``pred``; returns (match, frames seen before it)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame; got {seen[-10:]}")
        msg = recv(c, left)
        if pred(msg):
            return msg, seen
        seen.append(msg)


def silent(c, timeout=0.3):
    """True if nothing arrives within ``timeout``."""
    try:
        c.recv(timeout=timeout)
    except TimeoutError:
        return True
    return False


def login(c, key=KEY, secret=SECRET, ts=None):
    ts = int(time.time() * 1000) if ts is None else ts
    send(c, {"op": "login", "args": {"key": key, "sign": login_signature(secret, ts), "time": ts}})


def subscribe(c, channel, market=None):
    req = {"op": "subscribe", "channel": channel}
    if market is not None:
        req["market"] = market
    send(c, req)
    ack = recv(c)
    expected = {"type": "subscribed", "channel": channel}
    if market is not None:
        expected["market"] = market
    assert ack == expected
    return ack


def checksum(bids, asks):
    """FTX's rule, written independently: str(float) of each number, top 100 interleaved."""
    parts = []
    for i in range(100):
        for side in (bids, asks):
            if i < len(side):
                parts += [str(float(side[i][0])), str(float(side[i][1]))]
    return zlib.crc32(":".join(parts).encode()) & 0xFFFFFFFF


class LocalBook:
    """A client's copy of one orderbook channel."""

    def __init__(self):
        self.bids, self.asks = {}, {}

    def apply(self, data):
        if data["action"] == "partial":
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, data["bids"]), (self.asks, data["asks"])):
            for p, s in levels:
                if s == 0:
                    side.pop(p, None)
                else:
                    side[p] = s

    def sides(self):
        return (sorted(self.bids.items(), key=lambda kv: -kv[0]),
                sorted(self.asks.items(), key=lambda kv: kv[0]))

    def checksum(self):
        return checksum(*self.sides())


# -- basics -----------------------------------------------------------------------------

def test_ping_pong(sb):
    """{"op":"ping"} is answered with {"type":"pong"}."""
    c = ws(sb)
    send(c, {"op": "ping"})
    assert recv(c) == {"type": "pong"}


def test_url_and_port(sb):
    """The handle listens on 127.0.0.1 at a free port and names the /ws/ path."""
    assert sb.port > 0
    assert sb.url == f"ws://127.0.0.1:{sb.port}/ws/"


def test_login_signature_matches_documented_example():
    """The sign is hex HMAC-SHA256 of f"{time}websocket_login" (FTX's doc example)."""
    assert login_signature("Y2QTHI23f23f23jfjas23f23To0RfUwX3H42fvN-", 1557246346499) == \
        "d10b5a67a1a941ae9463a60b285ae845cdeac1b11edc7da9977bef0228b96de9"


def test_login_ok_is_silent_and_unlocks_private_channels(sb):
    """A good login gets no answer (as FTX did); private channels then subscribe."""
    c = ws(sb)
    login(c)
    assert silent(c)
    subscribe(c, "fills")
    subscribe(c, "orders")
    assert sb.logins(KEY)[0]["subaccount"] is None


def test_login_bad_signature(sb):
    """A wrong sign is {"type":"error","code":400,"msg":"Invalid login credentials"}."""
    c = ws(sb)
    login(c, secret="wrong")
    assert recv(c) == {"type": "error", "code": 400, "msg": "Invalid login credentials"}
    send(c, {"op": "subscribe", "channel": "fills"})
    assert recv(c)["msg"] == "Not logged in"


def test_login_unknown_key_and_stale_time(sb):
    """An unknown key and a time over 60 s from the server's clock are both refused."""
    c = ws(sb)
    login(c, key="nobody")
    assert recv(c)["msg"] == "Invalid login credentials"
    login(c, ts=int(time.time() * 1000) - 120_000)
    assert recv(c)["msg"] == "Invalid login credentials"


def test_second_login_refused(sb):
    """Logging in again on the same connection is a 400 "Already logged in"."""
    c = ws(sb)
    login(c)
    login(c)
    assert recv(c) == {"type": "error", "code": 400, "msg": "Already logged in"}


def test_private_channels_need_login(sb):
    """fills and orders without login: {"type":"error","code":400,"msg":"Not logged in"}."""
    c = ws(sb)
    for channel in ("fills", "orders"):
        send(c, {"op": "subscribe", "channel": channel})
        assert recv(c) == {"type": "error", "code": 400, "msg": "Not logged in"}


def test_subscribe_errors_and_unsubscribe(sb):
    """Unknown markets and channels are errors; unsubscribe is acknowledged with the market."""
    c = ws(sb)
    send(c, {"op": "subscribe", "channel": "trades", "market": "DOGE-PERP"})
    assert recv(c) == {"type": "error", "code": 400, "msg": "Invalid market"}
    send(c, {"op": "subscribe", "channel": "nope", "market": "BTC-PERP"})
    assert recv(c)["type"] == "error"
    subscribe(c, "trades", "BTC-PERP")
    send(c, {"op": "unsubscribe", "channel": "trades", "market": "BTC-PERP"})
    assert recv(c) == {"type": "unsubscribed", "channel": "trades", "market": "BTC-PERP"}
    sb.step(5)
    assert silent(c)


# -- private channels ----------------------------------------------------------------------

def test_order_rests_then_fills(sb):
    """A resting buy shows new then open; when hit it gets a maker fill and closes filled."""
    c = ws(sb)
    login(c)
    subscribe(c, "orders")
    subscribe(c, "fills")
    price = sb.book("BTC-PERP")["bids"][0][0]
    placed = sb.place_order(KEY, "BTC-PERP", "buy", price, 0.01, client_id="my-1")
    assert placed["status"] == "new" and placed["clientId"] == "my-1"
    new = recv(c)
    assert new["channel"] == "orders" and new["type"] == "update"
    assert new["data"]["status"] == "new"
    opened = recv(c)["data"]
    assert set(opened) == ORDER_FIELDS
    assert opened["status"] == "open" and opened["id"] == placed["id"]
    assert (opened["market"], opened["side"], opened["price"], opened["size"]) == \
        ("BTC-PERP", "buy", price, 0.01)
    assert (opened["filledSize"], opened["remainingSize"],
            opened["avgFillPrice"]) == (0.0, 0.01, None)
    assert sb.orders_received(KEY)[0]["clientId"] == "my-1"

    # Another account sweeps the whole bid level (ours is last in time priority).
    level = sum(s for p, s in sb.book("BTC-PERP")["bids"] if p >= price)
    sb.place_order(OTHER_KEY, "BTC-PERP", "sell", None, round(level, 8), type="market")
    closed, before = wait_for(c, lambda m: m["channel"] == "orders"
                              and m["data"]["status"] == "closed")
    frames = [*before, closed]
    try:
        fill = next(m for m in frames if m["channel"] == "fills")
    except StopIteration:
        fill, _ = wait_for(c, lambda m: m["channel"] == "fills")
    o = closed["data"]
    assert (o["filledSize"], o["remainingSize"], o["avgFillPrice"]) == (0.01, 0.0, price)
    f = fill["data"]
    assert fill["type"] == "update" and set(f) == FILL_FIELDS
    assert (f["market"], f["future"], f["side"], f["size"], f["price"], f["liquidity"]) == \
        ("BTC-PERP", "BTC-PERP", "buy", 0.01, price, "maker")
    assert f["orderId"] == placed["id"] and f["type"] == "order" and f["fee"] > 0
    assert f["feeRate"] == 0.001 and f["feeCurrency"] == "BTC"


def test_taker_fill_on_spot_market(sb):
    """A crossing spot order fills at once as taker; future is null on spot markets."""
    c = ws(sb)
    login(c)
    subscribe(c, "fills")
    ask = sb.book("BTC/USD")["asks"][0][0]
    sb.place_order(KEY, "BTC/USD", "buy", ask, 0.001)
    f = recv(c)["data"]
    assert (f["market"], f["future"], f["liquidity"], f["price"]) == ("BTC/USD", None, "taker", ask)
    assert f["feeRate"] == 0.002


def test_cancel_order_closes_unfilled(sb):
    """cancel_order closes a resting order with filledSize 0; a second cancel is False."""
    c = ws(sb)
    login(c)
    subscribe(c, "orders")
    bid = sb.book("ETH-PERP")["bids"][-1][0]
    oid = sb.place_order(KEY, "ETH-PERP", "buy", bid, 0.5)["id"]
    assert [recv(c)["data"]["status"] for _ in range(2)] == ["new", "open"]
    assert sb.cancel_order(KEY, oid) is True
    o = recv(c)["data"]
    assert (o["id"], o["status"], o["filledSize"], o["remainingSize"]) == (oid, "closed", 0.0, 0.0)
    assert sb.cancel_order(KEY, oid) is False


def test_refused_order_raises_and_is_recorded(sb):
    """An order the engine refuses raises ValueError; orders_received still lists it."""
    with pytest.raises(ValueError, match="not enough exchange balance"):
        sb.place_order(KEY, "BTC/USD", "buy", 50000, 1000)
    with pytest.raises(ValueError, match="No such market"):
        sb.place_order(KEY, "NOPE/USD", "buy", 1, 1)
    assert [o["market"] for o in sb.orders_received(KEY)] == ["BTC/USD", "NOPE/USD"]


def test_fills_only_reach_their_owner(sb):
    """Another account's connection sees no fills or orders of this account."""
    mine, theirs = ws(sb), ws(sb)
    login(mine)
    login(theirs, OTHER_KEY, OTHER_SECRET)
    for c in (mine, theirs):
        subscribe(c, "fills")
        subscribe(c, "orders")
    sb.place_order(KEY, "ETH/USD", "buy", sb.book("ETH/USD")["asks"][0][0], 0.01)
    wait_for(mine, lambda m: m["channel"] == "fills")
    assert silent(theirs)


# -- public channels -----------------------------------------------------------------------

def test_ticker(sb):
    """ticker: the current one at once, with bid/ask/sizes/last/time, matching the book."""
    c = ws(sb)
    subscribe(c, "ticker", "BTC-PERP")
    msg = recv(c)
    assert (msg["channel"], msg["market"], msg["type"]) == ("ticker", "BTC-PERP", "update")
    t = msg["data"]
    assert set(t) == {"bid", "ask", "bidSize", "askSize", "last", "time"}
    book = sb.book("BTC-PERP")
    assert (t["bid"], t["bidSize"]) == book["bids"][0]
    assert (t["ask"], t["askSize"]) == book["asks"][0]
    assert abs(t["time"] - time.time()) < 60
    sb.step(3)
    assert recv(c)["channel"] == "ticker"


def test_trades(sb):
    """trades: an update listing {id,price,size,side,liquidation,time} for each trade."""
    c = ws(sb)
    subscribe(c, "trades", "BTC-PERP")
    ask = sb.book("BTC-PERP")["asks"][0][0]
    sb.place_order(KEY, "BTC-PERP", "buy", None, 0.002, type="market")
    msg = recv(c)
    assert (msg["channel"], msg["market"], msg["type"]) == ("trades", "BTC-PERP", "update")
    trade = msg["data"][0]
    assert set(trade) == {"id", "price", "size", "side", "liquidation", "time"}
    assert (trade["price"], trade["size"], trade["side"], trade["liquidation"]) == \
        (ask, 0.002, "buy", False)
    assert trade["time"].endswith("+00:00")


@pytest.mark.parametrize("market", ["BTC-PERP", "XRP/BTC"])
def test_orderbook_partial_and_updates_checksums(sb, market):
    """orderbook: partial then updates whose checksums match the client's book after each."""
    c = ws(sb)
    subscribe(c, "orderbook", market)
    partial = recv(c)
    assert (partial["type"], partial["data"]["action"]) == ("partial", "partial")
    book = LocalBook()
    book.apply(partial["data"])
    assert partial["data"]["checksum"] == book.checksum()
    updates = 0
    for _ in range(10):
        sb.step()
        try:
            msg = recv(c, timeout=1.0)
        except TimeoutError:
            continue
        assert (msg["type"], msg["data"]["action"]) == ("update", "update")
        assert set(msg["data"]) == {"action", "bids", "asks", "checksum", "time"}
        book.apply(msg["data"])
        assert msg["data"]["checksum"] == book.checksum()
        updates += 1
    assert updates >= 3
    server = sb.book(market)
    assert book.sides() == (server["bids"], server["asks"])


def test_tiny_prices_need_python_float_text(sb):
    """XRP/BTC prices arrive in e-notation the wire text does not share with str(float),
    so hashing the raw text would not give the checksum."""
    c = ws(sb)
    subscribe(c, "orderbook", "XRP/BTC")
    raw = c.recv(timeout=5)
    assert "e-7" in raw and "e-07" not in raw
    data = json.loads(raw)["data"]
    assert str(data["bids"][0][0]).endswith("e-07")
    assert checksum(data["bids"], data["asks"]) == data["checksum"]


# -- faults ----------------------------------------------------------------------------------

def test_fault_drop_connections(sb):
    """drop_connections aborts every socket; the client sees the connection end."""
    c = ws(sb)
    send(c, {"op": "ping"})
    recv(c)
    assert sb.faults.drop_connections() == 1
    with pytest.raises(ConnectionClosed):
        recv(c)


def test_fault_send_info_20001(sb):
    """send_info(20001) sends {"type":"info","code":20001,"msg":"Server restarting, please
    reconnect"}."""
    c = ws(sb)
    send(c, {"op": "ping"})
    recv(c)
    sb.faults.send_info(20001)
    assert recv(c) == {"type": "info", "code": 20001, "msg": "Server restarting, please reconnect"}


def test_fault_corrupt_next_checksum(sb):
    """corrupt_next_checksum spoils one orderbook checksum; the next update is right again."""
    c = ws(sb)
    subscribe(c, "orderbook", "BTC-PERP")
    book = LocalBook()
    book.apply(recv(c)["data"])
    sb.faults.corrupt_next_checksum()
    results = []
    for _ in range(20):
        sb.step()
        try:
            msg = recv(c, timeout=1.0)
        except TimeoutError:
            continue
        book.apply(msg["data"])
        results.append(msg["data"]["checksum"] == book.checksum())
        if len(results) == 2:
            break
    assert results == [False, True]


def test_fault_stall_and_resume(sb):
    """stall holds every frame (pongs too) until resume delivers them in order."""
    c = ws(sb)
    sb.faults.stall()
    send(c, {"op": "ping"})
    sb.faults.send_info(20001)
    assert silent(c, 0.5)
    sb.faults.resume()
    assert recv(c) == {"type": "pong"}
    assert recv(c)["type"] == "info"


def test_fault_stall_for_seconds(sb):
    """stall(seconds) resumes by itself."""
    c = ws(sb)
    sb.faults.stall(0.3)
    send(c, {"op": "ping"})
    assert recv(c, timeout=3) == {"type": "pong"}


def test_fault_malformed_frame(sb):
    """malformed_frame sends one text frame that is not valid JSON; the socket stays usable."""
    c = ws(sb)
    send(c, {"op": "ping"})
    recv(c)
    sb.faults.malformed_frame()
    with pytest.raises(json.JSONDecodeError):
        json.loads(c.recv(timeout=5))
    send(c, {"op": "ping"})
    assert recv(c) == {"type": "pong"}


def test_stop_closes_connections():
    """stop() closes the listener and every open connection."""
    s = FtxSandbox(tick_interval=None).start()
    c = ws(s)
    s.stop()
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=5)


def test_defaults_and_market_loop():
    """Defaults: the DEFAULT_FTX_KEY account logs in, and the market loop publishes by itself."""
    s = FtxSandbox(tick_interval=0.05).start()
    try:
        c = ws(s)
        login(c)
        assert silent(c)
        subscribe(c, "orderbook", "ETH-PERP")
        book = LocalBook()
        book.apply(recv(c)["data"])
        msg, _ = wait_for(c, lambda m: m["type"] == "update")
        book.apply(msg["data"])
        assert msg["data"]["checksum"] == book.checksum()
    finally:
        s.stop()

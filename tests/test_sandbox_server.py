"""The sandbox's Bitfinex v2 WebSocket server, over loopback and in memory.

Loopback tests drive it with the ``websockets`` sync client on 127.0.0.1, port 0.
Timing tests (heartbeats, F1 batching, stalls, calc rate) run a session in memory
on a ``task.Clock``, so the clock is advanced instead of slept on.
"""

import hashlib
import hmac
import itertools
import json
import socket
import time
import zlib

import pytest
from twisted.internet.task import Clock
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from exchange_wss.numtext import js_number_text
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox
from exchange_wss.sandbox.bitfinex.server import SandboxServer
from exchange_wss.sandbox.bitfinex.session import _Session

ACCOUNTS = {DEFAULT_KEY: DEFAULT_SECRET, "key-2": "secret-2", "key-3": "secret-3",
            "key-4": "secret-4", "key-5": "secret-5"}
SEQ_ALL, TIMESTAMP, OB_CHECKSUM, BULK = 65536, 32768, 131072, 536870912
_nonces = itertools.count(int(time.time() * 1_000_000))


def auth_message(key=DEFAULT_KEY, secret=DEFAULT_SECRET, nonce=None, **extra):
    nonce = next(_nonces) if nonce is None else nonce
    payload = f"AUTH{nonce}"
    sig = hmac.new(secret.encode(), payload.encode(), hashlib.sha384).hexdigest()
    return {"event": "auth", "apiKey": key, "authSig": sig, "authNonce": nonce,
            "authPayload": payload, **extra}


_open_conns: list = []


@pytest.fixture(autouse=True)
def _close_leftover_connections():
    """Close every test connection, so no client thread outlives its test."""
    yield
    while _open_conns:
        _open_conns.pop().close()


class Conn:
    """A test client: JSON in and out, and waiting for a frame that matches."""

    def __init__(self, url):
        self.ws = connect(url, open_timeout=5)
        _open_conns.append(self)
        self.info = self.recv()

    def send(self, obj):
        self.ws.send(json.dumps(obj))

    def recv(self, timeout=5.0):
        return json.loads(self.ws.recv(timeout=timeout))

    def wait(self, pred, timeout=5.0):
        """Frames until one satisfies ``pred``; returns (match, frames before it)."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching frame; got {seen[-10:]}")
            msg = self.recv(timeout=left)
            if pred(msg):
                return msg, seen
            seen.append(msg)

    def auth(self, key=DEFAULT_KEY, secret=DEFAULT_SECRET, **extra):
        self.send(auth_message(key, secret, **extra))
        ok, _ = self.wait(lambda m: isinstance(m, dict) and m.get("event") == "auth")
        assert ok["status"] == "OK", ok
        self.wait(lambda m: isinstance(m, list) and m[1] == "fls")
        return ok

    def close(self):
        # Drop the socket rather than wait for a close handshake: the sync client
        # cannot finish one while an unread frame is pending.
        self.ws.close_socket()


def is_event(name):
    return lambda m: isinstance(m, dict) and m.get("event") == name


def is_stream(name, chan=0):
    return lambda m: isinstance(m, list) and m[0] == chan and m[1] == name


def notification(type_):
    return lambda m: isinstance(m, list) and m[0] == 0 and m[1] == "n" and m[2][1] == type_


@pytest.fixture(scope="module")
def sb():
    sandbox = BitfinexSandbox(accounts=ACCOUNTS, seed=2, tick_interval=None).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def fresh():
    """A sandbox of its own, for tests that break things."""
    sandbox = BitfinexSandbox(accounts=ACCOUNTS, seed=3, tick_interval=None).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def conn(sb):
    c = Conn(sb.url)
    yield c
    c.close()


# -- connection basics ---------------------------------------------------------------

def test_info_on_connect(conn):
    """The first frame is the info event: version 2, a serverId and platform status 1."""
    assert conn.info["event"] == "info" and conn.info["version"] == 2
    assert conn.info["platform"] == {"status": 1} and len(conn.info["serverId"]) == 36


def test_any_path_is_accepted(sb):
    """/ws/2, /ws/2/ and other paths all reach the server."""
    for path in ("/ws/2/", "/"):
        c = Conn(f"ws://127.0.0.1:{sb.port}{path}")
        assert c.info["event"] == "info"
        c.close()


def test_conf_ok(conn):
    """conf is answered with status OK and the flags."""
    conn.send({"event": "conf", "flags": OB_CHECKSUM + SEQ_ALL})
    assert conn.recv() == {"event": "conf", "status": "OK", "flags": OB_CHECKSUM + SEQ_ALL}


def test_ping_pong(conn):
    """ping is answered with pong carrying the cid and a ms timestamp."""
    conn.send({"event": "ping", "cid": 1234})
    pong = conn.recv()
    assert pong["event"] == "pong" and pong["cid"] == 1234
    assert abs(pong["ts"] - time.time() * 1000) < 60_000


def test_unknown_event(conn):
    """An unknown event gets error 10000."""
    conn.send({"event": "dance"})
    assert conn.recv()["code"] == 10000


# -- subscriptions -------------------------------------------------------------------

SUBSCRIPTIONS = [
    ({"channel": "ticker", "symbol": "tBTCUSD"}, {"symbol": "tBTCUSD", "pair": "BTCUSD"}),
    ({"channel": "ticker", "symbol": "fUSD"}, {"symbol": "fUSD", "currency": "USD"}),
    ({"channel": "trades", "symbol": "tETHUSD"}, {"symbol": "tETHUSD", "pair": "ETHUSD"}),
    ({"channel": "trades", "symbol": "fUSD"}, {"symbol": "fUSD"}),
    ({"channel": "book", "symbol": "tBTCUSD"}, {"prec": "P0", "freq": "F0", "len": "25"}),
    ({"channel": "book", "symbol": "tXRPBTC", "prec": "P2", "len": 100},
     {"prec": "P2", "len": "100"}),
    ({"channel": "book", "symbol": "tETHUSD", "prec": "R0", "len": "250"},
     {"prec": "R0", "len": "250"}),
    ({"channel": "book", "symbol": "fUSD", "prec": "P0", "freq": "F1", "len": "1"}, {"freq": "F1"}),
    ({"channel": "candles", "key": "trade:1m:tBTCUSD"}, {"key": "trade:1m:tBTCUSD"}),
    ({"channel": "candles", "key": "trade:1h:fUSD:p30"}, {"key": "trade:1h:fUSD:p30"}),
    ({"channel": "status", "key": "deriv:tBTCF0:USTF0"}, {"key": "deriv:tBTCF0:USTF0"}),
    ({"channel": "status", "key": "liq:global"}, {"key": "liq:global"}),
]


@pytest.mark.parametrize(("req", "expect"), SUBSCRIPTIONS,
                         ids=[f"{r['channel']}-{r.get('symbol', r.get('key'))}"
                              for r, _ in SUBSCRIPTIONS])
def test_subscribe_each_channel(conn, req, expect):
    """Each channel answers 'subscribed' echoing the request and subId, then a snapshot."""
    conn.send({"event": "subscribe", "subId": "s1", **req})
    ev = conn.recv()
    assert ev["event"] == "subscribed" and ev["channel"] == req["channel"] and ev["subId"] == "s1"
    for k, v in expect.items():
        assert ev[k] == v
    snap = conn.recv()
    assert snap[0] == ev["chanId"] and isinstance(snap[1], list)
    ch, sym = req["channel"], req.get("symbol", "")
    if ch == "ticker":
        assert len(snap[1]) == (16 if sym.startswith("f") else 10)
    elif ch == "trades":
        assert len(snap[1]) == 30 and len(snap[1][0]) == (5 if sym.startswith("f") else 4)
    elif ch == "book":
        width = 4 if sym.startswith("f") else 3
        assert snap[1] and all(len(e) == width for e in snap[1])
        assert len(snap[1]) <= 2 * int(ev["len"])
    elif ch == "candles":
        assert len(snap[1]) == 240 and snap[1][0][0] > snap[1][1][0]
    elif req["key"].startswith("deriv"):
        assert len(snap[1]) == 1 and len(snap[1][0]) == 23


def test_symbol_without_prefix_means_trading(conn):
    """A symbol without t/f prefix is taken as a trading pair."""
    conn.send({"event": "subscribe", "channel": "ticker", "symbol": "BTCUSD"})
    assert conn.recv()["symbol"] == "tBTCUSD"


@pytest.mark.parametrize(("req", "code", "msg"), [
    ({"channel": "nope"}, 10302, "subscribe: unknown channel"),
    ({}, 10300, "subscribe: invalid"),
    ({"channel": "ticker", "symbol": "tNOPE"}, 10300, "symbol: invalid"),
    ({"channel": "book", "symbol": "tBTCUSD", "prec": "P9"}, 10011, "prec: invalid"),
    ({"channel": "book", "symbol": "tBTCUSD", "len": "7"}, 10012, "len: invalid"),
    ({"channel": "book", "symbol": "tBTCUSD", "freq": "F7"}, 10300, "freq: invalid"),
    ({"channel": "candles", "key": "trade:2m:tBTCUSD"}, 10300, "key: invalid"),
    ({"channel": "status", "key": "deriv:tNOPE"}, 10300, "key: invalid"),
])
def test_subscribe_errors(conn, req, code, msg):
    """Bad subscriptions get the error event with its code, echoing the request and subId."""
    conn.send({"event": "subscribe", "subId": 9, **req})
    err = conn.recv()
    assert (err["event"], err["code"], err["msg"], err["subId"]) == ("error", code, msg, 9)
    for k, v in req.items():
        assert err[k] == v


def test_duplicate_subscription(conn):
    """Subscribing twice to the same channel gets 10301 'subscribe: dup'."""
    conn.send({"event": "subscribe", "channel": "ticker", "symbol": "tETHUSD"})
    conn.wait(is_event("subscribed"))
    conn.send({"event": "subscribe", "channel": "ticker", "symbol": "tETHUSD"})
    err, _ = conn.wait(is_event("error"))
    assert (err["code"], err["msg"]) == (10301, "subscribe: dup")


def test_channel_limit():
    """Past max_channels a subscription gets 10305 'subscribe: limit'."""
    sandbox = BitfinexSandbox(max_channels=2, tick_interval=None).start()
    try:
        c = Conn(sandbox.url)
        for sym in ("tBTCUSD", "tETHUSD", "tXRPBTC"):
            c.send({"event": "subscribe", "channel": "ticker", "symbol": sym})
        err, seen = c.wait(is_event("error"))
        assert (err["code"], err["msg"], err["symbol"]) == (10305, "subscribe: limit", "tXRPBTC")
        assert sum(1 for m in seen if isinstance(m, dict)) == 2
        c.close()
    finally:
        sandbox.stop()


def test_unsubscribe(conn):
    """unsubscribe answers 'unsubscribed' OK; again, 10401; a bad chanId, 10400."""
    conn.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    chan = conn.wait(is_event("subscribed"))[0]["chanId"]
    conn.send({"event": "unsubscribe", "chanId": chan})
    ev, _ = conn.wait(lambda m: isinstance(m, dict))
    assert ev == {"event": "unsubscribed", "status": "OK", "chanId": chan}
    conn.send({"event": "unsubscribe", "chanId": chan})
    assert conn.recv()["code"] == 10401
    conn.send({"event": "unsubscribe", "chanId": "x"})
    assert conn.recv()["code"] == 10400


def test_heartbeat_after_silence():
    """A silent channel gets [chanId,"hb"] after heartbeat_interval."""
    sandbox = BitfinexSandbox(tick_interval=None, heartbeat_interval=0.3).start()
    try:
        c = Conn(sandbox.url)
        c.send({"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
        chan = c.wait(is_event("subscribed"))[0]["chanId"]
        hb, _ = c.wait(lambda m: m == [chan, "hb"], timeout=3)
        assert hb == [chan, "hb"]
        c.close()
    finally:
        sandbox.stop()


def test_book_updates_carry_correct_checksums(sb):
    """With OB_CHECKSUM every book update is followed by a cs that matches the rebuilt book."""
    c = Conn(sb.url)
    c.send({"event": "conf", "flags": OB_CHECKSUM})
    c.send({"event": "subscribe", "channel": "book", "symbol": "tXRPBTC", "prec": "P0", "len": 25})
    chan = c.wait(is_event("subscribed"))[0]["chanId"]
    snap = c.recv()
    bids = {e[0]: e for e in snap[1] if e[2] > 0}
    asks = {e[0]: e for e in snap[1] if e[2] < 0}
    checked = 0
    sb.step(3)
    while checked < 10:
        m = c.recv()
        if m[0] != chan or m[1] == "hb":
            continue
        if m[1] == "cs":
            parts = []
            b = sorted(bids.values(), key=lambda e: -e[0])
            a = sorted(asks.values(), key=lambda e: e[0])
            for i in range(25):
                for side in (b, a):
                    if i < len(side):
                        parts += [js_number_text(side[i][0]), js_number_text(side[i][2])]
            crc = zlib.crc32(":".join(parts).encode())
            assert m[2] == (crc - (1 << 32) if crc >= 1 << 31 else crc)
            checked += 1
            continue
        price, count, amount = m[1]
        side = bids if amount > 0 else asks
        if count == 0:
            side.pop(price, None)
        else:
            side[price] = m[1]
    c.close()


def test_bulk_updates_come_as_arrays_of_entries(sb):
    """With BULK_UPDATES book updates are arrays of entries, one cs after each bulk."""
    c = Conn(sb.url)
    c.send({"event": "conf", "flags": OB_CHECKSUM + BULK})
    c.send({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "R0"})
    chan = c.wait(is_event("subscribed"))[0]["chanId"]
    c.recv()
    sb.step(2)
    upd, _ = c.wait(lambda m: m[0] == chan and m[1] != "hb")
    assert isinstance(upd[1][0], list)
    cs = c.recv()
    assert cs[0] == chan and cs[1] == "cs"
    c.close()


def test_seq_all_numbers_every_channel_frame(sb):
    """With SEQ_ALL each channel frame ends with a per-connection counter 1, 2, 3..."""
    c = Conn(sb.url)
    c.send({"event": "conf", "flags": SEQ_ALL})
    c.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    c.send({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})
    seqs = []
    while len(seqs) < 2:  # the two snapshots, before the market moves
        m = c.recv()
        if isinstance(m, list):
            seqs.append(m[-1])
    sb.step(2)
    while len(seqs) < 8:
        m = c.recv()
        if isinstance(m, list):
            seqs.append(m[-1])
    assert seqs == list(range(1, 9))
    c.close()


def test_timestamp_follows_the_sequence_number(sb):
    """With TIMESTAMP and SEQ_ALL a frame ends [..., seq, ms], as recorded sessions show."""
    c = Conn(sb.url)
    c.send({"event": "conf", "flags": SEQ_ALL + TIMESTAMP})
    c.send({"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    c.wait(is_event("subscribed"))
    snap = c.recv()
    assert snap[2] == 1 and abs(snap[3] - time.time() * 1000) < 60_000
    c.close()


# -- authentication ------------------------------------------------------------------

def test_auth_ok_then_snapshots(conn):
    """A good auth gets status OK with userId, auth_id and caps, then ps, ws, os, fos, fcs, fls."""
    conn.send(auth_message("key-2", "secret-2"))
    ok = conn.recv()
    assert ok["event"] == "auth" and ok["status"] == "OK" and ok["chanId"] == 0
    assert isinstance(ok["userId"], int) and ok["auth_id"] and ok["caps"]["orders"]["write"] == 1
    streams = [conn.recv() for _ in range(6)]
    assert [s[1] for s in streams] == ["ps", "ws", "os", "fos", "fcs", "fls"]
    wallets = {(w[0], w[1]): w for w in streams[1][2]}
    assert wallets["exchange", "USD"][:4] == ["exchange", "USD", 100000, 0]
    assert len(wallets["exchange", "USD"]) == 7
    assert wallets["margin", "USD"][:3] == ["margin", "USD", 50000]


@pytest.mark.parametrize(("mutate", "msg"), [
    (lambda m: m.update(apiKey="who"), "apikey: invalid"),
    (lambda m: m.update(authSig="00" * 48), "apikey: digest invalid"),
])
def test_auth_failures(conn, mutate, msg):
    """A bad key or signature gets auth FAILED, code 10100, with Bitfinex's text."""
    m = auth_message()
    mutate(m)
    conn.send(m)
    assert conn.recv() == {"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
                           "msg": msg}


def test_auth_nonce_must_increase_across_connections(sb):
    """A nonce not above the key's last one (from any connection) fails with 'nonce: small'."""
    nonce = next(_nonces)
    a = Conn(sb.url)
    a.send(auth_message("key-3", "secret-3", nonce=nonce))
    assert a.recv()["status"] == "OK"
    b = Conn(sb.url)
    b.send(auth_message("key-3", "secret-3", nonce=nonce))
    assert b.recv() == {"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
                        "msg": "nonce: small"}
    a.close()
    b.close()


def test_auth_twice_is_dup(conn):
    """A second auth on an authenticated socket gets error 'auth: dup'."""
    conn.auth()
    conn.send(auth_message())
    err, _ = conn.wait(is_event("error"))
    assert (err["code"], err["msg"]) == (10100, "auth: dup")


def test_input_before_auth_is_refused(conn):
    """Order input on an unauthenticated socket gets error 10200."""
    conn.send([0, "on", None, {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "1",
                               "price": "1"}])
    assert conn.recv()["code"] == 10200


# -- orders --------------------------------------------------------------------------

def new_order(**kw):
    payload = {"type": "EXCHANGE LIMIT", "symbol": "tBTCUSD", "amount": "0.01", "price": "1000"}
    payload.update(kw)
    return [0, "on", None, payload]


def test_order_rests_and_cancels(sb, conn):
    """A limit order away from the market: on-req SUCCESS, on ACTIVE, wu; then oc-req, oc
    CANCELED."""
    conn.auth()
    conn.send(new_order(cid=101))
    n, _ = conn.wait(notification("on-req"))
    assert n[2][6] == "SUCCESS" and n[2][7] == "Submitting exchange limit buy order for 0.01 BTC."
    assert n[2][4][2] == 101 and len(n[2][4]) == 32
    on, _ = conn.wait(is_stream("on"))
    order = on[2]
    assert (order[2], order[3], order[6], order[8], order[13], order[16]) == \
        (101, "tBTCUSD", 0.01, "EXCHANGE LIMIT", "ACTIVE", 1000)
    wu, _ = conn.wait(is_stream("wu"))
    assert wu[2][:2] == ["exchange", "USD"] and wu[2][4] == wu[2][2] - 10
    assert any(o.id == order[0] for o in sb.orders(DEFAULT_KEY))
    conn.send([0, "oc", None, {"id": order[0]}])
    n, _ = conn.wait(notification("oc-req"))
    assert n[2][6] == "SUCCESS" and n[2][4][0] == order[0]
    oc, _ = conn.wait(is_stream("oc"))
    assert oc[2][0] == order[0] and oc[2][13] == "CANCELED"


def test_order_fills_against_the_book(sb, conn):
    """A buy at the best ask trades: te, then oc EXECUTED, tu with a negative BTC fee, wu."""
    conn.auth()
    ask = sb.book("tBTCUSD")["asks"][0]
    conn.send(new_order(amount="0.001", price=str(ask[0]), cid=202))
    conn.wait(notification("on-req"))
    te, _ = conn.wait(is_stream("te"))
    assert te[2][1] == "tBTCUSD" and te[2][4] == 0.001 and te[2][5] == ask[0] and te[2][9] is None
    oc, _ = conn.wait(is_stream("oc"))
    assert oc[2][13] == f"EXECUTED @ {js_number_text(ask[0])}.0(0.001)"
    tu, _ = conn.wait(is_stream("tu"))
    assert tu[2][8] == -1 and tu[2][9] == -0.000002 and tu[2][10] == "BTC" and tu[2][11] == 202
    conn.wait(is_stream("wu"))


def test_rejected_order_notification(conn):
    """An order under the minimum size gets on-req ERROR with Bitfinex's text and the cid at
    DATA[2]."""
    conn.auth()
    conn.send(new_order(amount="0.00001", cid=303))
    n, _ = conn.wait(notification("on-req"))
    assert n[2][6] == "ERROR" and n[2][7] == "Invalid order: minimum size for BTC/USD is 0.0002"
    assert n[2][4][0] is None and n[2][4][2] == 303


def test_cancel_unknown_order(conn):
    """Cancelling an unknown id gets oc-req ERROR 'Order not found.'."""
    conn.auth()
    conn.send([0, "oc", None, {"id": 1}])
    n, _ = conn.wait(notification("oc-req"))
    assert (n[2][6], n[2][7]) == ("ERROR", "Order not found.")


def test_cancel_by_cid(conn):
    """oc with cid and cid_date cancels the matching order."""
    conn.auth("key-4", "secret-4")
    conn.send(new_order(cid=404))
    on, _ = conn.wait(is_stream("on"))
    date = time.strftime("%Y-%m-%d", time.gmtime(on[2][4] / 1000))
    conn.send([0, "oc", None, {"cid": 404, "cid_date": date}])
    oc, _ = conn.wait(is_stream("oc"))
    assert oc[2][2] == 404 and oc[2][13] == "CANCELED"


def test_update_order(conn):
    """ou changes the price: ou-req SUCCESS, then ou with the new price."""
    conn.auth()
    conn.send(new_order(cid=505))
    on, _ = conn.wait(is_stream("on"))
    conn.send([0, "ou", None, {"id": on[2][0], "price": "1100"}])
    n, _ = conn.wait(notification("ou-req"))
    assert n[2][6] == "SUCCESS"
    ou, _ = conn.wait(is_stream("ou"))
    assert ou[2][16] == 1100
    conn.send([0, "ou", None, {"id": 42, "price": "1100"}])
    n, _ = conn.wait(notification("ou-req"))
    assert (n[2][6], n[2][7], n[2][4][23]) == ("ERROR", "Order not found.", 0)


def test_cancel_multi_all(sb, conn):
    """oc_multi {all:1} cancels every open order of the account."""
    conn.auth("key-5", "secret-5")
    conn.send(new_order(cid=1))
    conn.send(new_order(cid=2, price="1001"))
    conn.wait(lambda m: is_stream("on")(m) and m[2][2] == 2)
    conn.send([0, "oc_multi", None, {"all": 1}])
    n, _ = conn.wait(notification("oc_multi-req"))
    assert n[2][6] == "SUCCESS" and len(n[2][4]) == 2
    assert sb.orders("key-5") == []


def test_ox_multi(sb, conn):
    """ox_multi runs its ops in order and answers one ox_multi-req holding each op's result."""
    conn.auth()
    conn.send([0, "ox_multi", None, [["on", new_order(cid=601)[3]], ["on", new_order(cid=602)[3]],
                                     ["oc", {"id": 1}]]])
    n, _ = conn.wait(notification("ox_multi-req"))
    assert [x[1] for x in n[2][4]] == ["on-req", "on-req", "oc-req"]
    assert [x[6] for x in n[2][4]] == ["SUCCESS", "SUCCESS", "ERROR"]
    conn.send([0, "ox_multi", None, [["oc", {"id": 1}]] * 76])
    n, _ = conn.wait(notification("ox_multi-req"))
    assert n[2][6] == "ERROR"
    cids = [p.get("cid") for p in sb.orders_received(DEFAULT_KEY)]
    assert 601 in cids and 602 in cids


def test_calc_answers_wallets_and_limits_batches(conn):
    """calc answers wallet_exchange_* with a wu; more than 30 requests in a batch is an error."""
    conn.auth()
    conn.send([0, "calc", None, [["wallet_exchange_USD"], ["margin_base"]]])
    wu, _ = conn.wait(is_stream("wu"))
    assert wu[2][1] == "USD" and wu[2][4] is not None
    conn.send([0, "calc", None, [["balance"]] * 31])
    err, _ = conn.wait(is_event("error"))
    assert err["code"] == 10020


def test_dms_cancels_orders_when_the_socket_closes(sb):
    """With dms:4, closing the socket cancels the account's orders (seen from another socket)."""
    watcher = Conn(sb.url)
    watcher.auth("key-2", "secret-2")
    dead = Conn(sb.url)
    dead.auth("key-2", "secret-2", dms=4)
    dead.send(new_order(cid=707))
    on, _ = watcher.wait(is_stream("on"))
    dead.close()
    oc, _ = watcher.wait(is_stream("oc"))
    assert oc[2][0] == on[2][0] and oc[2][13] == "CANCELED"
    assert sb.orders("key-2") == []
    watcher.close()


def test_filters_limit_streams(sb):
    """An auth filter ['wallet'] lets wallet frames through and holds back order frames."""
    c = Conn(sb.url)
    c.send(auth_message("key-3", "secret-3", filter=["wallet"]))
    assert c.recv()["status"] == "OK"
    first = c.recv()
    assert first[1] == "ws"
    c.send(new_order(cid=808))
    _wu, seen = c.wait(is_stream("wu"))
    assert not [m for m in seen if isinstance(m, list) and m[1] in ("on", "n")]
    c.close()


# -- faults --------------------------------------------------------------------------

def test_fault_drop_connections(fresh):
    """drop_connections aborts every socket."""
    c = Conn(fresh.url)
    assert fresh.faults.drop_connections() == 1
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=5)


def test_fault_info_20051(fresh):
    """send_info(20051) delivers the stop/restart info event."""
    c = Conn(fresh.url)
    fresh.faults.send_info(20051)
    ev = c.recv()
    assert ev["event"] == "info" and ev["code"] == 20051
    c.close()


def test_fault_maintenance(fresh):
    """maintenance_start sends 20060, sets platform status 0 and refuses orders; end sends 20061."""
    c = Conn(fresh.url)
    c.auth()
    fresh.faults.maintenance_start()
    assert c.wait(is_event("info"))[0]["code"] == 20060
    assert Conn(fresh.url).info["platform"] == {"status": 0}
    c.send(new_order())
    n, _ = c.wait(notification("on-req"))
    assert n[2][6] == "ERROR"
    fresh.faults.maintenance_end()
    assert c.wait(is_event("info"))[0]["code"] == 20061
    c.close()


def test_fault_stall_and_resume(fresh):
    """During a stall nothing arrives; on resume the held frames come, in order."""
    c = Conn(fresh.url)
    c.send({"event": "conf", "flags": SEQ_ALL})
    c.recv()
    c.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    c.wait(is_event("subscribed"))
    c.recv()
    fresh.faults.stall()
    fresh.step(3)
    with pytest.raises(TimeoutError):
        c.ws.recv(timeout=0.3)
    fresh.faults.resume()
    frames = [c.recv() for _ in range(3)]
    assert [f[-1] for f in frames] == [2, 3, 4]
    c.close()


def test_fault_malformed_frame(fresh):
    """malformed_frame sends text that is not JSON."""
    c = Conn(fresh.url)
    fresh.faults.malformed_frame()
    with pytest.raises(json.JSONDecodeError):
        json.loads(c.ws.recv(timeout=5))
    c.close()


def test_fault_corrupt_next_checksum(fresh):
    """corrupt_next_checksum makes exactly one cs differ from the book's true checksum."""
    from exchange_wss.sandbox.market import BookMirror
    c = Conn(fresh.url)
    c.send({"event": "conf", "flags": OB_CHECKSUM})
    c.send({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD"})
    chan = c.wait(is_event("subscribed"))[0]["chanId"]
    mirror = BookMirror()
    mirror.snapshot(c.recv()[1])
    fresh.faults.corrupt_next_checksum()
    fresh.step(3)
    results = []
    while len(results) < 6:
        m = c.recv()
        if m[0] != chan:
            continue
        if m[1] == "cs":
            results.append(m[2] == mirror.checksum())
        else:
            mirror.apply(m[1])
    assert results[0] is False and all(results[1:])
    c.close()


def test_fault_skip_sequence(fresh):
    """skip_sequence makes the next sequence number jump by two, once."""
    c = Conn(fresh.url)
    c.send({"event": "conf", "flags": SEQ_ALL})
    c.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    c.wait(is_event("subscribed"))
    assert c.recv()[-1] == 1
    fresh.faults.skip_sequence()
    fresh.step(3)
    seqs = [c.recv()[-1] for _ in range(3)]
    assert seqs == [3, 4, 5]
    c.close()


def test_fault_reject_next_handshake(fresh):
    """reject_next_handshake answers the next handshake with HTTP 429, then accepts again."""
    fresh.faults.reject_next_handshake()
    # A raw handshake: websockets 12's sync client trips on an error response with a body.
    with socket.create_connection(("127.0.0.1", fresh.port), timeout=5) as sock:
        sock.sendall(b"GET /ws/2 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n\r\n")
        status_line = sock.makefile("rb").readline()
    assert status_line.split()[1] == b"429"
    Conn(fresh.url).close()


def test_stop_closes_connections():
    """stop() closes the listener and every connection."""
    sandbox = BitfinexSandbox(tick_interval=None).start()
    c = Conn(sandbox.url)
    sandbox.stop()
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=5)
    with pytest.raises(ConnectionRefusedError):
        connect(sandbox.url, open_timeout=2)


def test_market_loop_ticks_on_its_own():
    """With a tick_interval the market moves without step(): trades arrive by themselves."""
    sandbox = BitfinexSandbox(tick_interval=0.05).start()
    try:
        c = Conn(sandbox.url)
        c.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
        chan = c.wait(is_event("subscribed"))[0]["chanId"]
        c.recv()
        te, _ = c.wait(lambda m: m[0] == chan and m[1] == "te", timeout=10)
        assert len(te[2]) == 4
        c.close()
    finally:
        sandbox.stop()


# -- in memory, on a clock -------------------------------------------------------------

class Mem:
    """A session wired to a list, on a server whose time is a task.Clock."""

    def __init__(self, server):
        self.frames = []
        self.dropped = False
        self.session = _Session(server, self.frames.append, self._drop)
        server.session_opened(self.session)

    def _drop(self):
        self.dropped = True

    def send(self, obj):
        self.session.received(json.dumps(obj))

    def take(self):
        out = [json.loads(f) for f in self.frames]
        self.frames.clear()
        return out


@pytest.fixture
def clocked():
    clock = Clock()
    clock.advance(1_700_000_000)
    server = SandboxServer(clock, ACCOUNTS, seed=4, tick_interval=None, heartbeat_interval=15.0)
    server.start_loops()
    yield clock, server
    server.stop_loops()


def test_heartbeat_timing(clocked):
    """hb comes after 15 s of silence on a channel, not before."""
    clock, server = clocked
    m = Mem(server)
    m.send({"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD"})
    chan = m.take()[1]["chanId"]
    clock.advance(14)
    assert m.take() == []
    clock.advance(1)
    assert m.take() == [[chan, "hb"]]


def test_account_channel_heartbeat_carries_public_seq_only(clocked):
    """With SEQ_ALL chan-0 hb is [0,"hb",seq]; account frames carry pub seq then auth seq."""
    clock, server = clocked
    m = Mem(server)
    m.send({"event": "conf", "flags": SEQ_ALL})
    m.send(auth_message())
    frames = m.take()
    snaps = [f for f in frames if isinstance(f, list)]
    assert [f[1] for f in snaps] == ["ps", "ws", "os", "fos", "fcs", "fls"]
    assert [f[-2:] for f in snaps] == [[i, 0] for i in range(1, 7)]
    m.send(new_order())
    frames = m.take()
    n = next(f for f in frames if f[1] == "n")
    assert len(n) == 4 and n[3] == 0
    on = next(f for f in frames if f[1] == "on")
    assert on[-2:] == [7, 1]
    clock.advance(15)
    hb = m.take()
    assert hb[0][:2] == [0, "hb"] and len(hb[0]) == 3


def test_f1_books_are_batched_every_two_seconds(clocked):
    """An F1 book gets no update until its 2 s flush, then all changes at once."""
    clock, server = clocked
    m = Mem(server)
    m.send({"event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "freq": "F1"})
    m.take()
    server.step(2)
    assert m.take() == []
    clock.advance(2)
    assert len(m.take()) > 0


def test_stall_for_seconds_holds_frames_and_heartbeats(clocked):
    """stall(seconds) holds every frame, heartbeats are not made, and it ends by itself."""
    clock, server = clocked
    m = Mem(server)
    m.send({"event": "subscribe", "channel": "trades", "symbol": "tBTCUSD"})
    m.take()
    server.stall(30)
    server.step(3)
    clock.advance(29)
    assert m.take() == []
    clock.advance(1)
    frames = m.take()
    assert frames and all(f[1] in ("te", "tu") for f in frames)


def test_calc_rate_limit(clocked):
    """More than 8 calc messages in a second draw an error; the next second is fine."""
    clock, server = clocked
    m = Mem(server)
    m.send(auth_message())
    m.take()
    for _ in range(9):
        m.send([0, "calc", None, [["wallet_exchange_BTC"]]])
    frames = m.take()
    assert frames[-1] == {"event": "error", "msg": "calc: ratelimit", "code": 10001}
    clock.advance(1)
    m.send([0, "calc", None, [["wallet_exchange_BTC"]]])
    assert m.take()[0][1] == "wu"


def test_ws_snapshot_available_is_null_unless_calc(clocked):
    """ws AVAILABLE is null until calculated; auth with calc:1 fills it."""
    _, server = clocked
    m = Mem(server)
    m.send(auth_message())
    ws = next(f for f in m.take() if isinstance(f, list) and f[1] == "ws")
    assert all(w[4] is None for w in ws[2])
    m2 = Mem(server)
    m2.send(auth_message(calc=1))
    ws = next(f for f in m2.take() if isinstance(f, list) and f[1] == "ws")
    assert all(w[4] is not None for w in ws[2])


def test_resting_order_is_filled_by_the_market(clocked):
    """A user's bid at the ask rests only if not crossed; market makers re-quoting into it fill
    it."""
    _, server = clocked
    m = Mem(server)
    m.send(auth_message())
    m.take()
    mid = server.market.mid("tBTCUSD")
    m.send(new_order(amount="0.01", price=str(round(mid * 0.9993))))
    m.take()
    for _ in range(400):
        server.step()
        if any(f[1] == "oc" for f in m.take() if isinstance(f, list)):
            break
    else:
        pytest.fail("the market never reached the resting bid")


def test_in_reactor_listen_with_a_memory_reactor():
    """With reactor= given, listen() listens on it and public methods run directly."""
    from twisted.internet.testing import MemoryReactorClock
    reactor = MemoryReactorClock()
    sandbox = BitfinexSandbox(reactor=reactor, tick_interval=1.0)
    port = sandbox.listen()
    assert reactor.tcpServers[0][1] is sandbox.factory and port is not None
    before = sandbox.book("tBTCUSD", "R0", 250)
    reactor.advance(1.0)
    assert sandbox.book("tBTCUSD", "R0", 250) != before
    proto = sandbox.factory.buildProtocol(None)
    assert proto.factory.server is sandbox.server
    sandbox.stop()

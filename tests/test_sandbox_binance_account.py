"""The Binance sandbox's accounts over real sockets: COIN-M traded in contracts, deposits
and withdrawals, session.logon with an Ed25519 key, RSA signatures, account and order
queries on the WebSocket API, the signed futures REST endpoints, and margin user data.

Requests are signed here with ``cryptography`` and ``hmac`` directly, not with the
client's protocol module, so the sandbox and the client keep checking each other.
"""

import base64
import hashlib
import hmac
import json
import pathlib
import time
import urllib.parse
from decimal import Decimal

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.sync.client import connect

from exchange_wss.sandbox import DEFAULT_BINANCE_KEY as KEY
from exchange_wss.sandbox import DEFAULT_BINANCE_SECRET as SECRET
from exchange_wss.sandbox import BinanceSandbox
from exchange_wss.sandbox.binance import ApiError

ED_KEY = "sandbox-ed25519-key"
RSA_KEY = "sandbox-rsa-key"

_open: list = []


@pytest.fixture(autouse=True)
def _close_connections():
    """Close every test connection, so no client thread outlives its test."""
    yield
    while _open:
        _open.pop().close_socket()


def ws(url):
    c = connect(url, open_timeout=5)
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


def payload(params):
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def public_pem(private):
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo
                                             ).decode()


@pytest.fixture(scope="module")
def ed_private():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_private():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Api:
    """A WebSocket-API client; signs HMAC, Ed25519 or RSA, or sends unsigned after logon."""

    def __init__(self, sb, key=KEY, secret=SECRET, private=None):
        self.sb, self.key, self.secret, self.private = sb, key, secret, private
        self.c = ws(sb.api_url)
        self.events = []
        self._ids = iter(range(1, 10**6))

    def signed(self, **params):
        p = dict(params, apiKey=self.key, timestamp=self.sb.now_ms())
        text = payload(p).encode()
        if self.private is None:
            p["signature"] = hmac.new(self.secret.encode(), text, hashlib.sha256).hexdigest()
        elif isinstance(self.private, Ed25519PrivateKey):
            p["signature"] = base64.b64encode(self.private.sign(text)).decode()
        else:
            p["signature"] = base64.b64encode(
                self.private.sign(text, padding.PKCS1v15(), hashes.SHA256())).decode()
        return p

    def unsigned(self, **params):
        return dict(params, timestamp=self.sb.now_ms())

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


def new_listen_key(sb, path):
    r = requests.post(sb.rest_url + path, headers={"X-MBX-APIKEY": KEY})
    assert r.status_code == 200, r.text
    return r.json()["listenKey"]


def rest_get(sb, path, key=KEY, secret=SECRET, **params):
    query = urllib.parse.urlencode(dict(params, timestamp=sb.now_ms()))
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return requests.get(f"{sb.rest_url}{path}?{query}&signature={sig}",
                        headers={"X-MBX-APIKEY": key}, timeout=5)


@pytest.fixture
def coinm():
    sb = BinanceSandbox(seed=7, tick_interval=None, market="coinm").start()
    yield sb
    sb.stop()


@pytest.fixture
def spot_keys(ed_private, rsa_private):
    sb = BinanceSandbox(seed=8, tick_interval=None,
                        accounts={KEY: SECRET, ED_KEY: public_pem(ed_private),
                                  RSA_KEY: public_pem(rsa_private)}).start()
    yield sb
    sb.stop()


def user_events(c, until, timeout=5.0):
    """Listen-key stream events up to (and with) the first for which ``until`` holds."""
    out = []
    deadline = time.monotonic() + timeout
    while not out or not until(out[-1]):
        out.append(recv_json(c, max(0.01, deadline - time.monotonic())))
    return out


# ------------------------------------------------------------------- COIN-M contracts

def test_coinm_market_order_fills_in_contracts_summing_to_the_quantity(coinm):
    """A 25-contract BTCUSD_PERP market buy fills in whole contracts adding up to 25."""
    key = new_listen_key(coinm, "/dapi/v1/listenKey")
    c = ws(f"{coinm.stream_url}/ws/{key}")
    result = coinm.place_order(KEY, symbol="BTCUSD_PERP", side="BUY", type="MARKET",
                               quantity="25")
    assert result["origQty"] == "25" and result["status"] == "FILLED"
    assert result["executedQty"] == "25" and Decimal(result["cumBase"]) > 0
    events = user_events(c, lambda e: e["e"] == "ACCOUNT_UPDATE")
    trades = [e["o"] for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert trades and all(Decimal(t["l"]) == Decimal(t["l"]).to_integral_value() for t in trades)
    assert sum(Decimal(t["l"]) for t in trades) == 25 and trades[-1]["z"] == "25"
    assert all(t["N"] == "BTC" and t["ma"] == "BTC" for t in trades)


def test_coinm_sends_no_trade_lite(coinm):
    """COIN-M user data carries ORDER_TRADE_UPDATE fills only: Binance has no TRADE_LITE there."""
    key = new_listen_key(coinm, "/dapi/v1/listenKey")
    c = ws(f"{coinm.stream_url}/ws/{key}")
    coinm.place_order(KEY, symbol="BTCUSD_PERP", side="SELL", type="MARKET", quantity="3")
    events = user_events(c, lambda e: e["e"] == "ACCOUNT_UPDATE")
    assert "TRADE_LITE" not in {e["e"] for e in events}


def test_coinm_position_and_account_update_in_contracts(coinm):
    """The position is in contracts and its margin asset is BTC, in ACCOUNT_UPDATE and REST."""
    key = new_listen_key(coinm, "/dapi/v1/listenKey")
    c = ws(f"{coinm.stream_url}/ws/{key}")
    coinm.place_order(KEY, symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="10")
    update = user_events(c, lambda e: e["e"] == "ACCOUNT_UPDATE")[-1]["a"]
    assert update["P"][0]["s"] == "BTCUSD_PERP" and update["P"][0]["pa"] == "10"
    assert [b["a"] for b in update["B"]] == ["BTC"]
    assert coinm.positions()["BTCUSD_PERP"][0] == 10
    risk = rest_get(coinm, "/dapi/v1/positionRisk").json()
    row = next(r for r in risk if r["symbol"] == "BTCUSD_PERP")
    assert row["positionAmt"] == "10" and row["marginAsset"] == "BTC"
    assert Decimal(row["entryPrice"]) > 1000


def test_coinm_orders_do_not_run_out_of_margin(coinm):
    """Twenty 10-contract orders in a row are all accepted: margin counts contracts, in BTC."""
    for i in range(20):
        side = "BUY" if i % 2 == 0 else "SELL"
        coinm.place_order(KEY, symbol="BTCUSD_PERP", side=side, type="MARKET", quantity="10")
    assert coinm.positions().get("BTCUSD_PERP", (0,))[0] == 0


def test_coinm_fractional_contracts_are_refused(coinm):
    """A COIN-M quantity must be whole contracts (LOT_SIZE step 1)."""
    with pytest.raises(ApiError) as info:
        coinm.place_order(KEY, symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="0.5")
    assert info.value.code == -1013


def test_coinm_margin_is_checked_in_the_base_coin(coinm):
    """An order whose margin at 20x exceeds the BTC wallet is refused with -2019."""
    # 10 BTC at 20x covers about 200 BTC of contracts; 500,000 contracts are 50 million
    # USD, over 800 BTC at 60,000.
    with pytest.raises(ApiError) as info:
        coinm.place_order(KEY, symbol="BTCUSD_PERP", side="BUY", type="MARKET",
                          quantity="500000")
    assert info.value.code == -2019


def test_coinm_exchange_info_names_the_contract_size(coinm):
    """exchangeInfo gives BTCUSD_PERP's contractSize 100 and ETHUSD_PERP's 10."""
    info = requests.get(coinm.rest_url + "/dapi/v1/exchangeInfo", timeout=5).json()
    sizes = {s["symbol"]: s["contractSize"] for s in info["symbols"]}
    assert sizes == {"BTCUSD_PERP": 100, "ETHUSD_PERP": 10}


# ------------------------------------------------------------ deposits and withdrawals

def test_spot_deposit_sends_one_balance_update(spot_keys):
    """A deposit reaches Spot user data as one balanceUpdate (the delta), then the balance."""
    api = Api(spot_keys)
    assert api.call("userDataStream.subscribe.signature", api.signed())["status"] == 200
    spot_keys.deposit("BTC", "1.5")
    upd = api.event(lambda m: m.get("event", {}).get("e") == "balanceUpdate")["event"]
    assert (upd["a"], upd["d"]) == ("BTC", "1.50000000")
    pos = api.event(lambda m: m.get("event", {}).get("e") == "outboundAccountPosition")["event"]
    assert pos["B"] == [{"a": "BTC", "f": "11.50000000", "l": "0.00000000"}]
    assert not any(e.get("event", {}).get("e") == "balanceUpdate" for e in api.events)


def test_spot_withdrawal_is_a_negative_balance_update(spot_keys):
    """A withdrawal sends balanceUpdate with a negative delta; an overdraft is refused."""
    api = Api(spot_keys)
    api.call("userDataStream.subscribe.signature", api.signed())
    spot_keys.withdraw("USDT", "100")
    upd = api.event(lambda m: m.get("event", {}).get("e") == "balanceUpdate")["event"]
    assert (upd["a"], upd["d"]) == ("USDT", "-100.00000000")
    with pytest.raises(ApiError):
        spot_keys.withdraw("USDT", "10000000")


def test_futures_deposit_is_an_account_update_with_reason_deposit(coinm):
    """A COIN-M deposit sends ACCOUNT_UPDATE reason DEPOSIT with the new BTC wallet."""
    key = new_listen_key(coinm, "/dapi/v1/listenKey")
    c = ws(f"{coinm.stream_url}/ws/{key}")
    coinm.deposit("BTC", "2")
    ev = recv_json(c)
    assert ev["e"] == "ACCOUNT_UPDATE" and ev["a"]["m"] == "DEPOSIT"
    assert ev["a"]["B"] == [{"a": "BTC", "wb": "12", "cw": "12", "bc": "2"}]
    coinm.withdraw("BTC", "1")
    ev = recv_json(c)
    assert ev["a"]["m"] == "WITHDRAW" and ev["a"]["B"][0]["wb"] == "11"


def test_margin_listen_key_stream_gets_the_deposit(spot_keys):
    """Margin user data (/sapi listenKey, /ws/<key>) gets balanceUpdate on a deposit."""
    key = new_listen_key(spot_keys, "/sapi/v1/userDataStream")
    c = ws(f"{spot_keys.stream_url}/ws/{key}")
    spot_keys.deposit("ETH", "3")
    ev = recv_json(c)
    assert (ev["e"], ev["a"], ev["d"]) == ("balanceUpdate", "ETH", "3.00000000")


# --------------------------------------------------------- keys and session.logon

def test_ed25519_logon_then_unsigned_order_and_cancel(spot_keys, ed_private):
    """After session.logon with an Ed25519 key, orders go unsigned (timestamp only)."""
    api = Api(spot_keys, ED_KEY, private=ed_private)
    r = api.call("session.logon", api.signed())
    assert r["status"] == 200 and r["result"]["apiKey"] == ED_KEY
    bid = Decimal(spot_keys.book("BTCUSDT", 1)["bids"][0][0])
    r = api.call("order.place", api.unsigned(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                             timeInForce="GTC", quantity="0.01",
                                             price=str(bid - 500), newClientOrderId="ed-1"))
    assert r["status"] == 200 and r["result"]["status"] == "NEW"
    r = api.call("order.cancel", api.unsigned(symbol="BTCUSDT", origClientOrderId="ed-1"))
    assert r["status"] == 200 and r["result"]["status"] == "CANCELED"


def test_requests_without_logon_still_need_a_signature(spot_keys):
    """Without session.logon an unsigned order is refused (no apiKey)."""
    api = Api(spot_keys)
    r = api.call("order.place", api.unsigned(symbol="BTCUSDT", side="BUY", type="MARKET",
                                             quantity="0.01"))
    assert r["status"] == 400 and r["error"]["code"] == -1102


def test_logon_needs_an_ed25519_key(spot_keys, rsa_private):
    """session.logon with an HMAC or an RSA account is refused; Ed25519 only."""
    for api in (Api(spot_keys), Api(spot_keys, RSA_KEY, private=rsa_private)):
        r = api.call("session.logon", api.signed())
        assert r["status"] == 401 and r["error"]["code"] == -2015


def test_logon_with_a_bad_signature_is_refused(spot_keys, ed_private):
    """An Ed25519 logon signed by another key fails with -1022."""
    api = Api(spot_keys, ED_KEY, private=Ed25519PrivateKey.generate())
    r = api.call("session.logon", api.signed())
    assert r["error"]["code"] == -1022


def test_session_status_and_logout(spot_keys, ed_private):
    """session.status names the logged-on key; after session.logout requests need signing."""
    api = Api(spot_keys, ED_KEY, private=ed_private)
    assert api.call("session.status")["result"]["apiKey"] is None
    api.call("session.logon", api.signed())
    assert api.call("session.status")["result"]["apiKey"] == ED_KEY
    api.call("session.logout")
    r = api.call("account.status", api.unsigned())
    assert r["error"]["code"] == -1102


def test_logon_then_user_data_subscribe_without_signature(spot_keys, ed_private):
    """userDataStream.subscribe (no .signature) works on a logged-on connection."""
    api = Api(spot_keys, ED_KEY, private=ed_private)
    api.call("session.logon", api.signed())
    r = api.call("userDataStream.subscribe")
    assert r["status"] == 200 and "subscriptionId" in r["result"]
    spot_keys.deposit("BTC", "1", api_key=ED_KEY)
    api.event(lambda m: m.get("event", {}).get("e") == "balanceUpdate")


def test_rsa_signed_order(spot_keys, rsa_private):
    """An RSA-signed (PKCS#1 v1.5, SHA-256, base64) order.place is accepted."""
    api = Api(spot_keys, RSA_KEY, private=rsa_private)
    r = api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="MARKET",
                                           quantity="0.01"))
    assert r["status"] == 200 and r["result"]["status"] == "FILLED"


# ------------------------------------------------------------- account queries

def test_account_status_lists_balances(spot_keys):
    """account.status gives every balance as free and locked; omitZeroBalances drops zeros."""
    api = Api(spot_keys)
    r = api.call("account.status", api.signed())
    balances = {b["asset"]: b for b in r["result"]["balances"]}
    assert balances["BTC"] == {"asset": "BTC", "free": "10.00000000", "locked": "0.00000000"}
    assert r["result"]["accountType"] == "SPOT"
    spot_keys.withdraw("XRP", "100000")
    r = api.call("account.status", api.signed(omitZeroBalances="true"))
    assert "XRP" not in {b["asset"] for b in r["result"]["balances"]}


def test_open_orders_status_and_order_status(spot_keys):
    """openOrders.status lists a resting order; order.status answers it, -2013 when unknown."""
    api = Api(spot_keys)
    bid = Decimal(spot_keys.book("BTCUSDT", 1)["bids"][0][0])
    api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                       timeInForce="GTC", quantity="0.01", price=str(bid - 700),
                                       newClientOrderId="rest-q"))
    r = api.call("openOrders.status", api.signed(symbol="BTCUSDT"))
    assert [o["clientOrderId"] for o in r["result"]] == ["rest-q"]
    r = api.call("order.status", api.signed(symbol="BTCUSDT", origClientOrderId="rest-q"))
    assert r["result"]["status"] == "NEW"
    r = api.call("order.status", api.signed(symbol="BTCUSDT", origClientOrderId="nope"))
    assert r["error"]["code"] == -2013


def _documented(what):
    path = pathlib.Path(__file__).parent / "fixtures" / "binance" / "docs_account_results.jsonl"
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        if entry["what"] == what:
            data = entry["data"]
            return data[0] if isinstance(data, list) else data
    raise LookupError(what)


def test_order_queries_have_binances_layout_and_the_last_events_time(spot_keys):
    """openOrders.status and order.status answer in the documented query layout, with
    updateTime the transaction time of the order's last event (a client tells a snapshot
    from a later update by it)."""
    api = Api(spot_keys)
    api.call("userDataStream.subscribe.signature", api.signed())
    bid = Decimal(spot_keys.book("BTCUSDT", 1)["bids"][0][0])
    api.call("order.place", api.signed(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                       timeInForce="GTC", quantity="0.01", price=str(bid - 700),
                                       newClientOrderId="layout-q"))
    new = api.event(lambda m: m.get("event", {}).get("c") == "layout-q")["event"]
    listed = [o for o in api.call("openOrders.status", api.signed(symbol="BTCUSDT"))["result"]
              if o["clientOrderId"] == "layout-q"][0]
    assert set(listed) == set(_documented("openOrders.status"))
    queried = api.call("order.status", api.signed(symbol="BTCUSDT",
                                                  origClientOrderId="layout-q"))["result"]
    assert set(queried) <= set(_documented("order.status")) and "transactTime" not in queried
    assert listed["updateTime"] == queried["updateTime"] == new["T"]


# ------------------------------------------------------------- futures REST

def test_usdm_rest_account_position_risk_and_orders():
    """The signed USDⓈ-M REST endpoints answer the account, positions and orders."""
    sb = BinanceSandbox(seed=9, tick_interval=None, market="usdm").start()
    try:
        sb.place_order(KEY, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
        bid = Decimal(sb.book("BTCUSDT", 1)["bids"][0][0])
        sb.place_order(KEY, symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                       quantity="0.01", price=str(bid - 800), newClientOrderId="fut-1")
        account = rest_get(sb, "/fapi/v3/account").json()
        assert [a["asset"] for a in account["assets"]] == ["USDT"]
        risk = rest_get(sb, "/fapi/v3/positionRisk").json()
        assert [(r["symbol"], r["positionAmt"]) for r in risk] == [("BTCUSDT", "0.01")]
        orders = rest_get(sb, "/fapi/v1/openOrders", symbol="BTCUSDT").json()
        assert [o["clientOrderId"] for o in orders] == ["fut-1"]
        order = rest_get(sb, "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="fut-1")
        assert order.json()["status"] == "NEW"
        missing = rest_get(sb, "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="nope")
        assert missing.status_code == 400 and missing.json()["code"] == -2013
    finally:
        sb.stop()


def test_futures_rest_refuses_a_bad_signature(coinm):
    """A query signed with the wrong secret is -1022; without the key header -2014."""
    assert rest_get(coinm, "/dapi/v1/account", secret="wrong").json()["code"] == -1022
    r = requests.get(coinm.rest_url + "/dapi/v1/account", timeout=5)
    assert r.status_code == 401 and r.json()["code"] == -2014

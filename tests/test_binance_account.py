"""Binance account state and exactly-once fills, pure: session.logon, account and order
queries (WebSocket API and futures REST), their results typed, and one Fill per trade
on every user-data variant.

Documented frames and results come from tests/fixtures/binance/docs_account_results.jsonl
(see tests/fixtures/PROVENANCE.md).
"""

from __future__ import annotations

import base64
import copy
import pathlib
from urllib.parse import parse_qsl, unquote

import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_wss import models
from exchange_wss.binance import protocol as p
from exchange_wss.binance.protocol import BinanceSession
from exchange_wss.errors import ExchangeError, LocalProtocolError

BN = pathlib.Path(__file__).parent / "fixtures" / "binance"

# Binance's documented HMAC example key pair (Spot WebSocket API docs).
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
# USDⓈ-M futures "General Info", SIGNED endpoint example with HMAC keys.
FUT_DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"


def doc(what):
    for line in (BN / "docs_account_results.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        if row["what"] == what:
            return row["data"]
    raise KeyError(what)


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def ed_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# ---------------------------------------------------------------- signing and logon

def test_key_type_tells_hmac_ed25519_and_rsa(ed_key, rsa_key):
    """A shared secret is HMAC; a PEM private key is Ed25519 or RSA, read from the key."""
    assert p.key_type(DOC_SECRET) == "hmac"
    assert p.key_type(pem(ed_key)) == "ed25519"
    assert p.key_type(pem(rsa_key).encode()) == "rsa"


def test_rsa_signature_is_pkcs1v15_sha256_base64(rsa_key):
    """signed_params with an RSA PEM signs PKCS#1 v1.5 SHA-256, base64, as Binance takes it."""
    out = p.signed_params("k", pem(rsa_key), {"symbol": "BTCUSDT"}, 1645423376532)
    rsa_key.public_key().verify(base64.b64decode(out["signature"]),
                                p.signature_payload(out).encode(), padding.PKCS1v15(),
                                hashes.SHA256())


def test_session_logon_is_signed_with_ed25519(ed_key):
    """session.logon carries apiKey, timestamp and an Ed25519 signature over them."""
    req = p.session_logon_request("k", pem(ed_key), 1649729878532, "logon-1")
    assert req["method"] == "session.logon" and req["id"] == "logon-1"
    params = req["params"]
    assert set(params) == {"apiKey", "timestamp", "signature"}
    ed_key.public_key().verify(base64.b64decode(params["signature"]),
                               p.signature_payload(params).encode())


@pytest.mark.parametrize("which", ["hmac", "rsa"])
def test_session_logon_refuses_other_key_types(which, rsa_key):
    """Binance takes Ed25519 keys only for session.logon: HMAC and RSA raise before sending."""
    secret = DOC_SECRET if which == "hmac" else pem(rsa_key)
    with pytest.raises(LocalProtocolError, match="Ed25519"):
        p.session_logon_request("k", secret, 1, 1)


def test_requests_after_logon_carry_only_the_timestamp():
    """With api_key and secret None a request is the logged-on form: timestamp, no key or
    signature."""
    req = p.order_place_request(None, None, 1700000000000, 7, "btcusdt", "BUY", "LIMIT",
                                "0.01", "60000", recv_window=5000)
    assert req["params"] == {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                             "quantity": "0.01", "price": "60000", "timeInForce": "GTC",
                             "timestamp": 1700000000000, "recvWindow": 5000}
    req = p.order_status_request(None, None, 1700000000000, 8, "BTCUSDT", order_id=5)
    assert req["params"] == {"symbol": "BTCUSDT", "orderId": 5, "timestamp": 1700000000000}


def test_session_status_and_logout_have_no_params():
    """session.status and session.logout are bare requests."""
    assert p.session_status_request(1) == {"id": 1, "method": "session.status"}
    assert p.session_logout_request(2) == {"id": 2, "method": "session.logout"}


# ------------------------------------------------------------ WebSocket-API queries

def test_account_status_reproduces_documented_request():
    """account.status signed with Binance's example key gives the documented signature."""
    req = p.account_status_request(DOC_KEY, DOC_SECRET, 1660801839480, "x")
    assert req["method"] == "account.status"
    assert req["params"]["signature"] == \
        "83303b4a136ac1371795f465808367242685a9e3a42b22edb4d977d0696eb45c"


def test_order_status_reproduces_documented_request():
    """order.status by orderId gives the documented signature."""
    req = p.order_status_request(DOC_KEY, DOC_SECRET, 1660801720951, "x", "BTCUSDT",
                                 order_id=12569099453)
    assert req["method"] == "order.status"
    assert req["params"]["signature"] == \
        "2c3aab5a078ee4ea465ecd95523b77289f61476c2f238ec10c55ea6cb11a6f35"


def test_open_orders_status_reproduces_documented_request():
    """openOrders.status for one symbol gives the documented signature."""
    req = p.open_orders_status_request(DOC_KEY, DOC_SECRET, 1660813156812, "x", "BTCUSDT")
    assert req["method"] == "openOrders.status"
    assert req["params"]["signature"] == \
        "d632b3fdb8a81dd44f82c7c901833309dd714fe508772a89b0a35b0ee0c48b89"


def test_open_orders_of_all_symbols_and_omit_zero_balances():
    """No symbol asks for every symbol; omitZeroBalances is sent as JSON text "true"."""
    assert "symbol" not in p.open_orders_status_request("k", "s", 1, 1)["params"]
    req = p.account_status_request("k", "s", 1, 1, omit_zero_balances=True)
    assert req["params"]["omitZeroBalances"] == "true"


def test_order_status_needs_an_order_id():
    """An order query without orderId or origClientOrderId raises before sending."""
    with pytest.raises(LocalProtocolError, match="order_id or orig_client_order_id"):
        p.order_status_request("k", "s", 1, 1, "BTCUSDT")


def test_unknown_order_is_told_apart_from_other_errors():
    """-2013 means the exchange does not know the order; any other error does not."""
    assert p.is_unknown_order(ExchangeError(-2013, "Order does not exist."))
    assert not p.is_unknown_order(ExchangeError(-1007, "Timeout waiting for response"))
    assert not p.is_unknown_order(None)


def test_order_status_error_answer_reaches_the_waiter_as_unknown_order():
    """A -2013 answer to order.status arrives as an ExchangeError is_unknown_order accepts."""
    got = []
    session = BinanceSession(lambda e: None)
    session.expect_response("q1", lambda result, error: got.append((result, error)))
    session.receive({"id": "q1", "status": 400,
                     "error": {"code": -2013, "msg": "Order does not exist."}})
    (result, error), = got
    assert result is None and p.is_unknown_order(error)


# ------------------------------------------------------------------ futures REST

@pytest.mark.parametrize(("market", "paths"), [
    ("usdm", ("/fapi/v3/account", "/fapi/v3/positionRisk", "/fapi/v1/openOrders",
              "/fapi/v1/order")),
    ("coinm", ("/dapi/v1/account", "/dapi/v1/positionRisk", "/dapi/v1/openOrders",
               "/dapi/v1/order")),
])
def test_futures_rest_paths(market, paths):
    """Account, position risk, open orders and order query live under /fapi or /dapi."""
    got = (p.futures_account_request(market)[1], p.futures_position_risk_request(market)[1],
           p.futures_open_orders_request(market, "BTCUSDT")[1],
           p.futures_order_request(market, "btcusdt", order_id=1)[1])
    assert got == paths
    assert p.futures_order_request(market, "btcusdt", order_id=1)[2] == \
        {"symbol": "BTCUSDT", "orderId": 1}


def test_futures_rest_endpoints_refuse_spot():
    """Spot has no futures REST account endpoints: its state is on the WebSocket API."""
    with pytest.raises(LocalProtocolError, match="WebSocket API"):
        p.futures_account_request("spot")
    with pytest.raises(LocalProtocolError, match="COIN-M only"):
        p.futures_position_risk_request("usdm", pair="BTCUSD")


def test_rest_signed_query_reproduces_documented_signature():
    """A signed REST query over the string as sent reproduces Binance's futures example."""
    q = p.rest_signed_query(FUT_DOC_SECRET,
                            {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
                             "quantity": 1, "price": 9000, "timeInForce": "GTC",
                             "recvWindow": 5000}, 1591702613943)
    assert q == ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
                 "&recvWindow=5000&timestamp=1591702613943"
                 "&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")


def test_rest_signed_query_with_ed25519_is_url_encoded_base64(ed_key):
    """An Ed25519 REST signature is base64, percent-encoded in the query, over the query."""
    q = p.rest_signed_query(pem(ed_key), {"symbol": "BTCUSDT"}, 1700000000000)
    body, _, sig = q.partition("&signature=")
    assert dict(parse_qsl(body)) == {"symbol": "BTCUSDT", "timestamp": "1700000000000"}
    ed_key.public_key().verify(base64.b64decode(unquote(sig)), body.encode())


# --------------------------------------------------------------------- results

def test_account_status_result_gives_wallets():
    """account.status balances become Wallets: balance = free + locked, available = free."""
    snap = p.wallets_from_account_status(doc("account.status"))
    assert [(w.currency, w.balance, w.available, w.kind) for w in snap.wallets] == \
        [("BNB", 0.0, 0.0, "snapshot"), ("BTC", 1.4307112, 1.3447112, "snapshot"),
         ("USDT", 1021.21, 1021.21, "snapshot")]
    assert all(w.type == "spot" for w in snap.wallets) and snap.skipped == 0


def test_order_status_result_gives_the_order():
    """An order.status result is an Order with side, amounts and average price."""
    order = p.order_from_result(doc("order.status"))
    assert (order.id, order.cid, order.symbol, order.status, order.side) == \
        (12569099453, "4d96324ff9d44481926157", "BTCUSDT", "FILLED", "sell")
    assert order.amount_orig == -0.00847 and order.amount == 0.0
    assert order.price_avg == pytest.approx(198.335215 / 0.00847)


def test_open_orders_result_gives_snapshot_orders():
    """openOrders.status results become Orders with kind "snapshot"."""
    snap = p.orders_from_results(doc("openOrders.status"))
    order, = snap.orders
    assert (order.kind, order.status, order.remaining) == \
        ("snapshot", "PARTIALLY_FILLED", pytest.approx(0.00127))


def test_position_risk_result_gives_positions():
    """positionRisk rows become Positions: amount, entry, unrealized PnL; liq 0 is None."""
    snap = p.positions_from_position_risk(doc("usdm positionRisk"))
    pos, = snap.positions
    assert (pos.symbol, pos.status, pos.amount, pos.base_price, pos.pl, pos.price_liq) == \
        ("ADAUSDT", "ACTIVE", 30.0, 0.385, 0.764277, None)
    assert pos.kind == "snapshot"


def test_position_risk_skips_flat_symbols_unless_asked():
    """Zero positions (COIN-M lists every symbol) are left out unless open_only=False."""
    rows = [dict(doc("usdm positionRisk")[0], positionAmt="0", symbol="BTCUSD_PERP")]
    assert p.positions_from_position_risk(rows).positions == []
    closed, = p.positions_from_position_risk(rows, open_only=False).positions
    assert closed.status == "CLOSED"


def test_futures_account_result_gives_wallets():
    """Futures account assets become Wallets of walletBalance and availableBalance."""
    result = {"assets": [{"asset": "BTC", "walletBalance": "0.1", "availableBalance": "0.09",
                          "crossWalletBalance": "0.1"}], "positions": []}
    w, = p.wallets_from_futures_account(result, "coinm").wallets
    assert (w.type, w.currency, w.balance, w.available) == ("coinm", "BTC", 0.1, 0.09)


def test_unreadable_rows_are_counted_not_hidden():
    """Rows a parser cannot read are skipped and counted, never silently lost."""
    snap = p.wallets_from_account_status({"balances": [{"asset": "BTC"}, "junk"]})
    assert snap.wallets == [] and snap.skipped == 2
    assert p.orders_from_results([{"orderId": "x"}]).skipped == 1
    assert p.positions_from_position_risk([{}]).skipped == 1


# ------------------------------------------------------ each trade exactly once


def trade_lite():
    return copy.deepcopy(doc("TRADE_LITE"))


def order_trade_update_of(lite, market="usdm"):
    """The ORDER_TRADE_UPDATE Binance sends for the same fill as ``lite`` (same symbol,
    order id and trade id), with the fee TRADE_LITE lacks."""
    o = {"s": lite["s"], "c": lite["c"], "S": lite["S"], "o": "MARKET", "f": "GTC",
         "q": lite["q"], "p": lite["p"], "ap": lite["L"], "sp": "0", "x": "TRADE",
         "X": "PARTIALLY_FILLED", "i": lite["i"], "l": lite["l"], "z": lite["l"],
         "L": lite["L"], "N": "USDT", "n": "1.28", "T": lite["T"], "t": lite["t"], "b": "0",
         "a": "0", "m": lite["m"], "R": False, "wt": "CONTRACT_PRICE", "ot": "MARKET",
         "ps": "BOTH", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0,
         "V": "EXPIRE_TAKER", "pm": "NONE", "gtd": 0, "er": "0"}
    ev = {"e": "ORDER_TRADE_UPDATE", "E": lite["E"] + 5, "T": lite["T"], "o": o}
    if market == "coinm":
        o["ma"] = "BTC"
        ev["i"] = "alias"
    return ev


def fills_of(market, frames, events=None):
    control, user = [], []
    session = BinanceSession(control.append, market=market)
    session.expect_user_data(user.append, events=events)
    for frame in frames:
        session.receive(frame)
    return [e for e in user if isinstance(e, models.Fill)], user, control, session


def test_usdm_legacy_stream_gives_one_fill_for_lite_and_full():
    """Legacy /ws/<key> sends every event: TRADE_LITE then ORDER_TRADE_UPDATE give one Fill,
    the one with the fee."""
    lite = trade_lite()
    fills, user, control, session = fills_of("usdm", [lite, order_trade_update_of(lite)])
    fill, = fills
    assert (fill.kind, fill.id, fill.order_id, fill.fee, fill.fee_currency) == \
        ("trade", 109100866, 8886774, 1.28, "USDT")
    assert any(isinstance(e, models.Order) for e in user)
    assert control == [] and session.fills.lite_suppressed == 1


def test_usdm_private_default_events_give_one_fill():
    """/private with the default events (no TRADE_LITE): ORDER_TRADE_UPDATE is the Fill."""
    lite = trade_lite()
    fills, _, _, _ = fills_of("usdm", [order_trade_update_of(lite)],
                              events=p.DEFAULT_FUTURES_EVENTS)
    assert [(f.kind, f.id) for f in fills] == [("trade", 109100866)]


def test_usdm_private_with_both_events_gives_one_fill():
    """/private listing TRADE_LITE and ORDER_TRADE_UPDATE: still one Fill per trade."""
    lite = trade_lite()
    fills, _, _, _ = fills_of("usdm", [lite, order_trade_update_of(lite)],
                              events=("TRADE_LITE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"))
    assert [f.kind for f in fills] == ["trade"]


def test_usdm_private_with_lite_only_gives_the_lite_fill():
    """/private listing TRADE_LITE without ORDER_TRADE_UPDATE: TRADE_LITE is the Fill."""
    fills, _, _, _ = fills_of("usdm", [trade_lite()], events=("TRADE_LITE",))
    assert [(f.kind, f.fee) for f in fills] == [("lite", None)]


def test_coin_m_gives_one_fill_per_order_trade_update():
    """COIN-M (no TRADE_LITE documented) gives one Fill per ORDER_TRADE_UPDATE trade."""
    ev = order_trade_update_of(trade_lite(), "coinm")
    ev["o"].update({"s": "BTCUSD_PERP", "q": "3", "l": "3", "z": "3", "N": "BTC"})
    fills, _, _, _ = fills_of("coinm", [ev])
    assert [(f.symbol, f.amount, f.fee_currency) for f in fills] == [("BTCUSD_PERP", 3.0, "BTC")]


def test_coin_m_stray_trade_lite_does_not_double_the_fill():
    """Were a COIN-M stream to send TRADE_LITE too, the trade would still be one Fill."""
    lite = dict(trade_lite(), s="BTCUSD_PERP")
    ev = order_trade_update_of(lite, "coinm")
    fills, _, _, _ = fills_of("coinm", [lite, ev])
    assert [f.kind for f in fills] == ["trade"]


def execution_report_trade(**over):
    ev = {"e": "executionReport", "E": 1499405658658, "s": "ETHBTC", "c": "cid-1", "S": "BUY",
          "o": "LIMIT", "f": "GTC", "q": "1.00000000", "p": "0.10264410", "P": "0", "F": "0",
          "g": -1, "C": "", "x": "TRADE", "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4293153,
          "l": "0.40000000", "z": "0.40000000", "L": "0.10264410", "n": "0.0004", "N": "ETH",
          "T": 1499405658657, "t": 1234, "I": 8641984, "w": True, "m": True, "M": True,
          "O": 1499405658600, "Z": "0.04105764", "Y": "0.04105764", "Q": "0", "W": 1,
          "V": "EXPIRE_MAKER"}
    ev.update(over)
    return ev


def test_spot_ws_api_user_data_gives_one_fill_per_execution_report():
    """Spot WebSocket-API user data: each executionReport TRADE is one Fill."""
    frames = [{"subscriptionId": 0, "event": execution_report_trade()},
              {"subscriptionId": 0, "event": execution_report_trade(t=1235, I=8641985)}]
    fills, _, _, _ = fills_of("spot", frames)
    assert [f.id for f in fills] == [1234, 1235]


def test_margin_listen_key_stream_gives_one_fill_per_execution_report():
    """Margin /ws/<listenKey> sends bare executionReports: one Fill per trade."""
    fills, _, _, _ = fills_of("margin", [execution_report_trade()])
    assert len(fills) == 1 and fills[0].fee_currency == "ETH"


def test_a_repeated_trade_is_reported_not_delivered_twice():
    """The same executionReport trade twice gives one Fill and one DuplicateFill event."""
    ev = execution_report_trade()
    fills, user, control, session = fills_of("spot", [ev, copy.deepcopy(ev)])
    assert len(fills) == 1 and session.fills.duplicates == 1
    assert [type(c) for c in control] == [p.DuplicateFill]
    assert sum(isinstance(e, models.Order) for e in user) == 2  # order states are not fills


def test_both_sides_of_a_self_trade_are_two_fills():
    """A self-trade has one trade id and two orders: two Fills, one per order."""
    buy = execution_report_trade()
    sell = execution_report_trade(S="SELL", i=4293154, c="cid-2")
    fills, _, control, _ = fills_of("spot", [buy, sell])
    assert [f.order_id for f in fills] == [4293153, 4293154] and control == []


def test_dedup_memory_is_bounded():
    """FillDedup remembers at most ``capacity`` trades; older ones are forgotten."""
    dedup = p.FillDedup(capacity=2)
    fills = [models.Fill(i, "X", 0, 1, 1.0, 1.0) for i in range(3)]
    assert [dedup.admit(f) for f in fills] == [None, None, None]
    assert dedup.admit(fills[0]) is None and dedup.admit(fills[2]) == "duplicate"


def test_raw_user_data_is_not_deduplicated():
    """Raw delivery passes every event as Binance sent it."""
    control, user = [], []
    session = BinanceSession(control.append, market="usdm")
    session.expect_user_data(user.append, raw=True)
    lite = trade_lite()
    session.receive(lite)
    session.receive(order_trade_update_of(lite))
    assert [e["e"] for e in user] == ["TRADE_LITE", "ORDER_TRADE_UPDATE"]

"""Tests for exchange_wss.bitfinex.protocol: frames in / events out, requests in / frames out."""

from __future__ import annotations

import json
import pathlib
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_wss import models
from exchange_wss._subscriptions import Subscription
from exchange_wss.bitfinex import protocol as p
from exchange_wss.bitfinex.protocol import BitfinexSession, ChannelSpec
from exchange_wss.bitfinex.utils import auth_signature
from exchange_wss.errors import LocalProtocolError
from exchange_wss.orderbook import OrderBook

BFX = pathlib.Path(__file__).parent / "fixtures" / "bitfinex"


# ------------------------------------------------------------------------ helpers

def load_json(name):
    return orjson.loads((BFX / name).read_bytes())


def load_jsonl(name):
    return [orjson.loads(line) for line in (BFX / name).read_bytes().splitlines() if line.strip()]


def go_frames():
    """The bitfinex-api-go fixture frames, decoded, in file order."""
    return [orjson.loads(json.loads(line)["frame"])
            for line in (BFX / "bitfinex-api-go_frames.jsonl").read_text().splitlines()]


def tardis(name, chan_id):
    """The frames of one chanId from a tardis fixture (subscribed events excluded)."""
    return [f for f in load_jsonl(name) if isinstance(f, list) and f[0] == chan_id]


def make_sub(spec, out=None, book=None):
    """A subscription handle for ``spec`` delivering to ``out`` (a list)."""
    sub = Subscription(spec.label, spec, spec.symbol, book=book)
    sub.add_callback((out if out is not None else []).append)
    return sub


def subscribed_event(spec, chan_id, sub_id):
    """The server's ``subscribed`` answer to ``spec``'s subscribe."""
    event = {"event": "subscribed", "channel": spec.channel, "chanId": chan_id, "subId": sub_id}
    if spec.key is not None:
        event["key"] = spec.key
    else:
        event["symbol"] = spec.symbol
    return event


class Harness:
    """A session with recorded control events and per-channel deliveries."""

    def __init__(self, **kwargs):
        self.control = []
        self.session = BitfinexSession(self.control.append, **kwargs)

    def subscribe(self, spec, chan_id, raw=False, book=None):
        """subscribe() then feed the matching subscribed event; return the delivery list."""
        out = []
        sub = make_sub(spec, out, book)
        frame = self.session.subscribe(sub)
        saved, self.session.raw = self.session.raw, raw
        try:
            self.session.receive(subscribed_event(spec, chan_id, frame["subId"]))
        finally:
            self.session.raw = saved
        self.last_sub = sub
        return out

    def feed(self, *frames):
        for frame in frames:
            self.session.receive(frame)

    def of(self, cls):
        return [e for e in self.control if isinstance(e, cls)]


# --------------------------------------------------------------------- channel specs

def test_ticker_spec_normalises_symbol():
    """ChannelSpec.ticker("BTCUSD") subscribes to tBTCUSD."""
    spec = ChannelSpec.ticker("BTCUSD")
    assert spec.symbol == "tBTCUSD"
    assert spec.subscribe_request(3) == {"event": "subscribe", "channel": "ticker",
                                         "symbol": "tBTCUSD", "subId": 3}


def test_book_subscribe_request_exact():
    """A book request carries prec, freq, len as a string, and the subId."""
    spec = ChannelSpec.book("tBTCUSD", "P1", "F1", 100)
    assert spec.subscribe_request("s1") == {
        "event": "subscribe", "channel": "book", "symbol": "tBTCUSD", "prec": "P1",
        "freq": "F1", "len": "100", "subId": "s1"}


def test_candles_spec_key():
    """Candles subscribe by key trade:TF:SYMBOL."""
    spec = ChannelSpec.candles("BTCUSD", "1m")
    assert spec.key == "trade:1m:tBTCUSD" and spec.timeframe == "1m"
    assert spec.subscribe_request(None) == {"event": "subscribe", "channel": "candles",
                                            "key": "trade:1m:tBTCUSD"}


def test_funding_candles_need_a_period():
    """Funding candles add the period to the key and refuse to go without one."""
    assert ChannelSpec.candles("fUSD", "1h", period=30).key == "trade:1h:fUSD:p30"
    assert ChannelSpec.candles("fUSD", "1h", "a30:p2:p30").key == "trade:1h:fUSD:a30:p2:p30"
    with pytest.raises(LocalProtocolError):
        ChannelSpec.candles("fUSD", "1h")


def test_status_spec_request():
    """Status channels subscribe by key."""
    assert ChannelSpec.status("liq:global").subscribe_request(1) == {
        "event": "subscribe", "channel": "status", "key": "liq:global", "subId": 1}


@pytest.mark.parametrize("make", [
    lambda: ChannelSpec.book("tBTCUSD", precision="P5"),
    lambda: ChannelSpec.book("tBTCUSD", precision="p0"),
    lambda: ChannelSpec.book("tBTCUSD", frequency="F2"),
    lambda: ChannelSpec.book("tBTCUSD", length=50),
    lambda: ChannelSpec.book("tBTCUSD", length=True),
    lambda: ChannelSpec.candles("tBTCUSD", "2m"),
    lambda: ChannelSpec.candles("tBTCUSD", "1m", period=30),
    lambda: ChannelSpec.status("ticker:tBTCUSD"),
    lambda: ChannelSpec.status("deriv:"),
    lambda: ChannelSpec.ticker(""),
])
def test_spec_validation_errors(make):
    """Bad precision, frequency, length, timeframe, status key or symbol raise
    LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        make()


def test_book_length_accepts_echoed_string():
    """A length given as the server's string ("250") is accepted as 250."""
    assert ChannelSpec.book("tBTCUSD", length="250").length == 250


def test_spec_properties_and_labels():
    """Specs say what they are and have short labels for logs."""
    raw = ChannelSpec.book("BTCUSD", "R0")
    assert raw.is_book and raw.is_raw_book and not raw.is_funding
    assert raw.label == "book:tBTCUSD:R0"
    assert ChannelSpec.book("fUSD", "P0", "F1", 100).label == "book:fUSD:P0:F1:100"
    assert ChannelSpec.book("fUSD").is_funding
    assert ChannelSpec.candles("tBTCUSD", "1m").label == "candles:trade:1m:tBTCUSD"
    assert ChannelSpec.ticker("tBTCUSD").label == "ticker:tBTCUSD"


def test_specs_are_hashable_values():
    """Equal requests give equal, hashable specs (usable as registry keys)."""
    assert ChannelSpec.book("BTCUSD") == ChannelSpec.book("tBTCUSD", "P0", "F0", 25)
    assert len({ChannelSpec.book("BTCUSD"), ChannelSpec.book("tBTCUSD")}) == 1


# ------------------------------------------------------------------------ builders

def test_simple_event_builders():
    """conf, unsubscribe and ping requests have the documented shapes."""
    assert p.conf_request(p.FLAG_OB_CHECKSUM | p.FLAG_SEQ_ALL) == {"event": "conf",
                                                                  "flags": 196608}
    assert p.unsubscribe_request(17) == {"event": "unsubscribe", "chanId": 17}
    assert p.ping_request(1234) == {"event": "ping", "cid": 1234}


def test_auth_request_exact():
    """The auth request signs "AUTH"+nonce and adds filter and dms:4 when asked."""
    req = p.auth_request("k", "secret", 1582304782748000, filters=["trading", "wallet"],
                         dms=True)
    assert req == {"event": "auth", "apiKey": "k",
                   "authSig": auth_signature("secret", "AUTH1582304782748000"),
                   "authNonce": 1582304782748000, "authPayload": "AUTH1582304782748000",
                   "filter": ["trading", "wallet"], "dms": 4}
    assert "filter" not in p.auth_request("k", "s", 1) and "dms" not in p.auth_request("k", "s", 1)


def test_auth_request_needs_credentials():
    """Auth without a secret is a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        p.auth_request("k", "", 1)


def test_new_order_frame_exact_bytes():
    """A new limit order serialises to the documented input frame, numbers as strings."""
    payload = p.new_order_payload("EXCHANGE LIMIT", "BTCUSD", -0.001, 10100.5, cid=1582304782748)
    assert orjson.dumps(p.input_frame("on", payload)) == (
        b'[0,"on",null,{"cid":1582304782748,"type":"EXCHANGE LIMIT","symbol":"tBTCUSD",'
        b'"amount":"-0.001","price":"10100.5"}]')


@pytest.mark.parametrize(("value", "text"), [
    (0.1, "0.1"), (1e-7, "0.0000001"), (2.5e20, "250000000000000000000"), (12, "12"),
    (Decimal("1.50"), "1.50"), (Decimal("1E+3"), "1000"), ("-0.00001", "-0.00001"),
    (" 3.25 ", "3.25"), ("1e-8", "0.00000001"),
])
def test_decimal_text(value, text):
    """Amounts and prices become plain decimal strings without exponent."""
    assert p.decimal_text(value) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc", True, None, [1]])
def test_decimal_text_refuses_non_numbers(bad):
    """NaN, infinity, bools and non-numeric values raise LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        p.decimal_text(bad)


def test_new_order_flags_and_options():
    """hidden adds 64 to the flags; lists of flags combine; options are passed on."""
    payload = p.new_order_payload("limit", "tETHUSD", "1", "100", hidden=True,
                                  flags=[p.ORDER_FLAG_POST_ONLY, p.ORDER_FLAG_REDUCE_ONLY],
                                  tif="2030-01-01 10:45:23", cid=5, gid=7,
                                  meta={"aff_code": "x"}, lev=10)
    assert payload == {"cid": 5, "type": "LIMIT", "symbol": "tETHUSD", "amount": "1",
                       "price": "100", "flags": 4096 + 1024 + 64, "gid": 7, "lev": 10,
                       "tif": "2030-01-01 10:45:23", "meta": {"aff_code": "x"}}


def test_new_order_oco_sets_flag():
    """price_oco_stop is sent as a string and sets the OCO flag."""
    payload = p.new_order_payload("EXCHANGE LIMIT", "tBTCUSD", 1, 100, price_oco_stop=90, cid=1)
    assert payload["price_oco_stop"] == "90" and payload["flags"] == p.ORDER_FLAG_OCO


def test_new_order_gets_a_cid():
    """Without a cid, the order gets a fresh ms-timestamp cid."""
    a = p.new_order_payload("EXCHANGE MARKET", "tBTCUSD", 1)
    b = p.new_order_payload("EXCHANGE MARKET", "tBTCUSD", 1)
    assert b["cid"] > a["cid"] > 1_500_000_000_000
    assert "price" not in a


@pytest.mark.parametrize("kwargs", [
    dict(order_type="EXCHANGE LIMIT", symbol=None, amount=1, price=1),
    dict(order_type="EXCHANGE LIMIT", symbol="", amount=1, price=1),
    dict(order_type="LIMITED", symbol="tBTCUSD", amount=1, price=1),
    dict(order_type="EXCHANGE LIMIT", symbol="tBTCUSD", amount=0, price=1),
    dict(order_type="EXCHANGE LIMIT", symbol="tBTCUSD", amount="0.000", price=1),
    dict(order_type="EXCHANGE LIMIT", symbol="tBTCUSD", amount=1),
    dict(order_type="STOP", symbol="tBTCUSD", amount=1),
    dict(order_type="EXCHANGE STOP LIMIT", symbol="tBTCUSD", amount=1, price=1),
    dict(order_type="TRAILING STOP", symbol="tBTCUSD", amount=1),
    dict(order_type="EXCHANGE LIMIT", symbol="tBTCUSD", amount=1, price=1, colour="red"),
    dict(order_type="EXCHANGE LIMIT", symbol="tBTCUSD", amount=1, price=1, flags=["64"]),
])
def test_new_order_validation(kwargs):
    """Missing symbol, unknown type, zero amount, missing price or unknown field raise."""
    with pytest.raises(LocalProtocolError):
        p.new_order_payload(**kwargs)


def test_cancel_payloads():
    """Cancels by id and by (cid, cid_date) have the documented shapes."""
    assert p.cancel_payload(123) == {"id": 123}
    assert p.cancel_cid_payload(1582304782748, "2020-02-21") == {"cid": 1582304782748,
                                                                 "cid_date": "2020-02-21"}
    with pytest.raises(LocalProtocolError):
        p.cancel_cid_payload(1582304782748, "21/02/2020")


def test_update_payload():
    """An update needs an id and sends prices and amounts as strings."""
    assert p.update_payload(id=9, price=101.5, amount=-2, flags=64, tif=None) == {
        "id": 9, "price": "101.5", "amount": "-2", "flags": 64}
    with pytest.raises(LocalProtocolError):
        p.update_payload(price=1)
    with pytest.raises(LocalProtocolError):
        p.update_payload(id=9, prize=1)


def test_multi_payload_maps_dicts_and_pairs():
    """Dicts with "type" become on, {id}/{cid,cid_date} become oc, pairs pass through."""
    new = p.new_order_payload("EXCHANGE LIMIT", "tBTCUSD", 1, 100, cid=1)
    ops = p.multi_payload([new, {"id": 5}, {"cid": 1, "cid_date": "2020-02-21"},
                           ["ou", {"id": 5, "price": "101"}], ("oc_multi", {"all": 1})])
    assert ops == [["on", new], ["oc", {"id": 5}],
                   ["oc", {"cid": 1, "cid_date": "2020-02-21"}],
                   ["ou", {"id": 5, "price": "101"}], ["oc_multi", {"all": 1}]]
    assert orjson.dumps(p.input_frame("ox_multi", ops[1:2])) == \
        b'[0,"ox_multi",null,[["oc",{"id":5}]]]'


@pytest.mark.parametrize("ops", [
    [], [{"id": 5, "price": "1"}], [["xx", {}]], ["on"],
    [{"id": i} for i in range(p.MAX_MULTI_OPS + 1)],
])
def test_multi_payload_validation(ops):
    """Empty, ambiguous, unknown or more than 75 operations raise LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        p.multi_payload(ops)


def test_multi_payload_allows_75():
    """Exactly 75 operations are allowed."""
    assert len(p.multi_payload([{"id": i} for i in range(75)])) == 75


def test_calc_shape():
    """calc(a, b) and calc([a, b]) both wrap each request in its own list."""
    expected = [["margin_sym_tBTCUSD"], ["funding_sym_fUSD"]]
    assert p.calc_payload("margin_sym_tBTCUSD", "funding_sym_fUSD") == expected
    assert p.calc_payload(["margin_sym_tBTCUSD", "funding_sym_fUSD"]) == expected
    assert orjson.dumps(p.input_frame("calc", expected)) == \
        b'[0,"calc",null,[["margin_sym_tBTCUSD"],["funding_sym_fUSD"]]]'


def test_calc_limits():
    """30 calc requests pass; 31, none, or a non-string raise LocalProtocolError."""
    assert len(p.calc_payload([f"wallet_exchange_C{i}" for i in range(30)])) == 30
    with pytest.raises(LocalProtocolError):
        p.calc_payload([f"wallet_exchange_C{i}" for i in range(31)])
    with pytest.raises(LocalProtocolError):
        p.calc_payload()
    with pytest.raises(LocalProtocolError):
        p.calc_payload("balance", 3)


# -------------------------------------------------------------------- control events

def test_subscribe_frame_carries_a_session_sub_id():
    """subscribe() returns the request with a fresh int subId per call."""
    h = Harness()
    first = h.session.subscribe(make_sub(ChannelSpec.ticker("tBTCUSD")))
    second = h.session.subscribe(make_sub(ChannelSpec.ticker("tETHUSD")))
    assert first == {"event": "subscribe", "channel": "ticker", "symbol": "tBTCUSD", "subId": 1}
    assert second["subId"] == 2


def test_subscribed_binds_and_confirms():
    """The go fixture's subscribed event (matched by channel) binds chanId 5 and confirms."""
    frames = go_frames()
    h = Harness()
    out = []
    sub = make_sub(ChannelSpec.ticker("tBTCUSD"), out)
    h.session.subscribe(sub)
    h.feed(frames[0], frames[1], frames[2])
    info, confirmed = h.control
    assert isinstance(info, p.InfoEvent) and info.version == 2 and info.code is None
    assert confirmed == p.SubscribeConfirmed(sub)
    assert h.session.channel_of(sub) == 5 and len(out) == 1


def test_subscribed_matches_int_sub_id_echoed_as_string():
    """A subId echoed as a string still finds the pending int sub id."""
    h = Harness()
    sub = make_sub(ChannelSpec.ticker("tBTCUSD"))
    h.session.subscribe(sub)
    h.feed({"event": "subscribed", "channel": "ticker", "chanId": 9, "subId": "1",
            "symbol": "tBTCUSD"})
    assert h.of(p.SubscribeConfirmed)[0].sub is sub and h.session.channel_of(sub) == 9


def test_subscribed_without_sub_id_matches_by_channel():
    """A subscribed event without subId is matched by channel and symbol (tardis frames)."""
    h = Harness()
    wanted = make_sub(ChannelSpec.book("tETHUSD", length=100))
    h.session.subscribe(wanted)
    h.session.subscribe(make_sub(ChannelSpec.book("tETHUSD")))
    h.feed(*[f for f in load_jsonl("tardis_bitfinex.jsonl")
             if isinstance(f, dict) and f.get("chanId") == 6959])
    assert h.of(p.SubscribeConfirmed)[0].sub is wanted


def test_unknown_subscribed_binds_nothing():
    """A subscribed event nobody asked for is reported as Unexpected and binds no handler."""
    h = Harness()
    h.feed({"event": "subscribed", "channel": "ticker", "chanId": 9, "symbol": "tX"},
           [9, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    assert isinstance(h.control[0], p.Unexpected)
    assert isinstance(h.control[1], p.UnknownChannel)


def test_duplicate_subscribed_never_rebinds_a_channel():
    """A second subscribed naming a chanId already bound is Unexpected: both bindings stay."""
    h = Harness()
    btc_out, eth_out = [], []
    btc = make_sub(ChannelSpec.ticker("tBTCUSD"), btc_out)
    eth = make_sub(ChannelSpec.ticker("tETHUSD"), eth_out)
    h.session.subscribe(btc)
    h.session.subscribe(eth)
    h.feed(subscribed_event(btc.spec, 10, 1),
           {"event": "subscribed", "channel": "ticker", "chanId": 10, "subId": 2,
            "symbol": "tETHUSD"},
           [10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])
    assert isinstance(h.control[1], p.Unexpected) and "carries another channel" in \
        h.control[1].reason
    assert h.session.channel_of(btc) == 10 and h.session.channel_of(eth) is None
    assert len(btc_out) == 1 and eth_out == []
    assert h.session.unsubscribe(eth) is None


def test_subscribed_echoing_another_channel_is_unexpected():
    """A subscribed whose subId is pending but whose echo names another symbol binds nothing."""
    h = Harness()
    sub = make_sub(ChannelSpec.ticker("tBTCUSD"))
    h.session.subscribe(sub)
    h.feed({"event": "subscribed", "channel": "ticker", "chanId": 3, "subId": 1,
            "symbol": "tETHUSD"})
    assert isinstance(h.control[0], p.Unexpected) and h.session.channel_of(sub) is None


def test_unsubscribe_stops_routing_and_confirms():
    """unsubscribe() returns the frame and unbinds at once; 'unsubscribed' confirms it."""
    frames = go_frames()
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("tBTCUSD"), 5)
    sub = h.last_sub
    assert h.session.unsubscribe(sub) == {"event": "unsubscribe", "chanId": 5}
    h.feed(frames[2], frames[3])
    assert out == [] and h.control[-1] == p.UnsubscribeConfirmed(sub)
    assert h.session.channel_of(sub) is None


def test_unsubscribe_of_an_unconfirmed_subscription_returns_none():
    """Nothing bound yet: unsubscribe() has nothing to send, and the pending subscribe stays."""
    h = Harness()
    sub = make_sub(ChannelSpec.ticker("tBTCUSD"))
    h.session.subscribe(sub)
    assert h.session.unsubscribe(sub) is None
    h.feed(subscribed_event(sub.spec, 4, 1))
    assert h.of(p.SubscribeConfirmed)[0].sub is sub


def test_unsubscribed_for_nothing_is_unexpected():
    """An unsubscribed answer for a chanId nothing was leaving is reported, not applied."""
    h = Harness()
    h.subscribe(ChannelSpec.ticker("tBTCUSD"), 5)
    h.feed({"event": "unsubscribed", "status": "OK", "chanId": 5})
    assert isinstance(h.control[-1], p.Unexpected) and h.session.channel_of(h.last_sub) == 5


def test_unsubscribe_error_refuses_that_unsubscribe():
    """An error echoing the chanId being left is UnsubscribeRefused for that subscription."""
    h = Harness()
    h.subscribe(ChannelSpec.ticker("tBTCUSD"), 5)
    sub = h.last_sub
    h.session.unsubscribe(sub)
    h.feed({"event": "error", "msg": "unsubscribe: invalid", "code": 10400, "chanId": 5})
    refused = h.control[-1]
    assert isinstance(refused, p.UnsubscribeRefused) and refused.sub is sub
    assert refused.code == 10400


def test_error_event_names_pending_subscription():
    """A subscribe error echoing the subId refuses that subscription and drops it."""
    h = Harness()
    sub = make_sub(ChannelSpec.book("tBTCUSD"))
    h.session.subscribe(sub)
    h.feed({"event": "error", "msg": "subscribe: dup", "code": 10301, "channel": "book",
            "symbol": "tBTCUSD", "subId": 1})
    err = h.control[0]
    assert isinstance(err, p.SubscribeRefused)
    assert (err.sub, err.code, err.msg) == (sub, 10301, "subscribe: dup")
    assert err.raw["channel"] == "book"
    h.feed({"event": "subscribed", "channel": "book", "chanId": 4, "subId": 1,
            "symbol": "tBTCUSD"})
    assert h.session.channel_of(sub) is None


def test_error_event_without_sub_id():
    """An error that names no subscription is an ErrorEvent."""
    h = Harness()
    h.feed({"event": "error", "msg": "Unknown event", "code": 10000})
    assert h.control[0] == p.ErrorEvent(10000, "Unknown event")


def test_info_pong_conf_auth_events():
    """info, pong, conf and auth events become their control events."""
    h = Harness()
    frames = go_frames()
    h.feed({"event": "info", "version": 2, "serverId": "x", "platform": {"status": 1}},
           {"event": "info", "code": 20051, "msg": "Stop/Restart Websocket Server"},
           {"event": "pong", "ts": 1511545528111, "cid": 1234},
           frames[5], frames[10],
           {"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
            "msg": "apikey: invalid"})
    greeting, restart, pong, conf, ok, failed = h.control
    assert (greeting.version, greeting.platform_status) == (2, 1)
    assert restart.code == 20051
    assert (pong.cid, pong.ts) == (1234, 1511545528111)
    assert (conf.flags, conf.status) == (131072, "OK")
    assert isinstance(ok, p.AuthOk) and ok.user_id == 1
    assert (failed.code, failed.msg) == (10100, "apikey: invalid")


# ------------------------------------------------------------------- public channels

def test_ticker_frame_to_ticker():
    """The go fixture ticker frame becomes a Ticker with the documented fields."""
    frames = go_frames()
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("tBTCUSD"), 5)
    h.feed(frames[2])
    assert out == [models.Ticker("tBTCUSD", 14957, 68.17328796, 14958, 55.29588132, -659,
                                 -0.0422, 14971, 53723.08813995, 16494, 14454)]
    assert out[0].raw is frames[2]


def test_ticker_with_trailing_fields():
    """A ticker frame with seq, timestamp and extra trailing items still parses."""
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("tMATIC:BTC"), 94952)
    h.feed(*tardis("tardis_bitfinex.jsonl", 94952))
    assert out[0].bid == 0.00002271 and out[0].low == 0.00002276


def test_funding_ticker_full_row():
    """A 16-field funding ticker row fills frr_amount_available."""
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("fBTC"), 129136)
    h.feed(*tardis("tardis_bitfinex.jsonl", 129136))
    t = out[0]
    assert isinstance(t, models.FundingTicker)
    assert (t.frr, t.bid_period, t.ask, t.frr_amount_available) == (
        0.000012589041095890411, 90, 4.5e-7, 14121.77787059)


def test_funding_ticker_short_row():
    """The 2017 funding ticker (13 fields) parses, the missing field None."""
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("fUSD"), 22)
    h.feed(load_json("response-ws2-server-ticker-funding.json"))
    t = out[0]
    assert (t.frr, t.bid, t.bid_period, t.low) == (0.00078458, 0.00075, 30, 0)
    assert t.frr_amount_available is None


def test_trades_snapshot_oldest_first():
    """The real trades snapshot (newest first on the wire) is delivered oldest first."""
    frame = load_json("response-ws2-server-trades.json")
    h = Harness()
    out = h.subscribe(ChannelSpec.trades("tETHUSD"), 31)
    h.feed(frame)
    snap = out[0]
    assert isinstance(snap, models.TradesSnapshot) and len(snap.trades) == len(frame[1])
    assert [t.id for t in snap.trades] == sorted(row[0] for row in frame[1])
    first = snap.trades[-1]
    assert (first.id, first.mts, first.amount, first.price, first.kind) == (
        32288059, 1494971706000, -0.00042864, 1773.9, "snapshot")


def test_trades_te_tu():
    """te and tu frames (with seq and timestamp appended) become Trades of that kind."""
    h = Harness()
    out = h.subscribe(ChannelSpec.trades("tBTCUSD"), 89)
    h.feed(*tardis("tardis_bitfinex.jsonl", 89))
    snap, te, tu = out
    assert len(snap.trades) == 1
    assert (te.kind, te.id, te.price, te.side) == ("te", 382489563, 10087.98969503, "buy")
    assert tu.kind == "tu"


def test_funding_trades_fte_ftu():
    """fte and ftu frames become FundingTrades with rate and period."""
    h = Harness()
    out = h.subscribe(ChannelSpec.trades("fUSD"), 18788)
    h.feed(*load_jsonl("trades_te_tu_fte_ftu.jsonl")[3:])
    fte, ftu = out
    assert isinstance(fte, models.FundingTrade)
    assert (fte.kind, fte.rate, fte.period, ftu.kind) == ("fte", 102550, 30, "ftu")


def test_funding_trades_snapshot_with_trading_rows_is_malformed():
    """A funding trades snapshot whose rows lack RATE/PERIOD is reported, not delivered
    (the fixture mixes trading rows into it)."""
    h = Harness()
    out = h.subscribe(ChannelSpec.trades("fUSD"), 18788)
    h.feed(load_jsonl("trades_te_tu_fte_ftu.jsonl")[0])
    assert out == [] and isinstance(h.control[-1], p.MalformedFrame)


def test_book_snapshot_and_updates():
    """A book gives a best-first BookSnapshot then one BookUpdate per entry."""
    h = Harness()
    book = OrderBook("tETHUSD")
    out = h.subscribe(ChannelSpec.book("tETHUSD", length=100), 6959, book=book)
    h.feed(*tardis("tardis_bitfinex.jsonl", 6959))
    snap = out[0]
    assert snap.bids == [(216, 2, 31.52)]
    assert snap.asks == [(218.75, 1, -13.33333333), (218.76, 1, -2)]
    assert [type(e) for e in out[1:]] == [models.BookUpdate] * 3
    assert (out[1].price, out[1].count, out[1].amount, out[1].side) == (
        219.11, 3, -18.10913638, "ask")
    assert book.asks[-1] == (219.11, 3, -18.10913638)


def test_book_snapshot_sorted_without_managed_book():
    """Without a managed book the snapshot is still sorted best first."""
    frame = load_json("response-ws2-server-order-book-P0.json")
    h = Harness()
    out = h.subscribe(ChannelSpec.book("tETHUSD"), 300)
    h.feed(frame)
    snap = out[0]
    assert len(snap.bids) + len(snap.asks) == len(frame[1])
    assert snap.bids[0][0] > snap.bids[-1][0] and snap.asks[0][0] < snap.asks[-1][0]


def test_raw_book_events():
    """An R0 book gives raw levels in the snapshot and RawBookUpdate events."""
    frame = load_json("response-ws2-server-order-book-R0.json")
    h = Harness()
    book = OrderBook("tETHUSD", kind="raw")
    out = h.subscribe(ChannelSpec.book("tETHUSD", "R0"), 999, book=book)
    h.feed(frame, [999, [2567606289, 0, 1]])
    snap, upd = out
    assert snap.bids[0] == (2567606289, 1876.5, 1.4305)
    assert upd == models.RawBookUpdate("tETHUSD", 2567606289, 0, 1)
    assert book.best_bid[0] != 2567606289


def test_funding_book_updates():
    """A funding book gives FundingBookUpdate with rate and period, bid when amount < 0."""
    h = Harness()
    out = h.subscribe(ChannelSpec.book("fUSD"), 50, book=OrderBook("fUSD", funding=True))
    h.feed([50, [[0.0002, 2, 1, -10.0]]], [50, [0.0003, 30, 2, -5.0]], [50, "cs", 12345])
    upd = out[1]
    assert upd == models.FundingBookUpdate("fUSD", 0.0003, 30, 2, -5.0)
    assert upd.side == "bid"
    assert h.of(p.ResyncNeeded) == []  # funding checksums are not verified


def test_checksum_ok_is_silent():
    """The real XRPBTC snapshot, update and cs frame verify and cs is never delivered."""
    frames = [f for f in go_frames() if isinstance(f, list) and f[0] == 81757]
    h = Harness()
    book = OrderBook("tXRPBTC")
    out = h.subscribe(ChannelSpec.book("tXRPBTC"), 81757, book=book)
    h.feed(*frames)
    assert h.of(p.ResyncNeeded) == []
    assert len(out) == 2 and isinstance(out[1], models.BookUpdate)


def test_checksum_mismatch_reported_once():
    """A wrong checksum asks for a resync once per snapshot, naming both values, and
    updates after it are not delivered until the next snapshot."""
    snapshot, update, cs = [f for f in go_frames() if isinstance(f, list) and f[0] == 81757]
    h = Harness()
    book = OrderBook("tXRPBTC")
    out = h.subscribe(ChannelSpec.book("tXRPBTC"), 81757, book=book)
    h.feed(snapshot, cs, cs, update)
    failed = h.of(p.ResyncNeeded)
    assert len(failed) == 1 and failed[0].sub is h.last_sub and failed[0].kind == "checksum"
    assert "-1175357890" in failed[0].reason and not book.synced
    assert len(out) == 1  # the snapshot only: the update after the mismatch is held back
    h.feed(snapshot, update, cs)  # a new snapshot re-arms the check; this one is right
    assert len(h.of(p.ResyncNeeded)) == 1 and book.synced
    assert all(not (isinstance(e, list) and e[1] == "cs") for e in out)


def test_update_before_snapshot_asks_for_a_resync():
    """A book update before any snapshot is never applied: one ResyncNeeded of kind order."""
    h = Harness()
    book = OrderBook("tBTCUSD")
    out = h.subscribe(ChannelSpec.book("tBTCUSD"), 7, book=book)
    h.feed([7, [100.0, 1, 2.0]], [7, [101.0, 1, 2.0]])
    resync, = h.of(p.ResyncNeeded)
    assert resync.kind == "order" and out == [] and len(book) == 0


def test_bulk_updates_batch():
    """With BULK_UPDATES a list of entries after the snapshot is a batch of updates."""
    h = Harness(bulk_updates=True)
    book = OrderBook("tBTCUSD")
    out = h.subscribe(ChannelSpec.book("tBTCUSD"), 7, book=book)
    h.feed([7, [[100, 1, 1.0], [101, 1, -1.0]]], [7, [[100, 0, 1], [102, 2, -3.0]]])
    assert isinstance(out[0], models.BookSnapshot)
    assert out[1:] == [models.BookUpdate("tBTCUSD", 100, 0, 1),
                       models.BookUpdate("tBTCUSD", 102, 2, -3.0)]
    assert book.bids == [] and len(book.asks) == 2


def test_candles_snapshot_oldest_first_then_update():
    """A candles snapshot (newest first on the wire) is delivered oldest first."""
    h = Harness()
    out = h.subscribe(ChannelSpec.candles("tBTCUSD", "1m"), 343351)
    h.feed([343351, [[1574698260000, 7379.785503, 7383.8, 7388.3, 7379.785503, 1.68829482],
                     [1574698200000, 7380, 7379.7, 7380, 7379.7, 0.5]]],
           [343351, [1574698260000, 7379.8, 7384, 7389, 7379, 2.1], 5, 1574698261000])
    snap, upd = out
    assert [c.mts for c in snap.candles] == [1574698200000, 1574698260000]
    assert snap.timeframe == "1m" and snap.candles[1].open == 7379.785503
    assert upd == models.Candle("tBTCUSD", "1m", 1574698260000, 7379.8, 7384, 7389, 7379, 2.1)


def test_derivatives_status_rows():
    """deriv status rows map the documented indexes; short rows give None."""
    h = Harness()
    out = h.subscribe(ChannelSpec.status("deriv:tBTCF0:USTF0"), 127758)
    h.feed(*tardis("tardis_bitfinex_derivatives.jsonl", 127758))
    first, _, third, _ = out
    assert (first.deriv_price, first.spot_price, first.insurance_fund_balance,
            first.next_funding_evt_mts, first.mark_price, first.open_interest) == (
        173.535, 173.57, 101052.04082882, 1569744000000, None, None)
    assert (third.next_funding_accrued, third.next_funding_step, third.mark_price) == (
        -1.4e-7, 9, 8196.973333333333)
    row = tardis("tardis_bitfinex_derivatives.jsonl", 23928)[0]
    h2 = Harness()
    out2 = h2.subscribe(ChannelSpec.status("deriv:tBTCF0:USTF0"), 23928)
    h2.feed(row)
    assert out2[0].open_interest == 3005.25851857


def test_liquidations():
    """liq:global rows become Liquidation events."""
    h = Harness()
    out = h.subscribe(ChannelSpec.status("liq:global"), 907)
    h.feed(*tardis("tardis_bitfinex_derivatives.jsonl", 907))
    assert [type(e) for e in out] == [models.Liquidation] * 2
    liq = out[0]
    assert (liq.pos_id, liq.symbol, liq.amount, liq.is_match, liq.is_market_sold,
            liq.liquidation_price) == (143679087, "tETHF0:USTF0", -4.56671421, 1, 1, 235.52)
    assert out[1].liquidation_price is None


def test_heartbeats_never_delivered():
    """hb frames (with or without seq/timestamp) reach no deliver and no control event."""
    h = Harness()
    outs = [h.subscribe(ChannelSpec.ticker("tBTCUSD"), 1),
            h.subscribe(ChannelSpec.trades("tBTCUSD"), 2),
            h.subscribe(ChannelSpec.book("tBTCUSD"), 3),
            h.subscribe(ChannelSpec.candles("tBTCUSD", "1m"), 4),
            h.subscribe(ChannelSpec.status("liq:global"), 5),
            h.subscribe(ChannelSpec.ticker("tETHUSD"), 6, raw=True)]
    out0 = []
    h.session.expect_auth(out0.append)
    before = len(h.control)
    h.feed(*[[c, "hb"] for c in range(7)], [3, "hb", 3603, 1569715249702], [99, "hb"])
    assert all(o == [] for o in [*outs, out0])
    assert len(h.control) == before


# ------------------------------------------------------------------------ raw mode

def test_raw_mode_delivers_frames_as_received():
    """Raw mode delivers the decoded frames themselves, without hb or cs."""
    frames = [f for f in go_frames() if isinstance(f, list) and f[0] == 81757]
    h = Harness()
    book = OrderBook("tXRPBTC")
    out = h.subscribe(ChannelSpec.book("tXRPBTC"), 81757, raw=True, book=book)
    h.feed(*frames, [81757, "hb"])
    assert out[0] is frames[0] and out[1] is frames[1] and len(out) == 2
    assert book.checksum() == -1175357890 and h.of(p.ResyncNeeded) == []


def test_raw_mode_ticker():
    """A raw-mode ticker delivers the frame list unchanged."""
    frames = go_frames()
    h = Harness()
    out = h.subscribe(ChannelSpec.ticker("tBTCUSD"), 5, raw=True)
    h.feed(frames[2])
    assert out == [frames[2]]


# ------------------------------------------------------------------------ chan 0

ORDER_ROW = [40223669041, None, 1582304782748, "tBTCUSD", 1582304782760, 1582304782760,
             -0.001, -0.001, "EXCHANGE LIMIT", None, None, None, 0, "ACTIVE", None, None,
             10100, 0, 0, 0, None, None, None, 0, None, None, None, None, "API>BFX", None,
             None, None]


def auth_harness(**kwargs):
    h = Harness(**kwargs)
    out = []
    h.session.expect_auth(out.append)
    return h, out


def test_auth_order_stream():
    """on/ou/oc frames become Orders with their stream as kind."""
    h, out = auth_harness()
    h.feed([0, "on", ORDER_ROW], [0, "oc", ORDER_ROW[:14]])
    order = out[0]
    assert (order.id, order.cid, order.symbol, order.amount, order.type, order.status,
            order.price, order.flags, order.kind, order.side) == (
        40223669041, 1582304782748, "tBTCUSD", -0.001, "EXCHANGE LIMIT", "ACTIVE", 10100, 0,
        "on", "sell")
    assert out[1].kind == "oc" and out[1].price is None  # short row: missing -> None


def test_auth_snapshots_typed():
    """os/ws/ps snapshots become Snapshot with typed items; others keep rows."""
    h, out = auth_harness()
    h.feed([0, "os", [ORDER_ROW]], [0, "ws", [["exchange", "BTC", 30, 0, None]]],
           [0, "ps", [["tBTCUSD", "ACTIVE", 0.5, 9000, 0, 0, 12.5, 0.1, 8000, 2.5, None, 77]]],
           [0, "fos", [[1, "fUSD"]]], [0, "os", []])
    os_, ws, ps, fos, empty = out
    assert os_.kind == "os" and isinstance(os_.items[0], models.Order)
    assert os_.items[0].kind == "os"
    assert ws.items == [models.Wallet("exchange", "BTC", 30, 0, None, "ws")]
    pos = ps.items[0]
    assert (pos.symbol, pos.amount, pos.pl, pos.price_liq, pos.leverage, pos.id) == (
        "tBTCUSD", 0.5, 12.5, 8000, 2.5, 77)
    assert fos.items == [[1, "fUSD"]] and empty.items == []


def test_auth_wallet_updates_from_fixture():
    """The go fixture's wu frames become Wallets; bu passes through as the frame."""
    frames = [f for f in go_frames() if isinstance(f, list) and f[0] == 0]
    h, out = auth_harness()
    h.feed(*frames)
    wallets = [e for e in out if isinstance(e, models.Wallet)]
    assert len(wallets) == 7
    assert (wallets[0].type, wallets[0].currency, wallets[0].balance,
            wallets[0].available) == ("exchange", "BTC", 30, 30)
    assert out[-1] == [0, "bu", [147260, 147260]]


def test_auth_fill():
    """A private te/tu becomes a Fill with fee and maker from the documented layout."""
    h, out = auth_harness()
    h.feed([0, "tu", [402088407, "tETHUSD", 1574963975602, 34938060782, -0.2, 153.57,
                      "MARKET", 0, -1, -0.061668, "USD", 1574963975601]])
    fill = out[0]
    assert (fill.id, fill.symbol, fill.order_id, fill.amount, fill.price, fill.fee,
            fill.fee_currency, fill.maker, fill.order_type, fill.cid, fill.kind) == (
        402088407, "tETHUSD", 34938060782, -0.2, 153.57, -0.061668, "USD", False, "MARKET",
        1574963975601, "tu")


def test_auth_notification_on_req_success():
    """The node#519 on-req SUCCESS notification carries the Order; MTS kept as sent."""
    h, out = auth_harness()
    frame = [0, "n", [1582304782.761, "on-req", None, None, ORDER_ROW, None, "SUCCESS",
                      "Submitting exchange limit sell order for -0.001 BTC."], 12]
    h.feed(frame)
    n = out[0]
    assert (n.mts, n.type, n.status, n.ok) == (1582304782.761, "on-req", "SUCCESS", True)
    assert isinstance(n.data, models.Order) and n.data.cid == 1582304782748
    assert n.raw is frame


def test_auth_notification_error_all_null():
    """The node#299 ou-req ERROR with all-null DATA still parses (Order of Nones)."""
    h, out = auth_harness()
    h.feed([0, "n", [1524135087973, "ou-req", None, None, [None] * 23 + [0] + [None] * 8,
                     None, "ERROR", "Invalid order: minimum size for ETC/USD is 0.8"]])
    n = out[0]
    assert not n.ok and n.text.startswith("Invalid order")
    assert isinstance(n.data, models.Order) and n.data.id is None


def test_auth_notification_multi_and_other():
    """oc_multi-req data lists become Orders; other notifications keep their data."""
    h, out = auth_harness()
    h.feed([0, "n", [1, "oc_multi-req", None, None, [ORDER_ROW, ORDER_ROW], None, "SUCCESS", "ok"]],
           [0, "n", [2, "fon-req", None, None, [1, "fUSD"], None, "SUCCESS", "ok"]],
           [0, "n", [3, "uca", None, None, {"a": 1}, None, None, "x"]])
    multi, fon, uca = out
    assert [type(o) for o in multi.data] == [models.Order, models.Order]
    assert fon.data == [1, "fUSD"] and uca.data == {"a": 1}


def test_auth_other_streams_pass_through():
    """Streams without a model (miu, fte...) are delivered as the frame."""
    h, out = auth_harness()
    frame = [0, "miu", ["base", [1, 2, 3]]]
    h.feed(frame)
    assert out == [frame]


def test_parse_auth_frame_for_raw_users():
    """parse_auth_frame turns a raw chan-0 frame into its model, None for hb or junk."""
    assert isinstance(p.parse_auth_frame([0, "on", ORDER_ROW]), models.Order)
    assert p.parse_auth_frame([0, "hb"]) is None
    assert p.parse_auth_frame([0, "on", "junk"]) is None
    assert p.parse_auth_frame({"event": "x"}) is None


def test_auth_frames_before_expect_auth_are_unknown():
    """Chan-0 data before expect_auth is an UnknownChannel."""
    h = Harness()
    h.feed([0, "on", ORDER_ROW])
    assert isinstance(h.control[0], p.UnknownChannel) and h.control[0].chan_id == 0


# ------------------------------------------------------------------- sequence numbers

def test_seq_in_order_is_silent():
    """gocryptotrader's trades frames with seq 1..5 raise no gap."""
    h = Harness(seq_all=True)
    h.subscribe(ChannelSpec.trades("tBTCUSD"), 18788)
    h.feed(*load_jsonl("trades_te_tu_fte_ftu.jsonl"))
    assert h.of(p.SequenceGapEvent) == []


def test_seq_gap_reported():
    """A skipped public seq is reported with the expected and received numbers."""
    h = Harness(seq_all=True)
    h.subscribe(ChannelSpec.book("tETHUSD", length=100), 6959)
    h.feed(*tardis("tardis_bitfinex.jsonl", 6959))  # seqs 10, 45, 61, 430, hb 3603
    gaps = h.of(p.SequenceGapEvent)
    assert [(g.expected, g.got, g.stream) for g in gaps] == [
        (11, 45, "public"), (46, 61, "public"), (62, 430, "public"), (431, 3603, "public")]


def test_seq_shared_across_channels_and_hb_and_cs():
    """One public counter runs across channels, heartbeats and checksum frames."""
    h = Harness(seq_all=True)
    h.subscribe(ChannelSpec.ticker("tBTCUSD"), 1)
    h.subscribe(ChannelSpec.book("tBTCUSD"), 2)
    h.feed([1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 1, 1600000000000],
           [2, [[100, 1, 1.0]], 2], [2, "cs", 123, 3, 1600000000001], [1, "hb", 4],
           [77, "hb", 5], [2, [100, 0, 1], 6])
    assert h.of(p.SequenceGapEvent) == []
    h.feed([1, "hb", 8])
    assert h.of(p.SequenceGapEvent) == [p.SequenceGapEvent(7, 8, "public")]


def test_seq_chan0_public_and_auth():
    """On chan 0 the public seq is before the auth seq; an auth gap is reported as auth."""
    h, out = auth_harness(seq_all=True)
    h.feed([0, "on", ORDER_ROW, 1, 10], [0, "hb", 2],
           [0, "n", [1, "on-req", None, None, ORDER_ROW, None, "SUCCESS", "x"], 10],
           [0, "ou", ORDER_ROW, 3, 11], [0, "oc", ORDER_ROW, 4, 13])
    assert h.of(p.SequenceGapEvent) == [p.SequenceGapEvent(12, 13, "auth")]
    assert len(out) == 4


def test_seq_auth_zero_is_initial_sync():
    """Auth seq 0 (initial sync) is not checked."""
    h, _ = auth_harness(seq_all=True)
    h.feed([0, "os", [], 1, 0], [0, "ws", [], 2, 0], [0, "on", ORDER_ROW, 3, 1],
           [0, "ou", ORDER_ROW, 4, 2])
    assert h.of(p.SequenceGapEvent) == []


def test_seq_not_checked_without_seq_all():
    """Without seq_all, trailing numbers are not read as sequence numbers."""
    h = Harness()
    h.subscribe(ChannelSpec.book("tETHUSD", length=100), 6959)
    h.feed(*tardis("tardis_bitfinex.jsonl", 6959))
    assert h.of(p.SequenceGapEvent) == []


# --------------------------------------------------------------- bad input never raises

def test_unknown_channel_reported():
    """A data frame for an unbound chanId becomes UnknownChannel."""
    h = Harness()
    h.feed([123, [1, 2, 3]])
    assert h.control == [p.UnknownChannel(123)]


@pytest.mark.parametrize("frame", [
    [], "text", 42, None, [[1], 2], [{}, 1], {"no_event": 1}, {"event": "whatever"},
    {"event": "subscribed"}, {"event": "subscribed", "chanId": [1]},
    {"event": "info", "platform": 3},
])
def test_malformed_frames_reported(frame):
    """Malformed messages become MalformedFrame (or harmless events), never an exception."""
    h = Harness()
    h.feed(frame)
    assert len(h.control) == 1
    assert isinstance(h.control[0], (p.MalformedFrame, p.InfoEvent))


@pytest.mark.parametrize("frame", [
    [5], [5, "te"], [5, "te", "x"], [5, "te", None], [5, 7], [5, "zz", []], [5, [None, "a"]],
])
def test_malformed_channel_frames_reported(frame):
    """Bad frames on a bound trades channel become MalformedFrame and deliver nothing."""
    h = Harness()
    out = h.subscribe(ChannelSpec.trades("tBTCUSD"), 5)
    h.feed(frame)
    assert out == [] and isinstance(h.control[-1], p.MalformedFrame)


def test_deliver_exceptions_propagate():
    """An exception raised by the deliver callback is not mistaken for a bad frame."""
    h = Harness()
    sub = Subscription("t", ChannelSpec.ticker("tBTCUSD"))
    sub.add_callback(lambda e: 1 / 0)
    h.session.subscribe(sub)
    h.feed({"event": "subscribed", "channel": "ticker", "chanId": 5, "subId": 1,
            "symbol": "tBTCUSD"})
    with pytest.raises(ZeroDivisionError):
        h.feed([5, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]])


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 53, 2 ** 53),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.sampled_from(["hb", "cs", "te", "tu", "fte", "n", "os", "on",
                                          "on-req", "oc_multi-req", "subscribed", "error"]),
                         st.text(max_size=5))
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=6),
                               st.dictionaries(st.sampled_from(
                                   ["event", "chanId", "subId", "channel", "symbol", "key",
                                    "code", "msg", "status", "platform", "len", "prec"]),
                                   children, max_size=5)),
    max_leaves=25)
chan_ids = st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 99])
frames = st.one_of(
    json_values,
    st.tuples(chan_ids, st.lists(json_values, max_size=5)).map(lambda t: [t[0], *t[1]]),
    st.tuples(chan_ids, json_values, st.integers(0, 5)).map(lambda t: [t[0], t[1], t[2]]),
)


def fuzz_session(**kwargs):
    h = Harness(**kwargs)
    h.subscribe(ChannelSpec.ticker("tBTCUSD"), 1)
    h.subscribe(ChannelSpec.trades("tBTCUSD"), 2)
    h.subscribe(ChannelSpec.book("tBTCUSD"), 3, book=OrderBook("tBTCUSD"))
    h.subscribe(ChannelSpec.book("tBTCUSD", "R0"), 4, book=OrderBook("tBTCUSD", kind="raw"))
    h.subscribe(ChannelSpec.candles("tBTCUSD", "1m"), 5)
    h.subscribe(ChannelSpec.status("liq:global"), 6)
    h.subscribe(ChannelSpec.status("deriv:tBTCF0:USTF0"), 7)
    h.subscribe(ChannelSpec.ticker("fUSD"), 8, raw=True)
    h.session.expect_auth([].append)
    return h


@settings(max_examples=400, deadline=None)
@given(st.lists(frames, max_size=12), st.booleans(), st.booleans())
def test_fuzz_receive_never_raises(msgs, seq_all, bulk):
    """Random JSON-like values and frames into receive() never raise."""
    h = fuzz_session(seq_all=seq_all, bulk_updates=bulk)
    for msg in msgs:
        h.session.receive(msg)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(0, 60))
def test_fuzz_truncated_real_frames_never_raise(frame_cut, row_cut):
    """Real fixture frames cut short (frame and inner rows) never make receive() raise."""
    h = fuzz_session(seq_all=True)
    real = [[1, [14957, 68.17, 14958, 55.29, -659, -0.0422, 14971, 53723.08, 16494, 14454], 1],
            [2, "te", [382489563, 1564617600709, 0.007, 10087.9], 2],
            [3, [[100, 1, 1.0], [101, 1, -1.0]], 3], [3, "cs", 1, 4],
            [4, [[1, 100, 1.0]], 5], [5, [[1574698260000, 1, 2, 3, 4, 5]], 6],
            [6, [["pos", 1, 2, None, "tX", 1, 2, None, 0, 1, None, 3]], 7],
            [7, [1569715201000, None, 173.5, 173.6, None, 1.0], 8],
            [0, "n", [1, "on-req", None, None, ORDER_ROW, None, "SUCCESS", "x"], 9],
            [0, "os", [ORDER_ROW], 10, 1], [0, "te", [1, "tX", 2, 3, 4, 5], 11, 2]]
    for frame in real:
        cut = frame[:frame_cut % (len(frame) + 1)]
        if len(cut) > 2 and isinstance(cut[-1], list) and not isinstance(cut[1], str):
            cut[-1] = cut[-1][:row_cut % (len(cut[-1]) + 1)]
        elif len(cut) > 2 and isinstance(cut[2], list):
            cut[2] = cut[2][:row_cut % (len(cut[2]) + 1)]
        h.session.receive(cut)

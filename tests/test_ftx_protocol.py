"""Tests for exchange_wss.ftx.protocol: frames in / events out, requests in / frames out."""

from __future__ import annotations

import copy
import pathlib
import zlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_wss import models
from exchange_wss._subscriptions import Subscription
from exchange_wss.errors import LocalProtocolError
from exchange_wss.ftx import protocol as p
from exchange_wss.ftx.protocol import FtxSession
from exchange_wss.orderbook import OrderBook

FTX = pathlib.Path(__file__).parent / "fixtures" / "ftx"

# ftx.md "Example frames".
DOC_FILL = {"channel": "fills", "type": "update", "data": {
    "fee": 78.05799225, "feeRate": 0.0014, "future": "BTC-PERP", "id": 7828307,
    "liquidity": "taker", "market": "BTC-PERP", "orderId": 38065410, "tradeId": 19129310,
    "price": 3723.75, "side": "buy", "size": 14.973,
    "time": "2019-05-07T16:40:58.358438+00:00", "type": "order"}}
DOC_ORDER = {"channel": "orders", "type": "update", "data": {
    "id": 24852229, "clientId": None, "market": "XRP-PERP", "type": "limit", "side": "buy",
    "size": 42353.0, "price": 0.2977, "reduceOnly": False, "ioc": False, "postOnly": False,
    "status": "closed", "filledSize": 0.0, "remainingSize": 0.0, "avgFillPrice": 0.2978,
    "createdAt": "2019-05-07T16:40:58.358438+00:00"}}
# 2019-05-07T16:40:58.358438+00:00 in ms (truncated).
DOC_MTS = 1557247258358


def crc(text):
    """FTX's checksum of a checksum string: unsigned CRC32."""
    return zlib.crc32(text.encode("ascii"))


def make_sub(channel, market=None, out=None, book=None):
    """A subscription handle on (channel, market) delivering to ``out``."""
    label = channel if market is None else f"{channel}:{market}"
    sub = Subscription(label, (channel, market), market, book=book)
    sub.add_callback((out if out is not None else []).append)
    return sub


class Harness:
    """A session with recorded control events and per-channel deliveries."""

    def __init__(self):
        self.control = []
        self.session = FtxSession(self.control.append)
        self.subs = {}

    def expect(self, channel, market=None, raw=False, book=None):
        """Subscribe (the session routes its data from then on); the delivery list."""
        out = []
        sub = make_sub(channel, market, out, book)
        saved, self.session.raw = self.session.raw, raw
        try:
            self.session.subscribe(sub)
        finally:
            self.session.raw = saved
        self.subs[(channel, market)] = sub
        return out

    def confirm(self, channel, market=None):
        """Feed the server's 'subscribed' for it."""
        msg = {"type": "subscribed", "channel": channel}
        if market is not None:
            msg["market"] = market
        self.session.receive(msg)

    def feed(self, *frames):
        for frame in frames:
            self.session.receive(orjson.loads(frame) if isinstance(frame, str) else frame)

    def of(self, cls):
        return [e for e in self.control if isinstance(e, cls)]


def book_frame(market, mtype, bids, asks, checksum, time=1603922035.3356924):
    """An orderbook frame as JSON text; bids/asks are wire text like "0.00002262"."""
    def side(rows):
        return "[" + ",".join(f"[{px},{sz}]" for px, sz in rows) + "]"
    return (f'{{"channel":"orderbook","market":"{market}","type":"{mtype}","data":'
            f'{{"time":{time},"checksum":{checksum},"bids":{side(bids)},'
            f'"asks":{side(asks)},"action":"{mtype}"}}}}')


# ------------------------------------------------------------------------------ requests

def test_login_signature_matches_the_documented_example():
    """The doc example time and secret give the documented signature."""
    req = p.login_request("KEY", "Y2QTHI23f23f23jfjas23f23To0RfUwX3H42fvN-", 1557246346499)
    assert req == {"op": "login", "args": {
        "key": "KEY", "time": 1557246346499,
        "sign": "d10b5a67a1a941ae9463a60b285ae845cdeac1b11edc7da9977bef0228b96de9"}}


def test_login_with_subaccount_and_bad_arguments():
    """A subaccount is added to args; empty key/secret or a non-int time are refused."""
    req = p.login_request("k", "s", 1, subaccount="my sub")
    assert req["args"]["subaccount"] == "my sub"
    for args in (("", "s", 1), ("k", "", 1), ("k", "s", 1.5), ("k", "s", True), ("k", "s", -1)):
        with pytest.raises(LocalProtocolError):
            p.login_request(*args)
    with pytest.raises(LocalProtocolError):
        p.login_request("k", "s", 1, subaccount="")


def test_ping_and_subscribe_requests():
    """Ping, subscribe and unsubscribe frames: fills/orders without a market, others with."""
    assert p.ping_request() == {"op": "ping"}
    assert p.subscribe_request("fills") == {"op": "subscribe", "channel": "fills"}
    assert p.subscribe_request("orderbook", "BTC-PERP") == {
        "op": "subscribe", "channel": "orderbook", "market": "BTC-PERP"}
    assert p.unsubscribe_request("trades", "BTC/USD") == {
        "op": "unsubscribe", "channel": "trades", "market": "BTC/USD"}
    assert p.DEFAULT_URL == "wss://ftx.com/ws/" and p.PING_INTERVAL == 15.0


@pytest.mark.parametrize(("channel", "market"), [
    ("fills", "BTC-PERP"), ("orders", "x"), ("ticker", None), ("trades", ""),
    ("orderbook", " BTC-PERP"), ("orderbookGrouped", "BTC-PERP"), ("markets", None),
    (None, None), ("orderbook", 5)])
def test_subscribe_validation(channel, market):
    """Unknown channels, a market on fills/orders, or a missing/bad market are refused."""
    with pytest.raises(LocalProtocolError):
        p.subscribe_request(channel, market)
    with pytest.raises(LocalProtocolError):
        p.unsubscribe_request(channel, market)
    with pytest.raises(LocalProtocolError):
        FtxSession(print).subscribe(make_sub(channel, market))


def test_subscribe_book_validation():
    """subscribe() refuses a book that is not a size book, or a book on a channel without one."""
    s = FtxSession(print)
    with pytest.raises(LocalProtocolError):
        s.subscribe(make_sub("orderbook", "BTC-PERP", book=OrderBook("BTC-PERP")))
    with pytest.raises(LocalProtocolError):
        s.subscribe(make_sub("ticker", "BTC-PERP", book=OrderBook("BTC-PERP", kind="size")))


# -------------------------------------------------------------------------- control events

def test_control_events():
    """pong, error and info become their control events; answers to nothing are Unexpected."""
    h = Harness()
    h.feed('{"type":"subscribed","channel":"trades","market":"BTC-PERP"}',
           '{"type":"unsubscribed","channel":"fills"}',
           '{"type":"pong"}',
           '{"type":"error","code":400,"msg":"Invalid market"}',
           '{"type":"info","code":20001,"msg":"Server restarting, please reconnect"}')
    sub, unsub, pong, err, info = h.control
    assert type(sub) is p.Unexpected and type(unsub) is p.Unexpected
    assert type(pong) is p.Pong and pong.raw == {"type": "pong"}
    assert (type(err), err.code, err.msg) == (p.ErrorEvent, 400, "Invalid market")
    assert (type(info), info.code) == (p.InfoEvent, p.INFO_RESTARTING)


def test_subscribed_confirms_and_unsubscribe_is_confirmed():
    """subscribed confirms the subscription; unsubscribe() stops routing; unsubscribed confirms."""
    h = Harness()
    out = h.expect("ticker", "A")
    sub = h.subs[("ticker", "A")]
    assert h.session.unsubscribe(sub) is None  # not confirmed yet: nothing to unsubscribe
    h.confirm("ticker", "A")
    assert h.control == [p.SubscribeConfirmed(sub)]
    assert h.session.unsubscribe(sub) == {"op": "unsubscribe", "channel": "ticker",
                                          "market": "A"}
    h.feed({"channel": "ticker", "market": "A", "type": "update", "data": {"bid": 1}},
           {"type": "unsubscribed", "channel": "ticker", "market": "A"})
    assert out == [] and h.control[-1] == p.UnsubscribeConfirmed(sub)


def test_an_error_answers_the_oldest_waiting_request():
    """FTX errors echo nothing: a non-login error refuses the oldest request still waiting."""
    h = Harness()
    h.expect("ticker", "A")
    h.expect("trades", "B")
    h.confirm("trades", "B")
    h.feed({"type": "error", "code": 400, "msg": "Invalid market"})
    refused = h.control[-1]
    assert type(refused) is p.SubscribeRefused and refused.sub is h.subs[("ticker", "A")]
    h.feed({"channel": "ticker", "market": "A", "type": "update", "data": {"bid": 1}})
    assert len(h.control) == 2  # its route is gone too


def test_an_error_after_an_unsubscribe_refuses_it():
    """An error answering an unsubscribe is UnsubscribeRefused for that subscription."""
    h = Harness()
    h.expect("orderbook", "M")
    h.confirm("orderbook", "M")
    sub = h.subs[("orderbook", "M")]
    h.session.unsubscribe(sub)
    h.feed({"type": "error", "code": 400, "msg": "Not subscribed"})
    refused = h.control[-1]
    assert type(refused) is p.UnsubscribeRefused and refused.sub is sub


@pytest.mark.parametrize("text", ["Not logged in", "Invalid login credentials",
                                  "Already logged in"])
def test_login_errors_are_login_error(text):
    """An error about logging in is a LoginError, not a plain ErrorEvent."""
    h = Harness()
    h.feed({"type": "error", "code": 400, "msg": text})
    (event,) = h.control
    assert type(event) is p.LoginError and event.code == 400 and event.msg == text


# ------------------------------------------------------------------------ private channels

def test_fills_doc_example():
    """The documented fills frame becomes a Fill with every field mapped."""
    h = Harness()
    out = h.expect("fills")
    h.feed(DOC_FILL)
    (fill,) = out
    assert fill == models.Fill(19129310, "BTC-PERP", DOC_MTS, 38065410, 14.973, 3723.75,
                               78.05799225, None, False, None, None, None, 0.0014, "fill")
    assert fill.liquidity == "taker" and fill.side == "buy" and fill.raw is DOC_FILL["data"]
    assert h.control == []


def test_sell_maker_fill_is_negative_and_maker():
    """A sell is a negative amount; liquidity "maker" sets maker; no tradeId falls back to id."""
    h = Harness()
    out = h.expect("fills")
    frame = copy.deepcopy(DOC_FILL)
    frame["data"].update(side="sell", liquidity="maker", feeCurrency="USD")
    del frame["data"]["tradeId"]
    h.feed(frame)
    (fill,) = out
    assert fill.amount == -14.973 and fill.maker is True and fill.liquidity == "maker"
    assert fill.id == 7828307 and fill.fee_currency == "USD"


def test_orders_doc_example():
    """The documented orders frame: a closed, unfilled buy; Order.filled is filledSize (0)."""
    h = Harness()
    out = h.expect("orders")
    h.feed(DOC_ORDER)
    (order,) = out
    assert order == models.Order(24852229, None, None, "XRP-PERP", DOC_MTS, None, 42353.0,
                                 42353.0, "limit", "closed", 0.2977, 0.2978, None, "update")
    assert order.side == "buy" and order.filled == 0.0


def test_partly_filled_sell_order():
    """A sell's amounts are negative and filled is its filledSize."""
    h = Harness()
    out = h.expect("orders")
    frame = copy.deepcopy(DOC_ORDER)
    frame["data"].update(side="sell", status="open", size=10.0, filledSize=4.0,
                         remainingSize=6.0, clientId="abc")
    h.feed(frame)
    (order,) = out
    assert (order.amount, order.amount_orig, order.filled) == (-6.0, -10.0, 4.0)
    assert order.cid == "abc" and order.side == "sell" and order.status == "open"


# -------------------------------------------------------------------------- market data

def test_trades_frame_delivers_each_trade():
    """A trades frame holding several items delivers one signed Trade per item, in order."""
    h = Harness()
    out = h.expect("trades", "BTC-PERP")
    h.feed({"channel": "trades", "market": "BTC-PERP", "type": "update", "data": [
        {"id": 1, "price": 10683.5, "size": 0.0149, "side": "buy", "liquidation": True,
         "time": "2020-09-15T00:02:05.787437+00:00"},
        {"id": None, "price": 10683, "size": 2, "side": "sell", "liquidation": False,
         "time": "2020-09-15T00:02:05.787+00:00"}]})
    assert [(t.symbol, t.id, t.amount, t.price, t.kind) for t in out] == [
        ("BTC-PERP", 1, 0.0149, 10683.5, "trade"), ("BTC-PERP", None, -2.0, 10683.0, "trade")]
    assert out[0].mts == out[1].mts == 1600128125787


def test_ticker():
    """A ticker frame becomes a Ticker with bid/ask, sizes and last; the rest is None."""
    h = Harness()
    out = h.expect("ticker", "BTC/EUR")
    h.feed('{"channel":"ticker","market":"BTC/EUR","type":"update","data":{"bid":54346,'
           '"ask":54411,"bidSize":0.0919,"askSize":0.0048,"last":54315,"time":1635206400.08}}')
    assert out == [models.Ticker("BTC/EUR", 54346.0, 0.0919, 54411.0, 0.0048, None, None,
                                 54315.0, None, None, None)]
    assert out[0].raw["time"] == 1635206400.08


def test_raw_mode_delivers_frames_and_still_checks_books():
    """raw=True delivers frames as received; a book is still kept and verified."""
    h = Harness()
    trades = h.expect("trades", "X", raw=True)
    book = OrderBook("B", kind="size")
    books = h.expect("orderbook", "B", raw=True, book=book)
    frame = {"channel": "trades", "market": "X", "type": "update", "data": []}
    h.feed(frame, book_frame("B", "partial", [("1.5", "2")], [], crc("1.5:2.0")),
           book_frame("B", "update", [], [], 1))
    assert trades == [frame] and books[0]["type"] == "partial" and len(books) == 1
    assert book.bids == [(1.5, 2.0)] and len(h.of(p.ResyncNeeded)) == 1


def test_every_fixture_frame_parses():
    """Every real (trimmed) frame is handled without a MalformedFrame.

    The fixtures' book checksums cannot match (the books were cut short), so
    resyncs are asked for; ``instrument`` frames are not a channel this
    session serves and are dropped.
    """
    frames = [orjson.loads(line) for path in sorted(FTX.glob("*.jsonl"))
              for line in path.read_text().splitlines() if line.strip()]
    assert len(frames) >= 17
    h = Harness()
    got, books = {}, {}
    for f in frames:
        if f.get("type") in ("partial", "update") and f["channel"] in p.CHANNELS:
            key = (f["channel"], f.get("market"))
            if key not in got:
                book = OrderBook(key[1], kind="size") if key[0] == "orderbook" else None
                books[key[1]] = book
                got[key] = h.expect(*key, book=book)
    h.feed(*frames)
    assert not h.of(p.MalformedFrame)
    assert {type(e) for e in h.control} <= {p.SubscribeConfirmed, p.Unexpected,
                                            p.ResyncNeeded}
    assert len(h.of(p.SubscribeConfirmed)) + len(h.of(p.Unexpected)) == 2
    trades = [t for k, v in got.items() if k[0] == "trades" for t in v]
    assert len(trades) == 4 and all(isinstance(t, models.Trade) and t.mts for t in trades)
    assert got[("trades", "LTC-PERP")][0].id is None
    assert got[("trades", "LTC-PERP")][0].amount == -0.03
    # Cut-short books fail their checksums, and BNB-PERP has an update without a
    # partial: each asks for one resync and is not delivered as if it were right.
    resyncs = {e.sub.symbol: e.kind for e in h.of(p.ResyncNeeded)}
    assert resyncs == {"BTC-1227": "checksum", "BNB-PERP": "order", "ETH/USD": "checksum",
                       "BTC-PERP": "order", "BTC/USD": "order"}
    assert books["BTC-1227"].bids == [(9805.0, 15.5629)]
    assert books["BTC-1227"].asks == [(9807.75, 20.1695)]
    assert len(books["BNB-PERP"]) == 0 and len(books["ETH/USD"]) > 0
    assert isinstance(got[("ticker", "BTC/EUR")][0], models.Ticker)


# ------------------------------------------------------------------------------ books

# A small-cap book as FTX wrote it on the wire, and the checksum text it hashed:
# every number as Python's str(float) (2.262e-05, 1500.0), not the wire text.
XRP_BIDS = [("0.00002262", "1500"), ("0.0000226", "20.5")]
XRP_ASKS = [("0.00002264", "300.0"), ("0.00002265", "7")]
XRP_TEXT = "2.262e-05:1500.0:2.264e-05:300.0:2.26e-05:20.5:2.265e-05:7.0"
XRP_WIRE_TEXT = "0.00002262:1500:0.00002264:300.0:0.0000226:20.5:0.00002265:7"


def test_tiny_price_checksum_uses_python_float_text_not_wire_text():
    """A partial checksummed over str(float) text verifies; one over the wire text fails."""
    assert crc(XRP_TEXT) != crc(XRP_WIRE_TEXT)
    good = Harness()
    out = good.expect("orderbook", "XRP/BTC")
    good.feed(book_frame("XRP/BTC", "partial", XRP_BIDS, XRP_ASKS, crc(XRP_TEXT)))
    assert good.control == []
    assert out == [models.BookSnapshot("XRP/BTC", [(2.262e-05, 1500.0), (2.26e-05, 20.5)],
                                       [(2.264e-05, 300.0), (2.265e-05, 7.0)])]
    bad = Harness()
    bad.expect("orderbook", "XRP/BTC")
    bad.feed(book_frame("XRP/BTC", "partial", XRP_BIDS, XRP_ASKS, crc(XRP_WIRE_TEXT)))
    (resync,) = bad.control
    assert type(resync) is p.ResyncNeeded and resync.kind == "checksum"
    assert resync.reason == f"checksum {crc(XRP_TEXT)} != server {crc(XRP_WIRE_TEXT)}"


def test_partial_then_updates_verify_and_maintain_the_book():
    """Updates add, change and (size 0) delete levels; each checksum verifies; BookDiffs
    carry the levels as sent and the time in ms. Integral prices hash as 9805.0."""
    h = Harness()
    book = OrderBook("BTC-PERP", kind="size")
    out = h.expect("orderbook", "BTC-PERP", book=book)
    h.feed(book_frame("BTC-PERP", "partial", [("9805", "15.5629"), ("9804.5", "1")],
                      [("9807.75", "20.1695")],
                      crc("9805.0:15.5629:9807.75:20.1695:9804.5:1.0")))
    # The wire text (no ".0") would not have matched.
    assert crc("9805:15.5629:9807.75:20.1695:9804.5:1") != \
        crc("9805.0:15.5629:9807.75:20.1695:9804.5:1.0")
    h.feed(book_frame("BTC-PERP", "update", [("9805", "0")], [("9806", "2.5")],
                      crc("9804.5:1.0:9806.0:2.5:9807.75:20.1695"), time=1592265602.3259132))
    h.feed(book_frame("BTC-PERP", "update", [("9804.5", "3"), ("9800", "0.0001")],
                      [("9807.75", "0")], crc("9804.5:3.0:9806.0:2.5:9800.0:0.0001")))
    assert h.control == []
    assert book.bids == [(9804.5, 3.0), (9800.0, 0.0001)] and book.asks == [(9806.0, 2.5)]
    assert isinstance(out[0], models.BookSnapshot)
    assert out[1] == models.BookDiff("BTC-PERP", [(9805.0, 0.0)], [(9806.0, 2.5)], None, None,
                                     None, 1592265602325)
    assert len(out) == 3 and out[2].asks == [(9807.75, 0.0)]


def test_checksum_covers_the_top_100_levels_per_side():
    """120 bids and 80 asks: the checksum interleaves the top 100 bids with all 80 asks
    (then the bids alone); a change below level 100 does not change it."""
    bids = [(f"{0.0001 - i * 1e-7:.7f}", str(i + 1)) for i in range(120)]
    asks = [(f"{0.0002 + i * 1e-7:.7f}", f"{i + 0.5}") for i in range(80)]
    bid_text = [f"{float(px)}:{float(sz)}" for px, sz in bids[:100]]
    ask_text = [f"{float(px)}:{float(sz)}" for px, sz in asks]
    parts = []
    for i in range(100):
        parts.append(bid_text[i])
        if i < 80:
            parts.append(ask_text[i])
    text = ":".join(parts)
    assert "e-05" in text and "1.0" in text  # scientific notation and ".0" both present
    h = Harness()
    out = h.expect("orderbook", "M")
    h.feed(book_frame("M", "partial", bids, asks, crc(text)),
           book_frame("M", "update", [(bids[110][0], "99")], [], crc(text)))
    assert h.control == [] and len(out) == 2


def test_mismatch_is_reported_once_and_a_partial_rearms():
    """A wrong checksum asks for one resync and holds back updates; the next partial
    re-arms the check."""
    h = Harness()
    out = h.expect("orderbook", "BTC-PERP")
    ok = crc("1.0:1.0:2.0:1.0")
    partial = book_frame("BTC-PERP", "partial", [("1", "1")], [("2", "1")], ok)
    h.feed(partial, book_frame("BTC-PERP", "update", [], [], 12345),
           book_frame("BTC-PERP", "update", [], [], 777))
    (resync,) = h.control
    assert resync.kind == "checksum" and resync.reason == f"checksum {ok} != server 12345"
    assert len(out) == 1  # nothing after the mismatch is delivered
    h.feed(partial)
    assert len(h.control) == 1 and len(out) == 2
    h.feed(book_frame("BTC-PERP", "update", [], [], 999))
    assert h.control[1].reason == f"checksum {ok} != server 999"


def test_update_before_the_partial_asks_for_a_resync():
    """An update before any partial is not applied: one ResyncNeeded of kind order."""
    h = Harness()
    book = OrderBook("B", kind="size")
    out = h.expect("orderbook", "B", book=book)
    h.feed(book_frame("B", "update", [("1", "1")], [], 12345),
           book_frame("B", "update", [("2", "1")], [], 12345))
    (resync,) = h.control
    assert resync.kind == "order" and out == [] and len(book) == 0


def test_bad_book_frame_is_malformed_and_leaves_the_book_alone():
    """A frame with one bad level is reported and applies none of its levels."""
    h = Harness()
    book = OrderBook("B", kind="size")
    out = h.expect("orderbook", "B", book=book)
    h.feed(book_frame("B", "partial", [("1", "1")], [("2", "1")], crc("1.0:1.0:2.0:1.0")))
    h.feed({"channel": "orderbook", "market": "B", "type": "update",
            "data": {"bids": [[1, 0]], "asks": [[3, "x"]], "checksum": 0}})
    assert [type(e) for e in h.control] == [p.MalformedFrame]
    assert book.bids == [(1.0, 1.0)] and len(out) == 1


def test_unexpected_and_unsubscribed_channels_are_dropped():
    """Data nobody subscribed (or after unsubscribe) is dropped without a control event."""
    h = Harness()
    out = h.expect("ticker", "A")
    h.confirm("ticker", "A")
    frame = {"channel": "ticker", "market": "A", "type": "update", "data": {"bid": 1}}
    h.feed(frame, dict(frame, market="B"))
    h.session.unsubscribe(h.subs[("ticker", "A")])
    h.feed(frame)
    assert len(out) == 1 and [type(e) for e in h.control] == [p.SubscribeConfirmed]


def test_a_ticker_without_prices_is_malformed():
    """A ticker with no bid, ask or last (or a list for a number) is reported, not delivered."""
    h = Harness()
    out = h.expect("ticker", "A")
    h.feed({"channel": "ticker", "market": "A", "type": "update", "data": {}},
           {"channel": "ticker", "market": "A", "type": "update", "data": {"bid": [1, 2]}})
    assert out == [] and [type(e) for e in h.control] == [p.MalformedFrame] * 2


def test_malformed_messages_are_reported():
    """Non-objects, unknown types and bad data become MalformedFrame, never exceptions."""
    h = Harness()
    h.expect("fills")
    h.expect("trades", "T")
    h.feed([1, 2], {"type": "what"}, {"type": "update", "channel": ["x"], "market": None},
           {"channel": "fills", "type": "update", "data": {"side": "up", "size": 1, "price": 1}},
           {"channel": "trades", "market": "T", "type": "update",
            "data": [{"side": "buy", "size": True, "price": 1}]})
    assert [type(e) for e in h.control] == [p.MalformedFrame] * 5


# ------------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(["buy", "sell", "maker", "taker", "2019-05-07T16:40:58+00:00", "x"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(
        ["type", "channel", "market", "data", "code", "msg", "bids", "asks", "checksum",
         "time", "side", "size", "price", "id", "tradeId", "orderId", "fee", "feeRate",
         "liquidity", "filledSize", "remainingSize", "createdAt", "bid", "ask"]),
        children, max_size=6),
    max_leaves=20)

TYPES = ["partial", "update", "subscribed", "unsubscribed", "error", "info", "pong"]
KEYS = [("fills", None), ("orders", None), ("ticker", "M"), ("trades", "M"),
        ("orderbook", "M")]

frames = st.one_of(
    json_values,
    st.builds(lambda t, k, d: {"type": t, "channel": k[0], "market": k[1], "data": d},
              st.sampled_from(TYPES), st.sampled_from(KEYS), json_values),
    st.builds(lambda t, b, a, c: {"type": t, "channel": "orderbook", "market": "M",
                                  "data": {"bids": b, "asks": a, "checksum": c}},
              st.sampled_from(["partial", "update"]),
              st.lists(st.lists(json_values, max_size=3), max_size=4),
              st.lists(st.lists(json_values, max_size=3), max_size=4), json_values),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(frames, max_size=12))
def test_fuzz_receive_never_raises(msgs):
    """Random JSON-like values and frames into receive() never raise."""
    h = Harness()
    for channel, market in KEYS:
        book = OrderBook("M", kind="size") if channel == "orderbook" else None
        h.expect(channel, market, book=book)
    for msg in msgs:
        h.session.receive(msg)
    # Anything delivered is typed; anything reported is a control event.
    assert all(type(e).__module__ in (p.__name__, "exchange_wss._session") for e in h.control)


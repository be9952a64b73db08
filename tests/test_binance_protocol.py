"""Tests for exchange_wss.binance.protocol: frames in / events out, requests in / frames out."""

from __future__ import annotations

import base64
import copy
import pathlib
import subprocess
import sys

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_wss import models
from exchange_wss._session import Unexpected
from exchange_wss.binance import protocol as p
from exchange_wss.binance.protocol import BinanceSession, DepthSync
from exchange_wss.errors import (
    AuthenticationError,
    ExchangeError,
    LocalProtocolError,
    OrderRejected,
    RemoteProtocolError,
)
from exchange_wss.orderbook import OrderBook

BN = pathlib.Path(__file__).parent / "fixtures" / "binance"

# Binance's documented example key material (WebSocket API "SIGNED request example (HMAC)").
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_TS = 1645423376532

# binance.md §6 example frames.
EXECUTION_REPORT = {"e": "executionReport", "E": 1499405658658, "s": "ETHBTC",
                    "c": "mUvoqJxFIILMdfAW5iGSOW", "S": "BUY", "o": "LIMIT", "f": "GTC",
                    "q": "1.00000000", "p": "0.10264410", "P": "0.00000000",
                    "F": "0.00000000", "g": -1, "C": "", "x": "TRADE",
                    "X": "PARTIALLY_FILLED", "r": "NONE", "i": 4293153, "l": "0.40000000",
                    "z": "0.40000000", "L": "0.10264410", "n": "0.00040000", "N": "ETH",
                    "T": 1499405658657, "t": 1234, "I": 8641984, "w": True, "m": True,
                    "M": True, "O": 1499405658600, "Z": "0.04105764", "Y": "0.04105764",
                    "Q": "0.00000000", "W": 1499405658600, "V": "EXPIRE_MAKER"}
WSAPI_ACCOUNT_POSITION = {"subscriptionId": 0, "event": {
    "e": "outboundAccountPosition", "E": 1564034571105, "u": 1564034571073,
    "B": [{"a": "ETH", "f": "10000.000000", "l": "0.000000"}]}}
BALANCE_UPDATE = {"e": "balanceUpdate", "E": 1573200697110, "a": "BTC", "d": "100.00000000",
                  "T": 1573200697068}
LISTEN_KEY_EXPIRED_INT = {"e": "listenKeyExpired", "E": 1699596037418,
                          "listenKey": "OfYGbUzi3PraNagEkdKuFwUHn48brFsItTdsuiIXrucEvD0rhRXZ7I6"
                                       "URWfE8YE8"}
ORDER_TRADE_UPDATE = {"e": "ORDER_TRADE_UPDATE", "E": 1568879465651, "T": 1568879465650, "o": {
    "s": "BTCUSDT", "c": "TEST", "S": "SELL", "o": "LIMIT", "f": "GTC", "q": "0.001",
    "p": "7103.04", "ap": "7103.04", "sp": "0", "x": "TRADE", "X": "FILLED", "i": 8886774,
    "l": "0.001", "z": "0.001", "L": "7103.04", "N": "USDT", "n": "0.0028",
    "T": 1568879465650, "t": 12345, "b": "0", "a": "0", "m": True, "R": False,
    "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0", "pP": False,
    "si": 0, "ss": 0, "V": "EXPIRE_TAKER", "pm": "NONE", "gtd": 0, "er": "0"}}
ACCOUNT_UPDATE = {"e": "ACCOUNT_UPDATE", "E": 1564745798939, "T": 1564745798938, "a": {
    "m": "ORDER", "B": [{"a": "USDT", "wb": "122624.12345678", "cw": "100.12345678",
                         "bc": "50.12345678"}],
    "P": [{"s": "BTCUSDT", "pa": "0", "ep": "0.00000", "bep": "0", "cr": "200", "up": "0",
           "mt": "isolated", "iw": "0.00000000", "ps": "BOTH"}]}}
LISTEN_KEY_EXPIRED_STR = {"e": "listenKeyExpired", "E": "1736996475556",
                          "listenKey": "WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1LuEjur5VdbzqvyxqG"
                                       "9TSjVVxv"}


# ------------------------------------------------------------------------ helpers

def load_jsonl(name):
    return [orjson.loads(line) for line in (BN / name).read_bytes().splitlines() if line.strip()]


def frames_of(name, stream):
    return [f for f in load_jsonl(name) if f.get("stream") == stream]


class Harness:
    """A session with recorded control events, user data and per-stream deliveries."""

    def __init__(self, market="spot"):
        self.control = []
        self.user = []
        self.session = BinanceSession(self.control.append, market=market)

    def stream(self, name, raw=False, book=None):
        out = []
        self.session.expect_stream(name, out.append, raw=raw, book=book)
        return out

    def user_data(self, raw=False, events=None):
        self.session.expect_user_data(self.user.append, raw=raw, events=events)
        return self.user

    def feed(self, *frames):
        for frame in frames:
            self.session.receive(frame)

    def of(self, cls):
        return [e for e in self.control if isinstance(e, cls)]


def one(events):
    assert len(events) == 1, events
    return events[0]


def diff(first, last, bids=(), asks=(), prev=None, symbol="BTCUSDT"):
    d = {"e": "depthUpdate", "E": 1, "s": symbol, "U": first, "u": last,
         "b": [list(b) for b in bids], "a": [list(a) for a in asks]}
    if prev is not None:
        d["pu"] = prev
    return d


def snap(last, bids=(), asks=()):
    return {"lastUpdateId": last, "bids": [list(b) for b in bids],
            "asks": [list(a) for a in asks]}


def kinds(events):
    return [type(e).__name__ for e in events]


# --------------------------------------------------------------------------- purity

def test_module_imports_no_twisted():
    """The protocol module is pure: importing it pulls in neither Twisted nor autobahn."""
    code = ("import sys, exchange_wss.binance.protocol; "
            "assert not any(m.split('.')[0] in ('twisted', 'autobahn') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True,
                   cwd=pathlib.Path(__file__).parent.parent)


# ------------------------------------------------------------------- market fixtures

def test_fixture_trade_parses_to_trade():
    """A real spot trade frame becomes a Trade with id t, time T, price and size as floats."""
    h = Harness()
    out = h.stream("bnbbtc@trade")
    h.feed(frames_of("tardis_binance.jsonl", "bnbbtc@trade")[0])
    trade = one(out)
    assert isinstance(trade, models.Trade)
    assert (trade.symbol, trade.id, trade.mts, trade.amount, trade.price, trade.kind) == \
        ("BNBBTC", 40756030, 1554076800940, 33.82, 0.0042699, "trade")
    assert trade.raw["b"] == 133829535


def test_fixture_trade_buyer_maker_is_negative():
    """m=true (the buyer was the maker) means the taker sold: amount < 0."""
    h = Harness()
    out = h.stream("bnbbtc@trade")
    h.feed(frames_of("tardis_binance.jsonl", "bnbbtc@trade")[1])
    assert one(out).amount == -6.48
    assert out[0].side == "sell"


def test_fixture_agg_trade_uses_agg_id():
    """aggTrade frames become Trade(kind='aggTrade') keyed by the aggregate id a."""
    h = Harness("usdm")
    out = h.stream("btcusdt@aggTrade")
    h.feed(frames_of("tardis_binance_futures.jsonl", "btcusdt@aggTrade")[0])
    trade = one(out)
    assert (trade.kind, trade.amount, trade.price, trade.mts) == \
        ("aggTrade", 0.236, 10223.74, 1568693103463)


def test_fixture_futures_trade_keeps_extra_fields_in_raw():
    """A futures trade with X=ADL parses; the liquidation marker stays in raw."""
    h = Harness("usdm")
    out = h.stream("etcusdt@trade")
    h.feed(frames_of("tardis_binance_delivery.jsonl", "etcusdt@trade")[0])
    trade = one(out)
    assert (trade.id, trade.amount, trade.raw["X"]) == (84242137, -0.05, "ADL")


def test_fixture_spot_ticker_parses_to_ticker():
    """A spot 24hrTicker maps b/B/a/A, p, P/100, c, v, h, l onto Ticker."""
    h = Harness()
    out = h.stream("dogebnb@ticker")
    h.feed(frames_of("tardis_binance.jsonl", "dogebnb@ticker")[0])
    t = one(out)
    assert isinstance(t, models.Ticker)
    assert (t.symbol, t.bid, t.bid_size, t.ask, t.ask_size) == \
        ("DOGEBNB", 0.00014365, 7080.0, 0.00014498, 275033.0)
    assert t.daily_change == 0.00000291
    assert t.daily_change_relative == pytest.approx(0.02068)
    assert (t.last_price, t.volume, t.high, t.low) == (0.0001436, 20014582.0, 0.0001455,
                                                       0.00013851)


def test_fixture_futures_ticker_has_no_bid_ask():
    """Futures tickers carry no best bid/ask: those fields are None, the rest parse."""
    h = Harness("usdm")
    out = h.stream("btcusdt@ticker")
    h.feed(frames_of("tardis_binance_futures.jsonl", "btcusdt@ticker")[0])
    t = one(out)
    assert (t.bid, t.bid_size, t.ask, t.ask_size) == (None, None, None, None)
    assert (t.last_price, t.daily_change_relative) == (10223.74, pytest.approx(-0.00855))


def test_fixture_spot_book_ticker_parses_to_book_ticker():
    """Spot bookTicker (no e, no E) becomes BookTicker with update id u and mts None."""
    h = Harness()
    out = h.stream("btcusdt@bookTicker")
    h.feed(frames_of("tardis_binance.jsonl", "btcusdt@bookTicker")[0])
    bt = one(out)
    assert bt == models.BookTicker("BTCUSDT", 8010.0, 0.142459, 8012.15, 0.031201, 1127645101,
                                   None)


def test_fixture_futures_book_ticker_has_transaction_time():
    """A futures bookTicker takes its mts from the transaction time T."""
    h = Harness("usdm")
    out = h.stream("btcusdt@bookTicker")
    h.feed(frames_of("tardis_binance_futures.jsonl", "btcusdt@bookTicker")[0])
    bt = one(out)
    assert (bt.bid, bt.ask, bt.update_id, bt.mts) == (33134.42, 33139.39, 185130926750,
                                                      1612137603568)


def test_fixture_kline_parses_to_candle_with_closed_flag():
    """A kline frame becomes a Candle: timeframe i, open time t, OHLCV and closed=x."""
    h = Harness()
    out = h.stream("bnbbtc@kline_1m")
    h.feed(frames_of("user_and_market_events.jsonl", "BNBBTC@kline_1m")[0])
    c = one(out)
    assert isinstance(c, models.Candle)
    assert (c.symbol, c.timeframe, c.mts, c.open, c.close, c.high, c.low, c.volume,
            c.closed) == ("BNBBTC", "1m", 1234000000, 0.001, 0.002, 0.0025, 0.0015, 1000.0,
                          False)


def test_fixture_unmodelled_stream_is_delivered_as_data():
    """A stream without a model (openInterest) delivers its data dict unchanged."""
    h = Harness("usdm")
    out = h.stream("btcusdt@openInterest")
    frame = frames_of("tardis_binance_futures.jsonl", "btcusdt@openInterest")[0]
    h.feed(frame)
    assert one(out) is frame["data"]


def test_unsynced_diff_stream_delivers_book_diffs():
    """A diff-depth stream expected without a book delivers one BookDiff per event."""
    h = Harness()
    out = h.stream("bnbbtc@depth")
    h.feed(frames_of("user_and_market_events.jsonl", "BNBBTC@depth")[0])
    d = one(out)
    assert isinstance(d, models.BookDiff)
    assert (d.symbol, d.bids, d.asks, d.first_update_id, d.last_update_id, d.prev_update_id) == \
        ("BNBBTC", [(6621.45, 0.3)], [(6622.46, 1.5)], 157, 160, None)


def test_spot_partial_depth_becomes_book_snapshot():
    """Spot partial depth ({lastUpdateId,bids,asks}, no symbol) is a BookSnapshot named
    after the stream's symbol."""
    h = Harness()
    out = h.stream("btcusdt@depth5@100ms")
    h.feed({"stream": "btcusdt@depth5@100ms", "data": snap(160, [("10.0", "1")],
                                                           [("11.0", "2")])})
    s = one(out)
    assert isinstance(s, models.BookSnapshot)
    assert (s.symbol, s.bids, s.asks) == ("BTCUSDT", [(10.0, 1.0)], [(11.0, 2.0)])


def test_futures_partial_depth_becomes_book_snapshot_and_replaces_book():
    """Futures partial depth is depthUpdate-shaped but a whole top of book: it replaces
    the given book and arrives as a BookSnapshot."""
    h = Harness("usdm")
    book = OrderBook("BTCUSDT", kind="size")
    book.set_level("bid", 1.0, 1.0)
    out = h.stream("btcusdt@depth5", book=book)
    h.feed({"stream": "btcusdt@depth5", "data": diff(5, 9, [("10", "1"), ("9", "2")],
                                                     [("11", "3")], prev=4)})
    s = one(out)
    assert s.bids == [(10.0, 1.0), (9.0, 2.0)] and s.asks == [(11.0, 3.0)]
    assert book.bids == [(10.0, 1.0), (9.0, 2.0)]


# ------------------------------------------------------------------ user data fixtures

def test_fixture_listen_key_combined_stream_goes_to_user_data():
    """A combined frame whose stream is a listenKey (no '@') is user data."""
    h = Harness()
    user = h.user_data()
    h.feed(*frames_of("user_and_market_events.jsonl",
                      "jTfvpakT2yT0hVIo5gYWVihZhdM2PrBgJUZ5PyfZ4EVpCkx4Uoxk5timcrQc"))
    assert kinds(user) == ["BalanceUpdate", "UserEvent", "Order", "Snapshot"]
    assert h.control == []


def test_fixture_execution_report_new_is_an_order_without_fill():
    """executionReport x=NEW gives one Order: signed remaining amount, str cid, no Fill."""
    h = Harness()
    user = h.user_data()
    frame = frames_of("user_and_market_events.jsonl",
                      "jTfvpakT2yT0hVIo5gYWVihZhdM2PrBgJUZ5PyfZ4EVpCkx4Uoxk5timcrQc")[2]
    h.feed(frame)
    order = one(user)
    assert (order.id, order.gid, order.cid, order.symbol, order.mts_create, order.mts_update) == \
        (5340845958, None, "c4wyKsIhoAaittTYlIVLqk", "BNBBTC", 1616627567900, 1616627567900)
    assert (order.amount, order.amount_orig, order.type, order.status, order.price,
            order.price_avg, order.kind) == (0.000284, 0.000284, "LIMIT", "NEW", 52789.1, None,
                                             "update")


def test_execution_report_trade_gives_order_then_fill():
    """executionReport x=TRADE gives the Order (remaining q-z, avg Z/z) and then a Fill."""
    h = Harness()
    user = h.user_data()
    h.feed(EXECUTION_REPORT)
    order, fill = user
    assert (order.amount, order.amount_orig, order.status) == (0.6, 1.0, "PARTIALLY_FILLED")
    assert order.price_avg == pytest.approx(0.1026441)
    assert order.cid == "mUvoqJxFIILMdfAW5iGSOW" and order.filled == pytest.approx(0.4)
    assert isinstance(fill, models.Fill)
    assert (fill.id, fill.symbol, fill.mts, fill.order_id, fill.amount, fill.price, fill.fee,
            fill.fee_currency, fill.maker, fill.cid, fill.kind) == \
        (1234, "ETHBTC", 1499405658657, 4293153, 0.4, 0.1026441, 0.0004, "ETH", True,
         "mUvoqJxFIILMdfAW5iGSOW", "trade")


def test_execution_report_cancel_uses_original_client_id():
    """On a cancel, c is the cancel request's id: the Order's cid is the original C."""
    h = Harness()
    user = h.user_data()
    ev = dict(EXECUTION_REPORT, x="CANCELED", X="CANCELED", c="cancel-1", C="orig-7")
    h.feed(ev)
    assert one(user).cid == "orig-7"


def test_sell_order_amounts_are_negative():
    """A SELL order has negative amount and amount_orig; its Fill amount is negative."""
    h = Harness()
    user = h.user_data()
    h.feed(dict(EXECUTION_REPORT, S="SELL"))
    order, fill = user
    assert (order.amount, order.amount_orig, order.side, fill.amount) == (-0.6, -1.0, "sell",
                                                                          -0.4)


def test_wsapi_subscription_event_is_unwrapped():
    """{"subscriptionId","event"} is unwrapped: outboundAccountPosition -> Snapshot of Wallets."""
    h = Harness()
    user = h.user_data()
    h.feed(WSAPI_ACCOUNT_POSITION)
    s = one(user)
    assert isinstance(s, models.Snapshot) and s.kind == "balances"
    w = one(s.items)
    assert (w.type, w.currency, w.balance, w.available, w.kind) == ("spot", "ETH", 10000.0,
                                                                    10000.0, "update")


def test_fixture_account_position_balance_is_free_plus_locked():
    """outboundAccountPosition: balance = f + l, available = f, one Wallet per changed asset."""
    h = Harness("margin")
    user = h.user_data()
    frame = frames_of("user_and_market_events.jsonl",
                      "jTfvpakT2yT0hVIo5gYWVihZhdM2PrBgJUZ5PyfZ4EVpCkx4Uoxk5timcrQc")[3]
    h.feed(frame)
    wallets = one(user).items
    assert [(w.type, w.currency) for w in wallets] == [("margin", "BTC"), ("margin", "BNB"),
                                                       ("margin", "USDT")]
    assert wallets[0].balance == pytest.approx(0.00348109)
    assert wallets[0].available == 0.00225109


def test_balance_update_is_a_delta():
    """balanceUpdate becomes a BalanceUpdate (a delta, not a balance) timed by T."""
    h = Harness()
    user = h.user_data()
    h.feed(BALANCE_UPDATE)
    assert one(user) == models.BalanceUpdate("spot", "BTC", 100.0, 1573200697068)


def test_order_trade_update_gives_order_and_fill():
    """ORDER_TRADE_UPDATE maps like executionReport: Order (avg ap) then Fill (fee n, N)."""
    h = Harness("usdm")
    user = h.user_data()
    h.feed(ORDER_TRADE_UPDATE)
    order, fill = user
    assert (order.id, order.cid, order.symbol, order.amount, order.amount_orig, order.status,
            order.price, order.price_avg, order.mts_update) == \
        (8886774, "TEST", "BTCUSDT", -0.0, -0.001, "FILLED", 7103.04, 7103.04, 1568879465650)
    assert (fill.id, fill.amount, fill.price, fill.fee, fill.fee_currency, fill.maker) == \
        (12345, -0.001, 7103.04, 0.0028, "USDT", True)


def test_trade_lite_gives_fill_without_fee():
    """On a stream carrying TRADE_LITE but not ORDER_TRADE_UPDATE, TRADE_LITE becomes a
    Fill(kind='lite') without fee fields."""
    h = Harness("usdm")
    user = h.user_data(events=("TRADE_LITE", "ACCOUNT_UPDATE"))
    h.feed({"e": "TRADE_LITE", "E": 1721895408092, "T": 1721895408214, "s": "BTCUSDT",
            "q": "0.001", "p": "0", "m": False, "c": "z8hcUoOsqEdKMeKPSABslD", "S": "BUY",
            "L": "64089.20", "l": "0.040", "t": 109100866, "i": 8886774})
    fill = one(user)
    assert (fill.kind, fill.id, fill.amount, fill.price, fill.fee, fill.maker, fill.cid) == \
        ("lite", 109100866, 0.04, 64089.2, None, False, "z8hcUoOsqEdKMeKPSABslD")


def test_account_update_gives_wallets_and_positions():
    """ACCOUNT_UPDATE becomes Snapshot('account') of Wallets (wb, cw) and Positions
    (pa, ep, up)."""
    h = Harness("usdm")
    user = h.user_data()
    h.feed(ACCOUNT_UPDATE)
    s = one(user)
    assert s.kind == "account"
    wallet, position = s.items
    assert (wallet.type, wallet.currency, wallet.balance, wallet.available) == \
        ("usdm", "USDT", 122624.12345678, 100.12345678)
    assert (position.symbol, position.amount, position.base_price, position.pl,
            position.status) == ("BTCUSDT", 0.0, 0.0, 0.0, "CLOSED")


@pytest.mark.parametrize("event", [
    {"e": "MARGIN_CALL", "E": 1587727187525, "cw": "3.16812045", "p": []},
    {"e": "ACCOUNT_CONFIG_UPDATE", "E": 1611646737479, "T": 1611646737476,
     "ac": {"s": "BTCUSDT", "l": 25}},
    {"e": "externalLockUpdate", "E": 1581557507324, "a": "NEO", "d": "10.00000000",
     "T": 1581557507268},
    {"e": "somethingNew", "E": 5},
])
def test_events_without_model_become_user_events(event):
    """MARGIN_CALL, ACCOUNT_CONFIG_UPDATE and unknown events become UserEvent(type, mts, raw)."""
    h = Harness("usdm")
    user = h.user_data()
    h.feed(event)
    assert one(user) == models.UserEvent(event["e"], event["E"], event)


@pytest.mark.parametrize(("frame", "mts"), [(LISTEN_KEY_EXPIRED_INT, 1699596037418),
                                        (LISTEN_KEY_EXPIRED_STR, 1736996475556)])
def test_listen_key_expired_is_a_control_event(frame, mts):
    """listenKeyExpired (E as int or, per the futures docs, as a string) -> ListenKeyExpired."""
    h = Harness("usdm")
    user = h.user_data()
    h.feed(frame)
    ev = one(h.control)
    assert isinstance(ev, p.ListenKeyExpired)
    assert (ev.listen_key, ev.mts) == (frame["listenKey"], mts)
    assert user == []


def test_listen_key_expired_in_combined_stream_is_control():
    """listenKeyExpired wrapped as {"stream": key, "data": ...} is a control event too."""
    h = Harness("coinm")
    h.user_data()
    h.feed({"stream": LISTEN_KEY_EXPIRED_STR["listenKey"], "data": LISTEN_KEY_EXPIRED_STR})
    assert isinstance(one(h.control), p.ListenKeyExpired)


def test_event_stream_terminated_reports_subscription():
    """eventStreamTerminated inside a subscription wrapper -> StreamTerminated(subscription_id)."""
    h = Harness()
    h.user_data()
    h.feed({"subscriptionId": 3, "event": {"e": "eventStreamTerminated", "E": 1728973001334}})
    ev = one(h.control)
    assert isinstance(ev, p.StreamTerminated)
    assert (ev.subscription_id, ev.mts) == (3, 1728973001334)


@pytest.mark.parametrize("frame", [
    {"e": "serverShutdown", "E": 1770123456789},
    {"event": {"e": "serverShutdown", "E": 1770123456789}},
    {"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1770123456789}},
    {"stream": "btcusdt@trade", "data": {"e": "serverShutdown", "E": 1770123456789}},
])
def test_server_shutdown_is_a_control_event(frame):
    """serverShutdown in any wrapper becomes ServerShutdown (reconnect)."""
    h = Harness()
    h.feed(frame)
    assert isinstance(one(h.control), p.ServerShutdown)


def test_user_data_raw_mode_delivers_unwrapped_event():
    """With raw=True user data arrives as the event dict, subscription wrapper removed."""
    h = Harness()
    user = h.user_data(raw=True)
    h.feed(WSAPI_ACCOUNT_POSITION)
    assert one(user) is WSAPI_ACCOUNT_POSITION["event"]


def test_user_event_without_handler_is_unknown_stream():
    """A user event with nobody expecting user data is reported, not dropped silently."""
    h = Harness()
    h.feed(BALANCE_UPDATE)
    assert isinstance(one(h.control), p.UnknownStream)


def test_malformed_user_event_is_reported():
    """An executionReport missing its side becomes MalformedFrame, nothing delivered."""
    h = Harness()
    user = h.user_data()
    bad = dict(EXECUTION_REPORT)
    del bad["S"]
    h.feed(bad)
    assert user == [] and isinstance(one(h.control), p.MalformedFrame)


# --------------------------------------------------------------------------- routing

def test_combined_stream_routing_by_stream_name():
    """Each combined frame goes to the deliver registered for its stream, and only there."""
    h = Harness()
    trades = h.stream("bnbbtc@trade")
    tickers = h.stream("dogebnb@ticker")
    h.feed(*[f for f in load_jsonl("tardis_binance.jsonl")
             if f["stream"] in ("bnbbtc@trade", "dogebnb@ticker")])
    assert kinds(trades) == ["Trade", "Trade"] and kinds(tickers) == ["Ticker"]


def test_stream_name_symbol_case_is_normalised():
    """A frame naming the symbol upper-case (BNBBTC@ticker) reaches bnbbtc@ticker."""
    h = Harness()
    out = h.stream("bnbbtc@ticker")
    h.feed(frames_of("user_and_market_events.jsonl", "BNBBTC@ticker")[0])
    assert kinds(out) == ["Ticker"]


def test_unknown_stream_is_reported():
    """Data for a stream nobody expects becomes UnknownStream(stream)."""
    h = Harness()
    h.feed(frames_of("tardis_binance.jsonl", "bnbbtc@trade")[0])
    ev = one(h.control)
    assert isinstance(ev, p.UnknownStream) and ev.stream == "bnbbtc@trade"


def test_forget_stream_stops_delivery():
    """After forget_stream a stream's frames are no longer delivered."""
    h = Harness()
    out = h.stream("bnbbtc@trade")
    h.session.forget_stream("bnbbtc@trade")
    h.feed(frames_of("tardis_binance.jsonl", "bnbbtc@trade")[0])
    assert out == [] and isinstance(one(h.control), p.UnknownStream)


def test_raw_stream_delivers_data_dict():
    """raw=True delivers the combined frame's data as received."""
    h = Harness()
    out = h.stream("bnbbtc@trade", raw=True)
    frame = frames_of("tardis_binance.jsonl", "bnbbtc@trade")[0]
    h.feed(frame)
    assert one(out) is frame["data"]


def test_malformed_market_frame_is_reported_not_raised():
    """A trade frame without a price becomes MalformedFrame naming the stream."""
    h = Harness()
    out = h.stream("bnbbtc@trade")
    h.feed({"stream": "bnbbtc@trade", "data": {"e": "trade", "q": "1"}})
    assert out == []
    assert "bnbbtc@trade" in one(h.of(p.MalformedFrame)).reason


def test_subscribe_ack_routes_by_id():
    """{"id":1000,"result":null} calls the callback expected for id 1000 with (None, None)."""
    h = Harness("coinm")
    answers = []
    h.session.expect_response(1000, lambda r, e: answers.append((r, e)))
    h.feed(load_jsonl("tardis_binance_delivery.jsonl")[0])
    assert answers == [(None, None)] and h.control == []


def test_response_callback_fires_once():
    """A response callback is used once; a repeated answer is reported as Unexpected."""
    h = Harness()
    answers = []
    h.session.expect_response(1, lambda r, e: answers.append(r))
    h.feed({"id": 1, "result": None}, {"id": 1, "result": None})
    # The repeat answers nothing this connection asked: reported, never applied.
    assert answers == [None] and isinstance(one(h.control), Unexpected)


def test_wsapi_success_response_delivers_result():
    """{"id","status":200,"result"} calls on_result(result, None)."""
    h = Harness()
    answers = []
    h.session.expect_response("req-1", lambda r, e: answers.append((r, e)))
    h.feed({"id": "req-1", "status": 200, "result": {"subscriptionId": 0},
            "rateLimits": []})
    assert answers == [({"subscriptionId": 0}, None)]


def test_wsapi_error_response_is_exchange_error():
    """{"status":400,"error":{code,msg}} calls on_result(None, ExchangeError(code, msg))."""
    h = Harness()
    answers = []
    h.session.expect_response(7, lambda r, e: answers.append((r, e)))
    frame = {"id": 7, "status": 400, "error": {"code": -1102, "msg": "Mandatory parameter"}}
    h.feed(frame)
    result, error = one(answers)
    assert result is None and isinstance(error, ExchangeError)
    assert (error.code, error.msg, error.raw) == (-1102, "Mandatory parameter", frame)


def test_wsapi_order_rejection_is_order_rejected():
    """-2010 (new order rejected) is an OrderRejected, still an ExchangeError."""
    h = Harness()
    answers = []
    h.session.expect_response(8, lambda r, e: answers.append(e))
    h.feed({"id": 8, "status": 400, "error": {"code": -2010,
                                              "msg": "Account has insufficient balance"}})
    err = one(answers)
    assert isinstance(err, OrderRejected) and isinstance(err, ExchangeError)
    assert err.code == -2010


def test_wsapi_bad_signature_is_authentication_error():
    """-1022 (invalid signature) is an AuthenticationError."""
    h = Harness()
    answers = []
    h.session.expect_response(9, lambda r, e: answers.append(e))
    h.feed({"id": 9, "status": 400, "error": {"code": -1022, "msg": "Signature invalid."}})
    assert isinstance(one(answers), AuthenticationError)


def test_stream_control_error_without_status_is_error():
    """A market-stream control error {"error":{code,msg},"id"} reaches the callback as an error."""
    h = Harness()
    answers = []
    h.session.expect_response(2, lambda r, e: answers.append(e))
    h.feed({"error": {"code": 2, "msg": "Invalid request: unknown variant"}, "id": 2})
    assert one(answers).code == 2


def test_error_without_id_is_a_control_response():
    """{"code":3,"msg":...} with no id becomes Response(None, None, ExchangeError)."""
    h = Harness()
    h.feed({"code": 3, "msg": "Invalid JSON"})
    ev = one(h.control)
    assert isinstance(ev, p.Response) and ev.req_id is None and ev.error.code == 3


def test_non_dict_message_is_malformed():
    """A message that is not an object is reported as MalformedFrame."""
    h = Harness()
    h.feed([1, 2])
    assert isinstance(one(h.control), p.MalformedFrame)


# -------------------------------------------------------------------- depth sync: spot

def spot_sync(**kw):
    return DepthSync("GNTBTC", "spot", stream="gntbtc@depth", **kw)


def gnt_frames():
    return [f["data"] for f in frames_of("tardis_binance.jsonl", "gntbtc@depth")]


def gnt_snapshot():
    return frames_of("tardis_binance.jsonl", "gntbtc@depthSnapshot")[0]["data"]


def test_spot_sync_asks_for_snapshot_once_on_first_event():
    """The first buffered event asks for a snapshot; later ones do not ask again."""
    sync = spot_sync()
    e1, e2, _ = gnt_frames()
    first = sync.on_event(e1)
    assert kinds(first) == ["SnapshotNeeded"] and first[0].symbol == "GNTBTC"
    assert sync.on_event(e2) == [] and sync.needs_snapshot


def test_spot_sync_happy_path_with_real_frames():
    """Snapshot + buffered events + a live event give the right book and the right events."""
    sync = spot_sync()
    e1, e2, e3 = gnt_frames()
    sync.on_event(e1)
    sync.on_event(e2)
    out = sync.on_snapshot(gnt_snapshot())
    s = one(out)
    assert isinstance(s, models.BookSnapshot) and sync.synced
    # e1 (u <= lastUpdateId) dropped, e2 applied: 0.00002246 -> 375.
    assert (0.00002246, 375.0) in s.bids and sync.last_update_id == 41603418
    d = one(sync.on_event(e3))
    assert isinstance(d, models.BookDiff) and sync.last_update_id == 41603419
    assert sync.book.bids == [(0.00002248, 114.0), (0.00002246, 375.0), (0.00002245, 2673.0),
                              (0.00002244, 390.0), (0.00002243, 3425.0)]
    assert sync.book.asks == [(0.00002253, 3945.0), (0.00002256, 50641.0),
                              (0.00002258, 1777.0), (0.00002262, 6080.0)]


def test_spot_sync_drops_stale_events():
    """After sync an event with u < book id is ignored (no event, no change)."""
    sync = spot_sync()
    sync.on_event(diff(100, 105))
    sync.on_snapshot(snap(110, [("1", "1")]))
    assert sync.on_event(diff(101, 109, [("1", "5")])) == []
    assert sync.book.bids == [(1.0, 1.0)] and sync.synced


def test_spot_sync_gap_is_out_of_sync():
    """U > book id + 1 reports BookOutOfSync then SnapshotNeeded, and unsyncs."""
    sync = spot_sync()
    sync.on_event(diff(100, 105))
    sync.on_snapshot(snap(110))
    out = sync.on_event(diff(112, 115))
    assert kinds(out) == ["BookOutOfSync", "SnapshotNeeded"]
    assert out[0].stream == "gntbtc@depth" and not sync.synced and sync.needs_snapshot


def test_spot_sync_recovers_after_gap():
    """After a gap, a new snapshot resyncs from the event that showed the gap."""
    sync = spot_sync()
    sync.on_event(diff(100, 105))
    sync.on_snapshot(snap(110))
    sync.on_event(diff(112, 115, [("2", "1")]))
    out = sync.on_snapshot(snap(113, [("1", "1")]))
    assert kinds(out) == ["BookSnapshot"] and sync.last_update_id == 115
    assert sync.book.bids == [(2.0, 1.0), (1.0, 1.0)]


def test_spot_snapshot_older_than_first_event_asks_again():
    """lastUpdateId < first buffered U (the real btcusdc frames: U-1) asks for another
    snapshot, as the guide says; a newer one then syncs."""
    sync = DepthSync("BTCUSDC", "spot")
    snapshot = frames_of("tardis_binance.jsonl", "btcusdc@depthSnapshot")[0]["data"]
    event = frames_of("tardis_binance.jsonl", "btcusdc@depth")[0]["data"]
    assert sync.on_snapshot(snapshot) == []  # held until the first event
    out = sync.on_event(event)
    assert kinds(out) == ["SnapshotNeeded"] and "older" in out[0].reason
    assert sync.needs_snapshot and not sync.synced
    newer = dict(snapshot, lastUpdateId=16084252)
    assert kinds(sync.on_snapshot(newer)) == ["BookSnapshot"]
    assert sync.last_update_id == 16084253


def test_spot_gap_inside_buffer_restarts_without_out_of_sync():
    """A gap among buffered events (never synced) asks for a snapshot without BookOutOfSync."""
    sync = spot_sync()
    sync.on_event(diff(100, 105))
    sync.on_event(diff(106, 110))
    sync.on_event(diff(120, 125))
    out = sync.on_snapshot(snap(107))
    assert kinds(out) == ["SnapshotNeeded"] and not sync.synced
    assert kinds(sync.on_snapshot(snap(121))) == ["BookSnapshot"]


def test_sync_level_size_zero_deletes():
    """A level with size 0 removes it from the book."""
    sync = spot_sync()
    sync.on_event(diff(1, 1))
    sync.on_snapshot(snap(1, [("10", "1"), ("9", "1")]))
    sync.on_event(diff(2, 2, [("10", "0")]))
    assert sync.book.bids == [(9.0, 1.0)]


def test_malformed_snapshot_raises_and_keeps_waiting():
    """A snapshot without lastUpdateId raises RemoteProtocolError; the sync still waits."""
    sync = spot_sync()
    sync.on_event(diff(1, 2))
    with pytest.raises(RemoteProtocolError):
        sync.on_snapshot({"code": -1121, "msg": "Invalid symbol."})
    assert sync.needs_snapshot


def test_reset_forgets_stream_position():
    """reset() (a new connection) unsyncs; the next event asks for a snapshot again."""
    sync = spot_sync()
    sync.on_event(diff(1, 2))
    sync.on_snapshot(snap(2))
    sync.reset()
    assert not sync.synced
    assert kinds(sync.on_event(diff(50, 51))) == ["SnapshotNeeded"]


# ----------------------------------------------------------------- depth sync: futures

def test_futures_sync_with_real_frames_then_pu_gap():
    """USDT-M frames: the first event straddles lastUpdateId and applies; the next, whose
    pu is not the previous u, puts the book out of sync."""
    frames = frames_of("tardis_binance_futures.jsonl", "btcusdt@depth@100ms")
    snapshot = frames_of("tardis_binance_futures.jsonl", "btcusdt@depthSnapshot")[0]["data"]
    sync = DepthSync("BTCUSDT", "usdm", stream="btcusdt@depth@100ms")
    assert kinds(sync.on_event(frames[0]["data"])) == ["SnapshotNeeded"]
    assert kinds(sync.on_snapshot(snapshot)) == ["BookSnapshot"]
    assert sync.last_update_id == 687687946 and (8493.78, 0.162) in sync.book.bids
    assert kinds(sync.on_event(frames[1]["data"])) == ["BookOutOfSync", "SnapshotNeeded"]


def test_coinm_sync_with_real_frames():
    """COIN-M frames: snapshot first, then the first event (U == lastUpdateId) applies."""
    frames = frames_of("tardis_binance_delivery.jsonl", "btcusd_200925@depth@0ms")
    snapshot = frames_of("tardis_binance_delivery.jsonl",
                         "btcusd_200925@depthSnapshot")[0]["data"]
    sync = DepthSync("BTCUSD_200925", "coinm")
    sync.on_snapshot(snapshot)
    out = sync.on_event(frames[0]["data"])
    assert kinds(out) == ["BookSnapshot"] and sync.last_update_id == 37471292
    assert sync.book.bids == [(9504.8, 181.0), (9498.9, 13.0)]
    assert kinds(sync.on_event(frames[1]["data"])) == ["BookOutOfSync", "SnapshotNeeded"]


def test_futures_sync_chains_by_pu():
    """Live futures events apply while pu equals the previous u."""
    sync = DepthSync("BTCUSDT", "usdm")
    sync.on_event(diff(10, 20, prev=9))
    sync.on_snapshot(snap(15))
    out = sync.on_event(diff(25, 30, [("5", "1")], prev=20))
    assert kinds(out) == ["BookDiff"] and sync.last_update_id == 30


def test_futures_sync_drops_events_before_snapshot():
    """Buffered futures events with u < lastUpdateId are dropped before the first apply."""
    sync = DepthSync("BTCUSDT", "usdm")
    sync.on_event(diff(10, 12, [("1", "1")], prev=9))
    sync.on_event(diff(13, 20, [("2", "1")], prev=12))
    sync.on_snapshot(snap(15))
    assert sync.book.bids == [(2.0, 1.0)] and sync.last_update_id == 20


def test_futures_snapshot_in_a_gap_asks_again():
    """No buffered event straddles lastUpdateId (U > it): another snapshot is asked for."""
    sync = DepthSync("BTCUSDT", "usdm")
    sync.on_event(diff(10, 12, prev=9))
    sync.on_event(diff(20, 25, prev=12))
    out = sync.on_snapshot(snap(15))
    assert kinds(out) == ["SnapshotNeeded"] and not sync.synced


def test_futures_snapshot_too_old_asks_again():
    """A futures snapshot older than the first buffered U asks for another."""
    sync = DepthSync("BTCUSDT", "usdm")
    sync.on_event(diff(10, 12, prev=9))
    assert kinds(sync.on_snapshot(snap(5))) == ["SnapshotNeeded"]


# ------------------------------------------------------------ depth sync in a session

def test_session_owned_sync_delivers_snapshot_then_diffs():
    """expect_stream with a book: SnapshotNeeded on control, on_depth_snapshot delivers a
    BookSnapshot, then each live event a BookDiff."""
    h = Harness()
    book = OrderBook("BTCUSDT", kind="size")
    out = h.stream("btcusdt@depth@100ms", book=book)
    h.feed({"stream": "btcusdt@depth@100ms", "data": diff(5, 6)})
    need = one(h.control)
    assert isinstance(need, p.SnapshotNeeded) and need.stream == "btcusdt@depth@100ms"
    assert need.symbol == "BTCUSDT"
    h.session.on_depth_snapshot("btcusdt@depth@100ms", snap(6, [("1", "2")]))
    h.feed({"stream": "btcusdt@depth@100ms", "data": diff(7, 7, [("1", "3")])})
    assert kinds(out) == ["BookSnapshot", "BookDiff"] and book.bids == [(1.0, 3.0)]
    assert h.session.depth_sync("btcusdt@depth@100ms").synced


def test_session_owned_sync_reports_gap_on_control():
    """A gap in a session-owned sync goes to on_control as BookOutOfSync + SnapshotNeeded."""
    h = Harness()
    h.stream("btcusdt@depth", book=OrderBook("BTCUSDT", kind="size"))
    h.feed({"stream": "btcusdt@depth", "data": diff(5, 6)})
    h.session.on_depth_snapshot("btcusdt@depth", snap(6))
    h.feed({"stream": "btcusdt@depth", "data": diff(9, 9)})
    assert kinds(h.control) == ["SnapshotNeeded", "BookOutOfSync", "SnapshotNeeded"]


def test_session_bad_snapshot_is_malformed_frame():
    """A malformed REST snapshot fed to the session is reported, not raised."""
    h = Harness()
    h.stream("btcusdt@depth", book=OrderBook("BTCUSDT", kind="size"))
    h.feed({"stream": "btcusdt@depth", "data": diff(5, 6)})
    h.session.on_depth_snapshot("btcusdt@depth", {"oops": 1})
    assert isinstance(h.control[-1], p.MalformedFrame)


def test_sink_style_sync_fed_by_unsynced_stream():
    """A facade-owned DepthSync with callbacks, fed BookDiffs from a bookless stream:
    requests snapshots, delivers models and reports gaps through its callbacks."""
    got, asked, lost = [], [], []
    sync = DepthSync("BTCUSDT", "usdm", deliver=got.append,
                     request_snapshot=lambda: asked.append(1),
                     on_out_of_sync=lambda s, r: lost.append(s))
    h = Harness("usdm")
    h.session.expect_stream("btcusdt@depth", sync.on_diff)
    h.feed({"stream": "btcusdt@depth", "data": diff(10, 20, prev=9)})
    assert asked == [1]
    sync.on_snapshot(snap(15, [("1", "1")]))
    h.feed({"stream": "btcusdt@depth", "data": diff(21, 22, prev=20)},
           {"stream": "btcusdt@depth", "data": diff(30, 31, prev=29)})
    assert kinds(got) == ["BookSnapshot", "BookDiff"]
    assert lost == ["BTCUSDT"] and asked == [1, 1]


def test_sink_style_raw_sync_delivers_raw():
    """raw=True: the sync's deliver gets the snapshot and diff dicts as received."""
    got = []
    sync = DepthSync("BTCUSDT", "spot", deliver=got.append, raw=True)
    event = diff(1, 2)
    sync.on_event(event)
    snapshot = snap(2)
    sync.on_snapshot(snapshot)
    live = diff(3, 3)
    sync.on_event(live)
    assert got == [snapshot, live]


# ---------------------------------------------------------------------------- signing

def test_signature_payload_matches_docs():
    """The payload is all params but signature, sorted by name, k=v joined by &."""
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00", "newOrderRespType": "ACK",
              "recvWindow": 100, "timestamp": DOC_TS, "apiKey": DOC_KEY, "signature": "x"}
    assert p.signature_payload(params) == (
        f"apiKey={DOC_KEY}&newOrderRespType=ACK&price=52000.00&quantity=0.01000000"
        f"&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC&timestamp={DOC_TS}"
        "&type=LIMIT")


@pytest.mark.parametrize(("extra", "symbol", "side", "qty", "price", "rw", "expected"), [
    ({}, "BTCUSDT", "SELL", "0.01000000", "52000.00", 100,
     "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"),
    ({"newOrderRespType": "ACK"}, "BTCUSDT", "SELL", "0.01000000", "52000.00", 100,
     "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a"),
    ({}, "１２３４５６", "BUY", "1.00000000", "0.10000000", 5000,
     "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"),
])
def test_sign_hmac_matches_documented_examples(extra, symbol, side, qty, price, rw, expected):
    """sign_hmac reproduces the signatures of Binance's WebSocket-API HMAC examples
    (ASCII, with newOrderRespType, and a non-ASCII symbol signed as UTF-8)."""
    params = dict(extra, symbol=symbol, side=side, type="LIMIT", timeInForce="GTC",
                  quantity=qty, price=price, recvWindow=rw, timestamp=DOC_TS, apiKey=DOC_KEY)
    assert p.sign_hmac(DOC_SECRET, params) == expected


def test_order_place_request_reproduces_documented_request():
    """order_place_request builds Binance's documented example, signature included."""
    req = p.order_place_request(DOC_KEY, DOC_SECRET, DOC_TS,
                                "4885f793-e5ad-4c3b-8f6c-55d891472b71", "BTCUSDT", "SELL",
                                "LIMIT", "0.01000000", price="52000.00", time_in_force="GTC",
                                newOrderRespType="ACK", recv_window=100)
    assert req == {"id": "4885f793-e5ad-4c3b-8f6c-55d891472b71", "method": "order.place",
                   "params": {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT",
                              "quantity": "0.01000000", "price": "52000.00",
                              "timeInForce": "GTC", "newOrderRespType": "ACK",
                              "apiKey": DOC_KEY, "timestamp": DOC_TS, "recvWindow": 100,
                              "signature": "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947"
                                           "bb5bb454ddbd08a"}}


def test_signed_params_adds_key_time_and_signature():
    """signed_params adds apiKey, timestamp, recvWindow and a signature over all of them."""
    out = p.signed_params("k", "s", {"symbol": "X", "skip": None}, 123, recv_window=5000)
    assert set(out) == {"symbol", "apiKey", "timestamp", "recvWindow", "signature"}
    assert out["signature"] == p.sign_hmac("s", out)


def test_signed_params_sends_and_signs_bools_as_json_text():
    """True is sent and signed as "true" (Python's str(True) would not match the server)."""
    out = p.signed_params("k", "s", {"reduceOnly": True}, 1)
    assert out["reduceOnly"] == "true"
    assert "reduceOnly=true" in p.signature_payload(out)


def test_signed_params_rejects_bad_recv_window():
    """recvWindow above 60000 ms is refused before anything is sent."""
    with pytest.raises(LocalProtocolError):
        p.signed_params("k", "s", {}, 1, recv_window=60001)


def test_ed25519_signature_verifies():
    """sign_ed25519 signs the payload with a PEM key; the public key verifies it, and
    signed_params picks Ed25519 when the secret is a PEM key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    out = p.signed_params("k", pem, {"symbol": "BTCUSDT"}, 1645423376532)
    key.public_key().verify(base64.b64decode(out["signature"]),
                            p.signature_payload(out).encode())


def test_user_data_subscribe_request_is_signed():
    """userDataStream.subscribe.signature carries apiKey, timestamp and an HMAC signature."""
    req = p.user_data_subscribe_request("k", "s", 1700000000000, 5)
    assert req["method"] == "userDataStream.subscribe.signature" and req["id"] == 5
    assert req["params"]["signature"] == p.sign_hmac("s", {"apiKey": "k",
                                                           "timestamp": 1700000000000})


def test_order_place_defaults_gtc_and_plain_decimals():
    """LIMIT defaults timeInForce to GTC; float quantities are sent as plain decimals."""
    req = p.order_place_request("k", "s", 1, 1, "btcusdt", "buy", "limit", 1e-05, price=30000.0)
    params = req["params"]
    assert (params["symbol"], params["side"], params["type"], params["quantity"],
            params["price"], params["timeInForce"]) == ("BTCUSDT", "BUY", "LIMIT", "0.00001",
                                                        "30000.0", "GTC")


def test_order_place_passes_futures_fields_through():
    """Futures fields (positionSide, reduceOnly) pass through, bools as "true"."""
    req = p.order_place_request("k", "s", 1, 1, "BTCUSDT", "SELL", "MARKET", "0.001",
                                positionSide="SHORT", reduceOnly=True)
    assert req["params"]["positionSide"] == "SHORT" and req["params"]["reduceOnly"] == "true"
    assert "timeInForce" not in req["params"]


@pytest.mark.parametrize("kwargs", [
    dict(side="HOLD", type="LIMIT", quantity=1, price=1),
    dict(side="BUY", type="LIMIT", quantity=1),
    dict(side="BUY", type="LIMIT_MAKER", quantity=1),
    dict(side="BUY", type="MARKET", quantity=0),
    dict(side="BUY", type="MARKET", quantity=-1),
    dict(side="BUY", type="MARKET", quantity="abc"),
    dict(side="BUY", type="MARKET", quantity=None),
    dict(side="BUY", type="MARKET", quantity=1, new_client_order_id="has space"),
    dict(side="BUY", type="LIMIT", quantity=1, price=float("nan")),
])
def test_order_place_validation(kwargs):
    """Bad side, missing price, non-positive quantity or a bad client id raise
    LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        p.order_place_request("k", "s", 1, 1, "BTCUSDT", **kwargs)


def test_order_place_quote_quantity_market_order():
    """A MARKET order may give quoteOrderQty instead of quantity."""
    req = p.order_place_request("k", "s", 1, 1, "BTCUSDT", "BUY", "MARKET", None,
                                quoteOrderQty=10.5)
    assert req["params"]["quoteOrderQty"] == "10.5" and "quantity" not in req["params"]


def test_order_cancel_request_needs_an_id():
    """order.cancel needs orderId or origClientOrderId; either builds a signed request."""
    with pytest.raises(LocalProtocolError):
        p.order_cancel_request("k", "s", 1, 1, "BTCUSDT")
    req = p.order_cancel_request("k", "s", 1, 1, "BTCUSDT", orig_client_order_id="abc")
    assert req["method"] == "order.cancel" and req["params"]["origClientOrderId"] == "abc"
    assert p.order_cancel_request("k", "s", 1, 1, "BTCUSDT", 42)["params"]["orderId"] == 42


def test_order_from_spot_full_result():
    """A Spot order.place FULL result becomes an Order with signed amounts and average price."""
    result = {"symbol": "BTCUSDT", "orderId": 12569099453, "orderListId": -1,
              "clientOrderId": "4d96324ff9d44481926157ec08158a40", "transactTime": 1660801715639,
              "price": "23416.10000000", "origQty": "0.00847000",
              "executedQty": "0.00847000", "cummulativeQuoteQty": "198.33436700",
              "status": "FILLED", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL",
              "workingTime": 1660801715639, "fills": []}
    order = p.order_from_result(result)
    assert (order.id, order.gid, order.cid, order.amount, order.amount_orig, order.status,
            order.mts_create, order.kind) == \
        (12569099453, None, "4d96324ff9d44481926157ec08158a40", -0.0, -0.00847, "FILLED",
         1660801715639, "result")
    assert order.price_avg == pytest.approx(23416.1)


def test_order_from_futures_result_and_garbage():
    """A futures result uses avgPrice; a non-object result gives an Order of Nones."""
    order = p.order_from_result({"orderId": 1, "symbol": "BTCUSDT", "status": "NEW",
                                 "clientOrderId": "x", "price": "100", "avgPrice": "0.00",
                                 "origQty": "2", "executedQty": "0", "side": "BUY",
                                 "type": "LIMIT", "updateTime": 5})
    assert (order.amount, order.price_avg, order.mts_update) == (2.0, None, 5)
    assert p.order_from_result(None).id is None


# ------------------------------------------------------------- stream names, URLs, limits

@pytest.mark.parametrize(("args", "kwargs", "name"), [
    (("trade", "BTCUSDT"), {}, "btcusdt@trade"),
    (("aggTrade", "BTCUSDT"), {}, "btcusdt@aggTrade"),
    (("kline", "BTCUSDT"), {"interval": "1s"}, "btcusdt@kline_1s"),
    (("kline", "BTCUSDT"), {"interval": "1M", "market": "usdm"}, "btcusdt@kline_1M"),
    (("bookTicker", "BTCUSDT"), {}, "btcusdt@bookTicker"),
    (("ticker", "BTCUSDT"), {}, "btcusdt@ticker"),
    (("depth", "BTCUSDT"), {}, "btcusdt@depth"),
    (("depth", "BTCUSDT"), {"speed": "1000ms"}, "btcusdt@depth"),
    (("depth", "BTCUSDT"), {"speed": 100}, "btcusdt@depth@100ms"),
    (("depth", "BTCUSDT"), {"speed": "0ms", "market": "usdm"}, "btcusdt@depth@0ms"),
    (("depth", "BTCUSDT"), {"speed": "250ms", "market": "coinm"}, "btcusdt@depth"),
    (("depth", "BTCUSDT"), {"levels": 10}, "btcusdt@depth10"),
    (("depth20", "BTCUSDT"), {"speed": "100ms"}, "btcusdt@depth20@100ms"),
])
def test_stream_names(args, kwargs, name):
    """stream_name builds Binance's names, lower-casing the symbol."""
    assert p.stream_name(*args, **kwargs) == name


@pytest.mark.parametrize(("args", "kwargs"), [
    (("candles", "BTCUSDT"), {}),
    (("trade", "BTC USDT"), {}),
    (("trade", "btc@usdt"), {}),
    (("trade", ""), {}),
    (("kline", "BTCUSDT"), {}),
    (("kline", "BTCUSDT"), {"interval": "2m"}),
    (("kline", "BTCUSDT"), {"interval": "1s", "market": "usdm"}),
    (("depth", "BTCUSDT"), {"speed": "250ms"}),
    (("depth", "BTCUSDT"), {"levels": 7}),
    (("depth5", "BTCUSDT"), {"speed": "0ms", "market": "usdm"}),
    (("depth5", "BTCUSDT"), {"levels": 10}),
    (("trade", "BTCUSDT"), {"interval": "1m"}),
    (("ticker", "BTCUSDT"), {"speed": "100ms"}),
    (("trade", "BTCUSDT"), {"market": "options"}),
])
def test_stream_name_validation(args, kwargs):
    """Unknown kinds, bad symbols, intervals, speeds, levels and misplaced options raise."""
    with pytest.raises(LocalProtocolError):
        p.stream_name(*args, **kwargs)


def test_control_requests():
    """SUBSCRIBE/UNSUBSCRIBE carry the stream list and the id."""
    assert p.subscribe_request(["btcusdt@trade"], 1) == {
        "method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}
    assert p.unsubscribe_request("btcusdt@trade", 2)["params"] == ["btcusdt@trade"]
    with pytest.raises(LocalProtocolError):
        p.subscribe_request([], 1)


def test_default_endpoints():
    """Production and testnet hosts per market; margin has no testnet."""
    assert p.default_endpoints("spot") == p.Endpoints(
        "https://api.binance.com", "wss://stream.binance.com:9443",
        "wss://ws-api.binance.com:443/ws-api/v3")
    assert p.default_endpoints("margin") == p.default_endpoints("spot")
    assert p.default_endpoints("usdm").api_url == "wss://ws-fapi.binance.com/ws-fapi/v1"
    assert p.default_endpoints("coinm").stream_url == "wss://dstream.binance.com"
    assert p.default_endpoints("spot", testnet=True).rest_url == "https://testnet.binance.vision"
    assert p.default_endpoints("usdm", True).stream_url == "wss://fstream.binancefuture.com"
    with pytest.raises(LocalProtocolError):
        p.default_endpoints("margin", testnet=True)


def test_listen_key_paths():
    """Futures and margin listenKey paths; spot has none since 2026-02-20."""
    assert [p.listen_key_path(m) for m in p.MARKETS] == [
        None, "/sapi/v1/userDataStream", "/fapi/v1/listenKey", "/dapi/v1/listenKey"]


def test_user_stream_urls():
    """USDT-M uses /private/ws with events=; COIN-M, margin and legacy use /ws/<key>."""
    usdm = p.default_endpoints("usdm")
    assert p.user_stream_url(usdm, "usdm", "K", events=["ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]) \
        == ("wss://fstream.binance.com/private/ws?listenKey=K"
            "&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE")
    assert p.user_stream_url(usdm, "usdm", "K", legacy=True) == "wss://fstream.binance.com/ws/K"
    assert p.user_stream_url(p.default_endpoints("coinm"), "coinm", "K") == \
        "wss://dstream.binance.com/ws/K"
    assert p.user_stream_url(p.default_endpoints("margin"), "margin", "K") == \
        "wss://stream.binance.com:9443/ws/K"
    with pytest.raises(LocalProtocolError):
        p.user_stream_url(p.default_endpoints("spot"), "spot", "K")


def test_market_stream_urls_and_routes():
    """USDT-M book streams go to /public, the rest to /market; others use /stream."""
    usdm = p.default_endpoints("usdm")
    assert p.stream_route("btcusdt@depth@100ms", "usdm") == "public"
    assert p.stream_route("btcusdt@bookTicker", "usdm") == "public"
    assert p.stream_route("btcusdt@depth5", "usdm") == "public"
    assert p.stream_route("btcusdt@kline_1m", "usdm") == "market"
    assert p.stream_route("btcusdt@trade", "spot") is None
    assert p.market_stream_url(usdm, "usdm") == "wss://fstream.binance.com/market/stream"
    assert p.market_stream_url(usdm, "usdm", "public") == "wss://fstream.binance.com/public/stream"
    assert p.market_stream_url(usdm, "usdm", legacy=True) == "wss://fstream.binance.com/stream"
    assert p.market_stream_url(p.default_endpoints("spot"), "spot") == \
        "wss://stream.binance.com:9443/stream"


def test_depth_snapshot_requests():
    """REST depth snapshot path and params per market; limits validated."""
    assert p.depth_snapshot_request("spot", "btcusdt", 5000) == \
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": 5000})
    assert p.depth_snapshot_request("usdm", "BTCUSDT")[0] == "/fapi/v1/depth"
    assert p.depth_snapshot_url(p.default_endpoints("coinm"), "coinm", "btcusd_perp", 500) == \
        "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=500"
    for market, limit in (("spot", 5001), ("usdm", 2000), ("coinm", 7)):
        with pytest.raises(LocalProtocolError):
            p.depth_snapshot_request(market, "BTCUSDT", limit)


def test_connection_limits():
    """Per-connection stream caps and control message rates per market."""
    assert p.MAX_STREAMS == {"spot": 1024, "margin": 1024, "usdm": 200, "coinm": 200}
    assert p.CONTROL_RATE == {"spot": 5, "margin": 5, "usdm": 10, "coinm": 10}


def test_session_rejects_unknown_market():
    """BinanceSession refuses a market it does not know."""
    with pytest.raises(LocalProtocolError):
        BinanceSession(lambda e: None, market="options")


# ------------------------------------------------------------------------------- fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 63, 2 ** 63) | st.floats(allow_nan=False)
    | st.text(max_size=8) | st.sampled_from(["BUY", "SELL", "TRADE", "1.5", "0", "-1", "abc"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from([*"eEsSqpPcCxXilLzZnNtTmuUbBaAkfgoOdvhwr",
                                       "pu", "ap", "id", "result", "error", "status", "code",
                                       "msg", "stream", "data", "event", "subscriptionId",
                                       "listenKey", "lastUpdateId", "bids", "asks", "wb",
                                       "cw", "pa", "ep", "up"]), children, max_size=6),
    max_leaves=20)

STREAMS = ["btcusdt@trade", "btcusdt@aggTrade", "btcusdt@ticker", "btcusdt@bookTicker",
           "btcusdt@kline_1m", "btcusdt@depth", "btcusdt@depth@100ms", "btcusdt@depth5",
           "btcusdt@markPrice", "listenkey123"]
EVENT_TYPES = ["trade", "aggTrade", "24hrTicker", "kline", "depthUpdate", "executionReport",
               "ORDER_TRADE_UPDATE", "TRADE_LITE", "outboundAccountPosition", "balanceUpdate",
               "ACCOUNT_UPDATE", "listenKeyExpired", "eventStreamTerminated", "serverShutdown"]

frames = st.one_of(
    json_values,
    st.builds(lambda s, d: {"stream": s, "data": d}, st.sampled_from(STREAMS), json_values),
    st.builds(lambda e, d: dict(d, e=e) if isinstance(d, dict) else {"e": e},
              st.sampled_from(EVENT_TYPES), json_values),
    st.builds(lambda s, d: {"subscriptionId": s, "event": d}, json_values, json_values),
    st.builds(lambda i, d: dict(d, id=i) if isinstance(d, dict) else {"id": i},
              st.sampled_from([1, 2, "x", None]), json_values),
)


def fuzz_session(market):
    h = Harness(market)
    for name in STREAMS[:-1]:
        book = OrderBook("BTCUSDT", kind="size") if name == "btcusdt@depth" else None
        h.session.expect_stream(name, lambda e: None, book=book)
    h.session.expect_user_data(lambda e: None)
    for rid in (1, 2, "x"):
        h.session.expect_response(rid, lambda r, e: None)
    return h


@settings(max_examples=300, deadline=None)
@given(st.lists(frames, max_size=12), st.sampled_from(p.MARKETS))
def test_fuzz_receive_never_raises(msgs, market):
    """Random JSON-like values and frames into receive() never raise."""
    h = fuzz_session(market)
    for msg in msgs:
        h.session.receive(msg)
    h.session.on_depth_snapshot("btcusdt@depth", msgs[0] if msgs else None)


REAL_FRAMES = [EXECUTION_REPORT, WSAPI_ACCOUNT_POSITION, BALANCE_UPDATE, ORDER_TRADE_UPDATE,
               ACCOUNT_UPDATE, LISTEN_KEY_EXPIRED_STR,
               {"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1, "s": "BTCUSDT",
                                                    "t": 1, "p": "1", "q": "1", "T": 1,
                                                    "m": True}},
               {"stream": "btcusdt@depth", "data": diff(1, 2, [("1", "1")], [("2", "1")])},
               {"stream": "btcusdt@kline_1m",
                "data": frames_of("user_and_market_events.jsonl", "BNBBTC@kline_1m")[0]["data"]},
               {"id": 1, "status": 400, "error": {"code": -2010, "msg": "x"}}]


def _mutate(value, choice, replacement):
    """Replace or delete one key/item, chosen by ``choice``, somewhere in ``value``."""
    if isinstance(value, dict) and value:
        keys = sorted(value)
        key = keys[choice % len(keys)]
        if choice % 3 == 0:
            del value[key]
        elif choice % 3 == 1 and isinstance(value[key], (dict, list)):
            _mutate(value[key], choice // 3, replacement)
        else:
            value[key] = replacement
    elif isinstance(value, list) and value:
        i = choice % len(value)
        if isinstance(value[i], (dict, list)) and choice % 2:
            _mutate(value[i], choice // 2, replacement)
        else:
            value[i] = replacement


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(REAL_FRAMES) - 1), st.lists(st.integers(0, 10 ** 6), max_size=4),
       json_values, st.sampled_from(p.MARKETS))
def test_fuzz_mutated_real_frames_never_raise(index, choices, replacement, market):
    """Real frames with keys deleted or replaced by random values never make receive() raise."""
    h = fuzz_session(market)
    frame = copy.deepcopy(REAL_FRAMES[index])
    for choice in choices:
        _mutate(frame, choice, replacement)
    h.session.receive(frame)

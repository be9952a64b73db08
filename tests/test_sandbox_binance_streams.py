"""The Binance sandbox publishes the derivatives and all-market streams from its simulated
market, over real sockets: mark price with funding, liquidations, mini and all-market
tickers, continuous klines, all book tickers, COIN-M sizes in contracts.

Slow streams are pushed with ``sandbox.flush()`` (one call is one second of them), so
nothing waits on the once-a-second loop.
"""

import json
import time
from decimal import Decimal

import pytest
from websockets.sync.client import connect

from exchange_wss.sandbox import BinanceSandbox
from exchange_wss.sandbox.binance import ApiError

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


def subscribe(c, *streams, rid=1):
    c.send(json.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": rid}))
    return wait_for(c, lambda m: m.get("id") == rid)


def wait_for(c, pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching frame; got {seen[-10:]}")
        msg = recv_json(c, left)
        if pred(msg):
            return msg
        seen.append(msg)


def data_of(c, stream, sb=None, timeout=5.0):
    """The next ``data`` of ``stream`` (flushing the slow streams while waiting)."""
    deadline = time.monotonic() + timeout
    while True:
        if sb is not None:
            sb.flush()
        try:
            return wait_for(c, lambda m: m.get("stream") == stream, timeout=0.5)["data"]
        except (AssertionError, TimeoutError):
            if time.monotonic() > deadline:
                raise


@pytest.fixture(scope="module")
def usdm():
    sb = BinanceSandbox(seed=21, tick_interval=None, market="usdm").start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def coinm():
    sb = BinanceSandbox(seed=22, tick_interval=None, market="coinm").start()
    yield sb
    sb.stop()


@pytest.fixture(scope="module")
def spot():
    sb = BinanceSandbox(seed=23, tick_interval=None).start()
    yield sb
    sb.stop()


# ------------------------------------------------------------------- mark price

def test_mark_price_carries_funding_rate_and_next_funding_time(usdm):
    """btcusdt@markPrice@1s sends markPriceUpdate with mark, index, funding and next time."""
    c = ws(usdm.stream_url + "/market/stream")
    assert subscribe(c, "btcusdt@markPrice@1s")["result"] is None
    mp = data_of(c, "btcusdt@markPrice@1s", usdm)
    assert mp["e"] == "markPriceUpdate" and mp["s"] == "BTCUSDT"
    assert Decimal(mp["p"]) > 1000 and mp["r"] == "0.00010000"
    assert mp["T"] > mp["E"] and mp["T"] % (8 * 3600 * 1000) == 0


def test_default_mark_price_comes_every_third_second(usdm):
    """btcusdt@markPrice (3 s) is sent on one flush in three."""
    c = ws(usdm.stream_url + "/market/stream")
    subscribe(c, "btcusdt@markPrice")
    got = 0
    for _ in range(6):
        usdm.flush()
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            if recv_json(c, 0.3).get("stream") == "btcusdt@markPrice":
                got += 1
        except TimeoutError:
            break
    assert got == 2


def test_all_market_mark_prices_are_a_list(usdm):
    """!markPrice@arr@1s carries every symbol's markPriceUpdate in one list."""
    c = ws(usdm.stream_url + "/market/stream")
    subscribe(c, "!markPrice@arr@1s")
    arr = data_of(c, "!markPrice@arr@1s", usdm)
    assert sorted(m["s"] for m in arr) == ["BTCUSDT", "ETHUSDT"]


def test_coin_m_pair_mark_price_lists_the_contracts_of_the_pair(coinm):
    """COIN-M btcusd@markPrice@1s carries the pair's contracts (here the perpetual)."""
    c = ws(coinm.stream_url + "/stream")
    subscribe(c, "btcusd@markPrice@1s", "btcusd_perp@markPrice@1s")
    arr = data_of(c, "btcusd@markPrice@1s", coinm)
    assert [m["s"] for m in arr] == ["BTCUSD_PERP"]
    single = data_of(c, "btcusd_perp@markPrice@1s", coinm)
    assert single["s"] == "BTCUSD_PERP"


# --------------------------------------------------------------- liquidations

def test_liquidation_trades_and_is_published(usdm):
    """sandbox.liquidate trades through the book and sends forceOrder on both streams."""
    c = ws(usdm.stream_url + "/market/stream")
    subscribe(c, "btcusdt@forceOrder", "!forceOrder@arr", "btcusdt@trade")
    ev = usdm.liquidate("BTCUSDT", "SELL", "0.5")
    one = data_of(c, "btcusdt@forceOrder")
    assert one == ev and one["o"]["S"] == "SELL" and one["o"]["q"] == "0.5"
    assert one["o"]["X"] in ("FILLED", "PARTIALLY_FILLED") and one["o"]["f"] == "IOC"
    assert data_of(c, "!forceOrder@arr")["o"]["s"] == "BTCUSDT"
    assert data_of(c, "btcusdt@trade")["m"] is True   # the liquidation sold into bids


def test_coin_m_liquidation_counts_contracts(coinm):
    """A COIN-M liquidation names its pair and counts contracts."""
    c = ws(coinm.stream_url + "/stream")
    subscribe(c, "btcusd_perp@forceOrder")
    coinm.liquidate("BTCUSD_PERP", "BUY", "40")
    o = data_of(c, "btcusd_perp@forceOrder")["o"]
    assert (o["ps"], o["q"]) == ("BTCUSD", "40") and o["z"] == "40"


def test_spot_has_no_liquidations(spot):
    """Liquidations are a futures thing: the spot sandbox refuses them."""
    with pytest.raises(ApiError):
        spot.liquidate("BTCUSDT", "SELL", "1")


# ------------------------------------------------------------------- tickers

def test_all_market_tickers_and_mini_tickers(usdm):
    """!ticker@arr and !miniTicker@arr carry every symbol, one element each."""
    c = ws(usdm.stream_url + "/market/stream")
    subscribe(c, "!ticker@arr", "!miniTicker@arr", "ethusdt@miniTicker")
    tickers = data_of(c, "!ticker@arr", usdm)
    assert sorted(t["s"] for t in tickers) == ["BTCUSDT", "ETHUSDT"]
    assert all(t["e"] == "24hrTicker" for t in tickers)
    minis = data_of(c, "!miniTicker@arr", usdm)
    assert {m["e"] for m in minis} == {"24hrMiniTicker"}
    assert data_of(c, "ethusdt@miniTicker", usdm)["s"] == "ETHUSDT"


def test_spot_mini_ticker_list_but_no_retired_streams(spot):
    """Spot serves !miniTicker@arr; its retired !ticker@arr and !bookTicker are refused."""
    c = ws(spot.stream_url + "/stream")
    subscribe(c, "!miniTicker@arr")
    assert data_of(c, "!miniTicker@arr", spot)[0]["e"] == "24hrMiniTicker"
    for rid, name in ((2, "!ticker@arr"), (3, "!bookTicker")):
        c.send(json.dumps({"method": "SUBSCRIBE", "params": [name], "id": rid}))
        err = wait_for(c, lambda m, rid=rid: m.get("id") == rid)
        assert err["error"]["code"] == 2


def test_all_book_tickers(usdm):
    """!bookTicker sends each symbol's book ticker when its top of book changes."""
    c = ws(usdm.stream_url + "/public/stream")
    subscribe(c, "!bookTicker")
    usdm.step(5)
    bt = data_of(c, "!bookTicker")
    assert bt["e"] == "bookTicker" and bt["s"] in ("BTCUSDT", "ETHUSDT")
    assert Decimal(bt["b"]) < Decimal(bt["a"])


# -------------------------------------------------------------------- klines

def test_continuous_kline_of_the_perpetual(usdm):
    """btcusdt_perpetual@continuousKline_1m sends continuous_kline with pair and type."""
    c = ws(usdm.stream_url + "/market/stream")
    subscribe(c, "btcusdt_perpetual@continuousKline_1m")
    k = data_of(c, "btcusdt_perpetual@continuousKline_1m", usdm)
    assert (k["e"], k["ps"], k["ct"], k["k"]["i"]) == \
        ("continuous_kline", "BTCUSDT", "PERPETUAL", "1m")
    assert "s" not in k["k"]


def test_continuous_kline_of_a_contract_type_that_is_not_listed_is_refused(coinm):
    """The sandbox lists perpetuals only: current_quarter continuous klines are an error."""
    c = ws(coinm.stream_url + "/stream")
    c.send(json.dumps({"method": "SUBSCRIBE",
                       "params": ["btcusd_current_quarter@continuousKline_1m"], "id": 9}))
    assert wait_for(c, lambda m: m.get("id") == 9)["error"]["code"] == 2


# ------------------------------------------------------------- COIN-M sizes

def test_coin_m_market_data_counts_contracts(coinm):
    """COIN-M depth, trades and book tickers give sizes in whole contracts."""
    c = ws(coinm.stream_url + "/stream")
    subscribe(c, "btcusd_perp@depth5@100ms", "btcusd_perp@trade", "btcusd_perp@bookTicker")
    coinm.place_order(symbol="BTCUSD_PERP", side="BUY", type="MARKET", quantity="7")
    trade = data_of(c, "btcusd_perp@trade")
    assert Decimal(trade["q"]) == Decimal(trade["q"]).to_integral_value()
    coinm.flush()
    depth = data_of(c, "btcusd_perp@depth5@100ms", coinm)
    sizes = [Decimal(q) for _, q in depth["b"] + depth["a"]]
    assert sizes and all(q == q.to_integral_value() and q >= 1 for q in sizes)
    snap = coinm.book("BTCUSD_PERP", 5)
    assert all(Decimal(q) == Decimal(q).to_integral_value() for _, q in snap["bids"])

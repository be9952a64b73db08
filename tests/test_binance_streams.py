"""Binance derivatives and all-market streams, pure: names per market, frames in, typed events out.

Frames are Binance's documented examples (tests/fixtures/binance/docs_market_streams.jsonl)
and real recorded ones (the tardis fixtures); see tests/fixtures/PROVENANCE.md.
"""

from __future__ import annotations

import pathlib

import orjson
import pytest

from exchange_wss import models
from exchange_wss.binance import protocol as p
from exchange_wss.binance.protocol import BinanceSession
from exchange_wss.errors import LocalProtocolError

BN = pathlib.Path(__file__).parent / "fixtures" / "binance"


def doc_frame(stream):
    """The documented example frame of ``stream`` as a combined-stream message."""
    for line in (BN / "docs_market_streams.jsonl").read_bytes().splitlines():
        row = orjson.loads(line)
        if row["stream"] == stream:
            return {"stream": row["stream"], "data": row["data"]}, row["market"]
    raise KeyError(stream)


def tardis_frame(name, stream):
    for line in (BN / name).read_bytes().splitlines():
        if line.strip():
            frame = orjson.loads(line)
            if frame.get("stream") == stream:
                return frame
    raise KeyError(stream)


def deliveries(stream, frame, market="spot", raw=False):
    """Feed one frame to a session expecting ``stream``; returns (delivered, control)."""
    control, out = [], []
    session = BinanceSession(control.append, market=market)
    session.expect_stream(stream, out.append, raw=raw)
    session.receive(frame)
    return out, control


def parsed_doc(stream):
    frame, market = doc_frame(stream)
    out, control = deliveries(stream, frame, market)
    assert control == []
    return out


# ------------------------------------------------------------------- stream names

def test_mark_price_names_default_and_one_second():
    """markPrice is named without a suffix at the default 3 s and with @1s for 1 s."""
    assert p.stream_name("markPrice", "BTCUSDT", market="usdm") == "btcusdt@markPrice"
    assert p.stream_name("markPrice", "BTCUSDT", market="usdm", speed="1s") == \
        "btcusdt@markPrice@1s"
    assert p.stream_name("markPrice", "BTCUSD_PERP", market="coinm", speed=1000) == \
        "btcusd_perp@markPrice@1s"


@pytest.mark.parametrize("kind", ["markPrice", "forceOrder", "continuousKline",
                                  "pairMarkPrice"])
@pytest.mark.parametrize("market", ["spot", "margin"])
def test_futures_only_kinds_are_refused_on_spot_markets(kind, market):
    """Kinds spot and margin do not serve raise before anything is sent."""
    with pytest.raises(LocalProtocolError, match="has no"):
        p.stream_name(kind, "BTCUSDT", market=market, interval="1m",
                      contract_type="perpetual")


def test_pair_mark_price_is_coin_m_only():
    """<pair>@markPrice (every contract of a pair) exists on COIN-M only."""
    assert p.stream_name("pairMarkPrice", "BTCUSD", market="coinm") == "btcusd@markPrice"
    with pytest.raises(LocalProtocolError, match="usdm has no"):
        p.stream_name("pairMarkPrice", "BTCUSDT", market="usdm")


def test_mark_price_speed_outside_1s_and_3s_is_refused():
    """A mark price speed Binance does not offer is an error, not a guess."""
    with pytest.raises(LocalProtocolError, match="mark price speed"):
        p.stream_name("markPrice", "BTCUSDT", market="usdm", speed="500ms")


def test_continuous_kline_name_per_contract_type():
    """Continuous klines are <pair>_<contractType>@continuousKline_<interval>, lower-cased."""
    assert p.stream_name("continuousKline", "BTCUSDT", market="usdm", interval="1m",
                         contract_type="PERPETUAL") == "btcusdt_perpetual@continuousKline_1m"
    assert p.stream_name("continuousKline", "BTCUSD", market="coinm", interval="1h",
                         contract_type="next_quarter") == \
        "btcusd_next_quarter@continuousKline_1h"


def test_continuous_kline_checks_contract_type_and_interval():
    """A missing or unknown contract type, and a 1s interval on futures, are refused."""
    with pytest.raises(LocalProtocolError, match="contract type"):
        p.stream_name("continuousKline", "BTCUSDT", market="usdm", interval="1m")
    with pytest.raises(LocalProtocolError, match="contract type"):
        p.stream_name("continuousKline", "BTCUSD", market="coinm", interval="1m",
                      contract_type="tradifi_perpetual")
    with pytest.raises(LocalProtocolError, match="interval"):
        p.stream_name("continuousKline", "BTCUSDT", market="usdm", interval="1s",
                      contract_type="perpetual")


def test_mini_ticker_exists_everywhere():
    """<symbol>@miniTicker is served on every market."""
    for market in p.MARKETS:
        assert p.stream_name("miniTicker", "BTCUSDT", market=market) == "btcusdt@miniTicker"


def test_options_that_do_not_belong_to_a_kind_are_refused():
    """A speed on forceOrder or a contract type on a kline is a caller error."""
    with pytest.raises(LocalProtocolError, match="no speed"):
        p.stream_name("forceOrder", "BTCUSDT", market="usdm", speed="1s")
    with pytest.raises(LocalProtocolError, match="no contract_type"):
        p.stream_name("kline", "BTCUSDT", market="usdm", interval="1m",
                      contract_type="perpetual")


@pytest.mark.parametrize(("kind", "market", "name"), [
    ("ticker", "usdm", "!ticker@arr"), ("ticker", "coinm", "!ticker@arr"),
    ("miniTicker", "spot", "!miniTicker@arr"), ("miniTicker", "coinm", "!miniTicker@arr"),
    ("markPrice", "usdm", "!markPrice@arr"), ("forceOrder", "coinm", "!forceOrder@arr"),
    ("bookTicker", "usdm", "!bookTicker"), ("bookTicker", "coinm", "!bookTicker"),
])
def test_all_market_stream_names(kind, market, name):
    """Each all-market stream is named as Binance names it on the markets that serve it."""
    assert p.all_market_stream_name(kind, market=market) == name


@pytest.mark.parametrize(("kind", "market"), [("ticker", "spot"), ("bookTicker", "spot"),
                                         ("bookTicker", "margin"), ("markPrice", "coinm"),
                                         ("markPrice", "spot"), ("forceOrder", "spot")])
def test_all_market_streams_a_market_lacks_are_refused(kind, market):
    """Spot's retired !ticker@arr and !bookTicker, and COIN-M's absent !markPrice@arr, raise."""
    with pytest.raises(LocalProtocolError, match="has no"):
        p.all_market_stream_name(kind, market=market)


def test_all_market_mark_price_one_second():
    """!markPrice@arr@1s is the 1 s variant; other all-market streams take no speed."""
    assert p.all_market_stream_name("markPrice", market="usdm", speed="1s") == \
        "!markPrice@arr@1s"
    with pytest.raises(LocalProtocolError, match="no speed"):
        p.all_market_stream_name("bookTicker", market="usdm", speed="1s")


@pytest.mark.parametrize(("stream", "route"), [
    ("!bookTicker", "public"), ("btcusdt@depth5@100ms", "public"),
    ("!markPrice@arr@1s", "market"), ("btcusdt@markPrice", "market"),
    ("btcusdt@forceOrder", "market"), ("!forceOrder@arr", "market"),
    ("btcusdt_perpetual@continuousKline_1m", "market"), ("!miniTicker@arr", "market"),
    ("!ticker@arr", "market"),
])
def test_usdm_routes_of_the_new_streams(stream, route):
    """On USDT-M, book streams are served on /public and every other stream on /market."""
    assert p.stream_route(stream, "usdm") == route


# ------------------------------------------------------------------- mark price

def test_documented_mark_price_frame():
    """A USDT-M markPriceUpdate gives mark, index, settle price, funding rate and next time."""
    mp = parsed_doc("btcusdt@markPrice")[0]
    assert isinstance(mp, models.MarkPrice)
    assert (mp.symbol, mp.mark_price, mp.index_price, mp.settle_price) == \
        ("BTCUSDT", 11794.15, 11784.62659091, 11784.25641265)
    assert (mp.funding_rate, mp.next_funding_mts, mp.mts) == \
        (0.00038167, 1562306400000, 1562305380000)


def test_delivery_contract_has_no_funding():
    """COIN-M delivery contracts send r "" and T 0: funding rate and time are None."""
    mp = parsed_doc("btcusd_201225@markPrice")[0]
    assert mp.symbol == "BTCUSD_201225" and mp.mark_price == 10934.62615417
    assert mp.funding_rate is None and mp.next_funding_mts is None


def test_pair_mark_price_list_gives_one_event_per_contract():
    """COIN-M <pair>@markPrice carries a list: one MarkPrice per contract, in order."""
    out = parsed_doc("btcusd@markPrice")
    assert [m.symbol for m in out] == ["BTCUSD_201225", "BTCUSD_PERP"]
    assert out[1].funding_rate == 0.0 and out[1].next_funding_mts == 1596096000000


def test_all_market_mark_price_list():
    """!markPrice@arr delivers each element as a MarkPrice."""
    out = parsed_doc("!markPrice@arr")
    assert [(m.symbol, m.mark_price, m.funding_rate) for m in out] == \
        [("BTCUSDT", 11185.87786614, 0.0003)]


def test_real_mark_price_frames_without_optional_fields():
    """Older real frames lack i, P or r and T: those fields are None, nothing fails."""
    frame = tardis_frame("tardis_binance_futures.jsonl", "btcusdt@markPrice")
    mp = deliveries("btcusdt@markPrice", frame, "usdm")[0][0]
    assert (mp.mark_price, mp.index_price, mp.settle_price) == (8291.34697815, None, None)
    assert mp.funding_rate == 0.0001 and mp.next_funding_mts == 1569916800000
    frame = tardis_frame("tardis_binance_delivery.jsonl", "btcusd_200925@markPrice@1s")
    mp = deliveries("btcusd_200925@markPrice@1s", frame, "coinm")[0][0]
    assert (mp.settle_price, mp.funding_rate, mp.next_funding_mts) == (9429.39675, None, None)


# ------------------------------------------------------------------- liquidations

def test_documented_liquidation_order():
    """forceOrder becomes a LiquidationOrder with a signed amount (a SELL closes a long)."""
    lo = parsed_doc("btcusdt@forceOrder")[0]
    assert isinstance(lo, models.LiquidationOrder)
    assert (lo.symbol, lo.amount, lo.side, lo.price, lo.avg_price) == \
        ("BTCUSDT", -0.014, "sell", 9910.0, 9910.0)
    assert (lo.status, lo.filled, lo.last_filled, lo.order_type, lo.time_in_force, lo.mts) == \
        ("FILLED", 0.014, 0.014, "LIMIT", "IOC", 1568014460893)


def test_all_market_liquidations_carry_one_object_per_message():
    """!forceOrder@arr sends one liquidation object per message, despite its name."""
    out = parsed_doc("!forceOrder@arr")
    assert len(out) == 1 and out[0].symbol == "BTCUSDT"


def test_coin_m_liquidation_names_its_pair():
    """COIN-M forceOrder carries the pair (ps) and sizes in contracts."""
    lo = parsed_doc("btcusd_200925@forceOrder")[0]
    assert (lo.symbol, lo.pair, lo.amount) == ("BTCUSD_200925", "BTCUSD", -1.0)


def test_real_liquidation_frame():
    """A real USDT-M forceOrder (a BUY liquidation) parses."""
    frame = tardis_frame("tardis_binance_futures.jsonl", "btcusdt@forceOrder")
    lo = deliveries("btcusdt@forceOrder", frame, "usdm")[0][0]
    assert (lo.amount, lo.side, lo.last_filled, lo.filled) == (0.014, "buy", 0.015, 0.014)


# --------------------------------------------------------------- tickers, klines, depth

def test_documented_mini_ticker():
    """24hrMiniTicker becomes a MiniTicker with open, close, high, low and both volumes."""
    mt = parsed_doc("bnbbtc@miniTicker")[0]
    assert isinstance(mt, models.MiniTicker)
    assert (mt.symbol, mt.open, mt.close, mt.high, mt.low, mt.volume, mt.quote_volume, mt.mts) == \
        ("BNBBTC", 0.001, 0.0025, 0.0025, 0.001, 10000.0, 18.0, 1672515782136)


def test_all_market_mini_tickers():
    """!miniTicker@arr delivers one MiniTicker per changed symbol."""
    out = parsed_doc("!miniTicker@arr")
    assert [type(e) for e in out] == [models.MiniTicker] and out[0].symbol == "BNBBTC"


def test_all_market_tickers():
    """!ticker@arr delivers one Ticker per element; futures tickers have no bid/ask."""
    out = parsed_doc("!ticker@arr")
    assert len(out) == 1 and isinstance(out[0], models.Ticker)
    assert (out[0].symbol, out[0].last_price, out[0].bid) == ("BTCUSDT", 10223.74, None)


def test_all_book_tickers():
    """!bookTicker sends one book ticker per message, as <symbol>@bookTicker does."""
    out = parsed_doc("!bookTicker")
    assert len(out) == 1 and isinstance(out[0], models.BookTicker)
    assert (out[0].symbol, out[0].bid, out[0].ask, out[0].update_id) == \
        ("BTCUSDT", 33134.42, 33139.39, 185130926750)


def test_continuous_kline_is_a_candle_of_the_pair():
    """A continuous_kline becomes a Candle named by its pair; the contract type is in raw."""
    c = parsed_doc("btcusdt_perpetual@continuousKline_1m")[0]
    assert isinstance(c, models.Candle)
    assert (c.symbol, c.timeframe, c.mts, c.open, c.close, c.volume, c.closed) == \
        ("BTCUSDT", "1m", 1607443020000, 18787.0, 18804.04, 197.664, False)
    assert c.raw["ct"] == "PERPETUAL"


def test_coin_m_continuous_kline():
    """COIN-M continuous klines parse the same way (volume in contracts)."""
    c = parsed_doc("btcusd_next_quarter@continuousKline_1m")[0]
    assert (c.symbol, c.high, c.low, c.volume) == ("BTCUSD", 9639.8, 9638.6, 156.0)


def test_coin_m_partial_depth_is_a_whole_top_of_book():
    """A COIN-M depth5 frame (depthUpdate-shaped) is the whole top five levels."""
    snap = parsed_doc("btcusd_200626@depth5")[0]
    assert isinstance(snap, models.BookSnapshot)
    assert snap.symbol == "BTCUSD_200626"
    assert snap.bids[0] == (9523.0, 5.0) and snap.asks[-1] == (9525.3, 6.0)
    assert len(snap.bids) == len(snap.asks) == 5


def test_spot_partial_depth():
    """A spot depth5 frame ({lastUpdateId, bids, asks}) is a BookSnapshot."""
    snap = parsed_doc("bnbbtc@depth5")[0]
    assert snap.bids == [(0.0024, 10.0)] and snap.asks == [(0.0026, 100.0)]


# ------------------------------------------------------------------- array routing

def test_bad_element_of_an_array_is_reported_and_the_rest_delivered():
    """One malformed element costs one MalformedFrame; the other elements still arrive."""
    frame, _ = doc_frame("btcusd@markPrice")
    frame["data"].insert(1, {"e": "markPriceUpdate", "s": "BAD", "p": True})
    out, control = deliveries("btcusd@markPrice", frame, "coinm")
    assert [m.symbol for m in out] == ["BTCUSD_201225", "BTCUSD_PERP"]
    assert len(control) == 1 and isinstance(control[0], p.MalformedFrame)


def test_raw_mode_delivers_the_list_as_received():
    """With raw=True an all-market stream delivers its list untouched."""
    frame, market = doc_frame("!miniTicker@arr")
    out, control = deliveries("!miniTicker@arr", frame, market, raw=True)
    assert out == [frame["data"]] and control == []


def test_all_market_events_keep_their_own_symbol():
    """Elements of an all-market list are named by their own s, never by the stream name."""
    frame = {"stream": "!miniTicker@arr",
             "data": [{"e": "24hrMiniTicker", "E": 1, "c": "1", "o": "1", "h": "1", "l": "1",
                       "v": "1", "q": "1"}]}
    out, _ = deliveries("!miniTicker@arr", frame)
    assert out[0].symbol is None


@pytest.mark.parametrize(("kind", "market", "opts", "model"), [
    ("markPrice", "usdm", {"speed": "1s"}, models.MarkPrice),
    ("forceOrder", "usdm", {}, models.LiquidationOrder),
    ("miniTicker", "spot", {}, models.MiniTicker),
    ("continuousKline", "coinm", {"interval": "1m", "contract_type": "next_quarter"},
     models.Candle),
])
def test_built_names_route_to_their_parser(kind, market, opts, model):
    """A name from stream_name reaches the parser of its kind when the frame arrives."""
    docs = {"markPrice": "btcusdt@markPrice", "forceOrder": "btcusdt@forceOrder",
            "miniTicker": "bnbbtc@miniTicker",
            "continuousKline": "btcusd_next_quarter@continuousKline_1m"}
    frame, _ = doc_frame(docs[kind])
    symbol = frame["data"].get("s") or frame["data"].get("ps") or frame["data"]["o"]["s"]
    name = p.stream_name(kind, symbol.split("_")[0], market=market, **opts)
    out, control = deliveries(name, dict(frame, stream=name), market)
    assert control == [] and isinstance(out[0], model)


@pytest.mark.parametrize(("kind", "market", "model"), [
    ("ticker", "usdm", models.Ticker), ("miniTicker", "spot", models.MiniTicker),
    ("markPrice", "usdm", models.MarkPrice), ("forceOrder", "usdm", models.LiquidationOrder),
    ("bookTicker", "usdm", models.BookTicker),
])
def test_built_all_market_names_route_to_their_parser(kind, market, model):
    """A name from all_market_stream_name reaches its parser."""
    name = p.all_market_stream_name(kind, market=market)
    frame, _ = doc_frame(name)
    out, control = deliveries(name, frame, market)
    assert control == [] and out and all(isinstance(e, model) for e in out)

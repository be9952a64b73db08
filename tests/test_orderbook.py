"""Tests for exchange_wss.orderbook: sorting, Bitfinex update rules and checksums."""

from __future__ import annotations

import json
import pathlib
import zlib

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_wss import orderbook as orderbook_module
from exchange_wss.errors import LocalProtocolError
from exchange_wss.numtext import crc32_signed, js_number_text
from exchange_wss.orderbook import OrderBook

BFX = pathlib.Path(__file__).parent / "fixtures" / "bitfinex"


def load_json(name):
    return orjson.loads((BFX / name).read_bytes())


def go_frames(chan_id):
    """Frames of one channel from the bitfinex-api-go fixture, decoded."""
    frames = []
    for line in (BFX / "bitfinex-api-go_frames.jsonl").read_text().splitlines():
        frame = json.loads(line)["frame"]
        if frame.startswith(f"[{chan_id},"):
            frames.append(orjson.loads(frame))
    return frames


# ----------------------------------------------------------------------- sorting

def test_p0_snapshot_sorts_bids_down_and_asks_up():
    """A real P0 snapshot gives bids by descending price and asks by ascending price."""
    book = OrderBook("tETHUSD")
    book.apply_snapshot(load_json("response-ws2-server-order-book-P0.json")[1])
    bid_prices = [lvl[0] for lvl in book.bids]
    ask_prices = [lvl[0] for lvl in book.asks]
    assert bid_prices == sorted(bid_prices, reverse=True)
    assert ask_prices == sorted(ask_prices)
    assert all(lvl[2] > 0 for lvl in book.bids) and all(lvl[2] < 0 for lvl in book.asks)
    assert book.best_bid == (1921.8, 1, 0.17974513)
    assert book.best_bid[0] < book.best_ask[0]


def test_p1_snapshot_keeps_every_level():
    """A real P1 snapshot keeps all its 50 levels, 25 per side."""
    book = OrderBook("tBTCUSD")
    entries = load_json("response-ws2-server-order-book-P1.json")[1]
    book.apply_snapshot(entries)
    assert len(book) == len(entries) == 50
    assert (len(book.bids), len(book.asks)) == (25, 25)


def test_raw_snapshot_breaks_price_ties_by_lower_order_id():
    """In a real R0 snapshot, orders at one price are listed by ascending order id."""
    book = OrderBook("tETHUSD", kind="raw")
    book.apply_snapshot(load_json("response-ws2-server-order-book-R0.json")[1])
    bids = book.bids
    assert bids[1:3] == [(2567590859, 1876.1, 0.99670598), (2567602139, 1876.1, 1)]
    keys = [(-p, oid) for oid, p, _ in bids]
    assert keys == sorted(keys)
    ask_keys = [(p, oid) for oid, p, _ in book.asks]
    assert ask_keys == sorted(ask_keys)


def test_funding_book_side_is_reversed():
    """In a funding book a negative amount is a bid; levels stay as received."""
    book = OrderBook("fUSD", funding=True)
    book.apply_snapshot([[0.0002, 2, 3, -100.0], [0.0003, 30, 1, -50.0],
                         [0.00025, 2, 4, 700.0], [0.00021, 7, 1, 10.0]])
    assert book.bids == [(0.0003, 30, 1, -50.0), (0.0002, 2, 3, -100.0)]
    assert book.asks == [(0.00021, 7, 1, 10.0), (0.00025, 2, 4, 700.0)]


def test_funding_book_keys_by_rate_and_period():
    """Two funding levels at one rate but different periods are separate levels."""
    book = OrderBook("fUSD", funding=True)
    book.apply_snapshot([[0.0002, 2, 1, 5.0], [0.0002, 30, 1, 6.0]])
    assert book.asks == [(0.0002, 2, 1, 5.0), (0.0002, 30, 1, 6.0)]
    book.apply_update([0.0002, 2, 0, 1])
    assert book.asks == [(0.0002, 30, 1, 6.0)]


def test_funding_raw_book_deletes_on_zero_rate():
    """A raw funding offer ([OFFER_ID, PERIOD, RATE, AMOUNT]) is removed by RATE 0."""
    book = OrderBook("fUSD", kind="raw", funding=True)
    book.apply_snapshot([[11, 2, 0.0002, -100.0], [12, 2, 0.0003, 50.0]])
    assert book.bids == [(11, 2, 0.0002, -100.0)]
    assert book.asks == [(12, 2, 0.0003, 50.0)]
    book.apply_update([11, 2, 0, -100.0])
    assert book.bids == []


def test_empty_book_has_no_best_levels():
    """An empty book reports None for its best bid and ask."""
    book = OrderBook("tBTCUSD")
    assert book.best_bid is None and book.best_ask is None and len(book) == 0


def test_unknown_kind_is_refused():
    """An unknown book kind raises LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        OrderBook("tBTCUSD", kind="nope")


# ---------------------------------------------------------------------- updates

def test_price_level_delete_with_count_zero():
    """COUNT 0 deletes a level; AMOUNT 1 names the bid side, -1 the ask side."""
    book = OrderBook("tBTCUSD")
    book.apply_snapshot([[100, 1, 2.0], [101, 2, -3.0]])
    book.apply_update([100, 0, 1])
    book.apply_update([101, 0, -1])
    assert book.bids == [] and book.asks == []


def test_price_level_delete_tolerates_wrong_side_hint():
    """A delete whose ±1 names the wrong side still removes the level."""
    book = OrderBook("tBTCUSD")
    book.apply_snapshot([[100, 1, 2.0]])
    book.apply_update([100, 0, -1])
    assert book.bids == []


def test_price_level_replace():
    """An update at an existing price replaces that level."""
    book = OrderBook("tBTCUSD")
    book.apply_snapshot([[100, 1, 2.0]])
    book.apply_update([100, 3, 5.5])
    assert book.bids == [(100, 3, 5.5)]


def test_price_level_can_flip_side():
    """A level re-sent with the opposite sign moves to the other side."""
    book = OrderBook("tBTCUSD")
    book.apply_snapshot([[100, 1, 2.0], [101, 1, -1.0]])
    book.apply_update([100, 2, -4.0])
    assert book.bids == []
    assert book.asks == [(100, 2, -4.0), (101, 1, -1.0)]


def test_raw_order_delete_with_price_zero():
    """PRICE 0 deletes a raw order."""
    book = OrderBook("tBTCUSD", kind="raw")
    book.apply_snapshot([[1, 100, 2.0], [2, 101, -1.0]])
    book.apply_update([1, 0, 1])
    assert book.bids == [] and book.asks == [(2, 101, -1.0)]


def test_raw_order_moves_price():
    """An update of a known order id at a new price moves the order."""
    book = OrderBook("tBTCUSD", kind="raw")
    book.apply_snapshot([[1, 100, 2.0], [2, 99, 1.0]])
    book.apply_update([1, 98, 2.0])
    assert book.bids == [(2, 99, 1.0), (1, 98, 2.0)]
    assert len(book) == 2


def test_raw_order_moves_side():
    """A raw order re-sent with a negative amount moves from the bids to the asks."""
    book = OrderBook("tBTCUSD", kind="raw")
    book.apply_snapshot([[1, 100, 2.0]])
    book.apply_update([1, 102, -2.0])
    assert book.bids == [] and book.asks == [(1, 102, -2.0)]


def test_snapshot_replaces_everything():
    """A second snapshot drops every level of the first."""
    book = OrderBook("tBTCUSD")
    book.apply_snapshot([[100, 1, 2.0], [101, 1, -1.0]])
    book.apply_snapshot([[90, 1, 1.0]])
    assert book.bids == [(90, 1, 1.0)] and book.asks == []


def test_clear_empties_the_book():
    """clear() removes all levels and orders."""
    book = OrderBook("tBTCUSD", kind="raw")
    book.apply_snapshot([[1, 100, 2.0]])
    book.clear()
    assert len(book) == 0
    book.apply_update([1, 0, 1])  # the forgotten order is not resurrected
    assert len(book) == 0


def test_top_cuts_each_side():
    """top(n) returns at most n levels per side, best first."""
    book = OrderBook("tETHUSD")
    book.apply_snapshot(load_json("response-ws2-server-order-book-P0.json")[1])
    bids, asks = book.top(3)
    assert bids == book.bids[:3] and asks == book.asks[:3]


def test_size_book_set_level():
    """A size book sets, replaces and (with size 0) deletes (price, size) levels."""
    book = OrderBook("BTCUSDT", kind="size")
    book.set_level("bid", 100.0, 1.5)
    book.set_level("buy", 101.0, 2.0)
    book.set_level("ask", 102.0, 3.0)
    book.set_level("bid", 100.0, 0)
    assert book.bids == [(101.0, 2.0)] and book.asks == [(102.0, 3.0)]


def test_size_book_refuses_bitfinex_calls():
    """Bitfinex entries and checksum are refused on a size book, set_level elsewhere."""
    with pytest.raises(LocalProtocolError):
        OrderBook("X", kind="size").apply_update([1, 1, 1])
    with pytest.raises(LocalProtocolError):
        OrderBook("X", kind="size").checksum()
    with pytest.raises(LocalProtocolError):
        OrderBook("X").set_level("bid", 1, 1)


# --------------------------------------------------------------------- checksums

def test_xrpbtc_checksum_matches_server():
    """The real XRPBTC snapshot plus its update reproduce the server's cs -1175357890."""
    snapshot, update, cs = go_frames(81757)
    assert cs[1] == "cs"
    book = OrderBook("tXRPBTC")
    book.apply_snapshot(snapshot[1])
    assert book.checksum() != cs[2]  # the update matters
    book.apply_update(update[1])
    assert book.checksum() == cs[2] == -1175357890


def test_checksum_uses_js_exponent_text():
    """Tiny prices enter the checksum as JavaScript writes them (1.7e-7, not 1.7e-07)."""
    book = OrderBook("tXRPBTC")
    book.apply_snapshot([[1.7e-7, 1, 10.0], [0.0000011, 2, 5.5], [2e-6, 1, -3.25]])
    text = "0.0000011:5.5:0.000002:-3.25:1.7e-7:10"
    assert book.checksum() == crc32_signed(text)


def test_checksum_raw_book_uses_order_ids():
    """Raw books checksum ORDER_ID:AMOUNT, interleaved bid then ask."""
    book = OrderBook("tBTCUSD", kind="raw")
    book.apply_snapshot([[5, 100, 1.0], [6, 99, 2.0], [7, 101, -1.5]])
    assert book.checksum() == crc32_signed("5:1:7:-1.5:6:2")


def test_checksum_covers_top_25_only():
    """Levels beyond depth 25 do not change the checksum."""
    book = OrderBook("tETHUSD")
    book.apply_snapshot([[1000 - i, 1, 1.0] for i in range(30)])
    before = book.checksum()
    book.apply_update([900, 1, 1.0])
    assert book.checksum() == before


def test_checksum_reformats_only_changed_levels(monkeypatch):
    """A repeated checksum formats nothing; one changed level formats two numbers."""
    book = OrderBook("tXRPBTC")
    snapshot, update, cs = go_frames(81757)
    book.apply_snapshot(snapshot[1])
    book.checksum()
    calls = []

    def counting(value):
        calls.append(value)
        return js_number_text(value)

    monkeypatch.setattr(orderbook_module, "js_number_text", counting)
    book.checksum()
    assert calls == []
    book.apply_update(update[1])
    assert book.checksum() == cs[2]
    assert calls == [0.0000011, 266122.94]


def test_funding_checksum_is_none():
    """Funding books are not verifiable, so checksum() returns None."""
    book = OrderBook("fUSD", funding=True)
    book.apply_snapshot([[0.0002, 2, 1, 5.0]])
    assert book.checksum() is None


def test_ftx_checksum_uses_python_text_unsigned():
    """FTX's checksum is the unsigned CRC32 of bidP:bidS:askP:askS with Python float text."""
    book = OrderBook("BTC-PERP", kind="size")
    book.set_snapshot([[5000.5, 10], [4999, 1e-7]], [[5001, 4.0]])
    text = "5000.5:10.0:5001.0:4.0:4999.0:1e-07"
    assert book.ftx_checksum() == zlib.crc32(text.encode())


# -------------------------------------------------------------------- properties

def naive_price_book(entries):
    """Rebuild a trading P book from scratch: one dict, sorted at the end."""
    levels = {}
    for price, count, amount in entries:
        if count == 0:
            levels.pop(price, None)
        else:
            levels[price] = (price, count, amount)
    bids = sorted((lvl for lvl in levels.values() if lvl[2] > 0), key=lambda lvl: -lvl[0])
    asks = sorted((lvl for lvl in levels.values() if lvl[2] < 0), key=lambda lvl: lvl[0])
    return bids, asks


def naive_raw_book(entries):
    """Rebuild a trading R0 book from scratch."""
    orders = {}
    for oid, price, amount in entries:
        if price == 0:
            orders.pop(oid, None)
        else:
            orders[oid] = (oid, price, amount)
    bids = sorted((o for o in orders.values() if o[2] > 0), key=lambda o: (-o[1], o[0]))
    asks = sorted((o for o in orders.values() if o[2] < 0), key=lambda o: (o[1], o[0]))
    return bids, asks


def naive_checksum(bids, asks):
    parts = []
    for i in range(25):
        if i < len(bids):
            parts += [js_number_text(bids[i][0]), js_number_text(bids[i][2])]
        if i < len(asks):
            parts += [js_number_text(asks[i][0]), js_number_text(asks[i][2])]
    return crc32_signed(":".join(parts))


prices = st.sampled_from([round(100 + i * 0.5, 1) for i in range(40)] + [1.7e-7, 2e-8])
amounts = st.floats(min_value=0.001, max_value=1000, allow_nan=False).map(lambda a: round(a, 6))
signs = st.sampled_from([1, -1])
price_entries = st.one_of(
    st.tuples(prices, st.integers(1, 9), amounts, signs).map(lambda t: [t[0], t[1], t[2] * t[3]]),
    st.tuples(prices, signs).map(lambda t: [t[0], 0, t[1]]),
)
raw_entries = st.one_of(
    st.tuples(st.integers(1, 30), prices, amounts, signs).map(
        lambda t: [t[0], t[1], t[2] * t[3]]),
    st.tuples(st.integers(1, 30), signs).map(lambda t: [t[0], 0, t[1]]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(price_entries, max_size=60), st.lists(price_entries, max_size=120))
def test_price_book_incremental_equals_rebuild(snapshot, updates):
    """A P book fed a snapshot then updates equals a naive rebuild after every update,
    checksum included (so no cached level text outlives its level)."""
    snapshot = [e for e in snapshot if e[1] != 0]
    book = OrderBook("tTEST")
    book.apply_snapshot(snapshot)
    for i, entry in enumerate(updates):
        book.apply_update(entry)
        bids, asks = naive_price_book(snapshot + updates[:i + 1])
        assert book.bids == bids and book.asks == asks
        assert book.checksum() == naive_checksum(bids, asks)


@settings(max_examples=300, deadline=None)
@given(st.lists(raw_entries, max_size=60), st.lists(raw_entries, max_size=120))
def test_raw_book_incremental_equals_rebuild(snapshot, updates):
    """An R0 book fed a snapshot then updates (moves included) equals a naive rebuild
    after every update, checksum included."""
    snapshot = [e for e in snapshot if e[1] != 0]
    book = OrderBook("tTEST", kind="raw")
    book.apply_snapshot(snapshot)
    for i, entry in enumerate(updates):
        book.apply_update(entry)
        bids, asks = naive_raw_book(snapshot + updates[:i + 1])
        assert book.bids == bids and book.asks == asks
        assert book.checksum() == naive_checksum(bids, asks)


size_entries = st.tuples(st.sampled_from(["bid", "ask"]), prices,
                         st.one_of(st.just(0.0), amounts))


def naive_ftx_checksum(entries):
    levels = {"bid": {}, "ask": {}}
    for side, price, size in entries:
        if size == 0:
            levels[side].pop(price, None)
        else:
            levels[side][price] = size
    bids = sorted(levels["bid"].items(), key=lambda lvl: -lvl[0])[:100]
    asks = sorted(levels["ask"].items())[:100]
    parts = []
    for i in range(max(len(bids), len(asks))):
        for side in (bids, asks):
            if i < len(side):
                parts += [str(float(side[i][0])), str(float(side[i][1]))]
    return zlib.crc32(":".join(parts).encode())


@settings(max_examples=200, deadline=None)
@given(st.lists(size_entries, max_size=120))
def test_ftx_checksum_after_every_update_equals_rebuild(entries):
    """A size book's FTX checksum, taken after every change, equals one computed from scratch."""
    book = OrderBook("BTC-PERP", kind="size")
    for i, (side, price, size) in enumerate(entries):
        book.set_level(side, price, size)
        assert book.ftx_checksum() == naive_ftx_checksum(entries[:i + 1])

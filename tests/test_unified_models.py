"""The unified fields of the shared models: sides, order statuses, book levels and changes."""

import pytest

from exchange_wss.models import (
    BookChange,
    BookDiff,
    BookLevel,
    BookSnapshot,
    BookUpdate,
    Fill,
    Order,
    OrderStatus,
    RawBookUpdate,
    Side,
    Trade,
)


def _order(status, amount=0.0, amount_orig=1.0):
    return Order(1, None, 2, "tBTCUSD", 0, 0, amount, amount_orig, "EXCHANGE LIMIT", status,
                 100.0, 0.0, 0)


@pytest.mark.parametrize(("native", "amount", "expected"), [
    ("ACTIVE", 1.0, OrderStatus.NEW),
    ("PARTIALLY FILLED @ 100.0(0.5)", 0.5, OrderStatus.PARTIALLY_FILLED),
    ("EXECUTED @ 100.0(0.5): was PARTIALLY FILLED @ 100.0(0.5)", 0.0, OrderStatus.FILLED),
    ("CANCELED was: PARTIALLY FILLED @ 100.0(0.5)", 0.5, OrderStatus.CANCELED),
    ("POSTONLY CANCELED", 1.0, OrderStatus.CANCELED),
    ("INSUFFICIENT BALANCE (G1) was: PARTIALLY FILLED @ 1(1)", 0.5, OrderStatus.CANCELED),
    ("RSN_DUST", 1.0, OrderStatus.REJECTED),
    ("NEW", 1.0, OrderStatus.NEW),
    ("PARTIALLY_FILLED", 0.5, OrderStatus.PARTIALLY_FILLED),
    ("FILLED", 0.0, OrderStatus.FILLED),
    ("REJECTED", 1.0, OrderStatus.REJECTED),
    ("EXPIRED", 1.0, OrderStatus.EXPIRED),
    ("EXPIRED_IN_MATCH", 1.0, OrderStatus.EXPIRED),
    ("new", 1.0, OrderStatus.NEW),
    ("open", 1.0, OrderStatus.NEW),
    ("open", 0.4, OrderStatus.PARTIALLY_FILLED),
    ("closed", 0.0, OrderStatus.FILLED),
    ("closed", 0.4, OrderStatus.CANCELED),
])
def test_order_state_normalizes_each_exchanges_words(native, amount, expected):
    """Bitfinex sentences, Binance words and FTX's new/open/closed map to one status."""
    assert _order(native, amount).state is expected


def test_unknown_status_is_none():
    """A status nobody knows is not guessed at."""
    assert _order("SOMETHING ELSE").state is None and _order(None).state is None


def test_sides_are_enums_equal_to_their_words():
    """Order, Trade and Fill sides are Side members that still equal "buy"/"sell"."""
    assert _order("ACTIVE", 1.0, -1.0).side is Side.SELL
    trade = Trade("tBTCUSD", 1, 0, 0.5, 100.0)
    assert trade.side is Side.BUY and trade.side == "buy" and trade.size == 0.5
    fill = Fill(1, "BTCUSDT", 0, 2, -0.25, 100.0)
    assert fill.side is Side.SELL and f"{fill.side}" == "sell"


def test_bitfinex_snapshot_levels_read_as_price_size_with_count():
    """A Bitfinex (price, count, amount) book reads as (price, size) with the count kept."""
    snap = BookSnapshot("tBTCUSD", [(100.0, 2, 1.5)], [(101.0, 1, -0.5)], None,
                        kind="price")
    assert snap.bid_levels == [BookLevel(100.0, 1.5, 2)]
    assert snap.ask_levels == [(101.0, 0.5, 1, None)]
    assert snap.ask_levels[0].size == 0.5


def test_raw_and_size_snapshots_read_the_same_way():
    """Raw (order_id, price, amount) and (price, size) books give the same level type."""
    raw = BookSnapshot("tBTCUSD", [(7, 100.0, 1.0)], [(8, 101.0, -2.0)], None, kind="raw")
    assert raw.ask_levels == [BookLevel(101.0, 2.0, None, 8)]
    size = BookSnapshot("BTCUSDT", [(100.0, 1.0)], [(101.0, 2.0)])
    assert size.bid_levels == [BookLevel(100.0, 1.0)]


def test_every_book_change_is_a_book_change_with_price_size_sides():
    """BookUpdate, RawBookUpdate and BookDiff share one base and read as (price, size) per side."""
    delete_ask = BookUpdate("tBTCUSD", 101.0, 0, -1.0)
    assert isinstance(delete_ask, BookChange)
    assert delete_ask.bids == [] and delete_ask.asks == [(101.0, 0.0)]
    bid = RawBookUpdate("tBTCUSD", 9, 100.0, 0.3)
    assert isinstance(bid, BookChange) and bid.bids == [(100.0, 0.3)]
    diff = BookDiff("BTCUSDT", [(100.0, 1.0)], [(101.0, 0.0)], 1, 2)
    assert isinstance(diff, BookChange)
    assert diff.changes == [(Side.BUY, 100.0, 1.0), (Side.SELL, 101.0, 0.0)]


def test_models_stay_slotted():
    """The new base class adds no per-instance dict to the hot-path models."""
    assert not hasattr(BookUpdate("t", 1.0, 1, 1.0), "__dict__")
    assert not hasattr(BookDiff("s", [], [], None, None), "__dict__")

"""The sandbox's simulated market and its public views (books, checksums, candles...)."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from exchange_wss.numtext import crc32_signed, js_number_text
from exchange_wss.sandbox.market import (
    BookMirror,
    BookView,
    SimulatedMarket,
    aggregate_price,
    book_checksum,
)
from exchange_wss.sandbox.wire import dumps

FIXTURES = Path(__file__).parent / "fixtures" / "bitfinex"
CLOCK = lambda: 1_700_000_000_000  # noqa: E731


def fixture_frames(chan_id):
    frames = []
    for line in (FIXTURES / "bitfinex-api-go_frames.jsonl").read_text().splitlines():
        frame = json.loads(json.loads(line)["frame"])
        if isinstance(frame, list) and frame[0] == chan_id:
            frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def market():
    return SimulatedMarket(seed=7, clock=CLOCK)


def test_same_seed_same_market():
    """Two markets with one seed, ticked alike, have identical books and trades."""
    a, b = SimulatedMarket(seed=3, clock=CLOCK), SimulatedMarket(seed=3, clock=CLOCK)
    for _ in range(15):
        a.tick()
        b.tick()
    for sym in a.symbols:
        assert a.book(sym, "R0", 250) == b.book(sym, "R0", 250)
        assert a.trades(sym, 100) == b.trades(sym, 100)
        assert a.ticker(sym) == b.ticker(sym)


def test_different_seed_different_market():
    """Another seed gives another market."""
    a, b = SimulatedMarket(seed=3, clock=CLOCK), SimulatedMarket(seed=4, clock=CLOCK)
    assert a.book("tBTCUSD", "P0", 25) != b.book("tBTCUSD", "P0", 25)


def test_ticks_move_the_market(market):
    """Each tick re-quotes: the book changes and trades print."""
    before = market.book("tBTCUSD", "R0", 250)
    trades_before = market.trades("tBTCUSD", 1)
    for _ in range(5):
        market.tick()
    assert market.book("tBTCUSD", "R0", 250) != before
    assert market.trades("tBTCUSD", 1) != trades_before


@pytest.mark.parametrize(("prec", "digits"),
                         [("P0", 5), ("P1", 4), ("P2", 3), ("P3", 2), ("P4", 1)])
def test_aggregated_levels_have_the_precisions_significant_digits(market, prec, digits):
    """P0..P4 level prices carry 5..1 significant digits and are never crossed."""
    for sym in ("tBTCUSD", "tETHUSD", "tXRPBTC"):
        view = market.book(sym, prec, 250)
        for price, count, _amount in view.bids + view.asks:
            d = Decimal(repr(price)).normalize()
            assert len(d.as_tuple().digits) <= digits
            assert count >= 1
        assert view.bids[0][0] < view.asks[0][0]


def test_aggregation_sums_amounts_and_counts(market):
    """An aggregated level's count and amount are the sums of the raw orders in it."""
    raw = market.book("tBTCUSD", "R0", 250)
    p2 = market.book("tBTCUSD", "P2", 250)
    top = p2.bids[0]
    members = [o for o in raw.bids
               if aggregate_price(Decimal(repr(o[1])), "P2", True) == Decimal(repr(top[0]))]
    assert top[1] == len(members)
    assert top[2] == pytest.approx(sum(o[2] for o in members))


def test_book_length_limits_each_side(market):
    """len caps the entries per side."""
    view = market.book("tETHUSD", "P0", 1)
    assert len(view.bids) == 1 and len(view.asks) == 1


def test_asks_are_negative_and_sorted(market):
    """Trading asks have negative amounts, bids positive; each side is best first."""
    view = market.book("tBTCUSD", "P0", 25)
    assert all(e[2] > 0 for e in view.bids) and all(e[2] < 0 for e in view.asks)
    assert [e[0] for e in view.bids] == sorted((e[0] for e in view.bids), reverse=True)
    assert [e[0] for e in view.asks] == sorted(e[0] for e in view.asks)


def test_tiny_prices_are_written_in_e_notation(market):
    """The XRPBTC-like pair's prices go on the wire as JS writes them, e.g. 6.5e-7."""
    text = dumps(market.book("tXRPBTC", "P0", 1).bids)
    assert "e-7" in text and "e-07" not in text


def test_funding_book_layout(market):
    """fUSD P entries are [RATE,PERIOD,COUNT,AMOUNT] with bids negative; R0
    [ID,PERIOD,RATE,AMOUNT]."""
    view = market.book("fUSD", "P0", 25)
    assert all(len(e) == 4 and e[3] < 0 for e in view.bids)
    assert all(e[3] > 0 for e in view.asks)
    raw = market.book("fUSD", "R0", 25)
    assert all(isinstance(e[0], int) and e[1] in (2, 7, 30, 120) for e in raw.bids + raw.asks)


def test_ticker_layouts(market):
    """Trading tickers have 10 fields, funding tickers 16 (two nulls before
    FRR_AMOUNT_AVAILABLE)."""
    t = market.ticker("tBTCUSD")
    assert len(t) == 10 and t[0] < t[2]
    f = market.ticker("fUSD")
    assert len(f) == 16 and f[13] is None and f[14] is None


def test_trades_are_newest_first(market):
    """The trades snapshot lists the newest trade first."""
    ids = [t[0] for t in market.trades("tBTCUSD", 30)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 30


def test_candles_newest_first_with_history(market):
    """A candles snapshot is newest first and reaches back 240 candles."""
    rows = market.candles("trade:1m:tBTCUSD")
    assert len(rows) == 240
    assert [r[0] for r in rows] == sorted((r[0] for r in rows), reverse=True)
    assert all(len(r) == 6 and r[3] >= r[4] for r in rows)


def test_candle_keys(market):
    """Trading, funding-period and funding-aggregate keys resolve; others do not."""
    assert market.candle_source("trade:5m:tETHUSD") == ("tETHUSD", "5m")
    assert market.candle_source("trade:1m:fUSD:p30") == ("fUSD:p30", "1m")
    assert market.candle_source("trade:1m:fUSD:a30:p2:p30") == ("fUSD:agg", "1m")
    assert market.candle_source("trade:2m:tBTCUSD") is None
    assert market.candle_source("trade:1m:tNOPE") is None


def test_status_rows(market):
    """deriv status is one 23-field row; liq:global is a (possibly empty) list of 'pos' rows."""
    row = market.status("deriv:tBTCF0:USTF0")[0]
    assert len(row) == 23 and row[2] > 0 and row[3] > 0
    assert all(r[0] == "pos" and r[4] == "tBTCF0:USTF0" for r in market.status("liq:global"))


def test_liquidation_feed_is_sometimes_empty_and_sometimes_not():
    """Over many ticks the liquidation feed fills, then empties again."""
    m = SimulatedMarket(seed=11, clock=CLOCK, warmup_ticks=0)
    states = []
    for _ in range(1000):
        m.tick()
        states.append(bool(m.status("liq:global")))
        if True in states and not states[-1]:
            break
    assert True in states and states[-1] is False


# -- checksums -----------------------------------------------------------------------

def test_checksum_of_the_real_xrpbtc_book():
    """The real XRPBTC snapshot plus update gives the checksum Bitfinex sent: -1175357890."""
    snapshot, update, cs = fixture_frames(81757)
    mirror = BookMirror()
    mirror.snapshot(snapshot[1])
    mirror.apply(update[1])
    assert cs == [81757, "cs", -1175357890]
    assert mirror.checksum() == -1175357890


def test_server_diff_path_reproduces_the_real_checksum():
    """Diffing the mirror to the post-update book sends that update and the same checksum."""
    snapshot, update, _ = fixture_frames(81757)
    mirror = BookMirror()
    mirror.snapshot(snapshot[1])
    after = BookMirror()
    after.snapshot(snapshot[1])
    after.apply(update[1])
    bids, asks = after.sorted_sides()
    updates = mirror.diff(BookView(bids, asks))
    assert updates == [update[1]]
    for u in updates:
        mirror.apply(u)
    assert mirror.checksum() == -1175357890
    assert dumps([81757, updates[0]]) == "[81757,[0.0000011,12,266122.94]]"


def test_checksum_text_uses_js_numbers():
    """The checksum is the signed CRC32 of bid/ask key:amount pairs in JS number text."""
    bids, asks = [[7e-7, 1, 10000.0]], [[0.0000011, 2, -5.5]]
    text = ":".join([js_number_text(7e-7), "10000", "0.0000011", "-5.5"])
    assert text == "7e-7:10000:0.0000011:-5.5"
    assert book_checksum(bids, asks) == crc32_signed(text)


def test_raw_book_checksum_uses_order_ids():
    """In R0 books the checksum key is the order id, ties broken by lower id."""
    mirror = BookMirror(raw=True)
    mirror.snapshot([[5, 100.0, 1.0], [3, 100.0, 2.0], [9, 101.0, -1.0]])
    assert mirror.checksum() == crc32_signed("3:2:9:-1:5:1")


def test_mirror_delete_rules():
    """COUNT 0 deletes a P level; PRICE 0 deletes a raw order; the sign names the side."""
    p = BookMirror()
    p.snapshot([[100.0, 1, 1.0], [101.0, 1, -1.0]])
    p.apply([100.0, 0, 1])
    assert p.sorted_sides() == ([], [[101.0, 1, -1.0]])
    r = BookMirror(raw=True)
    r.snapshot([[7, 100.0, 1.0]])
    r.apply([7, 0, 1])
    assert r.sorted_sides() == ([], [])


def test_mirror_follows_the_market_through_diffs():
    """Applying successive diffs keeps a mirror equal to the market's view, at every length."""
    m = SimulatedMarket(seed=5, clock=CLOCK)
    for prec, length in (("P0", 25), ("P1", 25), ("R0", 100), ("P0", 1)):
        mirror = BookMirror(raw=prec == "R0")
        v = m.book("tBTCUSD", prec, length)
        mirror.snapshot(v.bids + v.asks)
        for _ in range(10):
            m.tick()
            v = m.book("tBTCUSD", prec, length)
            for u in mirror.diff(v):
                mirror.apply(u)
            assert mirror.sorted_sides() == (v.bids, v.asks)


# -- wire text -----------------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [(0.0000011, "0.0000011"), (7e-7, "7e-7"),
                                        (1920.0, "1920"), (-0.5, "-0.5"), (1e21, "1e+21")])
def test_numbers_are_written_as_javascript_does(value, text):
    """Frames carry JS number text: no exponent below 1e-6 boundary quirks, no trailing .0."""
    assert dumps([value]) == f"[{text}]"


def test_dumps_writes_compact_json():
    """Events are compact JSON with null, booleans and strings as JSON.stringify writes them."""
    assert dumps({"a": None, "b": True, "c": "x\"y", "d": [1, 2.5]}) == \
        '{"a":null,"b":true,"c":"x\\"y","d":[1,2.5]}'

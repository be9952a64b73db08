"""The terminal view components and the screen layout, rendered by rich into text at fixed
sizes: numbers never cut, panels filling the screen exactly, health in every title."""

from __future__ import annotations

import io
import re

import pytest

from exchange_wss.cli import fmt
from exchange_wss.cli.health import HealthTracker
from exchange_wss.cli.state import MarketState
from exchange_wss.models import BookSnapshot, ConnectionState, Ticker, Trade

rich = pytest.importorskip("rich")
from rich.console import Console  # noqa: E402

from exchange_wss.cli import layout, views  # noqa: E402


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def _state(prices=(60046.0, 60047.0), levels=25, symbol="tBTCUSD", demo=False) -> MarketState:
    """A MarketState fed as the callbacks would, on a fake clock."""
    clock = Clock()
    health = HealthTracker(clock=clock)
    if demo:
        from exchange_wss.cli.demo import DemoState
        state = DemoState(health, title="exchange-wss demo", where="the in-process sandbox",
                          channels=["ticker", "book", "trades"], duration=20)
    else:
        state = MarketState(health, title="exchange-wss watch", where="bitfinex sandbox",
                            channels=["ticker", "book", "trades"])
    callbacks = {}
    for channel in ("ticker", "book", "trades"):
        health.add_stream(f"{channel} {symbol}", channel, symbol, "public-")
        callbacks[channel] = state.callback(channel, symbol)
    state.on_event(ConnectionState("connected", "public-0"))
    bid, ask = prices
    step = 10 ** -fmt.decimals_of(bid) if fmt.decimals_of(bid) else 1.0
    for i in range(40):
        clock.now += 0.25
        callbacks["trades"](Trade(symbol, i, 1_700_000_000_000 + i * 250, (-1) ** i * 0.1234,
                                  bid + (i % 3) * step))
        callbacks["ticker"](Ticker(symbol, bid, 1.5, ask, 0.5, -150.0, -0.0244, bid,
                                   2628.97, ask * 1.02, bid * 0.98))
    callbacks["book"](BookSnapshot(symbol, [], []))
    # Rounded as an exchange's decimal text would be: no float noise in the prices.
    state.set_book(symbol, [(round(bid - i * step, 12), 0.5 + i / 7) for i in range(levels)],
                   [(round(ask + i * step, 12), 0.25 + i / 9) for i in range(levels)])
    clock.now += 0.3
    for i in range(30):
        state.note(f"event {i}: order 5000000{i} filled at {fmt.num(bid)} for 0.01")
    return state


def _render(renderable, width: int, height: int) -> list:
    console = Console(width=width, height=height, file=io.StringIO(), record=True,
                      color_system=None, legacy_windows=False)
    console.print(renderable)
    return console.export_text().rstrip("\n").split("\n")


# -- fmt --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("values", "expected"), [
    ([60046.0, 60047.5], ["60046.0", "60047.5"]),
    ([6.5e-07, 6.51e-07], ["0.000000650", "0.000000651"]),
    ([0.1, 0.25], ["0.10", "0.25"]),
    ([None, 3.0], ["-", "3"]),
])
def test_column_keeps_every_decimal_and_lines_up(values, expected):
    """A column shows each value whole, all with the same count of decimals."""
    assert fmt.column(values) == expected


def test_column_rounds_only_past_its_limit():
    """Sizes are rounded to their column's limit; nothing is cut below it."""
    assert fmt.column([0.123456789, 2.0], fmt.MAX_SIZE_DECIMALS) == ["0.1235", "2.0000"]


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "-"), (0.24, "0.2s"), (12.4, "12s"), (185, "3m05s"), (7800, "2h10m")])
def test_age_is_short(seconds, text):
    """Ages read at a glance: tenths under 10 s, then seconds, minutes, hours."""
    assert fmt.age(seconds) == text


def test_sparkline_scales_to_the_range():
    """The lowest value is the lowest block, the highest the highest; gaps are spaces."""
    assert fmt.sparkline([1.0, None, 2.0, 3.0], 4) == "▁ ▅█"
    assert fmt.sparkline([5.0, 5.0], 3) == " ▅▅"


def test_bar_grows_in_half_cells():
    """A depth bar of 0.75 of 4 cells is three cells; bids grow leftwards."""
    assert fmt.bar(0.75, 4) == "███ "
    assert fmt.bar(0.625, 4, grow_left=True) == " ▐██"


def test_spread_and_mid():
    """Spread, its basis points of the mid, and the mid."""
    spread, bps, mid = fmt.spread_and_mid(99.0, 101.0)
    assert (spread, mid) == (2.0, 100.0) and bps == pytest.approx(200.0)


# -- components ------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", range(24, 90, 3))
def test_book_lines_never_cut_a_price(width):
    """At every width the book's lines fit and each price appears whole (bars and sizes give
    way first)."""
    state = _state()
    sym = state.frame().symbols[0]
    lines = [line.plain for line in views.book_lines(sym, width, 12)]
    assert all(len(line) <= width for line in lines)
    for price in fmt.column([p for p, _s in sym.bids[:10]] + [p for p, _s in sym.asks[:10]]):
        assert any(price in line for line in lines), (price, lines)


def test_book_shows_spread_mid_and_levels():
    """The book panel shows the spread in price and basis points, the mid and both sides."""
    state = _state(prices=(100.0, 101.0))
    text = "\n".join(_render(views.book_panel(state.frame(), state.frame().symbols[0], 50, 10),
                             50, 10))
    assert "spread 1 (99.5bp)" in text and "mid 100.5" in text
    assert re.search(r"100 │ 101", text) and re.search(r"99 │ 102", text)


def test_tiny_prices_are_shown_whole():
    """A tiny-price pair (6.5e-7) shows every decimal, not an exponent or a cut."""
    state = _state(prices=(6.5e-07, 6.6e-07))
    text = "\n".join(_render(views.book_panel(state.frame(), state.frame().symbols[0], 50, 8),
                             50, 8))
    assert "0.00000065 │ 0.00000066" in text


def test_every_panel_title_shows_state_and_age():
    """Ticker, book and trades panels carry their stream's state and the age of their data."""
    state = _state()
    frame = state.frame()
    sym = frame.symbols[0]
    for panel in (views.ticker_panel(frame, sym, 80, 4), views.book_panel(frame, sym, 44, 10),
                  views.trades_panel(frame, sym, 36, 10)):
        top = _render(panel, 80, 12)[0]
        assert re.search(r"live age \d+\.\ds \S+/s", top), top


def test_trades_show_their_times_in_utc():
    """Each trade line starts with its exchange time, HH:MM:SS.mmm UTC."""
    state = _state()
    lines = _render(views.trades_panel(state.frame(), state.frame().symbols[0], 40, 6), 40, 6)
    assert re.search(r"│ \d\d:\d\d:\d\d\.\d{3}  600\d\d  [+-]0\.1234", lines[1]), lines


def test_header_leaves_out_whole_parts_when_narrow():
    """A narrow header drops the server's name whole, never cutting it or a ping."""
    import dataclasses

    from exchange_wss.cli.health import ConnectionHealth
    state = _state()
    frame = dataclasses.replace(state.frame(), connections=(
        ConnectionHealth("public-0", "up", state.clock(), None, False, 0.0123),))
    wide = views.header(frame, 120).plain
    narrow = views.header(frame, 50).plain
    assert "bitfinex sandbox" in wide and "ping" in wide
    assert "bitfinex sandbox" not in narrow and "sandb" not in narrow
    assert "public-0 up" in narrow


def test_event_log_wraps_instead_of_cutting():
    """A log entry longer than the panel wraps onto an indented line."""
    state = _state()
    state.note("a long entry " + "with many words " * 8 + "ending in 60046.5")
    lines = _render(views.events_panel(state.frame(), 40, 12), 40, 12)
    assert any("60046.5" in line for line in lines), lines


def test_streams_panel_drops_columns_rather_than_cutting_numbers():
    """When narrow, the streams table leaves out its last columns; those shown are whole."""
    state = _state()
    text = "\n".join(_render(views.streams_panel(state.frame(), 34, 6), 34, 6))
    assert "resyncs" not in text
    assert re.search(r"book tBTCUSD\s+live\s+\d+\.\ds", text), text


# -- the screen ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("width", "height"), [(80, 24), (160, 48), (100, 30), (120, 40), (80, 60)])
@pytest.mark.parametrize("demo", [False, True], ids=["watch", "demo"])
def test_screen_fills_the_terminal_exactly(width, height, demo):
    """The screen is exactly the terminal's height, no line wider than it."""
    state = _state(demo=demo)
    lines = _render(layout.Screen(state.frame, ["tBTCUSD"]), width, height)
    assert len(lines) == height, "\n".join(lines)
    assert all(len(line) <= width for line in lines)


@pytest.mark.parametrize(("width", "height", "levels"), [(80, 24, 10), (160, 48, 25)])
def test_screen_shows_bid_ask_spread_and_levels(width, height, levels):
    """At 80x24 and 160x48 the screen shows bid, ask, spread, mid and the book levels it has
    room for, and no cut number."""
    state = _state()
    text = "\n".join(_render(layout.Screen(state.frame, ["tBTCUSD"]), width, height))
    assert "bid 60046" in text and "ask 60047" in text and "spread 1 (0.2bp)" in text
    assert f"{60046 - levels + 1} │ {60047 + levels - 1}" in text, text
    assert f"{60046 - levels} │ {60047 + levels}" not in text, text
    assert not re.search(r"\d…|…\d", text)


def test_wide_screen_has_per_stream_health_rows():
    """From 120 columns a streams table lists each stream with state, age and rate."""
    state = _state()
    text = "\n".join(_render(layout.Screen(state.frame, ["tBTCUSD"]), 160, 48))
    for stream in ("ticker tBTCUSD", "book tBTCUSD", "trades tBTCUSD"):
        assert re.search(rf"{stream}\s+live\s+\d+\.\ds\s+\S+/s", text), stream
    assert re.search(r"public-0\s+up", text)


def test_screen_before_any_data_shows_waiting_panels():
    """Before the first message every panel is drawn, waiting: no blank start."""
    state = MarketState(HealthTracker(), title="exchange-wss demo", where="sandbox",
                        channels=["ticker", "book", "trades"])
    text = "\n".join(_render(layout.Screen(state.frame, ["tBTCUSD"]), 80, 24))
    assert "waiting for the first ticker" in text
    assert "waiting for the book" in text and "waiting for trades" in text


def test_demo_screen_shows_its_orders_and_fills():
    """The demo's screen has its orders and fills panels, each with an age."""
    from exchange_wss.models import Fill, Order
    state = _state(demo=True)
    state.on_account(Order(42, None, 7, "tBTCUSD", 0, 0, 0.01, 0.01, "EXCHANGE LIMIT",
                           "EXECUTED @ 60047.0(0.01)", 60100.0, 60047.0, 0))
    state.on_account(Fill(9, "tBTCUSD", 1_700_000_000_000, 42, 0.01, 60047.0, fee=-0.00002))
    text = "\n".join(_render(layout.Screen(state.frame, ["tBTCUSD"]), 80, 24))
    assert re.search(r"my orders age \d+\.\ds", text) and re.search(r"my fills UTC age", text)
    assert re.search(r"42\s+\+0\.01\s+60100 EXECUTED", text), text
    assert "+0.01 @ 60047" in text


def test_the_book_shown_is_the_clients_after_each_message():
    """Each book message copies the top of the client's maintained book into the state (on
    the reactor thread, after the client applied it), so the book shown is never older than
    its panel's age says: with the server stalled, the state's copy equals the client's book
    without the main loop ever refreshing it."""
    import time

    from exchange_wss.cli.venues import BitfinexVenue

    state = MarketState(HealthTracker())
    venue = BitfinexVenue(state, sandbox=True)
    venue.start(["book"], ["tBTCUSD"])
    try:
        deadline = time.monotonic() + 20
        while state.counts["book"] < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        venue.sandbox.faults.stall()
        time.sleep(0.5)  # frames already on the wire arrive; none leave the server now
        with state.cond:
            shown = (list(state.symbols["tBTCUSD"].bids), list(state.symbols["tBTCUSD"].asks))
        assert shown == venue.top("tBTCUSD")
        assert state.counts["book"] >= 20
    finally:
        state.stopping = True
        venue.stop()

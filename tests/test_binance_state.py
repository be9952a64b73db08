"""AccountState: the snapshot gate and the kept balances, positions and open orders
(pure, on a Twisted memory clock)."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock

from exchange_wss.binance.state import AccountState
from exchange_wss.models import Fill, Order, Position, Snapshot, Wallet


def order(oid, status="NEW", mts=100, kind="update"):
    return Order(oid, None, f"c{oid}", "BTCUSDT", mts, mts, 1.0, 1.0, "LIMIT", status, 1.0,
                 None, None, kind)


def wallet(cur, balance, kind="update", wtype="spot"):
    return Wallet(wtype, cur, balance, None, balance, kind)


def position(symbol, amount, kind="update"):
    return Position(symbol, "ACTIVE" if amount else "CLOSED", amount, 1.0, kind=kind)


def make(timeout=5.0):
    clock = MemoryReactorClock()
    got, timeouts = [], []
    state = AccountState(got.append, clock, timeout, timeouts.append)
    return state, got, clock, timeouts


def flat(events):
    out = []
    for e in events:
        out.extend(e.items if isinstance(e, Snapshot) else [e])
    return out


def test_live_events_wait_for_the_snapshot_then_follow_it_in_order():
    """Events that arrive while the snapshot loads are delivered after it, in order."""
    state, got, _clock, _ = make()
    state.hold()
    state.live(order(1, "PARTIALLY_FILLED", mts=120))
    state.live(order(2, mts=130))
    assert got == []
    state.snapshot([wallet("USDT", 10.0, "snapshot")], [], [order(1, mts=100, kind="snapshot")])
    assert [(e.kind, getattr(e, "id", None)) for e in flat(got)] == \
        [("snapshot", None), ("snapshot", 1), ("update", 1), ("update", 2)]


def test_without_a_hold_events_pass_at_once():
    """Outside a load, a live event is delivered and applied immediately."""
    state, got, _clock, _ = make()
    state.live(wallet("BTC", 2.0))
    assert got == [wallet("BTC", 2.0)] and state.wallets[("spot", "BTC")].balance == 2.0


def test_snapshot_replaces_the_state_it_covers():
    """A snapshot drops what it does not list (of its wallet types) and keeps other types."""
    state, _got, _clock, _ = make()
    state.live(wallet("ETH", 5.0))
    state.live(wallet("USDT", 1.0, wtype="usdm"))
    state.live(order(7))
    state.live(position("BTCUSDT", 1.0))
    state.hold()
    state.snapshot([wallet("BTC", 1.0, "snapshot")], [], [], wallet_types=["spot"])
    assert set(state.wallets) == {("spot", "BTC"), ("usdm", "USDT")}
    assert state.orders == {} and state.positions == {} and state.loaded


def test_orders_leave_the_open_orders_when_done():
    """A filled or cancelled order is no longer open; a partially filled one still is."""
    state, _got, _clock, _ = make()
    state.live(order(1))
    state.live(order(2))
    state.live(order(1, "PARTIALLY_FILLED", mts=101))
    state.live(order(2, "CANCELED", mts=101))
    assert {k: o.status for k, o in state.orders.items()} == {1: "PARTIALLY_FILLED"}


def test_a_held_update_older_than_the_snapshot_does_not_bring_an_order_back():
    """A held update older than the snapshot's entry for the order is neither applied nor
    delivered (counted as superseded)."""
    state, got, _clock, _ = make()
    state.hold()
    state.live(order(1, "NEW", mts=100))
    state.snapshot([], [], [order(1, "PARTIALLY_FILLED", mts=200, kind="snapshot")])
    assert state.orders[1].status == "PARTIALLY_FILLED"
    assert [e.kind for e in flat(got)] == ["snapshot"] and state.superseded == 1


def test_a_live_update_older_than_the_known_state_is_delivered_but_not_applied():
    """Outside a load, an out-of-date order update is delivered as it came but does not
    move the kept state back."""
    state, got, _clock, _ = make()
    state.live(order(1, "PARTIALLY_FILLED", mts=200))
    state.live(order(1, "NEW", mts=100))
    assert len(got) == 2 and state.orders[1].status == "PARTIALLY_FILLED"


def test_positions_at_zero_are_gone_and_hedge_sides_are_apart():
    """A position update to 0 removes it; LONG and SHORT of one symbol are two positions."""
    state, _got, _clock, _ = make()
    long_ = Position("BTCUSDT", "ACTIVE", 1.0, 1.0, kind="update", raw={"ps": "LONG"})
    short = Position("BTCUSDT", "ACTIVE", -2.0, 1.0, kind="update", raw={"ps": "SHORT"})
    state.live(Snapshot("account", [long_, short]))
    assert len(state.positions) == 2
    state.live(Position("BTCUSDT", "CLOSED", 0.0, None, kind="update", raw={"ps": "LONG"}))
    assert list(state.positions.values()) == [short]


def test_fills_and_deltas_are_delivered_and_keep_no_state():
    """Fills and other events pass through without touching the state."""
    state, got, _clock, _ = make()
    fill = Fill(1, "BTCUSDT", 1, 2, 0.1, 1.0, kind="trade")
    state.live(fill)
    assert got == [fill] and not state.orders and not state.wallets


def test_a_hold_that_runs_out_releases_and_reports():
    """No snapshot within the deadline: the held events are delivered and the timeout reported."""
    state, got, clock, timeouts = make(timeout=5.0)
    state.hold()
    state.live(order(1))
    clock.advance(4.9)
    assert got == [] and timeouts == []
    clock.advance(0.2)
    assert [e.id for e in got] == [1] and timeouts == [5.0] and not state.holding


def test_release_cancels_the_deadline():
    """A release (connection lost) delivers what was held and the deadline no longer fires."""
    state, got, clock, timeouts = make(timeout=5.0)
    state.hold()
    state.live(order(1))
    state.release()
    clock.advance(10)
    assert [e.id for e in got] == [1] and timeouts == [] and not clock.getDelayedCalls()


def test_a_held_update_the_snapshot_already_tells_is_counted_not_delivered_again():
    """An order's held NEW whose time the snapshot's entry has is not delivered twice; a
    later update of it, and its fills, are."""
    state, got, _clock, _ = make()
    state.hold()
    fill = Fill(9, "BTCUSDT", 150, 1, 0.1, 1.0, kind="trade")
    state.live(order(1, "NEW", mts=100))
    state.live(fill)
    state.live(order(1, "PARTIALLY_FILLED", mts=150))
    state.snapshot([], [], [order(1, "NEW", mts=100, kind="snapshot")])
    assert [(e.__class__.__name__, e.kind) for e in flat(got)] == \
        [("Order", "snapshot"), ("Fill", "trade"), ("Order", "update")]
    assert state.superseded == 1 and state.orders[1].status == "PARTIALLY_FILLED"


def test_an_update_the_snapshot_told_that_comes_after_it_is_counted_not_delivered():
    """Futures load the snapshot over REST: an update it already included may still be on
    the stream when it is delivered, and is then told once, not twice."""
    state, got, _clock, _ = make()
    state.hold()
    state.snapshot([], [], [order(1, mts=100, kind="snapshot")])
    state.live(order(1, mts=100))
    assert [e.kind for e in flat(got)] == ["snapshot"] and state.superseded == 1


def test_a_newer_update_after_the_snapshot_is_delivered_and_ends_its_entry():
    """An update newer than the snapshot's is delivered, and so is everything after it."""
    state, got, _clock, _ = make()
    state.hold()
    state.snapshot([], [], [order(1, mts=100, kind="snapshot")])
    state.live(order(1, "PARTIALLY_FILLED", mts=101))
    state.live(order(1, "PARTIALLY_FILLED", mts=101))
    assert [e.kind for e in flat(got)] == ["snapshot", "update", "update"]
    assert state.superseded == 0

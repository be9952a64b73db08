"""The view layer's per-stream health (exchange_wss.cli.health) on a fake clock: first
data, stale, recovered, resyncing, failed, connections down, rates and ping latency."""

from __future__ import annotations

import pytest

from exchange_wss.cli.health import HealthTracker
from exchange_wss.errors import ChecksumMismatch, SequenceGap, SubscriptionError
from exchange_wss.models import ConnectionState


class Clock:
    """A settable clock for the tracker."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock) -> HealthTracker:
    tracker = HealthTracker(stale_after=5.0, window=10.0, clock=clock)
    tracker.add_stream("book tBTCUSD", "book", "tBTCUSD", "public-", ["book:tBTCUSD:P0"])
    tracker.add_stream("ticker tBTCUSD", "ticker", "tBTCUSD", "public-", ["ticker:tBTCUSD"])
    tracker.on_event(ConnectionState("connected", "public-0"))
    return tracker


def test_a_new_stream_is_pending_until_its_first_message(tracker, clock):
    """A registered stream is pending; its first message makes it live, and says after how long."""
    assert tracker.stream("book tBTCUSD").state == "pending"
    clock.advance(0.25)
    change = tracker.message("book tBTCUSD", snapshot=True)
    assert (change.old, change.new, change.text) == ("pending", "live", "first data after 250ms")
    assert tracker.stream("book tBTCUSD").state == "live"


def test_a_live_stream_goes_stale_after_silence_while_connected(tracker, clock):
    """No message for stale_after seconds, connection up: poll() reports it stale."""
    tracker.message("ticker tBTCUSD")
    clock.advance(4.9)
    assert tracker.poll() == []
    clock.advance(0.2)
    [change] = tracker.poll()
    assert (change.stream, change.new) == ("ticker tBTCUSD", "stale")
    assert tracker.stream("ticker tBTCUSD").state == "stale"


def test_a_stream_registered_as_quiet_never_goes_stale(tracker, clock):
    """An account stream (can_go_stale=False) stays live however long it is silent."""
    tracker.add_stream("auth", "auth", None, "auth", can_go_stale=False)
    tracker.message("auth")
    clock.advance(3600)
    assert tracker.poll() == []
    assert tracker.stream("auth").state == "live"


def test_a_stale_stream_recovers_on_its_next_message(tracker, clock):
    """The next message after a stale spell makes it live again, with the length of the silence."""
    tracker.message("ticker tBTCUSD")
    clock.advance(7.0)
    tracker.poll()
    change = tracker.message("ticker tBTCUSD")
    assert (change.old, change.new) == ("stale", "live")
    assert change.text == "recovered after 7.0s of silence"


def test_silence_while_disconnected_is_pending_not_stale(tracker, clock):
    """When its connection drops the stream is pending (waiting to resubscribe), and never
    reported stale while the connection is down."""
    tracker.message("ticker tBTCUSD")
    changes = tracker.on_event(ConnectionState("disconnected", "public-0", "connection lost"))
    assert {(c.stream, c.new) for c in changes} == {("ticker tBTCUSD", "pending")}
    clock.advance(60)
    assert tracker.poll() == []
    assert tracker.connections()[0].state == "down"
    assert tracker.connections()[0].reason == "connection lost"


def test_a_checksum_mismatch_resyncs_the_book_until_a_snapshot(tracker, clock):
    """A checksum mismatch naming the book makes it resyncing; updates keep it so, the new
    snapshot makes it live again and counts a resync."""
    tracker.message("book tBTCUSD", snapshot=True)
    [change] = tracker.on_error(ChecksumMismatch("book:tBTCUSD:P0: checksum 1 != server 2"))
    assert change.new == "resyncing"
    assert tracker.message("book tBTCUSD") is None
    assert tracker.stream("book tBTCUSD").state == "resyncing"
    change = tracker.message("book tBTCUSD", snapshot=True)
    assert (change.new, change.text) == ("live", "resynced")
    assert tracker.stream("book tBTCUSD").resyncs == 1


def test_a_gap_naming_another_stream_changes_nothing_here(tracker):
    """An error that names no registered stream leaves every stream as it was."""
    tracker.message("book tBTCUSD", snapshot=True)
    assert tracker.on_error(SequenceGap("ETHUSDT book: gap; resyncing")) == []
    assert tracker.stream("book tBTCUSD").state == "live"


def test_a_refused_subscription_fails_the_stream(tracker):
    """A SubscriptionError naming the stream makes it failed, with the exchange's reason."""
    [change] = tracker.on_error(SubscriptionError(10300, "ticker:tBTCUSD: symbol: invalid"))
    assert change.new == "failed"
    health = tracker.stream("ticker tBTCUSD")
    assert health.state == "failed" and "symbol: invalid" in health.reason


def test_a_refusal_inside_a_response_event_fails_the_stream(clock):
    """Binance answers a bad subscribe in a Response on on_event; its error fails the stream."""
    from exchange_wss.errors import ExchangeError

    class Response:  # the shape of exchange_wss.binance.protocol.Response
        def __init__(self, error):
            self.error = error

    tracker = HealthTracker(clock=clock)
    tracker.add_stream("ticker NOPEUSDT", "ticker", "NOPEUSDT", "market-", ["nopeusdt@ticker"])
    tracker.on_event(Response(ExchangeError(2, "invalid stream name `nopeusdt@ticker`")))
    assert tracker.stream("ticker NOPEUSDT").state == "failed"


def test_a_connection_that_gives_up_fails_its_streams(tracker):
    """gave_up on the connection marks its streams failed."""
    tracker.message("ticker tBTCUSD")
    tracker.on_event(ConnectionState("gave_up", "public-0", "10 attempts"))
    assert tracker.stream("ticker tBTCUSD").state == "failed"
    assert tracker.connections()[0].state == "gave up"


def test_streams_of_another_connection_are_untouched(clock):
    """A drop of the auth connection leaves the public streams live."""
    tracker = HealthTracker(clock=clock)
    tracker.add_stream("ticker tBTCUSD", "ticker", "tBTCUSD", "public-")
    tracker.add_stream("auth", "auth", None, "auth")
    tracker.message("ticker tBTCUSD")
    tracker.message("auth")
    tracker.on_event(ConnectionState("disconnected", "auth"))
    assert tracker.stream("ticker tBTCUSD").state == "live"
    assert tracker.stream("auth").state == "pending"


def test_rate_counts_messages_of_the_last_window(tracker, clock):
    """The rate is the messages of the last `window` seconds over that window."""
    for _ in range(30):
        tracker.message("book tBTCUSD")
        clock.advance(0.5)           # 2 messages a second for 15 s
    assert tracker.stream("book tBTCUSD").rate == pytest.approx(2.0, abs=0.2)
    clock.advance(20)
    assert tracker.stream("book tBTCUSD").rate == 0


def test_age_is_the_time_since_the_last_message(tracker, clock):
    """A stream's age is the time since its last message; None before the first."""
    assert tracker.stream("book tBTCUSD").age(clock.now) is None
    tracker.message("book tBTCUSD")
    clock.advance(3.5)
    assert tracker.stream("book tBTCUSD").age(clock.now) == pytest.approx(3.5)


def test_ping_latency_is_measured_per_connection(tracker, clock):
    """A pong for a ping sent 40 ms earlier sets that connection's latency to 40 ms."""

    class Pong:  # the shape of exchange_wss.bitfinex.protocol.Pong
        def __init__(self, cid):
            self.cid = cid

    tracker.ping_sent("public-0", 77)
    clock.advance(0.040)
    tracker.on_event(Pong(77))
    assert tracker.connections()[0].latency == pytest.approx(0.040)


def test_authenticated_is_kept_until_the_connection_drops(tracker):
    """authenticated marks the connection; a drop clears it."""
    tracker.on_event(ConnectionState("connected", "auth"))
    tracker.on_event(ConnectionState("authenticated", "auth"))
    auth = next(c for c in tracker.connections() if c.name == "auth")
    assert auth.authenticated and auth.state == "up"
    tracker.on_event(ConnectionState("disconnected", "auth"))
    auth = next(c for c in tracker.connections() if c.name == "auth")
    assert not auth.authenticated and auth.state == "down"


def test_a_stalled_sandbox_shows_stale_then_recovered():
    """End to end on the Bitfinex sandbox: a stall longer than stale_after makes the live
    ticker stale (connection still up), and the held frames after resume recover it."""
    import time

    from exchange_wss.cli.state import MarketState
    from exchange_wss.cli.venues import BitfinexVenue

    state = MarketState(HealthTracker(stale_after=0.6))
    venue = BitfinexVenue(state, sandbox=True)
    seen = []
    state.listeners.append(lambda r: seen.append(r.data) if r.kind == "health" else None)

    def wait_for(state_name: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state.poll_health()
            if state.health.stream("ticker tBTCUSD").state == state_name:
                return
            time.sleep(0.05)
        raise AssertionError(f"ticker never {state_name}: {seen}")

    venue.start(["ticker"], ["tBTCUSD"])
    try:
        wait_for("live")
        venue.sandbox.faults.stall()
        wait_for("stale")
        assert state.health.connections()[0].state == "up"
        venue.sandbox.faults.resume()
        wait_for("live")
    finally:
        state.stopping = True  # as the commands do: our own stop is not news
        venue.stop()
    assert [d["state"] for d in seen] == ["live", "stale", "live"]
    assert seen[-1]["text"].startswith("recovered after ")

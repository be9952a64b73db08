"""The views' health adapter (exchange_wss.cli.health): streams bound to a client's handles
show the client's own report, on a fake clock; streams it has no handle for (the demo's
account events) are counted from their callbacks; and end to end, a stalled sandbox shows
stale then recovered."""

from __future__ import annotations

import pytest
from _wire import TICKER, Harness, server_frame

from exchange_wss.cli.health import HealthTracker
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
    tracker.add_stream("auth", "auth", None, "auth", can_go_stale=False)
    tracker.add_stream("ticker tBTCUSD", "ticker", "tBTCUSD", "public-")
    tracker.on_event(ConnectionState("connected", "public-0"))
    tracker.on_event(ConnectionState("connected", "auth"))
    return tracker


# -- bound to a client's handle ------------------------------------------------------------------

def bound(stale_after: float = 5.0):
    """A tracker attached to a fake-clock client, its ticker bound; the harness, peer, tracker."""
    h = Harness(stale_after=stale_after)
    tracker = HealthTracker(stale_after=stale_after)
    tracker.attach(h.client)
    tracker.add_stream("ticker tBTCUSD", "ticker", "tBTCUSD", "public-")
    tracker.bind("ticker tBTCUSD", h.client.subscribe_to_ticker("tBTCUSD", lambda e: None))
    h.client.on_event = lambda e: h.events.extend([e] + [("change", c)
                                                        for c in tracker.on_event(e)])
    h.start()
    peer = h.open()
    peer.answer_subscribes(5)
    return h, peer, tracker


def test_a_bound_stream_shows_the_clients_state_and_figures():
    """A bound stream's state, messages, resyncs and connection are the client's."""
    h, peer, tracker = bound()
    assert tracker.stream("ticker tBTCUSD").state == "pending"
    for _ in range(3):
        peer.send([5, TICKER])
    h.advance(1.0)
    stream = tracker.stream("ticker tBTCUSD")
    record = h.client.health()["streams"][0]
    assert (stream.state, stream.messages, stream.connection) == ("live", 3, "public-0")
    assert (stream.messages, stream.resyncs, stream.reason) == (
        record["messages"], record["resyncs"], record["reason"])


def test_the_clients_signals_become_the_views_changes():
    """The client's first_data and stale signals reach the views as changes of the stream,
    under the view's name, with the client's words."""
    h, peer, _tracker = bound(stale_after=5.0)
    peer.send([5, TICKER])
    h.advance(7.0)
    changes = [c for kind, c in (e for e in h.events if isinstance(e, tuple))]
    assert [(c.stream, c.old, c.new) for c in changes] == [
        ("ticker tBTCUSD", "pending", "live"), ("ticker tBTCUSD", "live", "stale")]
    assert changes[1].text == "no data for 5s while public-0 is open"


def test_a_bound_streams_age_is_on_the_trackers_clock():
    """The client's last-message time is moved onto the tracker's monotonic clock: a fresh
    stream's age is under a second."""
    h, peer, tracker = bound()
    peer.send([5, TICKER])
    h.advance(1.0)
    stream = tracker.stream("ticker tBTCUSD")
    assert stream.last_message is not None
    assert 0 <= stream.age(tracker.now()) < 1.0


def test_connections_are_the_clients():
    """Once attached, the connections are the client's: up, its ping round trip, and
    down with the reason once lost; messages a callback counts change nothing of a
    bound stream."""
    h, peer, tracker = bound()
    peer.proto.sendPing(b"0123456789ab")
    [ping] = peer.written(opcode=9)
    h.clock.advance(0.02)
    peer.proto.dataReceived(server_frame(10, ping))
    h.advance(1.0)  # connections are published with each sample
    [conn] = tracker.connections()
    assert (conn.name, conn.state, conn.latency) == ("public-0", "up", pytest.approx(0.02))
    assert tracker.message("ticker tBTCUSD") is None
    peer.drop()
    h.advance(1.0)
    [conn] = tracker.connections()
    assert conn.state == "down" and conn.reason


def test_a_connection_not_opened_yet_shows_as_connecting():
    """Before its first open a connection shows as connecting, not down."""
    h = Harness()
    tracker = HealthTracker()
    tracker.attach(h.client)
    h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.start()
    [conn] = tracker.connections()
    assert conn.state == "connecting"


def test_a_paused_platform_shows_on_its_connection():
    """Bitfinex's maintenance (paused) overlays the client's open connection until resumed."""
    _h, _peer, tracker = bound()
    tracker.on_event(ConnectionState("paused", "public-0", "maintenance (20060)"))
    assert tracker.connections()[0].state == "paused"
    tracker.on_event(ConnectionState("resumed", "public-0"))
    assert tracker.connections()[0].state == "up"


def test_a_refusal_being_retried_is_the_streams_error():
    """A subscribe the exchange refused, while the client retries it, is pending with the
    refusal as its error."""
    h = Harness()
    tracker = HealthTracker()
    tracker.attach(h.client)
    tracker.add_stream("ticker tBTCUSD", "ticker", "tBTCUSD", "public-")
    tracker.bind("ticker tBTCUSD", h.client.subscribe_to_ticker("tBTCUSD", lambda e: None))
    h.start()
    h.open().answer_subscribes(refuse=True)
    h.advance(0.5)
    stream = tracker.stream("ticker tBTCUSD")
    assert stream.state == "pending" and "subscribe: failed" in stream.error


# -- counted from callbacks (no handle) ---------------------------------------------------------

def test_an_unbound_stream_is_pending_until_its_first_message(tracker, clock):
    """An unbound stream is pending; its first message makes it live, and says after how long."""
    assert tracker.stream("auth").state == "pending"
    clock.advance(0.25)
    change = tracker.message("auth")
    assert (change.old, change.new, change.text) == ("pending", "live", "first data after 250ms")


def test_an_unbound_stream_registered_as_quiet_never_goes_stale(tracker, clock):
    """An account stream (can_go_stale=False) stays live however long it is silent."""
    tracker.message("auth")
    clock.advance(3600)
    assert tracker.poll() == []
    assert tracker.stream("auth").state == "live"


def test_an_unbound_stream_goes_stale_and_recovers(tracker, clock):
    """An unbound stream that may go stale does after stale_after of silence, connection up,
    and its next message recovers it, saying how long it was silent."""
    tracker.message("ticker tBTCUSD")
    clock.advance(4.9)
    assert tracker.poll() == []
    clock.advance(2.1)
    [change] = tracker.poll()
    assert (change.stream, change.new) == ("ticker tBTCUSD", "stale")
    change = tracker.message("ticker tBTCUSD")
    assert (change.old, change.new) == ("stale", "live")
    assert change.text == "recovered after 7.0s of silence"


def test_an_unbound_stream_is_pending_while_its_connection_is_down(tracker, clock):
    """When its connection drops, an unbound stream is pending, never stale, until data again."""
    tracker.message("auth")
    changes = tracker.on_event(ConnectionState("disconnected", "auth", "connection lost"))
    assert [(c.stream, c.new) for c in changes] == [("auth", "pending")]
    assert tracker.stream("ticker tBTCUSD").state == "pending"  # no data yet, untouched
    auth = next(c for c in tracker.connections() if c.name == "auth")
    assert (auth.state, auth.reason) == ("down", "connection lost")


def test_an_unbound_streams_rate_counts_the_last_window(tracker, clock):
    """The rate is the messages of the last `window` seconds over that window."""
    for _ in range(30):
        tracker.message("ticker tBTCUSD")
        clock.advance(0.5)           # 2 messages a second for 15 s
    assert tracker.stream("ticker tBTCUSD").rate == pytest.approx(2.0, abs=0.2)
    clock.advance(20)
    assert tracker.stream("ticker tBTCUSD").rate == 0


def test_without_a_client_connections_follow_the_events(tracker):
    """Unattached, connections are those named on on_event; authenticated until a drop."""
    tracker.on_event(ConnectionState("authenticated", "auth"))
    auth = next(c for c in tracker.connections() if c.name == "auth")
    assert auth.authenticated and auth.state == "up"
    tracker.on_event(ConnectionState("disconnected", "auth"))
    auth = next(c for c in tracker.connections() if c.name == "auth")
    assert not auth.authenticated and auth.state == "down"


# -- end to end ---------------------------------------------------------------------------------

def test_a_stalled_sandbox_shows_stale_then_recovered():
    """End to end on the Bitfinex sandbox: a stall longer than stale_after makes the live
    ticker stale (connection still up), and the held frames after resume recover it."""
    import time

    from exchange_wss.cli.state import MarketState
    from exchange_wss.cli.venues import BitfinexVenue

    state = MarketState(HealthTracker(stale_after=1.0))
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
    assert seen[-1]["text"].startswith("recovered: data again after ")

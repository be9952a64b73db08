"""Client-side rate limits: sliding-window pacing that queues and never drops."""

from __future__ import annotations

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock

from exchange_wss.pacing import PacedEndpoint, Pacer, shared_pacer


def test_calls_within_the_limit_run_at_once():
    """Up to `limit` calls in a window run immediately."""
    clock = MemoryReactorClock()
    ran = []
    pacer = Pacer(3, 1.0, clock)
    for i in range(3):
        pacer.call(ran.append, i)
    assert ran == [0, 1, 2] and len(pacer) == 0


def test_excess_calls_wait_for_the_window_in_order():
    """The 9th calc in a second waits until the first one is a second old, order kept."""
    clock = MemoryReactorClock()
    ran = []
    pacer = Pacer(8, 1.0, clock)
    for i in range(20):
        pacer.call(lambda i=i: ran.append((clock.seconds(), i)))
    assert len(ran) == 8
    clock.advance(0.999)
    assert len(ran) == 8
    clock.advance(0.001)
    assert len(ran) == 16
    clock.advance(1.0)
    assert [i for _t, i in ran] == list(range(20))


def test_no_window_ever_holds_more_than_the_limit():
    """Over a long burst, any `period`-long window contains at most `limit` starts."""
    clock = MemoryReactorClock()
    times = []
    pacer = Pacer(5, 15.0, clock)
    for _ in range(23):
        pacer.call(lambda: times.append(clock.seconds()))
    clock.pump([1.0] * 80)
    assert len(times) == 23
    for i, t in enumerate(times):
        assert len([u for u in times[i:] if u < t + 15.0]) <= 5


def test_clear_forgets_waiting_calls():
    """clear() drops what waits; nothing runs later."""
    clock = MemoryReactorClock()
    ran = []
    pacer = Pacer(1, 1.0, clock)
    pacer.call(ran.append, 1)
    pacer.call(ran.append, 2)
    pacer.clear()
    clock.advance(5)
    assert ran == [1]


def test_paced_endpoint_delays_connects():
    """A paced endpoint's second connect in the window waits for the pacer."""
    clock = MemoryReactorClock()
    connects = []

    class Endpoint:
        def connect(self, factory):
            connects.append(clock.seconds())
            return defer.succeed("proto")

    endpoint = PacedEndpoint(Endpoint(), Pacer(1, 10.0, clock))
    first, second = endpoint.connect(None), endpoint.connect(None)
    assert connects == [0.0] and first.called and not second.called
    clock.advance(10.0)
    assert connects == [0.0, 10.0] and second.called


def test_shared_pacer_is_one_per_name_and_clock():
    """Clients of one process share the pacer of a host."""
    clock = MemoryReactorClock()
    assert shared_pacer("h", 5, 15.0, clock) is shared_pacer("h", 5, 15.0, clock)
    assert shared_pacer("h", 5, 15.0, clock) is not shared_pacer("other", 5, 15.0, clock)

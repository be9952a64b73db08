"""The request lifecycle (exchange_wss._requests) on a fake clock: every transition."""

from __future__ import annotations

import threading

import pytest
from twisted.internet.task import Clock

from exchange_wss._requests import IN_DOUBT, QUEUED, SETTLED, WRITTEN, Request, RequestRegistry
from exchange_wss.errors import ClientStopped, LocalProtocolError, OrderStateUnknown, RequestNotSent


def make(timeout: float = 10.0):
    clock = Clock()
    settled = []
    registry = RequestRegistry(clock, timeout, on_settled=lambda r, e: settled.append((r, e)))
    return clock, registry, settled


def add(registry: RequestRegistry, key="c1", **kw) -> Request:
    request = registry.add(Request(key, {"frame": key}, **kw))
    registry.arm(request)
    return request


def test_a_new_request_is_queued_with_its_deadline():
    """add() registers the request as queued, its deadline timeout seconds ahead."""
    clock, registry, _ = make(5)
    clock.advance(100)
    request = add(registry)
    assert request.state == QUEUED and request.future.state == QUEUED
    assert request.deadline == 105
    assert registry.queued() == [request]


def test_a_pending_key_is_refused_at_the_call():
    """A second request with a key still pending raises LocalProtocolError; the first is kept."""
    _, registry, _ = make()
    first = add(registry, "dup")
    with pytest.raises(LocalProtocolError, match="already pending"):
        registry.add(Request("dup", {}))
    assert registry.get("dup") is first


def test_a_settled_key_may_be_used_again():
    """Once settled, a key is free for a new request."""
    _, registry, _ = make()
    first = add(registry, "k")
    registry.claim(first)
    registry.written(first, "conn")
    registry.resolve("k", "ok")
    second = add(registry, "k")
    assert registry.get("k") is second


def test_written_then_answered_resolves_the_future():
    """claim, written, resolve: the future has the result and the request is gone."""
    _, registry, settled = make()
    request = add(registry)
    assert registry.claim(request)
    registry.written(request, "conn")
    assert request.state == WRITTEN
    assert registry.resolve("c1", {"id": 1})
    assert request.future.result(0) == {"id": 1}
    assert request.state == SETTLED and "c1" not in registry
    assert settled == [(request, None)]


def test_a_rejection_fails_the_future_with_the_exchange_error():
    """reject() settles with the error given."""
    _, registry, _ = make()
    request = add(registry)
    registry.claim(request)
    registry.written(request, "conn")
    error = ValueError("refused")
    registry.reject("c1", error)
    assert request.future.exception(0) is error


def test_an_answer_to_a_queued_request_is_ignored():
    """A request never written cannot be answered: resolve() returns False and changes nothing."""
    _, registry, _ = make()
    request = add(registry)
    assert not registry.resolve("c1", "x")
    assert request.state == QUEUED


def test_not_written_fails_as_not_sent():
    """A claimed request the transport refused fails with RequestNotSent, saying retry is safe."""
    _, registry, _ = make()
    request = add(registry)
    registry.claim(request)
    registry.not_written(request, "the connection is closing")
    error = request.future.exception(0)
    assert isinstance(error, RequestNotSent) and not isinstance(error, ClientStopped)
    assert "retrying is safe" in str(error)


def test_a_cancelled_future_withdraws_a_queued_request():
    """Cancelling the future of a queued request: claim() refuses it and it is forgotten."""
    _, registry, settled = make()
    request = add(registry)
    assert request.future.cancel()
    assert not registry.claim(request)
    assert "c1" not in registry and settled == []


def test_a_written_future_cannot_be_cancelled():
    """Once written the future is running, so cancel() fails."""
    _, registry, _ = make()
    request = add(registry)
    registry.claim(request)
    registry.written(request, "conn")
    assert not request.future.cancel()


def test_the_deadline_of_a_queued_request_fails_it_as_not_sent():
    """A request still queued at its deadline fails with RequestNotSent."""
    clock, registry, _ = make(5)
    request = add(registry)
    clock.advance(4.9)
    assert not request.future.done()
    clock.advance(0.2)
    assert isinstance(request.future.exception(0), RequestNotSent)
    assert registry.queued() == []


def test_the_deadline_of_a_written_request_makes_it_unknown_with_its_key():
    """A written request unanswered at its deadline fails with OrderStateUnknown carrying the
    key."""
    clock, registry, _ = make(5)
    request = add(registry, "cid-7")
    registry.claim(request)
    registry.written(request, "conn")
    clock.advance(5)
    error = request.future.exception(0)
    assert isinstance(error, OrderStateUnknown) and not isinstance(error, RequestNotSent)
    assert error.key == "cid-7" and error.cid == "cid-7"


def test_an_answer_cancels_the_deadline():
    """After settlement the deadline timer is gone: nothing fires later."""
    clock, registry, settled = make(5)
    request = add(registry)
    registry.claim(request)
    registry.written(request, "conn")
    registry.resolve("c1", 1)
    assert clock.getDelayedCalls() == []
    clock.advance(10)
    assert settled == [(request, None)]


def test_a_lost_connection_puts_its_written_requests_in_doubt():
    """connection_lost() moves the requests written on that connection (only) to in doubt."""
    _, registry, _ = make()
    a, b, c = add(registry, "a"), add(registry, "b"), add(registry, "c")
    for request, conn in ((a, "old"), (b, "new")):
        registry.claim(request)
        registry.written(request, conn)
    lost = registry.connection_lost("old")
    assert lost == [a] and a.state == IN_DOUBT and a.future.state == IN_DOUBT
    assert b.state == WRITTEN and c.state == QUEUED


def test_an_in_doubt_request_can_still_be_settled_by_the_exchange():
    """resolve() works on an in-doubt request (the order snapshot found it)."""
    _, registry, _ = make()
    request = add(registry)
    registry.claim(request)
    registry.written(request, "conn")
    registry.connection_lost("conn")
    assert registry.resolve("c1", "found")
    assert request.future.result(0) == "found"


def test_unknown_settles_an_in_doubt_request_as_order_state_unknown():
    """unknown() fails with OrderStateUnknown and the reason given."""
    _, registry, _ = make()
    request = add(registry)
    registry.claim(request)
    registry.written(request, "conn")
    registry.connection_lost("conn")
    registry.unknown(request, "not among the open orders")
    error = request.future.exception(0)
    assert isinstance(error, OrderStateUnknown) and "not among the open orders" in str(error)


def test_stop_settles_each_state_truthfully():
    """stop(): queued -> ClientStopped, written and in doubt -> OrderStateUnknown; none pending."""
    _, registry, _ = make()
    queued, written, doubt = add(registry, "q"), add(registry, "w"), add(registry, "d")
    for request in (written, doubt):
        registry.claim(request)
        registry.written(request, "conn")
    registry.connection_lost("conn")
    registry.claim(written)  # no effect: already written
    registry.stop()
    assert isinstance(queued.future.exception(0), ClientStopped)
    assert isinstance(written.future.exception(0), OrderStateUnknown)
    assert isinstance(doubt.future.exception(0), OrderStateUnknown)
    assert len(registry) == 0


def test_fail_queued_leaves_written_requests_alone():
    """fail_queued() settles only what was never written."""
    _, registry, _ = make()
    queued, written = add(registry, "q"), add(registry, "w")
    registry.claim(written)
    registry.written(written, "conn")
    registry.fail_queued("authentication was refused")
    assert isinstance(queued.future.exception(0), RequestNotSent)
    assert not written.future.done()


def test_report_flag_reaches_the_settled_hook():
    """The on_settled hook gets each settled request with its error, so reports can be made."""
    clock, registry, settled = make(1)
    request = add(registry, report=True)
    clock.advance(1)
    (got, error), = settled
    assert got is request and got.report and isinstance(error, RequestNotSent)


def test_counts_by_state():
    """counts() says how many requests wait in each state."""
    _, registry, _ = make()
    add(registry, "q")
    w = add(registry, "w")
    registry.claim(w)
    registry.written(w, "c")
    assert registry.counts() == {QUEUED: 1, WRITTEN: 1, IN_DOUBT: 0}


def test_add_from_many_threads_refuses_every_duplicate():
    """Concurrent add() of the same keys: each key is registered exactly once."""
    _, registry, _ = make()
    refused = []

    def worker() -> None:
        for i in range(200):
            try:
                registry.add(Request(i, {}))
            except LocalProtocolError:
                refused.append(i)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(registry) == 200 and len(refused) == 600


def test_a_timeout_must_be_positive():
    """A zero or negative request timeout is refused."""
    with pytest.raises(LocalProtocolError):
        RequestRegistry(Clock(), 0)

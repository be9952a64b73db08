"""Callbacks on a worker thread: order, bounded queue, overflow policy, isolation."""

from __future__ import annotations

import threading

from _support import Recorder

from exchange_wss._dispatch import CallbackWorker


def blocked_worker(maxsize):
    """A worker whose first callback holds it until `release` is set."""
    errors, overflows, got = Recorder(), Recorder(), Recorder()
    worker = CallbackWorker(maxsize, lambda where, exc: errors((where, exc)), overflows)
    started, release = threading.Event(), threading.Event()

    def hold(_event):
        started.set()
        release.wait(10)

    worker.submit(hold, None, "hold", droppable=False)
    started.wait(10)
    return worker, release, got, errors, overflows


def test_callbacks_run_in_order_off_the_calling_thread():
    """Events are delivered in submission order on the worker thread."""
    worker, release, got, _errors, _ = blocked_worker(100)
    for i in range(50):
        worker.submit(lambda e: got((e, threading.current_thread().name)), i, "t")
    release.set()
    got.wait_count(lambda e: True, 50)
    assert [e for e, _ in got.items] == list(range(50))
    assert {name for _, name in got.items} == {"exchange_wss-callbacks"}
    worker.stop()


def test_overflow_drops_the_oldest_market_data_and_reports_once():
    """Past maxsize the oldest droppable events go; one overflow report per episode."""
    worker, release, got, _errors, overflows = blocked_worker(10)
    for i in range(25):
        worker.submit(got, i, "ticker")
    assert worker.dropped == 15
    assert len(overflows.items) == 1
    release.set()
    got.wait_count(lambda e: True, 10)
    worker.stop()
    assert got.items == list(range(15, 25))


def test_account_events_are_never_dropped():
    """Non-droppable events survive an overflow of market data around them."""
    worker, release, got, _errors, _ = blocked_worker(5)
    worker.submit(got, "order-1", "auth", droppable=False)
    for i in range(20):
        worker.submit(got, i, "ticker")
    worker.submit(got, "order-2", "auth", droppable=False)
    release.set()
    worker.stop()
    assert [e for e in got.items if isinstance(e, str)] == ["order-1", "order-2"]
    assert [e for e in got.items if isinstance(e, int)] == list(range(15, 20))


def test_a_raising_callback_is_reported_and_the_worker_goes_on():
    """An exception is passed to on_error and later callbacks still run."""
    worker, release, got, errors, _ = blocked_worker(10)

    def boom(_event):
        raise RuntimeError("boom")

    worker.submit(boom, 1, "bad")
    worker.submit(got, 2, "good")
    release.set()
    got.wait_for(lambda e: e == 2)
    where, exc = errors.wait_for(lambda e: True)
    assert where == "bad" and isinstance(exc, RuntimeError)
    worker.stop()

"""Rate limits kept by the client: queue, never drop.

A :class:`Pacer` lets at most ``limit`` actions start in any ``period`` seconds
(a sliding window, the way exchanges count) and queues the rest in order. It is
used for Bitfinex ``calc`` (8 per second), connection opens per host (Bitfinex
api 5 per 15 s, api-pub 20 per minute) and Binance control messages. Time
comes from an injected clock, so tests advance a ``MemoryReactorClock``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

__all__ = ["Pacer", "PacedEndpoint", "shared_pacer"]


class Pacer:
    """At most ``limit`` calls per ``period`` seconds; the rest wait their turn in order.

    Args:
        limit: actions allowed in any window of ``period`` seconds.
        period: the window, in seconds.
        clock: an ``IReactorTime`` (``seconds()``, ``callLater()``).
    """

    def __init__(self, limit: int, period: float, clock: Any) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("need limit >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self.clock = clock
        self._starts: deque[float] = deque()
        self._queue: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._timer = None

    def __len__(self) -> int:
        """Number of calls waiting."""
        return len(self._queue)

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` now if the window allows, else as soon as it does."""
        self._queue.append((fn, args))
        self._drain()

    def clear(self) -> None:
        """Forget the waiting calls (e.g. when their client stops)."""
        self._queue.clear()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _drain(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        starts = self._starts
        while starts and now - starts[0] >= self.period:
            starts.popleft()
        while self._queue and len(starts) < self.limit:
            fn, args = self._queue.popleft()
            starts.append(now)
            fn(*args)
        if self._queue and self._timer is None:
            wait = max(0.0, starts[0] + self.period - now)
            self._timer = self.clock.callLater(wait, self._drain)


class PacedEndpoint:
    """An ``IStreamClientEndpoint`` whose connects wait for a :class:`Pacer`."""

    def __init__(self, endpoint: Any, pacer: Pacer) -> None:
        self.endpoint = endpoint
        self.pacer = pacer

    def connect(self, factory: Any) -> defer.Deferred:
        """Open a connection when the pacer allows it; a Deferred of the protocol."""
        result: defer.Deferred = defer.Deferred()

        def go() -> None:
            if result.called:  # cancelled while waiting
                return
            self.endpoint.connect(factory).chainDeferred(result)

        self.pacer.call(go)
        return result


_shared: dict[tuple[int, str], Pacer] = {}


def shared_pacer(name: str, limit: int, period: float, clock: Any) -> Pacer:
    """The process-wide pacer called ``name`` (e.g. a host), made on first use.

    Connection limits are counted by the exchange per IP, so every client in
    the process must share one pacer per host.
    """
    key = (id(clock), name)
    pacer = _shared.get(key)
    if pacer is None:
        pacer = _shared[key] = Pacer(limit, period, clock)
    return pacer

"""Callbacks on a worker thread, so a slow callback cannot stall the connections.

By default callbacks run on the reactor thread (fastest, in order, but a slow
callback delays heartbeats and every other channel). With
``callback_thread=True`` the client hands events to a :class:`CallbackWorker`:
one thread, one bounded queue, callbacks still called in arrival order.

Overflow policy, when the queue holds ``maxsize`` events: the *oldest market
data event* is dropped to make room, counted in :attr:`CallbackWorker.dropped`,
and reported once per overflow episode through ``on_overflow``. Account events
(orders, fills, wallets, notifications) are never dropped. Nothing the client
itself maintains is affected: books are kept and checksummed on the reactor
thread, and order futures are settled there too.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger("exchange_wss.client")

__all__ = ["CallbackWorker"]

_STOP = object()


class CallbackWorker:
    """A daemon thread that runs callbacks from a bounded queue.

    Args:
        maxsize: the most market-data events kept waiting.
        on_error: ``(where, exception)`` when a callback raises.
        on_overflow: ``(dropped_total)`` at the start of each overflow episode.
        name: the thread's name.
    """

    def __init__(self, maxsize: int, on_error: Callable[[str, BaseException], None],
                 on_overflow: Callable[[int], None], name: str = "exchange_wss-callbacks",
                 on_drop: Callable[[], None] | None = None) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = maxsize
        #: Market-data events dropped so far to make room (it only grows).
        self.dropped = 0
        self._on_error = on_error
        self._on_overflow = on_overflow
        self._on_drop = on_drop
        self._queue: deque[tuple[Any, ...]] = deque()
        self._droppable = 0
        self._overflowing = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, callback: Callable[[Any], Any], event: Any, where: str,
               droppable: bool = True) -> None:
        """Queue ``callback(event)``; called on the reactor thread."""
        overflow_started = False
        with self._cond:
            queue = self._queue
            dropped = False
            if droppable and self._droppable >= self.maxsize:
                dropped = self._drop_oldest_droppable()
                if not self._overflowing:
                    self._overflowing = overflow_started = True
            queue.append((callback, event, where, droppable))
            if droppable:
                self._droppable += 1
            self._cond.notify()
        if dropped and self._on_drop is not None:
            self._on_drop()
        if overflow_started:
            self._on_overflow(self.dropped)

    def _drop_oldest_droppable(self) -> bool:
        for i, item in enumerate(self._queue):
            if item[3]:
                del self._queue[i]
                self._droppable -= 1
                self.dropped += 1
                return True
        return False

    def stop(self, timeout: float = 5.0) -> None:
        """Run what is queued, then end the thread (waits up to ``timeout``)."""
        with self._cond:
            self._queue.append((_STOP, None, "", False))
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def pending(self) -> int:
        """Events waiting to be delivered."""
        with self._cond:
            return len(self._queue)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                callback, event, where, droppable = self._queue.popleft()
                if droppable:
                    self._droppable -= 1
                if self._overflowing and self._droppable < self.maxsize // 2:
                    self._overflowing = False
            if callback is _STOP:
                return
            try:
                callback(event)
            except BaseException as exc:
                self._on_error(where, exc)

"""The hand-over of :mod:`exchange_wss.aio`: a bounded, policy-keeping buffer per stream
(:class:`Stream`) filled on the reactor thread and read on the caller's event loop, and
the feed (:class:`_Feed`) that shares one subscription among the streams that want it.

The policies are described in :mod:`exchange_wss.aio` and :doc:`/asyncio`.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from .errors import ExchangeWssError, LocalProtocolError

__all__ = ["Stream", "POLICIES"]

POLICIES = ("latest", "drop_oldest", "backpressure")

_END = object()

_T_co = TypeVar("_T_co", covariant=True)


class Stream(Generic[_T_co]):
    """An async iterator over one kind of event (``Stream[Ticker]`` yields
    :class:`~exchange_wss.models.Ticker`); made by :class:`AsyncClient`.

    Produced on the reactor thread, consumed on the loop that created it. Use
    it in ``async for`` (leaving the loop closes it), or ``async with`` it,
    or call :meth:`aclose`.

    Attributes:
        name: what it streams, e.g. ``"trades BTC/USDT"``.
        policy: ``"latest"``, ``"drop_oldest"`` or ``"backpressure"``.
        maxsize: events that may wait (``"latest"``: 1).
        dropped: market-data events dropped or conflated so far.
        paused: times the producer was slowed (``"backpressure"``).
    """

    def __init__(self, owner: Any, feed: _Feed, name: str, policy: str,
                 maxsize: int, transform: Callable[[Stream[Any], Any], None],
                 account: bool = False) -> None:
        if policy not in POLICIES:
            raise LocalProtocolError(f"policy must be one of {POLICIES}, not {policy!r}")
        if maxsize < 1:
            raise LocalProtocolError("maxsize must be >= 1")
        if account and policy != "backpressure":
            raise LocalProtocolError("account events are never dropped: policy 'backpressure'")
        self.name = name
        self.policy = policy
        self.maxsize = 1 if policy == "latest" else maxsize
        self.account = account
        self.transform = transform      # (stream, event) -> offers what it wants
        self.dropped = 0
        self.paused = 0
        self._owner = owner
        self._feed = feed
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._items: deque[Any] = deque()
        self._build: Callable[[], Any] | None = None
        self._stale = False
        self._waiter: asyncio.Future[None] | None = None
        self._wake_pending = False
        self._overflowing = False
        self._holding = False      # the producer is paused because of us
        self._error: BaseException | None = None
        self._closed = False
        feed.attach(self)

    def __repr__(self) -> str:
        return (f"<Stream {self.name} policy={self.policy} waiting={len(self._items)} "
                f"dropped={self.dropped}>")

    # -- producer side (reactor thread) ------------------------------------------------
    def offer(self, event: Any) -> None:
        """Queue one event under the stream's policy."""
        overflow = False
        with self._lock:
            if self._closed:
                return
            items = self._items
            if self.policy == "latest":
                if items:
                    items[-1] = event
                    self.dropped += 1
                    overflow = not self._overflowing
                    self._overflowing = True
                else:
                    items.append(event)
            elif self.policy == "drop_oldest":
                if len(items) >= self.maxsize:
                    items.popleft()
                    self.dropped += 1
                    overflow = not self._overflowing
                    self._overflowing = True
                items.append(event)
            else:
                items.append(event)
                if len(items) >= self.maxsize and not self._holding:
                    self._holding = True
                    self.paused += 1
                    self._owner._hold(self, True)
            self._wake_locked()
        if overflow:
            self._owner._overflowed(self)

    def offer_latest(self, build: Callable[[], Any]) -> None:
        """``"latest"`` with an event that is costly to make (a book copy): build it
        only when none waits; else remember that the waiting one is stale."""
        with self._lock:
            if self._closed:
                return
            self._build = build
            waiting = bool(self._items)
            overflow = False
            if waiting:
                self._stale = True
                self.dropped += 1
                overflow = not self._overflowing
                self._overflowing = True
        if overflow:
            self._owner._overflowed(self)
        if not waiting:
            self._refresh()

    def _refresh(self) -> None:
        # Reactor thread: make the freshest event if nobody's is waiting.
        build = self._build
        if build is None:
            return
        try:
            event = build()
        except ExchangeWssError:
            return  # the book is resyncing: the next change brings one
        if event is None:
            return
        with self._lock:
            if self._closed:
                return
            if self._items:
                self._items[-1] = event
            else:
                self._items.append(event)
            self._stale = False
            self._wake_locked()

    def fail(self, error: BaseException) -> None:
        """End the stream with ``error``, raised once the waiting events are consumed."""
        with self._lock:
            if self._closed or self._error is not None:
                return
            self._error = error
            self._items.append(_END)
            self._wake_locked()

    def end(self) -> None:
        """End the stream normally (the client stopped)."""
        with self._lock:
            if self._closed or self._error is not None:
                return
            self._error = StopAsyncIteration()
            self._items.append(_END)
            self._wake_locked()

    def _wake_locked(self) -> None:
        if self._waiter is not None and not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # the loop is closed: nobody will read
                self._wake_pending = False

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
            waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- consumer side (the loop) -----------------------------------------------------------
    def __aiter__(self) -> Stream[_T_co]:
        return self

    async def __anext__(self) -> _T_co:
        while True:
            with self._lock:
                if self._closed:
                    raise StopAsyncIteration
                if self._items:
                    event = self._items.popleft()
                    refresh = self._stale and not self._items
                    resume = self._holding and len(self._items) <= self.maxsize // 2
                    if resume:
                        self._holding = False
                    if not self._items:
                        self._overflowing = False
                else:
                    event = None
                    self._waiter = self._loop.create_future()
                    waiter = self._waiter
            if event is None:
                try:
                    await waiter
                except BaseException:
                    with self._lock:
                        if self._waiter is waiter:
                            self._waiter = None
                    await self._close_async()
                    raise
                continue
            if refresh:
                self._owner._on_reactor(self._refresh)
            if resume:
                self._owner._on_reactor(self._owner._hold, self, False)
            if event is _END:
                error = self._error
                await self._close_async()
                if isinstance(error, StopAsyncIteration):
                    raise StopAsyncIteration
                # fail() and end() set _error before queueing _END (end(): StopAsyncIteration)
                raise error  # type: ignore[misc]
            # The buffer holds this stream's events (typed by the AsyncClient method
            # that made it) and the _END sentinel, handled above.
            item: _T_co = event
            return item

    async def __aenter__(self) -> Stream[_T_co]:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream; the subscription is removed once no stream uses it."""
        await self._close_async()

    async def _close_async(self) -> None:
        self.close()

    def close(self) -> None:
        """Synchronous :meth:`aclose` (safe from any thread, idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._items.clear()
            holding, self._holding = self._holding, False
        if holding:
            self._owner._on_reactor(self._owner._hold, self, False)
        self._feed.detach(self)

    def __del__(self) -> None:
        # Leaving an ``async for`` drops the iterator: unsubscribe then at the latest.
        try:
            if not self._closed:
                self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


# ----------------------------------------------------------------------------- feeds

class _Feed:
    """One underlying subscription shared by every stream that wants it; each
    stream picks and shapes what it wants from the events (its ``transform``).

    The feed holds its streams weakly: a stream the ``async for`` let go of is
    gone at once (CPython frees it when the loop is left), and with it its
    share of the subscription. The tuple of references is replaced, never
    mutated, so the reactor thread iterates it without a lock. ``hook``
    (account feeds) sees every event once.
    """

    def __init__(self, owner: Any, key: tuple[Any, ...],
                 hook: Callable[[Any], None] | None = None) -> None:
        self.owner = owner
        self.key = key
        self.hook = hook
        self._refs: tuple[weakref.ref[Stream[Any]], ...] = ()
        self.handle: Any = None         # what subscribe_* returned (label or Subscription)
        self.label: str | None = None
        self._lock = threading.Lock()

    @property
    def streams(self) -> list[Stream[Any]]:
        """The live streams of this feed."""
        return [s for s in (r() for r in self._refs) if s is not None]

    def attach(self, stream: Stream[Any]) -> None:
        with self._lock:
            self._refs = (*self._refs, weakref.ref(stream, self._gone))

    def detach(self, stream: Stream[Any]) -> None:
        with self._lock:
            before = len(self._refs)
            self._refs = tuple(r for r in self._refs if r() is not stream and r() is not None)
            empty = before and not self._refs
        if empty:
            self.owner._feed_empty(self)

    def _gone(self, ref: weakref.ref[Stream[Any]]) -> None:
        with self._lock:
            if ref not in self._refs:
                return
            self._refs = tuple(r for r in self._refs if r is not ref)
            empty = not self._refs
        if empty:
            self.owner._feed_empty(self)

    def deliver(self, event: Any) -> None:
        # Reactor thread: the client's callback for this subscription.
        if self.hook is not None:
            self.hook(event)
        for ref in self._refs:
            stream = ref()
            if stream is not None:
                stream.transform(stream, event)

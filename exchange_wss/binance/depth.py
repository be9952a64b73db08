"""Keeping a local order book in sync from Binance's diff-depth stream and REST
snapshots, by the spot and futures rules."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import RemoteProtocolError
from ..models import BookDiff, BookSnapshot
from ..orderbook import OrderBook
from ._common import FUTURES_MARKETS, _check_market, _fail, _is_int, _levels
from .events import BookOutOfSync, SnapshotNeeded
from .market_data import _diff

__all__ = ["DepthSync"]

_SKIP = object()


def _parse_snapshot(snapshot: Any) -> tuple[int, list[tuple[float, float]],
                                             list[tuple[float, float]]]:
    try:
        last = snapshot["lastUpdateId"]
        if not _is_int(last):
            raise TypeError(f"lastUpdateId {last!r} is not an int")
        return last, _levels(snapshot["bids"]), _levels(snapshot["asks"])
    except Exception as exc:
        raise RemoteProtocolError(f"bad depth snapshot: {type(exc).__name__}: {exc}") from None


class DepthSync:
    """Keeps a ``"size"`` :class:`~exchange_wss.orderbook.OrderBook` in sync from a
    diff-depth stream and REST snapshots, by Binance's rules. Pure: no I/O.

    Spot/margin: buffer events, note the first ``U``; a snapshot with
    ``lastUpdateId < U`` is too old (another is asked for, as the guide says,
    even at ``U - 1``); buffered events with ``u <= lastUpdateId`` are dropped;
    then each event with ``u <`` book id is skipped, ``U >`` book id + 1 is a
    gap, anything else is applied (size 0 deletes) and the book id becomes ``u``.

    Futures: events with ``u < lastUpdateId`` are dropped, the first applied
    needs ``U <= lastUpdateId <= u``, and every later ``pu`` must equal the
    previous ``u`` (an event without ``pu`` falls back to the spot rule).

    :meth:`on_event` and :meth:`on_snapshot` return what happened, in order:
    :class:`SnapshotNeeded` (fetch one, feed it to :meth:`on_snapshot`),
    :class:`~exchange_wss.models.BookSnapshot` (synced: the whole book, buffered
    events included), :class:`~exchange_wss.models.BookDiff` (one applied event),
    :class:`BookOutOfSync` (a synced book broke; a SnapshotNeeded follows).

    Sink style, optional: with ``deliver``/``request_snapshot``/``on_out_of_sync``
    the same results are also dispatched to them (``deliver`` gets the models,
    or their ``.raw`` with ``raw=True``; ``request_snapshot()``;
    ``on_out_of_sync(stream, reason)``).

    Args:
        symbol: the instrument (models carry the event's ``s`` when present).
        market: decides spot or futures rules.
        book: the book to maintain (a new ``"size"`` book if None).
        stream: names this sync in control events (default: ``symbol``).
        limit: snapshot depth the facade should ask for (None: the market's default).
        max_buffer: events kept while waiting for a snapshot (oldest dropped;
            the first ``U`` then moves on, which the rules tolerate).
    """

    __slots__ = ("symbol", "market", "book", "stream", "limit", "raw", "futures", "synced",
                 "last_update_id", "_buffer", "_snapshot", "_requested", "_first", "_deliver",
                 "_request_snapshot", "_on_out_of_sync")

    def __init__(self, symbol: str, market: str = "spot", book: OrderBook | None = None, *,
                 stream: str | None = None, limit: int | None = None,
                 deliver: Callable[[Any], None] | None = None, raw: bool = False,
                 request_snapshot: Callable[[], None] | None = None,
                 on_out_of_sync: Callable[[str, str], None] | None = None,
                 max_buffer: int = 10000):
        _check_market(market)
        if not isinstance(symbol, str) or not symbol:
            raise _fail(f"a symbol is required, got {symbol!r}")
        if book is None:
            book = OrderBook(symbol, kind="size")
        elif book.kind != "size":
            raise _fail("DepthSync maintains kind='size' books")
        self.symbol = symbol
        self.market = market
        self.book = book
        self.stream = stream or symbol
        self.limit = limit
        self.raw = raw
        self.futures = market in FUTURES_MARKETS
        #: True while the book is consistent with the stream.
        self.synced = False
        #: The book's update id (``u`` of the last applied event) while synced.
        self.last_update_id: int | None = None
        self._buffer: deque[BookDiff] = deque(maxlen=max_buffer)
        self._snapshot: tuple[int, list, list, Any] | None = None
        self._requested = False
        self._first = True
        self._deliver = deliver
        self._request_snapshot = request_snapshot
        self._on_out_of_sync = on_out_of_sync

    @property
    def needs_snapshot(self) -> bool:
        """True when a snapshot was asked for and has not arrived yet."""
        return self._requested and not self.synced

    def reset(self) -> None:
        """Forget the stream position (a new connection): buffer again from the next event.

        The book's levels stay until the next snapshot replaces them."""
        self.synced = False
        self.last_update_id = None
        self._buffer.clear()
        self._snapshot = None
        self._requested = False
        self._first = True

    def on_event(self, diff: Any) -> list[Any]:
        """Feed one diff event: the decoded ``depthUpdate`` dict or a BookDiff.

        Raises:
            RemoteProtocolError, TypeError, KeyError, ValueError: a malformed
                event (nothing is changed).
        """
        d = diff if diff.__class__ is BookDiff else _diff(diff, self.symbol)
        out = self._event(d)
        self._dispatch(out)
        return out

    #: Alias of :meth:`on_event`, for use as a stream's deliver callback.
    on_diff = on_event

    def on_snapshot(self, snapshot: Any) -> list[Any]:
        """Feed the decoded REST depth snapshot ``{lastUpdateId, bids, asks}``.

        A snapshot that arrives before any event is kept until the first one.

        Raises:
            RemoteProtocolError: a malformed snapshot; the sync keeps waiting
                (``needs_snapshot`` stays True): fetch again, with backoff.
        """
        last, bids, asks = _parse_snapshot(snapshot)
        if self.synced:
            return []  # a late answer to an earlier request: the book is already good
        self._requested = False
        self._snapshot = (last, bids, asks, snapshot)
        out = self._try_sync() if self._buffer else []
        self._dispatch(out)
        return out

    # ------------------------------------------------------------------ internals

    def _event(self, d: BookDiff) -> list[Any]:
        if self.synced:
            verdict = self._check(d)
            if verdict is _SKIP:
                return []
            if verdict is not None:
                return self._lost(d, verdict)
            self._apply(d)
            return [d]
        self._buffer.append(d)
        if self._snapshot is not None:
            return self._try_sync()
        if not self._requested:
            return self._need("first event buffered")
        return []

    def _check(self, d: BookDiff) -> Any:
        """None: apply; _SKIP: stale, ignore; a string: why the stream has a gap."""
        # Only Binance diffs come here: the parser checked that U and u are ints,
        # and the book has an id whenever it is synced or a snapshot was applied.
        book_id: Any = self.last_update_id
        first: Any = d.first_update_id
        last: Any = d.last_update_id
        prev = d.prev_update_id
        if self.futures and self._first:
            if last < book_id:
                return _SKIP
            if first > book_id:
                return f"first event U={first} > lastUpdateId={book_id}"
            return None
        if self.futures and prev is not None:
            if prev != book_id:
                return f"pu={prev} != previous u={book_id}"
            return None
        if last < book_id:
            return _SKIP
        if first > book_id + 1:
            return f"U={first} > previous u+1={book_id + 1}"
        return None

    def _apply(self, d: BookDiff) -> None:
        set_level = self.book.set_level
        for price, size in d.bids:
            set_level("bid", price, size)
        for price, size in d.asks:
            set_level("ask", price, size)
        self.last_update_id = d.last_update_id
        self._first = False

    def _need(self, reason: str) -> list[Any]:
        self._requested = True
        return [SnapshotNeeded(self.stream, self.symbol, reason)]

    def _lost(self, d: BookDiff, reason: str) -> list[Any]:
        self.synced = False
        self.last_update_id = None
        self._first = True
        self._buffer.clear()
        self._buffer.append(d)  # the event that showed the gap starts the new buffer
        self._snapshot = None
        return [BookOutOfSync(self.stream, reason), *self._need(reason)]

    def _try_sync(self) -> list[Any]:
        snapshot: Any = self._snapshot  # set: _try_sync runs once a snapshot is in
        last, bids, asks, raw = snapshot
        self._snapshot = None
        buf = self._buffer
        first_u = buf[0].first_update_id
        if last < first_u:
            return self._need(f"snapshot lastUpdateId={last} is older than the first "
                              f"buffered event U={first_u}")
        self.book.set_snapshot(bids, asks)
        self.last_update_id = last
        self._first = True
        pending = list(buf)
        buf.clear()
        if not self.futures:
            pending = [d for d in pending if d.last_update_id > last]
        for i, d in enumerate(pending):
            verdict = self._check(d)
            if verdict is _SKIP:
                continue
            if verdict is not None:
                # Never synced, so nothing to report as lost: just start over.
                self.last_update_id = None
                self._first = True
                buf.extend(pending[i:])
                return self._need(f"buffered events do not continue the snapshot: {verdict}")
            self._apply(d)
        self.synced = True
        return [BookSnapshot(self.symbol, self.book.bids, self.book.asks, raw)]

    def _dispatch(self, out: list[Any]) -> None:
        for event in out:
            cls = event.__class__
            if cls is SnapshotNeeded:
                if self._request_snapshot is not None:
                    self._request_snapshot()
            elif cls is BookOutOfSync:
                if self._on_out_of_sync is not None:
                    self._on_out_of_sync(event.stream, event.reason)
            elif self._deliver is not None:
                self._deliver(event.raw if self.raw else event)

"""Books from events: the same rules on the relay and on every consumer.

A book stream carries :class:`~exchange_wss.models.BookSnapshot` entries and the
changes between them (``BookUpdate``, ``RawBookUpdate``, ``BookDiff``). Both
sides keep an :class:`~exchange_wss.orderbook.OrderBook` by applying them here,
so a consumer's book is the relay's book after the same entries.
"""

from __future__ import annotations

from typing import Any

from .. import models
from ..orderbook import OrderBook

__all__ = ["BOOK_CHANGES", "is_book_event", "book_for", "apply", "snapshot_of"]

#: Models that change a book.
BOOK_CHANGES = (models.BookUpdate, models.RawBookUpdate, models.BookDiff)


def is_book_event(event: Any) -> bool:
    """True for a snapshot or a change of a book."""
    return isinstance(event, (models.BookSnapshot, *BOOK_CHANGES))


def book_for(label: str, snapshot: models.BookSnapshot) -> OrderBook:
    """A book of the right kind for a stream, from its first snapshot's levels."""
    level = (snapshot.bids or snapshot.asks or [()])[0]
    if len(level) == 2:
        kind = "size"
    elif ":R0" in label:
        kind = "raw"
    else:
        kind = "price"
    return OrderBook(snapshot.symbol, kind=kind)


def apply(book: OrderBook, event: Any) -> None:
    """Apply a snapshot or a change to ``book``."""
    cls = type(event)
    if cls is models.BookSnapshot:
        if book.kind == "size":
            book.set_snapshot(event.bids, event.asks)
        else:
            book.apply_snapshot(list(event.bids) + list(event.asks))
    elif cls is models.BookUpdate:
        book.apply_update((event.price, event.count, event.amount))
    elif cls is models.RawBookUpdate:
        book.apply_update((event.order_id, event.price, event.amount))
    elif cls is models.BookDiff:
        for level in event.bids:
            book.set_level("bid", level[0], level[1])
        for level in event.asks:
            book.set_level("ask", level[0], level[1])


def snapshot_of(book: OrderBook, raw: Any | None = None) -> models.BookSnapshot:
    """The whole book as a snapshot (levels best first)."""
    return models.BookSnapshot(book.symbol, book.bids, book.asks, raw)

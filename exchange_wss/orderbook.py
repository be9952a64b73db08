"""A maintained, exchange-agnostic order book with the exchanges' checksum helpers.

Pure Python (no Twisted): the protocol layers feed it snapshots and updates and
ask it for a checksum; users read ``bids``/``asks`` best first. Each side is a
:class:`sortedcontainers.SortedDict` whose key sorts the best level first, so an
update costs O(log n) and reading the top N costs O(N).

Three shapes of level (``kind``):

- ``"price"``: aggregated levels ``(price, count, amount)`` (Bitfinex P0-P4).
- ``"raw"``: single orders ``(order_id, price, amount)`` (Bitfinex R0).
- ``"size"``: levels ``(price, size)`` without a count (Binance, FTX).

Bitfinex funding books (``funding=True``) keep each entry as received,
``(rate, period, count, amount)`` or raw ``(offer_id, period, rate, amount)``,
and their side is reversed: a negative amount is a bid.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any

from sortedcontainers import SortedDict

from .errors import LocalProtocolError
from .numtext import crc32_signed, js_number_text, python_number_text

__all__ = ["OrderBook", "BOOK_KINDS"]

#: The level shapes :class:`OrderBook` knows.
BOOK_KINDS = ("price", "raw", "size")

_BID_SIDES = frozenset(("bid", "bids", "buy", "b"))
_ASK_SIDES = frozenset(("ask", "asks", "sell", "a", "offer"))


class OrderBook:
    """An order book kept sorted, best level first on each side.

    Sort keys (the keys of the two SortedDicts) are chosen so that ascending key
    order is best-first:

    - trading aggregated/size books: bids ``-price``, asks ``price``;
    - raw books: bids ``(-price, order_id)``, asks ``(price, order_id)`` (ties by
      lower order id first, as bfx-api-node-models does);
    - funding aggregated books: bids ``(-rate, period)``, asks ``(rate, period)``;
    - funding raw books: bids ``(-rate, offer_id)``, asks ``(rate, offer_id)``.

    Raw books also keep ``order_id -> (side dict, sort key)`` so an order that
    moves to another price (or side) is found without a scan.

    Args:
        symbol: the instrument, kept for the caller's convenience.
        kind: ``"price"``, ``"raw"`` or ``"size"`` (see the module docstring).
        funding: a Bitfinex funding book (entries as received, side reversed).

    Raises:
        LocalProtocolError: unknown ``kind``, or ``funding`` with ``kind="size"``.
    """

    __slots__ = ("symbol", "kind", "funding", "synced", "_bids", "_asks", "_orders",
                 "_bid_top", "_ask_top")

    def __init__(self, symbol: str, *, kind: str = "price", funding: bool = False):
        if kind not in BOOK_KINDS:
            raise LocalProtocolError(
                f"unknown book kind {kind!r}; expected one of {BOOK_KINDS}")
        if funding and kind == "size":
            raise LocalProtocolError("funding books are 'price' or 'raw' books")
        self.symbol = symbol
        self.kind = kind
        self.funding = bool(funding)
        #: True once a snapshot was applied; False again after clear() (the
        #: client also sets it False while it resyncs the book).
        self.synced = False
        self._bids: SortedDict[Any, tuple[Any, ...]] = SortedDict()
        self._asks: SortedDict[Any, tuple[Any, ...]] = SortedDict()
        # order/offer id -> (side SortedDict, sort key); raw books only.
        self._orders: dict[Any, tuple[SortedDict[Any, tuple[Any, ...]], Any]] = {}
        # The checksummed top of each side with its levels' texts, created by
        # the first checksum and kept current by every change after it (see
        # _TopTexts); None until a checksum is asked for, so books that are
        # never checksummed pay one None test per change.
        self._bid_top: _TopTexts | None = None
        self._ask_top: _TopTexts | None = None

    # ------------------------------------------------------------------ reading

    @property
    def bids(self) -> list[tuple[Any, ...]]:
        """Bid levels, best (highest price or rate) first."""
        return list(self._bids.values())

    @property
    def asks(self) -> list[tuple[Any, ...]]:
        """Ask levels, best (lowest price or rate) first."""
        return list(self._asks.values())

    @property
    def best_bid(self) -> tuple[Any, ...] | None:
        """The best bid level, or None when there are no bids."""
        return self._bids.peekitem(0)[1] if self._bids else None

    @property
    def best_ask(self) -> tuple[Any, ...] | None:
        """The best ask level, or None when there are no asks."""
        return self._asks.peekitem(0)[1] if self._asks else None

    def top(self, depth: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Return ``(bids, asks)``, each cut to the best ``depth`` levels."""
        return (list(self._bids.values()[:depth]),
                list(self._asks.values()[:depth]))

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def __repr__(self) -> str:
        return (f"<OrderBook {self.symbol} {self.kind}{' funding' if self.funding else ''}"
                f" bids={len(self._bids)} asks={len(self._asks)}>")

    def clear(self) -> None:
        """Remove every level (the book is no longer synced)."""
        self.synced = False
        self._bids.clear()
        self._asks.clear()
        self._orders.clear()
        self._bid_top = self._ask_top = None

    # ------------------------------------------------------- Bitfinex entries

    def apply_snapshot(self, entries: Iterable[Sequence[Any]]) -> None:
        """Replace the whole book with a Bitfinex snapshot.

        Args:
            entries: the snapshot rows as received (``[PRICE,COUNT,AMOUNT]``,
                ``[ORDER_ID,PRICE,AMOUNT]`` or the funding shapes).
        """
        self.clear()
        apply = self.apply_update
        for entry in entries:
            apply(entry)
        self.synced = True

    def apply_update(self, entry: Sequence[Any]) -> None:
        """Apply one Bitfinex book entry.

        Aggregated books delete the level when COUNT is 0 (AMOUNT 1/-1 names
        the side); raw books delete the order when PRICE (RATE) is 0. Anything
        else adds or replaces the level/order on the side given by the sign of
        AMOUNT (trading: > 0 is a bid; funding: < 0 is a bid). A level that
        reappears on the other side is moved, and a raw order that changes price
        is moved.

        Args:
            entry: one book row as received; extra trailing fields are ignored.
        """
        if self.kind == "price":
            if self.funding:
                self._update_funding_price(entry)
            else:
                self._update_price(entry)
        elif self.kind == "raw":
            self._update_raw(entry)
        else:
            raise LocalProtocolError(
                "apply_update takes Bitfinex entries; use set_level() on a 'size' book")

    def _update_price(self, entry: Sequence[Any]) -> None:
        price = entry[0]
        count = entry[1]
        amount = entry[2]
        neg = -price
        bids, asks = self._bids, self._asks
        if count == 0:
            # The named side first; fall back to the other in case the
            # server's ±1 disagrees with where we have the level.
            if amount > 0:
                if bids.pop(neg, None) is not None:
                    self._removed(bids, neg)
                elif asks.pop(price, None) is not None:
                    self._removed(asks, price)
            elif asks.pop(price, None) is not None:
                self._removed(asks, price)
            elif bids.pop(neg, None) is not None:
                self._removed(bids, neg)
            return
        if amount > 0:
            bids[neg] = (price, count, amount)
            if self._bid_top is not None:
                self._bid_top.set(neg)
            if asks and price in asks:  # level flipped side
                del asks[price]
                self._removed(asks, price)
        else:
            asks[price] = (price, count, amount)
            if self._ask_top is not None:
                self._ask_top.set(price)
            if bids and neg in bids:
                del bids[neg]
                self._removed(bids, neg)

    # The checksum tops hear of every change (see _TopTexts). _update_price,
    # the hottest path, tests the top itself instead of calling _added.

    def _added(self, side: SortedDict[Any, tuple[Any, ...]], key: Any) -> None:
        top = self._bid_top if side is self._bids else self._ask_top
        if top is not None:
            top.set(key)

    def _removed(self, side: SortedDict[Any, tuple[Any, ...]], key: Any) -> None:
        top = self._bid_top if side is self._bids else self._ask_top
        if top is not None:
            top.removed(key)

    def _update_funding_price(self, entry: Sequence[Any]) -> None:
        rate = entry[0]
        period = entry[1]
        count = entry[2]
        amount = entry[3]
        bid_key = (-rate, period)
        ask_key = (rate, period)
        if count == 0:
            if amount < 0:  # funding: negative amount names the bid side
                if self._bids.pop(bid_key, None) is None:
                    self._asks.pop(ask_key, None)
            elif self._asks.pop(ask_key, None) is None:
                self._bids.pop(bid_key, None)
            return
        level = (rate, period, count, amount)
        if amount < 0:
            self._bids[bid_key] = level
            self._asks.pop(ask_key, None)
        else:
            self._asks[ask_key] = level
            self._bids.pop(bid_key, None)

    def _update_raw(self, entry: Sequence[Any]) -> None:
        oid = entry[0]
        if self.funding:
            # [OFFER_ID, PERIOD, RATE, AMOUNT]
            price = entry[2]
            amount = entry[3]
            level: tuple[Any, ...] = (oid, entry[1], price, amount)
            is_bid = amount < 0
        else:
            # [ORDER_ID, PRICE, AMOUNT]
            price = entry[1]
            amount = entry[2]
            level = (oid, price, amount)
            is_bid = amount > 0
        old = self._orders.pop(oid, None)
        if old is not None:
            del old[0][old[1]]
            self._removed(old[0], old[1])
        if price == 0:
            return
        if is_bid:
            side = self._bids
            key = (-price, oid)
        else:
            side = self._asks
            key = (price, oid)
        side[key] = level
        self._orders[oid] = (side, key)
        self._added(side, key)

    # --------------------------------------------------------- generic levels

    def set_level(self, side: str, price: float, size: float) -> None:
        """Set one ``(price, size)`` level of a ``"size"`` book; size 0 deletes it.

        Args:
            side: ``"bid"``/``"buy"``/``"bids"`` or ``"ask"``/``"sell"``/``"asks"``.
            price: the level's price.
            size: the quantity at that price (0 removes the level).

        Raises:
            LocalProtocolError: the book is not a ``"size"`` book, or bad side.
        """
        if self.kind != "size":
            raise LocalProtocolError("set_level() is for kind='size' books")
        if side in _BID_SIDES:
            book, key = self._bids, -price
        elif side in _ASK_SIDES:
            book, key = self._asks, price
        else:
            raise LocalProtocolError(f"unknown side {side!r}; expected 'bid' or 'ask'")
        if size == 0:
            if book.pop(key, None) is not None:
                self._removed(book, key)
        else:
            book[key] = (price, size)
            self._added(book, key)

    def set_snapshot(self, bids: Iterable[Sequence[Any]], asks: Iterable[Sequence[Any]]) -> None:
        """Replace a ``"size"`` book with ``[price, size]`` rows per side."""
        self.clear()
        for price, size, *_ in bids:
            self.set_level("bid", price, size)
        for price, size, *_ in asks:
            self.set_level("ask", price, size)
        self.synced = True

    # -------------------------------------------------------------- checksums

    def checksum(self, depth: int = 25) -> int | None:
        """Bitfinex's book checksum, as the signed int32 the ``cs`` frame carries.

        Over the top ``depth`` levels per side, interleaved bid[i] then ask[i]:
        ``key:amount`` with the key the price (P books) or order id (R0), the
        amount signed as received, each number as JavaScript writes it
        (:func:`~exchange_wss.numtext.js_number_text`), all joined by ``":"``.
        Level texts are cached, so unchanged top levels are not reformatted.

        Returns:
            The signed CRC32, or None for funding books: Bitfinex's funding
            books are not verifiable (bitfinex-api-node skips them, "invalid
            backend sorting").

        Raises:
            LocalProtocolError: on a ``"size"`` book (no Bitfinex checksum).
        """
        if self.funding:
            return None
        if self.kind == "size":
            raise LocalProtocolError("checksum() is Bitfinex's; use ftx_checksum()")
        return crc32_signed(_joined(*self._top_texts(depth, _bitfinex_level_text)))

    def ftx_checksum(self, depth: int = 100) -> int:
        """FTX's book checksum: unsigned CRC32 of ``bidP:bidS:askP:askS:...``.

        Numbers are written as Python's ``str(float)`` (FTX is a Python server);
        when one side is shorter the other continues alone.

        Raises:
            LocalProtocolError: the book is not a ``"size"`` book.
        """
        if self.kind != "size":
            raise LocalProtocolError("ftx_checksum() is for kind='size' books")
        return zlib.crc32(_joined(*self._top_texts(depth, _ftx_level_text)).encode("ascii"))

    def _top_texts(self, depth: int,
                   level_text: Callable[[tuple[Any, ...]], str]) -> tuple[list[str], list[str]]:
        bid_top, ask_top = self._bid_top, self._ask_top
        if bid_top is None or bid_top.depth != depth:
            bid_top = self._bid_top = _TopTexts(self._bids, depth)
        if ask_top is None or ask_top.depth != depth:
            ask_top = self._ask_top = _TopTexts(self._asks, depth)
        return bid_top.texts_of(level_text), ask_top.texts_of(level_text)


def _bitfinex_level_text(level: tuple[Any, ...]) -> str:
    # (price, count, amount) or raw (order_id, price, amount): key and amount
    return js_number_text(level[0]) + ":" + js_number_text(level[2])


def _ftx_level_text(level: tuple[Any, ...]) -> str:
    return python_number_text(level[0]) + ":" + python_number_text(level[1])


class _TopTexts:
    """The best ``depth`` keys of one side of a book and their checksum texts.

    Kept current by the book on every change (a binary search in a list of at
    most ``depth`` keys), so a checksum formats only the levels that changed
    since the last one and reads the top without walking the sorted
    structure. Invariant: ``keys`` equals the first ``depth`` keys of ``side``;
    a text is None while its level awaits formatting, and then its key is in
    ``stale``.
    """

    __slots__ = ("side", "depth", "keys", "texts", "stale")

    def __init__(self, side: SortedDict[Any, tuple[Any, ...]], depth: int) -> None:
        self.side = side
        self.depth = depth
        self.keys: list[Any] = list(islice(side, depth))
        self.texts: list[str | None] = [None] * len(self.keys)
        self.stale: list[Any] = list(self.keys)

    def set(self, key: Any) -> None:
        """``key`` was added to the side or its level changed."""
        keys = self.keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            self.texts[i] = None
            self.stale.append(key)
        elif i < self.depth:  # a new level inside the top
            keys.insert(i, key)
            self.texts.insert(i, None)
            self.stale.append(key)
            if len(keys) > self.depth:
                keys.pop()
                self.texts.pop()

    def removed(self, key: Any) -> None:
        """``key`` was removed from the side."""
        keys = self.keys
        i = bisect_left(keys, key)
        if i < len(keys) and keys[i] == key:
            del keys[i]
            del self.texts[i]
            if len(self.side) >= self.depth:  # the next level moves up into the top
                key = self.side.keys()[self.depth - 1]
                keys.append(key)
                self.texts.append(None)
                self.stale.append(key)

    def texts_of(self, level_text: Callable[[tuple[Any, ...]], str]) -> list[str]:
        """The texts of the top levels, formatting those that changed."""
        texts = self.texts
        if self.stale:
            keys, side = self.keys, self.side
            for key in self.stale:
                # Stale keys that left the top since are simply not found.
                i = bisect_left(keys, key)
                if i < len(keys) and keys[i] == key and texts[i] is None:
                    texts[i] = level_text(side[key])
            self.stale.clear()
        return texts  # type: ignore[return-value]


def _joined(bids: list[str], asks: list[str]) -> str:
    """``bid[0]:ask[0]:bid[1]:ask[1]:...``, the longer side continuing alone."""
    nb, na = len(bids), len(asks)
    if nb != na:
        n = min(nb, na)
        tail = bids[n:] if nb > na else asks[n:]
        bids, asks = bids[:n], asks[:n]
    else:
        tail = None
    both = bids + asks
    both[0::2] = bids  # interleaved by slice assignment: no Python-level loop
    both[1::2] = asks
    if tail:
        both += tail
    return ":".join(both)

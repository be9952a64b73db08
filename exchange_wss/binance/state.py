"""The account state a ``BinanceWssClient`` knows (balances, positions, open orders)
and the gate that puts an account snapshot before the live events of a user-data
connection.

At start and after every reconnect of the user-data stream the client loads a
snapshot (:mod:`exchange_wss.binance.account`). Until it is delivered, the live
events of that connection are held here, in order; then the snapshot's items
reach the user-data callbacks (``kind="snapshot"``), then the held events, then
the live ones as they come. Every event, snapshot or live, also updates the
state that ``client.balances()``, ``client.positions()`` and
``client.open_orders()`` copy.

An order update that the snapshot already tells (it lists the order as of that
update or later, by update time) is counted in ``superseded`` and not delivered a
second time, whether it was held or arrives after the snapshot: on futures the
snapshot comes over REST and the events over the stream, so an update the REST
answer already included can still be on its way. Every other event is delivered
(fills always).

The hold has a deadline: a snapshot that does not come within ``timeout``
seconds (a query never answered) releases the held events and is reported.

Reactor thread only (the client copies the state on it); no I/O: time comes
from an injected clock with ``callLater()`` (the reactor, or ``MemoryReactorClock``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..models import Order, Position, Snapshot, Wallet

__all__ = ["AccountState", "OPEN_STATUSES"]

#: Order statuses of an order that still rests (Spot and futures).
OPEN_STATUSES = frozenset(("NEW", "PARTIALLY_FILLED", "PENDING_NEW"))


class AccountState:
    """Balances, positions and open orders, kept from snapshots and live events.

    Args:
        deliver: the user-data callbacks' fan-out (gets every event, in order).
        clock: ``callLater(delay, fn)`` for the hold's deadline (None: no deadline).
        timeout: seconds a hold may last.
        on_timeout: called (with ``timeout``) when a hold ran out, after the release.
        on_superseded: called for each order update left out as already told.
    """

    def __init__(self, deliver: Callable[[Any], None], clock: Any = None,
                 timeout: float = 30.0,
                 on_timeout: Callable[[float], None] | None = None,
                 on_superseded: Callable[[], None] | None = None) -> None:
        self._deliver = deliver
        self._clock = clock
        self.timeout = timeout
        self._on_timeout = on_timeout
        self._on_superseded = on_superseded
        self._timer: Any = None
        self.wallets: dict[tuple[str, str], Wallet] = {}
        self.positions: dict[tuple[str, Any], Position] = {}
        self.orders: dict[Any, Order] = {}
        #: True once a snapshot was delivered (the state is complete, not only
        #: what changed since the start).
        self.loaded = False
        self._holding = False
        self._held: list[Any] = []
        #: The last snapshot's update time per order, until a newer live update of it.
        self._told: dict[Any, int] = {}
        #: Snapshots delivered, and live events that waited for one (monitoring, tests).
        self.snapshots = 0
        self.held_total = 0
        #: Held order updates the snapshot already told (its entry for the order is as
        #: recent or more): applied to nothing and not delivered again.
        self.superseded = 0

    @property
    def holding(self) -> bool:
        """True while live events wait for a snapshot."""
        return self._holding

    # ------------------------------------------------------------------- the gate
    def hold(self) -> None:
        """A user-data connection (re)started and its snapshot is being loaded:
        hold its live events until :meth:`snapshot` (or :meth:`release`, or the deadline)."""
        self._holding = True
        self._cancel_timer()
        if self._clock is not None:
            self._timer = self._clock.callLater(self.timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if not self._holding:
            return
        self.release()
        if self._on_timeout is not None:
            self._on_timeout(self.timeout)

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def live(self, event: Any) -> None:
        """A live user-data event (the session's typed or raw delivery)."""
        if self._holding:
            self._held.append(event)
            self.held_total += 1
            return
        if self._told and event.__class__ is Order and self._already_told(event):
            self._superseded_one()
            return
        self._apply(event)
        self._deliver(event)

    def _superseded_one(self) -> None:
        self.superseded += 1
        if self._on_superseded is not None:
            self._on_superseded()

    def _already_told(self, order: Order) -> bool:
        told = self._told.get(order.id)
        if told is None:
            return False
        if order.mts_update and told >= order.mts_update:
            return True
        del self._told[order.id]  # a newer update: the snapshot's entry is history
        return False

    def snapshot(self, wallets: list[Wallet], positions: list[Position], orders: list[Order],
                 raw: Any = None, *, wallet_types: list[str] | None = None) -> None:
        """Deliver a loaded snapshot, then the events held meanwhile.

        The snapshot replaces what was known (a balance, position or order it
        does not list is gone), for the wallet types it covers.
        """
        types = set(wallet_types or ()) | {w.type for w in wallets}
        self.wallets = {k: w for k, w in self.wallets.items() if k[0] not in types}
        self.positions = {}
        self.orders = {}
        for item in (*wallets, *positions, *orders):
            self._apply(item)
        self.loaded = True
        self.snapshots += 1
        self._deliver(Snapshot("account", [*wallets, *positions, *orders], raw))
        # A held update of an order the snapshot lists as of that update or later is
        # already told: delivered again it would say the order changed (or went back).
        self._told = {o.id: o.mts_update for o in orders
                      if o.id is not None and o.mts_update}
        if self._told:
            kept = []
            for event in self._held:
                if event.__class__ is Order and self._already_told(event):
                    self._superseded_one()
                    continue
                kept.append(event)
            self._held = kept
        self.release()

    def release(self) -> None:
        """Stop holding: deliver the held events, in order (a snapshot that could not
        be loaded, or a connection lost while it loaded, must not keep them)."""
        self._cancel_timer()
        self._holding = False
        held, self._held = self._held, []
        for event in held:
            self._apply(event)
            self._deliver(event)

    # ------------------------------------------------------------------ the state
    def _apply(self, event: Any) -> None:
        cls = event.__class__
        if cls is Snapshot:
            for item in event.items:
                self._apply(item)
        elif cls is Wallet:
            self.wallets[(event.type, event.currency)] = event
        elif cls is Position:
            key = (event.symbol, _position_side(event))
            if event.amount:
                self.positions[key] = event
            else:
                self.positions.pop(key, None)
        elif cls is Order:
            self._apply_order(event)

    def _apply_order(self, order: Order) -> None:
        key = order.id if order.id is not None else order.cid
        if key is None:
            return
        known = self.orders.get(key)
        # A held update older than the snapshot's entry must not bring it back.
        if known is not None and known.mts_update and order.mts_update and \
                order.mts_update < known.mts_update:
            return
        if order.status in OPEN_STATUSES:
            self.orders[key] = order
        else:
            self.orders.pop(key, None)


def _position_side(position: Position) -> Any:
    # Hedge mode keeps a LONG and a SHORT position per symbol (positionSide / ps).
    raw = position.raw
    if raw.__class__ is dict:
        return raw.get("positionSide") or raw.get("ps") or "BOTH"
    return "BOTH"

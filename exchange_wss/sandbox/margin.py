"""Margin trading for the sandbox engine, simplified (pure Python, no I/O).

Bitfinex's order types without ``EXCHANGE`` (``LIMIT``, ``MARKET``) trade on
the margin wallet and open or change a position instead of moving exchange
wallets. The sandbox models that much and no more:

- each account has margin wallets (``DEFAULT_MARGIN_BALANCES``: 50 000 USD,
  1 BTC) in the quote currencies it trades on margin;
- an order needs ``|amount| x price / MAX_LEVERAGE`` of the pair's quote in the
  margin wallet's available balance (resting orders reserve it), so a
  position can be long or short up to 5x its collateral;
- a fill moves the position (signed amount, average base price); the part
  that reduces it realizes its P/L into the margin wallet, and the fee (the
  engine's maker/taker rate on the traded value) is charged there too;
- no funding, interest, liquidation or position transfer: positions live
  until traded flat, and their P/L comes from "the house", so the exchange
  wallets' conservation (wallets + fees == deposits) ignores margin.

The events are :class:`PositionEvent` (``pn``, ``pu``, ``pc``) beside the
engine's order, trade and wallet events.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

__all__ = ["MarginAccounts", "PositionEvent", "PositionView", "MAX_LEVERAGE",
           "MARGIN_ORDER_TYPES", "DEFAULT_MARGIN_BALANCES"]

#: The margin order types the sandbox executes (others are refused by name).
MARGIN_ORDER_TYPES = ("LIMIT", "MARKET")
MAX_LEVERAGE = Decimal(5)
DEFAULT_MARGIN_BALANCES = {"USD": "50000", "BTC": "1"}


@dataclass(frozen=True)
class PositionView:
    """A position as a ``ps``/``pn``/``pu``/``pc`` row shows it (floats)."""

    id: int
    owner: Any
    symbol: str
    status: str
    amount: float
    base_price: float
    pl: float
    leverage: float
    mts_create: int
    mts_update: int


@dataclass(frozen=True)
class PositionEvent:
    """``pn`` (opened), ``pu`` (changed) or ``pc`` (closed: amount 0)."""

    kind: str
    owner: Any
    position: PositionView


class _Position:
    __slots__ = ("id", "amount", "base", "mts_create", "mts_update")

    def __init__(self, pid: int, mts: int) -> None:
        self.id = pid
        self.amount = Decimal(0)
        self.base = Decimal(0)
        self.mts_create = self.mts_update = mts


class MarginAccounts:
    """Margin wallets and positions of every account.

    Args:
        clock: the current time in ms.
    """

    def __init__(self, clock: Callable[[], int]) -> None:
        self._clock = clock
        self._wallets: dict[Any, dict[str, Decimal]] = {}
        self._positions: dict[tuple[Any, str], _Position] = {}
        self._ids = itertools.count(140_000_001)

    # -- wallets -------------------------------------------------------------------
    def open(self, owner: Any, balances: dict[str, Any]) -> None:
        """Give ``owner`` margin wallets with these balances."""
        wallets = self._wallets.setdefault(owner, {})
        for cur, amount in balances.items():
            wallets[cur] = wallets.get(cur, Decimal(0)) + Decimal(str(amount))

    def balance(self, owner: Any, currency: str) -> Decimal:
        """The margin wallet's balance (reservations not deducted)."""
        return self._wallets.get(owner, {}).get(currency, Decimal(0))

    def wallets(self, owner: Any) -> dict[str, Decimal]:
        """``{currency: balance}`` of ``owner``'s margin wallets."""
        return dict(self._wallets.get(owner, {}))

    @staticmethod
    def collateral(amount: Decimal, price: Decimal) -> Decimal:
        """What an order of ``amount`` at ``price`` needs in the margin wallet."""
        with localcontext() as ctx:
            ctx.prec = 60
            return abs(amount) * price / MAX_LEVERAGE

    # -- positions -------------------------------------------------------------------
    def position(self, owner: Any, symbol: str) -> PositionView | None:
        """The open position of ``owner`` in ``symbol``, or None."""
        pos = self._positions.get((owner, symbol))
        return self._view(owner, symbol, pos, None) if pos is not None else None

    def positions(self, owner: Any, marks: Callable[[str], Decimal | None]) -> list[PositionView]:
        """Every open position of ``owner``, P/L at the prices ``marks`` gives."""
        return [self._view(o, s, p, marks(s)) for (o, s), p in sorted(
            self._positions.items(), key=lambda kv: kv[1].id) if o == owner]

    def fill(self, owner: Any, symbol: str, quote: str, signed: Decimal, price: Decimal,
             fee: Decimal) -> list[PositionEvent]:
        """Apply one margin fill of ``signed`` (bought > 0) at ``price``; the fee is in quote."""
        now = self._clock()
        key = (owner, symbol)
        pos = self._positions.get(key)
        kind = "pu"
        if pos is None:
            pos = self._positions[key] = _Position(next(self._ids), now)
            kind = "pn"
        wallets = self._wallets.setdefault(owner, {})
        with localcontext() as ctx:
            ctx.prec = 60
            realized = Decimal(0)
            if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
                total = pos.amount + signed
                pos.base = (pos.amount * pos.base + signed * price) / total
                pos.amount = total
            else:
                closing = min(abs(signed), abs(pos.amount))
                direction = 1 if pos.amount > 0 else -1
                realized = closing * (price - pos.base) * direction
                rest = pos.amount + signed
                if rest == 0 or (rest > 0) == (pos.amount > 0):
                    pos.amount = rest
                else:  # flipped through zero: the remainder opens at this price
                    pos.amount, pos.base = rest, price
            wallets[quote] = wallets.get(quote, Decimal(0)) + realized - fee
        pos.mts_update = now
        if pos.amount == 0:
            del self._positions[key]
            view = self._view(owner, symbol, pos, price, status="CLOSED")
            return [PositionEvent("pc", owner, view)]
        return [PositionEvent(kind, owner, self._view(owner, symbol, pos, price))]

    def _view(self, owner: Any, symbol: str, pos: _Position, mark: Decimal | None,
              status: str = "ACTIVE") -> PositionView:
        pl = float((mark - pos.base) * pos.amount) if mark is not None and pos.amount else 0.0
        return PositionView(pos.id, owner, symbol, status, float(pos.amount), float(pos.base),
                            pl, float(MAX_LEVERAGE), pos.mts_create, pos.mts_update)

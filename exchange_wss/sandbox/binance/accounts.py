"""The Binance sandbox's account service: futures positions and margin wallets
kept from fills, and the account events written from them (``ACCOUNT_UPDATE``
on futures, ``outboundAccountPosition`` on Spot).

Spot wallets are the matching engine's; futures margin is kept here, because
futures trade on the same engine without spending its wallets' coins.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from .wire import ZERO, _Q8, _dec, _fixed8, _from_float

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["Accounts"]


class _Position:
    __slots__ = ("pa", "ep", "cr")

    def __init__(self) -> None:
        self.pa = ZERO
        self.ep = ZERO
        self.cr = ZERO

    def fill(self, qty: Decimal, price: Decimal) -> Decimal:
        """Apply a signed fill; returns the realized profit (quote units)."""
        rp = ZERO
        if self.pa == 0 or (self.pa > 0) == (qty > 0):
            total = abs(self.pa) + abs(qty)
            self.ep = (self.ep * abs(self.pa) + price * abs(qty)) / total
            self.pa += qty
            return rp
        closing = min(abs(qty), abs(self.pa))
        rp = closing * (price - self.ep) * (1 if self.pa > 0 else -1)
        self.cr += rp
        old = self.pa
        self.pa += qty
        if self.pa == 0:
            self.ep = ZERO
        elif (self.pa > 0) != (old > 0):
            self.ep = price
        return rp


class Accounts:
    """Positions and futures wallets of a :class:`~.server.BinanceServer`'s accounts.

    Args:
        server: the exchange (profile, engine, market).
        start: every account's starting wallets (engine currencies).
    """

    def __init__(self, server: "BinanceServer", start: Mapping[str, Any]):
        self.server = server
        self.profile = server.profile
        self.engine = server.engine
        self.market = server.market
        #: (owner, Binance symbol) -> position.
        self.positions: dict = defaultdict(_Position)
        #: owner -> {engine currency: futures wallet balance}.
        self.fwallets: dict = {key: {a: _dec(v) for a, v in start.items()}
                               for key in server.auth.accounts}

    def margin_asset(self, bsym: str) -> str:
        """USDT on USDⓈ-M (engine USD), the base coin on COIN-M."""
        if self.profile.name == "coinm":
            return self.engine.pairs[self.profile.symbols[bsym]].base
        return "USD"

    @staticmethod
    def alias(owner: str) -> str:
        """The account alias COIN-M events carry (``i``)."""
        return hashlib.sha256(owner.encode()).hexdigest()[:16]

    def futures_fill(self, owner: str, bsym: str, signed_qty: Decimal, price: Decimal,
                     commission: Decimal) -> Decimal:
        """Apply a futures fill to the position and the margin wallet; returns the
        realized profit (quote units)."""
        rp = self.positions[(owner, bsym)].fill(signed_qty, price)
        wallet = self.fwallets.setdefault(owner, {})
        asset_m = self.margin_asset(bsym)
        rp_m = rp if asset_m == "USD" else (rp / price).quantize(_Q8)
        wallet[asset_m] = wallet.get(asset_m, ZERO) + rp_m - commission
        return rp

    def account_update(self, owner: str, symbols: set, now: int) -> dict:
        """``ACCOUNT_UPDATE`` (reason ORDER) for the margin assets and positions of ``symbols``."""
        px = self.profile.px
        wallet = self.fwallets.get(owner, {})
        assets = sorted({self.margin_asset(s) for s in symbols})
        positions = []
        for s in sorted(symbols):
            pos = self.positions[(owner, s)]
            mid = _from_float(self.market.mid(self.profile.symbols[s]))
            up = (pos.pa * (mid - pos.ep)) if pos.pa else ZERO
            if self.profile.name == "coinm" and pos.pa and mid:
                up = up / mid
            positions.append({"s": s, "pa": px(pos.pa), "ep": px(pos.ep.quantize(_Q8)),
                              "bep": px(pos.ep.quantize(_Q8)), "cr": px(pos.cr.quantize(_Q8)),
                              "up": px(up.quantize(_Q8)), "mt": "cross", "iw": "0", "ps": "BOTH"})
        ev = {"e": "ACCOUNT_UPDATE", "E": now, "T": now}
        if self.profile.name == "coinm":
            ev["i"] = self.alias(owner)
        ev["a"] = {"m": "ORDER",
                   "B": [{"a": self.profile.asset(a), "wb": px(wallet.get(a, ZERO).quantize(_Q8)),
                          "cw": px(wallet.get(a, ZERO).quantize(_Q8)), "bc": "0"} for a in assets],
                   "P": positions}
        return ev

    def account_position(self, wallets: Mapping[str, tuple], now: int) -> dict:
        """Spot ``outboundAccountPosition`` of the changed engine wallets
        ``{currency: (balance, available)}``."""
        asset = self.profile.asset
        return {"e": "outboundAccountPosition", "E": now, "u": now,
                "B": [{"a": asset(c), "f": _fixed8(_from_float(av)),
                       "l": _fixed8(_from_float(bal) - _from_float(av))}
                      for c, (bal, av) in wallets.items()]}

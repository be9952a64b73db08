"""The Binance sandbox's account service: futures positions and margin wallets
kept from fills (COIN-M in contracts, margin and PnL in the base coin), margin
checks, deposits and withdrawals, the account views (``account.status``, futures
account and position risk) and the account events (``ACCOUNT_UPDATE`` on
futures, ``outboundAccountPosition`` and ``balanceUpdate`` on Spot).

Spot wallets are the matching engine's; futures margin is kept here, because
futures trade on the same engine without spending its wallets' coins (futures
accounts get engine wallets too large to run out).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .wire import _Q8, ZERO, ApiError, _dec, _fixed8, _from_float

if TYPE_CHECKING:  # pragma: no cover
    from .server import BinanceServer

__all__ = ["Accounts", "LEVERAGE"]

#: The one leverage of every futures position (Binance's default initial leverage).
LEVERAGE = 20


class _Position:
    __slots__ = ("pa", "ep", "cr")

    def __init__(self) -> None:
        self.pa = ZERO
        self.ep = ZERO
        self.cr = ZERO

    def fill(self, qty: Decimal, price: Decimal, contract_size: Decimal | None = None
             ) -> Decimal:
        """Apply a signed fill; returns the realized profit.

        Linear (USDⓈ-M): ``qty`` in coin, profit in the quote asset, entry price the
        size-weighted mean. Inverse (COIN-M, ``contract_size`` given): ``qty`` in
        contracts, profit in the base coin (``contracts * size * (1/entry - 1/price)``
        for a long), entry price the harmonic mean, as Binance computes them.
        """
        rp = ZERO
        if self.pa == 0 or (self.pa > 0) == (qty > 0):
            total = abs(self.pa) + abs(qty)
            if contract_size is None:
                self.ep = (self.ep * abs(self.pa) + price * abs(qty)) / total
            else:
                held = abs(self.pa) / self.ep if self.pa else ZERO
                self.ep = total / (held + abs(qty) / price)
            self.pa += qty
            return rp
        closing = min(abs(qty), abs(self.pa))
        sign = 1 if self.pa > 0 else -1
        if contract_size is None:
            rp = closing * (price - self.ep) * sign
        else:
            rp = closing * contract_size * (1 / self.ep - 1 / price) * sign
        self.cr += rp
        old = self.pa
        self.pa += qty
        if self.pa == 0:
            self.ep = ZERO
        elif (self.pa > 0) != (old > 0):
            self.ep = price
        return rp

    def unrealized(self, mark: Decimal, contract_size: Decimal | None = None) -> Decimal:
        """Unrealized profit at ``mark`` (quote asset linear, base coin inverse)."""
        if not self.pa or not mark:
            return ZERO
        if contract_size is None:
            return self.pa * (mark - self.ep)
        return self.pa * contract_size * (1 / self.ep - 1 / mark)


class Accounts:
    """Positions and futures wallets of a :class:`~.server.BinanceServer`'s accounts.

    Args:
        server: the exchange (profile, engine, market).
        start: every account's starting wallets (engine currencies).
    """

    def __init__(self, server: BinanceServer, start: Mapping[str, Any]):
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

    def contract_size(self, bsym: str) -> Decimal | None:
        """COIN-M: the USD value of one contract of ``bsym``; None on linear markets."""
        return self.profile.contract_sizes.get(bsym) if self.profile.inverse else None

    def _mark(self, bsym: str) -> Decimal:
        return _from_float(self.market.mid(self.profile.symbols[bsym]))

    def futures_fill(self, owner: str, bsym: str, signed_qty: Decimal, price: Decimal,
                     commission: Decimal) -> Decimal:
        """Apply a futures fill (``signed_qty`` in coin on USDⓈ-M, contracts on COIN-M) to
        the position and the margin wallet; returns the realized profit in the margin asset."""
        rp = self.positions[(owner, bsym)].fill(signed_qty, price, self.contract_size(bsym))
        wallet = self.fwallets.setdefault(owner, {})
        asset_m = self.margin_asset(bsym)
        wallet[asset_m] = wallet.get(asset_m, ZERO) + rp.quantize(_Q8) - commission
        return rp

    # -- margin ------------------------------------------------------------------

    def _margin_of(self, bsym: str, qty: Decimal, price: Decimal) -> Decimal:
        cs = self.contract_size(bsym)
        notional = qty * price if cs is None else qty * cs / price
        return notional / LEVERAGE

    def margin_used(self, owner: str, asset: str, open_orders: list) -> Decimal:
        """Initial margin of the owner's positions and open orders in ``asset``."""
        used = ZERO
        for (who, bsym), pos in self.positions.items():
            if who == owner and pos.pa and self.margin_asset(bsym) == asset:
                used += self._margin_of(bsym, abs(pos.pa), pos.ep)
        for t in open_orders:
            if self.margin_asset(t.symbol) == asset and t.price:
                used += self._margin_of(t.symbol, t.qty - t.z, t.price)
        return used

    def check_margin(self, owner: str, bsym: str, side: str, qty: Decimal, price: Decimal,
                     open_orders: list) -> None:
        """Refuse (-2019) a futures order whose initial margin, at :data:`LEVERAGE`, exceeds
        the wallet less the margin already used. An order that only reduces the
        position needs none."""
        pos = self.positions.get((owner, bsym))
        signed = qty if side == "BUY" else -qty
        if pos is not None and pos.pa and (pos.pa > 0) != (signed > 0) and qty <= abs(pos.pa):
            return
        asset = self.margin_asset(bsym)
        free = self.fwallets.get(owner, {}).get(asset, ZERO) - \
            self.margin_used(owner, asset, open_orders)
        if self._margin_of(bsym, qty, price) > free:
            raise ApiError(-2019, "Margin is insufficient.")

    # -- deposits and withdrawals ---------------------------------------------------

    def transfer(self, owner: str, asset: str, amount: Decimal, now: int) -> list:
        """Credit (``amount`` > 0, a deposit) or debit (a withdrawal) ``asset``; returns the
        ``(owner, event)`` user events Binance sends for it.

        Spot and margin: the engine wallet changes, then ``balanceUpdate`` (the delta)
        and ``outboundAccountPosition`` (the new balance). Futures: the margin wallet,
        and ``ACCOUNT_UPDATE`` with reason ``DEPOSIT`` or ``WITHDRAW``.

        Raises:
            ApiError: -1121 for an unknown asset, -4026/-2010 for a withdrawal larger
                than what is available.
        """
        currency = self._currency(asset)
        if self.profile.futures:
            wallet = self.fwallets.setdefault(owner, {})
            if currency not in wallet and currency not in self._margin_currencies():
                raise ApiError(-1121, f"Invalid asset {asset}.")
            have = wallet.get(currency, ZERO)
            if amount < 0:
                used = self.margin_used(owner, currency,
                                        self.server.orders.open_orders(owner))
                if have - used < -amount:
                    raise ApiError(-4026, "Insufficient balance for the withdrawal.")
            wallet[currency] = have + amount
            px = self.profile.px
            wb = px(wallet[currency].quantize(_Q8))
            ev = {"e": "ACCOUNT_UPDATE", "E": now, "T": now}
            if self.profile.name == "coinm":
                ev["i"] = self.alias(owner)
            ev["a"] = {"m": "DEPOSIT" if amount > 0 else "WITHDRAW",
                       "B": [{"a": self.profile.asset(currency), "wb": wb, "cw": wb,
                              "bc": px(amount.quantize(_Q8))}], "P": []}
            return [(owner, ev)]
        if currency not in self.engine.wallets(owner) and currency not in self._spot_currencies():
            raise ApiError(-1121, f"Invalid asset {asset}.")
        if amount < 0 and self.engine.available(owner, currency) < -amount:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        self.engine.open_account(owner, {currency: amount})
        bal = self.engine.balance(owner, currency)
        avail = self.engine.available(owner, currency)
        asset_name = self.profile.asset(currency)
        return [(owner, {"e": "balanceUpdate", "E": now, "a": asset_name,
                         "d": _fixed8(amount), "T": now}),
                (owner, self.account_position({currency: (float(bal), float(avail))}, now))]

    def _currency(self, asset: str) -> str:
        if not isinstance(asset, str) or not asset:
            raise ApiError(-1102, "Mandatory parameter 'asset' was not sent, was empty/null, "
                                  "or malformed.")
        for cur in self._spot_currencies() | self._margin_currencies():
            if self.profile.asset(cur) == asset or cur == asset:
                return cur
        return asset

    def _spot_currencies(self) -> set:
        return {c for spec in self.engine.pairs.values() for c in (spec.base, spec.quote)}

    def _margin_currencies(self) -> set:
        return {self.margin_asset(b) for b in self.profile.symbols}

    # -- views ----------------------------------------------------------------------

    def spot_account(self, owner: str, omit_zero: bool = False) -> dict:
        """The ``account.status`` result: commissions, permissions and balances."""
        rates = {"maker": _fixed8(self.engine.maker_fee), "taker": _fixed8(self.engine.taker_fee),
                 "buyer": _fixed8(ZERO), "seller": _fixed8(ZERO)}
        balances = []
        for cur, (bal, avail) in self.engine.wallets(owner).items():
            if omit_zero and not bal:
                continue
            balances.append({"asset": self.profile.asset(cur), "free": _fixed8(avail),
                             "locked": _fixed8(bal - avail)})
        bips = int(self.engine.maker_fee * 10000)
        return {"makerCommission": bips, "takerCommission": int(self.engine.taker_fee * 10000),
                "buyerCommission": 0, "sellerCommission": 0, "canTrade": True,
                "canWithdraw": True, "canDeposit": True, "commissionRates": rates,
                "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
                "updateTime": self.server.now_ms(), "accountType": "SPOT",
                "balances": balances, "permissions": ["SPOT"],
                "uid": int(self.alias(owner)[:8], 16)}

    def futures_account(self, owner: str) -> dict:
        """``GET /fapi/v3/account`` / ``/dapi/v1/account``: assets and positions."""
        px = self.profile.px
        orders = self.server.orders.open_orders(owner)
        assets = []
        for cur, wb in sorted(self.fwallets.get(owner, {}).items()):
            if cur not in self._margin_currencies():
                continue
            up = sum((self.positions[(owner, s)].unrealized(self._mark(s), self.contract_size(s))
                      for s in self.profile.symbols if self.margin_asset(s) == cur
                      and (owner, s) in self.positions), ZERO)
            used = self.margin_used(owner, cur, orders)
            q = lambda d: px(d.quantize(_Q8))  # noqa: E731 - local formatter
            assets.append({"asset": self.profile.asset(cur), "walletBalance": q(wb),
                           "unrealizedProfit": q(up), "marginBalance": q(wb + up),
                           "maintMargin": q(used / 4), "initialMargin": q(used),
                           "positionInitialMargin": q(used), "openOrderInitialMargin": "0",
                           "crossWalletBalance": q(wb), "crossUnPnl": q(up),
                           "availableBalance": q(wb - used), "maxWithdrawAmount": q(wb - used),
                           "updateTime": self.server.now_ms()})
        positions = [{"symbol": r["symbol"], "positionSide": "BOTH",
                      "positionAmt": r["positionAmt"], "unrealizedProfit": r["unRealizedProfit"],
                      "entryPrice": r["entryPrice"], "updateTime": r["updateTime"]}
                     for r in self.position_risk(owner)]
        return {"assets": assets, "positions": positions, "canTrade": True, "canDeposit": True,
                "canWithdraw": True, "feeTier": 0, "updateTime": self.server.now_ms()}

    def position_risk(self, owner: str, symbol: str | None = None) -> list:
        """``GET .../positionRisk``: USDⓈ-M (v3) lists symbols with a position;
        COIN-M (v1) lists every symbol, flat ones with ``positionAmt`` 0."""
        px = self.profile.px
        out = []
        for bsym in self.profile.symbols:
            if symbol is not None and bsym != symbol:
                continue
            pos = self.positions.get((owner, bsym))
            if (pos is None or not pos.pa) and not self.profile.inverse:
                continue
            pa = pos.pa if pos is not None else ZERO
            ep = pos.ep if pos is not None else ZERO
            cs = self.contract_size(bsym)
            mark = self._mark(bsym)
            up = pos.unrealized(mark, cs) if pos is not None else ZERO
            row = {"symbol": bsym, "positionSide": "BOTH", "positionAmt": px(pa),
                   "entryPrice": px(ep.quantize(_Q8)), "breakEvenPrice": px(ep.quantize(_Q8)),
                   "markPrice": px(mark), "unRealizedProfit": px(up.quantize(_Q8)),
                   "liquidationPrice": "0", "leverage": str(LEVERAGE), "marginType": "cross",
                   "isolatedMargin": "0", "isolatedWallet": "0",
                   "marginAsset": self.profile.asset(self.margin_asset(bsym)),
                   "updateTime": self.server.now_ms()}
            if cs is None:
                row["notional"] = px((pa * mark).quantize(_Q8))
            else:
                row["notionalValue"] = px((pa * cs / mark).quantize(_Q8)) if mark else "0"
            out.append(row)
        return out

    def account_update(self, owner: str, symbols: set, now: int) -> dict:
        """``ACCOUNT_UPDATE`` (reason ORDER) for the margin assets and positions of ``symbols``."""
        px = self.profile.px
        wallet = self.fwallets.get(owner, {})
        assets = sorted({self.margin_asset(s) for s in symbols})
        positions = []
        for s in sorted(symbols):
            pos = self.positions[(owner, s)]
            up = pos.unrealized(self._mark(s), self.contract_size(s))
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

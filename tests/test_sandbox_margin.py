"""Margin LIMIT/MARKET orders in the sandbox engine: margin wallet, collateral, positions, P/L."""

from decimal import Decimal

from exchange_wss.sandbox.engine import MatchingEngine, PairSpec, WalletEvent
from exchange_wss.sandbox.margin import MAX_LEVERAGE, PositionEvent

BTCUSD = PairSpec("tBTCUSD", "BTC", "USD", Decimal("0.0002"))


def make_engine():
    eng = MatchingEngine([BTCUSD], clock=lambda: 1_600_000_000_000)
    for owner in ("maker", "trader"):
        eng.open_account(owner, {"USD": "1000000", "BTC": "100"})
    eng.margin.open("trader", {"USD": "1000"})
    return eng


def positions(res):
    return [e for e in res.events if isinstance(e, PositionEvent)]


def test_a_margin_limit_order_rests_and_reserves_collateral_not_exchange_funds():
    """A resting margin buy holds notional / leverage of the margin wallet; exchange wallets
    untouched."""
    eng = make_engine()
    res = eng.submit("trader", "tBTCUSD", "0.1", "10000", type="LIMIT")
    assert res.ok and res.order.type == "LIMIT"
    assert eng.available("trader", "margin:USD") == Decimal(1000) - Decimal(1000) / MAX_LEVERAGE
    assert eng.available("trader", "USD") == Decimal(1000000)
    margin = [e for e in res.events if isinstance(e, WalletEvent) and e.wallet_type == "margin"]
    assert margin and margin[-1].available == 800.0


def test_collateral_beyond_the_margin_wallet_is_refused():
    """An order needing more than the margin wallet holds is refused with Bitfinex's wording."""
    eng = make_engine()
    res = eng.submit("trader", "tBTCUSD", "1", "10000", type="LIMIT")
    assert not res.ok and "not enough tradable balance" in res.text


def test_a_filled_margin_buy_opens_a_long_position():
    """Filling a margin buy opens a position (pn) at the trade price and charges the fee."""
    eng = make_engine()
    assert eng.submit("maker", "tBTCUSD", "-0.1", "10000").ok
    res = eng.submit("trader", "tBTCUSD", "0.1", None, type="MARKET")
    assert res.ok
    (opened,) = positions(res)
    assert opened.kind == "pn" and opened.position.amount == 0.1
    assert opened.position.base_price == 10000.0
    assert eng.margin.balance("trader", "USD") == Decimal(1000) - Decimal("2.000")  # taker 0.2%


def test_selling_back_closes_the_position_and_realizes_the_pl():
    """A margin sell of the whole position closes it (pc) and books the profit."""
    eng = make_engine()
    eng.submit("maker", "tBTCUSD", "-0.1", "10000")
    eng.submit("trader", "tBTCUSD", "0.1", None, type="MARKET")
    eng.submit("maker", "tBTCUSD", "0.1", "11000")
    res = eng.submit("trader", "tBTCUSD", "-0.1", None, type="MARKET")
    (closed,) = positions(res)
    assert closed.kind == "pc" and closed.position.amount == 0.0
    assert eng.margin.position("trader", "tBTCUSD") is None
    # +100 profit, fees 2.00 on the buy and 2.20 on the sell
    assert eng.margin.balance("trader", "USD") == Decimal("1095.800")


def test_a_margin_sell_without_coins_opens_a_short():
    """Margin allows shorting: a sell with no BTC anywhere gives a negative position."""
    eng = make_engine()
    eng.submit("maker", "tBTCUSD", "0.05", "10000")
    res = eng.submit("trader", "tBTCUSD", "-0.05", "10000", type="LIMIT")
    assert res.ok
    assert positions(res)[0].position.amount == -0.05

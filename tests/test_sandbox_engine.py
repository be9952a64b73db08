"""The sandbox's matching engine: priority, fills, order types, funds, and invariants."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange_wss.sandbox.engine import (
    MatchingEngine,
    OrderEvent,
    PairSpec,
    TradeEvent,
    WalletEvent,
    round_sig,
)

BTCUSD = PairSpec("tBTCUSD", "BTC", "USD", Decimal("0.0002"))
ETHUSD = PairSpec("tETHUSD", "ETH", "USD", Decimal("0.004"))
START = {"USD": "1000000", "BTC": "100", "ETH": "1000"}


def make_engine(*owners):
    eng = MatchingEngine([BTCUSD, ETHUSD], clock=lambda: 1_600_000_000_000)
    for o in owners or ("a", "b", "c"):
        eng.open_account(o, START)
    return eng


def kinds(res, owner=None):
    return [(e.kind if not isinstance(e, WalletEvent) else "wu") for e in res.events
            if owner is None or e.owner == owner]


def last_order(res, owner):
    return [e.order for e in res.events if isinstance(e, OrderEvent) and e.owner == owner][-1]


def test_price_then_time_priority():
    """A buyer takes the best price first, then the oldest order at the next price."""
    eng = make_engine()
    first = eng.submit("a", "tBTCUSD", "-1", "100", cid=1)
    second = eng.submit("b", "tBTCUSD", "-1", "100", cid=2)
    better = eng.submit("c", "tBTCUSD", "-1", "99", cid=3)
    res = eng.submit("a", "tBTCUSD", "1.5", "100", type="EXCHANGE LIMIT")
    fills = [(e.order_id, e.exec_price, e.exec_amount) for e in res.events
             if isinstance(e, TradeEvent) and e.kind == "te" and e.maker]
    assert fills == [(better.order.id, 99.0, -1.0), (first.order.id, 100.0, -0.5)]
    assert eng.order(second.order.id).amount == -1.0


def test_partial_fill_leaves_the_rest_resting():
    """A partly filled maker stays on the book with a PARTIALLY FILLED status."""
    eng = make_engine()
    maker = eng.submit("a", "tBTCUSD", "-1", "100")
    eng.submit("b", "tBTCUSD", "0.25", "100")
    view = eng.order(maker.order.id)
    assert view.amount == -0.75 and view.amount_orig == -1.0
    assert view.status == "PARTIALLY FILLED @ 100.0(-0.25)"


def test_executed_status_lists_earlier_partial_fills():
    """The final status names the last fill and, after 'was', the earlier ones."""
    eng = make_engine()
    maker = eng.submit("a", "tBTCUSD", "-1", "100")
    eng.submit("b", "tBTCUSD", "0.5", "100")
    res = eng.submit("c", "tBTCUSD", "0.5", "100")
    assert last_order(res, "a").status == \
        "EXECUTED @ 100.0(-0.5): was PARTIALLY FILLED @ 100.0(-0.5)"
    assert eng.order(maker.order.id) is None


def test_cancel_by_id_releases_the_reservation():
    """Cancelling a resting buy gives back the quote it reserved."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "2", "100")
    assert eng.available("a", "USD") == Decimal("1000000") - 200
    cancel = eng.cancel("a", id=res.order.id)
    assert cancel.ok and last_order(cancel, "a").status == "CANCELED"
    assert eng.available("a", "USD") == Decimal("1000000")


def test_cancel_after_partial_fill_says_what_was_filled():
    """A cancelled partly filled order's status reads 'CANCELED was: PARTIALLY FILLED @ ...'."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "-1", "100")
    eng.submit("b", "tBTCUSD", "0.4", "100")
    cancel = eng.cancel("a", id=res.order.id)
    assert last_order(cancel, "a").status == "CANCELED was: PARTIALLY FILLED @ 100.0(-0.4)"


def test_cancel_by_cid_and_cid_date():
    """An order can be cancelled by its cid and the UTC date it was created."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "1", "100", cid=777)
    assert not eng.cancel("a", cid=777, cid_date="2001-01-01").ok
    assert eng.cancel("a", cid=777, cid_date=res.order.cid_date).ok
    assert eng.open_orders("a") == []


def test_cancel_unknown_order_is_not_found():
    """Cancelling an id that is not open fails with Bitfinex's 'Order not found.'."""
    eng = make_engine()
    res = eng.cancel("a", id=12345)
    assert not res.ok and res.text == "Order not found."


def test_cancel_someone_elses_order_is_not_found():
    """One account cannot cancel another's order."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "1", "100")
    assert eng.cancel("b", id=res.order.id).text == "Order not found."


def test_cancel_multi_by_gid_and_all():
    """Multi-cancel takes a gid list, and 'all' takes the rest."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "1", "100", gid=5)
    eng.submit("a", "tBTCUSD", "1", "101", gid=5)
    keep = eng.submit("a", "tBTCUSD", "1", "102", gid=6)
    res = eng.cancel_multi("a", gids=[5])
    assert len(res.orders) == 2
    assert [o.id for o in eng.open_orders("a")] == [keep.order.id]
    assert len(eng.cancel_multi("a", all=True).orders) == 1
    assert eng.open_orders("a") == []


def test_cancel_multi_by_ids_and_cids():
    """Multi-cancel takes ids and [cid, cid_date] pairs."""
    eng = make_engine()
    one = eng.submit("a", "tBTCUSD", "1", "100", cid=1)
    two = eng.submit("a", "tBTCUSD", "1", "101", cid=2)
    eng.submit("a", "tBTCUSD", "1", "102", cid=3)
    res = eng.cancel_multi("a", ids=[one.order.id], cids=[[2, two.order.cid_date]])
    assert sorted(o.cid for o in res.orders) == [1, 2]
    assert [o.cid for o in eng.open_orders("a")] == [3]


def test_fok_is_killed_when_it_cannot_fill_entirely():
    """A fill-or-kill larger than the book at its price ends FILLORKILL CANCELED, untouched."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("b", "tBTCUSD", "2", "100", type="EXCHANGE FOK")
    assert res.ok and last_order(res, "b").status == "FILLORKILL CANCELED"
    assert not res.trades


def test_fok_fills_when_it_can():
    """A fill-or-kill the book can satisfy executes in full."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    eng.submit("a", "tBTCUSD", "-1", "101")
    res = eng.submit("b", "tBTCUSD", "2", "101", type="EXCHANGE FOK")
    assert last_order(res, "b").status.startswith("EXECUTED @ 101.0(1.0)")


def test_ioc_remainder_is_cancelled():
    """An immediate-or-cancel takes what it can and cancels the rest."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("b", "tBTCUSD", "3", "100", type="EXCHANGE IOC")
    order = last_order(res, "b")
    assert order.status == "IOC CANCELED was: PARTIALLY FILLED @ 100.0(1.0)"
    assert order.amount == 2.0 and eng.open_orders("b") == []


def test_market_order_walks_the_book():
    """A market buy takes successive ask levels and its average price reflects them."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    eng.submit("a", "tBTCUSD", "-1", "110")
    res = eng.submit("b", "tBTCUSD", "2", None, type="EXCHANGE MARKET")
    order = last_order(res, "b")
    assert order.status.startswith("EXECUTED @ 110.0(1.0)")
    assert order.price_avg == 105.0
    assert [t.price for t in res.trades] == [100.0, 110.0]


def test_market_buy_beyond_funds_is_rejected():
    """A market buy whose cost exceeds the available quote is refused before it trades."""
    eng = MatchingEngine([BTCUSD], clock=lambda: 0)
    eng.open_account("a", START)
    eng.open_account("poor", {"USD": "50"})
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("poor", "tBTCUSD", "1", None, type="EXCHANGE MARKET")
    assert not res.ok and res.text.startswith(
        "Invalid order: not enough exchange balance for 1 BTCUSD")


def test_post_only_that_would_match_is_cancelled():
    """A post-only order that would take is accepted, then cancelled 'POSTONLY CANCELED'."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("b", "tBTCUSD", "1", "100", flags=4096)
    assert res.ok and kinds(res, "b")[:2] == ["on", "oc"]
    assert last_order(res, "b").status == "POSTONLY CANCELED"
    assert not res.trades


def test_post_only_that_does_not_match_rests():
    """A post-only order below the ask rests like any limit order."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("b", "tBTCUSD", "1", "99", flags=4096)
    assert eng.order(res.order.id).status == "ACTIVE"


def test_hidden_order_matches_but_is_not_shown():
    """A hidden order is absent from the public book but still trades."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "-1", "100", flags=64)
    assert eng.book_orders("tBTCUSD") == ([], [])
    fill = eng.submit("b", "tBTCUSD", "1", "100")
    assert fill.trades and eng.order(res.order.id) is None


def test_stop_triggers_on_the_last_trade_price():
    """A sell stop becomes a market order once a trade prints at or below its price."""
    eng = make_engine()
    eng.submit("c", "tBTCUSD", "2", "95")      # bids for the stop to hit
    stop = eng.submit("a", "tBTCUSD", "-1", "98", type="EXCHANGE STOP")
    assert eng.order(stop.order.id).status == "ACTIVE"
    eng.submit("c", "tBTCUSD", "-0.5", "99")
    res = eng.submit("b", "tBTCUSD", "0.5", "99")   # last trade 99: not yet
    assert eng.order(stop.order.id) is not None
    assert res.trades[0].price == 99.0
    eng.submit("b", "tBTCUSD", "-0.5", "95")        # prints at 95 (the bid): triggers
    assert eng.order(stop.order.id) is None
    assert eng.balance("a", "BTC") == Decimal("99")


def test_stop_result_reports_market_type():
    """A triggered stop closes as EXCHANGE MARKET with EXCHANGE STOP as its previous type."""
    eng = make_engine()
    eng.submit("c", "tBTCUSD", "2", "95")
    stop = eng.submit("a", "tBTCUSD", "-1", "98", type="EXCHANGE STOP")
    res = eng.submit("b", "tBTCUSD", "-0.5", "95")
    closed = [e.order for e in res.events
              if isinstance(e, OrderEvent) and e.order.id == stop.order.id]
    assert closed[-1].type == "EXCHANGE MARKET" and closed[-1].type_prev == "EXCHANGE STOP"
    assert closed[-1].status.startswith("EXECUTED @ 95.0(-1.0)")


def test_minimum_size_is_enforced():
    """Orders under the pair's minimum are refused with Bitfinex's wording."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "0.0001", "100")
    assert not res.ok
    assert res.text == "Invalid order: minimum size for BTC/USD is 0.0002"
    assert res.order.id is None


def test_insufficient_balance_is_refused():
    """A buy costing more than the available quote is refused and reserves nothing."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "100", "20000")
    assert not res.ok
    assert res.text == "Invalid order: not enough exchange balance for 100 BTCUSD at 20000"
    assert eng.available("a", "USD") == Decimal("1000000")


def test_reserved_balance_counts_against_new_orders():
    """Funds held by a resting order cannot back a second one."""
    eng = make_engine()
    assert eng.submit("a", "tBTCUSD", "-60", "100").ok
    assert not eng.submit("a", "tBTCUSD", "-60", "101").ok


def test_margin_types_beyond_limit_and_market_are_refused_clearly():
    """A margin type the sandbox does not execute is refused with a text naming those it does."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "1", "100", type="STOP LIMIT")
    assert not res.ok and "margin LIMIT" in res.text and "EXCHANGE LIMIT" in res.text


def test_fees_are_charged_in_the_received_currency():
    """Maker pays 0.1% and taker 0.2% of what each receives, reported negative on tu."""
    eng = make_engine()
    eng.submit("a", "tBTCUSD", "-1", "100")
    res = eng.submit("b", "tBTCUSD", "1", "100")
    tu = {e.owner: e for e in res.events if isinstance(e, TradeEvent) and e.kind == "tu"}
    te = [e for e in res.events if isinstance(e, TradeEvent) and e.kind == "te"]
    assert all(e.fee is None for e in te)
    assert (tu["a"].fee, tu["a"].fee_currency, tu["a"].maker) == (-0.1, "USD", True)
    assert (tu["b"].fee, tu["b"].fee_currency, tu["b"].maker) == (-0.002, "BTC", False)
    assert eng.balance("b", "BTC") == Decimal("100.998")
    assert eng.balance("a", "USD") == Decimal("1000099.9")


def test_price_is_rounded_to_five_significant_digits():
    """Prices are kept to 5 significant digits, as Bitfinex does."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "1", "100.123456")
    assert res.order.price == 100.12
    assert round_sig(Decimal("0.00000065432"), 5) == Decimal("6.5432E-7")


def test_update_changes_price_and_amount():
    """An update moves an order and resizes it; the reservation follows."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "1", "100")
    upd = eng.update("a", res.order.id, price="90", amount="2")
    assert upd.ok and upd.text == "Submitting update to exchange limit buy order for 2 BTC."
    view = eng.order(res.order.id)
    assert (view.price, view.amount) == (90.0, 2.0)
    assert eng.available("a", "USD") == Decimal("1000000") - 180


def test_update_with_delta():
    """A delta adds to the remaining amount."""
    eng = make_engine()
    res = eng.submit("a", "tBTCUSD", "-1", "100")
    eng.update("a", res.order.id, delta="-0.5")
    assert eng.order(res.order.id).amount == -1.5


def test_update_that_crosses_trades():
    """Moving a bid through the ask makes it trade as a taker."""
    eng = make_engine()
    eng.submit("b", "tBTCUSD", "-1", "101")
    res = eng.submit("a", "tBTCUSD", "1", "100")
    upd = eng.update("a", res.order.id, price="101")
    assert upd.trades and eng.order(res.order.id) is None


def test_update_unknown_order_is_not_found():
    """Updating an order that is not open fails with 'Order not found.'."""
    assert make_engine().update("a", 99, price="1").text == "Order not found."


# -- invariants ----------------------------------------------------------------------

OWNERS = ("a", "b", "c")
op_strategy = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(OWNERS), st.sampled_from(["tBTCUSD", "tETHUSD"]),
              st.decimals("-3", "3", places=4, allow_nan=False, allow_infinity=False),
              st.decimals("90", "110", places=1, allow_nan=False, allow_infinity=False),
              st.sampled_from(["EXCHANGE LIMIT", "EXCHANGE LIMIT", "EXCHANGE MARKET",
                               "EXCHANGE IOC", "EXCHANGE FOK", "EXCHANGE STOP"]),
              st.sampled_from([0, 0, 64, 4096])),
    st.tuples(st.just("cancel"), st.sampled_from(OWNERS), st.integers(0, 30)),
    st.tuples(st.just("update"), st.sampled_from(OWNERS), st.integers(0, 30),
              st.decimals("90", "110", places=1, allow_nan=False, allow_infinity=False)),
    st.tuples(st.just("cancel_all"), st.sampled_from(OWNERS)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_strategy, max_size=60))
def test_random_sequences_conserve_funds_and_never_overfill(ops):
    """Any order sequence keeps wallets + fees equal to deposits, nothing negative,
    and no order filled beyond its size or filled twice."""
    eng = MatchingEngine([BTCUSD, ETHUSD], clock=lambda: 1_600_000_000_000)
    small = {"USD": "2000", "BTC": "3", "ETH": "5"}
    for o in OWNERS:
        eng.open_account(o, small)
    ids: list = []
    filled: dict = {}
    orig: dict = {}
    trade_ids: set = set()
    for op in ops:
        if op[0] == "submit":
            _, owner, sym, amount, price, type_, flags = op
            res = eng.submit(owner, sym, amount, price, type=type_, flags=flags)
            if res.ok:
                ids.append(res.order.id)
                orig[res.order.id] = Decimal(repr(res.order.amount_orig))
        elif op[0] == "cancel":
            res = eng.cancel(op[1], id=ids[op[2] % len(ids)] if ids else 0)
        elif op[0] == "update":
            res = eng.update(op[1], ids[op[2] % len(ids)] if ids else 0, price=op[3])
        else:
            res = eng.cancel_multi(op[1], all=True)
        for e in res.events:
            if isinstance(e, TradeEvent) and e.kind == "te":
                assert (e.id, e.order_id) not in trade_ids, "a fill reported twice"
                trade_ids.add((e.id, e.order_id))
                filled[e.order_id] = (filled.get(e.order_id, Decimal(0))
                                      + Decimal(repr(e.exec_amount)))
            if isinstance(e, OrderEvent):
                orig[e.order.id] = Decimal(repr(e.order.amount_orig))
        for o in OWNERS:
            for cur, (bal, avail) in eng.wallets(o).items():
                assert bal >= 0 and avail >= 0, (o, cur, bal, avail)
    for cur in ("USD", "BTC", "ETH"):
        total = sum(eng.balance(o, cur) for o in OWNERS) + eng.fees_collected.get(cur, Decimal(0))
        assert total == Decimal(small[cur]) * len(OWNERS)
    for oid, amount in filled.items():
        assert abs(amount) <= abs(orig[oid])
        assert (amount > 0) == (orig[oid] > 0)
    for view in eng.open_orders():
        done = filled.get(view.id, Decimal(0))
        assert Decimal(repr(view.amount_orig)) - Decimal(repr(view.amount)) == done


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity", None, [1]])
def test_garbage_amounts_are_refused(bad):
    """Non-numeric amounts are refused with a notification text, never an exception."""
    res = make_engine().submit("a", "tBTCUSD", bad, "100")
    assert not res.ok and res.text.startswith("Invalid order")

"""BinanceWssClient end to end against the sandbox's Binance server over loopback."""

from __future__ import annotations

import itertools

import pytest
from _support import Recorder, eventually

from exchange_wss import BinanceWssClient, LocalProtocolError, OrderRejected, models
from exchange_wss.errors import OrderStateUnknown, RequestNotApplied, RequestNotSent
from exchange_wss.sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, BinanceSandbox


@pytest.fixture(params=["spot", "usdm"])
def sandbox(request):
    sb = BinanceSandbox(market=request.param, seed=3, tick_interval=0.05).start()
    yield sb
    sb.stop()


@pytest.fixture
def make_client(sandbox):
    clients = []

    def make(**kwargs):
        events, errors = Recorder(), Recorder()
        creds = () if kwargs.pop("public_only", False) else (DEFAULT_BINANCE_KEY,
                                                               DEFAULT_BINANCE_SECRET)
        client = BinanceWssClient(*creds, market=sandbox.market, rest_url=sandbox.rest_url,
                                  stream_url=sandbox.stream_url, api_url=sandbox.api_url,
                                  on_event=events, on_error=errors, reconnect_delay=0.05,
                                  max_reconnect_delay=0.3, **kwargs)
        client.events, client.errors = events, errors
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()


def test_trades_and_tickers_arrive_typed(make_client):
    """Trade and ticker streams deliver typed models for their symbol."""
    client = make_client(public_only=True)
    trades, tickers = Recorder(), Recorder()
    client.subscribe_to_trades("BTCUSDT", trades)
    client.subscribe_to_ticker("btcusdt", tickers)
    client.start()
    trade = trades.wait_for(lambda e: isinstance(e, models.Trade))
    assert trade.symbol == "BTCUSDT" and trade.price > 0
    assert tickers.wait_for(lambda e: isinstance(e, models.Ticker)).symbol == "BTCUSDT"


def test_candles_arrive_typed(make_client):
    """A kline stream delivers Candles of its interval."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_candles("BTCUSDT", "1m", got)
    client.start()
    assert got.wait_for(lambda e: isinstance(e, models.Candle)).timeframe == "1m"


def test_book_ticker_arrives(make_client):
    """bookTicker delivers best bid and ask (on USDT-M through the /public route)."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_book_ticker("BTCUSDT", got)
    client.start()
    event = got.wait_for(lambda e: isinstance(e, models.BookTicker))
    assert event.bid < event.ask


def test_order_book_syncs_with_the_rest_snapshot(sandbox, make_client):
    """The diff stream plus a REST snapshot give a book equal to the server's top levels."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_orderbook("BTCUSDT", got, limit=100)
    client.start()
    got.wait_for(lambda e: isinstance(e, models.BookSnapshot))
    got.wait_count(lambda e: isinstance(e, models.BookDiff), 5)

    def same():
        mine = client.order_book("BTCUSDT")
        theirs = sandbox.book("BTCUSDT", limit=5)
        return ([(float(p), float(q)) for p, q in theirs["bids"]] == mine.bids[:5] and
                [(float(p), float(q)) for p, q in theirs["asks"]] == mine.asks[:5])

    eventually(same, timeout=10)


def test_user_data_and_an_order_over_the_socket(sandbox, make_client):
    """An order placed over the WebSocket API is accepted and comes back on the user stream."""
    client = make_client()
    orders = Recorder()
    client.subscribe_to_orders(orders)
    client.start()
    if sandbox.market == "spot":
        client.events.wait_for(lambda e: getattr(e, "state", None) == "user data subscribed")
    else:
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "connected")
    resting_price = sandbox.book("BTCUSDT", limit=20)["bids"][-1][0]  # on the tick grid
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price,
                                 time_in_force="GTC")
    order = future.result(10)
    assert isinstance(order, models.Order) and order.id is not None
    update = orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)
    assert update.status == "NEW"
    assert len([o for o in sandbox.orders_received(DEFAULT_BINANCE_KEY)
                if o.get("newClientOrderId") == future.client_order_id]) <= 1


def test_cancel_of_an_unknown_order_is_rejected(make_client):
    """Cancelling an order that does not exist fails with Binance's -2011."""
    client = make_client()
    client.start()
    with pytest.raises(OrderRejected) as info:
        client.cancel_order("BTCUSDT", order_id=987654321).result(10)
    assert info.value.code == -2011


def test_bad_stream_arguments_fail_fast():
    """An unknown kline interval and a bad market are refused before anything is sent."""
    client = BinanceWssClient(stream_url="ws://127.0.0.1:9")
    with pytest.raises(LocalProtocolError):
        client.subscribe_to_candles("BTCUSDT", "7m", print)
    with pytest.raises(LocalProtocolError):
        BinanceWssClient(market="options")


@pytest.fixture
def futures_sandbox():
    sb = BinanceSandbox(market="usdm", seed=4, tick_interval=0.05, ping_interval=0.2).start()
    yield sb
    sb.stop()


def futures_client(sb, **kwargs):
    events, errors = Recorder(), Recorder()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="usdm",
                              rest_url=sb.rest_url, stream_url=sb.stream_url, api_url=sb.api_url,
                              on_event=events, on_error=errors, reconnect_delay=0.05,
                              max_reconnect_delay=0.3, **kwargs)
    client.events, client.errors = events, errors
    return client


def place_resting(sb, client):
    price = sb.book("BTCUSDT", limit=20)["bids"][-1][0]
    return client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", price,
                               time_in_force="GTC").result(10)


def test_listen_key_keepalives_arrive_on_time(futures_sandbox):
    """With keepalive_interval=0.3 s the server sees a keepalive about every 0.3 s."""
    client = futures_client(futures_sandbox, keepalive_interval=0.3)
    try:
        client.subscribe_to_user_data(Recorder())
        client.start()
        times = eventually(lambda: (lambda t: t if len(t) >= 4 else None)(
            futures_sandbox.keepalives(DEFAULT_BINANCE_KEY)))
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Never early (a second keepalive chain would show as tiny gaps); late
        # only by scheduling delay on a loaded machine.
        assert all(0.25 <= g <= 3.0 for g in gaps), gaps
    finally:
        client.stop()


def test_expired_listen_key_is_replaced_without_losing_the_subscription(futures_sandbox):
    """After listenKeyExpired the client gets a new key, reconnects, and events flow again."""
    client = futures_client(futures_sandbox)
    orders = Recorder()
    try:
        client.subscribe_to_orders(orders)
        client.start()
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "connected")
        old_key = futures_sandbox.listen_key(DEFAULT_BINANCE_KEY)
        futures_sandbox.faults.expire_listen_key()
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "reconnected")
        assert futures_sandbox.listen_key(DEFAULT_BINANCE_KEY) not in (None, old_key)
        order = place_resting(futures_sandbox, client)
        orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)
    finally:
        client.stop()


def test_server_pings_are_answered_with_their_payload(futures_sandbox):
    """Every server ping gets a pong echoing its payload (autobahn does it for us)."""
    client = futures_client(futures_sandbox)
    try:
        client.subscribe_to_ticker("BTCUSDT", Recorder())
        client.start()
        eventually(lambda: len(futures_sandbox.pongs()) >= 3)
        assert futures_sandbox.pongs_ok()
    finally:
        client.stop()


def test_server_shutdown_reconnects_the_api_and_orders_work_after(make_client, sandbox):
    """serverShutdown makes the client reconnect; user data and orders work on the new socket."""
    client = make_client()
    orders = Recorder()
    client.subscribe_to_orders(orders)
    client.start()
    place_resting(sandbox, client)
    sandbox.faults.server_shutdown()
    # Every connection reconnects; orders go out on the API one (futures have a user-data
    # connection too, which may be back first).
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected"
                           and getattr(e, "connection", None) == "api")
    order = place_resting(sandbox, client)
    orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)


def run_through_cuts(max_connection_age, seconds=5.0):
    """Trades and orders for `seconds` on a sandbox that cuts connections at 2 s."""
    import time
    sb = BinanceSandbox(market="spot", seed=9, tick_interval=0.05, max_connection_age=2.0).start()
    events, errors, trades, orders = Recorder(), Recorder(), Recorder(), Recorder()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="spot",
                              rest_url=sb.rest_url, stream_url=sb.stream_url, api_url=sb.api_url,
                              on_event=events, on_error=errors, reconnect_delay=0.05,
                              max_reconnect_delay=0.2, max_connection_age=max_connection_age,
                              rotation_overlap=0.9)
    placed, failed = [], []
    try:
        # aggTrade ids run 1, 2, 3... per symbol: a gap would be a lost trade.
        client.subscribe_to_trades("BTCUSDT", trades, aggregate=True)
        client.subscribe_to_orders(orders)
        client.start()
        trades.wait_for(lambda e: True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                placed.append(place_resting(sb, client).id)
            except (RequestNotSent, OrderStateUnknown, RequestNotApplied) as exc:
                # Handed over while the API connection was down (never sent), or in
                # flight at a cut (asked about afterwards: not placed, or unknown):
                # only the control test sees these.
                failed.append(exc)
            time.sleep(0.25)  # the pace of the order flow under test
        for order_id in placed:
            orders.wait_for(lambda e, i=order_id: isinstance(e, models.Order) and e.id == i)
    finally:
        client.stop()
        sb.stop()
    states = [e.state for e in events.items if isinstance(e, models.ConnectionState)
              and e.reason != "closed by client"]  # our own stop() at the end
    news = [e.id for e in orders.items if isinstance(e, models.Order) and e.status == "NEW"]
    return states, [t.id for t in trades.items], news, placed, failed


def test_rotation_before_the_cut_loses_and_duplicates_nothing():
    """Rotating before the server's age cut: no disconnect, no trade or order event twice or
    lost."""
    states, trade_ids, news, placed, failed = run_through_cuts(max_connection_age=1.0)
    assert "disconnected" not in states and states.count("rotated") >= 4
    assert "rotation_unverified" not in states, "a stream did not join within the overlap"
    assert failed == [], "an order was refused or lost at a rotation"
    assert trade_ids == sorted(set(trade_ids)), "a trade was delivered twice or out of order"
    assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids))), "a trade was lost"
    assert sorted(news) == sorted(placed), "an order event was lost or delivered twice"


def test_rotation_under_a_cpu_hog_loses_and_repeats_nothing():
    """The rotation test, 20 times in a row (``EXCHANGE_WSS_ROTATION_RUNS``), beside a
    process that keeps a core busy: no trade lost or repeated, no order event lost,
    no hand-over left unverified."""
    import os
    import subprocess
    import sys
    runs = int(os.environ.get("EXCHANGE_WSS_ROTATION_RUNS", "20"))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for run in range(runs):
            states, trade_ids, news, placed, failed = run_through_cuts(
                max_connection_age=1.0, seconds=2.2)
            where = f"run {run + 1} of {runs}"
            assert "disconnected" not in states and "rotated" in states, where
            assert "rotation_unverified" not in states, where
            assert failed == [], where
            assert trade_ids == list(range(trade_ids[0], trade_ids[0] + len(trade_ids))), \
                f"{where}: a trade was lost or repeated"
            assert sorted(news) == sorted(placed), f"{where}: an order event was lost"
    finally:
        hog.kill()
        hog.wait()


def test_without_rotation_the_cut_disconnects():
    """Control: with rotation off, the same server's cut shows up as disconnects."""
    states, _trades, _news, _placed, _failed = run_through_cuts(max_connection_age=None,
                                                                 seconds=3.0)
    assert "disconnected" in states


def test_keepalive_on_a_vanished_key_gets_a_new_one(futures_sandbox):
    """A keepalive answered with -1125 (key gone) leads to a new key and a reconnect."""
    import requests
    client = futures_client(futures_sandbox, keepalive_interval=0.3)
    orders = Recorder()
    try:
        client.subscribe_to_orders(orders)
        client.start()
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "connected")
        old_key = futures_sandbox.listen_key(DEFAULT_BINANCE_KEY)
        requests.delete(f"{futures_sandbox.rest_url}/fapi/v1/listenKey",
                        headers={"X-MBX-APIKEY": DEFAULT_BINANCE_KEY}, timeout=5)
        eventually(lambda: futures_sandbox.listen_key(DEFAULT_BINANCE_KEY) not in (None, old_key))
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "reconnected")
        order = place_resting(futures_sandbox, client)
        orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)
    finally:
        client.stop()


def test_a_burst_of_subscriptions_stays_under_the_control_rate(make_client, sandbox):
    """Twelve subscriptions at once are paced: the server never closes the connection."""
    client = make_client(public_only=True)
    recorders = []
    client.subscribe_to_ticker("BTCUSDT", Recorder())
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "connected")
    for interval in ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d"):
        rec = Recorder()
        recorders.append(rec)
        client.subscribe_to_candles("ETHUSDT", interval, rec)
    for rec in recorders:
        rec.wait_for(lambda e: True, timeout=15)
    assert not [e for e in client.events.items if getattr(e, "state", None) == "disconnected"]


def test_order_unanswered_at_a_drop_is_settled_by_query_and_never_resent(make_client, sandbox):
    """An order whose answer is lost to a drop resolves with the order the exchange
    reports (Spot order.status, futures REST) and is never sent twice."""
    client = make_client()
    client.start()
    place_resting(sandbox, client)  # the API connection is up
    sandbox.faults.stall()
    price = sandbox.book("BTCUSDT", limit=20)["bids"][-1][0]
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", price, time_in_force="GTC")
    eventually(lambda: [o for o in sandbox.orders_received(DEFAULT_BINANCE_KEY)
                        if o.get("newClientOrderId") == future.client_order_id])
    sandbox.faults.drop_connections()
    sandbox.faults.resume()
    order = future.result(15)
    # The order as the exchange reports it now (the market may have filled it since).
    assert order.cid == future.client_order_id and order.id is not None
    assert order.status in ("NEW", "PARTIALLY_FILLED", "FILLED") and order.kind == "result"
    assert client._in_doubt.settled["found"] == 1
    assert len([o for o in sandbox.orders_received(DEFAULT_BINANCE_KEY)
                if o.get("newClientOrderId") == future.client_order_id]) == 1


def test_coinm_user_data_on_the_ws_listen_key_path():
    """COIN-M: the listenKey stream on /ws/<key> carries the ORDER_TRADE_UPDATE of an order."""
    sb = BinanceSandbox(market="coinm", seed=6, tick_interval=0.05).start()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="coinm",
                              rest_url=sb.rest_url, stream_url=sb.stream_url, api_url=sb.api_url,
                              on_event=Recorder(), reconnect_delay=0.05)
    orders = Recorder()
    try:
        client.subscribe_to_orders(orders)
        client.start()
        client.on_event.wait_for(lambda e: getattr(e, "connection", None) == "user"
                                 and e.state == "connected")
        assert "/ws/" in client._user_link.conn.url
        price = sb.book("BTCUSD_PERP", limit=20)["bids"][-1][0]
        order = client.submit_order("BTCUSD_PERP", "BUY", "LIMIT", "1", price,
                                    time_in_force="GTC").result(10)
        orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)
    finally:
        client.stop()
        sb.stop()


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_derivatives_and_all_market_streams_arrive_typed(market):
    """Mark price (with funding), liquidations, mini and all-market tickers, continuous
    klines, partial depth and all book tickers, each typed, on pooled market connections."""
    sb = BinanceSandbox(market=market, seed=5, tick_interval=0.05).start()
    client = BinanceWssClient(market=market, rest_url=sb.rest_url, stream_url=sb.stream_url,
                              api_url=sb.api_url, on_error=Recorder(), reconnect_delay=0.05)
    symbol, pair = ("BTCUSD_PERP", "BTCUSD") if market == "coinm" else ("BTCUSDT", "BTCUSDT")
    got = {name: Recorder() for name in ("mark", "liq", "all_liq", "mini", "all_mini",
                                         "all_tickers", "ckline", "partial", "all_book")}
    try:
        client.subscribe_to_mark_price(symbol, got["mark"], speed="1s")
        client.subscribe_to_liquidations(symbol, got["liq"])
        client.subscribe_to_all_liquidations(got["all_liq"])
        client.subscribe_to_mini_ticker(symbol, got["mini"])
        client.subscribe_to_all_mini_tickers(got["all_mini"])
        client.subscribe_to_all_tickers(got["all_tickers"])
        client.subscribe_to_continuous_candles(pair, "perpetual", "1m", got["ckline"])
        client.subscribe_to_partial_book(symbol, 5, got["partial"], speed="100ms")
        client.subscribe_to_all_book_tickers(got["all_book"])
        if market == "usdm":
            got["all_mark"] = Recorder()
            client.subscribe_to_all_mark_prices(got["all_mark"])
        else:
            got["pair_mark"] = Recorder()
            client.subscribe_to_pair_mark_price(pair, got["pair_mark"])
        client.start()
        eventually(lambda: all(s.state == "active" for s in client.subscriptions()))
        sb.liquidate(symbol, "SELL", "1" if market == "coinm" else "0.01")
        mark = got["mark"].wait_for(lambda e: isinstance(e, models.MarkPrice))
        assert mark.symbol == symbol and mark.funding_rate is not None and mark.next_funding_mts
        for name in ("all_mark", "pair_mark"):
            if name in got:
                assert got[name].wait_for(lambda e: isinstance(e, models.MarkPrice)).mark_price
        liq = got["liq"].wait_for(lambda e: isinstance(e, models.LiquidationOrder))
        assert liq.symbol == symbol and liq.amount < 0
        assert got["all_liq"].wait_for(lambda e: isinstance(e, models.LiquidationOrder))
        assert got["mini"].wait_for(lambda e: isinstance(e, models.MiniTicker)).symbol == symbol
        assert {e.symbol for e in got["all_mini"].wait_count(
            lambda e: isinstance(e, models.MiniTicker), 2)} >= {symbol}
        assert got["all_tickers"].wait_for(lambda e: isinstance(e, models.Ticker))
        candle = got["ckline"].wait_for(lambda e: isinstance(e, models.Candle))
        assert candle.symbol == pair and candle.timeframe == "1m"
        book = got["partial"].wait_for(lambda e: isinstance(e, models.BookSnapshot))
        assert len(book.bids) == 5 and book.bids[0][0] < book.asks[0][0]
        assert got["all_book"].wait_for(lambda e: isinstance(e, models.BookTicker))
        # Pooled: USDT-M needs one connection per route, COIN-M one for all.
        assert len(client._market_links) == (2 if market == "usdm" else 1)
    finally:
        client.stop()
        sb.stop()


def test_streams_a_market_does_not_serve_are_refused_before_sending():
    """Spot has no mark price, no all-market tickers and no book tickers of all symbols."""
    client = BinanceWssClient(stream_url="ws://127.0.0.1:9")
    for subscribe in (lambda: client.subscribe_to_mark_price("BTCUSDT", print),
                      lambda: client.subscribe_to_all_tickers(print),
                      lambda: client.subscribe_to_all_book_tickers(print),
                      lambda: client.subscribe_to_continuous_candles("BTCUSDT", "perpetual",
                                                                     "1m", print)):
        with pytest.raises(LocalProtocolError):
            subscribe()
    assert client.subscriptions() == []


def test_a_failing_depth_snapshot_is_reported_and_retried():
    """The REST depth snapshot cannot be fetched: each failure reaches on_error as a
    RestError naming the book, and it is tried again."""
    from exchange_wss.errors import RestError
    sb = BinanceSandbox(market="spot", seed=3, tick_interval=0.05).start()
    errors = Recorder()
    client = BinanceWssClient(rest_url="http://127.0.0.1:9", stream_url=sb.stream_url,
                              api_url=sb.api_url, on_error=errors, reconnect_delay=0.05)
    try:
        client.subscribe_to_orderbook("BTCUSDT", Recorder(), limit=100)
        client.start()
        failures = errors.wait_count(lambda e: isinstance(e, RestError), 2)
        assert all("/api/v3/depth" in str(e) for e in failures), failures
        assert not client.order_book("BTCUSDT").synced
    finally:
        client.stop()
        sb.stop()

"""FtxWssClient end to end against the sandbox's FTX endpoint over loopback."""

from __future__ import annotations

import pytest
from _support import Recorder, eventually, is_active

from exchange_wss import FtxWssClient, LocalProtocolError, models
from exchange_wss.errors import AuthenticationError, ChecksumMismatch
from exchange_wss.sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, FtxSandbox


@pytest.fixture
def sandbox():
    sb = FtxSandbox(seed=2, tick_interval=0.05).start()
    yield sb
    sb.stop()


@pytest.fixture
def make_client(sandbox):
    clients = []

    def make(key=DEFAULT_FTX_KEY, secret=DEFAULT_FTX_SECRET, **kwargs):
        events, errors = Recorder(), Recorder()
        client = FtxWssClient(key, secret, url=sandbox.url, on_event=events, on_error=errors,
                              reconnect_delay=0.05, max_reconnect_delay=0.3, **kwargs)
        client.events, client.errors = events, errors
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()


def test_login_then_fills_and_orders_arrive_typed(sandbox, make_client):
    """After login, an order that rests and then fills arrives as Orders and a Fill."""
    client = make_client()
    fills, orders = Recorder(), Recorder()
    client.subscribe_to_fills(fills)
    client.subscribe_to_orders(orders)
    client.start()
    client.events.wait_count(is_active, 2)
    ask = sandbox.book("BTC-PERP")["asks"][0][0]
    sandbox.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", ask, 0.01)
    order = orders.wait_for(lambda e: isinstance(e, models.Order))
    assert order.symbol == "BTC-PERP" and order.side == "buy"
    fill = fills.wait_for(lambda e: isinstance(e, models.Fill))
    assert fill.side == "buy" and fill.size == pytest.approx(0.01)
    assert fill.liquidity in ("maker", "taker") and fill.fee is not None


def test_bad_credentials_are_reported(make_client):
    """A wrong secret gives an AuthenticationError on on_error."""
    client = make_client(secret="wrong")
    client.subscribe_to_orders(Recorder())
    client.start()
    client.errors.wait_for(lambda e: isinstance(e, AuthenticationError))


def test_ticker_and_trades_arrive_typed(make_client):
    """Public ticker and trades deliver Ticker and Trade models for their market."""
    client = make_client(key=None, secret=None)
    tickers, trades = Recorder(), Recorder()
    client.subscribe_to_ticker("BTC-PERP", tickers)
    client.subscribe_to_trades("BTC-PERP", trades)
    client.start()
    ticker = tickers.wait_for(lambda e: isinstance(e, models.Ticker))
    assert ticker.bid < ticker.ask
    assert trades.wait_for(lambda e: isinstance(e, models.Trade)).price > 0


def test_order_book_checksums_pass_and_the_book_matches(sandbox, make_client):
    """Many updates verify against their checksums; the kept book equals the server's."""
    client = make_client(key=None, secret=None)
    got = Recorder()
    client.subscribe_to_orderbook("XRP/BTC", got)
    client.subscribe_to_orderbook("BTC-PERP", Recorder())
    client.start()
    got.wait_count(lambda e: isinstance(e, models.BookDiff), 30)
    assert not client.errors.of_type(ChecksumMismatch)

    def same():
        mine = client.order_book("XRP/BTC")
        theirs = sandbox.book("XRP/BTC", 20)
        return ([tuple(x) for x in theirs["bids"]] == mine.bids[:20] and
                [tuple(x) for x in theirs["asks"]] == mine.asks[:20])

    eventually(same)


def test_corrupted_checksum_resubscribes_the_market(sandbox, make_client):
    """A wrong checksum is reported and the book comes back from a new partial."""
    client = make_client(key=None, secret=None)
    got = Recorder()
    client.subscribe_to_orderbook("BTC-PERP", got)
    client.start()
    got.wait_count(lambda e: isinstance(e, models.BookDiff), 5)
    sandbox.faults.corrupt_next_checksum()
    client.errors.wait_for(lambda e: isinstance(e, ChecksumMismatch))
    got.wait_count(lambda e: isinstance(e, models.BookSnapshot), 2)
    count = len(got.items)
    got.wait_count(lambda e: isinstance(e, models.BookDiff), count + 5)


def test_info_20001_reconnects_logs_in_and_resubscribes(sandbox, make_client):
    """On 'server restarting' the client reconnects, logs in again and gets its fills."""
    client = make_client()
    fills = Recorder()
    client.subscribe_to_fills(fills)
    client.start()
    client.events.wait_for(is_active)
    sandbox.faults.send_info(20001)
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")
    client.events.wait_count(is_active, 2)
    ask = sandbox.book("BTC-PERP")["asks"][0][0]
    sandbox.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", ask, 0.01)
    fills.wait_for(lambda e: isinstance(e, models.Fill))
    assert not client.errors.of_type(AuthenticationError)


def test_bad_arguments_fail_fast():
    """An unknown channel or a missing market is refused before anything is sent."""
    client = FtxWssClient(url="ws://127.0.0.1:9/ws/")
    with pytest.raises(LocalProtocolError):
        client.subscribe_to_orderbook("", print)
    with pytest.raises(LocalProtocolError):
        client.subscribe_to_fills(print)  # needs key and secret


def test_client_pings_and_gets_pongs(make_client, monkeypatch):
    """The client sends {"op":"ping"} every PING_INTERVAL; the server's pongs arrive."""
    from exchange_wss.ftx import protocol
    monkeypatch.setattr(protocol, "PING_INTERVAL", 0.1)  # 15 s in production
    client = make_client(key=None, secret=None)
    client.subscribe_to_ticker("BTC-PERP", Recorder())
    client.start()
    client.events.wait_count(lambda e: type(e).__name__ == "Pong", 3)


def test_fill_and_order_read_with_ftx_names(sandbox, make_client):
    """Fills answer to market/trade_id/time and orders to filled/remaining, as FTX named them."""
    client = make_client()
    fills, orders = Recorder(), Recorder()
    client.subscribe_to_fills(fills)
    client.subscribe_to_orders(orders)
    client.start()
    client.events.wait_count(is_active, 2)
    ask = sandbox.book("BTC-PERP")["asks"][0][0]
    sandbox.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", ask, 0.01)
    fill = fills.wait_for(lambda e: isinstance(e, models.Fill))
    assert fill.market == "BTC-PERP" and fill.trade_id == fill.id and fill.time > 0
    closed = orders.wait_for(lambda e: isinstance(e, models.Order) and e.status == "closed")
    assert closed.filled == pytest.approx(0.01) and closed.remaining == 0

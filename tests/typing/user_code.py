"""A user's code, as an editor and mypy see it: every line here must type-check.

tests/test_typing.py runs ``mypy --strict`` on this file from a directory of its
own, against the installed package, and expects no error: each ``assert_type``
says what a callback's argument, a future's result or a fixture's value is.
It is never run (the clients would try to connect), only checked.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, assert_type

import exchange_wss
from exchange_wss import (
    BinanceWssClient,
    ExchangeWssError,
    FtxWssClient,
    RequestFuture,
    Subscription,
    WssClient,
    aio,
    connect,
)
from exchange_wss.models import (
    BalanceUpdate,
    BookDiff,
    BookSnapshot,
    BookTicker,
    BookUpdate,
    Candle,
    CandlesSnapshot,
    ConnectionState,
    Depth,
    DerivativesStatus,
    Fill,
    FundingTicker,
    FundingTrade,
    Liquidation,
    LiquidationOrder,
    MarkPrice,
    MiniTicker,
    Order,
    Position,
    RawBookUpdate,
    Ticker,
    Trade,
    TradesSnapshot,
    Wallet,
)
from exchange_wss.testing import CallbackRecorder


def on_error(error: ExchangeWssError) -> None:
    print(error)


def on_event(event: object) -> None:
    if isinstance(event, ConnectionState):
        print(event.state)


def on_ticker(ticker: Ticker) -> None:
    assert_type(ticker, Ticker)
    assert_type(ticker.last_price, float | None)  # FTX's may be missing


def on_funding_ticker(ticker: FundingTicker) -> None:
    assert_type(ticker, FundingTicker)
    assert_type(ticker.frr, float)


def bitfinex() -> None:
    client = WssClient("key", "secret", on_event=on_event, on_error=on_error)
    assert_type(client, WssClient)
    sub = client.subscribe_to_ticker("tBTCUSD", on_ticker)
    assert_type(sub, Subscription)
    client.subscribe_to_ticker("fUSD", on_funding_ticker)
    client.subscribe_to_ticker("tETHUSD", print)
    # Bitfinex's ticker, trades and book deliver by the symbol (t... or f...): the
    # callback says which it takes, so a lambda's argument is left open there.

    def on_trade(event: TradesSnapshot | Trade) -> None:
        assert_type(event, TradesSnapshot | Trade)
        if isinstance(event, Trade):
            assert_type(event.price, float)

    def on_funding_trade(event: TradesSnapshot | FundingTrade) -> None:
        assert_type(event, TradesSnapshot | FundingTrade)
        if isinstance(event, FundingTrade):
            assert_type(event.rate, float)

    client.subscribe_to_trades("tBTCUSD", on_trade)
    client.subscribe_to_trades("fUSD", on_funding_trade)

    def on_book(event: BookSnapshot | BookUpdate) -> None:
        assert_type(event, BookSnapshot | BookUpdate)

    def on_raw_book(event: BookSnapshot | RawBookUpdate) -> None:
        assert_type(event, BookSnapshot | RawBookUpdate)

    client.subscribe_to_orderbook("tBTCUSD", "P0", on_book)
    client.subscribe_to_orderbook("tBTCUSD", "R0", on_raw_book, length=25)
    book = client.order_book("tBTCUSD")
    assert_type(book, BookSnapshot)

    client.subscribe_to_candles(
        "tBTCUSD", "1m", lambda event: assert_type(event, CandlesSnapshot | Candle))

    def on_status(event: DerivativesStatus) -> None:
        assert_type(event, DerivativesStatus)
        assert_type(event.mark_price, float | None)

    def on_liquidation(event: Liquidation) -> None:
        assert_type(event, Liquidation)
        assert_type(event.amount, float)

    client.subscribe_to_status("deriv:tBTCF0:USTF0", on_status)
    client.subscribe_to_status("liq:global", on_liquidation)

    client.authenticate(print, filters=["trading", "notify"])
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", "30000")
    assert_type(future, RequestFuture[Order])
    assert_type(future.result(), Order)
    assert_type(future.result(timeout=5).id, int | None)
    assert_type(client.cancel_order(123).result(), Order)
    assert_type(client.cancel_order_cid(456).result(), Order)
    assert_type(client.update_order(id=123, price="31000").result(), Order)
    assert_type(client.new_order("EXCHANGE LIMIT", "tBTCUSD", 1, 2), int)
    # A RequestFuture is a concurrent.futures.Future of its result.
    plain: Future[Order] = future
    print(plain)
    client.unsubscribe(sub)
    with client as running:
        assert_type(running, WssClient)
    client.stop()


def binance() -> None:
    client = BinanceWssClient("key", "secret", market="usdm", on_error=on_error)
    client.subscribe_to_ticker("BTCUSDT", lambda ticker: assert_type(ticker, Ticker))
    client.subscribe_to_trades("BTCUSDT", lambda trade: assert_type(trade, Trade),
                               aggregate=True)
    client.subscribe_to_candles("BTCUSDT", "1m", lambda candle: assert_type(candle, Candle))
    client.subscribe_to_book_ticker("BTCUSDT",
                                    lambda event: assert_type(event, BookTicker))
    client.subscribe_to_orderbook("BTCUSDT",
                                  lambda event: assert_type(event, BookSnapshot | BookDiff))
    client.subscribe_to_partial_book("BTCUSDT", 5,
                                     lambda event: assert_type(event, BookSnapshot))
    client.subscribe_to_mark_price("BTCUSDT", lambda event: assert_type(event, MarkPrice))
    client.subscribe_to_all_mark_prices(lambda event: assert_type(event, MarkPrice))
    client.subscribe_to_liquidations("BTCUSDT",
                                     lambda event: assert_type(event, LiquidationOrder))
    client.subscribe_to_all_liquidations(lambda event: assert_type(event, LiquidationOrder))
    client.subscribe_to_continuous_candles("BTCUSDT", "perpetual", "1m",
                                           lambda event: assert_type(event, Candle))
    client.subscribe_to_mini_ticker("BTCUSDT", lambda event: assert_type(event, MiniTicker))
    client.subscribe_to_all_mini_tickers(lambda event: assert_type(event, MiniTicker))
    client.subscribe_to_all_tickers(lambda event: assert_type(event, Ticker))
    client.subscribe_to_all_book_tickers(lambda event: assert_type(event, BookTicker))

    client.subscribe_to_orders(lambda order: assert_type(order, Order))
    client.subscribe_to_balances(
        lambda event: assert_type(event, Wallet | BalanceUpdate))
    client.subscribe_to_positions(lambda position: assert_type(position, Position))
    client.subscribe_to_user_data(print)

    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", "30000",
                                 time_in_force="GTC")
    assert_type(future.result(), Order)
    assert_type(client.cancel_order("BTCUSDT", order_id=1).result(), Order)
    assert_type(client.balances(), list[Wallet])
    assert_type(client.positions(), list[Position])
    assert_type(client.open_orders(), list[Order])
    assert_type(client.order_book("BTCUSDT"), BookSnapshot)


def ftx() -> None:
    client = FtxWssClient("key", "secret", subaccount="bot")
    client.subscribe_to_ticker("BTC-PERP", lambda ticker: assert_type(ticker, Ticker))
    client.subscribe_to_trades("BTC-PERP", lambda trade: assert_type(trade, Trade))
    client.subscribe_to_orderbook("BTC-PERP",
                                  lambda event: assert_type(event, BookSnapshot | BookDiff))
    client.subscribe_to_fills(lambda fill: assert_type(fill, Fill))
    client.subscribe_to_orders(lambda order: assert_type(order, Order))
    client.authenticate(lambda event: assert_type(event, Fill | Order))
    assert_type(client.submit_order("BTC-PERP", "buy", 30000, 0.01).result(), Order)
    assert_type(client.get_balances().result(), list[Wallet])


def unified() -> None:
    assert_type(connect("bitfinex"), WssClient)
    assert_type(connect("binance", market="usdm"), BinanceWssClient)
    assert_type(connect("binance:coinm"), BinanceWssClient)
    assert_type(connect("ftx", "key", "secret"), FtxWssClient)
    venue: str = "BINANCE___SPOT"
    client = connect(venue)
    assert_type(client, WssClient | BinanceWssClient | FtxWssClient)
    # Every client has the unified subscriptions and the same hooks.
    client.subscribe_to_ticker("BTC/USDT", lambda ticker: print(ticker))
    client.on_error = on_error
    assert_type(exchange_wss.ClientStats().reconnects, int)
    assert_type(exchange_wss.__version__, str)


async def asyncio_user() -> None:
    async with aio.connect("binance", market="spot") as client:
        async for ticker in client.stream_ticker("BTC/USDT"):
            assert_type(ticker, Ticker)
            break
        async for trade in client.stream_trades("BTC/USDT"):
            assert_type(trade, Trade)
            break
        async for candle in client.stream_klines("BTC/USDT", "1m"):
            assert_type(candle, Candle)
            break
        async for depth in client.stream_depth("BTC/USDT", levels=10):
            assert_type(depth, Depth)
            break
        async for order in client.stream_orders():
            assert_type(order, Order)
            break
        async for balance in client.stream_balances():
            assert_type(balance, Wallet | BalanceUpdate)
            break
        placed = await client.submit_order("BTC/USDT", "buy", "limit", "0.01", "30000")
        assert_type(placed, Order)
        assert_type(await client.cancel_order(placed), Order)


def test_ticker_arrives(bitfinex_client: WssClient, callback_recorder: CallbackRecorder) -> None:
    """A user's test with the plugin's fixtures (pytest passes them by name)."""
    bitfinex_client.subscribe_to_ticker("tBTCUSD", callback_recorder)
    ticker = callback_recorder.wait_for_type(Ticker, timeout=5)
    assert_type(ticker, Ticker)
    assert_type(callback_recorder.snapshot(), list[Any])

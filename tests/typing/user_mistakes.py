"""A user's mistakes, each of which mypy must reject.

Every line that must fail ends with a ``# E:`` comment (an error code in square
brackets, then part of the message in quotes): tests/test_typing.py runs
``mypy --strict`` on this file (from a directory of its own, against the
installed package) and expects exactly these errors: that error code on that
line, its message containing the text. A line mypy stops catching fails the
test, and so does an error on a line that expects none.
"""

from __future__ import annotations

from exchange_wss import BinanceWssClient, FtxWssClient, WssClient, aio, connect
from exchange_wss.models import BookSnapshot, Candle, FundingTicker, Order, Ticker, Trade


def on_trade(trade: Trade) -> None:
    print(trade.price)


def on_order(order: Order) -> None:
    print(order.id)


def on_text(text: str) -> None:
    print(text)


def mistakes() -> None:
    client = WssClient()
    client.subscribe_to_tickr("tBTCUSD", print)  # E: [attr-defined] "subscribe_to_tickr"
    client.subscribe_to_ticker("tBTCUSD", on_trade)  # E: [arg-type] "Callable[[Trade], None]"
    client.subscribe_to_ticker(42, print)  # E: [arg-type] "int"
    client.subscribe_to_ticker("tBTCUSD")  # E: [call-arg] "callback"
    client.subscribe_to_candles("tBTCUSD", "1m", on_trade)  # E: [arg-type] "CandlesSnapshot"
    client.subscribe_to_orderbook("tBTCUSD", on_trade)  # E: [call-arg] "callback"
    client.subscribe_to_trades("tBTCUSD", on_order)  # E: [arg-type] "Callable[[Order], None]"
    client.subscribe_to_status("liq:global", on_text)  # E: [arg-type] "Callable[[str], None]"
    client.subscribe_to_orderbook("tBTCUSD", "P0", print, length="25")  # E: [arg-type] "str"

    order = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", "30000").result()
    order.price_average  # E: [attr-defined] "price_average"
    cid: str = client.new_order("EXCHANGE LIMIT", "tBTCUSD", 1, 2)  # E: [assignment] "int"
    print(cid)
    client.cancel_order("123").result()  # E: [arg-type] "str"
    client.submit_oder("EXCHANGE LIMIT", "tBTCUSD", 1)  # E: [attr-defined] "submit_oder"

    def wrong_order_type(future_result: Ticker) -> None:
        print(future_result)

    placed = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", 1).result()
    wrong_order_type(placed)  # E: [arg-type] "Order"

    WssClient(on_error=on_trade)  # E: [arg-type] "on_error"
    WssClient(channels_per_connection="25")  # E: [arg-type] "str"

    binance = BinanceWssClient()
    binance.subscribe_to_ticker("BTCUSDT", on_trade)  # E: [arg-type] "Callable[[Trade], None]"
    binance.subscribe_to_trades("BTCUSDT", lambda trade: trade.bid)  # E: [attr-defined] "bid"
    binance.subscribe_to_orders(on_trade)  # E: [arg-type] "Callable[[Trade], None]"
    binance.subscribe_to_mark_price("BTCUSDT", on_order)  # E: [arg-type] "MarkPrice"
    binance.subscribe_to_orderbook("BTCUSDT", lambda e: e.bids[0].price)  # E: [attr-defined] "pri"
    binance.balances()[0].balance_typo  # E: [attr-defined] "balance_typo"

    ftx = FtxWssClient()
    ftx.subscribe_to_fills(on_order)  # E: [arg-type] "Callable[[Order], None]"
    ftx.subscribe_to_orderbook("BTC-PERP", lambda b: b.checksum_typo)  # E: [union-attr] "checksum"

    bitfinex = connect("bitfinex")
    bitfinex.subscribe_to_book_ticker("tBTCUSD", print)  # E: [attr-defined] "book_ticker"
    connect("binance").subscribe_to_status("liq:global", print)  # E: [attr-defined] "_status"

    def on_funding(ticker: FundingTicker) -> None:
        print(ticker.frr)

    binance.subscribe_to_ticker("BTCUSDT", on_funding)  # E: [arg-type] "FundingTicker"


async def async_mistakes() -> None:
    async with aio.connect("binance") as client:
        async for ticker in client.stream_ticker("BTC/USDT"):
            ticker.close_price  # E: [attr-defined] "close_price"
        async for candle in client.stream_klines("BTC/USDT"):
            wrong: BookSnapshot = candle  # E: [assignment] "Candle"
            print(wrong)
        async for depth in client.stream_depth("BTC/USDT"):
            candle_again: Candle = depth  # E: [assignment] "Depth"
            print(candle_again)

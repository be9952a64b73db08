"""The bt_api_py streaming guide's examples, written for exchange_wss.aio.Hub, against the
sandboxes.

Each example keeps the guide's shape (venue names like ``"BINANCE___SPOT"``, the
``websocket`` option block, ``asyncio.gather``); they stop after a few events
instead of running forever.
"""

import asyncio

import pytest

from exchange_wss import aio, models
from exchange_wss.sandbox import (
    DEFAULT_BINANCE_KEY,
    DEFAULT_BINANCE_SECRET,
    DEFAULT_FTX_KEY,
    DEFAULT_FTX_SECRET,
    DEFAULT_KEY,
    DEFAULT_SECRET,
    BinanceSandbox,
    BitfinexSandbox,
    FtxSandbox,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sandboxes():
    boxes = {"bitfinex": BitfinexSandbox(tick_interval=0.05).start(),
             "binance": BinanceSandbox(market="spot", seed=1).start(),
             "ftx": FtxSandbox(tick_interval=0.05).start()}
    yield boxes
    for sb in boxes.values():
        sb.stop()


@pytest.fixture
def exchange_kwargs(sandboxes):
    """bt_api_py's configuration layout, pointed at the sandboxes."""
    bn, bfx, ftx = sandboxes["binance"], sandboxes["bitfinex"], sandboxes["ftx"]
    return {
        "BINANCE___SPOT": {
            "api_key": DEFAULT_BINANCE_KEY, "secret": DEFAULT_BINANCE_SECRET,
            "rest_url": bn.rest_url, "stream_url": bn.stream_url, "api_url": bn.api_url,
            "websocket": {"ping_interval": 20, "ping_timeout": 10, "max_reconnect": 5,
                          "reconnect_delay": 1, "compression": True},
        },
        "BITFINEX___SPOT": {"api_key": DEFAULT_KEY, "secret": DEFAULT_SECRET, "url": bfx.url},
        "FTX___SWAP": {"api_key": DEFAULT_FTX_KEY, "secret": DEFAULT_FTX_SECRET,
                       "url": ftx.url, "rest_url": ftx.rest_url},
    }


def test_basic_connection_with_the_guides_websocket_settings(exchange_kwargs):
    """The config example's websocket block (compression included) is taken as it is."""
    async def main():
        async with aio.Hub(exchange_kwargs=exchange_kwargs) as api:
            async for ticker in api.stream_ticker("BINANCE___SPOT", "BTCUSDT"):
                conn = api.client("BINANCE___SPOT").client._market_links[0].conn
                return ticker, conn.protocol._perMessageCompress

    ticker, deflate = asyncio.run(main())
    assert ticker.last_price > 0
    assert deflate is not None  # permessage-deflate was negotiated


def test_multiple_streams_with_gather(exchange_kwargs):
    """Ticker and depth of one symbol, concurrently, as the guide's multi_streaming does."""
    spreads, prices = [], []

    async def multi_streaming():
        api = aio.Hub(exchange_kwargs=exchange_kwargs)

        async def stream_ticker():
            async for ticker in api.stream_ticker("BINANCE___SPOT", "BTCUSDT"):
                prices.append(ticker.last_price)
                if len(prices) == 3:
                    break

        async def stream_depth():
            async for depth in api.stream_depth("BINANCE___SPOT", "BTCUSDT"):
                if depth.bids and depth.asks:
                    bid = depth.bids[0][0]
                    ask = depth.asks[0][0]
                    spreads.append(ask - bid)
                if len(spreads) == 3:
                    break

        try:
            await asyncio.wait_for(asyncio.gather(stream_ticker(), stream_depth()), 30)
        finally:
            await api.close()

    asyncio.run(multi_streaming())
    assert len(prices) == 3 and all(p > 0 for p in prices)
    assert len(spreads) == 3 and all(s > 0 for s in spreads)


def test_multi_exchange_streaming(exchange_kwargs):
    """One ticker loop per venue, gathered, each with its venue's own error handling."""
    seen = {}

    async def multi_exchange_stream():
        api = aio.Hub(exchange_kwargs=exchange_kwargs)
        venues = {"BINANCE___SPOT": "BTC/USDT", "BITFINEX___SPOT": "BTC/USD",
                  "FTX___SWAP": "BTC/USD:USD", "OKX___SPOT": "BTC/USDT"}

        async def stream_exchange(exchange_name, symbol):
            try:
                async for ticker in api.stream_ticker(exchange_name, symbol):
                    seen[exchange_name] = ticker.last_price
                    break
            except Exception as e:
                seen[exchange_name] = e

        try:
            tasks = [stream_exchange(ex, sym) for ex, sym in venues.items()]
            await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
        finally:
            await api.close()

    asyncio.run(multi_exchange_stream())
    for name in ("BINANCE___SPOT", "BITFINEX___SPOT", "FTX___SWAP"):
        assert seen[name] > 0, seen
    assert "unknown exchange" in str(seen["OKX___SPOT"])  # refused, the others unaffected


def test_batch_processing(exchange_kwargs):
    """Tickers collected in batches of ten and summarised, as the guide's batch example."""
    batches = []

    async def batch_processing():
        api = aio.Hub(exchange_kwargs=exchange_kwargs)
        batch_size = 10
        ticker_batch = []
        try:
            async for ticker in api.stream_ticker("BITFINEX___SPOT", "BTC/USD"):
                ticker_batch.append(ticker.last_price)
                if len(ticker_batch) >= batch_size:
                    batches.append((sum(ticker_batch) / len(ticker_batch), min(ticker_batch),
                                    max(ticker_batch)))
                    ticker_batch = []
                    if len(batches) == 2:
                        break
        finally:
            await api.close()

    asyncio.run(asyncio.wait_for(batch_processing(), 60))
    assert len(batches) == 2
    assert all(lo <= avg <= hi for avg, lo, hi in batches)


def test_user_data_streams(exchange_kwargs):
    """The guide's order and balance streams, with an order placed and cancelled meanwhile."""
    async def main():
        api = aio.Hub(exchange_kwargs=exchange_kwargs)
        try:
            client = api.client("BINANCE___SPOT")
            orders = api.stream_orders("BINANCE___SPOT")
            balances = api.stream_balances("BINANCE___SPOT")
            placed = await client.submit_order("BTC/USDT", "buy", "limit", "0.01", 1000)
            statuses = []
            async for order in orders:
                statuses.append(order.state)
                if order.state == "new":
                    await client.cancel_order(order)
                elif order.state == "canceled":
                    break
            balance = await asyncio.wait_for(balances.__anext__(), 20)
            return placed, statuses, balance
        finally:
            await api.close()

    _placed, statuses, balance = asyncio.run(asyncio.wait_for(main(), 60))
    assert statuses[0] == models.OrderStatus.NEW and statuses[-1] == models.OrderStatus.CANCELED
    assert isinstance(balance, models.Wallet) and balance.currency in ("USDT", "BTC")

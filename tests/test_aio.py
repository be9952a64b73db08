"""exchange_wss.aio against the three sandboxes: one user code, six streams, orders, queue
policy."""

import asyncio
import threading
import time

import pytest

from exchange_wss import aio, models
from exchange_wss.bitfinex.protocol import Pong
from exchange_wss.errors import StreamOverflow, SubscriptionError
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

DEADLINE = 20.0


class Venue:
    """A running sandbox and how to reach it."""

    def __init__(self, name, sandbox, key, secret, options, symbol):
        self.name, self.sandbox, self.key, self.secret = name, sandbox, key, secret
        self.options, self.symbol = options, symbol

    def connect(self, **extra):
        return aio.connect(self.name, self.key, self.secret, **self.options, **extra)

    def public_subscriptions(self):
        """Market-data subscriptions the sandbox server holds, over all connections."""
        server = self.sandbox.server
        if self.name == "bitfinex":
            count = lambda: sum(len(s.subs) for s in server.sessions)  # noqa: E731
        elif self.name == "binance":
            count = lambda: sum(len(s.streams) for s in server.sessions  # noqa: E731
                                if s.kind == "stream")
        else:
            count = lambda: sum(len(s.public) for s in server.sessions)  # noqa: E731
        return self.sandbox._call(count)


def _start(name):
    if name == "bitfinex":
        sb = BitfinexSandbox(tick_interval=0.05).start()
        return Venue(name, sb, DEFAULT_KEY, DEFAULT_SECRET, {"url": sb.url}, "BTC/USD")
    if name == "binance":
        sb = BinanceSandbox(market="spot", seed=1).start()
        return Venue(name, sb, DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET,
                     {"market": "spot", "rest_url": sb.rest_url, "stream_url": sb.stream_url,
                      "api_url": sb.api_url}, "BTC/USDT")
    sb = FtxSandbox(tick_interval=0.05).start()
    return Venue(name, sb, DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET,
                 {"url": sb.url, "rest_url": sb.rest_url}, "BTC/USD:USD")


@pytest.fixture(scope="module", params=["bitfinex", "binance", "ftx"])
def venue(request):
    v = _start(request.param)
    yield v
    v.sandbox.stop()


async def first(stream, n=1, timeout=DEADLINE):
    """The first ``n`` events of ``stream`` (leaving the async for closes it)."""
    got = []

    async def run():
        async for event in stream:
            got.append(event)
            if len(got) >= n:
                break

    await asyncio.wait_for(run(), timeout)
    return got


async def until_gone(venue, timeout=DEADLINE):
    """Wait until the sandbox holds no market-data subscription."""
    deadline = time.monotonic() + timeout
    while venue.public_subscriptions():
        if time.monotonic() > deadline:
            raise AssertionError(f"{venue.public_subscriptions()} subscriptions left")
        await asyncio.sleep(0.02)


# The same user code for every venue: unified symbol, one model set.
async def trade_everything(client, symbol):
    ticker = (await first(client.stream_ticker(symbol)))[0]
    depth = (await first(client.stream_depth(symbol, levels=5)))[0]
    trade = (await first(client.stream_trades(symbol)))[0]
    kline = (await first(client.stream_klines(symbol, "1m")))[0]
    orders, balances = client.stream_orders(), client.stream_balances()
    price = round(depth.best_bid.price * 0.9)
    placed = await client.submit_order(symbol, "buy", "limit", "0.01", price)
    seen = (await first(orders))[0]
    balance = (await first(balances))[0]
    cancelled = await client.cancel_order(placed)
    closed = [o async for o in _until(orders, lambda o: o.state == "canceled")]
    await orders.aclose()
    return ticker, depth, trade, kline, placed, seen, balance, cancelled, closed


async def _until(stream, predicate):
    async for event in stream:
        yield event
        if predicate(event):
            return


def test_same_code_streams_all_six_and_places_and_cancels(venue):
    """One coroutine streams ticker, depth, trades, klines, orders and balances and
    places and cancels an order on every venue, with the same models."""
    async def main():
        async with venue.connect() as client:
            return await trade_everything(client, venue.symbol)

    ticker, depth, trade, kline, placed, seen, balance, cancelled, closed = asyncio.run(main())
    assert isinstance(ticker, models.Ticker) and ticker.last_price > 0
    assert isinstance(depth, models.Depth) and len(depth.bids) == 5
    assert depth.best_bid.price < depth.best_ask.price and depth.best_bid.size > 0
    assert isinstance(trade, models.Trade) and trade.side in ("buy", "sell") and trade.size > 0
    assert isinstance(kline, models.Candle) and kline.high >= kline.low
    assert isinstance(placed, models.Order) and placed.state == models.OrderStatus.NEW
    assert seen.id == placed.id and seen.side == models.Side.BUY
    assert isinstance(balance, (models.Wallet, models.BalanceUpdate))
    assert closed[-1].id == placed.id and closed[-1].state == models.OrderStatus.CANCELED
    assert getattr(cancelled, "state", None) == models.OrderStatus.CANCELED


def test_leaving_the_async_for_unsubscribes_on_the_server(venue):
    """Breaking out of the last stream of a subscription removes it from the exchange."""
    async def main():
        async with venue.connect() as client:
            assert (await first(client.stream_ticker(venue.symbol)))[0].last_price > 0
            await until_gone(venue)

    asyncio.run(main())
    assert venue.public_subscriptions() == 0


def test_a_cancelled_iterator_leaves_no_subscription(venue):
    """Cancelling the task that iterates unsubscribes as well."""
    async def main():
        async with venue.connect() as client:
            started = asyncio.Event()

            async def consume():
                async for _trade in client.stream_trades(venue.symbol):
                    started.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(started.wait(), DEADLINE)
            assert venue.public_subscriptions() == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await until_gone(venue)

    asyncio.run(main())


def test_a_frame_delivered_before_subscribe_returns_reaches_the_stream(manual_bitfinex):
    """The reactor thread may deliver a subscription's first frame (a ticker's snapshot)
    before ``subscribe_*`` has returned to the caller: the stream is already attached."""
    sb = manual_bitfinex
    early = models.Ticker("tBTCUSD", 1.0, 1.0, 2.0, 1.0, 0.0, 0.0, 1.5, 10.0, 2.0, 1.0)

    async def main():
        async with aio.connect("bitfinex", url=sb.url) as client:
            subscribe = client.client.subscribe_to_ticker

            def subscribe_and_deliver_at_once(symbol, callback, *args, **kwargs):
                handle = subscribe(symbol, callback, *args, **kwargs)
                callback(early)  # as if the snapshot beat the return
                return handle

            client.client.subscribe_to_ticker = subscribe_and_deliver_at_once
            stream = client.stream_ticker("BTC/USD", policy="drop_oldest")
            return (await first(stream, timeout=5))[0]

    assert asyncio.run(main()) is early


def test_two_streams_share_a_subscription_until_the_last_leaves(venue):
    """A stream leaving does not cut another that uses the same subscription."""
    async def main():
        async with venue.connect() as client:
            keep = client.stream_ticker(venue.symbol)
            await first(client.stream_ticker(venue.symbol))
            assert (await keep.__anext__()).last_price > 0
            assert venue.public_subscriptions() == 1
            await keep.aclose()
            await until_gone(venue)

    asyncio.run(main())


def test_a_refused_subscription_is_raised_from_the_iterator():
    """A symbol the exchange refuses ends the stream with SubscriptionError."""
    v = _start("bitfinex")
    try:
        async def main():
            async with v.connect() as client:
                with pytest.raises(SubscriptionError):
                    await first(client.stream_ticker("tNOPEUSD"))

        asyncio.run(main())
    finally:
        v.sandbox.stop()


def test_uvloop_runs_the_same_code():
    """The hand-over works on uvloop's loop too."""
    uvloop = pytest.importorskip("uvloop")
    v = _start("bitfinex")
    try:
        async def main():
            assert "uvloop" in type(asyncio.get_running_loop()).__module__
            async with v.connect() as client:
                return await trade_everything(client, v.symbol)

        result = uvloop.run(main())
        assert result[-1][-1].state == models.OrderStatus.CANCELED
    finally:
        v.sandbox.stop()


# -- queue policy -------------------------------------------------------------------------

@pytest.fixture
def manual_bitfinex():
    """A Bitfinex sandbox whose market moves only when the test steps it."""
    sb = BitfinexSandbox(tick_interval=None).start()
    yield sb
    sb.stop()


def _flush(client, timeout=DEADLINE):
    """Wait until every frame the server sent so far on public-0 was delivered (a ping's
    pong comes after them on the same connection)."""
    pongs = threading.Event()
    hook = client.on_event

    def on_event(event):
        if isinstance(event, Pong):
            pongs.set()
        if hook is not None:
            hook(event)

    client.on_event = on_event
    try:
        client.ping("public-0")
        assert pongs.wait(timeout), "no pong"
    finally:
        client.on_event = hook


def test_a_slow_consumer_loses_only_the_oldest_trades_counted(manual_bitfinex):
    """Past maxsize the oldest trades are dropped, counted and reported; the rest stay in order."""
    sb = manual_bitfinex
    errors = []

    async def main():
        async with aio.connect("bitfinex", url=sb.url, on_error=errors.append) as client:
            reference = client.stream_trades("BTC/USD", maxsize=100_000)
            slow = client.stream_trades("BTC/USD", maxsize=10)
            while not reference._items:       # subscribed and a first trade through
                await asyncio.get_running_loop().run_in_executor(None, sb.step, 5)
                await asyncio.get_running_loop().run_in_executor(None, _flush, client.client)
            await asyncio.get_running_loop().run_in_executor(None, sb.step, 300)
            await asyncio.get_running_loop().run_in_executor(None, _flush, client.client)
            everything = list(reference._items)
            kept = [await slow.__anext__() for _ in range(len(slow._items))]
            return everything, kept, slow.dropped

    everything, kept, dropped = asyncio.run(main())
    assert len(everything) > 20
    assert kept == everything[-10:]
    assert dropped == len(everything) - 10
    overflows = [e for e in errors if isinstance(e, StreamOverflow)]
    assert overflows and overflows[0].stream == "trades BTC/USD"


def test_account_events_are_never_dropped_the_producer_is_slowed(manual_bitfinex):
    """A consumer far behind gets every order event in order; the account socket was paused."""
    sb = manual_bitfinex
    n = 40

    async def main():
        async with aio.connect("bitfinex", DEFAULT_KEY, DEFAULT_SECRET, url=sb.url) as client:
            # The balances stream first: it must exist when the wallet snapshot comes.
            balances = client.stream_balances()
            orders = client.stream_orders(maxsize=4)
            await first(balances)   # authenticated: the snapshots are through
            loop = asyncio.get_running_loop()
            for i in range(n):
                await loop.run_in_executor(None, lambda i=i: sb.submit_order(
                    DEFAULT_KEY, "tBTCUSD", "0.001", str(1000 + i)))
            # Nobody reads yet: once maxsize events wait, the socket must be paused.
            deadline = time.monotonic() + DEADLINE
            while not orders.paused:
                assert time.monotonic() < deadline, "the producer was never slowed"
                await asyncio.sleep(0.01)
            got = []
            async for order in orders:
                got.append(order)
                if len(got) == n:
                    break
            return got, orders.paused

    got, paused = asyncio.run(main())
    assert [o.price for o in got] == [1000.0 + i for i in range(n)]
    assert all(o.kind == "on" for o in got)
    assert paused >= 1


def test_latest_keeps_only_the_freshest_ticker(manual_bitfinex):
    """A ticker stream holds one ticker, the newest; the conflated ones are counted."""
    sb = manual_bitfinex

    async def main():
        async with aio.connect("bitfinex", url=sb.url) as client:
            tickers = client.stream_ticker("BTC/USD")
            reference = client.stream_ticker("BTC/USD", policy="drop_oldest", maxsize=10_000)
            await first(reference)
            loop = asyncio.get_running_loop()
            for _ in range(30):
                await loop.run_in_executor(None, sb.step, 1)
            await loop.run_in_executor(None, _flush, client.client)
            last = list(reference._items)[-1]
            waiting = len(tickers._items)
            newest = await tickers.__anext__()
            return last, waiting, newest, tickers.dropped

    last, waiting, newest, dropped = asyncio.run(main())
    assert waiting == 1
    assert newest.raw == last.raw
    assert dropped >= 1


def test_account_streams_refuse_a_lossy_policy():
    """Orders and balances cannot be given a dropping policy."""
    from exchange_wss.errors import LocalProtocolError
    with pytest.raises(LocalProtocolError):
        asyncio.run(_lossy_account())


async def _lossy_account():
    aio.Stream(None, None, "orders", "drop_oldest", 10, None, account=True)


def test_a_symbol_refused_at_the_call_leaves_nothing_behind():
    """A subscription refused before sending raises at once, and a later valid one works."""
    from exchange_wss.errors import LocalProtocolError
    v = _start("bitfinex")
    try:
        async def main():
            async with v.connect() as client:
                with pytest.raises(LocalProtocolError):
                    client.stream_klines("BTC/USD", "7m")
                with pytest.raises(LocalProtocolError):
                    client.stream_ticker("BTC/USDT:USDT-240329")
                assert not client._feeds
                assert (await first(client.stream_ticker("BTC/USD")))[0].last_price > 0

        asyncio.run(main())
    finally:
        v.sandbox.stop()

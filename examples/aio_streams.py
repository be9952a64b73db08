"""The same asyncio code on any venue: six streams, then an order placed and cancelled.

Usage::

    python examples/aio_streams.py                       # Bitfinex sandbox, in-process
    python examples/aio_streams.py --exchange binance    # or ftx

It reads one ticker, one book, one trade, one candle, places a limit buy well below the
market, sees it on the order stream with a balance update, cancels it, and exits 0 when
all of that happened within ``--duration`` seconds.
"""

import argparse
import asyncio
import sys

from exchange_wss import aio

SYMBOLS = {"bitfinex": "BTC/USD", "binance": "BTC/USDT", "ftx": "BTC/USD:USD"}


def start_sandbox(exchange):
    """An in-process sandbox and the keywords that reach it."""
    if exchange == "bitfinex":
        from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox
        sb = BitfinexSandbox(tick_interval=0.1).start()
        return sb, DEFAULT_KEY, DEFAULT_SECRET, {"url": sb.url}
    if exchange == "binance":
        from exchange_wss.sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, BinanceSandbox
        sb = BinanceSandbox(market="spot").start()
        return sb, DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, {
            "market": "spot", "rest_url": sb.rest_url, "stream_url": sb.stream_url,
            "api_url": sb.api_url}
    from exchange_wss.sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, FtxSandbox
    sb = FtxSandbox(tick_interval=0.1).start()
    return sb, DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, {"url": sb.url, "rest_url": sb.rest_url}


async def first(stream):
    async for event in stream:
        return event  # leaving the loop closes the stream (and unsubscribes)


async def tour(client, symbol):
    ticker = await first(client.stream_ticker(symbol))
    print(f"ticker  last {ticker.last_price}")
    depth = await first(client.stream_depth(symbol, levels=5))
    print(f"depth   bid {depth.best_bid.price} x {depth.best_bid.size}  "
          f"ask {depth.best_ask.price} x {depth.best_ask.size}")
    trade = await first(client.stream_trades(symbol))
    print(f"trade   {trade.side} {trade.size} @ {trade.price}")
    candle = await first(client.stream_klines(symbol, "1m"))
    print(f"candle  o {candle.open} h {candle.high} l {candle.low} c {candle.close}")
    orders, balances = client.stream_orders(), client.stream_balances()
    order = await client.submit_order(symbol, "buy", "limit", "0.01",
                                      round(depth.best_bid.price * 0.9))
    print(f"placed  {order.id} {order.state}")
    async for update in orders:
        print(f"order   {update.id} {update.state}")
        if update.id == order.id and update.state == "new":
            break
    balance = await first(balances)
    print(f"balance {balance}")
    cancelled = await client.cancel_order(order)
    print(f"cancel  {cancelled.id} {cancelled.state}")
    return cancelled.state == "canceled"


async def main(args) -> bool:
    sandbox, key, secret, options = start_sandbox(args.exchange)
    try:
        async with aio.connect(args.exchange, key, secret, **options) as client:
            return await asyncio.wait_for(tour(client, SYMBOLS[args.exchange]),
                                          args.duration)
    finally:
        sandbox.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Six async streams and an order.")
    parser.add_argument("--exchange", choices=sorted(SYMBOLS), default="bitfinex")
    parser.add_argument("--duration", type=float, default=20.0,
                        help="seconds allowed for the whole tour")
    ok = asyncio.run(main(parser.parse_args()))
    sys.exit(0 if ok else 1)

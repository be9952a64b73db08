"""A bounded soak: many channels and orders, a fault every few seconds, nothing lost.

Runs for ``EXCHANGE_WSS_SOAK_SECONDS`` (default 40) in CI; set it higher to
soak longer. The test drives the sandbox's market itself (manual steps), so at
the end it can stop the market and compare books exactly.
"""

from __future__ import annotations

import gc
import os
import random
import time

from _support import Recorder, eventually

from exchange_wss import OrderStateUnknown, WssClient
from exchange_wss.errors import RequestNotSent
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox

SOAK_SECONDS = float(os.environ.get("EXCHANGE_WSS_SOAK_SECONDS", "40"))

CHANNELS = [
    ("ticker", "tBTCUSD"), ("ticker", "tETHUSD"), ("ticker", "tXRPBTC"),
    ("trades", "tBTCUSD"), ("trades", "tETHUSD"),
    ("book", "tBTCUSD"), ("book", "tETHUSD"), ("book", "tXRPBTC"),
    ("candles", "tBTCUSD"), ("candles", "tETHUSD"),
]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def subscribe_all(client):
    recorders = {}
    for channel, symbol in CHANNELS:
        rec = recorders[(channel, symbol)] = Recorder()
        if channel == "ticker":
            client.subscribe_to_ticker(symbol, rec)
        elif channel == "trades":
            client.subscribe_to_trades(symbol, rec)
        elif channel == "book":
            client.subscribe_to_orderbook(symbol, "P0", rec)
        else:
            client.subscribe_to_candles(symbol, "1m", rec)
    return recorders


def test_soak_with_faults_loses_nothing_and_duplicates_nothing():
    """Under repeated faults: every subscription flows at the end, no order is sent twice,
    books equal the server's, memory stays flat."""
    rng = random.Random(42)
    sandbox = BitfinexSandbox(seed=42, tick_interval=None, heartbeat_interval=0.5).start()
    events, errors, account = Recorder(), Recorder(), Recorder()
    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=sandbox.url, on_event=events,
                       on_error=errors, reconnect_delay=0.05, max_reconnect_delay=0.5,
                       stale_timeout=1.5, channels_per_connection=4, seq_all=True)
    # Keep the recorders from growing without bound: the memory check is of the client.
    try:
        recorders = subscribe_all(client)
        client.authenticate(account)
        client.start()
        for rec in recorders.values():
            rec.wait_for(lambda e: True)
        faults = [sandbox.faults.drop_connections, lambda: sandbox.faults.send_info(20051),
                  sandbox.faults.corrupt_next_checksum, sandbox.faults.skip_sequence,
                  sandbox.faults.malformed_frame, lambda: sandbox.faults.stall(2.0)]
        futures = []
        start = time.monotonic()
        next_fault = start + 3.0
        baseline = None
        while time.monotonic() - start < SOAK_SECONDS:
            sandbox.step(1)
            if rng.random() < 0.1:
                bid = sandbox.book("tBTCUSD", "P0", 25)["bids"][0][0]
                price = round(bid * rng.uniform(0.95, 1.02), 0)
                futures.append(client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.001", price))
            if time.monotonic() >= next_fault:
                rng.choice(faults)()
                next_fault += 3.0
            if baseline is None and time.monotonic() - start > SOAK_SECONDS / 3:
                for rec in recorders.values():
                    rec.items.clear()
                gc.collect()
                baseline = rss_mb()
            time.sleep(0.05)  # the market's pace: 20 ticks a second
        sandbox.faults.resume()
        # Quiet the market, then check every guarantee.
        for rec in recorders.values():
            count = len(rec.items)
            sandbox.step(5)
            rec.wait_count(lambda e: True, count + 1, timeout=20)
        for future in futures:
            future.exception(timeout=20)  # every future settles, one way or another
        cids = [o.get("cid") for o in sandbox.orders_received(DEFAULT_KEY)]
        assert len(cids) == len(set(cids)), "an order was sent twice"
        received = set(cids)
        for future in futures:
            error = future.exception()
            if isinstance(error, RequestNotSent):
                # "Not sent" is a promise that the exchange never saw it.
                assert future.cid not in received, f"{error} but the exchange got it"
            elif future.cid not in received:
                # Written into a socket that died: the exchange never saw it. The
                # client cannot know that, so it must say "unknown", never "placed".
                assert isinstance(error, OrderStateUnknown), error
            elif error is None:
                assert future.result().cid == future.cid
        assert received <= {f.cid for f in futures}
        for symbol in ("tBTCUSD", "tETHUSD", "tXRPBTC"):
            eventually(lambda s=symbol: _same_book(client, sandbox, s), timeout=20)
        for rec in recorders.values():
            rec.items.clear()
        gc.collect()
        assert rss_mb() - baseline < 25, "memory grew during the soak"
    finally:
        client.stop()
        sandbox.stop()


def _same_book(client, sandbox, symbol):
    mine = client.order_book(symbol, "P0")
    theirs = sandbox.book(symbol, "P0", 25)
    return ([tuple(x) for x in theirs["bids"]] == mine.bids and
            [tuple(x) for x in theirs["asks"]] == mine.asks)

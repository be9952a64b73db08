"""A bounded soak of the two lifecycles: threads placing and cancelling orders and
subscribing and unsubscribing while random faults hit the sandbox; at the end every
future has settled with the truth and the server carries what the client wants.

Runs for ``EXCHANGE_WSS_SOAK_SECONDS`` (default 40) in CI.
"""

from __future__ import annotations

import os
import random
import threading
import time

from _support import Recorder, eventually

from exchange_wss import WssClient
from exchange_wss.errors import (
    ExchangeWssError,
    LocalProtocolError,
    OrderRejected,
    OrderStateUnknown,
    RequestNotSent,
)
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox

SOAK_SECONDS = float(os.environ.get("EXCHANGE_WSS_SOAK_SECONDS", "40"))
SYMBOLS = ["tBTCUSD", "tETHUSD", "tXRPBTC"]


def test_lifecycles_tell_the_truth_under_churn_and_faults():
    """Every future settles; no order is placed twice; every "not sent" order is absent
    from the exchange; every placed order was answered or is in doubt; the server's
    channels end equal to the client's subscriptions."""
    rng = random.Random(7)
    sandbox = BitfinexSandbox(seed=7, tick_interval=0.05, heartbeat_interval=0.5).start()
    errors = Recorder()
    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=sandbox.url, on_error=errors,
                       reconnect_delay=0.05, max_reconnect_delay=0.3, stale_timeout=2.0,
                       request_timeout=5.0, subscription_timeout=3.0,
                       channels_per_connection=3)
    faults = sandbox.faults
    fault_list = [
        faults.drop_connections, lambda: faults.drop_on_next_order(taken=True),
        lambda: faults.drop_on_next_order(taken=False), faults.close_and_linger,
        faults.refuse_next_unsubscribe, faults.duplicate_next_subscribed,
        lambda: faults.delay_subscriptions(0.3), lambda: faults.delay_subscriptions(0),
        lambda: faults.send_info(20051), faults.corrupt_next_checksum,
        lambda: faults.stall(1.0), faults.malformed_frame,
    ]
    futures, lock, stop = [], threading.Lock(), threading.Event()
    wanted: dict = {}

    def trader(seed: int) -> None:
        r = random.Random(seed)
        mine = []
        while not stop.is_set():
            try:
                if mine and r.random() < 0.3:
                    order = mine.pop(r.randrange(len(mine)))
                    fut = client.cancel_order(order.id)
                else:
                    fut = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.001",
                                              r.choice([100, 200, 300]))
                    fut.add_done_callback(
                        lambda f: mine.append(f.result()) if f.exception() is None else None)
                with lock:
                    futures.append(fut)
            except (LocalProtocolError, ExchangeWssError):
                pass  # e.g. paused, or stopped at the end
            time.sleep(r.uniform(0.01, 0.05))

    def subscriber() -> None:
        r = random.Random(99)
        while not stop.is_set():
            symbol = r.choice(SYMBOLS)
            label = f"ticker:{symbol}"
            with lock:
                sub = wanted.pop(label, None)
            if sub is not None:
                client.unsubscribe(sub)
            else:
                sub = client.subscribe_to_ticker(symbol, lambda t: None)
                with lock:
                    wanted[label] = sub
            time.sleep(r.uniform(0.02, 0.2))

    client.authenticate(lambda event: None)
    client.subscribe_to_orderbook("tBTCUSD", "P0", lambda e: None)  # always wanted
    client.start()
    threads = [threading.Thread(target=trader, args=(i,)) for i in range(3)]
    threads.append(threading.Thread(target=subscriber))
    try:
        for t in threads:
            t.start()
        start = time.monotonic()
        while time.monotonic() - start < SOAK_SECONDS:
            time.sleep(rng.uniform(0.5, 1.5))
            rng.choice(fault_list)()
        stop.set()
        for t in threads:
            t.join(10)
        faults.delay_subscriptions(0)
        faults.resume()
        for future in list(futures):
            future.exception(timeout=15)  # every future settles, one way or another

        received = [o.get("cid") for o in sandbox.orders_received()]
        assert len(received) == len(set(received)), "an order was sent twice"
        cids = set(received)
        placed = [f for f in futures if f.key is not None and isinstance(f.key, int)
                  and f.key in set(cids)]
        assert placed, "no order reached the exchange"
        for future in futures:
            error = future.exception()
            if isinstance(error, RequestNotSent):
                assert future.key not in cids, f"{error} but the exchange got it"
            elif error is not None:
                assert isinstance(error, (OrderStateUnknown, OrderRejected)), error

        # The server ends with exactly the channels the client wants.
        expected = {("book", "tBTCUSD")} | {("ticker", label.split(":")[1])
                                            for label in wanted}

        seen = {}

        def server_channels():
            got = {(ident[0], ident[1]) for conn in sandbox.channels() for ident in conn}
            seen["server"] = got
            return got if got == expected else None

        try:
            eventually(server_channels, timeout=20)
        except AssertionError:
            states = {s.label: s.state for s in client.subscriptions()}
            raise AssertionError(f"server {sorted(seen.get('server', ()))} != wanted "
                                 f"{sorted(expected)}; client states {states}") from None
        assert {s.label for s in client.subscriptions()} == \
            {"book:tBTCUSD:P0"} | set(wanted)
        assert not [e for e in errors.items if "internal error" in str(e)]
    finally:
        stop.set()
        client.stop()
        sandbox.stop()

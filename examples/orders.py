"""Authenticate, place a limit order well below the market, then cancel it.

``submit_order`` returns a ``concurrent.futures.Future`` that resolves to the
accepted order (or raises ``OrderRejected`` with the exchange's text); the
order's later life (``ou``/``oc`` updates, fills) arrives on the
``authenticate`` callback.

Usage::

    python examples/orders.py                        # in-process sandbox, its own account
    python examples/orders.py --url URL --key K --secret S

Against a real exchange this places a real (if far from the market) order;
prefer the sandbox. Exits 0 when the order was accepted and then cancelled.
"""

import argparse
import os
import sys
import threading
import time

from exchange_wss import WssClient, models


def main() -> int:
    parser = argparse.ArgumentParser(description="Place and cancel an order.")
    parser.add_argument("--url", help="Bitfinex v2 endpoint (default: start an in-process sandbox)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds allowed for the whole flow")
    parser.add_argument("--symbol", default="tBTCUSD")
    parser.add_argument("--key", default=os.environ.get("BFX_API_KEY"),
                        help="API key (default $BFX_API_KEY; the sandbox's own without --url)")
    parser.add_argument("--secret", default=os.environ.get("BFX_API_SECRET"),
                        help="API secret (default $BFX_API_SECRET)")
    args = parser.parse_args()

    sandbox = None
    url, key, secret = args.url, args.key, args.secret
    if url is None:
        from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox
        sandbox = BitfinexSandbox(host="127.0.0.1", port=0).start()
        url, key, secret = sandbox.url, DEFAULT_KEY, DEFAULT_SECRET
    elif not (key and secret):
        parser.error("--url needs --key and --secret (or $BFX_API_KEY and $BFX_API_SECRET)")

    cond = threading.Condition()
    orders = {}          # order id -> latest Order
    tickers = []

    def on_account(event):
        # Snapshots (os, ws...) carry lists; updates come one by one.
        items = event.items if isinstance(event, models.Snapshot) else [event]
        with cond:
            for item in items:
                if isinstance(item, models.Order):
                    orders[item.id] = item
                    print(f"order {item.id}: {item.status}", flush=True)
                elif isinstance(item, models.Notification):
                    print(f"notification {item.type}: {item.status} {item.text}", flush=True)
            cond.notify_all()

    def on_ticker(ticker):
        with cond:
            tickers.append(ticker)
            cond.notify_all()

    client = WssClient(key, secret, url=url,
                       on_error=lambda err: print(f"error: {err}", file=sys.stderr))
    client.subscribe_to_ticker(args.symbol, on_ticker)
    client.authenticate(on_account)
    client.start()
    deadline = time.monotonic() + args.duration
    try:
        with cond:
            if not cond.wait_for(lambda: tickers, args.duration):
                print("no ticker: cannot price the order", file=sys.stderr)
                return 1
            bid = tickers[-1].bid
        price = float(f"{bid * 0.8:.5g}")  # far below the market: it rests, it won't fill
        future = client.submit_order("EXCHANGE LIMIT", args.symbol, 0.001, price=price)
        print(f"submitted buy 0.001 {args.symbol} @ {price:g}, cid {future.cid}", flush=True)
        order = future.result(timeout=max(0.1, deadline - time.monotonic()))
        print(f"accepted: order {order.id}", flush=True)

        client.cancel_order(order.id)
        with cond:
            cancelled = cond.wait_for(
                lambda: "CANCELED" in (getattr(orders.get(order.id), "status", "") or ""),
                max(0.1, deadline - time.monotonic()))
        if not cancelled:
            print(f"order {order.id} not cancelled in time", file=sys.stderr)
            return 1
        print(f"cancelled: order {order.id}", flush=True)
        return 0
    except Exception as exc:  # OrderRejected, TimeoutError...: say what happened
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.stop()
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Keep an order book up to date and print its top once a second.

The client applies the snapshot and every update itself and checks Bitfinex's
checksums (a mismatch triggers a resubscribe and is reported to ``on_error``);
``client.order_book()`` returns a consistent copy from any thread.

Usage::

    python examples/orderbook.py [--url URL] [--duration 10] [--symbol tBTCUSD]

Exits 0 when a book with both sides was seen.
"""

import argparse
import sys
import threading
import time

from exchange_wss import WssClient, models


def main() -> int:
    parser = argparse.ArgumentParser(description="Print the top of a maintained order book.")
    parser.add_argument("--url", help="Bitfinex v2 endpoint (default: start an in-process sandbox)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to run")
    parser.add_argument("--symbol", default="tBTCUSD")
    args = parser.parse_args()

    sandbox = None
    url = args.url
    if url is None:
        from exchange_wss.sandbox import BitfinexSandbox
        sandbox = BitfinexSandbox(host="127.0.0.1", port=0).start()
        url = sandbox.url

    snapshot_seen = threading.Event()
    updates = 0

    def on_book(event):
        nonlocal updates
        if isinstance(event, models.BookSnapshot):
            snapshot_seen.set()
        else:
            updates += 1

    client = WssClient(url=url, on_error=lambda err: print(f"error: {err}", file=sys.stderr))
    client.subscribe_to_orderbook(args.symbol, "P0", on_book)
    client.start()
    deadline = time.monotonic() + args.duration
    both_sides = False
    try:
        if not snapshot_seen.wait(args.duration):
            print(f"no book snapshot within {args.duration:g}s", file=sys.stderr)
            return 1
        while True:
            book = client.order_book(args.symbol, "P0")
            if book.bids and book.asks:
                both_sides = True
                (bid, _, bid_amount), (ask, _, ask_amount) = book.bids[0], book.asks[0]
                print(f"{args.symbol}: {bid_amount:g} @ {bid:g} | {ask:g} @ {-ask_amount:g} "
                      f"(spread {ask - bid:g}; {len(book.bids)}x{len(book.asks)} levels; "
                      f"{updates} updates)", flush=True)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(1.0, left))
    except KeyboardInterrupt:
        pass
    finally:
        client.stop()
        if sandbox is not None:
            sandbox.stop()
    return 0 if both_sides else 1


if __name__ == "__main__":
    sys.exit(main())

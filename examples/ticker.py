"""Print the tickers of a Bitfinex pair as they arrive.

Usage::

    python examples/ticker.py                      # against an in-process sandbox
    python examples/ticker.py --url wss://api-pub.bitfinex.com/ws/2 --duration 30

Exits 0 when at least one ticker arrived within ``--duration`` seconds.
"""

import argparse
import sys
import threading
import time

from exchange_wss import WssClient


def main() -> int:
    parser = argparse.ArgumentParser(description="Print tickers.")
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

    first = threading.Event()

    def on_ticker(ticker):
        # Runs on the library's reactor thread: keep it short.
        print(f"{ticker.symbol}: bid {ticker.bid} ask {ticker.ask} last {ticker.last_price}",
              flush=True)
        first.set()

    # Public channels need no key; `url` serves public channels too when public_url is not given.
    client = WssClient(url=url, on_error=lambda err: print(f"error: {err}", file=sys.stderr))
    client.subscribe_to_ticker(args.symbol, on_ticker)
    client.start()
    deadline = time.monotonic() + args.duration
    try:
        if not first.wait(args.duration):
            print(f"no ticker within {args.duration:g}s", file=sys.stderr)
            return 1
        time.sleep(max(0.0, deadline - time.monotonic()))  # keep printing until the end
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        client.stop()
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())

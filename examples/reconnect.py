"""Watch the client reconnect and resubscribe after the connection drops.

With the in-process sandbox (the default) the script drops every connection
with the sandbox's fault injector once the first ticker arrived, then waits
for the ``reconnected`` event and a ticker after it: subscriptions are replayed
on every reconnect without the user doing anything. With ``--url`` no fault
can be injected; it only reports connection events for ``--duration`` seconds.

Usage::

    python examples/reconnect.py [--url URL] [--duration 10]

Exits 0 when (sandbox) data flowed again after the reconnect, or (``--url``)
a ticker arrived.
"""

import argparse
import sys
import threading
import time

from exchange_wss import WssClient, models


def main() -> int:
    parser = argparse.ArgumentParser(description="Reconnect after a dropped connection.")
    parser.add_argument("--url", help="Bitfinex v2 endpoint (default: start an in-process sandbox)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds allowed")
    parser.add_argument("--symbol", default="tBTCUSD")
    args = parser.parse_args()

    sandbox = None
    url = args.url
    if url is None:
        from exchange_wss.sandbox import BitfinexSandbox
        sandbox = BitfinexSandbox(host="127.0.0.1", port=0).start()
        url = sandbox.url

    cond = threading.Condition()
    seen = {"tickers": 0, "reconnected": 0, "tickers_after": 0}

    def on_ticker(ticker):
        with cond:
            seen["tickers"] += 1
            if seen["reconnected"]:
                seen["tickers_after"] += 1
            cond.notify_all()

    def on_event(event):
        # ConnectionState: connected, disconnected, reconnected, authenticated, paused...
        if isinstance(event, models.ConnectionState):
            print(f"{event.connection}: {event.state}"
                  + (f" ({event.reason})" if event.reason else ""), flush=True)
            with cond:
                if event.state == "reconnected":
                    seen["reconnected"] += 1
                cond.notify_all()

    client = WssClient(url=url, on_event=on_event, reconnect_delay=0.2, max_reconnect_delay=2.0,
                       on_error=lambda err: print(f"error: {err}", file=sys.stderr))
    client.subscribe_to_ticker(args.symbol, on_ticker)
    client.start()
    deadline = time.monotonic() + args.duration

    def wait(predicate):
        with cond:
            return cond.wait_for(predicate, max(0.0, deadline - time.monotonic()))

    try:
        if not wait(lambda: seen["tickers"]):
            print(f"no ticker within {args.duration:g}s", file=sys.stderr)
            return 1
        print("first ticker received", flush=True)
        if sandbox is None:
            print("--url given: no fault to inject here; watching connection events only",
                  flush=True)
            time.sleep(max(0.0, deadline - time.monotonic()))
            return 0
        print("dropping every connection (sandbox fault)", flush=True)
        sandbox.faults.drop_connections()
        if not wait(lambda: seen["tickers_after"]):
            print("no ticker after a reconnect in time", file=sys.stderr)
            return 1
        print(f"ticker flowing again after {seen['reconnected']} reconnect(s)", flush=True)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        client.stop()
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())

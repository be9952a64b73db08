"""A consumer in a process of its own, for tests that kill consumers.

Usage: python redis_consumer_proc.py URL NAME OUT [--die-at N]

Subscribes to the Bitfinex account stream (and the tBTCUSD P0 book) as ``NAME``
and appends one line per delivered account event to OUT (``<key>\\n``, flushed).
With ``--die-at N`` the process ends with ``os._exit`` inside the callback of
the N-th account event, before handling it: a crash with that entry delivered
to it and not acknowledged.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from exchange_wss.redis import RedisClient, codec


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("name")
    parser.add_argument("out")
    parser.add_argument("--die-at", type=int, default=0)
    args = parser.parse_args()
    out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - open until the process ends
    seen = [0]

    def on_account(event):
        seen[0] += 1
        if seen[0] == args.die_at:
            os._exit(3)  # dies holding an unacknowledged entry
        key = codec.event_key(type(event).__name__, codec.encode(event))
        out.write(key + "\n")
        out.flush()

    client = RedisClient(args.url, "bitfinex", name=args.name, claim_idle=1.0)
    client.authenticate(on_account)
    client.subscribe_to_orderbook("tBTCUSD", "P0", lambda _e: None)
    client.start()
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

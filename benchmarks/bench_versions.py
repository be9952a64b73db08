"""The same SDK clients from two installs side by side: did a change slow the hot path?

Runs ``throughput_clients.py`` clients (default ``sdk-raw,sdk-ticker,sdk-book``)
with two Python interpreters, each with its own install of exchange_wss (say,
``main`` and a branch), against one blaster, alternating the order every
round; prints each client's median messages per second under both and the
ratio. The figures are ratios within one run, since these machines are noisy.

Usage::

    python3 -m venv /tmp/basevenv && /tmp/basevenv/bin/pip install <main checkout>
    python3 -m venv /tmp/newvenv && /tmp/newvenv/bin/pip install <branch checkout>
    python benchmarks/bench_versions.py /tmp/basevenv/bin/python /tmp/newvenv/bin/python \
        [--clients sdk-raw,sdk-ticker,sdk-book] [--frames 150000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from bench_throughput import run_client, start_blaster  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="python of the baseline install")
    parser.add_argument("after", help="python of the install under test")
    parser.add_argument("--clients", default="sdk-raw,sdk-ticker,sdk-book")
    parser.add_argument("--frames", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    clients = [c.strip() for c in args.clients.split(",") if c.strip()]
    sides = [("before", args.before), ("after", args.after)]
    rates = {(c, s): [] for c in clients for s, _ in sides}
    blaster, url = start_blaster(args.frames)
    try:
        for r in range(args.rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            for client in clients:
                for side, python in order:
                    res = run_client(client, python, url, args.frames, args.timeout)
                    if res.get("ok"):
                        rates[client, side].append(res["rate"])
                    else:
                        print(f"round {r}: {client} {side} failed: {res.get('error')}")
    finally:
        blaster.kill()
    print(f"{'client':<14}{'before msg/s':>14}{'after msg/s':>14}{'after/before':>14}")
    for client in clients:
        b = rates[client, "before"]
        a = rates[client, "after"]
        mb = statistics.median(b) if b else None
        ma = statistics.median(a) if a else None
        ratio = f"{ma / mb:.3f}" if ma and mb else "n/a"
        print(f"{client:<14}{mb or 0:>14,.0f}{ma or 0:>14,.0f}{ratio:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

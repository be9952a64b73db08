"""Messages per second from socket to callback, against the bare autobahn ceiling.

One blaster server process (``blaster.py``) sends N pre-encoded Bitfinex frames
per run; this process receives them with, in alternating rounds:

- ``bare``: a plain autobahn client protocol that only ``orjson.loads`` each
  message: the ceiling a client built on autobahn can reach;
- ``raw``: ``WssClient(raw=True)`` on a ticker channel (decoded frames to the callback);
- ``ticker``: ``WssClient`` delivering typed ``Ticker`` models;
- ``book``: ``WssClient`` maintaining a P0 book (no checksum frames).

Each figure is the median of the rounds; ratios are against ``bare`` measured in
the same run, since these machines are noisy. Usage::

    python benchmarks/bench_throughput.py [--frames 150000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

import orjson
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from exchange_wss import WssClient, _reactor  # noqa: E402


class Counter:
    """Counts deliveries; records the time of the first and of the N-th."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.first = self.last = 0.0
        self.done = threading.Event()

    def __call__(self, _item) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
        elif self.count == self.target:
            self.last = time.perf_counter()
            self.done.set()

    def rate(self) -> float:
        return (self.target - 1) / (self.last - self.first)


def run_bare(url: str, frames: int) -> float:
    counter = Counter(frames)
    loads = orjson.loads

    class Bare(WebSocketClientProtocol):
        def onOpen(self):
            self.sendMessage(b'{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}')

        def onMessage(self, payload, isBinary):
            msg = loads(payload)
            if msg.__class__ is list:
                counter(msg)

    def connect():
        from twisted.internet import reactor
        factory = WebSocketClientFactory(url)
        factory.protocol = Bare
        factory.setProtocolOptions(autoPingInterval=0)
        host, port = url.split("//")[1].split("/")[0].split(":")
        return reactor.connectTCP(host, int(port), factory)

    connector = _reactor.call_and_wait(connect)
    counter.done.wait(120)
    _reactor.call_and_wait(connector.disconnect)
    return counter.rate()


def run_client(url: str, frames: int, mode: str) -> float:
    # The book's first delivery is its snapshot; count updates after it.
    counter = Counter(frames)
    client = WssClient(url=url, raw=(mode == "raw"), checksum=False, stale_timeout=None,
                       ping_interval=None)
    if mode == "book":
        client.subscribe_to_orderbook("tBTCUSD", "P0", counter)
    else:
        client.subscribe_to_ticker("tBTCUSD", counter)
    client.start()
    counter.done.wait(120)
    client.stop()
    return counter.rate()


def start_blaster(frames: int):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "blaster.py"),
                             "--frames", str(frames)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    port = int(line.split()[1])
    return proc, f"ws://127.0.0.1:{port}/ws/2"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="socket-to-callback throughput")
    parser.add_argument("--frames", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    proc, url = start_blaster(args.frames)
    modes = ["bare", "raw", "ticker", "book"]
    results = {m: [] for m in modes}
    try:
        _reactor.ensure_running()
        for rnd in range(args.rounds):
            order = modes if rnd % 2 == 0 else list(reversed(modes))
            for mode in order:
                rate = run_bare(url, args.frames) if mode == "bare" else run_client(
                    url, args.frames, mode)
                results[mode].append(rate)
                print(f"round {rnd + 1} {mode:7s} {rate:12,.0f} msg/s", flush=True)
    finally:
        proc.terminate()
        proc.wait()
    bare = statistics.median(results["bare"])
    print()
    print(f"{'mode':8s} {'median msg/s':>14s} {'vs bare':>8s}")
    for mode in modes:
        med = statistics.median(results[mode])
        print(f"{mode:8s} {med:14,.0f} {med / bare:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

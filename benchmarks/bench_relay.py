"""The Redis fan-out: relay throughput to a local redis-server, and relay-to-consumer latency.

A real ``redis-server`` (:class:`~exchange_wss.redis.RedisServer`, no persistence)
runs on loopback. Every client below is a process of its own.

Throughput, per round and alternating the order:

- ``live``: ``sdk-book`` on the blaster's book stream (N updates), the client alone
  (``bench_throughput.py``'s client): the baseline;
- ``relay``: the same client inside a :class:`~exchange_wss.redis.Relay` publishing
  every event to Redis: events published per second, from the first event to the
  moment Redis acknowledged the last one (snapshots the relay adds not counted);
- ``sink``: :class:`~exchange_wss.redis.RedisStreamsSink` alone writing N
  ready-encoded entries in batches: the Redis write path's ceiling here.

Latency: ``paced_server.py`` sends a ticker and a P0 book, together ``--rate``
frames per second, to a relay process; a consumer process
(:class:`~exchange_wss.redis.RedisClient`) subscribed to both measures, for every
measured ticker, wall clock at its callback minus the relay's wall clock when the
relay's callback got it (same machine, same clock), and counts how often its book
equalled the relay's periodic snapshot. Usage::

    python benchmarks/bench_relay.py [--frames 150000] [--rounds 5] [--rate 10000]
        [--secs 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

THROUGHPUT_TARGET = 100_000   # events/s published
LATENCY_TARGET_US = 5000      # p99 relay -> consumer


def _emit(result: dict) -> None:
    print("\n" + json.dumps(result), flush=True)


def child_relay_throughput(url: str, redis_url: str, frames: int, timeout: float) -> dict:
    from exchange_wss import WssClient
    from exchange_wss.redis import RedisStreamsSink, Relay

    client = WssClient(url=url + "?stream=book", stale_timeout=None, ping_interval=None,
                       checksum=False)
    relay = Relay(client, RedisStreamsSink(redis_url, maxlen=frames + 1000,
                                           mode=os.environ.get("EWS_SINK_MODE", "pipeline")),
                  snapshot_interval=1.0, buffer_size=frames + 1000)
    state = {"first": 0.0}
    relay.subscribe_to_orderbook("tBTCUSD", "P0")
    relay.start()
    deadline = time.monotonic() + timeout
    while relay.stats.events < 2 and time.monotonic() < deadline:
        time.sleep(0.0005)
    state["first"] = time.perf_counter()
    want = frames + 1  # the snapshot and N updates
    while time.monotonic() < deadline:
        st = relay.stats
        if st.events >= want and st.published >= want + st.snapshots and st.buffered == 0:
            break
        time.sleep(0.0005)
    last = time.perf_counter()
    st = relay.stats
    ok = st.events >= want and st.dropped == 0
    result = {"ok": ok, "rate": (st.events - 1) / (last - state["first"]) if ok else None,
              "events": st.events, "published": st.published, "snapshots": st.snapshots,
              "batches": st.batches, "dropped": st.dropped}
    return result


def child_sink(redis_url: str, frames: int) -> dict:
    from exchange_wss import models
    from exchange_wss.redis import Entry, RedisStreamsSink, codec

    sink = RedisStreamsSink(redis_url, maxlen=frames + 1000)
    data = codec.encode(models.BookUpdate("tBTCUSD", 60123.5, 3, 1.2345))
    entries = [Entry(b"ews:bench:sink", i + 1, b"c", b"BookUpdate", data, time.time_ns())
               for i in range(frames)]
    start = time.perf_counter()
    for i in range(0, frames, 1000):
        sink.publish(entries[i:i + 1000])
    seconds = time.perf_counter() - start
    sink.close()
    return {"ok": True, "rate": frames / seconds}


def child_latency_relay(url: str, redis_url: str, timeout: float) -> dict:
    from exchange_wss import WssClient
    from exchange_wss.redis import RedisStreamsSink, Relay

    ended = threading.Event()

    def on_event(event):
        if getattr(event, "code", None) == 29999:
            ended.set()
    client = WssClient(url=url, stale_timeout=None, ping_interval=None, checksum=False,
                       on_event=on_event)
    relay = Relay(client, RedisStreamsSink(redis_url), snapshot_interval=1.0)
    relay.subscribe_to_ticker("tBTCUSD")
    relay.subscribe_to_orderbook("tBTCUSD", "P0")
    relay.start()
    ended.wait(timeout)
    relay.flush(10)
    relay.stop()
    st = relay.stats
    return {"ok": ended.is_set() and st.dropped == 0, "events": st.events,
            "published": st.published, "snapshots": st.snapshots, "dropped": st.dropped}


def child_latency_consumer(redis_url: str, seconds: float) -> dict:
    from exchange_wss.redis import RedisClient

    lat = []
    client = RedisClient(redis_url, "bitfinex", block_ms=100)
    now = time.time_ns

    def on_ticker(t):
        if t.bid_size == 1:  # the measured phase (paced_server puts it there)
            lat.append(now() - int(client.delivering_ts))
    client.subscribe_to_ticker("tBTCUSD", on_ticker)
    client.subscribe_to_orderbook("tBTCUSD", "P0", lambda _e: None)
    client.start()
    print("READY", flush=True)
    time.sleep(seconds)
    client.stop()
    lat.sort()

    def pct(q):
        return lat[min(len(lat) - 1, int(q * len(lat)))] / 1000 if lat else None
    st = client.stats
    return {"ok": bool(lat) and st.gaps == 0 and st.snapshot_mismatches == 0,
            "n": len(lat), "p50_us": pct(0.5), "p99_us": pct(0.99), "p999_us": pct(0.999),
            "max_us": lat[-1] / 1000 if lat else None, "gaps": st.gaps,
            "snapshot_checks": st.snapshot_checks,
            "snapshot_mismatches": st.snapshot_mismatches}


def run_child(args: list, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", *map(str, args)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timeout"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"ok": False, "error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def latency_run(redis_url: str, rate: int, secs: float, warmup: float) -> dict:
    import paced_server
    proc, port = paced_server.start()
    try:
        total = secs + warmup + 5
        consumer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child",
                                     "latency-consumer", redis_url, str(secs + warmup + 2)],
                                    stdout=subprocess.PIPE, text=True)
        assert consumer.stdout.readline().strip() == "READY"
        url = (f"ws://127.0.0.1:{port}/ws/2?rate={rate}&secs={secs}&warmup={warmup}"
               f"&tick_us=1000")
        relay = run_child(["latency-relay", url, redis_url, total], total + 30)
        out, _ = consumer.communicate(timeout=total + 30)
        cons = next((json.loads(x) for x in reversed(out.splitlines()) if x.startswith("{")),
                    {"ok": False, "error": "no consumer output"})
    finally:
        proc.stdin.close()
        proc.wait()
    return {"rate": rate, "relay": relay, "consumer": cons}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--secs", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        if kind == "relay":
            _emit(child_relay_throughput(rest[0], rest[1], int(rest[2]), float(rest[3])))
        elif kind == "sink":
            _emit(child_sink(rest[0], int(rest[1])))
        elif kind == "latency-relay":
            _emit(child_latency_relay(rest[0], rest[1], float(rest[2])))
        elif kind == "latency-consumer":
            _emit(child_latency_consumer(rest[0], float(rest[1])))
        return 0

    import bench_throughput

    from exchange_wss.redis import RedisServer

    timeout = 60 + args.frames / 2000
    rates = {"live": [], "relay": [], "sink": []}
    relay_runs = []
    with RedisServer() as redis_server:
        proc, url = bench_throughput.start_blaster(args.frames)
        try:
            for rnd in range(args.rounds):
                order = ["live", "relay", "sink"]
                for mode in (order if rnd % 2 == 0 else order[::-1]):
                    if mode == "live":
                        result = bench_throughput.run_client("sdk-book", sys.executable, url,
                                                             args.frames, timeout)
                    elif mode == "relay":
                        result = run_child(["relay", url, redis_server.url, args.frames,
                                            timeout], timeout + 30)
                        relay_runs.append(result)
                    else:
                        result = run_child(["sink", redis_server.url, args.frames],
                                           timeout + 30)
                    shown = f"{result['rate']:12,.0f}/s" if result.get("ok") else \
                        f"FAILED {result.get('error') or result}"
                    print(f"round {rnd + 1}/{args.rounds} {mode:6s} {shown}", flush=True)
                    if result.get("ok"):
                        rates[mode].append(result["rate"])
        finally:
            proc.terminate()
            proc.wait()
        latency = latency_run(redis_server.url, args.rate, args.secs, args.warmup)
    med = {m: statistics.median(v) if v else None for m, v in rates.items()}
    print()
    for mode, value in med.items():
        ratio = value / med["live"] if value and med["live"] else None
        print(f"{mode:6s} {value or 0:12,.0f} events/s   x{ratio or 0:.2f} live")
    relay = med["relay"]
    print(f"target: relay publishes >= {THROUGHPUT_TARGET:,}/s: {relay or 0:,.0f} "
          f"{'ok' if relay and relay >= THROUGHPUT_TARGET else 'MISS'}")
    cons = latency["consumer"]
    print(f"latency at {args.rate:,}/s relay -> consumer: p50 {cons.get('p50_us')} us, "
          f"p99 {cons.get('p99_us')} us, p99.9 {cons.get('p999_us')} us, max "
          f"{cons.get('max_us')} us over {cons.get('n')} tickers")
    p99 = cons.get("p99_us")
    print(f"target: p99 < {LATENCY_TARGET_US} us: "
          f"{'ok' if p99 is not None and p99 < LATENCY_TARGET_US else 'MISS'}")
    print(f"book equal to the relay's snapshot: {cons.get('snapshot_checks')} checks, "
          f"{cons.get('snapshot_mismatches')} mismatches; gaps {cons.get('gaps')}; relay "
          f"dropped {latency['relay'].get('dropped')}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"frames": args.frames, "rounds": args.rounds, "rates": rates,
                       "medians": med, "relay_runs": relay_runs, "latency": latency},
                      fh, indent=2)
    ok = all(rates.values()) and cons.get("ok") and latency["relay"].get("ok")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The benchmarks still run: every SDK client of the throughput benchmark, the latency
and the memory benchmark, on small workloads.

These check that each measured client receives every message without an error or a
checksum mismatch (the figures in docs/performance.rst depend on it); they assert no
timings. The peer clients need benchmarks/requirements.txt and are not run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import bench_throughput  # noqa: E402
import throughput_clients  # noqa: E402

FRAMES = 2000
SDK_CLIENTS = sorted(name for name, a in throughput_clients.CLIENTS.items()
                     if a.library == "exchange_wss")


@pytest.fixture(scope="module")
def blaster_url():
    proc, url = bench_throughput.start_blaster(FRAMES)
    yield url
    proc.terminate()
    proc.wait()


def test_every_sdk_workload_is_benchmarked():
    """Bitfinex raw/typed/book/checksummed book, Binance and FTX all have a client."""
    for name in ("sdk-raw", "sdk-raw-slow", "sdk-raw-deflate", "sdk-ticker-deflate",
                 "sdk-ticker", "sdk-book", "sdk-book-cs",
                 "sdk-binance-raw", "sdk-binance-book", "sdk-ftx-book", "sdk-raw-record",
                 "sdk-book-record"):
        assert name in SDK_CLIENTS


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_client_receives_every_message_cleanly(blaster_url, client):
    """The client counts all N deliveries with no error and no checksum mismatch."""
    result = bench_throughput.run_client(client, sys.executable, blaster_url, FRAMES, 60)
    assert result["ok"], result
    assert result["rate"] > 0


def run_json(script: str, *args: str, tmp_path) -> dict:
    out = tmp_path / "result.json"
    subprocess.run([sys.executable, os.path.join(BENCH, script), *args, "--json", str(out)],
                   check=True, timeout=240, capture_output=True)
    return json.loads(out.read_text())


def test_latency_benchmark_loses_nothing(tmp_path):
    """A short paced run per mode: every message arrives and gets a latency."""
    result = run_json("bench_latency.py", "--rates", "2000", "--secs", "0.5", "--warmup", "0.2",
                      tmp_path=tmp_path)
    rows = result["results"]
    assert {row["mode"] for row in rows} == {"socket", "bare", "raw", "ticker"}
    for row in rows:
        assert row["lost"] == 0 and row["all"]["n"] > 0, row


def test_memory_benchmark_measures_100_subscriptions(tmp_path):
    """The client process really holds 100 subscriptions and reports a peak."""
    result = run_json("bench_memory.py", "--secs", "0.5", "--rate", "2000", tmp_path=tmp_path)
    client = result["client"]
    assert client["subscriptions"] == 100
    assert client["peak_mib"] > result["baseline"]["peak_mib"] > 0


def test_replay_benchmark_replays_the_recorded_frames(tmp_path):
    """Live and offline replays of the recorded book each deliver every update."""
    result = run_json("bench_replay.py", "--frames", "3000", "--rounds", "1", tmp_path=tmp_path)
    assert all(result["rates"][mode] for mode in ("live", "offline", "offline-raw")), result


def test_relay_benchmark_publishes_and_consumes_through_redis(tmp_path):
    """The relay publishes every event to a real Redis; the paced consumer gets tickers
    with no gap and a book equal to each relay snapshot it checked."""
    result = run_json("bench_relay.py", "--frames", "3000", "--rounds", "1", "--rate", "2000",
                      "--secs", "1", "--warmup", "0.2", tmp_path=tmp_path)
    assert all(result["rates"][mode] for mode in ("live", "relay", "sink")), result
    consumer = result["latency"]["consumer"]
    assert consumer["ok"] and consumer["n"] > 0 and consumer["snapshot_mismatches"] == 0

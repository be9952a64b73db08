"""Offline replay against the live client on the same frames.

The blaster's ``book`` workload (a 25-level P0 snapshot, then N single-level
updates) is recorded once by an SDK client (``sdk-book-record``, its recording
kept). Then, per round and alternating the order, each in a fresh process:

- ``live``: ``sdk-book`` reads the same stream from the blaster (the throughput
  benchmark's client);
- ``offline``: :class:`~exchange_wss.recording.OfflineReplay` feeds the
  recording into a ``BitfinexSession`` and its book, delivering the same
  ``BookUpdate`` events (gzip, line parsing, ``orjson.loads``, the session);
- ``offline-raw``: the recording's frames only (gzip, line parsing, ``orjson.loads``),
  no session: the reader's own ceiling.

Rates are book updates per second from the first delivery to the N-th, as in
``bench_throughput.py``. Usage::

    python benchmarks/bench_replay.py [--frames 150000] [--rounds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

TARGET = 5.0  # offline / live


def offline_rate(path: str, frames: int, raw: bool) -> dict:
    """One offline measurement (run in a child process: ``--measure``)."""
    import orjson

    from exchange_wss import models
    from exchange_wss.recording import OfflineReplay, open_recording

    times = []
    perf = time.perf_counter
    recording = open_recording(path)
    if raw:
        loads = orjson.loads
        count = 0
        first = last = 0.0
        for rec in recording.records():
            if rec.kind != "recv":
                continue
            msg = loads(rec.data)
            if msg.__class__ is list and len(msg) > 1 and msg[1].__class__ is list \
                    and msg[1] and msg[1][0].__class__ is not list:
                count += 1
                if count == 1:
                    first = perf()
                elif count == frames:
                    last = perf()
        return {"rate": (frames - 1) / (last - first), "delivered": count}
    state = {"n": 0, "first": 0.0, "last": 0.0}

    def on_event(label, event):
        if event.__class__ is models.BookUpdate:
            n = state["n"] = state["n"] + 1
            if n == 1:
                state["first"] = perf()
            elif n == frames:
                state["last"] = perf()
    replay = OfflineReplay(recording, keep_control=False)
    replay.on(on_event)
    stats = replay.run()
    times.append(state)
    ok = state["n"] == frames and stats.checksum_failures == 0
    return {"rate": (frames - 1) / (state["last"] - state["first"]) if ok else None,
            "delivered": state["n"], "frames": stats.frames}


def measure_child(mode: str, path: str, frames: int, timeout: float) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", mode, "--path", path,
           "--frames", str(frames)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": "timeout"}
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"ok": False, "error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--measure", choices=("offline", "offline-raw"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        result = offline_rate(args.path, args.frames, raw=args.measure == "offline-raw")
        result["ok"] = result["rate"] is not None
        print(json.dumps(result), flush=True)
        return 0

    import bench_throughput

    timeout = 60 + args.frames / 2000
    tmp = tempfile.mkdtemp(prefix="ews-bench-replay-")
    rates = {"live": [], "offline": [], "offline-raw": []}
    proc, url = bench_throughput.start_blaster(args.frames)
    try:
        os.environ["EWS_RECORD_DIR"] = tmp
        rec = bench_throughput.run_client("sdk-book-record", sys.executable, url, args.frames,
                                          timeout)
        del os.environ["EWS_RECORD_DIR"]
        if not rec.get("ok"):
            print(f"recording failed: {rec}", file=sys.stderr)
            return 1
        print(f"recorded {rec.get('recorded')} frames, {rec.get('record_bytes'):,} bytes "
              f"compressed", flush=True)
        for rnd in range(args.rounds):
            order = ["live", "offline", "offline-raw"]
            for mode in (order if rnd % 2 == 0 else order[::-1]):
                if mode == "live":
                    result = bench_throughput.run_client("sdk-book", sys.executable, url,
                                                         args.frames, timeout)
                else:
                    result = measure_child(mode, tmp, args.frames, timeout)
                shown = f"{result['rate']:12,.0f}/s" if result.get("ok") else \
                    f"FAILED {result.get('error')}"
                print(f"round {rnd + 1}/{args.rounds} {mode:12s} {shown}", flush=True)
                if result.get("ok"):
                    rates[mode].append(result["rate"])
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {m: statistics.median(v) if v else None for m, v in rates.items()}
    print()
    for mode, value in med.items():
        ratio = value / med["live"] if value and med["live"] else None
        print(f"{mode:12s} {value or 0:12,.0f} book updates/s   x{ratio or 0:.2f} live")
    ratio = med["offline"] / med["live"] if med["offline"] and med["live"] else None
    verdict = "n/a" if ratio is None else ("ok" if ratio >= TARGET else "MISS")
    print(f"target: offline / live >= {TARGET:g}: {ratio or 0:.2f} {verdict}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"frames": args.frames, "rounds": args.rounds, "rates": rates,
                       "medians": med, "ratio": ratio, "target": TARGET}, fh, indent=2)
    return 0 if all(rates.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

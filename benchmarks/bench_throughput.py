"""Messages per second from socket to callback: the SDK side by side with peer clients.

One blaster process (``blaster.py``) serves N pre-encoded frames per
connection, the same bytes to every client for a workload (Bitfinex ``ticker``,
``book``, ``book_cs``; for the SDK's other clients Binance ``binance_bookticker``,
``binance_trade``, ``binance_depth`` and FTX ``ftx_ticker``, ``ftx_orderbook``).
Each client is measured in a fresh process of its own
(``throughput_clients.py``: one adapter per client, so event loops never mix),
once per round; rounds alternate the order (forward, then reversed). Each figure
is the median of the client's successful rounds; ratios are against ``bare``
(plain autobahn + ``orjson.loads``) measured in the same run, since these
machines are noisy. A client that times out, raises or miscounts fails that
round, and the run goes on.

Usage (in the benchmark venv, see ``benchmarks/README.rst``)::

    python benchmarks/bench_throughput.py [--frames 150000] [--rounds 5]
        [--clients bare,sdk,cryptofeed-book] [--json out.json]
        [--python CLIENT=/path/to/python]

``--clients`` takes names or prefixes (``sdk`` selects every default ``sdk-*``
client, ``sdk-ftx`` every FTX one); ``bare`` is always measured. ``--list``
shows the clients. At the end it prints the ratios the project targets and,
for the SDK's Binance and FTX clients measured, their ratio to the same SDK on
Bitfinex. It exits 1 when some client failed every round.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from throughput_clients import CLIENTS  # noqa: E402

CLIENT_SCRIPT = os.path.join(HERE, "throughput_clients.py")
BLASTER_SCRIPT = os.path.join(HERE, "blaster.py")
#: Measured unless --clients says otherwise (sdk-book-seq and sdk-binance-trade
#: are on request only).
DEFAULT_CLIENTS = [
    "bare", "websockets", "seed", "seed-book", "bfxapi-ticker", "bfxapi-book",
    "cryptofeed-ticker", "cryptofeed-book", "cryptofeed-book-cs",
    "sdk-raw", "sdk-raw-slow", "sdk-raw-record", "sdk-raw-deflate", "sdk-ticker",
    "sdk-ticker-deflate", "sdk-book", "sdk-book-cs",
    "sdk-binance-raw", "sdk-binance-raw-slow", "sdk-binance-typed", "sdk-binance-book",
    "sdk-ftx-raw", "sdk-ftx-ticker", "sdk-ftx-book",
]
#: (numerator, denominator, target): the ratios the project aims for.
TARGETS = [
    ("sdk-raw", "bare", 8.0),
    ("sdk-ticker", "bare", 3.0),
    ("sdk-book", "cryptofeed-book", 3.0),
    ("sdk-book-cs", "cryptofeed-book", 1.0),
    # recording every frame costs at most 10% of the raw rate
    ("sdk-raw-record", "sdk-raw", 0.9),
]
#: (client, its Bitfinex counterpart): the SDK on Binance and FTX against the same
#: SDK on Bitfinex (the same connection layer; frames about twice as long).
SAME_SDK = [
    ("sdk-binance-raw", "sdk-raw"), ("sdk-binance-raw-slow", "sdk-raw-slow"),
    ("sdk-binance-typed", "sdk-ticker"), ("sdk-binance-trade", "sdk-ticker"),
    ("sdk-binance-book", "sdk-book"), ("sdk-ftx-raw", "sdk-raw"),
    ("sdk-ftx-ticker", "sdk-ticker"), ("sdk-ftx-book", "sdk-book-cs"),
    # compression=True against the same stream uncompressed
    ("sdk-raw-deflate", "sdk-raw"), ("sdk-ticker-deflate", "sdk-ticker"),
]
#: Packages whose versions the JSON output records.
VERSIONS_OF = ["exchange_wss", "autobahn", "twisted", "orjson", "websockets", "bitfinex-v2",
               "bitfinex-api-py", "cryptofeed", "uvloop", "yapic.json", "order_book", "pyee"]


def select_clients(spec: str | None) -> list[str]:
    """Names or prefixes, comma-separated, to client names (``bare`` first, always)."""
    if not spec:
        chosen = list(DEFAULT_CLIENTS)
    else:
        chosen = []
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            if item in CLIENTS:
                matches = [item]
            else:
                matches = [n for n in DEFAULT_CLIENTS if n.startswith(item)]
            if not matches:
                raise SystemExit(f"unknown client {item!r}; see --list")
            chosen += [m for m in matches if m not in chosen]
    return ["bare"] + [c for c in chosen if c != "bare"]


def start_blaster(frames: int):
    """Start the blaster; return the process and its base URL once it listens."""
    proc = subprocess.Popen([sys.executable, BLASTER_SCRIPT, "--frames", str(frames)],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"blaster did not start (said {line!r})")
    return proc, f"ws://127.0.0.1:{int(line.split()[1])}/ws/2"


def run_client(name: str, python: str, url: str, frames: int, timeout: float) -> dict[str, Any]:
    """One measurement in a fresh process; always returns a result dict."""
    cmd = [python, CLIENT_SCRIPT, name, url, str(frames), "--timeout", str(timeout)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        return {"client": name, "ok": False, "error": f"killed after {timeout + 30:g}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith('{"client"'):
            return json.loads(line)
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"client": name, "ok": False, "error": f"exit {proc.returncode}: {tail}"}


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt_rate(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "FAILED"


def fmt_ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.2f}" if num is not None and den else "n/a"


def versions() -> dict[str, str | None]:
    out = {}
    for dist in VERSIONS_OF:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150_000,
                        help="messages each client must deliver per round (default 150000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--clients", help="comma-separated names or prefixes (default: all)")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    parser.add_argument("--timeout", type=float,
                        help="seconds per client run (default 30 + frames/2000)")
    parser.add_argument("--python", action="append", default=[], metavar="CLIENT=PATH",
                        help="run CLIENT with another interpreter (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the clients and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name, spec in CLIENTS.items():
            extra = "" if name in DEFAULT_CLIENTS else "  (on request)"
            print(f"{name:20s} {spec.workload:18s} {spec.library}{extra}")
        return 0
    clients = select_clients(args.clients)
    pythons = dict(item.split("=", 1) for item in args.python)
    timeout = args.timeout or 30 + args.frames / 2000
    rates: dict[str, list[float]] = {c: [] for c in clients}
    failures: dict[str, list[str]] = {c: [] for c in clients}
    runs: list[dict[str, Any]] = []

    print(f"{args.frames:,} frames, {args.rounds} rounds, clients: {', '.join(clients)}",
          flush=True)
    started = time.time()
    proc, url = start_blaster(args.frames)
    try:
        for rnd in range(args.rounds):
            order = clients if rnd % 2 == 0 else clients[::-1]
            for name in order:
                result = run_client(name, pythons.get(name, sys.executable), url,
                                    args.frames, timeout)
                result["round"] = rnd + 1
                runs.append(result)
                if result.get("ok"):
                    rates[name].append(result["rate"])
                    shown = f"{result['rate']:12,.0f} msg/s"
                else:
                    failures[name].append(result.get("error") or "failed")
                    shown = f"      FAILED: {result.get('error')}"
                print(f"round {rnd + 1}/{args.rounds} {name:20s}{shown}", flush=True)
    finally:
        proc.terminate()
        proc.wait()

    medians = {c: median_or_none(rates[c]) for c in clients}
    bare = medians.get("bare")
    print()
    print(f"{'client':20s} {'workload':18s} {'median msg/s':>13s} {'vs bare':>8s} {'ok':>6s}")
    for name in clients:
        ok = f"{len(rates[name])}/{args.rounds}"
        print(f"{name:20s} {CLIENTS[name].workload:18s} {fmt_rate(medians[name]):>13s} "
              f"{fmt_ratio(medians[name], bare):>8s} {ok:>6s}")

    print()
    print("targets (medians of this run):")
    targets = []
    for num, den, target in TARGETS:
        a, b = medians.get(num), medians.get(den)
        value = a / b if a is not None and b else None
        verdict = "n/a" if value is None else ("ok" if value >= target else "MISS")
        print(f"  {num + ' / ' + den:32s} {fmt_ratio(a, b):>6s}   target >= {target:g}  {verdict}")
        targets.append({"ratio": f"{num} / {den}", "value": value, "target": target,
                        "met": None if value is None else value >= target})

    cpu = {c: median_or_none([r["cpu_us_per_msg"] for r in runs
                              if r.get("client") == c and r.get("ok") and "cpu_us_per_msg" in r])
           for c in clients}
    if cpu.get("sdk-raw") and cpu.get("sdk-raw-record"):
        extra = cpu["sdk-raw-record"] - cpu["sdk-raw"]
        print(f"\nrecording's CPU: sdk-raw {cpu['sdk-raw']:.2f} µs/msg, sdk-raw-record "
              f"{cpu['sdk-raw-record']:.2f} µs/msg (+{extra:.2f} µs, "
              f"+{extra / cpu['sdk-raw'] * 100:.0f}%, every thread of the process counted)")

    pairs = [(a, b) for a, b in SAME_SDK if a in medians and b in medians]
    if pairs:
        print()
        print("the SDK on Binance and FTX vs on Bitfinex (medians of this run):")
        for a, b in pairs:
            print(f"  {a + ' / ' + b:40s} {fmt_ratio(medians[a], medians[b]):>6s}")

    if args.json:
        per_client = {}
        for name in clients:
            seen = next((r for r in runs if r.get("client") == name and r.get("version")), {})
            per_client[name] = {
                "workload": CLIENTS[name].workload, "library": CLIENTS[name].library,
                "version": seen.get("version"), "python": pythons.get(name, sys.executable),
                "rates": rates[name], "failures": failures[name], "median": medians[name],
                "ratio_to_bare": (medians[name] / bare
                                  if medians[name] is not None and bare else None)}
        report = {"frames": args.frames, "rounds": args.rounds, "started": started,
                  "seconds": time.time() - started, "python": sys.version.split()[0],
                  "platform": platform.platform(), "cpus": os.cpu_count(),
                  "versions": versions(), "clients": per_client, "targets": targets,
                  "cpu_us_per_msg": cpu,
                  "same_sdk": {f"{a} / {b}": (medians[a] / medians[b]
                                              if medians[a] is not None and medians[b]
                                              else None) for a, b in pairs},
                  "runs": runs}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
        print(f"\nwrote {args.json}")
    return 0 if all(rates[c] for c in clients) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Peak memory of a process running one ``WssClient`` with 100 subscriptions.

Method. Every figure comes from a fresh Python process of its own, so nothing
else this script does is counted:

- ``interpreter``: ``python -c`` importing only ``os`` and ``resource`` (the
  interpreter's own floor);
- ``baseline``: this script (argparse, json, subprocess...) having imported
  ``exchange_wss``, ``twisted`` and ``autobahn`` and started the reactor (the
  library's thread), then idled half a second;
- ``client``: the same, plus one ``WssClient`` (default settings:
  ``checksum=True``, pings, stale watchdog) subscribed to a ticker and a P0
  book for each of ``--symbols`` symbols (50: 100 subscriptions, pooled 25 a
  connection onto 4 connections), fed by a loopback server in yet another
  process (``paced_server.py``). The server answers every subscribe with a
  chanId, every book subscription with a 25-level-a-side snapshot, and then
  streams updates round-robin over all channels of each connection at a fixed
  total rate (``--rate``, split evenly over the connections) for ``--secs``
  seconds: tickers, and book level changes, deletes and re-adds around 25
  levels a side. The callbacks keep the latest ticker per symbol and count
  book updates, as a real consumer would.

Reported for each: peak RSS (``VmHWM`` of ``/proc/self/status``, the kernel's
high-water mark of this process's memory, in MiB; not ``getrusage``'s ``ru_maxrss``,
which Linux carries over ``exec`` from the forking parent, so a child of a big
parent would report the parent's size) and the RSS at a few points (after
imports, after the reactor started, once every book snapshot arrived, at the
end of the stream; ``/proc/self/statm``). The client's peak is given as a
total and as the increment over ``baseline``; the target is a total under
40 MB. ``--tracemalloc`` adds a second client run with ``tracemalloc`` on
from right after the imports and prints the allocation sites that hold the
most memory at the end of the stream (tracemalloc's own bookkeeping inflates
that run's RSS, so its RSS is not the figure to quote).

The children get a bytecode cache of their own (``PYTHONPYCACHEPREFIX`` in a
temporary directory, filled by a first unreported run), as an installed
package has: with ``PYTHONDONTWRITEBYTECODE`` set and no ``__pycache__`` in the
repository, every import would compile the SDK's modules from source and the
compiler's scratch memory (about 4 MiB for ``bitfinex/protocol.py``) would stay
in the RSS. ``--compile-from-source`` measures that case instead. Usage::

    python benchmarks/bench_memory.py [--symbols 50] [--rate 10000] [--secs 5]
        [--tracemalloc] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
END_CODE = 29999  # paced_server's end-of-stream info event
TARGET_MB = 40.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def peak_mib() -> float:
    """Peak RSS of this process (``VmHWM``) in MiB."""
    return _status_kib("VmHWM") / 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def rss_mib() -> float:
    """Current resident set size in MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


# --------------------------------------------------------------------- child processes

#: The interpreter's floor: run with ``python -c``, so not even this script is imported.
INTERPRETER_CODE = (
    "import os; "
    "rss = int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE'); "
    "hwm = [int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]; "
    "print('{\"peak_mib\": %f, \"rss_mib\": %f}' % (hwm / 1024, rss / 2**20))")


def rss_split() -> dict:
    """Anonymous (heap: objects, code) and file-backed (shared libraries) RSS, MiB."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def rss_by_mapping() -> dict:
    """RSS in MiB by kind of mapping: ``[heap]`` (brk: malloc's main arena, pymalloc
    arenas below the mmap threshold), ``anon`` (other anonymous maps: pymalloc's
    arenas, thread stacks, other threads' malloc arenas), ``file`` (code and data of
    shared libraries and extension modules), ``[stack]`` and the rest."""
    out: dict = {}
    name = "?"
    with open("/proc/self/smaps") as fh:
        for line in fh:
            parts = line.split()
            if parts and parts[0][0] in "0123456789abcdef" and "-" in parts[0]:
                path = parts[5] if len(parts) > 5 else ""
                name = path if path.startswith("[") else ("file" if path else "anon")
            elif parts and parts[0] == "Rss:":
                out[name] = out.get(name, 0.0) + int(parts[1]) / 1024
    return {k: round(v, 2) for k, v in out.items()}


#: What the baseline imports, in this order, with the RSS after each step: the
#: price of each dependency. Twisted's reactor imports asyncio (``twisted.internet.defer``)
#: and pyOpenSSL/cryptography (``twisted.internet.tcp`` -> ``_newtls``) itself, and
#: ``WssClient``'s module imports the rest, so importing them first only separates
#: their shares; the final set is the same (the last step is the SDK's own modules).
BASELINE_STEPS = ("orjson", "asyncio", "OpenSSL.SSL", "twisted.internet.reactor",
                  "autobahn.twisted.websocket", "twisted.application.internet",
                  "sortedcontainers", "decimal", "exchange_wss.bitfinex.client")


def child_baseline() -> dict:
    marks = {"start": rss_mib()}
    sys.path.insert(0, os.path.dirname(HERE))
    for name in BASELINE_STEPS:
        __import__(name)
        marks[name] = rss_mib()
    from exchange_wss import WssClient, _reactor  # noqa: F401
    _reactor.ensure_running()
    time.sleep(0.5)
    marks["reactor_running"] = rss_mib()
    return {"peak_mib": peak_mib(), "rss_mib": rss_mib(), "marks": marks, **rss_split(),
            "modules": len(sys.modules)}


def child_client(port: int, symbols: int, rate: float, secs: float, trace: bool) -> dict:
    marks = {"start": rss_mib()}
    sys.path.insert(0, os.path.dirname(HERE))
    import autobahn.twisted.websocket  # noqa: F401
    import twisted.internet.reactor  # noqa: F401

    from exchange_wss import WssClient, _reactor
    marks["imported"] = rss_mib()
    maps_imported = rss_by_mapping()
    if trace:
        import tracemalloc
        tracemalloc.start(1)
    _reactor.ensure_running()
    marks["reactor_running"] = rss_mib()

    per_conn = 25
    names = [f"tS{i:03d}USD" for i in range(symbols)]
    n_subs = 2 * symbols
    n_links = -(-n_subs // per_conn)
    url = (f"ws://127.0.0.1:{port}/ws/2?rate={rate / n_links:.3f}&secs={secs}"
           f"&warmup=0&tick_us=1000")

    latest: dict = {}
    counts = {"ticker": 0, "snapshots": 0, "book_updates": 0}
    ends: list = []
    errors: list = []
    snapshots_done = threading.Event()
    all_done = threading.Event()

    def on_ticker(t) -> None:
        latest[t.symbol] = t
        counts["ticker"] += 1

    def on_book(ev) -> None:
        if type(ev).__name__ == "BookSnapshot":
            counts["snapshots"] += 1
            if counts["snapshots"] == symbols:
                snapshots_done.set()
        else:
            counts["book_updates"] += 1

    def on_event(ev) -> None:
        raw = getattr(ev, "raw", None)
        if isinstance(raw, dict) and raw.get("code") == END_CODE:
            ends.append(raw.get("bench"))
            if len(ends) == n_links:
                all_done.set()

    client = WssClient(url=url, channels_per_connection=per_conn, on_event=on_event,
                       on_error=errors.append)
    for name in names:
        client.subscribe_to_ticker(name, on_ticker)
        client.subscribe_to_orderbook(name, "P0", on_book)

    # RSS sampled from this (otherwise idle) thread: a sampling thread would add
    # a stack and a malloc arena of its own to what is measured.
    samples: list = []

    def wait_sampling(event: threading.Event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if event.wait(0.05):
                return True
            samples.append(rss_mib())
        return event.is_set()

    t0 = time.monotonic()
    client.start()
    got_snapshots = wait_sampling(snapshots_done, 30)
    marks["snapshots"] = rss_mib()
    completed = wait_sampling(all_done, secs + 60)
    elapsed = time.monotonic() - t0
    marks["end_of_stream"] = rss_mib()
    peak_end = peak_mib()
    maps_end = rss_by_mapping()
    books = [client.order_book(name, "P0") for name in names]
    levels = [len(b.bids) + len(b.asks) for b in books]
    result = {
        "peak_mib": peak_end, "rss_mib": marks["end_of_stream"], "marks": marks,
        "sampled_max_mib": max(samples) if samples else None, **rss_split(),
        "modules": len(sys.modules), "tls_stack_loaded": "OpenSSL.SSL" in sys.modules,
        "threads": sorted(t.name for t in threading.enumerate()),
        "rss_by_mapping": {"imported": maps_imported, "end_of_stream": maps_end},
        "subscriptions": n_subs, "connections": n_links, "completed": completed,
        "all_snapshots": got_snapshots, "counts": counts, "elapsed_s": elapsed,
        "server": ends, "errors": [repr(e) for e in errors[:5]],
        "book_levels_mean": sum(levels) / len(levels) if levels else 0,
        "server_sent": sum(e.get("measured_sent", 0) for e in ends if e),
        "server_rate": sum(e.get("achieved_rate", 0.0) for e in ends if e),
    }
    if trace:
        import tracemalloc
        snap = tracemalloc.take_snapshot()
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

        def short(path: str) -> str:
            for marker in ("site-packages" + os.sep, root + os.sep):
                if marker in path:
                    return path.split(marker, 1)[1]
            return path.replace(sys.prefix, "<py>").replace(sys.base_prefix, "<py>")

        by_line = [{"where": f"{short(s.traceback[0].filename)}:{s.traceback[0].lineno}",
                    "kib": s.size / 1024, "count": s.count}
                   for s in snap.statistics("lineno")[:15]]
        by_file = [{"where": short(s.traceback[0].filename), "kib": s.size / 1024,
                    "count": s.count} for s in snap.statistics("filename")[:10]]
        result["tracemalloc"] = {"current_mib": current / 2**20, "peak_mib": peak / 2**20,
                                 "by_line": by_line, "by_file": by_file}
    client.stop()
    return result


# ------------------------------------------------------------------------------- driver

def run_child(*args: str, env=None) -> dict:
    if args[0] == "interpreter":
        cmd = [sys.executable, "-c", INTERPRETER_CODE]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {args[0]} failed (rc {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def print_report(res: dict) -> None:
    interp, base, cli = res["interpreter"], res["baseline"], res["client"]
    print()
    print(f"bytecode: {res['bytecode']}")
    print(f"{'process':40s} {'peak RSS MiB':>12s} {'over baseline':>14s} {'anon/file MiB':>14s}")
    print("-" * 83)

    def split(r: dict) -> str:
        return f"{r['RssAnon']:.1f}/{r['RssFile']:.1f}" if "RssAnon" in r else ""

    print(f"{'python -c, nothing imported':40s} {interp['peak_mib']:12.1f} {'':>14s}")
    print(f"{'imports + reactor running (baseline)':40s} {base['peak_mib']:12.1f} {'0.0':>14s} "
          f"{split(base):>14s}")
    label = f"WssClient, {cli['subscriptions']} subs on {cli['connections']} connections"
    inc = cli["peak_mib"] - base["peak_mib"]
    print(f"{label:40s} {cli['peak_mib']:12.1f} {inc:14.1f} {split(cli):>14s}")
    verdict = "meets" if cli["peak_mib"] * 2**20 / 1e6 < TARGET_MB else "MISSES"
    print(f"target: peak < {TARGET_MB:.0f} MB total: {verdict} "
          f"({cli['peak_mib'] * 2**20 / 1e6:.1f} MB)")
    print()
    steps, prev = [], None
    for name, value in base["marks"].items():
        if prev is not None:
            steps.append(f"{name} +{value - prev:.1f}")
        prev = value
    print(f"baseline RSS by import step (MiB, from {base['marks']['start']:.1f}; "
          f"{base['modules']} modules): " + ", ".join(steps))
    m = cli["marks"]
    print("client RSS (MiB) along the run: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items())
          + (f"; sampled max {cli['sampled_max_mib']:.1f}" if cli.get("sampled_max_mib") else ""))
    maps = cli["rss_by_mapping"]
    kinds = sorted(set(maps["imported"]) | set(maps["end_of_stream"]))
    growth = {k: maps["end_of_stream"].get(k, 0.0) - maps["imported"].get(k, 0.0) for k in kinds}
    print("client RSS growth from imported to end of stream, by mapping (MiB): " + ", ".join(
        f"{k} {v:+.2f}" for k, v in sorted(growth.items(), key=lambda kv: -abs(kv[1]))
        if abs(v) >= 0.01) + f"; threads at the end: {len(cli['threads'])}")
    c = cli["counts"]
    print(f"delivered: {c['ticker']:,} tickers, {c['snapshots']} book snapshots, "
          f"{c['book_updates']:,} book updates in {cli['elapsed_s']:.1f}s; server sent "
          f"{cli['server_sent']:,} at {cli['server_rate']:,.0f}/s; books hold "
          f"{cli['book_levels_mean']:.0f} levels on average"
          + ("" if cli["completed"] else "; INCOMPLETE (not every connection ended)")
          + (f"; errors: {cli['errors']}" if cli["errors"] else ""))
    tm = res.get("traced", {}).get("tracemalloc")
    if tm:
        print()
        print(f"tracemalloc (separate run): {tm['current_mib']:.1f} MiB traced at the end, "
              f"peak {tm['peak_mib']:.1f} MiB; allocated after the imports, largest first:")
        for row in tm["by_file"]:
            print(f"  {row['kib']:9.1f} KiB {row['count']:8d} blocks  {row['where']}")
        print("  by line:")
        for row in tm["by_line"][:10]:
            print(f"  {row['kib']:9.1f} KiB {row['count']:8d} blocks  {row['where']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="peak memory of one WssClient, 100 subscriptions")
    parser.add_argument("--symbols", type=int, default=50,
                        help="symbols; each gets a ticker and a P0 book (default 50: 100 subs)")
    parser.add_argument("--rate", type=float, default=10_000,
                        help="update messages per second, all channels together")
    parser.add_argument("--secs", type=float, default=5.0, help="seconds of updates")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also run a traced client and list the biggest allocation sites")
    parser.add_argument("--compile-from-source", action="store_true",
                        help="no bytecode cache for the children: with PYTHONDONTWRITEBYTECODE "
                             "set, the repository's modules are compiled at every import")
    parser.add_argument("--json", metavar="PATH", help="save the results as JSON")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        kind = args.child[0]
        if kind == "baseline":
            out = child_baseline()
        else:
            port, symbols, rate, secs, trace = args.child[1:6]
            out = child_client(int(port), int(symbols), float(rate), float(secs), trace == "1")
        print(json.dumps(out), flush=True)
        os._exit(0)  # no teardown: the figures are taken

    env = dict(os.environ)
    cache = None
    if not args.compile_from_source:
        # With PYTHONDONTWRITEBYTECODE (or an unwritable tree) every import of the
        # repository's modules compiles them from source, and the compiler's
        # scratch memory stays in the RSS. An installed package has its bytecode
        # compiled once: give the children a bytecode cache of their own, filled
        # by a first, unreported run.
        cache = tempfile.mkdtemp(prefix="bench_memory_pyc_")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
        run_child("baseline", env=env)
    res: dict = {"bytecode": "compiled from source at import" if args.compile_from_source
                 else "cached (as installed)"}
    res["interpreter"] = run_child("interpreter", env=env)
    res["baseline"] = run_child("baseline", env=env)
    print(f"interpreter {res['interpreter']['peak_mib']:.1f} MiB, baseline "
          f"{res['baseline']['peak_mib']:.1f} MiB", flush=True)
    import paced_server  # here, not at the top: a measured child must not load it
    proc, port = paced_server.start()
    try:
        spec = [str(port), str(args.symbols), str(args.rate), str(args.secs)]
        res["client"] = run_child("client", *spec, "0", env=env)
        print(f"client {res['client']['peak_mib']:.1f} MiB", flush=True)
        if args.tracemalloc:
            res["traced"] = run_child("client", *spec, "1", env=env)
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait()
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    print_report(res)
    if args.json:
        out = {"benchmark": "memory", "python": platform.python_version(),
               "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
               "args": {k: v for k, v in vars(args).items() if k not in ("json", "child")},
               "target_mb": TARGET_MB, **res}
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

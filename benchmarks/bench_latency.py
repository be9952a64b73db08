"""Socket-to-callback latency at a fixed message rate.

A separate server process (``paced_server.py``) answers the Bitfinex opening
and then writes ticker frames at a fixed rate (default 10,000 and 50,000 per
second), in small bursts on a tight schedule (every ``--tick-us``, default
1 ms, the frames due by then). Each frame carries ``time.monotonic_ns()`` taken
as it was built, just before its burst was written to the socket; CLOCK_MONOTONIC
is system-wide on Linux, so this process can subtract it from its own clock.

For each delivered message, the callback computes ``monotonic_ns() - stamp``:
the time from the server's write, through the kernel's loopback, the reactor's
read, WebSocket unframing, JSON decoding, the SDK's dispatch and (typed mode)
model building, to the user's code. Modes, in alternating order per round:

- ``socket``: no Twisted, no autobahn: a thread reading a blocking socket,
  unframing in a few lines of Python and ``orjson.loads`` (the floor this
  machine's kernel and scheduler allow a Python client);
- ``bare``: a plain autobahn client protocol on the reactor that ``orjson.loads``
  each message (the reference: what any autobahn-based client pays);
- ``raw``: ``WssClient(raw=True)``, decoded frames to the callback;
- ``ticker``: ``WssClient`` delivering typed ``Ticker`` models.

Warm-up frames (``--warmup`` seconds) are not measured. The tables give, per
rate and mode: the server's achieved rate over the measured phase, the rate the
client received at, messages lost (sequence numbers never delivered; should be
0 over TCP), and latency percentiles p50, p99, p99.9 and max in microseconds:

- ``all``: every measured message;
- ``first``: only the first message of each burst, the pipeline latency without
  the wait behind the burst's earlier messages (a burst of ``rate * tick``
  messages arrives at once, so later ones queue behind the SDK's per-message cost).

Also shown: the server's mean and largest burst (a late wake-up of its
pacing thread writes a bigger burst, so the rate holds) and its longest
``sendall``. A client that does not keep up shows as a p50 in milliseconds
and a receive rate below the server's: the loopback socket buffers hold a few
hundred milliseconds of frames before ``sendall`` itself blocks. Usage::

    python benchmarks/bench_latency.py [--rates 10000 50000] [--secs 3] [--warmup 1]
        [--rounds 1] [--tick-us 1000] [--modes socket bare raw ticker]
        [--fast-path | --no-fast-path] [--json out.json]

Rounds of one (rate, mode) are pooled: percentiles over all their messages.

``--fast-path/--no-fast-path`` is passed to ``WssClient(fast_path=...)`` only
when given.
"""

from __future__ import annotations

import argparse
import base64
import gc
import math
import os
import platform
import socket
import sys
import threading
import time

import orjson
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from exchange_wss import WssClient, _reactor  # noqa: E402

END_CODE = 29999  # paced_server's end-of-stream info event
MODES = ("socket", "bare", "raw", "ticker")


class Recorder:
    """Collects ``now - stamp`` of measured messages; knows each burst's first message.

    The fields arrive in the ticker's slots: ``bid_size`` is the phase (1 =
    measured), ``volume`` the stamp, ``high`` the sequence number, ``low`` the burst.
    """

    def __init__(self) -> None:
        self.lat: list = []
        self.first_lat: list = []
        self.seqs: list = []
        self.warm = 0
        self.last_burst = -1
        self.t_first = self.t_last = 0
        self.stats: dict | None = None
        self.done = threading.Event()

    def record(self, now: int, phase, stamp, seq, burst) -> None:
        if phase != 1:
            self.warm += 1
            return
        lat = now - stamp
        self.lat.append(lat)
        self.seqs.append(seq)
        if burst != self.last_burst:
            self.last_burst = burst
            self.first_lat.append(lat)
        if self.t_first == 0:
            self.t_first = now
        self.t_last = now

    def end(self, msg: dict) -> None:
        self.stats = msg.get("bench")
        self.done.set()

    def decoded(self, msg) -> None:
        """Take one decoded frame, as the ``bare`` and ``socket`` readers see them."""
        if msg.__class__ is list:
            body = msg[1]
            if body.__class__ is list:
                self.record(time.monotonic_ns(), body[1], body[7], body[8], body[9])
        elif msg.get("code") == END_CODE:
            self.end(msg)


def stream_url(port: int, rate: int, secs: float, warmup: float, tick_us: int) -> str:
    return (f"ws://127.0.0.1:{port}/ws/2?rate={rate}&secs={secs}&warmup={warmup}"
            f"&tick_us={tick_us}")


def run_bare(url: str, rec: Recorder, timeout: float) -> None:
    loads = orjson.loads

    class Bare(WebSocketClientProtocol):
        def onOpen(self):
            self.sendMessage(b'{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}')

        def onMessage(self, payload, isBinary):
            rec.decoded(loads(payload))

    def connect():
        from twisted.internet import reactor
        factory = WebSocketClientFactory(url)
        factory.protocol = Bare
        factory.setProtocolOptions(autoPingInterval=0)
        host, port = url.split("//")[1].split("/")[0].split(":")
        return reactor.connectTCP(host, int(port), factory)

    connector = _reactor.call_and_wait(connect)
    rec.done.wait(timeout)
    _reactor.call_and_wait(connector.disconnect)


def run_socket(port: int, url: str, rec: Recorder, timeout: float) -> None:
    """Plain blocking socket, minimal WebSocket client, in a thread of its own."""
    loads = orjson.loads
    path = url.split(str(port), 1)[1]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(4096)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    sub = b'{"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}'
    sock.sendall(bytes((0x81, 0x80 | len(sub))) + b"\0\0\0\0" + sub)  # zero mask: as is

    def reader(buf=buf):
        deadline = time.monotonic() + timeout
        sock.settimeout(1.0)
        while not rec.done.is_set() and time.monotonic() < deadline:
            try:
                chunk = sock.recv(262144)
            except TimeoutError:
                continue
            if not chunk:
                break
            buf += chunk
            pos, end = 0, len(buf)
            while end - pos >= 2:
                n = buf[pos + 1] & 0x7F
                head = 2
                if n == 126:
                    if end - pos < 4:
                        break
                    n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
                elif n == 127:
                    if end - pos < 10:
                        break
                    n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
                if end - pos < head + n:
                    break
                rec.decoded(loads(buf[pos + head:pos + head + n]))
                pos += head + n
            buf = buf[pos:]

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout + 5)
    sock.close()


def run_client(url: str, rec: Recorder, mode: str, timeout: float, fast_path) -> None:
    now_ns = time.monotonic_ns
    if mode == "raw":
        def callback(msg):
            now = now_ns()
            body = msg[1]
            rec.record(now, body[1], body[7], body[8], body[9])
    else:
        def callback(t):
            now = now_ns()
            rec.record(now, t.bid_size, t.volume, t.high, t.low)

    def on_event(event):
        raw = getattr(event, "raw", None)
        if isinstance(raw, dict) and raw.get("code") == END_CODE:
            rec.end(raw)

    kwargs = dict(url=url, raw=(mode == "raw"), checksum=False, stale_timeout=None,
                  ping_interval=None, on_event=on_event)
    if fast_path is not None:
        kwargs["fast_path"] = fast_path
    try:
        client = WssClient(**kwargs)
    except TypeError as exc:
        if "fast_path" in kwargs:
            raise SystemExit(f"this WssClient does not accept fast_path ({exc}); "
                             "run without --fast-path/--no-fast-path") from exc
        raise
    client.subscribe_to_ticker("tBTCUSD", callback)
    client.start()
    rec.done.wait(timeout)
    client.stop()


def percentile(sorted_values: list, q: float) -> float:
    """Nearest-rank percentile of an ascending list (``q`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[idx]


def summarize(lat_ns: list) -> dict:
    s = sorted(lat_ns)
    us = 1e3
    return {"n": len(s), "p50_us": percentile(s, 50) / us, "p99_us": percentile(s, 99) / us,
            "p999_us": percentile(s, 99.9) / us, "max_us": (s[-1] / us) if s else float("nan")}


def one_run(port: int, rate: int, mode: str, args) -> dict:
    url = stream_url(port, rate, args.secs, args.warmup, args.tick_us)
    rec = Recorder()
    timeout = args.warmup + args.secs + 30
    gc.collect()
    if mode == "socket":
        run_socket(port, url, rec, timeout)
    elif mode == "bare":
        run_bare(url, rec, timeout)
    else:
        run_client(url, rec, mode, timeout, args.fast_path)
    stats = rec.stats or {}
    sent = stats.get("measured_sent")
    got = len(set(rec.seqs))
    elapsed = (rec.t_last - rec.t_first) / 1e9
    return {
        "rate": rate, "mode": mode, "completed": rec.stats is not None,
        "server": stats, "received": len(rec.lat), "warmup_received": rec.warm,
        "lost": (sent - got) if sent is not None else None,
        "recv_rate": (len(rec.lat) - 1) / elapsed if elapsed > 0 else 0.0,
        "all": summarize(rec.lat), "first": summarize(rec.first_lat),
        "_lat": rec.lat, "_first": rec.first_lat,
    }


def merge(runs: list) -> dict:
    """Pool the rounds of one (rate, mode): latencies pooled, counts summed, rates averaged."""
    lat = [x for r in runs for x in r["_lat"]]
    first = [x for r in runs for x in r["_first"]]
    servers = [r["server"] for r in runs if r["server"]]
    lost = [r["lost"] for r in runs]
    return {
        "rate": runs[0]["rate"], "mode": runs[0]["mode"], "rounds": len(runs),
        "completed": all(r["completed"] for r in runs),
        "server_rate": (sum(s["achieved_rate"] for s in servers) / len(servers)
                        if servers else None),
        "recv_rate": sum(r["recv_rate"] for r in runs) / len(runs),
        "received": sum(r["received"] for r in runs),
        "lost": None if None in lost else sum(lost),
        "server_max_burst": max((s["max_burst"] for s in servers), default=None),
        "server_mean_burst": (sum(s["mean_burst"] for s in servers) / len(servers)
                              if servers else None),
        "server_sendall_max_ms": max((s["sendall_max_us"] / 1e3 for s in servers), default=0.0),
        "server_tick_late_max_us": max((s["tick_late_max_us"] for s in servers), default=None),
        "all": summarize(lat), "first": summarize(first),
    }


def print_table(results: list) -> None:
    head = (f"{'rate':>7s} {'mode':7s} {'srv msg/s':>10s} {'recv msg/s':>10s} {'lost':>5s} "
            f"{'p50':>7s} {'p99':>7s} {'p99.9':>7s} {'max':>8s} | "
            f"{'1st p50':>7s} {'1st p99':>7s} {'1st max':>8s} | {'burst':>9s} {'snd ms':>6s}")
    print(head)
    print("-" * len(head))
    for r in results:
        a, f = r["all"], r["first"]
        lost = "?" if r["lost"] is None else str(r["lost"])
        burst = (f"{r['server_mean_burst']:.0f}/{r['server_max_burst']}"
                 if r["server_max_burst"] is not None else "?")
        print(f"{r['rate']:7d} {r['mode']:7s} {r['server_rate'] or 0:10,.0f} "
              f"{r['recv_rate']:10,.0f} {lost:>5s} "
              f"{a['p50_us']:7.0f} {a['p99_us']:7.0f} {a['p999_us']:7.0f} {a['max_us']:8.0f} | "
              f"{f['p50_us']:7.0f} {f['p99_us']:7.0f} {f['max_us']:8.0f} | "
              f"{burst:>9s} {r['server_sendall_max_ms']:6.1f}")
    print("latencies in µs (server write -> user callback); '1st': first message of each burst;"
          " burst: mean/max frames per server write; snd: longest server sendall")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="socket-to-callback latency at a fixed rate")
    parser.add_argument("--rates", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--secs", type=float, default=3.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tick-us", type=int, default=1000,
                        help="server pacing period: frames due are written every tick")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--fast-path", action=argparse.BooleanOptionalAction, default=None,
                        help="pass fast_path=... to WssClient (only when given)")
    parser.add_argument("--json", metavar="PATH", help="save the results as JSON")
    args = parser.parse_args(argv)

    import paced_server  # here, not at the top: a measured child must not load it
    proc, port = paced_server.start()
    runs: dict = {}
    try:
        _reactor.ensure_running()
        for rate in args.rates:
            for rnd in range(args.rounds):
                order = args.modes if rnd % 2 == 0 else list(reversed(args.modes))
                for mode in order:
                    r = one_run(port, rate, mode, args)
                    runs.setdefault((rate, mode), []).append(r)
                    a = r["all"]
                    srv = r["server"].get("achieved_rate", 0.0) if r["server"] else 0.0
                    print(f"rate {rate:6d} round {rnd + 1} {mode:7s} server {srv:9,.0f}/s "
                          f"recv {r['recv_rate']:9,.0f}/s lost {r['lost']} "
                          f"p50 {a['p50_us']:.0f} p99 {a['p99_us']:.0f} "
                          f"p99.9 {a['p999_us']:.0f} max {a['max_us']:.0f} µs"
                          + ("" if r["completed"] else "  (INCOMPLETE: no end event)"),
                          flush=True)
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait()

    results = [merge(runs[(rate, mode)]) for rate in args.rates for mode in args.modes]
    print()
    print_table(results)
    if args.json:
        out = {"benchmark": "latency", "python": platform.python_version(),
               "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
               "args": {k: v for k, v in vars(args).items() if k != "json"},
               "results": results,
               "runs": [{k: v for k, v in r.items() if not k.startswith("_")}
                        for key in runs for r in runs[key]]}
        with open(args.json, "wb") as fh:
            fh.write(orjson.dumps(out, option=orjson.OPT_INDENT_2))
        print(f"saved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A loopback Bitfinex-like WebSocket server that sends frames at a fixed rate.

Run it as a process of its own (the benchmarks start it)::

    python benchmarks/paced_server.py

It prints ``PORT <n>`` and serves until killed or until its stdin closes (so it
never outlives the benchmark that started it).

Each connection gets its stream parameters from the query string of its URL,
``ws://127.0.0.1:<port>/ws/2?rate=50000&secs=3&warmup=1&tick_us=1000``:

- ``rate``: frames per second on this connection (all its channels together);
- ``warmup``, ``secs``: seconds of warm-up frames, then of measured frames;
- ``tick_us``: the pacing period.

The server speaks the opening of the Bitfinex protocol (``info``, ``conf``,
``subscribed`` with a chanId for any ``subscribe``). A book subscription is
answered with a 25-level-a-side snapshot at once. On the first subscription a
pacing thread starts: every ``tick_us`` it writes, in one ``sendall``, the
frames that are due by then (``rate * elapsed - sent``; a late wake-up writes a
bigger burst, so the rate holds), round-robin over the connection's channels.

Ticker frames carry their own measurement::

    [CHAN, [30000.5, PHASE, 30001.0, 9.25, -120.5, -0.004, 30000.5, STAMP, SEQ, BURST]]

``STAMP`` (the ``volume`` field) is ``time.monotonic_ns()`` taken as the frame
is built, right before its burst is written: CLOCK_MONOTONIC is system-wide on
Linux, so the client can subtract it from its own ``monotonic_ns()``.
``PHASE`` (``bid_size``) is 0 for warm-up frames and 1 for measured ones,
``SEQ`` (``high``) counts the connection's frames, ``BURST`` (``low``) numbers
the burst the frame was written in. Book updates are pre-encoded level changes
(blaster-style: changes, deletes and re-adds around 25 levels a side).

After the last frame the server sends an ``info`` event with ``code`` 29999
and a ``bench`` object: frames sent in each phase, the measured phase's
achieved rate, bursts, the largest burst, the total and the longest time spent
in ``sendall`` (a long one means the socket buffers were full: the client did
not keep up) and how late the pacing thread woke. WebSocket
frames are built by hand (``blaster.ws_frame``) and written straight to a
plain socket, so the server costs well under a microsecond per frame.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import os
import random
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blaster import ws_frame

END_CODE = 29999
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TICKER = b"[%d,[30000.5,%d,30001.0,9.25,-120.5,-0.004,30000.5,%d,%d,%d]]"


def _book_pool(count: int = 4096, seed: int = 7) -> list:
    """Pre-encoded book update bodies (``[price,count,amount]``) around 25 levels a side."""
    rng = random.Random(seed)
    pool = []
    for _ in range(count):
        bid = rng.random() < 0.5
        offset = rng.randint(0, 30)
        price = 30000.0 - offset if bid else 30001.0 + offset
        if rng.random() < 0.2:
            body = [price, 0, 1 if bid else -1]
        else:
            amount = round(rng.uniform(0.1, 3), 4)
            body = [price, rng.randint(1, 5), amount if bid else -amount]
        pool.append(orjson.dumps(body))
    return pool


def _book_snapshot(chan: int, rng: random.Random) -> bytes:
    bids = [[30000.0 - i, rng.randint(1, 5), round(rng.uniform(0.1, 3), 4)] for i in range(25)]
    asks = [[30001.0 + i, rng.randint(1, 5), -round(rng.uniform(0.1, 3), 4)] for i in range(25)]
    return orjson.dumps([chan, bids + asks])


BOOK_POOL = _book_pool()


class Connection:
    """One client: a reader (this thread) and, after the first subscribe, a pacer thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.channels: list = []  # (chan_id, kind)
        self.next_chan = 1
        self.pacer: threading.Thread | None = None
        self.closed = False
        self.params = {"rate": 10_000.0, "secs": 3.0, "warmup": 1.0, "tick_us": 1000.0}
        self.rng = random.Random(1)

    # -- io ---------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def send_json(self, obj) -> None:
        self.send(ws_frame(orjson.dumps(obj)))

    def serve(self) -> None:
        try:
            self._handshake()
            self.send_json({"event": "info", "version": 2, "platform": {"status": 1}})
            self._read_frames()
        except OSError:
            pass
        finally:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()

    def _recv_until(self, buf: bytearray, n: int) -> bool:
        while len(buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            buf += chunk
        return True

    def _handshake(self) -> None:
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise OSError("closed during handshake")
            buf += chunk
        head = bytes(buf).split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        target = head[0].split(" ")[1]
        for name, values in parse_qs(urlsplit(target).query).items():
            if name in self.params:
                self.params[name] = float(values[-1])
        key = ""
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-key":
                key = value.strip()
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()
        self.sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept +
                           "\r\n\r\n").encode())

    def _read_frames(self) -> None:
        buf = bytearray()
        while True:
            if not self._recv_until(buf, 2):
                return
            b0, b1 = buf[0], buf[1]
            opcode, length, pos = b0 & 0x0F, b1 & 0x7F, 2
            if length == 126:
                if not self._recv_until(buf, 4):
                    return
                length, pos = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if not self._recv_until(buf, 10):
                    return
                length, pos = int.from_bytes(buf[2:10], "big"), 10
            mask = b""
            if b1 & 0x80:
                if not self._recv_until(buf, pos + 4):
                    return
                mask, pos = bytes(buf[pos:pos + 4]), pos + 4
            if not self._recv_until(buf, pos + length):
                return
            payload = bytes(buf[pos:pos + length])
            del buf[:pos + length]
            if mask:
                payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
            if opcode == 1:
                self._on_text(payload)
            elif opcode == 8:  # close: answer it and hang up
                self.closed = True
                with self.lock:
                    self.sock.sendall(bytes((0x88, 2)) + (1000).to_bytes(2, "big"))
                return
            elif opcode == 9:
                with self.lock:
                    self.sock.sendall(bytes((0x8A, len(payload))) + payload)

    def _on_text(self, payload: bytes) -> None:
        msg = orjson.loads(payload)
        if not isinstance(msg, dict):
            return
        event = msg.get("event")
        if event == "conf":
            self.send_json({"event": "conf", "status": "OK", "flags": msg.get("flags", 0)})
        elif event == "subscribe":
            chan = self.next_chan
            self.next_chan += 1
            kind = "book" if msg.get("channel") == "book" else "ticker"
            self.send_json(dict(msg, event="subscribed", chanId=chan))
            if kind == "book":
                self.send(ws_frame(_book_snapshot(chan, self.rng)))
            self.channels.append((chan, kind))
            if self.pacer is None:
                self.pacer = threading.Thread(target=self._pace, daemon=True)
                self.pacer.start()
        elif event == "unsubscribe":
            chan = msg.get("chanId")
            self.channels = [c for c in self.channels if c[0] != chan]
            self.send_json({"event": "unsubscribed", "status": "OK", "chanId": chan})

    # -- pacing ----------------------------------------------------------------------------
    def _pace(self) -> None:
        p = self.params
        rate = p["rate"]
        warm_n = int(rate * p["warmup"])
        total = warm_n + int(rate * p["secs"])
        tick = int(p["tick_us"] * 1000)
        now_ns = time.monotonic_ns
        sleep = time.sleep
        pool, npool = BOOK_POOL, len(BOOK_POOL)
        sent = bursts = max_burst = 0
        send_ns = send_max = 0
        late_max = 0
        late_over_2ms = 0
        t0 = now_ns()
        t_measure = t0 + int(warm_n * 1e9 / rate)
        t_last = t0
        next_tick = t0
        try:
            while sent < total and not self.closed:
                now = now_ns()
                due = min(total, (now - t0) * rate // 1e9 + 1) - sent
                due = int(due)
                channels = self.channels
                if due > 0 and channels:
                    nch = len(channels)
                    bursts += 1
                    parts = []
                    for seq in range(sent, sent + due):
                        chan, kind = channels[seq % nch]
                        if kind == "ticker":
                            parts.append(ws_frame(_TICKER % (chan, seq >= warm_n, now_ns(),
                                                             seq, bursts)))
                        else:
                            parts.append(ws_frame(b"[%d,%s]" % (chan, pool[(seq + chan * 37)
                                                                            % npool])))
                    before = now_ns()
                    self.send(b"".join(parts))
                    t_last = now_ns()
                    took = t_last - before
                    send_ns += took
                    if took > send_max:
                        send_max = took
                    sent += due
                    if due > max_burst:
                        max_burst = due
                next_tick += tick
                delay = next_tick - now_ns()
                if delay > 0:
                    sleep(delay / 1e9)
                    late = now_ns() - next_tick
                else:
                    late = -delay
                    if late > 20 * tick:  # fell far behind: re-anchor the ticks, not the rate
                        next_tick = now_ns()
                late_max = max(late_max, late)
                late_over_2ms += late > 2_000_000
        except OSError:
            return
        measured = max(0, sent - warm_n)
        elapsed = (t_last - t_measure) / 1e9
        stats = {
            "rate_asked": rate, "warmup_sent": min(sent, warm_n), "measured_sent": measured,
            "achieved_rate": measured / elapsed if elapsed > 0 else 0.0,
            "bursts": bursts, "max_burst": max_burst, "mean_burst": sent / bursts if bursts else 0,
            "tick_us": p["tick_us"], "sendall_total_ms": send_ns / 1e6,
            "sendall_max_us": send_max / 1e3,
            "tick_late_max_us": late_max / 1e3, "ticks_late_over_2ms": late_over_2ms,
            "channels": len(self.channels),
        }
        with contextlib.suppress(OSError):
            self.send_json({"event": "info", "code": END_CODE, "msg": "bench end", "bench": stats})


def start():
    """Start this server in a child process; return ``(process, port)``.

    The child exits when the caller closes its stdin (or exits)."""
    import subprocess
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"paced_server did not start: {line!r}")
    return proc, int(line.split()[1])


def _exit_when_stdin_closes() -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    os._exit(0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-stdin-watch", action="store_true",
                        help="keep serving when stdin closes (for running it by hand)")
    args = parser.parse_args(argv)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(64)
    print(f"PORT {listener.getsockname()[1]}", flush=True)
    if not args.no_stdin_watch:
        threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    while True:
        sock, _addr = listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=Connection(sock).serve, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())

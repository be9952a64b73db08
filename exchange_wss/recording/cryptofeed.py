"""cryptofeed's ``sample_data`` format: read it, and write a recording in it.

The rules, from cryptofeed's own writer (``AsyncFileCallback`` in
``cryptofeed/raw_data_collection.py``) and reader (``playback`` there), 2.4.0:

- A directory of plain text files named after the connection: ``<FEED>.ws.<n>.<k>``
  for WebSocket connection ``n`` of feed ``<FEED>`` (``BITFINEX``, ``BINANCE``,
  ``BINANCE_FUTURES``, ``FTX``...), ``<FEED>.http.<n>.<k>`` for its HTTP
  calls, ``<k>`` the rotation (a new file every 100 MiB), and ``<FEED>.0``
  holding ``configuration: <json>`` (the feed's channels and symbols) and the
  symbol-list answers its playback replays.
- One line per event, lines joined with a line feed, blank lines ignored:

  - ``<address> <-> <timestamp>``: the connection opens (``address``:
    ``wss://...``);
  - ``<address> <- <timestamp>: <data>``: a frame sent;
  - ``<timestamp>: <data>``: a frame received;
  - ``<url> -> <timestamp>: <data>`` (optionally `` header: <json>``): an HTTP
    answer (line feeds removed from ``data``).

  ``timestamp`` is ``time.time()`` written as Python writes a float
  (``1618677543.83163``); it is the wall clock only. Frames are written as
  received; a binary frame appears as Python's ``b'...'`` literal.
- The reader skips lines starting ``wss`` (opens and sent frames) and ``htt``
  in ``.ws.`` files and splits the others once on ``": "``.
"""

from __future__ import annotations

import ast
import heapq
import os
import re
from collections.abc import Iterable, Iterator
from urllib.parse import parse_qsl, urlencode

import orjson

from ..errors import LocalProtocolError
from .reader import Record

__all__ = ["read_records", "write_cryptofeed", "cryptofeed_files", "feed_of",
           "venue_of_feed", "FEEDS"]

#: cryptofeed feed names this SDK can replay, and their venue.
FEEDS = {"BITFINEX": "bitfinex", "BINANCE": "binance", "BINANCE_US": "binance",
         "BINANCE_FUTURES": "binance", "BINANCE_DELIVERY": "binance", "FTX": "ftx",
         "FTX_US": "ftx"}

_NAME = re.compile(r"^(?P<feed>.+?)\.(?P<kind>ws|http)\.(?P<n>\d+)\.(?P<k>\d+)$")


def cryptofeed_files(directory: str) -> list[str]:
    """The ``<FEED>.ws.<n>.<k>`` and ``<FEED>.http.<n>.<k>`` files of a directory,
    by connection then rotation."""
    found = []
    for name in os.listdir(directory):
        m = _NAME.match(name)
        if m:
            found.append((m["feed"], m["kind"] != "http", int(m["n"]), int(m["k"]),
                          os.path.join(directory, name)))
    found.sort()
    return [entry[-1] for entry in found]


def feed_of(path: str) -> str | None:
    """The feed name of a cryptofeed file (``BITFINEX`` in ``BITFINEX.ws.11.0``)."""
    m = _NAME.match(os.path.basename(path))
    return m["feed"] if m else None


def venue_of_feed(feed: str | None) -> str | None:
    """The venue of a cryptofeed feed name (``BINANCE_FUTURES`` -> ``binance``)."""
    if feed is None:
        return None
    return FEEDS.get(feed.split("-", 1)[0])


def _ts(text: str) -> int:
    """``time.time()`` text to integer ns, exactly (no float rounding)."""
    whole, _dot, frac = text.strip().partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        return round(float(text) * 1e9)  # exponent notation: rare, float is fine
    return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9])


def _data(text: str) -> tuple[bytes, bool]:
    if text[:2] in ("b'", 'b"'):
        return ast.literal_eval(text), True
    return text.encode("utf-8"), False


def _file_records(path: str, conn_base: int) -> Iterator[tuple[int, int, Record]]:
    """Records of one file with a sort key (time, line); opens start new connections."""
    m = _NAME.match(os.path.basename(path))
    is_http = m is not None and m["kind"] == "http"
    conn = conn_base
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh):
            line = line.rstrip("\n")
            if not line:
                continue
            try:
                if line[0].isdigit():
                    ts, data = line.split(": ", 1)
                    payload, binary = _data(data)
                    t = _ts(ts)
                    yield t, lineno, Record("recv", conn, t, t, payload, binary)
                elif " <-> " in line.split(": ", 1)[0]:
                    address, ts = line.rsplit(" <-> ", 1)
                    conn += 1
                    t = _ts(ts)
                    yield t, lineno, Record("open", conn, t, t, {"name": os.path.basename(path),
                                                                 "url": address})
                elif " <- " in line.split(": ", 1)[0]:
                    address, rest = line.split(" <- ", 1)
                    ts, data = rest.split(": ", 1)
                    payload, binary = _data(data)
                    t = _ts(ts)
                    yield t, lineno, Record("sent", conn, t, t, payload, binary)
                elif " -> " in line:
                    url, rest = line.split(" -> ", 1)
                    ts, data = rest.split(": ", 1)
                    data, _sep, _header = data.partition(" header: ")
                    try:
                        body = orjson.loads(data)
                    except ValueError:
                        body = data
                    t = _ts(ts)
                    base, _q, query = url.partition("?")
                    yield t, lineno, Record("http", 0 if is_http else conn, t, t,
                                            {"method": "GET", "url": base,
                                             "params": dict(parse_qsl(query)) or None,
                                             "status": 200, "body": body})
                else:
                    raise ValueError("unknown line")
            except ValueError as exc:
                raise LocalProtocolError(f"{path}:{lineno + 1}: not a cryptofeed line "
                                         f"({exc}): {line[:80]!r}") from None


def read_records(files: Iterable[str]) -> Iterator[Record]:
    """Every record of cryptofeed files: each file in its own order, files merged by
    time (ties: file order).

    Each ``<->`` line opens a new connection; numbers are given in file order.
    A ``.ws.`` file whose first line is not an open (cryptofeed writes one) still
    gets a connection of its own.
    """
    per_file: list[list[tuple[int, int, Record]]] = []
    conn_base = 0
    for index, path in enumerate(files):
        is_ws = ".ws." in os.path.basename(path)
        entries = list(_file_records(path, conn_base))
        if is_ws and entries and entries[0][2].kind != "open":
            # No open line (a trimmed file): give its frames a connection anyway.
            conn_base += 1
            t = entries[0][0]
            opening = Record("open", conn_base, t, t, {"name": os.path.basename(path),
                                                        "url": ""})
            entries = [(t, -1, opening), *_file_records(path, conn_base)]
        conn_base = max([conn_base, *(e[2].conn for e in entries)])
        per_file.append([(t, index, rec) for t, _line, rec in entries])
    for _t, _i, rec in heapq.merge(*per_file, key=lambda e: (e[0], e[1])):
        yield rec


def _ts_text(wall_ns: int) -> str:
    """Integer ns as cryptofeed's seconds text, exactly (``1618677543.83163``)."""
    frac = f"{wall_ns % 1_000_000_000:09d}".rstrip("0") or "0"
    return f"{wall_ns // 1_000_000_000}.{frac}"


def write_cryptofeed(records: Iterable[Record], directory: str, feed: str,
                     configuration: dict | None = None) -> list[str]:
    """Write records as cryptofeed ``sample_data`` files; returns the paths written.

    Each connection becomes ``<feed>.ws.<n>.0`` (``n`` from 1), HTTP records
    ``<feed>.http.0.0``, and ``configuration`` (cryptofeed's channels and
    symbols, e.g. ``{"l2_book": ["BTC-USD"]}``) goes to ``<feed>.0``. Close
    records have no cryptofeed line and are left out; frames holding a line
    feed cannot be written (cryptofeed's format has no escape) and raise.

    Raises:
        LocalProtocolError: a frame with a line feed, or a record of no known connection.
    """
    os.makedirs(directory, exist_ok=True)
    numbers: dict[int, int] = {}
    urls: dict[int, str] = {}
    lines: dict[str, list[str]] = {}

    def out(name: str, text: str) -> None:
        lines.setdefault(name, []).append(text)

    for rec in records:
        if rec.kind == "open":
            numbers.setdefault(rec.conn, len(numbers) + 1)
            urls[rec.conn] = rec.data.get("url", "")
            out(f"{feed}.ws.{numbers[rec.conn]}.0", f"{urls[rec.conn]} <-> {_ts_text(rec.wall_ns)}")
        elif rec.kind in ("recv", "sent"):
            if rec.conn not in numbers:
                raise LocalProtocolError(f"frame of connection {rec.conn} before its open")
            if rec.binary:
                data = repr(bytes(rec.data))
            else:
                data = rec.data.decode("utf-8")
                if "\n" in data:
                    raise LocalProtocolError("cryptofeed's format cannot hold a frame with a "
                                             "line feed")
            name = f"{feed}.ws.{numbers[rec.conn]}.0"
            if rec.kind == "recv":
                out(name, f"{_ts_text(rec.wall_ns)}: {data}")
            else:
                out(name, f"{urls[rec.conn]} <- {_ts_text(rec.wall_ns)}: {data}")
        elif rec.kind == "http":
            body = rec.data.get("body")
            text = body if isinstance(body, str) else orjson.dumps(body).decode()
            url = rec.data.get("url") or ""
            if rec.data.get("params"):
                url += "?" + urlencode(rec.data["params"])
            out(f"{feed}.http.0.0",
                f"{url} -> {_ts_text(rec.wall_ns)}: {text.replace(chr(10), '')}")
    if configuration is not None:
        out(f"{feed}.0", f"configuration: {orjson.dumps(configuration).decode()}")
    paths = []
    for name, body in lines.items():
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write("\n".join(body) + "\n")
        paths.append(path)
    return sorted(paths)

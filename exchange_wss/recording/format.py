"""The recording format: text lines, pure functions to write and read them.

A recording file is a sequence of compressed blocks, one per flush: zstd frames
(``.wsrec.zst``, when the ``zstandard`` package is there: about three times
cheaper to write than gzip) or gzip members (``.wsrec.gz``); ``zstdcat`` and
``zcat`` read them. The text is a sequence of records::

    #wsrec 1 {"created_ns": ..., "prefix": "WssClient", "file": 0, "open": [...]}
    O 1 1700000000000000000 81234567890123 {"name":"public-0","url":"wss://..."}
    S 1 1700000000001000000 81234568890123 1
    {"event":"subscribe","channel":"ticker","symbol":"tBTCUSD"}
    R 1 1700000000020000000 81234587890123 2
    {"event":"info","version":2}
    [17,[7616.5,31.89,...]]
    C 1 1700000005000000000 81239567890123 {"clean":true,"code":1000,"reason":null,...}

Each record begins with ``KIND CONN WALL_NS MONO_NS REST``: the kind, the
connection number (per recorder, from 1; 0 for records of no connection), the
wall clock (``time.time_ns()``) and the monotonic clock (``time.monotonic_ns()``)
in nanoseconds. Kinds:

- ``R``/``S``: text frames received/sent; ``REST`` is their count N and the N
  following lines are the frames, verbatim. Frames completed by one socket
  read share that read's timestamps and form one ``R`` record;
- ``RX``/``SX``: one text frame that holds a line feed, base64 in ``REST``;
  ``RB``/``SB``: one binary frame, base64;
- ``O`` a connection opened (JSON: ``name``, ``url``), ``C`` it closed (JSON:
  ``clean``, ``code``, ``reason``, ``by_client``: true when the client ended it);
- ``H`` an HTTP exchange next to the sockets (JSON: ``method``, ``url``,
  ``params``, ``status``, ``body``), e.g. Binance's depth snapshot;
- ``G`` records the recorder dropped because the disk fell behind (JSON:
  ``records``, ``bytes``): the gap is in the file, not hidden.

Credentials are redacted from sent frames, URLs and HTTP records (see
:func:`~exchange_wss.recording.format.redact_sent`); received frames are kept verbatim, except
that a frame naming a ``listenKey`` has it redacted.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

__all__ = [
    "MAGIC", "VERSION", "SUFFIX", "SUFFIXES", "REDACTED", "Line", "header_line", "record_line",
    "json_record_line", "frames_record", "binary_record", "parse_header_line", "parse_header",
    "redact_sent", "redact_received", "redact_url", "redact_obj",
]

MAGIC = b"#wsrec"
VERSION = 1
#: File name suffixes of recording files: zstd frames, or gzip members.
SUFFIX_ZSTD = ".wsrec.zst"
SUFFIX_GZIP = ".wsrec.gz"
SUFFIXES = (SUFFIX_ZSTD, SUFFIX_GZIP)
SUFFIX = SUFFIX_GZIP
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
REDACTED = "<redacted>"

#: Keys whose values are credentials wherever they appear in a sent frame.
_SECRET_KEYS = frozenset(("apiKey", "api_key", "authSig", "signature", "sign", "listenKey",
                          "secret", "apiSecret", "password", "passphrase"))
#: Received frames are scanned (per read, at C speed) for these only.
_RECEIVED_SECRET = re.compile(rb'"listenKey"\s*:\s*"[^"]*"')
_LONG_TOKEN = re.compile(r"^[A-Za-z0-9]{32,}$")


class Line(NamedTuple):
    """The header of one record."""

    kind: str
    conn: int
    wall_ns: int
    mono_ns: int
    rest: bytes


def header_line(header: dict) -> bytes:
    """The first line of every file: magic, version and a JSON header."""
    return MAGIC + b" %d " % VERSION + orjson.dumps(header) + b"\n"


def record_line(kind: bytes, conn: int, wall_ns: int, mono_ns: int, rest: bytes) -> bytes:
    """A one-line record; ``rest`` must hold no line feed."""
    return b"%s %d %d %d %s\n" % (kind, conn, wall_ns, mono_ns, rest)


def json_record_line(kind: bytes, conn: int, wall_ns: int, mono_ns: int, obj: Any) -> bytes:
    """A record whose payload is JSON (orjson never writes a raw line feed)."""
    return record_line(kind, conn, wall_ns, mono_ns, orjson.dumps(obj))


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def frames_record(kind: bytes, conn: int, wall_ns: int, mono_ns: int,
                  frames: list[bytes]) -> bytes:
    """The ``R``/``S`` record of text frames, built with one ``join``.

    A frame that holds a line feed (JSON allows one as whitespace) becomes an
    ``RX``/``SX`` record of its own, between the runs before and after it.
    """
    head = b"%s %d %d %d " % (kind, conn, wall_ns, mono_ns)
    block = b"\n".join(frames)
    if block.count(b"\n") == len(frames) - 1:
        return head + b"%d\n" % len(frames) + block + b"\n"
    out: list[bytes] = []
    run: list[bytes] = []
    for frame in frames:
        if b"\n" in frame:
            if run:
                out.append(head + b"%d\n" % len(run) + b"\n".join(run) + b"\n")
                run = []
            out.append(record_line(kind + b"X", conn, wall_ns, mono_ns, _b64(frame)))
        else:
            run.append(frame)
    if run:
        out.append(head + b"%d\n" % len(run) + b"\n".join(run) + b"\n")
    return b"".join(out)


def binary_record(kind: bytes, conn: int, wall_ns: int, mono_ns: int, data: bytes) -> bytes:
    """A binary frame's record (``RB``/``SB``, base64)."""
    return record_line(kind + b"B", conn, wall_ns, mono_ns, _b64(data))


def parse_header_line(line: bytes) -> Line:
    """Parse a record's first line.

    Raises:
        ValueError: a line that is not a record header.
    """
    kind, conn, wall, mono, rest = line.split(b" ", 4)
    return Line(kind.decode("ascii"), int(conn), int(wall), int(mono), rest)


def parse_header(line: bytes) -> dict | None:
    """The JSON header of a ``#wsrec`` line, or None if ``line`` is not one."""
    if not line.startswith(MAGIC + b" "):
        return None
    _magic, version, rest = line.split(b" ", 2)
    if int(version) > VERSION:
        raise ValueError(f"recording format version {int(version)} is newer than {VERSION}")
    return orjson.loads(rest)


# ------------------------------------------------------------------------- redaction

def redact_obj(obj: Any) -> Any:
    """``obj`` with the values of credential keys replaced by ``"<redacted>"``.

    ``key`` counts as a credential only beside a ``sign`` (FTX's login), since
    Bitfinex's candle and status subscriptions carry a public ``key``.
    """
    if isinstance(obj, dict):
        out = {}
        beside_sign = "sign" in obj
        for k, v in obj.items():
            if k in _SECRET_KEYS or (beside_sign and k == "key"):
                out[k] = REDACTED if v is not None else None
            else:
                out[k] = redact_obj(v)
        return out
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    return obj


def redact_sent(payload: bytes) -> bytes:
    """A sent text frame with its credentials redacted (non-JSON frames unchanged)."""
    try:
        obj = orjson.loads(payload)
    except ValueError:
        return payload
    if not isinstance(obj, (dict, list)):
        return payload
    redacted = redact_obj(obj)
    return payload if redacted == obj else orjson.dumps(redacted)


def redact_received(frames: Iterable[bytes]) -> list[bytes]:
    """Received frames with any ``listenKey`` value redacted."""
    sub = _RECEIVED_SECRET.sub
    return [sub(b'"listenKey":"' + REDACTED.encode() + b'"', f) for f in frames]


def received_needs_redaction(chunk: bytes) -> bool:
    """True when a read's bytes may name a ``listenKey`` (one C-speed scan per read)."""
    return b"listenKey" in chunk


def redact_url(url: str) -> str:
    """``url`` without credentials: credential query parameters and long opaque path
    segments (a Binance listenKey in ``/ws/<listenKey>``) become ``<redacted>``."""
    parts = urlsplit(url)
    segments = [REDACTED if _LONG_TOKEN.match(seg) else seg for seg in parts.path.split("/")]
    query = [(k, REDACTED if k in _SECRET_KEYS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, "/".join(segments),
                       urlencode(query, safe="<>/"), parts.fragment))


def file_name(prefix: str, started: tuple[int, ...], seq: int, suffix: str = SUFFIX) -> str:
    """``<prefix>-YYYYmmddTHHMMSS-<seq><suffix>``: names sort in recording order."""
    y, mo, d, h, mi, s = started[:6]
    return f"{prefix}-{y:04d}{mo:02d}{d:02d}T{h:02d}{mi:02d}{s:02d}-{seq:05d}{suffix}"

"""Reading recordings: this project's format and cryptofeed's ``sample_data``, as one stream
of records.

:func:`open_recording` takes a directory or a file in either format and
returns a :class:`Recording`, whose :meth:`~Recording.records` yields
:class:`Record` tuples in recorded order: connection opens and closes, frames
sent and received, HTTP exchanges, and gaps the recorder had to leave.
"""

from __future__ import annotations

import base64
import glob
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from ..errors import LocalProtocolError
from . import format as fmt

__all__ = ["Record", "Recording", "ConnectionInfo", "open_recording", "VENUES"]

#: The venues replays know.
VENUES = ("bitfinex", "binance", "ftx")

_READ_SIZE = 1 << 20


class Record(NamedTuple):
    """One recorded thing.

    Attributes:
        kind: ``"open"``, ``"close"``, ``"recv"``, ``"sent"``, ``"http"`` or ``"gap"``.
        conn: the connection's number (0: none).
        wall_ns, mono_ns: wall and monotonic clock (cryptofeed records only
            the wall clock; both are that there).
        data: the frame's bytes (``recv``/``sent``), else a dict (``open``: name,
            url; ``close``: clean, code, reason; ``http``: method, url, params,
            status, body; ``gap``: records, bytes).
        binary: a binary frame.
    """

    kind: str
    conn: int
    wall_ns: int
    mono_ns: int
    data: Any
    binary: bool = False


@dataclass
class ConnectionInfo:
    """A recorded connection: its number, name (``public-0``, ``market-0``...) and URL."""

    conn: int
    name: str
    url: str


_KINDS = {"R": "recv", "S": "sent", "O": "open", "C": "close", "H": "http", "G": "gap"}
_JSON_KINDS = frozenset(("O", "C", "H", "G"))


@dataclass
class Recording:
    """A recording on disk (read lazily: :meth:`records` reads the files each time).

    Attributes:
        path: what was opened.
        format: ``"wsrec"`` (this project's) or ``"cryptofeed"``.
        files: the files, in reading order.
        venue: ``"bitfinex"``, ``"binance"``, ``"ftx"``, or None if unknown
            (guessed from the file prefix, cryptofeed's feed name or the URLs).
        truncated: blocks cut short at the end of a file (a crash mid-write),
            counted by the last :meth:`records` pass.
    """

    path: str
    format: str
    files: list[str]
    venue: str | None = None
    feed: str | None = None
    truncated: int = 0
    connections: dict[int, ConnectionInfo] = field(default_factory=dict)

    def records(self) -> Iterator[Record]:
        """Every record, in recorded order (each frame a record of its own)."""
        for kind, conn, wall, mono, data, binary in self.batches():
            if data.__class__ is list:
                for frame in data:
                    yield Record(kind, conn, wall, mono, frame, False)
            else:
                yield Record(kind, conn, wall, mono, data, binary)

    def batches(self) -> Iterator[tuple]:
        """Records as tuples ``(kind, conn, wall_ns, mono_ns, data, binary)``, the
        frames of one read together: ``data`` is then a list of frames. The fast
        path of replays: no object per frame."""
        if self.format == "cryptofeed":
            from .cryptofeed import read_records
            for rec in read_records(self.files):
                yield tuple(rec)
            return
        self.truncated = 0
        for path in self.files:
            yield from self._file_batches(path)

    def _file_batches(self, path: str) -> Iterator[tuple]:
        kinds = _KINDS
        json_kinds = _JSON_KINDS
        loads = orjson.loads
        for lines in self._blocks(path):
            i, n = 0, len(lines)
            while i < n:
                line = lines[i]
                i += 1
                if not line or line[:1] == b"#":
                    continue
                try:
                    kind, conn, wall, mono, rest = line.split(b" ", 4)
                    k = kind.decode("ascii")
                    if k == "R" or k == "S":
                        count = int(rest)
                        frames = lines[i:i + count]
                        if len(frames) < count:
                            raise ValueError("record cut short")
                        i += count
                        yield (kinds[k], int(conn), int(wall), int(mono), frames, False)
                        continue
                    binary = False
                    data: Any = rest
                    if len(k) == 2:
                        data = base64.b64decode(rest)
                        binary = k[1] == "B"
                        k = k[0]
                    elif k in json_kinds:
                        data = loads(rest)
                    record = (kinds[k], int(conn), int(wall), int(mono), data, binary)
                except (ValueError, KeyError) as exc:
                    raise LocalProtocolError(f"{path}: not a recording line ({exc}): "
                                             f"{line[:80]!r}") from None
                if k == "O":
                    self.connections[record[1]] = ConnectionInfo(
                        record[1], data.get("name", ""), data.get("url", ""))
                yield record

    def _blocks(self, path: str) -> Iterator[list[bytes]]:
        """The lines of one file, a list per gzip member (a block never splits a
        record). A truncated last member counts in :attr:`truncated`; its complete
        records are kept."""
        with open(path, "rb") as fh:
            zstd = fh.read(4) == fmt.ZSTD_MAGIC
        if zstd:
            try:
                import zstandard
            except ImportError:
                raise LocalProtocolError(f"{path}: a zstd recording needs the zstandard "
                                         "package") from None

            def new_decompressor() -> Any:
                return zstandard.ZstdDecompressor().decompressobj()
        else:
            def new_decompressor() -> Any:
                return zlib.decompressobj(31)
        dec = new_decompressor()
        text = b""
        fed = False  # the current block was begun and not finished
        with open(path, "rb") as fh:
            while True:
                chunk = fh.read(_READ_SIZE)
                if not chunk:
                    break
                while chunk:
                    text += dec.decompress(chunk)
                    fed = True
                    if dec.eof:
                        yield text.split(b"\n")
                        text = b""
                        fed = False
                        chunk = dec.unused_data
                        dec = new_decompressor()
                    else:
                        chunk = b""
        if fed:
            self.truncated += 1  # the last block never finished: a crash mid-write
            lines = text.split(b"\n")
            lines.pop()  # the line being written
            yield _complete_records(lines)

    def connection(self, conn: int) -> ConnectionInfo | None:
        """What is known of connection ``conn`` (after its ``open`` was read)."""
        return self.connections.get(conn)


def _complete_records(lines: list[bytes]) -> list[bytes]:
    """The lines of a cut block up to its last complete record."""
    i, n, end = 0, len(lines), 0
    while i < n:
        line = lines[i]
        head = line.split(b" ", 4)
        if len(head) == 5 and head[0] in (b"R", b"S") and head[4].isdigit():
            i += 1 + int(head[4])
        else:
            i += 1
        if i <= n:
            end = i
    return lines[:end]


def open_recording(path: str | os.PathLike, venue: str | None = None) -> Recording:
    """Open a recording (a directory or file, this project's format or cryptofeed's).

    Args:
        path: a directory of ``*.wsrec.gz`` files, one such file, or cryptofeed
            ``sample_data`` files (a directory, or one ``<FEED>.ws.<n>.<k>`` file).
        venue: ``"bitfinex"``, ``"binance"`` or ``"ftx"`` when it cannot be guessed.

    Raises:
        LocalProtocolError: nothing readable there, or an unknown venue.
    """
    path = os.fspath(path)
    if venue is not None and venue not in VENUES:
        raise LocalProtocolError(f"unknown venue {venue!r}; expected one of {VENUES}")
    if os.path.isdir(path):
        ours = sorted(f for suffix in fmt.SUFFIXES
                      for f in glob.glob(os.path.join(path, "*" + suffix)))
        if ours:
            rec = Recording(path, "wsrec", ours)
        else:
            from .cryptofeed import cryptofeed_files
            files = cryptofeed_files(path)
            if not files:
                raise LocalProtocolError(f"{path}: no recording files (*.wsrec.zst, "
                                         "*.wsrec.gz or cryptofeed <FEED>.ws.<n>.<k>)")
            rec = Recording(path, "cryptofeed", files)
    elif os.path.isfile(path):
        with open(path, "rb") as fh:
            magic = fh.read(2)
        if magic in (fmt.GZIP_MAGIC, fmt.ZSTD_MAGIC[:2]):
            rec = Recording(path, "wsrec", [path])
        else:
            rec = Recording(path, "cryptofeed", [path])
    else:
        raise LocalProtocolError(f"{path}: no such file or directory")
    rec.venue = venue or _guess_venue(rec)
    return rec


_PREFIX_VENUES = {"WssClient": "bitfinex", "BinanceWssClient": "binance",
                  "FtxWssClient": "ftx"}


def _guess_venue(rec: Recording) -> str | None:
    if rec.format == "cryptofeed":
        from .cryptofeed import feed_of, venue_of_feed
        rec.feed = feed_of(rec.files[0])
        return venue_of_feed(rec.feed)
    base = os.path.basename(rec.files[0])
    prefix = base.rsplit("-", 2)[0]
    if prefix in _PREFIX_VENUES:
        return _PREFIX_VENUES[prefix]
    for record in rec.records():
        if record.kind == "open":
            return venue_of_url(record.data.get("url", ""))
    return None


def venue_of_url(url: str) -> str | None:
    """A venue guessed from a WebSocket URL (None when it says nothing)."""
    u = url.lower()
    if "bitfinex" in u or u.rstrip("/").endswith("/ws/2"):
        return "bitfinex"
    if "binance" in u or "/stream" in u or "/ws-api/" in u:
        return "binance"
    if "ftx" in u or u.rstrip("/").endswith("/ws"):
        return "ftx"
    return None

"""The recorder: records in memory, compressed and written in bounded blocks by a thread.

The reactor thread only appends bytes (one ``join`` per socket read, see
:func:`~exchange_wss.recording.format.frames_record`); a writer thread
compresses each block as a zstd frame (gzip member without ``zstandard``; both
libraries release the GIL while they compress, so this runs beside the
reactor) and writes and flushes it. A block
is cut when it reaches ``block_bytes`` or ``flush_interval`` seconds after its
first record, whichever comes first, so a crash loses at most the last block.
Files rotate by size or age; each begins with a header naming the connections
open at that point, so a file can be read alone.

The writer thread runs at a lower scheduling priority (Linux ``nice`` 10 for
that thread), so on a busy machine compression waits for the reactor, not the
other way round. If the disk (or compression) falls behind by more than
``max_pending_blocks`` blocks, the next block is dropped, counted in
:attr:`Recorder.stats` and marked in the file by a ``G`` record; the
connections are never slowed down by the recording.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
import weakref
import zlib
from dataclasses import dataclass
from typing import Any, cast

from ..errors import LocalProtocolError
from . import format as fmt

__all__ = ["Recorder", "RecorderStats"]


def _zstandard() -> Any:
    """The ``zstandard`` module, or None when it is not installed."""
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard

log = logging.getLogger("exchange_wss.recording")

_STOP = object()


@dataclass
class RecorderStats:
    """What a recorder did (read from any thread; counters only grow).

    Attributes:
        records: records accepted (frames, opens, closes, HTTP exchanges).
        frames_received, frames_sent: frames among them.
        blocks_written, bytes_written: blocks on disk and their compressed size.
        files: files begun.
        records_dropped, blocks_dropped: what the writer could not keep up
            with (or could not write), each marked in the file by a ``G`` record.
        write_errors: failed writes (the block is dropped and counted).
    """

    records: int = 0
    frames_received: int = 0
    frames_sent: int = 0
    blocks_written: int = 0
    bytes_written: int = 0
    files: int = 0
    records_dropped: int = 0
    blocks_dropped: int = 0
    write_errors: int = 0


class Recorder:
    """Records the raw traffic of one or more clients' connections to a directory.

    Pass it (or a directory path, from which the client makes one) as
    ``record=`` to any client. Every connection the client opens is recorded:
    each frame received and sent, each open and close, with wall and monotonic
    timestamps. Read a recording with :func:`~exchange_wss.recording.open_recording`.

    Args:
        path: the directory (created if missing).
        prefix: file name prefix (``<prefix>-<UTC start>-<n>.wsrec.gz``).
        block_bytes: uncompressed size at which a block is cut and written.
        flush_interval: seconds after which a block is written however small.
        rotate_bytes: start a new file once the current one holds this many
            compressed bytes (None: never by size).
        rotate_seconds: start a new file after this many seconds (None: never by age).
        codec: ``"zstd"`` (the default when the ``zstandard`` package is
            installed) or ``"gzip"``.
        compresslevel: the codec's level (default 1: zstd 1..19, gzip 0..9).
        max_pending_blocks: blocks allowed to wait for the disk before the
            next one is dropped (and counted).
        fsync: ``os.fsync`` every block (survives a machine crash, costs a disk sync).

    Raises:
        LocalProtocolError: a bad setting, or a path that is not a directory.
    """

    def __init__(self, path: str | os.PathLike, *, prefix: str = "recording",
                 block_bytes: int = 1 << 20, flush_interval: float = 1.0,
                 rotate_bytes: int | None = 256 << 20, rotate_seconds: float | None = None,
                 codec: str | None = None, compresslevel: int = 1,
                 max_pending_blocks: int = 64, fsync: bool = False) -> None:
        if block_bytes < 1 or flush_interval <= 0 or max_pending_blocks < 1:
            raise LocalProtocolError("block_bytes, flush_interval and max_pending_blocks "
                                     "must be positive")
        if codec is None:
            codec = "zstd" if _zstandard() is not None else "gzip"
        if codec == "zstd":
            if _zstandard() is None:
                raise LocalProtocolError("codec 'zstd' needs the zstandard package")
            if not 1 <= compresslevel <= 19:
                raise LocalProtocolError("zstd compresslevel must be 1..19")
        elif codec == "gzip":
            if not 0 <= compresslevel <= 9:
                raise LocalProtocolError("gzip compresslevel must be 0..9")
        else:
            raise LocalProtocolError(f"codec must be 'zstd' or 'gzip', not {codec!r}")
        self.codec = codec
        if rotate_bytes is not None and rotate_bytes < 1:
            raise LocalProtocolError("rotate_bytes must be positive or None")
        if rotate_seconds is not None and rotate_seconds <= 0:
            raise LocalProtocolError("rotate_seconds must be positive or None")
        if any(c in prefix for c in "/\\") or not prefix:
            raise LocalProtocolError(f"bad file prefix {prefix!r}")
        self.path = os.fspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise LocalProtocolError(f"record: {self.path!r} is not a directory")
        os.makedirs(self.path, exist_ok=True)
        self.prefix = prefix
        self.block_bytes = block_bytes
        self.flush_interval = flush_interval
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.compresslevel = compresslevel
        self.fsync = fsync
        self.stats = RecorderStats()
        #: Paths of the files begun so far, in order.
        self.files: list[str] = []
        self._lock = threading.Lock()
        self._parts: list[bytes] = []
        self._size = 0
        self._count = 0
        self._first_at: float | None = None
        self._conns = 0
        self._open: dict[int, dict] = {}
        self._gap_records = 0
        self._gap_bytes = 0
        self._file_seq = -1
        self._file_bytes = 0
        self._file_started = 0.0
        self._queue: queue.Queue[Any] = queue.Queue(max_pending_blocks)
        self._writer: threading.Thread | None = None
        self._fh: Any = None
        self._zstd: Any = None
        self._closed = False
        ref = weakref.ref(self)

        def close_at_exit() -> None:
            recorder = ref()
            if recorder is not None:
                recorder.close(2.0)

        self._atexit = close_at_exit
        atexit.register(self._atexit)

    def __repr__(self) -> str:
        return f"<Recorder {self.path!r} files={len(self.files)} records={self.stats.records}>"

    # -- what the connections call (reactor thread) -------------------------------------
    def opened(self, name: str, url: str) -> int:
        """A connection opened; returns its number for the records that follow."""
        wall, mono = time.time_ns(), time.monotonic_ns()
        info = {"name": name, "url": fmt.redact_url(url)}
        with self._lock:
            self._conns += 1
            conn = self._conns
            self._open[conn] = info
        self._add(fmt.json_record_line(b"O", conn, wall, mono, info), 1)
        return conn

    def received(self, conn: int, wall_ns: int, mono_ns: int, frames: list[bytes],
                 chunk: bytes = b"") -> None:
        """Text frames completed by one socket read (``chunk``: that read's bytes)."""
        if chunk and fmt.received_needs_redaction(chunk):
            frames = fmt.redact_received(frames)
        self.stats.frames_received += len(frames)
        self._add(fmt.frames_record(b"R", conn, wall_ns, mono_ns, frames), len(frames))

    def received_binary(self, conn: int, wall_ns: int, mono_ns: int, payload: bytes) -> None:
        """A binary frame."""
        self.stats.frames_received += 1
        self._add(fmt.binary_record(b"R", conn, wall_ns, mono_ns, payload), 1)

    def sent(self, conn: int, payload: bytes, binary: bool = False) -> None:
        """A frame the client sent (credentials are redacted here)."""
        wall, mono = time.time_ns(), time.monotonic_ns()
        self.stats.frames_sent += 1
        if binary:
            line = fmt.binary_record(b"S", conn, wall, mono, payload)
        else:
            line = fmt.frames_record(b"S", conn, wall, mono, [fmt.redact_sent(payload)])
        self._add(line, 1)

    def closed(self, conn: int, clean: bool, code: int | None, reason: str | None,
               by_client: bool | None = None) -> None:
        """A connection closed (``by_client``: the client ended it; None: unknown)."""
        wall, mono = time.time_ns(), time.monotonic_ns()
        with self._lock:
            self._open.pop(conn, None)
        self._add(fmt.json_record_line(b"C", conn, wall, mono,
                                       {"clean": bool(clean), "code": code, "reason": reason,
                                        "by_client": by_client}), 1)

    def http(self, method: str, url: str, params: Any, status: int, body: Any,
             conn: int = 0) -> None:
        """An HTTP exchange made beside the sockets (e.g. a depth snapshot)."""
        wall, mono = time.time_ns(), time.monotonic_ns()
        record = {"method": method, "url": fmt.redact_url(url),
                  "params": fmt.redact_obj(params), "status": status,
                  "body": fmt.redact_obj(body)}
        self._add(fmt.json_record_line(b"H", conn, wall, mono, record), 1)

    # -- lifecycle ------------------------------------------------------------------------
    def flush(self, timeout: float = 5.0) -> None:
        """Write what is buffered now and wait until it is on disk (or ``timeout``).

        Raises:
            TimeoutError: the writer did not catch up within ``timeout`` seconds.
        """
        if self._closed:
            return
        done = threading.Event()
        self._hand_over(timeout)
        try:
            self._queue.put(done, timeout=timeout)
        except queue.Full:
            raise TimeoutError(f"recorder did not flush within {timeout}s") from None
        if not done.wait(timeout):
            raise TimeoutError(f"recorder did not flush within {timeout}s")

    def close(self, timeout: float = 5.0) -> None:
        """Write the last block, close the file and stop the writer. Idempotent.

        Records arriving after ``close`` are counted as dropped.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            writer = self._writer
        atexit.unregister(self._atexit)
        if writer is None and not self._parts and not self._gap_records:
            return
        if not self._hand_over(timeout):
            log.error("recorder %s: writer stuck; the last block is lost", self.path)
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            log.error("recorder %s: writer stuck; blocks still queued are lost", self.path)
            return
        writer = cast(threading.Thread, self._writer)  # _hand_over made sure there is one
        writer.join(timeout)
        if writer.is_alive():
            log.error("recorder %s: writer did not finish within %.1fs", self.path, timeout)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- blocks --------------------------------------------------------------------------
    def _add(self, piece: bytes, records: int) -> None:
        with self._lock:
            if self._closed:
                self.stats.records_dropped += records
                return
            self.stats.records += records
            self._parts.append(piece)
            self._size += len(piece)
            self._count += records
            if self._first_at is None:
                self._first_at = time.monotonic()
                self._ensure_writer()
            if self._size >= self.block_bytes:
                self._cut_locked()

    def _ensure_writer(self) -> None:
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_loop, name="exchange_wss-recorder",
                                            daemon=True)
            self._writer.start()

    def _cut_locked(self) -> None:
        """Hand the buffered records to the writer without waiting (lock held)."""
        item = self._take_locked()
        if item is None:
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._dropped_locked(item)

    def _take_locked(self) -> tuple | None:
        """The buffered records as a block (with a file header when one begins)."""
        if not self._parts and not self._gap_records:
            return None
        parts, count = self._parts, self._count
        self._parts, self._size, self._count, self._first_at = [], 0, 0, None
        gap = (self._gap_records, self._gap_bytes)
        if self._gap_records:
            wall, mono = time.time_ns(), time.monotonic_ns()
            parts.insert(0, fmt.json_record_line(
                b"G", 0, wall, mono, {"records": gap[0], "bytes": gap[1]}))
            self._gap_records = self._gap_bytes = 0
        header = None
        now = time.monotonic()
        if (self._file_seq < 0
                or (self.rotate_bytes is not None and self._file_bytes >= self.rotate_bytes)
                or (self.rotate_seconds is not None
                    and now - self._file_started >= self.rotate_seconds)):
            self._file_seq += 1
            self._file_bytes = 0
            self._file_started = now
            header = {"created_ns": time.time_ns(), "prefix": self.prefix,
                      "file": self._file_seq,
                      "open": [dict(info, conn=c) for c, info in sorted(self._open.items())]}
        return (header, b"".join(parts), count, gap)

    def _dropped_locked(self, item: tuple) -> None:
        """The disk fell behind: drop this block, say so in the next one."""
        header, block, count, gap = item
        self.stats.blocks_dropped += 1
        self.stats.records_dropped += count
        self._gap_records += count + gap[0]
        self._gap_bytes += len(block)
        if header is not None:
            self._file_seq -= 1  # that file was never begun
        log.warning("recorder %s: disk behind, %d records dropped so far", self.path,
                    self.stats.records_dropped)

    def _hand_over(self, timeout: float) -> bool:
        """Cut a block and wait (up to ``timeout``) for room for it; False if dropped."""
        with self._lock:
            item = self._take_locked()
            self._ensure_writer()
        if item is None:
            return True
        try:
            self._queue.put(item, timeout=timeout)
            return True
        except queue.Full:
            with self._lock:
                self._dropped_locked(item)
            return False

    # -- the writer thread ------------------------------------------------------------------
    def _write_loop(self) -> None:
        # The connections come first: on a busy machine the kernel runs this
        # thread (compression is most of the recorder's work) after the reactor.
        with contextlib.suppress(AttributeError, OSError):  # not Linux, or not allowed: as is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval)
            except queue.Empty:
                self._cut_if_due()
                continue
            if item is _STOP:
                self._close_file()
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            self._write_block(*item)
            self._cut_if_due()

    def _cut_if_due(self) -> None:
        with self._lock:
            first = self._first_at
            if first is not None and time.monotonic() - first >= self.flush_interval:
                self._cut_locked()

    def _write_block(self, header: dict | None, block: bytes, count: int,
                     _gap: Any = None) -> None:
        try:
            if header is not None:
                self._close_file()
                started = time.gmtime(header["created_ns"] / 1e9)
                name = fmt.file_name(self.prefix, tuple(started), header["file"],
                                     fmt.SUFFIX_ZSTD if self.codec == "zstd"
                                     else fmt.SUFFIX_GZIP)
                path = os.path.join(self.path, name)
                self._fh = open(path, "ab")  # noqa: SIM115 - open until the file rotates
                self.files.append(path)
                self.stats.files += 1
                block = fmt.header_line(header) + block
            if self._fh is None:
                raise OSError("no open file")
            member = self._compress(block)
            self._fh.write(member)
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as exc:
            self.stats.write_errors += 1
            self.stats.blocks_dropped += 1
            self.stats.records_dropped += count
            log.error("recorder %s: write failed (%s); %d records dropped", self.path, exc, count)
            return
        self.stats.blocks_written += 1
        self.stats.bytes_written += len(member)
        with self._lock:
            self._file_bytes += len(member)

    def _compress(self, block: bytes) -> bytes:
        if self.codec == "zstd":
            if self._zstd is None:
                self._zstd = _zstandard().ZstdCompressor(level=self.compresslevel)
            return self._zstd.compress(block)
        comp = zlib.compressobj(self.compresslevel, zlib.DEFLATED, 31)
        return comp.compress(block) + comp.flush()

    def _close_file(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError as exc:  # pragma: no cover - a full disk at close
                log.error("recorder %s: close failed: %s", self.path, exc)

"""Where a relay publishes: the sink interface, and Redis Streams behind it.

A :class:`Sink` takes batches of :class:`Entry` (one ordered log per stream
name) and writes them, all or nothing as far as it can tell: when it cannot
say whether a batch was written (the connection died before the answers), it
raises :class:`~exchange_wss.errors.SinkUnavailable` and the relay sends the
batch again, so an entry may be written twice, never lost for that reason.
Another engine (Kafka: a topic per stream, or one topic keyed by stream name)
fits behind the same two methods.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from ..errors import LocalProtocolError, SinkUnavailable

__all__ = ["Entry", "Sink", "RedisStreamsSink"]

log = logging.getLogger("exchange_wss.redis")


class Entry(NamedTuple):
    """One event for one stream.

    Attributes:
        stream: the stream's name (``ews:bitfinex:book:tBTCUSD:P0``).
        seq: the stream's sequence number (1, 2, ... per stream and relay run).
        kind: ``b"S"`` a book snapshot the exchange sent, ``b"s"`` one the relay
            made of its copy, ``b"c"`` a change of a book, ``b"e"`` any other
            event, ``b"a"`` an account event.
        type: the model's class name.
        data: the model, encoded (:func:`~exchange_wss.redis.codec.encode`).
        ts: the relay's wall clock when it got the event, in ns.
        key: account events: the identity consumers de-duplicate by.
        epoch: the relay run (sequence numbers restart with a new relay).
    """

    stream: bytes
    seq: int
    kind: bytes
    type: bytes
    data: bytes
    ts: int
    key: bytes | None = None
    epoch: bytes = b""


class Sink:
    """The interface a relay publishes through (subclass it for another engine)."""

    def publish(self, entries: Sequence[Entry]) -> int:
        """Write ``entries`` in order; returns how many the engine refused (counted by
        the relay, never retried: a refusal is not an outage).

        Raises:
            SinkUnavailable: the engine could not be reached, or it is unknown
                whether the batch was written; the relay retries the batch.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def _command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(_bulk(a) for a in args)


class _Replies:
    """Parses RESP replies from what the server sent: hiredis's reader where installed,
    else a small parser for the replies this sink gets (bulk, status, error, integer,
    array of integers)."""

    def __init__(self) -> None:
        try:
            import hiredis
        except ImportError:
            reader = None
        else:
            reader = hiredis.Reader()
        self._reader = reader
        self._buf = b""

    def feed(self, data: bytes) -> None:
        if self._reader is not None:
            self._reader.feed(data)
        else:
            self._buf += data

    def take(self) -> Any:
        """The next whole reply (an Exception instance for an error), or False."""
        if self._reader is not None:
            return self._reader.gets()
        reply, rest = _parse(self._buf)
        if reply is not False:
            self._buf = rest
        return reply


def _parse(buf: bytes) -> Any:
    end = buf.find(b"\r\n")
    if end < 0:
        return False, buf
    head, rest = buf[:end], buf[end + 2:]
    sign = head[:1]
    if sign == b"$":
        n = int(head[1:])
        if n < 0:
            return None, rest
        if len(rest) < n + 2:
            return False, buf
        return rest[:n], rest[n + 2:]
    if sign == b"*":
        items = []
        for _ in range(int(head[1:])):
            item, rest = _parse(rest)
            if item is False:
                return False, buf
            items.append(item)
        return items, rest
    if sign == b"-":
        return Exception(head[1:].decode("utf-8", "replace")), rest
    if sign == b":":
        return int(head[1:]), rest
    return head[1:], rest


#: Appends a batch: KEYS the streams; ARGV[1] the MAXLEN, then per entry: its
#: stream's index in KEYS, its number of field pairs, the pairs. Answers
#: {written, refused}: one command and one short answer per batch.
_SCRIPT = b"""
local maxlen = ARGV[1]
local i, n, refused = 2, 0, 0
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i])]
  local nf = tonumber(ARGV[i + 1]) * 2
  local r = redis.pcall('XADD', key, 'MAXLEN', '~', maxlen, '*', unpack(ARGV, i + 2, i + 1 + nf))
  if type(r) == 'table' and r.err then refused = refused + 1 else n = n + 1 end
  i = i + 2 + nf
end
return {n, refused}
"""

_FIELDS6 = (b"$%d\r\n%s\r\n$1\r\n6\r\n$1\r\ns\r\n$%d\r\n%s\r\n$1\r\nk\r\n$1\r\n%s\r\n"
            b"$1\r\nt\r\n$%d\r\n%s\r\n$1\r\nd\r\n$%d\r\n%s\r\n$2\r\nts\r\n$%d\r\n%s\r\n"
            b"$1\r\ne\r\n$%d\r\n%s\r\n")


class RedisStreamsSink(Sink):
    """Redis Streams: every entry ``XADD <stream> MAXLEN ~ <maxlen> * s <seq> k <kind>
    t <type> d <data> ts <ns> e <epoch> [id <key>]``.

    A batch is written at once: its XADDs pipelined (``mode="pipeline"``), or
    one ``EVALSHA`` of a small Lua script making them (``mode="script"``: Redis
    runs a script whole, so a batch is then written whole or not at all, at
    about a third of the pipeline's rate here). When the answers are lost the
    relay sends the batch again and entries may be there twice; consumers skip
    sequence numbers they have seen. Commands are packed here and written on a
    plain socket, and the answers parsed with hiredis when it is installed
    (redis-py's pipeline costs several microseconds per command in Python);
    ``rediss://`` (TLS) goes through redis-py with the script. All streams must
    live on one node (no Redis Cluster).

    Args:
        url: ``redis://[[user]:password@]host:port/db`` (``rediss://`` for TLS).
        maxlen: approximate length each stream is trimmed to (``MAXLEN ~``).
        timeout: seconds for connecting and for each batch's answer.
        mode: ``"pipeline"`` (default): the batch's XADDs pipelined, one answer
            each, the fastest for Redis; ``"script"``: the batch as one Lua
            script, written whole or not at all.
    """

    def __init__(self, url: str, *, maxlen: int = 100_000, timeout: float = 5.0,
                 mode: str = "pipeline") -> None:
        import hashlib

        from redis.connection import parse_url

        if maxlen < 1:
            raise LocalProtocolError("maxlen must be positive")
        if mode not in ("script", "pipeline"):
            raise LocalProtocolError("mode is 'script' or 'pipeline'")
        self.url = url
        self.maxlen = maxlen
        self.timeout = timeout
        self.mode = mode
        self._params = parse_url(url)
        self._tls = url.startswith("rediss://")
        self._sock: Any = None
        self._replies = _Replies()
        self._conn: Any = None
        self._redis: Any = None
        self._sha = hashlib.sha1(_SCRIPT).hexdigest().encode()
        self._maxlen = _bulk(b"%d" % maxlen)

    def __repr__(self) -> str:
        return f"<RedisStreamsSink {self._params.get('host')}:{self._params.get('port')}>"

    def _pack_xadds(self, entries: Sequence[Entry]) -> bytes:
        """One XADD per entry, pipelined."""
        out = []
        trim = b"$6\r\nMAXLEN\r\n$1\r\n~\r\n" + self._maxlen + b"$1\r\n*\r\n"
        for e in entries:
            seq = b"%d" % e.seq
            ts = b"%d" % e.ts
            fields = 6 if e.key is None else 7
            body = (_FIELDS6 % (1, b"x", len(seq), seq, e.kind, len(e.type), e.type,
                                len(e.data), e.data, len(ts), ts, len(e.epoch), e.epoch))[14:]
            if e.key is not None:
                body += b"$2\r\nid\r\n" + _bulk(e.key)
            out.append(b"*%d\r\n$4\r\nXADD\r\n" % (6 + 2 * fields) + _bulk(e.stream) + trim
                       + body)
        return b"".join(out)

    def _pack(self, entries: Sequence[Entry]) -> bytes:
        """One EVALSHA command carrying ``entries``."""
        keys: dict = {}
        parts = []
        nargs = 0
        for e in entries:
            index = keys.get(e.stream)
            if index is None:
                index = keys[e.stream] = b"%d" % (len(keys) + 1)
            seq = b"%d" % e.seq
            ts = b"%d" % e.ts
            part = _FIELDS6 % (len(index), index, len(seq), seq, e.kind, len(e.type), e.type,
                               len(e.data), e.data, len(ts), ts, len(e.epoch), e.epoch)
            nargs += 14
            if e.key is not None:
                # seven pairs: the count says 7, and the id pair follows
                part = part.replace(b"$1\r\n6\r\n", b"$1\r\n7\r\n", 1) + b"$2\r\nid\r\n" + \
                    _bulk(e.key)
                nargs += 2
            parts.append(part)
        head = (b"*%d\r\n$7\r\nEVALSHA\r\n" % (3 + len(keys) + 1 + nargs)
                + _bulk(self._sha) + _bulk(b"%d" % len(keys))
                + b"".join(_bulk(k) for k in keys) + self._maxlen)
        return head + b"".join(parts)

    # -- the connection --------------------------------------------------------------------
    def _connect(self) -> None:
        import socket

        p = self._params
        sock = socket.create_connection((p.get("host", "127.0.0.1"), p.get("port", 6379)),
                                        timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._replies = _Replies()
        setup = []
        if p.get("password"):
            user = p.get("username")
            setup.append(_command(b"AUTH", *([user.encode()] if user else []),
                                  p["password"].encode()))
        if p.get("db"):
            setup.append(_command(b"SELECT", str(p["db"]).encode()))
        setup.append(_command(b"SCRIPT", b"LOAD", _SCRIPT))
        sock.sendall(b"".join(setup))
        for reply in self._read(len(setup)):
            if isinstance(reply, Exception):
                self._close_socket()
                raise SinkUnavailable(f"redis refused the connection set-up: {reply}")

    def _read(self, n: int) -> list:
        out: list[Any] = []  # RESP replies: bytes, int, list, an Exception for an error
        replies = self._replies
        while len(out) < n:
            reply = replies.take()
            if reply is False:
                data = self._sock.recv(1 << 16)
                if not data:
                    raise ConnectionError("connection closed by the server")
                replies.feed(data)
                continue
            out.append(reply)
        return out

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def publish(self, entries: Sequence[Entry]) -> int:
        """Write ``entries`` in order (pipelined XADDs, one script call, or redis-py over TLS);
        returns how many the engine refused."""
        if not entries:
            return 0
        if self.mode == "pipeline" and not self._tls:
            return self._publish_pipeline(entries)
        payload = self._pack(entries)
        if self._tls:
            return self._publish_redis_py(payload, len(entries))
        try:
            if self._sock is None:
                self._connect()
            self._sock.sendall(payload)
            reply = self._read(1)[0]
            if isinstance(reply, Exception) and "NOSCRIPT" in str(reply):
                # A restarted Redis forgot the script: load it, send the batch again.
                self._sock.sendall(_command(b"SCRIPT", b"LOAD", _SCRIPT) + payload)
                _sha, reply = self._read(2)
        except (OSError, ConnectionError) as exc:
            self._close_socket()
            raise SinkUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        return self._refused(reply, len(entries))

    def _publish_pipeline(self, entries: Sequence[Entry]) -> int:
        payload = self._pack_xadds(entries)
        try:
            if self._sock is None:
                self._connect()
            self._sock.sendall(payload)
            replies = self._read(len(entries))
        except (OSError, ConnectionError) as exc:
            self._close_socket()
            raise SinkUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        refused = sum(1 for r in replies if isinstance(r, Exception))
        if refused:
            log.error("redis refused %d of %d entries", refused, len(entries))
        return refused

    @staticmethod
    def _refused(reply: Any, n: int) -> int:
        if isinstance(reply, Exception):
            log.error("redis refused a batch of %d entries: %s", n, reply)
            return n
        refused = int(reply[1])
        if refused:
            log.error("redis refused %d of %d entries", refused, n)
        return refused

    def _publish_redis_py(self, payload: bytes, n: int) -> int:
        import redis

        try:
            if self._redis is None:
                self._redis = redis.Redis.from_url(self.url, socket_timeout=self.timeout,
                                                   socket_connect_timeout=self.timeout)
            if self._conn is None:
                self._conn = self._redis.connection_pool.get_connection()
                self._conn.send_command("SCRIPT", "LOAD", _SCRIPT)
                self._conn.read_response()
            self._conn.send_packed_command([payload])
            try:
                reply = self._conn.read_response()
            except redis.ResponseError as exc:
                reply = exc
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.disconnect()
                self._redis.connection_pool.release(conn)
            raise SinkUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        return self._refused(reply, n)

    def close(self) -> None:
        """Close the socket, or give back the redis-py connection and close its client (TLS)."""
        self._close_socket()
        if self._redis is not None:
            if self._conn is not None:
                self._redis.connection_pool.release(self._conn)
                self._conn = None
            self._redis.close()

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

import logging
from typing import Any, NamedTuple, Optional, Sequence

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
    key: Optional[bytes] = None
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


class RedisStreamsSink(Sink):
    """Redis Streams: ``XADD <stream> MAXLEN ~ <maxlen> * s <seq> k <kind> t <type> d <data>
    ts <ns> e <epoch> [id <key>]`` per entry, a whole batch in one pipelined write.

    The commands are packed here rather than by redis-py's pipeline, which
    costs several microseconds per command in Python; redis-py still connects,
    authenticates, selects the database and parses the answers.

    Args:
        url: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        maxlen: approximate length each stream is trimmed to (``MAXLEN ~``).
        timeout: seconds for connecting and for each batch's answers.
    """

    def __init__(self, url: str, *, maxlen: int = 100_000, timeout: float = 5.0) -> None:
        import redis

        if maxlen < 1:
            raise LocalProtocolError("maxlen must be positive")
        self.url = url
        self.maxlen = maxlen
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout,
                                           socket_connect_timeout=timeout)
        self._errors = (redis.ConnectionError, redis.TimeoutError, OSError)
        self._response_error = redis.ResponseError
        self._conn: Any = None
        self._trim = b"$6\r\nMAXLEN\r\n$1\r\n~\r\n" + _bulk(b"%d" % maxlen) + b"$1\r\n*\r\n"

    def __repr__(self) -> str:
        return f"<RedisStreamsSink {self._redis.connection_pool.connection_kwargs.get('host')}>"

    def _pack(self, e: Entry) -> bytes:
        fields = 6 + (e.key is not None)
        head = b"*%d\r\n$4\r\nXADD\r\n" % (6 + 2 * fields) + _bulk(e.stream) + self._trim
        seq = b"%d" % e.seq
        ts = b"%d" % e.ts
        body = (b"$1\r\ns\r\n$%d\r\n%s\r\n$1\r\nk\r\n$1\r\n%s\r\n$1\r\nt\r\n$%d\r\n%s\r\n"
                b"$1\r\nd\r\n$%d\r\n%s\r\n$2\r\nts\r\n$%d\r\n%s\r\n$1\r\ne\r\n$%d\r\n%s\r\n"
                % (len(seq), seq, e.kind, len(e.type), e.type, len(e.data), e.data,
                   len(ts), ts, len(e.epoch), e.epoch))
        if e.key is not None:
            body += b"$2\r\nid\r\n" + _bulk(e.key)
        return head + body

    def publish(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return 0
        payload = b"".join([self._pack(e) for e in entries])
        try:
            conn = self._conn
            if conn is None:
                conn = self._conn = self._redis.connection_pool.get_connection()
            conn.send_packed_command([payload])
            failed = 0
            for _ in range(len(entries)):
                try:
                    conn.read_response()
                except self._response_error as exc:  # e.g. WRONGTYPE: not worth a retry
                    failed += 1
                    last = exc
        except self._errors as exc:
            self._drop_connection()
            raise SinkUnavailable(f"redis: {type(exc).__name__}: {exc}") from None
        if failed:
            log.error("redis refused %d of %d entries: %s", failed, len(entries), last)
        return failed

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.disconnect()
            finally:
                self._redis.connection_pool.release(conn)

    def close(self) -> None:
        self._drop_connection()
        self._redis.close()

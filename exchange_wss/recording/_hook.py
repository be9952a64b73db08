"""The recording hook at the connection layer: a subclass of the client protocol.

:class:`~exchange_wss.connection.WebSocketConnection` uses this class instead of
its plain protocol only when :attr:`ConnectionOptions.record
<exchange_wss.connection.ConnectionOptions>` is set, so a connection that does
not record runs exactly the code it ran before. While recording, the fast path
decodes with a function that also keeps each frame's bytes; the frames of one
read are written as one block with that read's timestamps when the read is
done, and before anything sent in between, so the order in the file is the
order on the wire.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from ..connection import _ClientProtocol

__all__ = ["RecordingClientProtocol"]

_time_ns = time.time_ns
_monotonic_ns = time.monotonic_ns


class RecordingClientProtocol(_ClientProtocol):
    """The client protocol, recording to ``owner.options.record`` (a Recorder)."""

    _conn_id: int | None = None
    # Only read until onOpen gives each connection its own list.
    _pending: list[bytes] = []  # noqa: RUF012
    _rx_wall = 0
    _rx_mono = 0
    _rx_chunk = b""

    def onOpen(self) -> None:
        self._rx_wall, self._rx_mono = _time_ns(), _monotonic_ns()
        recorder = self.owner.options.record
        self._recorder = recorder
        self._conn_id = recorder.opened(self.owner.name, self.owner.url)
        pending: list[bytes] = []
        self._pending = pending
        keep = pending.append
        loads = orjson.loads

        def recording_loads(data: bytes) -> Any:
            msg = loads(data)  # a frame orjson refuses goes to autobahn: recorded there
            keep(data)
            return msg

        # connection.py types _loads as orjson.loads is typed (any buffer or str); the fast
        # path passes it frame bytes only, which is all this one takes.
        self._loads = recording_loads  # type: ignore[assignment]
        super().onOpen()

    def dataReceived(self, data: bytes) -> None:
        # One timestamp per read: every frame it completes arrived then.
        self._rx_wall, self._rx_mono = _time_ns(), _monotonic_ns()
        self._rx_chunk = data
        super().dataReceived(data)
        if self._pending:
            self._write_received()

    def _write_received(self) -> None:
        pending = self._pending
        frames = pending[:]
        pending.clear()
        self._recorder.received(self._conn_id, self._rx_wall, self._rx_mono, frames,
                                self._rx_chunk)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self._conn_id is not None:
            if isBinary:
                if self._pending:
                    self._write_received()
                self._recorder.received_binary(self._conn_id, self._rx_wall, self._rx_mono,
                                               payload)
            else:
                self._pending.append(payload)
        super().onMessage(payload, isBinary)

    def sendMessage(self, payload: bytes, isBinary: bool = False, *args: Any,
                    **kwargs: Any) -> None:
        super().sendMessage(payload, isBinary, *args, **kwargs)
        if self._conn_id is not None:
            if self._pending:  # sent while handling a read: after what it read so far
                self._write_received()
            self._recorder.sent(self._conn_id, payload, isBinary)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._conn_id is not None:
            if self._pending:
                self._write_received()
            # Who ended it: a replay repeats a server's close, not the client's own.
            by_client = bool(self.closedByMe or self.droppedByMe or self.owner._stopping
                             or self.owner._drop_reason)
            self._recorder.closed(self._conn_id, wasClean, code, reason, by_client)
            self._conn_id = None
        super().onClose(wasClean, code, reason)

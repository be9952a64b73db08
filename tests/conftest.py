"""Test-suite configuration: the ``fast`` marker.

``pytest -m fast`` runs the protocol and unit tests: no server, no socket, about a minute
on a laptop. README's test command (plain ``pytest``) still runs everything.

The marker is applied here, by file name, rather than by a ``pytestmark`` line in each
module: the list of what counts as fast is in one place to read and review, and a module
joins or leaves the subset without an edit to the module itself (several people change
the test modules at once). ``tests/test_packaging.py`` checks that every module named
here exists, so a rename cannot shrink the subset unnoticed. A single test elsewhere
may still carry ``@pytest.mark.fast`` itself. A fast test that creates a socket (in any
thread) fails, so the subset stays what it says.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

#: Test modules whose every test is pure: frames in, events out; in-memory transports and
#: ``MemoryReactorClock``; no listening socket, no connection.
FAST_MODULES = frozenset({
    "test_binance_account.py",
    "test_binance_protocol.py",
    "test_binance_streams.py",
    "test_bitfinex_protocol.py",
    "test_bitfinex_utils.py",
    "test_connection.py",
    "test_dispatch.py",
    "test_fast_path.py",
    "test_ftx_protocol.py",
    "test_health.py",
    "test_numtext.py",
    "test_orderbook.py",
    "test_pacing.py",
    "test_requests_lifecycle.py",
    "test_rotation.py",
    "test_sandbox_engine.py",
    "test_sandbox_margin.py",
    "test_sandbox_market.py",
    "test_subscriptions_lifecycle.py",
    "test_symbols.py",
    "test_unified_models.py",
})

#: Fixtures that open real sockets: a test using one is not fast, even in a fast module
#: (``test_connection.py``'s ``test_live_*`` tests run against a loopback ``server``).
SOCKET_FIXTURES = frozenset({
    "server", "bitfinex_sandbox", "bitfinex_client", "sandbox_faults",
})


@pytest.hookimpl(tryfirst=True)  # before pytest's own hook deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the fast modules that use no socket fixture as ``fast``."""
    for item in items:
        if item.path.name not in FAST_MODULES:
            continue
        if SOCKET_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            continue
        item.add_marker(pytest.mark.fast)


@pytest.fixture(autouse=True)
def _fast_tests_open_no_socket(request: pytest.FixtureRequest,
                               monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a ``fast`` test that created a socket: it belongs out of the fast subset."""
    if request.node.get_closest_marker("fast") is None:
        yield
        return
    created: list[str] = []
    original = socket.socket.__init__

    def recording_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        created.append("".join(traceback.format_stack(limit=12)[:-1]))
        original(self, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "__init__", recording_init)
    yield
    monkeypatch.undo()
    if created:
        pytest.fail(f"a fast test created {len(created)} socket(s); move it out of "
                    f"FAST_MODULES or add its fixture to SOCKET_FIXTURES in "
                    f"tests/conftest.py. First one created at:\n{created[0]}", pytrace=False)

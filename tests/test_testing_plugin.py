"""The pytest plugin (exchange_wss.testing) works in a user's own test suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import exchange_wss.testing

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]

USER_TESTS = '''
from exchange_wss.models import Ticker


def test_ticker_arrives(bitfinex_client, callback_recorder):
    bitfinex_client.subscribe_to_ticker("tBTCUSD", callback_recorder)
    ticker = callback_recorder.wait_for_type(Ticker)
    assert ticker.symbol == "tBTCUSD"


def test_sandbox_is_local(bitfinex_sandbox):
    assert bitfinex_sandbox.url.startswith("ws://127.0.0.1:")


def test_faults_belong_to_the_sandbox(bitfinex_sandbox, sandbox_faults):
    assert sandbox_faults is bitfinex_sandbox.faults
'''


@pytest.fixture
def run_user_pytest(pytester, request, monkeypatch):
    """Run pytest in a subprocess on the files made with ``pytester``, plugin loaded."""
    # Installed, the package registers the plugin through its pytest11 entry
    # point (naming it again would register it twice); from a bare checkout it
    # must be named, and the checkout put on the path.
    args = []
    if not request.config.pluginmanager.is_registered(exchange_wss.testing):
        args = ["-p", "exchange_wss.testing"]
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))

    def run(*more: str):
        return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", *more, timeout=120)

    return run


def test_user_test_with_the_client_fixture_receives_a_ticker(pytester, run_user_pytest):
    """A user's test using bitfinex_client and callback_recorder gets a ticker from the sandbox."""
    pytester.makepyfile(test_user=USER_TESTS)
    run_user_pytest("-q").assert_outcomes(passed=3)


def test_fixtures_are_documented(pytester, run_user_pytest):
    """``pytest --fixtures`` lists the plugin's fixtures with their docstrings."""
    pytester.makepyfile(test_empty="")
    result = run_user_pytest("--fixtures")
    result.stdout.fnmatch_lines(["*bitfinex_client*", "*started*WssClient*"])


def test_importing_the_plugin_starts_nothing():
    """The plugin module, loaded by every pytest run, imports neither Twisted's reactor nor
    the sandbox at import time."""
    import subprocess
    import sys
    code = ("import sys, threading, exchange_wss.testing; "
            "print('twisted.internet.reactor' in sys.modules, "
            "'exchange_wss.sandbox' in sys.modules, threading.active_count())")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["False", "False", "1"]

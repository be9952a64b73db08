"""The pytest plugin (exchange_wss.testing) works in a user's own test suite."""

from __future__ import annotations

import os
import re
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


def test_faults_belong_to_the_sandbox(bitfinex_sandbox, sandbox_faults, bitfinex_faults):
    assert sandbox_faults is bitfinex_faults is bitfinex_sandbox.faults
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
    """``pytest --fixtures`` lists the plugin's fixtures of every exchange with their docstrings."""
    pytester.makepyfile(test_empty="")
    result = run_user_pytest("--fixtures")
    result.stdout.fnmatch_lines(["*bitfinex_client*", "*started*WssClient*"])
    result.stdout.fnmatch_lines(["*binance_client*", "*started*BinanceWssClient*"])
    result.stdout.fnmatch_lines(["*ftx_client*", "*started*FtxWssClient*"])


def _doc_example(name: str) -> str:
    """The code block captioned ``name`` in docs/sandbox.rst, dedented."""
    text = (ROOT / "docs" / "sandbox.rst").read_text(encoding="utf-8")
    match = re.search(r"\.\. code-block:: python\n   :caption: " + re.escape(name)
                      + r"\n\n((?:   .*\n|\n)+)", text)
    assert match, f"no {name} example in docs/sandbox.rst"
    return "\n".join(line[3:] for line in match.group(1).splitlines()) + "\n"


@pytest.mark.parametrize(("example", "outcomes"), [
    ("test_bitfinex_bot.py", {"passed": 2}),
    ("test_binance_bot.py", {"passed": 4}),  # the book test on spot, usdm and coinm
    ("test_ftx_bot.py", {"passed": 2}),
], ids=["bitfinex", "binance", "ftx"])
def test_documented_example_passes(pytester, run_user_pytest, example, outcomes):
    """Each exchange's example test in docs/sandbox.rst passes, as written, with the fixtures."""
    pytester.makepyfile(**{example[:-3]: _doc_example(example)})
    run_user_pytest("-q").assert_outcomes(**outcomes)


BINANCE_USER_TESTS = '''
import pytest
from exchange_wss.models import Ticker

SYMBOL = {"spot": "BTCUSDT", "usdm": "BTCUSDT", "coinm": "BTCUSD_PERP"}


@pytest.mark.parametrize("binance_market", ["spot", "usdm", "coinm"])
def test_client_and_sandbox_share_the_market(binance_market, binance_sandbox, binance_client,
                                             binance_faults, callback_recorder):
    assert binance_sandbox.market == binance_client.market == binance_market
    assert binance_faults is binance_sandbox.faults
    binance_client.subscribe_to_ticker(SYMBOL[binance_market], callback_recorder)
    assert callback_recorder.wait_for_type(Ticker).symbol == SYMBOL[binance_market]


def test_market_defaults_to_spot(binance_sandbox):
    assert binance_sandbox.market == "spot"
'''


def test_binance_fixtures_serve_each_market(pytester, run_user_pytest):
    """binance_sandbox, binance_client and binance_faults work on Spot, USDT-M and COIN-M,
    the market chosen by parametrizing binance_market (default spot)."""
    pytester.makepyfile(test_binance_user=BINANCE_USER_TESTS)
    run_user_pytest("-q").assert_outcomes(passed=4)


FTX_USER_TESTS = '''
from exchange_wss.models import Ticker


def test_ticker_arrives(ftx_client, ftx_sandbox, ftx_faults, callback_recorder):
    assert ftx_faults is ftx_sandbox.faults
    assert ftx_sandbox.url.startswith("ws://127.0.0.1:")
    ftx_client.subscribe_to_ticker("BTC-PERP", callback_recorder)
    assert callback_recorder.wait_for_type(Ticker).symbol == "BTC-PERP"
'''


def test_ftx_fixtures_serve_the_ftx_sandbox(pytester, run_user_pytest):
    """ftx_sandbox, ftx_client and ftx_faults give a local FTX sandbox and a client on it."""
    pytester.makepyfile(test_ftx_user=FTX_USER_TESTS)
    run_user_pytest("-q").assert_outcomes(passed=1)


OPTIONS_CONFTEST = '''
import pytest


@pytest.fixture
def binance_market():
    return "usdm"


@pytest.fixture
def ftx_sandbox_options():
    return {"seed": 7, "tick_interval": None}
'''

OPTIONS_TESTS = '''
def test_market_from_conftest(binance_sandbox):
    assert binance_sandbox.market == "usdm"


def test_ftx_options_from_conftest(ftx_sandbox):
    before = ftx_sandbox.book("BTC-PERP", 5)
    assert ftx_sandbox.book("BTC-PERP", 5) == before  # no ticks: the market stands still
'''


def test_options_fixtures_are_overridable(pytester, run_user_pytest):
    """A conftest.py overriding binance_market and ftx_sandbox_options changes what is built."""
    pytester.makeconftest(OPTIONS_CONFTEST)
    pytester.makepyfile(test_options=OPTIONS_TESTS)
    run_user_pytest("-q").assert_outcomes(passed=2)


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

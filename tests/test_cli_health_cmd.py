"""``exchange-wss health``: the client's health report in a real pseudo-terminal (pexpect +
pyte, read as a person would), as JSON lines (``client.health()`` itself) and as plain
lines, and its exit status naming what is not live."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _health(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "exchange_wss", "health", *argv],
                          capture_output=True, text=True, timeout=timeout, env=_env(), cwd=ROOT)


@pytest.fixture
def terminal():
    pytest.importorskip("pexpect")
    pytest.importorskip("pyte")
    pytest.importorskip("rich")
    from test_cli_pty import Terminal
    opened = []

    def open_terminal(argv, cols, rows):
        opened.append(Terminal(argv, cols, rows))
        return opened[-1]

    yield open_terminal
    for term in opened:
        term.close()


@pytest.mark.parametrize(("cols", "rows"), [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_health_screen_shows_every_stream_and_connection(terminal, cols, rows):
    """`health bitfinex ticker,book,trades tBTCUSD tETHUSD --sandbox`: a row per stream,
    live with its age, rate and connection; the connection up with its ping round trip;
    Ctrl-C ends it with status 0 and no traceback."""
    term = terminal(["health", "bitfinex", "ticker,book,trades", "tBTCUSD", "tETHUSD",
                     "--sandbox"], cols, rows)
    text = term.wait_screen(lambda t: len(re.findall(r" live\s+\d+\.\ds\s+\S+/s", t)) == 6
                            and re.search(r"public-0\s+up\s+\S+\s+\d+\.\dms", t) is not None)
    for channel in ("ticker", "book", "trades"):
        for symbol in ("tBTCUSD", "tETHUSD"):
            assert re.search(rf"{channel} {symbol}\s+live\s+\d+\.\ds\s+\d+(\.\d)?/s\s+\d+\s+0 "
                             r"public-0", text), (channel, symbol, text)
    assert "exchange-wss health" in text.splitlines()[0]
    assert re.search(r"first data seen \d\.\d\ds after subscribing", text)
    term.child.sendintr()
    assert term.finish() == 0
    assert b"Traceback" not in term.raw


def test_health_json_prints_the_clients_report():
    """--json: every line is client.health() as JSON, one per --interval and one at the end;
    with every stream live at the end the status is 0."""
    result = _health("binance", "ticker,book,trades", "BTCUSDT", "--sandbox", "--json",
                     "--duration", "4", "--interval", "1")
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(reports) >= 3
    last = reports[-1]
    assert set(last) == {"time", "sampled_at", "interval", "stale_after", "states", "streams",
                         "connections", "stats"}
    assert [(s["label"], s["state"]) for s in last["streams"]] == [
        ("btcusdt@ticker", "live"), ("btcusdt@depth", "live"), ("btcusdt@trade", "live")]
    assert all(s["messages"] > 0 and s["connection"] == "market-0" for s in last["streams"])
    [conn] = last["connections"]
    assert conn["name"] == "market-0" and conn["state"] == "open"
    assert last["stale_after"] == 10.0


def test_health_plain_prints_signals_and_the_table():
    """--no-ui: the health signals as lines, then the table of streams and connections."""
    result = _health("ftx", "ticker,trades", "BTC-PERP", "--sandbox", "--no-ui",
                     "--duration", "3", "--interval", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"ticker BTC-PERP: live \(first data seen \d\.\d\ds after subscribing\)",
                     out)
    assert re.search(r"health: 2 live", out), out
    assert re.search(r"  ticker:BTC-PERP  live  age \d+\.\ds  \S+/s  \d+ msgs  0 resyncs  ftx",
                     out), out
    assert re.search(r"  connection ftx  open for \d+\.\ds  ping \S+  auth none", out), out


def test_health_exits_1_naming_a_stream_that_is_not_live():
    """A symbol the exchange refuses: at the end of --duration the status is 1 and stderr
    names the stream, its state and the exchange's refusal."""
    result = _health("bitfinex", "ticker", "tNOSUCHPAIR", "--sandbox", "--json",
                     "--duration", "2", "--interval", "1")
    assert result.returncode == 1
    assert "not live after 2s: ticker:tNOSUCHPAIR pending (" in result.stderr, result.stderr
    assert "symbol: invalid" in result.stderr
    last = json.loads(result.stdout.splitlines()[-1])
    assert last["streams"][0]["error"].endswith("symbol: invalid (code 10300)")


def test_health_refuses_a_channel_the_venue_lacks():
    """An unknown channel is a usage error (2) listing the venue's channels."""
    result = _health("ftx", "candles", "BTC-PERP", "--sandbox")
    assert result.returncode == 2
    assert "ftx has no channel 'candles'" in result.stderr

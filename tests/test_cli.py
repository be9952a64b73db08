"""The ``exchange-wss`` command line: the demo's scripted flow, ``watch`` in plain and JSON
lines, the standalone sandboxes and their fault console, usage, errors and closed pipes.
The live view in a real pseudo-terminal is tests/test_cli_pty.py."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from exchange_wss import cli

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    # Run the package from this checkout whether or not it is installed.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def demo_run() -> subprocess.CompletedProcess:
    """One 5-second demo run in a subprocess (stdout is a pipe, so plain output), shared."""
    return subprocess.run([sys.executable, "-m", "exchange_wss", "demo", "--duration", "5",
                           "--no-ui"], capture_output=True, text=True, timeout=90, env=_env(),
                          cwd=ROOT)


def test_demo_exits_zero(demo_run):
    """The demo against the in-process sandbox completes its flow and exits 0."""
    assert demo_run.returncode == 0, demo_run.stdout + demo_run.stderr
    assert "Demo OK" in demo_run.stdout


def test_demo_summary_counts_the_scripted_orders(demo_run):
    """The summary reports two orders placed, one filled and one cancelled."""
    assert "orders: placed 2, filled 1, cancelled 1" in demo_run.stdout, demo_run.stdout


def test_demo_summary_counts_messages_per_channel(demo_run):
    """The summary counts a non-zero number of messages on every channel."""
    line = next(line for line in demo_run.stdout.splitlines() if "messages:" in line
                and "Summary" not in line and "[" not in line)
    counts = dict(re.findall(r"(\w+) (\d+)", line.split("messages:", 1)[1]))
    assert set(counts) == {"ticker", "trades", "book", "candles", "auth"}
    assert all(int(n) > 0 for n in counts.values()), line


def test_demo_reports_no_error_against_a_healthy_sandbox(demo_run):
    """Without injected faults the demo sees no errors and no reconnects."""
    assert "  errors: 0" in demo_run.stdout, demo_run.stdout
    assert "  reconnects: 0" in demo_run.stdout


def test_demo_fails_at_once_when_the_symbol_is_refused(monkeypatch, capsys):
    """A symbol the exchange refuses fails the demo with the exchange's own reason, before
    the duration is over."""
    import time

    from exchange_wss.cli import demo_venues
    monkeypatch.setattr(demo_venues, "DEMO_SYMBOL", "tNOSUCHPAIR")
    started = time.monotonic()
    assert cli.main(["demo", "--duration", "30", "--no-ui"]) == cli.EXIT_FAILED
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err
    assert "Demo FAILED: the exchange refused ticker tNOSUCHPAIR:" in err
    assert "symbol: invalid (code 10300)" in err


def test_demo_too_short_names_the_duration_not_the_network(capsys):
    """A duration too short for the in-process sandbox says so, not "check the network"."""
    assert cli.main(["demo", "--duration", "0.001", "--no-ui"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "network" not in err
    assert "give a longer --duration" in err, err


def test_demo_refuses_an_unknown_exchange(capsys):
    """``--exchange kraken`` exits 2 naming the exchanges it knows."""
    assert cli.main(["demo", "--exchange", "kraken"]) == cli.EXIT_USAGE
    assert "'bitfinex', 'binance', 'ftx'" in capsys.readouterr().err


def test_ftx_demo_places_fills_and_cancels():
    """``demo --exchange ftx`` runs its scripted flow against the FTX sandbox and exits 0."""
    result = subprocess.run([sys.executable, "-m", "exchange_wss", "demo", "--exchange", "ftx",
                             "--duration", "4", "--no-ui"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "orders: placed 2, filled 1, cancelled 1" in result.stdout
    assert "errors: 0" in result.stdout


@pytest.fixture(scope="module", params=["spot", "usdm"])
def binance_demo_run(request) -> subprocess.CompletedProcess:
    """One 5-second Binance demo run per market in a subprocess (plain output), shared."""
    result = subprocess.run([sys.executable, "-m", "exchange_wss", "demo", "--exchange", "binance",
                             "--market", request.param, "--duration", "5", "--no-ui"],
                            capture_output=True, text=True, timeout=90, env=_env(), cwd=ROOT)
    result.market = request.param
    return result


def test_binance_demo_exits_zero_with_the_summary(binance_demo_run):
    """``demo --exchange binance`` completes its flow against the in-process Binance sandbox
    (Spot and USDT-M), exits 0 and prints the summary."""
    out = binance_demo_run.stdout
    assert binance_demo_run.returncode == 0, out + binance_demo_run.stderr
    assert f"Summary (the in-process Binance sandbox ({binance_demo_run.market})" in out
    assert "orders: placed 2, filled 1, cancelled 1" in out, out
    assert "  errors: 0" in out and "  reconnects: 0" in out, out
    assert out.rstrip().endswith("Demo OK"), out


def test_binance_demo_counts_every_stream(binance_demo_run):
    """The Binance summary counts ticker, trades, book ticker, book and user data, all > 0."""
    line = next(line for line in binance_demo_run.stdout.splitlines()
                if line.startswith("  messages:"))
    counts = dict(re.findall(r"(\w+) (\d+)", line.split("messages:", 1)[1]))
    assert set(counts) == {"ticker", "trades", "book_ticker", "book", "user"}
    assert all(int(n) > 0 for n in counts.values()), line


def test_binance_demo_follows_the_orders_on_user_data(binance_demo_run):
    """The resting order is seen NEW then CANCELED, and the fill arrives, on the user stream."""
    out = binance_demo_run.stdout
    resting = re.search(r"resting buy accepted: order (\d+)", out).group(1)
    assert f"order {resting}: NEW" in out and f"order {resting}: CANCELED" in out, out
    assert re.search(r"fill: order \d+ \+0\.01 @ ", out), out


@pytest.mark.parametrize(("argv", "message"), [
    (["demo", "--market", "usdm"], "--market applies to --exchange binance only"),
    (["demo", "--exchange", "binance", "--live"], "--live is available for --exchange bitfinex"),
    (["demo", "--exchange", "kraken"], "invalid choice: 'kraken'"),
    (["demo", "--duration", "0"], "--duration: must be positive"),
    (["watch", "bitfinex", "ticker,bbo", "tBTCUSD"], "bitfinex has no channel 'bbo'; choose "
                                                     "from ticker, book, trades, candles"),
    (["watch", "bitfinex", "ticker", "tBTCUSD", "--market", "usdm"],
     "--market applies to binance only"),
    (["watch", "ftx", "ticker", "BTC-PERP"], "FTX closed in November 2022"),
    (["sandbox", "--exchange", "bitfinex", "ftx", "--port", "9000"],
     "--port needs a single --exchange"),
    (["sandbox", "--exchange", "mtgox"], "invalid choice: 'mtgox'"),
])
def test_demo_option_mismatches_are_usage_errors(argv, message, capsys):
    """Options that do not apply to the chosen exchange exit 2 with a one-line reason."""
    assert cli.main(argv) == cli.EXIT_USAGE
    assert message in capsys.readouterr().err


def test_demo_rejects_an_unknown_binance_market(capsys):
    """``--market`` accepts spot and usdm only (argparse exits 2)."""
    assert cli.main(["demo", "--exchange", "binance", "--market", "coinm"]) == cli.EXIT_USAGE
    assert "invalid choice" in capsys.readouterr().err


def test_no_subcommand_is_a_usage_error(capsys):
    """Without a subcommand the command prints its usage and exits 2."""
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: exchange-wss" in capsys.readouterr().err


def test_version_prints_the_package_version():
    """``exchange-wss --version`` prints the package's ``__version__`` and exits 0."""
    import exchange_wss
    result = subprocess.run([sys.executable, "-m", "exchange_wss", "--version"],
                            capture_output=True, text=True, timeout=60, env=_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"exchange-wss {exchange_wss.__version__}"


@pytest.mark.parametrize(("argv", "choices"), [
    ([], "{sandbox,watch,health,demo,record,replay,relay}"),
    (["demo"], "--exchange {bitfinex,binance,ftx}"),
    (["demo"], "--market {spot,usdm}"),
    (["watch"], "{bitfinex,binance,ftx} CHANNELS SYMBOL"),
    (["watch"], "--market {spot,usdm,coinm}"),
    (["sandbox"], "--exchange {bitfinex,binance,ftx}"),
])
def test_usage_lists_the_choices(argv, choices, capsys):
    """Each command's usage line lists the values its choice options accept."""
    assert cli.main([*argv, "--help"]) == cli.EXIT_OK
    usage = " ".join(capsys.readouterr().out.split())
    assert choices in usage


def test_the_cli_imports_neither_rich_nor_twisted_to_parse():
    """Importing the command line and answering --version loads neither rich nor Twisted
    (rich is an extra; --no-ui works without it)."""
    code = ("import sys; from exchange_wss.cli import main; main(['--version']); "
            "print('rich' in sys.modules, 'twisted' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=_env(), cwd=ROOT, timeout=60).stdout.split()
    assert out[-2:] == ["False", "False"]


def _without_rich(*argv: str) -> list:
    """A python command running exchange-wss with rich made unimportable."""
    code = ("import sys; sys.modules['rich'] = None; from exchange_wss.cli import main; "
            f"sys.exit(main({list(argv)!r}))")
    return [sys.executable, "-c", code]


def test_watch_no_ui_works_without_rich():
    """``watch --no-ui`` prints its lines on an installation without rich."""
    result = subprocess.run(_without_rich("watch", "bitfinex", "ticker", "tBTCUSD", "--sandbox",
                                          "--no-ui", "--duration", "2"),
                            capture_output=True, text=True, timeout=60, env=_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert " tBTCUSD ticker bid " in result.stdout


# -- closed pipes: `... | head -2` ---------------------------------------------------------
def _head_two(*argv: str) -> tuple:
    """Run exchange-wss with stdout into a pipe closed after two lines, as `| head -2`."""
    proc = subprocess.Popen([sys.executable, "-m", "exchange_wss", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.stdout.close()
    try:
        status = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return status, lines, proc.stderr.read().decode()


@pytest.mark.parametrize("argv", [
    ["watch", "bitfinex", "ticker,book,trades", "tBTCUSD", "--sandbox", "--no-ui"],
    ["watch", "ftx", "trades", "BTC-PERP", "--sandbox", "--json"],
    ["demo", "--duration", "30", "--no-ui"],
], ids=["watch", "watch-json", "demo"])
def test_a_closed_pipe_ends_quietly(argv):
    """`exchange-wss ... | head -2`: the command exits 0 soon after the reader left, and
    prints no traceback."""
    status, lines, err = _head_two(*argv)
    assert all(line.endswith(b"\n") for line in lines), lines
    assert status == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_the_shell_pipeline_to_head_exits_zero():
    """The command as a user types it, `watch ... --no-ui | head -2`, under pipefail."""
    command = (f"set -o pipefail; {sys.executable} -m exchange_wss watch bitfinex "
               f"ticker,book,trades tBTCUSD --sandbox --no-ui | head -2")
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=60, env=_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr


# -- watch, plain and JSON -------------------------------------------------------------------
@pytest.fixture(scope="module")
def watch_json() -> list:
    """Three seconds of `watch binance ticker,book,trades BTCUSDT --sandbox --json`, parsed."""
    import json
    result = subprocess.run([sys.executable, "-m", "exchange_wss", "watch", "binance",
                             "ticker,book,trades,book_ticker", "BTCUSDT", "--sandbox", "--json",
                             "--duration", "3"], capture_output=True, text=True, timeout=60,
                            env=_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_watch_json_has_one_object_per_event(watch_json):
    """Every JSON line is an object with a type and a time; tickers, trades and
    top-of-book changes of the symbol are among them."""
    assert all({"type", "time"} <= set(obj) for obj in watch_json)
    kinds = {obj["type"] for obj in watch_json}
    assert {"ticker", "trade", "book", "book_ticker", "connection", "health"} <= kinds
    book = next(obj for obj in watch_json if obj["type"] == "book")
    assert book["symbol"] == "BTCUSDT" and book["bid"] < book["ask"]
    assert book["mid"] == pytest.approx((book["bid"] + book["ask"]) / 2)


def test_watch_json_reports_each_stream_going_live(watch_json):
    """A health object says each subscribed stream went from pending to live."""
    live = {obj["stream"] for obj in watch_json if obj["type"] == "health"
            and obj["state"] == "live" and obj["was"] == "pending"}
    assert live == {"ticker BTCUSDT", "book BTCUSDT", "trades BTCUSDT", "book_ticker BTCUSDT"}


def test_watch_names_a_refused_stream_when_no_data_came():
    """`watch --duration` with a symbol the exchange refuses exits 1 quoting its refusal."""
    result = subprocess.run([sys.executable, "-m", "exchange_wss", "watch", "bitfinex", "ticker",
                             "tNOSUCHPAIR", "--sandbox", "--no-ui", "--duration", "2"],
                            capture_output=True, text=True, timeout=60, env=_env(), cwd=ROOT)
    assert result.returncode == 1
    assert "the exchange refused ticker tNOSUCHPAIR: ticker:tNOSUCHPAIR: symbol: invalid" in (
        result.stderr), result.stderr


@pytest.mark.parametrize(("venue", "channels", "symbol", "market"), [
    ("bitfinex", "ticker,book,trades,candles", "tBTCUSD", None),
    ("binance", "ticker,book,trades", "BTCUSDT", "usdm"),
    ("binance", "ticker,book,trades", "BTCUSD_PERP", "coinm"),
    ("ftx", "ticker,book,trades", "BTC-PERP", None),
])
def test_watch_plain_lines_per_venue(venue, channels, symbol, market):
    """`watch VENUE ... --sandbox --no-ui` prints ticker, trade and book lines of the symbol
    on every venue and market."""
    argv = ["watch", venue, channels, symbol, "--sandbox", "--no-ui", "--duration", "3"]
    if market:
        argv += ["--market", market]
    result = subprocess.run([sys.executable, "-m", "exchange_wss", *argv], capture_output=True,
                            text=True, timeout=60, env=_env(), cwd=ROOT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for kind in ("ticker bid", "trade ", "book bid"):
        assert f" {symbol} {kind}" in out, out[-2000:]
    assert re.search(rf" {re.escape(symbol)} book bid \S+ \(\S+\) ask \S+ \(\S+\) spread \S+ "
                     r"mid \S+", out)


class _Sandbox:
    """``exchange-wss sandbox`` in a subprocess, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "exchange_wss", "sandbox", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=_env(), cwd=ROOT)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_line(self, pattern: str, timeout: float = 30.0) -> re.Match:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r}; got {seen!r}") from None
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def sandbox_process():
    started = []

    def start(*args: str) -> _Sandbox:
        started.append(_Sandbox(*args))
        return started[-1]

    yield start
    for proc in started:
        proc.close()


def test_sandbox_prints_its_url(sandbox_process):
    """``exchange-wss sandbox`` prints a ws:// URL on 127.0.0.1 with the port it bound."""
    sandbox = sandbox_process()
    match = sandbox.wait_line(r"listening on (ws://127\.0\.0\.1:(\d+)/ws/2)")
    assert int(match.group(2)) > 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sandbox_stops_cleanly_on_signal(sandbox_process, signum):
    """SIGTERM or Ctrl-C (SIGINT) stops the sandbox and exits 0."""
    sandbox = sandbox_process()
    sandbox.wait_line(r"Press Ctrl-C to stop")
    sandbox.proc.send_signal(signum)
    assert sandbox.proc.wait(15) == 0
    sandbox.wait_line(r"sandbox stopped")


def test_sandbox_accepts_the_printed_credentials(sandbox_process):
    """A client authenticates with the --key/--secret the command printed."""
    from exchange_wss import WssClient
    from exchange_wss.models import ConnectionState
    from exchange_wss.testing import CallbackRecorder

    sandbox = sandbox_process("--key", "cli-key", "--secret", "cli-secret")
    url = sandbox.wait_line(r"listening on (\S+)").group(1)
    key = sandbox.wait_line(r"API key:\s+(\S+)").group(1)
    secret = sandbox.wait_line(r"API secret:\s+(\S+)").group(1)
    assert (key, secret) == ("cli-key", "cli-secret")
    events = CallbackRecorder()
    client = WssClient(key, secret, url=url, on_event=events)
    client.authenticate()
    client.start()
    try:
        events.wait_for(lambda e: isinstance(e, ConnectionState) and e.state == "authenticated")
    finally:
        client.stop()


def test_sandbox_serves_several_exchanges_with_their_credentials(sandbox_process):
    """`sandbox --exchange binance ftx` prints each URL and sandbox-only credentials, and a
    client logs in to the FTX one with them."""
    from exchange_wss import FtxWssClient
    from exchange_wss.sandbox import DEFAULT_BINANCE_KEY, DEFAULT_FTX_KEY
    from exchange_wss.testing import CallbackRecorder

    sandbox = sandbox_process("--exchange", "binance", "ftx", "--market", "usdm")
    sandbox.wait_line(r"Binance usdm sandbox listening on ws://127\.0\.0\.1:\d+")
    sandbox.wait_line(r"REST:\s+http://127\.0\.0\.1:\d+")
    assert sandbox.wait_line(r"API key:\s+(\S+)").group(1) == DEFAULT_BINANCE_KEY
    url = sandbox.wait_line(r"FTX-protocol sandbox listening on (\S+)").group(1)
    key = sandbox.wait_line(r"API key:\s+(\S+)").group(1)
    secret = sandbox.wait_line(r"API secret:\s+(\S+)").group(1)
    assert key == DEFAULT_FTX_KEY
    events, errors = CallbackRecorder(), CallbackRecorder()
    client = FtxWssClient(key, secret, url=url, on_event=events, on_error=errors)
    client.subscribe_to_fills(lambda fill: None)
    client.start()
    try:
        events.wait_for(lambda e: type(e).__name__ == "SubscriptionChanged"
                        and e.label == "fills" and e.state == "active")
        assert errors.snapshot() == []
    finally:
        client.stop()


def _console(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "exchange_wss", "sandbox", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=_env(), cwd=ROOT)


def _read_until(proc: subprocess.Popen, prefix: str) -> list:
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting {prefix!r}: {lines!r}")


def test_sandbox_console_injects_a_fault_by_its_python_name():
    """`exchange-wss sandbox` reads `drop-connections` (the Python API's drop_connections)
    on stdin and drops a connected client."""
    proc = _console()
    try:
        url = _read_until(proc, "Bitfinex v2 sandbox listening on")[-1].split()[-1]
        _read_until(proc, "Type a fault")
        from websockets.sync.client import connect
        with connect(url, close_timeout=1) as ws:
            ws.recv(timeout=5)  # the info event
            proc.stdin.write("drop-connections\n")
            proc.stdin.flush()
            assert _read_until(proc, "drop_connections")[-1].strip() == (
                "drop_connections() -> 1")
    finally:
        proc.terminate()
        proc.wait(10)


def test_sandbox_console_help_lists_every_fault_method():
    """`help` on the console of two sandboxes lists every public fault method of both, with
    its arguments, and which sandbox has it."""
    from exchange_wss.sandbox import BinanceFaults, Faults
    proc = _console("--exchange", "bitfinex", "binance")
    try:
        _read_until(proc, "Type a fault")
        proc.stdin.write("help\n")
        proc.stdin.flush()
        text = "".join(_read_until(proc, "  Names are the Python API's"))
    finally:
        proc.terminate()
        proc.wait(10)
    names = {n for cls in (Faults, BinanceFaults) for n in dir(cls)
             if not n.startswith("_") and callable(getattr(cls, n))}
    for name in names:
        assert f"  {name}" in text, name
    assert "stall [seconds]" in text and "send_info code [msg]" in text
    assert re.search(r"drop_connections .*\[bitfinex, binance\]", text)
    assert re.search(r"server_shutdown .*\[binance\]\n", text)


@pytest.mark.parametrize(("venue", "symbol"), [("ftx", "BTC-PERP"), ("bitfinex", "tBTCUSD")])
def test_watch_without_sandbox_connects_to_the_url_given(venue, symbol):
    """Without --sandbox, `watch` is the live path: it connects where --url says (here a
    sandbox this test runs, standing in for a live venue) and streams from it."""
    from exchange_wss.sandbox import BitfinexSandbox, FtxSandbox
    server = (FtxSandbox if venue == "ftx" else BitfinexSandbox)().start()
    try:
        result = subprocess.run([sys.executable, "-m", "exchange_wss", "watch", venue,
                                 "ticker,trades", symbol, "--url", server.url, "--no-ui",
                                 "--duration", "3"], capture_output=True, text=True,
                                timeout=60, env=_env(), cwd=ROOT)
    finally:
        server.stop()
    assert result.returncode == 0, result.stderr
    assert f"connecting to {server.url}" in result.stdout
    assert f" {symbol} ticker bid " in result.stdout and f" {symbol} trade " in result.stdout


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_watch_stops_cleanly_on_signal(signum):
    """Ctrl-C (SIGINT) or SIGTERM ends `watch --no-ui` with status 0 and no traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "exchange_wss", "watch", "bitfinex", "ticker",
                             "tBTCUSD", "--sandbox", "--no-ui"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    try:
        for line in proc.stdout:
            if " tBTCUSD ticker bid " in line:
                break
        proc.send_signal(signum)
        assert proc.wait(30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()

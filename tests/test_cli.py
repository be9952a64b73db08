"""The ``exchange-wss`` command line: the demo's scripted flow and the standalone sandbox."""

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


def test_demo_fails_clearly_without_a_ticker(monkeypatch, capsys):
    """When no ticker arrives within the duration, the demo exits 1 and says so."""
    monkeypatch.setattr(cli, "DEMO_SYMBOL", "tNOSUCHPAIR")
    assert cli.main(["demo", "--duration", "1.5", "--no-ui"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert "Demo FAILED: no tNOSUCHPAIR ticker arrived within 1.5s" in err


def test_demo_refuses_an_unknown_exchange(capsys):
    """``--exchange kraken`` exits 2 naming the exchanges it knows."""
    assert cli.main(["demo", "--exchange", "kraken"]) == cli.EXIT_USAGE
    assert "bitfinex, binance, ftx" in capsys.readouterr().err


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


@pytest.mark.parametrize("argv, message", [
    (["demo", "--market", "usdm"], "--market applies to --exchange binance only"),
    (["demo", "--exchange", "binance", "--live"], "--live is available for --exchange bitfinex"),
    (["demo", "--exchange", "kraken"], "unknown exchange 'kraken'"),
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


class _Sandbox:
    """``exchange-wss sandbox`` in a subprocess, its stdout read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "exchange_wss", "sandbox", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=_env(), cwd=ROOT)
        self.lines: "queue.Queue[str]" = queue.Queue()
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


class FakeFaults:
    """Records which fault methods the CLI called."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def record(*args):
            self.calls.append((name, args))
            return 2
        return record


@pytest.mark.parametrize("line, call", [
    ("drop", ("drop_connections", ())),
    ("info 20051", ("send_info", (20051,))),
    ("maintenance start", ("maintenance_start", ())),
    ("maintenance end", ("maintenance_end", ())),
    ("stall 5", ("stall", (5.0,))),
    ("stall", ("stall", (None,))),
    ("resume", ("resume", ())),
    ("malformed", ("malformed_frame", ())),
    ("corrupt-checksum", ("corrupt_next_checksum", ())),
    ("skip-seq", ("skip_sequence", ())),
    ("reject-handshake", ("reject_next_handshake", (429,))),
])
def test_fault_commands_map_to_sandbox_faults(line, call):
    """Each CLI fault command calls the matching sandbox fault."""
    from exchange_wss.cli import apply_fault_command
    faults = FakeFaults()
    apply_fault_command(faults, line)
    assert faults.calls == [call]


def test_unknown_fault_command_is_a_clear_error():
    """A typo names the command and points at `help`; nothing is injected."""
    from exchange_wss.cli import apply_fault_command
    faults = FakeFaults()
    with pytest.raises(ValueError, match="unknown fault 'dorp'"):
        apply_fault_command(faults, "dorp")
    assert faults.calls == []


def test_sandbox_command_injects_a_fault_typed_on_stdin():
    """`exchange-wss sandbox` reads `drop` on stdin and drops a connected client."""
    proc = subprocess.Popen([sys.executable, "-m", "exchange_wss", "sandbox"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = None
        for line in proc.stdout:
            if "listening on" in line:
                url = line.split()[-1]
                break
        from websockets.sync.client import connect
        with connect(url, close_timeout=1) as ws:
            ws.recv(timeout=5)  # the info event
            proc.stdin.write("drop\n")
            proc.stdin.flush()
            for line in proc.stdout:
                if line.startswith("dropped"):
                    assert line.strip() == "dropped 1 connection(s)"
                    break
    finally:
        proc.terminate()
        proc.wait(10)

"""The sandbox's fault console derives its commands from the fault objects' public methods
(one set of names with the Python API), and the shared fault base works on every sandbox."""

from __future__ import annotations

import json
import re

import pytest

from exchange_wss.cli.faults_console import apply_fault_command, fault_commands, help_text
from exchange_wss.sandbox import BinanceFaults, Faults, FtxFaults


class Recorder:
    """A small fault object of our own: its methods record how they were called."""

    def __init__(self) -> None:
        self.calls: list = []

    def drop_connections(self) -> int:
        """Abort every open connection; returns how many."""
        self.calls.append(("drop_connections",))
        return 2

    def stall(self, seconds: float | None = None) -> None:
        """Send nothing until resume."""
        self.calls.append(("stall", seconds))

    def send_info(self, code: int, msg: str | None = None) -> None:
        """Send an info event."""
        self.calls.append(("send_info", code, msg))

    def _private(self) -> None:
        raise AssertionError("not a command")


@pytest.mark.parametrize("cls", [Faults, BinanceFaults, FtxFaults])
def test_every_public_fault_method_is_a_command(cls):
    """Each sandbox's console commands are exactly its faults' public methods, same names."""
    faults = cls(sandbox=None)
    public = {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}
    assert set(fault_commands(faults)) == public


def test_usage_comes_from_the_signature():
    """Required arguments are bare, optional ones bracketed, as in the method's signature."""
    commands = fault_commands(Faults(sandbox=None))
    assert commands["stall"].usage == "stall [seconds]"
    assert commands["send_info"].usage == "send_info code [msg]"
    assert commands["reject_next_handshake"].usage == "reject_next_handshake [status]"
    assert commands["drop_connections"].summary.startswith("Abort every open connection")


@pytest.mark.parametrize(("line", "call"), [
    ("drop_connections", ("drop_connections",)),
    ("drop-connections", ("drop_connections",)),
    ("DROP_CONNECTIONS", ("drop_connections",)),
    ("stall", ("stall", None)),
    ("stall 5", ("stall", 5.0)),
    ("send_info 20051", ("send_info", 20051, None)),
    ("send-info 20060 maintenance", ("send_info", 20060, "maintenance")),
])
def test_a_line_calls_the_method_with_converted_arguments(line, call):
    """The command is the method name ('-' for '_'), its words converted by the annotations."""
    faults = Recorder()
    apply_fault_command(faults, line)
    assert faults.calls == [call]
    assert type(call[1] if len(call) > 1 else None) is type(faults.calls[0][1]
                                                           if len(call) > 1 else None)


def test_the_reply_names_the_call_and_its_result():
    """The console says what it called and what the method returned."""
    assert apply_fault_command(Recorder(), "drop_connections") == "drop_connections() -> 2"
    assert apply_fault_command(Recorder(), "stall 1.5") == "stall(1.5): done"


@pytest.mark.parametrize(("line", "message"), [
    ("stall soon", "seconds must be a number, not 'soon'"),
    ("send_info", "usage: send_info code [msg]"),
    ("send_info 1 2 3", "usage: send_info code [msg]"),
    ("drop", "unknown fault 'drop' (did you mean drop_connections?)"),
    ("_private", "unknown fault '_private'"),
])
def test_bad_lines_are_clear_errors_and_inject_nothing(line, message):
    """A typo or a bad argument raises with the reason (and the likely name); nothing is called."""
    faults = Recorder()
    with pytest.raises(ValueError, match=re.escape(message)):
        apply_fault_command(faults, line)
    assert faults.calls == []


def test_with_several_sandboxes_a_command_goes_to_each_that_has_it():
    """Unprefixed, a command runs on every sandbox having the method; prefixed, on one."""
    a, b = Recorder(), Recorder()
    reply = apply_fault_command({"bitfinex": a, "ftx": b}, "stall 2")
    assert a.calls == b.calls == [("stall", 2.0)]
    assert reply == "bitfinex: stall(2.0): done\nftx: stall(2.0): done"
    apply_fault_command({"bitfinex": a, "ftx": b}, "ftx drop_connections")
    assert a.calls == [("stall", 2.0)] and b.calls[-1] == ("drop_connections",)


def test_a_bad_argument_injects_nothing_on_any_sandbox():
    """Arguments are checked for every sandbox before any fault runs."""
    a, b = Recorder(), Recorder()
    with pytest.raises(ValueError, match="must be an integer"):
        apply_fault_command({"bitfinex": a, "ftx": b}, "send_info twenty")
    assert a.calls == b.calls == []


def test_help_lists_commands_and_where_they_exist():
    """help lists each command's usage and summary and, with several sandboxes, which have it."""
    text = help_text({"bitfinex": Faults(None), "binance": BinanceFaults(None)})
    assert "stall [seconds]" in text
    line = next(line for line in text.splitlines() if line.strip().startswith("expire_listen_key"))
    assert line.endswith("[binance]")
    assert "help" in text and "Prefix a command with bitfinex or binance" in text


# -- the shared base, on real sandboxes ------------------------------------------------------------
def _shared_faults(exchange: str, sandbox):
    """A fault injector made only of the shared classes, bound to a real sandbox."""
    from exchange_wss.sandbox._faults_base import ChecksumFaults, FaultsBase, HandshakeFaults
    bases = {"bitfinex": (FaultsBase, HandshakeFaults, ChecksumFaults),
             "binance": (FaultsBase, HandshakeFaults), "ftx": (FaultsBase, ChecksumFaults)}
    # As the base's docstring says each exchange's injector would set it.
    broken = {"bitfinex": '{"event":"info","version":2,', "binance": b'{"e":"trade","E":',
              "ftx": '{"channel":"orderbook","type":'}
    return type("SharedFaults", bases[exchange], {"malformed_text": broken[exchange]})(sandbox)


@pytest.fixture(params=["bitfinex", "binance", "ftx"])
def sandbox_and_url(request):
    """A started sandbox of each exchange and a URL that streams from it."""
    from exchange_wss import sandbox as sb
    if request.param == "bitfinex":
        sandbox = sb.BitfinexSandbox().start()
        url = sandbox.url
    elif request.param == "binance":
        sandbox = sb.BinanceSandbox().start()
        url = sandbox.stream_url + "/ws/btcusdt@trade"
    else:
        sandbox = sb.FtxSandbox().start()
        url = sandbox.url
    try:
        yield request.param, sandbox, url
    finally:
        sandbox.stop()


def test_shared_drop_and_malformed_frame_work_on_every_sandbox(sandbox_and_url):
    """FaultsBase.malformed_frame reaches a connected client as a frame that is not JSON, and
    drop_connections counts and aborts it, on Bitfinex, Binance and FTX alike."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
    exchange, sandbox, url = sandbox_and_url
    faults = _shared_faults(exchange, sandbox)
    with connect(url, close_timeout=1) as ws:
        if exchange == "bitfinex":
            ws.recv(timeout=10)  # the info greeting: the session is registered
        else:
            ws.send(json.dumps({"op": "ping"}) if exchange == "ftx" else "{}")
            ws.recv(timeout=10)
        faults.malformed_frame()
        frames = []
        while True:
            frame = ws.recv(timeout=10)
            try:
                json.loads(frame)
            except ValueError:
                break
            frames.append(frame)
        assert faults.drop_connections() == 1

        def read_until_closed():
            while True:
                ws.recv(timeout=10)

        with pytest.raises(ConnectionClosed):
            read_until_closed()

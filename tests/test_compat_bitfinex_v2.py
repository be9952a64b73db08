"""exchange_wss.compat.bitfinex_v2: bitfinex-v2's documented examples run unchanged on it, and
the real bitfinex-v2 package works against the sandbox.

Each example runs in a process of its own, as a script would: the seed's text,
verbatim (one whitespace repair, see ``_runnable``), after a preamble that defines what
the docs leave to the reader (``key``, ``secret``, ``WssClient``, and ``datetime`` which
the cancel example
uses unimported); the endpoint comes from ``$EXCHANGE_WSS_BITFINEX_URL``.
"""

import ast
import importlib.util
import os
import pathlib
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from exchange_wss.compat import bitfinex_v2
from exchange_wss.errors import LocalProtocolError
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox

pytestmark = pytest.mark.timeout(180)

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "bitfinex_v2"
PREAMBLE = textwrap.dedent("""\
    import os
    from datetime import datetime
    from exchange_wss.compat.bitfinex_v2 import WssClient
    key, secret = os.environ["SANDBOX_KEY"], os.environ["SANDBOX_SECRET"]
    """)
DEADLINE = 30.0


def seed_examples():
    """``{method: example code}`` from the installed bitfinex-v2's WssClient docstrings."""
    spec = importlib.util.find_spec("bitfinex.websockets.client")
    if spec is None or spec.origin is None:
        return {}
    tree = ast.parse(pathlib.Path(spec.origin).read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "WssClient")
    out = {}
    for fn in cls.body:
        doc = ast.get_docstring(fn) if isinstance(fn, ast.FunctionDef) else None
        lines = (doc or "").splitlines()
        # The literal block after a line ending "::" (not a ".. Note::" directive).
        marks = [i for i, line in enumerate(lines)
                 if line.rstrip().endswith("::") and not line.strip().startswith("..")]
        if not marks:
            continue
        start = marks[0]
        indent = len(lines[start]) - len(lines[start].lstrip())
        body = []
        for line in lines[start + 1:]:
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
        out[fn.name] = _runnable(textwrap.dedent("\n".join(body)).strip() + "\n")
    return out


def _runnable(code: str) -> str:
    """The example as a reader runs it. One docstring (``authenticate``) has a stray
    leading space on its top-level lines, which Python refuses; that whitespace alone
    is repaired, nothing else."""
    try:
        compile(code, "example", "exec")
        return code
    except SyntaxError:
        return "\n".join(line[1:] if (len(line) - len(line.lstrip())) % 2 else line
                         for line in code.splitlines()) + "\n"


EXAMPLES = seed_examples()


@pytest.fixture(scope="module")
def sandbox():
    # A sandbox of its own: bitfinex-v2's nonces are seconds, smaller than the µs
    # nonces other tests leave behind for the same key.
    sb = BitfinexSandbox(tick_interval=0.1).start()
    yield sb
    sb.stop()


class Script:
    """A script running in its own process, its output collected as it comes."""

    def __init__(self, code: str, sandbox, tmp_path):
        path = tmp_path / "example.py"
        path.write_text(code)
        env = dict(os.environ, EXCHANGE_WSS_BITFINEX_URL=sandbox.url, SANDBOX_KEY=DEFAULT_KEY,
                   SANDBOX_SECRET=DEFAULT_SECRET, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.lines = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = DEADLINE) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line matching {pattern!r}; output:\n" +
                             "\n".join(self.lines[-30:]))

    def interrupt(self, timeout: float = 20.0) -> int:
        assert self.proc.poll() is None, \
            "the script ended before Ctrl-C: start() kept nothing alive"
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def new_requests(sandbox, since, op, timeout=DEADLINE):
    """Chan-0 requests of kind ``op`` the sandbox received after the first ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [p for o, p in sandbox.requests_received()[since:] if o == op]
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"no {op!r} request; got {sandbox.requests_received()[since:]}")


#: What each documented example must visibly do: a printed frame, or requests at the sandbox.
FRAME = r"^\[\d+, \["
EXPECT = {
    "authenticate": ("line", r"^\[0, 'ws', "),
    "subscribe_to_ticker": ("line", FRAME),
    "subscribe_to_trades": ("line", FRAME),
    "subscribe_to_orderbook": ("line", FRAME),
    "subscribe_to_candles": ("line", FRAME),
    "new_order_op": ("request", "ox_multi"),
    "new_order": ("request", "on"),
    "multi_order": ("request", "ox_multi"),
    "cancel_order": ("request", "oc"),
    "cancel_order_cid": ("request", "oc"),
    "calc": ("request", "calc"),
}


def test_every_documented_method_example_was_found():
    """The seed's docstrings hold the eleven examples this file runs."""
    if not EXAMPLES:
        pytest.skip("bitfinex-v2 is not installed")
    assert set(EXAMPLES) == set(EXPECT)


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_documented_example_runs_unchanged(name, sandbox, tmp_path):
    """The example, verbatim, does what its docs say and keeps running until Ctrl-C."""
    if name not in EXAMPLES:
        pytest.skip("bitfinex-v2 is not installed")
    since = len(sandbox.requests_received())
    script = Script(PREAMBLE + EXAMPLES[name], sandbox, tmp_path)
    try:
        kind, what = EXPECT[name]
        if kind == "line":
            script.wait_line(what)
        else:
            got = new_requests(sandbox, since, what)
            check_request(name, got, sandbox)
        time.sleep(0.5)  # still alive a moment later: start() holds the process
        assert script.interrupt() == 0, "\n".join(script.lines[-20:])
    finally:
        script.kill()
    assert not any("Traceback" in line for line in script.lines), "\n".join(script.lines)


def check_request(name, got, sandbox):
    if name == "new_order":
        assert got[0]["type"] == "LIMIT" and got[0]["symbol"] == "tBTCUSD"
        assert any(o.type == "LIMIT" and o.price == 1000.0 for o in sandbox.orders())
    elif name == "multi_order":
        assert [op for op, _ in got[0]] == ["oc", "on"]
        assert got[0][0][1]["cid"] == 153925861909296
    elif name == "cancel_order":
        assert got == [{"id": 1234}]
    elif name == "cancel_order_cid":
        assert got[0] == {"cid": 1538911910035, "cid_date": "2018-10-07"}
    elif name == "calc":
        deadline = time.monotonic() + DEADLINE
        while len(got) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
            got = [p for o, p in sandbox.requests_received() if o == "calc"][-4:]
        names = [item[0] for batch in got for item in batch]
        assert "margin_sym_tBTCUSD" in names and "funding_sym_fUSD" in names
        assert "position_tBTCUSD" in names and "wallet_exachange_USD" in names


def test_the_quickstart_streams_candles_and_places_a_margin_order(sandbox, tmp_path):
    """The documented quickstart: candles print, and 5 s later its LIMIT (margin) order is
    accepted."""
    code = PREAMBLE + (FIXTURES / "quickstart.py").read_text()
    script = Script(code, sandbox, tmp_path)
    try:
        script.wait_line(FRAME)
        note = script.wait_line(r"'on-req'", timeout=DEADLINE + 5)
        assert "'SUCCESS'" in note and "'LIMIT'" in note
        assert script.interrupt() == 0
    finally:
        script.kill()


def test_stop_from_a_callback_ends_the_script(sandbox, tmp_path):
    """A script ending with start() exits by itself once a callback calls stop()."""
    code = PREAMBLE + textwrap.dedent("""\
        client = WssClient(key, secret)
        def on_ticker(message):
            print("tick", message)
            client.stop()
        client.subscribe_to_ticker("BTCUSD", on_ticker)
        client.start()
        """)
    script = Script(code, sandbox, tmp_path)
    try:
        assert script.proc.wait(DEADLINE) == 0
        assert any(line.startswith("tick [") for line in script.lines)
    finally:
        script.kill()


def test_the_real_bitfinex_v2_package_trades_on_the_sandbox(sandbox, tmp_path):
    """bitfinex-v2 itself authenticates (decimal-text nonce), gets a ticker and places an order."""
    if importlib.util.find_spec("bitfinex.websockets.client") is None:
        pytest.skip("bitfinex-v2 is not installed")
    code = textwrap.dedent("""\
        import os, sys, threading
        from bitfinex.websockets.client import WssClient
        client = WssClient(os.environ["SANDBOX_KEY"], os.environ["SANDBOX_SECRET"])
        client.STREAM_URL = os.environ["EXCHANGE_WSS_BITFINEX_URL"]
        authed, ticked, placed = threading.Event(), threading.Event(), threading.Event()
        def on_auth(msg):
            if isinstance(msg, dict) and msg.get("event") == "auth":
                print("AUTH", msg.get("status"), msg.get("msg"))
                if msg.get("status") == "OK":
                    authed.set()
            elif isinstance(msg, list) and msg[1] == "n" and msg[2][1] == "on-req":
                print("ORDER", msg[2][6], msg[2][7])
                placed.set()
        def on_ticker(msg):
            if isinstance(msg, list) and msg[1] != "hb":
                ticked.set()
        client.authenticate(on_auth)
        client.subscribe_to_ticker("BTCUSD", on_ticker)
        client.start()
        ok = authed.wait(20) and ticked.wait(20)
        print("READY", ok)
        client.new_order(order_type="EXCHANGE LIMIT", symbol="BTCUSD", amount="0.01",
                         price="1000")
        ok = ok and placed.wait(20)
        print("RESULT", ok)
        os._exit(0 if ok else 1)
        """)
    script = Script(code, sandbox, tmp_path)
    try:
        assert script.proc.wait(60) == 0, "\n".join(script.lines)
    finally:
        script.kill()
    assert "AUTH OK None" in script.lines
    assert any(line.startswith("ORDER SUCCESS") for line in script.lines)


def test_a_nonce_multiplier_past_the_cap_is_refused_at_the_call():
    """A multiplier whose nonces Bitfinex would refuse fails at construction, with the limit."""
    with pytest.raises(LocalProtocolError, match="cap"):
        bitfinex_v2.WssClient("k", "s", nonce_multiplier=1e7)


def test_nonces_are_decimal_seconds_times_the_multiplier():
    """The nonce is bitfinex-v2's: seconds x multiplier as decimal text, always increasing."""
    client = bitfinex_v2.WssClient("nonce-key", "s", nonce_multiplier=1000.0)
    first, second = client._nonce(), client._nonce()
    assert re.fullmatch(r"\d+\.\d+", first)
    assert abs(float(first) - time.time() * 1000) < 10_000
    assert float(second) > float(first)


def test_seed_timeframes_and_string_ids_are_accepted():
    """7D (today's 1W) and ids as decimal text pass; an unknown timeframe is a ValueError."""
    client = bitfinex_v2.WssClient("k", "s")
    assert str(client.subscribe_to_candles("BTCUSD", "7D", print)) == "candles:trade:1W:tBTCUSD"
    with pytest.raises(ValueError, match="timeframe must be any of"):
        client.subscribe_to_candles("BTCUSD", "2h", print)
    op = client.new_order_op("LIMIT", "BTCUSD", "0.1", "1000")
    assert op[0] == "on" and op["cid"] == op[1]["cid"]
    assert bitfinex_v2.cid_to_date(op["cid"]) == time.strftime("%Y-%m-%d", time.gmtime())
    client.client.stop()

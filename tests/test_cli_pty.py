"""The live views in a real pseudo-terminal: ``exchange-wss watch`` and ``demo`` run under
pexpect, their output rendered by pyte (a terminal emulator) at 80x24 and 160x48, and the
screen read as a person would."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect")
pyte = pytest.importorskip("pyte")
pytest.importorskip("rich")

ROOT = Path(__file__).resolve().parents[1]

#: A book level row: "<bid> │ <ask>" with the sizes and bars around them.
LEVEL = re.compile(r"(\d+(?:\.\d+)?) │ (\d+(?:\.\d+)?)")


class Terminal:
    """A command in a pseudo-terminal of a given size, its screen kept by pyte."""

    def __init__(self, argv: list[str], cols: int, rows: int, code: str = "") -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color",
               "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        command = ["-c", code] if code else ["-m", "exchange_wss", *argv]
        self.child = pexpect.spawn(sys.executable, command, dimensions=(rows, cols), env=env,
                                   cwd=str(ROOT))
        self.raw = b""

    def _read(self, timeout: float) -> bool:
        """Feed what arrives within ``timeout``; False once the output is quiet or closed."""
        try:
            data = self.child.read_nonblocking(65536, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF):
            return False
        self.raw += data
        self.stream.feed(data)
        return True

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_screen(self, predicate: Callable[[str], bool], timeout: float = 40.0) -> str:
        """Read until the screen, between two redraws (a quiet 0.1 s), satisfies
        ``predicate``; return that screen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while self._read(0.1):       # drain to a quiet gap: a whole frame is on screen
                if time.monotonic() > deadline:
                    break
            text = self.text()
            if predicate(text):
                return text
            if not self.child.isalive():
                break
            self._read(0.25)
        raise AssertionError(f"the screen never matched; it shows:\n{self.text()}")

    def finish(self, timeout: float = 30.0) -> int:
        """Wait for the command to exit (reading its output); its exit status."""
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        self.child.close()
        return self.child.exitstatus

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)


@pytest.fixture
def terminal():
    opened = []

    def open_terminal(argv: list[str], cols: int, rows: int, code: str = "") -> Terminal:
        opened.append(Terminal(argv, cols, rows, code))
        return opened[-1]

    yield open_terminal
    for term in opened:
        term.close()


def _watch_ready(text: str) -> bool:
    """Every panel has data: ticker and book and trades live, levels on screen."""
    return (len(LEVEL.findall(text)) >= 5 and "trades UTC live" in text
            and re.search(r"book P0 tBTCUSD live age", text) is not None
            and re.search(r"tBTCUSD live age", text) is not None)


@pytest.mark.parametrize(("cols", "rows", "levels"), [(80, 24, 10), (160, 48, 25)],
                         ids=["80x24", "160x48"])
def test_watch_screen_shows_the_market_whole(terminal, cols, rows, levels):
    """`watch bitfinex ticker,book,trades tBTCUSD --sandbox` at 80x24 and 160x48: the screen
    has the bid, ask, spread, mid, the book levels that fit and an age in each panel's title,
    and every price is whole (five digits, no ellipsis)."""
    term = terminal(["watch", "bitfinex", "ticker,book,trades", "tBTCUSD", "--sandbox"], cols,
                    rows)
    text = term.wait_screen(_watch_ready)
    assert re.search(r"│ bid \d{5}\s+ask \d{5}\s+last \d{5}", text), text
    assert re.search(r"spread \d+ \(\d+\.\dbp\)\s+mid \d{5}\.5", text), text
    levels_shown = LEVEL.findall(text)
    assert len(levels_shown) == levels, text
    for bid, ask in levels_shown:  # tBTCUSD trades near 60000: a cut price has fewer digits
        assert 10_000 <= float(bid) < float(ask) < 1_000_000, (bid, ask)
    for title in (r"tBTCUSD live age \d+\.\ds", r"book P0 tBTCUSD live age \d+\.\ds",
                  r"trades UTC live age \d+\.\ds"):
        assert re.search(title, text), title
    assert re.search(r"\d\d:\d\d:\d\d(\.\d{3})?  \d{5}  [+-]\d", text), "trades have times"
    assert not re.search(r"\d…|…\d", text), text
    assert re.search(r"public-0 up", text)


def test_watch_wide_screen_has_health_rows_and_ping(terminal):
    """At 160x48 each stream has a row with state, age and rate, and the connection its ping."""
    term = terminal(["watch", "bitfinex", "ticker,book,trades", "tBTCUSD", "--sandbox"], 160, 48)
    text = term.wait_screen(lambda t: _watch_ready(t) and re.search(r"ping \d+\.\dms", t))
    for stream in ("ticker tBTCUSD", "book tBTCUSD", "trades tBTCUSD"):
        assert re.search(rf"{stream}\s+live\s+\d+\.\ds\s+\d+(\.\d)?/s", text), stream
    assert re.search(r"public-0\s+up\s+\S+\s+\d+\.\dms", text), text


def test_watch_exits_cleanly_on_ctrl_c(terminal):
    """Ctrl-C ends `watch`: exit status 0, no traceback, the terminal's screen restored."""
    term = terminal(["watch", "bitfinex", "ticker,book", "tBTCUSD", "--sandbox"], 80, 24)
    term.wait_screen(lambda t: "book P0 tBTCUSD live" in t)
    term.child.sendintr()
    assert term.finish() == 0
    assert b"Traceback" not in term.raw
    assert term.raw.rstrip().endswith(b"\x1b[?1049l") or b"\x1b[?1049l" in term.raw[-200:]


@pytest.mark.parametrize(("argv", "symbol"), [
    (["watch", "binance", "ticker,book,trades", "BTCUSDT", "--sandbox", "--market", "usdm"],
     "BTCUSDT"),
    (["watch", "ftx", "ticker,book,trades", "BTC-PERP", "--sandbox"], "BTC-PERP"),
], ids=["binance-usdm", "ftx"])
def test_watch_other_venues_at_80x24(terminal, argv, symbol):
    """Binance USDT-M and FTX on their sandboxes fill the same 80x24 screen, prices whole."""
    term = terminal(argv, 80, 24)
    text = term.wait_screen(lambda t: len(LEVEL.findall(t)) >= 5 and "trades UTC live" in t
                            and f"{symbol} live age" in t)
    for bid, ask in LEVEL.findall(text):
        assert 1_000 <= float(bid) < float(ask), (bid, ask)
    assert "spread " in text and not re.search(r"\d…|…\d", text)


def test_demo_at_80x24_shows_every_panel_with_its_age(terminal):
    """The demo at 80x24: ticker, book, trades, its orders and fills, each titled with an age,
    an event log that keeps moving, and the summary once it ends."""
    term = terminal(["demo", "--duration", "8"], 80, 24)
    # The client samples its streams' health 4 times a second: the flow may finish
    # (about a second) before the first sample after the first data says "live".
    first = term.wait_screen(lambda t: "my fills UTC age" in t and "EXECUTED" in t
                             and "book P0 tBTCUSD live age" in t)
    for title in (r"tBTCUSD live age", r"book P0 tBTCUSD live age", r"trades UTC live age",
                  r"my orders age \d+\.\ds", r"my fills UTC age \d+\.\ds"):
        assert re.search(title, first), (title, first)
    assert "CANCELED" in first and re.search(r"\+0\.01 @ \d{5}", first)
    assert not re.search(r"\d…|…\d", first), first

    def log(t):
        return [line for line in t.splitlines() if re.search(r"│ \[\s*\d+\.\ds\]", line)]

    later = term.wait_screen(lambda t: log(t) and log(t)[-1] != log(first)[-1])
    assert log(later) != log(first), "the event log kept moving"
    assert term.finish() == 0
    assert b"Demo OK" in term.raw


def test_demo_starts_with_its_panels_not_a_blank_screen(terminal):
    """The first screen the demo draws already has its panels, waiting for data."""
    term = terminal(["demo", "--duration", "5"], 80, 24)
    text = term.wait_screen(lambda t: "tBTCUSD" in t, timeout=30)
    assert "book P0 tBTCUSD" in text and "trades UTC" in text and "my orders" in text
    term.finish()


def test_without_rich_the_live_view_says_how_to_install_it(terminal):
    """In a terminal, without rich, `watch` exits 1 with the pip command and the --no-ui way."""
    code = ("import sys; sys.modules['rich'] = None; from exchange_wss.cli import main; "
            "sys.exit(main(['watch', 'bitfinex', 'ticker', 'tBTCUSD', '--sandbox']))")
    term = terminal([], 80, 24, code=code)
    assert term.finish() == 1
    out = term.raw.decode()
    assert "pip install 'exchange_wss[cli]'" in out and "--no-ui" in out
    assert "Traceback" not in out

"""What a user's type checker sees of the installed package (issue 13).

mypy runs as a user's would: from a directory of its own (neither this checkout
nor its ``pyproject.toml`` on the path, so the package is found as installed, by
``pip install -e .`` or a wheel), ``--strict``, on a copy of a file of
``tests/typing/``. One mypy run per file (the two at once), shared by the tests;
its cache is in a temporary directory, so each run starts cold as a fresh venv's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TYPING = HERE / "typing"

pytest.importorskip("mypy", reason="mypy is in the test extra")

pytestmark = pytest.mark.static

# `path:line: error: message  [code]`
_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<msg>.*?)\s+\[(?P<code>[a-z-]+)\]$")
# `# E: [code] "text"` (the text is optional)
_EXPECT = re.compile(r'#\s*E:\s*\[(?P<code>[a-z-]+)\](?:\s+"(?P<text>[^"]*)")?')


@dataclass(frozen=True)
class MypyRun:
    """One mypy run over one user file: its exit code, output and errors by line."""

    returncode: int
    output: str
    errors: dict[int, list[tuple[str, str]]]   # line -> [(code, message)]


def _start_mypy(source: Path, workdir: Path) -> subprocess.Popen[str]:
    """Start ``mypy --strict`` on a copy of ``source`` in ``workdir``, as a user would run it."""
    shutil.copy(source, workdir / source.name)
    return subprocess.Popen(
        [sys.executable, "-m", "mypy", "--strict", "--no-pretty", "--show-error-codes",
         "--no-error-summary", "--no-color-output", "--cache-dir", str(workdir / ".mypy_cache"),
         source.name],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen[str], source: Path) -> MypyRun:
    """Wait for a mypy run; its errors on ``source`` by line."""
    output, _ = process.communicate(timeout=600)
    errors: dict[int, list[tuple[str, str]]] = {}
    for line in output.splitlines():
        match = _ERROR.match(line)
        if match and Path(match["file"]).name == source.name:
            errors.setdefault(int(match["line"]), []).append((match["code"], match["msg"]))
    return MypyRun(process.returncode, output, errors)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, MypyRun]:
    """Both files checked at once (two processes: the machine has two cores), each from
    a directory outside the checkout, so mypy finds the package where pip put it."""
    started = {}
    for name in ("user_code.py", "user_mistakes.py"):
        workdir = tmp_path_factory.mktemp(name.removesuffix(".py"))
        assert not (workdir / "exchange_wss").exists()
        started[name] = _start_mypy(TYPING / name, workdir)
    return {name: _finish(process, TYPING / name) for name, process in started.items()}


@pytest.fixture(scope="module")
def user_code(runs: dict[str, MypyRun]) -> MypyRun:
    """mypy's verdict on tests/typing/user_code.py."""
    return runs["user_code.py"]


@pytest.fixture(scope="module")
def user_mistakes(runs: dict[str, MypyRun]) -> MypyRun:
    """mypy's verdict on tests/typing/user_mistakes.py."""
    return runs["user_mistakes.py"]


def _expectations() -> dict[int, list[tuple[str, str]]]:
    """The ``# E:`` comments of user_mistakes.py: line -> [(code, text)]."""
    expected: dict[int, list[tuple[str, str]]] = {}
    lines = (TYPING / "user_mistakes.py").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        for match in _EXPECT.finditer(line):
            expected.setdefault(number, []).append((match["code"], match["text"] or ""))
    return expected


def test_mypy_finds_the_installed_package(user_code):
    """From a directory of its own, mypy finds exchange_wss (py.typed, the editable install)."""
    assert "Cannot find implementation or library stub" not in user_code.output, \
        user_code.output
    assert "missing library stubs or py.typed" not in user_code.output, user_code.output


def test_user_code_type_checks_strictly(user_code):
    """The user-style file passes ``mypy --strict`` with no error: every assert_type holds."""
    assert user_code.returncode == 0, user_code.output
    assert user_code.errors == {}


def test_user_code_covers_every_client_and_model():
    """The user file subscribes on all three clients and asserts each callback's model."""
    text = (TYPING / "user_code.py").read_text(encoding="utf-8")
    for name in ("WssClient(", "BinanceWssClient(", "FtxWssClient(", "connect(", "aio.connect(",
                 "submit_order(", ".result()", "callback_recorder", "bitfinex_client"):
        assert name in text, name
    for model in ("Ticker", "FundingTicker", "Trade", "FundingTrade", "TradesSnapshot",
                  "BookSnapshot", "BookUpdate", "RawBookUpdate", "BookDiff", "BookTicker",
                  "Candle", "CandlesSnapshot", "DerivativesStatus", "Liquidation",
                  "LiquidationOrder", "MarkPrice", "MiniTicker", "Order", "Fill", "Wallet",
                  "BalanceUpdate", "Position", "Depth"):
        assert re.search(rf"assert_type\([^)]*\b{model}\b", text), model


def test_every_expected_mistake_is_reported(user_mistakes):
    """Each ``# E: [code] "text"`` line of user_mistakes.py gets that error from mypy."""
    expected = _expectations()
    assert len(expected) >= 25
    missing = []
    for line, wanted in sorted(expected.items()):
        got = user_mistakes.errors.get(line, [])
        for code, text in wanted:
            if not any(code == c and text in m for c, m in got):
                missing.append(f"line {line}: [{code}] {text!r}; mypy said {got!r}")
    assert not missing, "\n".join(missing) + "\n\n" + user_mistakes.output


def test_no_error_where_none_is_expected(user_mistakes):
    """mypy reports nothing on the lines of user_mistakes.py that carry no ``# E:``."""
    expected = _expectations()
    extra = {line: got for line, got in user_mistakes.errors.items() if line not in expected}
    assert not extra, extra
    assert user_mistakes.returncode == 1, user_mistakes.output

"""ruff and mypy stay clean (issue 13): both run here, with the settings of pyproject.toml.

Each tool runs once for this module (module-scoped fixtures; mypy's cache in a
temporary directory, so a fresh checkout pays one full run) and the tests read
its findings: a test fails only on findings, and says which. A tool that is not
installed skips (both are in the ``test`` extra).

Two scopes. The typed API (the package without ``exchange_wss/sandbox``,
``cli``, ``recording`` and ``redis``) is clean now. The whole repository (those
four, ``tests/``, ``examples/`` and ``benchmarks/`` too) is clean once the work
on those parts (branch ``typing-sb``) is merged: until then the ``*_everywhere``
tests list what is left.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.static

#: The parts another branch (typing-sb) makes clean; everything else is checked now.
ELSEWHERE = ("exchange_wss/sandbox/", "exchange_wss/cli/", "exchange_wss/recording/",
             "exchange_wss/redis/", "tests/", "examples/", "benchmarks/")
#: What this branch keeps clean itself: the typing proofs are in tests/ but belong here.
OWN_TESTS = ("tests/typing/", "tests/test_typing.py", "tests/test_static_checks.py")


def _own(path: str) -> bool:
    """Whether ``path`` (relative to the checkout) is in the typed-API scope."""
    return path.startswith(OWN_TESTS) or not path.startswith(ELSEWHERE)


@dataclass(frozen=True)
class Findings:
    """One tool's findings as ``(path relative to the checkout, text)``, and its raw output."""

    items: list[tuple[str, str]]
    output: str

    def where(self, keep: bool | None = None) -> list[str]:
        """The findings as text; ``keep`` True: the typed API's only, None: all."""
        return [f"{path}: {text}" for path, text in self.items
                if keep is None or _own(path) == keep]


def _tool(module: str) -> None:
    """Skip when ``python -m module`` cannot run here (the tool is not installed)."""
    pytest.importorskip(module, reason=f"{module} is in the test extra")


@pytest.fixture(scope="module")
def ruff() -> Findings:
    """``ruff check`` over the checkout (pyproject.toml's rule set)."""
    _tool("ruff")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "json", "--no-cache", "."],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: ruff itself failed
    items = []
    for finding in json.loads(result.stdout or "[]"):
        path = Path(finding["filename"]).resolve().relative_to(ROOT).as_posix()
        row = finding["location"]["row"]
        items.append((path, f"{row}: {finding['code']} {finding['message']}"))
    return Findings(items, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def mypy(tmp_path_factory: pytest.TempPathFactory) -> Findings:
    """``mypy`` over the package (pyproject.toml: ``files``, strict public modules)."""
    _tool("mypy")
    cache = tmp_path_factory.mktemp("mypy_cache")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary",
         "--no-color-output", "--cache-dir", str(cache)],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 2: mypy crashed
    items = []
    for line in result.stdout.splitlines():
        path, sep, rest = line.partition(":")
        if sep and ": error: " in rest:
            items.append((path, rest.strip()))
    return Findings(items, result.stdout + result.stderr)


@pytest.fixture(scope="module")
def configured() -> None:
    """The tools read their settings from pyproject.toml (nothing here overrides them)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "[tool.ruff.lint]" in text and "[tool.mypy]" in text


def test_ruff_is_clean_on_the_typed_api(configured, ruff):
    """ruff finds nothing in the package outside the sandbox, CLI, recording and Redis."""
    assert ruff.where(keep=True) == []


def test_mypy_is_clean_on_the_typed_api(configured, mypy):
    """mypy (strict on the public modules) finds nothing outside the four parts left."""
    assert mypy.where(keep=True) == []


def test_ruff_is_clean_everywhere(configured, ruff):
    """ruff finds nothing anywhere in the checkout (needs branch typing-sb merged)."""
    assert ruff.where() == []


def test_mypy_is_clean_everywhere(configured, mypy):
    """mypy finds nothing anywhere in the package (needs branch typing-sb merged)."""
    assert mypy.where() == []

"""ruff and mypy stay clean (issue 13): both run here, with the settings of pyproject.toml.

Each tool runs once for this module (module-scoped fixtures; mypy's cache in a
temporary directory, so a fresh checkout pays one full run) and the tests read
its findings: a test fails only on findings, and says which. A tool that is not
installed skips (both are in the ``test`` extra).

ruff covers the whole checkout (the package, tests, examples, benchmarks, docs'
configuration); mypy the whole package, the sandbox included.
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


@dataclass(frozen=True)
class Findings:
    """One tool's findings as ``(path relative to the checkout, text)``, and its raw output."""

    items: list[tuple[str, str]]
    output: str

    def where(self) -> list[str]:
        """The findings as text, one a line."""
        return [f"{path}: {text}" for path, text in self.items]


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


def test_ruff_is_clean_everywhere(configured, ruff):
    """ruff finds nothing anywhere in the checkout."""
    assert ruff.where() == []


def test_mypy_is_clean_everywhere(configured, mypy):
    """mypy finds nothing anywhere in the package (strict on the public modules)."""
    assert mypy.where() == []

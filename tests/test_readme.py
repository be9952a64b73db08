"""README.rst states the commands CI and users actually run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = ('python3 -m venv .venv && .venv/bin/pip install -e ".[cli]" '
            '&& .venv/bin/exchange-wss demo')


def _ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    commands = [line.strip() for line in lines if line.strip().startswith("python3 -m venv")]
    assert len(commands) == 1, commands
    return commands[0]


def test_readme_test_command_is_the_one_ci_runs():
    """The test command in README.rst is, verbatim, the one .ci/run executes."""
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert any(line.strip() == _ci_test_command() for line in readme.splitlines())


def test_readme_gives_the_main_job_command():
    """README.rst gives the one-line command that installs the package and runs the demo."""
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    assert any(line.strip() == MAIN_JOB for line in readme.splitlines())


def _literal_block_after(text: str, marker: str) -> str:
    """The indented literal block that follows the paragraph ending in ``marker``."""
    lines = text[text.index(marker) + len(marker):].splitlines()[1:]
    block = []
    for line in lines:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line[4:])
    return "\n".join(block).strip() + "\n"


@pytest.mark.parametrize("marker", [
    "Against the sandbox, so it runs anywhere::",
    "for Binance itself)::",
], ids=["bitfinex", "binance"])
def test_readme_quick_start_runs(marker):
    """Each quick start in README.rst runs as written against the sandbox and exits 0."""
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    code = _literal_block_after(readme, marker)
    assert "submit_order" in code
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr

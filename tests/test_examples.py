"""The scripts in examples/ run against an in-process sandbox and exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


def test_there_are_examples():
    """examples/ holds the documented scripts."""
    names = {path.name for path in EXAMPLES}
    assert {"ticker.py", "orderbook.py", "orders.py", "reconnect.py",
            "binance_user_data.py"} <= names


def _run(script: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, str(script), "--duration", "4", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs_and_exits_zero(script):
    """The example, given a short --duration, does its job against the sandbox and exits 0."""
    result = _run(script)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_binance_user_data_example_runs_on_usdm():
    """binance_user_data.py also follows its order on a USDT-M listenKey stream and exits 0."""
    result = _run(ROOT / "examples" / "binance_user_data.py", "--market", "usdm")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "CANCELED" in result.stdout


@pytest.mark.parametrize("exchange", ["binance", "ftx"])
def test_aio_example_runs_on_every_venue(exchange):
    """aio_streams.py's one coroutine also tours Binance and FTX and exits 0."""
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "aio_streams.py"),
                             "--exchange", exchange, "--duration", "30"],
                            capture_output=True, text=True, timeout=90, cwd=ROOT,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "cancel" in result.stdout and "canceled" in result.stdout

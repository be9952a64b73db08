"""The package as users get it: the built wheel and sdist, their metadata, and the sdist's tests.

The distributions are built once per module, without build isolation (the ``test`` extra
installs ``build`` and a setuptools new enough for the licence metadata), so nothing is
fetched; README's install commands exercise the isolated build declared in
``pyproject.toml``.
"""

from __future__ import annotations

import ast
import email.parser
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VERSION_FILE = ROOT / "exchange_wss" / "_version.py"

#: What the sdist must carry for its own tests to run (besides the package).
SDIST_TREES = ("tests", "docs", "examples", "benchmarks", ".ci")


def _version() -> str:
    match = re.search(r'^__version__ = "([^"]+)"$', VERSION_FILE.read_text(encoding="utf-8"),
                      re.MULTILINE)
    assert match is not None
    return match.group(1)


@dataclass
class Dists:
    wheel: Path
    sdist: Path
    unpacked: Path  # the sdist, extracted: its top directory

    def wheel_metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            return email.parser.Parser().parsestr(whl.read(name).decode("utf-8"))

    def wheel_names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as whl:
            return whl.namelist()

    def sdist_metadata(self) -> Message:
        text = (self.unpacked / "PKG-INFO").read_text(encoding="utf-8")
        return email.parser.Parser().parsestr(text)


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist and the wheel (built from that sdist, as ``python -m build`` does), unpacked."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                             str(out), str(ROOT)], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    target = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as tar:
        tar.extractall(target, filter="data")
    (unpacked,) = target.iterdir()
    return Dists(wheel=wheel, sdist=sdist, unpacked=unpacked)


def _sdist_env(dists: Dists) -> dict[str, str]:
    """An environment in which the unpacked sdist's package is the one imported."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(dists.unpacked)
    env.pop("PYTEST_ADDOPTS", None)
    return env


# -- metadata --------------------------------------------------------------------------------

def test_wheel_metadata_has_every_field_an_index_shows(dists):
    """The wheel names its author, URLs, licence, Python versions, status, typing and keywords."""
    meta = dists.wheel_metadata()
    assert meta["Name"] == "exchange_wss"
    assert meta["Version"] == _version()
    assert meta["Author"]
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Keywords"] and "websocket" in meta["Keywords"].split(",")
    assert meta["Summary"] and meta["Description-Content-Type"] == "text/x-rst"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Documentation", "Source", "Issues"} <= set(urls)
    classifiers = set(meta.get_all("Classifier"))
    for minor in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {minor}" in classifiers
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    # PEP 639: a licence expression and no licence classifier beside it.
    assert not any(c.startswith("License :: ") for c in classifiers)


def test_sdist_metadata_is_the_wheels(dists):
    """The sdist's PKG-INFO carries the same name, version, licence and classifiers."""
    wheel, sdist = dists.wheel_metadata(), dists.sdist_metadata()
    for field in ("Name", "Version", "License-Expression", "Requires-Python", "Author"):
        assert sdist[field] == wheel[field], field
    assert sdist.get_all("Classifier") == wheel.get_all("Classifier")


def test_rich_is_needed_by_the_cli_extra_only(dists):
    """The library installs without rich; the ``cli`` extra and the ``test`` extra bring it."""
    requires = dists.wheel_metadata().get_all("Requires-Dist")
    rich = [r for r in requires if re.match(r"rich\b", r)]
    assert rich, requires
    assert all("extra ==" in r for r in rich), rich
    assert any('extra == "cli"' in r for r in rich)
    assert any('extra == "test"' in r for r in rich)


def test_test_extra_installs_what_the_docs_test_builds_with(dists):
    """README's test command installs Sphinx and the theme, since the docs build is a test."""
    test_extra = [r.split(";")[0].strip() for r in dists.wheel_metadata().get_all("Requires-Dist")
                  if 'extra == "test"' in r]
    names = {re.split(r"[<>=!~ ]", r, maxsplit=1)[0].lower() for r in test_extra}
    assert {"sphinx", "furo", "build", "setuptools", "rich"} <= names


# -- contents --------------------------------------------------------------------------------

def test_wheel_ships_the_licence_and_the_type_marker(dists):
    """The wheel carries LICENSE in its dist-info and ``exchange_wss/py.typed``."""
    names = dists.wheel_names()
    assert "exchange_wss/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names


def test_wheel_holds_the_package_only(dists):
    """No test, doc, example or benchmark file lands in site-packages."""
    tops = {n.split("/", 1)[0] for n in dists.wheel_names()}
    assert tops == {"exchange_wss", f"exchange_wss-{_version()}.dist-info"}


def test_sdist_ships_licence_readme_and_type_marker(dists):
    """The sdist carries LICENSE, README.rst, pyproject.toml and the type marker."""
    for name in ("LICENSE", "README.rst", "pyproject.toml", "setup.py", "exchange_wss/py.typed"):
        assert (dists.unpacked / name).is_file(), name


def test_sdist_ships_every_tracked_test_doc_example_and_benchmark_file(dists):
    """Every file git tracks under tests/, docs/, examples/, benchmarks/ and .ci/ is in the
    sdist, the tests' support module and recorded fixtures included."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to compare the sdist with")
    tracked = subprocess.run(["git", "ls-files", "--", *SDIST_TREES], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
    assert "tests/_support.py" in tracked
    assert any(name.startswith("tests/fixtures/") for name in tracked)
    missing = [name for name in tracked if not (dists.unpacked / name).is_file()
               and (ROOT / name).is_file()]
    assert missing == []


def test_every_test_module_of_the_sdist_imports(dists):
    """Collecting the whole suite inside the unpacked sdist finds every test module and fails
    on none (nothing it imports is missing from the sdist)."""
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                             "-p", "no:cacheprovider"], cwd=dists.unpacked, env=_sdist_env(dists),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    collected = {line.split("::", 1)[0] for line in result.stdout.splitlines() if "::" in line}
    shipped = {f"tests/{p.name}" for p in (dists.unpacked / "tests").glob("test_*.py")}
    assert collected == shipped


def test_fast_subset_passes_in_the_unpacked_sdist(dists):
    """``pytest -m fast`` passes from the unpacked sdist, against the sdist's own package
    (the three longest fuzz tests left out to keep this test short)."""
    env = _sdist_env(dists)
    where = subprocess.run([sys.executable, "-c",
                            "import exchange_wss; print(exchange_wss.__file__)"],
                           cwd=dists.unpacked, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(dists.unpacked)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "-m", "fast", "-k", "not test_fuzz_receive_never_raises"],
                            cwd=dists.unpacked, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = result.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) >= 100, summary
    assert "failed" not in summary and "error" not in summary, summary


# -- the package itself ----------------------------------------------------------------------

def test_version_is_written_in_one_file_only():
    """setup.py, the package and the docs read the version; only _version.py writes it."""
    literal = f'"{_version()}"'
    for name in ("setup.py", "exchange_wss/__init__.py", "docs/conf.py"):
        assert literal not in (ROOT / name).read_text(encoding="utf-8"), name
    import exchange_wss
    assert exchange_wss.__version__ == _version()


@pytest.mark.fast
def test_importing_the_package_imports_no_twisted():
    """``import exchange_wss`` (which the pytest plugin does on every run) loads neither
    Twisted nor autobahn nor a client module."""
    code = ("import sys, exchange_wss, exchange_wss.testing; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'twisted', 'autobahn'}), "
            "'exchange_wss.bitfinex.client' in sys.modules)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, cwd=ROOT).stdout.split()
    assert out == ["[]", "False"]


@pytest.mark.fast
def test_lazy_clients_are_the_classes_type_checkers_see():
    """Each lazily loaded client is imported under ``TYPE_CHECKING`` from the module
    ``__getattr__`` loads it from, so type checkers and run time agree."""
    import exchange_wss
    tree = ast.parse((ROOT / "exchange_wss" / "__init__.py").read_text(encoding="utf-8"))
    typed = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                and node.test.id == "TYPE_CHECKING"):
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    for alias in stmt.names:
                        typed[alias.name] = "exchange_wss." + (stmt.module or "")
    assert typed == exchange_wss._LAZY


def test_every_public_name_resolves():
    """Every name in ``exchange_wss.__all__`` is importable; the clients are their real classes."""
    import exchange_wss
    from exchange_wss.binance.client import BinanceWssClient
    from exchange_wss.bitfinex.client import WssClient
    from exchange_wss.ftx.client import FtxWssClient
    for name in exchange_wss.__all__:
        assert getattr(exchange_wss, name) is not None, name
    assert (exchange_wss.WssClient, exchange_wss.BinanceWssClient, exchange_wss.FtxWssClient) \
        == (WssClient, BinanceWssClient, FtxWssClient)


@pytest.mark.fast
def test_fast_subset_names_existing_modules():
    """Every module tests/conftest.py marks as fast exists, so a rename cannot shrink the subset."""
    from conftest import FAST_MODULES
    missing = sorted(name for name in FAST_MODULES if not (ROOT / "tests" / name).is_file())
    assert missing == []

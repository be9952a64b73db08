"""The Sphinx docs: built strict and offline, every public class in the API reference, pages
that read well, and prose that matches the code and the README."""

from __future__ import annotations

import html
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

#: The widest code line that fits the theme's content column without scrolling.
MAX_CODE_LINE = 90


@dataclass
class Built:
    html: Path
    log: str

    def inventory(self) -> set[str]:
        """Every name the docs describe (their ``objects.inv``), aliases included."""
        from sphinx.util.inventory import InventoryFile
        with open(self.html / "objects.inv", "rb") as stream:
            inv = InventoryFile.load(stream, "", lambda base, uri: uri)
        names: set[str] = set()
        for kind, entries in getattr(inv, "data", inv).items():
            if kind.startswith("py:"):
                names.update(entries)
        return names


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The docs built as CI builds them: warnings are errors, every reference must resolve."""
    out = tmp_path_factory.mktemp("docs")
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-n", "-E", "-q",
                             "-b", "html", "-d", str(out / "doctrees"), str(DOCS),
                             str(out / "html")], capture_output=True, text=True, timeout=300,
                            cwd=ROOT)
    return Built(html=out / "html", log=result.stdout + result.stderr
                 + ("" if result.returncode == 0 else f"\nexit status {result.returncode}"))


def test_docs_build_without_a_warning_or_an_unresolved_reference(built):
    """``sphinx-build -W -n`` succeeds: no warning, no reference without a target."""
    assert "exit status" not in built.log, built.log[-5000:]


def test_external_inventories_are_read_from_the_repository():
    """Every intersphinx inventory is a file in docs/, so the build never needs the network."""
    sys.path.insert(0, str(DOCS))
    try:
        conf = importlib.import_module("conf")
    finally:
        sys.path.remove(str(DOCS))
    for name, (_url, inventory) in conf.intersphinx_mapping.items():
        assert inventory and (DOCS / inventory).is_file(), name


def test_python_and_twisted_names_link_to_their_docs(built):
    """References to Python's and Twisted's names become links to their online docs."""
    pages = "".join(p.read_text(encoding="utf-8") for p in built.html.glob("*.html"))
    python = "https://docs.python.org/3.11/library/concurrent.futures.html"
    twisted = "https://docs.twisted.org/en/stable/api/"
    assert f"{python}#concurrent.futures.Future" in pages
    assert f"{twisted}twisted.application.internet.ClientService.html" in pages


def _documented_modules() -> list[str]:
    """The package's public modules: what the API reference must cover."""
    import exchange_wss
    names = ["exchange_wss"]
    for info in pkgutil.walk_packages(exchange_wss.__path__, "exchange_wss."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[1] == "cli":
            continue  # private modules; the command line's own modules
        names.append(info.name)
    return names


def _public_classes(module_name: str) -> list[tuple[str, str]]:
    """(name in the module, where it is defined) for each public class of a module."""
    module = importlib.import_module(module_name)
    public = getattr(module, "__all__", None)
    if public is None:
        public = [n for n, o in vars(module).items() if not n.startswith("_")
                  and getattr(o, "__module__", None) == module_name]
    found = []
    for name in public:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            found.append((f"{module_name}.{name}", f"{obj.__module__}.{obj.__qualname__}"))
    return found


def test_every_public_class_is_in_the_api_reference(built):
    """Each class a public module exports is described in the API reference (under its
    public name or where it is defined)."""
    described = built.inventory()
    missing = [public for module in _documented_modules()
               for public, canonical in _public_classes(module)
               if public not in described and canonical not in described]
    assert missing == []


def test_client_stats_and_reconnect_policy_are_documented(built):
    """``ClientStats`` and ``ReconnectPolicy``, once undocumented, have their entries."""
    page = (built.html / "api" / "connection.html").read_text(encoding="utf-8")
    assert 'id="exchange_wss._facade.ClientStats"' in page
    assert 'id="exchange_wss.connection.ReconnectPolicy"' in page
    assert 'id="exchange_wss._facade.ClientStats.reconnects"' in page


def test_api_reference_has_a_page_per_area(built):
    """Clients, models, errors, connection options and stats, sandbox and the pytest plugin
    each have their own page, each describing its module."""
    pages = {"clients": "exchange_wss.WssClient", "models": "exchange_wss.models.Ticker",
             "errors": "exchange_wss.errors.ExchangeWssError",
             "connection": "exchange_wss.connection.ConnectionOptions",
             "sandbox": "exchange_wss.sandbox.bitfinex.handle.BitfinexSandbox",
             "testing": "exchange_wss.testing.CallbackRecorder"}
    for page, anchor in pages.items():
        text = (built.html / "api" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{anchor}"' in text, page


def test_code_blocks_fit_the_content_column(built):
    """No line of a code block in the built pages is wider than the theme's column (terminal
    captures, marked ``:class: terminal-capture``, keep their terminal's width)."""
    wide = []
    for page in built.html.rglob("*.html"):
        if "_modules" in page.parts:
            continue  # highlighted source files, scrolled by design
        text = re.sub(r'<div class="terminal-capture.*?</pre>', "",
                      page.read_text(encoding="utf-8"), flags=re.S)
        for block in re.findall(r"<pre>(.*?)</pre>", text, re.S):
            for line in html.unescape(re.sub(r"<[^>]+>", "", block)).splitlines():
                if len(line) > MAX_CODE_LINE:
                    wide.append(f"{page.relative_to(built.html)}: {line}")
    assert wide == []


def test_circled_s_has_a_font_in_the_built_docs(built):
    """USDⓈ-M's circled S is served with a font that has it, for the readers who lack one."""
    css = (built.html / "_static" / "exchange_wss.css").read_text(encoding="utf-8")
    assert "unicode-range: U+24C8" in css
    assert (built.html / "_static" / "fonts" / "symbols-subset.woff2").stat().st_size > 0
    assert (built.html / "_static" / "fonts" / "OFL.txt").is_file()
    page = (built.html / "binance.html").read_text(encoding="utf-8")
    assert "USDⓈ-M" in page and "exchange_wss.css" in page
    assert '"exchange_wss symbols subset"' in page  # first in the theme's font stacks


def test_readme_is_plain_restructuredtext():
    """README.rst, the package's long description on an index, parses with docutils alone
    without a warning (an index renders no Sphinx roles)."""
    from docutils.core import publish_doctree
    from docutils.utils import SystemMessage
    text = (ROOT / "README.rst").read_text(encoding="utf-8")
    try:
        publish_doctree(text, settings_overrides={"halt_level": 2, "report_level": 2,
                                                  "warning_stream": False})
    except SystemMessage as exc:
        pytest.fail(f"README.rst: {exc}")


def test_docs_give_the_readmes_demo_command():
    """docs/index.rst gives README's demo command verbatim."""
    from test_readme import MAIN_JOB
    lines = [line.strip() for line in (DOCS / "index.rst").read_text(encoding="utf-8").splitlines()]
    assert MAIN_JOB in lines


def test_every_test_the_docs_name_exists():
    """Each test the docs and README cite as proof (``tests/<file>::<test>`` or a bare test
    name) is a test function in the test suite."""
    by_file = {p.name: set(re.findall(r"^def (test_\w+)", p.read_text(encoding="utf-8"), re.M))
               for p in (ROOT / "tests").glob("test_*.py")}
    every = set().union(*by_file.values())
    unknown = []
    for doc in [*DOCS.glob("*.rst"), ROOT / "README.rst", ROOT / "benchmarks" / "README.rst"]:
        text = doc.read_text(encoding="utf-8")
        defined_here = set(re.findall(r"def (test_\w+)", text))  # user-style examples
        for file, name in re.findall(r"tests/(test_\w+\.py)::(test_\w+)", text):
            if name not in by_file.get(file, ()):
                unknown.append(f"{doc.name}: tests/{file}::{name}")
        for name in re.findall(r"\b(test_\w+)\b(?!\.py)", text):
            if name not in every and name not in defined_here and f"{name}.py" not in by_file:
                unknown.append(f"{doc.name}: {name}")
    assert unknown == []

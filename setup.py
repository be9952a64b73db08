"""exchange_wss: a callback-driven, threaded WebSocket client SDK for crypto exchanges."""

from setuptools import find_packages, setup

setup(
    name="exchange_wss",
    version="0.1.0",
    description=("Threaded, callback-driven WebSocket clients for Bitfinex v2, Binance and "
                 "FTX-protocol venues on Twisted/autobahn, with a local sandbox exchange."),
    long_description=open("README.rst", encoding="utf-8").read(),
    long_description_content_type="text/x-rst",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["exchange_wss", "exchange_wss.*"]),
    install_requires=[
        "twisted>=23.10",
        "autobahn>=23.1",
        "requests>=2.28",
        "pyOpenSSL>=23.0",
        "service_identity>=23.1",
        "orjson>=3.9",
        "sortedcontainers>=2.4",
        "rich>=13.0",
    ],
    extras_require={
        "test": [
            "pytest>=7.4",
            "pytest-timeout>=2.1",
            "hypothesis>=6.80",
            "bitfinex-api-py>=3.0",
            "binance-connector>=3.0",
            # The live views are tested in a real pseudo-terminal: pexpect runs them,
            # pyte (a terminal emulator) renders the screen.
            "pexpect>=4.8",
            "pyte>=0.8",
            "uvloop>=0.17",
            # the seed client the compat layer is tested against (drop-in proof)
            "bitfinex-v2==1.8.0",
        ],
        "docs": ["sphinx>=7.0"],
    },
    entry_points={
        "console_scripts": ["exchange-wss = exchange_wss.cli:main"],
        "pytest11": ["exchange_wss = exchange_wss.testing"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Twisted",
        "Topic :: Office/Business :: Financial :: Investment",
    ],
)

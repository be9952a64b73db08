"""The FTX sandbox's former module, kept so that imports written before the package
keep working: everything now lives in :mod:`exchange_wss.sandbox.ftx`."""

from .ftx import (
                  DEFAULT_FTX_BALANCES,
                  DEFAULT_FTX_KEY,
                  DEFAULT_FTX_SECRET,
                  FTX_MARKETS,
                  INFO_TEXTS,
                  FtxFaults,
                  FtxSandbox,
                  FtxServer,
                  login_signature,
                  orderbook_checksum,
)

__all__ = ["FtxSandbox", "FtxServer", "FtxFaults", "DEFAULT_FTX_KEY", "DEFAULT_FTX_SECRET",
           "DEFAULT_FTX_BALANCES", "FTX_MARKETS", "INFO_TEXTS", "orderbook_checksum",
           "login_signature"]

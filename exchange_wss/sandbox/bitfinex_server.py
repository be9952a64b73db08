"""The Bitfinex sandbox's former module, kept so that imports written before the
package keep working: everything now lives in :mod:`exchange_wss.sandbox.bitfinex`."""

from .bitfinex import (
                       DEFAULT_BALANCES,
                       DEFAULT_KEY,
                       DEFAULT_SECRET,
                       FLAG_BULK_UPDATES,
                       FLAG_OB_CHECKSUM,
                       FLAG_SEQ_ALL,
                       FLAG_TIMESTAMP,
                       BitfinexSandbox,
                       SandboxServer,
)

__all__ = ["BitfinexSandbox", "SandboxServer", "DEFAULT_KEY", "DEFAULT_SECRET",
           "DEFAULT_BALANCES", "FLAG_TIMESTAMP", "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM",
           "FLAG_BULK_UPDATES"]

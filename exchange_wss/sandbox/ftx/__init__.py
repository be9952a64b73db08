"""A local FTX WebSocket server: the sandbox for FTX-protocol clients (a package).

It speaks the protocol of /work/shared/protocol/ftx.md on an autobahn server
protocol over Twisted, fed by the shared seeded
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine,
so a user's orders really rest, fill and cancel. FTX placed orders over REST,
not over the socket: :meth:`FtxSandbox.place_order` and
:meth:`FtxSandbox.cancel_order` stand in for that REST API. It is written apart
from the client code (``exchange_wss.ftx``) on purpose: the two check each other.

Modules, one job each (imports go one way: wire <- session <- server <- handle):

- :mod:`.wire`: defaults, markets and channels, the login signature, the book
  checksum;
- :mod:`.session`: one connection's protocol state (login, subscriptions, the book
  each client holds), sans-I/O: text in through ``received``, text out through a
  ``send`` callable;
- :mod:`.server`: :class:`FtxServer`, the exchange behind the sockets (market,
  accounts, FTX order metadata, publishing, faults; reactor thread only), and the
  autobahn protocol;
- :mod:`.rest`: the REST side (orders and wallets) on the WebSocket's port;
- :mod:`.faults`: :class:`FtxFaults`;
- :mod:`.handle`: :class:`FtxSandbox`, the public, thread-safe handle.

Wire choices where the sources leave room (documented so clients can rely on them):

- markets: ``BTC-PERP`` and ``ETH-PERP`` (simulated pairs of their own, traded
  like spot on the account's BTC/ETH/USD wallets: no margin, positions or
  funding), ``BTC/USD``, ``ETH/USD`` and ``XRP/BTC`` (priced around 6.5e-7, so
  e-notation floats appear);
- numbers are JSON floats written by orjson (``6.5e-7``, ``0.00002262``,
  ``9805.0``): not Python's ``str(float)`` text, so a client hashing the raw
  wire text gets wrong checksums, as it did against FTX;
- a successful login is not answered (as FTX did); failures and a second login
  are ``{"type":"error","code":400,...}``; ``subaccount`` is accepted and ignored;
- ``ticker`` sends the current ticker at once after ``subscribed``, then on every
  change; ``trades`` has no snapshot (one ``update`` per market step with the
  trades of that step); ``orderbook`` sends a ``partial`` of the top 100 levels,
  then one ``update`` per market step with the changed levels (size 0: remove);
- orders: ``new`` when accepted, ``open`` once resting (and after each partial
  fill), ``closed`` when filled or cancelled (``remainingSize`` 0); fills come
  from the engine's fee-bearing trade events: ``fee`` positive, ``feeCurrency``
  the currency the engine charged it in (the one received), ``future`` the
  market for perpetuals and null for spot;
- prices are rounded to 5 significant digits (the engine's tick) and sizes to 8
  decimals rather than refused for not matching an increment.
"""

from .faults import FtxFaults
from .handle import FtxSandbox
from .server import FtxServer
from .wire import (
                   DEFAULT_FTX_BALANCES,
                   DEFAULT_FTX_KEY,
                   DEFAULT_FTX_SECRET,
                   FTX_MARKETS,
                   INFO_TEXTS,
                   login_signature,
                   orderbook_checksum,
)

__all__ = ["FtxSandbox", "FtxServer", "FtxFaults", "DEFAULT_FTX_KEY", "DEFAULT_FTX_SECRET",
           "DEFAULT_FTX_BALANCES", "FTX_MARKETS", "INFO_TEXTS", "orderbook_checksum",
           "login_signature"]

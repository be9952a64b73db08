"""A local Bitfinex WebSocket v2 server: the sandbox exchange (a package).

It speaks the protocol of /work/shared/protocol/bitfinex-v2.md on an autobahn
``WebSocketServerProtocol`` over Twisted, fed by
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine,
so that a client's orders really rest, fill and cancel. It is written apart
from the client's protocol code on purpose: the two check each other.

Modules, one job each (imports go one way: wire <- session parts <- session <- server
<- handle):

- :mod:`.wire`: defaults, conf flags and limits, the auth filters' groups, and the
  arrays of orders, trades, wallets and positions;
- :mod:`.session_base`, :mod:`.channels`, :mod:`.account`, :mod:`.orders` and
  :mod:`.session`: one connection's protocol state, sans-I/O (text in through
  ``received``, text out through a ``send`` callable): the state and its output,
  public channels, the account channel, order inputs, and the input dispatch;
- :mod:`.server`: :class:`SandboxServer`, the exchange behind the sockets (market,
  accounts, nonces, publishing, heartbeats, faults; reactor thread only), and the
  autobahn protocol;
- :mod:`.handle`: :class:`BitfinexSandbox`, the public, thread-safe handle (start,
  stop, inspect, step the market, inject faults).

Wire choices where the sources leave room (documented so clients can rely on them):

- numbers are written as JavaScript writes them
  (:mod:`exchange_wss.sandbox.wire`);
- with SEQ_ALL each channel frame ends with the connection's public sequence
  number; chan-0 frames carry the public seq then the auth seq (0 during the
  post-auth snapshots); ``n`` frames carry only the current auth seq, which
  they do not advance; with TIMESTAMP the ms time follows the sequence
  number(s), as recorded Bitfinex sessions show (``[89,"te",[...],18,1564617600784]``);
- a ``cs`` frame follows every book update (once per bulk update), not the snapshot;
- channel limit: ``max_channels`` public channels per connection; the
  account channel 0 does not count;
- chan-0 input from an unauthenticated socket: error event code 10200;
- wallet AVAILABLE is null in the ``ws`` snapshot unless the auth message
  had ``calc:1`` (Bitfinex: "null until calculated"); ``wu`` and ``calc``
  answers carry it;
- ``authNonce`` is taken as a number written as JSON number or decimal text,
  fraction allowed (bitfinex-v2 sends ``"1700000000.123456"``: seconds);
  it must exceed the key's last nonce and not exceed 9007199254740991;
- margin ``LIMIT``/``MARKET`` orders trade on each account's margin wallets
  (``DEFAULT_MARGIN_BALANCES``) and positions,
  simplified as :mod:`exchange_wss.sandbox.margin` says: ``ps`` lists them,
  ``pn``/``pu``/``pc`` follow each change;
- ``calc`` answers every request type Bitfinex lists: ``margin_base`` and
  ``margin_sym_SYMBOL`` (``miu``), ``funding_sym_SYMBOL`` (``fiu``, zeros: no
  funding here), ``position_SYMBOL`` (``pu``, when one is open),
  ``wallet_TYPE_CURRENCY`` (``wu``, types exchange, margin, funding) and
  ``balance`` (``bu``); names it does not know are ignored, as Bitfinex does.
"""

from .handle import BitfinexSandbox
from .server import SandboxServer
from .wire import (
                   DEFAULT_BALANCES,
                   DEFAULT_KEY,
                   DEFAULT_SECRET,
                   FLAG_BULK_UPDATES,
                   FLAG_OB_CHECKSUM,
                   FLAG_SEQ_ALL,
                   FLAG_TIMESTAMP,
)

__all__ = ["BitfinexSandbox", "SandboxServer", "DEFAULT_KEY", "DEFAULT_SECRET",
           "DEFAULT_BALANCES", "FLAG_TIMESTAMP", "FLAG_SEQ_ALL", "FLAG_OB_CHECKSUM",
           "FLAG_BULK_UPDATES"]

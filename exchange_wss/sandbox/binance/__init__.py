"""A local Binance server (Spot, USDⓈ-M or COIN-M futures): the sandbox for Binance clients.

It speaks Binance as /work/shared/protocol/binance.md describes the 2026 state, over
one TCP port that serves the REST paths (twisted.web) and the WebSocket paths
(autobahn's ``WebSocketResource``), fed by the shared seeded
:class:`~exchange_wss.sandbox.market.SimulatedMarket` and its matching engine, so
orders really rest, fill and cancel. It is written apart from the client code
(``exchange_wss.binance``) on purpose: the two check each other.

Modules, one job each (imports go one way: wire <- services <- server <- handle):

- :mod:`.wire`: the market profiles (symbols, paths, limits), number formats,
  Binance's error shape, stream names, kline times;
- :mod:`.auth`: API keys and request signatures;
- :mod:`.user_stream`: listenKeys and the delivery of user-data events;
- :mod:`.orders` (with :mod:`.reports`, how an order is written) and
  :mod:`.accounts` (futures positions and wallets, account events);
- :mod:`.publisher` and :mod:`.tickers`: the market streams (trades, books,
  liquidations; klines, tickers, mark prices) and the REST depth snapshot;
- :mod:`.sessions` and :mod:`.ws_api`: one connection's state, sans-I/O (text in
  through ``received``, frames out through a link with
  ``send``/``send_ping``/``close``/``abort``);
- :mod:`.server`: :class:`BinanceServer`, the exchange behind the sockets, which
  owns the services and routes handshakes; reactor thread only, time from the
  reactor, so ``task.Clock`` drives it in tests;
- :mod:`.rest`: the REST side and the one-port web site;
- :mod:`.handle`: :class:`BinanceSandbox`, the public thread-safe handle, its faults
  and the autobahn protocol.

Wire choices where the sources leave room (documented so clients can rely on them):

- prices and quantities are strings: Spot with 8 decimals (``"0.01000000"``),
  futures as plain decimals (``"60001"``, ``"0.001"``);
- symbols: ``BTCUSDT``/``ETHUSDT`` (Spot, USDⓈ-M) and ``BTCUSD_PERP``/``ETHUSD_PERP``
  (COIN-M) map onto the simulated ``tBTCUSD``/``tETHUSD``; the engine's USD is shown
  as USDT;
- COIN-M counts contracts (100 USD for BTCUSD_PERP, 10 USD for ETHUSD_PERP): an order
  is matched in coin at its limit price (market orders at the touch) and each fill
  converted back at that rate in whole contracts, the last taking the remainder, so
  fills sum to the order quantity; market data sizes are contracts too;
- futures orders match on the same spot engine (one-way mode, cross margin, 20x, no
  liquidation of sandbox accounts); positions, entry price, realized PnL (inverse on
  COIN-M) and the margin wallet (USDT, or the base coin on COIN-M) are tracked per
  account from fills; ``TRADE_LITE`` is sent on USDⓈ-M only;
- depth diffs are batched per speed class (Spot 1000/100 ms, futures 250/500/100 ms);
  one update id per changed level, so ``U``..``u`` of consecutive events of one
  stream are contiguous and futures ``pu`` is the previous event's ``u``; the REST
  snapshot is the state after ``lastUpdateId``;
- klines and tickers are pushed every second; trades, aggTrades (one trade per
  aggTrade) and bookTicker at once;
- an unknown stream name in SUBSCRIBE or in the URL is an error (code 2 / HTTP 400)
  rather than a silent no-op, so typos show up in tests;
- ``events=`` on ``/private/ws`` filters every event, ``listenKeyExpired`` included
  (list it to get it); without ``events=`` nothing is sent, as production does;
- ``listenKeyExpired`` carries ``E`` as a string on futures, a number on Spot (margin);
- ``serverShutdown`` is sent bare (``{"e":"serverShutdown","E":ms}``) on every
  WebSocket connection, then the server closes with 1001 after ``shutdown_grace``;
- closes: control-rate and pong-timeout violations 1008, age limit and shutdown 1001;
- ``userDataStream.unsubscribe`` sends ``eventStreamTerminated`` before its response;
  ``order.place`` answers first, then the user-data events follow;
- WS-API signatures over the sorted ``k=v&...`` (raw or percent-encoded values both
  accepted), REST ones over the query string as sent: HMAC-SHA256 hex, or Ed25519 /
  RSA base64 for accounts registered with a public key; ``session.logon`` takes
  Ed25519 accounts only (others: -2015), then requests may go unsigned;
- mark price = index = the market's mid, funding 0.01 % every 8 h; liquidations only
  from :meth:`BinanceSandbox.liquidate`.
"""

from .auth import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, sign_params, signature_payloads
from .handle import BinanceFaults, BinanceSandbox
from .rest import RestApi, make_site
from .server import DEFAULT_BINANCE_BALANCES, BinanceServer
from .wire import KLINE_INTERVALS, PROFILES, ApiError, MarketProfile

__all__ = ["BinanceSandbox", "BinanceServer", "BinanceFaults", "MarketProfile", "PROFILES",
           "DEFAULT_BINANCE_KEY", "DEFAULT_BINANCE_SECRET", "DEFAULT_BINANCE_BALANCES",
           "ApiError", "signature_payloads", "sign_params", "KLINE_INTERVALS", "RestApi",
           "make_site"]

"""The exchanges as ``watch`` and ``demo`` see them: which channels each has, how to
start its sandbox, make its client, subscribe, read its maintained book and ping it.

Only the client calls differ between exchanges; everything a venue hands back is
in the shared models, so the state, health and views never branch on the exchange.
The demo's trading calls are added by :mod:`.demo_venues`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .health import HealthTracker
from .state import BOOK_DEPTH, MarketState

__all__ = ["Venue", "BitfinexVenue", "BinanceVenue", "FtxVenue", "VENUES", "VenueError"]

Levels = list[tuple[Any, Any]]

#: Seconds between two samples of the client's health: as often as the screen refreshes,
#: so the ages shown are as fresh as the screen.
HEALTH_INTERVAL = 0.25
#: Seconds between two WebSocket pings (their round trip is the connections' ping column).
PING_INTERVAL = 5.0


class VenueError(Exception):
    """A venue cannot do what was asked (unknown channel, a closed exchange...);
    the message is meant for the user as it is."""


class Venue:
    """One exchange: its client calls, and nothing else.

    Args:
        state: where the callbacks write.
        sandbox: run the built-in sandbox in-process (else the real exchange).
        market: the Binance market (``spot``, ``usdm``, ``coinm``).
        url: another endpoint (an FTX-protocol venue; a Bitfinex-compatible one).
        seed: seed of the sandbox's simulated market.

    Attributes:
        name: the ``--exchange``/``VENUE`` name.
        channels: the channels ``watch`` accepts, in display order.
        book_label: the book panel's title.
    """

    name = ""
    channels: tuple[str, ...] = ()
    book_label = "book"
    #: Prefix of the names of the connections carrying market data (until the client
    #: names the one carrying each stream).
    market_connection = ""

    def __init__(self, state: MarketState, *, sandbox: bool = True,
                 market: str | None = None, url: str | None = None,
                 seed: int = 1) -> None:
        self.state = state
        self.health: HealthTracker = state.health
        self.use_sandbox = sandbox
        self.market = market
        self.url = url
        self.seed = seed
        self.sandbox: Any = None
        self.client: Any = None
        self.book_symbols: list[str] = []

    # -- naming ---------------------------------------------------------------------------
    @property
    def where(self) -> str:
        """How the views name the server, e.g. ``bitfinex sandbox``."""
        return f"{self.label} {'sandbox' if self.use_sandbox else 'live'}"

    @property
    def label(self) -> str:
        """The venue's name in the event log and the views (Binance adds its market)."""
        return self.name

    def normalize(self, symbol: str) -> str:
        """The symbol as this exchange spells it (``BTCUSDT``, ``tBTCUSD``)."""
        return symbol

    def sandbox_url(self) -> str:
        """Where the sandbox listens (for the event log)."""
        return getattr(self.sandbox, "url", "")

    # -- lifecycle ----------------------------------------------------------------------------
    def start_sandbox(self) -> None:
        """Start the in-process sandbox (when asked for one)."""
        raise NotImplementedError

    def make_client(self, credentials: bool = False, **options: Any) -> Any:
        """Create the client (hooks in ``options``), pointed at the sandbox or the exchange;
        ``credentials``: with the sandbox account's key (the demo trades)."""
        raise NotImplementedError

    def start(self, channels: Sequence[str], symbols: Sequence[str], *,
              account: Callable[[Any], None] | None = None) -> None:
        """Start the sandbox (if any) and a client subscribed to ``channels`` of ``symbols``."""
        state = self.state
        if self.use_sandbox:
            self.start_sandbox()
            state.note(f"{self.label} sandbox listening on {self.sandbox_url()}")
        else:
            state.note(f"connecting to {self.live_url()}")
        self.client = self.make_client(credentials=account is not None,
                                       on_event=self._on_event, on_error=state.on_error,
                                       reconnect_delay=0.5, max_reconnect_delay=5.0,
                                       stale_after=self.health.stale_after,
                                       health_interval=HEALTH_INTERVAL,
                                       ping_interval=PING_INTERVAL)
        self.health.attach(self.client)
        for symbol in symbols:
            for channel in channels:
                self._subscribe(channel, symbol)
        if account is not None:
            self.subscribe_account(account)
        self.client.start()

    def stop(self) -> None:
        """Stop the client, then the sandbox (whichever were started)."""
        if self.client is not None:
            self.client.stop()
        if self.sandbox is not None:
            self.sandbox.stop()

    def live_url(self) -> str:
        """The real exchange's market-data endpoint."""
        raise NotImplementedError

    def _on_event(self, event: Any) -> None:
        self.state.on_event(event)

    # -- subscriptions ---------------------------------------------------------------------------
    def _subscribe(self, channel: str, symbol: str) -> None:
        if channel not in self.channels:
            raise VenueError(f"{self.name} has no channel {channel!r}; "
                             f"choose from {', '.join(self.channels)}")
        name = f"{channel} {symbol}"
        with self.state.cond:
            self.state.view(symbol)  # shown as waiting before any data: no blank start
        callback = self.state.callback(channel, symbol, name)
        if channel == "book":
            callback = self._copying_book(symbol, callback)
        # Registered before subscribing: the first message may beat the return.
        self.health.add_stream(name, channel, symbol, self.market_connection)
        self.health.bind(name, self.subscribe(channel, symbol, callback))
        if channel == "book":
            self.book_symbols.append(symbol)

    def subscribe(self, channel: str, symbol: str, callback: Callable[[Any], None]) -> Any:
        """Subscribe ``callback`` to ``channel`` of ``symbol`` on the client; its
        :class:`~exchange_wss.Subscription` handle."""
        raise NotImplementedError

    def _copying_book(self, symbol: str, callback: Callable[[Any], None]
                      ) -> Callable[[Any], None]:
        """``callback``, then a copy of the top of the client's book into the state.

        The clients apply a book message before its callback runs, and the callback runs
        on the reactor thread, where ``order_book()`` reads directly: so the book shown is
        the one of the last message, as current as the ticker beside it (a copy sampled
        by the main loop could be a quarter of a second older than the panel's age says).
        """
        from ..errors import ExchangeWssError
        state = self.state

        def copy(event: Any) -> None:
            callback(event)
            try:
                bids, asks = self.top(symbol)
            except ExchangeWssError:
                return
            state.set_book(symbol, bids, asks, emit=False)

        return copy

    def subscribe_account(self, callback: Callable[[Any], None]) -> None:
        """Subscribe ``callback`` to the account's events (the demo)."""
        raise NotImplementedError

    # -- what the main loop polls ------------------------------------------------------------------
    def top(self, symbol: str) -> tuple[Levels, Levels]:
        """The client's maintained book of ``symbol``: ``(bids, asks)`` as ``(price, size)``,
        best first; raises :class:`~exchange_wss.errors.ExchangeWssError` while there is none."""
        snap = self.client.order_book(symbol)
        return snap.bids[:BOOK_DEPTH], snap.asks[:BOOK_DEPTH]

    def refresh_books(self) -> None:
        """Copy the top of every maintained book into the state."""
        from ..errors import ExchangeWssError
        for symbol in self.book_symbols:
            try:
                bids, asks = self.top(symbol)
            except (ExchangeWssError, TimeoutError):
                continue  # not subscribed yet, or the client is going away
            self.state.set_book(symbol, bids, asks)


class BitfinexVenue(Venue):
    """Bitfinex v2: :class:`~exchange_wss.WssClient`, P0 books (the client checks each
    checksum)."""

    name = "bitfinex"
    channels = ("ticker", "book", "trades", "candles")
    book_label = "book P0"
    market_connection = "public-"

    def normalize(self, symbol: str) -> str:
        """The symbol as Bitfinex spells it: ``t`` + upper case unless it has its prefix."""
        return symbol if symbol[:1] in ("t", "f") else "t" + symbol.upper()

    def start_sandbox(self) -> None:
        """Start a Bitfinex sandbox on a free local port."""
        from ..sandbox import BitfinexSandbox
        self.sandbox = BitfinexSandbox(host="127.0.0.1", port=0, seed=self.seed).start()

    def live_url(self) -> str:
        """The public endpoint: ``--url``, else Bitfinex's."""
        from ..bitfinex.client import DEFAULT_PUBLIC_URL
        return self.url or DEFAULT_PUBLIC_URL

    def make_client(self, credentials: bool = False, **options: Any) -> Any:
        """A :class:`~exchange_wss.WssClient` on the sandbox (with its key if asked) or live."""
        from ..bitfinex.client import WssClient
        if self.use_sandbox:
            from ..sandbox import DEFAULT_KEY, DEFAULT_SECRET
            key, secret = (DEFAULT_KEY, DEFAULT_SECRET) if credentials else (None, None)
            return WssClient(key, secret, url=self.sandbox.url, **options)
        return WssClient(public_url=self.url, **options)

    def subscribe(self, channel: str, symbol: str, callback: Callable[[Any], None]) -> Any:
        """Subscribe ``channel`` of ``symbol`` (books at P0, candles at 1m); returns the handle."""
        client = self.client
        if channel == "ticker":
            return client.subscribe_to_ticker(symbol, callback)
        if channel == "trades":
            return client.subscribe_to_trades(symbol, callback)
        if channel == "book":
            return client.subscribe_to_orderbook(symbol, "P0", callback)
        return client.subscribe_to_candles(symbol, "1m", callback)

    def top(self, symbol: str) -> tuple[Levels, Levels]:
        """The client's P0 book of ``symbol`` as ``(price, size)`` levels, sizes positive."""
        snap = self.client.order_book(symbol, "P0")
        # P0 levels are (price, count, amount), asks with negative amounts.
        return ([(p, a) for p, _c, a in snap.bids[:BOOK_DEPTH]],
                [(p, abs(a)) for p, _c, a in snap.asks[:BOOK_DEPTH]])


class BinanceVenue(Venue):
    """Binance Spot, USDⓈ-M or COIN-M: :class:`~exchange_wss.BinanceWssClient`, books
    synced from REST snapshots and the diff stream."""

    name = "binance"
    channels = ("ticker", "book", "trades", "book_ticker", "candles")
    book_label = "book"
    market_connection = "market-"

    @property
    def label(self) -> str:
        """``binance`` and its market, e.g. ``binance spot``."""
        return f"binance {self.market or 'spot'}"

    def normalize(self, symbol: str) -> str:
        """The symbol in upper case, as Binance spells it."""
        return symbol.upper()

    def sandbox_url(self) -> str:
        """The sandbox's stream URL, with its REST and WebSocket-API URLs."""
        sb = self.sandbox
        return f"{sb.stream_url} (REST {sb.rest_url}, API {sb.api_url})"

    def start_sandbox(self) -> None:
        """Start a Binance sandbox of the venue's market on a free local port."""
        from ..sandbox import BinanceSandbox
        self.sandbox = BinanceSandbox(host="127.0.0.1", port=0, market=self.market or "spot",
                                      seed=self.seed).start()

    def live_url(self) -> str:
        """The real market's stream endpoint."""
        from ..binance import protocol as bn
        return bn.default_endpoints(self.market or "spot", False).stream_url

    def make_client(self, credentials: bool = False, **options: Any) -> Any:
        """A :class:`~exchange_wss.BinanceWssClient` on the sandbox (with its key if asked), or
        live."""
        from ..binance.client import BinanceWssClient
        market = self.market or "spot"
        if self.use_sandbox:
            from ..sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET
            sb = self.sandbox
            key, secret = ((DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET) if credentials
                           else (None, None))
            return BinanceWssClient(key, secret, market=market, rest_url=sb.rest_url,
                                    stream_url=sb.stream_url, api_url=sb.api_url, **options)
        return BinanceWssClient(market=market, **options)

    def subscribe(self, channel: str, symbol: str, callback: Callable[[Any], None]) -> Any:
        """Subscribe ``channel`` of ``symbol`` (100-level books, 1m candles); returns the handle."""
        client = self.client
        if channel == "ticker":
            return client.subscribe_to_ticker(symbol, callback)
        if channel == "trades":
            return client.subscribe_to_trades(symbol, callback)
        if channel == "book_ticker":
            return client.subscribe_to_book_ticker(symbol, callback)
        if channel == "book":
            # 100 levels: a valid snapshot limit on every market, and plenty to show.
            return client.subscribe_to_orderbook(symbol, callback, limit=100)
        return client.subscribe_to_candles(symbol, "1m", callback)


class FtxVenue(Venue):
    """The FTX protocol: :class:`~exchange_wss.FtxWssClient`, books checked against every
    update's checksum. FTX itself closed in 2022: live needs ``--url`` of a venue that
    still speaks it."""

    name = "ftx"
    channels = ("ticker", "book", "trades")
    book_label = "orderbook"
    market_connection = "ftx"

    def normalize(self, symbol: str) -> str:
        """The market name in upper case, as FTX spells it."""
        return symbol.upper()

    def start_sandbox(self) -> None:
        """Start an FTX-protocol sandbox on a free local port."""
        from ..sandbox import FtxSandbox
        self.sandbox = FtxSandbox(host="127.0.0.1", port=0, seed=self.seed).start()

    def live_url(self) -> str:
        """``--url``: FTX itself no longer answers (:class:`VenueError` without one)."""
        if self.url is None:
            raise VenueError("FTX closed in November 2022 and wss://ftx.com/ws/ no longer "
                             "answers: give --url of a venue that speaks the FTX protocol, "
                             "or --sandbox")
        return self.url

    def make_client(self, credentials: bool = False, **options: Any) -> Any:
        """An :class:`~exchange_wss.FtxWssClient` on the sandbox (with its key if asked), or
        on ``--url``."""
        from ..ftx.client import FtxWssClient
        if self.use_sandbox:
            from ..sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET
            key, secret = (DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET) if credentials else (None, None)
            return FtxWssClient(key, secret, url=self.sandbox.url, **options)
        return FtxWssClient(url=self.live_url(), **options)

    def subscribe(self, channel: str, symbol: str, callback: Callable[[Any], None]) -> Any:
        """Subscribe ``channel`` of ``symbol``; returns the handle."""
        client = self.client
        if channel == "ticker":
            return client.subscribe_to_ticker(symbol, callback)
        if channel == "trades":
            return client.subscribe_to_trades(symbol, callback)
        return client.subscribe_to_orderbook(symbol, callback)


#: The venues by ``VENUE``/``--exchange`` name.
VENUES: dict[str, type[Venue]] = {"bitfinex": BitfinexVenue, "binance": BinanceVenue,
                                  "ftx": FtxVenue}

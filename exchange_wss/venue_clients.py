"""Clients and subscriptions by name, for the command lines (``record``, ``relay``).

``exchange-wss record bitfinex ticker,book tBTCUSD`` needs a ``WssClient`` (on
the real venue or an in-process sandbox) and ``subscribe_to_ticker`` /
``subscribe_to_orderbook`` calls; this module maps those names once for every
command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import LocalProtocolError

if TYPE_CHECKING:
    from .binance.client import BinanceWssClient
    from .bitfinex.client import WssClient
    from .ftx.client import FtxWssClient

__all__ = ["VENUES", "CHANNELS", "subscriptions", "make_client", "parse_list"]

VENUES = ("bitfinex", "binance", "ftx")

#: venue -> channel name -> (client method, extra positional args before the callback).
CHANNELS: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "bitfinex": {"ticker": ("subscribe_to_ticker", ()), "trades": ("subscribe_to_trades", ()),
                 "book": ("subscribe_to_orderbook", ("P0",)),
                 "candles": ("subscribe_to_candles", ("1m",))},
    "binance": {"ticker": ("subscribe_to_ticker", ()), "trades": ("subscribe_to_trades", ()),
                "book": ("subscribe_to_orderbook", ()),
                "book_ticker": ("subscribe_to_book_ticker", ()),
                "candles": ("subscribe_to_candles", ("1m",))},
    "ftx": {"ticker": ("subscribe_to_ticker", ()), "trades": ("subscribe_to_trades", ()),
            "book": ("subscribe_to_orderbook", ())},
}


def parse_list(text: str) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def subscriptions(venue: str, channels: list[str], symbols: list[str]
                  ) -> list[tuple[str, tuple[str, ...]]]:
    """The ``(method, args)`` calls (the callback goes last, by keyword) for each pair.

    Raises:
        LocalProtocolError: an unknown venue or channel.
    """
    table = CHANNELS.get(venue)
    if table is None:
        raise LocalProtocolError(f"unknown venue {venue!r}; expected one of {VENUES}")
    out: list[tuple[str, tuple[str, ...]]] = []
    for channel in channels:
        if channel not in table:
            raise LocalProtocolError(f"{venue} has no channel {channel!r}; expected one of "
                                     f"{sorted(table)}")
        method, extra = table[channel]
        out.extend((method, (symbol, *extra)) for symbol in symbols)
    return out


class _Startable(Protocol):
    def start(self) -> object: ...


_S = TypeVar("_S", bound=_Startable)


def started(sandbox: _S) -> _S:
    """``sandbox.start()`` seen through a typed protocol (the sandboxes' ``start``
    is not annotated): it returns the sandbox itself, as ``start()`` does."""
    sandbox.start()
    return sandbox


class Sandbox:
    """A venue's sandbox started in-process, and the client keywords that reach it."""

    def __init__(self, venue: str, market: str = "spot", seed: int = 1,
                 tick_interval: float = 0.25) -> None:
        from . import sandbox as sb
        self.venue = venue
        if venue == "bitfinex":
            self.handle: Any = started(sb.BitfinexSandbox(seed=seed, tick_interval=tick_interval))
            self.client_options: dict[str, Any] = {"url": self.handle.url}
            self.credentials = (sb.DEFAULT_KEY, sb.DEFAULT_SECRET)
        elif venue == "binance":
            self.handle = started(sb.BinanceSandbox(market=market, seed=seed,
                                                    tick_interval=tick_interval))
            self.client_options = {"rest_url": self.handle.rest_url,
                                   "stream_url": self.handle.stream_url,
                                   "api_url": self.handle.api_url, "market": market}
            self.credentials = (sb.DEFAULT_BINANCE_KEY, sb.DEFAULT_BINANCE_SECRET)
        else:
            self.handle = started(sb.FtxSandbox(seed=seed, tick_interval=tick_interval))
            self.client_options = {"url": self.handle.url}
            self.credentials = (sb.DEFAULT_FTX_KEY, sb.DEFAULT_FTX_SECRET)

    @property
    def url(self) -> str:
        """The sandbox's WebSocket address (Binance's: its stream address)."""
        url: str = getattr(self.handle, "url", None) or self.handle.stream_url
        return url

    def stop(self) -> None:
        """Stop the sandbox."""
        self.handle.stop()


def make_client(venue: str, *, sandbox: Sandbox | None = None, url: str | None = None,
                market: str = "spot", account: bool = False,
                **options: Any) -> WssClient | BinanceWssClient | FtxWssClient:
    """An SDK client of ``venue``: on ``sandbox`` if given (with its credentials when
    ``account``), else on the venue (``url`` overriding its endpoint), public only."""
    from . import BinanceWssClient, FtxWssClient, WssClient
    cls: type[WssClient] | type[BinanceWssClient] | type[FtxWssClient] = {
        "bitfinex": WssClient, "binance": BinanceWssClient, "ftx": FtxWssClient}[venue]
    creds: tuple[()] | tuple[str, str] = ()
    if sandbox is not None:
        options.update(sandbox.client_options)
        if account:
            creds = sandbox.credentials
    else:
        if account:
            raise LocalProtocolError("account events are recorded or relayed only from a "
                                     "--sandbox here (give keys through the Python API)")
        if venue == "binance":
            options["market"] = market
            if url:
                options["stream_url"] = url
        elif url:
            options["url"] = url
    return cls(*creds, **options)

"""The ``subscribe_to_*`` methods of ``BinanceWssClient`` for the derivatives and
all-market streams: mark price and funding, liquidations, mini and all-market
tickers, continuous-contract klines, partial depth and all-market book tickers.

Each names its stream with :func:`~exchange_wss.binance.protocol.stream_name` or
:func:`~exchange_wss.binance.protocol.all_market_stream_name` (so a stream the
client's market does not serve raises :class:`~exchange_wss.errors.LocalProtocolError`
before anything is sent) and registers it like every other market stream: one
:class:`~exchange_wss._subscriptions.Subscription` on the pooled, paced market
connections (USDⓈ-M: the route :func:`~exchange_wss.binance.protocol.stream_route`
gives). Symbols may be unified (``"BTC/USDT"``) or native; pairs (continuous klines,
COIN-M pair mark price) are native (``"BTCUSDT"``, ``"BTCUSD"``). Streams whose
messages carry a list (``!ticker@arr``, COIN-M ``<pair>@markPrice``...) deliver one
event per element.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._subscriptions import Subscription
from . import protocol as bn

if TYPE_CHECKING:
    from ..models import (
        BookSnapshot,
        BookTicker,
        Candle,
        LiquidationOrder,
        MarkPrice,
        MiniTicker,
        Ticker,
    )

__all__ = ["MarketStreams"]


class MarketStreams:
    """Mixin of ``BinanceWssClient`` (needs ``market``, ``_native`` and
    ``_subscribe_stream``; listed first among its bases, so it defines nothing the
    other base has)."""

    market: str
    _native: Any  # BaseClient's: a unified symbol to the venue's

    def _subscribe_stream(self, stream: str, symbol: str | None,
                          callback: Callable[[Any], object]
                          ) -> Subscription:  # pragma: no cover
        raise NotImplementedError

    # -- futures: mark price, funding, liquidations --------------------------------------
    def subscribe_to_mark_price(self, symbol: str, callback: Callable[[MarkPrice], object],
                                speed: Any = None) -> Subscription:
        """Mark price, index price, funding rate and next funding time of one contract
        (futures): :class:`~exchange_wss.models.MarkPrice` every 3 s, or every second
        with ``speed="1s"``."""
        symbol = self._native(symbol)  # "BTC/USDT" too
        return self._subscribe_stream(
            bn.stream_name("markPrice", symbol, market=self.market, speed=speed), symbol,
            callback)

    def subscribe_to_pair_mark_price(self, pair: str, callback: Callable[[MarkPrice], object],
                                     speed: Any = None) -> Subscription:
        """COIN-M: the mark price of every contract of ``pair`` (``"BTCUSD"``), one
        :class:`~exchange_wss.models.MarkPrice` per contract."""
        return self._subscribe_stream(
            bn.stream_name("pairMarkPrice", pair, market=self.market, speed=speed), pair,
            callback)

    def subscribe_to_all_mark_prices(self, callback: Callable[[MarkPrice], object],
                                     speed: Any = None) -> Subscription:
        """USDⓈ-M: ``!markPrice@arr``, a :class:`~exchange_wss.models.MarkPrice` per
        contract every 3 s (or 1 s)."""
        return self._subscribe_stream(
            bn.all_market_stream_name("markPrice", market=self.market, speed=speed), None,
            callback)

    def subscribe_to_liquidations(self, symbol: str,
                                  callback: Callable[[LiquidationOrder], object]) -> Subscription:
        """Forced liquidation orders of one contract (futures):
        :class:`~exchange_wss.models.LiquidationOrder` (Binance samples them: at most
        one per symbol per second)."""
        symbol = self._native(symbol)  # "BTC/USDT" too
        return self._subscribe_stream(
            bn.stream_name("forceOrder", symbol, market=self.market), symbol, callback)

    def subscribe_to_all_liquidations(self, callback: Callable[[LiquidationOrder], object]
                                      ) -> Subscription:
        """``!forceOrder@arr``: liquidations of every contract (futures)."""
        return self._subscribe_stream(
            bn.all_market_stream_name("forceOrder", market=self.market), None, callback)

    def subscribe_to_continuous_candles(self, pair: str, contract_type: str, interval: str,
                                        callback: Callable[[Candle], object]) -> Subscription:
        """Klines of a continuous contract (futures): ``pair`` ``"BTCUSDT"``/``"BTCUSD"``,
        ``contract_type`` ``"perpetual"``, ``"current_quarter"`` or ``"next_quarter"``;
        :class:`~exchange_wss.models.Candle` events whose ``symbol`` is the pair (the
        contract type is in ``raw["ct"]``)."""
        return self._subscribe_stream(
            bn.stream_name("continuousKline", pair, market=self.market, interval=interval,
                           contract_type=contract_type), pair, callback)

    # -- tickers ------------------------------------------------------------------------
    def subscribe_to_mini_ticker(self, symbol: str,
                                 callback: Callable[[MiniTicker], object]) -> Subscription:
        """24-hour rolling open, close, high, low and volumes:
        :class:`~exchange_wss.models.MiniTicker` events."""
        symbol = self._native(symbol)  # "BTC/USDT" too
        return self._subscribe_stream(
            bn.stream_name("miniTicker", symbol, market=self.market), symbol, callback)

    def subscribe_to_all_mini_tickers(self, callback: Callable[[MiniTicker], object]
                                      ) -> Subscription:
        """``!miniTicker@arr``: a :class:`~exchange_wss.models.MiniTicker` for each symbol
        that changed, every second (every market)."""
        return self._subscribe_stream(
            bn.all_market_stream_name("miniTicker", market=self.market), None, callback)

    def subscribe_to_all_tickers(self, callback: Callable[[Ticker], object]) -> Subscription:
        """``!ticker@arr``: a :class:`~exchange_wss.models.Ticker` for each symbol that
        changed (futures; Spot retired it)."""
        return self._subscribe_stream(
            bn.all_market_stream_name("ticker", market=self.market), None, callback)

    def subscribe_to_all_book_tickers(self, callback: Callable[[BookTicker], object]
                                      ) -> Subscription:
        """``!bookTicker``: best bid and ask of every symbol on each change
        (futures; Spot retired it): :class:`~exchange_wss.models.BookTicker` events."""
        return self._subscribe_stream(
            bn.all_market_stream_name("bookTicker", market=self.market), None, callback)

    # -- partial depth ----------------------------------------------------------------------
    def subscribe_to_partial_book(self, symbol: str, levels: int,
                                  callback: Callable[[BookSnapshot], object],
                                  speed: Any = None) -> Subscription:
        """The top ``levels`` (5, 10 or 20) of the book, whole in every message:
        :class:`~exchange_wss.models.BookSnapshot` events (no REST snapshot needed;
        ``speed`` ``"100ms"``, or the market's default)."""
        symbol = self._native(symbol)  # "BTC/USDT" too
        return self._subscribe_stream(
            bn.stream_name("depth", symbol, market=self.market, levels=levels, speed=speed),
            symbol, callback)

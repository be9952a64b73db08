"""What the ``watch`` and ``demo`` commands saw of the market, and the frames the views
draw from it.

:class:`MarketState` is written by the client's callbacks on the reactor thread and
read by the main thread and the live view's refresh thread; every access holds
``cond``. The views never touch it: they draw a :class:`Frame`, an immutable copy
taken by :meth:`MarketState.frame`. Events reach it as the shared models of
:mod:`exchange_wss.models`, so nothing here looks at an exchange's wire format.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import fmt
from .health import ConnectionHealth, HealthTracker, StreamHealth

__all__ = ["MarketState", "SymbolView", "Frame", "SymbolFrame", "Record"]

#: Levels a side kept for the views (the tallest layout shows fewer).
BOOK_DEPTH = 25
#: Trades kept per symbol.
TRADES_KEPT = 60
#: Seconds of prices kept for the sparkline.
PRICE_HISTORY = 300.0


@dataclass(frozen=True)
class Record:
    """One thing worth printing in plain or JSON output.

    ``kind`` is ``ticker``, ``trade``, ``book`` (the top of book changed),
    ``book_ticker``, ``candle``, ``connection``, ``health``, ``error`` or ``note``;
    ``derived`` marks a note that repeats a structured record in words.
    """

    kind: str
    at: float  # wall-clock time (time.time()) it was seen
    symbol: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    derived: bool = False


class SymbolView:
    """What was seen of one symbol (mutable; under :attr:`MarketState.cond`)."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.ticker: Any = None
        self.ticker_at: float | None = None
        self.book_ticker: Any = None
        self.book_ticker_at: float | None = None
        self.candle: Any = None
        self.candle_at: float | None = None
        self.book_at: float | None = None
        self.book_ready = False
        self.bids: list[tuple[float, float]] = []
        self.asks: list[tuple[float, float]] = []
        self.sampled: list[tuple[float, float]] = []  # best levels the last emitted record had
        self.trades: deque[Any] = deque(maxlen=TRADES_KEPT)
        self.trades_at: float | None = None
        self.trade_prices: deque[tuple[float, float]] = deque()
        self.mids: deque[tuple[float, float]] = deque()

    def best(self) -> tuple[Any, Any]:
        """Best bid and ask: the maintained book's, else the ticker's or book ticker's
        (Binance futures tickers carry no bid/ask)."""
        bid = self.bids[0][0] if self.bids else None
        ask = self.asks[0][0] if self.asks else None
        for source in (self.book_ticker, self.ticker):
            if source is not None:
                bid = getattr(source, "bid", None) if bid is None else bid
                ask = getattr(source, "ask", None) if ask is None else ask
        return bid, ask


@dataclass(frozen=True)
class SymbolFrame:
    """One symbol as the views draw it; ages in seconds (None: nothing yet)."""

    symbol: str
    ticker: Any
    ticker_age: float | None
    book_ticker: Any
    book_ticker_age: float | None
    candle: Any
    candle_age: float | None
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    book_age: float | None
    trades: tuple[Any, ...]          # newest first
    trades_age: float | None
    prices: tuple[tuple[float, float], ...]  # (monotonic time, price), oldest first
    best_bid: Any
    best_ask: Any


@dataclass(frozen=True)
class Frame:
    """Everything one screen shows, copied at one instant."""

    title: str
    where: str
    now: float
    elapsed: float
    duration: float | None
    symbols: tuple[SymbolFrame, ...]
    channels: tuple[str, ...]
    streams: tuple[StreamHealth, ...]
    connections: tuple[ConnectionHealth, ...]
    log: tuple[str, ...]
    counts: dict[str, int]
    errors: int
    reconnects: int
    account: Any = None  # the demo's AccountFrame


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else now - at


class MarketState:
    """What was seen, per symbol, plus the event log; see the module docstring.

    Args:
        health: the tracker the callbacks report to.
        title, where: how the views name the command and the server.
        channels: the channels subscribed (the views show their panels).
        duration: planned run time in seconds (None: until Ctrl-C).
    """

    def __init__(self, health: HealthTracker | None = None, *, title: str = "",
                 where: str = "", channels: Sequence[str] = (),
                 duration: float | None = None) -> None:
        #: The lock (and condition) every read and write of this state holds.
        self.cond = threading.Condition()
        self.health = health if health is not None else HealthTracker()
        self.clock = self.health.now
        self.started = self.clock()
        self.title = title
        self.where = where
        self.channels: tuple[str, ...] = tuple(channels)
        self.duration = duration
        self.symbols: dict[str, SymbolView] = {}
        self.counts: Counter = Counter()
        self.log: deque[str] = deque(maxlen=200)
        self.listeners: list[Callable[[Record], None]] = []
        self.errors: list[BaseException] = []
        self.reconnects = 0
        self.stopping = False
        self.connected = False  # a connection opened at least once
        #: the last reason a connection closed, for error messages naming the real cause.
        self.last_disconnect: str | None = None
        #: (connection, state) pairs seen on on_event, e.g. ("api", "user data subscribed").
        self.conn_states: set = set()

    # -- plumbing ----------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the state was made, on its health tracker's clock."""
        return self.clock() - self.started

    def view(self, symbol: str) -> SymbolView:
        """The :class:`SymbolView` of ``symbol``, made on first use (call under ``cond``)."""
        view = self.symbols.get(symbol)
        if view is None:
            view = self.symbols[symbol] = SymbolView(symbol)
        return view

    def emit(self, record: Record) -> None:
        """Hand ``record`` to every listener."""
        for listener in list(self.listeners):
            listener(record)

    def note(self, text: str, derived: bool = False) -> None:
        """Add a line to the event log (and tell the listeners)."""
        line = f"[{self.elapsed():5.1f}s] {text}"
        with self.cond:
            self.log.append(line)
            self.cond.notify_all()
        self.emit(Record("note", time.time(), data={"text": text, "line": line}, derived=derived))

    def wait(self, predicate: Callable[[], Any], deadline: float) -> Any:
        """Wait until ``predicate()`` (called under the lock) is truthy or ``deadline``
        (a ``time.monotonic()`` value) passes; return its last value."""
        with self.cond:
            while True:
                result = predicate()
                left = deadline - time.monotonic()
                if result or left <= 0:
                    return result
                self.cond.wait(min(left, 0.5))

    def report_health(self, changes: Sequence[Any]) -> None:
        """Emit and log the tracker's changes of stream state (None entries are skipped)."""
        for change in changes:
            if change is None:
                continue
            self.emit(Record("health", time.time(), data={
                "stream": change.stream, "state": change.new, "was": change.old,
                "text": change.text}))
            self.note(f"{change.stream}: {change.new} ({change.text})", derived=True)

    # -- callbacks (reactor thread) ------------------------------------------------------------
    def callback(self, channel: str, symbol: str, stream: str | None = None
                 ) -> Callable[[Any], None]:
        """The callback to subscribe ``channel`` of ``symbol`` with.

        Args:
            channel: ``ticker``, ``trades``, ``book``, ``book_ticker`` or ``candles``.
            symbol: the symbol it streams.
            stream: its name in the health tracker (default ``"<channel> <symbol>"``).
        """
        handler = getattr(self, f"_on_{channel}")
        name = stream or f"{channel} {symbol}"
        health = self.health

        def record(event: Any) -> None:
            self.report_health([health.message(name, snapshot=_is_snapshot(event))])
            handler(symbol, event)

        return record

    def _on_ticker(self, symbol: str, ticker: Any) -> None:
        now = self.clock()
        with self.cond:
            self.counts["ticker"] += 1
            view = self.view(symbol)
            first = view.ticker is None
            view.ticker, view.ticker_at = ticker, now
            last = fmt.number(getattr(ticker, "last_price", None))
            if last is not None and not view.trades:
                _push(view.trade_prices, now, last)
            self._push_mid(view, now, getattr(ticker, "bid", None), getattr(ticker, "ask", None))
            self.cond.notify_all()
        self.emit(Record("ticker", time.time(), symbol, _fields(ticker)))
        if first:
            self.note(f"first ticker {symbol}: bid {fmt.num(ticker.bid)} "
                      f"ask {fmt.num(ticker.ask)} last {fmt.num(ticker.last_price)}")

    def _on_book_ticker(self, symbol: str, event: Any) -> None:
        now = self.clock()
        with self.cond:
            self.counts["book_ticker"] += 1
            view = self.view(symbol)
            view.book_ticker, view.book_ticker_at = event, now
            self._push_mid(view, now, event.bid, event.ask)
            self.cond.notify_all()
        self.emit(Record("book_ticker", time.time(), symbol, _fields(event)))

    def _on_trades(self, symbol: str, event: Any) -> None:
        from ..models import Trade, TradesSnapshot
        now = self.clock()
        if isinstance(event, TradesSnapshot):
            new = sorted((t for t in event.trades if isinstance(t, Trade)),
                         key=lambda t: (t.mts or 0, t.id or 0))
        elif isinstance(event, Trade) and event.kind != "tu":  # Bitfinex tu repeats a te
            new = [event]
        else:
            new = []
        with self.cond:
            self.counts["trades"] += 1
            view = self.view(symbol)
            view.trades_at = now
            for trade in new:
                view.trades.append(trade)
                price = fmt.number(trade.price)
                if price is not None:
                    _push(view.trade_prices, now, price)
            self.cond.notify_all()
        if not isinstance(event, TradesSnapshot):
            for trade in new:
                self.emit(Record("trade", time.time(), symbol, _fields(trade)))

    def _on_book(self, symbol: str, event: Any) -> None:
        from ..models import BookSnapshot
        with self.cond:
            self.counts["book"] += 1
            view = self.view(symbol)
            view.book_at = self.clock()
            if isinstance(event, BookSnapshot):
                view.book_ready = True
            self.cond.notify_all()

    def _on_candles(self, symbol: str, event: Any) -> None:
        from ..models import Candle, CandlesSnapshot
        now = self.clock()
        candle = None
        if isinstance(event, CandlesSnapshot) and event.candles:
            candle = event.candles[-1]
        elif isinstance(event, Candle):
            candle = event
        with self.cond:
            self.counts["candles"] += 1
            view = self.view(symbol)
            view.candle_at = now
            if candle is not None:
                view.candle = candle
            self.cond.notify_all()
        if candle is not None and not isinstance(event, CandlesSnapshot):
            self.emit(Record("candle", time.time(), symbol, _fields(candle)))

    def _push_mid(self, view: SymbolView, now: float, bid: Any, ask: Any) -> None:
        _spread, _bps, mid = fmt.spread_and_mid(bid, ask)
        if mid is not None:
            _push(view.mids, now, mid)

    def on_event(self, event: Any) -> None:
        """The client's ``on_event`` hook."""
        from ..models import ConnectionState
        changes = self.health.on_event(event)
        if isinstance(event, ConnectionState):
            if self.stopping:
                return  # our own stop() closing the connections: not news
            with self.cond:
                self.conn_states.add((event.connection, event.state))
                if event.state == "reconnected":
                    self.reconnects += 1
                if event.state in ("connected", "reconnected"):
                    self.connected = True
                if event.state in ("disconnected", "gave_up"):
                    self.last_disconnect = event.reason
                self.cond.notify_all()
            self.emit(Record("connection", time.time(), data={
                "connection": event.connection, "state": event.state, "reason": event.reason}))
            reason = f" ({event.reason})" if event.reason else ""
            self.note(f"{event.connection}: {event.state}{reason}", derived=True)
        self.report_health(changes)

    def on_error(self, error: BaseException) -> None:
        """The client's ``on_error`` hook."""
        with self.cond:
            self.errors.append(error)
            self.cond.notify_all()
        self.emit(Record("error", time.time(), data={
            "error": type(error).__name__, "message": str(error)}))
        self.note(f"error: {type(error).__name__}: {error}", derived=True)

    # -- the main thread -----------------------------------------------------------------------
    def set_book(self, symbol: str, bids: Sequence[tuple[Any, Any]],
                 asks: Sequence[tuple[Any, Any]], emit: bool = True) -> None:
        """Store the top of the client's maintained book (levels ``(price, size)``).

        Args:
            symbol: the book's symbol.
            bids: the bid levels, best first.
            asks: the ask levels, best first.
            emit: tell the listeners when the best levels changed (the main loop's
                samples do; the copies taken at each book message do not, or plain
                output would print every intermediate state of a burst of updates).
        """
        bids = [(p, s) for p, s in bids[:BOOK_DEPTH]]
        asks = [(p, s) for p, s in asks[:BOOK_DEPTH]]
        now = self.clock()
        with self.cond:
            view = self.view(symbol)
            changed = (view.sampled[:1], view.sampled[1:]) != (bids[:1], asks[:1])
            if emit:
                view.sampled = bids[:1] + asks[:1]
            view.bids, view.asks = bids, asks
            if changed and bids and asks:
                self._push_mid(view, now, bids[0][0], asks[0][0])
            self.cond.notify_all()
        if emit and changed and (bids or asks):
            bid = bids[0] if bids else (None, None)
            ask = asks[0] if asks else (None, None)
            spread, _bps, mid = fmt.spread_and_mid(bid[0], ask[0])
            self.emit(Record("book", time.time(), symbol, {
                "bid": bid[0], "bid_size": bid[1], "ask": ask[0], "ask_size": ask[1],
                "spread": spread, "mid": mid}))

    def poll_health(self) -> None:
        """Let the tracker notice streams gone stale (call it at each refresh)."""
        self.report_health(self.health.poll())

    def silence_reason(self, sandbox: bool, within: float | None = None) -> str:
        """Why data is missing, naming the cause the client saw: a refused
        subscription, no connection (and its last error), or a connection that opened
        but carried nothing for the waiting streams."""
        streams = self.health.streams()
        refused = [s for s in streams if s.state == "failed" or s.error]
        if refused:
            return "; ".join(f"the exchange refused {s.name}: {s.error or s.reason}"
                             + ("" if s.state == "failed" else " (still retrying)")
                             for s in refused)
        if not self.connected:
            if self.last_disconnect:
                where = "the in-process sandbox" if sandbox else "the exchange"
                hint = "" if sandbox else ": check the network and the URL"
                return f"could not connect to {where} ({self.last_disconnect}){hint}"
            if sandbox:
                return ("the connection to the in-process sandbox was still opening when "
                        "the time ran out: give a longer --duration")
            return "no connection opened in time, and none failed: check the network"
        waiting = [s.name for s in streams if s.messages == 0]
        took = f" within {within:g}s" if within is not None else ""
        if sandbox:
            return (f"connected, but {', '.join(waiting) or 'nothing'} got no data{took}; "
                    f"the in-process sandbox needs a second or two to start streaming: "
                    f"give a longer --duration")
        return f"connected, but {', '.join(waiting) or 'nothing'} got no data{took}"

    def frame(self) -> Frame:
        """An immutable copy of everything the views draw."""
        streams = tuple(self.health.streams())
        connections = tuple(self.health.connections())
        now = self.clock()
        with self.cond:
            symbols = tuple(self._symbol_frame(view, now) for view in self.symbols.values())
            return Frame(self.title, self.where, now, now - self.started, self.duration,
                         symbols, self.channels, streams, connections, tuple(self.log),
                         dict(self.counts), len(self.errors), self.reconnects,
                         self._account_frame(now))

    def _account_frame(self, now: float) -> Any:
        """Extra data for the frame (the demo adds its account); called under ``cond``."""
        return None

    def _symbol_frame(self, view: SymbolView, now: float) -> SymbolFrame:
        horizon = now - PRICE_HISTORY
        for series in (view.trade_prices, view.mids):
            while series and series[0][0] < horizon:
                series.popleft()
        prices = view.trade_prices if view.trade_prices else view.mids
        bid, ask = view.best()
        return SymbolFrame(
            view.symbol, view.ticker, _age(now, view.ticker_at), view.book_ticker,
            _age(now, view.book_ticker_at), view.candle, _age(now, view.candle_at),
            tuple(view.bids), tuple(view.asks), _age(now, view.book_at),
            tuple(reversed(view.trades)), _age(now, view.trades_at), tuple(prices), bid, ask)


def _push(series: deque[tuple[float, float]], now: float, price: float) -> None:
    if series and series[-1][0] == now:
        series[-1] = (now, price)
    else:
        series.append((now, price))


def _is_snapshot(event: Any) -> bool:
    name = type(event).__name__
    return name == "BookSnapshot"


def _fields(event: Any) -> dict[str, Any]:
    """A model's fields as a dict, without the decoded frame (``raw``)."""
    from dataclasses import fields, is_dataclass
    if not is_dataclass(event):
        return {"value": event}
    return {f.name: getattr(event, f.name) for f in fields(event) if f.name != "raw"}

"""The screen: which view components are shown, and how big, for the terminal's size.

:class:`Screen` is the ``rich`` renderable the live display refreshes. At each refresh it
takes a fresh :class:`~exchange_wss.cli.state.Frame` and lays out the components of
:mod:`.views` to fill the terminal exactly. Narrow terminals (under
:data:`WIDE` columns) put book and trades side by side with the streams' health in the
panel titles; wide ones add a column of per-stream health rows and connections. Height
decides how many book levels and log lines fit; what never happens is a cut number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from . import views
from .state import Frame, SymbolFrame

__all__ = ["Screen", "HealthScreen", "compose", "compose_health", "WIDE"]

#: Columns from which the wide layout (a third column of health) is used.
WIDE = 120
#: Rows of the book/trades row when there is room for everything (25 levels).
BOOK_ROWS_MAX = 29


def _split(width: int, ratios: Sequence[float], mins: Sequence[int]) -> list[int]:
    """Widths summing to ``width``, proportional to ``ratios`` but at least ``mins``."""
    total = sum(ratios)
    widths = [max(m, int(width * r / total)) for r, m in zip(ratios, mins, strict=False)]
    # Give or take the difference on the most flexible column (the last that can).
    diff = width - sum(widths)
    for i in sorted(range(len(widths)), key=lambda i: widths[i] - mins[i], reverse=True):
        if diff == 0:
            break
        change = max(diff, mins[i] - widths[i]) if diff < 0 else diff
        widths[i] += change
        diff -= change
    return widths


def _row(cells: Sequence[RenderableType], widths: Sequence[int]) -> Table:
    grid = Table.grid(padding=0)
    for w in widths:
        grid.add_column(width=w, no_wrap=True)
    grid.add_row(*cells)
    return grid


def _book_min_width(sym: SymbolFrame) -> int:
    """Columns the book needs to show its prices whole (sizes and bars can go)."""
    from . import fmt
    prices = fmt.column([p for p, _s in sym.bids[:25]] + [p for p, _s in sym.asks[:25]])
    pw = max([len(p) for p in prices] + [3])
    return 2 * pw + 3 + 4


def _empty_symbol(symbol: str) -> SymbolFrame:
    return SymbolFrame(symbol, None, None, None, None, None, None, (), (), None, (), None, (),
                       None, None)


def compose(frame: Frame, width: int, height: int, *, book_label: str = "book",
            wallets_title: str = "wallets", symbols: Sequence[str] = ()) -> list[RenderableType]:
    """The renderables of one screen, top to bottom, together ``height`` rows high.

    Args:
        frame: what to draw.
        width: the screen's width in cells.
        height: its height in rows.
        book_label: the book panel's title.
        wallets_title: the balances panel's title (the demo).
        symbols: symbols to show before any data arrived (no blank start).
    """
    channels = set(frame.channels)
    shown = list(frame.symbols)
    for symbol in symbols:
        if not any(s.symbol == symbol for s in shown):
            shown.append(_empty_symbol(symbol))
    wide = width >= WIDE
    demo = frame.account is not None
    has_ticker = bool(channels & {"ticker", "book_ticker", "candles"})
    has_book, has_trades = "book" in channels, "trades" in channels
    out: list[RenderableType] = [views.header(frame, width)]
    left = height - 1

    account_h = (8 if wide else 6) if demo else 0
    # The event log gets about a quarter of what is left, the market the rest.
    events_h = max(4, (left - account_h) // 4)
    ticker_h = 4 if has_ticker else 0
    per_symbol_min = ticker_h + (6 if (has_book or has_trades) else 0)
    avail = left - account_h - events_h
    fit = max(1, min(len(shown), avail // max(1, per_symbol_min))) if shown else 0
    hidden = len(shown) - fit
    shown = shown[:fit]

    market_h = 0
    if shown and (has_book or has_trades or wide):
        desired = BOOK_ROWS_MAX if not demo else 20
        if not (has_book or has_trades):
            desired = len(frame.streams) + 3 + 4
        market_h = max(4, min(desired, avail // len(shown) - ticker_h))
    if has_ticker and len(shown) > 1 and market_h < 8:
        ticker_h = 3  # no sparkline row: one more book level each
        market_h += 1

    for sym in shown:
        if has_ticker:
            out.append(views.ticker_panel(frame, sym, width, ticker_h))
            left -= ticker_h
        if market_h:
            out.append(_market_row(frame, sym, width, market_h, wide, has_book, has_trades,
                                   book_label))
            left -= market_h
    if hidden:
        out.append(Text(f"+{hidden} more symbol(s): enlarge the terminal, or use --no-ui",
                        style="dim"))
        left -= 1

    if demo:
        out.append(_account_row(frame, width, account_h, wide, wallets_title))
        left -= account_h

    streams_h = len(frame.streams) + 3
    if not wide and left - streams_h >= 6:
        out.append(_health_row(frame, width, streams_h))
        left -= streams_h
    out.append(views.events_panel(frame, width, max(3, left)))
    return out


def _market_row(frame: Frame, sym: SymbolFrame, width: int, height: int, wide: bool,
                has_book: bool, has_trades: bool, book_label: str) -> RenderableType:
    cells: list[tuple[str, float, int]] = []
    if has_book:
        cells.append(("book", 0.42 if wide else 0.55, _book_min_width(sym)))
    if has_trades:
        cells.append(("trades", 0.28 if wide else 0.45, 24))
    if wide:
        cells.append(("health", 0.30, 30))
    if not cells:
        cells.append(("health", 1.0, 30))
    widths = _split(width, [r for _n, r, _m in cells], [m for _n, _r, m in cells])
    rendered: list[RenderableType] = []
    for (name, _r, _m), w in zip(cells, widths, strict=False):
        if name == "book":
            rendered.append(views.book_panel(frame, sym, w, height, book_label))
        elif name == "trades":
            rendered.append(views.trades_panel(frame, sym, w, height))
        else:
            streams_h = min(height - 3, len(frame.streams) + 3)
            rendered.append(Group(views.streams_panel(frame, w, streams_h),
                                  views.connections_panel(frame, w, height - streams_h)))
    return _row(rendered, widths)


def _account_row(frame: Frame, width: int, height: int, wide: bool,
                 wallets_title: str) -> RenderableType:
    if wide:
        widths = _split(width, [0.42, 0.33, 0.25], [30, 30, 24])
        return _row([views.orders_panel(frame, widths[0], height),
                     views.fills_panel(frame, widths[1], height),
                     views.wallets_panel(frame, widths[2], height, wallets_title)], widths)
    widths = _split(width, [0.55, 0.45], [30, 24])
    return _row([views.orders_panel(frame, widths[0], height),
                 views.fills_panel(frame, widths[1], height)], widths)


def _health_row(frame: Frame, width: int, height: int) -> RenderableType:
    if width >= 100:
        widths = _split(width, [0.6, 0.4], [50, 36])
        return _row([views.streams_panel(frame, widths[0], height),
                     views.connections_panel(frame, widths[1], height)], widths)
    return views.streams_panel(frame, width, height)


class Screen:
    """The live display's renderable: a fresh frame laid out at each refresh.

    Args:
        frame: returns the :class:`~exchange_wss.cli.state.Frame` to draw.
        symbols: symbols shown (as waiting) before their first data.
        book_label, wallets_title: panel titles that depend on the venue.
    """

    def __init__(self, frame: Callable[[], Frame], symbols: Sequence[str] = (),
                 book_label: str = "book", wallets_title: str = "wallets") -> None:
        self._frame = frame
        self.symbols = tuple(symbols)
        self.book_label = book_label
        self.wallets_title = wallets_title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or console.height
        yield Group(*compose(self._frame(), width, height, book_label=self.book_label,
                             wallets_title=self.wallets_title, symbols=self.symbols))


def compose_health(frame: Frame, width: int, height: int) -> list[RenderableType]:
    """The ``health`` command's screen, ``height`` rows: the header, every stream (state,
    age, rate, messages, resyncs, connection, why), every connection (state, for how
    long, ping, reconnects, requests, authenticated) and the event log below."""
    out: list[RenderableType] = [views.header(frame, width)]
    left = height - 1
    conns_h = max(3, min(len(frame.connections) + 3, left // 4))
    events_h = max(3, left // 4)
    streams_h = max(3, min(len(frame.streams) + 3, left - conns_h - events_h))
    out.append(views.streams_panel(frame, width, streams_h, detail=True))
    out.append(views.connections_panel(frame, width, conns_h, detail=True))
    out.append(views.events_panel(frame, width, max(3, left - streams_h - conns_h)))
    return out


class HealthScreen:
    """The ``health`` command's live renderable: a fresh frame at each refresh.

    Args:
        frame: returns the :class:`~exchange_wss.cli.state.Frame` to draw.
    """

    def __init__(self, frame: Callable[[], Frame]) -> None:
        self._frame = frame

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or console.height
        yield Group(*compose_health(self._frame(), options.max_width, height))

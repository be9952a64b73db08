"""The view components of the terminal screens: ticker with a price sparkline, book with
depth bars, spread and mid, trades with their times, per-stream health rows, connection
state and ping latency, the event log, and the demo's orders, fills and wallets.

Each component is a function of a :class:`~exchange_wss.cli.state.Frame` (or part of
one) and the size it gets, returning a ``rich`` renderable exactly that size. They
never cut a number: a column is as wide as its widest value, and what gives way when
space runs out is a bar, a less important field or a row. :mod:`.layout` decides the
sizes. Only imported once ``rich`` is known to be installed (see :mod:`._rich`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from . import fmt
from .health import StreamHealth
from .state import Frame, SymbolFrame

__all__ = [
    "header", "ticker_panel", "book_panel", "trades_panel", "streams_panel",
    "connections_panel", "events_panel", "orders_panel", "fills_panel", "wallets_panel",
    "status_text", "STATE_STYLES",
]

#: Colours of the stream states.
STATE_STYLES = {"live": "green", "pending": "yellow", "resyncing": "magenta",
                "stale": "bold red", "failed": "bold red", "up": "green", "down": "bold red",
                "paused": "yellow", "gave up": "bold red", "connecting": "yellow"}

#: Seconds of prices the sparkline covers.
SPARK_SECONDS = 60.0


def _line(*parts: tuple[str, str]) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for content, style in parts:
        text.append(content, style)
    return text


def _panel(body: RenderableType, title: Text, width: int, height: int) -> Panel:
    # Titles are cropped here, by us, so rich never puts an ellipsis in a border.
    title.truncate(max(0, width - 6), overflow="crop")
    return Panel(body, title=title, title_align="left", width=width, height=height,
                 box=box.ROUNDED, padding=(0, 1))


def _inner(width: int) -> int:
    return max(0, width - 4)


def _rows(height: int) -> int:
    return max(0, height - 2)


def status_text(frame: Frame, stream: str | None) -> Text:
    """``live 0.2s 38/s`` for a stream: its state, the age of its last message and its
    rate, for a panel title; just the age of the panel's data when no stream matches."""
    health = _stream(frame, stream)
    if health is None:
        return Text("")
    age = health.age(frame.now)
    text = Text()
    text.append(health.state, STATE_STYLES.get(health.state, ""))
    if age is None:
        text.append(f" waiting {fmt.age(frame.now - health.since)}")
    else:
        text.append(f" age {fmt.age(age)} {fmt.rate(health.rate)}")
    return text


def _stream(frame: Frame, name: str | None) -> StreamHealth | None:
    if name is None:
        return None
    return next((s for s in frame.streams if s.name == name), None)


def _title(label: str, frame: Frame, stream: str | None, age: float | None = None
           ) -> Text:
    title = Text(f"{label} ", style="bold")
    status = status_text(frame, stream)
    if status.plain:
        title.append_text(status)
    else:
        title.append(f"age {fmt.age(age)}" if age is not None else "waiting")
    return title


# -- header --------------------------------------------------------------------------------
def header(frame: Frame, width: int) -> Text:
    """One line: the command, the clock, each connection's state and ping, the server.

    What does not fit is left out whole, least important first (the server's name,
    then the pings), never cut in the middle.
    """
    clock = fmt.age(frame.elapsed) if frame.duration is None else (
        f"{frame.elapsed:.1f}/{frame.duration:g}s")
    # (priority, text, style): 0 always, higher numbers go first when space runs out.
    parts: list[tuple[int, str, str]] = [(0, frame.title, "bold"), (0, f" · {clock}", "")]
    for conn in frame.connections:
        parts.append((1, f" · {conn.name} ", ""))
        parts.append((1, conn.state, STATE_STYLES.get(conn.state, "")))
        if conn.latency is not None:
            parts.append((2, f" ping {conn.latency * 1000:.1f}ms", ""))
    if frame.errors:
        parts.append((1, f" · errors {frame.errors}", "red"))
    parts.append((3, f" · {frame.where}", "dim"))
    for level in (3, 2, 1):
        if sum(len(t) for _p, t, _s in parts) <= width:
            break
        parts = [p for p in parts if p[0] < level]
    text = _line(*((t, style) for _p, t, style in parts))
    text.truncate(width, overflow="crop")
    return text


# -- ticker and sparkline -------------------------------------------------------------------
def ticker_fields(sym: SymbolFrame) -> list[tuple[str, str, str]]:
    """``(label, value, style)`` of the ticker line, most important first."""
    ticker, bbo, candle = sym.ticker, sym.book_ticker, sym.candle
    fields: list[tuple[str, str, str]] = []
    bid = _pick(getattr(ticker, "bid", None), getattr(bbo, "bid", None), sym.best_bid)
    ask = _pick(getattr(ticker, "ask", None), getattr(bbo, "ask", None), sym.best_ask)
    prices = fmt.column([bid, ask])
    fields.append(("bid", prices[0], "green"))
    fields.append(("ask", prices[1], "red"))
    if ticker is not None:
        fields.append(("last", fmt.num(ticker.last_price), "bold"))
        change = getattr(ticker, "daily_change_relative", None)
        if change is not None:
            fields.append(("24h", fmt.num(change, "+.2%"), "green" if change >= 0 else "red"))
        for label, name in (("vol", "volume"), ("high", "high"), ("low", "low")):
            value = getattr(ticker, name, None)
            if value is not None:
                fields.append((label, fmt.num(round(value, 2) if name == "volume" else value),
                               ""))
    if candle is not None:
        fields.append((f"{candle.timeframe} close", fmt.num(candle.close), ""))
    return fields


def _pick(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _fit_fields(fields: Sequence[tuple[str, str, str]], width: int) -> Text:
    text = Text(no_wrap=True, overflow="crop")
    for label, value, style in fields:
        piece = f"{label} {value}"
        gap = 2 if text.plain else 0
        if len(text.plain) + gap + len(piece) > width:
            break  # drop the less important fields rather than cut a number
        text.append(" " * gap)
        text.append(f"{label} ", "dim")
        text.append(value, style)
    return text


def spark_line(sym: SymbolFrame, now: float, width: int) -> Text:
    """``60s ▁▂▄█ 60012-60110``: the last minute of prices, scaled to their range."""
    if not sym.prices:
        return _line(("price: waiting for data", "dim"))
    label = f"{SPARK_SECONDS:g}s "
    # Bounds of the minute shown (the last price before it when it had none).
    values = [v for v in fmt.resample(list(sym.prices), now, SPARK_SECONDS, 120)
              if v is not None]
    low, high = fmt.column([min(values), max(values)])
    bounds = f" {low}-{high}"
    slots = max(0, width - len(label) - len(bounds))
    line = fmt.sparkline(fmt.resample(list(sym.prices), now, SPARK_SECONDS, slots), slots)
    return _line((label, "dim"), (line, "cyan"), (bounds, "dim"))


def ticker_panel(frame: Frame, sym: SymbolFrame, width: int, height: int) -> Panel:
    """The ticker line (bid, ask, last, change, volume, high, low, candle close) and,
    given a second row, the price sparkline; titled with the ticker stream's health."""
    inner = _inner(width)
    if sym.ticker is None and sym.book_ticker is None and sym.candle is None:
        lines: list[RenderableType] = [_line(("waiting for the first ticker…", "dim"))]
    else:
        lines = [_fit_fields(ticker_fields(sym), inner)]
    if _rows(height) >= 2:
        lines.append(spark_line(sym, frame.now, inner))
    stream = _first_stream(frame, sym.symbol, ("ticker", "book_ticker", "candles"))
    age = _min_age(sym.ticker_age, sym.book_ticker_age, sym.candle_age)
    return _panel(Group(*lines), _title(f"{sym.symbol}", frame, stream, age), width, height)


def _first_stream(frame: Frame, symbol: str, channels: Iterable[str]) -> str | None:
    for channel in channels:
        name = f"{channel} {symbol}"
        if _stream(frame, name) is not None:
            return name
    return None


def _min_age(*ages: float | None) -> float | None:
    known = [a for a in ages if a is not None]
    return min(known) if known else None


# -- book -------------------------------------------------------------------------------------
def book_lines(sym: SymbolFrame, width: int, rows: int) -> list[Text]:
    """The book as text lines exactly ``width`` wide: spread and mid, a header, then
    up to ``rows - 2`` levels a side with cumulative-depth bars."""
    levels = max(0, rows - 2)
    bids, asks = list(sym.bids[:levels]), list(sym.asks[:levels])
    bid, ask = (bids[0][0] if bids else sym.best_bid), (asks[0][0] if asks else sym.best_ask)
    spread, bps, mid = fmt.spread_and_mid(bid, ask)
    prices = fmt.column([p for p, _s in bids] + [p for p, _s in asks]
                        + ([bid, ask] if bid is not None and ask is not None else []))
    places = max((fmt.decimals_of(v) for v in (fmt.number(x) for x in
                  [p for p, _s in bids + asks] + [bid, ask]) if v is not None), default=0)
    places = min(places, fmt.MAX_PRICE_DECIMALS)
    # Spread, then mid, then the basis points: what does not fit is left out whole.
    parts = [(("spread ", "dim"), (fmt.fixed(spread, places), "bold")),
             (("  mid ", "dim"), (fmt.fixed(mid, places + 1) if mid is not None else "-",
                                  "bold")),
             ((f" ({bps:.1f}bp)" if bps is not None else "", "dim"),)]
    while len(parts) > 1 and sum(len(t) for part in parts for t, _s in part) > width:
        parts.pop()
    order = [parts[0]] + ([parts[2]] if len(parts) > 2 else []) + (
        [parts[1]] if len(parts) > 1 else [])
    out = [_line(*(piece for part in order for piece in part))]
    if rows < 2:
        return out[:rows]
    if not bids and not asks:
        out.append(_line(("waiting for the book…" if sym.book_age is None
                          else "the book is empty", "dim")))
        return out
    n_b = len(bids)
    bid_prices, ask_prices = prices[:n_b], prices[n_b:n_b + len(asks)]
    sizes = fmt.column([s for _p, s in bids] + [s for _p, s in asks], fmt.MAX_SIZE_DECIMALS)
    bid_sizes, ask_sizes = sizes[:n_b], sizes[n_b:]
    pw = max([len(p) for p in prices] + [3])
    sw = max([len(s) for s in sizes] + [4])
    fixed = 2 * pw + 2 * sw + 5          # "size price │ price size"
    bar_w = max(0, (width - fixed - 2) // 2)
    if fixed > width:                    # too narrow for sizes: prices only, never cut
        sw, bar_w = 0, 0
    cum_b, cum_a, total = [], [], 0.0
    for _p, s in bids:
        total += abs(fmt.number(s) or 0.0)
        cum_b.append(total)
    total = 0.0
    for _p, s in asks:
        total += abs(fmt.number(s) or 0.0)
        cum_a.append(total)
    deepest = max(cum_b[-1:] + cum_a[-1:] + [0.0]) or 1.0
    pad = " " if bar_w else ""
    head = _line((" " * (bar_w + len(pad)), ""),
                 ("size".rjust(sw) + " " if sw else "", "dim"), ("bid".rjust(pw), "dim"),
                 (" │ ", "dim"), ("ask".ljust(pw), "dim"),
                 (" " + "size".ljust(sw) if sw else "", "dim"))
    out.append(head)
    for i in range(max(len(bids), len(asks))):
        line = Text(no_wrap=True, overflow="crop")
        if i < len(bids):
            line.append(fmt.bar(cum_b[i] / deepest, bar_w, grow_left=True), "green4")
            line.append(pad)
            if sw:
                line.append(bid_sizes[i].rjust(sw) + " ")
            line.append(bid_prices[i].rjust(pw), "green")
        else:
            line.append(" " * (bar_w + len(pad) + (sw + 1 if sw else 0) + pw))
        line.append(" │ ", "dim")
        if i < len(asks):
            line.append(ask_prices[i].ljust(pw), "red")
            if sw:
                line.append(" " + ask_sizes[i].ljust(sw))
            line.append(pad)
            line.append(fmt.bar(cum_a[i] / deepest, bar_w), "red3")
        out.append(line)
    return out


def book_panel(frame: Frame, sym: SymbolFrame, width: int, height: int,
               label: str = "book") -> Panel:
    """The maintained book: spread and mid, levels with sizes and depth bars; titled with
    the book stream's health (state, age, rate)."""
    lines = book_lines(sym, _inner(width), _rows(height))
    return _panel(Group(*lines), _title(f"{label} {sym.symbol}", frame,
                                        _first_stream(frame, sym.symbol, ("book",)),
                                        sym.book_age), width, height)


# -- trades -------------------------------------------------------------------------------------
def trades_panel(frame: Frame, sym: SymbolFrame, width: int, height: int) -> Panel:
    """The latest trades, newest first: time (UTC), price, signed amount."""
    inner, rows = _inner(width), _rows(height)
    trades = list(sym.trades[:max(0, rows)])
    prices = fmt.column([t.price for t in trades])
    amounts = _signed_column([t.amount for t in trades])
    pw = max([len(p) for p in prices] + [1])
    aw = max([len(a) for a in amounts] + [1])
    lines: list[RenderableType] = []
    for trade, price, amount in zip(trades, prices, amounts, strict=False):
        stamp = fmt.clock(trade.mts)
        if len(stamp) + 2 + pw + 2 + aw > inner:
            stamp = stamp[:8]            # drop the milliseconds before anything else
        if len(stamp) + 2 + pw + 2 + aw > inner:
            stamp = ""
        side = "green" if (fmt.number(trade.amount) or 0) > 0 else "red"
        lines.append(_line((stamp + "  " if stamp else "", "dim"), (price.rjust(pw), side),
                           ("  " + amount.rjust(aw), side)))
    if not lines:
        lines.append(_line(("waiting for trades…", "dim")))
    return _panel(Group(*lines), _title("trades UTC", frame,
                                        _first_stream(frame, sym.symbol, ("trades",)),
                                        sym.trades_age), width, height)


def _signed_column(amounts: Sequence[Any]) -> list[str]:
    """Signed amounts with one common count of decimals (up to 8), so they line up."""
    values = [fmt.number(a) for a in amounts]
    texts = fmt.column([abs(v) if v is not None else None for v in values], 8)
    return [t if v is None else ("+" if v > 0 else "-" if v < 0 else " ") + t
            for v, t in zip(values, texts, strict=False)]


# -- health ----------------------------------------------------------------------------------------
def _columns(columns: Sequence[tuple[str, Sequence[str], str, Sequence[str]]], inner: int,
             keep_last: bool = False) -> list[Text]:
    """Lay out ``(header, cells, align, styles)`` columns in ``inner`` cells, dropping
    columns from the right until the rest fit whole (the first two always stay).
    ``keep_last``: the last column is words the caller crops; it is not counted."""
    columns = list(columns)
    last = columns.pop() if keep_last else None
    def width_of(cols: Sequence[Any]) -> int:
        return sum(max([len(h)] + [len(c) for c in cells]) for h, cells, _a, _s in cols) + (
            len(cols) - 1)
    while len(columns) > 2 and width_of(columns) > inner:
        columns.pop()
    if last is not None:
        columns.append(last)
    widths = [max([len(h)] + [len(c) for c in cells]) for h, cells, _a, _s in columns]

    def cell(text: str, w: int, align: str) -> str:
        return text.rjust(w) if align == "right" else text.ljust(w)

    head = _line((" ".join(cell(h, w, a)
                           for (h, _c, a, _s), w in zip(columns, widths, strict=False)), "dim"))
    lines = [head]
    for i in range(len(columns[0][1]) if columns else 0):
        line = Text(no_wrap=True, overflow="crop")
        for j, ((_h, cells, align, styles), w) in enumerate(zip(columns, widths, strict=False)):
            if j:
                line.append(" ")
            line.append(cell(cells[i], w, align), styles[i] if styles else "")
        lines.append(line)
    return lines


def streams_panel(frame: Frame, width: int, height: int, detail: bool = False) -> Panel:
    """One row per stream: state, age of the last message, rate, messages, resyncs
    (the last columns give way first when the panel is narrow); with ``detail`` also
    its connection and, last and cropped, why it is in its state."""
    inner, rows = _inner(width), _rows(height)
    streams = list(frame.streams)
    more = len(streams) - (rows - 1)
    if more > 0:
        streams = streams[:max(0, rows - 2)]
    ages = [s.age(frame.now) for s in streams]
    columns = [
        ("stream", [s.name for s in streams], "left", []),
        ("state    ", [s.state for s in streams], "left",
         [STATE_STYLES.get(s.state, "") for s in streams]),
        ("age", [fmt.age(a) if a is not None else "-" for a in ages], "right", []),
        ("rate", [fmt.rate(s.rate) for s in streams], "right", []),
        ("msgs", [str(s.messages) for s in streams], "right", []),
        ("resyncs", [str(s.resyncs) for s in streams], "right", []),
    ]
    if detail:
        columns.append(("connection", [s.connection or "-" for s in streams], "left", []))
        # Words, cropped at the panel's edge: never a number.
        columns.append(("why", [s.error or (s.reason if s.state != "live" else "") or ""
                                for s in streams], "left", []))
    lines = _columns(columns, inner, keep_last=detail)
    if detail:
        for line in lines:
            line.truncate(inner, overflow="crop")
    if more > 0:
        lines.append(_line((f"+{more} more streams", "dim")))
    return _panel(Group(*lines[:max(1, rows)]), Text("streams", style="bold"), width, height)


def connections_panel(frame: Frame, width: int, height: int, detail: bool = False) -> Panel:
    """One row per connection: state, for how long, ping round trip, authenticated;
    with ``detail`` also its reconnects and unsettled requests."""
    inner, rows = _inner(width), _rows(height)
    conns = list(frame.connections)[:max(0, rows - 1)]
    columns = [
        ("connection", [c.name for c in conns], "left", []),
        ("state  ", [c.state for c in conns], "left",
         [STATE_STYLES.get(c.state, "") for c in conns]),
        ("for", [fmt.age(frame.now - c.since) for c in conns], "right", []),
        ("ping", [f"{c.latency * 1000:.1f}ms" if c.latency is not None else "-"
                  for c in conns], "right", []),
    ]
    if detail:
        columns += [("reconnects", [str(c.reconnects) for c in conns], "right", []),
                    ("requests", [str(c.requests) for c in conns], "right", [])]
    columns.append(("", ["authenticated" if c.authenticated else (c.reason or "")
                         for c in conns], "left", []))
    lines = _columns(columns, inner, keep_last=detail)
    for line in lines:
        line.truncate(inner, overflow="crop")  # the last column is words, not numbers
    if not conns:
        lines.append(_line(("connecting…", "dim")))
    return _panel(Group(*lines[:max(1, rows)]), Text("connections", style="bold"), width,
                  height)


# -- event log -------------------------------------------------------------------------------------
def events_panel(frame: Frame, width: int, height: int) -> Panel:
    """The newest event-log entries that fit, oldest at the top; a long entry wraps
    (indented) instead of being cut."""
    import textwrap
    rows, inner = _rows(height), _inner(width)
    shown: list[Text] = []
    for entry in reversed(frame.log):
        wrapped = textwrap.wrap(entry, width=max(10, inner), subsequent_indent=" " * 9,
                                break_long_words=False, break_on_hyphens=False) or [""]
        if len(shown) + len(wrapped) > rows:
            break
        style = _log_style(entry)
        shown[:0] = [_line((piece, style)) for piece in wrapped]
    lines = shown or [_line(("…", "dim"))]
    return _panel(Group(*lines), Text(f"events ({len(frame.log)})", style="bold"), width,
                  height)


def _log_style(text: str) -> str:
    if "error" in text or "stale" in text or "failed" in text or "FAILED" in text:
        return "red"
    if "filled" in text or "fill:" in text:
        return "cyan"
    return ""


# -- the demo's account ----------------------------------------------------------------------------
def orders_panel(frame: Frame, width: int, height: int) -> Panel:
    """The demo's orders, newest first: id, amount, price, status (first word)."""
    account = frame.account
    inner, rows = _inner(width), _rows(height)
    orders = list(account.orders[:max(0, rows - 1)]) if account else []
    ids = [str(o.id) for o in orders]
    amounts = _signed_column([o.amount_orig for o in orders])
    prices = fmt.column([o.price for o in orders])
    iw = max([len(i) for i in ids] + [2])
    aw = max([len(a) for a in amounts] + [6])
    pw = max([len(p) for p in prices] + [5])
    lines: list[RenderableType] = [_line((f"{'id':<{iw}} {'amount':>{aw}} {'price':>{pw}} "
                                          "status", "dim"))]
    for order, oid, amount, price in zip(orders, ids, amounts, prices, strict=False):
        status = (order.status or "").split(" @")[0].split(":")[0]
        style = "green" if "EXECUTED" in status or "FILLED" in status else (
            "dim" if "CANCEL" in status or status == "closed" else "")
        line = _line((f"{oid:<{iw}} {amount:>{aw}} {price:>{pw}} ", ""), (status, style))
        line.truncate(inner, overflow="crop")
        lines.append(line)
    if not orders:
        lines.append(_line(("no orders yet", "dim")))
    title = Text("my orders ", style="bold")
    title.append(f"age {fmt.age(account.orders_age)}" if account and account.orders_age
                 is not None else "waiting")
    return _panel(Group(*lines), title, width, height)


def fills_panel(frame: Frame, width: int, height: int) -> Panel:
    """The demo's fills, newest first: time (UTC), amount, price, fee."""
    account = frame.account
    inner, rows = _inner(width), _rows(height)
    fills = list(account.fills[:max(0, rows)]) if account else []
    prices = fmt.column([f.price for f in fills])
    amounts = _signed_column([f.amount for f in fills])
    lines: list[RenderableType] = []
    for fill, price, amount in zip(fills, prices, amounts, strict=False):
        stamp = fmt.clock(fill.mts)
        stamp = stamp[:8] if inner < 40 else stamp
        body = f"{amount} @ {price}"
        fee = f" fee {fmt.num(fill.fee)}" if fill.fee is not None else ""
        if len(stamp) + 1 + len(body) + len(fee) > inner:
            fee = ""  # the fee gives way, whole, before anything is cut
        lines.append(_line((stamp + " ", "dim"), (body, "cyan"), (fee, "dim")))
    if not lines:
        lines.append(_line(("no fills yet", "dim")))
    title = Text("my fills UTC ", style="bold")
    title.append(f"age {fmt.age(account.fills_age)}" if account and account.fills_age
                 is not None else "waiting")
    return _panel(Group(*lines), title, width, height)


def wallets_panel(frame: Frame, width: int, height: int, title: str = "wallets") -> Panel:
    """Balances (and positions) of the demo's account."""
    account = frame.account
    rows = _rows(height)
    items = list(account.wallets) if account else []
    balances = fmt.column([w.balance for w in items], 8)
    bw = max([len(b) for b in balances] + [7])
    lines: list[RenderableType] = []
    for wallet, balance in list(zip(items, balances, strict=False))[:rows]:
        lines.append(_line((f"{wallet.type:<9} {wallet.currency:<5} ", "dim"),
                           (balance.rjust(bw), "")))
    if not lines:
        lines.append(_line(("waiting…", "dim")))
    head = Text(f"{title} ", style="bold")
    head.append(f"age {fmt.age(account.wallets_age)}" if account and account.wallets_age
                is not None else "waiting")
    return _panel(Group(*lines), head, width, height)

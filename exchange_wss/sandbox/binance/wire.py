"""The Binance wire as the sandbox writes it: what differs per market (profiles),
number formats, Binance's error shape, stream names and kline times.

Pure: no Twisted, no server state. Every other module of the sandbox's Binance
package reads its names, formats and errors from here.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

__all__ = ["MarketProfile", "PROFILES", "ApiError", "KLINE_INTERVALS", "parse_stream",
           "pair_of", "kline_start", "kline_close_time"]

ZERO = Decimal(0)
_Q8 = Decimal("0.00000001")
KLINE_INTERVALS = {"1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000,
                   "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000,
                   "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000, "1d": 86_400_000,
                   "3d": 259_200_000, "1w": 604_800_000, "1M": None}
_WEEK_OFFSET = 4 * 86_400_000  # Binance weeks start on Monday; 1970-01-05 was one.
_ASSET_NAMES = {"USD": "USDT"}

@dataclass(frozen=True)
class MarketProfile:
    """What differs between Binance Spot, USDⓈ-M and COIN-M.

    Attributes:
        name: ``"spot"``, ``"usdm"`` or ``"coinm"``.
        symbols: Binance symbol -> engine symbol.
        rest_prefix: REST path prefix (``/api/v3``, ``/fapi/v1``, ``/dapi/v1``).
        listen_key_path: listenKey REST path.
        api_path: WebSocket API path.
        max_streams: streams per connection.
        max_incoming: incoming messages per second before the connection is cut.
        pong_timeout: seconds a ping may stay unanswered.
        depth_speeds: depth update speeds in ms; the first is the default.
        depth_limit: default and maximum ``limit`` of the REST depth snapshot.
        futures: futures event shapes (ORDER_TRADE_UPDATE, ``pu``, ``T``).
        contract_sizes: COIN-M: USD value of one contract per symbol
            (``contractSize`` in ``/dapi/v1/exchangeInfo``); quantities count these.
    """

    name: str
    symbols: Mapping[str, str]
    rest_prefix: str
    listen_key_path: str
    api_path: str
    max_streams: int
    max_incoming: int
    pong_timeout: float
    depth_speeds: tuple
    depth_limit: tuple
    futures: bool
    contract_sizes: Mapping[str, Decimal] = field(default_factory=dict)

    @property
    def inverse(self) -> bool:
        """COIN-M: quantities in contracts, margin and PnL in the base coin."""
        return bool(self.contract_sizes)



    def px(self, d: Decimal) -> str:
        """A price or quantity as this market writes it: Spot 8 decimals, futures plain."""
        return _plain(d) if self.futures else _fixed8(d)

    def asset(self, currency: str) -> str:
        """The Binance asset name of an engine currency (USD is USDT, but not on COIN-M)."""
        return _ASSET_NAMES.get(currency, currency) if self.name != "coinm" else currency

    def engine_symbol(self, bsym: Any) -> str:
        """The engine symbol of a Binance symbol.

        Raises:
            ApiError: -1102 when missing, -1121 when unknown.
        """
        if not isinstance(bsym, str) or not bsym:
            raise _mandatory("symbol")
        sym = self.symbols.get(bsym)
        if sym is None:
            raise ApiError(-1121, "Invalid symbol.")
        return sym

    def binance_symbol(self, engine_symbol: str) -> str | None:
        """The Binance symbol of an engine symbol, or None if this market has none."""
        for b, e in self.symbols.items():
            if e == engine_symbol:
                return b
        return None

PROFILES = {
    "spot": MarketProfile("spot", {"BTCUSDT": "tBTCUSD", "ETHUSDT": "tETHUSD"}, "/api/v3",
                          "/sapi/v1/userDataStream", "/ws-api/v3", 1024, 5, 60.0, (1000, 100),
                          (100, 5000), False),
    "usdm": MarketProfile("usdm", {"BTCUSDT": "tBTCUSD", "ETHUSDT": "tETHUSD"}, "/fapi/v1",
                          "/fapi/v1/listenKey", "/ws-fapi/v1", 200, 10, 600.0, (250, 500, 100),
                          (500, 1000), True),
    "coinm": MarketProfile("coinm", {"BTCUSD_PERP": "tBTCUSD", "ETHUSD_PERP": "tETHUSD"},
                           "/dapi/v1", "/dapi/v1/listenKey", "/ws-dapi/v1", 200, 10, 600.0,
                           (250, 500, 100), (500, 1000), True,
                           # Binance: 100 USD a contract for BTCUSD_*, 10 USD for ETH and most.
                           {"BTCUSD_PERP": Decimal(100), "ETHUSD_PERP": Decimal(10)}),
}

_RETIRED_SPOT_PATHS = ("/api/v3/userDataStream", "/api/v1/userDataStream")


class ApiError(Exception):
    """A Binance error: ``code`` and ``msg`` as the wire carries them, and the HTTP-like status."""

    def __init__(self, code: int, msg: str, status: int = 400):
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


def _mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                           "or malformed.")


# -- numbers ---------------------------------------------------------------------------

def _dec(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise InvalidOperation
    if isinstance(value, float):
        return Decimal(repr(value))
    d = Decimal(str(value).strip())
    if not d.is_finite():
        raise InvalidOperation
    return d


def _plain(d: Decimal) -> str:
    """A decimal without exponent or trailing zeros: ``60001``, ``0.001``, ``0``."""
    if d == 0:
        return "0"
    return f"{d.normalize():f}"


def _fixed8(d: Decimal) -> str:
    return f"{d.quantize(_Q8, rounding=ROUND_DOWN):f}"


def _from_float(x: float) -> Decimal:
    return Decimal(repr(x)).quantize(_Q8)


# -- klines ----------------------------------------------------------------------------

def kline_start(mts: int, interval: str) -> int:
    """Open time (ms) of the ``interval`` kline holding ``mts``."""
    step = KLINE_INTERVALS[interval]
    if step is None:
        d = _dt.datetime.fromtimestamp(mts / 1000, _dt.UTC)
        return calendar.timegm((d.year, d.month, 1, 0, 0, 0)) * 1000
    if interval == "1w":
        return (mts - _WEEK_OFFSET) // step * step + _WEEK_OFFSET
    return mts - mts % step


def kline_close_time(start: int, interval: str) -> int:
    """Close time (ms, inclusive) of the kline opened at ``start``."""
    step = KLINE_INTERVALS[interval]
    if step is None:
        d = _dt.datetime.fromtimestamp(start / 1000, _dt.UTC)
        y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return calendar.timegm((y, m, 1, 0, 0, 0)) * 1000 - 1
    return start + step - 1


# -- streams ---------------------------------------------------------------------------

#: All-market streams: name -> (kind, the markets that serve it). Spot retired
#: !bookTicker (2022-12) and !ticker@arr (2025-12); !markPrice@arr is USDⓈ-M's.
_ALL_MARKET = {"!ticker@arr": ("allTicker", ("usdm", "coinm")),
               "!miniTicker@arr": ("allMiniTicker", ("spot", "usdm", "coinm")),
               "!markPrice@arr": ("allMarkPrice", ("usdm",)),
               "!markPrice@arr@1s": ("allMarkPrice", ("usdm",)),
               "!forceOrder@arr": ("allForceOrder", ("usdm", "coinm")),
               "!bookTicker": ("allBookTicker", ("usdm", "coinm"))}


def pair_of(bsym: str) -> str:
    """The underlying pair of a symbol: ``BTCUSD_PERP`` -> ``BTCUSD``; ``BTCUSDT`` itself."""
    return bsym.split("_")[0]


def parse_stream(name: str, profile: MarketProfile) -> tuple | None:
    """The key ``(kind, SYMBOL, param, speed)`` of a market stream name, or None if invalid.

    Kinds: ``trade``, ``aggTrade``, ``kline`` (param: interval), ``bookTicker``,
    ``ticker``, ``miniTicker``, ``depth`` (diff) and ``depthN`` (param: 5/10/20);
    futures: ``markPrice`` (speed 3000/1000 ms), ``forceOrder``, ``continuousKline``
    (the perpetual of the pair; param: interval); COIN-M: ``pairMarkPrice`` (SYMBOL
    is the pair). All-market streams (``!ticker@arr``...) have SYMBOL None and the
    kinds ``allTicker``, ``allMiniTicker``, ``allMarkPrice``, ``allForceOrder``,
    ``allBookTicker``.
    """
    if not isinstance(name, str) or ("@" not in name and name != "!bookTicker"):
        return None
    if name.startswith("!"):
        entry = _ALL_MARKET.get(name)
        if entry is None or profile.name not in entry[1]:
            return None
        return (entry[0], None, None, 1000 if name.endswith("@1s") else
                (3000 if entry[0] == "allMarkPrice" else None))
    sym, _, rest = name.partition("@")
    if sym != sym.lower():
        return None
    bsym = sym.upper()
    if profile.futures and rest.startswith("continuousKline_"):
        pair, _, ctype = bsym.rpartition("_")
        iv = rest[len("continuousKline_"):]
        perp = next((b for b in profile.symbols if pair_of(b) == pair), None)
        if ctype != "PERPETUAL" or perp is None or iv not in KLINE_INTERVALS or iv == "1s":
            return None
        return ("continuousKline", perp, iv, None)
    if profile.futures and rest in ("markPrice", "markPrice@1s"):
        speed = 1000 if rest.endswith("@1s") else 3000
        if bsym in profile.symbols:
            return ("markPrice", bsym, None, speed)
        if profile.inverse and any(pair_of(b) == bsym for b in profile.symbols):
            return ("pairMarkPrice", bsym, None, speed)
        return None
    if bsym not in profile.symbols:
        return None
    if profile.futures and rest == "forceOrder":
        return ("forceOrder", bsym, None, None)
    speeds = profile.depth_speeds
    if rest in ("trade", "aggTrade", "bookTicker", "ticker", "miniTicker"):
        return (rest, bsym, None, None)
    if rest.startswith("kline_"):
        iv = rest[6:]
        if iv not in KLINE_INTERVALS or (iv == "1s" and profile.futures):
            return None
        return ("kline", bsym, iv, None)
    if rest.startswith("depth"):
        body, _, speed_text = rest.partition("@")
        speed = speeds[0]
        if speed_text:
            if not speed_text.endswith("ms") or not speed_text[:-2].isdigit():
                return None
            speed = int(speed_text[:-2])
            if speed not in speeds:
                return None
        if body == "depth":
            return ("depth", bsym, None, speed)
        if body in ("depth5", "depth10", "depth20"):
            return ("depthN", bsym, int(body[5:]), speed)
    return None


def _is_listen_key_name(name: str) -> bool:
    return isinstance(name, str) and 0 < len(name) <= 128 and "@" not in name and \
        "/" not in name and not name.startswith("!")

"""One way to name venues and symbols across exchanges, mapped both ways to the natives.

Pure functions, no I/O. A venue is ``"bitfinex"``, ``"binance"`` with a market
(``spot``, ``margin``, ``usdm``, ``coinm``) or ``"ftx"``; bt_api_py's names
(``"BINANCE___SPOT"``, ``"BINANCE___SWAP"``...) are accepted too. A unified
symbol is written as ccxt writes it: ``"BTC/USDT"`` for spot, ``"BTC/USDT:USDT"``
for a perpetual settled in USDT, ``"BTC/USD:BTC"`` for a coin-margined one, and a
``-EXPIRY`` suffix for dated futures (``"BTC/USD:BTC-200925"``).

:func:`to_native` turns a unified symbol into the venue's own (``tBTCUST``,
``BTCUSDT``, ``BTC-PERP``); a native symbol passes through unchanged, so every
client accepts both. :func:`to_unified` goes the other way; a native symbol with
no unified form (a Bitfinex funding currency ``fUSD``, an FTX MOVE contract) is
returned as it is, so ``to_native(v, to_unified(v, s)) == s`` for every symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LocalProtocolError

__all__ = ["Venue", "parse_venue", "to_native", "to_unified", "is_unified", "split_unified",
           "EXCHANGES", "BINANCE_MARKETS"]

EXCHANGES = ("bitfinex", "binance", "ftx")
BINANCE_MARKETS = ("spot", "margin", "usdm", "coinm")

#: bt_api_py's market words (the part after ``___``) -> Binance market.
_BT_MARKETS = {"SPOT": "spot", "MARGIN": "margin", "SWAP": "usdm", "USDM": "usdm",
               "USDT_SWAP": "usdm", "FUTURE": "usdm", "FUTURES": "usdm", "COINM": "coinm",
               "COIN_M": "coinm", "COIN_SWAP": "coinm", "INVERSE": "coinm"}

#: Bitfinex's short currency codes -> the common code (ccxt's commonCurrencies).
_BFX_TO_COMMON = {"UST": "USDT", "UDC": "USDC", "EUT": "EURT", "TSD": "TUSD", "PAS": "PAX",
                  "DSH": "DASH", "QTM": "QTUM", "IOT": "IOTA", "MNA": "MANA", "DAT": "DATA",
                  "YYW": "YOYOW", "SNG": "SNGLS", "STJ": "STORJ", "XCH": "XCHF", "ALG": "ALGO",
                  "AMP": "AMPL", "CNH": "CNHT", "MIT": "MITH", "XAUT": "XAUT"}
_COMMON_TO_BFX = {v: k for k, v in _BFX_TO_COMMON.items() if k != v}

#: Quote assets a Binance symbol can end with, longest first so ``FDUSD`` wins over ``USD``.
_BINANCE_QUOTES = tuple(sorted((
    "USDT", "FDUSD", "BUSD", "USDC", "TUSD", "USDP", "USDS", "DAI", "PAX", "BTC", "ETH", "BNB",
    "XRP", "TRX", "DOGE", "DOT", "EUR", "GBP", "AUD", "TRY", "BRL", "RUB", "UAH", "NGN", "ZAR",
    "PLN", "RON", "ARS", "JPY", "MXN", "COP", "CZK", "IDRT", "BIDR", "BVND", "VAI", "USD"),
    key=len, reverse=True))


@dataclass(frozen=True, slots=True)
class Venue:
    """A venue: an exchange and, for Binance, a market.

    Attributes:
        exchange: ``"bitfinex"``, ``"binance"`` or ``"ftx"``.
        market: Binance's ``"spot"``, ``"margin"``, ``"usdm"`` or ``"coinm"``; None elsewhere.
    """

    exchange: str
    market: str | None = None

    def __str__(self) -> str:
        return self.exchange if self.market is None else f"{self.exchange}:{self.market}"


def parse_venue(venue: str | Venue, market: str | None = None) -> Venue:
    """Read a venue name: ``"bitfinex"``, ``"binance"`` (+ ``market``), ``"binance:usdm"``,
    ``"ftx"``, or bt_api_py's ``"BINANCE___SPOT"`` style.

    Raises:
        LocalProtocolError: an unknown exchange or market, or two markets that disagree.
    """
    if isinstance(venue, Venue):
        if market is not None and market != venue.market:
            raise LocalProtocolError(f"venue {venue} and market {market!r} disagree")
        return venue
    if not isinstance(venue, str) or not venue.strip():
        raise LocalProtocolError(f"a venue name is required, got {venue!r}")
    text = venue.strip()
    named_market: str | None = None
    if "___" in text:
        exchange, _, word = text.partition("___")
        named_market = _BT_MARKETS.get(word.upper())
        if named_market is None:
            raise LocalProtocolError(f"unknown market {word!r} in venue {venue!r}")
    elif ":" in text:
        exchange, _, named_market = text.partition(":")
        named_market = named_market.lower()
    else:
        exchange = text
    exchange = exchange.lower()
    if exchange not in EXCHANGES:
        raise LocalProtocolError(f"unknown exchange {exchange!r}; expected one of {EXCHANGES}")
    if exchange != "binance":
        # bt_api_py names every venue with a market; only Binance's matters here.
        if market is not None:
            raise LocalProtocolError(f"{exchange} has no market option (got {market!r})")
        return Venue(exchange)
    if market is not None and named_market is not None and market != named_market:
        raise LocalProtocolError(f"venue {venue!r} and market {market!r} disagree")
    chosen = market or named_market or "spot"
    if chosen not in BINANCE_MARKETS:
        raise LocalProtocolError(f"unknown Binance market {chosen!r}; expected one of "
                                 f"{BINANCE_MARKETS}")
    return Venue("binance", chosen)


def is_unified(symbol: str) -> bool:
    """True for a symbol written ``BASE/QUOTE`` (with an optional ``:SETTLE[-EXPIRY]``)."""
    return isinstance(symbol, str) and "/" in symbol


def split_unified(symbol: str) -> tuple[str, str, str | None, str | None]:
    """``"BTC/USDT:USDT-240329"`` -> ``("BTC", "USDT", "USDT", "240329")``.

    Raises:
        LocalProtocolError: not of the unified form.
    """
    if not is_unified(symbol):
        raise LocalProtocolError(f"not a unified symbol (BASE/QUOTE[:SETTLE]): {symbol!r}")
    pair, _, contract = symbol.strip().upper().partition(":")
    base, _, quote = pair.partition("/")
    settle, expiry = None, None
    if contract:
        settle, _, expiry_text = contract.partition("-")
        expiry = expiry_text or None
    if not base or not quote or "/" in quote or (contract and not settle):
        raise LocalProtocolError(f"not a unified symbol (BASE/QUOTE[:SETTLE]): {symbol!r}")
    return base, quote, settle, expiry


def to_native(venue: str | Venue, symbol: str) -> str:
    """The venue's own symbol for ``symbol``; a native symbol is returned unchanged
    (Binance's upper-cased).

    Raises:
        LocalProtocolError: the symbol is empty, or its kind (spot, perpetual,
            future) does not exist on that venue.
    """
    v = parse_venue(venue)
    if not isinstance(symbol, str) or not symbol.strip():
        raise LocalProtocolError(f"a symbol is required, got {symbol!r}")
    symbol = symbol.strip()
    if v.exchange == "ftx":
        # FTX spot markets are already written BASE/QUOTE; only contracts differ.
        if ":" not in symbol:
            return symbol.upper() if "/" in symbol else symbol
        base, quote, settle, expiry = split_unified(symbol)
        if quote != "USD" or settle != "USD":
            raise LocalProtocolError(f"FTX futures are quoted and settled in USD: {symbol!r}")
        return f"{base}-{expiry or 'PERP'}"
    if not is_unified(symbol):
        return symbol.upper() if v.exchange == "binance" else symbol
    base, quote, settle, expiry = split_unified(symbol)
    if v.exchange == "bitfinex":
        return _bitfinex_native(symbol, base, quote, settle, expiry)
    return _binance_native(v.market, symbol, base, quote, settle, expiry)


def _bfx_code(common: str) -> str:
    return _COMMON_TO_BFX.get(common, common)


def _bitfinex_native(symbol: str, base: str, quote: str, settle: str | None,
                     expiry: str | None) -> str:
    if expiry is not None:
        raise LocalProtocolError(f"Bitfinex lists perpetuals only, no dated futures: {symbol!r}")
    b, q = _bfx_code(base), _bfx_code(quote)
    if settle is not None:
        if settle != quote:
            raise LocalProtocolError(f"Bitfinex perpetuals settle in their quote: {symbol!r}")
        return f"t{b}F0:{q}F0"
    if len(b) == 3 and len(q) == 3:
        return f"t{b}{q}"
    return f"t{b}:{q}"


def _binance_native(market: str | None, symbol: str, base: str, quote: str,
                    settle: str | None, expiry: str | None) -> str:
    if market in ("spot", "margin"):
        if settle is not None:
            raise LocalProtocolError(f"Binance {market} trades spot pairs, not {symbol!r}")
        return base + quote
    if market == "usdm":
        if settle is not None and settle != quote:
            raise LocalProtocolError(f"USDⓈ-M futures settle in their quote: {symbol!r}")
        return base + quote + (f"_{expiry}" if expiry else "")
    # COIN-M: quoted in USD, settled in the base coin.
    if quote != "USD" or (settle is not None and settle != base):
        raise LocalProtocolError(f"COIN-M futures are BASE/USD:BASE, not {symbol!r}")
    return f"{base}USD_{expiry or 'PERP'}"


def to_unified(venue: str | Venue, native: str) -> str:
    """The unified form of a venue's native symbol (unchanged where none exists).

    Raises:
        LocalProtocolError: the symbol is empty.
    """
    v = parse_venue(venue)
    if not isinstance(native, str) or not native.strip():
        raise LocalProtocolError(f"a symbol is required, got {native!r}")
    native = native.strip()
    if v.exchange == "bitfinex":
        return _bitfinex_unified(native)
    if v.exchange == "ftx":
        return _ftx_unified(native)
    return _binance_unified(v.market, native)


def _common(code: str) -> str:
    return _BFX_TO_COMMON.get(code, code)


def _bitfinex_unified(native: str) -> str:
    if is_unified(native) or not native.startswith("t") or len(native) < 4:
        return native  # funding currencies (fUSD) and anything unknown
    body = native[1:]
    if body != body.upper():
        return native
    if ":" in body:
        base, _, quote = body.partition(":")
        if base.endswith("F0") and quote.endswith("F0") and len(base) > 2 and len(quote) > 2:
            b, q = _common(base[:-2]), _common(quote[:-2])
            unified = f"{b}/{q}:{q}"
        elif base and quote:
            unified = f"{_common(base)}/{_common(quote)}"
        else:
            return native
    elif len(body) == 6:
        unified = f"{_common(body[:3])}/{_common(body[3:])}"
    else:
        return native
    # Only a symbol that maps back to itself has a unified form.
    try:
        return unified if to_native("bitfinex", unified) == native else native
    except LocalProtocolError:
        return native


def _split_quote(pair: str) -> tuple[str, str] | None:
    for quote in _BINANCE_QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[:-len(quote)], quote
    return None


def _binance_unified(market: str | None, native: str) -> str:
    if is_unified(native):
        return native
    symbol = native.upper()
    if market == "coinm":
        pair, _, expiry = symbol.partition("_")
        if not pair.endswith("USD") or len(pair) <= 3 or not expiry:
            return native
        base = pair[:-3]
        return f"{base}/USD:{base}" + ("" if expiry == "PERP" else f"-{expiry}")
    pair, _, expiry = symbol.partition("_")
    split = _split_quote(pair)
    if split is None:
        return native
    base, quote = split
    if market == "usdm":
        return f"{base}/{quote}:{quote}" + (f"-{expiry}" if expiry else "")
    if expiry:
        return native
    return f"{base}/{quote}"


def _ftx_unified(native: str) -> str:
    if "/" in native or "-" not in native:
        return native
    base, _, expiry = native.partition("-")
    if not base or not expiry or "-" in expiry:
        return native  # MOVE contracts and the like
    return f"{base}/USD:USD" + ("" if expiry == "PERP" else f"-{expiry}")

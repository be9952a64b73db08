"""Venue names and the unified symbol form, mapped both ways (exchange_wss.symbols)."""

import json
import pathlib

import pytest

from exchange_wss.errors import LocalProtocolError
from exchange_wss.sandbox.binance import PROFILES
from exchange_wss.sandbox.ftx.wire import FTX_MARKETS
from exchange_wss.sandbox.market import SimulatedMarket
from exchange_wss.symbols import Venue, parse_venue, to_native, to_unified

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


def _fixture_symbols():
    """(venue, native symbol) of every market named in the recorded real frames."""
    found = set()
    for path in (FIXTURES / "bitfinex").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            msg = json.loads(line)
            frame = json.loads(msg["frame"]) if isinstance(msg, dict) and "frame" in msg else msg
            if isinstance(frame, dict):
                sym = frame.get("symbol") or (frame.get("key") or "").partition(":")[2]
                if isinstance(sym, str) and sym.startswith("t"):
                    found.add(("bitfinex", sym))
    for name, market in (("tardis_binance.jsonl", "spot"), ("user_and_market_events.jsonl", "spot"),
                         ("tardis_binance_futures.jsonl", "usdm"),
                         ("tardis_binance_delivery.jsonl", "coinm")):
        for line in (FIXTURES / "binance" / name).read_text().splitlines():
            data = json.loads(line).get("data")
            if isinstance(data, dict):
                sym = data.get("s") or data.get("symbol")
                if isinstance(sym, str):
                    found.add((f"binance:{market}", sym.upper()))
    for path in (FIXTURES / "ftx").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            sym = json.loads(line).get("market")
            if isinstance(sym, str):
                found.add(("ftx", sym))
    return sorted(found)


FIXTURE_SYMBOLS = _fixture_symbols()


def _sandbox_symbols():
    out = [("bitfinex", s) for s in SimulatedMarket(seed=1).symbols if s.startswith("t")]
    for market, profile in PROFILES.items():
        out += [(f"binance:{market}", s) for s in profile.symbols]
    out += [("ftx", m) for m in FTX_MARKETS]
    return out


def test_fixtures_name_markets_of_every_exchange():
    """The fixture scan finds symbols of all three exchanges (so the round trips test something)."""
    exchanges = {v.split(":")[0] for v, _ in FIXTURE_SYMBOLS}
    assert exchanges == {"bitfinex", "binance", "ftx"}
    assert len(FIXTURE_SYMBOLS) >= 15


@pytest.mark.parametrize(("venue", "native"), _sandbox_symbols())
def test_sandbox_symbols_round_trip(venue, native):
    """Every symbol a sandbox lists maps to a unified form and back to itself."""
    unified = to_unified(venue, native)
    assert "/" in unified
    assert to_native(venue, unified) == native


@pytest.mark.parametrize(("venue", "native"), FIXTURE_SYMBOLS)
def test_fixture_symbols_round_trip(venue, native):
    """Every real symbol in tests/fixtures comes back unchanged through the unified form."""
    assert to_native(venue, to_unified(venue, native)) == native


@pytest.mark.parametrize(("venue", "native", "unified"), [
    ("bitfinex", "tBTCUSD", "BTC/USD"),
    ("bitfinex", "tBTCUST", "BTC/USDT"),
    ("bitfinex", "tBTCF0:USTF0", "BTC/USDT:USDT"),
    ("bitfinex", "tAVAX:USD", "AVAX/USD"),
    ("binance:spot", "BTCUSDT", "BTC/USDT"),
    ("binance:spot", "BNBBTC", "BNB/BTC"),
    ("binance:usdm", "BTCUSDT", "BTC/USDT:USDT"),
    ("binance:usdm", "BTCUSDT_240329", "BTC/USDT:USDT-240329"),
    ("binance:coinm", "BTCUSD_PERP", "BTC/USD:BTC"),
    ("binance:coinm", "BTCUSD_200925", "BTC/USD:BTC-200925"),
    ("ftx", "BTC-PERP", "BTC/USD:USD"),
    ("ftx", "BTC-1227", "BTC/USD:USD-1227"),
    ("ftx", "ETH/USD", "ETH/USD"),
])
def test_known_mappings(venue, native, unified):
    """Natives map to the ccxt-style unified symbols and back."""
    assert to_unified(venue, native) == unified
    assert to_native(venue, unified) == native


@pytest.mark.parametrize(("venue", "native"), [("bitfinex", "fUSD"), ("ftx", "BTC-MOVE-0901"),
                                          ("binance:spot", "BTCXYZ")])
def test_symbols_without_a_unified_form_pass_through(venue, native):
    """A native symbol with no unified form is returned as it is, both ways."""
    assert to_unified(venue, native) == native
    assert to_native(venue, native) == native


@pytest.mark.parametrize(("name", "expected"), [
    ("bitfinex", Venue("bitfinex")), ("ftx", Venue("ftx")),
    ("binance", Venue("binance", "spot")), ("binance:coinm", Venue("binance", "coinm")),
    ("BINANCE___SPOT", Venue("binance", "spot")), ("BINANCE___SWAP", Venue("binance", "usdm")),
    ("BITFINEX___SPOT", Venue("bitfinex")),
])
def test_venue_names(name, expected):
    """Plain names, ``exchange:market`` and bt_api_py's ``EXCHANGE___MARKET`` all parse."""
    assert parse_venue(name) == expected


@pytest.mark.parametrize("name", ["okx", "OKX___SPOT", "binance:options", ""])
def test_unknown_venues_are_refused(name):
    """An exchange or market this package does not speak is refused at once."""
    with pytest.raises(LocalProtocolError):
        parse_venue(name)


@pytest.mark.parametrize(("venue", "symbol"), [("binance:spot", "BTC/USDT:USDT"),
                                          ("binance:coinm", "BTC/USDT"),
                                          ("bitfinex", "BTC/USDT:USDT-240329"),
                                          ("ftx", "BTC/USDT:USDT")])
def test_a_contract_the_venue_lacks_is_refused(venue, symbol):
    """Asking a venue for a kind of contract it does not list fails before anything is sent."""
    with pytest.raises(LocalProtocolError):
        to_native(venue, symbol)

"""``exchange_wss.connect``: the right client for a venue name, with the same option names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from .symbols import Venue, parse_venue

if TYPE_CHECKING:
    # Full names in the signatures below: the API reference links them to the classes
    # (a bare "WssClient" would also match the compat module's).
    import exchange_wss.binance.client
    import exchange_wss.bitfinex.client
    import exchange_wss.ftx.client

__all__ = ["connect", "client_class"]

# The venue names a type checker can map to their client class; any other
# spelling parse_venue accepts ("BINANCE___SPOT", "Bitfinex") gives the union.
_BinanceName = Literal["binance", "binance:spot", "binance:margin", "binance:usdm",
                       "binance:coinm"]


def client_class(venue: str | Venue, market: str | None = None
                 ) -> (type[exchange_wss.bitfinex.client.WssClient]
                       | type[exchange_wss.binance.client.BinanceWssClient]
                       | type[exchange_wss.ftx.client.FtxWssClient]):
    """The client class of a venue (``WssClient``, ``BinanceWssClient`` or ``FtxWssClient``)."""
    v = parse_venue(venue, market)
    if v.exchange == "bitfinex":
        from .bitfinex.client import WssClient
        return WssClient
    if v.exchange == "binance":
        from .binance.client import BinanceWssClient
        return BinanceWssClient
    from .ftx.client import FtxWssClient
    return FtxWssClient


@overload
def connect(venue: Literal["bitfinex"], key: str | None = None, secret: str | None = None,
            **options: Any) -> exchange_wss.bitfinex.client.WssClient: ...
@overload
def connect(venue: _BinanceName, key: str | None = None, secret: str | None = None,
            **options: Any) -> exchange_wss.binance.client.BinanceWssClient: ...
@overload
def connect(venue: Literal["ftx"], key: str | None = None, secret: str | None = None,
            **options: Any) -> exchange_wss.ftx.client.FtxWssClient: ...
@overload
def connect(venue: str | Venue, key: str | None = None, secret: str | None = None,
            **options: Any) -> (exchange_wss.bitfinex.client.WssClient
                                | exchange_wss.binance.client.BinanceWssClient
                                | exchange_wss.ftx.client.FtxWssClient): ...
def connect(venue: str | Venue, key: str | None = None, secret: str | None = None,
            **options: Any) -> (exchange_wss.bitfinex.client.WssClient
                                | exchange_wss.binance.client.BinanceWssClient
                                | exchange_wss.ftx.client.FtxWssClient):
    """Make the client of ``venue`` (not started: call ``start()`` or use ``with``).

    Args:
        venue: ``"bitfinex"``, ``"binance"`` (with ``market=``), ``"binance:usdm"``,
            ``"ftx"``, or bt_api_py's ``"BINANCE___SPOT"`` style. Type checkers
            know the client class of the first four spellings; for a name read
            at run time they see the union of the three clients.
        key: the API key, for account streams and orders.
        secret: the API secret.
        **options: the client's keywords. Every client takes the same names
            for the same things: ``ping_interval``, ``ping_timeout``,
            ``max_reconnect``, ``reconnect_delay``, ``max_reconnect_delay``,
            ``stale_timeout``, ``compression``, ``on_event``, ``on_error``...;
            endpoints keep their venue's names (``url``/``public_url`` for
            Bitfinex, ``url`` for FTX, ``stream_url``/``api_url``/``rest_url``
            for Binance). ``market`` selects Binance's market.

    Raises:
        LocalProtocolError: an unknown venue or option value.

    Example::

        client = exchange_wss.connect("binance", market="usdm", ping_interval=20)
        client.subscribe_to_ticker("BTC/USDT:USDT", print)
        client.run_forever()
    """
    market = options.pop("market", None)
    v = parse_venue(venue, market)
    cls = client_class(v)
    if v.exchange == "binance":
        options["market"] = v.market
    return cls(key, secret, **options)

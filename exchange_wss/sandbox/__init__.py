"""The sandbox exchange: local Bitfinex v2 and Binance servers with a simulated market.

It is the server of the end-to-end tests, the default of ``exchange-wss demo``,
and a way to test trading bots offline::

    from exchange_wss.sandbox import BitfinexSandbox, DEFAULT_KEY, DEFAULT_SECRET

    sb = BitfinexSandbox(seed=1).start()      # listens on 127.0.0.1, a free port
    print(sb.url)                             # ws://127.0.0.1:<port>/ws/2
    sb.faults.stall(5)                        # inject faults
    sb.stop()

Binance (Spot, USD-M or COIN-M; REST and WebSocket on one port)::

    from exchange_wss.sandbox import BinanceSandbox
    sb = BinanceSandbox(market="usdm").start()   # sb.rest_url, sb.stream_url, sb.api_url
    sb.stop()

FTX (the protocol of the defunct FTX; orders placed through the handle, as FTX's REST did)::

    from exchange_wss.sandbox import FtxSandbox, DEFAULT_FTX_KEY
    sb = FtxSandbox().start()                    # sb.url: ws://127.0.0.1:<port>/ws/
    sb.place_order(DEFAULT_FTX_KEY, "BTC-PERP", "buy", 50000, 0.01)
    sb.stop()

Modules: :mod:`.engine` (matching engine), :mod:`.market` (simulated market and
public views), :mod:`.bitfinex` (the Bitfinex WebSocket server, a package),
:mod:`.binance` (the Binance server, a package),
:mod:`.ftx` (the FTX server, a package), :mod:`.faults`.
"""

from .binance import (
                              DEFAULT_BINANCE_BALANCES,
                              DEFAULT_BINANCE_KEY,
                              DEFAULT_BINANCE_SECRET,
                              BinanceFaults,
                              BinanceSandbox,
                              BinanceServer,
)
from .bitfinex import (
                              DEFAULT_BALANCES,
                              DEFAULT_KEY,
                              DEFAULT_SECRET,
                              BitfinexSandbox,
                              SandboxServer,
)
from .engine import MatchingEngine, OrderView, PairSpec, Result
from .faults import Faults
from .ftx import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, FtxFaults, FtxSandbox, FtxServer
from .market import BookMirror, SimulatedMarket

__all__ = [
    "BitfinexSandbox", "DEFAULT_KEY", "DEFAULT_SECRET", "DEFAULT_BALANCES", "SandboxServer",
    "Faults", "MatchingEngine", "OrderView", "PairSpec", "Result", "SimulatedMarket",
    "BookMirror", "BinanceSandbox", "BinanceServer", "BinanceFaults", "DEFAULT_BINANCE_KEY",
    "DEFAULT_BINANCE_SECRET", "DEFAULT_BINANCE_BALANCES", "FtxSandbox", "FtxServer", "FtxFaults",
    "DEFAULT_FTX_KEY", "DEFAULT_FTX_SECRET",
]

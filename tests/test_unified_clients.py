"""What every client shares after issue 15: the connect() factory, one set of option names,
unified symbols, compression, run_forever(), endpoint variables, settings refused at the call."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from _support import Recorder

import exchange_wss
from exchange_wss import BinanceWssClient, FtxWssClient, WssClient, models
from exchange_wss.errors import LocalProtocolError
from exchange_wss.sandbox import BitfinexSandbox

COMMON = dict(ping_interval=20, ping_timeout=10, max_reconnect=5, reconnect_delay=1,
              compression=True)


@pytest.mark.parametrize(("venue", "cls"), [("bitfinex", WssClient),
                                            ("BINANCE___SPOT", BinanceWssClient),
                                            ("binance:coinm", BinanceWssClient),
                                            ("ftx", FtxWssClient)])
def test_connect_makes_the_venues_client_with_the_common_options(venue, cls):
    """connect() returns the right client, and each takes bt_api_py's option names."""
    client = exchange_wss.connect(venue, **COMMON)
    assert type(client) is cls
    opts = client._conn_options
    assert (opts.ping_interval, opts.ping_timeout, opts.max_reconnect, opts.reconnect_delay,
            opts.compression) == (20, 10, 5, 1, True)


def test_binance_market_is_taken_from_the_venue_or_the_option():
    """"binance" with market=, "binance:usdm" and "BINANCE___SWAP" name the same market."""
    assert exchange_wss.connect("binance", market="usdm").market == "usdm"
    assert exchange_wss.connect("BINANCE___SWAP").market == "usdm"
    with pytest.raises(LocalProtocolError):
        exchange_wss.connect("binance:spot", market="coinm")


@pytest.mark.parametrize(("make", "subscribe", "expected"), [
    (lambda: WssClient(), lambda c: c.subscribe_to_ticker("BTC/USDT", print), "ticker:tBTCUST"),
    (lambda: WssClient(), lambda c: c.subscribe_to_ticker("tBTCUSD", print), "ticker:tBTCUSD"),
    (lambda: BinanceWssClient(market="usdm"),
     lambda c: c.subscribe_to_trades("BTC/USDT:USDT", print), "btcusdt@trade"),
    (lambda: BinanceWssClient(), lambda c: c.subscribe_to_ticker("ETHUSDT", print),
     "ethusdt@ticker"),
    (lambda: FtxWssClient(), lambda c: c.subscribe_to_orderbook("BTC/USD:USD", print),
     "orderbook:BTC-PERP"),
])
def test_clients_take_unified_and_native_symbols(make, subscribe, expected):
    """A unified symbol is mapped to the venue's; a native one passes through."""
    client = make()
    try:
        assert str(subscribe(client)) == expected
    finally:
        client.stop()


@pytest.mark.parametrize("multiplier", [6, 10.0, 1e6])
def test_a_nonce_multiplier_that_makes_auth_impossible_is_refused_at_the_call(multiplier):
    """Nonces past Bitfinex's cap would fail every auth: refused when the client is made."""
    with pytest.raises(LocalProtocolError, match="largest usable multiplier"):
        WssClient("k", "s", nonce_multiplier=multiplier)


@pytest.mark.parametrize("bad", [0, -1, "2", True])
def test_a_nonce_multiplier_that_is_not_a_positive_number_is_refused(bad):
    """Zero, negatives, text and booleans are refused with a clear error."""
    with pytest.raises(LocalProtocolError, match="positive number"):
        WssClient("k", "s", nonce_multiplier=bad)


def test_order_ids_as_decimal_text_are_accepted():
    """cancel_order("1234") builds the same request as cancel_order(1234)."""
    from exchange_wss.bitfinex import protocol as bfx
    assert bfx.cancel_payload("1234") == bfx.cancel_payload(1234) == {"id": 1234}
    assert bfx.cancel_cid_payload("99", "2024-01-02")["cid"] == 99
    with pytest.raises(LocalProtocolError):
        bfx.cancel_payload("12ab")


def test_endpoint_variables_point_clients_elsewhere(monkeypatch):
    """Without a URL argument each client takes its endpoint from the environment."""
    monkeypatch.setenv("EXCHANGE_WSS_BITFINEX_URL", "ws://127.0.0.1:1/ws/2")
    monkeypatch.setenv("EXCHANGE_WSS_BINANCE_STREAM_URL", "ws://127.0.0.1:2")
    monkeypatch.setenv("EXCHANGE_WSS_FTX_URL", "ws://127.0.0.1:3/ws/")
    bfx = WssClient()
    assert bfx.url == bfx.public_url == "ws://127.0.0.1:1/ws/2"
    assert BinanceWssClient().endpoints.stream_url == "ws://127.0.0.1:2"
    assert FtxWssClient().url == "ws://127.0.0.1:3/ws/"
    assert WssClient(url="ws://x:4/ws/2").url == "ws://x:4/ws/2"  # an argument wins


@pytest.fixture(scope="module")
def sandbox():
    sb = BitfinexSandbox(tick_interval=0.05).start()
    yield sb
    sb.stop()


def test_compression_is_negotiated_and_the_fast_path_steps_aside(sandbox):
    """compression=True offers permessage-deflate; the sandbox accepts; data flows through
    autobahn's parser (the fast path is off on that connection)."""
    got = Recorder()
    client = WssClient(url=sandbox.url, compression=True)
    client.subscribe_to_ticker("BTC/USD", got)
    client.start()
    try:
        ticker = got.wait_for(lambda e: isinstance(e, models.Ticker))
        proto = client._public_links[0].conn.protocol
        assert proto._perMessageCompress is not None
        assert proto.fast_path is False
        assert ticker.symbol == "tBTCUSD"
    finally:
        client.stop()


def test_without_compression_nothing_is_offered(sandbox):
    """The default handshake offers no extension, and the fast path is on."""
    got = Recorder()
    client = WssClient(url=sandbox.url)
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    try:
        got.wait_for(lambda e: isinstance(e, models.Ticker))
        proto = client._public_links[0].conn.protocol
        assert proto._perMessageCompress is None and proto.fast_path is True
    finally:
        client.stop()


def _script(sandbox, body, tmp_path):
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(body))
    env = dict(os.environ, SANDBOX_URL=sandbox.url, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def test_run_forever_keeps_a_script_alive_until_ctrl_c(sandbox, tmp_path):
    """A script ending with run_forever() streams until Ctrl-C, then exits cleanly."""
    proc = _script(sandbox, """\
        import os
        from exchange_wss import WssClient
        client = WssClient(url=os.environ["SANDBOX_URL"])
        client.subscribe_to_ticker("BTCUSD", lambda t: print("tick", flush=True))
        client.run_forever()
        print("stopped", client.running)
        """, tmp_path)
    try:
        assert proc.stdout.readline().startswith("tick")
        time.sleep(0.3)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
        assert proc.returncode == 0 and "stopped False" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_stop_from_a_callback_ends_run_forever(sandbox, tmp_path):
    """run_forever() returns once a callback stops the client."""
    proc = _script(sandbox, """\
        import os
        from exchange_wss import WssClient
        client = WssClient(url=os.environ["SANDBOX_URL"])
        client.subscribe_to_ticker("BTCUSD", lambda t: client.stop())
        client.run_forever()
        print("done", client.join(0))
        """, tmp_path)
    try:
        out = proc.communicate(timeout=30)[0]
        assert proc.returncode == 0 and "done True" in out
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ftx_rest_orders_refused_and_unanswered():
    """An FTX order the exchange refuses is OrderRejected with its text; one whose HTTP
    connection could not be made is RequestNotSent; one sent to a server that never
    answers is OrderStateUnknown at its deadline."""
    import socket

    from exchange_wss.errors import OrderRejected, OrderStateUnknown, RequestNotSent
    from exchange_wss.sandbox import DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, FtxSandbox
    sb = FtxSandbox(tick_interval=None).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts (the kernel does), never answers
    client = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, url=sb.url, rest_url=sb.rest_url)
    refused = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, rest_url="http://127.0.0.1:1/api")
    mute = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, request_timeout=1.0,
                        rest_url=f"http://127.0.0.1:{silent.getsockname()[1]}/api")
    try:
        with pytest.raises(OrderRejected, match="No such market"):
            client.submit_order("NOPE-PERP", "buy", 1, 1).result(20)
        placed = client.submit_order("BTC/USD:USD", "buy", 1000, 0.01).result(20)
        assert placed.symbol == "BTC-PERP" and placed.state == models.OrderStatus.NEW
        with pytest.raises(RequestNotSent):
            refused.submit_order("BTC-PERP", "buy", 1000, 0.01).result(20)
        with pytest.raises(OrderStateUnknown):
            mute.submit_order("BTC-PERP", "buy", 1000, 0.01).result(20)
    finally:
        client.stop()
        refused.stop()
        mute.stop(timeout=1)
        silent.close()
        sb.stop()

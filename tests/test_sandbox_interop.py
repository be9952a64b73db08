"""The official client, bitfinex-api-py (``bfxapi``), works against the sandbox.

An independent implementation of the client side checks that the sandbox speaks
the protocol as Bitfinex does: info, auth and its snapshots, ticker and book
subscriptions with checksums, an order's on-req notification, its ``on`` frame
and its cancellation. Nothing may leave the machine: name resolution is
limited to loopback and bfxapi's REST layer is disabled for the test.
"""

import asyncio
import socket

import pytest

bfxapi = pytest.importorskip("bfxapi")

from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox  # noqa: E402

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def offline(monkeypatch):
    """Refuse any host but loopback, and any REST call at all."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host not in _LOOPBACK:
            raise OSError(f"test must stay offline (tried to resolve {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    import requests

    def no_rest(*args, **kwargs):
        raise AssertionError("bfxapi made a REST call")

    monkeypatch.setattr(requests.Session, "request", no_rest)


@pytest.fixture
def sandbox():
    sb = BitfinexSandbox(tick_interval=0.05, seed=9).start()
    yield sb
    sb.stop()


def test_official_client_trades_on_the_sandbox(offline, sandbox):
    """bfxapi authenticates, gets ticker, book and checksums, places an order, sees it, cancels
    it."""
    from bfxapi import Client

    got: dict = {}

    async def main():
        bfx = Client(api_key=DEFAULT_KEY, api_secret=DEFAULT_SECRET, wss_host=sandbox.url,
                     rest_host="http://127.0.0.1:9/v2")

        @bfx.wss.on("open")
        async def on_open():
            await bfx.wss.subscribe("ticker", symbol="tBTCUSD")
            await bfx.wss.subscribe("book", symbol="tBTCUSD", prec="P0", freq="F0", len="25")

        @bfx.wss.on("authenticated")
        async def on_authenticated(event):
            got["auth"] = event
            await bfx.wss.inputs.submit_order(type="EXCHANGE LIMIT", symbol="tBTCUSD",
                                              amount="0.01", price="30000", cid=4242)

        @bfx.wss.on("wallet_snapshot")
        def on_wallets(wallets):
            got["wallets"] = wallets

        @bfx.wss.on("t_ticker_update")
        def on_ticker(sub, ticker):
            got.setdefault("ticker", ticker)

        @bfx.wss.on("t_book_snapshot")
        def on_book(sub, book):
            got.setdefault("book", book)

        @bfx.wss.on("checksum")
        def on_checksum(sub, value):
            got.setdefault("checksum", value)

        @bfx.wss.on("on-req-notification")
        def on_req(notification):
            got["on-req"] = notification

        @bfx.wss.on("order_new")
        async def on_new(order):
            got["on"] = order
            await bfx.wss.inputs.cancel_order(id=order.id)

        @bfx.wss.on("order_cancel")
        async def on_cancel(order):
            got["oc"] = order
            # Let the book run until a checksum has been seen, then leave.
            for _ in range(100):
                if "checksum" in got:
                    break
                await asyncio.sleep(0.05)
            await bfx.wss.close()

        await asyncio.wait_for(bfx.wss.start(), timeout=20)

    asyncio.run(main())

    assert got["auth"]["status"] == "OK"
    assert {(w.wallet_type, w.currency): w.balance
            for w in got["wallets"]}["exchange", "USD"] == 100000
    assert got["ticker"].bid < got["ticker"].ask
    assert len(got["book"]) == 50 and got["book"][0].amount > 0
    assert isinstance(got["checksum"], int)
    note = got["on-req"]
    assert note.status == "SUCCESS" and note.data.cid == 4242
    assert note.text == "Submitting exchange limit buy order for 0.01 BTC."
    assert got["on"].order_status == "ACTIVE" and got["on"].price == 30000
    assert got["oc"].id == got["on"].id and got["oc"].order_status == "CANCELED"
    assert sandbox.orders(DEFAULT_KEY) == []
    assert [p["cid"] for p in sandbox.orders_received(DEFAULT_KEY)] == [4242]

"""WssClient end to end against the sandbox exchange over loopback."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from _support import Recorder, eventually

from exchange_wss import (
    ClientStopped,
    ExchangePaused,
    LocalProtocolError,
    OrderRejected,
    WssClient,
    models,
    utils,
)
from exchange_wss._facade import CallbackError
from exchange_wss.errors import AuthenticationError, ChecksumMismatch, RequestNotSent
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox


@pytest.fixture
def sandbox():
    sb = BitfinexSandbox(seed=7, tick_interval=0.05, heartbeat_interval=1.0).start()
    yield sb
    sb.stop()


@pytest.fixture
def make_client(sandbox):
    clients = []

    def make(**kwargs):
        events, errors = Recorder(), Recorder()
        if "url" not in kwargs:
            kwargs["url"] = sandbox.url
        kwargs.setdefault("reconnect_delay", 0.05)
        kwargs.setdefault("max_reconnect_delay", 0.3)
        creds = () if kwargs.pop("public_only", False) else (DEFAULT_KEY, DEFAULT_SECRET)
        client = WssClient(*creds, on_event=events, on_error=errors, **kwargs)
        client.events, client.errors = events, errors
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.stop()


def states(client, state):
    return [e for e in client.events.items if isinstance(e, models.ConnectionState)
            and e.state == state]


# -- public channels ------------------------------------------------------------

def test_ticker_arrives_typed(make_client):
    """A ticker subscription delivers Ticker models for its symbol."""
    client = make_client()
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    ticker = got.wait_for(lambda e: isinstance(e, models.Ticker))
    assert ticker.symbol == "tBTCUSD" and ticker.bid < ticker.ask
    assert isinstance(ticker.raw, list)


def test_frames_are_routed_by_channel(make_client):
    """Two channels on one connection each reach only their own callback."""
    client = make_client()
    btc, eth = Recorder(), Recorder()
    client.subscribe_to_ticker("BTCUSD", btc)
    client.subscribe_to_ticker("tETHUSD", eth)
    client.start()
    btc.wait_count(lambda e: True, 3)
    eth.wait_count(lambda e: True, 3)
    assert {e.symbol for e in btc.items} == {"tBTCUSD"}
    assert {e.symbol for e in eth.items} == {"tETHUSD"}


def test_requests_made_before_start_are_sent_after(make_client):
    """Subscribing before start() is queued, then sent once the socket opens."""
    client = make_client()
    got = Recorder()
    client.subscribe_to_trades("tBTCUSD", got)
    from exchange_wss import _reactor
    _reactor.call_and_wait(lambda: None)  # the queued subscribe has run on the reactor
    assert client._public_links[0].conn.opens == 0 and got.items == []
    client.start()
    assert isinstance(got.wait_for(lambda e: True), models.TradesSnapshot)


def test_public_channels_are_pooled_by_channels_per_connection(make_client):
    """Three channels with two per connection use two public sockets."""
    client = make_client(channels_per_connection=2, public_only=True)
    cbs = [Recorder() for _ in range(3)]
    client.subscribe_to_ticker("tBTCUSD", cbs[0])
    client.subscribe_to_ticker("tETHUSD", cbs[1])
    client.subscribe_to_trades("tBTCUSD", cbs[2])
    client.start()
    for cb in cbs:
        cb.wait_for(lambda e: True)
    names = {e.connection for e in states(client, "connected")}
    assert names == {"public-0", "public-1"}


def test_one_socket_per_channel_when_asked(make_client):
    """channels_per_connection=1 gives the seed's one socket per channel."""
    client = make_client(channels_per_connection=1, public_only=True)
    a, b = Recorder(), Recorder()
    client.subscribe_to_ticker("tBTCUSD", a)
    client.subscribe_to_ticker("tETHUSD", b)
    client.start()
    a.wait_for(lambda e: True)
    b.wait_for(lambda e: True)
    assert len({e.connection for e in states(client, "connected")}) == 2


def test_heartbeats_never_reach_data_callbacks(make_client):
    """With a quiet market only heartbeats flow; the raw callback sees none of them."""
    quiet = BitfinexSandbox(seed=3, tick_interval=None, heartbeat_interval=0.1).start()
    try:
        client = make_client(url=quiet.url, raw=True, public_only=True)
        got = Recorder()
        client.subscribe_to_ticker("tBTCUSD", got)
        client.start()
        got.wait_for(lambda e: True)
        # Wait for the watchdog's evidence that heartbeats did arrive meanwhile.
        link = client._public_links[0]
        frames = link.conn.frames_received
        eventually(lambda: link.conn.frames_received >= frames + 3)
        assert all(frame[1] != "hb" for frame in got.items)
    finally:
        quiet.stop()


def test_raw_mode_delivers_decoded_frames(make_client):
    """raw=True hands the callback the decoded frame lists."""
    client = make_client(raw=True, public_only=True)
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    frame = got.wait_for(lambda e: True)
    assert isinstance(frame, list) and isinstance(frame[0], int) and isinstance(frame[1], list)


def test_candles_snapshot_is_oldest_first(make_client):
    """The candle snapshot arrives typed and in time order."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_candles("tBTCUSD", "1m", got)
    client.start()
    snap = got.wait_for(lambda e: isinstance(e, models.CandlesSnapshot))
    times = [c.mts for c in snap.candles]
    assert times == sorted(times) and snap.timeframe == "1m"


def test_maintained_book_equals_the_servers_book(make_client):
    """After the market moves and stops, the client's book equals the sandbox's, level by level."""
    manual = BitfinexSandbox(seed=11, tick_interval=None).start()
    client = make_client(url=manual.url, public_only=True)
    try:
        got = Recorder()
        client.subscribe_to_orderbook("tBTCUSD", "P0", got, length=25)
        client.start()
        got.wait_for(lambda e: isinstance(e, models.BookSnapshot))
        manual.step(40)
        got.wait_for(lambda e: isinstance(e, models.BookUpdate))
        eventually(lambda: _book_matches(client, manual))
    finally:
        client.stop()
        manual.stop()


def _book_matches(client, sandbox):
    mine = client.order_book("tBTCUSD", "P0")
    theirs = sandbox.book("tBTCUSD", "P0", 25)
    return (list(map(tuple, theirs["bids"])) == mine.bids and
            list(map(tuple, theirs["asks"])) == mine.asks)


def test_checksums_verify_without_mismatch(make_client):
    """Many book updates with a checksum each raise no mismatch."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_orderbook("tXRPBTC", "P0", got)
    client.subscribe_to_orderbook("tBTCUSD", "R0", Recorder())
    client.start()
    got.wait_count(lambda e: isinstance(e, models.BookUpdate), 50)
    assert not [e for e in client.errors.items if isinstance(e, ChecksumMismatch)]


def test_corrupted_checksum_resubscribes_the_book(sandbox, make_client):
    """A wrong checksum is reported and the book comes back from a new snapshot."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_orderbook("tBTCUSD", "P0", got)
    client.start()
    got.wait_count(lambda e: isinstance(e, models.BookUpdate), 5)
    sandbox.faults.corrupt_next_checksum()
    client.errors.wait_for(lambda e: isinstance(e, ChecksumMismatch))
    got.wait_count(lambda e: isinstance(e, models.BookSnapshot), 2)


def test_two_callbacks_on_one_channel_both_receive(make_client):
    """Subscribing the same channel twice fans out to both callbacks."""
    client = make_client(public_only=True)
    a, b = Recorder(), Recorder()
    client.subscribe_to_ticker("tBTCUSD", a)
    client.subscribe_to_ticker("tBTCUSD", b)
    client.start()
    a.wait_count(lambda e: True, 2)
    b.wait_count(lambda e: True, 2)


def test_unsubscribe_stops_the_callback(make_client):
    """After unsubscribe no more events reach that callback."""
    client = make_client(public_only=True)
    got, other = Recorder(), Recorder()
    sub = client.subscribe_to_ticker("tBTCUSD", got)
    client.subscribe_to_ticker("tETHUSD", other)
    client.start()
    got.wait_for(lambda e: True)
    client.unsubscribe(sub)
    client.events.wait_for(lambda e: type(e).__name__ == "SubscriptionChanged"
                           and e.label == str(sub) and e.state == "gone")
    count = len(got.items)
    other.wait_count(lambda e: True, len(other.items) + 3)
    assert len(got.items) == count


def test_calc_sends_bitfinex_shape():
    """calc() writes [0,"calc",null,[["a"],["b"]]] once authenticated."""
    import orjson
    from _support import ScriptedServer

    def answer(proto, payload, is_binary):
        msg = orjson.loads(payload)
        if isinstance(msg, dict) and msg.get("event") == "auth":
            proto.sendMessage(b'{"event":"auth","status":"OK","chanId":0,"userId":1}')

    server = ScriptedServer(on_message=answer).start()
    client = WssClient("key", "secret", url=server.url, checksum=False)
    try:
        client.calc("margin_sym_tBTCUSD", ["wallet_exchange_USD"])
        client.start()
        frames = [server.received.get(timeout=5) for _ in range(2)]
        assert frames[1] == b'[0,"calc",null,[["margin_sym_tBTCUSD"],["wallet_exchange_USD"]]]'
        assert b'"event":"auth"' in frames[0] and b"secret" not in frames[0]
    finally:
        client.stop()
        server.stop()


# -- bad calls fail fast --------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda c: c.subscribe_to_orderbook("tBTCUSD", "P9", print),
    lambda c: c.subscribe_to_orderbook("tBTCUSD", "P0", print, length=30),
    lambda c: c.subscribe_to_orderbook("tBTCUSD", "P0", print, frequency="F9"),
    lambda c: c.subscribe_to_candles("tBTCUSD", "2m", print),
    lambda c: c.new_order("EXCHANGE LIMIT", None, 1, 100),
    lambda c: c.new_order("EXCHANGE LIMIT", "tBTCUSD", 1, None),
    lambda c: c.calc(*[f"position_t{i}" for i in range(31)]),
    lambda c: c.subscribe_to_ticker("tBTCUSD", "not callable"),
], ids=["precision", "length", "frequency", "timeframe", "no-symbol", "no-price", "calc-31",
        "callback"])
def test_bad_calls_fail_fast(call):
    """Invalid arguments raise LocalProtocolError before anything is sent."""
    client = WssClient("k", "s", url="ws://127.0.0.1:9/ws/2")
    with pytest.raises(LocalProtocolError):
        call(client)


def test_orders_need_credentials():
    """An order on a client without key and secret is refused at once."""
    with pytest.raises(LocalProtocolError, match="key"):
        WssClient().new_order("EXCHANGE LIMIT", "tBTCUSD", 1, 100)


# -- authenticated channel and orders ----------------------------------------------

def _best(sandbox, side):
    book = sandbox.book("tBTCUSD", "P0", 25)
    return book[side][0][0]


def test_authenticate_delivers_snapshots(make_client):
    """After auth the wallet and order snapshots arrive on the auth callback."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    kinds = {e.kind for e in got.wait_count(lambda e: isinstance(e, models.Snapshot), 3)}
    assert {"ws", "os", "ps"} <= kinds
    wallets = got.wait_for(lambda e: isinstance(e, models.Snapshot) and e.kind == "ws")
    assert all(isinstance(w, models.Wallet) for w in wallets.items)


def test_submit_order_resolves_when_accepted_and_cancel_works(sandbox, make_client):
    """A resting limit order's future resolves to the Order; cancel_order closes it."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    price = round(_best(sandbox, "bids") * 0.9, 0)
    order = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", price).result(10)
    assert isinstance(order, models.Order) and order.status.startswith("ACTIVE")
    assert order.price == price and order.amount == 0.01
    client.cancel_order(order.id)
    closed = got.wait_for(lambda e: isinstance(e, models.Order) and e.kind == "oc")
    assert closed.id == order.id and "CANCELED" in closed.status


def test_submit_order_before_start_is_sent_after_auth(sandbox, make_client):
    """An order placed before start() waits for authentication, then goes out once."""
    client = make_client()
    price = round(_best(sandbox, "bids") * 0.9, 0)
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", price)
    client.start()
    order = future.result(10)
    assert [o for o in sandbox.orders_received(DEFAULT_KEY) if o.get("cid") == order.cid]
    assert len([o for o in sandbox.orders_received(DEFAULT_KEY) if o.get("cid") == order.cid]) == 1


def test_rejected_order_raises_with_the_exchanges_text(make_client):
    """An order under the minimum size fails its future with OrderRejected and Bitfinex's text."""
    client = make_client()
    client.start()
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.0000001", 1000)
    with pytest.raises(OrderRejected, match="minimum size"):
        future.result(10)


def test_marketable_order_fills_and_reports_a_fill(sandbox, make_client):
    """A buy at the ask trades: the auth callback gets a Fill and an executed Order."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    price = _best(sandbox, "asks") * 1.01
    cid = client.new_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", round(price, 0))
    fill = got.wait_for(lambda e: isinstance(e, models.Fill))
    assert fill.amount > 0 and fill.cid in (cid, None)
    got.wait_for(lambda e: isinstance(e, models.Order) and e.cid == cid and "EXECUTED" in e.status)


def test_new_order_cid_and_cancel_by_cid(sandbox, make_client):
    """new_order returns a cid whose date cancels the order via cancel_order_cid."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    price = round(_best(sandbox, "bids") * 0.8, 0)
    cid = client.new_order("EXCHANGE LIMIT", "tBTCUSD", "0.02", price)
    got.wait_for(lambda e: isinstance(e, models.Order) and e.kind == "on" and e.cid == cid)
    client.cancel_order_cid(cid, utils.cid_to_date(cid))
    got.wait_for(lambda e: isinstance(e, models.Order) and e.kind == "oc" and e.cid == cid)


def test_multi_order_places_several_and_returns_their_cids(sandbox, make_client):
    """multi_order sends one ox_multi and returns each new order's cid."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    price = round(_best(sandbox, "bids") * 0.8, 0)
    ops = [client.new_order_op("EXCHANGE LIMIT", "tBTCUSD", "0.01", price - i) for i in range(3)]
    cids = client.multi_order(ops)
    assert cids == [op["cid"] for op in ops]
    for cid in cids:
        got.wait_for(lambda e, cid=cid: isinstance(e, models.Order) and e.cid == cid)


def test_bad_credentials_are_reported(sandbox, make_client):
    """A wrong secret is reported as AuthenticationError; queued orders fail as not sent,
    caused by it."""
    errors = Recorder()
    client = WssClient(DEFAULT_KEY, "wrong-secret", url=sandbox.url, on_error=errors)
    try:
        future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100)
        client.start()
        with pytest.raises(RequestNotSent) as info:
            future.result(10)
        assert isinstance(info.value.__cause__, AuthenticationError)
        errors.wait_for(lambda e: isinstance(e, AuthenticationError))
    finally:
        client.stop()


# -- reliability basics -------------------------------------------------------------

def test_reauth_after_drop_uses_a_fresh_nonce(sandbox, make_client):
    """After the server drops the socket, re-authentication succeeds (no 'nonce: small')."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")
    sandbox.faults.drop_connections()
    client.events.wait_count(lambda e: getattr(e, "state", None) == "authenticated", 2)
    assert not client.errors.of_type(AuthenticationError)


def test_subscriptions_come_back_after_a_drop(sandbox, make_client):
    """Data flows again on the same callback after the connection is dropped."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    got.wait_for(lambda e: True)
    sandbox.faults.drop_connections()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")
    count = len(got.items)
    got.wait_count(lambda e: True, count + 3)


def test_info_20051_reconnects(sandbox, make_client):
    """The server's 'please reconnect' (20051) makes the client reconnect."""
    client = make_client(public_only=True)
    client.subscribe_to_ticker("tBTCUSD", Recorder())
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "connected")
    sandbox.faults.send_info(20051)
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")


def test_maintenance_pauses_orders_until_it_ends(sandbox, make_client):
    """Between 20060 and 20061 order operations raise ExchangePaused."""
    client = make_client()
    client.authenticate()
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")
    sandbox.faults.maintenance_start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "paused")
    with pytest.raises(ExchangePaused):
        client.new_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100)
    sandbox.faults.maintenance_end()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "resumed")
    client.new_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100)


def test_callback_exception_is_isolated(make_client):
    """A raising callback is reported to on_error; other callbacks keep receiving."""
    client = make_client(public_only=True)
    good = Recorder()

    def bad(_event):
        raise RuntimeError("boom")

    client.subscribe_to_ticker("tBTCUSD", bad)
    client.subscribe_to_ticker("tETHUSD", good)
    client.start()
    err = client.errors.wait_for(lambda e: isinstance(e, CallbackError))
    assert isinstance(err.__cause__, RuntimeError)
    good.wait_count(lambda e: True, 3)


# -- lifecycle and threads ------------------------------------------------------------

def test_stop_closes_only_that_client(make_client):
    """Stopping one client leaves another on the same reactor running."""
    first, second = make_client(public_only=True), make_client(public_only=True)
    a, b = Recorder(), Recorder()
    first.subscribe_to_ticker("tBTCUSD", a)
    second.subscribe_to_ticker("tBTCUSD", b)
    first.start()
    second.start()
    a.wait_for(lambda e: True)
    b.wait_for(lambda e: True)
    first.stop()
    count = len(b.items)
    b.wait_count(lambda e: True, count + 3)
    with pytest.raises(ClientStopped):
        first.subscribe_to_ticker("tETHUSD", print)


def test_a_new_client_works_after_another_stopped(make_client):
    """start/stop/start of new clients in one process works (no ReactorNotRestartable)."""
    for _ in range(2):
        client = make_client(public_only=True)
        got = Recorder()
        client.subscribe_to_ticker("tBTCUSD", got)
        client.start()
        got.wait_for(lambda e: True)
        client.stop()


def test_methods_are_safe_from_many_threads(make_client):
    """Subscriptions made concurrently from several threads all work."""
    client = make_client(public_only=True)
    client.start()
    recorders = {sym: Recorder() for sym in ("tBTCUSD", "tETHUSD", "tXRPBTC")}
    threads = [threading.Thread(target=client.subscribe_to_ticker, args=(s, r))
               for s, r in recorders.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for rec in recorders.values():
        rec.wait_for(lambda e: True)


def test_process_exits_without_stop(sandbox):
    """A program that never calls stop() still exits when its code ends."""
    script = textwrap.dedent(f"""
        import threading
        from exchange_wss import WssClient
        got = threading.Event()
        c = WssClient(url={sandbox.url!r})
        c.subscribe_to_ticker("tBTCUSD", lambda t: got.set())
        c.start()
        assert got.wait(10)
        print("done")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout


def test_secret_never_appears_in_logs_or_repr(make_client, caplog):
    """The API secret is in no log record and not in the client's repr."""
    caplog.set_level(logging.DEBUG, logger="exchange_wss")
    client = make_client()
    client.authenticate()
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")
    assert DEFAULT_SECRET not in repr(client)
    assert all(DEFAULT_SECRET not in r.getMessage() for r in caplog.records)


def test_slow_callback_on_worker_thread_does_not_stall_the_connection(make_client):
    """With callback_thread, a callback slower than the feed drops old events, never the socket."""
    from exchange_wss.errors import CallbackOverflow
    client = make_client(public_only=True, callback_thread=True, callback_queue_size=5,
                         stale_timeout=0.5)
    seen = Recorder()

    def slow(event):
        seen(event)
        time.sleep(0.2)  # the slow user code under test

    client.subscribe_to_ticker("tBTCUSD", slow)
    client.subscribe_to_orderbook("tBTCUSD", "P0", lambda e: None)
    client.start()
    seen.wait_for(lambda e: True)
    client.errors.wait_for(lambda e: isinstance(e, CallbackOverflow))
    link = client._public_links[0]
    frames = link.conn.frames_received
    eventually(lambda: link.conn.frames_received > frames + 50)
    assert not states(client, "disconnected")


def test_update_order_changes_a_resting_order(sandbox, make_client):
    """update_order(id=..., price=...) moves a resting order; an `ou` update says so."""
    client = make_client()
    got = Recorder()
    client.authenticate(got)
    client.start()
    price = round(_best(sandbox, "bids") * 0.9, 0)
    order = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", price).result(10)
    client.update_order(id=order.id, price=str(price - 10))
    updated = got.wait_for(lambda e: isinstance(e, models.Order) and e.kind == "ou")
    assert updated.id == order.id and updated.price == price - 10


def test_status_channel_delivers_derivatives_status(make_client):
    """subscribe_to_status('deriv:...') delivers DerivativesStatus rows."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_status("deriv:tBTCF0:USTF0", got)
    client.start()
    status = got.wait_for(lambda e: isinstance(e, models.DerivativesStatus))
    assert status.key == "deriv:tBTCF0:USTF0" and status.mark_price is not None


def test_ping_is_answered_with_its_cid(make_client):
    """ping() on the auth connection comes back as a Pong with the same cid."""
    client = make_client()
    client.authenticate()
    client.start()
    cid = client.ping("auth")
    pong = client.events.wait_for(lambda e: type(e).__name__ == "Pong")
    assert pong.cid == cid

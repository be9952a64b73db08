"""End to end against the sandboxes: what the client tells about orders and
subscriptions is true under every fault (one test per finding of the hostile test,
numbered as in docs/reliability.rst)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from _support import Recorder, eventually

from exchange_wss import BinanceWssClient, FtxWssClient, WssClient, models
from exchange_wss.errors import (
    CallbackError,
    ClientStopped,
    ConnectionFailed,
    LocalProtocolError,
    MessageTooBig,
    OrderStateUnknown,
    RemoteProtocolError,
    RequestNotSent,
    RestError,
)
from exchange_wss.sandbox import (
    DEFAULT_BINANCE_KEY,
    DEFAULT_BINANCE_SECRET,
    DEFAULT_FTX_KEY,
    DEFAULT_FTX_SECRET,
    DEFAULT_KEY,
    DEFAULT_SECRET,
    BinanceSandbox,
    BitfinexSandbox,
    FtxSandbox,
)


@pytest.fixture
def sandbox():
    sb = BitfinexSandbox(seed=3, tick_interval=0.05, heartbeat_interval=1.0).start()
    yield sb
    sb.stop()


@pytest.fixture
def make_client(sandbox):
    clients = []

    def make(**kwargs):
        events, errors = Recorder(), Recorder()
        kwargs.setdefault("url", sandbox.url)
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


def authenticated(client):
    client.authenticate(lambda event: None)
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")


def resting_price(sandbox):
    return round(sandbox.book("tBTCUSD", "P0", 25)["bids"][-1][0] * 0.9)


def state_changes(client, label):
    return [e.state for e in client.events.items
            if isinstance(e, models.SubscriptionChanged) and e.label == label]


# -- 1. an order the exchange got is never "not sent" ---------------------------------

def test_1_stop_with_an_answer_outstanding_says_unknown_not_stopped(sandbox, make_client):
    """An order written and taken by the exchange, its answer held back, then stop():
    OrderStateUnknown carrying the cid, never ClientStopped."""
    client = make_client()
    authenticated(client)
    sandbox.faults.stall()
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    eventually(lambda: future.cid in [o.get("cid") for o in sandbox.orders_received()])
    client.stop(timeout=2)
    error = future.exception(0)
    assert isinstance(error, OrderStateUnknown) and not isinstance(error, ClientStopped)
    assert error.cid == future.cid


def test_1_refused_reauthentication_leaves_written_orders_unknown(sandbox, make_client):
    """The connection dies right after the exchange took an order and re-auth is
    refused: the order is unknown (not an AuthenticationError); later orders are not sent."""
    client = make_client(request_timeout=3)
    authenticated(client)
    sandbox.faults.drop_on_next_order(taken=True)
    sandbox.server.accounts[DEFAULT_KEY] = "another secret"  # re-auth will be refused
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    error = future.exception(10)
    assert isinstance(error, OrderStateUnknown) and error.cid == future.cid
    assert future.cid in [o.get("cid") for o in sandbox.orders_received()]


def test_1_giving_up_leaves_written_orders_unknown(sandbox, make_client):
    """The exchange took an order, the connection died and reconnecting is abandoned:
    unknown, never ConnectionLost."""
    client = make_client(max_reconnect=1, request_timeout=20, reconnect_delay=1.0,
                         max_reconnect_delay=1.0)
    authenticated(client)
    sandbox.faults.drop_on_next_order(taken=True)
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    client.events.wait_for(lambda e: getattr(e, "state", None) == "disconnected")
    sandbox.stop()  # before the first reconnect attempt: it fails, and the client gives up
    error = future.exception(10)
    assert isinstance(error, OrderStateUnknown), error
    client.events.wait_for(lambda e: getattr(e, "state", None) == "gave_up")


def test_1_an_order_lost_with_its_connection_is_found_in_the_snapshot(sandbox, make_client):
    """The exchange took the order, the connection died unanswered: after re-auth the
    order snapshot has it, so the future resolves to it."""
    client = make_client()
    authenticated(client)
    sandbox.faults.drop_on_next_order(taken=True)
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    order = future.result(10)
    assert order.cid == future.cid and order.status == "ACTIVE"


def test_1_an_order_dropped_before_the_exchange_took_it_is_unknown(sandbox, make_client):
    """Written, but the connection died before the exchange took it: not in the snapshot
    after re-auth, so unknown (the client cannot tell it from "filled at once")."""
    client = make_client()
    authenticated(client)
    sandbox.faults.drop_on_next_order(taken=False)
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    assert isinstance(future.exception(10), OrderStateUnknown)
    assert future.cid not in [o.get("cid") for o in sandbox.orders_received()]


# -- 2. maintenance ends while the client reconnects ----------------------------------

def test_2_a_greeting_saying_the_platform_is_up_lifts_the_pause(sandbox, make_client):
    """20060, a drop, maintenance ends without 20061 reaching the client: the new
    connection's greeting (platform status 1) lifts the pause and orders work again."""
    client = make_client()
    authenticated(client)
    sandbox.faults.maintenance_start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "paused")
    sandbox.faults.end_maintenance_quietly()
    sandbox.faults.drop_connections()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "resumed")
    client.events.wait_count(lambda e: getattr(e, "state", None) == "authenticated", 2)
    order = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01",
                                resting_price(sandbox)).result(10)
    assert order.status == "ACTIVE"


# -- 3. every future settles ------------------------------------------------------------

def test_3_filters_without_the_order_channel_refuse_order_calls(make_client):
    """authenticate(filters=["wallet"]) cannot see order answers: order calls refuse at once."""
    client = make_client()
    client.authenticate(lambda e: None, filters=["wallet"])
    with pytest.raises(LocalProtocolError, match="trading"):
        client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100)


def test_3_a_cid_already_pending_is_refused_at_the_call(sandbox, make_client):
    """A second submit_order with the cid of one still pending raises; the first settles."""
    client = make_client()
    sandbox.faults.ignore_auth()  # keep the first one pending
    client.authenticate(lambda e: None)
    client.start()
    first = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100, cid=12345)
    with pytest.raises(LocalProtocolError, match="already pending"):
        client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100, cid=12345)
    client.stop(timeout=2)
    assert isinstance(first.exception(0), ClientStopped)


def test_3_a_server_that_never_answers_auth_settles_by_the_deadline(sandbox, make_client):
    """Auth never answered: queued orders fail as not sent at their deadline."""
    client = make_client(request_timeout=1.0)
    sandbox.faults.ignore_auth()
    client.authenticate(lambda e: None)
    client.start()
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100)
    assert isinstance(future.exception(5), RequestNotSent)
    assert sandbox.orders_received() == []


def test_3_a_stalled_server_without_a_watchdog_settles_by_the_deadline(sandbox, make_client):
    """stale_timeout=None and a stalled server: the written order settles as unknown."""
    client = make_client(stale_timeout=None, request_timeout=1.0)
    authenticated(client)
    sandbox.faults.stall()
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    assert isinstance(future.exception(5), OrderStateUnknown)


@pytest.fixture
def binance():
    sb = BinanceSandbox(market="spot", seed=4, tick_interval=0.05).start()
    yield sb
    sb.stop()


def binance_client(sb, **kwargs):
    events, errors = Recorder(), Recorder()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="spot",
                              rest_url=sb.rest_url, stream_url=sb.stream_url,
                              api_url=sb.api_url, on_event=events, on_error=errors,
                              reconnect_delay=0.05, max_reconnect_delay=0.3, **kwargs)
    client.events, client.errors = events, errors
    return client


def test_3_a_binance_request_queued_while_down_settles_at_stop():
    """A request waiting for a connection that never opens: stop() fails it as not sent."""
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET,
                              api_url="ws://127.0.0.1:9/ws-api/v3", reconnect_delay=0.05)
    client.start()
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", 100, time_in_force="GTC")
    started = time.monotonic()
    client.stop(timeout=2)
    assert isinstance(future.exception(0), ClientStopped)
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("bad_id", ["not-mine", [1, 2]])
def test_3_a_binance_answer_with_a_wrong_id_settles_by_the_deadline(binance, bad_id):
    """An answer whose id is another's (or unhashable) is reported; the order settles as
    unknown at its deadline, never hangs."""
    client = binance_client(binance, request_timeout=1.5)
    try:
        client.start()
        binance.faults.answer_next_order("id", bad_id)
        price = binance.book("BTCUSDT", limit=20)["bids"][-1][0]
        future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", price,
                                     time_in_force="GTC")
        assert isinstance(future.exception(5), OrderStateUnknown)
        client.errors.wait_for(lambda e: isinstance(e, RemoteProtocolError))
    finally:
        client.stop()


# -- 4. unsubscribe before the server confirmed ----------------------------------------

def test_4_unsubscribe_before_subscribed_leaves_nothing_on_the_server(sandbox, make_client):
    """subscribe then unsubscribe at once, answers delayed: the unsubscribe is sent once
    the subscription is confirmed, the server ends with no channel, and subscribing
    again later works (no "dup")."""
    client = make_client(public_only=True)
    client.subscribe_to_ticker("tETHUSD", lambda t: None)  # keeps the connection open
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "active")
    sandbox.faults.delay_subscriptions(0.5)
    sub = client.subscribe_to_ticker("tBTCUSD", lambda t: None)
    client.events.wait_for(lambda e: isinstance(e, models.SubscriptionChanged)
                           and e.label == "ticker:tBTCUSD" and e.state == "sent")
    client.unsubscribe(sub)  # before the (delayed) answer
    client.events.wait_for(lambda e: isinstance(e, models.SubscriptionChanged)
                           and e.label == "ticker:tBTCUSD" and e.state == "gone")
    eventually(lambda: sandbox.channels() == [[("ticker", "tETHUSD", None, None, None)]])
    sandbox.faults.delay_subscriptions(0)
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    got.wait_for(lambda t: isinstance(t, models.Ticker))
    assert not [e for e in client.errors.items if "dup" in str(e)]


def test_4_unsubscribe_before_it_was_sent_sends_nothing(sandbox, make_client):
    """Unsubscribed before its subscribe left: nothing reaches the server, and the
    handle says gone."""
    client = make_client(public_only=True)
    client.subscribe_to_ticker("tETHUSD", lambda t: None)
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "active")
    sub = client.subscribe_to_ticker("tBTCUSD", lambda t: None)
    client.unsubscribe(sub)
    eventually(lambda: sub.state == "gone")
    assert sandbox.channels() == [[("ticker", "tETHUSD", None, None, None)]]


def test_4_unsubscribe_and_order_book_work_right_after_subscribe(make_client):
    """The subscription is registered in the caller's thread: unsubscribe() and
    order_book() right after subscribe_*() never raise; the book says it is not synced."""
    client = make_client(public_only=True)
    sub = client.subscribe_to_orderbook("tBTCUSD", "P0", lambda e: None)
    book = client.order_book("tBTCUSD", "P0")  # not started: nothing can have arrived
    assert book.synced is False and book.bids == []
    client.start()
    client.unsubscribe(sub)
    with pytest.raises(LocalProtocolError):
        client.order_book("tBTCUSD", "P0")


# -- 5. a Close frame followed by silence ----------------------------------------------

def test_5_orders_sent_while_the_connection_closes_fail_as_not_sent(sandbox, make_client):
    """After the server's Close frame, with the socket lingering in CLOSING, every order
    handed over settles: not sent (the exchange never saw it), nothing lost, nothing
    raised on the reactor thread."""
    client = make_client(request_timeout=5)
    authenticated(client)
    sandbox.faults.close_and_linger()
    conn = client._auth_link.conn
    eventually(lambda: conn.is_open and not conn.writable, timeout=5)
    futures = [client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", 100 + i)
               for i in range(20)]
    for future in futures:
        assert isinstance(future.exception(5), RequestNotSent)
    received = {o.get("cid") for o in sandbox.orders_received()}
    assert not received & {f.cid for f in futures}
    assert not [e for e in client.errors.items if "internal error" in str(e)]


# -- 6. a duplicate "subscribed" --------------------------------------------------------

def test_6_a_duplicate_subscribed_never_moves_another_channel(sandbox, make_client):
    """A bogus 'subscribed' naming tBTCUSD's chanId for tETHUSD is reported, not applied:
    unsubscribing tETHUSD leaves the tBTCUSD stream running."""
    client = make_client(public_only=True)
    btc, eth = Recorder(), Recorder()
    client.subscribe_to_ticker("tBTCUSD", btc)
    client.start()
    btc.wait_for(lambda t: True)
    sandbox.faults.duplicate_next_subscribed()
    eth_sub = client.subscribe_to_ticker("tETHUSD", eth)
    eth.wait_for(lambda t: True)
    client.errors.wait_for(lambda e: isinstance(e, RemoteProtocolError)
                           and "carries another channel" in str(e))
    client.unsubscribe(eth_sub)
    client.events.wait_for(lambda e: isinstance(e, models.SubscriptionChanged)
                           and e.label == "ticker:tETHUSD" and e.state == "gone")
    count = len(btc.items)
    sandbox.step(5)
    btc.wait_count(lambda t: True, count + 1)
    assert client.stats.unexpected_frames >= 1


# -- 7. FTX: a resync whose unsubscribe is refused -------------------------------------

def test_7_ftx_resync_with_a_refused_unsubscribe_still_resyncs():
    """Checksum mismatch, then the resync's unsubscribe is answered with an error: the
    client subscribes again anyway and the book is back in sync; meanwhile order_book()
    says it is not synced instead of returning the bad book as good."""
    sb = FtxSandbox(seed=5, tick_interval=0.05).start()
    events, errors = Recorder(), Recorder()
    client = FtxWssClient(DEFAULT_FTX_KEY, DEFAULT_FTX_SECRET, url=sb.url, on_event=events,
                          on_error=errors, reconnect_delay=0.05)
    try:
        books = Recorder()
        client.subscribe_to_orderbook("BTC-PERP", books)
        client.start()
        books.wait_for(lambda e: isinstance(e, models.BookSnapshot))
        sb.faults.refuse_next_unsubscribe()
        sb.faults.corrupt_next_checksum()
        events.wait_for(lambda e: isinstance(e, models.SubscriptionChanged)
                        and e.state == "resyncing")
        books.wait_count(lambda e: isinstance(e, models.BookSnapshot), 2)
        eventually(lambda: client.order_book("BTC-PERP").synced)
        assert any("unsubscribe refused" in str(e) for e in errors.items)
    finally:
        client.stop()
        sb.stop()


# -- 8. what a server can make the client hold ------------------------------------------

def test_8_an_oversized_frame_fails_the_connection_with_1009_and_a_short_report(
        sandbox, make_client, caplog):
    """A 50 MiB frame: the connection fails with 1009 as its header arrives, the report
    and the log quote no more than a few hundred characters, the client reconnects."""
    client = make_client(public_only=True, max_message_size=4 * 1024 * 1024)
    client.subscribe_to_ticker("tBTCUSD", lambda t: None)
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "connected")
    with caplog.at_level(logging.INFO, logger="exchange_wss"):
        sandbox.faults.send_oversized_frame(50 * 1024 * 1024)
        error = client.errors.wait_for(lambda e: isinstance(e, MessageTooBig))
        client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")
    assert len(str(error)) < 400 and client.stats.oversized_messages == 1
    assert all(len(r.getMessage()) < 1000 for r in caplog.records)


def test_8_an_endless_frame_is_refused_at_its_header(sandbox, make_client):
    """A header announcing 2**40 bytes fails the connection at once (not after the stale
    watchdog, which is off here)."""
    client = make_client(public_only=True, stale_timeout=None)
    client.subscribe_to_ticker("tBTCUSD", lambda t: None)
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "connected")
    started = time.monotonic()
    sandbox.faults.send_endless_frame()
    client.errors.wait_for(lambda e: isinstance(e, MessageTooBig), timeout=5)
    assert time.monotonic() - started < 3


# -- 9. BaseException in a callback -----------------------------------------------------

@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_9_any_exception_in_a_callback_is_reported_and_the_connection_stays(
        sandbox, make_client, exc):
    """A callback raising KeyboardInterrupt, SystemExit or GeneratorExit on the reactor
    thread is reported on on_error; the connection stays and other channels flow."""
    client = make_client(public_only=True)
    other = Recorder()

    def bad(_ticker):
        raise exc()

    client.subscribe_to_ticker("tBTCUSD", bad)
    client.subscribe_to_ticker("tETHUSD", other)
    client.start()
    error = client.errors.wait_for(lambda e: isinstance(e, CallbackError))
    assert isinstance(error.__cause__, exc)
    count = len(other.items)
    sandbox.step(10)
    other.wait_count(lambda t: True, count + 1)
    assert client.stats.reconnects == 0


# -- 10. smaller untruths ----------------------------------------------------------------

@pytest.mark.parametrize("result", ["a string", None, ...], ids=["text", "null", "missing"])
def test_10_a_binance_answer_that_is_no_order_fails_the_future(binance, result):
    """An order answer whose result is text, null or missing is a RemoteProtocolError on
    the future, never a placed Order(id=None)."""
    client = binance_client(binance)
    try:
        client.start()
        binance.faults.answer_next_order("result", result)
        price = binance.book("BTCUSDT", limit=20)["bids"][-1][0]
        future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", price,
                                     time_in_force="GTC")
        assert isinstance(future.exception(10), RemoteProtocolError)
    finally:
        client.stop()


def test_10_a_ticker_of_the_wrong_shape_is_reported_not_delivered(sandbox, make_client):
    """Nulls and text where ten numbers belong: a RemoteProtocolError, no Ticker of Nones."""
    client = make_client(public_only=True)
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    got.wait_for(lambda t: True)
    sandbox.faults.garble_next_tickers(1)
    client.errors.wait_for(lambda e: isinstance(e, RemoteProtocolError))
    sandbox.step(5)
    got.wait_count(lambda t: True, len(got.items) + 1)
    assert all(isinstance(t.bid, (float, int)) for t in got.items)


def test_10_every_dropped_event_is_counted(sandbox, make_client):
    """With a slow callback on the worker thread, the drop counter equals what was dropped."""
    client = make_client(public_only=True, callback_thread=True, callback_queue_size=5)
    release = threading.Event()
    client.subscribe_to_trades("tBTCUSD", lambda e: release.wait(5))
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "active")
    for _ in range(10):
        sandbox.step(20)
        time.sleep(0.05)
    eventually(lambda: client.stats.callback_events_dropped > 5)
    release.set()
    assert client.stats.callback_events_dropped == client._worker.dropped


def test_10_stop_returns_within_its_timeout_even_with_a_wedged_reactor(sandbox, make_client):
    """A callback blocking the reactor thread: stop(timeout=1) returns in about a second
    and settles the pending order."""
    client = make_client(public_only=False)
    authenticated(client)
    block = threading.Event()
    client.subscribe_to_ticker("tBTCUSD", lambda t: block.wait(6))
    sandbox.faults.stall()
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", resting_price(sandbox))
    sandbox.faults.resume()
    time.sleep(0.5)  # let a ticker reach the blocking callback
    started = time.monotonic()
    client.stop(timeout=1)
    elapsed = time.monotonic() - started
    block.set()
    assert elapsed < 1.8
    assert future.done()


def test_10_a_listen_key_appears_in_no_error_event_or_log(caplog):
    """Futures user data through keepalives, an expiry and a renewal: the listenKey is
    in no error text, event repr or log line."""
    sb = BinanceSandbox(market="usdm", seed=6, tick_interval=0.05).start()
    events, errors = Recorder(), Recorder()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="usdm",
                              rest_url=sb.rest_url, stream_url=sb.stream_url,
                              api_url=sb.api_url, on_event=events, on_error=errors,
                              reconnect_delay=0.05, keepalive_interval=0.2)
    keys = set()
    try:
        with caplog.at_level(logging.DEBUG, logger="exchange_wss"):
            client.subscribe_to_user_data(lambda e: None)
            client.start()
            # The link is made on the reactor thread after start(): until then there is none.
            def listen_key():
                return getattr(client._user_link, "listen_key", None)
            keys.add(eventually(listen_key))
            sb.faults.expire_listen_key()
            keys.add(eventually(lambda: (k := listen_key()) not in keys and k))
            time.sleep(0.5)
    finally:
        client.stop()
        sb.stop()
    texts = [str(e) for e in errors.items] + [repr(e) for e in events.items] + \
            [r.getMessage() for r in caplog.records] + [repr(client)]
    assert keys and not [t for t in texts for k in keys if k in t]


def test_10_a_failing_rest_call_reaches_on_error_as_a_library_error():
    """REST to a closed port: a RestError on on_error, never a raw requests exception."""
    errors = Recorder()
    client = BinanceWssClient(DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, market="usdm",
                              rest_url="http://127.0.0.1:9", stream_url="ws://127.0.0.1:9",
                              on_error=errors, reconnect_delay=0.05)
    try:
        client.subscribe_to_user_data(lambda e: None)
        client.start()
        error = errors.wait_for(lambda e: True)
        assert isinstance(error, RestError) and "127.0.0.1" not in str(error)
    finally:
        client.stop()


def test_10_a_closed_port_is_reported_after_a_few_attempts():
    """Nothing listens: after report_failures_after attempts, ConnectionFailed on on_error,
    connect_failed on on_event, and the attempts counted in stats."""
    events, errors = Recorder(), Recorder()
    client = WssClient(url="ws://127.0.0.1:9/ws/2", on_event=events, on_error=errors,
                       reconnect_delay=0.01, max_reconnect_delay=0.05, report_failures_after=3)
    try:
        client.subscribe_to_ticker("tBTCUSD", lambda t: None)
        client.start()
        error = errors.wait_for(lambda e: isinstance(e, ConnectionFailed))
        assert error.attempts == 3 and "refused" in str(error).lower()
        events.wait_for(lambda e: getattr(e, "state", None) == "connect_failed")
        assert client.stats.connect_failures >= 3
    finally:
        client.stop()

"""Every fault a connection meets, injected by the sandbox: the client recovers and loses
nothing."""

from __future__ import annotations

import pytest
from _support import Recorder, eventually

from exchange_wss import OrderStateUnknown, RemoteProtocolError, SequenceGap, WssClient, models
from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET, BitfinexSandbox


@pytest.fixture
def sandbox():
    sb = BitfinexSandbox(seed=5, tick_interval=0.05, heartbeat_interval=0.5).start()
    yield sb
    sb.stop()


@pytest.fixture
def client(sandbox):
    events, errors = Recorder(), Recorder()
    c = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=sandbox.url, on_event=events, on_error=errors,
                  reconnect_delay=0.05, max_reconnect_delay=0.3, stale_timeout=1.0, seq_all=True)
    c.events, c.errors = events, errors
    yield c
    c.stop()


def state_count(client, state):
    return len([e for e in client.events.items if getattr(e, "state", None) == state])


def flowing_again(recorder, client):
    """Wait for a reconnect, then for fresh data on the same callback."""
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")
    count = len(recorder.items)
    recorder.wait_count(lambda e: True, count + 3)


def test_stall_is_detected_by_the_watchdog_and_recovered(sandbox, client):
    """When the server goes silent (no heartbeats either), the client reconnects by itself."""
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    got.wait_for(lambda e: True)
    sandbox.faults.stall(seconds=3.0)
    client.events.wait_for(lambda e: getattr(e, "state", None) == "disconnected"
                           and "stale" in (e.reason or ""))
    flowing_again(got, client)


def test_sequence_gap_resyncs_the_connection(sandbox, client):
    """A skipped sequence number is reported and the connection is rebuilt."""
    got = Recorder()
    client.subscribe_to_trades("tBTCUSD", got)
    client.start()
    got.wait_count(lambda e: True, 3)
    sandbox.faults.skip_sequence()
    client.errors.wait_for(lambda e: isinstance(e, SequenceGap))
    flowing_again(got, client)
    assert client.stats.sequence_gaps == 1 and client.stats.reconnects >= 1


def test_malformed_frame_is_reported_not_fatal(sandbox, client):
    """A frame that is not JSON is reported; the connection and data go on."""
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    got.wait_for(lambda e: True)
    sandbox.faults.malformed_frame()
    client.errors.wait_for(lambda e: isinstance(e, RemoteProtocolError))
    assert client.stats.malformed_frames == 1
    count = len(got.items)
    got.wait_count(lambda e: True, count + 3)
    assert state_count(client, "disconnected") == 0


def test_http_429_at_the_handshake_backs_off_and_connects(sandbox, client):
    """A 429 on the opening handshake is retried after a backoff until it connects."""
    sandbox.faults.reject_next_handshake(429)
    got = Recorder()
    client.subscribe_to_ticker("tBTCUSD", got)
    client.start()
    got.wait_for(lambda e: True)
    assert client._public_links[0].conn.opens == 1


def test_books_equal_the_servers_after_a_drop(sandbox, client):
    """After a drop the book is rebuilt from the new snapshot and checksums pass again."""
    got = Recorder()
    client.subscribe_to_orderbook("tBTCUSD", "P0", got)
    client.start()
    got.wait_for(lambda e: isinstance(e, models.BookSnapshot))
    sandbox.faults.drop_connections()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "reconnected")
    got.wait_count(lambda e: isinstance(e, models.BookSnapshot), 2)
    count = len(got.items)
    got.wait_count(lambda e: isinstance(e, models.BookUpdate), count + 20)
    assert not [e for e in client.errors.items if type(e).__name__ == "ChecksumMismatch"]


def _best(sandbox, side):
    return sandbox.book("tBTCUSD", "P0", 25)[side][0][0]


def test_order_in_flight_across_a_drop_is_found_in_the_snapshot(sandbox, client):
    """An order whose answer was lost is resolved from the open orders after re-auth, not
    re-sent."""
    client.authenticate(Recorder())
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")
    sandbox.faults.stall()
    price = round(_best(sandbox, "bids") * 0.9, 0)
    future = client.submit_order("EXCHANGE LIMIT", "tBTCUSD", "0.01", price)
    eventually(lambda: [o for o in sandbox.orders_received(DEFAULT_KEY)
                        if o.get("cid") == future.cid])
    sandbox.faults.drop_connections()
    sandbox.faults.resume()
    order = future.result(10)
    assert order.cid == future.cid
    sent = [o for o in sandbox.orders_received(DEFAULT_KEY) if o.get("cid") == future.cid]
    assert len(sent) == 1


def test_order_in_flight_that_is_gone_fails_as_unknown(sandbox, client):
    """An order that filled while the answer was lost fails with OrderStateUnknown, never
    re-sent."""
    client.authenticate(Recorder())
    client.start()
    client.events.wait_for(lambda e: getattr(e, "state", None) == "authenticated")
    sandbox.faults.stall()
    future = client.submit_order("EXCHANGE MARKET", "tBTCUSD", "0.01")
    eventually(lambda: [o for o in sandbox.orders_received(DEFAULT_KEY)
                        if o.get("cid") == future.cid])
    sandbox.faults.drop_connections()
    sandbox.faults.resume()
    with pytest.raises(OrderStateUnknown):
        future.result(10)
    assert len([o for o in sandbox.orders_received(DEFAULT_KEY)
                if o.get("cid") == future.cid]) == 1


def test_giving_up_is_never_silent():
    """With max_reconnect, a server that never answers ends in gave_up and ConnectionLost."""
    import socket

    from exchange_wss import ConnectionLost
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{s.getsockname()[1]}/ws/2"
    events, errors = Recorder(), Recorder()
    client = WssClient(url=url, on_event=events, on_error=errors, reconnect_delay=0.02,
                       max_reconnect_delay=0.05, max_reconnect=2)
    try:
        client.subscribe_to_ticker("tBTCUSD", Recorder())
        client.start()
        events.wait_for(lambda e: getattr(e, "state", None) == "gave_up")
        assert "2 failed" in str(errors.wait_for(lambda e: isinstance(e, ConnectionLost)))
    finally:
        client.stop()

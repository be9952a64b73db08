"""Per-subscription and per-connection health (exchange_wss._health) on a fake clock.

A real ``WssClient`` runs on a ``MemoryReactorClock``; its connections are real
autobahn protocols over Twisted's ``StringTransport``, so the client's own frames
are read back and the server's written in by the test: first data, stale,
recovered, interrupted, resyncing, failed, rates, round trips, pending requests.
"""

from __future__ import annotations

import json
import re

import pytest
from _wire import TICKER, URL, Harness, server_frame
from twisted.internet.testing import MemoryReactorClock

from exchange_wss import WssClient
from exchange_wss.errors import LocalProtocolError
from exchange_wss.models import StreamHealth, SubscriptionChanged


def live_ticker(h: Harness):
    """A ticker subscription confirmed and fed once; its peer."""
    sub = h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.start()
    peer = h.open()
    peer.answer_subscribes(5)
    peer.send([5, TICKER])
    h.advance(1.0)
    return sub, peer


def test_a_new_subscription_is_pending_until_its_first_data():
    """Subscribed and confirmed but without data it is pending; its first frame makes it
    live with a first_data signal, its first-data time and one message."""
    h = Harness()
    sub = h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    assert sub.health.state == "pending"
    h.start()
    peer = h.open()
    peer.answer_subscribes(5)
    h.advance(1.0)
    assert (sub.state, sub.health.state) == ("active", "pending")
    peer.send([5, TICKER])
    h.advance(1.0)
    health = sub.health
    assert health.state == "live" and health.messages == 1
    assert health.first_data is not None and health.last_message == health.first_data
    assert health.connection == "public-0"
    assert h.signals() == ["first_data"]


def test_a_live_stream_goes_stale_after_stale_after_seconds_of_silence():
    """No data for stale_after seconds while the connection is open: stale, signalled once,
    not before the limit."""
    h = Harness(stale_after=5.0)
    sub, _peer = live_ticker(h)
    h.advance(3.5)
    assert sub.health.state == "live"
    h.advance(2.0)
    assert sub.health.state == "stale"
    assert sub.health.reason == "no data for 5s while public-0 is open"
    h.advance(10.0)
    assert h.signals() == ["first_data", "stale"]


def test_a_stale_stream_recovers_on_its_next_data():
    """The next frame after a stale spell makes it live again: a recovered signal that says
    how long it was silent."""
    h = Harness(stale_after=5.0)
    sub, peer = live_ticker(h)
    h.advance(7.0)
    peer.send([5, TICKER])
    h.advance(1.0)
    assert sub.health.state == "live"
    recovered = [e for e in h.events if isinstance(e, StreamHealth)][-1]
    assert (recovered.signal, recovered.previous) == ("recovered", "stale")
    silence = float(re.fullmatch(r"recovered: data again after (\d+\.\d)s",
                                 recovered.reason).group(1))
    assert 7.0 <= silence <= 9.0


def test_steady_data_keeps_a_stream_live():
    """A frame every second keeps a 5 s stale_after stream live for a minute."""
    h = Harness(stale_after=5.0)
    sub, peer = live_ticker(h)
    for _ in range(60):
        peer.send([5, TICKER])
        h.advance(1.0)
    assert sub.health.state == "live" and h.signals() == ["first_data"]


def test_silence_while_the_connection_is_down_is_pending_never_stale():
    """When its connection drops the stream is interrupted (pending), stays so however long
    the connection is down, and its first data on the new connection recovers it."""
    h = Harness(stale_after=5.0)
    sub, peer = live_ticker(h)
    peer.drop()
    assert sub.health.state == "pending"
    assert sub.health.reason == "waiting for public-0 to open"
    h.advance(60.0)
    assert sub.health.state == "pending"
    peer = h.open()
    peer.answer_subscribes(9)
    peer.send([9, TICKER])
    h.advance(1.0)
    assert sub.health.state == "live"
    assert h.signals() == ["first_data", "interrupted", "recovered"]


def test_confirmed_but_silent_for_stale_after_is_stale():
    """A subscription the server confirmed and then never fed is stale after stale_after:
    the silent stop nobody notices otherwise."""
    h = Harness(stale_after=5.0)
    sub = h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.start()
    h.open().answer_subscribes(5)
    h.advance(6.0)
    assert sub.health.state == "stale"
    assert "since subscribed" in sub.health.reason


def test_refused_every_time_the_subscription_fails_with_the_exchanges_reason():
    """A subscribe the exchange refuses on every retry ends failed: one failed signal,
    the reason in the record, the lifecycle failed."""
    h = Harness()
    sub = h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.start()
    peer = h.open()
    for _ in range(10):
        peer.answer_subscribes(refuse=True)
        h.advance(1.0)
    assert sub.state == "failed"
    assert sub.health.state == "failed" and "subscribe: failed" in sub.health.reason
    assert h.signals() == ["failed"]


def test_health_changes_follow_the_lifecycle_event_that_caused_them():
    """The SubscriptionChanged that made a stream fail comes before its StreamHealth."""
    h = Harness()
    h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.start()
    peer = h.open()
    for _ in range(10):
        peer.answer_subscribes(refuse=True)
        h.advance(1.0)
    kinds = [(type(e).__name__, e.state) for e in h.events
             if isinstance(e, (SubscriptionChanged, StreamHealth)) and e.state == "failed"]
    assert kinds == [("SubscriptionChanged", "failed"), ("StreamHealth", "failed")]


def _book_snapshot() -> list:
    return [[60000.0 - i, 1, 1.0] for i in range(3)] + [[60001.0 + i, 1, -1.0] for i in range(3)]


def test_a_checksum_mismatch_resyncs_the_book_and_counts_every_message():
    """A wrong checksum makes the book resyncing; the fresh snapshot after the resubscribe
    makes it live again, with one resync, and the messages of both bindings counted."""
    h = Harness()
    sub = h.client.subscribe_to_orderbook("tBTCUSD", "P0", lambda e: None)
    h.start()
    peer = h.open()
    peer.answer_subscribes(5)
    peer.send([5, _book_snapshot()])
    peer.send([5, [60000.0, 1, 2.0]])
    h.advance(1.0)
    assert sub.health.state == "live"
    peer.send([5, "cs", 12345])
    assert sub.health.state == "resyncing"
    unsubscribe = [m for m in peer.written() if m.get("event") == "unsubscribe"]
    assert unsubscribe == [{"event": "unsubscribe", "chanId": 5}]
    peer.send({"event": "unsubscribed", "status": "OK", "chanId": 5})
    assert sub.health.state == "resyncing"  # subscribing again
    peer.answer_subscribes(6)
    peer.send([6, _book_snapshot()])
    h.advance(1.0)
    health = sub.health
    assert (health.state, health.resyncs, health.messages) == ("live", 1, 3)
    assert h.signals("book:tBTCUSD:P0") == ["first_data", "resyncing", "recovered"]


def test_a_subscription_can_have_its_own_stale_after():
    """A handle's stale_after overrides the client's, and sampling speeds up to a quarter of it."""
    h = Harness(stale_after=60.0)
    sub, _peer = live_ticker(h)
    sub.stale_after = 2.0
    assert h.client._health.current_interval() == 0.5
    h.advance(3.0)
    assert sub.health.state == "stale" and sub.health.stale_after == 2.0


def test_a_stream_without_stale_after_never_goes_stale():
    """stale_after None (account streams' default): silence for an hour stays live."""
    h = Harness(stale_after=5.0)
    sub, _peer = live_ticker(h)
    sub.stale_after = None
    h.advance(3600.0, step=1.0)
    assert sub.health.state == "live"


def test_stale_after_must_be_positive():
    """A zero, negative or non-number stale_after is refused at the call."""
    h = Harness()
    sub = h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    for bad in (0, -1, "5", float("nan"), True):
        with pytest.raises(LocalProtocolError):
            sub.stale_after = bad
    with pytest.raises(LocalProtocolError):
        WssClient(url=URL, reactor=MemoryReactorClock(), stale_after=0)


def test_rate_is_messages_per_second_over_the_last_ten_seconds():
    """Four frames a second for 20 s: a rate of 4/s; ten silent seconds later, 0."""
    h = Harness(stale_after=60.0)
    sub, peer = live_ticker(h)
    for _ in range(80):
        peer.send([5, TICKER])
        h.advance(0.25)
    assert sub.health.rate == pytest.approx(4.0, rel=0.1)
    h.advance(11.0)
    assert sub.health.rate == 0.0
    assert sub.health.messages == 81


def test_last_message_is_known_to_within_one_sampling_interval():
    """The last message's time is that of the first sample after it (1 s at most later)."""
    h = Harness(stale_after=60.0)
    sub, peer = live_ticker(h)
    h.clock.advance(0.3)
    sent_at = h.clock.seconds()
    peer.send([5, TICKER])
    h.advance(2.0)
    assert sent_at <= sub.health.last_message <= sent_at + 1.0


def test_a_connection_that_gives_up_fails_its_streams():
    """gave_up on the connection (max_reconnect reached) makes its streams failed."""
    h = Harness()
    sub, peer = live_ticker(h)
    peer.drop()
    h.client._emit_state("gave_up", "public-0", "gave up after 3 failed reconnect attempts")
    assert sub.health.state == "failed" and "gave up" in sub.health.reason
    assert h.signals()[-1] == "failed"
    [conn] = [c for c in h.client.health()["connections"] if c["name"] == "public-0"]
    assert conn["state"] == "gave_up"


# -- connections -------------------------------------------------------------------------------

def test_a_connection_reports_open_closed_since_and_reconnects():
    """open with its opening time; closed with the reason; open again counts a reconnect."""
    h = Harness()
    _sub, peer = live_ticker(h)
    [conn] = h.client.health()["connections"]
    assert (conn["state"], conn["reconnects"], conn["reason"]) == ("open", 0, None)
    h.clock.advance(1.0)
    peer.drop()
    [conn] = h.client.health()["connections"]
    assert conn["state"] == "closed" and conn["since"] == h.clock.seconds()
    assert conn["reason"]
    h.open()
    [conn] = h.client.health()["connections"]
    assert (conn["state"], conn["reconnects"]) == ("open", 1)


def test_round_trip_time_comes_from_the_websocket_ping_and_its_pong():
    """A pong answering the client's ping 40 ms later gives an rtt of 40 ms; a pong
    with another payload changes nothing."""
    h = Harness()
    _sub, peer = live_ticker(h)
    peer.proto.sendPing(b"0123456789ab")
    [ping] = peer.written(opcode=9)
    h.clock.advance(0.040)
    peer.proto.dataReceived(server_frame(10, b"not that ping"))
    assert h.client._public_links[0].conn.rtt is None
    peer.proto.dataReceived(server_frame(10, ping))
    h.advance(1.0)
    [conn] = h.client.health()["connections"]
    assert conn["rtt"] == pytest.approx(0.040)


def test_pending_requests_are_counted_on_their_connection():
    """An order waiting for authentication is queued on the auth connection; once written,
    written; its connection lost, in doubt."""
    h = Harness()
    client = WssClient("key", "secret", url=URL, reactor=h.clock, ping_interval=None,
                       stale_timeout=None, on_event=h.events.append, on_error=h.errors.append)
    h.client = client
    client.authenticate(lambda e: None)
    client.start()
    client.submit_order("EXCHANGE LIMIT", "tBTCUSD", 0.01, 50000)
    peer = h.open("auth")
    h.advance(1.0)
    [auth] = client.health()["connections"]
    assert auth["requests"] == {"queued": 1, "written": 0, "in_doubt": 0}
    assert auth["auth"] == "pending" and not auth["authenticated"]
    peer.send({"event": "auth", "status": "OK", "chanId": 0, "userId": 1})
    h.advance(1.0)
    [auth] = client.health()["connections"]
    assert auth["requests"] == {"queued": 0, "written": 1, "in_doubt": 0}
    assert auth["auth"] == "ok" and auth["authenticated"]
    peer.drop()
    [auth] = client.health()["connections"]
    assert auth["requests"] == {"queued": 0, "written": 0, "in_doubt": 1}


def test_a_refused_authentication_is_reported_as_failed():
    """auth refused by the server: the connection's auth is failed."""
    h = Harness()
    client = WssClient("key", "secret", url=URL, reactor=h.clock, ping_interval=None,
                       stale_timeout=None, on_error=h.errors.append)
    h.client = client
    client.authenticate()
    client.start()
    peer = h.open("auth")
    peer.send({"event": "auth", "status": "FAILED", "chanId": 0, "code": 10100,
               "msg": "apikey: invalid"})
    h.advance(1.0)
    [auth] = client.health()["connections"]
    assert auth["auth"] == "failed"


# -- the whole picture ------------------------------------------------------------------------

def test_health_is_plain_json_serialisable_data():
    """client.health() survives a JSON round trip unchanged and names every field it documents."""
    h = Harness()
    live_ticker(h)
    health = h.client.health()
    assert json.loads(json.dumps(health)) == health
    assert set(health) == {"time", "sampled_at", "interval", "stale_after", "states",
                           "streams", "connections", "stats"}
    [stream] = health["streams"]
    assert set(stream) == {"label", "state", "since", "reason", "lifecycle", "connection",
                           "first_data", "last_message", "age", "messages", "rate", "resyncs",
                           "stale_after", "sampled_at", "error"}
    assert health["states"]["live"] == 1
    [conn] = health["connections"]
    assert set(conn) == {"name", "state", "since", "reason", "auth", "authenticated", "rtt",
                         "rtt_at", "reconnects", "requests", "subscriptions", "last_frame",
                         "last_frame_age", "sampled_at"}


def test_health_before_start_lists_every_subscription_as_pending():
    """Right after subscribe_to_* and before start(), each handle is in health() as pending."""
    h = Harness()
    h.client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    h.client.subscribe_to_trades("tETHUSD", lambda e: None)
    health = h.client.health()
    assert [(s["label"], s["state"]) for s in health["streams"]] == [
        ("ticker:tBTCUSD", "pending"), ("trades:tETHUSD", "pending")]


def test_an_unsubscribed_stream_leaves_the_picture():
    """After unsubscribe() the stream is no longer in health()."""
    h = Harness()
    sub, _peer = live_ticker(h)
    h.client.unsubscribe(sub)
    h.advance(1.0)
    assert h.client.health()["streams"] == []


# -- the sessions' counters -------------------------------------------------------------------

def test_bitfinex_frames_of_stays_cumulative_across_a_resubscribe():
    """A channel unsubscribed and bound again on the same connection keeps counting
    from where it was (the health sampler relies on counts that only grow)."""
    from exchange_wss._subscriptions import Subscription
    from exchange_wss.bitfinex.requests import ChannelSpec
    from exchange_wss.bitfinex.session import BitfinexSession

    session = BitfinexSession(lambda event: None, raw=True)
    sub = Subscription("ticker:tBTCUSD", ChannelSpec.ticker("tBTCUSD"), "tBTCUSD")
    for chan_id, frames in ((5, 3), (6, 2)):
        req = session.subscribe(sub)
        session.receive({"event": "subscribed", "channel": "ticker", "chanId": chan_id,
                         "symbol": "tBTCUSD", "subId": req["subId"]})
        for _ in range(frames):
            session.receive([chan_id, TICKER])
        session.receive([chan_id, "hb"])
        if chan_id == 5:
            session.unsubscribe(sub)
            session.receive({"event": "unsubscribed", "status": "OK", "chanId": 5})
    assert session.frames_of(sub) == 5


def test_binance_frames_of_stays_cumulative_across_a_resubscribe():
    """A stream unsubscribed and subscribed again on one Binance connection keeps its count."""
    from exchange_wss._subscriptions import Subscription
    from exchange_wss.binance.session import BinanceSession

    session = BinanceSession(lambda event: None, raw=True)
    sub = Subscription("btcusdt@trade", "btcusdt@trade", "BTCUSDT")
    sub.deliver = lambda event: None
    for frames in (3, 2):
        req = session.subscribe(sub)
        session.receive({"id": req["id"], "result": None})
        for _ in range(frames):
            session.receive({"stream": "btcusdt@trade", "data": {"e": "trade"}})
        if frames == 3:
            req = session.unsubscribe(sub)
            session.receive({"id": req["id"], "result": None})
    assert session.frames_of(sub) == 5


def test_ftx_frames_of_stays_cumulative_across_a_resubscribe():
    """A market unsubscribed and subscribed again on one FTX connection keeps its count,
    and a new handle for the same market does not inherit it."""
    from exchange_wss._subscriptions import Subscription
    from exchange_wss.ftx.protocol import FtxSession

    session = FtxSession(lambda event: None, raw=True)
    sub = Subscription("ticker:BTC-PERP", ("ticker", "BTC-PERP"), "BTC-PERP")
    frame = {"type": "update", "channel": "ticker", "market": "BTC-PERP", "data": {"bid": 1}}
    for frames in (3, 2):
        session.subscribe(sub)
        session.receive({"type": "subscribed", "channel": "ticker", "market": "BTC-PERP"})
        for _ in range(frames):
            session.receive(frame)
        if frames == 3:
            session.unsubscribe(sub)
            session.receive({"type": "unsubscribed", "channel": "ticker", "market": "BTC-PERP"})
    assert session.frames_of(sub) == 5
    other = Subscription("ticker:BTC-PERP", ("ticker", "BTC-PERP"), "BTC-PERP")
    assert session.frames_of(other) == 0


def test_a_liquidation_feed_is_quiet_by_nature():
    """Bitfinex's liq:global status channel gets no stale_after (liquidations come when they
    happen); a derivatives status channel gets the client's."""
    h = Harness(stale_after=5.0)
    liq = h.client.subscribe_to_status("liq:global", lambda e: None)
    deriv = h.client.subscribe_to_status("deriv:tBTCF0:USTF0", lambda e: None)
    assert (liq.stale_after, deriv.stale_after) == (None, 5.0)

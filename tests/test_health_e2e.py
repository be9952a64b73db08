"""Health end to end against the sandboxes: a stalled stream reports stale then recovers
on every client; a resubscribe the exchange keeps refusing reports failed; connections
report authentication and a ping round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from exchange_wss.models import StreamHealth
from exchange_wss.testing import CallbackRecorder

#: Short enough for a quick test, long enough that a busy machine's pauses between the
#: sandbox's ticks (0.25 s) do not look like a stall.
STALE_AFTER = 1.5
FAST = {"reconnect_delay": 0.05, "max_reconnect_delay": 0.5, "stale_after": STALE_AFTER}


@pytest.fixture
def bitfinex_client_options() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
def binance_client_options() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture
def ftx_client_options() -> dict[str, Any]:
    return dict(FAST)


def _signals(recorder: CallbackRecorder, label: str, after: int = 0) -> list[StreamHealth]:
    return [e for e in recorder.snapshot()[after:]
            if isinstance(e, StreamHealth) and e.label == label]


def _wait_signal(recorder: CallbackRecorder, label: str, signal: str, after: int = 0,
                 timeout: float = 20.0) -> StreamHealth:
    def match(event: Any) -> bool:
        return isinstance(event, StreamHealth) and event.label == label and \
            event.signal == signal and recorder.events.index(event) >= after
    return recorder.wait_for(match, timeout)


def _subscribe(exchange: str, client: Any) -> Any:
    if exchange == "binance":
        return client.subscribe_to_book_ticker("BTCUSDT", lambda e: None)
    if exchange == "ftx":
        return client.subscribe_to_ticker("BTC-PERP", lambda e: None)
    return client.subscribe_to_ticker("tBTCUSD", lambda e: None)


@pytest.mark.parametrize("exchange", ["bitfinex", "binance", "ftx"])
def test_a_stalled_stream_reports_stale_then_recovers(request, exchange):
    """The sandbox stops sending (connection open): the stream goes stale after
    stale_after, its connection still open; on resume it recovers."""
    client = request.getfixturevalue(f"{exchange}_client")
    faults = request.getfixturevalue(f"{exchange}_faults")
    recorder = CallbackRecorder()
    client.on_event = recorder
    sub = _subscribe(exchange, client)
    _wait_signal(recorder, sub.label, "first_data")
    mark = len(recorder.snapshot())
    faults.stall()
    try:
        stale = _wait_signal(recorder, sub.label, "stale", after=mark)
        assert stale.reason == f"no data for {STALE_AFTER:g}s while {stale.connection} is open"
        health = client.health()
        [conn] = [c for c in health["connections"] if c["name"] == stale.connection]
        assert conn["state"] == "open"
        assert [s["state"] for s in health["streams"]] == ["stale"]
    finally:
        faults.resume()
    recovered = _wait_signal(recorder, sub.label, "recovered", after=mark)
    assert recovered.previous == "stale" and sub.health.state == "live"


def test_a_resubscribe_the_exchange_keeps_refusing_reports_failed(bitfinex_client,
                                                                  bitfinex_faults):
    """After a drop, the sandbox refuses the resubscribe every time the client retries:
    the stream is reported failed, with the exchange's words; the next connection
    restores it."""
    recorder = CallbackRecorder()
    bitfinex_client.on_event = recorder
    sub = bitfinex_client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    _wait_signal(recorder, sub.label, "first_data")
    mark = len(recorder.snapshot())
    bitfinex_faults.refuse_subscribes(4)  # the client's default number of attempts
    bitfinex_faults.drop_connections()
    failed = _wait_signal(recorder, sub.label, "failed", after=mark, timeout=30.0)
    assert "gave up after 4 attempts" in failed.reason and "subscribe: failed" in failed.reason
    assert sub.state == "failed" and sub.health.state == "failed"
    assert [e.signal for e in _signals(recorder, sub.label, mark)] == ["interrupted", "failed"]
    mark = len(recorder.snapshot())
    bitfinex_faults.drop_connections()
    _wait_signal(recorder, sub.label, "recovered", after=mark)
    assert [e.signal for e in _signals(recorder, sub.label, mark)] == ["retrying", "recovered"]


def test_bitfinex_connections_report_auth_and_ping_round_trips(bitfinex_sandbox):
    """The account connection is authenticated; every open connection measures its
    WebSocket ping's round trip; health() is plain JSON."""
    from exchange_wss import WssClient
    from exchange_wss.sandbox import DEFAULT_KEY, DEFAULT_SECRET

    recorder = CallbackRecorder()
    client = WssClient(DEFAULT_KEY, DEFAULT_SECRET, url=bitfinex_sandbox.url,
                       ping_interval=0.2, on_event=recorder)
    client.subscribe_to_ticker("tBTCUSD", lambda e: None)
    client.authenticate(lambda e: None)
    client.start()
    try:
        recorder.wait_for(lambda e: getattr(e, "state", None) == "authenticated")

        def measured(health: dict[str, Any]) -> bool:
            return len(health["connections"]) == 2 and all(
                c["rtt"] is not None for c in health["connections"])

        health = _poll(client.health, measured)
        by_name = {c["name"]: c for c in health["connections"]}
        assert by_name["auth"]["authenticated"] and by_name["auth"]["auth"] == "ok"
        assert by_name["public-0"]["auth"] == "none"
        assert all(0 <= c["rtt"] < 5 for c in health["connections"])
        assert json.loads(json.dumps(health)) == health
    finally:
        client.stop()


def test_ftx_login_is_ok_once_a_private_channel_is_confirmed(ftx_client):
    """FTX answers a login only when refusing it; a confirmed fills channel proves it took."""
    ftx_client.subscribe_to_fills(lambda e: None)

    def logged_in(health: dict[str, Any]) -> bool:
        return any(c["auth"] == "ok" for c in health["connections"])

    health = _poll(ftx_client.health, logged_in)
    [fills] = [s for s in health["streams"] if s["label"] == "fills"]
    assert fills["stale_after"] is None  # account streams are quiet by nature


def test_binance_spot_user_data_subscription_authenticates_the_api_connection(binance_client):
    """The Spot user-data subscription on the WebSocket API shows as its auth."""
    binance_client.subscribe_to_user_data(lambda e: None)

    def subscribed(health: dict[str, Any]) -> bool:
        return any(c["name"] == "api" and c["auth"] == "ok" for c in health["connections"])

    _poll(binance_client.health, subscribed)


def _poll(read: Any, predicate: Any, timeout: float = 15.0) -> Any:
    """Call ``read()`` until ``predicate`` holds (health is sampled: no event to wait on)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never true; last: {value!r}")
        time.sleep(0.05)

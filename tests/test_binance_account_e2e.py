"""BinanceWssClient's account side end to end against the sandbox: the account snapshot
before live events, balances/positions/open orders, COIN-M contracts, deposits, one Fill
per trade on every user-data variant, requests in doubt settled by asking, Ed25519."""

from __future__ import annotations

import pytest
from _support import Recorder
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_client_e2e import eventually

from exchange_wss import AuthenticationError, BinanceWssClient, models
from exchange_wss.errors import OrderStateUnknown, RequestNotApplied, RequestNotSent
from exchange_wss.sandbox import DEFAULT_BINANCE_KEY as KEY
from exchange_wss.sandbox import DEFAULT_BINANCE_SECRET as SECRET
from exchange_wss.sandbox import BinanceSandbox

ED_KEY = "sandbox-ed25519-key"

_running: list = []


@pytest.fixture(autouse=True)
def _stop_everything():
    """Every client and sandbox a test makes is stopped after it."""
    yield
    while _running:
        _running.pop().stop()


def sandbox(market="spot", **kwargs):
    kwargs.setdefault("tick_interval", None)
    sb = BinanceSandbox(market=market, seed=11, **kwargs).start()
    _running.append(sb)
    return sb


def client_for(sb, key=KEY, secret=SECRET, market=None, **kwargs):
    events, errors = Recorder(), Recorder()
    client = BinanceWssClient(key, secret, market=market or sb.market, rest_url=sb.rest_url,
                              stream_url=sb.stream_url, api_url=sb.api_url, on_event=events,
                              on_error=errors, reconnect_delay=0.05, max_reconnect_delay=0.3,
                              **kwargs)
    client.events, client.errors = events, errors
    _running.append(client)
    return client


def state(client, name):
    return client.events.wait_for(lambda e: getattr(e, "state", None) == name, timeout=15)


def symbol_of(sb):
    return "BTCUSD_PERP" if sb.market == "coinm" else "BTCUSDT"


def resting_price(sb):
    return sb.book(symbol_of(sb), limit=20)["bids"][-1][0]


def place_direct(sb, key=KEY, cid=None, **extra):
    """A resting order placed for the account by the sandbox itself (another client of it)."""
    qty = "1" if sb.market == "coinm" else "0.01"
    params = dict(symbol=symbol_of(sb), side="BUY", type="LIMIT", timeInForce="GTC",
                  quantity=qty, price=resting_price(sb))
    if cid:
        params["newClientOrderId"] = cid
    params.update(extra)
    return sb.place_order(key, **params)


def pem_pair():
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private_pem, public_pem


# ------------------------------------------------------------------ account snapshot

def test_spot_snapshot_comes_first_and_holds_events_that_arrive_meanwhile():
    """Spot: balances and open orders arrive as snapshot events before any live event; an
    order event the server sent before the snapshot's answer waited for it (and, already
    told by the snapshot, is not delivered twice)."""
    sb = sandbox("spot")
    before = place_direct(sb, cid="before-start")
    got = Recorder()
    client = client_for(sb)
    client.subscribe_to_user_data(got)
    sb.faults.stall()  # the subscribe answer waits; an order event queues behind it
    client.start()
    eventually(lambda: sb._call(lambda: any(s.subs for s in sb.server.sessions
                                            if s.kind == "api")))
    during = place_direct(sb, cid="during-load")
    sb.faults.resume()
    state(client, "account loaded")
    after = place_direct(sb, cid="after-load")
    got.wait_for(lambda e: isinstance(e, models.Order) and e.id == after["orderId"])
    kinds = [getattr(e, "kind", None) for e in got.items]
    first_live = kinds.index("update")
    assert set(kinds[:first_live]) == {"snapshot"}, kinds
    snap_orders = {e.id for e in got.items[:first_live] if isinstance(e, models.Order)}
    assert snap_orders == {before["orderId"], during["orderId"]}
    live_orders = [e.id for e in got.items[first_live:] if isinstance(e, models.Order)]
    assert live_orders == [after["orderId"]]
    wallets = {w.currency: w for w in got.items[:first_live] if isinstance(w, models.Wallet)}
    free, locked = sb.balances()["USDT"]
    assert wallets["USDT"].balance == pytest.approx(float(free + locked))
    assert client._account.held_total >= 1, "the live event did not have to wait"
    assert client._account.superseded == 1
    assert client.stats.superseded_order_updates == 1


def test_spot_state_is_the_snapshot_kept_current_by_live_events():
    """balances() and open_orders() copy the snapshot, updated by later events."""
    sb = sandbox("spot")
    first = place_direct(sb)
    client = client_for(sb)
    client.subscribe_to_orders(Recorder())
    client.start()
    state(client, "account loaded")
    assert [o.id for o in client.open_orders()] == [first["orderId"]]
    order = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    eventually(lambda: {o.id for o in client.open_orders()} == {first["orderId"], order.id})
    client.cancel_order("BTCUSDT", order_id=first["orderId"]).result(10)
    eventually(lambda: [o.id for o in client.open_orders()] == [order.id])
    free, locked = sb.balances()["USDT"]
    eventually(lambda: {w.currency: w.balance for w in client.balances()}.get("USDT")
               == pytest.approx(float(free + locked)))


@pytest.mark.parametrize("market", ["usdm", "coinm"])
def test_futures_snapshot_has_wallets_positions_and_orders_before_live_events(market):
    """Futures: the REST account, position risk and open orders arrive first as snapshot
    events (COIN-M positions in contracts), then live events."""
    sb = sandbox(market)
    qty = "3" if market == "coinm" else "0.02"
    sb.place_order(KEY, symbol=symbol_of(sb), side="BUY", type="MARKET", quantity=qty)
    resting = place_direct(sb)
    got = Recorder()
    client = client_for(sb)
    client.subscribe_to_user_data(got)
    client.start()
    state(client, "account loaded")
    live = client.submit_order(symbol_of(sb), "BUY", "LIMIT", "1" if market == "coinm"
                               else "0.01", resting_price(sb)).result(10)
    got.wait_for(lambda e: isinstance(e, models.Order) and e.id == live.id)
    kinds = [getattr(e, "kind", None) for e in got.items]
    first_live = kinds.index("update")
    snap = got.items[:first_live]
    assert set(kinds[:first_live]) == {"snapshot"}
    positions = [p for p in snap if isinstance(p, models.Position)]
    assert [(p.symbol, p.amount) for p in positions] == [(symbol_of(sb), float(qty))]
    assert [o.id for o in snap if isinstance(o, models.Order)] == [resting["orderId"]]
    margin_asset = "BTC" if market == "coinm" else "USDT"
    wallet = {w.currency: w for w in snap if isinstance(w, models.Wallet)}[margin_asset]
    assert wallet.balance == pytest.approx(float(sb.futures_wallets()[margin_asset]))
    assert [(p.symbol, p.amount) for p in client.positions()] == [(symbol_of(sb), float(qty))]
    eventually(lambda: {o.id for o in client.open_orders()} == {resting["orderId"], live.id})


def test_snapshot_is_loaded_again_after_a_reconnect():
    """After a drop the user stream reconnects and a new snapshot precedes its events."""
    sb = sandbox("usdm")
    client = client_for(sb)
    client.subscribe_to_user_data(Recorder())
    client.start()
    state(client, "account loaded")
    sb.faults.drop_connections()
    eventually(lambda: client._account.snapshots >= 2, timeout=15)
    order = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    eventually(lambda: order.id in {o.id for o in client.open_orders()})


def test_a_snapshot_never_answered_releases_the_held_events_at_the_deadline():
    """account.status lost on the way: after request_timeout the error is reported and
    the live events that waited are delivered."""
    sb = sandbox("spot")
    sb.faults.lose_next_request("account.status")
    got = Recorder()
    client = client_for(sb, request_timeout=1.5)
    client.subscribe_to_orders(got)
    client.start()
    state(client, "user data subscribed")
    placed = place_direct(sb)
    error = client.errors.wait_for(lambda e: "account snapshot not loaded" in str(e))
    assert "1.5s" in str(error)
    got.wait_for(lambda e: e.id == placed["orderId"] and e.kind == "update")
    assert not [e for e in got.items if e.kind == "snapshot"]


def test_account_state_needs_user_data():
    """balances() before any user-data subscription says what is missing."""
    client = BinanceWssClient(KEY, SECRET, stream_url="ws://127.0.0.1:9")
    from exchange_wss import LocalProtocolError
    with pytest.raises(LocalProtocolError, match="subscribe_to_user_data"):
        client.balances()


# --------------------------------------------------------------- COIN-M and deposits

def test_coinm_order_fills_in_contracts_one_fill_per_trade():
    """A COIN-M market order: Fills sum to the quantity in contracts, one per trade,
    and the position is in contracts."""
    sb = sandbox("coinm")
    fills = Recorder()
    client = client_for(sb)
    client.subscribe_to_user_data(fills)
    client.start()
    state(client, "account loaded")
    order = client.submit_order("BTCUSD_PERP", "BUY", "MARKET", "40").result(10)
    eventually(lambda: sum(f.amount for f in fills.of_type(models.Fill)
                           if f.order_id == order.id) >= 40)
    mine = [f for f in fills.of_type(models.Fill) if f.order_id == order.id]
    assert sum(f.amount for f in mine) == 40 and all(f.amount == int(f.amount) for f in mine)
    assert len({f.id for f in mine}) == len(mine) and all(f.kind == "trade" for f in mine)
    eventually(lambda: [(p.symbol, p.amount) for p in client.positions()]
               == [("BTCUSD_PERP", 40.0)])
    assert sb.positions()["BTCUSD_PERP"][0] == 40


def test_deposit_gives_one_balance_update_then_the_new_balance():
    """sandbox.deposit: one BalanceUpdate (the delta), then the Wallet with the new balance."""
    sb = sandbox("spot")
    got = Recorder()
    client = client_for(sb)
    client.subscribe_to_balances(got)
    client.start()
    state(client, "account loaded")
    before = {w.currency: w.balance for w in client.balances()}["USDT"]
    sb.deposit("USDT", "250")
    got.wait_for(lambda e: isinstance(e, models.Wallet) and e.kind == "update"
                 and e.currency == "USDT")
    updates = got.of_type(models.BalanceUpdate)
    assert [(u.currency, u.delta) for u in updates] == [("USDT", 250.0)]
    assert {w.currency: w.balance for w in client.balances()}["USDT"] == before + 250


# ------------------------------------------------------ one Fill per trade, every variant

VARIANTS = {
    "spot WS-API": dict(market="spot"),
    "USDT-M /private": dict(market="usdm"),
    "USDT-M legacy": dict(market="usdm", legacy_user_stream=True),
    "COIN-M": dict(market="coinm"),
    "margin": dict(market="margin"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_one_fill_per_trade_on_every_user_data_variant(variant):
    """A market order that takes several levels gives exactly one Fill per trade."""
    opts = dict(VARIANTS[variant])
    market = opts.pop("market")
    sb = sandbox("spot" if market == "margin" else market)
    fills = Recorder()
    client = client_for(sb, market=market, **opts)
    client.subscribe_to_user_data(fills)
    client.start()
    if market == "margin":
        state(client, "connected")
        eventually(lambda: sb.listen_key(KEY) is not None)
        client.events.wait_for(lambda e: getattr(e, "connection", None) == "user"
                               and e.state == "connected")
    else:
        state(client, "account loaded")
    qty = 700 if market == "coinm" else 1.2  # takes three levels or more
    order = client.submit_order(symbol_of(sb), "BUY", "MARKET", qty).result(10)
    done = fills.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id
                          and e.status == "FILLED")
    mine = [f for f in fills.of_type(models.Fill) if f.order_id == order.id]
    assert len(mine) >= 2, "the order should take several levels"
    assert len({f.id for f in mine}) == len(mine), "a trade was delivered twice"
    assert sum(f.amount for f in mine) == pytest.approx(qty)
    assert abs(done.amount_orig) == pytest.approx(qty)
    if variant == "USDT-M legacy":
        # The legacy stream does carry TRADE_LITE: the rule left each one out.
        assert client._user_link.session.fills.lite_suppressed == len(mine)


def test_a_repeated_trade_is_counted_not_delivered():
    """A trade event that arrives again gives no second Fill and counts in duplicate_fills."""
    sb = sandbox("usdm")
    fills = Recorder()
    client = client_for(sb)
    client.subscribe_to_user_data(fills)
    client.start()
    state(client, "account loaded")
    order = client.submit_order("BTCUSDT", "BUY", "MARKET", "0.01").result(10)
    fill = fills.wait_for(lambda e: isinstance(e, models.Fill) and e.order_id == order.id)
    client._call(client._user_link.session.receive, fill.raw)  # the same frame again
    eventually(lambda: client.stats.duplicate_fills == 1)
    assert [f.id for f in fills.of_type(models.Fill) if f.order_id == order.id] == [fill.id]


# ---------------------------------------------------------------- requests in doubt

@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_order_lost_on_the_way_is_settled_as_not_applied(market):
    """An order written but lost before the exchange, its connection then dropped: the
    query finds no such order once it can no longer arrive, so RequestNotApplied."""
    sb = sandbox(market)
    client = client_for(sb, recv_window=1000)
    client.start()
    client.submit_order(symbol_of(sb), "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    sb.faults.lose_next_request("order.place")
    future = client.submit_order(symbol_of(sb), "BUY", "LIMIT", "0.01", resting_price(sb))
    eventually(lambda: sb.lost_requests())
    sb.faults.drop_connections()
    with pytest.raises(RequestNotApplied) as info:
        future.result(15)
    assert info.value.key == future.client_order_id and info.value.order is None
    assert future.client_order_id not in [o["clientOrderId"] for o in sb.open_orders()]
    assert client._in_doubt.settled["not applied"] == 1
    assert client.stats.requests_unknown == 0 and client.stats.requests_not_sent == 0


def test_cancel_in_doubt_that_took_effect_resolves_with_the_cancelled_order():
    """A cancel carried out while its answer was lost to a drop resolves with the
    CANCELED order the query reports."""
    sb = sandbox("spot")
    client = client_for(sb)
    client.start()
    order = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    sb.faults.stall()
    future = client.cancel_order("BTCUSDT", order_id=order.id)
    eventually(lambda: not sb.open_orders())
    sb.faults.drop_connections()
    sb.faults.resume()
    cancelled = future.result(15)
    assert cancelled.id == order.id and cancelled.status == "CANCELED"


def test_cancel_lost_on_the_way_fails_as_not_applied_with_the_open_order():
    """A cancel that never reached the exchange: the order is still open once the cancel
    can no longer arrive, so RequestNotApplied carrying the open order."""
    sb = sandbox("spot")
    client = client_for(sb, recv_window=1000)
    client.start()
    order = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    sb.faults.lose_next_request("order.cancel")
    future = client.cancel_order("BTCUSDT", order_id=order.id)
    eventually(lambda: sb.lost_requests())
    sb.faults.drop_connections()
    with pytest.raises(RequestNotApplied) as info:
        future.result(15)
    assert info.value.order.id == order.id and info.value.order.status == "NEW"
    assert [o["orderId"] for o in sb.open_orders()] == [order.id]


def test_in_doubt_query_that_cannot_be_asked_in_time_is_unknown():
    """If the exchange cannot be asked before the request's deadline, OrderStateUnknown."""
    sb = sandbox("spot")
    client = client_for(sb, request_timeout=1.5)
    client.start()
    client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    sb.faults.stall()
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb))
    eventually(lambda: [o for o in sb.orders_received(KEY)
                        if o.get("newClientOrderId") == future.client_order_id])
    sb.faults.drop_connections()  # stays stalled: the query is never answered
    with pytest.raises(OrderStateUnknown):
        future.result(10)


# --------------------------------------------------------------------------- Ed25519

@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_ed25519_key_logs_on_once_per_connection_and_trades_unsigned(market):
    """An Ed25519 PEM secret: session.logon on every api connection, then unsigned
    order.place and order.cancel; user data and the snapshot work with it."""
    private_pem, public_pem = pem_pair()
    sb = sandbox(market, accounts={ED_KEY: public_pem})
    orders = Recorder()
    client = client_for(sb, key=ED_KEY, secret=private_pem)
    client.subscribe_to_orders(orders)
    client.start()
    state(client, "account loaded")
    order = client.submit_order(symbol_of(sb), "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    state(client, "logged on")  # futures open the api connection with the first order
    orders.wait_for(lambda e: isinstance(e, models.Order) and e.id == order.id)
    assert client.cancel_order(symbol_of(sb), order_id=order.id).result(10).status == "CANCELED"
    sent = sb.orders_received(ED_KEY)
    assert sent and all("signature" not in p and "apiKey" not in p for p in sent)
    sb.faults.drop_connections()
    client.events.wait_count(lambda e: getattr(e, "state", None) == "logged on", 2, timeout=15)
    again = client.submit_order(symbol_of(sb), "BUY", "LIMIT", "0.01", resting_price(sb))
    assert again.result(10).status == "NEW"


def test_unanswered_logon_reconnects_and_logs_on_again():
    """A session.logon lost on the way is reported after subscription_timeout; the client
    reconnects, logs on, and the order that waited goes out once."""
    private_pem, public_pem = pem_pair()
    sb = sandbox("spot", accounts={ED_KEY: public_pem})
    sb.faults.lose_next_request("session.logon")
    client = client_for(sb, key=ED_KEY, secret=private_pem, subscription_timeout=0.5)
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb))
    client.start()
    assert future.result(10).status == "NEW"
    client.errors.wait_for(lambda e: isinstance(e, AuthenticationError)
                           and "not answered" in str(e))
    assert len(sb.lost_requests()) == 1 and len(sb.orders_received(ED_KEY)) == 1


def test_ed25519_rotation_logs_on_the_new_connection_without_refusing_orders():
    """Rotating an Ed25519 api connection: the new one logs on before taking orders, and
    orders placed meanwhile wait instead of failing."""
    import time
    private_pem, public_pem = pem_pair()
    sb = sandbox("spot", accounts={ED_KEY: public_pem})
    client = client_for(sb, key=ED_KEY, secret=private_pem, max_connection_age=0.6,
                        rotation_overlap=0.5)
    client.start()
    results = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        results.append(client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01",
                                           resting_price(sb)))
        time.sleep(0.1)
    assert [f.result(10).status for f in results] == ["NEW"] * len(results)
    states = [e.state for e in client.events.items if isinstance(e, models.ConnectionState)]
    assert states.count("rotated") >= 2 and states.count("logged on") >= 3
    assert "disconnected" not in states


def test_refused_logon_is_an_authentication_error_and_orders_are_not_sent():
    """A logon the exchange refuses reaches on_error as AuthenticationError; orders fail
    as not sent."""
    private_pem, _ = pem_pair()
    _, other_public = pem_pair()
    sb = sandbox("spot", accounts={ED_KEY: other_public})
    client = client_for(sb, key=ED_KEY, secret=private_pem)
    future = client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb))
    client.start()
    error = client.errors.wait_for(lambda e: isinstance(e, AuthenticationError))
    assert "logon" in str(error) and private_pem not in str(error)
    with pytest.raises(RequestNotSent):
        future.result(10)
    with pytest.raises(RequestNotSent):
        client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    assert sb.orders_received(ED_KEY) == []


# ------------------------------------------------------------ an independent client

def test_orders_of_binance_connector_reach_the_snapshot_and_the_live_stream():
    """Orders the official binance-connector places on the same account: the one placed
    before the start is in the snapshot, the one after arrives live, and our cancel of it
    reaches the connector's user-data subscription."""
    pytest.importorskip("binance.websocket.spot.websocket_api")
    from binance.lib.utils import websocket_api_signature
    from binance.websocket.spot.websocket_api import SpotWebsocketAPIClient
    from test_sandbox_binance_interop import Inbox

    sb = sandbox("spot")
    inbox = Inbox()
    connector = SpotWebsocketAPIClient(stream_url=sb.api_url, api_key=KEY, api_secret=SECRET,
                                       on_message=inbox)
    try:
        connector.send({"id": "sub", "method": "userDataStream.subscribe.signature",
                        "params": websocket_api_signature(KEY, SECRET, {})})
        inbox.wait(lambda m: m.get("id") == "sub")
        price = float(resting_price(sb))
        connector.new_order(id="p1", symbol="BTCUSDT", side="BUY", type="LIMIT",
                            timeInForce="GTC", quantity=0.01, price=price,
                            newClientOrderId="connector-before")
        before = inbox.wait(lambda m: m.get("id") == "p1")["result"]
        got = Recorder()
        client = client_for(sb)
        client.subscribe_to_orders(got)
        client.start()
        state(client, "account loaded")
        snap = got.wait_for(lambda e: e.kind == "snapshot")
        assert (snap.id, snap.cid) == (before["orderId"], "connector-before")
        connector.new_order(id="p2", symbol="BTCUSDT", side="BUY", type="LIMIT",
                            timeInForce="GTC", quantity=0.01, price=price,
                            newClientOrderId="connector-after")
        live = got.wait_for(lambda e: e.kind == "update" and e.cid == "connector-after")
        assert client.cancel_order("BTCUSDT", client_order_id="connector-after").result(10) \
            .status == "CANCELED"
        inbox.wait(lambda m: m.get("event", {}).get("x") == "CANCELED"
                   and m["event"].get("i") == live.id)
        eventually(lambda: [o.cid for o in client.open_orders()] == ["connector-before"])
    finally:
        connector.stop()


def test_user_data_subscribed_after_an_ed25519_logon_is_live():
    """Subscribing to user data on a running, logged-on Ed25519 client subscribes at once
    (unsigned) and loads the snapshot."""
    private_pem, public_pem = pem_pair()
    sb = sandbox("spot", accounts={ED_KEY: public_pem})
    client = client_for(sb, key=ED_KEY, secret=private_pem)
    client.start()
    client.submit_order("BTCUSDT", "BUY", "LIMIT", "0.01", resting_price(sb)).result(10)
    got = Recorder()
    client.subscribe_to_orders(got)
    state(client, "account loaded")
    assert [e.kind for e in got.items] == ["snapshot"]
    assert client.errors.items == []

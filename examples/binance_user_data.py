"""Binance user data: follow an order's life and the balances on the account's stream.

Subscribes to user data (Spot: over the WebSocket API, since Binance retired the
Spot listenKey endpoints on 2026-02-20; futures: on a listenKey stream the client
keeps alive). The account snapshot (balances, positions, open orders) arrives
first, marked "snapshot", then the live events. It places a LIMIT buy far below
the market, waits for it to show up as NEW on the stream, cancels it and waits
for CANCELED, then prints the account state the client kept (``balances()``,
``open_orders()``).

Usage::

    python examples/binance_user_data.py                    # in-process sandbox, Spot
    python examples/binance_user_data.py --market usdm      # in-process sandbox, USDT-M
    python examples/binance_user_data.py --market coinm     # COIN-M: sizes in contracts
    python examples/binance_user_data.py --market spot \\
        --rest-url https://testnet.binance.vision \\
        --stream-url wss://stream.testnet.binance.vision \\
        --api-url wss://ws-api.testnet.binance.vision/ws-api/v3 --key K --secret S

Against a real venue this places a real order at the deepest bid of the book
(100 levels below the best, if there are that many) and cancels it; use a
testnet. Exits 0 when the order was seen NEW and then CANCELED on the stream.
"""

import argparse
import os
import sys
import threading
import time

from exchange_wss import BinanceWssClient, models


def main() -> int:
    parser = argparse.ArgumentParser(description="Follow an order on Binance user data.")
    parser.add_argument("--market", choices=("spot", "usdm", "coinm"), default="spot")
    parser.add_argument("--rest-url", help="REST base (default: start an in-process sandbox)")
    parser.add_argument("--stream-url", help="market/user stream host, e.g. wss://host:9443")
    parser.add_argument("--api-url", help="the whole WebSocket API URL (.../ws-api/v3)")
    parser.add_argument("--duration", type=float, default=15.0,
                        help="seconds allowed for the whole flow")
    parser.add_argument("--symbol", help="default BTCUSDT (COIN-M: BTCUSD_PERP)")
    parser.add_argument("--quantity", help="order size: base asset (COIN-M: contracts)")
    parser.add_argument("--key", default=os.environ.get("BINANCE_API_KEY"),
                        help="API key (default $BINANCE_API_KEY; the sandbox's own without URLs)")
    parser.add_argument("--secret", default=os.environ.get("BINANCE_API_SECRET"),
                        help="HMAC secret or PEM private key (default $BINANCE_API_SECRET)")
    args = parser.parse_args()
    coinm = args.market == "coinm"
    args.symbol = args.symbol or ("BTCUSD_PERP" if coinm else "BTCUSDT")
    args.quantity = args.quantity or ("1" if coinm else "0.01")

    urls = (args.rest_url, args.stream_url, args.api_url)
    sandbox = None
    key, secret = args.key, args.secret
    if not any(urls):
        from exchange_wss.sandbox import DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET, BinanceSandbox
        sandbox = BinanceSandbox(market=args.market, seed=1).start()
        urls = (sandbox.rest_url, sandbox.stream_url, sandbox.api_url)
        key, secret = DEFAULT_BINANCE_KEY, DEFAULT_BINANCE_SECRET
    elif not all(urls):
        parser.error("give --rest-url, --stream-url and --api-url together")
    elif not (key and secret):
        parser.error("URLs need --key and --secret (or $BINANCE_API_KEY and $BINANCE_API_SECRET)")
    rest_url, stream_url, api_url = urls

    cond = threading.Condition()
    statuses = {}        # order id -> statuses seen on the user stream, in order
    ready = []           # the user-data stream is up (orders placed now are seen)
    booked = []

    def on_user(event):
        # Orders, fills, balances (Wallet), deltas (BalanceUpdate), positions (futures).
        with cond:
            # Snapshot items (kind="snapshot") come first, then live updates.
            tag = " (snapshot)" if getattr(event, "kind", None) == "snapshot" else ""
            if isinstance(event, models.Order):
                statuses.setdefault(event.id, []).append(event.status)
                print(f"order {event.id}: {event.status}{tag}", flush=True)
            elif isinstance(event, models.Fill):
                print(f"fill: order {event.order_id} {event.amount:+g} @ {event.price:g}",
                      flush=True)
            elif isinstance(event, models.Wallet):
                print(f"balance {event.currency}: {event.balance:g}{tag}", flush=True)
            elif isinstance(event, models.BalanceUpdate):
                print(f"balance change {event.currency}: {event.delta:+g}", flush=True)
            elif isinstance(event, models.Position):
                print(f"position {event.symbol}: {event.amount:+g}{tag}", flush=True)
            cond.notify_all()

    stopping = []

    def on_event(event):
        # "account loaded": the snapshot is delivered and the stream is live.
        if isinstance(event, models.ConnectionState) and not stopping:
            print(f"{event.connection}: {event.state}"
                  f"{f' ({event.reason})' if event.reason else ''}", flush=True)
            if event.state == "account loaded":
                with cond:
                    ready.append(event)
                    cond.notify_all()

    def on_book(event):
        if isinstance(event, models.BookSnapshot):
            with cond:
                booked.append(event)
                cond.notify_all()

    client = BinanceWssClient(key, secret, market=args.market, rest_url=rest_url,
                              stream_url=stream_url, api_url=api_url, on_event=on_event,
                              on_error=lambda err: print(f"error: {err}", file=sys.stderr))
    client.subscribe_to_orderbook(args.symbol, on_book, limit=100)
    client.subscribe_to_user_data(on_user)
    client.start()
    deadline = time.monotonic() + args.duration

    def left():
        return max(0.1, deadline - time.monotonic())

    try:
        with cond:
            if not cond.wait_for(lambda: ready and booked, left()):
                print("user data or order book not ready in time", file=sys.stderr)
                return 1
        # A price from the exchange's own book is on its tick grid (PRICE_FILTER);
        # floats are sent as plain decimal text.
        price = client.order_book(args.symbol).bids[-1][0]
        client_id = f"exwss-example-{int(time.time() * 1000)}"
        print(f"submitting buy {args.quantity} {args.symbol} @ {price:g}, "
              f"client id {client_id}", flush=True)
        future = client.submit_order(args.symbol, "BUY", "LIMIT", args.quantity, price,
                                     time_in_force="GTC", client_order_id=client_id)
        # Sent once. On a drop before the answer the client asks the exchange: the
        # order it reports, RequestNotApplied (it was not placed), or, if it cannot
        # tell, OrderStateUnknown.
        order = future.result(timeout=left())
        print(f"accepted: order {order.id}", flush=True)
        with cond:
            if not cond.wait_for(lambda: "NEW" in statuses.get(order.id, ()), left()):
                print(f"order {order.id} never showed up on user data", file=sys.stderr)
                return 1
        client.cancel_order(args.symbol, order_id=order.id).result(timeout=left())
        with cond:
            if not cond.wait_for(lambda: "CANCELED" in statuses.get(order.id, ()), left()):
                print(f"no CANCELED update for order {order.id}", file=sys.stderr)
                return 1
        print(f"cancelled: order {order.id}", flush=True)
        held = [f"{w.currency} {w.balance:g}" for w in client.balances()]
        print(f"balances now: {', '.join(held)}; open orders: {len(client.open_orders())}",
              flush=True)
        return 0
    except Exception as exc:  # OrderRejected, RequestNotApplied, TimeoutError...: say what
        print(f"failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        stopping.append(True)  # our own stop() closing the connections is not news
        client.stop()
        if sandbox is not None:
            sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())

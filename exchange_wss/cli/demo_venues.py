"""The demo's trading calls on each exchange: what to subscribe for the account, the
prices of an order that rests and one that fills, how to place and cancel them and how
to tell they filled or were cancelled. The market side is :mod:`.venues`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, cast

from .venues import BinanceVenue, BitfinexVenue, FtxVenue, Venue

if TYPE_CHECKING:  # pragma: no cover
    from .demo import DemoState

__all__ = ["DemoFailure", "BitfinexDemo", "BinanceDemo", "FtxDemo", "DEMO_VENUES",
           "DEMO_AMOUNT", "DEMO_SYMBOL", "BINANCE_SYMBOL", "FTX_SYMBOL"]

#: The pair the Bitfinex demo trades and watches.
DEMO_SYMBOL = "tBTCUSD"
#: The pair the Binance demo trades and watches (Spot and USDT-M name it alike).
BINANCE_SYMBOL = "BTCUSDT"
#: The market the FTX demo trades and watches.
FTX_SYMBOL = "BTC-PERP"
#: Size of each demo order, in BTC.
DEMO_AMOUNT = 0.01


class DemoFailure(Exception):
    """The scripted demo flow did not complete; the message says which step and why."""


def _price(value: float) -> float:
    """Round to 5 significant digits, the precision Bitfinex accepts for prices."""
    return float(f"{value:.5g}")


class DemoVenue(Venue):
    """The trading side every demo venue adds to its market venue.

    Attributes:
        symbol: the pair the demo watches and trades.
        demo_channels: what it subscribes to.
        account_channel: the message counter (and health stream) of account events;
            None: public channels only (``--live``).
        account_connection: prefix of the connection carrying account events.
        wallets_title: the balances panel's title.
    """

    state: DemoState  # the demo gives its venue a DemoState
    symbol = ""
    demo_channels: Sequence[str] = ()
    account_channel: str | None = None
    account_connection = ""
    wallets_title = "wallets"

    @property
    def trades(self) -> bool:
        """Whether the flow places orders (False: public channels only)."""
        return self.account_channel is not None

    @property
    def summary_channels(self) -> tuple[str, ...]:
        """The message counters the summary lists, in order."""
        channel = self.account_channel  # None: not trading
        return tuple(self.demo_channels) + ((channel,) if channel is not None else ())

    def start_demo(self) -> None:
        """Start the sandbox and the client: market channels, and the account if trading."""
        name = self.account_channel
        if name is None:  # not trading
            self.start(self.demo_channels, [self.symbol])
            return
        # An account is quiet between orders: its silence is not staleness.
        self.health.add_stream(name, name, None, self.account_connection, can_go_stale=False)
        health, state = self.health, self.state

        def account(event: Any) -> None:
            state.report_health([health.message(name)])
            self.on_account(event)

        self.start(self.demo_channels, [self.symbol], account=account)

    def on_account(self, event: Any) -> None:
        """An account event (reactor thread)."""
        # Wired by start_demo only when trading, so the channel is set.
        self.state.on_account(event, cast(str, self.account_channel))

    def account_ready(self) -> bool:
        """Called under ``state.cond``: may orders be placed (their events will arrive)?"""
        return True

    def order_prices(self, best_bid: float, best_ask: float) -> tuple[Any, Any]:
        """``(resting, marketable)`` buy prices the exchange accepts."""
        raise NotImplementedError

    def submit(self, price: Any) -> tuple[Future, str]:
        """Send a buy of :data:`DEMO_AMOUNT` at ``price``: ``(Future of Order, reference)``."""
        raise NotImplementedError

    def executed(self, order_id: Any) -> bool:
        """Called under ``state.cond``: has the order (partly) filled?"""
        raise NotImplementedError

    def cancel(self, order: Any) -> None:
        """Ask for ``order`` to be cancelled; the outcome comes through :meth:`cancel_outcome`."""
        raise NotImplementedError

    def cancel_outcome(self, order_id: Any) -> str | None:
        """Called under ``state.cond``: ``"CANCELED"``, the exchange's refusal, or None."""
        raise NotImplementedError

    def _client_id(self) -> str:
        self._orders_sent = getattr(self, "_orders_sent", 0) + 1
        return f"exwss-demo-{int(time.time() * 1000)}-{self._orders_sent}"


class BitfinexDemo(DemoVenue, BitfinexVenue):
    """Bitfinex v2: an in-process sandbox, or the real exchange's public channels (``--live``)."""

    demo_channels = ("ticker", "trades", "book", "candles")
    account_connection = "auth"

    def __init__(self, *args: Any, live: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, sandbox=not live, **kwargs)
        self.symbol = DEMO_SYMBOL  # read now, not at import: tests patch it
        self.account_channel = None if live else "auth"

    @property
    def where(self) -> str:
        """How the event log names the server: the sandbox or the real Bitfinex."""
        return "the real Bitfinex" if not self.use_sandbox else "the in-process sandbox"

    def subscribe_account(self, callback: Callable[[Any], None]) -> None:
        """Authenticate the client, its account events going to ``callback``."""
        self.client.authenticate(callback)

    def order_prices(self, best_bid: float, best_ask: float) -> tuple[Any, Any]:
        """A buy price well below the best bid (it rests) and one above the best ask (it fills)."""
        # Well below the best bid (it rests), above the best ask (it fills at once).
        return _price(best_bid * 0.95), _price(best_ask * 1.01)

    def submit(self, price: Any) -> tuple[Future, str]:
        """Submit an EXCHANGE LIMIT buy of :data:`DEMO_AMOUNT`; returns the future and its name."""
        future = self.client.submit_order("EXCHANGE LIMIT", self.symbol, DEMO_AMOUNT,
                                          price=price)
        return future, f"cid {future.cid}"

    def executed(self, order_id: Any) -> bool:
        """Called under ``state.cond``: a fill arrived, or the order's status says EXECUTED."""
        # A fill event or an EXECUTED status, whichever comes first.
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and "EXECUTED" in (order.status or "")

    def cancel(self, order: Any) -> None:
        """Ask Bitfinex to cancel ``order`` (by its id)."""
        self.client.cancel_order(order.id)

    def cancel_outcome(self, order_id: Any) -> str | None:
        """Called under ``state.cond``: ``"CANCELED"``, the text of an oc-req refusal, or None."""
        order = self.state.orders.get(order_id)
        if order is not None and "CANCELED" in (order.status or ""):
            return "CANCELED"
        # Bitfinex refuses a cancel with an oc-req error notification.
        for note in self.state.notifications:
            data = note.data
            if (note.type == "oc-req" and not note.ok
                    and getattr(data, "id", None) in (order_id, None)):
                return note.text or note.status or "refused"
        return None


class BinanceDemo(DemoVenue, BinanceVenue):
    """Binance Spot or USDT-M on an in-process sandbox, with user data and orders over
    the WebSocket API."""

    account_channel = "user"
    demo_channels = ("ticker", "trades", "book_ticker", "book")
    wallets_title = "balances"
    book_label = "book (REST snapshot + diffs)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.symbol = BINANCE_SYMBOL
        self.market = self.market or "spot"
        # Spot's user data comes over the WebSocket API, futures' on a listenKey stream.
        self.account_connection = "api" if self.market == "spot" else "user"
        self._cancel_errors: dict[Any, str] = {}
        self._statuses: dict[Any, str | None] = {}

    @property
    def where(self) -> str:
        """How the event log names the server: the Binance sandbox and its market."""
        return f"the in-process Binance sandbox ({self.market})"

    def subscribe_account(self, callback: Callable[[Any], None]) -> None:
        """Subscribe the client to the account's user data, its events going to ``callback``."""
        self.client.subscribe_to_user_data(callback)

    def on_account(self, event: Any) -> None:
        """An account event; an order whose status changed is noted in the event log."""
        from ..models import Order
        super().on_account(event)
        # Binance sends no notifications: say what happened to our orders from their updates.
        if (isinstance(event, Order) and event.id is not None
                and self._statuses.get(event.id) != event.status):
            self._statuses[event.id] = event.status
            self.state.note(f"order {event.id}: {event.status}")

    def account_ready(self) -> bool:
        """Called under ``state.cond``: is the user-data stream up (Spot: subscribed on the API)?"""
        # Orders placed before the user-data stream is up would lose their first events.
        seen = self.state.conn_states
        if self.market == "spot":
            return ("api", "user data subscribed") in seen
        return ("user", "connected") in seen or ("user", "reconnected") in seen

    def order_prices(self, best_bid: float, best_ask: float) -> tuple[Any, Any]:
        """The deepest of 100 bids (it rests) and the 20th ask (it fills), from the sandbox."""
        # Prices must sit on the tick grid (PRICE_FILTER): take them from the sandbox's
        # own book, as text, rather than computing them. The deepest bid of 100 levels
        # rests; the 20th ask is above the best ask, so that buy fills at once.
        bids = self.sandbox.book(self.symbol, limit=100)["bids"]
        asks = self.sandbox.book(self.symbol, limit=20)["asks"]
        if not bids or not asks:
            raise DemoFailure(f"the sandbox's {self.symbol} book has an empty side")
        return bids[-1][0], asks[-1][0]

    def submit(self, price: Any) -> tuple[Future, str]:
        """Submit a GTC LIMIT buy with our own client order id; the future and its name."""
        # Our own client order id, so the order can be named before Binance answers.
        client_id = self._client_id()
        future = self.client.submit_order(self.symbol, "BUY", "LIMIT", DEMO_AMOUNT, price,
                                          time_in_force="GTC", client_order_id=client_id)
        return future, f"client id {client_id}"

    def executed(self, order_id: Any) -> bool:
        """Called under ``state.cond``: a fill arrived, or the order is (PARTIALLY_)FILLED."""
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and order.status in ("FILLED", "PARTIALLY_FILLED")

    def cancel(self, order: Any) -> None:
        """Ask Binance to cancel ``order``; its answer settles the outcome if the update is late."""
        future = self.client.cancel_order(self.symbol, order_id=order.id)
        state = self.state

        def done(f: Future) -> None:
            # The answer settles the outcome even if the user-data update is slow.
            error = f.exception()
            with state.cond:
                if error is not None:
                    self._cancel_errors[order.id] = f"{type(error).__name__}: {error}"
                else:
                    result = f.result()
                    if result is not None and result.status == "CANCELED":
                        state.orders[order.id] = result
                state.cond.notify_all()

        future.add_done_callback(done)

    def cancel_outcome(self, order_id: Any) -> str | None:
        """Called under ``state.cond``: ``"CANCELED"``, the error of the cancel, or None."""
        order = self.state.orders.get(order_id)
        if order is not None and order.status == "CANCELED":
            return "CANCELED"
        return self._cancel_errors.get(order_id)


class FtxDemo(DemoVenue, FtxVenue):
    """The FTX protocol on an in-process sandbox, logged in to fills and orders. FTX took
    orders over REST, not the socket, so the demo places them through the sandbox's
    stand-in for it."""

    account_channel = "account"
    account_connection = "ftx"
    demo_channels = ("ticker", "trades", "book")
    book_label = "orderbook (checksummed)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.symbol = FTX_SYMBOL
        self._subscribed: set = set()
        self._pending: dict[str, Future] = {}

    @property
    def where(self) -> str:
        """How the event log names the server: the FTX-protocol sandbox."""
        return "the in-process FTX-protocol sandbox"

    def subscribe_account(self, callback: Callable[[Any], None]) -> None:
        """Subscribe the client to fills and orders, their events going to ``callback``."""
        self.client.subscribe_to_fills(callback)
        self.client.subscribe_to_orders(callback)

    def _on_event(self, event: Any) -> None:
        if type(event).__name__ == "SubscriptionChanged" and event.state == "active":
            with self.state.cond:
                self._subscribed.add(event.label.partition(":")[0])
                self.state.cond.notify_all()
        super()._on_event(event)

    def on_account(self, event: Any) -> None:
        """An account event; an order settles the future of the submit that named its client id."""
        from ..models import Order
        super().on_account(event)
        if isinstance(event, Order):
            # models.Order.cid says int | None, but FTX's client ids are text.
            future = self._pending.pop(event.cid, None)  # type: ignore[call-overload]
            if future is not None and not future.done():
                future.set_result(event)

    def account_ready(self) -> bool:
        """Called under ``state.cond``: are both the fills and the orders channels active?"""
        return {"fills", "orders"} <= self._subscribed

    def order_prices(self, best_bid: float, best_ask: float) -> tuple[Any, Any]:
        """The deepest of 20 bids (it rests) and the 5th ask (it fills), from the sandbox's book."""
        book = self.sandbox.book(self.symbol, 20)
        if not book["bids"] or not book["asks"]:
            raise DemoFailure(f"the sandbox's {self.symbol} book has an empty side")
        return book["bids"][-1][0], book["asks"][4][0]

    def submit(self, price: Any) -> tuple[Future, str]:
        """Place a buy on the sandbox (by REST, as FTX took orders); its first update settles
        the future."""
        from ..sandbox import DEFAULT_FTX_KEY
        client_id = self._client_id()
        future: Future = Future()
        self._pending[client_id] = future  # settled by the order's first update
        try:
            self.sandbox.place_order(DEFAULT_FTX_KEY, self.symbol, "buy", float(price),
                                     float(DEMO_AMOUNT), client_id=client_id)
        except ValueError as exc:  # the sandbox refused it, as FTX's REST would
            self._pending.pop(client_id, None)
            future.set_exception(exc)
        return future, f"client id {client_id}"

    def executed(self, order_id: Any) -> bool:
        """Called under ``state.cond``: a fill arrived, or the order has a filled size."""
        if self.state.fills.get(order_id):
            return True
        order = self.state.orders.get(order_id)
        return order is not None and bool(order.filled)

    def cancel(self, order: Any) -> None:
        """Cancel ``order`` on the sandbox; a refusal (not open) is noted in the event log."""
        from ..sandbox import DEFAULT_FTX_KEY
        if not self.sandbox.cancel_order(DEFAULT_FTX_KEY, order.id):
            self.state.note(f"order {order.id}: cancel refused (not open)")

    def cancel_outcome(self, order_id: Any) -> str | None:
        """Called under ``state.cond``: ``"CANCELED"`` if it closed unfilled, else its fill."""
        # FTX has one end state, "closed"; closed with nothing filled is a cancel.
        order = self.state.orders.get(order_id)
        if order is not None and order.status == "closed":
            return "CANCELED" if not order.filled else f"closed after filling {order.filled}"
        return None


#: The demo's venues, by ``--exchange`` name.
DEMO_VENUES = {"bitfinex": BitfinexDemo, "binance": BinanceDemo, "ftx": FtxDemo}

"""A drop-in for ``bitfinex-v2``'s ``bitfinex.websockets.WssClient`` on exchange_wss's engine.

Code written for bitfinex-v2's documentation runs unchanged with
``from exchange_wss.compat.bitfinex_v2 import WssClient``: the same methods and
parameters, callbacks given the decoded frames as Bitfinex sends them
(``[chanId, [...]]``, ``[0, "os", [...]]``), symbols with or without ``t``,
every timeframe the seed lists (``7D`` is Bitfinex's ``1W`` now), ids as int
or as decimal text, the seed's client order ids (ten-thousandths of a second)
and its nonce: ``str(time.time() * nonce_multiplier)``, seconds. ``start()``
returns at once and keeps the process alive until :meth:`WssClient.stop` or
Ctrl-C, as the seed's non-daemon thread did; ``stop()`` lets it end.

Underneath it is :class:`exchange_wss.WssClient` (``raw=True``): reconnects,
re-authenticates with a fresh nonce, resubscribes, checksums the books, and
queues requests made before the connection is up instead of failing on them.

What differs, on purpose: the ``info``/``subscribed``/``auth`` event dicts and
heartbeats go to ``on_event``, not to the channel's callback; ``stop()`` does
not stop a reactor (the process ends when ``start()``'s keep-alive does).

Endpoints: ``url=`` or ``$EXCHANGE_WSS_BITFINEX_URL`` (and
``$EXCHANGE_WSS_BITFINEX_PUBLIC_URL``), else :attr:`WssClient.STREAM_URL`.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..bitfinex.client import WssClient as _Client
from ..bitfinex.utils import MAX_CID, MAX_NONCE
from ..errors import LocalProtocolError

if TYPE_CHECKING:
    from .._subscriptions import Subscription

__all__ = ["WssClient", "Operation", "TIMEFRAMES", "create_cid", "cid_to_date"]

#: The timeframes bitfinex-v2 accepts, and what Bitfinex calls them today.
TIMEFRAMES = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1h", "3h": "3h",
              "6h": "6h", "12h": "12h", "1D": "1D", "7D": "1W", "14D": "14D", "1M": "1M"}

_cid_lock = threading.Lock()
_last_cid = 0
_nonce_lock = threading.Lock()
_last_nonce: dict[str | None, Decimal] = {}  # by API key (set: _nonce is for auth)


def create_cid() -> int:
    """A client order id as bitfinex-v2 makes them: ten-thousandths of a second since
    the epoch, here also strictly increasing within the process."""
    global _last_cid
    with _cid_lock:
        cid = int(time.time() * 10000)
        if cid <= _last_cid:
            cid = _last_cid + 1
        if cid > MAX_CID:
            raise LocalProtocolError(f"cid {cid} does not fit int45")
        _last_cid = cid
        return cid


def cid_to_date(cid: Any) -> str:
    """The UTC date (``YYYY-MM-DD``) of a cid made by :func:`create_cid` (bitfinex-v2's scale)."""
    return datetime.fromtimestamp(int(cid) / 10000.0, tz=UTC).strftime("%Y-%m-%d")


def _check_multiplier(multiplier: Any) -> Decimal:
    if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, Decimal)) or \
            not multiplier > 0:
        raise LocalProtocolError(f"nonce_multiplier must be a positive number, got "
                                 f"{multiplier!r}")
    scale = Decimal(repr(multiplier)) if isinstance(multiplier, float) else Decimal(multiplier)
    if Decimal(repr(time.time())) * scale > MAX_NONCE:
        raise LocalProtocolError(
            f"nonce_multiplier {multiplier!r} makes nonces above Bitfinex's cap {MAX_NONCE} "
            f"(the nonce is seconds x multiplier): authentication would always fail; the "
            f"largest usable multiplier now is {MAX_NONCE / time.time():.0f}")
    return scale


class WssClient:
    """bitfinex-v2's WebSocket client, on exchange_wss.

    Args:
        key: API key.
        secret: API secret.
        nonce_multiplier: scales the nonce as bitfinex-v2 does (seconds x
            multiplier); raise it for a key that saw larger nonces elsewhere.
            A value whose nonces exceed Bitfinex's cap is refused here.
        **options: keywords of :class:`exchange_wss.WssClient` (``url``,
            ``public_url``, ``on_event``, ``on_error``, ``ping_interval``...).
    """

    #: The endpoint when neither ``url=`` nor ``$EXCHANGE_WSS_BITFINEX_URL`` names one.
    STREAM_URL = "wss://api.bitfinex.com/ws/2"

    def __init__(self, key: str | None = None, secret: str | None = None,
                 nonce_multiplier: float = 1.0, **options: Any) -> None:
        self.key = key
        self.secret = secret
        self._scale = _check_multiplier(nonce_multiplier)
        self.nonce_multiplier = nonce_multiplier
        url = options.pop("url", None) or os.environ.get("EXCHANGE_WSS_BITFINEX_URL") \
            or self.STREAM_URL
        public = options.pop("public_url", None) or \
            os.environ.get("EXCHANGE_WSS_BITFINEX_PUBLIC_URL") or url
        self.client = _Client(key, secret, url=url, public_url=public, raw=True,
                              nonce_factory=self._nonce, calc_on_auth=True, **options)
        self._stopped = threading.Event()
        self._keeper: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<compat.bitfinex_v2.WssClient {self.client!r}>"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Connect, and keep the process alive until :meth:`stop` or Ctrl-C."""
        self.client.start()
        if self._keeper is None:
            # Not a daemon, like bitfinex-v2's reactor thread: a script whose
            # last line is start() keeps streaming.
            self._keeper = threading.Thread(target=self._stopped.wait,
                                            name="bitfinex-v2-compat", daemon=False)
            self._keeper.start()
            if threading.current_thread() is threading.main_thread():
                self._handle_ctrl_c()

    def stop(self) -> None:
        """Close every connection and let the process end."""
        try:
            self.client.stop()
        finally:
            self._stopped.set()

    def _handle_ctrl_c(self) -> None:
        previous = signal.getsignal(signal.SIGINT)

        def on_sigint(signum: int, frame: Any) -> None:
            # Stop off the signal handler (stop() waits for the sockets to close).
            threading.Thread(target=self.stop, name="bitfinex-v2-stop", daemon=True).start()
            # While the script still runs, Ctrl-C interrupts it as usual; once it
            # has ended (only start()'s keep-alive is left) it just stops.
            if threading.main_thread().is_alive() and callable(previous):
                previous(signum, frame)

        signal.signal(signal.SIGINT, on_sigint)

    def _nonce(self) -> str:
        # bitfinex-v2: str(float(time.time()) * nonce_multiplier), seconds; made
        # strictly increasing per key here so a quick reconnect is not "nonce: small".
        value = (Decimal(repr(time.time())) * self._scale).quantize(Decimal("0.000001"))
        with _nonce_lock:
            last = _last_nonce.get(self.key)
            if last is not None and value <= last:
                value = last + Decimal("0.000001")
            if value > MAX_NONCE:
                raise LocalProtocolError(f"nonce {value} exceeds Bitfinex's cap {MAX_NONCE}")
            _last_nonce[self.key] = value
        return format(value, "f")

    # -- account channel --------------------------------------------------------------------
    def authenticate(self, callback: Callable[[Any], Any] | None = None,
                     filters: list[str] | None = None) -> None:
        """Open the authenticated channel; account frames (``[0, "os", [...]]``...) go
        to ``callback``. Order operations need it, and wait for it."""
        self.client.authenticate(callback, filters)

    # -- public channels ---------------------------------------------------------------------
    # Each returns the subscription handle; str() of it is the label bitfinex-v2 returned.
    def subscribe_to_ticker(self, symbol: str, callback: Callable[[Any], Any]) -> Subscription:
        """Ticker frames of ``symbol`` (``"BTCUSD"`` or ``"tBTCUSD"``)."""
        return self.client.subscribe_to_ticker(symbol, callback)

    def subscribe_to_trades(self, symbol: str, callback: Callable[[Any], Any]) -> Subscription:
        """Trade frames (snapshot, ``te``, ``tu``) of ``symbol``."""
        return self.client.subscribe_to_trades(symbol, callback)

    def subscribe_to_orderbook(self, symbol: str, precision: str,
                               callback: Callable[[Any], Any]) -> Subscription:
        """Book frames of ``symbol`` at ``precision`` (``R0``, ``P0``..``P4``)."""
        return self.client.subscribe_to_orderbook(symbol, precision, callback)

    def subscribe_to_candles(self, symbol: str, timeframe: str | None,
                             callback: Callable[[Any], Any]) -> Subscription:
        """Candle frames of ``symbol``; ``timeframe`` one of :data:`TIMEFRAMES` (``'1m'``
        when empty).

        Raises:
            ValueError: an unknown timeframe (as bitfinex-v2 raises it).
        """
        if timeframe:
            if timeframe not in TIMEFRAMES:
                raise ValueError(f"timeframe must be any of {list(TIMEFRAMES)}")
        else:
            timeframe = "1m"
        return self.client.subscribe_to_candles(symbol, TIMEFRAMES[timeframe], callback)

    def ping(self, channel: str = "auth") -> int:
        """Application ping on the ``auth`` connection or a public one; returns its cid."""
        return self.client.ping("auth" if channel == "auth" else "public-0")

    # -- orders ---------------------------------------------------------------------------------
    def new_order_op(self, order_type: str, symbol: str, amount: Any, price: Any,
                     price_trailing: Any = None, price_aux_limit: Any = None,
                     price_oco_stop: Any = None, hidden: Any = 0, flags: Any = None,
                     tif: Any = None, set_cid: bool = True) -> Operation:
        """A new-order operation ``["on", {...}]`` for :meth:`multi_order` (nothing sent).

        As the docs' example reads it, ``op["cid"]`` is the order's cid too.
        """
        payload = _Client.new_order_op(order_type, symbol, amount, price,
                                       price_trailing=price_trailing or None,
                                       price_aux_limit=price_aux_limit or None,
                                       price_oco_stop=price_oco_stop or None,
                                       hidden=bool(hidden), flags=sum(flags or []),
                                       tif=tif or None, cid=create_cid())
        return Operation(("on", payload))

    def new_order(self, order_type: str, symbol: str, amount: Any, price: Any,
                  price_trailing: Any = None, price_aux_limit: Any = None,
                  price_oco_stop: Any = None, hidden: Any = 0, flags: Any = None,
                  tif: Any = None, set_cid: bool = True) -> int | None:
        """Place an order (sent once authenticated); returns its cid (None without ``set_cid``)."""
        cid = self.client.new_order(order_type, symbol, amount, price,
                                    price_trailing=price_trailing or None,
                                    price_aux_limit=price_aux_limit or None,
                                    price_oco_stop=price_oco_stop or None, hidden=bool(hidden),
                                    flags=sum(flags or []), tif=tif or None, cid=create_cid())
        return cid if set_cid else None

    def multi_order(self, operations: list[Any]) -> list[int | None]:
        """Send several operations (``ox_multi``): ``["on", {...}]`` pairs from
        :meth:`new_order_op`, cancel dicts ``{"id": ...}`` or ``{"cid", "cid_date"}``.

        Returns:
            The cid of each operation (None where it has none), in order.
        """
        return self.client.multi_order([_operation(op) for op in operations])

    def cancel_order(self, order_id: Any = None, order_cid: Any = None,
                     order_date: Any = None) -> None:
        """Cancel by exchange id, or by ``order_cid`` and ``order_date`` (as the docs' example)."""
        if order_cid is not None:
            self.cancel_order_cid(order_cid, order_date)
            return
        if order_id is None:
            raise LocalProtocolError("cancel_order needs order_id, or order_cid and order_date")
        self.client.cancel_order(_int(order_id))

    def cancel_order_cid(self, order_cid: Any, order_date: Any = None) -> None:
        """Cancel by client id and its UTC date (default: the date of a bitfinex-v2 cid)."""
        cid = _int(order_cid)
        self.client.cancel_order_cid(cid, order_date or cid_to_date(cid))

    def update_order(self, **order_settings: Any) -> None:
        """Update an order: ``id`` (int or text) and price, amount, delta, flags..."""
        if "id" in order_settings:
            order_settings["id"] = _int(order_settings["id"])
        self.client.update_order(**order_settings)

    def calc(self, *calculations: Any) -> None:
        """Ask for calculations; answers come on the authenticated callback.
        Lists of several names are sent one request per name."""
        self.client.calc(*calculations)


class Operation(list):
    """An order operation ``[op, payload]``; ``operation["cid"]`` reads the payload (the
    docs' ``new_order_op`` example does that, on a list)."""

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str):
            return list.__getitem__(self, 1)[index]
        return list.__getitem__(self, index)

    def get(self, key: str, default: Any = None) -> Any:
        """``payload.get(key, default)``."""
        return list.__getitem__(self, 1).get(key, default)


def _int(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value.strip())
    return value


def _operation(op: Any) -> Any:
    if isinstance(op, (list, tuple)) and len(op) == 2 and isinstance(op[1], dict):
        payload = dict(op[1])
        for name in ("id", "cid"):
            if name in payload:
                payload[name] = _int(payload[name])
        return [op[0], payload]
    if isinstance(op, dict):
        payload = dict(op)
        for name in ("id", "cid"):
            if name in payload:
                payload[name] = _int(payload[name])
        if "cid" in payload and "cid_date" not in payload and "id" not in payload:
            payload["cid_date"] = cid_to_date(payload["cid"])
        return payload
    return op


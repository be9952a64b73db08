"""Binance streams and WebSocket API, sans-I/O: decoded JSON in, typed events out;
requests in, frames out.

Nothing here imports Twisted or autobahn. The connection layer decodes each
message (``orjson.loads``) and hands it to :meth:`BinanceSession.receive`; the
facade builds URLs, control messages and signed WebSocket-API requests with the
module functions, and feeds REST depth snapshots to :class:`DepthSync`.

Wire facts follow ``shared/protocol/binance.md`` (as of Aug 2026):

- Spot user data exists only on the WebSocket API
  (``userDataStream.subscribe.signature``); the listenKey endpoints were
  retired on 2026-02-20. Events arrive as ``{"subscriptionId","event"}``.
- USDT-M futures user data is on ``/private/ws?listenKey=..&events=..``
  (legacy URLs retired 2026-04-23); USDT-M market data is split into
  ``/public`` (book streams) and ``/market`` (everything else).
- COIN-M futures and margin still use ``/ws/<listenKey>``.

Numbers arrive as decimal strings and become floats in the models; every
model keeps the event it came from in ``.raw``.

The code lives in one module per job (:mod:`.endpoints`, :mod:`.streams`,
:mod:`.signing`, :mod:`.ws_api`, :mod:`.account`, :mod:`.events`,
:mod:`.market_data`, :mod:`.user_data`, :mod:`.depth`, :mod:`.session`); this
module gathers their public names, so ``from exchange_wss.binance import
protocol`` is all a user needs.
"""

from .account import (
                      AccountSnapshot,
                      account_status_request,
                      futures_account_request,
                      futures_account_snapshot,
                      futures_open_orders_request,
                      futures_order_request,
                      futures_position_risk_request,
                      open_orders_status_request,
                      orders_from_results,
                      positions_from_position_risk,
                      spot_account_snapshot,
                      wallets_from_account_status,
                      wallets_from_futures_account,
)
from .depth import DepthSync
from .endpoints import (
                      CONTROL_RATE,
                      DEFAULT_DEPTH_LIMIT,
                      DEFAULT_FUTURES_EVENTS,
                      FUTURES_MARKETS,
                      LISTEN_KEY_KEEPALIVE,
                      MARKETS,
                      MAX_STREAMS,
                      Endpoints,
                      default_endpoints,
                      depth_snapshot_request,
                      depth_snapshot_url,
                      listen_key_path,
                      market_stream_url,
                      user_stream_url,
)
from .events import (
                      BookOutOfSync,
                      DuplicateFill,
                      ListenKeyExpired,
                      MalformedFrame,
                      Response,
                      ServerShutdown,
                      SnapshotNeeded,
                      StreamTerminated,
                      UnknownStream,
)
from .session import BinanceSession
from .signing import (
                      MAX_RECV_WINDOW,
                      auth_params,
                      key_type,
                      logged_on_params,
                      rest_signed_query,
                      sign,
                      sign_ed25519,
                      sign_hmac,
                      sign_rsa,
                      signature_payload,
                      signed_params,
)
from .streams import (
                      ALL_MARKET_STREAMS,
                      CONTRACT_TYPES,
                      DEPTH_LEVELS,
                      DEPTH_SPEEDS,
                      FUTURES_KLINE_INTERVALS,
                      KLINE_INTERVALS,
                      MARK_PRICE_SPEEDS,
                      all_market_stream_name,
                      list_subscriptions_request,
                      stream_name,
                      stream_route,
                      subscribe_request,
                      unsubscribe_request,
)
from .user_data import FillDedup
from .ws_api import (
                      UNKNOWN_ORDER_CODES,
                      is_unknown_order,
                      order_cancel_request,
                      order_from_result,
                      order_place_request,
                      order_status_request,
                      session_logon_request,
                      session_logout_request,
                      session_status_request,
                      user_data_subscribe_request,
                      user_data_unsubscribe_request,
                      ws_api_request,
)

__all__ = [
    # constants
    "MARKETS", "FUTURES_MARKETS", "MAX_STREAMS", "CONTROL_RATE", "LISTEN_KEY_KEEPALIVE",
    "MAX_RECV_WINDOW", "DEFAULT_FUTURES_EVENTS", "KLINE_INTERVALS", "FUTURES_KLINE_INTERVALS",
    "DEPTH_LEVELS", "DEPTH_SPEEDS", "DEFAULT_DEPTH_LIMIT", "CONTRACT_TYPES", "MARK_PRICE_SPEEDS",
    "ALL_MARKET_STREAMS", "UNKNOWN_ORDER_CODES",
    # endpoints and URLs
    "Endpoints", "default_endpoints", "listen_key_path", "user_stream_url", "market_stream_url",
    "stream_route", "depth_snapshot_request", "depth_snapshot_url",
    # streams and control
    "stream_name", "all_market_stream_name", "subscribe_request", "unsubscribe_request",
    "list_subscriptions_request",
    # signing
    "signature_payload", "sign_hmac", "sign_ed25519", "sign_rsa", "sign", "key_type",
    "signed_params", "logged_on_params", "auth_params", "rest_signed_query",
    # WebSocket API
    "ws_api_request", "session_logon_request", "session_status_request",
    "session_logout_request", "user_data_subscribe_request", "user_data_unsubscribe_request",
    "order_place_request", "order_cancel_request", "order_status_request",
    "order_from_result", "is_unknown_order",
    # account state (Spot WebSocket API, futures REST)
    "account_status_request", "open_orders_status_request", "futures_account_request",
    "futures_position_risk_request", "futures_open_orders_request", "futures_order_request",
    "AccountSnapshot", "wallets_from_account_status", "wallets_from_futures_account",
    "positions_from_position_risk", "orders_from_results", "spot_account_snapshot",
    "futures_account_snapshot",
    # control events
    "Response", "StreamTerminated", "ServerShutdown", "ListenKeyExpired", "MalformedFrame",
    "BookOutOfSync", "SnapshotNeeded", "UnknownStream", "DuplicateFill",
    # state machines
    "DepthSync", "BinanceSession", "FillDedup",
]

"""Bitfinex helpers with no I/O: symbols, client order ids, auth nonces and signatures.

Client order ids (cid) are millisecond timestamps, unique per UTC day as
Bitfinex wants; nonces are microsecond-scale and strictly increasing per API
key across every client in the process, because the server remembers the
highest nonce it has seen for a key and refuses anything smaller.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ..errors import LocalProtocolError

__all__ = [
    "order_symbol", "CidGenerator", "create_cid", "cid_to_date",
    "NonceGenerator", "MAX_NONCE", "MAX_CID", "auth_signature",
]

#: Bitfinex's nonce cap: JavaScript's Number.MAX_SAFE_INTEGER.
MAX_NONCE = 9007199254740991
#: A cid is an int45 on Bitfinex.
MAX_CID = 2 ** 45 - 1


def order_symbol(symbol: str) -> str:
    """Return the Bitfinex symbol: ``"BTCUSD"`` -> ``"tBTCUSD"``.

    Symbols already prefixed with ``t`` (trading) or ``f`` (funding), such as
    ``"tBTCUSD"``, ``"fUSD"`` or ``"tBTCF0:USTF0"``, are returned unchanged;
    an unprefixed symbol is upper-cased and given the ``t`` prefix. A unified
    symbol (``"BTC/USDT"``, ``"BTC/USDT:USDT"``) is mapped by
    :func:`exchange_wss.symbols.to_native` (``tBTCUST``, ``tBTCF0:USTF0``).

    Raises:
        LocalProtocolError: the symbol is empty or not a string.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise LocalProtocolError(f"a symbol is required, got {symbol!r}")
    symbol = symbol.strip()
    if "/" in symbol:
        from ..symbols import to_native
        return to_native("bitfinex", symbol)
    rest = symbol[1:]
    # The prefix is a lower-case t/f followed by the upper-case pair/currency.
    if symbol[0] in "tf" and rest and rest == rest.upper():
        return symbol
    return "t" + symbol.upper()


class CidGenerator:
    """Makes client order ids: ms timestamps, strictly increasing, thread-safe.

    When the clock has not moved (or went backwards) since the last id, the
    next id is ``last + 1``, so two orders never share a cid.

    Args:
        time_fn: returns seconds since the epoch (injectable for tests).
    """

    def __init__(self, time_fn: Callable[[], float] = time.time):
        self._time_fn = time_fn
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """Return the next cid."""
        with self._lock:
            cid = int(self._time_fn() * 1000)
            if cid <= self._last:
                cid = self._last + 1
            if cid > MAX_CID:
                raise LocalProtocolError(f"cid {cid} does not fit int45")
            self._last = cid
            return cid


_default_cids = CidGenerator()


def create_cid() -> int:
    """Return a new client order id (ms timestamp, unique within the process)."""
    return _default_cids()


def cid_to_date(cid: int) -> str:
    """Return the UTC date ``"YYYY-MM-DD"`` of a cid made by :func:`create_cid`.

    Bitfinex identifies an order by ``(cid, cid_date)``, so cancelling by cid
    needs this date.
    """
    if isinstance(cid, bool) or not isinstance(cid, int):
        raise LocalProtocolError(f"cid must be an int, got {cid!r}")
    return datetime.fromtimestamp(cid / 1000, tz=UTC).strftime("%Y-%m-%d")


# api key -> highest nonce handed out for it in this process.
# Read with None too (last() of a generator without a key): nothing is stored under it.
_nonce_registry: dict[str | None, int] = {}
_nonce_lock = threading.Lock()


class NonceGenerator:
    """Auth nonces: µs-scale, strictly increasing per API key in the process.

    Every generator shares one process-wide "last nonce" per key, so two clients
    (or a reconnect racing a new client) on the same key never send a nonce the
    server would reject as small. The key can be fixed at construction or given
    to each :meth:`next` call.

    Args:
        api_key: the default key (only used as a registry key, never logged).
        multiplier: scale on top of microseconds, for a key that was once used
            with a larger-scale nonce (the server keeps the highest it saw).
        time_fn: returns seconds since the epoch (injectable for tests).
    """

    def __init__(self, api_key: str | None = None, *, multiplier: float = 1.0,
                 time_fn: Callable[[], float] = time.time):
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float)) or \
                not multiplier > 0:
            raise LocalProtocolError(f"the nonce multiplier must be a positive number, "
                                     f"got {multiplier!r}")
        self._key = api_key
        self._scale = 1_000_000 * multiplier
        self._time_fn = time_fn
        # Refuse now, at the call, a multiplier whose nonces already exceed the
        # server's cap: every authentication would fail.
        first = int(time_fn() * self._scale)
        if first > MAX_NONCE:
            limit = MAX_NONCE / (time_fn() * 1_000_000)
            raise LocalProtocolError(
                f"nonce_multiplier {multiplier!r} makes nonces of {first}, above Bitfinex's "
                f"cap {MAX_NONCE}: authentication would always fail. Here the nonce is "
                f"microseconds x multiplier; the largest usable multiplier now is "
                f"{limit:.3f} (bitfinex-v2's nonce_multiplier scales seconds: use "
                f"exchange_wss.compat.bitfinex_v2.WssClient for that meaning)")

    def next(self, api_key: str | None = None) -> int:
        """Return the next nonce for ``api_key`` (default: the constructor's key).

        Raises:
            LocalProtocolError: no key, or the nonce would exceed 9007199254740991.
        """
        key = self._key if api_key is None else api_key
        if not key:
            raise LocalProtocolError("an API key is required for a nonce")
        with _nonce_lock:
            nonce = int(self._time_fn() * self._scale)
            last = _nonce_registry.get(key, 0)
            if nonce <= last:
                nonce = last + 1
            if nonce > MAX_NONCE:
                raise LocalProtocolError(
                    f"nonce {nonce} exceeds Bitfinex's cap {MAX_NONCE}; lower the multiplier")
            _nonce_registry[key] = nonce
            return nonce

    __call__ = next

    def last(self, api_key: str | None = None) -> int | None:
        """The last nonce handed out for the key in this process, or None."""
        with _nonce_lock:
            return _nonce_registry.get(self._key if api_key is None else api_key)


def auth_signature(secret: str, payload: str) -> str:
    """Return ``hex(HMAC-SHA384(secret, payload))``, Bitfinex's ``authSig``."""
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"),
                    hashlib.sha384).hexdigest()

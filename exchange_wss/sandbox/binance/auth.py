"""API keys and request signatures of the Binance sandbox: which keys exist, and
whether a signed request (HMAC-SHA256 over the sorted ``k=v&...`` payload) is
signed by the key's secret within its ``recvWindow``.

Pure: time comes in through ``now_ms``.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Mapping

import orjson

from .wire import ApiError, _dec, _mandatory

__all__ = ["Auth", "signature_payloads", "sign_params", "DEFAULT_BINANCE_KEY", "DEFAULT_BINANCE_SECRET"]

DEFAULT_BINANCE_KEY = "sandbox-binance-api-key"
DEFAULT_BINANCE_SECRET = "sandbox-binance-api-secret"


def _param_texts(v: Any) -> list:
    """The texts a client may have signed for one parameter value (first: JSON-like)."""
    if isinstance(v, bool):
        return ["true", "True"]
    if isinstance(v, int):
        return [str(v)]
    if isinstance(v, float):
        return [repr(v), str(int(v)) if v.is_integer() else repr(v)]
    if v is None:
        return ["null", "None"]
    if isinstance(v, (list, dict)):
        return [orjson.dumps(v).decode()]
    return [str(v)]


def signature_payloads(params: Mapping[str, Any]) -> set:
    """Every signature payload accepted for ``params``: sorted ``k=v&...`` of all but
    ``signature``, values raw or percent-encoded (as ``urlencode`` writes them)."""
    keys = sorted(k for k in params if k != "signature")
    out = set()
    for pick in (0, -1):
        items = [(k, _param_texts(params[k])[pick]) for k in keys]
        out.add("&".join(f"{k}={v}" for k, v in items))
        out.add(urllib.parse.urlencode(items))
    return out


def sign_params(params: Mapping[str, Any], secret: str) -> str:
    """HMAC-SHA256 hex signature of ``params`` as a client computes it (raw values)."""
    keys = sorted(k for k in params if k != "signature")
    payload = "&".join(f"{k}={_param_texts(params[k])[0]}" for k in keys)
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Auth:
    """The accounts' API keys and the checks of signed requests.

    Args:
        accounts: ``{api_key: secret}``.
        now_ms: the server's clock, in ms (``timestamp`` is checked against it).
    """

    def __init__(self, accounts: Mapping[str, str], now_ms: Callable[[], int]):
        self.accounts = dict(accounts)
        self.now_ms = now_ms

    def check_api_key(self, api_key: Any) -> str:
        if not isinstance(api_key, str) or not api_key:
            raise _mandatory("apiKey")
        if api_key not in self.accounts:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return api_key

    def verify_signed(self, params: Mapping[str, Any]) -> str:
        """Check apiKey, signature and timestamp/recvWindow of a signed request; returns the key."""
        api_key = self.check_api_key(params.get("apiKey"))
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        sig = params.get("signature")
        if not isinstance(sig, str) or not sig:
            raise _mandatory("signature")
        try:
            ts = _dec(params["timestamp"])
            window = _dec(params.get("recvWindow", 5000))
        except (InvalidOperation, ValueError):
            raise ApiError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                                  "or malformed.") from None
        if window <= 0 or window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000.")
        secret = self.accounts[api_key].encode()
        want = sig.lower()
        if not any(hmac.compare_digest(
                hmac.new(secret, p.encode(), hashlib.sha256).hexdigest(), want)
                for p in signature_payloads(params)):
            raise ApiError(-1022, "Signature for this request is not valid.")
        now = Decimal(self.now_ms())
        if ts >= now + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's "
                                  "time.")
        if now - ts > window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return api_key

"""API keys and request signatures of the Binance sandbox: which keys exist, and
whether a signed request (over the sorted ``k=v&...`` payload on the WebSocket
API, over the query string on REST) is signed by the account's key (HMAC-SHA256,
Ed25519 or RSA) within its ``recvWindow``; ``session.logon`` with Ed25519.

Pure: time comes in through ``now_ms``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from .wire import ApiError, _dec, _mandatory

__all__ = ["Auth", "signature_payloads", "sign_params", "DEFAULT_BINANCE_KEY",
           "DEFAULT_BINANCE_SECRET"]

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


def _public_key(text: str) -> Any:
    """The Ed25519 or RSA public key of a PEM (``-----BEGIN PUBLIC KEY-----``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    key = load_pem_public_key(text.strip().encode("ascii"))
    if not isinstance(key, (Ed25519PublicKey, RSAPublicKey)):
        raise ValueError(f"Binance takes Ed25519 or RSA public keys, not {type(key).__name__}")
    return key


def _check_pem_signature(key: Any, payload: bytes, sig: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        raw = base64.b64decode(sig, validate=True)
    except (ValueError, TypeError):
        return False
    try:
        if isinstance(key, Ed25519PublicKey):
            key.verify(raw, payload)
        else:
            key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


class Auth:
    """The accounts' API keys and the checks of signed requests.

    An account is registered with an HMAC secret, or (as Binance has its users
    upload) the PEM **public** key of an Ed25519 or RSA key pair; requests are
    then signed with the private key (base64 Ed25519, or RSA PKCS#1 v1.5 SHA-256).

    Args:
        accounts: ``{api_key: secret or public-key PEM}``.
        now_ms: the server's clock, in ms (``timestamp`` is checked against it).
    """

    def __init__(self, accounts: Mapping[str, str], now_ms: Callable[[], int]):
        self.accounts = dict(accounts)
        self.now_ms = now_ms
        #: api key -> ("hmac", secret bytes) | ("ed25519" | "rsa", public key)
        self.keys: dict = {}
        for api_key, secret in self.accounts.items():
            self.register(api_key, secret)

    def register(self, api_key: str, secret: str) -> str:
        """Add (or replace) an account's key; returns its type."""
        if isinstance(secret, str) and secret.lstrip().startswith("-----BEGIN"):
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            key = _public_key(secret)
            kind = "ed25519" if isinstance(key, Ed25519PublicKey) else "rsa"
            self.keys[api_key] = (kind, key)
        else:
            kind = "hmac"
            self.keys[api_key] = (kind, str(secret).encode())
        self.accounts[api_key] = secret
        return kind

    def key_type(self, api_key: str) -> str:
        """``"hmac"``, ``"ed25519"`` or ``"rsa"``."""
        return self.keys[api_key][0]

    def check_api_key(self, api_key: Any) -> str:
        """The API key if it names an account; -1102 when missing, -2015 when unknown."""
        if not isinstance(api_key, str) or not api_key:
            raise _mandatory("apiKey")
        if api_key not in self.accounts:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return api_key

    def signature_ok(self, api_key: str, payloads: Iterable[str], sig: str) -> bool:
        """True when ``sig`` signs one of ``payloads`` with the account's key."""
        kind, key = self.keys[api_key]
        if kind == "hmac":
            want = sig.lower()
            return any(hmac.compare_digest(
                hmac.new(key, p.encode(), hashlib.sha256).hexdigest(), want) for p in payloads)
        return any(_check_pem_signature(key, p.encode(), sig) for p in payloads)

    def _check_time(self, params: Mapping[str, Any]) -> None:
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        try:
            ts = _dec(params["timestamp"])
            window = _dec(params.get("recvWindow", 5000))
        except (InvalidOperation, ValueError):
            raise ApiError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, "
                                  "or malformed.") from None
        if window <= 0 or window > 60000:
            raise ApiError(-1131, "recvWindow must be less than 60000.")
        now = Decimal(self.now_ms())
        if ts >= now + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's "
                                  "time.")
        if now - ts > window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def verify_signed(self, params: Mapping[str, Any], logged_on: str | None = None) -> str:
        """Check apiKey, signature and timestamp/recvWindow of a signed request; returns the key.

        On a WebSocket-API connection logged on with ``logged_on`` (``session.logon``),
        a request without ``apiKey`` and ``signature`` is that key's; its timestamp is
        still checked. A request that names a key or carries a signature is checked
        as a signed one, logged on or not.
        """
        if logged_on is not None and params.get("apiKey") in (None, "") and \
                params.get("signature") in (None, ""):
            self._check_time(params)
            return logged_on
        api_key = self.check_api_key(params.get("apiKey"))
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        sig = params.get("signature")
        if not isinstance(sig, str) or not sig:
            raise _mandatory("signature")
        self._check_time(params)
        if not self.signature_ok(api_key, signature_payloads(params), sig):
            raise ApiError(-1022, "Signature for this request is not valid.")
        return api_key

    def logon(self, params: Mapping[str, Any]) -> str:
        """``session.logon``: a request signed with the account's Ed25519 key; returns it.

        Binance: "Only Ed25519 keys are supported for this feature". An account
        with another key type is refused with -2015 (the sandbox's choice: Binance
        does not document the exact answer).
        """
        api_key = self.verify_signed(params)
        if self.key_type(api_key) != "ed25519":
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action: "
                                  "session.logon needs an Ed25519 key.", 401)
        return api_key

    def verify_rest(self, headers: Mapping[str, str], query: str) -> str:
        """A signed REST request: key in ``X-MBX-APIKEY``, ``signature`` last in the query,
        computed over the query string before it (exactly as sent); returns the key."""
        api_key = headers.get("x-mbx-apikey")
        if not api_key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        self.check_api_key(api_key)
        body, sep, sig = query.rpartition("&signature=")
        if not sep:
            body, sig = query, ""
        params = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        if not sig:
            raise _mandatory("signature")
        self._check_time(params)
        if not self.signature_ok(api_key, (body,), urllib.parse.unquote(sig)):
            raise ApiError(-1022, "Signature for this request is not valid.")
        return api_key

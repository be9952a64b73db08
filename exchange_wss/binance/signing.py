"""Signing Binance requests: the signature payload, HMAC-SHA256, Ed25519 and RSA
signatures, parameters made ready to send and sign (WebSocket API, signed or
after ``session.logon``), and signed REST query strings."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from ..numtext import decimal_text
from ._common import _fail

__all__ = ["MAX_RECV_WINDOW", "signature_payload", "sign_hmac", "sign_ed25519", "sign_rsa", "sign",
           "key_type", "signed_params", "logged_on_params", "auth_params", "rest_signed_query"]

MAX_RECV_WINDOW = 60000


def _wire_value(value: Any, what: str) -> Any:
    """A parameter as it is sent, so that what is signed is what the server reads:
    booleans as ``"true"``/``"false"`` (Python's ``True`` would sign as ``True``),
    floats and Decimals as plain decimal text; ints and strings unchanged."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, str)):
        return value
    if isinstance(value, (float, Decimal)):
        return decimal_text(value, what)
    raise _fail(f"parameter {what} must be a string, number or bool, got {value!r}")


def _param_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (float, Decimal)):
        return decimal_text(value, "parameter")
    return str(value)


def signature_payload(params: Mapping[str, Any]) -> str:
    """The WebSocket-API signature payload: every parameter except ``signature``,
    sorted by name, as ``k=v`` joined by ``&`` (values as sent, UTF-8, not URL-encoded)."""
    return "&".join(f"{k}={_param_text(v)}" for k, v in sorted(params.items())
                    if k != "signature")


def sign_hmac(secret: str, params: Mapping[str, Any] | str) -> str:
    """HMAC-SHA256 of the signature payload, hex (Binance accepts any case).

    Args:
        secret: the API secret.
        params: the request parameters (see :func:`signature_payload`), or an
            already built payload string.
    """
    if not isinstance(secret, str) or not secret:
        raise _fail("signing needs the API secret")
    payload = params if isinstance(params, str) else signature_payload(params)
    return hmac.new(secret.encode("utf-8"), payload.encode("utf-8"), hashlib.sha256).hexdigest()


def _is_pem(secret: str | bytes) -> bool:
    if isinstance(secret, bytes):
        return secret.lstrip().startswith(b"-----BEGIN")
    return isinstance(secret, str) and secret.lstrip().startswith("-----BEGIN")


@functools.lru_cache(maxsize=16)
def _load_pem(pem: bytes, password: bytes | None) -> Any:
    # Cached: parsing a PEM costs more than signing with it, and a client signs
    # every request with the same key. The cache lives in this process only.
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - depends on the environment
        raise _fail("Ed25519 and RSA signing need the 'cryptography' package") from None
    try:
        return load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        # The message of a PEM parse error says nothing secret; the key is not echoed.
        raise _fail(f"not a usable PEM private key ({type(exc).__name__})") from None


def _pem_bytes(private_key_pem: str | bytes) -> bytes:
    if isinstance(private_key_pem, str):
        return private_key_pem.strip().encode("ascii")
    return private_key_pem.strip()


def key_type(secret: str | bytes, password: bytes | None = None) -> str:
    """What kind of key a secret is: ``"hmac"`` (a shared secret), ``"ed25519"`` or
    ``"rsa"`` (a PEM private key).

    Binance accepts all three for signed requests; ``session.logon`` takes
    Ed25519 only.

    Raises:
        LocalProtocolError: a PEM that is neither an Ed25519 nor an RSA private key.
    """
    if not _is_pem(secret):
        return "hmac"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    key = _load_pem(_pem_bytes(secret), password)
    if isinstance(key, Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, RSAPrivateKey):
        return "rsa"
    raise _fail(f"unsupported PEM key type {type(key).__name__}: Binance takes Ed25519 or RSA")


def _payload_text(payload: Mapping[str, Any] | str) -> str:
    return payload if isinstance(payload, str) else signature_payload(payload)


def sign_ed25519(private_key_pem: str | bytes, payload: Mapping[str, Any] | str,
                 password: bytes | None = None) -> str:
    """Ed25519 signature of the payload, base64 (needs the ``cryptography`` package).

    Args:
        private_key_pem: the PEM private key (``-----BEGIN PRIVATE KEY-----``).
        payload: the request parameters, or an already built payload string.
        password: the PEM's password, if it is encrypted.

    Raises:
        LocalProtocolError: ``cryptography`` missing, or not an Ed25519 PEM key.
    """
    if key_type(private_key_pem, password) != "ed25519":
        raise _fail("the PEM key is not an Ed25519 key")
    key = _load_pem(_pem_bytes(private_key_pem), password)
    return base64.b64encode(key.sign(_payload_text(payload).encode("utf-8"))).decode("ascii")


def sign_rsa(private_key_pem: str | bytes, payload: Mapping[str, Any] | str,
             password: bytes | None = None) -> str:
    """RSA signature (PKCS#1 v1.5, SHA-256) of the payload, base64, as Binance takes it.

    Raises:
        LocalProtocolError: ``cryptography`` missing, or not an RSA PEM key.
    """
    if key_type(private_key_pem, password) != "rsa":
        raise _fail("the PEM key is not an RSA key")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    key = _load_pem(_pem_bytes(private_key_pem), password)
    sig = key.sign(_payload_text(payload).encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(sig).decode("ascii")


def sign(secret: str | bytes, payload: Mapping[str, Any] | str,
         password: bytes | None = None) -> str:
    """The signature of ``payload`` with whatever key ``secret`` is: HMAC-SHA256 hex for
    a shared secret, base64 Ed25519 or RSA for a PEM private key."""
    kind = key_type(secret, password)
    if kind == "ed25519":
        return sign_ed25519(secret, payload, password)
    if kind == "rsa":
        return sign_rsa(secret, payload, password)
    return sign_hmac(secret if isinstance(secret, str) else secret.decode(), payload)


def _recv_window(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _fail(f"recv_window must be a number of ms, got {value!r}")
    text = decimal_text(value, "recv_window")
    dec = Decimal(text)
    # decimal_text gives finite numbers only, whose exponent is an int.
    if not 0 < dec <= MAX_RECV_WINDOW or dec.as_tuple().exponent < -3:  # type: ignore[operator]
        raise _fail(f"recv_window must be in (0, {MAX_RECV_WINDOW}] ms with at most 3 "
                    f"decimals, got {value!r}")
    return int(dec) if dec == dec.to_integral_value() else text


def signed_params(api_key: str, secret: str | bytes, params: Mapping[str, Any],
                  timestamp_ms: int, recv_window: Any = None) -> dict[str, Any]:
    """``params`` plus ``apiKey``, ``timestamp`` (and ``recvWindow``) and their ``signature``.

    None values are dropped; booleans, floats and Decimals are converted to the
    text that is both sent and signed. A ``secret`` that is a PEM private key
    (``-----BEGIN``) signs with Ed25519 or RSA (whichever it is), anything else
    with HMAC-SHA256.

    Raises:
        LocalProtocolError: missing key/secret, bad timestamp or recv_window,
            or a value that cannot be sent.
    """
    if not isinstance(api_key, str) or not api_key:
        raise _fail("signed requests need an API key")
    if not secret or not isinstance(secret, (str, bytes)):
        raise _fail("signed requests need the API secret")
    _timestamp(timestamp_ms)
    out: dict[str, Any] = {}
    for k, v in params.items():
        if v is not None:
            out[k] = _wire_value(v, k)
    out["apiKey"] = api_key
    out["timestamp"] = timestamp_ms
    if recv_window is not None:
        out["recvWindow"] = _recv_window(recv_window)
    out["signature"] = sign(secret, out)
    return out


def _timestamp(timestamp_ms: Any) -> int:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise _fail(f"timestamp must be a positive int of ms, got {timestamp_ms!r}")
    return timestamp_ms


def logged_on_params(params: Mapping[str, Any], timestamp_ms: int,
                     recv_window: Any = None) -> dict[str, Any]:
    """``params`` plus ``timestamp`` (and ``recvWindow``), without ``apiKey`` or
    ``signature``: a request on a WebSocket-API connection after ``session.logon``
    (Binance still checks the timestamp there)."""
    out: dict[str, Any] = {k: _wire_value(v, k) for k, v in params.items() if v is not None}
    out["timestamp"] = _timestamp(timestamp_ms)
    if recv_window is not None:
        out["recvWindow"] = _recv_window(recv_window)
    return out


def auth_params(api_key: str | None, secret: str | bytes | None,
                params: Mapping[str, Any], timestamp_ms: int,
                recv_window: Any = None) -> dict[str, Any]:
    """Signed params (:func:`signed_params`), or, with ``api_key`` and ``secret`` both
    None, the params of a logged-on connection (:func:`logged_on_params`)."""
    if api_key is None and secret is None:
        return logged_on_params(params, timestamp_ms, recv_window)
    # The clients hold both credentials or neither (checked when they are made).
    return signed_params(api_key, secret,  # type: ignore[arg-type]
                         params, timestamp_ms, recv_window)


def rest_signed_query(secret: str | bytes, params: Mapping[str, Any], timestamp_ms: int,
                      recv_window: Any = None) -> str:
    """The query string of a signed REST request (``GET /fapi/v3/account?...``).

    Binance signs REST requests over the query string exactly as sent (in this
    order, percent-encoded), then appends ``signature`` (hex for HMAC, base64 for
    Ed25519/RSA, percent-encoded here). The API key goes in the ``X-MBX-APIKEY``
    header, not in the query.

    Raises:
        LocalProtocolError: missing secret, bad timestamp or recv_window.
    """
    if not secret or not isinstance(secret, (str, bytes)):
        raise _fail("signed requests need the API secret")
    items = [(k, _param_text(_wire_value(v, k))) for k, v in params.items() if v is not None]
    items.append(("timestamp", str(_timestamp(timestamp_ms))))
    if recv_window is not None:
        items.append(("recvWindow", str(_recv_window(recv_window))))
    query = urlencode(items)
    return f"{query}&signature={quote(sign(secret, query), safe='')}"

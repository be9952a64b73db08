"""Signing Binance requests: the signature payload, HMAC-SHA256 and Ed25519
signatures, and parameters made ready to send and sign."""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import Decimal
from typing import Any, Dict, Mapping, Optional, Union

from ..numtext import decimal_text
from ._common import _fail

__all__ = ["MAX_RECV_WINDOW", "signature_payload", "sign_hmac", "sign_ed25519", "signed_params"]

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


def sign_hmac(secret: str, params: Union[Mapping[str, Any], str]) -> str:
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


def sign_ed25519(private_key_pem: Union[str, bytes], payload: Union[Mapping[str, Any], str],
                 password: Optional[bytes] = None) -> str:
    """Ed25519 signature of the payload, base64 (needs the ``cryptography`` package).

    Args:
        private_key_pem: the PEM private key (``-----BEGIN PRIVATE KEY-----``).
        payload: the request parameters, or an already built payload string.
        password: the PEM's password, if it is encrypted.

    Raises:
        LocalProtocolError: ``cryptography`` missing, or not an Ed25519 PEM key.
    """
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:  # pragma: no cover - depends on the environment
        raise _fail("Ed25519 signing needs the 'cryptography' package") from None
    pem = private_key_pem.encode("ascii") if isinstance(private_key_pem, str) else private_key_pem
    try:
        key = load_pem_private_key(pem, password=password)
    except (ValueError, TypeError) as exc:
        # The message of a PEM parse error says nothing secret; the key is not echoed.
        raise _fail(f"not a usable PEM private key ({type(exc).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise _fail("the PEM key is not an Ed25519 key")
    text = payload if isinstance(payload, str) else signature_payload(payload)
    return base64.b64encode(key.sign(text.encode("utf-8"))).decode("ascii")


def _recv_window(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _fail(f"recv_window must be a number of ms, got {value!r}")
    text = decimal_text(value, "recv_window")
    dec = Decimal(text)
    if not 0 < dec <= MAX_RECV_WINDOW or dec.as_tuple().exponent < -3:
        raise _fail(f"recv_window must be in (0, {MAX_RECV_WINDOW}] ms with at most 3 "
                    f"decimals, got {value!r}")
    return int(dec) if dec == dec.to_integral_value() else text


def signed_params(api_key: str, secret: Union[str, bytes], params: Mapping[str, Any],
                  timestamp_ms: int, recv_window: Any = None) -> Dict[str, Any]:
    """``params`` plus ``apiKey``, ``timestamp`` (and ``recvWindow``) and their ``signature``.

    None values are dropped; booleans, floats and Decimals are converted to the
    text that is both sent and signed. A ``secret`` that is a PEM private key
    (``-----BEGIN``) is used for Ed25519 signing, anything else for HMAC.

    Raises:
        LocalProtocolError: missing key/secret, bad timestamp or recv_window,
            or a value that cannot be sent.
    """
    if not isinstance(api_key, str) or not api_key:
        raise _fail("signed requests need an API key")
    if not secret or not isinstance(secret, (str, bytes)):
        raise _fail("signed requests need the API secret")
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise _fail(f"timestamp must be a positive int of ms, got {timestamp_ms!r}")
    out: Dict[str, Any] = {}
    for k, v in params.items():
        if v is not None:
            out[k] = _wire_value(v, k)
    out["apiKey"] = api_key
    out["timestamp"] = timestamp_ms
    if recv_window is not None:
        out["recvWindow"] = _recv_window(recv_window)
    is_pem = (secret.startswith(b"-----BEGIN") if isinstance(secret, bytes)
              else secret.lstrip().startswith("-----BEGIN"))
    if is_pem:
        out["signature"] = sign_ed25519(secret, out)
    else:
        out["signature"] = sign_hmac(secret if isinstance(secret, str) else secret.decode(), out)
    return out

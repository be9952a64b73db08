"""JSON text as a JavaScript server writes it (``JSON.stringify``).

Bitfinex's servers are JavaScript, so every number on the wire is ECMAScript
``Number::toString`` text: ``0.0000011`` (orjson and Python write ``1.1e-06``),
``1920`` (not ``1920.0``), ``7e-7``. Clients that compute checksums from the
text (or from the floats, through :func:`~exchange_wss.numtext.js_number_text`)
rely on exactly that, so the sandbox writes its frames with this serializer.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson

from exchange_wss.numtext import js_number_text

__all__ = ["dumps"]


def dumps(obj: Any) -> str:
    """Serialize ``obj`` (dict, list, tuple, str, int, float, Decimal, bool, None) as JS would."""
    out: list[str] = []
    _encode(obj, out.append)
    return "".join(out)


def _encode(o: Any, w) -> None:
    if o is None:
        w("null")
    elif o is True:
        w("true")
    elif o is False:
        w("false")
    elif isinstance(o, int):
        w(int.__repr__(o))
    elif isinstance(o, float):
        # JSON.stringify writes null for NaN and the infinities.
        w(js_number_text(o) if math.isfinite(o) else "null")
    elif isinstance(o, str):
        w(orjson.dumps(o).decode())
    elif isinstance(o, (list, tuple)):
        w("[")
        first = True
        for item in o:
            if not first:
                w(",")
            first = False
            _encode(item, w)
        w("]")
    elif isinstance(o, dict):
        w("{")
        first = True
        for k, v in o.items():
            if not first:
                w(",")
            first = False
            w(orjson.dumps(str(k)).decode())
            w(":")
            _encode(v, w)
        w("}")
    elif isinstance(o, Decimal):
        w(js_number_text(float(o)))
    else:
        raise TypeError(f"cannot serialize {type(o).__name__}")

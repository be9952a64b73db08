"""Models to bytes and back, generically: a type tag plus the dataclass fields.

Any dataclass of :mod:`exchange_wss.models` is written as its class name and
its fields (``raw`` left out), JSON by orjson; nested models (a
``CandlesSnapshot``'s candles, a ``Notification``'s order, a ``Snapshot``'s
items) carry their own tag. Decoding rebuilds the model from its fields, using
each field's annotation to turn JSON arrays back into tuples (book levels) and
values back into enums, so fields added to the models later flow through
without touching this module.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import operator
import typing
from typing import Any, Callable, Dict, Optional, Tuple

import orjson

from .. import models
from ..errors import LocalProtocolError

__all__ = ["encode", "decode", "to_obj", "from_obj", "event_key", "MODELS"]

_TAG = "_t"

#: The model classes by name.
MODELS: Dict[str, type] = {name: getattr(models, name) for name in models.__all__
                           if dataclasses.is_dataclass(getattr(models, name))}


def register(cls: type) -> type:
    """Make another dataclass known to the codec (by its class name)."""
    MODELS[cls.__name__] = cls
    _converters.pop(cls.__name__, None)
    return cls


_getters: Dict[type, Tuple[Tuple[str, ...], Any, str]] = {}


def _as_dict(value: Any) -> Any:
    """orjson's ``default``: a model as a dict of its fields (``raw`` left out) and its tag."""
    cls = type(value)
    entry = _getters.get(cls)
    if entry is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"cannot encode {cls.__name__}")
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
        entry = _getters[cls] = (names, operator.attrgetter(*names), cls.__name__)
    names, getter, tag = entry
    values = getter(value)
    out = dict(zip(names, values)) if len(names) > 1 else {names[0]: values}
    out[_TAG] = tag
    return out


_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS


def encode(event: Any) -> bytes:
    """``event`` as JSON bytes: each model a dict of its fields plus its class name
    (nested models too); enums by value, tuples as arrays."""
    return orjson.dumps(event, default=_as_dict, option=_OPTIONS)


def to_obj(value: Any) -> Any:
    """A model (or anything holding models) as JSON-ready data, models tagged."""
    return orjson.loads(encode(value))


# -------------------------------------------------------------------------- decoding

_converters: Dict[str, Dict[str, Callable[[Any], Any]]] = {}


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _converter(tp: Any) -> Optional[Callable[[Any], Any]]:
    """How to turn decoded JSON into the annotated type (None: as decoded, models
    rebuilt by their tags)."""
    tp = _strip_optional(tp)
    origin = typing.get_origin(tp)
    if tp is tuple or origin is tuple:
        return lambda v: tuple(from_obj(x) for x in v) if isinstance(v, list) else from_obj(v)
    if origin is list:
        args = typing.get_args(tp)
        inner = _converter(args[0]) if args else None
        if inner is not None:
            return lambda v: [inner(x) for x in v] if isinstance(v, list) else v
        return None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return lambda v, tp=tp: tp(v) if v is not None else None
    return None


def _field_converters(cls: type) -> Dict[str, Callable[[Any], Any]]:
    name = cls.__name__
    convs = _converters.get(name)
    if convs is None:
        hints = typing.get_type_hints(cls, vars(models))
        convs = {}
        for f in dataclasses.fields(cls):
            conv = _converter(hints.get(f.name, Any))
            if conv is not None:
                convs[f.name] = conv
        _converters[name] = convs
    return convs


def from_obj(value: Any) -> Any:
    """The inverse of :func:`to_obj`: tagged dicts become models again.

    Raises:
        LocalProtocolError: a tag no model answers to.
    """
    if isinstance(value, dict):
        tag = value.get(_TAG)
        if tag is None:
            return {k: from_obj(v) for k, v in value.items()}
        cls = MODELS.get(tag)
        if cls is None:
            raise LocalProtocolError(f"unknown model {tag!r}")
        convs = _field_converters(cls)
        kwargs = {}
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        for k, v in value.items():
            if k == _TAG or k not in names:
                continue  # a field this version's model no longer has
            conv = convs.get(k)
            kwargs[k] = conv(v) if conv is not None else from_obj(v)
        return cls(**kwargs)
    if isinstance(value, list):
        return [from_obj(v) for v in value]
    return value


def decode(data: bytes) -> Any:
    """A model back from :func:`encode`'s bytes."""
    return from_obj(orjson.loads(data))


# ----------------------------------------------------------------------- identities

#: Fields that identify an account event at the exchange, by model.
_IDENTITY: Dict[str, Tuple[str, ...]] = {
    "Fill": ("id", "order_id", "kind"),
    "Order": ("id", "cid", "status", "mts_update", "amount", "kind"),
}


def event_key(type_name: str, data: bytes) -> str:
    """A key equal for the same account event published twice.

    Fills and orders are known by their exchange ids (an order's update by its
    id, state and time); other events by their content.
    """
    fields = _IDENTITY.get(type_name)
    if fields:
        obj = orjson.loads(data)
        return type_name + ":" + ":".join(str(obj.get(f)) for f in fields)
    return type_name + ":" + hashlib.blake2b(data, digest_size=12).hexdigest()

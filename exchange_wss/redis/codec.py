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
import types
import typing
from collections.abc import Callable
from typing import Any

import orjson

from .. import models
from ..errors import LocalProtocolError

__all__ = ["encode", "decode", "to_obj", "from_obj", "event_key", "MODELS"]

_TAG = "_t"

#: The model classes by name.
MODELS: dict[str, type[Any]] = {name: getattr(models, name) for name in models.__all__
                           if dataclasses.is_dataclass(getattr(models, name))}


def register(cls: type[Any]) -> type[Any]:
    """Make another dataclass known to the codec (by its class name)."""
    MODELS[cls.__name__] = cls
    _plans.pop(cls.__name__, None)
    return cls


_getters: dict[type, tuple[tuple[str, ...], Any, str]] = {}


def _as_dict(value: Any) -> Any:
    """Orjson's ``default``: a model as a dict of its fields (``raw`` left out) and its tag."""
    cls = type(value)
    entry = _getters.get(cls)
    if entry is None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"cannot encode {cls.__name__}")
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")
        entry = _getters[cls] = (names, operator.attrgetter(*names), cls.__name__)
    names, getter, tag = entry
    values = getter(value)
    out = dict(zip(names, values, strict=False)) if len(names) > 1 else {names[0]: values}
    out[_TAG] = tag
    return out


_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS
#: class -> True when no field can hold a model: orjson writes it by itself (in C).
_flat: dict[type, bool] = {}


def _may_hold_model(tp: Any) -> bool:
    """True when a value of annotation ``tp`` can be (or contain) a model."""
    tp = _strip_optional(tp)
    if tp in _SCALARS or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return False
    origin = typing.get_origin(tp)
    if tp is tuple or origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return any(_may_hold_model(a) for a in args) if args else tp is not tuple \
            and origin is not tuple
    return True


def _is_flat(cls: type) -> bool:
    flat = _flat.get(cls)
    if flat is None:
        hints = typing.get_type_hints(cls, vars(models))
        flat = _flat[cls] = not any(_may_hold_model(hints.get(f.name, Any))
                                    for f in dataclasses.fields(cls) if f.name != "raw")
    return flat


#: class -> (field names with raw, their getter), for flat models.
_flat_getters: dict[type, tuple[tuple[str, ...], Any]] = {}


def encode(event: Any) -> bytes:
    """``event`` as JSON bytes: its fields, ``raw`` included (the frame it came from, as
    the exchange client delivers it). Models nested in it carry their class name
    (``"_t"``); the top level's goes beside the data (:class:`~exchange_wss.redis.Entry`
    ``type``), or give it to :func:`decode`."""
    cls = event.__class__
    flat = _flat_getters.get(cls)
    if flat is None:
        if not _is_flat(cls):
            return orjson.dumps(event, default=_as_dict_raw, option=_OPTIONS)
        names = tuple(f.name for f in dataclasses.fields(cls))
        flat = _flat_getters[cls] = (names, operator.attrgetter(*names))
    # A dict built here is several times faster for orjson than a slots dataclass.
    return orjson.dumps(dict(zip(flat[0], flat[1](event), strict=False)))


def _as_dict_raw(value: Any) -> Any:
    out = _as_dict(value)
    raw = getattr(value, "raw", None)
    if raw is not None:
        out["raw"] = raw
    return out


def to_obj(value: Any) -> Any:
    """A model (or anything holding models) as JSON-ready data, every model tagged."""
    return orjson.loads(orjson.dumps(value, default=_as_dict, option=_OPTIONS))


# -------------------------------------------------------------------------- decoding

_SCALARS = (int, float, str, bool, bytes, type(None))


class _Missing(enum.Enum):
    """The type of :data:`_MISSING`, so a checker can tell it from a converter."""

    MISSING = 0


#: What a plan gives for a field the model does not have.
_MISSING: typing.Final = _Missing.MISSING
#: class name -> (class, field name -> converter or None for "as decoded")
_plans: dict[str, tuple[type, dict[str, Callable[[Any], Any] | None]]] = {}


def _strip_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:  # Optional[X] or X | None
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _converter(tp: Any) -> Callable[[Any], Any] | None:
    """How to turn decoded JSON into the annotated type; None: as decoded."""
    tp = _strip_optional(tp)
    if tp in _SCALARS:
        return None
    origin = typing.get_origin(tp)
    if tp is tuple or origin is tuple:
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        if all(_strip_optional(a) in _SCALARS for a in args):
            return lambda v: tuple(v) if v.__class__ is list else v
        return lambda v: tuple(from_obj(x) for x in v) if v.__class__ is list else from_obj(v)
    if origin is list:
        item_args = typing.get_args(tp)
        inner = _converter(item_args[0]) if item_args else from_obj
        if inner is None:
            return None
        return lambda v: [inner(x) for x in v] if v.__class__ is list else v
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        def to_enum(v: Any, tp: type[enum.Enum] = tp) -> Any:
            return tp(v) if v is not None else None
        return to_enum
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        def to_model(v: Any, name: str = tp.__name__) -> Any:
            return from_obj(v, name) if v.__class__ is dict else v
        return to_model
    return from_obj  # Any, a union: rebuilt by tags where there are any


def _plan(tag: str) -> tuple[type, dict[str, Callable[[Any], Any] | None]]:
    plan = _plans.get(tag)
    if plan is None:
        cls = MODELS.get(tag)
        if cls is None:
            raise LocalProtocolError(f"unknown model {tag!r}")
        hints = typing.get_type_hints(cls, vars(models))
        plan = _plans[tag] = (cls, {f.name: _converter(hints.get(f.name, Any))
                                    for f in dataclasses.fields(cls)
                                    if f.init and f.name != "raw"})
    return plan


def from_obj(value: Any, tag: str | None = None) -> Any:
    """The inverse of :func:`to_obj`: tagged dicts become models again (``tag``: the
    class of ``value`` itself, when it carries none).

    Fields the model (no longer) has are ignored; fields it has and the data
    lacks take their defaults.

    Raises:
        LocalProtocolError: a tag no model answers to.
    """
    cls_ = value.__class__
    if cls_ is dict:
        tag = value.get(_TAG, tag)
        if tag is None:
            return {k: from_obj(v) for k, v in value.items()}
        cls, plan = _plan(tag)
        kwargs = {}
        for k, v in value.items():
            conv = plan.get(k, _MISSING)
            if conv is None:
                kwargs[k] = v
            elif conv is not _MISSING:
                kwargs[k] = conv(v)
        raw = value.get("raw")
        if raw is not None:
            kwargs["raw"] = raw
        return cls(**kwargs)
    if cls_ is list:
        return [from_obj(v) for v in value]
    return value


def decode(data: bytes, type_name: str | None = None) -> Any:
    """A model back from :func:`encode`'s bytes (``type_name``: its class's name)."""
    return from_obj(orjson.loads(data), type_name)


# ----------------------------------------------------------------------- identities

#: Fields that identify an account event at the exchange, by model.
_IDENTITY: dict[str, tuple[str, ...]] = {
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

"""Make-before-break hand-over of streams from an old connection to a new one, pure.

During a rotation both connections deliver the same streams. Each stream is an
ordered sequence of frames with a stable identity (the frame's bytes, a trade
id); the old connection carries a prefix of it, the new one a suffix that
starts somewhere after the rotation began. :class:`Handover` merges the two
into the one sequence the user must see, per stream, with no frame lost and
none repeated, in order:

- until the stream *joins*, frames from the old connection are delivered and
  remembered, frames from the new one are held back;
- it joins when one connection delivers a frame the other already had: either
  the old one reaches a held-back frame (everything held before it is dropped,
  the rest delivered), or the new one delivers a frame the old one delivered
  (the new one has caught up: from then on its frames are delivered, except
  those the old one already delivered);
- after the join the old connection's frames of that stream are dropped.

The old connection can be closed once every stream it carried has joined.
A stream that does not join within the caller's deadline is switched over
anyway by :meth:`Handover.force`, which says what could not be verified.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

__all__ = ["Handover"]


class _Stream:
    __slots__ = ("joined", "delivered", "held", "held_keys")

    def __init__(self) -> None:
        self.joined = False
        # Keys the old connection delivered that the new one has not yet.
        self.delivered: OrderedDict[Hashable, None] = OrderedDict()
        # Frames of the new connection held back until the join.
        self.held: list[tuple[Hashable, Any]] = []
        self.held_keys: dict[Hashable, int] = {}


class Handover:
    """Merges the streams of an old and a new connection (see the module docstring).

    ``old()`` and ``new()`` take one frame's stream name, identity key and
    the frame, and return the frames to deliver now, in order.

    Args:
        max_held: frames held back per stream before the stream is switched
            over by force (a stream the old connection no longer delivers).
    """

    def __init__(self, max_held: int = 10_000) -> None:
        self.max_held = max_held
        self._streams: dict[Hashable, _Stream] = {}
        #: Streams switched over without a verified join: (stream, reason).
        self.unverified: list[tuple[Hashable, str]] = []

    def _stream(self, name: Hashable) -> _Stream:
        stream = self._streams.get(name)
        if stream is None:
            stream = self._streams[name] = _Stream()
        return stream

    def old(self, name: Hashable, key: Hashable, frame: Any) -> list[Any]:
        """A frame from the old connection."""
        stream = self._stream(name)
        if stream.joined:
            return []
        index = stream.held_keys.get(key)
        if index is not None:
            # The old connection reached what the new one holds: the new one
            # carries everything from here on.
            # (In ordered streams the match is the first held frame, and the
            # frames the old one delivered before it precede the new one's start.)
            rest = [f for _k, f in stream.held[index + 1:]]
            self._join(stream)
            stream.delivered.clear()
            return [frame, *rest]
        stream.delivered[key] = None
        return [frame]

    def new(self, name: Hashable, key: Hashable, frame: Any) -> list[Any]:
        """A frame from the new connection."""
        stream = self._stream(name)
        delivered = stream.delivered
        if key in delivered:
            # The new connection caught up with what the old one delivered:
            # drop this frame and everything the old one delivered before it.
            while delivered:
                first, _ = delivered.popitem(last=False)
                if first == key:
                    break
            if not stream.joined:
                self._join(stream)
            return []
        if stream.joined:
            return [frame]
        stream.held_keys[key] = len(stream.held)
        stream.held.append((key, frame))
        if len(stream.held) > self.max_held:
            return self._force(name, stream, "too many frames held back")
        return []

    def joined(self, name: Hashable) -> bool:
        """True once ``name`` has joined (or was switched over by force)."""
        stream = self._streams.get(name)
        return stream is not None and stream.joined

    def waiting(self) -> list[Hashable]:
        """Streams seen during the hand-over that have not joined yet."""
        return [name for name, s in self._streams.items() if not s.joined]

    def all_joined(self) -> bool:
        """True when every stream seen has joined."""
        return all(s.joined for s in self._streams.values())

    def settled(self) -> bool:
        """True when nothing is left to de-duplicate: every stream joined and
        the new connection has passed everything the old one delivered."""
        return all(s.joined and not s.delivered for s in self._streams.values())

    def force(self) -> list[Any]:
        """Switch every stream that has not joined over to the new connection.

        Returns:
            The held-back frames to deliver now. Each stream switched this way
            is listed in :attr:`unverified` (frames at its boundary may be
            missing or repeated; nothing says which).
        """
        out: list[Any] = []
        for name, stream in list(self._streams.items()):
            if not stream.joined:
                had_old = bool(stream.delivered)
                had_new = bool(stream.held)
                reason = ("no common frame on both connections" if had_old and had_new
                          else "no frame on the new connection" if had_old
                          else "no frame on the old connection")
                out.extend(self._force(name, stream, reason))
        return out

    def _force(self, name: Hashable, stream: _Stream, reason: str) -> list[Any]:
        held = [f for _k, f in stream.held]
        self._join(stream)
        stream.delivered.clear()
        self.unverified.append((name, reason))
        return held

    @staticmethod
    def _join(stream: _Stream) -> None:
        stream.joined = True
        stream.held = []
        stream.held_keys = {}

"""The rotation hand-over (exchange_wss._rotation): two connections' streams merged
into one, nothing lost, nothing repeated, in order, whatever the interleaving."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_wss._rotation import Handover


def merge(events):
    """Feed ``(source, stream, key)`` events; return what is delivered, per stream."""
    handover = Handover()
    out = {}
    for source, stream, key in events:
        feed = handover.old if source == "old" else handover.new
        for frame in feed(stream, key, key):
            out.setdefault(stream, []).append(frame)
    return handover, out


def test_old_delivers_until_the_new_one_catches_up():
    """Old 1..5, new 3..7 arriving after: 1..7 once each, in order."""
    events = [("old", "s", k) for k in range(1, 6)] + [("new", "s", k) for k in range(3, 8)]
    handover, out = merge(events)
    assert out["s"] == [1, 2, 3, 4, 5, 6, 7]
    assert handover.joined("s") and handover.settled()


def test_a_new_connection_ahead_is_held_until_the_old_one_reaches_it():
    """New 4..6 first (ahead), then old 1..5: 1..6 in order, nothing repeated."""
    events = [("new", "s", k) for k in (4, 5, 6)] + [("old", "s", k) for k in range(1, 6)]
    handover, out = merge(events)
    assert out["s"] == [1, 2, 3, 4, 5, 6]
    assert handover.joined("s")


def test_after_the_join_old_frames_are_dropped():
    """Once joined, what the old connection still sends is not delivered again."""
    events = [("old", "s", 1), ("old", "s", 2), ("new", "s", 2), ("new", "s", 3),
              ("old", "s", 3), ("old", "s", 4), ("new", "s", 4)]
    _, out = merge(events)
    assert out["s"] == [1, 2, 3, 4]


def test_streams_join_independently():
    """Two streams: one joined, one still waiting."""
    events = [("old", "a", 1), ("new", "a", 1), ("old", "b", 1), ("new", "b", 5)]
    handover, out = merge(events)
    assert handover.joined("a") and not handover.joined("b")
    assert handover.waiting() == ["b"] and out == {"a": [1], "b": [1]}


def test_force_switches_the_waiting_streams_and_says_so():
    """force() delivers what the new connection held and lists the stream as unverified."""
    handover = Handover()
    handover.old("b", 1, 1)
    handover.new("b", 5, 5)
    handover.new("b", 6, 6)
    assert handover.force() == [5, 6]
    assert handover.unverified == [("b", "no common frame on both connections")]
    assert handover.new("b", 7, 7) == [7] and handover.old("b", 2, 2) == []


def test_too_many_held_frames_switch_the_stream_over():
    """A stream the old connection stopped delivering is switched after max_held frames."""
    handover = Handover(max_held=3)
    out = []
    for k in range(1, 6):
        out += handover.new("s", k, k)
    assert out == [1, 2, 3, 4, 5] and handover.joined("s")
    assert handover.unverified == [("s", "too many frames held back")]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.integers(1, 60), st.randoms())
def test_any_interleaving_gives_the_stream_once_in_order(old_end, new_start, length, rnd):
    """Old carries 0..old_end, new carries new_start..length-1 (overlapping), interleaved
    at random but each in order: merged, the whole range 0..max once each, in order."""
    new_start = min(new_start, old_end)  # the two overlap: nothing falls between them
    old = [("old", "s", k) for k in range(old_end + 1)]
    new = [("new", "s", k) for k in range(new_start, max(length, old_end + 1))]
    events = []
    while old or new:
        source = old if (old and (not new or rnd.random() < 0.5)) else new
        events.append(source.pop(0))
    handover, out = merge(events)
    top = max(length, old_end + 1)
    assert out.get("s", []) == list(range(top))
    assert handover.joined("s")


def test_random_interleavings_of_two_streams():
    """Two streams, random interleaving, many seeds: both complete and in order."""
    for seed in range(200):
        rnd = random.Random(seed)
        streams = {}
        for name in ("a", "b"):
            end = rnd.randint(5, 20)
            start = rnd.randint(0, end)
            streams[name] = ([("old", name, k) for k in range(end + 1)],
                             [("new", name, k) for k in range(start, end + 10)])
        queues = [q for pair in streams.values() for q in pair]
        events = []
        while any(queues):
            q = rnd.choice([q for q in queues if q])
            events.append(q.pop(0))
        _, out = merge(events)
        for name in ("a", "b"):
            assert out[name] == sorted(set(out[name])) == list(range(len(out[name])))

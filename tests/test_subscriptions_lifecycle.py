"""The subscription lifecycle (exchange_wss._subscriptions) on a fake clock and a fake port."""

from __future__ import annotations

from twisted.internet.task import Clock

from exchange_wss._subscriptions import (
    ACTIVE,
    FAILED,
    GONE,
    REQUESTED,
    RESYNCING,
    SENT,
    UNSUBSCRIBING,
    Subscription,
    SubscriptionSet,
)
from exchange_wss.errors import SubscriptionError
from exchange_wss.orderbook import OrderBook


class FakePort:
    """Records what the set asks of the wire; ``writable``/``bound`` script the answers."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []
        self.reports: list[Exception] = []
        self.changes: list[tuple] = []
        self.reconnects: list[str] = []
        self.writable = True
        self.bound = set()

    def send_subscribe(self, sub: Subscription) -> bool:
        self.sent.append(("subscribe", sub.label))
        return self.writable

    def send_unsubscribe(self, sub: Subscription) -> bool | None:
        if sub.label not in self.bound:
            return None
        self.sent.append(("unsubscribe", sub.label))
        return self.writable

    def reconnect(self, reason: str) -> None:
        self.reconnects.append(reason)

    def report(self, sub: Subscription, error: Exception) -> None:
        self.reports.append(error)

    def changed(self, sub: Subscription, old: str) -> None:
        self.changes.append((sub.label, old, sub.state))


def make(**kw):
    clock, port = Clock(), FakePort()
    return clock, port, SubscriptionSet(port, clock, **kw)


def sub(label: str = "ticker:tBTCUSD", book: bool = False) -> Subscription:
    return Subscription(label, spec=label, book=OrderBook("tBTCUSD") if book else None)


def active(subs: SubscriptionSet, port: FakePort, s: Subscription) -> Subscription:
    subs.add(s)
    subs.confirmed(s)
    port.bound.add(s.label)
    return s


def test_added_while_closed_waits_as_requested():
    """A subscription added before the connection opens is requested and nothing is sent."""
    _, port, subs = make()
    s = sub()
    subs.add(s)
    assert s.state == REQUESTED and port.sent == []


def test_opening_sends_every_wanted_subscription():
    """opened() writes each subscribe and moves them to sent."""
    _, port, subs = make()
    a, b = sub("a"), sub("b")
    subs.add(a)
    subs.add(b)
    subs.opened()
    assert port.sent == [("subscribe", "a"), ("subscribe", "b")]
    assert a.state == b.state == SENT


def test_confirmation_makes_it_active_and_reports_each_change():
    """sent -> active on confirmation; the port hears every transition."""
    _, port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.confirmed(s)
    assert s.state == ACTIVE
    assert port.changes == [(s.label, REQUESTED, SENT), (s.label, SENT, ACTIVE)]


def test_listeners_hear_state_changes():
    """add_listener() callbacks get the subscription on every change."""
    _, _port, subs = make()
    seen = []
    s = sub()
    s.add_listener(lambda x: seen.append(x.state))
    subs.opened()
    subs.add(s)
    subs.confirmed(s)
    assert seen == [SENT, ACTIVE]


def test_unsubscribe_before_the_confirmation_unsubscribes_once_confirmed():
    """remove() while sent sends nothing yet; the confirmation then triggers the unsubscribe."""
    _, port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.remove(s)
    assert s.state == SENT and port.sent == [("subscribe", s.label)]
    port.bound.add(s.label)
    subs.confirmed(s)
    assert s.state == UNSUBSCRIBING and port.sent[-1] == ("unsubscribe", s.label)
    subs.unsubscribed(s)
    assert s.state == GONE and s not in subs


def test_unsubscribe_before_a_refusal_is_simply_gone():
    """remove() while sent, then the server refuses: gone, no retry, no unsubscribe."""
    _, port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.remove(s)
    subs.refused(s, SubscriptionError(10300, "no"))
    assert s.state == GONE and port.sent == [("subscribe", s.label)]


def test_unsubscribe_of_an_active_subscription():
    """remove() while active writes the unsubscribe; the answer makes it gone."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.remove(s)
    assert s.state == UNSUBSCRIBING
    subs.unsubscribed(s)
    assert s.state == GONE


def test_unsubscribe_while_requested_is_gone_at_once():
    """remove() of a subscription never sent: gone, nothing written."""
    _, port, subs = make()
    s = sub()
    subs.add(s)
    subs.remove(s)
    assert s.state == GONE and port.sent == []


def test_a_refusal_is_retried_with_backoff():
    """A refused subscribe is reported and sent again after the retry delay."""
    clock, port, subs = make(retry_delay=lambda n: 2.0 * n)
    subs.opened()
    s = sub()
    subs.add(s)
    subs.refused(s, SubscriptionError(10300, "busy"))
    assert s.state == REQUESTED and len(port.reports) == 1
    clock.advance(1.9)
    assert port.sent == [("subscribe", s.label)]
    clock.advance(0.2)
    assert port.sent == [("subscribe", s.label)] * 2 and s.state == SENT


def test_refusals_beyond_the_bound_fail_the_subscription():
    """After max_attempts refusals the subscription fails, with the reason, and is reported."""
    clock, port, subs = make(max_attempts=3, retry_delay=lambda n: 1.0)
    subs.opened()
    s = sub()
    subs.add(s)
    for _ in range(3):
        subs.refused(s, SubscriptionError(10302, "unknown channel"))
        clock.advance(1)
    assert s.state == FAILED
    assert isinstance(s.error, SubscriptionError)
    assert "gave up after 3 attempts" in str(port.reports[-1])
    assert len(port.sent) == 3


def test_a_failed_subscription_is_tried_again_on_a_new_connection():
    """A new connection gives a failed subscription a fresh set of attempts."""
    _clock, _port, subs = make(max_attempts=1)
    subs.opened()
    s = sub()
    subs.add(s)
    subs.refused(s, SubscriptionError(10300, "no"))
    assert s.state == FAILED
    subs.closed()
    assert s.state == FAILED
    subs.opened()
    assert s.state == SENT


def test_an_unanswered_subscribe_reconnects():
    """No answer within answer_timeout: reported, and the connection is re-opened."""
    clock, port, subs = make(answer_timeout=5)
    subs.opened()
    s = sub()
    subs.add(s)
    clock.advance(5)
    assert port.reconnects and "no answer" in str(port.reports[-1])


def test_an_unanswered_subscribe_fails_after_the_bound():
    """Unanswered subscribes count as attempts; at the bound the subscription fails."""
    clock, _port, subs = make(answer_timeout=5, max_attempts=2)
    subs.opened()
    s = sub()
    subs.add(s)
    clock.advance(5)
    subs.closed()
    subs.opened()
    clock.advance(5)
    assert s.state == FAILED


def test_resync_unsubscribes_then_subscribes_once_confirmed():
    """resync(): unsubscribe first; only the unsubscribed answer sends the new subscribe."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub(book=True))
    s.book.synced = True
    subs.resync(s)
    assert s.state == RESYNCING and not s.synced and s.resyncs == 1
    assert port.sent[-1] == ("unsubscribe", s.label)
    subs.unsubscribed(s)
    assert s.state == SENT and port.sent[-1] == ("subscribe", s.label)


def test_a_refused_resync_unsubscribe_subscribes_anyway():
    """The server refuses the resync's unsubscribe: reported, and subscribed again regardless."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.resync(s)
    subs.unsubscribe_refused(s, SubscriptionError(10401, "not subscribed"))
    assert s.state == SENT and port.sent[-1] == ("subscribe", s.label)
    assert len(port.reports) == 1


def test_an_unanswered_resync_unsubscribe_subscribes_after_the_timeout():
    """No answer to the resync's unsubscribe: after answer_timeout it subscribes again."""
    clock, port, subs = make(answer_timeout=3)
    subs.opened()
    s = active(subs, port, sub())
    subs.resync(s)
    clock.advance(3)
    assert s.state == SENT and port.sent[-1] == ("subscribe", s.label)


def test_resync_of_an_unbound_subscription_subscribes_directly():
    """Nothing bound on the wire: the resync just subscribes again."""
    _, port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.confirmed(s)
    subs.resync(s)
    assert s.state == SENT and port.sent[-1] == ("subscribe", s.label)


def test_unsubscribe_during_a_resync_ends_gone():
    """remove() while resyncing: the unsubscribed answer makes it gone, no new subscribe."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.resync(s)
    subs.remove(s)
    subs.unsubscribed(s)
    assert s.state == GONE and port.sent[-1] == ("unsubscribe", s.label)


def test_a_second_resync_while_resyncing_is_ignored():
    """Two mismatches in a row send one unsubscribe."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.resync(s)
    subs.resync(s)
    assert port.sent.count(("unsubscribe", s.label)) == 1 and s.resyncs == 1


def test_closing_returns_wanted_subscriptions_to_requested():
    """closed(): wanted ones wait for the next connection, unwanted ones are gone, books
    unsynced."""
    _, port, subs = make()
    subs.opened()
    keep = active(subs, port, sub("keep", book=True))
    keep.book.synced = True
    leaving = active(subs, port, sub("leaving"))
    subs.remove(leaving)
    subs.closed()
    assert keep.state == REQUESTED and not keep.synced
    assert leaving.state == GONE and leaving not in subs


def test_a_subscribe_the_connection_refuses_stays_requested():
    """The transport did not take the bytes (closing): it stays requested for the next open."""
    _, port, subs = make()
    port.writable = False
    subs.opened()
    s = sub()
    subs.add(s)
    assert s.state == REQUESTED


def test_an_unsubscribe_the_connection_refuses_is_gone():
    """An unsubscribe the closing connection would not take: gone (the server forgets it on
    close)."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    port.writable = False
    subs.remove(s)
    assert s.state == GONE


def test_answers_in_the_wrong_state_change_nothing():
    """A confirmation, refusal or unsubscribed nobody waits for is ignored."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.confirmed(s)
    subs.refused(s, SubscriptionError(1, "x"))
    subs.unsubscribed(s)
    assert s.state == ACTIVE and port.reports == []


def test_rotation_keeps_active_subscriptions_active():
    """opened(rotation=True) subscribes on the new connection without leaving active."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.opened(rotation=True)
    assert s.state == ACTIVE and port.sent.count(("subscribe", s.label)) == 2


def test_stop_makes_everything_gone_and_cancels_timers():
    """stop(): all gone, no timer left."""
    clock, _port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.stop()
    assert s.state == GONE and clock.getDelayedCalls() == []


def test_handle_unsubscribe_calls_its_owner():
    """Subscription.unsubscribe() calls the function it was made with."""
    got = []
    s = Subscription("x", "x", unsubscribe=got.append)
    s.unsubscribe()
    assert got == [s] and str(s) == "x"


def test_a_duplicate_refusal_reconnects_for_a_clean_slate():
    """"Already subscribed" means the server still carries it unbound: reported, and the
    connection is re-opened rather than retrying a subscribe that cannot succeed."""
    _, port, subs = make()
    subs.opened()
    s = sub()
    subs.add(s)
    subs.refused(s, SubscriptionError(10301, "subscribe: dup"), duplicate=True)
    assert port.reconnects and s.state == REQUESTED and len(port.sent) == 1


def test_duplicate_refusals_beyond_the_bound_fail():
    """Duplicate refusals count as attempts: at the bound the subscription fails, no
    more reconnects."""
    _, port, subs = make(max_attempts=2)
    subs.opened()
    s = sub()
    subs.add(s)
    subs.refused(s, SubscriptionError(10301, "dup"), duplicate=True)
    subs.closed()
    subs.opened()
    subs.refused(s, SubscriptionError(10301, "dup"), duplicate=True)
    assert s.state == FAILED and len(port.reconnects) == 1


def test_a_refused_unsubscribe_is_tried_again():
    """The server may still carry it: the unsubscribe is sent again after the retry delay."""
    clock, port, subs = make(retry_delay=lambda n: 1.0)
    subs.opened()
    s = active(subs, port, sub())
    subs.remove(s)
    subs.unsubscribe_refused(s, SubscriptionError(10400, "failed"))
    assert s.state == UNSUBSCRIBING and port.sent.count(("unsubscribe", s.label)) == 1
    clock.advance(1)
    assert port.sent.count(("unsubscribe", s.label)) == 2


def test_a_refused_unsubscribe_that_says_not_subscribed_is_gone():
    """"Not subscribed": nothing left on the server, so it is gone at once."""
    _, port, subs = make()
    subs.opened()
    s = active(subs, port, sub())
    subs.remove(s)
    subs.unsubscribe_refused(s, SubscriptionError(10401, "not subscribed"), gone=True)
    assert s.state == GONE


def test_unsubscribes_refused_beyond_the_bound_reconnect():
    """Refused again and again: the connection is re-opened, which ends the channel."""
    clock, port, subs = make(max_attempts=2, retry_delay=lambda n: 1.0)
    subs.opened()
    s = active(subs, port, sub())
    subs.remove(s)
    subs.unsubscribe_refused(s, SubscriptionError(10400, "failed"))
    clock.advance(1)
    subs.unsubscribe_refused(s, SubscriptionError(10400, "failed"))
    assert port.reconnects
    subs.closed()
    assert s.state == GONE

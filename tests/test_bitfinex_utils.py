"""Tests for exchange_wss.bitfinex.utils: symbols, cids, nonces and the auth signature."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import threading
import time
import uuid

import pytest

from exchange_wss import utils as public_utils
from exchange_wss.bitfinex.utils import (
    MAX_NONCE,
    CidGenerator,
    NonceGenerator,
    auth_signature,
    cid_to_date,
    create_cid,
    order_symbol,
)
from exchange_wss.errors import LocalProtocolError


def fresh_key():
    """An API key no other test has used (the nonce registry is process-wide)."""
    return "key-" + uuid.uuid4().hex


# ------------------------------------------------------------------------ symbols

@pytest.mark.parametrize(("given_symbol", "expected"), [
    ("BTCUSD", "tBTCUSD"), ("btcusd", "tBTCUSD"), ("tBTCUSD", "tBTCUSD"), ("fUSD", "fUSD"),
    ("tBTCF0:USTF0", "tBTCF0:USTF0"), ("BTCF0:USTF0", "tBTCF0:USTF0"),
    ("TESTBTC:TESTUSD", "tTESTBTC:TESTUSD"),
])
def test_order_symbol(given_symbol, expected):
    """Unprefixed symbols get the t prefix; t/f-prefixed ones are left alone."""
    assert order_symbol(given_symbol) == expected


@pytest.mark.parametrize("bad", ["", "   ", None, 42])
def test_order_symbol_refuses_empty(bad):
    """An empty or non-string symbol is a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        order_symbol(bad)


def test_public_utils_reexports():
    """exchange_wss.utils exposes cid_to_date, create_cid and order_symbol."""
    assert public_utils.cid_to_date is cid_to_date
    assert public_utils.create_cid is create_cid
    assert public_utils.order_symbol is order_symbol
    assert set(public_utils.__all__) == {"cid_to_date", "create_cid", "order_symbol"}


# --------------------------------------------------------------------------- cids

def test_create_cid_is_a_ms_timestamp():
    """A cid is the current time in ms (within a second) and fits int45."""
    cid = create_cid()
    assert abs(cid - time.time() * 1000) < 1000
    assert cid < 2 ** 45


def test_cid_increments_when_clock_stands_still():
    """With a frozen clock, consecutive cids are last+1."""
    gen = CidGenerator(time_fn=lambda: 1582304782.748)
    assert [gen() for _ in range(3)] == [1582304782748, 1582304782749, 1582304782750]


def test_cid_never_goes_back_with_the_clock():
    """A clock stepping backwards still yields increasing cids."""
    times = iter([100.0, 50.0, 100.002])
    gen = CidGenerator(time_fn=lambda: next(times))
    assert [gen(), gen(), gen()] == [100000, 100001, 100002]


def test_cids_unique_and_increasing_across_threads():
    """Eight threads drawing cids at once get unique ids, increasing within each thread."""
    gen = CidGenerator(time_fn=lambda: 1700000000.0)
    results = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def draw(out):
        barrier.wait()
        for _ in range(2000):
            out.append(gen())

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [c for out in results for c in out]
    assert len(set(every)) == len(every) == 16000
    assert all(out == sorted(out) and len(set(out)) == len(out) for out in results)
    assert sorted(every) == list(range(1700000000000, 1700000016000))


def test_module_create_cid_strictly_increasing():
    """The module-level create_cid never repeats, even when called in a tight loop."""
    cids = [create_cid() for _ in range(5000)]
    assert all(b > a for a, b in itertools.pairwise(cids))


def test_cid_to_date_is_utc():
    """cid_to_date gives the UTC day of the cid's ms timestamp."""
    assert cid_to_date(1582304782748) == "2020-02-21"
    assert cid_to_date(1582329599999) == "2020-02-21"
    assert cid_to_date(1582329600000) == "2020-02-22"


def test_cid_to_date_refuses_non_int():
    """cid_to_date needs an int cid."""
    with pytest.raises(LocalProtocolError):
        cid_to_date("1582304782748")


# ------------------------------------------------------------------------- nonces

def test_nonce_is_microseconds():
    """The nonce is time * 1e6 (times the multiplier)."""
    assert NonceGenerator(fresh_key(), time_fn=lambda: 1582304782.748)() == 1582304782748000
    gen = NonceGenerator(fresh_key(), multiplier=2, time_fn=lambda: 1582304782.748)
    assert gen() == 3164609565496000


def test_nonce_strictly_increasing_with_frozen_clock():
    """With a frozen clock each nonce is the previous one plus one."""
    gen = NonceGenerator(fresh_key(), time_fn=lambda: 1000.0)
    assert [gen(), gen(), gen()] == [1000000000, 1000000001, 1000000002]


def test_nonce_shared_per_key_across_generators():
    """Two generators on one key never hand out the same or a smaller nonce."""
    key = fresh_key()
    a = NonceGenerator(key, time_fn=lambda: 1000.0)
    b = NonceGenerator(key, time_fn=lambda: 999.0)  # a slower clock on the same key
    assert [a(), b(), a(), b()] == [1000000000, 1000000001, 1000000002, 1000000003]


def test_nonce_next_takes_the_key_per_call():
    """next(key) uses the given key, so one generator can serve several keys."""
    k1, k2 = fresh_key(), fresh_key()
    gen = NonceGenerator(time_fn=lambda: 1000.0)
    assert [gen.next(k1), gen.next(k1), gen.next(k2)] == [1000000000, 1000000001, 1000000000]
    assert gen.last(k1) == 1000000001


def test_nonce_independent_between_keys():
    """Different keys have their own counters."""
    a = NonceGenerator(fresh_key(), time_fn=lambda: 1000.0)
    b = NonceGenerator(fresh_key(), time_fn=lambda: 1000.0)
    assert a() == b() == 1000000000


def test_nonce_unique_across_threads():
    """Generators on one key used from many threads never repeat a nonce."""
    key = fresh_key()
    results = []
    lock = threading.Lock()

    def draw():
        gen = NonceGenerator(key, time_fn=lambda: 1000.0)
        got = [gen() for _ in range(1000)]
        with lock:
            results.extend(got)

    threads = [threading.Thread(target=draw) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 8000


def test_nonce_cap():
    """A nonce above 9007199254740991 raises LocalProtocolError; the cap itself is allowed."""
    at_cap = NonceGenerator(fresh_key(), multiplier=1e-6,
                            time_fn=lambda: float(MAX_NONCE))
    assert at_cap() == MAX_NONCE
    with pytest.raises(LocalProtocolError):
        at_cap()
    with pytest.raises(LocalProtocolError):
        NonceGenerator(fresh_key(), multiplier=10000, time_fn=lambda: 1.7e9)()


def test_nonce_needs_a_key():
    """A nonce without any API key is refused."""
    with pytest.raises(LocalProtocolError):
        NonceGenerator()()


# ---------------------------------------------------------------------- signature

def test_auth_signature_rfc4231_vector():
    """HMAC-SHA384 matches RFC 4231 test case 2 (key "Jefe")."""
    assert auth_signature("Jefe", "what do ya want for nothing?") == (
        "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
        "8e2240ca5e69e2c78b3239ecfab21649")


def test_auth_signature_of_auth_payload():
    """The signature of an AUTH payload equals the hex openssl gives for it."""
    # printf 'AUTH1582304782748000' | openssl dgst -sha384 -hmac 'test-secret-do-not-use'
    assert auth_signature("test-secret-do-not-use", "AUTH1582304782748000") == (
        "97f58805ea1e05f4277e59049993ca6a2cefffa4d862fcd4fa505409ae3c29b5"
        "6c93142e0fc42601c3409f71bda9bc96")


def test_auth_signature_is_hmac_sha384_hex():
    """The signature is the lower-case hex digest of HMAC-SHA384 (96 characters)."""
    sig = auth_signature("s", "AUTH1")
    assert sig == hmac.new(b"s", b"AUTH1", hashlib.sha384).hexdigest()
    assert len(sig) == 96 and sig == sig.lower()

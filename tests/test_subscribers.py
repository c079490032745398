"""The in-memory subscriber store (the HA's embedded AAA): SQN_HE kept in place."""

from __future__ import annotations

import gc
import tracemalloc

from dsmip6 import eap
from dsmip6.aka import next_sqn
from dsmip6.sim import pki

RAND = bytes(range(16))


def _store(n: int) -> eap.InMemorySubscriberStore:
    store = eap.InMemorySubscriberStore()
    for i in range(n):
        k, opc = pki.subscriber_keys(i)
        store.add(eap.Subscriber(pki.imsi(i), k, opc, apns=("internet",)))
    return store


def test_sqn_advances_per_vector_and_records_report_it():
    store = _store(3)
    imsi = pki.imsi(1)
    first = store.subscriber(imsi)
    assert first is not None and first.sqn == 0
    sqns = [store.authentication_vector(imsi, RAND).sqn for _ in range(4)]  # type: ignore[union-attr]
    want, expect = 0, []
    for _ in range(4):
        want = next_sqn(want, store.ind_bits)
        expect.append(want)
    assert sqns == expect
    now = store.subscriber(imsi)
    assert now is not None and now.sqn == expect[-1]
    # every other field is the added record's, and the other subscribers did not move
    assert (now.imsi, now.k, now.opc, now.amf, now.apns) == (
        first.imsi, first.k, first.opc, first.amf, first.apns)  # fmt: skip
    assert store.subscriber(pki.imsi(0)).sqn == 0  # type: ignore[union-attr]
    assert store.subscriber(pki.imsi(2)) is store.subscriber(pki.imsi(2))  # unchanged: as added


def test_add_replace_remove_and_slot_reuse():
    store = _store(2)
    a, b = pki.imsi(0), pki.imsi(1)
    store.authentication_vector(a, RAND)
    store.authentication_vector(b, RAND)
    k, opc = pki.subscriber_keys(0)
    store.add(eap.Subscriber(a, k, opc, sqn=1000 << 5))  # replace: SQN_HE from the record
    assert store.subscriber(a).sqn == 1000 << 5  # type: ignore[union-attr]
    assert store.authentication_vector(a, RAND).sqn == next_sqn(1000 << 5, 5)  # type: ignore[union-attr]
    store.remove(b)
    assert store.subscriber(b) is None and store.authentication_vector(b, RAND) is None
    assert len(store) == 1
    k2, opc2 = pki.subscriber_keys(7)
    store.add(eap.Subscriber(pki.imsi(7), k2, opc2))  # takes b's slot, from its own SQN
    assert store.subscriber(pki.imsi(7)).sqn == 0  # type: ignore[union-attr]
    assert len(store._sqn) == 2  # the freed slot was reused
    assert store.subscriber(a).sqn == next_sqn(1000 << 5, 5)  # type: ignore[union-attr]


def test_authentication_allocates_nothing_the_store_keeps():
    """Built before tracing starts (as the HA's memory benchmark does): vectors for every
    subscriber leave no traced memory behind in the store (the old layout replaced each
    record, so the new one was traced and its untraced predecessor's release was not)."""
    n = 200
    store = _store(n)
    for i in range(n):  # warm: the slots' SQNs no longer equal the records'
        store.authentication_vector(pki.imsi(i), RAND)
    gc.collect()
    tracemalloc.start(4)
    try:
        before = tracemalloc.take_snapshot()
        for i in range(n):
            assert store.authentication_vector(pki.imsi(i), RAND) is not None
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    kept = sum(
        s.size_diff
        for s in after.compare_to(before, "traceback")
        if any(f.filename.endswith("eap/_subscribers.py") for f in s.traceback)
    )
    assert kept <= 0, f"{kept} octets kept per {n} vectors"


def _inline_sqn_differs(store: eap.InMemorySubscriberStore, starts: list[int]) -> int:
    """How many SQN_HE steps of the store differ from ``aka.next_sqn`` (which the store's
    ``authentication_vector`` writes out)."""
    k, opc = pki.subscriber_keys(0)
    differ = 0
    for sqn in starts:
        store.add(eap.Subscriber(pki.imsi(0), k, opc, sqn=sqn))
        got = store.authentication_vector(pki.imsi(0), RAND)
        differ += got is None or got.sqn != next_sqn(sqn, store.ind_bits)
    return differ


def test_inline_sqn_step_equals_next_sqn_and_refuses_exhaustion():
    """SEQ + 1 and IND + 1 mod 2^IND (TS 33.102 Annex C.3.2) for IND lengths 0, 5 and 16,
    at IND wrap-around and near the top of the 48-bit range; exhaustion raises the
    ``ConfigError`` of ``next_sqn`` and leaves SQN_HE where it was."""
    import random

    import pytest
    from dsmip6.errors import ConfigError

    rnd = random.Random(3)
    for ind_bits in (0, 5, 16):
        store = eap.InMemorySubscriberStore(ind_bits=ind_bits)
        mask = (1 << ind_bits) - 1
        top = ((1 << 48) - 1) >> ind_bits << ind_bits  # the last SEQ
        starts = [0, 1, mask, mask - 1 if mask else 0, top - (1 << ind_bits), top - 1]
        starts += [rnd.getrandbits(47) for _ in range(200)]
        assert _inline_sqn_differs(store, starts) == 0
        k, opc = pki.subscriber_keys(0)
        store.add(eap.Subscriber(pki.imsi(0), k, opc, sqn=top | mask))
        with pytest.raises(ConfigError):
            next_sqn(top | mask, ind_bits)
        with pytest.raises(ConfigError):
            store.authentication_vector(pki.imsi(0), RAND)
        assert store.subscriber(pki.imsi(0)).sqn == top | mask  # type: ignore[union-attr]


def test_inline_sqn_planted_off_by_one_is_caught(monkeypatch):
    """A store whose SQN step forgets the IND increment is seen by the comparison."""
    store = eap.InMemorySubscriberStore()
    real = eap.InMemorySubscriberStore.authentication_vector

    def no_ind(self, imsi, rand):
        entry = self._subs[imsi]
        self._sqn[entry[2]] = ((self._sqn[entry[2]] >> 5) << 5) | 31  # next: IND 0, SEQ + 1
        return real(self, imsi, rand)

    monkeypatch.setattr(eap.InMemorySubscriberStore, "authentication_vector", no_ind)
    assert _inline_sqn_differs(store, [0, 1, 5 << 5]) > 0


def _store_vectors_differ(store: eap.InMemorySubscriberStore, ind_bits: int) -> int:
    """How many of the store's vectors differ from ``aka.generate_vector`` with the same
    Milenage, SQN, AMF and RAND (the store writes its usual case out)."""
    import random

    from dsmip6.aka import Milenage, generate_vector

    rnd = random.Random(11)
    differ = 0
    for n in range(60):
        k, opc = rnd.randbytes(16), rnd.randbytes(16)
        amf = (b"\x80\x00", b"\x00\x00", rnd.randbytes(2), bytearray(b"\x91\x02"))[n % 4]
        sqn = (0, (1 << 47) - 1, rnd.getrandbits(40) << ind_bits)[n % 3]
        store.add(eap.Subscriber(pki.imsi(n), k, opc, sqn=sqn, amf=amf))
        rand = rnd.randbytes(16) if n % 5 else bytearray(rnd.randbytes(16))
        got = store.authentication_vector(pki.imsi(n), rand)
        want = generate_vector(Milenage(k, opc=opc), next_sqn(sqn, ind_bits), amf, rand)
        differ += got != want or type(got.rand) is not bytes  # type: ignore[union-attr]
    return differ


def test_store_vector_equals_generate_vector():
    """The store's vectors (RAND and AMF as ``bytes`` written out, others through
    ``generate_vector``) equal ``generate_vector``'s, for IND lengths 0 and 5."""
    for ind_bits in (0, 5):
        assert _store_vectors_differ(eap.InMemorySubscriberStore(ind_bits=ind_bits), ind_bits) == 0


def test_store_vector_planted_swap_is_caught(monkeypatch):
    """A store that swaps CK and IK in its written-out case is seen by the comparison."""
    from dsmip6.eap import _subscribers

    real = _subscribers._vector
    monkeypatch.setattr(
        _subscribers, "_vector", lambda r, x, ck, ik, a, s: real(r, x, ik, ck, a, s)
    )
    assert _store_vectors_differ(eap.InMemorySubscriberStore(), 5) > 0

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

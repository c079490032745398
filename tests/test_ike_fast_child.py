"""The responder's CREATE_CHILD_SA fast path (``dsmip6.ikev2._fast_child``) against its
general path.

As in ``test_ike_fastpath.py``: twin responders built alike (same config, same rng seed, same
clock), one with ``fast_path`` on and one with it off, are driven through a handshake and the
attach's CREATE_CHILD_SA for the HoA-keyed MH transport SA (RFC 5026 §5.3.2, RFC 4877), and
must send the same octets, emit the same events and hold the same state after every round
(every IKE SA field and child SA, the exchange manager, the engine's tables, the position of
the injected rng). Then a corpus of mutated CREATE_CHILD_SA requests (re-sealed with the UE's
keys so that they reach the payload checks), the uncommon requests the fast path leaves to
the general path (PFS, child and IKE rekeys, a selector policy refusing), and a planted
divergence the comparison must catch.
"""

from __future__ import annotations

from typing import Any

import pytest
from dsmip6.ikev2 import ChildSaEstablished, IkeSaEstablished
from dsmip6.ikev2.message import TrafficSelector
from ike_harness import HA, HA6, HOME_PREFIX, UE, events
from test_ike_fastpath import _plain, initiator, responder, snapshot

_MH = 135  # RFC 4877 §7: the MH transport SA's selectors carry protocol 135
HOA = HOME_PREFIX[7]

_SAVED_TS: list[Any] = []


@pytest.fixture(autouse=True)
def same_selector_tables():
    """A parked SA's record refers to selector lists seen in two children by an index in a
    process-wide table (``sa._TS_TABLE``), so its octets depend on what the process parked
    before. Every twin run starts from the tables as they were when the test began (the runs
    then park alike), and the test leaves them as it found them."""
    from dsmip6.ikev2 import sa as sa_mod

    _SAVED_TS[:] = [list(sa_mod._TS_TABLE), dict(sa_mod._TS_INDEX), dict(sa_mod._TS_SEEN)]
    yield
    _restore_ts()
    _SAVED_TS.clear()


def _restore_ts() -> None:
    from dsmip6.ikev2 import sa as sa_mod

    table, index, seen = _SAVED_TS
    sa_mod._TS_TABLE[:] = table
    for live, saved in ((sa_mod._TS_INDEX, index), (sa_mod._TS_SEEN, seen)):
        live.clear()
        live.update(saved)


def _exchange(ue: Any, ha: Any, now: float, nat: Any = None) -> tuple[list, list, list]:
    """Run UE ⇄ HA until quiet; the HA's datagrams, events and snapshots per round."""
    sent, evs, snaps = [], [], []
    for _ in range(12):
        out = ue.datagrams_to_send(now)
        if not out:
            break
        for d, lo, r in out:
            if nat is not None:  # through a NAT to port 4500 (RFC 7296 §2.23)
                d, lo, r = b"\x00" * 4 + d, nat, (r[0], 4500)
            ha.receive_datagram(d, lo, r, now)
        back = ha.datagrams_to_send(now)
        sent.append(back)
        evs.append(events(ha))
        snaps.append(snapshot(ha))
        for d, lo, r in back:
            if nat is not None:
                d, lo, r = d[4:], r, UE
            ue.receive_datagram(d, lo, r, now)
    return sent, evs, snaps


def established(kind: str, fast: bool, ue_kw: dict, ha_kw: dict, park_hold: float) -> Any:
    _restore_ts()
    ue, ha = initiator(kind, **ue_kw), responder(kind, fast, **ha_kw)
    ha.park_hold = park_hold  # the HA keeps a new SA unparked for its CREATE_CHILD_SA
    ue.connect(UE, HA, 0.0)
    _sent, evs, _snaps = _exchange(ue, ha, 0.0)
    assert any(isinstance(e, IkeSaEstablished) for r in evs for e in r)
    events(ue)
    return ue, ha


def attach_child(
    kind: str,
    fast: bool,
    ue_kw: dict | None = None,
    ha_kw: dict | None = None,
    *,
    park_hold: float = 5.0,
    mode: str = "transport",
    children: int = 1,
    nat: Any = None,
) -> Any:
    """A handshake, then ``children`` CREATE_CHILD_SA exchanges for MH SAs of the HoA."""
    ue, ha = established(kind, fast, ue_kw or {}, ha_kw or {}, park_hold)
    out = []
    for k in range(children):
        now = 1.0 + k
        tsi = TrafficSelector(HOA + k, HOA + k, _MH)
        ue.create_child_sa(tsi, TrafficSelector(HA6, HA6, _MH), mode=mode, now=now)
        out.append(_exchange(ue, ha, now, nat))
    return out, ha, ue


CASES = {
    "psk": ("psk", {}, {}, {}),
    "eap-aka": ("eap", {}, {}, {}),
    "eap-aka-parked": ("eap", {}, {}, {"park_hold": 0.0}),  # thawed for the request
    "psk-cbc-sha256": (
        "psk",
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
        {"proposals": ["aes128-sha256-ecp256"], "child_proposals": ["aes128-sha256"]},
        {},
    ),
    "psk-second-child-proposal": (
        "psk",
        {"child_proposals": ["aes256gcm16", "aes128gcm16"]},
        {"child_proposals": ["aes128gcm16"]},
        {},
    ),
    "psk-tunnel-mode": ("psk", {}, {}, {"mode": "tunnel"}),
    "psk-three-children": ("psk", {}, {}, {"children": 3}),
    "eap-aka-nat": ("eap", {}, {}, {"nat": ("203.0.113.7", 4500)}),
    "eap-aka-prime": ("eap-prime", {}, {}, {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_path_equals_general_path_over_the_attach(case):
    kind, ue_kw, ha_kw, kw = CASES[case]
    fast = attach_child(kind, True, ue_kw, ha_kw, **kw)
    slow = attach_child(kind, False, ue_kw, ha_kw, **kw)
    assert fast[1].fast_child_hits == kw.get("children", 1)
    assert slow[1].fast_child_hits == 0
    assert fast[0] == slow[0]  # datagrams, events, snapshots of every round
    got = [e for ex in fast[0] for r in ex[1] for e in r if isinstance(e, ChildSaEstablished)]
    assert len(got) == kw.get("children", 1)
    assert got[0].child.mode == kw.get("mode", "transport")
    # and the UE accepted each answer: its child SA mirrors the HA's
    ue_children = [e for e in events(fast[2]) if isinstance(e, ChildSaEstablished)]
    assert [c.child.spi_in for c in ue_children] == [e.child.spi_out for e in got]


# ------------------------------------------------------------------------------ uncommon cases
def _no_ts(ts_i: Any, ts_r: Any, assignment: Any) -> None:
    return None


UNCOMMON = {
    # the UE wants PFS and the HA accepts it: a KE payload, left to the general path
    "pfs-ke": (
        {"child_proposals": ["aes128gcm16-x25519"]},
        {"child_proposals": ["aes128gcm16-x25519"]},
        0,
    ),
    # the HA lists a PFS group, the UE offers no DH transform and no KE: ``choose_child``
    # accepts the proposal without PFS on both paths (the fast path answers)
    "ha-lists-pfs": ({}, {"child_proposals": ["aes128gcm16-x25519"]}, 1),
    # no proposal in common: NO_PROPOSAL_CHOSEN on the general path
    "no-proposal": ({"child_proposals": ["aes256gcm16"]}, {"child_proposals": ["aes128gcm16"]}, 0),
    # the selector policy refuses: answered on the fast path like ChildCreate (TS_UNACCEPTABLE)
    "ts-refused": ({}, {"ts_policy": _no_ts}, 1),
}


@pytest.mark.parametrize("what", sorted(UNCOMMON))
def test_uncommon_outcomes_equal_the_general_path(what):
    ue_kw, ha_kw, hits = UNCOMMON[what]
    fast = attach_child("psk", True, ue_kw, ha_kw)
    slow = attach_child("psk", False, ue_kw, ha_kw)
    assert fast[1].fast_child_hits == hits
    assert fast[0] == slow[0]


def _rekeys(fast: bool, ike: bool) -> Any:
    _out, ha, ue = attach_child("psk", fast)
    if ike:
        ue.rekey_ike_sa(now=3.0)
    else:
        spi = max(ue.children)  # one of its child SAs (IKE_AUTH's and the MH one)
        ue.rekey_child_sa(spi, now=3.0)
    return _exchange(ue, ha, 3.0), ha


@pytest.mark.parametrize("ike", [False, True])
def test_rekeys_take_the_general_path(ike):
    fast, ha_f = _rekeys(True, ike)
    slow, _ha_s = _rekeys(False, ike)
    assert ha_f.fast_child_hits == 1  # the attach's request only
    assert fast == slow
    assert fast[0]


# ------------------------------------------------------------------------------ mutations
def _chain(inner: bytes, first: int) -> list[tuple[int, int, bytes]]:
    out, off, nxt = [], 0, first
    while nxt:
        this, nxt, flags = nxt, inner[off], inner[off + 1]
        length = int.from_bytes(inner[off + 2 : off + 4], "big")
        out.append((this, flags, inner[off + 4 : off + length]))
        off += length
    return out


def _join(items: list[tuple[int, int, bytes]]) -> tuple[int, bytes]:
    body = b""
    for i, (_t, flags, b) in enumerate(items):
        nx = items[i + 1][0] if i + 1 < len(items) else 0
        body += bytes([nx, flags]) + (4 + len(b)).to_bytes(2, "big") + b
    return (items[0][0] if items else 0), body


def _variants(first: int, inner: bytes) -> list[tuple[int, bytes]]:
    """Inner chains of the CREATE_CHILD_SA request: bit flips of every octet, truncations,
    payloads dropped, doubled, reordered, critical bits, and extra payloads (KE, N(REKEY_SA),
    other notifies, Vendor ID, unknown ones with and without the critical bit)."""
    out: list[tuple[int, bytes]] = []
    for i in range(len(inner)):
        for x in (0x01, 0x02, 0x10, 0x80, 0xFF):
            b = bytearray(inner)
            b[i] ^= x
            out.append((first, bytes(b)))
    for n in range(0, len(inner), 3):
        out.append((first, inner[:n]))
    chain = _chain(inner, first)
    assert [t for t, _f, _b in chain] == [41, 33, 40, 44, 45]  # N, SA, Ni, TSi, TSr
    for i in range(len(chain)):
        out.append(_join(chain[:i] + chain[i + 1 :]))  # dropped
        out.append(_join(chain[: i + 1] + chain[i:]))  # doubled
        t, f, b = chain[i]
        out.append(_join(chain[:i] + [(t, f | 0x80, b)] + chain[i + 1 :]))  # critical bit
        out.append(_join(chain[i:] + chain[:i]))  # rotated
    for extra in (
        (34, 0, bytes([0, 31, 0, 0]) + bytes(32)),  # KE (Curve25519, all zero)
        (41, 0, bytes([3, 4, 0x40, 0x09]) + bytes(4)),  # N(REKEY_SA), ESP, an SPI
        (41, 0, bytes([0, 0, 0x40, 0x0A])),  # N(ESP_TFC_PADDING_NOT_SUPPORTED) (charon's)
        (41, 0, bytes([0, 0, 0x40, 0x0B])),  # N(NON_FIRST_FRAGMENTS_ALSO) (charon's)
        (41, 0, bytes([0, 0, 0x40, 0x0A, 1])),  # ... with data
        (41, 0, bytes([0, 0, 0x40, 0x0C])),  # N(MOBIKE_SUPPORTED): not in a child request
        (41, 0, bytes([0, 0, 0x40, 0x07])),  # a second USE_TRANSPORT_MODE
        (41, 0, bytes([0, 0, 0x00, 0x0E])),  # an error notify
        (43, 0, b"vendor"),
        (200, 0, b"x"),
        (200, 0x80, b"x"),
        (39, 0, bytes([2, 0, 0, 0]) + bytes(32)),  # AUTH: not allowed here
    ):
        out.append(_join([*chain, extra]))
        out.append(_join([extra, *chain]))
    out.append((0, b""))  # SK with nothing inside
    return out


def _at_child_request(fast: bool, kind: str = "psk", **ha_kw: Any) -> Any:
    """UE and HA established; the UE holds its CREATE_CHILD_SA request (not yet sent)."""
    ue, ha = established(kind, fast, {}, ha_kw, 5.0)
    ue.create_child_sa(
        TrafficSelector(HOA, HOA, _MH), TrafficSelector(HA6, HA6, _MH), mode="transport", now=1.0
    )
    ((req, _lo, _r),) = ue.datagrams_to_send(1.0)
    assert req[18] == 36
    return ue, ha, req


def _feed(fast: bool, datagrams: list[tuple[bytes, Any, Any]], kind: str = "psk") -> Any:
    _ue, ha, _req = _at_child_request(fast, kind)
    out = []
    for d, src, dst in datagrams:
        ha.receive_datagram(d, src, dst, 1.0)
        out.append(ha.datagrams_to_send(1.0))
    return out, events(ha), snapshot(ha), ha.fast_child_hits


def _both(datagrams: list[tuple[bytes, Any, Any]], kind: str = "psk") -> int:
    fast, slow = _feed(True, datagrams, kind), _feed(False, datagrams, kind)
    assert fast[:3] == slow[:3]
    assert slow[3] == 0
    return fast[3]


def _sealer(kind: str = "psk") -> Any:
    ue, ha, req = _at_child_request(False, kind)
    (sa,) = ha._sas.values()
    inner = sa.sk.open(req, 28)
    (ue_sa,) = ue._sas.values()

    def seal(first: int, body: bytes, head: bytes = req[:28]) -> bytes:
        return ue_sa.sk.seal(head[:16] + bytes([46]) + head[17:], first, body)

    return req[28], inner, seal, req


def test_the_common_request_retransmitted_and_from_elsewhere():
    _f, _i, _s, req = _sealer()
    assert _both([(req, UE, HA)]) == 1
    # the retransmission is answered from the response cache by the general path
    assert _both([(req, UE, HA), (req, UE, HA)]) == 1
    assert _both([(req, ("192.0.2.99", 500), HA)]) == 1
    assert _both([(b"\x00" * 4 + req, ("203.0.113.7", 4500), (HA[0], 4500))]) == 1


def test_charon_style_notifies_stay_on_the_fast_path():
    """strongSwan puts N(ESP_TFC_PADDING_NOT_SUPPORTED) and N(NON_FIRST_FRAGMENTS_ALSO) in its
    child requests; both paths ignore them. A repeated one, or one with data, falls back."""
    first, inner, seal, _req = _sealer()
    chain = _chain(inner, first)
    tfc, nff = (41, 0, bytes([0, 0, 0x40, 0x0A])), (41, 0, bytes([0, 0, 0x40, 0x0B]))
    assert _both([(seal(*_join([*chain, tfc, nff])), UE, HA)]) == 1
    assert _both([(seal(*_join([tfc, nff, *chain])), UE, HA)]) == 1
    assert _both([(seal(*_join([*chain, tfc, tfc])), UE, HA)]) == 0
    assert _both([(seal(*_join([*chain, (41, 0, tfc[2] + b"x")])), UE, HA)]) == 0


def test_selectors_the_response_cannot_echo():
    """The fast path echoes the request's TS octets only when encoding the kept selectors
    gives them back: a nonzero RESERVED octet or an unknown selector type (skipped by the
    decoder) is answered with freshly encoded selectors, as on the general path."""
    first, inner, seal, _req = _sealer()
    chain = _chain(inner, first)
    (i_tsi,) = [i for i, c in enumerate(chain) if c[0] == 44]
    (i_tsr,) = [i for i, c in enumerate(chain) if c[0] == 45]
    unknown_sel = bytes([250, 0, 0, 8, 0, 0, 0xFF, 0xFF])
    for i in (i_tsi, i_tsr):
        t, f, body = chain[i]
        for new in (
            body[:1] + b"\x01" + body[2:],  # RESERVED
            bytes([body[0] + 1]) + body[1:] + unknown_sel,  # plus an unknown selector type
        ):
            variant = chain[:i] + [(t, f, new)] + chain[i + 1 :]
            assert _both([(seal(*_join(variant)), UE, HA)]) == 1


@pytest.mark.parametrize("kind", ["psk", "eap"])
def test_mutated_child_requests_give_identical_results_on_both_paths(kind):
    first, inner, seal, req = _sealer(kind)
    assert first == 41
    corpus = [seal(f, body) for f, body in _variants(first, inner)]
    for i in range(16, 32):  # header and SK header octets (no longer authentic, or dropped)
        for x in (0x01, 0x08, 0x20, 0x80):
            b = bytearray(req)
            b[i] ^= x
            corpus.append(bytes(b))
    old = bytearray(req[:28])  # a Message ID behind and one ahead of the window
    old[20:24] = (int.from_bytes(req[20:24], "big") - 1).to_bytes(4, "big")
    corpus.append(seal(first, inner, bytes(old)))
    old[20:24] = (int.from_bytes(req[20:24], "big") + 1).to_bytes(4, "big")
    corpus.append(seal(first, inner, bytes(old)))
    assert len(corpus) > 1000
    taken = 0
    for d in corpus:
        taken += _both([(d, UE, HA)], kind)
    # both sides are exercised: many mutations stay common-case (selectors, nonce, SPI...)
    assert 0 < taken < len(corpus)


# ------------------------------------------------------------------------------ narrowing
def _child_with(fast: bool, tsi: Any, tsr: Any) -> Any:
    """A handshake, then one CREATE_CHILD_SA proposing ``tsi``/``tsr``."""
    ue, ha = established("psk", fast, {}, {}, 5.0)
    ue.create_child_sa(tsi, tsr, mode="transport", now=1.0)
    return _exchange(ue, ha, 1.0), ha


_ANY6 = ("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
NARROWING = {
    # the HoA and the HA: the default policy keeps both (the fast path's own shortcut)
    "exact": ((HOA, HOA, _MH), (HA6, HA6, _MH)),
    "exact-mh-type": ((HOA, HOA, _MH, 5 << 8, 5 << 8), (HA6, HA6, _MH)),
    # wider proposals the default policy narrows (RFC 7296 §2.9): to the prefix, to the HA
    "whole-prefix": ((HOME_PREFIX[0], HOME_PREFIX[-1], _MH), (HA6, HA6, _MH)),
    "any-tsi": ((*_ANY6, _MH), (HA6, HA6, _MH)),
    "any-tsr": ((HOA, HOA, _MH), (*_ANY6, _MH)),
    "range-over-prefix-end": ((HOME_PREFIX[-2], HOME_PREFIX[-1] + 5, _MH), (HA6, HA6, _MH)),
    # refused by the policy: outside the home prefix, reversed range, the wrong HA, OPAQUE
    "outside-prefix": ((HOME_PREFIX[-1] + 1, HOME_PREFIX[-1] + 1, _MH), (HA6, HA6, _MH)),
    "reversed-range": ((HOA + 1, HOA, _MH), (HA6, HA6, _MH)),
    "other-ha": ((HOA, HOA, _MH), ("2001:db8:ffff::2", "2001:db8:ffff::2", _MH)),
    "opaque-ports": ((HOA, HOA, _MH, 0xFFFF, 0), (HA6, HA6, _MH)),
}


@pytest.mark.parametrize("what", sorted(NARROWING))
def test_selector_narrowing_equals_the_general_path(what):
    """The fast path's shortcut for the default selector policy (the request's own
    selectors when the policy would keep them) against the general path, which always asks
    the policy: same octets, events and state whether the policy keeps, narrows or refuses."""
    tsi, tsr = (TrafficSelector(*a) for a in NARROWING[what])
    fast, ha_f = _child_with(True, tsi, tsr)
    slow, ha_s = _child_with(False, tsi, tsr)
    assert ha_f.fast_child_hits == 1 and ha_s.fast_child_hits == 0
    assert fast == slow
    got = [e for r in fast[1] for e in r if isinstance(e, ChildSaEstablished)]
    assert len(got) == (0 if what in ("outside-prefix", "reversed-range", "other-ha",
                                     "opaque-ports") else 1)  # fmt: skip
    if got:  # narrowed to (inside) the home prefix and to the HA's address
        (sel_i,), (sel_r,) = got[0].child.ts_i, got[0].child.ts_r
        assert sel_i.start in HOME_PREFIX and sel_i.end in HOME_PREFIX
        assert str(sel_r.start) == str(sel_r.end) == HA6


def test_a_planted_narrowing_bug_is_caught(monkeypatch):
    """A shortcut that kept every proposal as it came is caught by the twin comparison."""
    from dsmip6.ikev2 import _fast_child

    tsi, tsr = TrafficSelector(*_ANY6, _MH), TrafficSelector(HA6, HA6, _MH)
    slow, _ = _child_with(False, tsi, tsr)
    with monkeypatch.context() as m:
        m.setattr(_fast_child, "_default_narrowing", lambda i, r, a: (i, r))
        fast, _ = _child_with(True, tsi, tsr)
    assert fast[0] != slow[0]
    fast, _ = _child_with(True, tsi, tsr)
    assert fast == slow


# ------------------------------------------------------------------------------ planted bug
def test_a_planted_divergence_is_caught(monkeypatch):
    """With a planted bug the comparison above fails: the fast path forgets when the peer was
    last heard (state), or answers with the wrong proposal number (octets)."""
    from dsmip6.ikev2 import _fast_child

    slow = attach_child("eap", False)
    real_follow = _fast_child._follow

    def forgetful(sa: Any, src: Any, dst: Any, now: float) -> None:
        before = sa.last_heard
        real_follow(sa, src, dst, now)
        sa.last_heard = before

    with monkeypatch.context() as m:
        m.setattr(_fast_child, "_follow", forgetful)
        fast = attach_child("eap", True)
    assert fast[1].fast_child_hits == 1
    assert fast[0][0][0] == slow[0][0][0] and fast[0][0][2] != slow[0][0][2]
    real_selected = _fast_child.selected_child
    with monkeypatch.context() as m:
        m.setattr(_fast_child, "selected_child", lambda n, *a: real_selected(n + 1, *a))
        fast = attach_child("eap", True)
    assert fast[0][0][0] != slow[0][0][0]
    fast = attach_child("eap", True)  # and without a planted bug: identical
    assert fast[0] == slow[0]


# ------------------------------------------------------------------------------ strongSwan
def _thawed_snapshot(ha: Any) -> dict[str, Any]:
    """``snapshot`` with each parked SA as the working SA it thaws into: a parked record
    refers to a selector list by an index in a process-wide table once two children of the
    process held it, so twins parking in turn (the live run interleaves them) may write the
    same selectors in two forms. The thawed SA holds the selectors themselves."""
    from dsmip6.ikev2.sa import ParkedSa, thaw

    snap = snapshot(ha)
    for i, sa in ha._sas.items():
        if type(sa) is ParkedSa:
            snap["sas"][i] = _plain(thaw(sa, ha))
    return snap


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two snapshots differ (the assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=repr):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only on one side")
            else:
                out += _differences(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        pairs = enumerate(zip(a, b, strict=True))
        return [d for i, (x, y) in pairs for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r:.300} != {b!r:.300}"]


class _Twins:
    """The engine ``UdpDriver`` drives: a fast-path responder and its general-path twin fed
    the same datagrams at the same instants; every output of the two must agree."""

    def __init__(self, fast: Any, slow: Any) -> None:
        self.fast, self.slow = fast, slow

    def receive_datagram(self, data: bytes, src: Any, dst: Any, now: float) -> None:
        self.fast.receive_datagram(data, src, dst, now)
        self.slow.receive_datagram(data, src, dst, now)

    def datagrams_to_send(self, now: float) -> list[Any]:
        out = self.fast.datagrams_to_send(now)
        assert out == self.slow.datagrams_to_send(now)
        return out

    def next_event(self) -> Any:
        ev = self.fast.next_event()
        assert ev == self.slow.next_event()
        return ev

    def get_timer(self) -> float | None:
        t = self.fast.get_timer()
        assert t == self.slow.get_timer()
        return t

    def handle_timer(self, now: float) -> None:
        self.fast.handle_timer(now)
        self.slow.handle_timer(now)


@pytest.mark.oracle
@pytest.mark.netns
def test_charon_creates_a_second_child_sa_on_the_fast_path():
    """strongSwan 5.9.8 (an independent peer) initiates an IKE SA with a first child, then a
    second child on it: CREATE_CHILD_SA {N(ESP_TFC_PADDING_NOT_SUPPORTED)...,SA, Ni, TSi,
    TSr} to our responder. The fast path answers it, charon installs the child, ICMP passes
    through it both ways, and the general-path twin fed the same datagrams sent the same
    octets, emitted the same events and holds the same state."""
    import tempfile
    from pathlib import Path

    from dsmip6.ikev2 import IkeResponder, ResponderConfig
    from ike_harness import PSK, make_rng
    from interop.strongswan_harness import (
        SS_INNER,
        SS_V4,
        US_V4,
        Charon,
        NetnsPair,
        UdpDriver,
        require_tools,
    )
    from test_ike_strongswan import ping_through_child

    require_tools()
    inner1, inner2 = "10.99.0.2", "10.99.0.3"
    conf = f"""
connections {{
  dsm {{
    version = 2
    local_addrs = {SS_V4}
    remote_addrs = {US_V4}
    proposals = aes128gcm16-prfsha256-x25519
    local {{
      auth = psk
      id = charon.example.org
    }}
    remote {{
      auth = psk
      id = us.example.org
    }}
    children {{
      c {{
        local_ts = {SS_INNER}/32
        remote_ts = {inner1}/32
        esp_proposals = aes128gcm16
        mode = tunnel
      }}
      c2 {{
        local_ts = {SS_INNER}/32
        remote_ts = {inner2}/32
        esp_proposals = aes128gcm16
        mode = tunnel
      }}
    }}
  }}
}}
secrets {{
  ike-1 {{
    id-1 = charon.example.org
    id-2 = us.example.org
    secret = "{PSK.decode()}"
  }}
}}
"""

    def ha(fast: bool) -> IkeResponder:
        cfg = ResponderConfig(
            "us.example.org",
            psk=PSK,
            proposals=["aes128gcm16-prfsha256-x25519"],
            child_proposals=["aes128gcm16"],
        )
        r = IkeResponder(cfg, rng=make_rng("ss-child"))
        r.fast_path = fast
        return r

    twins = _Twins(ha(True), ha(False))
    with tempfile.TemporaryDirectory(prefix="dsm-ike-") as tmp, NetnsPair() as pair:
        charon = Charon(pair.ss, Path(tmp), conf, {})
        driver = UdpDriver(pair, twins)
        try:
            charon.start()

            def children() -> list[Any]:
                return [e.child for e in driver.events if isinstance(e, ChildSaEstablished)]

            for name, want in (("c", 1), ("c2", 2)):
                init = charon.initiate(name)
                driver.pump(lambda w=want: len(children()) >= w, timeout=20)
                out, _ = init.communicate(timeout=20)
                assert init.returncode == 0, out
            assert twins.fast.fast_child_hits == 1 and twins.slow.fast_child_hits == 0
            first, second = children()
            assert [str(t.start) for t in second.local_ts] == [inner2]
            assert second.mode == "tunnel" and second.udp_encap == (4500, 4500)
            sas = charon.swanctl("--list-sas")
            assert sas.count("INSTALLED, TUNNEL") == 2, sas
            ping_through_child(driver, second, inner2, SS_V4)
            ping_through_child(driver, first, inner1, SS_V4)
            a, b = _thawed_snapshot(twins.fast), _thawed_snapshot(twins.slow)
            assert a == b, _differences(a, b)
        except BaseException:
            print(charon.read_log())
            raise
        finally:
            driver.close()
            charon.stop()


# ------------------------------------------------------------------------------ child keys
def _key_sa(prf_id: int, nat_tunnel: bool = False) -> Any:
    """What ``ChildCreate._make_child`` reads of the IKE SA."""
    from types import SimpleNamespace

    from dsmip6.ikev2.transforms import PRFS

    prf = PRFS[prf_id]
    return SimpleNamespace(
        prf=prf,
        sk_d=bytes(range(1, prf.key_size + 1)),
        use_nat_t=nat_tunnel,
        local=("192.0.2.1", 4500 if nat_tunnel else 500),
        remote=("198.51.100.9", 40123 if nat_tunnel else 500),
    )


KEY_CASES = [
    (prf_id, proposal, mode, nat)
    for prf_id in (5, 6, 7)  # PRF_HMAC_SHA2_256 / 384 / 512
    for proposal in ("aes128gcm16", "aes256gcm16", "aes128-sha256", "chacha20poly1305")
    for mode, nat in (("transport", False), ("tunnel", False), ("tunnel", True))
]


@pytest.mark.parametrize("prf_id,proposal,mode,nat", KEY_CASES)
def test_child_keys_equal_the_general_derivation(prf_id, proposal, mode, nat):
    """``_child_sa`` (prf+ written out for two blocks) gives the ``ChildSa`` of
    ``ChildCreate._make_child`` (``Prf.plus`` + ``derive_child_keys``): keys, direction,
    selectors, mode, UDP encapsulation; KEYMAT longer than two blocks takes the general one."""
    from dsmip6.ikev2 import _fast_child
    from dsmip6.ikev2.config import parse_child_proposal

    mine = parse_child_proposal(proposal)
    sa = _key_sa(prf_id, nat)
    ts_i = (TrafficSelector(HOA, HOA, _MH),)
    ts_r = (TrafficSelector(HA6, HA6, _MH),)
    ni, nr = bytes(range(32)), bytes(range(100, 148))
    args = (mine, 0x1234ABCD, ts_i, ts_r, mode, ni, nr)
    fast = _fast_child._child_sa(sa, 0xC0FFEE01, *args)
    slow = _fast_child._make_child(_fast_child._Maker(sa, 0xC0FFEE01), *args, b"")
    assert fast == slow
    assert fast.key_in != fast.key_out and len(fast.key_in) >= 16
    assert (fast.udp_encap is not None) == nat


def test_a_planted_child_key_bug_is_caught(monkeypatch):
    """Both comparisons catch a derivation that runs prf+'s second block with the counter of
    the first (T2 = prf(K, T1 | S | 0x01)): the unit twin and the attach twin."""
    from dsmip6.ikev2 import _fast_child
    from dsmip6.ikev2.config import parse_child_proposal

    real_keyed = _fast_child.transforms.Prf.keyed

    class WrongCounter:
        def __init__(self, h: Any) -> None:
            self.h = h

        def copy(self) -> Any:
            return self.h.copy()

        def update(self, data: bytes) -> None:
            self.h.update(data[:-1] + b"\x01")

        def finalize(self) -> bytes:
            return self.h.finalize()

    mine = parse_child_proposal("aes128gcm16")  # 2 x 20 octets: two blocks of SHA-256
    sa = _key_sa(5)
    ts = (TrafficSelector(HOA, HOA, _MH),)
    args = (mine, 7, ts, ts, "transport", bytes(32), bytes(range(32)))
    slow = _fast_child._make_child(_fast_child._Maker(sa, 9), *args, b"")
    slow_attach = attach_child("eap", False)
    with monkeypatch.context() as m:
        m.setattr(_fast_child.transforms.Prf, "keyed", lambda s, k: WrongCounter(real_keyed(s, k)))
        assert _fast_child._child_sa(sa, 9, *args) != slow
        fast_attach = attach_child("eap", True)
    assert fast_attach[1].fast_child_hits == 1
    assert fast_attach[0] != slow_attach[0]
    assert _fast_child._child_sa(sa, 9, *args) == slow  # and without the planted bug


def test_narrowing_memo_answers_as_the_full_test(monkeypatch):
    """``_default_narrowing`` remembers the last (HA addresses, TSr) pair that passed its
    HA-side test; over an interleaving of accepted and refused TSr objects (another HA
    address, a port range, a range, equal values in a fresh tuple) and two address tuples,
    every answer equals the one computed with the memo empty. A memo keyed on the
    addresses alone (a planted bug) is told apart."""
    from ipaddress import IPv4Address, IPv6Address

    from dsmip6.ikev2 import _fast_child
    from dsmip6.ikev2.config import Assignment

    ha6 = IPv6Address(HA6)
    hoa = TrafficSelector(HOA, HOA, _MH)
    has1 = (ha6, IPv4Address("198.51.100.1"))
    has2 = (IPv6Address("2001:db8:ffff::2"),)
    ok = (TrafficSelector(ha6, ha6, _MH),)
    others = [
        (TrafficSelector("2001:db8:ffff::2", "2001:db8:ffff::2", _MH),),
        (TrafficSelector(ha6, ha6, _MH, 10, 20),),
        (TrafficSelector(ha6, ha6 + 1, _MH),),
        (TrafficSelector(ha6, ha6, _MH),),  # equal values, another tuple
        ok,
    ]
    assigns = [Assignment(home_prefix=HOME_PREFIX, ha_addresses=h) for h in (has1, has2)]
    seq = [(a, r) for _ in range(2) for a in assigns for r in [ok, *others, ok]]

    def fresh(a, r):
        monkeypatch.setattr(_fast_child, "_HA_SIDE", [None, None])
        return _fast_child._default_narrowing((hoa,), r, a)

    want = [fresh(a, r) for a, r in seq]
    assert any(w is None for w in want) and any(w is not None for w in want)
    monkeypatch.setattr(_fast_child, "_HA_SIDE", [None, None])
    got = [_fast_child._default_narrowing((hoa,), r, a) for a, r in seq]
    assert got == want

    planted = [None, None]

    def buggy(a, r):  # the memo keyed on the addresses alone
        if planted[0] is a.ha_addresses:
            return (hoa,), r
        out = fresh(a, r)
        if out is not None:
            planted[0] = a.ha_addresses
        return out

    assert [buggy(a, r) for a, r in seq] != want

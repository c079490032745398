"""What the HA's IKE responder holds per SA while many attaches are in flight (session 9).

The keyed AEAD cipher objects of the SK payload (two per SA, ~2.3 KB of OpenSSL memory
each) are kept by the SAs made last, as many as ``cookie_threshold``; an SA pushed out of
that working set keys a cipher per message until it is established, and completes like any
other. Fewer attaches at once than that: each SA keys its pair once, as before.
"""

from __future__ import annotations

import gc
from typing import Any

import pytest
from dsmip6.errors import ConfigError
from dsmip6.ikev2 import IkeInitiator, IkeResponder, InitiatorConfig, ResponderConfig
from dsmip6.ikev2.events import IkeSaEstablished
from dsmip6.ikev2.sa import IkeSa, ParkedSa
from dsmip6.ikev2.transforms import Encr
from ike_harness import HA, PSK, Clock, assigner_factory, events, make_rng


def _responder(threshold: int, **kw: Any) -> IkeResponder:
    cfg = ResponderConfig(
        "ha.example.org",
        psk=PSK,
        address_assigner=assigner_factory(),
        cookie_threshold=threshold,
        half_open_limit=1000,
        **kw,
    )
    return IkeResponder(cfg, rng=make_rng("ha"))


def _initiators(n: int) -> list[tuple[IkeInitiator, tuple[str, int]]]:
    out = []
    for i in range(n):
        cfg = InitiatorConfig(f"ue{i}@example.org", psk=PSK)
        out.append((IkeInitiator(cfg, rng=make_rng(f"ue{i}")), (f"192.0.2.{10 + i}", 500)))
    return out


def _round(ues: list[tuple[IkeInitiator, tuple[str, int]]], ha: IkeResponder, clock: Clock) -> int:
    """Every UE's queued datagrams to the HA, then the HA's answers to their UEs."""
    by_addr = {addr[0]: ue for ue, addr in ues}
    moved = 0
    for ue, _addr in ues:
        for data, local, remote in ue.datagrams_to_send(clock.now):
            ha.receive_datagram(data, local, remote, clock.now)
            moved += 1
    for data, local, remote in ha.datagrams_to_send(clock.now):
        by_addr[remote[0]].receive_datagram(data, local, remote, clock.now)
        moved += 1
    return moved


def _keyed(ha: IkeResponder) -> list[int]:
    """The ids of the HA's working SAs whose SK protection holds keyed cipher objects."""
    return sorted(
        sa.id
        for sa in ha._sas.values()
        if type(sa) is IkeSa and sa.sk is not None and sa.sk._out_e is not None
    )


@pytest.fixture
def keyings(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every AEAD keying (``Encr.aead_cipher``) made while the test runs."""
    made: list[bytes] = []
    real = Encr.aead_cipher

    def counting(self: Encr, key: bytes) -> Any:
        made.append(key)
        return real(self, key)

    monkeypatch.setattr(Encr, "aead_cipher", counting)
    return made


def test_keyed_ciphers_are_bounded_while_attaches_are_in_flight(keyings: list[bytes]) -> None:
    threshold = 3
    ha = _responder(threshold)
    ues = _initiators(8)
    clock = Clock()
    for ue, addr in ues:
        ue.connect(addr, HA, clock.now)
    most = 0
    for _ in range(12):
        moved = _round(ues, ha, clock)
        most = max(most, len(_keyed(ha)))
        assert len(ha._keyed) <= threshold
        if not moved:
            break
    # the cookie threshold sent five of them back for a cookie (general path); every one of
    # the eight completed, at most three SAs holding keyed ciphers at any time
    assert most == threshold
    for ue, _addr in ues:
        assert any(type(e) is IkeSaEstablished for e in events(ue))
    assert ha.half_open_count() == 0 and len(ha.ike_sa_ids()) == 8
    # SAs 1-3 (answered first) used their pair and were established in round 2 before the
    # cookie-carrying requests made SAs 4-8 there; SAs 7 and 8 then pushed SAs 4 and 5, still
    # in IKE_AUTH, out of the working set: each keyed its inbound and outbound cipher once
    # more for its IKE_AUTH. HA: 8 pairs + 2 x 2; the eight initiators: a pair each.
    assert len(keyings) == 8 * 2 + 2 * 2 + 8 * 2
    assert _keyed(ha) == []  # established SAs hold none (compact(), as before)
    # the working set names its members by SA id: the SAs were parked (their SK state
    # packed) and no SkCrypto of theirs is left alive by the set
    assert all(type(sa) is ParkedSa for sa in ha._sas.values())
    assert len(ha._keyed) >= 2 and all(type(i) is int for i in ha._keyed)
    assert not any(type(o).__name__ == "SkCrypto" for o in gc.get_referents(ha._keyed))


def test_one_attach_at_a_time_keys_each_pair_once(keyings: list[bytes]) -> None:
    ha = _responder(3)
    clock = Clock()
    for ue, addr in _initiators(8):
        ue.connect(addr, HA, clock.now)
        while _round([(ue, addr)], ha, clock):
            pass
        assert any(type(e) is IkeSaEstablished for e in events(ue))
    # HA: one pair per SA (the working set never pushes out an SA still in IKE_AUTH);
    # the initiator side keeps its pair too
    assert len(keyings) == 8 * 2 + 8 * 2
    # an SA established while the newest member leaves the set: one attach at a time
    # leaves it empty (nothing kept per registered UE)
    assert len(ha._keyed) == 0 and _keyed(ha) == []


def test_working_set_size_is_configurable(keyings: list[bytes]) -> None:
    """``keyed_cipher_sas`` below the cookie threshold: three SAs in IKE_AUTH at once, two
    keep their pair, the oldest keys its own for its IKE_AUTH; all three complete."""
    ha = _responder(3, keyed_cipher_sas=2)
    ues = _initiators(3)
    clock = Clock()
    for ue, addr in ues:
        ue.connect(addr, HA, clock.now)
    _round(ues, ha, clock)  # IKE_SA_INIT x 3 (under the cookie threshold)
    assert len(_keyed(ha)) == 2 and _keyed(ha) == sorted(ha._sas)[1:]
    while _round(ues, ha, clock):
        pass
    assert len(ha.ike_sa_ids()) == 3
    assert len(keyings) == 3 * 2 + 2 + 3 * 2
    with pytest.raises(ConfigError):
        _responder(3, keyed_cipher_sas=0)

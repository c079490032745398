"""dsmip6.dataplane.RustDataPlane against the DataPlane protocol and the fake."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from dsmip6 import errors
from dsmip6.dataplane import RustDataPlane
from dsmip6.dataplane_iface import (
    BindingSpec,
    DataPlane,
    Encapsulation,
    FakeDataPlane,
    SaSpec,
)
from dsmip6.esp import SecurityAssociation
from esp_cases import E1, E2, keys

HOA = IPv6Address("2001:db8:1::1000")
HA = IPv6Address("2001:db8:1::1")


def binding(seq: int = 1) -> BindingSpec:
    return BindingSpec(
        home_address=HOA,
        home_prefix=IPv6Network("2001:db8:1::/64"),
        care_of_address=IPv4Address("198.51.100.7"),
        encapsulation=Encapsulation.UDP_IPV4,
        lifetime=3600.0,
        expires_at=3600.0,
        sequence=seq,
        udp_port=4191,
    )


def signalling_sa(spi: int, direction: str, src, dst) -> SaSpec:
    key, _ = keys("aes-gcm-128")
    return SaSpec(
        spi=spi,
        direction=direction,
        mode="transport",
        algorithm="aes-gcm-128",
        key=key,
        src=src,
        dst=dst,
        protocol=135,
        mh_types=(5, 6, 12, 16),
    )


@pytest.mark.parametrize("cls", [RustDataPlane, FakeDataPlane])
def test_same_contract_as_the_fake(cls):
    dp = cls()
    assert isinstance(dp, DataPlane)
    dp.add_binding(binding())
    with pytest.raises(errors.CacheError):
        dp.add_binding(binding())
    dp.update_binding(binding(2))
    dp.del_binding(HOA)
    with pytest.raises(errors.CacheError):
        dp.del_binding(HOA)
    with pytest.raises(errors.CacheError):
        dp.update_binding(binding())
    dp.add_sa(signalling_sa(0x1001, "out", HOA, HA))
    with pytest.raises(errors.CacheError):
        dp.add_sa(signalling_sa(0x1001, "out", HOA, HA))
    dp.del_sa(0x1001, "out")
    with pytest.raises(errors.CacheError):
        dp.del_sa(0x1001, "out")
    c = dp.counters()
    assert c["bindings_added"] == 1 and c["bindings_deleted"] == 1 and c["sas_added"] == 1


def test_bu_rides_the_signalling_sa_by_mh_type():
    ue, ha = RustDataPlane(), RustDataPlane()
    ue.add_sa(signalling_sa(0x1001, "out", HOA, HA))
    ue.add_sa(signalling_sa(0x2002, "in", HA, HOA))
    ha.add_sa(signalling_sa(0x1001, "in", HOA, HA))
    ha.add_sa(signalling_sa(0x2002, "out", HA, HOA))
    # BU (MH type 5) from the CoA with a HAO: the SPD matches the HoA in the HAO.
    wire = ue.protect(E1)
    assert wire is not None and wire[64:68] == (0x1001).to_bytes(4, "big")
    assert ha.unprotect(wire) == E1
    # BA (MH type 6) with RH2 back.
    back = ha.protect(E2)
    assert back is not None and back[64:68] == (0x2002).to_bytes(4, "big")
    assert ue.unprotect(back) == E2
    # An MH type outside the selector (HoTI = 1) is discarded, not sent in the clear.
    hoti = bytearray(E1)
    hoti[66] = 1
    assert ue.protect(bytes(hoti)) is None
    with pytest.raises(errors.ReplayedPacket):
        ha.unprotect(wire)
    with pytest.raises(errors.UnknownSpi):
        ue.unprotect(wire)  # the UE has no inbound SA 0x1001
    c = ha.counters()
    assert c["esp_packets_in"] == 1 and c["esp_drop_replay"] == 1


def test_sa_spec_keys_interoperate_with_security_association():
    dp = RustDataPlane()
    dp.add_sa(signalling_sa(0x1001, "in", HOA, HA))
    key, _ = keys("aes-gcm-128")
    tx = SecurityAssociation(0x1001, "transport", "aes-gcm-128", key)
    assert dp.unprotect(tx.encrypt(E1)) == E1


def test_cache_add_fields_refuses_what_it_cannot_store():
    """``BindingCache.add_fields`` (the values form of ``add``): only on a compact cache, a
    known encapsulation code and a 32-bit care-of address for the IPv4 ones; nothing is
    stored by a refused call, and an accepted one reads back as the spec it stands for."""
    from dsmip6.dataplane import BindingCache

    hoa, pfx = int(HOA), int(IPv6Network("2001:db8:1::/64").network_address)
    coa4 = int(IPv4Address("198.51.100.7"))
    with pytest.raises(ValueError, match="keep_objects=False"):
        BindingCache().add_fields(hoa, pfx, 64, coa4, 2, 1.0, 1.0, 1, 0, None, 4500)
    cache = BindingCache(keep_objects=False)
    with pytest.raises(ValueError, match="encapsulation code 3"):
        cache.add_fields(hoa, pfx, 64, coa4, 3, 1.0, 1.0, 1, 0, None, 4500)
    with pytest.raises(ValueError, match="32 bits"):
        cache.add_fields(hoa, pfx, 64, 1 << 32, 1, 1.0, 1.0, 1, 0, None, None)
    assert len(cache) == 0
    cache.add_fields(hoa, pfx, 64, coa4, 2, 3600.0, 10.5, 7, 0xC000, None, 4500)
    got = cache.get(HOA)
    assert (got.care_of_address, got.encapsulation, got.udp_port, got.sequence) == (
        IPv4Address("198.51.100.7"), Encapsulation.UDP_IPV4, 4500, 7)  # fmt: skip
    assert (got.home_prefix, got.flags, got.expires_at) == (
        IPv6Network("2001:db8:1::/64"), 0xC000, 10.5)  # fmt: skip

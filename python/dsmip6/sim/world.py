"""Builders for simulations with the real IKEv2 / EAP-AKA / wire / ESP pieces.

:class:`RealWorld` holds one HA's credentials and subscriber store (the HA's embedded AAA)
and makes ``HomeAgent`` and ``MobileNode`` objects wired to the real engines. The MH codec and
the SA factory default to the real ones (``dsmip6.wire`` through ``_mh.WireSignalling``,
``dsmip6.esp`` through ``_sec.esp_sa``); tests may pass others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any

from dsmip6 import _ike, _mh
from dsmip6._sec import esp_sa
from dsmip6.config import HomeAgentConfig, MobileNodeConfig, PdnConfig
from dsmip6.dataplane_iface import DataPlane
from dsmip6.ha import HomeAgent
from dsmip6.mn import MobileNode
from dsmip6.sim import pki

__all__ = ["RealWorld", "seeded_rng", "HA6", "HA4"]

HA6 = IPv6Address("2001:db8:a::1")
HA4 = IPv4Address("198.51.100.1")


def seeded_rng(seed: str) -> Callable[[int], bytes]:
    """Deterministic 'random' octets (SHA-256 counter mode) for repeatable simulations:
    block k is SHA-256("<seed>/<k>")."""
    prefix = hashlib.sha256(f"{seed}/".encode())
    copy = prefix.copy
    k = 0

    def rng(n: int) -> bytes:
        nonlocal k
        if n <= 0:
            return b""
        k += 1
        h = copy()
        h.update(b"%d" % k)
        if n <= 32:  # one block (SPIs, nonces, keys: the usual requests)
            return h.digest()[:n]
        out = h.digest()
        while len(out) < n:
            k += 1
            h = copy()
            h.update(b"%d" % k)
            out += h.digest()
        return out[:n]

    return rng


class RealWorld:
    """One HA (address ``HA6``/``HA4``) and up to ``capacity`` subscribers."""

    def __init__(
        self,
        capacity: int,
        *,
        signalling_factory: Callable[[], _mh.Signalling] = _mh.WireSignalling,
        sa_factory: Callable[[Any], Any] = esp_sa,
        apns: tuple[str, ...] = ("internet",),
        ha_kw: dict[str, Any] | None = None,
        responder_kw: dict[str, Any] | None = None,
        proposals: tuple[str, ...] = ("aes128gcm16-prfsha256-x25519",),
        child_proposals: tuple[str, ...] = ("aes128gcm16",),
    ) -> None:
        from dsmip6 import eap

        self.creds = pki.ha_credentials()
        self.store = eap.InMemorySubscriberStore()
        for i in range(capacity):
            k, opc = pki.subscriber_keys(i)
            self.store.add(eap.Subscriber(pki.imsi(i), k, opc, apns=apns))
        self.signalling_factory = signalling_factory
        self.sa_factory = sa_factory
        self.apns = apns
        self.ha_kw = ha_kw or {}
        self.responder_kw = responder_kw or {}
        self.proposals = proposals
        self.child_proposals = child_proposals
        self.ha: HomeAgent | None = None

    def ha_config(self) -> HomeAgentConfig:
        kw: dict[str, Any] = dict(
            address6=HA6,
            address4=HA4,
            home_pool=IPv6Network("2001:db8:8000::/33"),
            ipv4_pool=IPv4Network("10.128.0.0/9"),
            apns=self.apns,
        )
        kw.update(self.ha_kw)
        return HomeAgentConfig(**kw)

    def make_ha(self, dataplane: DataPlane) -> HomeAgent:
        self.ha = HomeAgent(
            self.ha_config(),
            dataplane=dataplane,
            ike_factory=_ike.responder_factory(
                "ha.dsmip6.sim",
                self.store,
                seeded_rng("ha"),
                certificate=self.creds.certificate,
                private_key=self.creds.private_key,
                proposals=self.proposals,
                child_proposals=self.child_proposals,
                **self.responder_kw,
            ),
            signalling=self.signalling_factory(),
            sa_factory=self.sa_factory,
        )
        return self.ha

    def make_ue(self, i: int, pdns: tuple[PdnConfig, ...] | None = None, **kw: Any) -> MobileNode:
        k, opc = pki.subscriber_keys(i)
        rng = seeded_rng(f"ue{i}")
        if pdns is None:
            pdns = tuple(PdnConfig(apn, ha_address6=HA6, ha_address4=HA4) for apn in self.apns)
        return MobileNode(
            MobileNodeConfig(pki.nai(i), pdns=pdns, **kw),
            rng=rng,
            ike_factory=_ike.initiator_factory(
                _ike.make_usim(k, opc),
                rng,
                trust_anchors=(self.creds.certificate,),
                proposals=self.proposals,
                child_proposals=self.child_proposals,
            ),
            signalling=self.signalling_factory(),
            sa_factory=self.sa_factory,
        )

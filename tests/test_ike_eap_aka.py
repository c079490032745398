"""IKE_AUTH with the real EAP-AKA peer and server (contract C): the 3GPP S2c bootstrapping.

The HA authenticates with a certificate (its normal S2c role) and the UE with EAP-AKA; AUTH is
then computed from the full 64-octet MSK (RFC 7296 §2.16). Inputs: TS 35.208 Test Set 3 keys.
"""

from __future__ import annotations

from dsmip6.aka import Usim
from dsmip6.eap import EapAkaPeer, EapAkaServer, InMemorySubscriberStore, Subscriber, permanent_nai
from dsmip6.ikev2 import (
    ChildSaEstablished,
    IkeAuthFailed,
    IkeInitiator,
    IkeResponder,
    IkeSaEstablished,
    InitiatorConfig,
    ResponderConfig,
)
from ike_harness import (
    HA,
    HOME_PREFIX,
    UE,
    Clock,
    assert_events,
    assigner_factory,
    events,
    make_ca_and_cert,
    make_rng,
    run,
    transfer,
)

IMSI = "001010000000123"
K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
OPC = bytes.fromhex("1006020f0a478bf6b699f15c062e42b3")


def make_pair(*, ue_k: bytes = K, ue_sqn: int = 0, he_sqn: int = 0):
    ca, cert, key = make_ca_and_cert("ecdsa", "ha.example.org")
    nai = permanent_nai(IMSI)
    peers: list[EapAkaPeer] = []
    servers: list[EapAkaServer] = []

    def peer_factory() -> EapAkaPeer:
        peers.append(EapAkaPeer(Usim(ue_k, OPC, sqn=ue_sqn), nai, rng=make_rng("usim")))
        return peers[-1]

    store = InMemorySubscriberStore([Subscriber(IMSI, K, OPC, sqn=he_sqn, apns=("ims",))])

    def server_factory(identity: str) -> EapAkaServer:
        servers.append(EapAkaServer(store, rng=make_rng("aaa"), identity=identity))
        return servers[-1]

    log: list = []
    ue = IkeInitiator(
        InitiatorConfig(nai, eap_peer_factory=peer_factory, trust_anchors=[ca]),
        rng=make_rng("ue"),
    )
    ha = IkeResponder(
        ResponderConfig(
            "ha.example.org",
            certificate=cert,
            private_key=key,
            eap_server_factory=server_factory,
            address_assigner=assigner_factory(log),
            require_eap=True,
        ),
        rng=make_rng("ha"),
    )
    return ue, ha, Clock(), peers, servers, log


def test_eap_aka_ike_auth_with_msk():
    ue, ha, clock, peers, servers, log = make_pair()
    ue.connect(UE, HA, 0.0)
    # IKE_SA_INIT HDR, SAi1, KEi, Ni, N(NAT-D)... -->  <-- HDR, SAr1, KEr, Nr, CERTREQ
    assert transfer(ue, ha, clock) == 1 and transfer(ha, ue, clock) == 1
    # IKE_AUTH HDR, SK {IDi(NAI), CERTREQ, CP(CFG_REQUEST), SAi2, TSi, TSr} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {IDr, CERT, AUTH(ECDSA), EAP(Request/AKA-Challenge)}
    assert transfer(ha, ue, clock) == 1
    # HDR, SK {EAP(Response/AKA-Challenge)} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {EAP(Success)}
    assert transfer(ha, ue, clock) == 1
    assert peers[0].state == "success" and servers[0].state == "success"
    # HDR, SK {AUTH(prf(prf(MSK, "Key Pad for IKEv2"), InitiatorSignedOctets))} -->
    assert transfer(ue, ha, clock) == 1
    # <-- HDR, SK {AUTH(MSK), CP(CFG_REPLY: MIP6_HOME_PREFIX), SAr2, TSi, TSr}
    assert transfer(ha, ue, clock) == 1
    est, _ = assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    hest, _ = assert_events(ha, [IkeSaEstablished, ChildSaEstablished])
    assert len(peers[0].msk) == 64 and peers[0].msk == servers[0].msk
    assert hest.eap_identity == IMSI and log == [(IMSI, None)]
    assert est.home_prefix == HOME_PREFIX and est.peer_identity == "ha.example.org"


def test_eap_aka_resynchronisation_inside_ike_auth():
    """The USIM is ahead of the HSS: AKA-Synchronization-Failure, new challenge, success."""
    ue, ha, clock, peers, servers, _ = make_pair(ue_sqn=5000 << 5, he_sqn=0)
    ue.connect(UE, HA, 0.0)
    moved = run(ue, ha, clock)
    assert moved == 10  # SA_INIT(2) + IKE_AUTH: challenge, sync-failure, challenge, success, MSK
    assert_events(ue, [IkeSaEstablished, ChildSaEstablished])
    assert_events(ha, [IkeSaEstablished, ChildSaEstablished])


def test_eap_aka_wrong_key_fails_cleanly():
    ue, ha, clock, peers, servers, _ = make_pair(ue_k=bytes(16))
    ue.connect(UE, HA, 0.0)
    run(ue, ha, clock)
    assert_events(ue, [IkeAuthFailed])
    assert_events(ha, [IkeAuthFailed])
    assert ha._sas == {} and ue.ike_sa_id is None and events(ha) == []

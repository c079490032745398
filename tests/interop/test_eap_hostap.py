"""EAP-AKA interop with hostap (Debian hostapd and eapol_test), over RADIUS on loopback.

(a) our ``EapAkaPeer`` against hostapd's EAP-AKA server: hostapd (driver=none) is a RADIUS
    server whose authentication vectors come from ``HlrAucResponder`` (Milenage, hlr_auc_gw
    text protocol on a unix socket); the harness is the RADIUS client. The MSK hostapd
    delivers in MS-MPPE-Recv-Key/Send-Key must equal our peer's.
(b) our ``EapAkaServer`` against eapol_test as the peer: the harness is the RADIUS server
    (``RadiusEapFrontEnd``) and answers eapol_test's external-SIM requests
    (CTRL-REQ-SIM ... UMTS-AUTH) with our ``Usim`` over its control socket. eapol_test checks
    that the MPPE keys we send equal the MSK it derived; we check it too from its log.

The tools must be installed (``make test`` installs them): missing tools FAIL these tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dsmip6.aka import AkaResult, AkaStatus, Usim
from dsmip6.eap import (
    EapAkaPeer,
    EapAkaPrimePeer,
    EapAkaPrimeServer,
    EapPacket,
    InMemorySubscriberStore,
    Subscriber,
    permanent_nai,
)
from eap_radius_harness import (
    ACCESS_ACCEPT,
    ACCESS_CHALLENGE,
    ACCESS_REJECT,
    MS_MPPE_RECV_KEY,
    MS_MPPE_SEND_KEY,
    VENDOR_MICROSOFT,
    HlrAucResponder,
    Proc,
    RadiusClient,
    RadiusEapFrontEnd,
    find_tool,
    free_udp_port,
    mppe_decrypt,
)

pytestmark = pytest.mark.oracle

SECRET = b"dsmip6-radius-secret"
AKA_PRIME = "AKA'"  # eapol_test's name of the method
K = bytes.fromhex("fec86ba6eb707ed08905757b1bb44b8f")
OPC = bytes.fromhex("1006020f0a478bf6b699f15c062e42b3")
IMSI = "001010000000001"


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Short path: unix socket names are limited to 108 octets.
    with tempfile.TemporaryDirectory(prefix="dsm-eap-") as d:
        yield Path(d)


# --- (a) our peer against hostapd's EAP-AKA server ----------------------------------------


def _start_hostapd(
    workdir: Path, *, result_ind: bool = False, sim_id: int = 3, eap_user: str | None = None
) -> tuple[Proc, int]:
    hostapd = find_tool("hostapd")
    port = free_udp_port()
    (workdir / "clients").write_text(f"127.0.0.1/32 {SECRET.decode()}\n")
    # Identity prefixes (hostap's conventions): 0 permanent, 2 pseudonym, 4 re-auth (AKA);
    # 6, 7, 8 the same for AKA'.
    methods = ["AKA"] * 3 + ["AKA'"] * 3
    default_users = "".join(f'"{p}"*\t{m}\n' for p, m in zip("024678", methods, strict=True))
    (workdir / "eap_user").write_text(eap_user or default_users)
    conf = workdir / "hostapd.conf"
    conf.write_text(
        "\n".join(
            [
                "driver=none",
                "interface=dsmeap",
                "logger_stdout=-1",
                "logger_stdout_level=0",
                "eap_server=1",
                f"eap_user_file={workdir / 'eap_user'}",
                f"eap_sim_db=unix:{workdir / 'hlr.sock'}",
                f"radius_server_clients={workdir / 'clients'}",
                f"radius_server_auth_port={port}",
                f"eap_sim_aka_result_ind={1 if result_ind else 0}",
                f"eap_sim_id={sim_id}",
                "",
            ]
        )
    )
    proc = Proc([hostapd, "-dd", str(conf)], workdir / "hostapd.log")
    assert proc.wait_for("Setup of interface done", timeout=10), proc.output()[-3000:]
    return proc, port


Outcome = tuple[list[str], bytes | None, bytes | None]


def _authenticate(port: int, peer: EapAkaPeer) -> Outcome:
    """One RADIUS/EAP authentication of ``peer``; (kinds seen, MPPE recv key, MPPE send key)."""
    client = RadiusClient(port, SECRET)
    try:
        seen: list[str] = []
        # --> EAP-Response/Identity (as an authenticator relays it, RFC 3579 §2.1)
        eap = EapPacket(2, 0, 1, peer.identity.encode()).to_bytes()
        for _ in range(12):
            reply, request_auth = client.exchange(peer.identity, eap)
            incoming = reply.eap_message()
            seen.append(f"radius-{reply.code}")
            if reply.code != ACCESS_CHALLENGE:
                peer.process(incoming)
                recv = reply.vendor(VENDOR_MICROSOFT, MS_MPPE_RECV_KEY)
                send = reply.vendor(VENDOR_MICROSOFT, MS_MPPE_SEND_KEY)
                return (
                    seen,
                    recv and mppe_decrypt(recv, SECRET, request_auth),
                    send and mppe_decrypt(send, SECRET, request_auth),
                )
            response = peer.process(incoming)
            assert response is not None, f"peer gave no response to {incoming.hex()}"
            seen.append(f"eap-{incoming[4]}-{incoming[5]}>{response[5]}")
            eap = response
        raise AssertionError(f"no end: {seen}")
    finally:
        client.close()


@contextlib.contextmanager
def _hostapd(
    workdir: Path,
    store: InMemorySubscriberStore,
    *,
    result_ind: bool = False,
    sim_id: int = 3,
    eap_user: str | None = None,
) -> Iterator[tuple[Callable[[EapAkaPeer], Outcome], Proc, HlrAucResponder]]:
    """hostapd + AuC responder; yields (authenticate(peer), hostapd process, responder)."""
    with HlrAucResponder(workdir / "hlr.sock", store, os.urandom) as hlr:
        proc, port = _start_hostapd(
            workdir, result_ind=result_ind, sim_id=sim_id, eap_user=eap_user
        )
        try:
            yield (lambda peer: _authenticate(port, peer)), proc, hlr
        finally:
            proc.stop()


def _peer_against_hostapd(
    workdir: Path, peer: EapAkaPeer, store: InMemorySubscriberStore, *, result_ind: bool = False
) -> tuple[list[str], bytes | None, bytes | None, Proc, HlrAucResponder]:
    """Run one authentication; returns (EAP kinds seen, MPPE recv, MPPE send, proc, hlr)."""
    with _hostapd(workdir, store, result_ind=result_ind) as (authenticate, proc, hlr):
        seen, recv, send = authenticate(peer)
    return seen, recv, send, proc, hlr


def _store(sqn: int = 0) -> InMemorySubscriberStore:
    return InMemorySubscriberStore([Subscriber(IMSI, K, OPC, sqn=sqn)])


def test_our_peer_against_hostapd_eap_aka(workdir):
    usim = Usim(K, OPC, sqn=0)
    peer = EapAkaPeer(usim, permanent_nai(IMSI), rng=os.urandom)
    seen, recv, send, proc, hlr = _peer_against_hostapd(workdir, peer, _store())
    log = proc.output()
    assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, log[-4000:])
    assert peer.state == "success"
    # hostapd's RADIUS server puts MSK[0:32] in MS-MPPE-Recv-Key, MSK[32:64] in Send-Key.
    assert recv == peer.msk[:32]
    assert send == peer.msk[32:64]
    assert any(line.startswith("AKA-REQ-AUTH 001010000000001") for line in hlr.log)
    # hostapd sent a next pseudonym / re-auth identity in AT_ENCR_DATA (eap_sim_id=3
    # default); our peer decrypted them with K_encr.
    assert peer.next_pseudonym and peer.next_reauth_id


def test_our_peer_resynchronises_with_hostapd(workdir):
    # The USIM is far ahead of the HSS: Synchronization-Failure with AUTS, hostapd passes AUTS
    # to the AuC (AKA-AUTS), fetches a new vector and challenges again.
    usim = Usim(K, OPC, sqn=(90000 << 5) | 9)
    peer = EapAkaPeer(usim, permanent_nai(IMSI), rng=os.urandom)
    store = _store(sqn=0)
    seen, recv, send, proc, hlr = _peer_against_hostapd(workdir, peer, store)
    assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-4000:])
    assert any(line.startswith("AKA-AUTS 001010000000001") for line in hlr.log)
    assert "eap-23-1>4" in seen  # challenge answered with Synchronization-Failure
    assert recv + send == peer.msk
    assert store.subscriber(IMSI).sqn > (90000 << 5) | 9


def test_our_peer_with_hostapd_result_indication(workdir):
    peer = EapAkaPeer(Usim(K, OPC), permanent_nai(IMSI), rng=os.urandom, result_indication=True)
    seen, recv, send, proc, _ = _peer_against_hostapd(workdir, peer, _store(), result_ind=True)
    assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-4000:])
    assert "eap-23-12>12" in seen  # protected success notification round
    assert peer.notification_code == 32768
    assert recv + send == peer.msk


def test_hostapd_refuses_our_peer_with_wrong_key(workdir):
    peer = EapAkaPeer(Usim(bytes(16), OPC), permanent_nai(IMSI), rng=os.urandom)
    seen, recv, send, proc, _ = _peer_against_hostapd(workdir, peer, _store())
    assert seen[-1] == f"radius-{ACCESS_REJECT}", seen
    assert "eap-23-1>2" in seen  # Authentication-Reject
    assert peer.state == "failure" and recv is None and send is None


class _WrongResUsim(Usim):
    """A USIM whose RES is off by one bit (CK/IK right, so AT_MAC still verifies)."""

    def authenticate(self, rand: bytes, autn: bytes) -> AkaResult:
        result = super().authenticate(rand, autn)
        if result.res is None:
            return result
        return dataclasses.replace(result, res=bytes([result.res[0] ^ 1]) + result.res[1:])


def test_hostapd_failure_notification_reaches_our_peer(workdir):
    # hostapd finds RES wrong (the MAC is right): it sends AKA-Notification "General failure"
    # (no AT_MAC, P bit set, RFC 4187 §6.3.2); our peer answers it and gets EAP-Failure.
    peer = EapAkaPeer(_WrongResUsim(K, OPC), permanent_nai(IMSI), rng=os.urandom)
    seen, recv, send, proc, _ = _peer_against_hostapd(workdir, peer, _store())
    assert seen[-1] == f"radius-{ACCESS_REJECT}", seen
    assert "eap-23-12>12" in seen, seen
    assert peer.notification_code == 16384
    assert peer.state == "failure" and peer.msk is None


def test_our_aka_prime_peer_against_hostapd(workdir):
    # hostapd's access network name for AKA' is "WLAN"; our peer checks AT_KDF_INPUT against it.
    peer = EapAkaPrimePeer(
        Usim(K, OPC), permanent_nai(IMSI, prime=True), rng=os.urandom, network_name="WLAN"
    )
    seen, recv, send, proc, _ = _peer_against_hostapd(workdir, peer, _store())
    assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-4000:])
    assert peer.method == 50 and peer.state == "success"
    assert recv + send == peer.msk


@pytest.mark.parametrize("prime", [False, True], ids=["aka", "aka-prime"])
def test_our_peer_fast_reauthentication_with_hostapd(workdir, prime):
    # Full authentication: hostapd hands out a re-authentication identity (encrypted
    # AT_NEXT_REAUTH_ID); then two fast re-authentications with the one-time identities, the
    # second using the identity received in the first (RFC 4187 §5.4; RFC 5448 §3.3 for AKA').
    usim = Usim(K, OPC)
    nai = permanent_nai(IMSI, prime=prime)
    cls = EapAkaPrimePeer if prime else EapAkaPeer
    method = 50 if prime else 23
    with _hostapd(workdir, _store()) as (authenticate, proc, hlr):
        peer = cls(usim, nai, rng=os.urandom)
        seen, recv, send = authenticate(peer)
        assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-3000:])
        msks = [peer.msk]
        for _ in range(2):
            ctx = peer.reauth_context
            assert ctx is not None, "hostapd sent no AT_NEXT_REAUTH_ID"
            peer = cls(usim, ctx.reauth_id, rng=os.urandom, reauth=ctx, permanent_identity=nai)
            seen, recv, send = authenticate(peer)
            assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-3000:])
            assert f"eap-{method}-13>13" in seen  # AKA-Reauthentication answered
            assert peer.reauthenticated
            assert recv + send == peer.msk
            msks.append(peer.msk)
        # No new vector was fetched for the re-authentications.
        assert sum(line.startswith("AKA-REQ-AUTH") for line in hlr.log) == 1
    assert len(set(msks)) == 3


def test_our_peer_uses_hostapd_pseudonym(workdir):
    # eap_sim_id=1: hostapd hands out pseudonyms only. Our peer's next authentication uses
    # pseudonym@realm; hostapd maps it back to the IMSI and runs a full challenge.
    usim = Usim(K, OPC)
    nai = permanent_nai(IMSI)
    with _hostapd(workdir, _store(), sim_id=1) as (authenticate, proc, hlr):
        peer = EapAkaPeer(usim, nai, rng=os.urandom)
        assert authenticate(peer)[0][-1] == f"radius-{ACCESS_ACCEPT}"
        assert peer.next_pseudonym and peer.reauth_context is None
        alias = f"{peer.next_pseudonym}@{nai.split('@')[1]}"
        second = EapAkaPeer(usim, alias, rng=os.urandom, permanent_identity=nai)
        seen, recv, send = authenticate(second)
        assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-3000:])
        assert recv + send == second.msk
        assert "eap-23-1>1" in seen and "eap-23-13>13" not in seen  # full challenge, no re-auth
        assert sum(line.startswith("AKA-REQ-AUTH 001010000000001") for line in hlr.log) == 2


@pytest.mark.parametrize("prefer_aka_prime", [False, True])
def test_bidding_down_with_hostapd(workdir, prefer_aka_prime):
    # hostapd prefers EAP-AKA' for this user: it proposes it first, our EAP-AKA peer answers
    # Nak(23); hostapd falls back to EAP-AKA with AT_BIDDING D=1 (RFC 5448 §4). A peer that
    # itself prefers EAP-AKA' must then refuse; one that does not goes on.
    peer = EapAkaPeer(
        Usim(K, OPC), permanent_nai(IMSI), rng=os.urandom, prefer_aka_prime=prefer_aka_prime
    )
    with _hostapd(workdir, _store(), eap_user='"0"*\tAKA\',AKA\n') as (authenticate, proc, _):
        seen, recv, send = authenticate(peer)
    assert "eap-50-5>23" in seen or "eap-50-1>23" in seen, seen  # Nak to the AKA' request
    if prefer_aka_prime:
        assert seen[-1] == f"radius-{ACCESS_REJECT}", seen
        assert "eap-23-1>2" in seen  # Authentication-Reject
        assert "bidding down" in peer.failure_reason
    else:
        assert seen[-1] == f"radius-{ACCESS_ACCEPT}", (seen, proc.output()[-3000:])
        assert recv + send == peer.msk


# --- (b) our server against eapol_test as the peer ----------------------------------------


class ExternalUsim:
    """Answers eapol_test's CTRL-REQ-SIM requests over its control socket with a ``Usim``."""

    def __init__(self, ctrl_path: Path, local_path: Path, usim: Usim):
        self.usim = usim
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(local_path))
        self.sock.settimeout(0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.connect(str(ctrl_path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                assert time.monotonic() < deadline, "eapol_test control socket did not appear"
                time.sleep(0.05)
        self.sock.send(b"ATTACH")
        assert self._recv_reply() == "OK"
        self.answers: list[str] = []
        self.corrupt_res = False

    def _recv_reply(self) -> str:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            if not data.startswith("<"):
                return data.strip()
        raise AssertionError("no reply from eapol_test control interface")

    def serve(self, done: Proc, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and done.popen.poll() is None:
            try:
                data = self.sock.recv(4096).decode(errors="replace")
            except TimeoutError:
                continue
            m = re.search(r"CTRL-REQ-SIM-(\d+):UMTS-AUTH:([0-9a-f]{32}):([0-9a-f]{32})", data)
            if not m:
                continue
            rid, rand, autn = m.group(1), bytes.fromhex(m.group(2)), bytes.fromhex(m.group(3))
            result = self.usim.authenticate(rand, autn)
            if result.res is not None and self.corrupt_res:
                result = dataclasses.replace(
                    result, res=bytes([result.res[0] ^ 1]) + result.res[1:]
                )
            if result.status is AkaStatus.SUCCESS:
                answer = f"UMTS-AUTH:{result.ik.hex()}:{result.ck.hex()}:{result.res.hex()}"
            elif result.status is AkaStatus.SYNC_FAILURE:
                answer = f"UMTS-AUTS:{result.auts.hex()}"
            else:
                answer = "UMTS-FAIL"
            self.answers.append(answer.split(":")[0])
            self.sock.send(f"CTRL-RSP-SIM-{rid}:{answer}".encode())

    def close(self) -> None:
        self.sock.close()


def _eapol_test_against_our_server(
    workdir: Path,
    usim: Usim,
    store: InMemorySubscriberStore,
    *,
    method: str = "AKA",
    phase1: str | None = None,
    reauths: int = 0,
    corrupt_res: bool = False,
    **front_kwargs: object,
) -> tuple[int, str, RadiusEapFrontEnd, ExternalUsim]:
    eapol_test = find_tool("eapol_test")
    ctrl_dir = workdir / "ctrl"
    conf = workdir / "eapol_test.conf"
    conf.write_text(
        "\n".join(
            [
                f"ctrl_interface={ctrl_dir}",
                "external_sim=1",
                "network={",
                "    key_mgmt=IEEE8021X",
                f"    eap={method}",
                f'    identity="{permanent_nai(IMSI, prime=method == AKA_PRIME)}"',
                *([f'    phase1="{phase1}"'] if phase1 else []),
                "}",
                "",
            ]
        )
    )
    with RadiusEapFrontEnd(store, SECRET, **front_kwargs) as front:  # type: ignore[arg-type]
        proc = Proc(
            [
                eapol_test,
                "-c",
                str(conf),
                "-a",
                "127.0.0.1",
                "-p",
                str(front.port),
                "-s",
                SECRET.decode(),
                "-i",
                "dsmeap",
                "-W",
                "-t",
                "20",
                f"-r{reauths}",
            ],
            workdir / "eapol_test.log",
        )
        sim = None
        try:
            sim = ExternalUsim(ctrl_dir / "dsmeap", workdir / "ext-usim.sock", usim)
            sim.corrupt_res = corrupt_res
            sim.serve(proc)
            rc = proc.wait(timeout=25)
        finally:
            if sim is not None:
                sim.close()
            proc.stop()
        return rc, proc.output(), front, sim  # type: ignore[return-value]


def _eapol_test_keys(log: str) -> tuple[bytes, bytes]:
    """(MSK, EMSK) as eapol_test (wpa_supplicant's EAP-SIM/AKA code) logged them."""
    found = []
    # EAP-AKA logs "EAP-SIM: keying material (MSK)", EAP-AKA' "EAP-AKA': MSK".
    for label in (r"(?:keying material \(MSK\)|EAP-AKA': MSK)", r"EMSK"):
        m = re.findall(label + r" - hexdump\(len=64\):((?: [0-9a-f]{2}){64})", log)
        assert m, f"eapol_test did not log {label}"
        found.append(bytes.fromhex(m[-1].replace(" ", "")))
    return found[0], found[1]


def test_eapol_test_against_our_server(workdir):
    store = _store()
    usim = Usim(K, OPC)
    rc, log, front, sim = _eapol_test_against_our_server(workdir, usim, store)
    assert front.errors == []
    assert rc == 0, log[-4000:]
    assert "MPPE keys OK: 1  mismatch: 0" in log, log[-3000:]
    assert "SUCCESS" in log.splitlines()[-1]
    assert sim.answers == ["UMTS-AUTH"]
    (server,) = front.finished
    assert server.state == "success" and server.permanent_identity == IMSI
    assert _eapol_test_keys(log) == (server.msk, server.emsk)


def test_eapol_test_resync_against_our_server(workdir):
    store = _store(sqn=0)
    usim = Usim(K, OPC, sqn=(70000 << 5) | 4)
    rc, log, front, sim = _eapol_test_against_our_server(workdir, usim, store)
    assert rc == 0, log[-4000:]
    assert sim.answers == ["UMTS-AUTS", "UMTS-AUTH"]
    assert "MPPE keys OK: 1  mismatch: 0" in log
    (server,) = front.finished
    assert _eapol_test_keys(log) == (server.msk, server.emsk)


def test_eapol_test_identity_round_and_result_indication(workdir):
    # Our server ignores the EAP-Response/Identity and asks with AKA-Identity
    # (AT_PERMANENT_ID_REQ): AT_CHECKCODE then covers that round on both sides. It also offers
    # protected result indications, which eapol_test takes with phase1="result_ind=1".
    store = _store()
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir,
        Usim(K, OPC),
        store,
        phase1="result_ind=1",
        use_eap_identity=False,
        result_indication=True,
    )
    assert rc == 0, log[-4000:]
    (server,) = front.finished
    assert len(server._identity_packets) == 2  # AKA-Identity request and response
    assert server.identity == permanent_nai(IMSI)
    assert "Generating EAP-AKA Identity" in log  # eapol_test answered AKA-Identity
    assert re.search(r"EAP-AKA: AT_CHECKCODE data - hexdump\(len=80\)", log)  # over 2 packets
    assert "EAP-AKA: Successful authentication notification" in log
    assert _eapol_test_keys(log) == (server.msk, server.emsk)


def test_eapol_test_aka_prime_against_our_server(workdir):
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir,
        Usim(K, OPC),
        _store(),
        method="AKA'",
        server_class=EapAkaPrimeServer,
        network_name="WLAN",
    )
    assert rc == 0, log[-4000:]
    assert "MPPE keys OK: 1  mismatch: 0" in log
    (server,) = front.finished
    assert server.state == "success" and server.method == 50
    assert _eapol_test_keys(log) == (server.msk, server.emsk)


@pytest.mark.parametrize("prime", [False, True], ids=["aka", "aka-prime"])
def test_eapol_test_fast_reauthentication_with_our_server(workdir, prime):
    # eapol_test -r2: after the full authentication it re-authenticates twice with the
    # one-time identities our server handed out (AT_NEXT_REAUTH_ID); our server answers with
    # AKA-Reauthentication and no USIM run. eapol_test checks the MPPE keys each time.
    from dsmip6.eap import InMemoryReauthStore

    reauths = InMemoryReauthStore()
    extra: dict[str, object] = (
        {"method": "AKA'", "server_class": EapAkaPrimeServer, "network_name": "WLAN"}
        if prime
        else {}
    )
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir, Usim(K, OPC), _store(), reauths=2, reauth_store=reauths, **extra
    )
    assert rc == 0, log[-4000:]
    assert "MPPE keys OK: 3  mismatch: 0" in log, log[-3000:]
    assert sim.answers == ["UMTS-AUTH"]  # one AKA run, then fast re-authentications
    first, *again = front.finished
    assert not first.reauthenticated
    assert [s.reauthenticated for s in again] == [True, True]
    assert all(s.state == "success" and s.permanent_identity == IMSI for s in again)
    assert len({s.msk for s in front.finished}) == 3
    # Every MSK eapol_test derived (full, then the two XKEY'-based ones) equals ours, in order.
    label = r"EAP-AKA': MSK" if prime else r"keying material \(MSK\)"
    logged = re.findall(label + r" - hexdump\(len=64\):((?: [0-9a-f]{2}){64})", log)
    assert [bytes.fromhex(x.replace(" ", "")) for x in logged] == [s.msk for s in front.finished]
    assert len(reauths) == 1  # the next, still unused, identity


def test_eapol_test_uses_our_pseudonym(workdir):
    # Our server hands out a pseudonym (no re-authentication identities); eapol_test -r1 comes
    # back with it in EAP-Response/Identity and our server resolves it for a full challenge.
    from dsmip6.eap import InMemoryPseudonymStore

    pseudonyms = InMemoryPseudonymStore()
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir, Usim(K, OPC), _store(), reauths=1, pseudonym_store=pseudonyms
    )
    assert rc == 0, log[-4000:]
    assert "MPPE keys OK: 2  mismatch: 0" in log, log[-3000:]
    assert sim.answers == ["UMTS-AUTH", "UMTS-AUTH"]
    first, second = front.finished
    assert second.identity.split("@")[0] == first._next_pseudonym
    assert second.permanent_identity == IMSI
    assert len(pseudonyms) == 2


@pytest.mark.parametrize("bidding", [False, True])
def test_eapol_test_bidding_down_protection(workdir, bidding):
    # eapol_test allows both EAP-AKA and EAP-AKA'; our EAP-AKA server with bidding=True says it
    # prefers EAP-AKA' (AT_BIDDING D=1), so wpa_supplicant's peer must abort (RFC 5448 §4).
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir, Usim(K, OPC), _store(), method="AKA AKA'", bidding=bidding
    )
    (server,) = front.finished
    if bidding:
        assert rc != 0
        assert server.state == "failure"
        assert "Authentication-Reject" in server.failure_reason
    else:
        assert rc == 0, log[-3000:]
        assert _eapol_test_keys(log) == (server.msk, server.emsk)


def test_eapol_test_gets_our_failure_notification(workdir):
    # eapol_test's RES is wrong (its MAC is right): our server answers with AKA-Notification
    # "General failure" (16384), eapol_test answers it, then EAP-Failure / Access-Reject.
    rc, log, front, sim = _eapol_test_against_our_server(
        workdir, Usim(K, OPC), _store(), corrupt_res=True
    )
    assert rc != 0
    (server,) = front.finished
    assert server.state == "failure" and server.failure_reason == "RES does not match XRES"
    assert "EAP-SIM: AT_NOTIFICATION 16384" in log
    assert "Generating EAP-AKA Notification" in log


def test_eapol_test_refused_by_our_server_with_wrong_key(workdir):
    store = InMemorySubscriberStore([Subscriber(IMSI, bytes(16), OPC)])
    rc, log, front, sim = _eapol_test_against_our_server(workdir, Usim(K, OPC), store)
    assert rc != 0
    assert sim.answers == ["UMTS-FAIL"]
    (server,) = front.finished
    assert server.state == "failure" and server.msk is None

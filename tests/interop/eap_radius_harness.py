"""Test harness for EAP-AKA interop with hostap (hostapd, eapol_test). Test-only code.

* A minimal RADIUS codec (RFC 2865) with EAP-Message / Message-Authenticator (RFC 3579 §3)
  and MS-MPPE-Send/Recv-Key (RFC 2548 §2.4) encryption and decryption.
* ``HlrAucResponder``: a Milenage-backed answerer of hostapd's ``eap_sim_db`` unix datagram
  protocol (the text protocol of hostap's hlr_auc_gw: ``AKA-REQ-AUTH <IMSI>`` →
  ``AKA-RESP-AUTH <IMSI> <RAND> <AUTN> <IK> <CK> <RES>``; ``AKA-AUTS <IMSI> <AUTS> <RAND>``).
* ``RadiusEapFrontEnd``: a RADIUS server on loopback relaying EAP to our ``EapAkaServer``.
* Process helpers: free loopback UDP ports, start/stop of processes we started, by PID.

Everything binds to 127.0.0.1 or to unix sockets in a private temporary directory; every wait
is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from dsmip6.eap import EapAkaServer, InMemorySubscriberStore

# RADIUS codes and attribute types (RFC 2865 §4, §5; RFC 3579 §3; RFC 2548 §2.4).
ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, STATE, VENDOR_SPECIFIC, EAP_MESSAGE, MESSAGE_AUTHENTICATOR = 1, 24, 26, 79, 80
NAS_IDENTIFIER = 32
VENDOR_MICROSOFT = 311
MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY = 16, 17


def find_tool(name: str) -> str:
    """Path of a hostap tool; the test FAILS (not skips) when it is missing."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    assert path is not None, f"{name} is not installed (Debian package: see .ci/apt-packages.txt)"
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _md5(data: bytes) -> bytes:
    h = hashes.Hash(hashes.MD5())
    h.update(data)
    return h.finalize()


def _hmac_md5(key: bytes, data: bytes) -> bytes:
    h = crypto_hmac.HMAC(key, hashes.MD5())
    h.update(data)
    return h.finalize()


@dataclass
class RadiusPacket:
    code: int
    identifier: int
    authenticator: bytes
    attributes: list[tuple[int, bytes]] = field(default_factory=list)

    def get(self, t: int) -> bytes | None:
        return next((v for k, v in self.attributes if k == t), None)

    def eap_message(self) -> bytes:
        return b"".join(v for k, v in self.attributes if k == EAP_MESSAGE)

    def vendor(self, vendor_id: int, vendor_type: int) -> bytes | None:
        for k, v in self.attributes:
            if k == VENDOR_SPECIFIC and len(v) >= 6 and int.from_bytes(v[:4], "big") == vendor_id:
                if v[4] == vendor_type and v[5] == len(v) - 4:
                    return v[6:]
        return None


def encode_attributes(attributes: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for t, v in attributes:
        assert len(v) <= 253
        out += bytes((t, len(v) + 2)) + v
    return bytes(out)


def eap_attributes(eap: bytes) -> list[tuple[int, bytes]]:
    """EAP-Message attributes, split in 253-octet pieces (RFC 3579 §3.1)."""
    return [(EAP_MESSAGE, eap[i : i + 253]) for i in range(0, len(eap), 253)] or [
        (EAP_MESSAGE, b"")
    ]


def decode(data: bytes) -> RadiusPacket:
    assert len(data) >= 20, "short RADIUS packet"
    length = int.from_bytes(data[2:4], "big")
    assert 20 <= length <= len(data), "bad RADIUS length"
    attrs, pos = [], 20
    while pos < length:
        t, n = data[pos], data[pos + 1]
        assert n >= 2 and pos + n <= length, "bad RADIUS attribute"
        attrs.append((t, bytes(data[pos + 2 : pos + n])))
        pos += n
    return RadiusPacket(data[0], data[1], bytes(data[4:20]), attrs)


def build_request(
    identifier: int, authenticator: bytes, attributes: list[tuple[int, bytes]], secret: bytes
) -> bytes:
    """Access-Request with a Message-Authenticator over the whole packet (RFC 3579 §3.2)."""
    body = encode_attributes([*attributes, (MESSAGE_AUTHENTICATOR, bytes(16))])
    header = bytes((ACCESS_REQUEST, identifier)) + (20 + len(body)).to_bytes(2, "big")
    packet = header + authenticator + body
    mac = _hmac_md5(secret, packet)
    return packet[:-16] + mac


def build_response(
    code: int,
    request: RadiusPacket,
    attributes: list[tuple[int, bytes]],
    secret: bytes,
) -> bytes:
    """Access-Accept/Reject/Challenge with Message-Authenticator (computed with the Request
    Authenticator in place, RFC 3579 §3.2) and Response Authenticator (RFC 2865 §3)."""
    body = encode_attributes([*attributes, (MESSAGE_AUTHENTICATOR, bytes(16))])
    header = bytes((code, request.identifier)) + (20 + len(body)).to_bytes(2, "big")
    mac = _hmac_md5(secret, header + request.authenticator + body)
    body = body[:-16] + mac
    response_auth = _md5(header + request.authenticator + body + secret)
    return header + response_auth + body


def verify_message_authenticator(data: bytes, secret: bytes, request_auth: bytes | None) -> bool:
    """Check Message-Authenticator of a received packet; ``request_auth`` for responses."""
    pkt = decode(data)
    pos, offset = 20, None
    while pos < len(data):
        if data[pos] == MESSAGE_AUTHENTICATOR and data[pos + 1] == 18:
            offset = pos + 2
        pos += data[pos + 1]
    if offset is None:
        return False
    zeroed = bytearray(data)
    zeroed[offset : offset + 16] = bytes(16)
    if request_auth is not None:
        zeroed[4:20] = request_auth
    return constant_time.bytes_eq(
        _hmac_md5(secret, bytes(zeroed)), data[offset : offset + 16]
    ) and pkt.code in (ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE)


def verify_response_authenticator(data: bytes, request_auth: bytes, secret: bytes) -> bool:
    expected = _md5(data[:4] + request_auth + data[20:] + secret)
    return constant_time.bytes_eq(expected, data[4:20])


def mppe_decrypt(value: bytes, secret: bytes, request_auth: bytes) -> bytes:
    """RFC 2548 §2.4.2: Salt(2) ‖ C; b1 = MD5(S ‖ R ‖ A), bi = MD5(S ‖ c(i-1))."""
    salt, cipher = value[:2], value[2:]
    assert salt[0] & 0x80, "MPPE salt must have its high bit set"
    assert cipher and len(cipher) % 16 == 0
    plain, prev = bytearray(), request_auth + salt
    for i in range(0, len(cipher), 16):
        b = _md5(secret + prev)
        block = cipher[i : i + 16]
        plain += bytes(x ^ y for x, y in zip(block, b, strict=True))
        prev = block
    key_len = plain[0]
    assert key_len <= len(plain) - 1
    return bytes(plain[1 : 1 + key_len])


def mppe_encrypt(key: bytes, secret: bytes, request_auth: bytes, salt: bytes) -> bytes:
    plain = bytes((len(key),)) + key
    plain += bytes(-len(plain) % 16)
    out, prev = bytearray(salt), request_auth + salt
    for i in range(0, len(plain), 16):
        b = _md5(secret + prev)
        block = bytes(x ^ y for x, y in zip(plain[i : i + 16], b, strict=True))
        out += block
        prev = block
    return bytes(out)


def ms_vendor(vendor_type: int, value: bytes) -> tuple[int, bytes]:
    return (
        VENDOR_SPECIFIC,
        VENDOR_MICROSOFT.to_bytes(4, "big") + bytes((vendor_type, len(value) + 2)) + value,
    )


class RadiusClient:
    """Blocking RADIUS client over loopback UDP carrying EAP (bounded retries)."""

    def __init__(self, port: int, secret: bytes, *, timeout: float = 2.0, tries: int = 10):
        self.addr = ("127.0.0.1", port)
        self.secret = secret
        self.timeout = timeout
        self.tries = tries
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(timeout)
        self._identifier = 0
        self.state: bytes | None = None

    def close(self) -> None:
        self.sock.close()

    def exchange(self, user_name: str, eap: bytes) -> tuple[RadiusPacket, bytes]:
        """Send one Access-Request with ``eap``; return (decoded reply, request authenticator)."""
        self._identifier = (self._identifier + 1) & 0xFF
        request_auth = os.urandom(16)
        attrs = [(USER_NAME, user_name.encode()), (NAS_IDENTIFIER, b"dsmip6-test")]
        attrs += eap_attributes(eap)
        if self.state is not None:
            attrs.append((STATE, self.state))
        packet = build_request(self._identifier, request_auth, attrs, self.secret)
        for _ in range(self.tries):
            self.sock.sendto(packet, self.addr)
            try:
                data, _ = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            if data[1] != self._identifier:
                continue
            assert verify_response_authenticator(data, request_auth, self.secret)
            assert verify_message_authenticator(data, self.secret, request_auth)
            reply = decode(data)
            self.state = reply.get(STATE)
            return reply, request_auth
        raise AssertionError(f"no RADIUS answer from {self.addr} after {self.tries} tries")


class HlrAucResponder:
    """Answers hostapd's eap_sim_db queries from an ``InMemorySubscriberStore`` (Milenage)."""

    def __init__(self, path: Path, store: InMemorySubscriberStore, rng: Callable[[int], bytes]):
        self.path = path
        self.store = store
        self.rng = rng
        self.log: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HlrAucResponder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(1000)
            except TimeoutError:
                continue
            except OSError:
                return
            line = data.decode("ascii", "replace").strip()
            self.log.append(line)
            reply = self.answer(line)
            if reply is not None and sender:
                self.log.append(reply)
                self.sock.sendto(reply.encode(), sender)

    def answer(self, line: str) -> str | None:
        parts = line.split()
        if len(parts) == 2 and parts[0] == "AKA-REQ-AUTH":
            imsi = parts[1]
            av = self.store.authentication_vector(imsi, self.rng(16))
            if av is None:
                return f"AKA-RESP-AUTH {imsi} FAILURE"
            fields = (av.rand, av.autn, av.ik, av.ck, av.xres)
            return f"AKA-RESP-AUTH {imsi} " + " ".join(f.hex() for f in fields)
        if len(parts) == 4 and parts[0] == "AKA-AUTS":
            _, imsi, auts, rand = parts
            self.store.resynchronise(imsi, bytes.fromhex(rand), bytes.fromhex(auts))
            return None
        return None


@dataclass
class _Session:
    server: EapAkaServer
    identity: str


class RadiusEapFrontEnd:
    """RADIUS server on 127.0.0.1 relaying EAP to ``EapAkaServer`` instances (one per State).

    On EAP-Success it answers Access-Accept with MS-MPPE-Recv-Key = MSK[0:32] and
    MS-MPPE-Send-Key = MSK[32:64] (RFC 2548 §2.4.2/2.4.3, as hostapd does).
    """

    def __init__(
        self,
        store: InMemorySubscriberStore,
        secret: bytes,
        *,
        server_class: type[EapAkaServer] = EapAkaServer,
        use_eap_identity: bool = True,
        **server_kwargs: object,
    ):
        self.server_class = server_class
        self.use_eap_identity = use_eap_identity
        self.store = store
        self.secret = secret
        self.server_kwargs = server_kwargs
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.sessions: dict[bytes, _Session] = {}
        self.finished: list[EapAkaServer] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._cache: dict[tuple[object, int, bytes], bytes] = {}

    def __enter__(self) -> RadiusEapFrontEnd:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self._handle(data, sender)
            except Exception as exc:  # noqa: BLE001 - recorded for the test to assert on
                self.errors.append(repr(exc))
                continue
            if reply is not None:
                self.sock.sendto(reply, sender)

    def _handle(self, data: bytes, sender: object) -> bytes | None:
        request = decode(data)
        key = (sender, request.identifier, request.authenticator)
        if key in self._cache:  # RADIUS retransmission
            return self._cache[key]
        if request.code != ACCESS_REQUEST:
            return None
        if not verify_message_authenticator(data, self.secret, None):
            self.errors.append("bad Message-Authenticator")
            return None
        eap = request.eap_message()
        state = request.get(STATE)
        if state is None or state not in self.sessions:
            # First message: EAP-Response/Identity (RFC 3579 §2.1).
            assert eap[0] == 2 and eap[4] == 1, f"expected EAP-Response/Identity, got {eap.hex()}"
            identity = eap[5:].decode()
            server = self.server_class(
                self.store,
                rng=os.urandom,
                identity=identity if self.use_eap_identity else None,
                **self.server_kwargs,  # type: ignore[arg-type]
            )
            state = os.urandom(8)
            self.sessions[state] = _Session(server, identity)
            out = server.start()
        else:
            server = self.sessions[state].server
            out = server.process(eap)
        if out[0] == 3:
            msk = server.msk
            assert msk is not None
            attrs = eap_attributes(out)
            attrs.append(
                ms_vendor(
                    MS_MPPE_RECV_KEY,
                    mppe_encrypt(msk[:32], self.secret, request.authenticator, b"\x80\x01"),
                )
            )
            attrs.append(
                ms_vendor(
                    MS_MPPE_SEND_KEY,
                    mppe_encrypt(msk[32:64], self.secret, request.authenticator, b"\x80\x02"),
                )
            )
            self.finished.append(server)
            reply = build_response(ACCESS_ACCEPT, request, attrs, self.secret)
        elif out[0] == 4:
            self.finished.append(server)
            reply = build_response(ACCESS_REJECT, request, eap_attributes(out), self.secret)
        else:
            attrs = [*eap_attributes(out), (STATE, state)]
            reply = build_response(ACCESS_CHALLENGE, request, attrs, self.secret)
        self._cache[key] = reply
        return reply


class Proc:
    """A process we started; stopped by its PID only."""

    def __init__(self, argv: list[str], log: Path, cwd: Path | None = None):
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
        self._log.close()

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.popen.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

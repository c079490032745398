"""Shared packets and keys for the ESP tests (test-vectors.md §6 packets E1–E3)."""

from __future__ import annotations

# E1: IPv6 | Destination Options (PadN, HAO) | MH Binding Update
E1 = bytes.fromhex(
    "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001"
    "870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000"
    "000000000100031020010db8000200000000000000000100"
)
# E2: IPv6 | Type 2 Routing header | MH Binding Acknowledgement
E2 = bytes.fromhex(
    "6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100"
    "870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080"
    "c000020a01020000"
)
# E3: IPv4 | UDP 4191 | IPv6 | MH Binding Update
E3 = bytes.fromhex(
    "45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db8"
    "00010000000000000000100020010db80001000000000000000000013b030500d2040002d4000384"
    "1d068000c000020a20060000c633640701020000"
)

ALGORITHMS = ("aes-gcm-128", "aes-gcm-256", "aes-cbc-hmac-sha256", "chacha20-poly1305", "null")


def keys(algorithm: str) -> tuple[bytes, bytes | None]:
    """(key, integrity_key) for an algorithm: fixed, distinct, non-trivial octets."""
    k = {
        "aes-gcm-128": bytes(range(1, 21)),
        "aes-gcm-256": bytes(range(7, 43)),
        "chacha20-poly1305": bytes(range(50, 86)),
        "aes-cbc-hmac-sha256": bytes(range(3, 19)),
        "null": b"",
    }[algorithm]
    ik = bytes(range(9, 41)) if algorithm in ("aes-cbc-hmac-sha256", "null") else None
    return k, ik

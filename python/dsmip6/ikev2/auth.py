"""Identities and the AUTH payload (RFC 7296 §2.15-2.16, §3.5, §3.8; RFC 7427; RFC 4754).

::

    InitiatorSignedOctets = RealMessage1 | NonceRData | prf(SK_pi, IDi')
    ResponderSignedOctets = RealMessage2 | NonceIData | prf(SK_pr, IDr')
    shared key (or EAP MSK):  AUTH = prf(prf(secret, "Key Pad for IKEv2"), SignedOctets)
"""

from __future__ import annotations

import functools
import hmac as _cmp
import ipaddress
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from dsmip6.errors import ConfigError
from dsmip6.ikev2.constants import KEY_PAD, AuthMethod, IdType
from dsmip6.ikev2.message import IdPayload
from dsmip6.ikev2.transforms import Prf, sha1

__all__ = [
    "make_id",
    "id_to_str",
    "signed_octets",
    "psk_auth",
    "sign",
    "verify_signature",
    "verify_certificate",
    "certreq_data",
    "AuthError",
]


class AuthError(Exception):
    """AUTH or certificate check failed (turned into AUTHENTICATION_FAILED)."""


@functools.lru_cache(maxsize=16)  # our own identity, mostly: a small cache (memory per UE)
def _str_id(identity: str) -> tuple[int, bytes]:
    """(ID type, data) of a configured identity string (pure; cached: the HA's own identity is
    the same for every handshake and the address parse is not free)."""
    if "@" in identity.partition("%")[0]:
        # not address text ('@' appears in neither form, only in an IPv6 scope after '%'):
        # the NAI of every UE, without the address parse raising (UEs miss this cache)
        return IdType.RFC822_ADDR, identity.encode()
    try:
        addr = ipaddress.ip_address(identity)
    except ValueError:
        pass
    else:
        return (IdType.IPV4_ADDR if addr.version == 4 else IdType.IPV6_ADDR), addr.packed
    return (IdType.RFC822_ADDR if "@" in identity else IdType.FQDN), identity.encode()


def make_id(identity: Any, initiator: bool) -> IdPayload:
    """Build IDi/IDr from a config value.

    ``str``: an IP address → ID_IPV4/IPV6_ADDR; containing ``@`` → ID_RFC822_ADDR (the NAI);
    otherwise ID_FQDN. ``x509.Name`` → ID_DER_ASN1_DN. ``(id_type, bytes)`` → as given.
    """
    if isinstance(identity, IdPayload):
        return IdPayload(identity.id_type, identity.data, initiator)
    if isinstance(identity, tuple) and len(identity) == 2:
        return IdPayload(int(identity[0]), bytes(identity[1]), initiator)
    if isinstance(identity, x509.Name):
        return IdPayload(IdType.DER_ASN1_DN, identity.public_bytes(), initiator)
    if isinstance(identity, bytes):
        return IdPayload(IdType.KEY_ID, identity, initiator)
    if isinstance(identity, str):
        kind, data = _str_id(identity)
        return IdPayload(kind, data, initiator)
    raise ConfigError(f"cannot make an IKE identity from {identity!r}")


_TEXT_IDS = (IdType.FQDN, IdType.RFC822_ADDR)  # the members, read once (enum reads are slow)
_ID_IPV4, _ID_IPV6 = IdType.IPV4_ADDR, IdType.IPV6_ADDR


def id_to_str(p: IdPayload) -> str:
    """A printable identity (the string form used in events and the address assigner)."""
    if p.id_type in _TEXT_IDS:
        return p.data.decode("utf-8", "replace")
    if p.id_type == _ID_IPV4 and len(p.data) == 4:
        return str(ipaddress.IPv4Address(p.data))
    if p.id_type == _ID_IPV6 and len(p.data) == 16:
        return str(ipaddress.IPv6Address(p.data))
    return p.data.hex()


def signed_octets(
    real_message: bytes, peer_nonce: bytes, prf: Prf, sk_p: bytes, idp: IdPayload
) -> bytes:
    return real_message + peer_nonce + prf(sk_p, idp.body)


def psk_auth(prf: Prf, secret: bytes, octets: bytes) -> bytes:
    return prf(prf(secret, KEY_PAD), octets)


def psk_verify(prf: Prf, secret: bytes, octets: bytes, auth: bytes) -> bool:
    return _cmp.compare_digest(psk_auth(prf, secret, octets), auth)


# RFC 7427 Appendix A: DER AlgorithmIdentifiers
_ALG_IDS: dict[str, bytes] = {
    "sha256WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010b0500"),
    "sha384WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010c0500"),
    "sha512WithRSAEncryption": bytes.fromhex("300d06092a864886f70d01010d0500"),
    "ecdsa-with-sha256": bytes.fromhex("300a06082a8648ce3d040302"),
    "ecdsa-with-sha384": bytes.fromhex("300a06082a8648ce3d040303"),
    "ecdsa-with-sha512": bytes.fromhex("300a06082a8648ce3d040304"),
    "ed25519": bytes.fromhex("300506032b6570"),
}
_ALG_BY_DER = {v: k for k, v in _ALG_IDS.items()}
_HASH_BY_NAME: dict[str, hashes.HashAlgorithm | None] = {
    "sha256WithRSAEncryption": hashes.SHA256(),
    "sha384WithRSAEncryption": hashes.SHA384(),
    "sha512WithRSAEncryption": hashes.SHA512(),
    "ecdsa-with-sha256": hashes.SHA256(),
    "ecdsa-with-sha384": hashes.SHA384(),
    "ecdsa-with-sha512": hashes.SHA512(),
    "ed25519": None,
}
_ECDSA_BY_NAME = {  # stateless signature-algorithm descriptors, built once
    n: ec.ECDSA(h) for n, h in _HASH_BY_NAME.items() if n.startswith("ecdsa") and h is not None
}


def _signer_kind(private_key: Any) -> tuple[str, Any, bytes]:
    """(kind, signature-algorithm descriptor, RFC 7427 AlgorithmIdentifier) of a private key;
    ``sign`` keeps it per key object (the isinstance checks against the ABCs and the key-size
    property are not free, and the HA signs with the same key in every IKE_AUTH)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        name = "ecdsa-with-sha384" if private_key.key_size >= 384 else "ecdsa-with-sha256"
        return "ec", _ECDSA_BY_NAME[name], _ALG_IDS[name]
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "rsa", None, _ALG_IDS["sha256WithRSAEncryption"]
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519", None, _ALG_IDS["ed25519"]
    raise ConfigError(f"unsupported private key {type(private_key).__name__}")


_SIGNERS: dict[int, tuple[Any, tuple[str, Any, bytes]]] = {}
_PKCS1V15 = padding.PKCS1v15()
_SHA1, _SHA256 = hashes.SHA1(), hashes.SHA256()
# the members, read once (an enum attribute read costs ~650 instructions in CPython 3.11)
_RSA_SIG, _DIGITAL_SIGNATURE = AuthMethod.RSA_SIG, AuthMethod.DIGITAL_SIGNATURE


def sign(
    private_key: Any, octets: bytes, rsa_method: int = AuthMethod.DIGITAL_SIGNATURE
) -> tuple[int, bytes]:
    """Sign ``octets``; returns (auth method, AUTH data)."""
    hit = _SIGNERS.get(id(private_key))
    if hit is not None and hit[0] is private_key:  # the entry keeps the key: no id reuse
        kind, algorithm, alg = hit[1]
    else:
        kind, algorithm, alg = found = _signer_kind(private_key)
        if len(_SIGNERS) >= 64:
            _SIGNERS.clear()
        _SIGNERS[id(private_key)] = (private_key, found)
    if kind == "ec":
        sig = private_key.sign(octets, algorithm)
    elif kind == "rsa":
        if rsa_method == _RSA_SIG:
            return _RSA_SIG, private_key.sign(octets, _PKCS1V15, _SHA1)
        sig = private_key.sign(octets, _PKCS1V15, _SHA256)
    else:
        sig = private_key.sign(octets)
    return _DIGITAL_SIGNATURE, bytes([len(alg)]) + alg + sig


def verify_signature(public_key: Any, method: int, data: bytes, octets: bytes) -> None:
    """Raise AuthError unless ``data`` (AUTH payload data) is a valid signature of ``octets``."""
    try:
        if method == AuthMethod.RSA_SIG:
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise AuthError("RSA AUTH with a non-RSA certificate")
            public_key.verify(data, octets, padding.PKCS1v15(), hashes.SHA1())
            return
        if method in (AuthMethod.ECDSA_SHA256_P256, AuthMethod.ECDSA_SHA384_P384):
            # RFC 4754: r ‖ s, fixed size
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise AuthError("ECDSA AUTH with a non-EC certificate")
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            half = len(data) // 2
            der = encode_dss_signature(
                int.from_bytes(data[:half], "big"), int.from_bytes(data[half:], "big")
            )
            h = hashes.SHA256() if method == AuthMethod.ECDSA_SHA256_P256 else hashes.SHA384()
            public_key.verify(der, octets, ec.ECDSA(h))
            return
        if method != AuthMethod.DIGITAL_SIGNATURE:
            raise AuthError(f"AUTH method {method} not supported")
        if not data:
            raise AuthError("empty signature AUTH")
        n = data[0]
        alg, sig = data[1 : 1 + n], data[1 + n :]
        name = _ALG_BY_DER.get(alg)
        if name is None:
            raise AuthError(f"signature algorithm {alg.hex()} not supported")
        h = _HASH_BY_NAME[name]
        if name.endswith("RSAEncryption"):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise AuthError("RSA signature with a non-RSA key")
            public_key.verify(sig, octets, padding.PKCS1v15(), h)  # type: ignore[arg-type]
        elif name.startswith("ecdsa"):
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise AuthError("ECDSA signature with a non-EC key")
            public_key.verify(sig, octets, ec.ECDSA(h))  # type: ignore[arg-type]
        else:
            if not isinstance(public_key, ed25519.Ed25519PublicKey):
                raise AuthError("Ed25519 signature with another key type")
            public_key.verify(sig, octets)
    except InvalidSignature:
        raise AuthError("signature does not verify") from None
    except (ValueError, TypeError) as e:
        raise AuthError(f"bad signature encoding: {e}") from None


def _identity_matches(cert: x509.Certificate, idp: IdPayload) -> bool:
    if idp.id_type == IdType.DER_ASN1_DN:
        return cert.subject.public_bytes() == idp.data
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    text = id_to_str(idp)
    if idp.id_type == IdType.FQDN and san is not None:
        return text.lower() in [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    if idp.id_type == IdType.RFC822_ADDR and san is not None:
        return text.lower() in [n.lower() for n in san.get_values_for_type(x509.RFC822Name)]
    if idp.id_type in (IdType.IPV4_ADDR, IdType.IPV6_ADDR) and san is not None:
        try:
            return ipaddress.ip_address(text) in san.get_values_for_type(x509.IPAddress)
        except ValueError:  # an address ID of the wrong length
            return False
    return False


def verify_certificate(
    der: bytes,
    anchors: Sequence[x509.Certificate],
    idp: IdPayload,
    unix_time: float | None = None,
) -> x509.Certificate:
    """Check that ``der`` is issued by one of ``anchors``, names the identity ``idp`` and, when
    ``unix_time`` is given, is valid at that instant (and so is its CA). Raises AuthError."""
    try:
        hit = _ISSUED.get(der)
        if (
            hit is not None
            and len(hit[0]) == len(anchors)
            and all(x is y for x, y in zip(hit[0], anchors, strict=True))
        ):
            cert, ca = hit[1], hit[2]  # these octets were found issued by ``ca`` before
        else:
            cert, ca = _issued(der, anchors)
        if unix_time is not None:
            for c in (cert, ca):
                if not (
                    c.not_valid_before_utc.timestamp()
                    <= unix_time
                    <= c.not_valid_after_utc.timestamp()
                ):
                    raise AuthError("certificate outside its validity period")
        if not _identity_matches(cert, idp):
            raise AuthError(f"certificate does not name identity {id_to_str(idp)!r}")
        cert.public_key()  # an unsupported key type fails here, not later
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise AuthError(f"unusable certificate: {e}") from None
    return cert


def _issued(
    der: bytes, anchors: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, x509.Certificate]:
    """The certificate of ``der`` and the first of ``anchors`` whose signature on it verifies;
    raises AuthError when none does. Remembered in ``_ISSUED``."""
    cert = x509.load_der_x509_certificate(der)
    for ca in anchors:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        break
    else:
        raise AuthError("certificate not issued by a trusted CA")
    if len(_ISSUED) >= 16:
        _ISSUED.clear()
    _ISSUED[der] = (tuple(anchors), cert, ca)
    return cert, ca


_ISSUED: dict[bytes, tuple[tuple[x509.Certificate, ...], x509.Certificate, x509.Certificate]] = {}
"""``_issued``'s answers by the certificate's DER octets, with the anchor objects searched
(kept alive here, compared by identity). Whether a CA's signature verifies on a certificate
depends on those octets and the CA's alone, and the HA sends the same certificate in every
handshake: a UE (and a simulation of many UEs) verifies it once, not once per attach (an
ECDSA P-256 verification, ~0.9 M instructions). The validity period and the identity are
still checked on every call. At most 16 entries."""


def certreq_data(anchors: Sequence[x509.Certificate]) -> bytes:
    """SHA-1 of each CA's SubjectPublicKeyInfo (RFC 7296 §3.7); computed once per anchor set."""
    key = tuple(id(a) for a in anchors)
    hit = _CERTREQ_CACHE.get(key)
    if hit is not None and all(x is y for x, y in zip(hit[0], anchors, strict=True)):
        return hit[1]
    data = _certreq_data(tuple(anchors))
    if len(_CERTREQ_CACHE) > 64:
        _CERTREQ_CACHE.clear()
    _CERTREQ_CACHE[key] = (tuple(anchors), data)
    return data


_CERTREQ_CACHE: dict[tuple[int, ...], tuple[tuple[x509.Certificate, ...], bytes]] = {}


_DER_CACHE: dict[int, tuple[x509.Certificate, bytes]] = {}


def cert_der(cert: x509.Certificate) -> bytes:
    """DER of our own certificate, cached by object identity (hashing a certificate costs
    about as much as encoding it; it is sent in every IKE_AUTH)."""
    hit = _DER_CACHE.get(id(cert))
    if hit is not None and hit[0] is cert:
        return hit[1]
    der = cert.public_bytes(serialization.Encoding.DER)
    if len(_DER_CACHE) > 64:
        _DER_CACHE.clear()
    _DER_CACHE[id(cert)] = (cert, der)
    return der


def _certreq_data(anchors: tuple[x509.Certificate, ...]) -> bytes:
    return b"".join(
        sha1(
            ca.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        for ca in anchors
    )

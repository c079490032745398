"""IKEv2 registry numbers (RFC 7296 §3, IANA "IKEv2 Parameters"; RFC 5026, 5685, 7383, 7427).

Every registry is an :class:`enum.IntEnum`; decoders keep values they do not know as plain ints
(STYLE §2.2), so the names here are only the ones dsmip6 acts on.
"""

from __future__ import annotations

import enum

IKE_VERSION = 0x20
"""MjVer 2, MnVer 0 (RFC 7296 §3.1)."""
IKE_HEADER_LEN = 28
GENERIC_HEADER_LEN = 4
NON_ESP_MARKER = b"\x00\x00\x00\x00"
"""Prefix of IKE messages on UDP 4500 (RFC 3948 §2.2); not part of any IKE length or AUTH."""
IKE_PORT = 500
NAT_T_PORT = 4500
KEY_PAD = b"Key Pad for IKEv2"
"""The 17-octet ASCII pad of the shared-key AUTH computation (RFC 7296 §2.15)."""


class ExchangeType(enum.IntEnum):
    IKE_SA_INIT = 34
    IKE_AUTH = 35
    CREATE_CHILD_SA = 36
    INFORMATIONAL = 37


class Flag(enum.IntFlag):
    """Header flags (RFC 7296 §3.1)."""

    RESPONSE = 0x20
    VERSION = 0x10
    INITIATOR = 0x08


class PayloadType(enum.IntEnum):
    NONE = 0
    SA = 33
    KE = 34
    IDI = 35
    IDR = 36
    CERT = 37
    CERTREQ = 38
    AUTH = 39
    NONCE = 40
    NOTIFY = 41
    DELETE = 42
    VENDOR = 43
    TSI = 44
    TSR = 45
    SK = 46
    CP = 47
    EAP = 48
    SKF = 53


class ProtocolId(enum.IntEnum):
    IKE = 1
    AH = 2
    ESP = 3


class TransformType(enum.IntEnum):
    ENCR = 1
    PRF = 2
    INTEG = 3
    DH = 4
    ESN = 5


class EncrId(enum.IntEnum):
    NULL = 11
    AES_CBC = 12
    AES_GCM_8 = 18
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    CHACHA20_POLY1305 = 28


class PrfId(enum.IntEnum):
    HMAC_SHA1 = 2
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7


class IntegId(enum.IntEnum):
    NONE = 0
    HMAC_SHA1_96 = 2
    HMAC_SHA2_256_128 = 12
    HMAC_SHA2_384_192 = 13
    HMAC_SHA2_512_256 = 14


class DhId(enum.IntEnum):
    MODP_2048 = 14
    ECP_256 = 19
    ECP_384 = 20
    CURVE25519 = 31


class EsnId(enum.IntEnum):
    NO_ESN = 0
    ESN = 1


KEY_LENGTH_ATTRIBUTE = 0x800E
"""Transform attribute 14 (Key Length) in TV form: AF bit set (RFC 7296 §3.3.5)."""


class IdType(enum.IntEnum):
    IPV4_ADDR = 1
    FQDN = 2
    RFC822_ADDR = 3
    IPV6_ADDR = 5
    DER_ASN1_DN = 9
    DER_ASN1_GN = 10
    KEY_ID = 11


class AuthMethod(enum.IntEnum):
    RSA_SIG = 1
    SHARED_KEY_MIC = 2
    DSS = 3
    ECDSA_SHA256_P256 = 9
    ECDSA_SHA384_P384 = 10
    ECDSA_SHA512_P521 = 11
    DIGITAL_SIGNATURE = 14


class CertEncoding(enum.IntEnum):
    X509_SIGNATURE = 4


class HashAlgorithm(enum.IntEnum):
    """SIGNATURE_HASH_ALGORITHMS values (RFC 7427 §4)."""

    SHA1 = 1
    SHA2_256 = 2
    SHA2_384 = 3
    SHA2_512 = 4
    IDENTITY = 5


class CfgType(enum.IntEnum):
    REQUEST = 1
    REPLY = 2
    SET = 3
    ACK = 4


class CfgAttr(enum.IntEnum):
    INTERNAL_IP4_ADDRESS = 1
    INTERNAL_IP4_DNS = 3
    INTERNAL_IP6_ADDRESS = 8
    INTERNAL_IP6_DNS = 10
    SUPPORTED_ATTRIBUTES = 14
    MIP6_HOME_PREFIX = 16
    HOME_AGENT_ADDRESS = 19


class TsType(enum.IntEnum):
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8


class GatewayIdType(enum.IntEnum):
    """REDIRECT / REDIRECTED_FROM gateway identity types (RFC 5685 §9)."""

    IPV4 = 1
    IPV6 = 2
    FQDN = 3


class Notify(enum.IntEnum):
    # errors
    UNSUPPORTED_CRITICAL_PAYLOAD = 1
    INVALID_IKE_SPI = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_SYNTAX = 7
    INVALID_MESSAGE_ID = 9
    INVALID_SPI = 11
    NO_PROPOSAL_CHOSEN = 14
    INVALID_KE_PAYLOAD = 17
    AUTHENTICATION_FAILED = 24
    SINGLE_PAIR_REQUIRED = 34
    NO_ADDITIONAL_SAS = 35
    INTERNAL_ADDRESS_FAILURE = 36
    FAILED_CP_REQUIRED = 37
    TS_UNACCEPTABLE = 38
    INVALID_SELECTORS = 39
    USE_ASSIGNED_HOA = 42
    TEMPORARY_FAILURE = 43
    CHILD_SA_NOT_FOUND = 44
    # status
    INITIAL_CONTACT = 16384
    SET_WINDOW_SIZE = 16385
    ADDITIONAL_TS_POSSIBLE = 16386
    NAT_DETECTION_SOURCE_IP = 16388
    NAT_DETECTION_DESTINATION_IP = 16389
    COOKIE = 16390
    USE_TRANSPORT_MODE = 16391
    REKEY_SA = 16393
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394
    NON_FIRST_FRAGMENTS_ALSO = 16395
    MOBIKE_SUPPORTED = 16396
    MULTIPLE_AUTH_SUPPORTED = 16404
    REDIRECT_SUPPORTED = 16406
    REDIRECT = 16407
    REDIRECTED_FROM = 16408
    EAP_ONLY_AUTHENTICATION = 16417
    FRAGMENTATION_SUPPORTED = 16430
    SIGNATURE_HASH_ALGORITHMS = 16431

    @property
    def is_error(self) -> bool:
        return self.value < 16384


def is_error_notify(notify_type: int) -> bool:
    """Error notifies are 0..16383 (RFC 7296 §3.10.1)."""
    return notify_type < 16384


class MhType(enum.IntEnum):
    """Mobility Header types used in traffic selectors (RFC 6275 §6.1, RFC 5142, RFC 5846)."""

    BINDING_UPDATE = 5
    BINDING_ACKNOWLEDGEMENT = 6
    BINDING_ERROR = 7
    HOME_AGENT_SWITCH = 12
    BINDING_REVOCATION = 16


IP_PROTO_MH = 135
IP_PROTO_ICMPV6 = 58

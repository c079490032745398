"""IKE_AUTH authentication: IDs, certificates, AUTH and EAP (RFC 7296 §1.2, §2.15, §2.16).

With EAP (the 3GPP S2c case, RFC 4877 §8; TS 33.402)::

    HDR, SK {IDi, [CERTREQ,] [IDr,] CP, SAi2, TSi, TSr}                          -->
    <--  HDR, SK {IDr, [CERT,] AUTH, EAP(Request)}
    HDR, SK {EAP(Response)}                                                      -->  (repeated)
    <--  HDR, SK {EAP(Success)}
    HDR, SK {AUTH(MSK)}                                                          -->
    <--  HDR, SK {AUTH(MSK), CP, SAr2, TSi, TSr}

Without EAP the initiator sends AUTH in its first message and the exchange is one round trip.
The MSK-based AUTH uses the whole 64-octet MSK as the shared secret (§2.16).
"""

from __future__ import annotations

import hmac as _cmp
from typing import TYPE_CHECKING, Any

from dsmip6.errors import MalformedPacket
from dsmip6.ikev2.auth import (
    AuthError,
    cert_der,
    certreq_data,
    id_to_str,
    make_id,
    psk_auth,
    psk_verify,
    sign,
    verify_certificate,
    verify_signature,
)
from dsmip6.ikev2.constants import KEY_PAD, AuthMethod, CertEncoding, Notify
from dsmip6.ikev2.events import Redirected
from dsmip6.ikev2.exchange import DONE, FAILED, NEED_MORE, Status
from dsmip6.ikev2.message import (
    AuthPayload,
    CertPayload,
    CertReqPayload,
    EapPayload,
    IdPayload,
    Message,
    NotifyPayload,
)
from dsmip6.ikev2.tasks.ike_init import decode_gateway, encode_gateway

_SKM = AuthMethod.SHARED_KEY_MIC  # the member, read once (enum attribute reads are slow)

if TYPE_CHECKING:
    from dsmip6.ikev2.sa import IkeSa

# Error notifies that concern only the child SA / configuration in an IKE_AUTH response; the
# IKE SA itself may still be authenticated (RFC 7296 §1.2, §2.21.2).
CHILD_ERRORS = {
    Notify.NO_PROPOSAL_CHOSEN,
    Notify.SINGLE_PAIR_REQUIRED,
    Notify.INTERNAL_ADDRESS_FAILURE,
    Notify.FAILED_CP_REQUIRED,
    Notify.TS_UNACCEPTABLE,
    Notify.INVALID_SELECTORS,
    Notify.USE_ASSIGNED_HOA,
}
EAP_SUCCESS, EAP_FAILURE = 3, 4


def _eap_code(data: bytes) -> int:
    return data[0] if data else 0


class IkeAuth:
    # A new task's state: class attributes, set on the instance only as the exchange goes
    # (one IkeAuth per IKE SA, made on the HA's path of every attach)
    phase = "start"
    eap: Any = None
    eap_out: bytes | None = None
    msk: bytes | None = None
    _msk_pad: Any = None  # prf(MSK, "Key Pad for IKEv2") as a keyed HMAC
    _mine: bytes | None = None
    _theirs: bytes | None = None
    error: str | None = None

    def __init__(self, sa: IkeSa, initiator: bool) -> None:
        self.sa = sa
        self.initiator = initiator

    def _msk_auth(self, octets: bytes) -> bytes:
        """AUTH with the MSK as shared secret: prf(prf(MSK, "Key Pad for IKEv2"), octets)
        (RFC 7296 §2.15-2.16); the inner prf is computed once for both directions, and the
        outer HMAC keyed with it once: the first AUTH copies the keyed HMAC, the second (the
        other direction's, the last one an exchange needs) finishes the keyed HMAC itself and
        forgets it (a third would key it again: same value)."""
        pad = self._msk_pad
        if pad is None:
            sa = self.sa
            prf = sa.prf
            assert self.msk is not None and prf is not None
            pad = self._msk_pad = prf.keyed(prf(self.msk, KEY_PAD))
            return prf.with_keyed(pad, octets)
        self._msk_pad = None
        pad.update(octets)
        return pad.finalize()  # type: ignore[no-any-return]

    # -------------------------------------------------------------- octets to sign
    def _my_octets(self) -> bytes:
        """Our signed octets (§2.15); the same for the certificate/PSK AUTH and the MSK AUTH
        of one exchange, so computed once."""
        if self._mine is not None:
            return self._mine
        sa = self.sa
        assert sa.prf is not None and sa.keys is not None and sa.my_id is not None
        if self.initiator:
            octets = sa.init_request + sa.nr + sa.prf(sa.keys.sk_pi, sa.my_id.body)
        else:
            octets = sa.init_response + sa.ni + sa.prf(sa.keys.sk_pr, sa.my_id.body)
            # ``octets`` begins with our IKE_SA_INIT response and nothing else reads it: one
            # copy of it is held until the MSK AUTH, not two (memory per UE in flight)
            sa.init_response = b""
        self._mine = octets
        return octets

    def _peer_octets(self) -> bytes:
        if self._theirs is not None:
            return self._theirs
        sa = self.sa
        assert sa.prf is not None and sa.keys is not None and sa.peer_id is not None
        if self.initiator:
            octets = sa.init_response + sa.ni + sa.prf(sa.keys.sk_pr, sa.peer_id.body)
        else:
            octets = sa.init_request + sa.nr + sa.prf(sa.keys.sk_pi, sa.peer_id.body)
        self._theirs = octets
        return octets

    def _my_auth(self) -> AuthPayload:
        sa = self.sa
        cfg = sa.config
        assert sa.prf is not None
        octets = self._my_octets()
        if cfg.private_key is not None and cfg.certificate is not None:
            method = cfg.rsa_auth_method if sa.peer_sig_hashes else AuthMethod.RSA_SIG
            m, data = sign(cfg.private_key, octets, method)
            return AuthPayload(m, data)
        assert cfg.psk is not None
        return AuthPayload(AuthMethod.SHARED_KEY_MIC, psk_auth(sa.prf, cfg.psk, octets))

    def _add_cert(self, msg: Message) -> None:
        cfg = self.sa.config
        if cfg.certificate is not None:
            msg.add(CertPayload(CertEncoding.X509_SIGNATURE, cert_der(cfg.certificate)))

    def _verify_peer(self, msg: Message) -> None:
        """Check the peer's AUTH with a PSK or its certificate; raise AuthError."""
        sa = self.sa
        cfg = sa.config
        auth = msg.get(AuthPayload)
        if auth is None:
            raise AuthError("AUTH missing")
        assert sa.prf is not None and sa.peer_id is not None
        octets = self._peer_octets()
        if auth.method == AuthMethod.SHARED_KEY_MIC:  # type: ignore[union-attr]
            if cfg.peer_psk is None or not psk_verify(sa.prf, cfg.peer_psk, octets, auth.data):  # type: ignore[union-attr]
                raise AuthError("shared-key AUTH does not verify")
            return
        certs = [c for c in msg.get_all(CertPayload) if c.encoding == CertEncoding.X509_SIGNATURE]  # type: ignore[union-attr]
        if not certs or not cfg.trust_anchors:
            raise AuthError("signature AUTH without a usable certificate")
        cert = verify_certificate(
            certs[0].data,
            cfg.trust_anchors,
            sa.peer_id,
            cfg.wall_clock() if cfg.wall_clock else None,
        )  # type: ignore[union-attr]
        verify_signature(cert.public_key(), auth.method, auth.data, octets)  # type: ignore[union-attr]

    def _fail(self, reason: str) -> Status:
        self.error = reason
        self.sa.failure_reason = reason
        return FAILED

    def build(self, msg: Message) -> Status:
        return self._build_request(msg) if self.initiator else self._build_response(msg)

    def process(self, msg: Message) -> Status:
        try:
            return self._process_response(msg) if self.initiator else self._process_request(msg)
        except AuthError as e:
            return self._fail(f"AUTHENTICATION_FAILED: {e}")

    # -------------------------------------------------------------- initiator (UE)
    def _build_request(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.phase == "start":
            sa.my_id = make_id(cfg.identity, True)
            msg.add(sa.my_id)
            self._add_cert(msg)
            if cfg.trust_anchors:
                msg.add(
                    CertReqPayload(CertEncoding.X509_SIGNATURE, certreq_data(cfg.trust_anchors))
                )
            if cfg.remote_id is not None:
                sa.requested_idr = make_id(cfg.remote_id, False)
                msg.add(sa.requested_idr)
            if getattr(cfg, "initial_contact", False):
                msg.add(NotifyPayload(Notify.INITIAL_CONTACT))
            factory = getattr(cfg, "eap_peer_factory", None)
            self.eap = factory() if factory is not None else getattr(cfg, "eap_peer", None)
            if self.eap is None:
                msg.add(self._my_auth())
            self.phase = "first"
        elif self.phase == "eap":
            assert self.eap_out is not None
            msg.add(EapPayload(self.eap_out))
        elif self.phase == "msk":
            assert self.msk is not None and sa.prf is not None
            msg.add(AuthPayload(_SKM, self._msk_auth(self._my_octets())))
        return NEED_MORE

    def _process_response(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        auth = msg.get(AuthPayload)
        fatal = [n for n in msg.error_notifies() if n.notify_type not in CHILD_ERRORS]
        if fatal or (auth is None and msg.get(EapPayload) is None):
            name = _name(fatal[0].notify_type) if fatal else "AUTHENTICATION_FAILED"
            errs = msg.error_notifies()
            if not fatal and errs:
                name = _name(errs[0].notify_type)
            return self._fail(name)
        if self.phase == "first":
            idr = msg.get(IdPayload, initiator=False)
            if idr is None:
                return self._fail("IDr missing")
            if (
                sa.requested_idr is not None
                and (idr.id_type, idr.data)
                != (
                    sa.requested_idr.id_type,
                    sa.requested_idr.data,  # type: ignore[union-attr]
                )
                and getattr(cfg, "strict_remote_id", False)
            ):
                return self._fail("IDr does not match remote_id")
            sa.peer_id = idr  # type: ignore[assignment]
            self._verify_peer(msg)
            if self.eap is None:
                return self._authenticated(msg)
            self.phase = "eap"
            return self._eap_step(msg)
        if self.phase == "eap":
            return self._eap_step(msg)
        if self.phase == "msk":
            assert self.msk is not None and sa.prf is not None
            if (
                auth is None
                or auth.method != AuthMethod.SHARED_KEY_MIC
                or not _cmp.compare_digest(self._msk_auth(self._peer_octets()), auth.data)  # type: ignore[union-attr]
            ):
                return self._fail("AUTHENTICATION_FAILED: MSK AUTH does not verify")
            return self._authenticated(msg)
        return DONE

    def _authenticated(self, msg: Message) -> Status:
        """The HA is authenticated; honour a REDIRECT in this last response (RFC 5685 §6)."""
        sa = self.sa
        sa.authenticated = True
        self.phase = "done"
        redirect = msg.notify(Notify.REDIRECT)
        if redirect is not None:
            try:
                gw, _ = decode_gateway(redirect.data)
            except MalformedPacket:
                return self._fail("bad REDIRECT")
            sa.redirected = True
            sa.emit(Redirected(sa.id, gw))
            return FAILED
        return DONE

    def _eap_step(self, msg: Message) -> Status:
        eapp = msg.get(EapPayload)
        if eapp is None:
            return self._fail("EAP payload missing")
        try:
            out = self.eap.process(eapp.data)  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001 - a peer-supplied EAP packet must not crash IKE
            return self._fail(f"EAP error: {e}")
        state = getattr(self.eap, "state", "running")
        if state == "failure" or _eap_code(eapp.data) == EAP_FAILURE:  # type: ignore[union-attr]
            return self._fail("EAP failure")
        if state == "success":
            msk = self.eap.msk
            if not msk:
                return self._fail("EAP method produced no MSK")
            self.msk = bytes(msk)
            self.phase = "msk"
            return NEED_MORE
        if out is None:
            return self._fail("EAP peer has nothing to send")
        self.eap_out = out
        return NEED_MORE

    # -------------------------------------------------------------- responder (HA)
    def _process_request(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.phase == "start":
            # msg.get(IdPayload, initiator=True / False) and msg.get(AuthPayload), from one
            # look at the message's index
            by_cls = msg._index()[0]
            idi = idr = None
            for p in by_cls.get(IdPayload, ()):
                if p.initiator:  # type: ignore[union-attr]
                    if idi is None:
                        idi = p
                elif idr is None:
                    idr = p
            if idi is None:
                return self._fail("IDi missing")
            sa.peer_id = idi  # type: ignore[assignment]
            sa.requested_idr = idr  # type: ignore[assignment]
            if AuthPayload in by_cls:
                if getattr(cfg, "require_eap", False):
                    return self._fail("AUTHENTICATION_FAILED: EAP required")
                self._verify_peer(msg)
                return NEED_MORE
            factory = getattr(cfg, "eap_server_factory", None)
            if factory is None:
                return self._fail("AUTHENTICATION_FAILED: no AUTH and no EAP")
            try:
                self.eap = factory(id_to_str(idi))  # type: ignore[arg-type]
                if not getattr(sa.engine, "fast_path", True) and hasattr(self.eap, "fast_path"):
                    self.eap.fast_path = False  # the responder's general path: the EAP one too
                self.eap_out = self.eap.start()
            except Exception as e:  # noqa: BLE001 - unknown subscriber etc.
                return self._fail(f"AUTHENTICATION_FAILED: EAP start: {e}")
            return NEED_MORE
        if self.phase == "eap":
            eapp = msg.get(EapPayload)
            if eapp is None:
                return self._fail("EAP payload missing")
            return self.eap_response(eapp.data)  # type: ignore[union-attr]
        if self.phase == "msk":
            auth = msg.get(AuthPayload)
            if auth is None:
                return self._fail("AUTHENTICATION_FAILED: MSK AUTH does not verify")
            return self.msk_request(auth.method, auth.data)  # type: ignore[union-attr]
        return DONE

    def msk_request(self, method: int, data: bytes) -> Status:
        """Phase "msk": check the peer's AUTH (method, data) against the MSK-based AUTH of
        its signed octets (RFC 7296 §2.16). Shared by the general path and ``_fast.py``."""
        assert self.msk is not None and self.sa.prf is not None
        if method != _SKM or not _cmp.compare_digest(self._msk_auth(self._peer_octets()), data):
            return self._fail("AUTHENTICATION_FAILED: MSK AUTH does not verify")
        return NEED_MORE

    def eap_response(self, data: bytes) -> Status:
        """Phase "eap": hand one EAP packet from the peer to the EAP server; its answer is
        kept in ``eap_out``. Shared by the general path and the fast path (``_fast.py``)."""
        try:
            self.eap_out = self.eap.process(data)  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001 - malformed EAP from the peer
            return self._fail(f"AUTHENTICATION_FAILED: EAP error: {e}")
        return NEED_MORE

    def eap_going(self) -> bool:
        """Phase "eap", once ``eap_out`` is in the response: True while the EAP conversation
        goes on or has just succeeded (then the MSK is taken and the phase moves to "msk"),
        False when it failed or the server has nothing to send. Shared with ``_fast.py``."""
        state = getattr(self.eap, "state", "running")
        if state == "success":
            self.msk = bytes(self.eap.msk)
            ident = getattr(self.eap, "permanent_identity", None)
            self.sa.eap_identity = str(ident) if ident else None
            self.phase = "msk"
            return True
        return not (state == "failure" or self.eap_out is None)

    def _build_response(self, msg: Message) -> Status:
        sa = self.sa
        cfg = sa.config
        if self.error is not None:
            msg.add(NotifyPayload(Notify.AUTHENTICATION_FAILED))
            return FAILED
        if self.phase == "start":
            sa.my_id = make_id(cfg.identity, False)
            msg.add(sa.my_id)
            self._add_cert(msg)
            msg.add(self._my_auth())
            if self.eap is None:
                return self._maybe_redirect(msg)
            assert self.eap_out is not None
            msg.add(EapPayload(self.eap_out))
            self.phase = "eap"
            return NEED_MORE
        if self.phase == "eap":
            if self.eap_out is not None:
                msg.add(EapPayload(self.eap_out))
            if self.eap_going():
                return NEED_MORE
            if self.eap_out is None:
                msg.add(NotifyPayload(Notify.AUTHENTICATION_FAILED))
            sa.failure_reason = "EAP failure"
            return FAILED
        if self.phase == "msk":
            assert self.msk is not None and sa.prf is not None
            msg.add(AuthPayload(_SKM, self._msk_auth(self._my_octets())))
            return self._maybe_redirect(msg)
        return DONE

    def _maybe_redirect(self, msg: Message) -> Status:
        """Authenticated: send the UE elsewhere if policy says so (RFC 5685 §6), else done."""
        sa = self.sa
        redirect = getattr(sa.config, "redirect", None)
        self.phase = "done"
        if redirect is not None and sa.peer_redirect_supported:
            from dsmip6.ikev2.tasks.ike_config import peer_identity

            target = redirect(sa.remote[0], peer_identity(sa))
            if target:
                msg.add(NotifyPayload(Notify.REDIRECT, encode_gateway(target)))
                sa.redirected = True
                return FAILED
        sa.authenticated = True
        return DONE


def _name(n: int) -> str:
    try:
        return Notify(n).name
    except ValueError:
        return f"NOTIFY_{n}"

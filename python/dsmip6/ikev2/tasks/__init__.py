"""IKEv2 tasks: one module per elementary operation (STYLE §5.6, after strongSwan's tasks).

Every task has ``build(msg) -> Status`` and ``process(msg) -> Status``; the same class serves both
roles, chosen by ``initiator`` (the role in *this exchange*, not the original IKE role).
Requester: build(request) → process(response). Responder: process(request) → build(response).
"""

from dsmip6.ikev2.exchange import Status

__all__ = ["Status"]

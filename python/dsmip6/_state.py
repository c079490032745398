"""Transition tables of the UE (per PDN connection) and of the HA (per binding), as data.

Theory of operation (STYLE §5.2, after h11's ``_state.py``):

* Rule 1 — a table per role maps ``state -> input type -> next state``. The machines in
  ``mn.py`` and ``ha.py`` never assign a state directly; they call :func:`transition` with the
  input they observed, and a missing entry raises :class:`LocalProtocolError` naming the role,
  the state and the input. The receive path turns that error into a drop (a peer cannot push a
  machine into an undefined state).
* Rule 2 — coupled rules run to a fixed point in the machines: "IKE SA gone ⇒ binding gone",
  "binding lifetime 0 ⇒ tombstone", "BRI accepted ⇒ IKE delete".
* The diagrams in docs/architecture.md are generated from these tables by
  :func:`mermaid` (``python -m dsmip6._state``); a test checks the docs match.

Inputs are *types* (empty marker classes), so the tables can be driven without bytes
(tests/test_procedures_state.py).
"""

from __future__ import annotations

import enum

from dsmip6.errors import LocalProtocolError

__all__ = ["UeState", "BceState", "UE_TRANSITIONS", "HA_TRANSITIONS", "transition", "mermaid"]


class UeState(enum.Enum):
    """State of one PDN connection of the UE (procedures.md §0.4)."""

    IDLE = "idle"
    DISCOVERING = "discovering"
    IKE = "ike"
    CHILD_SA = "child-sa"
    REGISTERING = "registering"
    REGISTERED = "registered"
    AT_HOME = "at-home"
    RETURNING_HOME = "returning-home"
    DETACHING = "detaching"
    IKE_DELETING = "ike-deleting"
    DETACHED = "detached"
    FAILED = "failed"


class BceState(enum.Enum):
    """State of one binding cache entry at the HA (procedures.md §0.3)."""

    ABSENT = "absent"
    ACTIVE = "active"
    REVOKING = "revoking"
    SWITCHING = "switching"
    TOMBSTONE = "tombstone"

    # Members are singletons compared by identity: the identity hash keeps the transition
    # lookup (once per BU at the HA) off Enum's Python-level ``__hash__``.
    __hash__ = object.__hash__


# ----------------------------------------------------------------------------- inputs (UE)
class Input:
    """Base of the table inputs."""


class AttachRequested(Input):
    """API: ``attach(apn)``."""


class HaDiscovered(Input):
    """Discovery produced an HA address (or the address is static)."""


class DiscoveryError(Input):
    """Discovery failed for good."""


class IkeUp(Input):
    """IKE_AUTH completed: HNP/HoA known (RFC 5026 §5.3)."""


class IkeError(Input):
    """IKE_SA_INIT/IKE_AUTH failed (procedures.md §1.2 table)."""


class IkeRedirect(Input):
    """RFC 5685 redirect: restart IKE with another HA."""


class IkeRetry(Input):
    """IKE timed out: try again after a back-off (RFC 5026 §5.1.2)."""


class ChildUp(Input):
    """CREATE_CHILD_SA gave the HoA-keyed MH transport SA (RFC 4877 §4.4)."""


class FoundHome(Input):
    """Home link detection: on the home link (TS 24.303 §5.1.2.3)."""


class FoundAway(Input):
    """Home link detection: on a foreign link; a BU is sent."""


class BaAccepted(Input):
    """BA status < 128 for the outstanding BU."""


class BaRetry(Input):
    """BA status that the UE corrects and retries (135 resync, 144 without F, 128/130)."""


class BaNewHoa(Input):
    """BA status 134: DAD failed; a new HoA in the HNP needs its own MH SA (RFC 5026 §5.3.2)."""


class NextHa(Input):
    """This HA refused the home registration (BA 131/143) or failed IKE: the next HA of the
    discovered list is tried (procedures.md §1.1c, §9.1; RFC 5026 §5.1.2)."""


class BaFatal(Input):
    """BA status that ends the registration with this HA."""


class RefreshDue(Input):
    """Refresh point reached (75 % / Binding Refresh Advice / NAT keepalive)."""


class CoaChanged(Input):
    """API: ``move()`` to a foreign access with a new CoA."""


class MovedHome(Input):
    """API: ``move()`` back to the home link."""


class DeregAcked(Input):
    """BA for a lifetime-0 BU (or status 133 on de-registration)."""


class DeregGaveUp(Input):
    """The lifetime-0 BU was never acknowledged within its attempts."""


class DetachRequested(Input):
    """API: ``detach(apn)`` (TS 24.303 §5.3)."""


class IkeGone(Input):
    """The IKE SA was deleted (our delete acknowledged, or the HA deleted it)."""


class BriAccepted(Input):
    """A valid BRI revoked the binding (RFC 5846 §6.2)."""


class HaSwitch(Input):
    """A valid Home Agent Switch (RFC 5142 §6): the binding stays while a second session
    of the APN attaches to the new HA (make before break, issue 5)."""


class HaSwitchFailed(Input):
    """The session with the new HA failed: the UE stays with the old HA."""


class HaSwitchHold(Input):
    """The switching HA refused a refresh with BA 129 (RFC 5142 §5.3): keep the binding."""


class LeaveOldHa(Input):
    """The new HA acknowledged (or the old binding would expire): de-register from the old."""


class BindingLost(Input):
    """BU retransmissions exhausted or the lifetime expired without refresh."""


# ----------------------------------------------------------------------------- inputs (HA)
class BuAccepted(Input):
    """A BU passed every check of procedures.md §1.6.2 with lifetime > 0."""


class BuDeregister(Input):
    """A BU with lifetime 0 for an existing BCE."""


class LifetimeOver(Input):
    """The BCE lifetime or tombstone ran out."""


class RevokeRequested(Input):
    """API: ``revoke()`` (administrative, subscription withdrawn, reallocation)."""


class RevocationDone(Input):
    """A matching BRA arrived, or the BRI retries are exhausted (RFC 5846 §6.3)."""


class SwitchRequested(Input):
    """API: ``switch_home_agent()`` (RFC 5142)."""


class IkeSaDeleted(Input):
    """The IKE SA carrying the HoA went away (RFC 4877 §9: HoA valid as long as the IKE SA)."""


S = UeState
UE_TRANSITIONS: dict[UeState, dict[type[Input], UeState]] = {
    S.IDLE: {AttachRequested: S.DISCOVERING},
    S.DISCOVERING: {HaDiscovered: S.IKE, DiscoveryError: S.FAILED, DetachRequested: S.DETACHED},
    S.IKE: {
        IkeUp: S.CHILD_SA,
        IkeError: S.FAILED,
        IkeRedirect: S.IKE,
        IkeRetry: S.IKE,
        NextHa: S.DISCOVERING,
        DetachRequested: S.IKE_DELETING,
        IkeGone: S.FAILED,
    },
    S.CHILD_SA: {
        ChildUp: S.CHILD_SA,
        FoundHome: S.AT_HOME,
        FoundAway: S.REGISTERING,
        IkeError: S.FAILED,
        IkeGone: S.FAILED,
        DetachRequested: S.IKE_DELETING,
    },
    S.REGISTERING: {
        BaAccepted: S.REGISTERED,
        BaRetry: S.REGISTERING,
        BaNewHoa: S.CHILD_SA,
        NextHa: S.DISCOVERING,
        BaFatal: S.FAILED,
        CoaChanged: S.REGISTERING,
        MovedHome: S.RETURNING_HOME,
        BindingLost: S.FAILED,
        DetachRequested: S.DETACHING,
        BriAccepted: S.IKE_DELETING,
        HaSwitch: S.REGISTERING,
        HaSwitchFailed: S.REGISTERING,
        HaSwitchHold: S.REGISTERED,
        LeaveOldHa: S.DETACHING,
        IkeGone: S.FAILED,
    },
    S.REGISTERED: {
        RefreshDue: S.REGISTERING,
        CoaChanged: S.REGISTERING,
        MovedHome: S.RETURNING_HOME,
        DetachRequested: S.DETACHING,
        BriAccepted: S.IKE_DELETING,
        HaSwitch: S.REGISTERED,
        HaSwitchFailed: S.REGISTERED,
        LeaveOldHa: S.DETACHING,
        BindingLost: S.FAILED,
        IkeGone: S.FAILED,
    },
    S.AT_HOME: {
        CoaChanged: S.REGISTERING,
        MovedHome: S.AT_HOME,
        DetachRequested: S.IKE_DELETING,
        BriAccepted: S.IKE_DELETING,
        IkeGone: S.FAILED,
    },
    S.RETURNING_HOME: {
        DeregAcked: S.AT_HOME,
        DeregGaveUp: S.AT_HOME,
        BaRetry: S.RETURNING_HOME,
        CoaChanged: S.REGISTERING,
        DetachRequested: S.DETACHING,
        BriAccepted: S.IKE_DELETING,
        IkeGone: S.FAILED,
    },
    S.DETACHING: {
        DeregAcked: S.IKE_DELETING,
        DeregGaveUp: S.IKE_DELETING,
        BaRetry: S.DETACHING,
        BriAccepted: S.IKE_DELETING,
        IkeGone: S.DETACHED,
        DetachRequested: S.DETACHING,
    },
    S.IKE_DELETING: {IkeGone: S.DETACHED, DetachRequested: S.IKE_DELETING},
    S.DETACHED: {AttachRequested: S.DISCOVERING},
    S.FAILED: {AttachRequested: S.DISCOVERING, DetachRequested: S.DETACHED, IkeGone: S.FAILED},
}

B = BceState
HA_TRANSITIONS: dict[BceState, dict[type[Input], BceState]] = {
    B.ABSENT: {BuAccepted: B.ACTIVE},
    B.ACTIVE: {
        BuAccepted: B.ACTIVE,
        BuDeregister: B.TOMBSTONE,
        LifetimeOver: B.ABSENT,
        RevokeRequested: B.REVOKING,
        SwitchRequested: B.SWITCHING,
        IkeSaDeleted: B.ABSENT,
    },
    B.REVOKING: {
        RevocationDone: B.ABSENT,
        BuAccepted: B.ACTIVE,  # RFC 5846 §7: local policy may accept and clear the flag
        BuDeregister: B.TOMBSTONE,
        LifetimeOver: B.ABSENT,
        IkeSaDeleted: B.ABSENT,
    },
    B.SWITCHING: {
        BuAccepted: B.SWITCHING,  # RFC 5142 §5.3: refreshes are refused with 129 meanwhile
        BuDeregister: B.TOMBSTONE,
        LifetimeOver: B.ABSENT,
        RevokeRequested: B.REVOKING,
        IkeSaDeleted: B.ABSENT,
    },
    B.TOMBSTONE: {LifetimeOver: B.ABSENT, BuAccepted: B.ACTIVE, IkeSaDeleted: B.ABSENT},
}
del S, B


def transition(role: str, table: dict, state: enum.Enum, event: type[Input]) -> enum.Enum:  # type: ignore[type-arg]
    """The next state for ``event`` in ``state``; :class:`LocalProtocolError` if undefined."""
    try:
        return table[state][event]
    except KeyError:
        raise LocalProtocolError(
            f"{role}: {event.__name__} is not allowed in state {state.name}"
        ) from None


def mermaid(table: dict, title: str) -> str:  # type: ignore[type-arg]
    """A Mermaid ``stateDiagram-v2`` of ``table`` (for docs/architecture.md)."""
    lines = ["```mermaid", "stateDiagram-v2", f"    %% {title} (generated from dsmip6._state)"]
    for state, row in table.items():
        for event, nxt in row.items():
            lines.append(f"    {state.name} --> {nxt.name}: {event.__name__}")
    lines.append("```")
    return "\n".join(lines)


def diagrams() -> str:
    """Both diagrams, as they appear in docs/architecture.md."""
    return (
        "UE, per PDN connection:\n\n"
        + mermaid(UE_TRANSITIONS, "UE")
        + "\n\nHA, per binding cache entry:\n\n"
        + mermaid(HA_TRANSITIONS, "HA")
        + "\n"
    )


if __name__ == "__main__":  # pragma: no cover
    print(diagrams(), end="")

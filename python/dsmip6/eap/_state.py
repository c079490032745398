"""Transition tables of the EAP-AKA peer and server (STYLE §5.2).

Each role has a table ``state -> {input: next state}``. Inputs are what the role did or
received after its handlers validated a message; a missing entry is a bug in the handler
(``LocalProtocolError`` naming role, state and input). A second table per role says which
incoming message kinds a state accepts at all; anything else is answered as an error
without touching the state machine.
"""

from __future__ import annotations

import enum

from dsmip6.errors import LocalProtocolError

__all__ = [
    "PEER_ACCEPTS",
    "PEER_TRANSITIONS",
    "SERVER_ACCEPTS",
    "SERVER_TRANSITIONS",
    "Msg",
    "PeerInput",
    "PeerState",
    "ServerInput",
    "ServerState",
    "next_state",
]


class Msg(enum.Enum):
    """Kinds of incoming messages, as the dispatch tables see them."""

    IDENTITY_REQUEST = "eap-request-identity"
    AKA_IDENTITY = "aka-identity"
    CHALLENGE = "aka-challenge"
    REAUTHENTICATION = "aka-reauthentication"
    NOTIFICATION = "aka-notification"
    SYNC_FAILURE = "aka-synchronization-failure"
    AUTH_REJECT = "aka-authentication-reject"
    CLIENT_ERROR = "aka-client-error"
    EAP_SUCCESS = "eap-success"
    EAP_FAILURE = "eap-failure"

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


class PeerState(enum.Enum):
    START = "start"
    """Nothing but (optionally) EAP-Request/Identity seen yet, or after a resynchronisation."""
    IDENTITY = "identity"
    """At least one AKA-Identity round answered."""
    CHALLENGE = "challenge"
    """AKA-Challenge answered with RES: waiting for EAP-Success (or a notification)."""
    RESULT = "result"
    """Protected success notification answered: waiting for EAP-Success."""
    FAILING = "failing"
    """Sent Authentication-Reject / Client-Error or got a failure notification."""
    SUCCESS = "success"
    FAILURE = "failure"

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


class PeerInput(enum.Enum):
    IDENTITY_ANSWERED = enum.auto()
    AKA_IDENTITY_ANSWERED = enum.auto()
    CHALLENGE_ANSWERED = enum.auto()
    REAUTH_ANSWERED = enum.auto()
    COUNTER_TOO_SMALL_SENT = enum.auto()
    SYNC_FAILURE_SENT = enum.auto()
    REJECTED = enum.auto()
    FAILURE_NOTIFIED = enum.auto()
    SUCCESS_NOTIFIED = enum.auto()
    EAP_SUCCESS = enum.auto()
    EAP_FAILURE = enum.auto()

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


_P = PeerState
_PI = PeerInput
PEER_TRANSITIONS: dict[PeerState, dict[PeerInput, PeerState]] = {
    _P.START: {
        _PI.IDENTITY_ANSWERED: _P.START,
        _PI.AKA_IDENTITY_ANSWERED: _P.IDENTITY,
        _PI.CHALLENGE_ANSWERED: _P.CHALLENGE,
        _PI.REAUTH_ANSWERED: _P.CHALLENGE,
        _PI.COUNTER_TOO_SMALL_SENT: _P.START,
        _PI.SYNC_FAILURE_SENT: _P.START,
        _PI.REJECTED: _P.FAILING,
        _PI.FAILURE_NOTIFIED: _P.FAILING,
        _PI.EAP_FAILURE: _P.FAILURE,
    },
    _P.IDENTITY: {
        _PI.AKA_IDENTITY_ANSWERED: _P.IDENTITY,
        _PI.CHALLENGE_ANSWERED: _P.CHALLENGE,
        _PI.REAUTH_ANSWERED: _P.CHALLENGE,
        _PI.COUNTER_TOO_SMALL_SENT: _P.START,
        _PI.SYNC_FAILURE_SENT: _P.START,
        _PI.REJECTED: _P.FAILING,
        _PI.FAILURE_NOTIFIED: _P.FAILING,
        _PI.EAP_FAILURE: _P.FAILURE,
    },
    _P.CHALLENGE: {
        _PI.EAP_SUCCESS: _P.SUCCESS,
        _PI.SUCCESS_NOTIFIED: _P.RESULT,
        _PI.FAILURE_NOTIFIED: _P.FAILING,
        _PI.REJECTED: _P.FAILING,
        _PI.EAP_FAILURE: _P.FAILURE,
    },
    _P.RESULT: {
        _PI.EAP_SUCCESS: _P.SUCCESS,
        _PI.REJECTED: _P.FAILING,
        _PI.EAP_FAILURE: _P.FAILURE,
    },
    _P.FAILING: {_PI.REJECTED: _P.FAILING, _PI.EAP_FAILURE: _P.FAILURE},
    _P.SUCCESS: {},
    _P.FAILURE: {},
}

#: Which incoming messages each peer state processes (RFC 4187 §6.3.3-6.3.4: EAP-Success is
#: accepted only after the challenge round; the rest is answered with Client-Error, or
#: silently discarded for Success/Failure).
PEER_ACCEPTS: dict[PeerState, frozenset[Msg]] = {
    _P.START: frozenset(
        {
            Msg.IDENTITY_REQUEST,
            Msg.AKA_IDENTITY,
            Msg.CHALLENGE,
            Msg.REAUTHENTICATION,
            Msg.NOTIFICATION,
            Msg.EAP_FAILURE,
        }
    ),
    _P.IDENTITY: frozenset(
        {Msg.AKA_IDENTITY, Msg.CHALLENGE, Msg.REAUTHENTICATION, Msg.NOTIFICATION, Msg.EAP_FAILURE}
    ),
    _P.CHALLENGE: frozenset({Msg.NOTIFICATION, Msg.EAP_SUCCESS, Msg.EAP_FAILURE}),
    _P.RESULT: frozenset({Msg.EAP_SUCCESS, Msg.EAP_FAILURE}),
    _P.FAILING: frozenset({Msg.EAP_FAILURE}),
    _P.SUCCESS: frozenset(),
    _P.FAILURE: frozenset(),
}


class ServerState(enum.Enum):
    IDLE = "idle"
    """Created; ``start()`` not called yet."""
    IDENTITY = "identity"
    """AKA-Identity request sent."""
    CHALLENGE = "challenge"
    """AKA-Challenge sent."""
    REAUTH = "reauth"
    """AKA-Reauthentication sent (fast re-authentication, RFC 4187 §5)."""
    NOTIFICATION = "notification"
    """Failure notification sent: the next response is answered with EAP-Failure."""
    RESULT = "result"
    """Success notification sent: the next response is answered with EAP-Success."""
    SUCCESS = "success"
    FAILURE = "failure"

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


class ServerInput(enum.Enum):
    ASK_IDENTITY = enum.auto()
    SEND_CHALLENGE = enum.auto()
    SEND_REAUTH = enum.auto()
    NOTIFY_FAILURE = enum.auto()
    NOTIFY_SUCCESS = enum.auto()
    SEND_SUCCESS = enum.auto()
    SEND_FAILURE = enum.auto()

    __hash__ = object.__hash__  # singletons compared by identity: C-level hash for the tables


_S = ServerState
_SI = ServerInput
SERVER_TRANSITIONS: dict[ServerState, dict[ServerInput, ServerState]] = {
    _S.IDLE: {
        _SI.ASK_IDENTITY: _S.IDENTITY,
        _SI.SEND_CHALLENGE: _S.CHALLENGE,
        _SI.SEND_REAUTH: _S.REAUTH,
        _SI.NOTIFY_FAILURE: _S.NOTIFICATION,
    },
    _S.IDENTITY: {
        _SI.ASK_IDENTITY: _S.IDENTITY,
        _SI.SEND_CHALLENGE: _S.CHALLENGE,
        _SI.SEND_REAUTH: _S.REAUTH,
        _SI.NOTIFY_FAILURE: _S.NOTIFICATION,
        _SI.SEND_FAILURE: _S.FAILURE,
    },
    _S.CHALLENGE: {
        _SI.SEND_CHALLENGE: _S.CHALLENGE,
        _SI.NOTIFY_FAILURE: _S.NOTIFICATION,
        _SI.NOTIFY_SUCCESS: _S.RESULT,
        _SI.SEND_SUCCESS: _S.SUCCESS,
        _SI.SEND_FAILURE: _S.FAILURE,
    },
    _S.REAUTH: {
        _SI.SEND_CHALLENGE: _S.CHALLENGE,
        _SI.NOTIFY_FAILURE: _S.NOTIFICATION,
        _SI.SEND_SUCCESS: _S.SUCCESS,
        _SI.SEND_FAILURE: _S.FAILURE,
    },
    _S.NOTIFICATION: {_SI.SEND_FAILURE: _S.FAILURE},
    _S.RESULT: {_SI.SEND_SUCCESS: _S.SUCCESS},
    _S.SUCCESS: {},
    _S.FAILURE: {},
}

#: Which response kinds each server state processes; others get a failure notification.
SERVER_ACCEPTS: dict[ServerState, frozenset[Msg]] = {
    _S.IDLE: frozenset(),
    _S.IDENTITY: frozenset({Msg.AKA_IDENTITY, Msg.CLIENT_ERROR}),
    _S.CHALLENGE: frozenset({Msg.CHALLENGE, Msg.SYNC_FAILURE, Msg.AUTH_REJECT, Msg.CLIENT_ERROR}),
    _S.REAUTH: frozenset({Msg.REAUTHENTICATION, Msg.CLIENT_ERROR}),
    _S.NOTIFICATION: frozenset(),
    _S.RESULT: frozenset(),
    _S.SUCCESS: frozenset(),
    _S.FAILURE: frozenset(),
}


def next_state(role: str, table: dict, state: enum.Enum, event: enum.Enum) -> enum.Enum:  # type: ignore[type-arg]
    """Look ``event`` up in ``table[state]``; a missing entry is a caller/handler bug."""
    try:
        return table[state][event]
    except KeyError:
        raise LocalProtocolError(
            f"{role}: no transition from {state.name} on {event.name}"
        ) from None


def describe_transitions() -> str:
    """The two transition tables as Markdown (docs/architecture.md embeds this text; a test
    keeps the two equal)."""
    lines = []
    for role, table in (("Peer", PEER_TRANSITIONS), ("Server", SERVER_TRANSITIONS)):
        lines.append(f"| {role} state | on | next state |")
        lines.append("| --- | --- | --- |")
        for state, row in table.items():
            for event, target in row.items():
                lines.append(f"| {state.value} | {event.name} | {target.value} |")
            if not row:
                lines.append(f"| {state.value} | (final) | |")
        lines.append("")
    return "\n".join(lines)

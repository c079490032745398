"""The transition tables, driven with input types only (STYLE §6 table tests)."""

from pathlib import Path

import pytest
from dsmip6 import _state
from dsmip6._state import HA_TRANSITIONS, UE_TRANSITIONS, BceState, UeState, transition
from dsmip6.errors import LocalProtocolError


def reachable(table, start):
    seen, todo = {start}, [start]
    while todo:
        for nxt in table.get(todo.pop(), {}).values():
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_ue_state_reachable_from_idle():
    assert reachable(UE_TRANSITIONS, UeState.IDLE) == set(UeState)


def test_every_bce_state_reachable_and_absent_is_the_end():
    assert reachable(HA_TRANSITIONS, BceState.ABSENT) == set(BceState)
    # Every non-absent state can end (lifetime or IKE deletion), so nothing leaks.
    for state in BceState:
        if state is not BceState.ABSENT:
            assert BceState.ABSENT in reachable(HA_TRANSITIONS, state)


def test_ue_story_attach_handover_home_detach():
    s = UeState.IDLE
    for ev, want in [
        (_state.AttachRequested, UeState.DISCOVERING),
        (_state.HaDiscovered, UeState.IKE),
        (_state.IkeUp, UeState.CHILD_SA),
        (_state.ChildUp, UeState.CHILD_SA),
        (_state.FoundAway, UeState.REGISTERING),
        (_state.BaAccepted, UeState.REGISTERED),
        (_state.CoaChanged, UeState.REGISTERING),
        (_state.BaAccepted, UeState.REGISTERED),
        (_state.MovedHome, UeState.RETURNING_HOME),
        (_state.DeregAcked, UeState.AT_HOME),
        (_state.DetachRequested, UeState.IKE_DELETING),
        (_state.IkeGone, UeState.DETACHED),
    ]:
        s = transition("UE", UE_TRANSITIONS, s, ev)
        assert s is want, ev


def test_missing_entry_names_role_state_and_event():
    with pytest.raises(LocalProtocolError, match=r"UE: BaAccepted is not allowed in state IDLE"):
        transition("UE", UE_TRANSITIONS, UeState.IDLE, _state.BaAccepted)
    with pytest.raises(LocalProtocolError, match="HA: RevocationDone .* ABSENT"):
        transition("HA", HA_TRANSITIONS, BceState.ABSENT, _state.RevocationDone)


def test_detached_and_failed_can_attach_again():
    for s in (UeState.DETACHED, UeState.FAILED):
        assert transition("UE", UE_TRANSITIONS, s, _state.AttachRequested) is UeState.DISCOVERING


def test_ha_revocation_can_be_cleared_by_a_bu():
    # RFC 5846 §7: local policy may accept a BU during revocation.
    assert transition("HA", HA_TRANSITIONS, BceState.REVOKING, _state.BuAccepted) is BceState.ACTIVE
    # RFC 5142 §5.3: after an HA Switch the BCE stays switching until de-registered.
    assert (
        transition("HA", HA_TRANSITIONS, BceState.SWITCHING, _state.BuDeregister)
        is BceState.TOMBSTONE
    )


def test_docs_diagrams_are_generated_from_the_tables():
    doc = (Path(__file__).parent.parent / "docs" / "architecture.md").read_text()
    assert _state.diagrams() in doc

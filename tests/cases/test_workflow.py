"""The workflow table, checked exhaustively against a table written out here by hand.

The expected table below is copied from the specification, not derived from
`cases.workflow.MOVES`: if the code's table drifts from the spec, these tests say where.
"""

from __future__ import annotations

import pytest

from cases import workflow
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.workflow import (
    MoveNotAllowed,
    NoteRequired,
    Role,
    RoleNotAllowed,
    Status,
    UnknownStatus,
    check_move,
    moves_for,
)

STATES = ["open", "in_progress", "submitted", "completed", "escalated", "exempted"]
ROLES = ["inspector", "supervisor", "api_reader", None]

INSPECTORS_AND_SUPERVISORS = frozenset({"inspector", "supervisor"})
SUPERVISORS_ONLY = frozenset({"supervisor"})

# (source, target) -> (name, roles allowed, note required). Every pair not listed (including
# staying in the same state) is not a move at all.
ALLOWED: dict[tuple[str, str], tuple[str, frozenset[str], bool]] = {
    # the main line
    ("open", "in_progress"): ("start", INSPECTORS_AND_SUPERVISORS, False),
    ("in_progress", "submitted"): ("submit", INSPECTORS_AND_SUPERVISORS, True),
    ("submitted", "completed"): ("close", SUPERVISORS_ONLY, False),
    # returned by the verifier, with a reason
    ("submitted", "in_progress"): ("return", SUPERVISORS_ONLY, True),
    # escalation and return from it
    ("open", "escalated"): ("escalate", INSPECTORS_AND_SUPERVISORS, True),
    ("in_progress", "escalated"): ("escalate", INSPECTORS_AND_SUPERVISORS, True),
    ("escalated", "open"): ("resume", INSPECTORS_AND_SUPERVISORS, False),
    ("escalated", "in_progress"): ("resume", INSPECTORS_AND_SUPERVISORS, False),
    # the negative list, from any open state
    ("open", "exempted"): ("exempt", SUPERVISORS_ONLY, True),
    ("in_progress", "exempted"): ("exempt", SUPERVISORS_ONLY, True),
    ("submitted", "exempted"): ("exempt", SUPERVISORS_ONLY, True),
    ("escalated", "exempted"): ("exempt", SUPERVISORS_ONLY, True),
    # reopening what was done
    ("completed", "in_progress"): ("reopen", SUPERVISORS_ONLY, True),
    ("exempted", "in_progress"): ("reopen", SUPERVISORS_ONLY, True),
}

NOTE_REQUIRED = sorted(pair for pair, (_, _, note) in ALLOWED.items() if note)
NO_NOTE_NEEDED = sorted(pair for pair, (_, _, note) in ALLOWED.items() if not note)


def expected_outcome(source: str, role: str | None, target: str) -> type[Exception] | None:
    """None when the move is allowed, else the exact error class (checked in this order)."""
    entry = ALLOWED.get((source, target))
    if entry is None:
        return MoveNotAllowed
    _, roles, _ = entry
    if role not in roles:
        return RoleNotAllowed
    return None


def test_it_knows_exactly_the_states_and_roles_of_the_spec() -> None:
    assert sorted(Status.values) == sorted(STATES)
    assert sorted(Role.values) == ["api_reader", "inspector", "supervisor", "unit_admin"]
    assert {str(s) for s in workflow.DONE_STATES} == {"completed", "exempted"}
    assert {str(s) for s in workflow.OPEN_STATES} == {
        "open",
        "in_progress",
        "submitted",
        "escalated",
    }


def test_it_has_no_move_the_spec_does_not_list() -> None:
    assert {(str(s), str(t)) for s, t in workflow.MOVES} == set(ALLOWED)


@pytest.mark.parametrize("target", STATES)
@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r))
@pytest.mark.parametrize("source", STATES)
def test_it_allows_or_refuses_every_move_as_the_spec_says(
    source: str, role: str | None, target: str
) -> None:
    expected = expected_outcome(source, role, target)
    if expected is None:
        move = check_move(source, target, role, note="理由")
        name, _roles, note_required = ALLOWED[(source, target)]
        assert (move.source, move.target) == (source, target)
        assert move.name == name
        assert move.note_required is note_required
        assert move.verifies is ((source, target) == ("submitted", "completed"))
    else:
        with pytest.raises(expected) as excinfo:
            check_move(source, target, role, note="理由")
        assert excinfo.type is expected
        assert excinfo.value.message  # a message for people


@pytest.mark.parametrize("role", ["inspector", "supervisor"])
@pytest.mark.parametrize("source", STATES)
def test_it_accepts_the_role_as_enum_or_plain_string(source: str, role: str) -> None:
    for target in STATES:
        expected = expected_outcome(source, role, target)
        if expected is None:
            assert check_move(source, target, Role(role), note="理由").target == target
        else:
            with pytest.raises(expected):
                check_move(source, target, Role(role), note="理由")


@pytest.mark.parametrize("note", ["", "   ", "\n\t　"])
@pytest.mark.parametrize(("source", "target"), NOTE_REQUIRED)
def test_it_refuses_a_note_required_move_without_a_note(
    source: str, target: str, note: str
) -> None:
    with pytest.raises(NoteRequired) as excinfo:
        check_move(source, target, "supervisor", note=note)
    assert excinfo.type is NoteRequired
    assert excinfo.value.fields["note"]


@pytest.mark.parametrize(("source", "target"), NOTE_REQUIRED)
def test_it_checks_the_role_before_the_note(source: str, target: str) -> None:
    with pytest.raises(RoleNotAllowed):
        check_move(source, target, "api_reader", note="")


@pytest.mark.parametrize(("source", "target"), NO_NOTE_NEEDED)
def test_it_needs_no_note_for_the_other_moves(source: str, target: str) -> None:
    assert check_move(source, target, "supervisor").target == target
    assert check_move(source, target, "supervisor", note="  ").target == target


@pytest.mark.parametrize("target", ["", "done", "closed", "OPEN", "in progress", "销号"])
@pytest.mark.parametrize("source", STATES)
def test_it_refuses_an_unknown_target_status(source: str, target: str) -> None:
    # Unknown is checked first: even a role that may do nothing gets UnknownStatus.
    for role in ROLES:
        with pytest.raises(UnknownStatus) as excinfo:
            check_move(source, target, role, note="理由")
        assert excinfo.type is UnknownStatus


def test_it_parses_known_statuses_and_refuses_unknown_ones() -> None:
    for state in STATES:
        assert workflow.parse_status(state) == state
    with pytest.raises(UnknownStatus):
        workflow.parse_status("nonsense")


def test_it_counts_completed_and_exempted_as_done() -> None:
    assert [s for s in STATES if workflow.is_done(s)] == ["completed", "exempted"]


def test_it_maps_errors_to_the_documented_http_answers() -> None:
    assert UnknownStatus.status_code == 400
    assert MoveNotAllowed.status_code == 409
    assert RoleNotAllowed.status_code == 403
    assert NoteRequired.status_code == 400
    assert NotFound.status_code == 404
    assert issubclass(UnknownStatus, InvalidInput)
    assert issubclass(NoteRequired, InvalidInput)
    assert issubclass(MoveNotAllowed, Conflict)
    assert issubclass(RoleNotAllowed, Forbidden)
    codes = {UnknownStatus.code, MoveNotAllowed.code, RoleNotAllowed.code, NoteRequired.code}
    assert len(codes) == 4


# moves_for ------------------------------------------------------------------------------

# What a user may offer from each state: targets, in the order the buttons appear.
OFFERED = {
    ("open", "inspector"): ["in_progress", "escalated"],
    ("open", "supervisor"): ["in_progress", "escalated", "exempted"],
    ("in_progress", "inspector"): ["submitted", "escalated"],
    ("in_progress", "supervisor"): ["submitted", "escalated", "exempted"],
    ("submitted", "inspector"): [],
    ("submitted", "supervisor"): ["completed", "in_progress", "exempted"],
    ("escalated", "inspector"): ["open", "in_progress"],
    ("escalated", "supervisor"): ["open", "in_progress", "exempted"],
    ("completed", "inspector"): [],
    ("completed", "supervisor"): ["in_progress"],
    ("exempted", "inspector"): [],
    ("exempted", "supervisor"): ["in_progress"],
}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: str(r))
@pytest.mark.parametrize("source", STATES)
def test_it_lists_the_moves_a_role_may_make(source: str, role: str | None) -> None:
    offered = [move.target for move in moves_for(source, role)]
    assert offered == OFFERED.get((source, role), [])
    # Each offered move passes check_move; nothing allowed is left out.
    allowed = {t for t in STATES if expected_outcome(source, role, t) is None}
    assert set(offered) == allowed
    for move in moves_for(source, role):
        assert move.source == source
        assert check_move(source, move.target, role, note="理由") == move


def test_it_lists_nothing_from_an_unknown_state() -> None:
    assert moves_for("nonsense", "supervisor") == []

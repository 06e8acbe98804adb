"""The services on the database: the workflow with real users, and every other case write.

A refused write must leave nothing behind: the status, `updated_at`, the history and the
counters are compared before and after, re-read from the database.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile

from cases import checklist, services
from cases.errors import Conflict, FileTooLarge, Forbidden, InvalidInput, NotFound
from cases.models import Case, CaseEvent, CheckPoint, Evidence, Inspection
from cases.rules import NotOwnUnit, SeparationOfDuties
from cases.workflow import DONE_STATES, MOVES, NoteRequired, Role, Status, UnknownStatus
from tests.cases.test_workflow import NOTE_REQUIRED, STATES, expected_outcome
from tests.factories import World, days, drive_to, make_case, make_inspection

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n"
    b"%%EOF\n"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 240


@pytest.fixture(autouse=True)
def _fast_passwords(settings: Any) -> None:
    # build_world creates seven users; the default hasher would make the matrix take minutes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def evidence_storage(settings: Any, monkeypatch: pytest.MonkeyPatch) -> FileSystemStorage:
    """Point the evidence field at the per-test folder (see the storage test below for why
    overriding settings.EVIDENCE_ROOT alone is not enough)."""
    storage = FileSystemStorage(location=settings.EVIDENCE_ROOT)
    monkeypatch.setattr(Evidence._meta.get_field("file"), "storage", storage)
    return storage


def pdf(name: str = "整改报告.pdf", content: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def snapshot(case: Case) -> dict[str, Any]:
    """Everything a refused write must leave untouched, fresh from the database."""
    row = Case.objects.get(pk=case.pk)
    return {
        "status": row.status,
        "updated_at": row.updated_at,
        "closed_at": row.closed_at,
        "overdue_at_close": row.overdue_at_close,
        "deadline": row.deadline,
        "responsible_unit": row.responsible_unit_id,
        "region": row.region_id,
        "owner": row.owner_id,
        "measures": row.measures,
        "progress": row.progress,
        "items_total": row.items_total,
        "items_done": row.items_done,
        "events": list(CaseEvent.objects.filter(case=row).values_list("pk", flat=True)),
        "evidence": list(Evidence.objects.filter(case=row).values_list("pk", flat=True)),
        "checklist": list(row.checklist.values_list("pk", "confirmed")),
    }


def new_events(case: Case, before: dict[str, Any]) -> list[CaseEvent]:
    return list(CaseEvent.objects.filter(case=case).exclude(pk__in=before["events"]))


# --- The workflow matrix with real users ---------------------------------------------------

# persona -> (World attribute, role the workflow applies); None: sees no case at all.
PERSONAS: dict[str, tuple[str, str | None]] = {
    "inspector": ("inspector_a", "inspector"),  # inspector of the responsible unit
    "supervisor": ("supervisor", "supervisor"),
    "superuser": ("admin", "supervisor"),  # a superuser acts as a supervisor
    # A supervisor of the responsible unit itself: makes the unit's moves, never closes.
    "unit_supervisor": ("dept_supervisor", "supervisor"),
    "api_reader": ("api_reader", "api_reader"),
    "no_role": ("no_unit", None),
}


def expected_with_rules(source: str, persona: str, role: str, target: str) -> type | None:
    """The workflow table's answer, then the commission's rules (cases.rules): the commission's
    supervisor and a superuser (of no unit) do not make the unit's moves; the unit's own
    supervisor does not close or exempt its case."""
    expected = expected_outcome(source, role, target)
    if expected is not None:
        return expected
    move = MOVES[Status(source), Status(target)]
    if persona in ("supervisor", "superuser") and Role.INSPECTOR in move.roles:
        return NotOwnUnit
    if persona == "unit_supervisor" and target in DONE_STATES and source not in DONE_STATES:
        return SeparationOfDuties
    return None


@pytest.mark.parametrize("target", STATES)
@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("source", STATES)
def test_it_makes_or_refuses_every_move_as_the_table_says(
    world: World, source: str, persona: str, target: str
) -> None:
    case = drive_to(world.case(world.unit_a), source, world.supervisor)
    attribute, role = PERSONAS[persona]
    user = getattr(world, attribute)
    expected = NotFound if role is None else expected_with_rules(source, persona, role, target)
    before = snapshot(case)

    if expected is not None:
        with pytest.raises(expected) as excinfo:
            services.case_transition(actor=user, case_id=case.pk, to=target, note=" 理由 ")
        assert excinfo.type is expected
        assert snapshot(case) == before
        return

    result = services.case_transition(actor=user, case_id=case.pk, to=target, note=" 理由 ")
    assert result.status == target
    row = Case.objects.get(pk=case.pk)
    assert row.status == target
    assert row.updated_at >= before["updated_at"]
    assert (row.closed_at is not None) is (target in ("completed", "exempted"))
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.TRANSITION
    assert event.actor == user
    assert event.actor_unit_id == user.unit_id
    assert (event.from_status, event.to_status) == (source, target)
    assert event.note == "理由"
    assert event.changes == {"status": [source, target]}


@pytest.mark.parametrize("note", ["", "  \n "])
@pytest.mark.parametrize(("source", "target"), NOTE_REQUIRED)
def test_it_refuses_a_note_required_move_without_a_note(
    world: World, source: str, target: str, note: str
) -> None:
    case = drive_to(world.case(), source, world.supervisor)
    before = snapshot(case)
    with pytest.raises(NoteRequired):
        services.case_transition(actor=world.supervisor, case_id=case.pk, to=target, note=note)
    assert snapshot(case) == before


def test_it_lets_the_inspector_submit_with_a_note(world: World) -> None:
    case = drive_to(world.case(), "in_progress", world.supervisor)
    with pytest.raises(NoteRequired):
        services.case_transition(actor=world.inspector_a, case_id=case.pk, to="submitted")
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="submitted", note="已整改完毕"
    )
    assert Case.objects.get(pk=case.pk).status == "submitted"


def test_it_lets_an_inspector_of_a_parent_unit_work_on_a_child_units_case(
    world: World,
) -> None:
    case = world.case(world.unit_a_child)
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="in_progress")
    assert Case.objects.get(pk=case.pk).status == "in_progress"


@pytest.mark.parametrize("target", ["", "done", "OPEN", "closed"])
def test_it_refuses_an_unknown_target_status(world: World, target: str) -> None:
    case = world.case()
    before = snapshot(case)
    with pytest.raises(UnknownStatus):
        services.case_transition(actor=world.supervisor, case_id=case.pk, to=target, note="x")
    assert snapshot(case) == before


# --- Closing: the checklist ----------------------------------------------------------------


def test_it_refuses_to_close_with_unconfirmed_checklist_points(world: World) -> None:
    case = drive_to(
        world.case(checklist=["窗口是否实际运行", "信息是否网上公开"]),
        "submitted",
        world.supervisor,
    )
    first, _second = case.checklist.all()
    for confirm in ([], [first.pk]):
        before = snapshot(case)
        with pytest.raises(InvalidInput) as excinfo:
            services.case_transition(
                actor=world.supervisor, case_id=case.pk, to="completed", confirm=confirm
            )
        assert excinfo.type is InvalidInput
        assert "confirm" in excinfo.value.fields
        assert snapshot(case) == before
    assert not CheckPoint.objects.filter(case=case, confirmed=True).exists()


def test_it_closes_when_every_checklist_point_is_confirmed(world: World) -> None:
    case = drive_to(
        world.case(checklist=["窗口是否实际运行", "信息是否网上公开"]),
        "submitted",
        world.supervisor,
    )
    ids = list(case.checklist.values_list("pk", flat=True))
    before = snapshot(case)
    services.case_transition(actor=world.supervisor, case_id=case.pk, to="completed", confirm=ids)
    assert Case.objects.get(pk=case.pk).status == "completed"
    for point in CheckPoint.objects.filter(case=case):
        assert point.confirmed
        assert point.confirmed_by == world.supervisor
        assert point.confirmed_at is not None
    kinds = sorted(e.kind for e in new_events(case, before))
    assert kinds == ["checklist", "transition"]


@pytest.mark.parametrize("extra", ["other_case", "missing"])
def test_it_refuses_confirm_ids_that_are_not_the_cases_points(world: World, extra: str) -> None:
    case = drive_to(world.case(checklist=["要点一"]), "submitted", world.supervisor)
    other = world.case(checklist=["别的问题的要点"])
    foreign = other.checklist.get().pk if extra == "other_case" else 10**9
    ids = [*case.checklist.values_list("pk", flat=True), foreign]
    before = snapshot(case)
    with pytest.raises(InvalidInput) as excinfo:
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="completed", confirm=ids
        )
    assert "confirm" in excinfo.value.fields
    assert snapshot(case) == before
    assert not other.checklist.get().confirmed


def test_it_closes_a_case_without_checklist(world: World) -> None:
    case = drive_to(world.case(), "submitted", world.supervisor)
    services.case_transition(actor=world.supervisor, case_id=case.pk, to="completed")
    assert Case.objects.get(pk=case.pk).status == "completed"


# --- Problems with items -------------------------------------------------------------------


def test_it_codes_items_after_their_problem_and_counts_them(world: World) -> None:
    parent = world.case()
    items = [world.case(parent=parent) for _ in range(3)]
    assert [item.code for item in items] == [f"{parent.code}-{n:02d}" for n in (1, 2, 3)]
    parent.refresh_from_db()
    assert (parent.items_total, parent.items_done) == (3, 0)


def test_it_keeps_items_done_in_step_with_the_items(world: World) -> None:
    parent = world.case()
    first, second = world.case(parent=parent), world.case(parent=parent)

    def counters() -> tuple[int, int]:
        parent.refresh_from_db()
        return parent.items_total, parent.items_done

    drive_to(first, "submitted", world.supervisor)  # moves between open states: no change
    assert counters() == (2, 0)
    services.case_transition(actor=world.supervisor, case_id=first.pk, to="completed")
    assert counters() == (2, 1)
    services.case_transition(
        actor=world.supervisor, case_id=first.pk, to="in_progress", note="复查发现问题反弹"
    )
    assert counters() == (2, 0)  # reopening an item takes it off the done count
    services.case_transition(
        actor=world.supervisor, case_id=second.pk, to="exempted", note="纳入负面清单"
    )
    assert counters() == (2, 1)
    services.case_transition(
        actor=world.supervisor, case_id=second.pk, to="in_progress", note="撤销负面清单"
    )
    assert counters() == (2, 0)
    services.case_transition(
        actor=world.supervisor, case_id=second.pk, to="exempted", note="纳入负面清单"
    )
    services.case_transition(
        actor=world.inspector_a, case_id=first.pk, to="submitted", note="再次申请"
    )
    services.case_transition(actor=world.supervisor, case_id=first.pk, to="completed")
    assert counters() == (2, 2)


def test_it_closes_a_problem_only_when_all_its_items_are_done(world: World) -> None:
    parent = world.case()
    first, second = world.case(parent=parent), world.case(parent=parent)
    drive_to(parent, "submitted", world.supervisor)

    before = snapshot(parent)
    with pytest.raises(Conflict) as excinfo:
        services.case_transition(actor=world.supervisor, case_id=parent.pk, to="completed")
    assert excinfo.type is Conflict
    assert snapshot(parent) == before

    drive_to(first, "completed", world.supervisor)
    before = snapshot(parent)
    with pytest.raises(Conflict):
        services.case_transition(actor=world.supervisor, case_id=parent.pk, to="completed")
    assert snapshot(parent) == before

    services.case_transition(
        actor=world.supervisor, case_id=second.pk, to="exempted", note="纳入负面清单"
    )
    services.case_transition(actor=world.supervisor, case_id=parent.pk, to="completed")
    assert Case.objects.get(pk=parent.pk).status == "completed"


def test_it_exempts_a_problem_only_when_all_its_items_are_done(world: World) -> None:
    parent = world.case()
    item = world.case(parent=parent)
    before = snapshot(parent)
    with pytest.raises(Conflict):
        services.case_transition(
            actor=world.supervisor, case_id=parent.pk, to="exempted", note="整体纳入负面清单"
        )
    assert snapshot(parent) == before
    services.case_transition(
        actor=world.supervisor, case_id=item.pk, to="exempted", note="负面清单"
    )
    services.case_transition(
        actor=world.supervisor, case_id=parent.pk, to="exempted", note="整体纳入负面清单"
    )
    assert Case.objects.get(pk=parent.pk).status == "exempted"


def test_it_reopens_an_item_only_after_its_problem_is_reopened(world: World) -> None:
    parent = world.case()
    item = world.case(parent=parent)
    drive_to(item, "completed", world.supervisor)
    drive_to(parent, "completed", world.supervisor)
    before = snapshot(item), Case.objects.get(pk=parent.pk).items_done
    with pytest.raises(Conflict):
        services.case_transition(
            actor=world.supervisor, case_id=item.pk, to="in_progress", note="复查反弹"
        )
    assert (snapshot(item), Case.objects.get(pk=parent.pk).items_done) == before
    services.case_transition(
        actor=world.supervisor, case_id=parent.pk, to="in_progress", note="复查反弹"
    )
    services.case_transition(
        actor=world.supervisor, case_id=item.pk, to="in_progress", note="复查反弹"
    )
    parent.refresh_from_db()
    assert (parent.items_done, parent.items_total) == (0, 1)


def test_it_refuses_items_of_items_other_inspections_and_done_problems(world: World) -> None:
    parent = world.case()
    item = world.case(parent=parent)
    with pytest.raises(InvalidInput):
        world.case(parent=item)
    other = make_inspection(world.commission)
    with pytest.raises(InvalidInput):
        world.case(parent=parent, inspection=other)
    done = drive_to(world.case(), "completed", world.supervisor)
    with pytest.raises(Conflict):
        world.case(parent=done)
    parent.refresh_from_db()
    assert parent.items_total == 1


# --- Closing time and lateness -------------------------------------------------------------


@pytest.mark.parametrize("done", ["completed", "exempted"])
def test_it_freezes_closed_at_and_lateness_at_close_and_clears_them_on_reopen(
    world: World, done: str
) -> None:
    with time_machine.travel(datetime(2024, 6, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        case = drive_to(
            world.case(deadline=date(2024, 6, 30)),
            "escalated" if done == "exempted" else "submitted",
            world.supervisor,
        )
    late = datetime(2024, 7, 1, 0, 1, tzinfo=SHANGHAI)  # 2024-06-30 16:01 UTC: local date counts
    with time_machine.travel(late, tick=False):
        services.case_transition(actor=world.supervisor, case_id=case.pk, to=done, note="办结")
    row = Case.objects.get(pk=case.pk)
    assert row.closed_at == late
    assert row.overdue_at_close is True
    assert CaseEvent.objects.filter(case=case, kind="transition").last().was_overdue is True

    with time_machine.travel(datetime(2024, 12, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        services.case_update_details(actor=world.supervisor, case_id=case.pk, title="改个标题")
        row = Case.objects.get(pk=case.pk)
        assert (row.closed_at, row.overdue_at_close) == (late, True)  # frozen
        assert row.is_overdue() is False  # done cases are never overdue
        services.case_transition(
            actor=world.supervisor, case_id=case.pk, to="in_progress", note="重新整改"
        )
    row = Case.objects.get(pk=case.pk)
    assert row.closed_at is None
    assert row.overdue_at_close is False


def test_it_does_not_count_closing_on_the_deadline_day_as_late(world: World) -> None:
    with time_machine.travel(datetime(2024, 6, 1, 9, 0, tzinfo=SHANGHAI), tick=False):
        case = drive_to(world.case(deadline=date(2024, 6, 30)), "submitted", world.supervisor)
    on_time = datetime(2024, 6, 30, 23, 59, tzinfo=SHANGHAI)
    with time_machine.travel(on_time, tick=False):
        services.case_transition(actor=world.supervisor, case_id=case.pk, to="completed")
    row = Case.objects.get(pk=case.pk)
    assert row.closed_at == on_time
    assert row.overdue_at_close is False


# --- Deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["supervisor", "admin"])
def test_it_extends_a_deadline_with_a_reason(world: World, actor: str) -> None:
    case = world.case(deadline=days(10))
    user = getattr(world, actor)
    before = snapshot(case)
    services.case_extend_deadline(
        actor=user, case_id=case.pk, deadline=days(40), reason=" 需上级政策指导 "
    )
    row = Case.objects.get(pk=case.pk)
    assert row.deadline == days(40)
    assert row.original_deadline == days(10)
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.DEADLINE
    assert event.deadline == days(40)
    assert event.changes == {"deadline": [days(10).isoformat(), days(40).isoformat()]}
    assert event.note == "需上级政策指导"
    assert event.actor == user


@pytest.mark.parametrize(
    ("actor", "status", "deadline", "reason", "error"),
    [
        ("inspector_a", "open", 40, "理由", Forbidden),
        ("api_reader", "open", 40, "理由", Forbidden),
        ("supervisor", "open", 40, "", InvalidInput),
        ("supervisor", "open", 40, "   ", InvalidInput),
        ("supervisor", "open", 10, "理由", InvalidInput),  # the same deadline
        ("supervisor", "completed", 40, "理由", Conflict),
        ("supervisor", "exempted", 40, "理由", Conflict),
    ],
)
def test_it_refuses_deadline_changes_it_should_not_make(
    world: World, actor: str, status: str, deadline: int, reason: str, error: type
) -> None:
    case = drive_to(world.case(deadline=days(10)), status, world.supervisor)
    before = snapshot(case)
    with pytest.raises(error) as excinfo:
        services.case_extend_deadline(
            actor=getattr(world, actor), case_id=case.pk, deadline=days(deadline), reason=reason
        )
    assert excinfo.type is error
    assert snapshot(case) == before


# --- Assignment ----------------------------------------------------------------------------


def test_it_hands_a_case_to_another_unit_and_drops_the_old_owner(world: World) -> None:
    case = world.case(world.unit_a, owner=world.inspector_a)
    before = snapshot(case)
    services.case_assign(
        actor=world.supervisor, case_id=case.pk, responsible_unit=world.unit_b, note="职能调整"
    )
    row = Case.objects.get(pk=case.pk)
    assert row.responsible_unit == world.unit_b
    assert row.region == world.county_b
    assert row.owner is None
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.ASSIGNMENT
    assert event.note == "职能调整"
    assert event.changes["responsible_unit"][1]["id"] == world.unit_b.pk
    assert event.changes["owner"][0]["id"] == world.inspector_a.pk


@pytest.mark.parametrize("owner", ["inspector_a", "inspector_a_child"])
def test_it_sets_an_owner_from_the_unit_or_below(world: World, owner: str) -> None:
    case = world.case(world.unit_a)
    user = getattr(world, owner)
    services.case_assign(actor=world.supervisor, case_id=case.pk, owner=user)
    assert Case.objects.get(pk=case.pk).owner == user


def test_it_writes_nothing_when_an_assignment_changes_nothing(world: World) -> None:
    case = world.case(world.unit_a)
    before = snapshot(case)
    services.case_assign(actor=world.supervisor, case_id=case.pk, responsible_unit=world.unit_a)
    assert snapshot(case) == before


def test_it_lets_a_county_supervisor_reassign_inside_the_county(world: World) -> None:
    case = world.case(world.unit_a)
    services.case_assign(
        actor=world.county_a_supervisor, case_id=case.pk, responsible_unit=world.unit_a_child
    )
    assert Case.objects.get(pk=case.pk).responsible_unit == world.unit_a_child


@pytest.mark.parametrize(
    ("actor", "unit", "owner", "error"),
    [
        ("inspector_a", "unit_a_child", None, Forbidden),
        ("api_reader", "unit_b", None, Forbidden),
        ("county_a_supervisor", "unit_b", None, Forbidden),  # outside the county
        ("county_a_supervisor", "city_dept", None, Forbidden),
        ("supervisor", None, "inspector_b", InvalidInput),  # owner from another unit
        ("supervisor", "unit_b", "inspector_a", InvalidInput),  # owner not in the new unit
        ("supervisor", "unit_a_child", "inspector_a", InvalidInput),  # owner above the unit
    ],
)
def test_it_refuses_assignments_it_should_not_make(
    world: World, actor: str, unit: str | None, owner: str | None, error: type
) -> None:
    case = world.case(world.unit_a)
    before = snapshot(case)
    kwargs: dict[str, Any] = {}
    if unit:
        kwargs["responsible_unit"] = getattr(world, unit)
    if owner:
        kwargs["owner"] = getattr(world, owner)
    with pytest.raises(error) as excinfo:
        services.case_assign(actor=getattr(world, actor), case_id=case.pk, **kwargs)
    assert excinfo.type is error
    assert snapshot(case) == before


# --- Rectification -------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["inspector_a", "supervisor"])
def test_it_records_measures_and_progress(world: World, actor: str) -> None:
    case = drive_to(world.case(), "in_progress", world.supervisor)
    before = snapshot(case)
    services.case_update_rectification(
        actor=getattr(world, actor),
        case_id=case.pk,
        measures=" 设立综合窗口 ",
        progress="已完成 3 项",
    )
    row = Case.objects.get(pk=case.pk)
    assert (row.measures, row.progress) == ("设立综合窗口", "已完成 3 项")
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.RECTIFICATION
    assert event.changes == {"measures": ["", "设立综合窗口"], "progress": ["", "已完成 3 项"]}
    # The same values again: nothing to record.
    again = snapshot(case)
    services.case_update_rectification(
        actor=getattr(world, actor), case_id=case.pk, measures="设立综合窗口"
    )
    assert snapshot(case) == again


@pytest.mark.parametrize(
    ("actor", "status", "error"),
    [
        ("api_reader", "in_progress", Forbidden),
        ("inspector_a", "completed", Conflict),
        ("inspector_a", "exempted", Conflict),
        ("supervisor", "completed", Conflict),
    ],
)
def test_it_refuses_rectification_updates_it_should_not_make(
    world: World, actor: str, status: str, error: type
) -> None:
    case = drive_to(world.case(), status, world.supervisor)
    before = snapshot(case)
    with pytest.raises(error) as excinfo:
        services.case_update_rectification(
            actor=getattr(world, actor), case_id=case.pk, measures="新措施"
        )
    assert excinfo.type is error
    assert snapshot(case) == before


# --- Registering cases ---------------------------------------------------------------------


def test_it_numbers_cases_after_their_inspection(world: World) -> None:
    first, second = world.case(), world.case()
    assert (first.code, second.code) == ("T2023-1-001", "T2023-1-002")
    other = make_inspection(world.commission, year=2024)
    assert other.code == f"JC2024-{other.pk:03d}"
    third = world.case(inspection=other)
    assert third.code == f"{other.code}-001"
    assert world.case().code == "T2023-1-003"  # each inspection has its own sequence


def test_it_records_the_creation_in_the_history(world: World) -> None:
    case = world.case(deadline=days(30), checklist=["要点一", "  ", "要点二"])
    [event] = CaseEvent.objects.filter(case=case)
    assert event.kind == CaseEvent.Kind.CREATED
    assert (event.to_status, event.deadline) == ("open", days(30))
    assert event.actor == world.supervisor
    assert list(case.checklist.values_list("text", "position")) == [("要点一", 0), ("要点二", 2)]


@pytest.mark.parametrize("existing", ["given", "generated"])
def test_it_refuses_a_duplicate_code(world: World, existing: str) -> None:
    code = world.case(code="JC-自定-1").code if existing == "given" else world.case().code
    count = Case.objects.count()
    with pytest.raises(InvalidInput) as excinfo:
        world.case(code=code)
    assert "code" in excinfo.value.fields
    assert Case.objects.count() == count


def test_it_does_not_hand_out_a_generated_code_that_is_already_taken(world: World) -> None:
    # A ledger imported with its own numbers happens to use the next generated code.
    world.case(code="T2023-1-001")
    case = world.case()  # no code given: the service must find a free one
    assert case.code != "T2023-1-001"
    assert Case.objects.filter(inspection=world.inspection).count() == 2


@pytest.mark.parametrize(
    ("actor", "error"),
    [("inspector_a", Forbidden), ("api_reader", Forbidden)],
)
def test_it_lets_only_supervisors_register_cases(world: World, actor: str, error: type) -> None:
    with pytest.raises(error):
        make_case(getattr(world, actor), world.inspection, world.unit_a)
    assert not Case.objects.exists()


def test_it_refuses_a_responsible_unit_outside_the_jurisdiction(world: World) -> None:
    world.case(world.unit_a)  # gives the county supervisor sight of the inspection
    with pytest.raises(Forbidden):
        make_case(world.county_a_supervisor, world.inspection, world.unit_b)
    with pytest.raises(InvalidInput):
        world.case(world.unit_a, owner=world.inspector_b)
    assert Case.objects.count() == 1


# --- Evidence ------------------------------------------------------------------------------


def test_it_accepts_a_real_pdf_as_evidence(
    world: World, evidence_storage: FileSystemStorage
) -> None:
    case = world.case()
    before = snapshot(case)
    evidence = services.evidence_add(
        actor=world.inspector_a, case_id=case.pk, upload=pdf("整改报告.pdf"), note=" 窗口照片 "
    )
    assert evidence.content_type == "application/pdf"
    assert evidence.size == len(PDF)
    assert evidence.original_name == "整改报告.pdf"
    assert evidence.uploaded_by == world.inspector_a
    with evidence.file.open("rb") as stored:
        assert stored.read() == PDF
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.EVIDENCE
    assert event.note == "窗口照片"
    assert list(event.evidence.all()) == [evidence]
    assert Case.objects.get(pk=case.pk).updated_at > before["updated_at"]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("setup.exe", EXE),
        ("整改报告.pdf", EXE),  # a program named as a PDF
        ("说明.pdf", "这是一段纯文本，不是 PDF。".encode()),
        ("空文件.pdf", b""),
        ("page.pdf", b"<html><script>alert(1)</script></html>"),
    ],
)
def test_it_refuses_evidence_by_content_not_by_name(
    world: World, evidence_storage: FileSystemStorage, name: str, content: bytes
) -> None:
    case = world.case()
    before = snapshot(case)
    with pytest.raises(InvalidInput) as excinfo:
        services.evidence_add(actor=world.inspector_a, case_id=case.pk, upload=pdf(name, content))
    assert excinfo.type is InvalidInput
    assert snapshot(case) == before
    assert not Path(evidence_storage.location).exists() or not any(
        p.is_file() for p in Path(evidence_storage.location).rglob("*")
    )


def test_it_accepts_evidence_exactly_at_the_size_limit(
    world: World, evidence_storage: FileSystemStorage, settings: Any
) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PDF)
    case = world.case()
    evidence = services.evidence_add(actor=world.inspector_a, case_id=case.pk, upload=pdf())
    assert evidence.size == len(PDF)


def test_it_refuses_evidence_one_byte_over_the_size_limit(
    world: World, evidence_storage: FileSystemStorage, settings: Any
) -> None:
    settings.EVIDENCE_MAX_BYTES = len(PDF) - 1
    case = world.case()
    before = snapshot(case)
    with pytest.raises(FileTooLarge):
        services.evidence_add(actor=world.inspector_a, case_id=case.pk, upload=pdf())
    assert snapshot(case) == before


@pytest.mark.parametrize("padding", [100, 20_000], ids=["inside-sniff-window", "beyond-it"])
def test_it_measures_an_upload_that_declares_no_size(
    world: World, evidence_storage: FileSystemStorage, settings: Any, padding: int
) -> None:
    # A stream with no `size` attribute (an API body, a file from an import): the limit must
    # still hold, whether the file is shorter than the bytes read to sniff its type or not.
    content = PDF + b"%" + b" " * padding + b"\n"
    settings.EVIDENCE_MAX_BYTES = len(content) - 1
    upload = io.BytesIO(content)
    upload.name = "scan.pdf"
    case = world.case()
    before = snapshot(case)
    with pytest.raises(FileTooLarge):
        services.evidence_add(actor=world.inspector_a, case_id=case.pk, upload=upload)
    assert snapshot(case) == before


def test_it_attaches_evidence_to_a_transition_and_refuses_the_move_for_a_bad_file(
    world: World, evidence_storage: FileSystemStorage
) -> None:
    case = drive_to(world.case(), "in_progress", world.supervisor)
    before = snapshot(case)
    with pytest.raises(InvalidInput):
        services.case_transition(
            actor=world.inspector_a,
            case_id=case.pk,
            to="submitted",
            note="申请销号",
            evidence=[pdf(), pdf("x.pdf", EXE)],
        )
    assert snapshot(case) == before
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="submitted", note="申请销号", evidence=[pdf()]
    )
    [event] = new_events(case, before)
    assert event.kind == CaseEvent.Kind.TRANSITION
    assert [e.content_type for e in event.evidence.all()] == ["application/pdf"]


def test_it_refuses_evidence_from_a_read_only_account(
    world: World, evidence_storage: FileSystemStorage
) -> None:
    case = world.case()
    before = snapshot(case)
    with pytest.raises(Forbidden):
        services.evidence_add(actor=world.api_reader, case_id=case.pk, upload=pdf())
    assert snapshot(case) == before


def test_it_stores_evidence_under_the_configured_evidence_root(world: World, settings: Any) -> None:
    # No storage patch here: the autouse fixture in tests/conftest.py sets EVIDENCE_ROOT to a
    # per-test folder, and that is where the file must land (not the developer's var/).
    case = world.case()
    evidence = services.evidence_add(actor=world.inspector_a, case_id=case.pk, upload=pdf())
    try:
        stored = Path(evidence.file.path).resolve()
        assert stored.is_relative_to(Path(settings.EVIDENCE_ROOT).resolve()), stored
    finally:
        evidence.file.storage.delete(evidence.file.name)


# --- Scope: a case out of reach is a case that does not exist ------------------------------


def _services(world: World) -> dict[str, Any]:
    return {
        "transition": lambda user, case_id: services.case_transition(
            actor=user, case_id=case_id, to="in_progress"
        ),
        "transition_with_note": lambda user, case_id: services.case_transition(
            actor=user, case_id=case_id, to="escalated", note="理由"
        ),
        "extend_deadline": lambda user, case_id: services.case_extend_deadline(
            actor=user, case_id=case_id, deadline=days(90), reason="理由"
        ),
        "assign": lambda user, case_id: services.case_assign(
            actor=user, case_id=case_id, owner=None, note="理由"
        ),
        "update_rectification": lambda user, case_id: services.case_update_rectification(
            actor=user, case_id=case_id, measures="措施"
        ),
        "update_details": lambda user, case_id: services.case_update_details(
            actor=user, case_id=case_id, title="新标题"
        ),
        "checkpoint_add": lambda user, case_id: checklist.checkpoint_add(
            actor=user, case_id=case_id, text="要点"
        ),
        "evidence_add": lambda user, case_id: services.evidence_add(
            actor=user, case_id=case_id, upload=pdf()
        ),
    }


SERVICE_NAMES = [
    "transition",
    "transition_with_note",
    "extend_deadline",
    "assign",
    "update_rectification",
    "update_details",
    "checkpoint_add",
    "evidence_add",
]

# (who, whose case) pairs where the case is out of the user's scope.
OUT_OF_SCOPE = [
    ("inspector_b", "unit_a"),  # a sibling unit
    ("inspector_a", "unit_b"),
    ("inspector_a", "city_dept"),  # a unit above or beside, at city level
    ("inspector_a_child", "unit_a"),  # the parent of one's unit
    ("inspector_a", "restricted_a"),  # restricted ledger, even in one's own unit
    ("api_reader", "restricted_a"),
    ("county_a_supervisor", "unit_b"),
    ("no_unit", "unit_a"),
]


@pytest.mark.parametrize("service", SERVICE_NAMES)
@pytest.mark.parametrize(("who", "whose"), OUT_OF_SCOPE)
def test_it_answers_not_found_for_a_case_out_of_scope(
    world: World, evidence_storage: FileSystemStorage, service: str, who: str, whose: str
) -> None:
    if whose == "restricted_a":
        case = world.case(world.unit_a, inspection=world.restricted)
    else:
        case = world.case(getattr(world, whose))
    call = _services(world)[service]
    user = getattr(world, who)
    before = snapshot(case)
    with pytest.raises(NotFound) as out_of_scope:
        call(user, case.pk)
    assert snapshot(case) == before
    with pytest.raises(NotFound) as missing:
        call(user, 10**9)
    # Same answer as for an id that does not exist: nothing tells the two apart.
    assert out_of_scope.value.message == missing.value.message
    assert out_of_scope.value.fields == missing.value.fields == {}


# Who may use which write on a case they do see (transitions: see the matrix above).
ROLE_REFUSALS = [
    *[("api_reader", service) for service in SERVICE_NAMES],  # read-only, always
    ("inspector_a", "extend_deadline"),
    ("inspector_a", "assign"),
    ("inspector_a", "update_details"),
    ("inspector_a", "checkpoint_add"),
]


@pytest.mark.parametrize(("who", "service"), ROLE_REFUSALS)
def test_it_refuses_writes_the_role_may_not_make(
    world: World, evidence_storage: FileSystemStorage, who: str, service: str
) -> None:
    case = world.case(world.unit_a, owner=world.inspector_a)
    before = snapshot(case)
    with pytest.raises(Forbidden) as excinfo:
        _services(world)[service](getattr(world, who), case.pk)
    assert excinfo.value.status_code == 403
    assert snapshot(case) == before


def test_it_creates_no_item_under_a_problem_out_of_scope(world: World) -> None:
    world.case(world.unit_a)  # gives the county supervisor sight of the inspection
    parent = world.case(world.unit_b)
    with pytest.raises(NotFound):
        make_case(world.county_a_supervisor, world.inspection, world.unit_a, parent=parent)
    parent.refresh_from_db()
    assert parent.items_total == 0


def test_it_keeps_inspection_codes_unique(world: World) -> None:
    with pytest.raises(InvalidInput):
        make_inspection(world.commission, code="T2023-1")
    assert Inspection.objects.filter(code="T2023-1").count() == 1


def test_it_asks_for_every_point_again_after_a_reopen(world: World) -> None:
    case = drive_to(world.case(checklist=["窗口是否运行"]), "completed", world.supervisor)
    assert case.checklist.get().confirmed
    services.case_transition(
        actor=world.supervisor, case_id=case.pk, to="in_progress", note="复查反弹"
    )
    point = case.checklist.get()
    assert not point.confirmed and point.confirmed_by is None
    assert point.note == ""  # the verifier's note goes with the confirmation
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="submitted", note="再次整改完毕"
    )
    with pytest.raises(InvalidInput):
        services.case_transition(actor=world.supervisor, case_id=case.pk, to="completed")

"""Starting a look-back and deciding its re-checks: who may, what is written, and a false
rectification reopening the case through the workflow (history, seals, roll-ups)."""

from __future__ import annotations

from datetime import date
from io import StringIO

import pytest
from django.core.management import call_command

from audit.models import AuditEntry
from cases import completion, selectors, tally
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.models import Case, CaseEvent
from cases.workflow import Status
from lookback import services
from lookback.models import LookBack, RecheckTask
from reminders.models import Reminder
from tests.factories import make_user

from .conftest import start

pytestmark = pytest.mark.django_db


def test_it_gives_each_drawn_case_a_task_for_the_checker(ledger):
    world = ledger.world
    checker = make_user(world.commission, "supervisor", "checker")
    lookback = start(world.supervisor, checker, size=4)
    tasks = list(lookback.tasks.all())
    assert sorted(t.case_id for t in tasks) == sorted(lookback.drawn_ids)
    assert {(t.checker_id, t.deadline, t.outcome) for t in tasks} == {
        (checker.pk, lookback.deadline, "pending")
    }
    assert lookback.started_by == world.supervisor and lookback.unit == world.commission


@pytest.mark.parametrize("who", ["inspector_a", "dept_supervisor", "api_reader", "no_unit"])
def test_only_a_commission_supervisor_starts_one(ledger, who):
    world = ledger.world
    with pytest.raises(Forbidden):
        start(getattr(world, who), world.supervisor)
    assert not LookBack.objects.exists()


@pytest.mark.parametrize("who", ["inspector_a", "dept_supervisor", "county_a_supervisor"])
@pytest.mark.parametrize("scope", [{}, {"unit": "county_a"}])
def test_the_checker_is_a_supervisor_of_the_starters_commission(ledger, who, scope):
    world = ledger.world
    # The county commission's supervisor sees 甲县's cases, but not the city commission's
    # look-backs: it would never find its task.
    filters = {name: getattr(world, value).pk for name, value in scope.items()}
    with pytest.raises(InvalidInput) as refused:
        start(world.supervisor, getattr(world, who), percentage=100, **filters)
    assert "checker" in refused.value.fields
    assert not LookBack.objects.exists()


def test_a_superusers_lookback_is_followed_by_its_checker(ledger):
    world = ledger.world
    # Started for the drawn cases' supervising commission (the city's), which the county
    # commission's supervisor does not follow, though it sees 甲县局's cases.
    with pytest.raises(InvalidInput) as refused:
        start(world.admin, world.county_a_supervisor, unit=world.unit_a.pk, size=1)
    assert "checker" in refused.value.fields
    lookback = start(world.admin, world.supervisor, unit=world.unit_a.pk, size=1)
    assert lookback.unit == world.commission


def test_a_confirmed_recheck_leaves_the_case_closed(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    events = CaseEvent.objects.filter(case=task.case).count()
    services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    task.refresh_from_db()
    assert (task.outcome, task.decided_by) == ("confirmed", world.supervisor)
    assert Case.objects.get(pk=task.case_id).status == Status.COMPLETED
    assert CaseEvent.objects.filter(case=task.case).count() == events


def test_a_false_rectification_reopens_the_case_with_the_finding(ledger):
    world = ledger.world
    tally.refresh()  # the roll-ups are built: the reopen must move them too
    # A rectification ledger's case: its unit's inspectors see it, and are told.
    task = start(world.supervisor, world.supervisor, inspection=world.inspection.pk, size=1)
    task = task.tasks.get()
    services.recheck_decide(
        actor=world.supervisor, task_id=task.pk, outcome="false", finding="窗口未实际运行"
    )
    case = Case.objects.get(pk=task.case_id)
    assert case.status == Status.IN_PROGRESS and case.closed_at is None
    last = CaseEvent.objects.filter(case=case).order_by("-seq").first()
    assert last is not None
    assert (last.kind, last.from_status, last.to_status) == (
        "transition",
        "completed",
        "in_progress",
    )
    assert "窗口未实际运行" in last.note and "虚假整改" in last.note
    # The unit is told its case is reopened, as for any reopen.
    assert Reminder.objects.filter(case=case, kind="reopened").exists()
    # The seal chain still verifies, and the roll-ups equal a fresh count.
    out = StringIO()
    call_command("verify_history", stdout=out, stderr=StringIO())
    selection = completion.Selection(world.supervisor)
    rolled = completion.figures(selection, group_by="unit")
    counted = completion.figures(selectors.visible_cases(world.supervisor), group_by="unit")
    assert rolled == counted
    task.refresh_from_db()
    assert (task.outcome, task.finding) == ("false", "窗口未实际运行")


def test_a_false_rectification_needs_a_finding(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    with pytest.raises(InvalidInput) as refused:
        services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="false")
    assert "finding" in refused.value.fields
    task.refresh_from_db()
    assert task.outcome == "pending"
    assert Case.objects.get(pk=task.case_id).status == Status.COMPLETED


def test_a_recheck_is_decided_once(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    with pytest.raises(Conflict):
        services.recheck_decide(
            actor=world.supervisor, task_id=task.pk, outcome="false", finding="重复认定"
        )
    assert Case.objects.get(pk=task.case_id).status == Status.COMPLETED


def test_a_case_reopened_meanwhile_is_a_conflict(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    from cases import services as case_services

    case_services.case_transition(
        actor=world.supervisor, case_id=task.case_id, to="in_progress", note="另行重新整改"
    )
    for outcome in ("false", "confirmed"):  # neither is true of a close that is gone
        with pytest.raises(Conflict):
            services.recheck_decide(
                actor=world.supervisor, task_id=task.pk, outcome=outcome, finding="虚假"
            )
    task.refresh_from_db()
    assert task.outcome == "pending"


@pytest.mark.parametrize("who", ["county_a_supervisor", "inspector_a", "dept_supervisor"])
def test_nobody_outside_decides_a_recheck(ledger, who):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, unit=world.unit_a.pk, size=1).tasks.get()
    # The county commission sees the case, not the city commission's look-back: not found.
    with pytest.raises((NotFound, Forbidden)):
        services.recheck_decide(
            actor=getattr(world, who), task_id=task.pk, outcome="false", finding="越权"
        )
    task.refresh_from_db()
    assert task.outcome == "pending"
    assert Case.objects.get(pk=task.case_id).status == Status.COMPLETED


def test_it_records_accountability_on_a_case_and_a_recheck(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    record = services.accountability_create(
        actor=world.supervisor,
        case_id=task.case_id,
        recheck_id=task.pk,
        person_name="张某",
        unit_id=task.responsible_unit_id,
        measure="talk",
        decided_on=date(2026, 1, 5),
        document_number="晋纪〔2026〕1号",
    )
    assert (record.recheck, record.recorded_by, record.measure) == (task, world.supervisor, "talk")


def test_starting_deciding_and_recording_accountability_are_in_the_audit_log(ledger):
    world = ledger.world
    lookback = start(world.supervisor, world.supervisor, size=2, seed=7)
    entry = AuditEntry.objects.get(action="lookback_start")
    assert (entry.actor, entry.target_id) == (world.supervisor, str(lookback.pk))
    assert entry.changes == {"seed": 7, "population_size": 11, "drawn": 2}
    task = lookback.tasks.order_by("id").first()
    record = services.accountability_create(
        actor=world.supervisor, case_id=task.case_id, person_name="张某",
        unit_id=task.responsible_unit_id, measure="talk", decided_on=date(2026, 1, 5),
        document_number="晋纪〔2026〕2号",
    )  # fmt: skip
    services.recheck_decide(actor=world.supervisor, task_id=task.pk, outcome="confirmed")
    entry = AuditEntry.objects.get(action="recheck_decide")
    assert (entry.target_id, entry.case_id) == (str(task.pk), task.case_id)
    assert entry.changes == {"outcome": "confirmed"}
    entry = AuditEntry.objects.get(action="accountability_create")
    assert (entry.target_id, entry.case_id) == (str(record.pk), task.case_id)
    assert entry.changes == {"measure": "talk", "document_number": "晋纪〔2026〕2号"}
    assert "张某" not in str(entry.changes)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"person_name": " "}, "person_name"),
        ({"measure": "fine"}, "measure"),
        ({"document_number": ""}, "document_number"),
        ({"unit_id": 987654321}, "unit"),
    ],
)
def test_it_refuses_a_bad_accountability_record(ledger, change, field):
    world = ledger.world
    values = {
        "person_name": "张某",
        "unit_id": world.unit_a.pk,
        "measure": "criticism",
        "decided_on": date(2026, 1, 5),
        "document_number": "晋纪〔2026〕2号",
        **change,
    }
    with pytest.raises(InvalidInput) as refused:
        services.accountability_create(
            actor=world.supervisor, case_id=ledger.closed_a[0].pk, **values
        )
    assert field in refused.value.fields


@pytest.mark.parametrize("who", ["inspector_a", "dept_supervisor", "api_reader"])
def test_only_the_commission_records_accountability(ledger, who):
    world = ledger.world
    with pytest.raises(Forbidden):
        services.accountability_create(
            actor=getattr(world, who),
            case_id=ledger.closed_a[0].pk,
            person_name="张某",
            unit_id=world.unit_a.pk,
            measure="talk",
            decided_on=date(2026, 1, 5),
            document_number="晋纪〔2026〕3号",
        )


def test_a_recheck_of_another_case_is_refused(ledger):
    world = ledger.world
    task = start(world.supervisor, world.supervisor, size=1).tasks.get()
    other = next(c for c in ledger.closed if c.pk != task.case_id)
    with pytest.raises(InvalidInput) as refused:
        services.accountability_create(
            actor=world.supervisor,
            case_id=other.pk,
            recheck_id=task.pk,
            person_name="张某",
            unit_id=world.unit_a.pk,
            measure="talk",
            decided_on=date(2026, 1, 5),
            document_number="晋纪〔2026〕4号",
        )
    assert "recheck" in refused.value.fields
    assert RecheckTask.objects.filter(accountability__isnull=False).count() == 0

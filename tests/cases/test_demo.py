"""`load_demo` reproduces every figure of the 2023 report, computed, not stored."""

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.utils import timezone

from cases import selectors
from cases.completion import completion_rows, completion_total
from cases.demo import DEMO_PASSWORD, load_demo
from cases.demo_data import REDATE_REASON
from cases.models import Case, CaseEvent, CheckPoint, Evidence, Inspection, Unit, User
from cases.workflow import Status

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(_demo_db, settings):
    settings.EVIDENCE_ROOT = _demo_db  # where the module's demo stored its evidence
    return {u.username: u for u in User.objects.all()}


def _rows(user, **kwargs):
    return {row.name: row for row in completion_rows(selectors.visible_cases(user), **kwargs)}


ACCOUNTS = {"supervisor", "inspector_lc", "inspector_gp", "unitadmin_gp", "api_reader", "admin"}


def test_it_creates_the_demo_accounts_with_the_demo_password(demo):
    assert set(demo) >= ACCOUNTS
    for username in ACCOUNTS:
        login = RequestFactory().post("/accounts/login/")  # the lockout backend needs one
        assert authenticate(login, username=username, password=DEMO_PASSWORD) is not None
    assert demo["supervisor"].unit.name == "晋城市纪委监委"
    assert demo["inspector_lc"].unit.name == "陵川生态文化旅游示范区行政审批局"
    assert demo["inspector_gp"].unit.name == "高平市政务服务中心"
    assert (demo["unitadmin_gp"].unit.name, demo["unitadmin_gp"].role) == (
        "高平市政务服务中心",
        "unit_admin",
    )
    assert demo["admin"].is_superuser and demo["admin"].is_staff
    # The others are the units' liaisons, who made their units' moves: they cannot sign in.
    liaisons = [user for name, user in demo.items() if name not in ACCOUNTS]
    assert liaisons and all(name.startswith("liaison") for name in set(demo) - ACCOUNTS)
    for user in liaisons:
        assert not user.has_usable_password() and not user.is_staff
        assert user.role in ("inspector", "supervisor") and user.unit is not None
        assert user.unit.cases.exists()


def test_different_people_submit_and_close(demo):
    """Separation of duties (cases.rules): every submission is made by someone of the
    responsible unit, and no case is closed by its submitter or by its unit."""
    submits = 0
    for case in Case.objects.select_related("responsible_unit"):
        submitter = None
        for event in case.events.filter(kind=CaseEvent.Kind.TRANSITION).select_related(
            "actor__unit"
        ):
            if event.to_status == Status.SUBMITTED:
                submitter = event.actor
                submits += 1
                assert submitter.unit.path.startswith(case.responsible_unit.path)
            elif event.to_status in (Status.COMPLETED, Status.EXEMPTED):
                assert event.actor != submitter
                assert event.actor == demo["supervisor"]
                assert not event.actor.unit.path.startswith(case.responsible_unit.path)
    assert submits > 300
    noted = CheckPoint.objects.filter(confirmed=True).exclude(note="")
    assert noted.count() == CheckPoint.objects.filter(confirmed=True).count() > 0


def test_it_holds_the_six_county_level_areas(demo):
    counties = Unit.objects.filter(level=Unit.Level.COUNTY).values_list("name", flat=True)
    assert sorted(counties) == sorted(["城区", "泽州县", "高平市", "阳城县", "陵川县", "沁水县"])


def test_it_holds_the_58_licensing_items(demo):
    problem = Case.objects.get(title__contains="58项行政许可事项")
    items = problem.items.all()
    assert items.count() == 58
    admitted = items.filter(status=Status.COMPLETED)
    assert admitted.count() == 56
    assert set(admitted.values_list("method", flat=True)) == {
        "window_authorisation",
        "new_window",
        "entrusted",
    }
    negative = items.filter(status=Status.EXEMPTED)
    assert negative.count() == 2
    assert set(negative.values_list("method", flat=True)) == {"negative_list"}
    assert (problem.items_total, problem.items_done) == (58, 58)
    assert problem.status == Status.COMPLETED
    # Each admitted item was verified on the report's three points.
    assert CheckPoint.objects.filter(case__in=admitted, confirmed=True).count() == 56 * 3


def test_it_holds_the_263_items_of_city_and_counties_all_admitted(demo):
    items = Case.objects.filter(parent__title__contains="应进未进政务大厅")
    assert items.count() == 263
    assert items.filter(status=Status.COMPLETED).count() == 263


def test_it_gives_business_environment_feedback_100_percent(demo):
    for level in ("problem", "item"):
        row = _rows(demo["supervisor"], group_by="inspection", level=level)[
            "2023年优化营商环境政治监督专项检查"
        ]
        assert row.rate == 1.0


def test_it_holds_wangmangling_3_1_2_2(demo):
    problem = Case.objects.get(title__startswith="王莽岭景区基础设施提升改造工程")
    assert problem.amount == 2274000000
    statuses = Counter(problem.items.values_list("status", flat=True))
    assert statuses == {Status.COMPLETED: 3, Status.IN_PROGRESS: 1, Status.ESCALATED: 4}
    notes = Counter(
        CaseEvent.objects.filter(case__parent=problem, to_status=Status.ESCALATED).values_list(
            "note", flat=True
        )
    )
    assert sum(n for note, n in notes.items() if "组卷上报" in note) == 2
    assert sum(n for note, n in notes.items() if "政策指导" in note) == 2
    assert (problem.items_done, problem.items_total) == (3, 8)
    assert problem.owner == demo["inspector_lc"]


def test_it_holds_six_key_problems_under_supervision(demo):
    key = Case.objects.filter(is_key_problem=True)
    assert key.count() == 6
    assert not key.filter(status__in=[Status.COMPLETED, Status.EXEMPTED]).exists()
    titles = list(key.values_list("title", flat=True))
    assert any("晋城经济技术开发区低效土地利用" in t for t in titles)
    assert any("审批权与监管权未完全分离" in t for t in titles)
    assert sum("示例" in t for t in titles) == 4


def test_it_gives_cultivated_land_75_and_work_safety_below_100(demo):
    for level in ("problem", "item"):
        rows = _rows(demo["supervisor"], group_by="inspection", level=level)
        assert rows["2023年耕地保护政治监督专项检查"].rate == 0.75
        safety = rows["2023年安全生产政治监督专项检查"]
        assert 0 < safety.rate < 1


def test_it_keeps_the_clue_ledger_to_commission_staff(demo):
    ledger = Inspection.objects.get(kind=Inspection.Kind.CLUE_LEDGER)
    assert ledger.restricted and ledger.cases.exists()
    assert selectors.visible_cases(demo["supervisor"]).filter(inspection=ledger).exists()
    for name in ("inspector_lc", "inspector_gp", "api_reader"):
        assert not selectors.visible_cases(demo[name]).filter(inspection=ledger).exists()
        assert not selectors.visible_inspections(demo[name]).filter(pk=ledger.pk).exists()


def test_it_shows_overdue_and_due_soon_cases_relative_to_today(demo):
    today = timezone.localdate()
    open_cases = Case.objects.exclude(status__in=[Status.COMPLETED, Status.EXEMPTED])
    assert open_cases.filter(deadline__lt=today).exists()
    assert open_cases.filter(deadline__gte=today, deadline__lte=today + timedelta(days=7)).exists()
    lights = Counter(case.light(today) for case in open_cases)
    assert lights["red"] and lights["yellow"] and lights["green"]


def _open_cases():
    return Case.objects.exclude(status__in=[Status.COMPLETED, Status.EXEMPTED]).order_by("id")


def test_a_later_start_moves_the_open_deadlines_with_the_date(demo):
    """`make demo` loads the demo on every start: months later, each open case is as far from
    today as on the day it was built, by a 延期 in its history, and the figures are the same."""
    built = timezone.localdate()
    distances = {case.pk: case.deadline - built for case in _open_cases()}
    rates = completion_total(Case.objects.all(), level="item")
    with time_machine.travel(timezone.now() + timedelta(days=100), tick=False):
        load_demo()
        today = timezone.localdate()
        assert {case.pk: case.deadline - today for case in _open_cases()} == distances
        lights = Counter(case.light(today) for case in _open_cases())
        assert lights["red"] and lights["yellow"] and lights["green"]
        moves = CaseEvent.objects.filter(kind=CaseEvent.Kind.DEADLINE, note=REDATE_REASON)
        assert moves.count() == len(distances)
        assert completion_total(Case.objects.all(), level="item") == rates
        load_demo()  # again the same day: nothing moves
        assert moves.count() == len(distances)


def test_it_gives_each_inspector_their_own_units_cases(demo):
    lc = selectors.visible_cases(demo["inspector_lc"])
    assert lc.count() == 9  # the 王莽岭 problem and its 8 projects
    gp = selectors.visible_cases(demo["inspector_gp"])
    assert set(gp.values_list("responsible_unit__name", flat=True)) == {"高平市政务服务中心"}
    assert gp.exclude(status__in=[Status.COMPLETED, Status.EXEMPTED]).exists()


def test_it_records_history_and_evidence_through_the_services(demo):
    for case in Case.objects.all():
        kinds = list(case.events.order_by("created_at", "id").values_list("to_status", flat=True))
        assert kinds[0] == Status.OPEN
        transitions = [k for k in kinds if k]
        assert transitions[-1] == case.status
    assert Evidence.objects.count() > 0
    evidence = Evidence.objects.first()
    assert evidence.file.storage.exists(evidence.file.name)


def test_it_computes_past_figures_from_history(demo):
    # Ninety days ago nothing of the cultivated land inspection was closed yet.
    past = timezone.localdate() - timedelta(days=90)
    row = _rows(demo["supervisor"], group_by="inspection", as_of=past)[
        "2023年耕地保护政治监督专项检查"
    ]
    assert (row.total, row.done) == (12, 0)


def _snapshot():
    return {
        "units": list(Unit.objects.order_by("path").values_list("path", "name")),
        "users": list(User.objects.order_by("username").values_list("username", "unit_id")),
        "cases": list(
            Case.objects.order_by("code").values_list(
                "code", "status", "deadline", "items_done", "updated_at"
            )
        ),
        "events": CaseEvent.objects.count(),
        "evidence": Evidence.objects.count(),
        "total": completion_total(Case.objects.all(), level="item"),
    }


def test_it_is_idempotent(demo):
    before = _snapshot()
    load_demo()
    assert _snapshot() == before

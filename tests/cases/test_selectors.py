"""What each person may see: cases, inspections, units, a case, its history, its evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.storage import FileSystemStorage

from cases import organisation, selectors, services
from cases.errors import NotFound
from cases.models import Case, Evidence, Inspection, Unit, User
from tests.factories import World, add_evidence, build_world, make_inspection

pytestmark = pytest.mark.django_db

MISSING = 10**9


@dataclass
class Ledger:
    """One case in each place of the tree, one on the restricted ledger, and an inspection
    with no case at all."""

    world: World
    cases: dict[str, Case]
    empty_inspection: Inspection
    county_a_commission: Unit
    province: Unit
    inactive_supervisor: User

    def user(self, persona: str) -> Any:
        if persona == "anonymous":
            return AnonymousUser()
        if persona == "inactive_supervisor":
            return self.inactive_supervisor
        return getattr(self.world, persona)


@pytest.fixture
def ledger(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Ledger:
    monkeypatch.setattr(
        Evidence._meta.get_field("file"),
        "storage",
        FileSystemStorage(location=settings.EVIDENCE_ROOT),
    )
    world = build_world()
    cases = {
        "city_dept": world.case(world.city_dept),
        "city_dept_child": world.case(world.city_dept_child),
        "county_a": world.case(world.county_a),
        "unit_a": world.case(world.unit_a),
        "unit_a_child": world.case(world.unit_a_child),
        "unit_b": world.case(world.unit_b),
        # On the clue ledger, with inspector_a's own unit responsible.
        "restricted_a": world.case(world.unit_a, inspection=world.restricted),
    }
    inactive = organisation.user_create(
        username="gone", password=None, unit=world.commission, role="supervisor"
    )
    inactive.is_active = False
    inactive.save()
    return Ledger(
        world=world,
        cases=cases,
        empty_inspection=make_inspection(world.commission, code="T2023-EMPTY"),
        county_a_commission=Unit.objects.get(name="甲县纪委监委"),
        province=Unit.objects.get(name="某省"),
        inactive_supervisor=inactive,
    )


ALL_CASES = {
    "city_dept",
    "city_dept_child",
    "county_a",
    "unit_a",
    "unit_a_child",
    "unit_b",
    "restricted_a",
}
UNRESTRICTED = ALL_CASES - {"restricted_a"}

VISIBLE_CASES: dict[str, set[str]] = {
    "admin": ALL_CASES,
    "supervisor": ALL_CASES,  # the city commission: the whole city, clue ledger included
    "county_a_supervisor": {"county_a", "unit_a", "unit_a_child", "restricted_a"},
    # Supervisors of government departments (not commissions): their unit's cases, never the
    # clue ledger, even on a case of their own unit.
    "dept_supervisor": {"unit_a", "unit_a_child"},
    "city_dept_supervisor": {"city_dept", "city_dept_child"},
    "api_reader": UNRESTRICTED,  # the same jurisdiction, never the clue ledger
    "inspector_a": {"unit_a", "unit_a_child"},  # own unit and below, never restricted
    "inspector_a_child": {"unit_a_child"},  # not the parent unit's cases
    "inspector_b": {"unit_b"},
    "no_unit": set(),
    "anonymous": set(),
    "inactive_supervisor": set(),
}
PERSONAS = list(VISIBLE_CASES)

VISIBLE_INSPECTIONS: dict[str, set[str]] = {
    "admin": {"inspection", "restricted", "empty"},
    "supervisor": {"inspection", "restricted", "empty"},
    "county_a_supervisor": {"inspection", "restricted"},  # through its county's cases
    "dept_supervisor": {"inspection"},
    "city_dept_supervisor": {"inspection"},
    "api_reader": {"inspection", "empty"},
    "inspector_a": {"inspection"},
    "inspector_a_child": {"inspection"},
    "inspector_b": {"inspection"},
    "no_unit": set(),
    "anonymous": set(),
    "inactive_supervisor": set(),
}

CITY_UNITS = {
    "晋城市",
    "晋城市纪委监委",
    "市局",
    "市局分局",
    "甲县",
    "甲县纪委监委",
    "甲县局",
    "甲县局股室",
    "乙县",
    "乙县局",
}
VISIBLE_UNITS: dict[str, set[str]] = {
    "admin": CITY_UNITS | {"某省"},
    "supervisor": CITY_UNITS,
    "api_reader": CITY_UNITS,
    "county_a_supervisor": {"甲县", "甲县纪委监委", "甲县局", "甲县局股室"},
    "dept_supervisor": {"甲县局", "甲县局股室"},
    "city_dept_supervisor": {"市局", "市局分局"},
    "inspector_a": {"甲县局", "甲县局股室"},
    "inspector_a_child": {"甲县局股室"},
    "inspector_b": {"乙县局"},
    "no_unit": set(),
    "anonymous": set(),
    "inactive_supervisor": set(),
}


def _names(ledger: Ledger, cases: Any) -> set[str]:
    by_pk = {case.pk: name for name, case in ledger.cases.items()}
    return {by_pk[case.pk] for case in cases}


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_each_person_the_cases_of_their_scope(ledger: Ledger, persona: str) -> None:
    user = ledger.user(persona)
    assert _names(ledger, selectors.visible_cases(user)) == VISIBLE_CASES[persona]
    assert _names(ledger, selectors.case_list(user)) == VISIBLE_CASES[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_each_person_the_inspections_of_their_scope(ledger: Ledger, persona: str) -> None:
    names = {
        ledger.world.inspection.pk: "inspection",
        ledger.world.restricted.pk: "restricted",
        ledger.empty_inspection.pk: "empty",
    }
    seen = {names[i.pk] for i in selectors.visible_inspections(ledger.user(persona))}
    assert seen == VISIBLE_INSPECTIONS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_shows_each_person_the_units_of_their_scope(ledger: Ledger, persona: str) -> None:
    seen = {unit.name for unit in selectors.visible_units(ledger.user(persona))}
    assert seen == VISIBLE_UNITS[persona]


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_gets_a_case_history_and_evidence_only_in_scope(ledger: Ledger, persona: str) -> None:
    user = ledger.user(persona)
    missing_message = _not_found(lambda: selectors.case_get(user, MISSING))
    for name, case in ledger.cases.items():
        if name in VISIBLE_CASES[persona]:
            assert selectors.case_get(user, case.pk) == case
            history = list(selectors.case_history(user, case.pk))
            assert [event.kind for event in history] == ["created"]
        else:
            assert _not_found(lambda c=case: selectors.case_get(user, c.pk)) == missing_message
            assert _not_found(lambda c=case: selectors.case_history(user, c.pk)) == (
                missing_message
            )


def _not_found(call: Any) -> str:
    with pytest.raises(NotFound) as excinfo:
        call()
    assert excinfo.value.status_code == 404
    return excinfo.value.message


@pytest.mark.parametrize("case_id", [MISSING, "abc", None, "", -1])
def test_it_answers_not_found_for_missing_or_malformed_ids(ledger: Ledger, case_id: Any) -> None:
    user = ledger.world.supervisor
    out_of_scope = _not_found(
        lambda: selectors.case_get(ledger.world.inspector_b, ledger.cases["unit_a"].pk)
    )
    assert _not_found(lambda: selectors.case_get(user, case_id)) == out_of_scope
    assert _not_found(lambda: selectors.case_history(user, case_id)) == out_of_scope
    assert _not_found(lambda: selectors.evidence_get(user, case_id, 1)) == out_of_scope


def _evidence(ledger: Ledger, case: Case) -> Evidence:
    return add_evidence(ledger.world.supervisor, case, "整改报告.pdf")


@pytest.mark.parametrize("persona", PERSONAS)
def test_it_gets_evidence_only_through_a_visible_case(ledger: Ledger, persona: str) -> None:
    user = ledger.user(persona)
    own = _evidence(ledger, ledger.cases["unit_a"])
    missing_message = _not_found(lambda: selectors.case_get(user, MISSING))
    if "unit_a" in VISIBLE_CASES[persona]:
        assert selectors.evidence_get(user, ledger.cases["unit_a"].pk, own.pk) == own
    else:
        assert (
            _not_found(lambda: selectors.evidence_get(user, ledger.cases["unit_a"].pk, own.pk))
            == missing_message
        )


def test_it_does_not_reach_evidence_through_another_case(ledger: Ledger) -> None:
    inspector = ledger.world.inspector_a
    visible, hidden = ledger.cases["unit_a_child"], ledger.cases["unit_b"]
    foreign = _evidence(ledger, hidden)
    restricted = _evidence(ledger, ledger.cases["restricted_a"])
    message = _not_found(lambda: selectors.case_get(inspector, MISSING))
    for evidence_id in (foreign.pk, restricted.pk, MISSING, "abc"):
        assert (
            _not_found(lambda e=evidence_id: selectors.evidence_get(inspector, visible.pk, e))
            == message
        )


def test_it_shows_the_history_of_a_case_in_order(ledger: Ledger) -> None:
    case = ledger.cases["unit_a"]
    world = ledger.world
    services.case_transition(actor=world.inspector_a, case_id=case.pk, to="in_progress")
    _evidence(ledger, case)
    services.case_transition(
        actor=world.inspector_a, case_id=case.pk, to="submitted", note="申请销号"
    )
    history = list(selectors.case_history(world.inspector_a, case.pk))
    assert [event.kind for event in history] == ["created", "transition", "evidence", "transition"]
    assert [len(event.evidence.all()) for event in history] == [0, 0, 1, 0]


def test_it_treats_superusers_as_supervisors_and_others_by_role(ledger: Ledger) -> None:
    world = ledger.world
    assert selectors.user_role(world.admin) == "supervisor"
    assert selectors.user_role(world.supervisor) == "supervisor"
    assert selectors.user_role(world.inspector_a) == "inspector"
    assert selectors.user_role(world.api_reader) == "api_reader"
    assert selectors.user_role(world.no_unit) is None
    assert selectors.user_role(AnonymousUser()) is None
    assert selectors.user_role(ledger.inactive_supervisor) is None
    assert selectors.user_role(None) is None


def test_it_shows_an_inspector_the_cases_they_own_above_their_unit(world: World) -> None:
    owned = world.case(world.unit_a, owner=world.inspector_a_child, title="指定责任人的问题")
    other = world.case(world.unit_a, title="未指定的问题")
    visible = selectors.visible_cases(world.inspector_a_child)
    assert visible.filter(pk=owned.pk).exists()
    assert not visible.filter(pk=other.pk).exists()


# --- The scope read once a request -------------------------------------------------------


def test_a_request_reads_the_scope_afresh_and_other_reads_never_keep_it(client, world):
    """A user read by a request's authentication keeps its scope's unit ids for that request
    only (selectors.remember_scope_for_request): the next request sees a unit added since, and
    a user read anywhere else never keeps them."""
    from django.urls import reverse

    from tests.factories import make_unit

    supervisor = world.county_a_supervisor  # 甲县: a scope that is not every unit
    client.force_login(supervisor)
    assert client.get(reverse("cases:list")).status_code == 200
    new_unit = make_unit("甲县新设局", parent=world.county_a)
    case = world.case(new_unit, title="新设单位的问题")
    page = client.get(reverse("cases:list")).content.decode()
    assert "新设单位的问题" in page
    # Outside a request: no memo, so a unit added after a first read is seen at once.
    user = User.objects.select_related("unit__parent").get(pk=supervisor.pk)
    first = set(selectors.visible_cases(user).values_list("pk", flat=True))
    later_unit = make_unit("甲县后设局", parent=world.county_a)
    later = world.case(later_unit)
    again = set(selectors.visible_cases(user).values_list("pk", flat=True))
    assert case.pk in first and later.pk not in first and later.pk in again
    # A request's user keeps the ids it read for the rest of its request, and only that.
    marked = selectors.remember_scope_for_request(
        User.objects.select_related("unit__parent").get(pk=supervisor.pk)
    )
    before = set(selectors.visible_cases(marked).values_list("pk", flat=True))
    third = world.case(make_unit("甲县再设局", parent=world.county_a), title="再设单位的问题")
    assert set(selectors.visible_cases(marked).values_list("pk", flat=True)) == before
    assert "再设单位的问题" in client.get(reverse("cases:list")).content.decode()
    assert third.pk not in before

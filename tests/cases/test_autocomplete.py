"""The unit and people pickers' search (cases.autocomplete): scoped for every role, paginated,
read-only; and the forms they feed refuse an id outside the user's scope."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.forms import NOSCRIPT_OPTIONS, AssignForm, GrantForm
from cases.models import Case, Unit
from tests.factories import make_unit, make_user

pytestmark = pytest.mark.django_db

UNITS = "/autocomplete/units/"
USERS = "/autocomplete/users/"

# Who sees which unit whose name contains 局, by the World's tree (tests/factories.py), written
# out by hand: the city's commission sees the city, a county's commission its county, an
# inspector and a department's supervisor their unit and below.
BUREAUS_SEEN = {
    "supervisor": {"市局", "市局分局", "甲县局", "甲县局股室", "乙县局"},
    "api_reader": {"市局", "市局分局", "甲县局", "甲县局股室", "乙县局"},
    "county_a_supervisor": {"甲县局", "甲县局股室"},
    "dept_supervisor": {"甲县局", "甲县局股室"},
    "inspector_a": {"甲县局", "甲县局股室"},
    "inspector_b": {"乙县局"},
    "no_unit": set(),
    "admin": {"市局", "市局分局", "甲县局", "甲县局股室", "乙县局"},
}


def search(client, user, url: str, **params):
    client.force_login(user)
    response = client.get(url, params)
    client.logout()
    return response


def names(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["text"] for row in response.json()["results"]}


@pytest.mark.parametrize("role", sorted(BUREAUS_SEEN))
def test_each_role_finds_only_the_units_it_sees(client, world, role):
    assert names(search(client, getattr(world, role), UNITS, q="局")) == BUREAUS_SEEN[role]


def test_an_inspector_of_another_unit_finds_nothing_of_yours(client, world):
    assert names(search(client, world.inspector_b, UNITS, q="甲县")) == set()
    assert names(search(client, world.inspector_b, UNITS, q="")) == {"乙县局"}
    assert names(search(client, world.inspector_a, UNITS, q="乙")) == set()


def test_it_narrows_to_responsible_units_and_names_the_parent(client, world):
    found = search(client, world.supervisor, UNITS, q="纪委")
    assert names(found) == {"晋城市纪委监委", "甲县纪委监委"}
    # The city's commission is not a responsible unit (tests/factories.py).
    assert names(search(client, world.supervisor, UNITS, q="纪委", responsible="1")) == {
        "甲县纪委监委"
    }
    rows = {row["text"]: row for row in found.json()["results"]}
    assert rows["甲县纪委监委"]["detail"] == "甲县"
    assert rows["甲县纪委监委"]["id"] == world.county_a_supervisor.unit_id


def test_it_pages_twenty_at_a_time_prefix_matches_first(client, world):
    for n in range(25):
        make_unit(f"测试科{n:02}", parent=world.unit_b)
    make_unit("另一测试科", parent=world.unit_b)  # contains the term, does not start with it
    first = search(client, world.supervisor, UNITS, q="测试科").json()
    assert len(first["results"]) == 20 and first["more"] is True
    assert first["results"][0]["text"] == "测试科00"
    second = search(client, world.supervisor, UNITS, q="测试科", page="2").json()
    assert len(second["results"]) == 6 and second["more"] is False and second["next"] is None
    assert second["results"][-1]["text"] == "另一测试科"
    client.force_login(world.supervisor)
    assert client.get(first["next"]).json() == second  # the link it gives is the next page
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(set(ids)) == 26
    assert client.get(UNITS, {"page": "0"}).status_code == 400
    assert client.get(UNITS, {"page": "x"}).status_code == 400


def test_people_are_listed_to_those_who_assign_within_their_scope(client, world):
    inactive = make_user(world.unit_a, "inspector", "inspector_gone")
    inactive.is_active = False
    inactive.save()
    everyone = {"inspector_a", "inspector_a_child", "inspector_b"}
    assert names(search(client, world.supervisor, USERS, q="inspector")) == everyone
    # Of a unit: its people and its sub-units' (whom case_assign accepts as owner).
    found = search(client, world.supervisor, USERS, q="inspector", unit=world.unit_a.pk)
    assert names(found) == {"inspector_a", "inspector_a_child"}
    assert found.json()["results"][0]["detail"] == "inspector_a · 甲县局"
    assert names(search(client, world.county_a_supervisor, USERS, q="inspector")) == {
        "inspector_a",
        "inspector_a_child",
    }
    # A unit outside the caller's scope is answered as an unknown one.
    assert names(search(client, world.county_a_supervisor, USERS, unit=world.unit_b.pk)) == set()
    assert names(search(client, world.county_a_supervisor, USERS, unit=999999)) == set()
    for role in ("inspector_a", "inspector_b", "api_reader", "no_unit"):
        assert search(client, getattr(world, role), USERS, q="inspector").status_code == 403


def test_it_needs_a_login(client, world):
    for url in (UNITS, USERS):
        response = client.get(url, {"q": "局"})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_search_writes_nothing(client, world):
    client.force_login(world.supervisor)
    with CaptureQueriesContext(connection) as queries:
        for url, params in ((UNITS, {"q": "局"}), (USERS, {"q": "in", "unit": world.unit_a.pk})):
            assert client.get(url, params).status_code == 200
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if re.match(r"\s*(INSERT|UPDATE|DELETE)", q["sql"], re.IGNORECASE)
        and "django_session" not in q["sql"]
    ]
    assert writes == []
    assert len(queries.captured_queries) > 0  # it did read


def test_the_assign_form_refuses_a_unit_or_owner_outside_the_scope(client, world):
    case = world.case(world.unit_a)
    form = AssignForm({"responsible_unit": world.unit_b.pk}, user=world.county_a_supervisor)
    assert not form.is_valid() and "responsible_unit" in form.errors
    form = AssignForm(
        {"responsible_unit": world.unit_a.pk, "owner": world.inspector_b.pk},
        user=world.county_a_supervisor,
    )
    assert not form.is_valid() and "owner" in form.errors
    # Through the page: a form error, nothing stored.
    client.force_login(world.county_a_supervisor)
    response = client.post(f"/cases/{case.pk}/assign/", {"responsible_unit": world.unit_b.pk})
    assert response.status_code == 400
    assert Case.objects.get(pk=case.pk).responsible_unit_id == world.unit_a.pk
    form = GrantForm({"unit": world.unit_b.pk}, user=world.county_a_supervisor)
    assert not form.is_valid() and "unit" in form.errors


def test_the_page_carries_a_few_options_and_the_chosen_one(world):
    for n in range(NOSCRIPT_OPTIONS + 20):
        make_unit(f"科室{n:03}", parent=world.unit_b)
    last = Unit.objects.order_by("path").last()  # last in tree order: not among the first
    html = str(AssignForm(user=world.supervisor, initial={"responsible_unit": last.pk}))
    unit_select = re.search(r'<select name="responsible_unit".*?</select>', html, re.S).group(0)
    options = re.findall(r'<option value="(\d*)"', unit_select)
    assert len(options) == 1 + 1 + NOSCRIPT_OPTIONS  # empty, the chosen one, the first ones
    assert f'<option value="{last.pk}" selected>{last.name}</option>' in html
    assert 'data-autocomplete="/autocomplete/units/?responsible=1"' in unit_select
    assert 'data-autocomplete-unit="id_responsible_unit"' in html  # the owner follows the unit
    # A chosen id outside the scope is not shown, not even its name.
    html = str(AssignForm(user=world.county_a_supervisor, initial={"responsible_unit": last.pk}))
    assert f'value="{last.pk}"' not in html and "科室" not in html

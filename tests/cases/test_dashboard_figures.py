"""Figures that hide nothing: every unit worst first and paginated, red and yellow counts on
every row, every drill-down link counting exactly what its figure shows (today and on a past
day), and the restricted ledgers apart from the rectification figures, so a reader token's big
screen and a supervisor's dashboard agree."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import dashboard, grants
from cases.tasks import maintain_tally
from tests.factories import drive_to

pytestmark = pytest.mark.django_db

STATES = ["open", "open", "in_progress", "submitted", "completed", "escalated", "exempted"]


@pytest.fixture
def generated(world):
    """Forty-odd cases (some with items) spread over units, both ledgers, deadlines from 40
    days ago to 40 days ahead, moved at random moments of the last 60 days: a seeded mix. The
    unit's moves are its own people's (cases.rules), and a restricted ledger's cases are only
    seen by a unit the commission granted it to: each unit holds a grant while its cases are
    moved, revoked before the tests look (no unit holds one then)."""
    rng = random.Random(16)
    now = timezone.now()
    registered = now - timedelta(days=61)
    units = [world.unit_a, world.unit_a_child, world.unit_b, world.city_dept, world.city_dept_child]
    held = [
        grants.restricted_grant_create(
            actor=world.supervisor,
            inspection_id=world.restricted.pk,
            unit_id=unit.pk,
            reason="授权",
        )
        for unit in units
    ]
    for index in range(36):
        inspection = world.restricted if index % 6 == 0 else world.inspection
        deadline = timezone.localdate() + timedelta(days=rng.randint(-40, 40))
        case = world.case(rng.choice(units), inspection=inspection, deadline=deadline,
                          at=registered)  # fmt: skip
        if index % 9 == 0:
            for _item in range(rng.randint(1, 3)):
                item = world.case(case.responsible_unit, parent=case, inspection=inspection,
                                  deadline=deadline, at=registered)  # fmt: skip
                drive_to(item, rng.choice(STATES), world.supervisor,
                         at=now - timedelta(days=rng.randint(1, 59)))  # fmt: skip
        drive_to(case, rng.choice(STATES), world.supervisor,
                 at=now - timedelta(days=rng.randint(1, 59)))  # fmt: skip
    for grant in held:
        grants.restricted_grant_revoke(actor=world.supervisor, grant_id=grant.pk, reason="测试")
    return world


def figures_of(client: Any, **params: Any) -> dict[str, Any]:
    response = client.get(reverse("cases:dashboard"), params)
    assert response.status_code == 200
    assert not response.context["form"].errors
    return response.context["figures"]


def listed(client: Any, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["filter"].is_valid(), response.context["filter"].errors
    return response.context["page"].paginator.count


def every_link(figures: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(what, count, url) of every figure that links to the case list."""
    links = []
    blocks = [figures]
    if figures["restricted"]:
        blocks.append(figures["restricted"])
    for block in blocks:
        for key in ("by_inspection", "by_region"):
            links += [(f"{key} {row['name']}", row["total"], row["url"]) for row in
                      block.get(key, [])]  # fmt: skip
        links += [(f"light {i['light']}", i["count"], i["url"]) for i in block["lights"]]
    links += [(f"unit {row['name']}", row["total"], row["url"]) for row in
              figures["units"]["rows"]]  # fmt: skip
    links += [(f"status {i['status']}", i["count"], i["url"]) for i in figures["statuses"]]
    return links


@pytest.mark.parametrize("level", ["problem", "item"])
@pytest.mark.parametrize("past", [False, True])
@pytest.mark.parametrize("tallied", [False, True])
def test_every_bar_counts_exactly_the_list_behind_its_link(client, generated, level, past, tallied):
    world = generated
    if tallied:
        maintain_tally()  # figures from the roll-ups (and snapshots), lists from the cases
    client.force_login(world.supervisor)
    params: dict[str, Any] = {"level": level}
    day = timezone.localdate() - timedelta(days=20)
    if past:
        params["as_of"] = day.isoformat()
    figures = figures_of(client, **params)
    links = every_link(figures)
    assert figures["restricted"] is not None and len(links) > 20
    for what, count, url in links:
        assert url, what
        query = parse_qs(urlsplit(url).query)
        assert query["level"] == [level]
        assert query.get("as_of") == ([day.isoformat()] if past else None), what
        assert listed(client, url) == count, what
    # The red and yellow counts of each row are those of its list's red and yellow lights.
    for row in figures["units"]["rows"] + figures["by_region"]:
        for light, count in (("red", row["overdue"]), ("yellow", row["yellow"])):
            assert listed(client, f"{row['url']}&light={light}") == count


def test_the_unit_view_shows_every_unit_worst_first_in_pages(client, generated, monkeypatch):
    world = generated
    monkeypatch.setattr(dashboard, "UNIT_PAGE_SIZE", 2)
    client.force_login(world.supervisor)
    day = (timezone.localdate() - timedelta(days=10)).isoformat()
    first = figures_of(client, as_of=day, level="item")["units"]
    rows, number = list(first["rows"]), 1
    while number < first["num_pages"]:
        number += 1
        response = client.get(reverse("cases:dashboard"),
                              {"as_of": day, "level": "item", "unit_page": number})  # fmt: skip
        page = response.context["figures"]["units"]
        assert page["number"] == number
        rows += page["rows"]
        # The links to the other pages keep the filters and the day.
        html = response.content.decode()
        assert f"as_of={day}&amp;level=item&amp;unit_page={number - 1}" in html
    api = APIClient()
    api.force_authenticate(world.supervisor)
    body = api.get("/api/v1/stats/completion/",
                   {"group_by": "unit", "as_of": day, "level": "item"}).json()  # fmt: skip
    assert len(rows) == first["count"] == len(body["rows"]) >= 4  # every unit, none twice
    assert {row["key"] for row in rows} == {row["key"] for row in body["rows"]}
    worst = [(-r["overdue"], r["rate"], -r["yellow"], -r["total"], r["name"]) for r in rows]
    assert worst == sorted(worst)


def test_a_past_list_too_large_to_rebuild_is_not_linked_and_says_why(client, generated, settings):
    world = generated
    settings.TALLY_LIVE_AS_OF_MAX_CASES = 3
    maintain_tally()  # past figures of large selections come from the snapshots
    client.force_login(world.supervisor)
    day = (timezone.localdate() - timedelta(days=20)).isoformat()
    response = client.get(
        reverse("cases:dashboard"), {"as_of": day, "inspection": world.inspection.pk}
    )
    figures = response.context["figures"]
    assert response.context["scope"].as_of is not None
    for what, count, url in every_link(figures):
        assert bool(url) == (count <= 3), what
    assert "不提供链接" in response.content.decode()
    # Asked anyway, the list refuses with a form error rather than count something else.
    response = client.get(reverse("cases:list"), {"as_of": day})
    assert response.status_code == 200
    assert "缩小范围" in response.content.decode()
    assert response.context["page"].paginator.count == 0
    api = APIClient()
    api.force_authenticate(world.supervisor)
    refused = api.get("/api/v1/cases/", {"as_of": day})
    assert refused.status_code == 400 and "as_of" in refused.json()["fields"]
    future = api.get("/api/v1/cases/", {"as_of": (timezone.localdate() + timedelta(days=1))})
    assert future.status_code == 400


@pytest.mark.parametrize("params", [{}, {"level": "item"}, {"as_of": "past"}])
def test_a_readers_big_screen_and_a_supervisors_dashboard_agree(client, generated, params):
    world = generated
    query = dict(params)
    if query.get("as_of") == "past":
        query["as_of"] = (timezone.localdate() - timedelta(days=20)).isoformat()
    reader = APIClient()
    reader.force_authenticate(world.api_reader)
    supervisor = APIClient()
    supervisor.force_authenticate(world.supervisor)
    client.force_login(world.supervisor)
    figures = figures_of(client, **query)
    for group_by in ("inspection", "unit", "region"):
        screen = reader.get("/api/v1/stats/completion/", {"group_by": group_by, **query}).json()
        own = supervisor.get("/api/v1/stats/completion/", {"group_by": group_by, **query}).json()
        assert screen["total"] == own["total"] == figures["total"]
        assert screen["rows"] == own["rows"]
        assert screen["restricted"] is None  # a token never reads a clue ledger
        assert own["restricted"]["total"] == figures["restricted"]["total"]
    # Apart, not lost: the two blocks add up to every case the supervisor sees.
    assert figures["restricted"]["total"]["total"] > 0
    names = {row["name"] for row in figures["by_inspection"]}
    assert world.restricted.name not in names
    assert {row["name"] for row in figures["restricted"]["by_inspection"]} == {
        world.restricted.name
    }


def test_only_those_who_may_read_a_restricted_ledger_get_its_block(client, generated):
    world = generated
    world.case(world.unit_a, inspection=world.restricted)  # one in 甲县局 for certain
    for user in (world.inspector_a, world.dept_supervisor, world.county_a_supervisor):
        client.force_login(user)
        block = figures_of(client)["restricted"]
        if user == world.county_a_supervisor:  # a commission: its jurisdiction's clue ledgers
            assert block is not None
        else:
            assert block is None
    grants.restricted_grant_create(actor=world.supervisor, inspection_id=world.restricted.pk,
                                   unit_id=world.unit_a.pk, reason="授权")  # fmt: skip
    client.force_login(world.dept_supervisor)
    figures = figures_of(client)
    assert figures["restricted"] is not None
    assert world.restricted.name not in {row["name"] for row in figures["by_inspection"]}
    for what, count, url in every_link(figures):
        assert listed(client, url) == count, what
    api = APIClient()
    api.force_authenticate(world.inspector_b)  # 乙县局 holds no grant
    assert api.get("/api/v1/stats/completion/", {"group_by": "unit"}).json()["restricted"] is None
    api.force_authenticate(world.inspector_a)  # the grant is to 甲县局, the inspector's unit
    assert api.get("/api/v1/stats/completion/", {"group_by": "unit"}).json()["restricted"]

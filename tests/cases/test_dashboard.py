"""The dashboard and the progress report: the same figures as the API, in constant queries."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import services
from cases.completion import light_counts, status_counts
from cases.dashboard import month_ends
from cases.selectors import visible_cases
from cases.tasks import maintain_tally
from tests.factories import days, drive_to

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(world):
    """Cases in two counties and the city, some done, some late, some items, with history."""
    start = timezone.now() - timedelta(days=60)
    registered = start - timedelta(days=1)
    problem = world.case(world.unit_a, title="大问题", deadline=days(-5), at=registered)
    for index in range(4):
        item = world.case(world.unit_a, parent=problem, deadline=days(-5), at=registered)
        if index < 3:
            drive_to(item, "completed", world.supervisor, at=start + timedelta(days=10 * index))
    drive_to(world.case(world.unit_b, deadline=days(-20), at=registered), "completed",
             world.supervisor, at=start)  # fmt: skip
    drive_to(world.case(world.unit_b, deadline=days(3)), "escalated", world.supervisor)
    world.case(world.city_dept, deadline=days(40), is_key_problem=True)
    world.case(world.unit_a, inspection=world.restricted, deadline=days(-1))
    return problem


def figures_of(client, **params):
    response = client.get(reverse("cases:dashboard"), params)
    assert response.status_code == 200
    return response.context["figures"]


def api_rows(api, group_by, **params):
    body = api.get("/api/v1/stats/completion/", {"group_by": group_by, **params}).json()
    return body["rows"], body["total"]


@pytest.mark.parametrize("persona", ["supervisor", "county_a_supervisor", "inspector_a"])
@pytest.mark.parametrize("params", [
    {}, {"level": "item"}, {"as_of": "past"}, {"level": "item", "as_of": "past"},
    {"region": "county_a"}, {"inspection": "main"},
])  # fmt: skip
def test_it_shows_exactly_the_apis_figures(client, world, ledger, persona, params):
    user = getattr(world, persona)
    query = dict(params)
    if query.get("as_of") == "past":
        query["as_of"] = (timezone.localdate() - timedelta(days=40)).isoformat()
    if query.get("region") == "county_a":
        query["region"] = world.county_a.pk
    if query.get("inspection") == "main":
        query["inspection"] = world.inspection.pk
    client.force_login(user)
    api = APIClient()
    api.force_authenticate(user)
    figures = figures_of(client, **query)
    for group_by, key in (("inspection", "by_inspection"), ("region", "by_region")):
        rows, total = api_rows(api, group_by, **query)
        assert [{k: v for k, v in row.items() if k != "url"} for row in figures[key]] == rows
        assert figures["total"] == total
    unit_rows, _ = api_rows(api, "unit", **query)
    units = {row["key"]: {k: v for k, v in row.items() if k != "url"}
             for row in figures["units"]["rows"]}  # fmt: skip
    assert units == {row["key"]: row for row in unit_rows}


def test_it_counts_statuses_and_lights_like_the_list(client, world, ledger):
    client.force_login(world.supervisor)
    figures = figures_of(client)
    listed = {}
    for item in figures["lights"]:
        response = client.get(item["url"])
        listed[item["light"]] = response.context["page"].paginator.count
    assert listed == {item["light"]: item["count"] for item in figures["lights"]}
    for item in figures["statuses"]:
        assert client.get(item["url"]).context["page"].paginator.count == item["count"]


def test_it_keeps_the_restricted_ledger_from_inspectors(client, world, ledger):
    client.force_login(world.inspector_a)
    figures = figures_of(client)
    assert world.restricted.name not in json.dumps(figures, ensure_ascii=False)
    assert (
        figures["total"]["total"]
        == visible_cases(world.inspector_a).filter(parent__isnull=True).count()
    )


def test_it_draws_a_trend_from_history(client, world, ledger):
    client.force_login(world.supervisor)
    first = figures_of(client, level="item")
    if connection.vendor == "postgresql":
        # Past days come from roll-up snapshots, built in the background, not in the request:
        # the page says so, and shows the whole trend once the worker has built them.
        assert first["trend_pending"] and len(first["trend"]) == 1
        page = client.get(reverse("cases:dashboard"), {"level": "item"}).content.decode()
        assert "尚未生成" in page
        maintain_tally()
    figures = figures_of(client, level="item")
    assert not figures["trend_pending"]
    trend = figures["trend"]
    assert len(trend) == 12
    assert trend[-1]["day"] == timezone.localdate().isoformat()
    done = [point["done"] for point in trend]
    assert done == sorted(done) and done[-1] == 4  # 3 items + 1 standalone, closed over time


def test_it_shows_figures_as_they_stood_on_a_past_day(client, world, ledger):
    client.force_login(world.supervisor)
    past = timezone.localdate() - timedelta(days=45)
    then = figures_of(client, level="item", as_of=past.isoformat())["total"]
    now = figures_of(client, level="item")["total"]
    assert then["done"] < now["done"]


def test_it_refuses_a_future_as_of_date_with_a_form_error(client, world, ledger):
    client.force_login(world.supervisor)
    response = client.get(reverse("cases:dashboard"), {"as_of": days(5).isoformat()})
    assert response.status_code == 200
    assert "不能晚于今天" in response.content.decode()


def test_it_lists_overdue_cases_with_days_overdue_and_key_problems(client, world, ledger):
    client.force_login(world.supervisor)
    response = client.get(reverse("cases:dashboard"))
    overdue = response.context["overdue"]
    assert [case.days_overdue for case in overdue] == sorted(
        (case.days_overdue for case in overdue), reverse=True
    )
    assert all(case.days_overdue > 0 for case in overdue)
    assert [case.title for case in response.context["key_problems"]] == [
        case.title for case in visible_cases(world.supervisor).filter(is_key_problem=True)
    ]


def test_it_links_every_bar_to_the_filtered_list(client, world, ledger):
    client.force_login(world.supervisor)
    figures = figures_of(client)
    for row in figures["by_region"]:
        assert row["url"]  # 市本级 too (no_region)
        assert client.get(row["url"]).context["page"].paginator.count == row["total"]


def test_it_answers_in_a_constant_number_of_queries(client, world, ledger):
    client.force_login(world.supervisor)

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("cases:dashboard"), {"as_of": timezone.localdate().isoformat()})
        return len(ctx.captured_queries)

    queries()  # builds the trend's snapshots (cases.tally), once
    few = queries()
    for _ in range(10):
        problem = world.case(world.unit_b)
        drive_to(world.case(world.unit_b, parent=problem), "completed", world.supervisor)
    # New problems with items change past item-level figures: the snapshots are rebuilt once.
    queries()
    # The page and its figures (the three groupings in one read of the roll-ups, the
    # restricted ledgers' in another); the scope's units are read once a request
    # (selectors.remember_scope_for_request). The look-back's figures (lookback.figures): one
    # grouped query for the re-checks and one for the accountability records, for the
    # rectification ledgers and again for the restricted ones.
    assert (few, queries()) == (18, 18)


def test_it_prints_a_progress_report(client, world, ledger):
    client.force_login(world.supervisor)
    since = (timezone.localdate() - timedelta(days=90)).isoformat()
    response = client.get(
        reverse("cases:report"), {"inspection": world.inspection.pk, "since": since}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert world.inspection.name in body and "整改进度报告" in body
    assert response.context["changes"]["registered"] >= 1
    assert [c.status for c in response.context["escalated"]] == ["escalated"]
    assert "@media print" in Path("static/css/tracker.css").read_text(encoding="utf-8")


def test_it_keeps_the_report_in_scope(client, world, ledger):
    client.force_login(world.inspector_b)
    response = client.get(reverse("cases:report"))
    titles = {case.title for case in response.context["overdue"]}
    assert "大问题" not in titles


def test_it_computes_status_and_light_counts_as_of_a_day(world):
    case = world.case(world.unit_a, deadline=days(2))
    services.case_transition(
        actor=world.inspector_a,
        case_id=case.pk,
        to="in_progress",
        at=timezone.now() + timedelta(days=1),
    )
    cases = visible_cases(world.supervisor)
    today = timezone.localdate()
    assert status_counts(cases, as_of=today)["open"] == 1
    assert status_counts(cases, as_of=today + timedelta(days=1))["in_progress"] == 1
    assert light_counts(cases, as_of=today)["yellow"] == 1
    assert light_counts(cases, as_of=today + timedelta(days=5))["red"] == 1


def test_it_picksmonth_ends_for_the_trend():
    from datetime import date

    assert month_ends(date(2026, 3, 15), 4) == [
        date(2025, 12, 31),
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 15),
    ]

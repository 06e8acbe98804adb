"""Past figures (`as_of`) cost a caller nothing they can inflate: a read never builds or stores
a roll-up, never asks the worker to, refuses days outside the kept window, and beat builds
the kept days on schedule."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import tally
from cases.models import CompletionSnapshot
from cases.tasks import maintain_tally
from tests.factories import days, drive_to

pytestmark = pytest.mark.django_db

STATS = "/api/v1/stats/completion/"


@pytest.fixture
def ledger(world):
    """Cases of 甲县局 (the inspector's unit) and others, with a year of history."""
    start = timezone.now() - timedelta(days=300)
    for index in range(6):
        case = world.case(world.unit_a, deadline=days(-100 + 30 * index), at=start)
        if index % 2 == 0:
            drive_to(case, "completed", world.supervisor, at=start + timedelta(days=40 * index))
    world.case(world.unit_b, deadline=days(5), at=start)
    return world


def row_counts() -> dict[str, int]:
    """Rows of every table the project has: a read must leave each one as it was."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _queued(name: str = "celery") -> int:
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return 0
    import redis

    return redis.Redis.from_url(settings.CELERY_BROKER_URL).llen(name)


def test_it_answers_twenty_past_dates_without_storing_anything(client, ledger):
    world = ledger
    if tally.available():
        tally.refresh()  # as beat would have; a few snapshots too, the rest not built yet
        for n in (1, 15, 30):
            tally.ensure_snapshot(timezone.localdate() - timedelta(days=n))
    api = APIClient()
    api.force_authenticate(world.inspector_a)
    client.force_login(world.inspector_a)
    before, queued = row_counts(), _queued()
    today = timezone.localdate()
    for n in range(20):
        day = (today - timedelta(days=1 + 15 * n)).isoformat()
        started = time.monotonic()
        answer = api.get(STATS, {"group_by": "unit", "as_of": day, "level": "item"})
        page = client.get(reverse("cases:dashboard"), {"as_of": day})
        elapsed = time.monotonic() - started
        assert answer.status_code == 200, answer.content
        assert answer.json()["as_of"] == day
        assert page.status_code == 200
        assert not page.context["form"].errors
        assert elapsed < 5, (day, elapsed)
    assert row_counts() == before
    assert _queued() == queued  # nor asked the worker to build anything


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("past", "系统只保留最近"),
        ("future", "不能晚于今天"),
        ("2024-02-30", "日期"),
        ("yesterday-ish", "日期"),
    ],
)
def test_it_refuses_a_day_outside_the_kept_days(client, world, settings, as_of, message):
    settings.TALLY_SNAPSHOT_DAYS = 30
    today = timezone.localdate()
    value = {
        "past": (today - timedelta(days=31)).isoformat(),
        "future": (today + timedelta(days=1)).isoformat(),
    }.get(as_of, as_of)
    api = APIClient()
    api.force_authenticate(world.inspector_a)
    client.force_login(world.inspector_a)
    before = row_counts()
    answer = api.get(STATS, {"group_by": "unit", "as_of": value})
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid" and "as_of" in body["fields"]
    assert message in body["fields"]["as_of"][0] or message in body["message"]
    page = client.get(reverse("cases:dashboard"), {"as_of": value})
    assert page.status_code == 200
    assert page.context["form"].errors["as_of"]
    assert page.context["scope"].as_of is None  # today's figures, said so by the form error
    assert row_counts() == before


def test_the_first_kept_day_is_answered(world, settings):
    settings.TALLY_SNAPSHOT_DAYS = 30
    api = APIClient()
    api.force_authenticate(world.inspector_a)
    first = (timezone.localdate() - timedelta(days=30)).isoformat()
    assert api.get(STATS, {"group_by": "unit", "as_of": first}).status_code == 200


@pytest.mark.postgres
def test_a_large_selection_without_its_snapshot_is_told_to_wait(client, ledger, settings):
    world = ledger
    settings.TALLY_LIVE_AS_OF_MAX_CASES = 2  # the supervisor's selection counts as large
    tally.refresh()
    day = (timezone.localdate() - timedelta(days=3)).isoformat()
    api = APIClient()
    api.force_authenticate(world.supervisor)
    client.force_login(world.supervisor)
    before = row_counts()
    answer = api.get(STATS, {"group_by": "unit", "as_of": day})
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "not_built_yet" and "尚未生成" in body["message"]
    page = client.get(reverse("cases:dashboard"), {"as_of": day})
    assert page.status_code == 200
    assert "尚未生成" in page.context["form"].errors["as_of"][0]
    assert page.context["scope"].as_of is None
    assert row_counts() == before
    # Once beat has built it, the same question is answered from the snapshot.
    tally.ensure_snapshot(timezone.localdate() - timedelta(days=3))
    assert api.get(STATS, {"group_by": "unit", "as_of": day}).status_code == 200


@pytest.mark.postgres
def test_today_before_the_tally_is_built_is_counted_not_built(world):
    api = APIClient()
    api.force_authenticate(world.supervisor)
    world.case(world.unit_a, deadline=days(3))
    answer = api.get(STATS, {"group_by": "unit"})
    assert answer.status_code == 200 and answer.json()["total"]["total"] == 1
    assert tally.current_day() is None  # the read left the building to beat


@pytest.mark.postgres
def test_the_beat_task_builds_the_kept_snapshots(ledger, settings):
    settings.TALLY_SNAPSHOT_DAYS = 40
    settings.TALLY_SNAPSHOT_BUILD_PER_RUN = 15
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    too_old = today - timedelta(days=60)
    tally.ensure_snapshot(too_old)  # kept under an earlier, longer setting
    maintain_tally()
    built = set(CompletionSnapshot.objects.values_list("day", flat=True))
    assert len(built) == 15 and yesterday in built  # the newest first, the run bounded
    assert too_old not in built  # pruned: the table stays as deep as the setting
    previous_month_end = today.replace(day=1) - timedelta(days=1)
    assert previous_month_end in built or previous_month_end < today - timedelta(days=40)
    maintain_tally()
    maintain_tally()
    kept = {today - timedelta(days=n) for n in range(1, 41)}
    assert set(CompletionSnapshot.objects.values_list("day", flat=True)) == kept
    assert tally.current_day() == today
    with connection.cursor() as cursor:  # idempotent: a further run builds nothing
        cursor.execute("SELECT count(*) FROM cases_completionsnapshot")
        rows = cursor.fetchone()[0]
    maintain_tally()
    assert CompletionSnapshot.objects.count() == rows

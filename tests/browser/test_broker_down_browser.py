"""With the broker (Redis) down, people in the browser keep working: writes commit, and the
follow-up's reminders wait in the database for the next scheduled run."""

from __future__ import annotations

import pytest

from cases.models import Case
from reminders.models import Reminder
from tests.browser.conftest import log_in
from tests.factories import PASSWORD
from tests.reminders.test_celery import celery_conf, free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_it_commits_a_status_change_in_the_browser_with_redis_down(world, new_page, settings):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: Redis is down
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    case = world.case(world.unit_a, title="Redis 停机时的问题")
    with celery_conf(broker_url=closed):
        page = new_page()
        log_in(page, "inspector_a", PASSWORD)
        page.goto(f"/cases/{case.pk}/")
        page.check("input[name=to][value=in_progress]")
        page.click("form[action$='/transition/'] button[type=submit]")
        page.locator("#timeline").get_by_text("待整改 → 整改中").wait_for()
        assert Case.objects.get(pk=case.pk).status == "in_progress"

        supervisor = new_page()
        log_in(supervisor, "supervisor", PASSWORD)
        supervisor.goto(f"/cases/{case.pk}/")
        supervisor.click("summary:has-text('督办')")
        supervisor.fill("textarea[name=note]#id_follow_note", "请本周内完成")
        supervisor.click("form[action$='/follow-up/'] button[type=submit]")
        supervisor.locator("#timeline").get_by_text("请本周内完成").wait_for()
    assert Reminder.objects.filter(case=case, kind="follow_up").exists()

"""The pages: the unread badge in the top bar (one cheap count), the notification list,
marking read (POST with CSRF, one's own only), and the reminders on the case page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases import services as case_services
from reminders import services
from reminders.models import Notification

from .conftest import TODAY

pytestmark = pytest.mark.django_db


@pytest.fixture
def notified(people, clock):
    """inspector_a has one unread notification about two cases; a follow-up note on one."""
    world = people
    world.first = world.case(world.unit_a, deadline=TODAY + timedelta(days=1))
    world.second = world.case(world.unit_a, deadline=TODAY - timedelta(days=2))
    services.sweep()
    case_services.case_follow_up(actor=world.supervisor, case_id=world.second.pk, note="请说明")
    services.deliver()
    return world


def badge(html: str) -> str | None:
    marker = 'data-unread="'
    if marker not in html:
        return None
    return html.split(marker, 1)[1].split('"', 1)[0]


def top_bar(client) -> str:
    """The top bar's links with their counts, as a page asks for them once loaded."""
    response = client.get(reverse("cases:top-bar"))
    assert response.status_code == 200 and "no-cache" in response["Cache-Control"]
    return response.content.decode()


def test_it_shows_the_unread_count_in_the_top_bar(client, notified):
    client.force_login(notified.inspector_a)
    page = client.get(reverse("cases:list")).content.decode()
    # The page carries the links and asks for their counts once loaded: it never waits on them.
    assert badge(page) is None and f'hx-get="{reverse("cases:top-bar")}"' in page
    assert reverse("reminders:notifications") in page
    assert badge(top_bar(client)) == "1" and "data-counted" in top_bar(client)
    client.force_login(notified.inspector_b)
    counted = top_bar(client)
    assert badge(counted) is None and reverse("reminders:notifications") in counted


def test_the_top_bar_answers_nothing_to_a_session_that_ended(client, notified):
    # (htmx swaps nothing on 204: no login page inside the top bar of a page left open)
    assert client.get(reverse("cases:top-bar")).status_code == 204
    client.force_login(notified.inspector_a)
    assert client.post(reverse("cases:top-bar")).status_code == 405


def test_it_counts_unread_notifications_with_one_query(client, notified):
    client.force_login(notified.inspector_a)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("cases:detail", args=[notified.first.pk]))
    assert page.status_code == 200
    assert not [q for q in queries if "reminders_notification" in q["sql"]]
    with CaptureQueriesContext(connection) as queries:
        top_bar(client)
    touching = [q["sql"] for q in queries if "reminders_notification" in q["sql"]]
    # One SELECT of counts for the whole top bar (cases.inbox.top_bar_counts).
    assert len(touching) == 1 and touching[0].startswith("SELECT (SELECT COUNT(*)")


def test_it_lists_a_users_notifications_with_links_to_the_cases(client, notified):
    client.force_login(notified.inspector_a)
    page = client.get(reverse("reminders:notifications")).content.decode()
    for case in (notified.first, notified.second):
        assert reverse("cases:detail", args=[case.pk]) in page and case.code in page
    assert "临期提醒" in page and "逾期提醒" in page and "督办意见：请说明" in page
    assert "2 个整改问题需要关注" in page  # two cases, three reminders
    client.force_login(notified.inspector_b)
    assert (
        notified.first.code not in client.get(reverse("reminders:notifications")).content.decode()
    )


def test_it_marks_ones_own_notification_read(client, notified):
    (notification,) = Notification.objects.filter(user=notified.inspector_a)
    url = reverse("reminders:read", args=[notification.pk])
    client.force_login(notified.inspector_b)
    assert client.post(url).status_code == 404
    client.force_login(notified.inspector_a)
    assert client.get(url).status_code == 405
    response = client.post(url, {"next": reverse("cases:list")})
    assert response.status_code == 302 and response["Location"] == reverse("cases:list")
    notification.refresh_from_db()
    assert notification.read_at is not None
    assert badge(top_bar(client)) is None
    external = client.post(url, {"next": "https://evil.example/"})
    assert external["Location"] == reverse("reminders:notifications")


def test_it_marks_all_read(client, notified):
    client.force_login(notified.inspector_a)
    client.post(reverse("reminders:read-all"))
    assert not Notification.objects.filter(user=notified.inspector_a, read_at__isnull=True).exists()


def test_it_refuses_to_mark_read_without_the_csrf_token(notified):
    client = Client(enforce_csrf_checks=True)
    client.force_login(notified.inspector_a)
    (notification,) = Notification.objects.filter(user=notified.inspector_a)
    assert client.post(reverse("reminders:read", args=[notification.pk])).status_code == 403
    assert client.post(reverse("reminders:read-all")).status_code == 403
    notification.refresh_from_db()
    assert notification.read_at is None
    page = client.get(reverse("reminders:notifications")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get(reverse("reminders:notifications"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_it_shows_the_cases_reminders_on_its_page(client, notified):
    client.force_login(notified.supervisor)
    page = client.get(reverse("cases:detail", args=[notified.second.pk])).content.decode()
    section = page.split('id="reminders-title"', 1)[1]
    assert "逾期提醒" in section and "督办" in section and "逾期第 1 轮" in section
    assert "inspector_a" in section and "站内通知" in section and "邮件" in section
    assert "已发送" in section
    client.force_login(notified.inspector_b)
    assert client.get(reverse("cases:detail", args=[notified.second.pk])).status_code == 404


def test_it_keeps_the_case_page_within_its_query_budget(
    client, notified, django_assert_num_queries
):
    client.force_login(notified.supervisor)
    page = reverse("cases:detail", args=[notified.second.pk])
    client.get(page)  # the session's first request stamps its clocks (a write): not counted
    # (With a follow-up: its readers, and which of them the viewer may name, cases.follow_ups.
    # The extension panel: its requests, cases.extensions (whether the viewer may ask is
    # answered from the case in hand); the user with their unit, cases.accounts.UnitBackend;
    # everyone on the case's rows, and who of them may be named, one query each for the whole
    # page, cases.case_page; the reminders, and which recipients the viewer may name (asked
    # only of a case with reminders), reminders.selectors. Each a fixed number whatever the
    # case's history: more follow-ups add none. The assign form's pickers and the top bar's
    # counts are asked for apart.)
    with django_assert_num_queries(12):
        assert client.get(page).status_code == 200

"""Answering a follow-up (督办): the unit replies with a note, the supervisor sees who read
the follow-up and when, in the pages and the API; who may do what, and a GET writes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases import follow_ups, services
from cases.errors import Forbidden, InvalidInput, NotFound
from cases.models import CaseEvent
from reminders import services as reminder_services
from reminders.models import Notification, Reminder
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def replies_url(case, follow_up) -> str:
    return f"/api/v1/cases/{case.pk}/follow-ups/{follow_up.pk}/replies/"


@pytest.fixture
def followed(world):
    """A case of 甲县局 followed up by the city commission, its notification delivered."""
    case = world.case(world.unit_a)
    note = "请本周内报送进展"
    event = services.case_follow_up(actor=world.supervisor, case_id=case.pk, note=note)
    reminder_services.deliver()
    return case, event


def state(world) -> tuple:
    return (
        CaseEvent.objects.count(),
        Reminder.objects.count(),
        list(Notification.objects.order_by("pk").values_list("pk", "read_at")),
    )


# --- The service ----------------------------------------------------------------------------


def test_it_records_a_reply_naming_the_follow_up_and_tells_its_author(world, followed):
    case, follow_up = followed
    reply = follow_ups.follow_up_reply(
        actor=world.inspector_a, case_id=case.pk, follow_up_id=follow_up.pk, note=" 已部署整改 "
    )
    assert reply.kind == "reply" and reply.note == "已部署整改"
    assert reply.changes == {"follow_up": [None, follow_up.pk]}
    assert reply.actor == world.inspector_a and reply.actor_unit == world.unit_a
    told = Reminder.objects.filter(kind="replied")
    assert {(r.recipient, r.channel) for r in told} == {(world.supervisor, "in_app")}
    assert {r.window for r in told} == {f"event-{reply.pk}"}
    reminder_services.deliver()
    (notification,) = Notification.objects.filter(user=world.supervisor)
    assert notification.items[0]["kind"] == "replied"
    assert notification.items[0]["note"] == "已部署整改"
    assert notification.items[0]["detail"] == "责任单位已回复督办"


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("inspector_b", NotFound),  # another unit's: may not see the case
        ("supervisor", Forbidden),  # the commission follows up; it does not answer
        ("county_a_supervisor", Forbidden),
        ("api_reader", Forbidden),
        ("no_unit", NotFound),
    ],
)
def test_only_the_units_people_reply(world, followed, who, error):
    case, follow_up = followed
    before = state(world)
    with pytest.raises(error):
        follow_ups.follow_up_reply(
            actor=getattr(world, who), case_id=case.pk, follow_up_id=follow_up.pk, note="回复"
        )
    assert state(world) == before


def test_the_owner_and_the_units_above_reply(world, followed):
    case, follow_up = followed
    county_inspector = make_user(world.county_a, "inspector", "county_inspector")
    for actor in (world.inspector_a, county_inspector, world.dept_supervisor):
        follow_ups.follow_up_reply(
            actor=actor, case_id=case.pk, follow_up_id=follow_up.pk, note="收到"
        )
    # …but not a sub-unit's inspector, who does not see its parent's case.
    with pytest.raises(NotFound):
        follow_ups.follow_up_reply(
            actor=world.inspector_a_child, case_id=case.pk, follow_up_id=follow_up.pk, note="收到"
        )
    assert CaseEvent.objects.filter(case=case, kind="reply").count() == 3


def test_it_refuses_an_empty_note_and_a_follow_up_of_another_case(world, followed):
    case, follow_up = followed
    other = world.case(world.unit_a)
    reply = dict(actor=world.inspector_a, case_id=case.pk)
    before = state(world)
    with pytest.raises(InvalidInput) as empty:
        follow_ups.follow_up_reply(**reply, follow_up_id=follow_up.pk, note="  ")
    assert "note" in empty.value.fields
    with pytest.raises(InvalidInput):
        follow_ups.follow_up_reply(**reply, follow_up_id=follow_up.pk, note="长" * 2001)
    with pytest.raises(NotFound):
        follow_ups.follow_up_reply(
            actor=world.inspector_a, case_id=other.pk, follow_up_id=follow_up.pk, note="回复"
        )
    created = CaseEvent.objects.get(case=case, kind="created")
    for wrong in (created.pk, "x", 10**30):  # not a follow-up, not an id
        with pytest.raises(NotFound):
            follow_ups.follow_up_reply(**reply, follow_up_id=wrong, note="回复")
    assert state(world) == before


# --- Read receipts ---------------------------------------------------------------------------


def test_the_supervisor_sees_who_read_the_follow_up_and_when(client, world, followed):
    case, follow_up = followed
    (thread,) = follow_ups.case_follow_ups(world.supervisor, case.pk)
    assert [(r.recipient, r.state) for r in thread.readers] == [(world.inspector_a, "unread")]
    notification = Notification.objects.get(user=world.inspector_a)
    client.force_login(world.inspector_a)
    client.post(reverse("reminders:read", args=[notification.pk]))
    notification.refresh_from_db()
    assert notification.read_at is not None
    (thread,) = follow_ups.case_follow_ups(world.supervisor, case.pk)
    (reader,) = thread.readers
    assert reader.state == "read" and reader.read_at == notification.read_at
    assert thread.read_count == 1

    client.force_login(world.supervisor)
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    local = timezone.localtime(notification.read_at)
    assert "已读 1/1" in page and f"已读 {local:%Y-%m-%d %H:%M}" in page
    assert world.inspector_a.get_full_name() in page

    data = client_for(world.supervisor).get(f"/api/v1/cases/{case.pk}/follow-ups/").json()
    (item,) = data
    assert item["follow_up"]["id"] == follow_up.pk and item["read_count"] == 1
    (reader_data,) = item["readers"]
    assert reader_data["state"] == "read" and reader_data["read_at"]
    assert reader_data["recipient"]["id"] == world.inspector_a.pk


def test_a_follow_up_not_yet_delivered_is_neither_read_nor_unread(world):
    case = world.case(world.unit_a)
    services.case_follow_up(actor=world.supervisor, case_id=case.pk, note="请报送")
    (thread,) = follow_ups.case_follow_ups(world.supervisor, case.pk)
    assert [r.state for r in thread.readers] == ["pending"]


def test_readers_above_the_caller_are_not_named(world, followed):
    """An inspector sees the follow-up's thread of their case; people outside their scope
    (none here: the readers are the unit's own) would appear by unit and role only."""
    case, _follow_up = followed
    (thread,) = follow_ups.case_follow_ups(world.inspector_a, case.pk)
    assert thread.event.actor_named is False  # the commission's supervisor, by unit · role
    assert thread.event.actor_label == "晋城市纪委监委 · 监督检查人员"
    assert [r.recipient_named for r in thread.readers] == [True]


# --- The API ----------------------------------------------------------------------------------


def test_the_api_takes_a_reply_and_lists_it(world, followed):
    case, follow_up = followed
    response = client_for(world.inspector_a).post(
        replies_url(case, follow_up), {"note": "已整改"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "reply" and response.json()["note"] == "已整改"
    (item,) = client_for(world.supervisor).get(f"/api/v1/cases/{case.pk}/follow-ups/").json()
    assert [r["note"] for r in item["replies"]] == ["已整改"]
    history = client_for(world.supervisor).get(f"/api/v1/cases/{case.pk}/history/").json()
    assert history[-1]["kind"] == "reply"
    assert history[-1]["changes"] == {"follow_up": [None, follow_up.pk]}


@pytest.mark.parametrize(
    ("who", "status"),
    [("inspector_b", 404), ("api_reader", 403), ("supervisor", 403), ("no_unit", 404)],
)
def test_the_api_refuses_a_reply_from_anyone_else(world, followed, who, status):
    case, follow_up = followed
    before = state(world)
    response = client_for(getattr(world, who)).post(
        replies_url(case, follow_up), {"note": "回复"}, format="json"
    )
    assert response.status_code == status
    assert set(response.json()) >= {"status", "code", "message"}
    assert state(world) == before


def test_the_api_answers_bad_input_and_strangers(world, followed):
    case, follow_up = followed
    inspector = client_for(world.inspector_a)
    response = inspector.post(replies_url(case, follow_up), {"note": ""}, format="json")
    assert response.status_code == 400 and "note" in response.json()["fields"]
    missing = f"/api/v1/cases/{case.pk}/follow-ups/999999999/replies/"
    assert inspector.post(missing, {"note": "回复"}, format="json").status_code == 404
    assert APIClient().post(replies_url(case, follow_up), {"note": "回复"}).status_code == 401
    assert APIClient().get(f"/api/v1/cases/{case.pk}/follow-ups/").status_code == 401
    # Another unit's inspector may not read the readers either: the case is not theirs.
    stranger = client_for(world.inspector_b).get(f"/api/v1/cases/{case.pk}/follow-ups/")
    assert stranger.status_code == 404
    assert not CaseEvent.objects.filter(kind="reply").exists()


def test_reading_the_follow_ups_writes_nothing(client, world, followed):
    case, _follow_up = followed
    before = state(world)
    for user in (world.supervisor, world.inspector_a, world.api_reader):
        assert client_for(user).get(f"/api/v1/cases/{case.pk}/follow-ups/").status_code == 200
        client.force_login(user)
        assert client.get(reverse("cases:detail", args=[case.pk])).status_code == 200
    # Opening the case page as the recipient does not mark the notification read: only a POST.
    assert state(world) == before
    assert Notification.objects.get(user=world.inspector_a).read_at is None


# --- The page ---------------------------------------------------------------------------------


def test_the_unit_replies_on_the_case_page(client, world, followed):
    case, follow_up = followed
    url = reverse("cases:follow-up-reply", args=[case.pk, follow_up.pk])
    client.force_login(world.inspector_a)
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert url in page and "回复督办" in page
    response = client.post(url, {"note": "已召开专题会议"})
    assert response.status_code == 302
    assert CaseEvent.objects.filter(case=case, kind="reply", note="已召开专题会议").exists()
    client.force_login(world.supervisor)
    page = client.get(reverse("cases:detail", args=[case.pk])).content.decode()
    assert "已召开专题会议" in page and url not in page  # the supervisor reads, not replies


def test_the_page_shows_why_a_reply_is_refused(client, world, followed):
    case, follow_up = followed
    url = reverse("cases:follow-up-reply", args=[case.pk, follow_up.pk])
    client.force_login(world.inspector_a)
    response = client.post(url, {"note": ""})
    assert response.status_code == 400 and "该字段是必填项" in response.content.decode()
    client.force_login(world.supervisor)
    response = client.post(url, {"note": "回复"})
    assert response.status_code == 400
    assert "只有责任单位的人员可以回复督办" in response.content.decode()
    client.force_login(world.inspector_b)
    assert client.post(url, {"note": "回复"}).status_code == 404
    assert not CaseEvent.objects.filter(kind="reply").exists()


def test_a_follow_up_of_another_case_is_not_found_on_the_page(client, world, followed):
    case, _follow_up = followed
    other = world.case(world.unit_a)
    elsewhere = services.case_follow_up(actor=world.supervisor, case_id=other.pk, note="另案督办")
    client.force_login(world.inspector_a)
    url = reverse("cases:follow-up-reply", args=[case.pk, elsewhere.pk])
    assert client.post(url, {"note": "回复"}).status_code == 404
    assert not CaseEvent.objects.filter(kind="reply").exists()

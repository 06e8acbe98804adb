"""The group-bot admin, like the whole Django admin, is for superusers only: a staff user who
is not a superuser is sent to the admin's login and changes nothing (unit administrators
manage their units' bots in the pages: tests/cases/test_people.py); superusers see and edit
every bot."""

from __future__ import annotations

from typing import Any

import pytest

from reminders.models import UnitWebhook

pytestmark = pytest.mark.django_db

FORM = {"url": "https://8.8.8.8/x", "flavour": "wecom", "timeout_seconds": 5,
        "max_attempts": 5, "enabled": "on"}  # fmt: skip


def staff(user: Any) -> Any:
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(Permission.objects.filter(content_type__model="unitwebhook"))
    return user


@pytest.mark.parametrize("who", ["inspector_a", "no_unit"])
def test_it_sends_staff_who_are_not_superusers_to_the_login(world, client, who):
    mine = UnitWebhook.objects.create(unit=world.unit_a_child, url="https://1.1.1.1/mine")
    client.force_login(staff(getattr(world, who)))
    for path in ("", f"{mine.pk}/change/", f"{mine.pk}/delete/", "add/"):
        url = f"/admin/reminders/unitwebhook/{path}"
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    client.post(f"/admin/reminders/unitwebhook/{mine.pk}/delete/", {"post": "yes"})
    client.post(f"/admin/reminders/unitwebhook/{mine.pk}/change/", {**FORM, "unit": mine.unit_id})
    client.post("/admin/reminders/unitwebhook/add/", {**FORM, "unit": world.unit_a.pk})
    mine.refresh_from_db()
    assert mine.url == "https://1.1.1.1/mine"
    assert UnitWebhook.objects.count() == 1


def test_it_lets_superusers_see_and_edit_every_bot(world, client):
    UnitWebhook.objects.create(unit=world.unit_a_child, url="https://1.1.1.1/mine")
    UnitWebhook.objects.create(unit=world.unit_b, url="https://1.1.1.1/theirs")
    client.force_login(world.admin)
    listing = client.get("/admin/reminders/unitwebhook/").content.decode()
    assert "甲县局股室" in listing and "乙县局" in listing
    response = client.post("/admin/reminders/unitwebhook/add/", {**FORM, "unit": world.unit_a.pk})
    assert response.status_code == 302
    assert UnitWebhook.objects.filter(unit=world.unit_a, url="https://8.8.8.8/x").exists()

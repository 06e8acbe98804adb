"""The group-bot admin is scoped to the editor's units: a staff user who is not a superuser
sees and edits only the bots of units in their own unit's subtree, and cannot point a bot at
a unit outside it; superusers see every bot."""

from __future__ import annotations

from typing import Any

import pytest

from reminders.models import UnitWebhook

pytestmark = pytest.mark.django_db


def staff(user: Any) -> Any:
    from django.contrib.auth.models import Permission

    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(Permission.objects.filter(content_type__model="unitwebhook"))
    return user


def test_it_shows_staff_only_the_bots_of_their_own_units(world, client):
    mine = UnitWebhook.objects.create(unit=world.unit_a_child, url="https://1.1.1.1/mine")
    theirs = UnitWebhook.objects.create(unit=world.unit_b, url="https://1.1.1.1/theirs")
    client.force_login(staff(world.inspector_a))
    listing = client.get("/admin/reminders/unitwebhook/").content.decode()
    assert "甲县局股室" in listing and "乙县局" not in listing
    assert client.get(f"/admin/reminders/unitwebhook/{mine.pk}/change/").status_code == 200
    # Another unit's bot is "not found" (the admin redirects with a message), and stays as is.
    for path in (f"{theirs.pk}/change/", f"{theirs.pk}/delete/"):
        response = client.post(f"/admin/reminders/unitwebhook/{path}", {"post": "yes"})
        assert response.status_code == 302
    response = client.post(
        f"/admin/reminders/unitwebhook/{theirs.pk}/change/",
        {
            "unit": world.unit_b.pk,
            "url": "https://8.8.8.8/x",
            "flavour": "wecom",
            "timeout_seconds": 5,
            "max_attempts": 5,
        },
    )
    theirs.refresh_from_db()
    assert theirs.url == "https://1.1.1.1/theirs"
    # Nor can a bot be pointed at a unit outside theirs, new or moved.
    form = {"url": "https://8.8.8.8/x", "flavour": "wecom", "timeout_seconds": 5,
            "max_attempts": 5, "enabled": "on"}  # fmt: skip
    response = client.post("/admin/reminders/unitwebhook/add/", {**form, "unit": world.unit_b.pk})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = client.post(
        f"/admin/reminders/unitwebhook/{mine.pk}/change/", {**form, "unit": world.unit_b.pk}
    )
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.unit == world.unit_a_child and mine.url == "https://1.1.1.1/mine"
    assert UnitWebhook.objects.count() == 2
    # Within their units they edit as usual.
    response = client.post("/admin/reminders/unitwebhook/add/", {**form, "unit": world.unit_a.pk})
    assert response.status_code == 302
    assert UnitWebhook.objects.filter(unit=world.unit_a, url="https://8.8.8.8/x").exists()
    # Superusers see every bot.
    client.force_login(world.admin)
    listing = client.get("/admin/reminders/unitwebhook/").content.decode()
    assert "甲县局股室" in listing and "乙县局" in listing


def test_it_shows_staff_without_a_unit_no_bot(world, client):
    UnitWebhook.objects.create(unit=world.unit_a, url="https://1.1.1.1/a")
    client.force_login(staff(world.no_unit))
    listing = client.get("/admin/reminders/unitwebhook/").content.decode()
    assert "甲县局" not in listing

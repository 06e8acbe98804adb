"""Racing unit administrators, on PostgreSQL: each thread has its own connection, released
together by a barrier. One account per username, one bot per unit, one deactivation (and
one audit entry) however many press the button at once; the others get the form's error."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from audit.models import AuditEntry
from cases import people
from cases.errors import DomainError
from cases.models import User
from cases.workflow import Role
from reminders.models import UnitWebhook
from tests.factories import World, make_user

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks need PostgreSQL"),
]

RACERS = 8


def race(action: Callable[[], Any]) -> Counter[str]:
    """Run `action` in RACERS threads at once; how each ended ("ok" or the error's class)."""
    barrier = threading.Barrier(RACERS)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait()
            action()
            outcome = "ok"
        except DomainError as error:
            outcome = type(error).__name__
        except Exception as error:  # anything else is a failure of the test
            outcome = f"crash: {type(error).__name__}: {error}"
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=run) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def admin_a(world: World) -> User:
    return make_user(world.unit_a, Role.UNIT_ADMIN, "admin_a")


def test_racing_creations_of_one_username_make_one_account(world, admin_a):
    def create() -> None:
        people.person_create(
            actor=admin_a, username="same_name", full_name="同名", email="",
            unit_id=world.unit_a.pk, role="inspector",
        )  # fmt: skip

    outcomes = race(create)
    assert outcomes == Counter({"ok": 1, "InvalidInput": RACERS - 1})
    assert User.objects.filter(username="same_name").count() == 1
    assert AuditEntry.objects.filter(action="user_create", target_label="同名").count() == 1


def test_racing_deactivations_deactivate_once(world, admin_a):
    person = world.inspector_a
    outcomes = race(
        lambda: people.person_set_active(actor=admin_a, person_id=person.pk, active=False)
    )
    assert outcomes == Counter({"ok": RACERS})
    assert AuditEntry.objects.filter(action="user_disable", target_id=str(person.pk)).count() == 1


def test_racing_new_bots_for_one_unit_make_one(world, admin_a):
    def add() -> None:
        bot = UnitWebhook(unit_id=world.unit_a.pk, url="https://1.1.1.1/hook?key=k")
        people.bot_save(actor=admin_a, bot=bot)

    outcomes = race(add)
    assert outcomes == Counter({"ok": 1, "InvalidInput": RACERS - 1})
    assert UnitWebhook.objects.filter(unit=world.unit_a).count() == 1
    assert AuditEntry.objects.filter(action="webhook_create").count() == 1

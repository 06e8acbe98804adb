import os
import re

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import override_settings
from django.utils import translation

from tests.factories import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture(autouse=True)
def _evidence_root(settings, tmp_path):
    # Uploaded evidence goes to a per-test folder, never to the developer's var/.
    settings.EVIDENCE_ROOT = tmp_path / "evidence"
    # And history checkpoints too: a checkpoint of another test's database would be a rollback.
    settings.HISTORY_CHECKPOINT_DIR = tmp_path / "checkpoints"


@pytest.fixture(autouse=True)
def _fresh_light_bounds():
    # The lights remember a day's working-day boundaries for a minute (cases.lights); a rolled
    # back calendar row of another test must not linger in them.
    from cases import lights

    lights.forget()


@pytest.fixture(autouse=True)
def _default_language():
    # A request in English leaves English active in the thread; each test starts in Chinese.
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


def pytest_configure(config):
    from django.conf import settings

    # Each parallel worker gets its own cache database: a test that clears the cache (FLUSHDB)
    # must not reset another worker's throttle counters mid-test.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    cache = settings.CACHES["default"]
    if "redis" in cache["BACKEND"] and index:
        cache["LOCATION"] = re.sub(
            r"/(\d+)$", lambda match: f"/{int(match.group(1)) - index}", cache["LOCATION"]
        )

    # The runner empties SQLite tables with DELETE between tests (cases.history_guard).
    settings.HISTORY_SQLITE_GUARD = False

    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def _demo_db(django_db_setup, django_db_blocker, tmp_path_factory):
    """The demo (cases.demo.load_demo), loaded once for a module inside a transaction rolled
    back at its end; each test still runs in its own savepoint, so nothing one test does leaks
    to another. Yields where the demo stored its evidence (a module's `demo` fixture points
    EVIDENCE_ROOT there)."""
    from cases.demo import load_demo

    evidence_root = tmp_path_factory.mktemp("evidence")
    with django_db_blocker.unblock(), override_settings(EVIDENCE_ROOT=evidence_root):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            load_demo()
            yield evidence_root
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)

import pytest
from django.conf import settings as django_settings
from django.utils import translation

from tests.factories import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture(autouse=True)
def _evidence_root(settings, tmp_path):
    # Uploaded evidence goes to a per-test folder, never to the developer's var/.
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


@pytest.fixture(autouse=True)
def _default_language():
    # A request in English leaves English active in the thread; each test starts in Chinese.
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


def pytest_configure(config):
    from django.conf import settings

    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

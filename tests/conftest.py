import pytest

from tests.factories import World, build_world


@pytest.fixture
def world(db) -> World:
    return build_world()


@pytest.fixture(autouse=True)
def _evidence_root(settings, tmp_path):
    # Uploaded evidence goes to a per-test folder, never to the developer's var/.
    settings.EVIDENCE_ROOT = tmp_path / "evidence"


def pytest_configure(config):
    from django.conf import settings

    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

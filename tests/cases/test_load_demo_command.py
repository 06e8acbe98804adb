"""`manage.py load_demo` never puts its published accounts on a production database by accident:
with debug off it refuses unless told `--force`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from cases.demo import DEMO_PASSWORD
from cases.models import Case, Unit, User

pytestmark = pytest.mark.django_db


def test_it_refuses_with_debug_off_and_creates_nothing(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("load_demo", stdout=StringIO())
    assert not User.objects.exists()
    assert not Unit.objects.exists() and not Case.objects.exists()


def test_it_loads_with_debug_off_when_forced(settings):
    settings.DEBUG = False
    call_command("load_demo", "--force", stdout=StringIO())
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(DEMO_PASSWORD)
    assert Case.objects.exists()

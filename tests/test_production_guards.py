"""Production guards of issue 14, run as an operator would meet them: settings imported with a
clean environment, a real Celery worker started, `make demo` and `make test` with their
commands replaced by recorders (no install, no server)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_deployment import ROOT, production_env, running

CLEAN_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


SHOW_DEBUG = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; "
    "django.setup(); from django.conf import settings; print('DEBUG', settings.DEBUG)"
)


# --- Debug is off unless asked for ------------------------------------------------------------


def test_it_turns_debug_off_when_django_debug_is_unset(tmp_path):
    env = {
        **CLEAN_ENV,
        "TRACKER_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SECRET_KEY": "x" * 50,
        "DJANGO_ALLOWED_HOSTS": "tracker.example.org",
        "HISTORY_SEAL_KEY": "y" * 50,
    }
    result = python(SHOW_DEBUG, env)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False" in result.stdout


def test_it_refuses_to_start_without_a_secret_key_when_django_debug_is_unset(tmp_path):
    result = python(SHOW_DEBUG, {**CLEAN_ENV, "TRACKER_VAR_DIR": str(tmp_path / "var")})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr and "DJANGO_ALLOWED_HOSTS" in result.stderr


# --- Mail goes to a relay or nowhere, loudly ----------------------------------------------------

SEND_ONE = (
    "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; "
    "django.setup(); from django.core.mail import EmailMessage; "
    "EmailMessage('s', 'b', 'tracker@example.org', ['someone@example.org']).send()"
)


def test_it_sends_no_mail_to_localhost_without_a_relay(tmp_path):
    # Today's trap: debug off and no EMAIL_HOST handed mail to localhost:25.
    result = python(SEND_ONE, production_env(tmp_path, EMAIL_HOST=""))
    assert result.returncode != 0
    assert "NoMailRelayError" in result.stderr and "EMAIL_HOST" in result.stderr


def worker_command(node: str) -> list[str]:
    # The compose service's command, on a queue of its own: the broker may be shared.
    return [str(Path(sys.executable).parent / "celery"), "-A", "tracker", "worker",
            "--loglevel", "INFO", "-Q", f"{node}-queue", "-n", f"celery@{node}",
            "--concurrency", "1"]  # fmt: skip


def worker_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    # No REDIS_URL: the filesystem broker under tmp_path, no service needed.
    return production_env(tmp_path, LOG_FORMAT="text", **variables)


def test_it_refuses_to_start_a_worker_with_debug_off_and_no_mail_relay(tmp_path):
    env = worker_env(tmp_path, EMAIL_HOST="")
    result = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        worker_command("no-relay"), cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=90, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "reminders.E001" in result.stderr
    assert "EMAIL_HOST" in result.stderr and "REMINDER_CHANNELS=webhook,in_app" in result.stderr
    assert "ready." not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "variables",
    [{"EMAIL_HOST": "smtp.example.org"}, {"EMAIL_HOST": "", "REMINDER_CHANNELS": "webhook,in_app"}],
    ids=["with-a-relay", "with-email-off"],
)
def test_it_starts_a_worker_with_a_relay_or_with_email_off(tmp_path, variables):
    env = worker_env(tmp_path, **variables)
    with running(worker_command("guarded"), env, tmp_path / "worker.log", b"ready."):
        pass
    assert "reminders.E001" not in (tmp_path / "worker.log").read_text()


def test_it_reports_the_missing_relay_in_the_deployment_checklist(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "worker_startup"],
        cwd=ROOT, env=production_env(tmp_path, EMAIL_HOST=""), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "reminders.E001" in result.stderr


# --- make demo and make test turn debug on, for every process -----------------------------------


def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose python, celery and pytest only record their arguments and DJANGO_DEBUG."""
    venv, log = tmp_path / "venv", tmp_path / "commands.log"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "celery", "pytest"):
        script = venv / "bin" / name
        script.write_text(
            f'#!/bin/sh\necho "{name} $* DJANGO_DEBUG=$DJANGO_DEBUG" >> "{log}"\n'
            # The server last: the worker started in the background records itself first.
            'case "$*" in *runserver*) sleep 2;; esac\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    for marker in (".installed-base", ".installed-test", ".installed-ldap"):
        (venv / marker).touch()  # newer than pyproject.toml: make installs nothing
    return venv, log


def run_make(target: str, venv: Path) -> None:
    env = {**os.environ, "DJANGO_DEBUG": "false"}  # even a caller with debug off
    env.pop("MAKEFLAGS", None)
    subprocess.run(  # noqa: S603 (make with a fixed target)
        ["make", "--no-print-directory", target, f"VENV={venv}", "PORT=1"],  # noqa: S607
        cwd=ROOT, env=env, capture_output=True, timeout=60, check=False,
        # `make demo` ends with `trap 'kill 0' EXIT`: its own process group, not this one.
        start_new_session=True,
    )  # fmt: skip


def test_make_demo_turns_debug_on_for_every_process_it_starts(tmp_path):
    venv, log = fake_venv(tmp_path)
    run_make("demo", venv)
    lines = log.read_text().splitlines()
    for step in ("migrate", "load_demo", "send_reminders", "collectstatic", "worker", "runserver"):
        assert any(f" {step} " in f" {line} " for line in lines), (step, lines)
    assert all(line.endswith("DJANGO_DEBUG=true") for line in lines), lines


def test_make_test_turns_debug_on(tmp_path):
    venv, log = fake_venv(tmp_path)
    run_make("test", venv)
    (line,) = log.read_text().splitlines()
    assert line.startswith("pytest ") and line.endswith("DJANGO_DEBUG=true")

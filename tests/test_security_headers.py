"""Production settings: `check --deploy` is clean and every page carries the security headers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_it_passes_the_deployment_checklist_with_debug_off():
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "EMAIL_"))
    }
    env.update(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="x" * 20 + "a-long-random-production-secret-key-for-the-check",
        DJANGO_ALLOWED_HOSTS="tracker.example.org",
        HISTORY_SEAL_KEY="a-seal-key-held-outside-the-database",
        EMAIL_HOST="smtp.example.org",  # a worker without a relay fails the checklist
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db
@pytest.mark.skipif(django.VERSION < (6, 0), reason="Django 5.2 has no CSP middleware")
def test_it_sends_security_headers_on_pages(client, world):
    client.force_login(world.supervisor)
    response = client.get("/cases/")
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"

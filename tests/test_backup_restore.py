"""Backup and restore as the README describes it: `pg_dump -Fc` plus a tar of EVIDENCE_ROOT,
restored with `pg_restore` into a new database and untarred, then `manage.py verify_history
--evidence` run against the copy: the history chain and the evidence files come back intact,
and tampering with the copy is still caught."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from cases import services
from cases.models import Case, CaseEvent, Evidence
from tests.factories import PDF, World, add_evidence, drive_to

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql" or not shutil.which("pg_dump"),
        reason="pg_dump/pg_restore of a PostgreSQL database",
    ),
]


def libpq_env(dbname: str) -> dict[str, str]:
    db = connection.settings_dict
    env = {"PGDATABASE": dbname, "PGHOST": db["HOST"] or "", "PGPORT": str(db["PORT"] or "")}
    env.update({"PGUSER": db["USER"] or "", "PGPASSWORD": db["PASSWORD"] or ""})
    return {**os.environ, **{k: v for k, v in env.items() if v}}


def database_url(dbname: str) -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{dbname}"


@pytest.fixture
def restored_name() -> Iterator[str]:
    """A new, unique database name; the database is dropped at the end whatever happens."""
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(*args: str, database: str, evidence: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "EVIDENCE_ROOT": str(evidence),
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
    }
    return subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_restored_backup_verifies_and_still_catches_tampering(
    world: World, tmp_path: Path, restored_name: str
) -> None:
    # Some history, evidence among it.
    case = world.case(world.unit_a, checklist=["窗口是否运行"])
    drive_to(case, "completed", world.supervisor)
    add_evidence(world.supervisor, case, "报告.pdf")
    other = world.case(world.unit_a)
    services.case_transition(
        actor=world.inspector_a,
        case_id=other.pk,
        to="in_progress",
        evidence=[SimpleUploadedFile("照片.pdf", PDF)],
    )
    cases, events = Case.objects.count(), CaseEvent.objects.count()
    assert Evidence.objects.count() == 2

    # Back up: the database first, then the files (a file is written before its row).
    source = connection.settings_dict["NAME"]
    dump, archive = tmp_path / "tracker.dump", tmp_path / "evidence.tar.gz"
    subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        ["pg_dump", "-Fc", "--no-owner", "-f", str(dump)],  # noqa: S607 (the PostgreSQL client on PATH)
        env=libpq_env(source),
        check=True,
    )
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(settings.EVIDENCE_ROOT, arcname="evidence")

    # Restore into a new database and a new folder.
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{restored_name}"')
    subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        ["pg_restore", "--no-owner", "--exit-on-error", "-d", restored_name, str(dump)],  # noqa: S607 (the PostgreSQL client on PATH)
        env=libpq_env(restored_name),
        check=True,
    )
    target = tmp_path / "restored"
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    evidence = target / "evidence"

    result = manage("verify_history", "--evidence", database=restored_name, evidence=evidence)
    assert result.returncode == 0, result.stderr
    assert f"History intact: {cases} cases, {events} events verified" in result.stdout
    assert "2 evidence files verified" in result.stdout

    # The copy is as tamper-evident as the original: the trigger came back with it, and an
    # edit that goes around it is found.
    with psycopg.connect(database_url(restored_name), autocommit=True) as db:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            db.execute("UPDATE cases_caseevent SET note = 'x'")
        db.execute("SET session_replication_role = replica")
        event_id = db.execute(
            "SELECT id FROM cases_caseevent WHERE case_id = %s AND seq = 2", [case.pk]
        ).fetchone()[0]
        db.execute("UPDATE cases_caseevent SET note = '改过' WHERE id = %s", [event_id])
    result = manage("verify_history", database=restored_name, evidence=evidence)
    assert result.returncode == 1
    assert f"case {case.pk}: edited at event {event_id}" in result.stderr
    assert "History chain broken in 1 of" in result.stderr

    # A lost or changed evidence file is found too.
    stored = Evidence.objects.get(original_name="报告.pdf").file.name
    (evidence / stored).write_bytes(PDF + b"%")
    result = manage(
        "verify_history", "--evidence", "--case", str(other.pk),
        database=restored_name, evidence=evidence,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    result = manage(
        "verify_history", "--evidence", "--case", str(case.pk),
        database=restored_name, evidence=evidence,
    )  # fmt: skip
    assert result.returncode == 1
    assert re.search(rf"case {case.pk}: evidence \d+ altered", result.stderr)
    assert "Evidence files missing or altered: 1 of 1" in result.stderr

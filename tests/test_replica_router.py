"""Reads that tolerate lag go to the read replica; writes, reads after a write and everything
else stay on the primary (tracker/db_router.py).

The tests add a `replica` alias that mirrors the test database over a second, read-only
connection (as DATABASE_REPLICA_URL does, with TEST MIRROR), so both aliases see the same
committed rows and each query is counted on the connection that ran it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections, router, transaction
from django.db.utils import InternalError
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Case
from ledgers import services as ledger_services
from ledgers.models import Job
from tests.factories import ExportJobFactory, api_key, days, drive_to
from tracker.db_router import BOOKKEEPING_TABLES, REPLICA_DB_ALIAS, read_from_replica

ROOT = Path(__file__).resolve().parent.parent
# Case data: every table of the cases app but its users (the request's user is read on the
# primary before the view): cases, units, inspections, the completion tallies, ... Quoted by
# the ORM, bare in raw SQL (the roll-ups').
CASE_DATA = re.compile(r"\bcases_(?!(user|apitoken)\b)\w+")  # accounts are not case data
# Authentication reads the token or the session's user with the user's unit in one query, on
# the primary like the session: an account, not case data, even though it joins a unit.
AUTHENTICATION = re.compile(r'FROM "cases_(apitoken|user)"')
WRITES = ("INSERT", "UPDATE", "DELETE")

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the replica connection is PostgreSQL read-only"
)


@pytest.fixture(scope="class")
def replica_alias(django_db_setup) -> Iterator[None]:
    """A `replica` alias on the test database, configured as settings.py configures
    DATABASE_REPLICA_URL: a mirror in tests, with read-only transactions."""
    config = copy.deepcopy(connections[DEFAULT_DB_ALIAS].settings_dict)
    config["TEST"] = {**config["TEST"], "MIRROR": DEFAULT_DB_ALIAS}
    config["OPTIONS"] = {
        **config.get("OPTIONS", {}),
        "options": "-c default_transaction_read_only=on",
    }
    connections.settings[REPLICA_DB_ALIAS] = config
    try:
        yield
    finally:
        connections[REPLICA_DB_ALIAS].close()
        del connections[REPLICA_DB_ALIAS]
        del connections.settings[REPLICA_DB_ALIAS]


@contextmanager
def queries_on(*aliases: str) -> Iterator[dict[str, list[str]]]:
    """The SQL run on each alias during the block, as {alias: [sql, ...]}."""
    found: dict[str, list[str]] = {}
    with ExitStack() as stack:
        captures = {
            alias: stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in aliases
        }
        yield found
    for alias, capture in captures.items():
        found[alias] = [query["sql"] for query in capture.captured_queries]


def reading(sqls: list[str], table: str | None = None) -> list[str]:
    """The reads of `table` (default: of case data): SELECTs, and server-side cursors (DECLARE
    ... FOR SELECT) of querysets read in chunks."""
    return [
        sql
        for sql in sqls
        if sql.lstrip().upper().startswith(("SELECT", "DECLARE"))
        and (
            CASE_DATA.search(sql) and not AUTHENTICATION.search(sql)
            if table is None
            else table in sql
        )
    ]


def writing(sqls: list[str]) -> list[str]:
    return [sql for sql in sqls if sql.lstrip().upper().startswith(WRITES)]


@pytest.fixture
def cases(world) -> list[Case]:
    done = drive_to(world.case(world.unit_a, deadline=days(-3)), "completed", world.supervisor)
    return [done, world.case(world.unit_b, deadline=days(5)), world.case(world.unit_a)]


def api_token(user) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Token {api_key(user)}"}


# --- With a replica --------------------------------------------------------------------------


@needs_postgres
@pytest.mark.postgres
@pytest.mark.usefixtures("replica_alias")
@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS])
class TestWithReplica:
    @pytest.mark.parametrize("page", ["cases:dashboard", "cases:report"])
    def test_it_reads_dashboard_and_report_cases_from_the_replica(self, client, world, cases, page):
        client.force_login(world.supervisor)
        client.get(reverse(page))  # the first request of a day may rebuild the tally: a write
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.get(reverse(page))
        assert response.status_code == 200
        assert response.context["figures"]["total"]["total"] == len(cases)
        assert reading(sql[REPLICA_DB_ALIAS]), "no case read on the replica"
        assert not reading(sql[DEFAULT_DB_ALIAS]), sql[DEFAULT_DB_ALIAS]
        # The session and the user (read before the view) come from the primary: a login
        # just written is always found.
        assert reading(sql[DEFAULT_DB_ALIAS], '"django_session"')
        assert reading(sql[DEFAULT_DB_ALIAS], '"cases_user"')
        assert not writing(sql[REPLICA_DB_ALIAS])

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v1/stats/completion/?group_by=unit",
            "/api/v1/inspections/",
        ],
    )
    def test_it_reads_api_figures_from_the_replica(self, client, world, cases, url):
        headers = api_token(world.api_reader)
        client.get(url, **headers)  # the first request of a day may rebuild the tally: a write
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.get(url, **headers)
        assert response.status_code == 200, response.content
        assert reading(sql[REPLICA_DB_ALIAS]), "no case read on the replica"
        assert not reading(sql[DEFAULT_DB_ALIAS]), sql[DEFAULT_DB_ALIAS]
        assert reading(sql[DEFAULT_DB_ALIAS], '"cases_apitoken"')  # authentication
        assert not writing(sql[REPLICA_DB_ALIAS])

    def test_it_reads_a_background_exports_cases_from_the_replica(
        self, world, cases, settings, tmp_path
    ):
        settings.LEDGER_FILES_ROOT = tmp_path / "ledgers"
        job = ExportJobFactory(
            owner=world.supervisor,
            status=Job.Status.QUEUED,
            query="",
            total=len(cases),
            language="zh-hans",
            filename="ledger.xlsx",
        )
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            ledger_services.export_job_run(job_id=job.pk)
        job.refresh_from_db()
        assert job.status == Job.Status.DONE and job.processed == len(cases), job.error
        assert job.file and Path(job.file.path).stat().st_size > 0
        # The ledger's rows from the replica; the job's claim, progress and result on the
        # primary, and nothing about cases.
        assert reading(sql[REPLICA_DB_ALIAS], '"cases_evidence"'), "ledger rows not on replica"
        assert not reading(sql[DEFAULT_DB_ALIAS], '"cases_case"'), sql[DEFAULT_DB_ALIAS]
        assert any('"ledgers_exportjob"' in q for q in writing(sql[DEFAULT_DB_ALIAS]))
        assert not writing(sql[REPLICA_DB_ALIAS])

    def test_it_reads_an_inline_exports_rows_from_the_replica(self, client, world, cases):
        client.force_login(world.supervisor)
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.post(reverse("ledgers:export"), {"query": ""})
        assert response.status_code == 200
        assert b"".join(response.streaming_content)[:2] == b"PK"  # an .xlsx
        assert reading(sql[REPLICA_DB_ALIAS], '"cases_evidence"'), "ledger rows not on replica"
        # The view counts the rows (inline or background?) on the primary before the export.
        assert not reading(sql[DEFAULT_DB_ALIAS], '"cases_evidence"'), sql[DEFAULT_DB_ALIAS]
        assert not writing(sql[REPLICA_DB_ALIAS])

    def test_no_replica_read_touches_a_table_whose_writes_read_your_writes_ignores(
        self, client, world, cases, settings, tmp_path
    ):
        # A user's writes of these tables (the session, the login lockout, the audit log, job
        # rows) never send their replica reads to the primary: no replica read may read them.
        # (The last login, also ignored, comes along with a case's owner; no page shows it.)
        settings.LEDGER_FILES_ROOT = tmp_path / "ledgers"
        client.force_login(world.supervisor)
        headers = api_token(world.api_reader)
        job = ExportJobFactory(
            owner=world.supervisor, status=Job.Status.QUEUED, query="", total=len(cases),
            language="zh-hans", filename="ledger.xlsx",
        )  # fmt: skip
        pages = ["cases:dashboard", "cases:report", "documents:progress", "documents:notice",
                 "documents:lists-xlsx", "documents:lists-docx"]  # fmt: skip
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            for name in pages:
                assert client.get(reverse(name)).status_code == 200, name
            for url in ("/api/v1/stats/completion/?group_by=unit", "/api/v1/inspections/"):
                assert client.get(url, **headers).status_code == 200, url
            assert client.post(reverse("ledgers:export"), {"query": ""}).status_code == 200
            ledger_services.export_job_run(job_id=job.pk)
        assert reading(sql[REPLICA_DB_ALIAS], '"cases_evidence"')  # the exports read there
        read = "\n".join(sql[REPLICA_DB_ALIAS])
        assert not [table for table in BOOKKEEPING_TABLES if table in read]

    @pytest.mark.parametrize(
        "url",
        [
            "/cases/",
            "/cases/?status=open,in_progress&ordering=-updated_at",
            "/cases/{id}/",
            "/api/v1/cases/",
            "/api/v1/cases/?light=red",
            "/api/v1/cases/{id}/",
        ],
    )
    def test_it_reads_case_lists_and_case_pages_from_the_replica(self, client, world, cases, url):
        client.force_login(world.supervisor)
        headers = api_token(world.supervisor) if url.startswith("/api/") else {}
        url = url.format(id=cases[1].pk)
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.get(url, **headers)
        assert response.status_code == 200, response.content[:500]
        assert reading(sql[REPLICA_DB_ALIAS], '"cases_case"'), "no case read on the replica"
        # The session, the user or the token come from the primary (before the view), and
        # nothing else does.
        assert not reading(sql[DEFAULT_DB_ALIAS]), sql[DEFAULT_DB_ALIAS]
        assert not writing(sql[DEFAULT_DB_ALIAS]) and not writing(sql[REPLICA_DB_ALIAS])

    @pytest.mark.parametrize("url", ["/cases/?search={code}", "/api/v1/cases/?search={code}"])
    def test_it_keeps_a_searched_list_on_the_primary(self, client, world, cases, url):
        # A search finds its matches with SQL of its own on the primary's connection: the
        # rows come from there too, never matches of one database with rows of the other.
        client.force_login(world.supervisor)
        headers = api_token(world.supervisor) if url.startswith("/api/") else {}
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.get(url.format(code=cases[1].code), **headers)
        assert response.status_code == 200
        assert cases[1].code in response.content.decode()
        assert reading(sql[DEFAULT_DB_ALIAS], '"cases_case"')
        assert sql[REPLICA_DB_ALIAS] == []

    @pytest.mark.parametrize("url", ["/cases/{id}/", "/api/v1/cases/{id}/"])
    def test_a_restricted_case_is_audited_on_the_primary_and_read_there_after(
        self, client, world, url
    ):
        case = world.case(world.unit_a, inspection=world.restricted)
        client.force_login(world.supervisor)
        headers = api_token(world.supervisor) if url.startswith("/api/") else {}
        ran: list[tuple[str, str]] = []  # (alias, sql) in the order they ran
        with ExitStack() as stack:
            for alias in (DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS):

                def record(execute, sql, params, many, context, alias=alias):
                    ran.append((alias, sql))
                    return execute(sql, params, many, context)

                stack.enter_context(connections[alias].execute_wrapper(record))
            response = client.get(url.format(id=case.pk), **headers)
        assert response.status_code == 200
        # Found on the replica, the view recorded on the primary, read there from then on.
        audit_insert = 'INSERT INTO "audit_auditentry"'
        audit = [i for i, (_alias, sql) in enumerate(ran) if sql.startswith(audit_insert)]
        assert len(audit) == 1, ran
        on_replica = [i for i, (alias, _sql) in enumerate(ran) if alias == REPLICA_DB_ALIAS]
        assert reading([sql for alias, sql in ran if alias == REPLICA_DB_ALIAS], '"cases_case"')
        assert max(on_replica) < audit[0], ran
        if not url.startswith("/api/"):  # the page reads its records after the audit
            assert reading([sql for _alias, sql in ran[audit[0] :]]), ran

    def test_it_keeps_a_transition_on_the_primary(self, client, world, cases):
        client.force_login(world.inspector_b)  # the unit starts its case (cases.rules)
        case = cases[1]
        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            response = client.post(
                reverse("cases:transition", args=[case.pk]),
                {"to": "in_progress", "note": "开始整改"},
            )
        assert response.status_code in (200, 302)
        case.refresh_from_db()
        assert case.status == "in_progress"
        assert writing(sql[DEFAULT_DB_ALIAS])
        assert sql[REPLICA_DB_ALIAS] == []

    def test_it_reads_from_the_primary_after_a_write_in_the_same_scope(self, world):
        @read_from_replica()
        def count_write_count() -> tuple[str, str]:
            before = router.db_for_read(Case)
            Case.objects.count()
            world.case(world.unit_a)  # a write, through the service
            after = router.db_for_read(Case)
            Case.objects.count()
            return before, after

        with queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            assert count_write_count() == (REPLICA_DB_ALIAS, DEFAULT_DB_ALIAS)
        assert len(reading(sql[REPLICA_DB_ALIAS])) == 1  # the count before the write
        assert any("COUNT(" in q for q in reading(sql[DEFAULT_DB_ALIAS]))  # ... and after it
        assert writing(sql[DEFAULT_DB_ALIAS]) and not writing(sql[REPLICA_DB_ALIAS])
        # The next scope (request, task) starts clean; a nested scope keeps the outer's write.
        with read_from_replica():
            assert router.db_for_read(Case) == REPLICA_DB_ALIAS
            Case.objects.filter(pk=0).update(title="x")
            with read_from_replica():
                assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
        assert router.db_for_read(Case) == DEFAULT_DB_ALIAS  # no scope: the primary

    def test_it_reads_from_the_primary_after_raw_sql_writes(self, world, cases):
        # Raw SQL on the primary (e.g. a roll-up rebuilt on first read) never asks the router.
        with read_from_replica():
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM cases_case")
            assert router.db_for_read(Case) == REPLICA_DB_ALIAS  # a read is not a write
            with connection.cursor() as cursor:
                cursor.execute("UPDATE cases_case SET progress = progress WHERE id = %s", [0])
            assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
        with read_from_replica():
            with transaction.atomic(), connection.cursor() as cursor:  # raw row locks
                cursor.execute("SELECT id FROM cases_case WHERE id = %s FOR UPDATE", [0])
            assert router.db_for_read(Case) == DEFAULT_DB_ALIAS

    def test_it_reads_from_the_primary_inside_a_transaction(self, world, cases):
        with read_from_replica(), queries_on(DEFAULT_DB_ALIAS, REPLICA_DB_ALIAS) as sql:
            with transaction.atomic():
                assert Case.objects.count() == len(cases)
            assert Case.objects.count() == len(cases)  # after it, the replica again
        assert len(reading(sql[DEFAULT_DB_ALIAS])) == 1
        assert len(reading(sql[REPLICA_DB_ALIAS])) == 1

    def test_it_writes_to_the_primary_even_with_an_object_read_from_the_replica(self, world, cases):
        with read_from_replica():
            case = Case.objects.get(pk=cases[1].pk)
            assert case._state.db == REPLICA_DB_ALIAS
            case.progress = "已召开专题会议"
            case.save(update_fields=["progress"])
        assert Case.objects.get(pk=case.pk).progress == "已召开专题会议"

    def test_its_replica_connection_refuses_writes(self, world):
        # The test replica is the test primary: only the read-only setting stops a write.
        replica = connections[REPLICA_DB_ALIAS]
        with pytest.raises(InternalError, match="read-only"), replica.cursor() as cursor:
            cursor.execute("UPDATE cases_unit SET name = name")

    def test_it_migrates_only_the_primary(self):
        assert router.allow_migrate(DEFAULT_DB_ALIAS, "cases")
        assert not router.allow_migrate(REPLICA_DB_ALIAS, "cases")


# --- Without a replica -----------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_replica_it_reads_everything_from_the_primary(client, world, cases):
    assert REPLICA_DB_ALIAS not in connections.settings
    client.force_login(world.supervisor)
    headers = api_token(world.api_reader)
    with queries_on(DEFAULT_DB_ALIAS) as sql, read_from_replica():
        assert router.db_for_read(Case) == DEFAULT_DB_ALIAS
        assert client.get(reverse("cases:dashboard")).status_code == 200
        assert client.get("/api/v1/stats/completion/?group_by=unit", **headers).status_code == 200
        assert client.post(reverse("ledgers:export"), {"query": ""}).status_code == 200
    assert len(reading(sql[DEFAULT_DB_ALIAS], '"cases_evidence"')) == 1  # the export's rows
    assert len(reading(sql[DEFAULT_DB_ALIAS])) > 3


# --- Settings --------------------------------------------------------------------------------


def database_settings(**variables: str) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "TRACKER_VAR_DIR": os.environ.get("TRACKER_VAR_DIR", str(ROOT / "var")),
        "DJANGO_DEBUG": "true",  # debug is off unless set; these tests are about the databases
        "DATABASE_URL": "postgres://tracker:secret@primary.internal:5432/tracker",
        "DATABASE_CONN_MAX_AGE": "30",
        **variables,
    }
    code = (
        "import json, django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; "
        "django.setup(); from django.conf import settings; "
        "print(json.dumps({'DATABASES': settings.DATABASES, "
        "'ROUTERS': settings.DATABASE_ROUTERS}, default=str))"
    )
    result = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_add_the_replica_from_database_replica_url():
    found = database_settings(
        DATABASE_REPLICA_URL="postgres://reader:secret@standby.internal:5433/tracker"
    )
    databases = found["DATABASES"]
    assert list(databases) == ["default", "replica"]
    replica = databases["replica"]
    assert replica["ENGINE"] == "django.db.backends.postgresql"
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == (
        "standby.internal",
        5433,
        "reader",
    )
    assert replica["NAME"] == "tracker"
    # The same connection options as the primary.
    assert replica["CONN_MAX_AGE"] == databases["default"]["CONN_MAX_AGE"] == 30
    assert replica["CONN_HEALTH_CHECKS"] is True
    assert databases["default"]["OPTIONS"]["options"] == "-c jit=off"
    assert replica["OPTIONS"]["options"] == "-c jit=off -c default_transaction_read_only=on"
    for option, value in databases["default"].get("OPTIONS", {}).items():
        if option != "options":
            assert replica["OPTIONS"].get(option) == value, option
    assert replica["TEST"]["MIRROR"] == "default"
    assert found["ROUTERS"] == ["tracker.db_router.ReplicaRouter"]


def test_settings_have_no_replica_without_database_replica_url():
    found = database_settings(DATABASE_REPLICA_URL="")
    assert list(found["DATABASES"]) == ["default"]
    assert found["DATABASES"]["default"]["HOST"] == "primary.internal"

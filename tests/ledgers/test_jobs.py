"""A background job's lease: claimed once, renewed while it runs, taken back by beat when its
worker died (run again, or failed after Job.MAX_ATTEMPTS runs), and a runner that lost it
writes nothing (fencing). The job page and the API say which. A real worker killed with
SIGKILL: tests/faults/test_ledger_job_killed.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from cases.models import Case
from ledgers import jobs, services, tasks
from ledgers.jobs import LeaseLost
from ledgers.models import ExportJob, ImportJob, Job
from tests.factories import api_key
from tests.ledgers.helpers import codes, preview, xlsx
from tests.ledgers.test_import import new_row

pytestmark = pytest.mark.django_db

INTERRUPTED = "处理该任务的进程中断，已尝试 3 次仍未完成，请重新发起。"


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[tuple[str, int]]:
    """The task messages sent (to a broker no worker of these tests reads: recorded instead)."""
    messages: list[tuple[str, int]] = []

    def publish(task: Any, job_id: int) -> bool:
        messages.append((task.name, job_id))
        return True

    monkeypatch.setattr(jobs, "publish", publish)
    return messages


def export_job(world: Any, **values: Any) -> ExportJob:
    values.setdefault("lease_expires_at", jobs.lease_ends())
    return ExportJob.objects.create(
        owner=world.supervisor, status=Job.Status.QUEUED, filename="台账.xlsx", **values
    )


def claim(job: Job) -> jobs.Lease[Any]:
    lease = jobs.claim(type(job).objects.all(), job.pk)
    assert lease is not None
    return lease


def expire(job: Job) -> None:
    type(job).objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())


def files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def api(user: Any) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    return client


# --- Claim and fencing ----------------------------------------------------------------------


def test_it_claims_a_queued_job_once_with_a_lease_and_an_attempt_number(world):
    job = export_job(world)
    lease = claim(job)
    assert lease.attempt == 1
    assert jobs.claim(ExportJob.objects.all(), job.pk) is None  # a redelivered message
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.RUNNING, 1)
    lease_seconds = (job.lease_expires_at - timezone.now()).total_seconds()
    assert lease_seconds > django_settings.LEDGER_JOB_LEASE_SECONDS - 5
    assert lease_seconds <= django_settings.LEDGER_JOB_LEASE_SECONDS


def test_a_runner_renews_its_lease_with_the_progress(world, settings):
    settings.LEDGER_JOB_LEASE_SECONDS = 60
    job = export_job(world, total=10)
    lease = claim(job)
    expire(job)
    lease.renew(processed=4)
    job.refresh_from_db()
    assert job.processed == 4 and job.lease_expires_at > timezone.now() + timedelta(seconds=50)


def test_a_runner_whose_job_was_taken_over_writes_nothing(world, sent):
    job = export_job(world, total=10)
    stale = claim(job)
    expire(job)
    assert jobs.jobs_recover() == 1  # back in the queue, its task sent again
    assert sent == [("ledgers.run_export_job", job.pk)]
    fresh = claim(job)
    assert (stale.attempt, fresh.attempt) == (1, 2)
    with pytest.raises(LeaseLost):
        stale.renew(processed=9)
    assert not stale.finish(Job.Status.DONE, processed=10, file="stale.xlsx")
    assert not stale.finish(Job.Status.FAILED, error="stale")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.processed, job.file.name, job.error) == (
        Job.Status.RUNNING, 2, 0, "", "",
    )  # fmt: skip
    assert fresh.finish(Job.Status.DONE, processed=10)
    job.refresh_from_db()
    assert (job.status, job.processed, job.lease_expires_at) == (Job.Status.DONE, 10, None)


def takeover(job: Job) -> Callable[[], None]:
    """What beat and a second worker do to `job` while its first runner is held up: the lease
    runs out, the recovery re-queues it, another runner claims it."""

    def run() -> None:
        expire(job)
        assert jobs.jobs_recover() == 1
        claim(job)

    return run


def test_an_export_runner_that_lost_its_lease_stops_and_stores_no_file(
    world, settings, monkeypatch
):
    world.case(world.unit_a)
    job = export_job(world, total=1)
    real = services.export_write

    def held_up(**kwargs: Any) -> int:
        takeover(job)()  # while this runner reads the cases
        return real(**kwargs)

    monkeypatch.setattr(services, "export_write", held_up)
    services.export_job_run(job_id=job.pk)
    job.refresh_from_db()
    # The job is the second run's: this one neither finished nor failed it, and left no file.
    assert (job.status, job.attempts, job.processed, job.file.name, job.error) == (
        Job.Status.RUNNING, 2, 0, "", "",
    )  # fmt: skip
    assert files(settings.LEDGER_FILES_ROOT) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a second connection writes")
@pytest.mark.django_db(transaction=True)
def test_an_import_taken_over_mid_transaction_is_rolled_back(world, monkeypatch, sent):
    job = preview(world.supervisor, xlsx([new_row(world, "F-1"), new_row(world, "F-2")]))
    assert job.status == Job.Status.PREVIEW and job.total == 2
    ImportJob.objects.filter(pk=job.pk).update(
        status=Job.Status.QUEUED, attempts=0, lease_expires_at=jobs.lease_ends()
    )
    real = services.apply_plan

    def apply_then_lose_the_lease(plan: Any, **kwargs: Any) -> None:
        real(plan, **kwargs)  # the rows are written, not committed
        # Beat and another worker, on their own connections, while this one is held up.
        thread = threading.Thread(target=lambda: (takeover(job)(), connections.close_all()))
        thread.start()
        thread.join(30)

    monkeypatch.setattr(services, "apply_plan", apply_then_lose_the_lease)
    services.import_job_run(job_id=job.pk)
    assert not Case.objects.filter(code__in=["F-1", "F-2"]).exists()  # rolled back
    # The upload's message, then the recovery's.
    assert sent == [("ledgers.run_import_job", job.pk)] * 2
    job.refresh_from_db()
    assert (job.status, job.attempts, job.finished_at) == (Job.Status.RUNNING, 2, None)


# --- Recovery (beat) ------------------------------------------------------------------------


def test_beat_runs_the_recovery_every_minute():
    (entry,) = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "ledgers.recover_jobs"
    ]
    assert entry["schedule"] <= 60
    assert tasks.recover_jobs.name == "ledgers.recover_jobs"


def test_the_recovery_leaves_a_live_lease_alone(world):
    job = export_job(world)
    claim(job)
    queued = export_job(world)
    assert jobs.jobs_recover() == 0
    job.refresh_from_db()
    queued.refresh_from_db()
    assert (job.status, job.attempts, queued.status) == (Job.Status.RUNNING, 1, Job.Status.QUEUED)


def test_a_job_whose_worker_died_runs_again_and_completes(world, sent):
    case = world.case(world.unit_a)
    job = export_job(world, total=1)
    claim(job)  # ... and the worker dies
    expire(job)
    assert tasks.recover_jobs() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.QUEUED, 1)
    assert sent == [("ledgers.run_export_job", job.pk)]
    tasks.run_export_job(job.pk)  # a worker takes the message
    job.refresh_from_db()
    assert (job.status, job.attempts, job.processed) == (Job.Status.DONE, 2, 1)
    with job.file.open("rb") as handle:
        assert codes(load_workbook(handle)) == [case.code]


def test_a_queued_job_whose_message_was_lost_is_sent_again(world, sent):
    job = export_job(world, total=0)
    expire(job)
    assert jobs.jobs_recover() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.QUEUED, 0)
    assert job.lease_expires_at > timezone.now()  # sent again in a lease's time, not before
    assert sent == [("ledgers.run_export_job", job.pk)]
    assert jobs.jobs_recover() == 0


def test_a_job_whose_workers_keep_dying_fails_with_a_message(world):
    job = export_job(world)
    ExportJob.objects.filter(pk=job.pk).update(attempts=Job.MAX_ATTEMPTS - 1)
    claim(job)
    expire(job)
    assert jobs.jobs_recover() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error) == (Job.Status.FAILED, 3, INTERRUPTED)
    assert job.finished_at is not None and job.lease_expires_at is None
    assert jobs.jobs_recover() == 0  # ended: nothing more to take back


def test_the_failure_message_is_in_the_owners_language(world):
    job = export_job(world, language="en")
    ExportJob.objects.filter(pk=job.pk).update(attempts=Job.MAX_ATTEMPTS - 1)
    claim(job)
    expire(job)
    jobs.jobs_recover()
    job.refresh_from_db()
    assert job.error.startswith("Failed: the worker processing this job was interrupted")
    assert "3 times" in job.error


def test_an_import_read_by_an_earlier_run_starts_its_own_count_when_confirmed(world, settings):
    settings.LEDGER_IMPORT_INLINE_ROWS = 0  # the import runs as a job
    job = preview(world.supervisor, xlsx([new_row(world, "C-1")]))
    assert job.attempts == 1  # reading it was the first run
    job = services.import_job_confirm(actor=world.supervisor, job_id=job.pk)
    assert (job.status, job.attempts, job.is_retry) == (Job.Status.QUEUED, 0, False)
    assert job.lease_expires_at is not None


# --- What the page and the API say ----------------------------------------------------------


def test_the_page_and_the_api_say_a_job_is_retried_after_its_worker_died(client, world):
    job = export_job(world, total=10)
    claim(job)
    expire(job)
    jobs.jobs_recover()
    client.force_login(world.supervisor)
    notice = "处理该任务的进程中断，正在重试（第 2 次，共 3 次）。"
    for name in ("ledgers:export-job", "ledgers:export-status"):
        assert notice in client.get(reverse(name, args=[job.pk])).content.decode()
    data = api(world.supervisor).get(f"/api/v1/jobs/exports/{job.pk}/").json()
    assert data["status"] == "queued" and data["retrying"] is True
    assert (data["attempts"], data["attempt"], data["max_attempts"]) == (1, 2, 3)
    assert data["retry_notice"] == notice and data["error"] == ""
    english = api(world.supervisor).get(
        f"/api/v1/jobs/exports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert english.json()["retry_notice"] == (
        "The worker processing this job was interrupted; retrying (attempt 2 of 3)."
    )


def test_a_first_run_is_not_called_a_retry(client, world):
    job = export_job(world, total=10)
    claim(job)
    client.force_login(world.supervisor)
    assert (
        "正在重试" not in client.get(reverse("ledgers:export-job", args=[job.pk])).content.decode()
    )
    data = api(world.supervisor).get(f"/api/v1/jobs/exports/{job.pk}/").json()
    assert (data["status"], data["attempt"], data["retrying"], data["retry_notice"]) == (
        "running", 1, False, "",
    )  # fmt: skip


def test_the_page_and_the_api_say_a_job_failed_because_its_workers_died(client, world):
    job = preview(world.supervisor, xlsx([new_row(world, "I-1")]))
    ImportJob.objects.filter(pk=job.pk).update(
        status=Job.Status.QUEUED, attempts=Job.MAX_ATTEMPTS - 1
    )
    claim(job)
    expire(job)
    jobs.jobs_recover()
    client.force_login(world.supervisor)
    body = client.get(reverse("ledgers:import-job", args=[job.pk])).content.decode()
    assert INTERRUPTED in body and "正在重试" not in body
    data = api(world.supervisor).get(f"/api/v1/jobs/imports/{job.pk}/").json()
    assert (data["status"], data["attempts"], data["retrying"], data["error"]) == (
        "failed", 3, False, INTERRUPTED,
    )  # fmt: skip


def test_a_job_is_shown_in_the_api_to_its_owner_only(world):
    job = export_job(world)
    assert api(world.supervisor).get(f"/api/v1/jobs/exports/{job.pk}/").status_code == 200
    other = api(world.county_a_supervisor).get(f"/api/v1/jobs/exports/{job.pk}/")
    missing = api(world.county_a_supervisor).get(f"/api/v1/jobs/exports/{job.pk + 999}/")
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()


def test_reading_an_expired_job_takes_nothing_back(client, world):
    """Only beat retakes a job: a GET of its page or of the API writes nothing, sends nothing."""
    job = export_job(world)
    claim(job)
    expire(job)
    before = ExportJob.objects.values().get(pk=job.pk)
    client.force_login(world.supervisor)
    for name in ("ledgers:export-job", "ledgers:export-status"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 200
    assert api(world.supervisor).get(f"/api/v1/jobs/exports/{job.pk}/").status_code == 200
    assert ExportJob.objects.values().get(pk=job.pk) == before

"""A Celery worker killed with SIGKILL in the middle of a large ledger export, for real (the
worker processes of tests/faults/workers.py, on the test's Redis and PostgreSQL databases).

The export is held at a known point: once the run has started, the test locks the job's row,
and the worker waits on it to renew its lease with its progress (every 2000 rows); then it is
killed. Its lease (3 s here) runs out, beat's recovery (`ledgers.recover_jobs`, called here
as beat would) re-queues the job, and another worker completes it: one file, the right rows.
A job whose workers keep dying fails after three runs with a message the page and API show."""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from cases.models import Case
from ledgers import jobs, services, tasks
from ledgers.models import ExportJob, Job
from tests.factories import api_key
from tests.ledgers.helpers import codes

from .conftest import needs_postgres, needs_redis
from .workers import Worker, backend_gone, row_lock, wait_for, waiting_on_lock

pytestmark = [needs_postgres, needs_redis, pytest.mark.postgres]

CASES = 8000  # four renewals of the lease (every 2000 rows) before the file is written
LEASE = 3  # seconds
RENEWAL = 'UPDATE "ledgers_exportjob" SET "processed"'  # Lease.renew, with the progress


@pytest.fixture
def export_setup(world, settings, tmp_path) -> dict[str, Any]:
    """A large ledger, a short lease, and the folder that web and worker share."""
    today = timezone.localdate()
    Case.objects.bulk_create(
        Case(
            code=f"KILL-{n:05d}",
            title=f"批量问题{n}",
            description="描述" * 20,
            inspection=world.inspection,
            responsible_unit=world.unit_a,
            supervising_unit=world.commission,
            region=world.county_a,
            deadline=today + timedelta(days=n % 60),
            original_deadline=today,
            measures="措施" * 20,
        )
        for n in range(CASES)
    )
    settings.LEDGER_FILES_ROOT = tmp_path / "exports"
    settings.LEDGER_JOB_LEASE_SECONDS = LEASE
    env = {"LEDGER_JOB_LEASE_SECONDS": str(LEASE), "LEDGER_FILES_ROOT": str(tmp_path / "exports")}
    return {"env": env, "root": settings.LEDGER_FILES_ROOT}


def files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def job_state(job_id: int) -> ExportJob:
    return ExportJob.objects.get(pk=job_id)


def kill_mid_export(job_id: int, attempt: int, worker: Worker, pid: int) -> None:
    """Wait for run `attempt` to start, hold it on its next lease renewal (renewals come with
    progress, every 2000 rows: the run is mid-export), kill the process `pid` (the worker, or
    its pool child) there, and let its connection go."""
    # The row is locked as soon as the run has started, not once it has shown progress: on a
    # busy machine the export went through every renewal between that sight and the lock.
    wait_for(lambda: job_state(job_id).attempts == attempt, 60, worker)
    with row_lock("SELECT id FROM ledgers_exportjob WHERE id = %s FOR UPDATE", [job_id]):
        backend = wait_for(lambda: waiting_on_lock(RENEWAL), 30, worker)
        job = job_state(job_id)
        assert job.status == Job.Status.RUNNING and job.processed < CASES
        if pid != worker.process.pid:
            # The pool child running the export now: the one seen before the run may already
            # have been replaced (a pool replaces a process that died on the previous run).
            (pid,) = wait_for(lambda: len(worker.children()) == 1 and worker.children(), 30, worker)
        os.kill(pid, signal.SIGKILL)
        if pid == worker.process.pid:
            worker.process.wait(timeout=10)
    # The dead worker's statement gets the row once the lock goes (PostgreSQL notices the
    # closed socket only when it answers), then its backend ends.
    wait_for(lambda: backend_gone(backend), 10)


def recover_after_the_lease(job_id: int) -> int:
    """What beat does within a minute of the lease running out."""
    lease_end = job_state(job_id).lease_expires_at
    assert lease_end is not None
    assert jobs.jobs_recover(now=lease_end - timedelta(seconds=1)) == 0  # a live lease stays
    wait_for(lambda: timezone.now() > lease_end, LEASE + 10)
    return tasks.recover_jobs()


def api_job(user: Any, job_id: int) -> dict[str, Any]:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_key(user)}")
    response = client.get(f"/api/v1/jobs/exports/{job_id}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_worker_is_killed_is_completed_by_another_worker(
    world, export_setup, queue, workers, client
):
    first = workers(queue, "first", visibility=3600, env=export_setup["env"])
    job = services.export_job_create(actor=world.supervisor, query="", total=CASES)
    kill_mid_export(job.pk, 1, first, first.process.pid)

    # Killed: the job is left running, with nothing written, until its lease runs out. (An
    # hour's visibility timeout, as in production: the broker does not bring the task back.)
    job = job_state(job.pk)
    assert (job.status, job.attempts, job.file.name) == (Job.Status.RUNNING, 1, "")
    assert files(export_setup["root"]) == []
    assert recover_after_the_lease(job.pk) == 1
    job = job_state(job.pk)
    assert (job.status, job.attempts) == (Job.Status.QUEUED, 1)
    notice = "处理该任务的进程中断，正在重试（第 2 次，共 3 次）。"
    client.force_login(world.supervisor)
    assert notice in client.get(reverse("ledgers:export-job", args=[job.pk])).content.decode()
    data = api_job(world.supervisor, job.pk)
    assert (data["status"], data["attempt"], data["max_attempts"], data["retrying"]) == (
        "queued", 2, 3, True,
    )  # fmt: skip

    second = workers(queue, "second", visibility=3600, env=export_setup["env"])
    wait_for(lambda: job_state(job.pk).status == Job.Status.DONE, 120, second)
    job = job_state(job.pk)
    assert (job.attempts, job.processed, job.total, job.error) == (2, CASES, CASES, "")
    # Exactly one result: the job's file, and nothing the killed worker began.
    assert files(export_setup["root"]) == [Path(job.file.path)]
    with job.file.open("rb") as handle:
        exported = codes(load_workbook(handle, read_only=True))
    assert len(exported) == CASES
    assert sorted(exported) == sorted(Case.objects.values_list("code", flat=True))
    page = client.get(reverse("ledgers:export-job", args=[job.pk])).content.decode()
    assert reverse("ledgers:export-download", args=[job.pk]) in page and "正在重试" not in page


@pytest.mark.django_db(transaction=True)
def test_an_export_whose_workers_keep_dying_fails_with_a_message(
    world, export_setup, queue, workers, client
):
    # One worker whose pool process is killed, as the OOM killer would, on every run.
    worker = workers(queue, "prefork", pool="prefork", visibility=3600, env=export_setup["env"])
    job = services.export_job_create(actor=world.supervisor, query="", total=CASES)
    for attempt in range(1, Job.MAX_ATTEMPTS + 1):
        (child,) = wait_for(lambda: len(worker.children()) == 1 and worker.children(), 30, worker)
        kill_mid_export(job.pk, attempt, worker, child)
        # The pool hands the task to a new process at once (reject on worker lost): it finds
        # the job held by the dead one's lease and leaves it. Only the recovery retakes it.
        assert job_state(job.pk).attempts == attempt
        assert recover_after_the_lease(job.pk) == 1

    message = "处理该任务的进程中断，已尝试 3 次仍未完成，请重新发起。"
    job = job_state(job.pk)
    assert (job.status, job.attempts, job.error) == (Job.Status.FAILED, 3, message)
    assert files(export_setup["root"]) == []
    assert "WorkerLostError" in worker.text()
    client.force_login(world.supervisor)
    page = client.get(reverse("ledgers:export-job", args=[job.pk])).content.decode()
    polling = reverse("ledgers:export-status", args=[job.pk])
    assert message in page and polling not in page  # the page stops polling
    data = api_job(world.supervisor, job.pk)
    assert (data["status"], data["attempts"], data["retrying"], data["error"]) == (
        "failed", 3, False, message,
    )  # fmt: skip
    assert tasks.recover_jobs() == 0  # ended for good

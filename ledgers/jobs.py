"""The life of a background ledger job, apart from its work: the caps on jobs at once, sending
its task, the lease that lets it outlive a dead worker, and deleting old jobs.

A queued or running job always holds a lease (`lease_expires_at`, LEDGER_JOB_LEASE_SECONDS
ahead). A worker claims a queued job with a compare-and-set that also counts the attempt, then
renews the lease while it works; every write it makes to the job is guarded by its attempt
number, so a worker that was presumed dead and replaced writes nothing more (fencing). Beat
runs `jobs_recover` every minute: a running job whose lease ran out goes back to the queue, or
fails with a message after Job.MAX_ATTEMPTS runs; a queued one whose lease ran out (its message
lost) is sent again. A duplicate message is harmless: only one worker can claim.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import connection, connections, transaction
from django.db.models import F, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases.errors import DomainError
from tracker.celery import publish

from .models import ExportJob, ImportJob, Job

logger = logging.getLogger(__name__)

J = TypeVar("J", bound=Job)
ACTIVE = (Job.Status.QUEUED, Job.Status.RUNNING)


def lease_ends(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.LEDGER_JOB_LEASE_SECONDS)


class LeaseLost(Exception):
    """The job was taken back from this runner (its lease ran out): stop, write nothing."""


# --- Creating and sending -------------------------------------------------------------------


class TooManyJobs(DomainError):
    code = "too_many_jobs"
    status_code = 429


# pg_advisory_xact_lock key: job creation counts and inserts under it, so two requests at once
# cannot both see room under a cap (SQLite has one writer at a time anyway).
JOBS_LOCK = 7_315_101


def reserve_job_slot(actor: Any) -> None:
    """Within the caller's transaction: refuse a new background job past the per-user or the
    global cap on jobs queued or running. A job whose lease has run out does not count: its
    worker died, and the recovery will retry or fail it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [JOBS_LOCK])
    active = {"status__in": ACTIVE, "lease_expires_at__gt": timezone.now()}
    models = (ExportJob, ImportJob)
    mine = sum(m.objects.filter(owner_id=actor.pk, **active).count() for m in models)
    if mine >= settings.LEDGER_JOBS_PER_USER:
        raise TooManyJobs(
            _("您已有 %(n)s 个导入或导出任务在进行中，请等其完成后再试。")
            % {"n": settings.LEDGER_JOBS_PER_USER}
        )
    everyone = sum(m.objects.filter(**active).count() for m in models)
    if everyone >= settings.LEDGER_JOBS_GLOBAL:
        raise TooManyJobs(_("系统当前导入导出任务较多，请稍后再试。"))


def finish(job: Job, status: str, **values: Any) -> None:
    """End a job no worker holds (its task could not be sent)."""
    type(job)._default_manager.filter(pk=job.pk).update(
        status=status, finished_at=timezone.now(), lease_expires_at=None, **values
    )


def enqueue(task: Any, job: Job) -> None:
    """Send the job's task after the job is committed; a broker that is down fails the job
    with a message rather than the request."""

    def send() -> None:
        if not publish(task, job.pk):
            finish(job, Job.Status.FAILED, error=_("后台任务暂时无法启动，请稍后重试。"))

    transaction.on_commit(send)


# --- The lease ------------------------------------------------------------------------------


class Lease(Generic[J]):
    """A claimed job and the runner's attempt number: every write the runner makes to the job
    goes through here, guarded by that number."""

    def __init__(self, job: J) -> None:
        self.job = job
        self.attempt = job.attempts

    def _mine(self) -> QuerySet[J]:
        return type(self.job)._default_manager.filter(
            pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.attempt
        )

    def renew(self, **values: Any) -> None:
        """Extend the lease, writing `values` (the progress) with it; LeaseLost if the job was
        taken back."""
        if not self.update(**values, lease_expires_at=lease_ends()):
            raise LeaseLost(f"{self.job} attempt {self.attempt}")

    def update(self, **values: Any) -> bool:
        """Write to the job, still running; False if the job was taken back."""
        return bool(self._mine().update(**values))

    def finish(self, status: str, **values: Any) -> bool:
        """End the job with `status`; False (nothing written) if it was taken back. Inside a
        transaction, the row stays locked until the commit: a recovery waits for it."""
        return self.update(status=status, finished_at=timezone.now(), lease_expires_at=None,
                           **values)  # fmt: skip


def claim(jobs: QuerySet[J], job_id: int) -> Lease[J] | None:
    """QUEUED → RUNNING, for one runner only (a task delivered twice, or sent again by the
    recovery, finds it claimed and does nothing), with a fresh lease and the next attempt
    number. The job is loaded from `jobs` (e.g. with select_related)."""
    now = timezone.now()
    with transaction.atomic():
        claimed = jobs.model._default_manager.filter(pk=job_id, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING,
            attempts=F("attempts") + 1,
            processed=0,  # a retry starts over
            started_at=now,
            lease_expires_at=lease_ends(now),
        )
        if not claimed:
            return None
        # Read in the claiming transaction: the row is ours until the commit.
        return Lease(jobs.get(pk=job_id))


class ProgressReporter:
    """Publishes an import's progress, and renews its lease, while its transaction is still
    open.

    The rows written are invisible to others until the commit, and so would be a progress
    counter written on the same connection. On PostgreSQL the counter goes through a second,
    autocommit connection (at most once a second); it never touches a row the import locks.
    SQLite has one writer at a time: there the bar moves at the end only (and the lease is not
    renewed during the import's transaction).
    """

    def __init__(self, lease: Lease[Any]) -> None:
        self.lease = lease
        self.side: Any = None
        self.last = time.monotonic()

    def __enter__(self) -> ProgressReporter:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.side is not None:
            self.side.close()

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < 1 or connection.vendor != "postgresql":
            return
        self.last = now
        job = self.lease.job
        try:
            if self.side is None:
                self.side = connections.create_connection("default")
            with self.side.cursor() as cursor:
                cursor.execute("SET lock_timeout = '1s'")
                cursor.execute(
                    f"UPDATE {type(job)._meta.db_table} SET processed = %s, "  # noqa: S608 (table name from the model; values bound)
                    "lease_expires_at = %s WHERE id = %s AND status = %s AND attempts = %s",
                    [done, lease_ends(), job.pk, Job.Status.RUNNING, self.lease.attempt],
                )
                owned = cursor.rowcount
                if not owned:
                    # A job row this connection cannot see yet (its creating transaction is
                    # still open, as in a test's transaction) is not a lost lease.
                    cursor.execute(
                        f"SELECT count(*) FROM {type(job)._meta.db_table} WHERE id = %s",  # noqa: S608 (table name from the model; values bound)
                        [job.pk],
                    )
                    owned = 0 if cursor.fetchone()[0] else -1
        except Exception as error:  # progress is a nicety: never fail the import for it
            logger.info("import progress not published: %s", error)
            return
        if owned == 0:
            raise LeaseLost(f"{job} attempt {self.lease.attempt}")


# --- Recovery (beat) and housekeeping -------------------------------------------------------


def jobs_recover(*, now: datetime | None = None) -> int:
    """Take back every job whose lease has run out; return how many. A running one goes back
    to the queue and its task is sent again, or, after Job.MAX_ATTEMPTS runs, fails with a
    message; a queued one (its message lost) is sent again. Run by beat every minute
    (`ledgers.recover_jobs`), never by a request."""
    from .tasks import run_export_job, run_import_job

    now = now or timezone.now()
    count = 0
    for model, task in ((ExportJob, run_export_job), (ImportJob, run_import_job)):
        manager = model._default_manager
        expired = manager.filter(status__in=ACTIVE, lease_expires_at__lte=now)
        for pk, status, attempts, language in expired.values_list(
            "pk", "status", "attempts", "language"
        ):
            # Only if no one changed it since we looked (a runner renewing, another recovery).
            guard = manager.filter(
                pk=pk, status=status, attempts=attempts, lease_expires_at__lte=now
            )
            if status == Job.Status.RUNNING and attempts >= Job.MAX_ATTEMPTS:
                with translation.override(language):
                    error = _("处理该任务的进程中断，已尝试 %(n)s 次仍未完成，请重新发起。")
                failed = {"status": Job.Status.FAILED, "finished_at": now, "lease_expires_at": None}
                if guard.update(**failed, error=error % {"n": attempts}):
                    logger.warning("%s %s failed: %s runs interrupted", task.name, pk, attempts)
                    count += 1
                continue
            if guard.update(status=Job.Status.QUEUED, lease_expires_at=lease_ends(now)):
                logger.warning("%s %s sent again: its lease ran out (%s)", task.name, pk, status)
                publish(task, pk)  # if the broker is down, the next run sends it again
                count += 1
    return count


def jobs_purge_expired(*, now: datetime | None = None) -> int:
    """Delete jobs (and export files) older than LEDGER_KEEP_DAYS; the history written by an
    import stays with the cases. Run whenever a job is created: jobs are few, and the query
    is served by the created_at index."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.LEDGER_KEEP_DAYS)
    count = 0
    for job in ExportJob.objects.filter(created_at__lt=cutoff).iterator():
        if job.file:
            job.file.delete(save=False)
        job.delete()
        count += 1
    for upload in ImportJob.objects.filter(created_at__lt=cutoff).defer("rows", "changes"):
        if upload.upload:  # never read (its worker never came): the file goes too
            upload.upload.delete(save=False)
        upload.delete()
        count += 1
    return count

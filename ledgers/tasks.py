"""Celery tasks: thin. Each takes a job's id and calls the service, which claims the job
(a redelivered message finds it claimed and does nothing)."""

from __future__ import annotations

from celery import shared_task

from . import jobs, services


@shared_task(name="ledgers.run_export_job")
def run_export_job(job_id: int) -> None:
    services.export_job_run(job_id=job_id)


@shared_task(name="ledgers.run_import_job")
def run_import_job(job_id: int) -> None:
    services.import_job_run(job_id=job_id)


@shared_task(name="ledgers.recover_jobs")
def recover_jobs() -> int:
    """Beat, every minute: jobs whose lease ran out (their worker died) run again or fail."""
    return jobs.jobs_recover()

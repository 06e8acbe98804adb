"""Costs an uploader cannot inflate: the request only stores the upload; the worker reads it
within caps (size, rows, cell length, the zip's inflation) with bounded memory, and a hostile
file ends as a failed job with a clear message and no case. Background jobs are capped per user
and for the site, also when requests race."""

from __future__ import annotations

import io
import random
import string
import threading
import tracemalloc
import zipfile

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from cases.errors import FileTooLarge
from cases.models import Case
from ledgers import services
from ledgers.jobs import TooManyJobs
from ledgers.models import ExportJob, ImportJob, Job
from tests.ledgers.helpers import upload, xlsx
from tests.ledgers.test_import import new_row

MB = 1024 * 1024


def _rezip(data: bytes, replace: dict[str, bytes | int]) -> bytes:
    """An .xlsx with some members replaced: bytes as given, or an int: that many bytes of one
    repeated string, streamed (the test never holds the inflated member in memory)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            if item.filename not in replace:
                target.writestr(item, source.read(item.filename))
        for name, content in replace.items():
            if isinstance(content, bytes):
                target.writestr(name, content)
                continue
            with target.open(name, "w", force_zip64=True) as member:
                chunk = b"<si><t>" + b"A" * 1000 + b"</t></si>"
                member.write(b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/'
                             b'spreadsheetml/2006/main">')  # fmt: skip
                for _ in range(content // len(chunk)):
                    member.write(chunk)
                member.write(b"</sst>")
    return out.getvalue()


def _read_by_worker(user, data: bytes, name: str = "台账.xlsx") -> tuple[ImportJob, int]:
    """Upload (the request's part), then the worker's read under tracemalloc: the job and the
    peak memory the read allocated."""
    job = services.import_job_create(actor=user, upload=upload(data, name), name=name)
    assert job.status == Job.Status.QUEUED and not job.rows  # nothing read in the request
    tracemalloc.start()
    try:
        services.import_job_run(job_id=job.pk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return ImportJob.objects.get(pk=job.pk), peak


def _assert_refused(job: ImportJob, message: str) -> None:
    assert job.status == Job.Status.FAILED
    assert message in job.error
    assert not job.rows and not job.upload  # the file is deleted, nothing of it kept


@pytest.mark.django_db
def test_a_shared_strings_bomb_is_refused_before_it_is_inflated(world):
    cases = Case.objects.count()
    data = _rezip(xlsx([new_row(world, "B-1")]), {"xl/sharedStrings.xml": 50 * MB})
    assert len(data) < MB  # small on the wire, 50 MB of strings inflated
    job, peak = _read_by_worker(world.supervisor, data)
    _assert_refused(job, "解压后过大")
    assert peak < 20 * MB
    assert Case.objects.count() == cases


@pytest.mark.django_db
def test_a_five_megabyte_cell_is_refused(world):
    text = "".join(random.choices(string.ascii_letters + string.digits, k=5 * MB))
    job, peak = _read_by_worker(world.supervisor, xlsx([new_row(world, "B-2", 问题标题=text)]))
    _assert_refused(job, "超过 32000 个字符")
    assert peak < 120 * MB  # the one cell, as openpyxl holds it, and no more
    assert not Case.objects.filter(code="B-2").exists()


@pytest.mark.django_db
def test_a_zip_with_a_huge_member_or_total_is_refused(world, settings):
    settings.LEDGER_IMPORT_MAX_MEMBER_MB = 1
    noise = random.randbytes(2 * MB)  # incompressible: only its size gives it away
    data = _rezip(xlsx([new_row(world, "B-3")]), {"xl/media/image1.bin": noise})
    job, _peak = _read_by_worker(world.supervisor, data)
    _assert_refused(job, "解压后过大")
    settings.LEDGER_IMPORT_MAX_MEMBER_MB = 60
    settings.LEDGER_IMPORT_MAX_UNZIPPED_MB = 1
    job, _peak = _read_by_worker(world.supervisor, data)
    _assert_refused(job, "解压后超过 1 MB")
    assert not Case.objects.filter(code="B-3").exists()


@pytest.mark.django_db
def test_too_many_rows_and_a_non_zip_are_refused_on_the_job(world, settings):
    settings.LEDGER_IMPORT_MAX_ROWS = 3
    job, _peak = _read_by_worker(
        world.supervisor, xlsx([new_row(world, f"R-{n}") for n in range(4)])
    )
    _assert_refused(job, "文件超过 3 行")
    job, _peak = _read_by_worker(world.supervisor, b"PK\x03\x04" + random.randbytes(4096))
    _assert_refused(job, "无法读取该 Excel 文件")
    assert not Case.objects.filter(code__startswith="R-").exists()


@pytest.mark.django_db
def test_an_upload_over_the_size_limit_is_refused_in_the_request(world, settings):
    settings.LEDGER_IMPORT_MAX_MB = 1
    with pytest.raises(FileTooLarge, match="超过 1 MB"):
        services.import_job_create(
            actor=world.supervisor, upload=upload(b"x" * (MB + 1), "a.csv"), name="a.csv"
        )
    assert not ImportJob.objects.exists()


# --- Jobs at once -----------------------------------------------------------------------------


def _export(user):
    return services.export_job_create(actor=user, query="", total=10)


@pytest.mark.django_db
def test_a_third_background_job_of_one_user_is_refused_with_429(client, world, settings):
    settings.LEDGER_JOBS_PER_USER = 2
    settings.LEDGER_EXPORT_INLINE_ROWS = -1  # every export runs as a job
    _export(world.supervisor)
    services.import_job_create(
        actor=world.supervisor, upload=upload(xlsx([new_row(world, "J-1")])), name="a.xlsx"
    )
    with pytest.raises(TooManyJobs, match="已有 2 个导入或导出任务在进行中") as refused:
        _export(world.supervisor)
    assert refused.value.status_code == 429
    client.force_login(world.supervisor)
    response = client.post(reverse("ledgers:import"), {"file": upload(xlsx([new_row(world, "J")]))})
    assert response.status_code == 429 and "已有 2 个" in response.content.decode()
    response = client.post(reverse("ledgers:export"), {"query": ""}, follow=True)
    assert "已有 2 个" in response.content.decode()
    assert ExportJob.objects.count() == 1 and ImportJob.objects.count() == 1
    # Another user still may; a finished job, or one whose lease has run out (its worker
    # died), no longer counts.
    _export(world.county_a_supervisor)
    ExportJob.objects.filter(owner=world.supervisor).update(status=Job.Status.DONE)
    _export(world.supervisor)
    with pytest.raises(TooManyJobs):
        _export(world.supervisor)
    ImportJob.objects.update(status=Job.Status.RUNNING, lease_expires_at=timezone.now())
    _export(world.supervisor)


@pytest.mark.django_db
def test_the_site_wide_cap_holds_for_everyone(world, settings):
    settings.LEDGER_JOBS_GLOBAL = 2
    _export(world.supervisor)
    _export(world.county_a_supervisor)
    with pytest.raises(TooManyJobs, match="系统当前导入导出任务较多"):
        _export(world.inspector_a)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lock is PostgreSQL's")
def test_racing_requests_cannot_both_pass_the_cap(settings):
    settings.LEDGER_JOBS_PER_USER = 2
    from tests.factories import build_world

    world = build_world()
    user = world.supervisor
    _export(user)  # one running: room for exactly one more
    racers = 8
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []

    def race() -> None:
        from django.db import connection as own

        try:
            barrier.wait()
            _export(user)
            outcomes.append("created")
        except TooManyJobs:
            outcomes.append("refused")
        finally:
            own.close()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["created"] + ["refused"] * (racers - 1)
    assert ExportJob.objects.filter(owner=user).count() == 2

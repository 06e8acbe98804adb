"""Helpers for the ledger tests: build ledgers as offices type them, read workbooks back."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import QueryDict
from openpyxl import Workbook, load_workbook

from ledgers import services
from ledgers.columns import COLUMNS
from ledgers.workbook import FIRST_DATA_ROW, HEADER_ROWS

LABELS = [str(column.label) for column in COLUMNS]


def export_workbook(user: Any, query: str = "", **kwargs: Any) -> Any:
    out = io.BytesIO()
    services.export_write(user=user, query=query, out=out, **kwargs)
    out.seek(0)
    return load_workbook(out)


def ledger_rows(workbook: Any) -> list[dict[str, Any]]:
    """The data rows of an exported ledger, as {header label: value}."""
    sheet = workbook.worksheets[0]
    return [
        dict(zip(LABELS, row, strict=False))
        for row in sheet.iter_rows(min_row=FIRST_DATA_ROW, values_only=True)
    ]


def codes(workbook: Any) -> list[str]:
    return [row["问题编号"] for row in ledger_rows(workbook)]


def export_bytes(user: Any, query: str = "") -> bytes:
    out = io.BytesIO()
    services.export_write(user=user, query=query, out=out)
    return out.getvalue()


def edit(data: bytes, code: str, **changes: Any) -> bytes:
    """An exported ledger with some cells of one case's row changed (by header label)."""
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    for row in sheet.iter_rows(min_row=FIRST_DATA_ROW):
        if row[LABELS.index("问题编号")].value == code:
            for label, value in changes.items():
                row[LABELS.index(label)].value = value
            break
    else:
        raise AssertionError(f"{code} not in the ledger")
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def xlsx(rows: list[dict[str, Any]], *, header_row: int = HEADER_ROWS) -> bytes:
    """A ledger as an office would type it: a title, then one header row of the columns used."""
    headers = list(dict.fromkeys(label for row in rows for label in row))
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["某单位整改台账"])
    for _ in range(header_row - 2):
        sheet.append([])
    sheet.append(headers)
    for row in rows:
        sheet.append([row.get(label) for label in headers])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def csv_bytes(rows: list[dict[str, Any]], encoding: str = "utf-8") -> bytes:
    headers = list(dict.fromkeys(label for row in rows for label in row))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([row.get(label, "") for label in headers])
    return text.getvalue().encode(encoding)


def upload(data: bytes, name: str = "台账.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def preview(user: Any, data: bytes, name: str = "台账.xlsx") -> Any:
    """Upload, then what the worker does: read the file into a preview. A file that cannot be
    read raises LedgerFileError with the job's message (the job itself is FAILED)."""
    from ledgers.models import ImportJob
    from ledgers.workbook import LedgerFileError

    job = services.import_job_create(actor=user, upload=upload(data, name), name=name)
    services.import_job_run(job_id=job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    if job.status == ImportJob.Status.FAILED:
        raise LedgerFileError(job.error)
    return job


def query(**params: Any) -> str:
    q = QueryDict(mutable=True)
    for key, value in params.items():
        q.setlist(key, value if isinstance(value, list) else [str(value)])
    return q.urlencode()


def worker_reads() -> None:
    """What the worker does with uploads waiting to be read (the request never reads them)."""
    from ledgers.models import ImportJob

    for job_id in ImportJob.objects.exclude(upload="").values_list("pk", flat=True):
        services.import_job_run(job_id=job_id)

"""Ledger export and import: the one implementation behind the pages, the API and the tasks.

Each operation can run synchronously (small ledgers, within the request; tests) or from a
Celery task that only passes the job's id (`ledgers.tasks`). A job is claimed and held with a
lease (`ledgers.jobs`): a task delivered twice (acks_late) runs once, a job whose worker died
is run again, and a runner that lost its lease writes nothing more.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any

from django.conf import settings
from django.core.files.base import File
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import AuditEntry
from audit.services import audit_record
from cases import selectors as case_selectors
from cases.errors import Conflict, DomainError, FileTooLarge, Forbidden
from cases.filters import LIGHTS, CaseFilter
from cases.lights import day_bounds, light_by
from cases.models import Case
from cases.permissions import Action, may
from tracker.db_router import acting_for, read_from_replica

from . import selectors
from .importing import NO, YES, RowFailed, apply_plan, plan_import
from .jobs import (
    Lease,
    LeaseLost,
    ProgressReporter,
    claim,
    enqueue,
    jobs_purge_expired,
    lease_ends,
    reserve_job_slot,
)
from .models import ExportJob, ImportJob, Job
from .workbook import read_ledger, template_workbook, write_ledger

logger = logging.getLogger(__name__)

# An import creates cases, corrects them, records measures, extends deadlines and hands cases
# to other units: whoever may do all of that may import.
IMPORT_ACTIONS = (
    Action.CREATE,
    Action.EDIT_DETAILS,
    Action.RECTIFY,
    Action.EXTEND_DEADLINE,
    Action.ASSIGN,
)
# Rows on the preview page; the job keeps them all.
PREVIEW_ROWS = 200


def may_import(user: Any) -> bool:
    return all(may(user, action) for action in IMPORT_ACTIONS)


def _require_import(user: Any) -> None:
    if not may_import(user):
        raise Forbidden(_("您的角色无权导入台账。"))


# --- Export -------------------------------------------------------------------------------


def export_filename(today: Any = None) -> str:
    today = today or timezone.localdate()
    return f"{_('整改台账')}-{today:%Y%m%d}.xlsx"


def _scope_name(user: Any, params: QueryDict) -> str:
    inspection_id = params.get("inspection", "")
    if inspection_id.isdigit():
        name = (
            case_selectors.visible_inspections(user)
            .filter(pk=inspection_id)
            .values_list("name", flat=True)
            .first()
        )
        if name:
            return name
    root = case_selectors.scope_root(user)
    return root.name if root is not None else ""


def _describe_filters(user: Any, params: QueryDict) -> str:
    """The filters in words, for the subtitle: a printed ledger says what it holds."""
    named = {
        "inspection": case_selectors.visible_inspections(user),
        "responsible_unit": case_selectors.visible_units(user),
        "unit": case_selectors.visible_units(user),
        "region": case_selectors.visible_units(user),
    }
    status_labels = dict(Case.Status.choices)
    parts = []
    for name, flt in CaseFilter.base_filters.items():
        values = [v.strip() for v in params.getlist(name) if v.strip()]
        if name == "ordering" or not values:
            continue
        choices = dict(flt.extra.get("choices") or ())
        if name in named and values[0].isdigit():
            text = named[name].filter(pk=values[0]).values_list("name", flat=True).first() or ""
        elif name == "status":
            codes = [code for value in values for code in value.split(",")]
            text = "、".join(str(status_labels.get(code, code)) for code in codes)
        elif choices:
            text = "、".join(str(choices.get(value, value)) for value in values)
        elif values[0] in ("true", "false"):
            text = str(YES if values[0] == "true" else NO)
        else:
            text = "、".join(values)
        parts.append(f"{flt.label}：{text}")
    return "；".join(parts)


def _labels(choices: Any) -> dict[Any, str]:
    return {value: str(label) for value, label in choices}


# What a ledger row reads, as plain values: no model objects for a case and its four
# related rows (a fifth of a large export's time).
_ROW_FIELDS = (
    "code", "inspection__name", "source", "title", "description", "parent_code",
    "is_key_problem", "amount", "responsible_unit__name", "region__name", "owner__username",
    "owner__full_name", "owner__first_name", "owner__last_name", "measures", "deadline",
    "method", "progress", "status", "items_done", "items_total", "evidence_count", "closed_at",
    "inspection__working_days",
)  # fmt: skip


def _rows(cases: Any, today: Any) -> Iterator[list[Any]]:
    """Ledger rows in COLUMNS order. The queryset is read in chunks of 2000 (a server-side
    cursor on PostgreSQL): memory does not grow with the ledger."""
    # Labels translated once: get_FOO_display() translates every choice on every call, which
    # was most of an export's time.
    sources, methods = _labels(Case.Source.choices), _labels(Case.Method.choices)
    statuses, lights = _labels(Case.Status.choices), _labels(LIGHTS)
    yes, no = str(YES), str(NO)
    # The light rule's boundaries of the day (cases.lights): the working-day ones read from the
    # calendar once, at the first case of a working-day inspection.
    bounds = day_bounds(today)
    zone = timezone.get_current_timezone()  # timezone.localtime, once rather than per row
    values = cases.values_list(*_ROW_FIELDS).iterator(chunk_size=2000)
    for seq, row in enumerate(values, 1):
        (code, inspection, source, title, description, parent_code, key_problem, amount, unit,
         region, username, full_name, first_name, last_name, measures, deadline, method,
         progress, status, items_done, items_total, evidence_count, closed_at,
         working_days) = row  # fmt: skip
        # User.get_full_name, from its columns.
        owner = (
            (full_name or f"{first_name} {last_name}".strip() or username)
            if username is not None  # None: no owner (the outer join found none)
            else ""
        )
        yield [
            seq,
            code,
            inspection,
            sources.get(source, source),
            title,
            description,
            parent_code or "",
            yes if key_problem else no,
            amount,
            unit,
            region or "",
            owner,
            measures,
            deadline,
            methods.get(method, method),
            progress,
            statuses.get(status, status),
            lights[light_by(status, deadline, bounds.of(working_days))],
            f"{items_done}/{items_total}" if items_total else "",
            evidence_count,
            closed_at.astimezone(zone).date() if closed_at else None,
        ]


@read_from_replica()  # the job's status writes still go to the primary
def export_write(
    *,
    user: Any,
    query: str,
    out: IO[bytes] | str,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Write the ledger of the cases `user` sees with the case list's `query` (filters and
    ordering) to `out`; return the number of rows. InvalidInput for bad filters."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    params = QueryDict(query)
    cases = selectors.ledger_cases(user, params)
    total = cases.count()
    title = _("%(scope)s整改台账（截至%(day)s）") % {
        "scope": _scope_name(user, params),
        "day": f"{today:%Y-%m-%d}",
    }
    by = user.get_full_name() + (f"（{user.unit.name}）" if getattr(user, "unit", None) else "")
    subtitle = _("导出：%(by)s　时间：%(at)s　共 %(total)s 个问题") % {
        "by": by,
        "at": f"{timezone.localtime(now):%Y-%m-%d %H:%M}",
        "total": total,
    }
    filters = _describe_filters(user, params)
    if filters:
        subtitle += "　" + _("筛选条件：%(filters)s") % {"filters": filters}
    return write_ledger(
        out, title=title, subtitle=subtitle, rows=_rows(cases, today), progress=progress
    )


def export_now(*, user: Any, query: str, out: IO[bytes] | str, request: Any = None) -> int:
    """An export built within the request (`export_write`), recorded in the audit log."""
    _record_export(user, query, request)
    return export_write(user=user, query=query, out=out)


def _record_export(actor: Any, query: str, request: Any, job: ExportJob | None = None) -> None:
    changes: dict[str, Any] = {"query": query}
    if job is not None:
        changes["rows"] = job.total
    audit_record(
        actor=actor, action=AuditEntry.Action.EXPORT_LEDGER, target=job, changes=changes,
        request=request,
    )  # fmt: skip


def export_job_create(*, actor: Any, query: str, total: int, request: Any = None) -> ExportJob:
    """Queue a background export of `total` rows (the view counted them). TooManyJobs (429)
    past the caps on jobs at once."""
    jobs_purge_expired()
    with transaction.atomic():
        reserve_job_slot(actor)
        job = ExportJob.objects.create(
            owner=actor,
            status=Job.Status.QUEUED,
            query=query,
            total=total,
            language=translation.get_language() or settings.LANGUAGE_CODE,
            filename=export_filename(),
            lease_expires_at=lease_ends(),
        )
        _record_export(actor, query, request, job)
        from .tasks import run_export_job

        enqueue(run_export_job, job)
    return job


def export_job_run(*, job_id: int) -> None:
    """Build a queued export's file; called by the task (or directly). The lease is renewed
    with the progress, every 2000 rows."""
    lease = claim(ExportJob.objects.select_related("owner", "owner__unit"), job_id)
    if lease is None:
        return
    job = lease.job
    try:
        # For its owner: their replica reads see their writes made before they asked.
        with (
            acting_for(job.owner_id),
            translation.override(job.language),
            tempfile.TemporaryFile() as out,
        ):
            count = export_write(
                user=job.owner,
                query=job.query,
                out=out,
                progress=lambda done: lease.renew(processed=done),
            )
            out.seek(0)
            job.file.save(job.filename, File(out), save=False)
    except LeaseLost:
        logger.warning("export job %s taken over by another run; this one stops", job.pk)
        return
    except Exception:
        logger.exception("export job %s failed", job.pk)
        lease.finish(Job.Status.FAILED, error=_("导出失败，请稍后重试。"))
        return
    if not lease.finish(Job.Status.DONE, file=job.file.name, processed=count, total=count):
        logger.warning("export job %s taken over by another run; its file is dropped", job.pk)
        job.file.delete(save=False)


# --- Import -------------------------------------------------------------------------------


def import_job_create(*, actor: Any, upload: IO[bytes], name: str) -> ImportJob:
    """Keep an uploaded ledger for the worker to read (`import_job_run`): the request never
    parses it, it checks only what is visible without reading (size; FileTooLarge) and the
    caps on jobs at once (TooManyJobs). The job shows the preview once the worker has read it.
    """
    _require_import(actor)
    size = getattr(upload, "size", None)
    limit = settings.LEDGER_IMPORT_MAX_MB
    if size is None or size > limit * 1024 * 1024:
        raise FileTooLarge(_("文件超过 %(mb)s MB。") % {"mb": limit}, fields={"file": [name]})
    jobs_purge_expired()
    with transaction.atomic():
        reserve_job_slot(actor)
        job = ImportJob(
            owner=actor,
            status=Job.Status.QUEUED,
            original_name=name[:255],
            language=translation.get_language() or settings.LANGUAGE_CODE,
            lease_expires_at=lease_ends(),
        )
        job.upload.save(uuid.uuid4().hex, File(upload), save=False)
        job.save()
        from .tasks import run_import_job

        enqueue(run_import_job, job)
    return job


def _import_read(lease: Lease[ImportJob]) -> None:
    """The worker's half of an upload: read the file within the caps, check every row against
    the tracker and leave the job in PREVIEW (or FAILED with the reason). Nothing of the file is
    written as cases here. The file is deleted once the outcome is written (a run that lost its
    lease leaves it to the run that took over)."""
    job = lease.job
    try:
        with job.upload.open("rb") as handle:
            ledger = read_ledger(
                handle, job.original_name, max_rows=settings.LEDGER_IMPORT_MAX_ROWS
            )
        lease.renew(total=len(ledger.rows), processed=0)
        # The rehearsal runs every changed row through the services: on a large file it takes
        # a while, so it publishes its progress and renews the lease as the import does.
        with ProgressReporter(lease) as report:
            plan = plan_import(job.owner, ledger.columns, ledger.rows, on_row=report)
    except LeaseLost:
        raise
    except DomainError as error:
        written = lease.finish(Job.Status.FAILED, error=error.message, upload="")
    except Exception:
        logger.exception("import job %s could not be read", job.pk)
        message = _("无法读取该文件，未导入任何内容。")
        written = lease.finish(Job.Status.FAILED, error=message, upload="")
    else:
        changed = plan.changed
        written = lease.update(
            status=Job.Status.PREVIEW,
            lease_expires_at=None,
            upload="",
            columns=ledger.columns,
            rows=ledger.rows,
            problems=plan.problems,
            changes=plan.changes(),
            total=len(changed),
            created=sum(1 for row in changed if row.action == "create"),
            updated=sum(1 for row in changed if row.action == "update"),
            unchanged=len(plan.rows) - len(changed),
        )
    if not written:
        raise LeaseLost(f"{job} attempt {lease.attempt}")
    job.upload.delete(save=False)


def import_job_confirm(*, actor: Any, job_id: int, request: Any = None) -> ImportJob:
    """The owner confirms a preview without problems: import it, within this call when it is
    small, else by the worker."""
    job = selectors.import_job_get(actor, job_id)
    _require_import(actor)
    if job.problems:
        raise Conflict(_("文件中有问题，请修改后重新上传。"))
    inline = job.total <= settings.LEDGER_IMPORT_INLINE_ROWS
    with transaction.atomic():
        if not inline:  # a job for the worker again: the caps hold here too
            reserve_job_slot(actor)
        # Compare-and-set: a double click imports once. The import is a new run: a fresh
        # count of attempts (reading the file was the first job's).
        if not ImportJob.objects.filter(pk=job.pk, status=Job.Status.PREVIEW).update(
            status=Job.Status.QUEUED, attempts=0, lease_expires_at=lease_ends()
        ):
            raise Conflict(_("该导入已经确认过。"))
        audit_record(
            actor=actor,
            action=AuditEntry.Action.IMPORT_LEDGER,
            target=job,
            changes={"file": job.original_name, "rows": job.total, "created": job.created,
                     "updated": job.updated},
            request=request,
        )  # fmt: skip
        if not inline:
            from .tasks import run_import_job

            enqueue(run_import_job, job)
    if inline:
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def import_job_run(*, job_id: int) -> None:
    """A queued upload: read it (`_import_read`). A confirmed preview: carry it out
    (`_import_apply`)."""
    lease = claim(ImportJob.objects.select_related("owner"), job_id)
    if lease is None:
        return
    try:
        # For its owner: what it imports is theirs to read back at once (tracker.db_router).
        with acting_for(lease.job.owner_id), translation.override(lease.job.language):
            if lease.job.upload:  # not read yet: read it, then wait for the owner to confirm
                _import_read(lease)
            else:
                _import_apply(lease)
    except LeaseLost:
        logger.warning("import job %s taken over by another run; this one stops", job_id)


def _import_apply(lease: Lease[ImportJob]) -> None:
    """Check a confirmed preview again against the tracker as it is now, then carry it out in
    one transaction: every row or none. The job's result commits in that transaction, only if
    this run still holds the job."""
    job = lease.job
    try:
        _require_import(job.owner)
        # Read again (the data may have changed since the preview); the services' checks are
        # made once, by the import itself.
        plan = plan_import(job.owner, job.columns, job.rows, check=False)
        if plan.problems:
            message = _("台账与系统当前数据不符，未导入任何内容。")
            lease.finish(Job.Status.FAILED, problems=plan.problems, error=message)
            return
        changed = plan.changed
        lease.renew(total=len(changed), processed=0)
        with ProgressReporter(lease) as report, transaction.atomic():
            apply_plan(plan, actor=job.owner, on_row=report)
            if not lease.finish(
                Job.Status.DONE,
                processed=len(changed),
                changes=plan.changes(),
                created=sum(1 for row in changed if row.action == "create"),
                updated=sum(1 for row in changed if row.action == "update"),
                unchanged=len(plan.rows) - len(changed),
            ):
                raise LeaseLost(f"{job} attempt {lease.attempt}")  # rolls the import back
    except LeaseLost:
        raise
    except RowFailed as failure:
        message = _("第 %(row)s 行未能导入，未导入任何内容。") % {"row": failure.row}
        lease.finish(Job.Status.FAILED, problems=failure.problems, error=message)
    except Forbidden as error:
        lease.finish(Job.Status.FAILED, error=error.message)
    except Exception:
        logger.exception("import job %s failed", job.pk)
        lease.finish(Job.Status.FAILED, error=_("导入失败，未导入任何内容。请稍后重试。"))


# --- Template -----------------------------------------------------------------------------


def import_template(out: IO[bytes] | str) -> None:
    """The empty ledger with the expected columns, drop-down lists for the coded columns and
    a sheet of instructions."""
    template_workbook(
        out,
        choices={
            "status": [str(label) for label in Case.Status.labels],
            "method": [str(label) for label in Case.Method.labels],
            "source": [str(label) for label in Case.Source.labels],
            "key_problem": [str(YES), str(NO)],
        },
    )

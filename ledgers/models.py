"""Export and import jobs: who asked, how far the work has got, and what came of it.

A job is personal: only its owner may see it or download its file. The work itself is done by
`ledgers.services`, in the request for small ledgers and by a Celery task for large ones; the
lease that lets a job outlive a dead worker is `ledgers.jobs`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tracker.fields import SettingRootStorage, StoredFileField


class LedgerStorage(SettingRootStorage):
    """Ledger files (exports, uploads waiting to be read), under settings.LEDGER_FILES_ROOT."""

    root_setting = "LEDGER_FILES_ROOT"


def ledger_storage() -> FileSystemStorage:
    return LedgerStorage()


class Job(models.Model):
    class Status(models.TextChoices):
        PREVIEW = "preview", _("待确认")  # imports only: checked, nothing written yet
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    # Runs started before a job whose workers keep dying is failed (ledgers.jobs.jobs_recover).
    MAX_ATTEMPTS = 3

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="+", verbose_name=_("发起人")
    )
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices)
    # Rows to process and rows processed: the progress bar.
    total = models.PositiveIntegerField(_("总行数"), default=0)
    processed = models.PositiveIntegerField(_("已处理"), default=0)
    error = models.TextField(_("失败原因"), blank=True)
    # The owner's language when they asked: a worker writes headers and messages in it.
    language = models.CharField(max_length=16, default=settings.LANGUAGE_CODE)
    # Purges of expired jobs go by age.
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Runs claimed so far; a runner's attempt number is its fencing token (ledgers.jobs.Lease).
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    # A queued or running job's lease: a worker must have taken it (queued) or renewed it
    # (running) by then, or the recovery run by beat takes it back. None once it has ended.
    # Indexed for that run's query, every minute.
    lease_expires_at = models.DateTimeField(_("租约到期"), null=True, blank=True, db_index=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(99, self.processed * 100 // self.total) if self.total else 0

    @property
    def attempt(self) -> int:
        """The run under way (running), or the next one (queued): 1, then 2 after a worker
        died holding it, and so on."""
        return self.attempts if self.status == self.Status.RUNNING else self.attempts + 1

    @property
    def is_retry(self) -> bool:
        """Active again after a worker died holding it."""
        return self.is_active and self.attempt > 1

    @property
    def retry_notice(self) -> str:
        """What the job page and the API say of a job run again after its worker died."""
        if not self.is_retry:
            return ""
        return gettext("处理该任务的进程中断，正在重试（第 %(attempt)s 次，共 %(max)s 次）。") % {
            "attempt": self.attempt,
            "max": self.MAX_ATTEMPTS,
        }


def export_path(instance: ExportJob, filename: str) -> str:
    # A generated name on disk; the download is named after `filename`.
    return f"{timezone.now():%Y/%m}/{uuid.uuid4().hex}.xlsx"


class ExportJob(Job):
    """A ledger export too large to build within a request."""

    # The case list's query string (filters and ordering) as it was when the user asked.
    query = models.TextField(_("筛选条件"), blank=True)
    file = StoredFileField(storage=ledger_storage, upload_to=export_path, max_length=200)
    filename = models.CharField(_("文件名"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("台账导出")
        verbose_name_plural = _("台账导出")

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status})"


class ImportJob(Job):
    """An uploaded ledger: its rows as read, the problems found, and what importing it would
    change (or did change).

    The request only stores the upload (`upload`) and queues the job; the worker parses it
    (QUEUED → RUNNING → PREVIEW, or FAILED) and deletes the file. A confirmed preview is
    QUEUED again, with `upload` empty, and the worker imports it."""

    original_name = models.CharField(_("文件名"), max_length=255)
    # Saved under a generated name (`import_job_create`): the user's file name never becomes a
    # path. A plain upload_to, so that no migration needs a function of this module.
    upload = StoredFileField(storage=ledger_storage, upload_to="uploads/%Y/%m/", max_length=200,
                              blank=True)  # fmt: skip
    # [{"row": 5, "values": {"code": "...", "deadline": "2024-06-30", ...}}, ...]: the cells of
    # the recognised columns, as text. The upload itself is deleted once read.
    rows = models.JSONField(default=list)
    columns = models.JSONField(default=list)  # the recognised columns, in file order
    # [{"row": 5, "column": "整改时限", "message": "..."}]; row 0 is about the whole file.
    problems = models.JSONField(default=list)
    # [{"row": 5, "code": "...", "action": "create" | "update", "fields": ["整改措施", ...]}]
    changes = models.JSONField(default=list)
    created = models.PositiveIntegerField(_("新增"), default=0)
    updated = models.PositiveIntegerField(_("更新"), default=0)
    unchanged = models.PositiveIntegerField(_("无变化"), default=0)

    class Meta:
        verbose_name = _("台账导入")
        verbose_name_plural = _("台账导入")

    def __str__(self) -> str:
        return f"import {self.pk} {self.original_name} ({self.status})"

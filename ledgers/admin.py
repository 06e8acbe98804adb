"""Jobs in the admin, read-only: to see what ran, what failed and why (a job is only ever
created and run by the services)."""

from __future__ import annotations

from django.contrib import admin

from cases.admin import ReadOnlyAdmin

from .models import ExportJob, ImportJob


class JobAdmin(ReadOnlyAdmin):
    list_display = [
        "pk", "owner", "status", "processed", "total", "attempts", "lease_expires_at",
        "created_at", "finished_at",
    ]  # fmt: skip
    list_filter = ["status"]
    date_hierarchy = "created_at"


@admin.register(ExportJob)
class ExportJobAdmin(JobAdmin):
    pass


@admin.register(ImportJob)
class ImportJobAdmin(JobAdmin):
    list_display = [*JobAdmin.list_display, "original_name", "created", "updated"]
    exclude = ["rows"]  # the uploaded ledger's cells: large, and shown by the preview page

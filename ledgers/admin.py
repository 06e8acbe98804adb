"""Jobs in the admin, read-only: to see what ran, what failed and why (a job is only ever
created and run by the services)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ExportJob, ImportJob


class JobAdmin(admin.ModelAdmin):
    list_display = ["pk", "owner", "status", "processed", "total", "created_at", "finished_at"]
    list_filter = ["status"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ExportJob)
class ExportJobAdmin(JobAdmin):
    pass


@admin.register(ImportJob)
class ImportJobAdmin(JobAdmin):
    list_display = [*JobAdmin.list_display, "original_name", "created", "updated"]
    exclude = ["rows"]  # the uploaded ledger's cells: large, and shown by the preview page

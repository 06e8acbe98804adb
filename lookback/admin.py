"""The look-back in the admin, read-only: every write goes through lookback.services (the
pages and the API), which sample, lock and reopen as the rules say."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.admin import ReadOnlyAdmin, without_hidden_ledgers

from .models import AccountabilityRecord, LookBack, RecheckTask


@admin.register(LookBack)
class LookBackAdmin(ReadOnlyAdmin):
    list_display = ["pk", "name", "unit", "population_size", "seed", "deadline", "created_at"]
    exclude = ["population_ids"]  # possibly thousands of ids
    list_select_related = ["unit"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Its population and sample may hold restricted cases: superusers only.
        rows = super().get_queryset(request).defer("population_ids")
        return rows if request.user.is_superuser else rows.none()


@admin.register(RecheckTask)
class RecheckTaskAdmin(ReadOnlyAdmin):
    list_display = ["pk", "lookback", "case", "checker", "deadline", "outcome", "decided_at"]
    list_filter = ["outcome"]
    list_select_related = ["lookback", "case", "checker"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return without_hidden_ledgers(request.user, super().get_queryset(request), "case")


@admin.register(AccountabilityRecord)
class AccountabilityRecordAdmin(ReadOnlyAdmin):
    list_display = ["pk", "case", "person_name", "unit", "measure", "decided_on", "document_number"]
    list_filter = ["measure"]
    list_select_related = ["case", "unit"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return without_hidden_ledgers(request.user, super().get_queryset(request), "case")

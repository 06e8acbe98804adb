"""The look-back in the admin, read-only: every write goes through lookback.services (the
pages and the API), which sample, lock and reopen as the rules say."""

from __future__ import annotations

from django.contrib import admin

from cases.admin import ReadOnlyAdmin

from .models import AccountabilityRecord, LookBack, RecheckTask


@admin.register(LookBack)
class LookBackAdmin(ReadOnlyAdmin):
    list_display = ["pk", "name", "unit", "population_size", "seed", "deadline", "created_at"]
    exclude = ["population_ids"]  # possibly thousands of ids


@admin.register(RecheckTask)
class RecheckTaskAdmin(ReadOnlyAdmin):
    list_display = ["pk", "lookback", "case", "checker", "deadline", "outcome", "decided_at"]
    list_filter = ["outcome"]
    list_select_related = ["lookback", "case", "checker"]


@admin.register(AccountabilityRecord)
class AccountabilityRecordAdmin(ReadOnlyAdmin):
    list_display = ["pk", "case", "person_name", "unit", "measure", "decided_on", "document_number"]
    list_filter = ["measure"]
    list_select_related = ["case", "unit"]

"""The claim rules, edited by superusers (the admin is theirs alone: tracker.admin_site),
saved through sso.services; outside identities are shown, never edited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cases.admin import ReadOnlyAdmin, ThroughServicesMixin

from . import services
from .models import ClaimRule, ExternalIdentity


@admin.register(ClaimRule)
class ClaimRuleAdmin(ThroughServicesMixin, admin.ModelAdmin):
    list_display = ["priority", "claim", "match", "value", "unit", "role", "source", "active"]
    list_filter = ["active", "source", "role"]
    search_fields = ["claim", "value", "description", "unit__name"]
    autocomplete_fields = ["unit"]
    list_select_related = ["unit"]
    ordering = ["priority", "id"]

    def save_through_services(
        self, request: HttpRequest, obj: ClaimRule, form: Any, change: bool
    ) -> None:
        # A rule that should no longer apply is deactivated, never deleted (the mixin).
        services.claim_rule_save(actor=request.user, rule=obj)


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(ReadOnlyAdmin):
    list_display = ["user", "source", "issuer", "subject", "rule", "last_login_at"]
    list_filter = ["source"]
    search_fields = ["subject", "user__username", "user__full_name"]
    list_select_related = ["user", "rule"]

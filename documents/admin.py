"""The drafting templates in the admin (superusers): each save adds a version through the
service, which checks the template first; versions are read, never changed or deleted."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from cases.admin import ThroughServicesMixin, _adopt

from . import services
from .models import DocumentTemplate
from .selectors import current_template


@admin.register(DocumentTemplate)
class DocumentTemplateAdmin(ThroughServicesMixin, admin.ModelAdmin):
    list_display = ["kind", "created_at", "created_by"]
    list_filter = ["kind"]
    fields = ["kind", "title", "body", "copy_to", "issuer"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a version is kept as it was: a change is a new version

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        """A new version starts from the one in force (?kind=notice for the notice's)."""
        kind = request.GET.get("kind", DocumentTemplate.Kind.PROGRESS)
        if kind not in DocumentTemplate.Kind.values:
            kind = DocumentTemplate.Kind.PROGRESS
        current = current_template(kind)
        return {
            "kind": kind,
            "title": current.title,
            "body": current.body,
            "copy_to": current.copy_to,
            "issuer": current.issuer,
        }

    def save_through_services(
        self, request: HttpRequest, obj: DocumentTemplate, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        saved = services.document_template_save(
            actor=request.user,
            kind=data["kind"],
            title=data["title"],
            body=data["body"],
            copy_to=data.get("copy_to") or "",
            issuer=data.get("issuer") or "",
        )
        _adopt(obj, saved)

"""Django admin for units, users, inspections and cases. Writes go through the services, so
an admin edit leaves the same history and obeys the same rules as the web pages and the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEntry
from audit.services import audit_record

from . import accounts, organisation, selectors, services
from .errors import DomainError
from .forms import attach_error
from .models import Case, CaseEvent, CheckPoint, Evidence, Inspection, RestrictedGrant, Unit, User


def without_hidden_ledgers(user: Any, rows: QuerySet, case: str | None) -> QuerySet:
    """Rows of restricted ledgers only where the one rule (`selectors.restricted_q`, through
    the user's visible cases) shows them. The admin is for superusers; a staff user who is not
    one reads no restricted case, history or reminder here that the pages would not show.
    `case`: the path from the row to its case ("pk" for cases themselves)."""
    if user.is_superuser:
        return rows
    visible = selectors.visible_cases(user).values("pk")
    prefix = "" if case == "pk" else f"{case}__"
    return rows.filter(
        Q(**{f"{prefix}inspection__restricted": False}) | Q(**{f"{case}__in": visible})
    )


def _adopt(target: Any, created: Any) -> None:
    """Make the admin's unsaved instance the row a service created, for the redirect."""
    target.__dict__.update(created.__dict__)


REFUSAL = "through_services_refusal"  # the request attribute that carries a refusal back


class ThroughServicesMixin:
    """Every admin save goes through the services: `save_model` calls `save_through_services`
    inside the admin's transaction. A service's refusal (a DomainError) ends that transaction
    with nothing stored (no field of the submission, no log entry, no history) and before the
    admin says "changed successfully"; the same view then shows the form again with the
    service's message, word for word, on the fields it names (`attach_error`), and that
    second pass writes nothing: the message makes the form invalid.

    Nothing is ever deleted through the admin: history refers to every row."""

    def save_through_services(self, request: HttpRequest, obj: Any, form: Any, change: bool):
        raise NotImplementedError

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]
        except DomainError as refusal:
            setattr(request, REFUSAL, refusal)
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]

        class ThroughServices(form_class):  # type: ignore[misc, valid-type]
            def clean(self) -> Any:
                cleaned = super().clean()
                refusal = getattr(request, REFUSAL, None)
                if refusal is not None:
                    attach_error(self, refusal)
                return cleaned

        return ThroughServices

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.save_through_services(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records only the services write (history, evidence, roll-ups): read, never add,
    change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Unit)
class UnitAdmin(ThroughServicesMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "level",
        "parent",
        "region",
        "is_supervising_body",
        "is_responsible_unit",
    ]
    list_filter = ["level", "is_supervising_body", "is_responsible_unit"]
    search_fields = ["name"]
    autocomplete_fields = ["parent"]

    def get_readonly_fields(self, request: HttpRequest, obj: Unit | None = None) -> list[str]:
        # Moving a unit rewrites the paths of its whole subtree: not an admin form edit.
        return ["parent", "level", "path", "region"] if obj else ["path", "region"]

    def save_through_services(
        self, request: HttpRequest, obj: Unit, form: Any, change: bool
    ) -> None:
        if change:
            organisation.unit_update(
                unit=obj,
                name=obj.name,
                is_supervising_body=obj.is_supervising_body,
                is_responsible_unit=obj.is_responsible_unit,
                actor=request.user,
                request=request,
            )
        else:
            _adopt(
                obj,
                organisation.unit_create(
                    name=obj.name,
                    level=obj.level,
                    parent=obj.parent,
                    is_supervising_body=obj.is_supervising_body,
                    is_responsible_unit=obj.is_responsible_unit,
                    actor=request.user,
                    request=request,
                ),
            )


@admin.register(User)
class UserAdmin(ThroughServicesMixin, BaseUserAdmin):
    list_display = ["username", "full_name", "unit", "role", "is_active", "is_superuser"]
    list_filter = ["role", "is_active", "is_superuser"]
    search_fields = ["username", "full_name", "email", "unit__name"]
    autocomplete_fields = ["unit"]
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("单位与角色"), {"fields": ("full_name", "unit", "role")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("单位与角色"), {"fields": ("full_name", "unit", "role")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        # Written by logins and sign-ups, not by an editor.
        return ("last_login", "date_joined")

    def save_through_services(
        self, request: HttpRequest, obj: User, form: Any, change: bool
    ) -> None:
        """Through the accounts services: every change of a role, a unit or admin rights is
        in the audit log, and a disabled user's tokens are revoked."""
        data = form.cleaned_data
        if not change:
            usable = data.get("usable_password", True) not in (False, "false")
            _adopt(
                obj,
                organisation.user_create(
                    username=data["username"],
                    password=(data.get("password1") or None) if usable else None,
                    unit=data.get("unit"),
                    role=data.get("role") or "",
                    full_name=data.get("full_name") or "",
                    actor=request.user,
                    request=request,
                ),
            )
            return
        values = {f: data[f] for f in form.changed_data if f in accounts.USER_EDITABLE}
        _adopt(
            obj,
            accounts.user_update(actor=request.user, user_id=obj.pk, request=request, **values),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Groups and permissions are rights too: their change is a role change."""
        fields = [name for name in ("groups", "user_permissions") if name in form.changed_data]
        before = {name: sorted(str(item) for item in form.initial.get(name, [])) for name in fields}
        super().save_related(request, form, formsets, change)
        if fields and change:
            user = form.instance
            after = {
                "groups": sorted(str(group.pk) for group in user.groups.all()),
                "user_permissions": sorted(
                    str(permission.pk) for permission in user.user_permissions.all()
                ),
            }
            audit_record(
                actor=request.user,
                action=AuditEntry.Action.ROLE_CHANGE,
                target=user,
                changes={name: [before[name], after[name]] for name in fields},
                request=request,
            )


@admin.register(Inspection)
class InspectionAdmin(ThroughServicesMixin, admin.ModelAdmin):
    list_display = ["code", "name", "kind", "year", "supervising_unit", "restricted"]
    list_filter = ["kind", "year", "restricted"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["issuing_unit", "supervising_unit", "inspected_units"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Inspection]:
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        visible = selectors.visible_inspections(request.user).values("pk")
        return rows.filter(Q(restricted=False) | Q(pk__in=visible))

    def get_readonly_fields(self, request: HttpRequest, obj: Inspection | None = None):
        # The creation time is the service's to set.
        fixed = ["code", "issuing_unit", "kind", "created_at"] if obj else ["created_at"]
        # Lifting a ledger's restriction shows it to every unit: an operator's decision only.
        return fixed if request.user.is_superuser else [*fixed, "restricted"]

    def save_through_services(
        self, request: HttpRequest, obj: Inspection, form: Any, change: bool
    ) -> None:
        def value(field: str) -> Any:  # a many-to-many field is on the form, not yet on obj
            return form.cleaned_data[field] if field == "inspected_units" else getattr(obj, field)

        if change:
            organisation.inspection_update(
                inspection=obj,
                actor=request.user,
                request=request,
                **{f: value(f) for f in form.changed_data},
            )
        else:
            feedback = organisation.INSPECTION_FEEDBACK
            _adopt(
                obj,
                organisation.inspection_create(
                    code=obj.code,
                    name=obj.name,
                    kind=obj.kind,
                    year=obj.year,
                    issuing_unit=obj.issuing_unit,
                    supervising_unit=obj.supervising_unit,
                    restricted=obj.restricted,
                    inspected_units=form.cleaned_data.get("inspected_units") or (),
                    actor=request.user,
                    request=request,
                    **{f: getattr(obj, f) for f in feedback if f in form.cleaned_data},
                ),
            )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # The inspected units were set by the service, audited; the form does not set them
        # a second time, directly.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class CheckPointInline(admin.TabularInline):
    model = CheckPoint
    fields = ["text", "confirmed", "confirmed_by", "confirmed_at"]
    readonly_fields = ["text", "confirmed", "confirmed_by", "confirmed_at"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    fields = ("created_at", "kind", "from_status", "to_status", "note", "actor", "actor_unit")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EvidenceInline(admin.TabularInline):
    model = Evidence
    fields = ("original_name", "content_type", "size", "uploaded_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class CaseAdminForm(forms.ModelForm):
    checklist_text = forms.CharField(
        label=_("验收要点"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("每行一个要点，仅在登记时使用。"),
    )
    change_reason = forms.CharField(
        label=_("调整理由"),
        required=False,
        help_text=_("修改整改时限时必填，记入整改记录。"),
    )

    class Meta:
        model = Case
        fields = [
            "code",
            "title",
            "description",
            "inspection",
            "source",
            "parent",
            "responsible_unit",
            "owner",
            "supervising_unit",
            "region",
            "deadline",
            "method",
            "is_key_problem",
            "not_for_publication",
            "amount",
        ]


@admin.register(Case)
class CaseAdmin(ThroughServicesMixin, admin.ModelAdmin):
    form = CaseAdminForm
    list_display = [
        "code",
        "title",
        "status",
        "responsible_unit",
        "region",
        "deadline",
        "is_key_problem",
    ]
    # Only the inspections of the rows shown: the plain filter would name every ledger.
    list_filter = [
        "status",
        "is_key_problem",
        "source",
        ("inspection", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["code", "title"]
    list_select_related = ["responsible_unit", "region"]
    autocomplete_fields = [
        "inspection",
        "parent",
        "responsible_unit",
        "owner",
        "supervising_unit",
        "region",
    ]
    inlines = [CheckPointInline, EvidenceInline, CaseEventInline]
    date_hierarchy = "deadline"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return without_hidden_ledgers(request.user, super().get_queryset(request), "pk")

    def get_readonly_fields(self, request: HttpRequest, obj: Case | None = None) -> list[str]:
        fixed = ["status", "items_total", "items_done", "closed_at", "overdue_at_close"]
        if obj:
            # Status moves go through the workflow on the case page or the API.
            return [
                *fixed,
                "code",
                "inspection",
                "parent",
                "supervising_unit",
                "region",
                "original_deadline",
                "measures",
                "progress",
            ]
        return [*fixed, "original_deadline"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None and "checklist_text" in form.base_fields:
            form.base_fields["checklist_text"].disabled = True
        return form

    def save_through_services(
        self, request: HttpRequest, obj: Case, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if not change:
            _adopt(
                obj,
                services.case_create(
                    actor=request.user,
                    inspection=data["inspection"],
                    title=data["title"],
                    responsible_unit=data["responsible_unit"],
                    deadline=data["deadline"],
                    code=data.get("code") or "",
                    description=data.get("description") or "",
                    source=data["source"],
                    parent=data.get("parent"),
                    owner=data.get("owner"),
                    supervising_unit=data.get("supervising_unit"),
                    region=data.get("region"),
                    method=data.get("method") or "",
                    is_key_problem=data.get("is_key_problem", False),
                    not_for_publication=data.get("not_for_publication", False),
                    amount=data.get("amount"),
                    checklist=(data.get("checklist_text") or "").splitlines(),
                ),
            )
            return
        changed = set(form.changed_data)
        details = {f: data[f] for f in services.EDITABLE_DETAILS if f in changed}
        if details:
            services.case_update_details(actor=request.user, case_id=obj.pk, **details)
        if "deadline" in changed:
            services.case_extend_deadline(
                actor=request.user,
                case_id=obj.pk,
                deadline=data["deadline"],
                reason=data.get("change_reason") or "",
            )
        if changed & {"responsible_unit", "owner"}:
            services.case_assign(
                actor=request.user,
                case_id=obj.pk,
                responsible_unit=data["responsible_unit"],
                owner=data.get("owner"),
                note=data.get("change_reason") or "",
            )


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    """History is append-only: the admin can read it, nothing else."""

    list_display = ["created_at", "case", "kind", "from_status", "to_status", "actor"]
    list_filter = ["kind"]
    search_fields = ["case__code", "note"]
    list_select_related = ["case", "actor"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CaseEvent]:
        return without_hidden_ledgers(request.user, super().get_queryset(request), "case")


@admin.register(RestrictedGrant)
class RestrictedGrantAdmin(ReadOnlyAdmin):
    """Read-only: a grant is made and revoked by a commission on its page, through the
    services, and its row is never deleted."""

    list_display = ["inspection", "unit", "granted_by", "granted_at", "revoked_by", "revoked_at"]
    list_filter = [("inspection", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["inspection__name", "unit__name", "reason"]
    list_select_related = ["inspection", "unit", "granted_by", "revoked_by"]
    readonly_fields = [
        "inspection",
        "unit",
        "reason",
        "granted_by",
        "granted_at",
        "revoked_by",
        "revoked_at",
        "revoke_reason",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RestrictedGrant]:
        rows = super().get_queryset(request)
        if request.user.is_superuser:
            return rows
        return rows.filter(inspection__in=selectors.visible_inspections(request.user).values("pk"))
